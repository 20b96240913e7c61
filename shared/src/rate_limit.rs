//! Rate limits (docs/security.md, "Rate limits"): which buckets a request draws from, the token
//! bucket itself, and the 429 it gets when one is empty. Pure, with the time passed in: the
//! runtimes only keep the buckets (`vinr dev` in memory, host/src/rate_limiter.rs; the Worker in
//! a Durable Object per bucket, functions/worker/src/rate_limiter.rs) and run this before a
//! request reaches the API, so neither a database nor a component is touched by a refused one.
//!
//! - Per API key: the key's class (its prefix) picks the limit, live (`sk_live_`, `rk_live_`) or
//!   sandbox (`sk_test_`, `rk_test_`); each key has its own bucket, named by a hash of the key.
//!   A class without a limit costs nothing: no bucket is looked at.
//! - `POST /v1/webhooks/:id/resend`: a bucket per endpoint ([`RESEND`]), in both environments,
//!   so that resends cannot flood the endpoint's receiver (a third party's URL, maybe).
//!
//! Requests without a key, or with one of no known prefix, are not limited here: the API
//! refuses them (401) without writing anything.

use crate::error::ApiError;
use crate::http::Response;
use sha2::{Digest, Sha256};

/// `burst` requests at once, refilled evenly over `period_ms` (so `burst` per period sustained).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub burst: u32,
    pub period_ms: u64,
}

/// The highest configurable rate: keeps a token's interval at least 10 µs.
pub const MAX_PER_SECOND: u32 = 100_000;
/// Live keys' default rate (requests per second per key), `VINR_RATE_LIMIT`.
pub const DEFAULT_LIVE_PER_SECOND: u32 = 100;
/// Resends to one webhook endpoint: 10 per minute, whatever the key or environment.
pub const RESEND: Limit = Limit::per_minute(10);

/// The variables a deployment sets (`vinr dev`: the environment; the Worker: wrangler.toml's
/// `[vars]`). Both take requests per second per key; `0` or `off` turns the limit off.
pub const LIVE_VAR: &str = "VINR_RATE_LIMIT";
pub const SANDBOX_VAR: &str = "VINR_SANDBOX_RATE_LIMIT";

impl Limit {
    pub const fn per_second(n: u32) -> Limit {
        Limit {
            burst: n,
            period_ms: 1000,
        }
    }

    pub const fn per_minute(n: u32) -> Limit {
        Limit {
            burst: n,
            period_ms: 60_000,
        }
    }

    /// Microseconds one request uses up: the period spread over the burst.
    fn interval_us(self) -> u64 {
        (self.period_ms.saturating_mul(1000) / u64::from(self.burst.max(1))).max(1)
    }

    fn period_us(self) -> u64 {
        self.period_ms.saturating_mul(1000)
    }

    /// "100 per second", for messages and docs.
    pub fn describe(self) -> String {
        match self.period_ms {
            1000 => format!("{} per second", self.burst),
            60_000 => format!("{} per minute", self.burst),
            ms => format!("{} per {ms} ms", self.burst),
        }
    }
}

/// How long to wait before the bucket has a token again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter {
    pub ms: u64,
}

impl RetryAfter {
    /// The `Retry-After` header's whole seconds: rounded up, at least 1 (RFC 9110 has no
    /// fractions, and 0 would invite an immediate retry that fails again).
    pub fn secs(self) -> u64 {
        self.ms.div_ceil(1000).max(1)
    }
}

/// A token bucket, kept as the one number GCRA needs (the "theoretical arrival time"): the
/// moment the bucket is full again. A bucket that is full needs no state at all, so a runtime
/// may forget it ([`Bucket::is_full`]) and start again from [`Bucket::default`] losing nothing.
/// The limit is not part of the state: a changed configuration applies at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Unix microseconds.
    full_at_us: u64,
}

