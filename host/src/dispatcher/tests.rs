//! The dispatcher against a temporary database (the real schema) and a loopback receiver.
//! Rows are inserted directly, as `vinr_shared::events::record` would write them.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;

use super::*;
use crate::db::Database;
use rusqlite::params;
use vinr_shared::webhooks::signature;

fn temp_db(tag: &str) -> (PathBuf, Database) {
    let d = std::env::temp_dir().join(format!("vinr-dispatch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let db = Database::open(&d).unwrap();
    let mig = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/migrations");
    crate::db::migrate(&db.main_path, &mig).unwrap();
    (d, db)
}

#[derive(Debug, Clone)]
struct Received {
    headers: http::HeaderMap,
    body: Bytes,
    at_ms: i64,
}

/// A loopback receiver answering with `statuses` in turn (the last one repeats).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
}

async fn receiver(statuses: Vec<u16>) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let notify = Arc::new(Notify::new());
    let n = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(statuses);
    let (g, nt) = (got.clone(), notify.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (g, nt, n, statuses) = (g.clone(), nt.clone(), n.clone(), statuses.clone());
            let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (g, nt, n, statuses) = (g.clone(), nt.clone(), n.clone(), statuses.clone());
                async move {
                    let headers = req.headers().clone();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    g.lock().unwrap().push(Received {
                        headers,
                        body,
                        at_ms: now_ms(),
                    });
                    nt.notify_waiters();
                    let i = n.fetch_add(1, Ordering::SeqCst);
                    let status = statuses[i.min(statuses.len() - 1)];
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from_static(b"ok")))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), svc));
        }
    });
    Receiver { url, got, notify }
}

impl Receiver {
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.notify.notified();
            {
                let g = self.got.lock().unwrap();
                if g.len() >= n {
                    return g.clone();
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified).await.is_err() {
                return self.got.lock().unwrap().clone();
            }
        }
    }
}

fn add_endpoint(conn: &Connection, id: &str, url: &str, livemode: bool, secret: &str, previous: Option<(&str, i64)>) {
    conn.execute(
        "INSERT INTO webhook_endpoints (id, account_id, livemode, url, enabled_events, secret, previous_secret, previous_expires_at, created, data) \
         VALUES (?1, 'acct_test', ?2, ?3, '[\"*\"]', ?4, ?5, ?6, 0, '{}')",
        params![id, livemode, url, secret, previous.map(|p| p.0), previous.map(|p| p.1)],
    )
    .unwrap();
}

/// Writes an event and its deliveries as `events::record` does (same SQL shape), on `conn`.
fn add_event(conn: &Connection, evt: &str, livemode: bool, created_ms: i64) -> String {
    let body = serde_json::json!({"id": evt, "object": "event", "type": "payment.succeeded", "created": created_ms / 1000, "livemode": livemode, "data": {"id": "pay_1"}}).to_string();
    conn.execute(
        "INSERT INTO events (id, account_id, livemode, type, created, data) VALUES (?1, 'acct_test', ?2, 'payment.succeeded', ?3, ?4)",
        params![evt, livemode, created_ms / 1000, body],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO webhook_deliveries (id, account_id, livemode, endpoint_id, event_id, status, attempts, next_attempt_at, created_ms, created) \
         SELECT 'wd_' || lower(hex(randomblob(12))), e.account_id, e.livemode, e.id, ?1, 'pending', 0, ?2, ?2, ?3 \
         FROM webhook_endpoints e WHERE e.account_id = 'acct_test' AND e.livemode = ?4 AND e.deleted = 0 AND e.disabled = 0",
        params![evt, created_ms, created_ms / 1000, livemode],
    )
    .unwrap();
    body
}

#[derive(Debug)]
struct Row {
    status: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    last_duration_ms: Option<i64>,
    last_attempt_at: Option<i64>,
}

fn delivery(db: &Database, evt: &str) -> Row {
    let c = crate::db::open_connection(&db.main_path).unwrap();
    c.query_row(
        "SELECT status, attempts, next_attempt_at, last_status_code, last_error, last_duration_ms, last_attempt_at FROM webhook_deliveries WHERE event_id = ?1",
        [evt],
        |r| {
            Ok(Row {
                status: r.get(0)?,
                attempts: r.get(1)?,
                next_attempt_at: r.get(2)?,
                last_status_code: r.get(3)?,
                last_error: r.get(4)?,
                last_duration_ms: r.get(5)?,
                last_attempt_at: r.get(6)?,
            })
        },
    )
    .unwrap()
}

