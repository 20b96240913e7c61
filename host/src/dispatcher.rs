//! The webhook dispatcher of `vinr dev`: works the outbox (`webhook_deliveries`) continuously.
//!
//! What to send, how to sign it, when to retry and how to judge the answer are decided in
//! `vinr_shared::webhooks`; this module only schedules and does the I/O:
//!
//! 0. **Time-driven steps.** Each round first runs the steps of `vinr_shared::jobs` that are due
//!    (settlements, automatic payouts, refund failures, disputes, payouts arriving), on the
//!    writer connection with the writer lock held (each step is a few short SQL statements), so
//!    the events they record are claimed in the same round.
//! 1. **Claim.** Due rows (`status = 'pending' AND next_attempt_at <= now`, ranked fairly between
//!    accounts: see `vinr_shared::webhooks::fair`) are read on a pooled connection; of those, as
//!    many as there are free send slots are chosen round-robin across accounts, never more than
//!    `fair::PER_ACCOUNT` in flight for one account nor `fair::PER_ENDPOINT` for one endpoint (so
//!    one tenant's black-holed endpoints hold at most its own share of the slots for their 30 s
//!    timeouts). The chosen rows are *leased* in one
//!    write transaction on the pool's writer connection: `next_attempt_at` moves to
//!    now + attempt timeout + margin, guarded by its old value (rows affected = 1), so a delivery
//!    is never sent twice at once, and one whose sender died (process killed mid-send) is simply
//!    due again when its lease runs out. Nothing else is needed after a restart.
//! 2. **Send.** One task per delivery, at most `MAX_IN_FLIGHT` at once, over a keep-alive
//!    hyper client (HTTP/1.1, pooled per host; https through rustls with the webpki roots). Live
//!    endpoints may only reach public addresses (`url_policy::ip_allowed_live`), checked on the
//!    resolved addresses at send time, and the live client's resolver drops any other address.
//!    Redirects are never followed (a 3xx is a failed attempt); at most `MAX_RESPONSE_BODY` bytes
//!    of the answer are read, inside the attempt timeout; `last_error` keeps only a coarse class.
//! 3. **Record.** Results are written by one recorder task, many per transaction when they
//!    arrive together: attempts + 1 and the last_* columns; a 2xx succeeds (and clears the
//!    endpoint's `failing_since`), anything else gets its next attempt from
//!    `retry::next_attempt_at`, or is marked failed when the 72 h window is over (and the
//!    endpoint's `failing_since` set).
//!
//! The claim loop wakes on `Pool::committed` (notified by `sqlite_host` whenever a write ends),
//! so a first attempt starts within milliseconds of the commit; otherwise it sleeps until the
//! earliest `next_attempt_at`, at most `MAX_SLEEP`. The writer lock is never held across
//! network I/O.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use vinr_shared::jobs::{self, Report, Scope};
use vinr_shared::port::{Env, SqlValue, Stmt};
use vinr_shared::sqlite::{self, SqliteDb};
use vinr_shared::webhooks::delivery::{
    self, Attempt, DUE_SQL, EARLIEST_AFTER_SQL, EARLIEST_DUE_SQL, Job, LEASE_MARGIN_MS, NOT_ALLOWED,
};
use vinr_shared::webhooks::{fair, retry, url_policy};

use crate::db::Pool;

/// Deliveries being sent at once (and the most claimed in one round).
pub const MAX_IN_FLIGHT: usize = 64;
/// Due rows read per claim, to choose the round's fair share from.
const CANDIDATES: i64 = 256;
/// The longest the claim loop sleeps without a wake-up (a safety net: commits made by other
/// processes on the same data directory are not notified).
const MAX_SLEEP: Duration = Duration::from_millis(500);
/// Time-driven steps run at most per round (more are left for the next round, at once).
pub const STEPS_PER_ROUND: i64 = 200;
/// After a commit wakes the claim loop, it waits this long for more commits to batch with.
const COALESCE: Duration = Duration::from_millis(2);
/// How long shutdown waits for attempts in flight before handing their deliveries back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Bytes of a receiver's response body that are read (and discarded) so the connection can be
/// reused.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct Config {
    /// `VINR_RETRY_SCALE`: multiplies every backoff delay and the 72 h window.
    pub retry_scale: f64,
    pub attempt_timeout: Duration,
}

