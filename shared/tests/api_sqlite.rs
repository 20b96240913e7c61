//! Drives the shared API pipeline natively over rusqlite with the real schema: the same SQL the
//! components send, without a wasm host. The black-box suite in tests/ covers the served product.

use std::cell::{Cell, RefCell};
use vinr_shared::api::{self, Group, handle};
use vinr_shared::http::{Request, Response};
use vinr_shared::keys::{KeyKind, hash_key, new_key};
use vinr_shared::auth;
use vinr_shared::port::{Cache, Db, DbError, Env, Row, SqlValue, Stmt};
use vinr_shared::webhooks::runner::{self, Report, Scope, Transport};
use vinr_shared::webhooks::signature;

struct SqliteDb(rusqlite::Connection);

fn to_sql(v: &SqlValue) -> rusqlite::types::Value {
    match v {
        SqlValue::Null => rusqlite::types::Value::Null,
        SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
        SqlValue::Real(f) => rusqlite::types::Value::Real(*f),
        SqlValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
        SqlValue::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
    }
}

impl SqliteDb {
    fn run(&self, s: &Stmt) -> Result<Vec<Row>, DbError> {
        let err = |e: rusqlite::Error| DbError::from_message(e.to_string());
        let mut st = self.0.prepare_cached(&s.sql).map_err(err)?;
        let n = st.column_count();
        let params: Vec<_> = s.params.iter().map(to_sql).collect();
        let mut rows = st.query(rusqlite::params_from_iter(params)).map_err(err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            out.push(
                (0..n)
                    .map(|i| match r.get::<_, rusqlite::types::Value>(i).unwrap() {
                        rusqlite::types::Value::Null => SqlValue::Null,
                        rusqlite::types::Value::Integer(i) => SqlValue::Int(i),
                        rusqlite::types::Value::Real(f) => SqlValue::Real(f),
                        rusqlite::types::Value::Text(s) => SqlValue::Text(s),
                        rusqlite::types::Value::Blob(b) => SqlValue::Blob(b),
                    })
                    .collect(),
            );
        }
        Ok(out)
    }
}

impl Db for SqliteDb {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, DbError> {
        self.run(&stmt)
    }
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<(), DbError> {
        self.batch_counted(stmts).await.map(|_| ())
    }
    // Counts like D1 does, so the pipeline's use of the counts is exercised here.
    async fn batch_counted(&self, stmts: Vec<Stmt>) -> Result<Option<Vec<u64>>, DbError> {
        self.0.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut counts = Vec::new();
        for s in &stmts {
            if let Err(e) = self.run(s) {
                self.0.execute_batch("ROLLBACK").unwrap();
                return Err(e);
            }
            counts.push(self.0.changes());
        }
        self.0.execute_batch("COMMIT").map_err(|e| DbError::Other(e.to_string()))?;
        Ok(Some(counts))
    }
}

struct TestEnv {
    now: Cell<i64>,
    counter: RefCell<u64>,
}

impl Env for TestEnv {
    fn now(&self) -> i64 {
        self.now.get()
    }
    fn fill_random(&self, buf: &mut [u8]) {
        let mut c = self.counter.borrow_mut();
        for b in buf.iter_mut() {
            *c = c.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (*c >> 33) as u8;
        }
    }
}

struct World {
    db: SqliteDb,
    env: TestEnv,
    sk: String,
    pk: String,
    live: String,
    other: String,
}

fn account(db: &SqliteDb, env: &TestEnv, id: &str) -> (String, String, String) {
    db.0.execute("INSERT INTO accounts (id, name, fingerprint_key, created) VALUES (?1, 'T', ?1, 0)", [id]).unwrap();
    let mut fill = |b: &mut [u8]| env.fill_random(b);
    let keys = [(KeyKind::Secret, false), (KeyKind::Public, false), (KeyKind::Secret, true)].map(|(k, live)| new_key(k, live, &mut fill));
    for (key, (kind, live)) in keys.iter().zip([("secret", 0), ("public", 0), ("secret", 1)]) {
        db.0.execute(
            "INSERT INTO api_keys (key_hash, account_id, livemode, kind, redacted, created) VALUES (?, ?, ?, ?, 'x', 0)",
            rusqlite::params![hash_key(key), id, live, kind],
        )
        .unwrap();
    }
    let [sk, pk, live] = keys;
    (sk, pk, live)
}

