//! Which webhook endpoint URLs are allowed. Sandbox: http(s) anywhere, loopback included, so a
//! developer can receive on their own machine. Live: https only, and never a private, loopback,
//! link-local or otherwise non-public address (no SSRF into the network VINR runs in). Host names
//! in live mode must also be checked once resolved, at send time: see [`ip_allowed_live`].
//!
//! URLs are parsed with the WHATWG URL parser (the `url` crate), the one `fetch` uses, so the host
//! checked here is the host a request connects to: `https://2130706433/`, `https://0x7f.1/` and
//! `https://0177.0.0.1/` are all 127.0.0.1 to it. Such non-canonical numeric hosts are refused
//! in live mode whatever they decode to, and IPv6 addresses that embed an IPv4 one (mapped,
//! compatible, NAT64, 6to4, Teredo) are judged by the IPv4 address they reach.

use crate::error::{ApiError, ApiResult};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// An endpoint URL as `fetch` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host, as the connection will use it: a lower-case name, or an address.
    pub host: TargetHost,
    /// The host was written as its canonical form (an IPv4 address in dotted decimal, four parts).
    pub canonical: bool,
    /// The URL as the WHATWG parser serializes it (host canonical): what a client should request.
    pub href: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    Name(String),
    Ip(IpAddr),
}

/// Why a URL is not acceptable as a webhook endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute http(s) URL with a host, or with userinfo or a backslash (which parsers
    /// disagree on).
    Invalid,
    /// Live endpoints must use https.
    Insecure,
    /// A numeric host not in its canonical form (live mode).
    NotCanonical,
    /// A host that is, or decodes to, a non-public address, or a local name (live mode).
    NotPublic,
}

/// Parses an endpoint URL with the WHATWG parser. None for anything but an absolute http(s)
/// URL with a host and without userinfo or backslashes.
pub fn target(raw: &str) -> Option<Target> {
    // WHATWG reads `\` as `/` in http(s) URLs, other parsers do not: refuse it outright. Same for
    // userinfo (`user@`), which has no use in a webhook URL and hides the host from a reader.
    if raw.contains('\\') {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    if !url.username().is_empty() || url.password().is_some() || authority_has_at(raw) {
        return None;
    }
    let (host, canonical) = match url.host()? {
        Host::Domain("") => return None,
        Host::Domain(d) => (TargetHost::Name(d.trim_end_matches('.').to_ascii_lowercase()), true),
        Host::Ipv4(v4) => (
            TargetHost::Ip(IpAddr::V4(v4)),
            raw_host(raw).is_some_and(|h| h == v4.to_string()),
        ),
        // Bracketed, so never confused with a name; every spelling of one address is the same.
        Host::Ipv6(v6) => (TargetHost::Ip(IpAddr::V6(v6)), true),
    };
    Some(Target {
        https,
        host,
        canonical,
        href: url.as_str().to_string(),
    })
}

/// The host as written in `raw` (after the scheme, up to the port, path, query or fragment).
fn raw_host(raw: &str) -> Option<&str> {
    let rest = raw.split_once("://")?.1;
    rest.split([':', '/', '?', '#']).next()
}

/// Whether the authority of `raw` holds an `@` (even an empty userinfo such as `https://@h/`).
fn authority_has_at(raw: &str) -> bool {
    raw.split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .is_some_and(|a| a.contains('@'))
}

/// Names that only ever resolve inside a machine or a private network.
fn local_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || name.ends_with(".home.arpa")
        || !name.contains('.')
}

/// What is wrong with `raw` as an endpoint of this environment, if anything. Registration and
/// send time both ask this; a live host name must then also resolve to public addresses only
/// (the runtime's check, where it resolves names itself).
pub fn refusal(raw: &str, livemode: bool) -> Option<Refusal> {
    let Some(t) = target(raw) else {
        return Some(Refusal::Invalid);
    };
    if !livemode {
        return None;
    }
    if !t.https {
        return Some(Refusal::Insecure);
    }
    if !t.canonical {
        return Some(Refusal::NotCanonical);
    }
    let public = match &t.host {
        TargetHost::Ip(ip) => ip_allowed_live(*ip),
        TargetHost::Name(n) => !local_name(n),
    };
    (!public).then_some(Refusal::NotPublic)
}

