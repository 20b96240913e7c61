//! The Worker's rate limits (docs/security.md, "Rate limits"): the token buckets of
//! `vinr_shared::rate_limit`, one Durable Object per bucket (`RATE_LIMITS.idFromName(<bucket
//! hash>)`), checked before the API pipeline so a refused request costs no D1 query.
//!
//! Cloudflare's rate-limiting binding (`worker::RateLimiter`) was not used: its limit and period
//! are fixed in wrangler.toml (period 10 or 60 s only), so it cannot take `VINR_RATE_LIMIT` per
//! second, it answers only yes or no (no `Retry-After`), and it counts per location.
//!
//! A key's bucket lives in the object's memory only: no storage write per request. An object
//! is evicted after a brief period of inactivity, by which time a per-second bucket is full
//! anyway. A resend bucket (10 per minute) is also stored, so that eviction cannot refill it
//! early; an alarm deletes it once it is full again, so garbage endpoint ids leave nothing.
//! A failure to reach the object lets the request through (and is logged): the limiter must not
//! take the API down with it.

use std::cell::Cell;
use std::time::Duration;

use vinr_shared::auth::key_in;
use vinr_shared::port::new_id;
use vinr_shared::rate_limit::{self, Bucket, Check, Config, Limit, RetryAfter, Scope};
use worker::{DurableObject, Env, Headers, Request, Response, Result, State, durable_object};

use crate::platform::WorkerEnv;

/// The Durable Object namespace binding (wrangler.toml).
const BINDING: &str = "RATE_LIMITS";
/// The object's URL (any host: the request goes to the stub, not the network).
const TAKE_URL: &str = "https://rate-limit.vinr.internal/take";
/// The sandbox's default on the Worker when `VINR_SANDBOX_RATE_LIMIT` is not set (wrangler.toml
/// sets it too): a hosted sandbox is shared, so it has a limit; as high as live, so that tests
/// and integrations that pass live pass in the sandbox.
const SANDBOX_DEFAULT_PER_SECOND: u32 = 100;

/// The deployment's limits from wrangler.toml's `[vars]`. A malformed value is logged and the
/// defaults apply (a typo must not turn the limits off, nor every request into an error).
fn config(env: &Env) -> Config {
    let var = |k: &str| env.var(k).ok().map(|v| v.to_string());
    Config::from_vars(var, Some(SANDBOX_DEFAULT_PER_SECOND)).unwrap_or_else(|e| {
        worker::console_error!("rate limits: {e}; using the defaults");
        Config::from_vars(|_| None, Some(SANDBOX_DEFAULT_PER_SECOND)).expect("the defaults parse")
    })
}

/// The 429 for a request that an empty bucket refuses (with a `request-id`, as every answer
/// has); None lets it through. Before the body is read: a refused request costs nothing more.
pub async fn check(env: &Env, req: &Request, path: &str) -> Option<Result<Response>> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (authorization, x_api_key) = (header("authorization"), header("x-api-key"));
    let key = key_in(authorization.as_deref(), x_api_key.as_deref());
    let method = req.method();
    let checks = rate_limit::checks(&config(env), method.as_ref(), path, key);
    if checks.is_empty() {
        return None;
    }
    let ns = match env.durable_object(BINDING) {
        Ok(ns) => ns,
        Err(e) => {
            worker::console_error!("rate limits: no {BINDING} binding ({e}); not limiting");
            return None;
        }
    };
    for check in &checks {
        match take(&ns, check).await {
            Ok(None) => {}
            Ok(Some(retry)) => return Some(respond(env, rate_limit::refused(check, retry))),
            Err(e) => worker::console_error!("rate limits: the bucket's object failed ({e}); not limiting"),
        }
    }
    None
}

fn respond(env: &Env, r: vinr_shared::http::Response) -> Result<Response> {
    let headers = Headers::new();
    for (k, v) in &r.headers {
        headers.append(k, v)?;
    }
    headers.set("request-id", &new_id(&WorkerEnv::new(env), "req_"))?;
    Ok(Response::from_bytes(r.body)?
        .with_status(r.status)
        .with_headers(headers))
}

/// One token from the check's bucket: None if taken, else how long to wait.
async fn take(ns: &worker::ObjectNamespace, check: &Check) -> Result<Option<RetryAfter>> {
    let stub = ns.id_from_name(&check.bucket.hex())?.get_stub()?;
    let url = format!(
        "{TAKE_URL}?burst={}&period_ms={}&stored={}",
        check.limit.burst,
        check.limit.period_ms,
        u8::from(check.scope == Scope::Resend)
    );
    let resp = stub.fetch_with_str(&url).await?;
    match resp.status_code() {
        204 => Ok(None),
        429 => {
            let ms = resp
                .headers()
                .get("retry-after-ms")?
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            Ok(Some(RetryAfter { ms }))
        }
        s => Err(worker::Error::RustError(format!("the bucket's object answered {s}"))),
    }
}

/// One bucket. The limit comes with each request (the configuration may change between
/// deployments; the bucket's state does not depend on it).
#[durable_object]
pub struct RateLimitBucket {
    state: State,
    bucket: Cell<Bucket>,
    /// Whether the stored bucket (if any) was read since the object started.
    loaded: Cell<bool>,
}

/// The storage key of a stored bucket.
const STORED: &str = "bucket";

impl DurableObject for RateLimitBucket {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            bucket: Cell::new(Bucket::default()),
            loaded: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        let (Some(burst), Some(period_ms)) = (param("burst"), param("period_ms")) else {
            return Response::error("burst and period_ms are required", 400);
        };
        let limit = Limit {
            burst: u32::try_from(burst).unwrap_or(u32::MAX),
            period_ms,
        };
        let stored = param("stored") == Some(1);
        let storage = self.state.storage();
        if stored && !self.loaded.get() {
            // Input gates hold other requests to this object while storage is read.
            if let Some(v) = storage.get::<u64>(STORED).await? {
                self.bucket.set(Bucket::from_stored(v.max(self.bucket.get().stored())));
            }
            self.loaded.set(true);
        }
        // No await between reading and writing the bucket: requests to this object cannot
        // interleave here.
        let now = js_sys::Date::now() as u64;
        let mut bucket = self.bucket.get();
        let taken = bucket.take(limit, now);
        self.bucket.set(bucket);
        match taken {
            Ok(()) => {
                if stored {
                    storage.put(STORED, bucket.stored()).await?;
                    storage
                        .set_alarm(Duration::from_millis(bucket.full_in_ms(now).max(1)))
                        .await?;
                }
                Ok(Response::empty()?.with_status(204))
            }
            Err(retry) => {
                let headers = Headers::new();
                headers.set("retry-after-ms", &retry.ms.to_string())?;
                Ok(Response::empty()?.with_status(429).with_headers(headers))
            }
        }
    }

    /// A stored bucket that is full again is the same as none: forget it.
    async fn alarm(&self) -> Result<Response> {
        let now = js_sys::Date::now() as u64;
        if self.bucket.get().is_full(now) {
            self.state.storage().delete_all().await?;
            self.loaded.set(false);
        } else {
            let wait = self.bucket.get().full_in_ms(now).max(1);
            self.state.storage().set_alarm(Duration::from_millis(wait)).await?;
        }
        Response::empty()
    }
}