fn world() -> World {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let mut files: Vec<_> = std::fs::read_dir("../schema/migrations").unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "sql")) {
        conn.execute_batch(&std::fs::read_to_string(f).unwrap()).unwrap();
    }
    let db = SqliteDb(conn);
    let env = TestEnv { now: Cell::new(1_795_000_000), counter: RefCell::new(7) };
    let (sk, pk, live) = account(&db, &env, "acct_A");
    let (other, _, _) = account(&db, &env, "acct_B");
    World { db, env, sk, pk, live, other }
}

fn group_of(path: &str) -> Group {
    Group::for_path(path).unwrap_or(Group::Payments)
}

impl World {
    fn call(&self, method: &str, path_q: &str, key: &str, body: &str, extra: &[(&str, &str)]) -> (u16, serde_json::Value, Response) {
        let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
        let mut headers = vec![("authorization".to_string(), format!("Bearer {key}"))];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let req = Request { method: method.into(), path: path.into(), query: query.into(), headers, body: body.as_bytes().to_vec() };
        let resp = pollster::block_on(handle(group_of(path), &req, &self.db, &self.env));
        assert!(resp.header("request-id").is_some_and(|r| r.starts_with("req_")));
        let v = serde_json::from_slice(&resp.body).unwrap();
        (resp.status, v, resp)
    }
    fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (s, v, _) = self.call("POST", path, &self.sk, body, &[]);
        (s, v)
    }
    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (s, v, _) = self.call("GET", path, &self.sk, "", &[]);
        (s, v)
    }
    fn count(&self, sql: &str) -> i64 {
        self.db.0.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

#[test]
fn create_capture_flow_and_events() {
    let w = world();
    let (s, p) = w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_visa&capture_method=manual&metadata[order]=42");
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["status"], "requires_capture");
    assert_eq!(p["metadata"]["order"], "42");
    let id = p["id"].as_str().unwrap();
    let (s, e) = w.post(&format!("/v1/payments/{id}/capture"), "amount_to_capture=6000");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("amount_too_large")), "{e}");
    let (s, c) = w.post(&format!("/v1/payments/{id}/capture"), "amount_to_capture=3000&expand[]=latest_charge");
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["amount_received"], 3000);
    assert_eq!(c["latest_charge"]["amount_captured"], 3000);
    let (s, e) = w.post(&format!("/v1/payments/{id}/cancel"), "");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("payment_invalid_state")));
    let types: Vec<String> = {
        let mut st = w.db.0.prepare("SELECT type FROM events ORDER BY seq").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(types, ["payment.authorized", "payment.captured", "payment.succeeded"]);
}

#[test]
fn declines_3ds_and_auth() {
    let w = world();
    let (_, p) = w.post("/v1/payments", r#"{"amount":5000,"currency":"eur","payment_method":"pm_card_insufficient_funds"}"#);
    assert_eq!(p["status"], "failed");
    assert_eq!(p["last_payment_error"]["decline_code"], "insufficient_funds");
    let (_, p) = w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_threeds");
    assert_eq!(p["status"], "requires_action");
    let id = p["id"].as_str().unwrap();
    let (s, c) = w.post(&format!("/v1/payments/{id}/confirm"), "details[result]=authenticated");
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "succeeded");
    let (s, _, _) = w.call("GET", &format!("/v1/payments/{id}"), &w.pk, "", &[]);
    assert_eq!(s, 403);
    let (s, _, _) = w.call("GET", &format!("/v1/payments/{id}"), &w.other, "", &[]);
    assert_eq!(s, 404);
    let (s, _, _) = w.call("GET", &format!("/v1/payments/{id}"), "sk_test_nope", "", &[]);
    assert_eq!(s, 401);
    let (s, e, _) = w.call("POST", "/v1/payments", &w.live, "amount=5000&currency=EUR&payment_method=pm_card_visa", &[]);
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("test_card_in_live_mode")));
}