/// May a live endpoint connect to `ip`? Only globally routable unicast addresses; an IPv6
/// address that carries an IPv4 one is judged by that IPv4 address.
pub fn ip_allowed_live(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_public(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(Embedded::One(v4)) => v4_public(v4),
            Some(Embedded::Teredo { server, client }) => v4_public(server) && v4_public(client),
            None => v6_public(v6),
        },
    }
}

enum Embedded {
    One(Ipv4Addr),
    Teredo { server: Ipv4Addr, client: Ipv4Addr },
}

/// The IPv4 address an IPv6 one reaches through a translation or tunnelling prefix.
fn embedded_v4(ip: Ipv6Addr) -> Option<Embedded> {
    let s = ip.segments();
    let o = ip.octets();
    let v4 = |a: usize| Ipv4Addr::new(o[a], o[a + 1], o[a + 2], o[a + 3]);
    if ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:a.b.c.d
        return Some(Embedded::One(v4));
    }
    if s[..6] == [0; 6] {
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
        return Some(Embedded::One(v4(12)));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
        return Some(Embedded::One(v4(12)));
    }
    if s[0] == 0x2002 {
        // 6to4 2002:AABB:CCDD::/48 (RFC 3056).
        return Some(Embedded::One(v4(2)));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        // Teredo 2001:0::/32: server at bits 32..64, client (inverted) in the last 32 bits.
        let c = v4(12).octets();
        return Some(Embedded::Teredo {
            server: v4(4),
            client: Ipv4Addr::new(!c[0], !c[1], !c[2], !c[3]),
        });
    }
    None
}

fn v4_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
        || o[0] >= 240)
}

fn v6_public(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Global unicast is 2000::/3: this leaves out loopback, unspecified, multicast, unique local
    // fc00::/7, link-local fe80::/10, site-local fec0::/10, discard 100::/64 and the local-use
    // NAT64 prefix 64:ff9b:1::/48 (whose IPv4 position is the operator's choice).
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x200) // 2001::/23 IETF protocol assignments
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        && s[0] != 0x3fff // documentation 3fff::/20
}

