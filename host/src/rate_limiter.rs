//! `vinr dev`'s rate limits (docs/security.md, "Rate limits"): the token buckets of
//! `vinr_shared::rate_limit`, kept in memory and checked by the server before a request reaches
//! a component, so a refused request costs no instance and no database access.
//!
//! The buckets sit in one LRU map behind a mutex: O(1) per limited request, and nothing at all
//! for a request whose key class has no limit (the sandbox by default). The map is bounded
//! ([`MAX_BUCKETS`]): keys that are garbage but look like keys (`sk_live_<anything>`) cannot grow
//! it; beyond the bound the least recently used bucket goes, which is nearly always a full one
//! (a full bucket is the same as a new one, so forgetting it changes nothing).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hashlink::LruCache;
use http::Response;
use http_body_util::{BodyExt, Full};
use vinr_shared::auth::key_in;
use vinr_shared::rate_limit::{self, Bucket, BucketId, Config, SANDBOX_VAR};
use wasmtime_wasi_http::WasiBody;

/// Buckets kept at most (about 80 bytes each). Only buckets drawn from within the last second
/// (100/s live keys) or minute (resends) hold anything worth keeping.
pub const MAX_BUCKETS: usize = 65_536;

pub struct RateLimiter {
    config: Config,
    buckets: Mutex<LruCache<BucketId, Bucket>>,
}

impl RateLimiter {
    /// `VINR_RATE_LIMIT` (live keys, default 100/s) and `VINR_SANDBOX_RATE_LIMIT` (default: no
    /// limit: load-testing the local sandbox is a feature). A malformed value stops the start.
    pub fn from_env() -> anyhow::Result<RateLimiter> {
        let config = Config::from_vars(|k| std::env::var(k).ok(), None).map_err(anyhow::Error::msg)?;
        Ok(RateLimiter::new(config, MAX_BUCKETS))
    }

    pub fn new(config: Config, max_buckets: usize) -> RateLimiter {
        RateLimiter {
            config,
            buckets: Mutex::new(LruCache::new(max_buckets.max(1))),
        }
    }

    /// The limits in force, for the start-up banner.
    pub fn describe(&self) -> String {
        let of = |l: Option<rate_limit::Limit>| l.map_or("no limit".to_string(), |l| l.describe());
        format!(
            "Rate limits per API key: live {}, sandbox {} ({SANDBOX_VAR}); webhook resends {} per endpoint",
            of(self.config.live),
            of(self.config.sandbox),
            self.config.resend.describe()
        )
    }

    /// The 429 for a request that an empty bucket refuses; None lets it through.
    pub fn check<B>(&self, req: &hyper::Request<B>) -> Option<Response<WasiBody>> {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let key = key_in(header("authorization"), header("x-api-key"));
        let checks = rate_limit::checks(&self.config, req.method().as_str(), req.uri().path(), key);
        if checks.is_empty() {
            return None;
        }
        let (check, retry) = self.take(&checks, now_ms())?;
        let refused = rate_limit::refused(&check, retry);
        let mut resp = Response::builder().status(refused.status);
        for (k, v) in &refused.headers {
            resp = resp.header(k, v);
        }
        let body = Full::new(Bytes::from(refused.body))
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed_unsync();
        resp.body(body).ok()
    }

    /// Takes a token from each bucket in turn; the first that is empty refuses.
    fn take(&self, checks: &[rate_limit::Check], now_ms: u64) -> Option<(rate_limit::Check, rate_limit::RetryAfter)> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for check in checks {
            if buckets.get_mut(&check.bucket).is_none() {
                buckets.insert(check.bucket, Bucket::default());
            }
            let bucket = buckets.get_mut(&check.bucket)?;
            if let Err(retry) = bucket.take(check.limit, now_ms) {
                return Some((*check, retry));
            }
        }
        None
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vinr_shared::rate_limit::Limit;

    fn limiter(live: u32, max: usize) -> RateLimiter {
        RateLimiter::new(
            Config {
                live: Some(Limit::per_second(live)),
                sandbox: None,
                resend: rate_limit::RESEND,
            },
            max,
        )
    }

    fn get(key: &str) -> hyper::Request<()> {
        hyper::Request::get("/v1/payments")
            .header("authorization", format!("Bearer {key}"))
            .body(())
            .unwrap()
    }

    #[test]
    fn a_key_beyond_its_burst_gets_a_429_others_do_not() {
        let l = limiter(3, 16);
        for _ in 0..3 {
            assert!(l.check(&get("sk_live_a")).is_none());
        }
        let refused = l.check(&get("sk_live_a")).expect("the 4th is refused");
        assert_eq!(refused.status(), 429);
        let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1);
        assert!(l.check(&get("sk_live_b")).is_none(), "another key has its own bucket");
        // The sandbox has no limit here: no bucket is even made.
        for _ in 0..100 {
            assert!(l.check(&get("sk_test_a")).is_none());
        }
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn the_map_stays_bounded_whatever_the_keys() {
        let l = limiter(1, 64);
        for i in 0..10_000 {
            l.check(&get(&format!("sk_live_garbage{i}")));
        }
        assert_eq!(l.len(), 64);
        // The most recent keys are still limited.
        assert!(l.check(&get("sk_live_garbage9999")).is_some());
    }

    #[test]
    fn x_api_key_is_limited_like_bearer() {
        let l = limiter(1, 16);
        let with_header = || {
            hyper::Request::post("/v1/webhooks/we_1/resend")
                .header("x-api-key", "sk_live_x")
                .body(())
                .unwrap()
        };
        assert!(l.check(&with_header()).is_none());
        assert!(l.check(&get("sk_live_x")).is_some(), "the same key, the same bucket");
    }
}