#[test]
fn idempotency_replays_and_conflicts() {
    let w = world();
    let body = "amount=5000&currency=EUR&payment_method=pm_card_visa";
    let (s1, a, _) = w.call("POST", "/v1/payments", &w.sk, body, &[("idempotency-key", "k1")]);
    let (s2, b, r) = w.call("POST", "/v1/payments", &w.sk, body, &[("idempotency-key", "k1")]);
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    let (s3, e, _) = w.call("POST", "/v1/payments", &w.sk, "amount=5001&currency=EUR&payment_method=pm_card_visa", &[("idempotency-key", "k1")]);
    assert_eq!((s3, e["error"]["code"].as_str()), (409, Some("idempotency_key_reused")));
    assert_eq!(w.count("SELECT COUNT(*) FROM payments"), 1);
}

#[test]
fn customers_and_payment_methods() {
    let w = world();
    let (s, c) = w.post("/v1/customers", "email=a@b.co&payment_method=pm_card_mastercard");
    assert_eq!(s, 200, "{c}");
    let cid = c["id"].as_str().unwrap();
    let pm = c["default_payment_method"].as_str().unwrap().to_string();
    assert!(pm.starts_with("pm_") && pm != "pm_card_mastercard");
    let (s, p) = w.post("/v1/payments", &format!("amount=700&currency=USD&customer={cid}&expand[]=customer"));
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["payment_method"], pm.as_str());
    assert_eq!(p["customer"]["email"], "a@b.co");
    let (s, m) = w.post("/v1/payment_methods", "card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123");
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["card"]["last4"], "4242");
    assert!(!m.to_string().contains("4242424242424242"));
    let (s, e) = w.post("/v1/payment_methods", "card[number]=4242424242424241&card[exp_month]=12&card[exp_year]=2030");
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("card[number]")));
    let (s, l) = w.get(&format!("/v1/payments?customer={cid}"));
    assert_eq!((s, l["data"].as_array().unwrap().len()), (200, 1));
    let (s, d, _) = w.call("DELETE", &format!("/v1/customers/{cid}"), &w.sk, "", &[]);
    assert_eq!((s, d["deleted"].as_bool()), (200, Some(true)));
    assert_eq!(w.get(&format!("/v1/customers/{cid}")).0, 404);
}