/// Validates an endpoint URL for the environment (`param` names it in errors).
pub fn check(param: &str, url: &str, livemode: bool) -> ApiResult<String> {
    let url = crate::fields::url(param, url)?;
    let Some(why) = refusal(&url, livemode) else {
        return Ok(url);
    };
    Err(match why {
        Refusal::Invalid => ApiError::invalid(
            param,
            "url_invalid",
            format!(
                "Invalid URL: {param} must be an absolute http(s) URL with a host, no user name or password, and no backslash."
            ),
        ),
        Refusal::Insecure => ApiError::invalid(param, "url_insecure", "Live webhook endpoints must use https."),
        Refusal::NotCanonical => ApiError::invalid(
            param,
            "url_invalid",
            "An IP address in a live webhook URL must be written in dotted-decimal form (a.b.c.d).",
        ),
        Refusal::NotPublic => ApiError::invalid(
            param,
            "url_not_public",
            "Live webhook endpoints must be public addresses (no private, loopback or link-local hosts).",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(url: &str, live: bool) -> Option<&'static str> {
        check("url", url, live).err().map(|e| e.code)
    }

    #[test]
    fn targets_are_what_fetch_connects_to() {
        let t = target("https://Example.COM:8443/x?y").unwrap();
        assert_eq!(
            (t.https, t.host, t.canonical),
            (true, TargetHost::Name("example.com".into()), true)
        );
        let t = target("http://[::1]:80/").unwrap();
        assert_eq!(t.host, TargetHost::Ip("::1".parse().unwrap()));
        let lo = TargetHost::Ip("127.0.0.1".parse().unwrap());
        for odd in [
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://127.0.0.1./",
        ] {
            let t = target(odd).unwrap_or_else(|| panic!("{odd}"));
            assert_eq!((&t.host, t.canonical), (&lo, false), "{odd}");
        }
        assert!(target("https://127.0.0.1/").unwrap().canonical);
        assert_eq!(target("http://0x7f.1:8080/x").unwrap().href, "http://127.0.0.1:8080/x");
        assert_eq!(target("ftp://x/"), None);
        // WHATWG skips extra slashes in http(s) URLs; `fields::url` refuses such URLs first.
        assert_eq!(target("https:///x").unwrap().host, TargetHost::Name("x".into()));
        assert_eq!(code("https:///x", false), Some("url_invalid"));
        // Userinfo and backslashes: refused whatever they would mean.
        assert_eq!(target("https://user@example.com/"), None);
        assert_eq!(target("https://user:pw@example.com/"), None);
        assert_eq!(target("https://@example.com/"), None);
        assert_eq!(target("https://127.0.0.1\\@example.com/"), None);
        assert_eq!(target("https://example.com\\x"), None);
        // An `@` after the authority is only a path character.
        assert!(target("https://example.com/a@b").is_some());
    }

    #[test]
    fn sandbox_allows_loopback_live_does_not() {
        assert_eq!(code("http://127.0.0.1:9000/hook", false), None);
        assert_eq!(code("http://localhost/hook", false), None);
        assert_eq!(code("http://example.com/hook", true), Some("url_insecure"));
        for bad in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://localhost/",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://intranet/",
            "https://[::ffff:10.0.0.1]/",
            "https://100.64.0.1/",
            "https://192.0.0.8/",
            "https://192.88.99.1/",
        ] {
            assert_eq!(code(bad, true), Some("url_not_public"), "{bad}");
        }
        assert_eq!(code("https://hooks.example.com/vinr", true), None);
        assert_eq!(code("https://93.184.216.34/", true), None);
        assert_eq!(code("https://[2606:2800:220:1::1]/", true), None);
    }

    #[test]
    fn non_canonical_ipv4_literals_are_refused_in_live_mode() {
        for odd in [
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://0/",
            // Public addresses written oddly are refused too: what a reader sees must be where
            // it goes.
            "https://1572395042/",
            "https://0x5d.0xb8.0xd8.0x22/",
        ] {
            assert_eq!(code(odd, true), Some("url_invalid"), "{odd}");
            // The sandbox takes them: fetch connects where the parser says.
            assert_eq!(code(&odd.replace("https", "http"), false), None, "{odd}");
        }
    }

    #[test]
    fn userinfo_and_backslashes_are_refused_everywhere() {
        for bad in [
            "https://127.0.0.1\\@example.com/",
            "http://user@127.0.0.1/",
            "https://user:pw@hooks.example.com/",
        ] {
            assert_eq!(code(bad, true), Some("url_invalid"), "{bad}");
            assert_eq!(code(bad, false), Some("url_invalid"), "{bad}");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_a_private_ipv4_are_refused() {
        for bad in [
            "::ffff:127.0.0.1",   // IPv4-mapped
            "::ffff:a9fe:a9fe",   // mapped 169.254.169.254, hex
            "::127.0.0.1",        // IPv4-compatible
            "::a00:1",            // compatible 10.0.0.1
            "64:ff9b::a9fe:a9fe", // NAT64 to 169.254.169.254
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1:2:3",                     // local-use NAT64
            "2002:7f00:1::1",                       // 6to4 of 127.0.0.1
            "2002:c0a8:101::",                      // 6to4 of 192.168.1.1
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
            "2001::1",                              // Teredo without a public client
            "fec0::1",                              // site-local
            "fc00::1",                              // unique local
            "fe80::1",                              // link-local
            "2001:db8::1",                          // documentation
            "3fff::1",                              // documentation
            "100::1",                               // discard
            "ff02::1",                              // multicast
            "::",
            "::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap_or_else(|e| panic!("{bad}: {e}"));
            assert!(!ip_allowed_live(ip), "{bad}");
            assert_eq!(
                code(&format!("https://[{bad}]/"), true),
                Some("url_not_public"),
                "{bad}"
            );
        }
        for good in [
            "::ffff:93.184.216.34",
            "64:ff9b::93.184.216.34",
            "2002:5db8:d822::1",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450:4001:82a::200e",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert!(ip_allowed_live(ip), "{good}");
        }
    }

    #[test]
    fn send_time_refusal_matches_registration() {
        assert_eq!(refusal("https://hooks.example.com/x", true), None);
        assert_eq!(refusal("https://2130706433/x", true), Some(Refusal::NotCanonical));
        assert_eq!(refusal("https://[64:ff9b::7f00:1]/x", true), Some(Refusal::NotPublic));
        assert_eq!(refusal("not a url", true), Some(Refusal::Invalid));
        assert_eq!(refusal("not a url", false), Some(Refusal::Invalid));
        assert_eq!(refusal("http://127.0.0.1:1/x", false), None);
    }
}
