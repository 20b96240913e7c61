//! Which webhook endpoint URLs are allowed. Sandbox: http(s) anywhere, loopback included, so a
//! developer can receive on their own machine. Live: https only, and never a private, loopback
//! or link-local address (no SSRF into the network VINR runs in). Host names in live mode must
//! also be checked once resolved, at send time: see [`ip_allowed_live`].

use crate::error::{ApiError, ApiResult};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Splits an absolute http(s) URL into (https?, host). Bracketed IPv6 hosts lose the brackets.
pub fn scheme_and_host(url: &str) -> Option<(bool, String)> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']')?.0.to_string()
    } else {
        host_port.split(':').next()?.to_string()
    };
    (!host.is_empty()).then_some((https, host.to_ascii_lowercase()))
}

pub fn ip_allowed_live(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_public(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_public(v4),
            None => v6_public(v6),
        },
    }
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
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
        || o[0] >= 240)
}

fn v6_public(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80) // link-local
}

/// Validates an endpoint URL for the environment (`param` names it in errors).
pub fn check(param: &str, url: &str, livemode: bool) -> ApiResult<String> {
    let url = crate::fields::url(param, url)?;
    let (https, host) = scheme_and_host(&url).ok_or_else(|| ApiError::invalid(param, "url_invalid", "Invalid URL."))?;
    if !livemode {
        return Ok(url);
    }
    if !https {
        return Err(ApiError::invalid(
            param,
            "url_insecure",
            "Live webhook endpoints must use https.",
        ));
    }
    let private = match host.parse::<IpAddr>() {
        Ok(ip) => !ip_allowed_live(ip),
        Err(_) => {
            host == "localhost"
                || host.ends_with(".localhost")
                || host.ends_with(".local")
                || host.ends_with(".internal")
        }
    };
    if private {
        return Err(ApiError::invalid(
            param,
            "url_not_public",
            "Live webhook endpoints must be public addresses (no private, loopback or link-local hosts).",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            scheme_and_host("https://user@Example.com:8443/x?y"),
            Some((true, "example.com".into()))
        );
        assert_eq!(scheme_and_host("http://[::1]:80/"), Some((false, "::1".into())));
        assert_eq!(scheme_and_host("ftp://x"), None);
    }

    #[test]
    fn sandbox_allows_loopback_live_does_not() {
        assert!(check("url", "http://127.0.0.1:9000/hook", false).is_ok());
        assert!(check("url", "http://localhost/hook", false).is_ok());
        assert_eq!(
            check("url", "http://example.com/hook", true).unwrap_err().code,
            "url_insecure"
        );
        for bad in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://localhost/",
            "https://[::ffff:10.0.0.1]/",
            "https://100.64.0.1/",
        ] {
            assert_eq!(check("url", bad, true).unwrap_err().code, "url_not_public", "{bad}");
        }
        assert!(check("url", "https://hooks.example.com/vinr", true).is_ok());
        assert!(check("url", "https://93.184.216.34/", true).is_ok());
    }
}