#[test]
fn lists_paginate_newest_first() {
    let w = world();
    let ids: Vec<String> = (0..5)
        .map(|i| w.post("/v1/payments", &format!("amount={}&currency=EUR&payment_method=pm_card_visa", 100 + i)).1["id"].as_str().unwrap().to_string())
        .collect();
    let (_, page1) = w.get("/v1/payments?limit=2");
    let got: Vec<&str> = page1["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    assert_eq!(page1["has_more"], true);
    let (_, page2) = w.get(&format!("/v1/payments?limit=2&starting_after={}", ids[3]));
    assert_eq!(page2["data"][0]["id"], ids[2].as_str());
    let (_, back) = w.get(&format!("/v1/payments?limit=2&ending_before={}", ids[2]));
    let got: Vec<&str> = back["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    assert_eq!(w.get("/v1/payments?limit=0").0, 400);
}

#[test]
fn webhook_endpoints_fan_out_events_in_the_same_commit() {
    let w = world();
    let (s, ep) = w.post("/v1/webhooks", "url=http://127.0.0.1:9/hook&enabled_events[]=payment.failed");
    assert_eq!(s, 200, "{ep}");
    assert!(ep["secret"].as_str().unwrap().starts_with("whsec_"));
    let (s, all) = w.post("/v1/webhooks", "url=http://127.0.0.1:9/all&enabled_events[]=*");
    assert_eq!(s, 200, "{all}");
    let (s, e) = w.post("/v1/webhooks", "url=http://127.0.0.1:9/x&enabled_events[]=payment.nope");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("event_type_unknown")));
    let (s, e, _) = w.call("POST", "/v1/webhooks", &w.live, "url=http://example.com/x&enabled_events[]=*", &[]);
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("url_insecure")));
    w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_visa");
    w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_declined");
    let per = |id: &str| w.count(&format!("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = '{id}'"));
    assert_eq!(per(ep["id"].as_str().unwrap()), 1);
    assert_eq!(per(all["id"].as_str().unwrap()), 2);
    let (s, alias) = w.post("/v1/webhooks", "url=http://127.0.0.1:9/c&enabled_events[]=payment.completed");
    assert_eq!((s, alias["enabled_events"][0].as_str()), (200, Some("payment.succeeded")), "{alias}");
    assert_eq!(w.get("/v1/events?type=payment.completed").1["data"].as_array().unwrap().len(), 1);
    let (_, evs) = w.get("/v1/events?type=payment.failed");
    assert_eq!(evs["data"].as_array().unwrap().len(), 1);
    let evt = evs["data"][0]["id"].as_str().unwrap();
    assert_eq!(w.get(&format!("/v1/events/{evt}")).1["data"]["status"], "failed");
    let (s, d) = w.get(&format!("/v1/webhooks/{}/deliveries", ep["id"].as_str().unwrap()));
    assert_eq!((s, d["data"][0]["event"].as_str()), (200, Some(evt)));
    let (s, _, _) = w.call("GET", &format!("/v1/events/{evt}"), &w.other, "", &[]);
    assert_eq!(s, 404);
    // Disabling closes what is pending; nothing new is fanned out to it.
    let (s, _) = w.post(&format!("/v1/webhooks/{}", all["id"].as_str().unwrap()), "disabled=true");
    assert_eq!(s, 200);
    w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_visa");
    assert_eq!(per(all["id"].as_str().unwrap()), 2);
    // Pending: the failed payment's event for `ep`, and the last payment's for the alias endpoint.
    assert_eq!(w.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'"), 2);
}