impl Config {
    /// From the environment: `VINR_RETRY_SCALE` (a positive float, default 1).
    pub fn from_env() -> anyhow::Result<Config> {
        let retry_scale = match std::env::var("VINR_RETRY_SCALE") {
            Err(_) => 1.0,
            Ok(s) => match s.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => v,
                _ => anyhow::bail!("VINR_RETRY_SCALE={s:?}: expected a positive number such as 0.001"),
            },
        };
        Ok(Config {
            retry_scale,
            attempt_timeout: Duration::from_millis(retry::ATTEMPT_TIMEOUT_MS),
        })
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            retry_scale: 1.0,
            attempt_timeout: Duration::from_millis(retry::ATTEMPT_TIMEOUT_MS),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn jitter() -> f64 {
    let mut b = [0u8; 8];
    crate::rand::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The outcome of one attempt.
#[derive(Debug)]
struct Outcome {
    job: Job,
    attempt: Attempt,
}

/// The running dispatcher; `shutdown` stops it.
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Dispatcher {
    /// Starts the dispatcher on the current tokio runtime.
    pub fn spawn(pool: Arc<Pool>, cfg: Config) -> anyhow::Result<Dispatcher> {
        let clients = Clients::new()?;
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(pool, cfg, clients, stop_rx));
        Ok(Dispatcher { stop, task })
    }

    /// Stops claiming, waits up to SHUTDOWN_GRACE for attempts in flight, records their
    /// results, and hands the deliveries still in flight back (due at once on the next start).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            eprintln!("warning: webhook dispatcher ended abnormally: {e}");
        }
    }
}

struct Shared {
    pool: Arc<Pool>,
    cfg: Config,
    clients: Clients,
    /// Leases of the deliveries being sent, by id.
    in_flight: Mutex<HashMap<String, i64>>,
    /// Attempts under way, by account and endpoint: what the fair-share caps count.
    sending: Mutex<fair::InFlight>,
    /// The last claim left due rows out for their caps: an attempt ending should wake the loop.
    capped: AtomicBool,
    /// Wakes the claim loop when a retry was scheduled sooner than it planned to look, or (while
    /// `capped`) when an attempt ended.
    wake: Notify,
}

async fn run(pool: Arc<Pool>, cfg: Config, clients: Clients, mut stop: watch::Receiver<bool>) {
    let shared = Arc::new(Shared {
        pool,
        cfg,
        clients,
        in_flight: Mutex::new(HashMap::new()),
        sending: Mutex::new(fair::InFlight::default()),
        capped: AtomicBool::new(false),
        wake: Notify::new(),
    });
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let (tx, rx) = mpsc::unbounded_channel::<Outcome>();
    let (rec_stop_tx, rec_stop_rx) = watch::channel(false);
    let recorder = tokio::spawn(recorder(shared.clone(), rx, rec_stop_rx));

    loop {
        if *stop.borrow() {
            break;
        }
        // The steps that are due first: the deliveries of their events are claimed just below.
        match run_steps(&shared.pool).await {
            // Wake the next round at once: more steps may be due (a full round), and whoever
            // else waits on commits hears of these.
            Ok(r) if r.ran > 0 => shared.pool.committed.notify_one(),
            Ok(_) => {}
            Err(e) => eprintln!("warning: scheduler: running due steps failed: {e:#}"),
        }
        // Claim as long as full batches come back and slots are free.
        let mut next_due = None;
        loop {
            let free = slots.available_permits();
            if free == 0 {
                break;
            }
            let (jobs, capped) = match claim(&shared, free).await {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("warning: webhook dispatcher: claiming deliveries failed: {e:#}");
                    break;
                }
            };
            let n = jobs.len();
            for job in jobs {
                let permit = slots
                    .clone()
                    .try_acquire_owned()
                    .expect("claimed no more than the free slots");
                let (shared, tx) = (shared.clone(), tx.clone());
                tokio::spawn(async move {
                    let out = attempt(&shared, job).await;
                    shared
                        .sending
                        .lock()
                        .unwrap()
                        .remove(&out.job.account, &out.job.endpoint_id);
                    let _ = tx.send(out);
                    drop(permit);
                    if shared.capped.load(Ordering::SeqCst) {
                        shared.wake.notify_one();
                    }
                });
            }
            if n < free {
                // Rows held back by their caps are due already: look again when an attempt
                // ends (the wake above) or when a row beyond them falls due.
                next_due = if capped {
                    earliest_after(&shared.pool, now_ms()).unwrap_or(None)
                } else {
                    earliest_due(&shared.pool).unwrap_or(None)
                };
                break;
            }
        }
        let sleep = match next_due {
            Some(at) => Duration::from_millis((at - now_ms()).clamp(1, MAX_SLEEP.as_millis() as i64) as u64),
            None => MAX_SLEEP,
        };
        tokio::select! {
            _ = stop.changed() => {}
            _ = shared.pool.committed.notified() => {
                // Let the commits of the next few ms join this round: fewer, larger claims and
                // lease transactions under load, for a few ms of latency.
                tokio::time::sleep(COALESCE).await;
            }
            _ = shared.wake.notified() => {
                // An attempt ended while rows waited for their caps: let others end too, so
                // that one claim takes several freed places (as for commits above).
                if shared.capped.load(Ordering::SeqCst) {
                    tokio::time::sleep(COALESCE).await;
                }
            }
            // A slot freed: more may be claimed.
            p = slots.clone().acquire_owned(), if slots.available_permits() == 0 => drop(p),
            _ = tokio::time::sleep(sleep) => {}
        }
    }

    // Shutdown: wait for the attempts in flight (their results go to the recorder).
    drop(tx);
    let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
    let _ = rec_stop_tx.send(true);
    let _ = recorder.await;
    // Deliveries still in flight: give their leases back so they are due at once after a restart.
    let left: Vec<(String, i64)> = shared.in_flight.lock().unwrap().drain().collect();
    if !left.is_empty() {
        let now = now_ms();
        let r = with_writer(&shared.pool, |w| {
            let tx = w.unchecked_transaction()?;
            for (id, lease) in &left {
                sqlite::execute(&tx, &delivery::release_stmt(id, *lease, now))?;
            }
            tx.commit()
        })
        .await;
        if let Err(e) = r {
            eprintln!(
                "warning: webhook dispatcher: releasing {} leases failed: {e:#} (they are retried when the lease ends)",
                left.len()
            );
        }
    }
}