impl Bucket {
    /// Takes one token at `now_ms` (unix milliseconds), or says how long until there is one.
    /// A refused request takes nothing.
    pub fn take(&mut self, limit: Limit, now_ms: u64) -> Result<(), RetryAfter> {
        let now = now_ms.saturating_mul(1000);
        let next = self.full_at_us.max(now).saturating_add(limit.interval_us());
        // At most `burst` intervals of debt, i.e. the period.
        let over = next.saturating_sub(now).saturating_sub(limit.period_us());
        if over > 0 {
            return Err(RetryAfter {
                ms: over.div_ceil(1000).max(1),
            });
        }
        self.full_at_us = next;
        Ok(())
    }

    /// Whether the bucket is full at `now_ms`: it is then the same as a new one.
    pub fn is_full(&self, now_ms: u64) -> bool {
        self.full_at_us <= now_ms.saturating_mul(1000)
    }

    /// Milliseconds from `now_ms` until the bucket is full (0 if it is), rounded up.
    pub fn full_in_ms(&self, now_ms: u64) -> u64 {
        self.full_at_us
            .saturating_sub(now_ms.saturating_mul(1000))
            .div_ceil(1000)
    }

    /// The state as one number, for a runtime that stores it ([`Bucket::from_stored`]).
    pub fn stored(&self) -> u64 {
        self.full_at_us
    }

    pub fn from_stored(full_at_us: u64) -> Bucket {
        Bucket { full_at_us }
    }
}

/// What a key's prefix says about its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyClass {
    Live,
    Sandbox,
}

/// The class of a presented key (`auth::presented_key`) by its prefix alone; None for no VINR
/// secret or restricted key (public keys included: they are refused on every endpoint).
pub fn classify(key: &str) -> Option<KeyClass> {
    let class = |rest: &str, class| (!rest.is_empty()).then_some(class);
    for (prefix, c) in [
        ("sk_live_", KeyClass::Live),
        ("rk_live_", KeyClass::Live),
        ("sk_test_", KeyClass::Sandbox),
        ("rk_test_", KeyClass::Sandbox),
    ] {
        if let Some(rest) = key.strip_prefix(prefix) {
            return class(rest, c);
        }
    }
    None
}

/// A deployment's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub live: Option<Limit>,
    pub sandbox: Option<Limit>,
    pub resend: Limit,
}

impl Config {
    /// From the deployment's variables ([`LIVE_VAR`], [`SANDBOX_VAR`]); `sandbox_default` is the
    /// runtime's (vinr dev: none, load tests are a feature there; the Worker: a hosted sandbox's).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, sandbox_default: Option<u32>) -> Result<Config, String> {
        let live = parse_rate(LIVE_VAR, var(LIVE_VAR).as_deref(), Some(DEFAULT_LIVE_PER_SECOND))?;
        let sandbox = parse_rate(SANDBOX_VAR, var(SANDBOX_VAR).as_deref(), sandbox_default)?;
        Ok(Config {
            live: live.map(Limit::per_second),
            sandbox: sandbox.map(Limit::per_second),
            resend: RESEND,
        })
    }

    fn for_class(&self, class: KeyClass) -> Option<Limit> {
        match class {
            KeyClass::Live => self.live,
            KeyClass::Sandbox => self.sandbox,
        }
    }
}

/// A rate in requests per second: unset is `default`, `0` or `off` is no limit.
pub fn parse_rate(name: &str, value: Option<&str>, default: Option<u32>) -> Result<Option<u32>, String> {
    let Some(v) = value.map(str::trim) else {
        return Ok(default);
    };
    if v == "0" || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_PER_SECOND).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{name}={v:?}: expected requests per second per API key, 1 to {MAX_PER_SECOND}, or 0 / off for no limit"
        )),
    }
}

/// What a bucket limits, for the 429's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Key,
    Resend,
}

/// One bucket a request draws from: its id (a hash, never the key itself) and limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub bucket: BucketId,
    pub limit: Limit,
    pub scope: Scope,
}

/// A bucket's name: SHA-256 over what it counts, domain-separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BucketId(pub [u8; 32]);

impl BucketId {
    fn of(kind: &str, value: &str) -> BucketId {
        let mut h = Sha256::new();
        h.update(b"vinr-rate-limit:");
        h.update(kind.as_bytes());
        h.update(b":");
        h.update(value.as_bytes());
        BucketId(h.finalize().into())
    }