/// The Worker's delivery path (webhooks::runner) over real SQL, with a scripted HTTP client.
struct FakeTransport<'a> {
    db: &'a SqliteDb,
    now: &'a Cell<i64>,
    statuses: RefCell<Vec<Result<u16, String>>>,
    sent: RefCell<Vec<(String, Vec<(&'static str, String)>, String)>>,
}

impl Transport for FakeTransport<'_> {
    async fn post(&self, url: &str, headers: Vec<(&'static str, String)>, body: String, _timeout_ms: u64) -> Result<u16, String> {
        // While an attempt is in flight its delivery is leased: no other consumer sees it as due.
        let now_ms = self.now.get() * 1000;
        let due = self.db.0.query_row("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?", [now_ms], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(due, 0, "a leased delivery is not due for anyone else");
        self.sent.borrow_mut().push((url.to_string(), headers, body));
        self.statuses.borrow_mut().remove(0)
    }
}

#[test]
fn runner_sends_signed_leases_and_reschedules() {
    let w = world();
    let (_, ep) = w.post("/v1/webhooks", "url=http://127.0.0.1:9/hook&enabled_events[]=payment.succeeded");
    let secret = ep["secret"].as_str().unwrap().to_string();
    w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_visa");
    let (_, evs) = w.get("/v1/events?type=payment.succeeded");
    let evt = evs["data"][0]["id"].as_str().unwrap().to_string();
    let t = FakeTransport { db: &w.db, now: &w.env.now, statuses: RefCell::new(vec![Ok(500), Err("connection refused".into()), Ok(204)]), sent: RefCell::new(vec![]) };
    let run = |scope| pollster::block_on(runner::run(&w.db, &w.env, &t, scope, 10, 1.0)).unwrap();

    let r = run(Scope::Event(&evt));
    assert_eq!((r.attempted, r.succeeded), (1, 0));
    let next = r.next_due.expect("a failed attempt is retried");
    assert_eq!(w.count("SELECT attempts FROM webhook_deliveries"), 1);
    {
        let sent = t.sent.borrow();
        let (url, headers, body) = &sent[0];
        assert_eq!(url, "http://127.0.0.1:9/hook");
        let sig = &headers.iter().find(|(k, _)| *k == signature::HEADER).unwrap().1;
        assert_eq!(signature::verify(&secret, sig, body.as_bytes(), w.env.now.get(), 300), Ok(()));
        assert_eq!(serde_json::from_str::<serde_json::Value>(body).unwrap()["id"], evt.as_str());
    }
    // Not due yet: nothing is sent.
    assert_eq!(run(Scope::Event(&evt)).attempted, 0);
    w.env.now.set(next.div_euclid(1000) + 1);
    let r = run(Scope::AllDue);
    assert_eq!((r.attempted, r.succeeded), (1, 0));
    w.env.now.set(r.next_due.unwrap().div_euclid(1000) + 1);
    let r = run(Scope::Event(&evt));
    assert_eq!((r.attempted, r.succeeded, r.next_due), (1, 1, None));
    assert_eq!(w.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'succeeded' AND attempts = 3 AND last_status_code = 204"), 1);
    assert_eq!(run(Scope::AllDue), Report::default());
}

#[derive(Default)]
struct MemCache(RefCell<std::collections::HashMap<String, String>>);

impl Cache for MemCache {
    async fn get(&self, key: &str) -> Option<String> {
        self.0.borrow().get(key).cloned()
    }
    async fn put(&self, key: &str, value: String) {
        self.0.borrow_mut().insert(key.to_string(), value);
    }
}

#[test]
fn cached_key_lookups_expire_so_revocation_takes_effect() {
    let w = world();
    let cache = MemCache::default();
    let req = |key: &str| Request { method: "GET".into(), path: "/v1/payments".into(), query: String::new(), headers: vec![("authorization".into(), format!("Bearer {key}"))], body: vec![] };
    let auth = |key: &str, now: i64| pollster::block_on(auth::authenticate(&w.db, &cache, now, &req(key)));
    let t0 = w.env.now.get();
    assert_eq!(auth(&w.sk, t0).unwrap().id, "acct_A");
    assert_eq!(cache.0.borrow().len(), 1, "a secret key's lookup is cached");
    assert!(!cache.0.borrow().keys().next().unwrap().contains(&w.sk), "the cache key is the key's hash");
    assert_eq!(auth(&w.pk, t0).unwrap_err().status, 403);
    assert_eq!(auth("sk_test_unknownunknownunknown", t0).unwrap_err().code, "api_key_invalid");
    assert_eq!(cache.0.borrow().len(), 1, "failures and public keys are not cached");
    w.db.0.execute("UPDATE api_keys SET revoked_at = 1 WHERE account_id = 'acct_A'", []).unwrap();
    // Within the bound the cached answer stands; after it, the revocation is seen.
    assert!(auth(&w.sk, t0 + auth::KEY_CACHE_SECS).is_ok());
    assert_eq!(auth(&w.sk, t0 + auth::KEY_CACHE_SECS + 1).unwrap_err().code, "api_key_revoked");
}

#[test]
fn served_events_are_those_with_deliveries_to_make() {
    let w = world();
    let create = || {
        let body = "amount=5000&currency=EUR&payment_method=pm_card_visa";
        let headers = vec![("authorization".into(), format!("Bearer {}", w.sk)), ("content-type".into(), "application/x-www-form-urlencoded".into())];
        let req = Request { method: "POST".into(), path: "/v1/payments".into(), query: String::new(), headers, body: body.into() };
        pollster::block_on(api::handle_cached(Group::Payments, &req, &w.db, &w.env, &vinr_shared::port::NoCache))
    };
    let s = create();
    assert_eq!((s.response.status, s.events.len()), (200, 0), "no endpoint: nothing to queue");
    w.post("/v1/webhooks", "url=http://127.0.0.1:9/f&enabled_events[]=payment.failed");
    assert!(create().events.is_empty(), "no endpoint subscribes to payment.succeeded");
    w.post("/v1/webhooks", "url=http://127.0.0.1:9/s&enabled_events[]=payment.succeeded");
    let s = create();
    let evt = w.get("/v1/events?type=payment.succeeded&limit=1").1["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.events, [evt]);
}