/// The clock and randomness of `vinr dev`'s scheduled steps: real time (sandbox accounts add
/// their clock offset themselves) and the OS generator.
pub struct HostEnv;

impl Env for HostEnv {
    fn now(&self) -> i64 {
        now_ms().div_euclid(1000)
    }
    fn now_ms(&self) -> i64 {
        now_ms()
    }
    fn fill_random(&self, buf: &mut [u8]) {
        crate::rand::fill(buf);
    }
    fn log_error(&self, id: &str, message: &str) {
        eprintln!("error: {id}: {message}");
    }
    // Steps run on a blocking thread (`run_steps`), so a plain sleep holds nothing else up.
    async fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    // Steps (and device frames) decide with the writer lock held: the hub call is handed to the
    // hub to run after them, never waited for here (see `terminal_hub::call_from_blocking`).
    async fn terminal_hub(&self, call: &vinr_shared::hub::HubCall) -> vinr_shared::hub::HubReply {
        crate::terminal_hub::call_from_blocking(call)
    }
}

/// One round of time-driven steps: up to STEPS_PER_ROUND of those due, each in its own batch, on
/// the writer connection with the writer lock held (components queue for it as for any other
/// write; a step is a few short statements and never waits on anything else). The `Db` port is
/// async but rusqlite is not, so the round runs on a blocking thread.
pub(crate) async fn run_steps(pool: &Arc<Pool>) -> anyhow::Result<Report> {
    // Read on a pooled connection, so that rounds with nothing to do never queue for the writer.
    let due = {
        let conn = pool.checkout()?;
        crate::db::with_busy_retry(&conn, |c| {
            c.prepare_cached(vinr_shared::jobs::ANY_DUE_SQL)?
                .query_row([now_ms().div_euclid(1000)], |r| r.get::<_, bool>(0))
        })?
    };
    if !due {
        return Ok(Report::default());
    }
    let mut guard = pool.writer.clone().lock_owned().await;
    pool.ensure_writer(&mut guard)?;
    let round = tokio::task::spawn_blocking(move || {
        let conn = guard.as_ref().expect("opened by ensure_writer");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(jobs::run_due(&SqliteDb(conn), &HostEnv, Scope::AllDue, STEPS_PER_ROUND))
        }));
        // Never hand the writer on inside a transaction (a step that panicked mid-batch).
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        drop(guard);
        r
    })
    .await?;
    match round {
        Ok(Ok(report)) => {
            if report.failed > 0 {
                eprintln!(
                    "warning: scheduler: {} due step(s) could not be decided; retried in {} s",
                    report.failed,
                    jobs::RETRY_SECS
                );
            }
            Ok(report)
        }
        Ok(Err(e)) => anyhow::bail!("{e:?}"),
        Err(_) => anyhow::bail!("a step panicked"),
    }
}

