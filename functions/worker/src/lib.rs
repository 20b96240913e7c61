//! The Cloudflare Worker: the same API as the Spin components, one Worker for every route group.
//! The domain is `vinr_shared`; this crate only translates requests and supplies the ports
//! (D1, KV, the JS clock and CSPRNG, `fetch`).
//!
//! - `fetch`: serves `/v1/...`; every event a request commits is put on the `WEBHOOKS` queue after
//!   the response is sent. `GET /v1/terminal/connect` (a device's WebSocket) goes to its
//!   terminal's Durable Object (`terminal`).
//! - `queue`: sends the deliveries of each queued event (webhooks::runner) and queues the event
//!   again for its next retry.
//! - `scheduled` (cron, every minute): runs the time-driven steps that are due (`jobs`), then
//!   sends every delivery due, whatever the queue missed.

mod d1;
mod platform;
mod rate_limiter;
mod request;
mod terminal;

use d1::D1Db;
use platform::{FetchTransport, KvCache, WorkerEnv};
use serde::{Deserialize, Serialize};
use vinr_shared::api::{Group, handle_cached};
use vinr_shared::jobs;
use vinr_shared::terminal::protocol::CONNECT_PATH;
use vinr_shared::webhooks::runner::{self, Scope};
use worker::{Context, Env, Headers, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent, event};

pub use rate_limiter::RateLimitBucket;
pub use terminal::TerminalSession;

/// A queue message: "deliver this event's webhooks".
#[derive(Serialize, Deserialize)]
struct Delivery {
    event: String,
}

const QUEUE: &str = "WEBHOOKS";
/// Deliveries one run sends at most (a queue message's event has one per endpoint).
const RUN_LIMIT: i64 = 100;
/// Time-driven steps one `jobs::run_due` call runs at most.
const JOBS_LIMIT: i64 = 200;
/// Cloudflare Queues delays a message by at most 12 hours.
const MAX_QUEUE_DELAY_SECS: i64 = 12 * 3600;

pub(crate) fn db(env: &Env) -> Result<D1Db> {
    Ok(D1Db(env.d1("DB")?))
}

fn retry_scale(env: &Env) -> f64 {
    env.var("VINR_RETRY_SCALE")
        .ok()
        .and_then(|v| v.to_string().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0)
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let url = req.url()?;
    let path = url.path().to_string();
    if path == CONNECT_PATH {
        return terminal::connect(req, &env).await;
    }
    if let Some(refused) = rate_limiter::check(&env, &req, &path).await {
        return refused;
    }
    let request = match request::read(&mut req, &url, path).await {
        Ok(r) => r,
        Err(e) => return request::refuse(&env, e),
    };
    // Paths outside every group get the pipeline's own 404 (through any group's route table).
    let group = Group::for_path(&request.path).unwrap_or(Group::Payments);
    let cache = KvCache(env.kv("CACHE").ok());
    let served = handle_cached(group, &request, &db(&env)?, &WorkerEnv::new(&env), &cache).await;
    if !served.events.is_empty() {
        // After the response: the events are committed already, and the cron sweep delivers them
        // even if this send is lost.
        let events = served.events;
        ctx.wait_until(async move {
            if let Err(e) = enqueue(&env, events, 0).await {
                worker::console_error!("webhook queue: send failed ({e}); the cron sweep will deliver");
            }
        });
    }
    let r = served.response;
    let headers = Headers::new();
    for (k, v) in &r.headers {
        headers.append(k, v)?;
    }
    Ok(Response::from_bytes(r.body)?
        .with_status(r.status)
        .with_headers(headers))
}

pub(crate) async fn enqueue(env: &Env, events: Vec<String>, delay_secs: u32) -> Result<()> {
    let queue = env.queue(QUEUE)?;
    let batch = worker::BatchMessageBuilder::new()
        .messages(events.into_iter().map(|event| Delivery { event }))
        .delay_seconds(delay_secs)
        .build();
    queue.send_batch(batch).await
}