    /// Lower-case hex (the Worker's Durable Object name).
    pub fn hex(&self) -> String {
        crate::keys::hex(&self.0)
    }
}

/// The buckets a request draws from, in order (at most two): its key's, then for a webhook
/// resend the endpoint's. `key` is `auth::presented_key`'s answer. Empty for a key class
/// without a limit and no resend: nothing to do.
pub fn checks(config: &Config, method: &str, path: &str, key: Option<&str>) -> Vec<Check> {
    let mut out = Vec::new();
    let Some(key) = key else { return out };
    let Some(class) = classify(key) else { return out };
    if let Some(limit) = config.for_class(class) {
        out.push(Check {
            bucket: BucketId::of("key", key),
            limit,
            scope: Scope::Key,
        });
    }
    if let Some(endpoint) = resend_endpoint(method, path) {
        out.push(Check {
            bucket: BucketId::of("resend", endpoint),
            limit: config.resend,
            scope: Scope::Resend,
        });
    }
    out
}

/// The endpoint id of `POST /v1/webhooks/we_…/resend`. Ids of another shape are left to the
/// API's 404 and get no bucket.
fn resend_endpoint<'a>(method: &str, path: &'a str) -> Option<&'a str> {
    if !method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let id = path.strip_prefix("/v1/webhooks/")?.strip_suffix("/resend")?;
    let body = id.strip_prefix("we_")?;
    (!body.is_empty() && body.len() <= 64 && body.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

/// The 429 for a refused check: the API's error shape, and its `Retry-After`.
pub fn error(check: &Check, retry: RetryAfter) -> ApiError {
    let what = match check.scope {
        Scope::Key => "Too many requests with this API key",
        Scope::Resend => "Too many resends to this webhook endpoint",
    };
    ApiError::new(
        429,
        "rate_limit_error",
        "rate_limited",
        format!(
            "{what}: the limit is {}. Retry after {} s.",
            check.limit.describe(),
            retry.secs()
        ),
    )
}

/// The whole 429 response (without `request-id`, which each runtime adds as to any answer).
pub fn refused(check: &Check, retry: RetryAfter) -> Response {
    let mut r = Response::json(429, &error(check, retry).to_json());
    r.headers.push(("retry-after".into(), retry.secs().to_string()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_795_000_000_000;

    #[test]
    fn a_burst_then_one_per_interval() {
        let limit = Limit::per_second(10);
        let mut b = Bucket::default();
        for i in 0..10 {
            assert_eq!(b.take(limit, T0), Ok(()), "request {i} of the burst");
        }
        // The 11th at the same instant waits one interval (100 ms), rounded up to 1 s for the header.
        let refused = b.take(limit, T0).unwrap_err();
        assert_eq!(refused, RetryAfter { ms: 100 });
        assert_eq!(refused.secs(), 1);
        // A refused request takes nothing: still refused, and for the same wait.
        assert_eq!(b.take(limit, T0), Err(RetryAfter { ms: 100 }));
        assert_eq!(b.take(limit, T0 + 99), Err(RetryAfter { ms: 1 }));
        assert_eq!(b.take(limit, T0 + 100), Ok(()));
        assert!(b.take(limit, T0 + 100).is_err());
        // Sustained: one every 100 ms.
        for i in 2..20 {
            assert_eq!(b.take(limit, T0 + i * 100), Ok(()), "at {} ms", i * 100);
            assert!(b.take(limit, T0 + i * 100).is_err());
        }
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_its_burst() {
        let limit = Limit::per_second(5);
        let mut b = Bucket::default();
        for _ in 0..5 {
            b.take(limit, T0).unwrap();
        }
        assert!(!b.is_full(T0 + 999));
        assert_eq!(
            (b.full_in_ms(T0), b.full_in_ms(T0 + 999), b.full_in_ms(T0 + 5000)),
            (1000, 1, 0)
        );
        assert!(b.is_full(T0 + 1000));
        assert_eq!(Bucket::from_stored(b.stored()), b);
        // An hour later: the burst, not an hour's worth.
        let later = T0 + 3_600_000;
        for _ in 0..5 {
            assert_eq!(b.take(limit, later), Ok(()));
        }
        assert!(b.take(limit, later).is_err());
        // A full bucket is as good as a new one.
        let mut fresh = Bucket::default();
        let mut old = b;
        let full = later + 1000;
        assert!(old.is_full(full));
        for _ in 0..6 {
            assert_eq!(old.take(limit, full), fresh.take(limit, full));
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let limit = RESEND;
        let mut b = Bucket::default();
        for _ in 0..10 {
            b.take(limit, T0).unwrap();
        }
        // One token per 6 s.
        let r = b.take(limit, T0).unwrap_err();
        assert_eq!(r, RetryAfter { ms: 6000 });
        assert_eq!(r.secs(), 6);
        assert_eq!(b.take(limit, T0 + 4500).unwrap_err().secs(), 2);
        assert_eq!(b.take(limit, T0 + 5999).unwrap_err().secs(), 1);
        assert_eq!(RetryAfter { ms: 0 }.secs(), 1);
        assert_eq!(RetryAfter { ms: 1001 }.secs(), 2);
    }

    #[test]
    fn a_rate_that_does_not_divide_the_period_keeps_its_burst() {
        for n in [1, 3, 7, 99, 100, 333, 1000, MAX_PER_SECOND] {
            let limit = Limit::per_second(n);
            let mut b = Bucket::default();
            for _ in 0..n {
                assert_eq!(b.take(limit, T0), Ok(()), "{n}/s");
            }
            assert!(b.take(limit, T0).is_err(), "{n}/s: one more than the burst");
        }
    }

    #[test]
    fn the_clock_going_back_does_not_panic_or_refill() {
        let limit = Limit::per_second(2);
        let mut b = Bucket::default();
        b.take(limit, T0).unwrap();
        b.take(limit, T0).unwrap();
        assert!(b.take(limit, T0 - 5000).is_err());
        assert!(b.take(limit, 0).is_err());
        let mut far = Bucket::default();
        assert_eq!(far.take(limit, u64::MAX), Ok(()));
    }

    #[test]
    fn keys_are_classed_by_prefix() {
        assert_eq!(classify("sk_live_abc"), Some(KeyClass::Live));
        assert_eq!(classify("rk_live_abc"), Some(KeyClass::Live));
        assert_eq!(classify("sk_test_abc"), Some(KeyClass::Sandbox));
        assert_eq!(classify("rk_test_abc"), Some(KeyClass::Sandbox));
        for other in [
            "pk_live_abc",
            "pk_test_abc",
            "sk_live_",
            "sk_test_",
            "",
            "garbage",
            "SK_LIVE_abc",
            "sk_live",
        ] {
            assert_eq!(classify(other), None, "{other:?}");
        }
        // Any text after the prefix: limited (and hashed), not parsed further.
        assert_eq!(classify("sk_live_\u{e9}\u{0}x"), Some(KeyClass::Live));
    }

    fn config(live: Option<u32>, sandbox: Option<u32>) -> Config {
        Config {
            live: live.map(Limit::per_second),
            sandbox: sandbox.map(Limit::per_second),
            resend: RESEND,
        }
    }

    #[test]
    fn checks_pick_the_key_class_limit_and_the_resend_bucket() {
        let c = config(Some(100), None);
        let live = checks(&c, "GET", "/v1/payments", Some("sk_live_a"));
        assert_eq!(live.len(), 1);
        assert_eq!((live[0].limit, live[0].scope), (Limit::per_second(100), Scope::Key));
        // The sandbox is unlimited here: nothing to look at.
        assert!(checks(&c, "POST", "/v1/payments", Some("sk_test_a")).is_empty());
        assert!(checks(&c, "GET", "/v1/payments", None).is_empty());
        assert!(checks(&c, "GET", "/v1/payments", Some("nope")).is_empty());
        // Resends are limited per endpoint in both environments, after the key's own bucket.
        let resend = checks(&c, "POST", "/v1/webhooks/we_123/resend", Some("sk_test_a"));
        assert_eq!(resend.len(), 1);
        assert_eq!((resend[0].limit, resend[0].scope), (RESEND, Scope::Resend));
        let both = checks(&c, "post", "/v1/webhooks/we_123/resend", Some("sk_live_a"));
        assert_eq!(
            both.iter().map(|c| c.scope).collect::<Vec<_>>(),
            [Scope::Key, Scope::Resend]
        );
        // The same endpoint shares its bucket across keys; keys have their own.
        let other_key = checks(&c, "POST", "/v1/webhooks/we_123/resend", Some("sk_live_b"));
        assert_eq!(other_key[1].bucket, both[1].bucket);
        assert_ne!(other_key[0].bucket, both[0].bucket);
        assert_ne!(
            checks(&c, "POST", "/v1/webhooks/we_124/resend", Some("sk_live_a"))[1].bucket,
            both[1].bucket
        );
        // Not a resend: other methods, paths, or ids of another shape.
        for (m, p) in [
            ("GET", "/v1/webhooks/we_123/resend"),
            ("POST", "/v1/webhooks/we_123"),
            ("POST", "/v1/webhooks/we_/resend"),
            ("POST", "/v1/webhooks/xx_123/resend"),
            ("POST", "/v1/webhooks/we_1/2/resend"),
            ("POST", "/v1/webhooks/we_\u{e9}/resend"),
        ] {
            assert!(checks(&c, m, p, Some("sk_test_a")).is_empty(), "{m} {p}");
        }
        let long = format!("/v1/webhooks/we_{}/resend", "a".repeat(65));
        assert!(checks(&c, "POST", &long, Some("sk_test_a")).is_empty());
    }

    #[test]
    fn buckets_are_named_by_a_hash_not_the_key() {
        let key = "sk_live_secret123";
        let c = checks(&config(Some(1), None), "GET", "/v1/payments", Some(key));
        let name = c[0].bucket.hex();
        assert_eq!(name.len(), 64);
        assert!(!name.contains("secret123"));
        // Not the stored key hash either (keys::hash_key): bucket names link to nothing.
        assert_ne!(name, crate::keys::hash_key(key));
    }

    #[test]
    fn rates_parse_with_defaults_and_off() {
        assert_eq!(parse_rate(LIVE_VAR, None, Some(100)), Ok(Some(100)));
        assert_eq!(parse_rate(SANDBOX_VAR, None, None), Ok(None));
        assert_eq!(parse_rate(LIVE_VAR, Some("25"), Some(100)), Ok(Some(25)));
        assert_eq!(parse_rate(LIVE_VAR, Some(" 7 "), None), Ok(Some(7)));
        assert_eq!(parse_rate(LIVE_VAR, Some("0"), Some(100)), Ok(None));
        assert_eq!(parse_rate(LIVE_VAR, Some("OFF"), Some(100)), Ok(None));
        for bad in ["", "-1", "1.5", "abc", "100001", "99999999999"] {
            let e = parse_rate(LIVE_VAR, Some(bad), Some(100)).unwrap_err();
            assert!(e.starts_with("VINR_RATE_LIMIT="), "{e}");
        }
        let vars = |k: &str| (k == SANDBOX_VAR).then(|| "5".to_string());
        assert_eq!(
            Config::from_vars(vars, None),
            Ok(Config {
                live: Some(Limit::per_second(DEFAULT_LIVE_PER_SECOND)),
                sandbox: Some(Limit::per_second(5)),
                resend: RESEND,
            })
        );
        assert!(Config::from_vars(|_| Some("x".into()), None).is_err());
    }

    #[test]
    fn the_429_has_the_api_error_shape_and_retry_after() {
        let c = checks(&config(Some(100), None), "GET", "/v1/payments", Some("sk_live_a"))[0];
        let r = refused(&c, RetryAfter { ms: 1500 });
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("2"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(
            body["error"]["message"],
            "Too many requests with this API key: the limit is 100 per second. Retry after 2 s."
        );
    }
}