/// Runs `f` on the pool's writer connection, taken with the writer lock (asynchronously).
async fn with_writer<T>(pool: &Pool, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> anyhow::Result<T> {
    let mut guard = pool.writer.clone().lock_owned().await;
    pool.ensure_writer(&mut guard)?;
    let conn = guard.as_ref().unwrap();
    let r = f(conn);
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    Ok(r?)
}

/// Chooses up to `limit` due deliveries, the fair share of each account and endpoint given
/// what is in flight, and leases them in one write transaction. Also says whether rows were left
/// out only for their caps.
async fn claim(shared: &Shared, limit: usize) -> anyhow::Result<(Vec<Job>, bool)> {
    let now = now_ms();
    let due = {
        let conn = shared.pool.checkout()?;
        sqlite::query(
            &conn,
            &Stmt::new(DUE_SQL, vec![SqlValue::Int(now), SqlValue::Int(CANDIDATES)]),
        )?
        .iter()
        .filter_map(Job::from_row)
        .collect::<Vec<Job>>()
    };
    let picked = {
        let keys: Vec<(&str, &str)> = due
            .iter()
            .map(|j| (j.account.as_str(), j.endpoint_id.as_str()))
            .collect();
        fair::pick(&keys, &shared.sending.lock().unwrap(), limit)
    };
    shared.capped.store(picked.capped, Ordering::SeqCst);
    let mut jobs: Vec<Job> = picked.chosen.iter().map(|&i| due[i].clone()).collect();
    if jobs.is_empty() {
        return Ok((jobs, picked.capped));
    }
    let lease = now + shared.cfg.attempt_timeout.as_millis() as i64 + LEASE_MARGIN_MS;
    let leased = with_writer(&shared.pool, |w| {
        let tx = w.unchecked_transaction()?;
        let mut ok = Vec::with_capacity(jobs.len());
        for j in &jobs {
            ok.push(sqlite::execute(&tx, &j.lease_stmt(lease))? == 1);
        }
        tx.commit()?;
        Ok(ok)
    })
    .await?;
    let mut it = leased.into_iter();
    jobs.retain(|_| it.next().unwrap_or(false));
    let mut in_flight = shared.in_flight.lock().unwrap();
    let mut sending = shared.sending.lock().unwrap();
    for j in &mut jobs {
        j.lease = lease;
        in_flight.insert(j.id.clone(), lease);
        sending.add(&j.account, &j.endpoint_id);
    }
    Ok((jobs, picked.capped))
}

/// The earliest `next_attempt_at` of a pending delivery after `after` (unix ms).
fn earliest_after(pool: &Arc<Pool>, after: i64) -> anyhow::Result<Option<i64>> {
    let conn = pool.checkout()?;
    let v: Option<i64> = conn
        .prepare_cached(EARLIEST_AFTER_SQL)?
        .query_row([after], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(v)
}

/// The earliest `next_attempt_at` of a pending delivery (leases included).
fn earliest_due(pool: &Arc<Pool>) -> anyhow::Result<Option<i64>> {
    let conn = pool.checkout()?;
    let v: Option<i64> = conn
        .prepare_cached(EARLIEST_DUE_SQL)?
        .query_row([], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(v)
}

/// One attempt: never fails, every problem becomes the outcome's error.
async fn attempt(shared: &Shared, job: Job) -> Outcome {
    let start = Instant::now();
    let at_ms = now_ms();
    let (status, error) = if let Some(why) = job.refusal() {
        (None, Some(why.to_string()))
    } else {
        match tokio::time::timeout(shared.cfg.attempt_timeout, send(shared, &job)).await {
            Ok(Ok(status)) => (Some(status), delivery::status_error(status)),
            Ok(Err(e)) => (None, Some(e)),
            Err(_) => (None, Some(delivery::TIMED_OUT.to_string())),
        }
    };
    Outcome {
        job,
        attempt: Attempt {
            status,
            error,
            duration_ms: start.elapsed().as_millis() as i64,
            at_ms,
        },
    }
}

/// Sends the POST and returns the response status (the body is read, up to a limit, and dropped).
/// Hyper's client never follows redirects: a 3xx is just the status.
async fn send(shared: &Shared, job: &Job) -> Result<u16, String> {
    // The URL as the WHATWG parser reads it (`0x7f.1` is 127.0.0.1), so the host checked is the
    // host connected to.
    let Some(target) = url_policy::target(&job.url) else {
        return Err(delivery::INVALID_URL.into());
    };
    if job.livemode {
        if url_policy::refusal(&job.url, true).is_some() {
            return Err(NOT_ALLOWED.into());
        }
        // Checked here on the resolved addresses; the live client's resolver also drops any
        // address that is not public, so a name that changes its answer cannot slip through.
        let addrs: Vec<IpAddr> = match &target.host {
            url_policy::TargetHost::Ip(ip) => vec![*ip],
            url_policy::TargetHost::Name(host) => match tokio::net::lookup_host((host.as_str(), 443)).await {
                Ok(a) => a.map(|s| s.ip()).collect(),
                Err(_) => return Err(delivery::DNS_FAILED.into()),
            },
        };
        if addrs.is_empty() || addrs.iter().any(|ip| !url_policy::ip_allowed_live(*ip)) {
            return Err(NOT_ALLOWED.into());
        }
    }
    let mut req = http::Request::post(target.href.as_str());
    for (k, v) in job.headers(now_ms().div_euclid(1000)) {
        req = req.header(k, v);
    }
    let req = req
        .body(Full::new(Bytes::from(job.body.clone())))
        .map_err(|_| delivery::INVALID_URL.to_string())?;
    let resp = if job.livemode {
        shared.clients.live.request(req).await
    } else {
        shared.clients.sandbox.request(req).await
    };
    let resp = resp.map_err(|e| describe(&e))?;
    let status = resp.status().as_u16();
    // Read the body so the connection goes back to the pool; its content does not matter.
    let _ = Limited::new(resp.into_body(), MAX_RESPONSE_BODY).collect().await;
    Ok(status)
}

/// The coarse class of an error and its causes (`delivery::error_class`): `last_error` is shown
/// to the account and must not tell which ports of which hosts answer.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    delivery::error_class(&parts.join(": ")).to_string()
}

/// Writes outcomes, all that are waiting in one transaction.
async fn recorder(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Outcome>, mut stop: watch::Receiver<bool>) {
    let mut buf = Vec::with_capacity(512);
    loop {
        tokio::select! {
            biased;
            n = rx.recv_many(&mut buf, 512) => if n == 0 { return },
            _ = stop.changed() => {
                // Drain what is queued, then end.
                while let Ok(o) = rx.try_recv() {
                    buf.push(o);
                }
                record(&shared, std::mem::take(&mut buf)).await;
                return;
            }
        }
        record(&shared, std::mem::take(&mut buf)).await;
    }
}

async fn record(shared: &Shared, outcomes: Vec<Outcome>) {
    if outcomes.is_empty() {
        return;
    }
    let scale = shared.cfg.retry_scale;
    let now = now_ms();
    let r = with_writer(&shared.pool, |w| {
        let tx = w.unchecked_transaction()?;
        let mut retry_soon = false;
        for o in &outcomes {
            let (stmts, next) = delivery::record(&o.job, &o.attempt, now, jitter(), scale);
            for st in &stmts {
                sqlite::execute(&tx, st)?;
            }
            retry_soon |= next.is_some_and(|at| at - now < MAX_SLEEP.as_millis() as i64);
        }
        tx.commit()?;
        Ok(retry_soon)
    })
    .await;
    {
        let mut in_flight = shared.in_flight.lock().unwrap();
        for o in &outcomes {
            in_flight.remove(&o.job.id);
        }
    }
    match r {
        Ok(true) => shared.wake.notify_one(),
        Ok(false) => {}
        // The leases run out and the deliveries are attempted again: at-least-once.
        Err(e) => eprintln!(
            "warning: webhook dispatcher: recording {} results failed: {e:#}",
            outcomes.len()
        ),
    }
}

/// Two HTTP clients: sandbox endpoints may be anywhere (loopback included); live ones only
/// reach public addresses.
struct Clients {
    sandbox: Client<hyper_rustls::HttpsConnector<HttpConnector<GaiResolver>>, Full<Bytes>>,
    live: Client<hyper_rustls::HttpsConnector<HttpConnector<PublicOnly>>, Full<Bytes>>,
}

impl Clients {
    fn new() -> anyhow::Result<Clients> {
        fn tls() -> rustls::ClientConfig {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
        fn connector<R: Clone>(mut http: HttpConnector<R>) -> hyper_rustls::HttpsConnector<HttpConnector<R>> {
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(Duration::from_secs(10)));
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        }
        let builder = || {
            let mut b = Client::builder(hyper_util::rt::TokioExecutor::new());
            b.pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(MAX_IN_FLIGHT)
                .timer(hyper_util::rt::TokioTimer::new());
            b
        };
        Ok(Clients {
            sandbox: builder().build(connector(HttpConnector::new())),
            live: builder().build(connector(HttpConnector::new_with_resolver(PublicOnly))),
        })
    }
}

/// A resolver that keeps only the addresses live endpoints may reach.
#[derive(Clone)]
struct PublicOnly;

impl tower_service::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| url_policy::ip_allowed_live(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, NOT_ALLOWED));
            }
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests;