async fn wait_status(db: &Database, evt: &str, status: &str, within: Duration) -> Row {
    let deadline = Instant::now() + within;
    loop {
        let r = delivery(db, evt);
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Inserts through the pool's writer connection and notifies, as a component's commit does.
async fn commit_on_writer(pool: &Arc<Pool>, f: impl FnOnce(&Connection)) {
    with_writer(pool, |w| {
        f(w);
        Ok(())
    })
    .await
    .unwrap();
    pool.committed.notify_one();
}

fn scaled(scale: f64) -> Config {
    Config {
        retry_scale: scale,
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_signed_event_within_milliseconds_of_the_commit() {
    let (dir, db) = temp_db("first");
    let rx = receiver(vec![200]).await;
    let t_future = now_ms() / 1000 + 3600;
    commit_on_writer(&db.main, |c| {
        add_endpoint(c, "we_a", &rx.url, false, "whsec_new", Some(("whsec_old", t_future)))
    })
    .await;
    let d = Dispatcher::spawn(db.main.clone(), scaled(1.0)).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let commit = now_ms();
    let mut body = String::new();
    commit_on_writer(&db.main, |c| body = add_event(c, "evt_1", false, commit)).await;
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let latency = r.at_ms - commit;
    eprintln!("commit -> receive: {latency} ms");
    assert!(latency < 250, "first attempt {latency} ms after the commit");
    assert_eq!(r.body, body.as_bytes());
    let h = |k: &str| {
        r.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(h("content-type"), "application/json");
    assert_eq!(h("user-agent"), "VINR-Webhooks/1.0");
    assert_eq!(h("x-vinr-event-id"), "evt_1");
    assert!(h("x-vinr-delivery-id").starts_with("wd_"));
    let sig = h("x-vinr-signature");
    let now_s = now_ms() / 1000;
    // Both secrets sign while the previous one has not expired.
    assert_eq!(signature::verify("whsec_new", &sig, &r.body, now_s, 300), Ok(()));
    assert_eq!(signature::verify("whsec_old", &sig, &r.body, now_s, 300), Ok(()));
    assert_eq!(
        signature::verify("whsec_other", &sig, &r.body, now_s, 300),
        Err(signature::VerifyError::Mismatch)
    );

    let row = wait_status(&db, "evt_1", "succeeded", Duration::from_secs(2)).await;
    assert_eq!(row.status, "succeeded", "{row:?}");
    assert_eq!(
        (
            row.attempts,
            row.next_attempt_at,
            row.last_status_code,
            row.last_error.as_deref()
        ),
        (1, None, Some(200), None)
    );
    assert!(
        row.last_duration_ms.is_some() && row.last_attempt_at.is_some_and(|t| t >= commit),
        "{row:?}"
    );
    d.shutdown().await;
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_until_acknowledged_and_expired_previous_secret_stops_signing() {
    let (dir, db) = temp_db("retry");
    let rx = receiver(vec![500, 503, 200]).await;
    let past = now_ms() / 1000 - 10;
    commit_on_writer(&db.main, |c| {
        add_endpoint(c, "we_r", &rx.url, false, "whsec_new", Some(("whsec_old", past)))
    })
    .await;
    let d = Dispatcher::spawn(db.main.clone(), scaled(0.001)).unwrap();
    commit_on_writer(&db.main, |c| {
        add_event(c, "evt_r", false, now_ms());
    })
    .await;
    let got = rx.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3, "three attempts");
    let row = wait_status(&db, "evt_r", "succeeded", Duration::from_secs(2)).await;
    assert_eq!(
        (row.status.as_str(), row.attempts, row.last_status_code),
        ("succeeded", 3, Some(200)),
        "{row:?}"
    );
    let ids: Vec<_> = got.iter().map(|r| r.headers["x-vinr-delivery-id"].clone()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    let sig = got[2].headers["x-vinr-signature"].to_str().unwrap();
    assert_eq!(
        sig.matches("v1=").count(),
        1,
        "an expired previous secret no longer signs: {sig}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.got.lock().unwrap().len(), 3, "nothing after the 2xx");
    d.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_the_window_and_flags_the_endpoint_then_a_success_clears_it() {
    let (dir, db) = temp_db("giveup");
    // Nothing listens on this port: connection refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    commit_on_writer(&db.main, |c| add_endpoint(c, "we_dead", &dead, false, "whsec_x", None)).await;
    let d = Dispatcher::spawn(db.main.clone(), scaled(1.0)).unwrap();
    // Committed 73 h ago: the first failure is also the last.
    let old = now_ms() - 73 * 3600 * 1000;
    commit_on_writer(&db.main, |c| {
        add_event(c, "evt_old", false, old);
    })
    .await;
    let row = wait_status(&db, "evt_old", "failed", Duration::from_secs(5)).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.attempts,
            row.next_attempt_at,
            row.last_status_code
        ),
        ("failed", 1, None, None),
        "{row:?}"
    );
    assert!(row.last_error.as_deref().is_some_and(|e| !e.is_empty()), "{row:?}");
    let conn = crate::db::open_connection(&db.main_path).unwrap();
    let failing: Option<i64> = conn
        .query_row(
            "SELECT failing_since FROM webhook_endpoints WHERE id = 'we_dead'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(failing.is_some());

    // A fresh event to a working URL clears the flag.
    let rx = receiver(vec![204]).await;
    commit_on_writer(&db.main, |c| {
        c.execute("UPDATE webhook_endpoints SET url = ?1 WHERE id = 'we_dead'", [&rx.url])
            .unwrap();
        add_event(c, "evt_new", false, now_ms());
    })
    .await;
    let row = wait_status(&db, "evt_new", "succeeded", Duration::from_secs(5)).await;
    assert_eq!(row.status, "succeeded");
    let failing: Option<i64> = conn
        .query_row(
            "SELECT failing_since FROM webhook_endpoints WHERE id = 'we_dead'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failing, None);
    d.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_endpoints_never_reach_loopback() {
    let (dir, db) = temp_db("live");
    let rx = receiver(vec![200]).await;
    let localhost = rx.url.replace("127.0.0.1", "localhost");
    commit_on_writer(&db.main, |c| {
        add_endpoint(c, "we_live_ip", &rx.url, true, "whsec_l", None);
    })
    .await;
    let d = Dispatcher::spawn(db.main.clone(), scaled(1.0)).unwrap();
    commit_on_writer(&db.main, |c| {
        add_event(c, "evt_live", true, now_ms());
    })
    .await;
    let row = wait_status(&db, "evt_live", "pending", Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut row = row;
    while row.attempts == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        row = delivery(&db, "evt_live");
    }
    assert_eq!(
        (row.attempts, row.last_error.as_deref(), row.last_status_code),
        (1, Some("address not allowed"), None),
        "{row:?}"
    );
    assert!(row.next_attempt_at.is_some(), "retried later like any failure: {row:?}");
    // By name too.
    commit_on_writer(&db.main, |c| {
        c.execute("UPDATE webhook_endpoints SET url = ?1", [&localhost])
            .unwrap();
        c.execute("UPDATE webhook_deliveries SET next_attempt_at = 0", [])
            .unwrap();
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while row.attempts < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        row = delivery(&db, "evt_live");
    }
    assert_eq!(
        (row.attempts, row.last_error.as_deref()),
        (2, Some("address not allowed")),
        "{row:?}"
    );
    assert!(
        rx.got.lock().unwrap().is_empty(),
        "the receiver never heard from a live endpoint"
    );
    d.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_deliveries_each_exactly_once_and_leases_guard_double_sends() {
    let (dir, db) = temp_db("many");
    let rx = receiver(vec![200]).await;
    commit_on_writer(&db.main, |c| {
        add_endpoint(c, "we_1", &rx.url, false, "whsec_1", None);
        add_endpoint(c, "we_2", &rx.url, false, "whsec_2", None);
    })
    .await;
    const N: usize = 500;
    commit_on_writer(&db.main, |c| {
        let now = now_ms();
        for i in 0..N {
            add_event(c, &format!("evt_{i}"), false, now);
        }
    })
    .await;
    let t0 = Instant::now();
    // Two dispatchers on the same database: leases keep them from sending a delivery twice.
    let d1 = Dispatcher::spawn(db.main.clone(), scaled(1.0)).unwrap();
    let d2 = Dispatcher::spawn(db.main.clone(), scaled(1.0)).unwrap();
    let got = rx.wait_for(2 * N, Duration::from_secs(20)).await;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "{} deliveries in {:.3} s = {:.0}/s",
        got.len(),
        secs,
        got.len() as f64 / secs
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = rx.got.lock().unwrap().clone();
    let mut ids: Vec<_> = got
        .iter()
        .map(|r| r.headers["x-vinr-delivery-id"].to_str().unwrap().to_string())
        .collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!((total, ids.len()), (2 * N, 2 * N), "every delivery exactly once");
    let conn = crate::db::open_connection(&db.main_path).unwrap();
    let done: i64 = conn
        .query_row(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded' AND attempts = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(done as usize, 2 * N);
    d1.shutdown().await;
    d2.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_back_attempts_in_flight() {
    let (dir, db) = temp_db("stop");
    // Accepts connections but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut keep = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            keep.push(s);
        }
    });
    commit_on_writer(&db.main, |c| add_endpoint(c, "we_slow", &url, false, "whsec_s", None)).await;
    let d = Dispatcher::spawn(db.main.clone(), scaled(1.0)).unwrap();
    commit_on_writer(&db.main, |c| {
        add_event(c, "evt_slow", false, now_ms());
    })
    .await;
    // Wait for the lease.
    let deadline = Instant::now() + Duration::from_secs(5);
    while delivery(&db, "evt_slow")
        .next_attempt_at
        .is_some_and(|t| t < now_ms() + 10_000)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let leased = delivery(&db, "evt_slow");
    assert!(
        leased.next_attempt_at.unwrap() > now_ms() + 30_000,
        "leased for the attempt timeout: {leased:?}"
    );
    let t = Instant::now();
    d.shutdown().await;
    assert!(t.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(2));
    let row = delivery(&db, "evt_slow");
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 0), "{row:?}");
    assert!(row.next_attempt_at.unwrap() <= now_ms(), "due again at once: {row:?}");
    hold.abort();
    let _ = std::fs::remove_dir_all(dir);
}

/// Calls the shared API pipeline natively on `conn`, as a component would over `spin:sqlite`.
fn api(conn: &Connection, key: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use vinr_shared::api::{Group, handle};
    let req = vinr_shared::http::Request {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: vec![("authorization".into(), format!("Bearer {key}"))],
        body: body.as_bytes().to_vec(),
    };
    let resp = futures::executor::block_on(handle(Group::for_path(path).unwrap(), &req, &SqliteDb(conn), &HostEnv));
    (resp.status, serde_json::from_slice(&resp.body).unwrap())
}

/// A refund of the refund-failure test card answers `pending`; the dispatcher's next round runs
/// its due `refund_fail` step (the refund fails, the money comes back) and sends the
/// `refund.failed` event that step recorded, in the same round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_due_steps_and_delivers_their_events_at_once() {
    let (dir, db) = temp_db("steps");
    let rx = receiver(vec![200]).await;
    let conn = crate::db::open_connection(&db.main_path).unwrap();
    let sk = crate::bootstrap::create_account(&conn, "T", None, None)
        .unwrap()
        .secret_key;
    let (s, ep) = api(
        &conn,
        &sk,
        "POST",
        "/v1/webhooks",
        &format!("url={}&enabled_events[]=refund.failed", rx.url),
    );
    assert_eq!(s, 200, "{ep}");
    let d = Dispatcher::spawn(db.main.clone(), scaled(1.0)).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let (s, pay) = api(
        &conn,
        &sk,
        "POST",
        "/v1/payments",
        "amount=5000&currency=EUR&payment_method=pm_card_refund_fail",
    );
    assert_eq!((s, pay["status"].as_str()), (200, Some("succeeded")), "{pay}");
    let pay_id = pay["id"].as_str().unwrap().to_string();
    let (s, re) = api(
        &conn,
        &sk,
        "POST",
        "/v1/refunds",
        &format!("payment={pay_id}&amount=1200"),
    );
    assert_eq!((s, re["status"].as_str()), (200, Some("pending")), "{re}");
    let re_id = re["id"].as_str().unwrap().to_string();
    // As sqlite_host does after a component's commit.
    let committed = now_ms();
    db.main.committed.notify_one();

    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "refund.failed delivered");
    eprintln!(
        "refund commit -> refund.failed received: {} ms",
        got[0].at_ms - committed
    );
    let evt: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(evt["type"], "refund.failed");
    assert_eq!(
        evt["data"]["object"]["id"].as_str().or(evt["data"]["id"].as_str()),
        Some(re_id.as_str()),
        "{evt}"
    );
    let (_, re) = api(&conn, &sk, "GET", &format!("/v1/refunds/{re_id}"), "");
    assert_eq!(
        (re["status"].as_str(), re["failure_reason"].as_str()),
        (Some("failed"), Some("expired_or_canceled_card")),
        "{re}"
    );
    let (_, pay) = api(&conn, &sk, "GET", &format!("/v1/payments/{pay_id}"), "");
    assert_eq!(pay["amount_refunded"], 0);
    let left: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM scheduled_jobs WHERE kind = 'refund_fail'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the step ran once and its row is gone");
    // Nothing more is due; a round with nothing to do runs nothing.
    assert_eq!(run_steps(&db.main).await.unwrap(), Report::default());
    d.shutdown().await;
    drop(conn);
    db.close();
    let _ = std::fs::remove_dir_all(dir);
}