#[event(queue)]
async fn queue(batch: MessageBatch<Delivery>, env: Env, _ctx: Context) -> Result<()> {
    let db = db(&env)?;
    let scale = retry_scale(&env);
    // All at once: one event's slow endpoints (another account's, maybe) must not hold up the
    // other events of the batch.
    let events: Vec<String> = batch.messages()?.into_iter().map(|m| m.into_body().event).collect();
    let runs = events.iter().map(|event| deliver_event(&env, &db, event, scale));
    futures_util::future::join_all(runs).await.into_iter().collect()
}

/// Runs the event's due deliveries; if some are still pending, looks again when the next one is
/// due: at once (waiting in place) if that is under a second away, else by queueing the event
/// again with a delay. A failure returns Err, so the queue retries the message.
async fn deliver_event(env: &Env, db: &D1Db, event: &str, scale: f64) -> Result<()> {
    // Sub-second retries only happen with a shrunk schedule (tests); bound the waiting anyway.
    for _ in 0..50 {
        let report = runner::run(
            db,
            &WorkerEnv::new(env),
            &FetchTransport,
            Scope::Event(event),
            RUN_LIMIT,
            scale,
        )
        .await
        .map_err(|e| worker::Error::RustError(format!("{e:?}")))?;
        let Some(next) = report.next_due else { return Ok(()) };
        let wait_ms = next - js_sys::Date::now() as i64;
        if wait_ms >= 1000 {
            let secs = (wait_ms + 999) / 1000;
            // Beyond the queue's 12 h limit the cron sweep picks it up.
            if secs <= MAX_QUEUE_DELAY_SECS {
                enqueue(env, vec![event.to_string()], secs as u32).await?;
            }
            return Ok(());
        }
        if wait_ms > 0 {
            worker::Delay::from(std::time::Duration::from_millis(wait_ms as u64)).await;
        }
    }
    enqueue(env, vec![event.to_string()], 1).await
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let Ok(db) = db(&env) else { return };
    let scale = retry_scale(&env);
    let started = js_sys::Date::now();
    // First the time-driven steps (settlements, payouts, refund failures, disputes), up to
    // ~10 s: the events they record are then delivered by the sweep below, in this same run.
    while js_sys::Date::now() - started < 10_000.0 {
        match jobs::run_due(&db, &WorkerEnv::new(&env), jobs::Scope::AllDue, JOBS_LIMIT).await {
            Ok(r) if r.ran > 0 => continue,
            Ok(_) => break,
            Err(e) => {
                worker::console_error!("scheduled steps: {e:?}");
                break;
            }
        }
    }
    // Up to ~20 s of sweeping per invocation; the next minute's run continues.
    while js_sys::Date::now() - started < 20_000.0 {
        match runner::run(
            &db,
            &WorkerEnv::new(&env),
            &FetchTransport,
            Scope::AllDue,
            RUN_LIMIT,
            scale,
        )
        .await
        {
            Ok(r) if r.attempted > 0 => continue,
            Ok(_) => break,
            Err(e) => {
                worker::console_error!("webhook sweep: {e:?}");
                break;
            }
        }
    }
    purge(&db, &env, started).await;
}

/// Retention (docs/security.md): bounded batches until nothing old is left or ~25 s have gone
/// by; the next minute's run goes on. `VINR_EVENT_RETENTION_DAYS` (a var) sets the event window.
async fn purge(db: &D1Db, env: &Env, started: f64) {
    let days = env.var("VINR_EVENT_RETENTION_DAYS").ok().map(|v| v.to_string());
    let policy = match vinr_shared::retention::Policy::parse(days.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            worker::console_error!("retention: {e}");
            return;
        }
    };
    while js_sys::Date::now() - started < 25_000.0 {
        let now = (js_sys::Date::now() / 1000.0) as i64;
        match vinr_shared::retention::purge_batch(db, now, policy).await {
            Ok(p) if p.more() => continue,
            Ok(_) => break,
            Err(e) => {
                worker::console_error!("retention purge: {e:?}");
                break;
            }
        }
    }
}
