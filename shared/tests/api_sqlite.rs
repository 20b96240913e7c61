//! Drives the shared API pipeline natively over rusqlite with the real schema: the same SQL the
//! components send, without a wasm host. The black-box suite in tests/ covers the served product.

mod common;

use common::{SqliteDb, World, world};
use std::cell::{Cell, RefCell};
use vinr_shared::api::{self, Group};
use vinr_shared::auth;
use vinr_shared::http::Request;
use vinr_shared::jobs;
use vinr_shared::port::Cache;
use vinr_shared::webhooks::runner::{self, Report, Scope, Transport};
use vinr_shared::webhooks::signature;

#[test]
fn create_capture_flow_and_events() {
    let w = world();
    let (s, p) = w.post(
        "/v1/payments",
        "amount=5000&currency=EUR&payment_method=pm_card_visa&capture_method=manual&metadata[order]=42",
    );
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["status"], "requires_capture");
    assert_eq!(p["metadata"]["order"], "42");
    let id = p["id"].as_str().unwrap();
    let (s, e) = w.post(&format!("/v1/payments/{id}/capture"), "amount_to_capture=6000");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("amount_too_large")), "{e}");
    let (s, c) = w.post(
        &format!("/v1/payments/{id}/capture"),
        "amount_to_capture=3000&expand[]=latest_charge",
    );
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
    let (_, p) = w.post(
        "/v1/payments",
        r#"{"amount":5000,"currency":"eur","payment_method":"pm_card_insufficient_funds"}"#,
    );
    assert_eq!(p["status"], "failed");
    assert_eq!(p["last_payment_error"]["decline_code"], "insufficient_funds");
    let (_, p) = w.post(
        "/v1/payments",
        "amount=5000&currency=EUR&payment_method=pm_card_threeds",
    );
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
    let (s, e, _) = w.call(
        "POST",
        "/v1/payments",
        &w.live,
        "amount=5000&currency=EUR&payment_method=pm_card_visa",
        &[],
    );
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
    let (s3, e, _) = w.call(
        "POST",
        "/v1/payments",
        &w.sk,
        "amount=5001&currency=EUR&payment_method=pm_card_visa",
        &[("idempotency-key", "k1")],
    );
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
    let (s, p) = w.post(
        "/v1/payments",
        &format!("amount=700&currency=USD&customer={cid}&expand[]=customer"),
    );
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["payment_method"], pm.as_str());
    assert_eq!(p["customer"]["email"], "a@b.co");
    let (s, m) = w.post(
        "/v1/payment_methods",
        "card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123",
    );
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["card"]["last4"], "4242");
    assert!(!m.to_string().contains("4242424242424242"));
    let (s, e) = w.post(
        "/v1/payment_methods",
        "card[number]=4242424242424241&card[exp_month]=12&card[exp_year]=2030",
    );
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
        .map(|i| {
            w.post(
                "/v1/payments",
                &format!("amount={}&currency=EUR&payment_method=pm_card_visa", 100 + i),
            )
            .1["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let (_, page1) = w.get("/v1/payments?limit=2");
    let got: Vec<&str> = page1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    assert_eq!(page1["has_more"], true);
    let (_, page2) = w.get(&format!("/v1/payments?limit=2&starting_after={}", ids[3]));
    assert_eq!(page2["data"][0]["id"], ids[2].as_str());
    let (_, back) = w.get(&format!("/v1/payments?limit=2&ending_before={}", ids[2]));
    let got: Vec<&str> = back["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    assert_eq!(w.get("/v1/payments?limit=0").0, 400);
}

#[test]
fn webhook_endpoints_fan_out_events_in_the_same_commit() {
    let w = world();
    let (s, ep) = w.post(
        "/v1/webhooks",
        "url=http://127.0.0.1:9/hook&enabled_events[]=payment.failed",
    );
    assert_eq!(s, 200, "{ep}");
    assert!(ep["secret"].as_str().unwrap().starts_with("whsec_"));
    let (s, all) = w.post("/v1/webhooks", "url=http://127.0.0.1:9/all&enabled_events[]=*");
    assert_eq!(s, 200, "{all}");
    let (s, e) = w.post("/v1/webhooks", "url=http://127.0.0.1:9/x&enabled_events[]=payment.nope");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("event_type_unknown")));
    let (s, e, _) = w.call(
        "POST",
        "/v1/webhooks",
        &w.live,
        "url=http://example.com/x&enabled_events[]=*",
        &[],
    );
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("url_insecure")));
    w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_visa");
    w.post(
        "/v1/payments",
        "amount=5000&currency=EUR&payment_method=pm_card_declined",
    );
    let per = |id: &str| {
        w.count(&format!(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = '{id}'"
        ))
    };
    assert_eq!(per(ep["id"].as_str().unwrap()), 1);
    assert_eq!(per(all["id"].as_str().unwrap()), 2);
    let (s, alias) = w.post(
        "/v1/webhooks",
        "url=http://127.0.0.1:9/c&enabled_events[]=payment.completed",
    );
    assert_eq!(
        (s, alias["enabled_events"][0].as_str()),
        (200, Some("payment.succeeded")),
        "{alias}"
    );
    assert_eq!(
        w.get("/v1/events?type=payment.completed").1["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, evs) = w.get("/v1/events?type=payment.failed");
    assert_eq!(evs["data"].as_array().unwrap().len(), 1);
    let evt = evs["data"][0]["id"].as_str().unwrap();
    assert_eq!(w.get(&format!("/v1/events/{evt}")).1["data"]["status"], "failed");
    let (s, d) = w.get(&format!("/v1/webhooks/{}/deliveries", ep["id"].as_str().unwrap()));
    assert_eq!((s, d["data"][0]["event"].as_str()), (200, Some(evt)));
    let (s, _, _) = w.call("GET", &format!("/v1/events/{evt}"), &w.other, "", &[]);
    assert_eq!(s, 404);
    // Disabling closes what is pending; nothing new is fanned out to it.
    let (s, _) = w.post(
        &format!("/v1/webhooks/{}", all["id"].as_str().unwrap()),
        "disabled=true",
    );
    assert_eq!(s, 200);
    w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_visa");
    assert_eq!(per(all["id"].as_str().unwrap()), 2);
    // Pending: the failed payment's event for `ep`, and the last payment's for the alias endpoint.
    assert_eq!(
        w.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'"),
        2
    );
}

/// The Worker's delivery path (webhooks::runner) over real SQL, with a scripted HTTP client.
/// One delivery as sent: (url, headers, body).
type Sent = (String, Vec<(&'static str, String)>, String);

struct FakeTransport<'a> {
    db: &'a SqliteDb,
    now: &'a Cell<i64>,
    statuses: RefCell<Vec<Result<u16, String>>>,
    sent: RefCell<Vec<Sent>>,
}

impl Transport for FakeTransport<'_> {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
        _timeout_ms: u64,
    ) -> Result<u16, String> {
        // While an attempt is in flight its delivery is leased: no other consumer sees it as due.
        let now_ms = self.now.get() * 1000;
        let due = self
            .db
            .0
            .query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?",
                [now_ms],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
        assert_eq!(due, 0, "a leased delivery is not due for anyone else");
        self.sent.borrow_mut().push((url.to_string(), headers, body));
        self.statuses.borrow_mut().remove(0)
    }
}

#[test]
fn runner_sends_signed_leases_and_reschedules() {
    let w = world();
    let (_, ep) = w.post(
        "/v1/webhooks",
        "url=http://127.0.0.1:9/hook&enabled_events[]=payment.succeeded",
    );
    let secret = ep["secret"].as_str().unwrap().to_string();
    w.post("/v1/payments", "amount=5000&currency=EUR&payment_method=pm_card_visa");
    let (_, evs) = w.get("/v1/events?type=payment.succeeded");
    let evt = evs["data"][0]["id"].as_str().unwrap().to_string();
    let t = FakeTransport {
        db: &w.db,
        now: &w.env.now,
        statuses: RefCell::new(vec![Ok(500), Err("connection refused".into()), Ok(204)]),
        sent: RefCell::new(vec![]),
    };
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
        assert_eq!(
            signature::verify(&secret, sig, body.as_bytes(), w.env.now.get(), 300),
            Ok(())
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap()["id"],
            evt.as_str()
        );
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
    let req = |key: &str| Request {
        method: "GET".into(),
        path: "/v1/payments".into(),
        query: String::new(),
        headers: vec![("authorization".into(), format!("Bearer {key}"))],
        body: vec![],
    };
    let auth = |key: &str, now: i64| pollster::block_on(auth::authenticate(&w.db, &cache, now, &req(key)));
    let t0 = w.env.now.get();
    // Sandbox keys are always looked up (the lookup reads the sandbox clock, which moves).
    assert_eq!(auth(&w.sk, t0).unwrap().id, "acct_A");
    assert_eq!(cache.0.borrow().len(), 0, "a sandbox key's lookup is not cached");
    assert_eq!(auth(&w.live, t0).unwrap().id, "acct_A");
    assert_eq!(cache.0.borrow().len(), 1, "a live secret key's lookup is cached");
    assert!(
        !cache.0.borrow().keys().next().unwrap().contains(&w.live),
        "the cache key is the key's hash"
    );
    assert_eq!(auth(&w.pk, t0).unwrap_err().status, 403);
    assert_eq!(
        auth("sk_live_unknownunknownunknown", t0).unwrap_err().code,
        "api_key_invalid"
    );
    assert_eq!(cache.0.borrow().len(), 1, "failures and public keys are not cached");
    w.db.0
        .execute("UPDATE api_keys SET revoked_at = 1 WHERE account_id = 'acct_A'", [])
        .unwrap();
    // Within the bound the cached answer stands; after it, the revocation is seen.
    assert!(auth(&w.live, t0 + auth::KEY_CACHE_SECS).is_ok());
    assert_eq!(
        auth(&w.live, t0 + auth::KEY_CACHE_SECS + 1).unwrap_err().code,
        "api_key_revoked"
    );
    assert_eq!(
        auth(&w.sk, t0).unwrap_err().code,
        "api_key_revoked",
        "a sandbox key's revocation is seen at once"
    );
}

#[test]
fn served_events_are_those_with_deliveries_to_make() {
    let w = world();
    let create = || {
        let body = "amount=5000&currency=EUR&payment_method=pm_card_visa";
        let headers = vec![
            ("authorization".into(), format!("Bearer {}", w.sk)),
            ("content-type".into(), "application/x-www-form-urlencoded".into()),
        ];
        let req = Request {
            method: "POST".into(),
            path: "/v1/payments".into(),
            query: String::new(),
            headers,
            body: body.into(),
        };
        pollster::block_on(api::handle_cached(
            Group::Payments,
            &req,
            &w.db,
            &w.env,
            &vinr_shared::port::NoCache,
        ))
    };
    let s = create();
    assert_eq!(
        (s.response.status, s.events.len()),
        (200, 0),
        "no endpoint: nothing to queue"
    );
    w.post(
        "/v1/webhooks",
        "url=http://127.0.0.1:9/f&enabled_events[]=payment.failed",
    );
    assert!(
        create().events.is_empty(),
        "no endpoint subscribes to payment.succeeded"
    );
    w.post(
        "/v1/webhooks",
        "url=http://127.0.0.1:9/s&enabled_events[]=payment.succeeded",
    );
    let s = create();
    let evt = w.get("/v1/events?type=payment.succeeded&limit=1").1["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.events, [evt]);
}

/// What `vinr dev`'s dispatcher and the Worker's cron do each round: `jobs::run_due` over every
/// account runs the steps that are due (here a refund failure and a dispute opening).
#[test]
fn scheduler_runs_due_steps() {
    let w: World = world();
    let (_, p) = w.post(
        "/v1/payments",
        "amount=5000&currency=EUR&payment_method=pm_card_refund_fail",
    );
    let pay = p["id"].as_str().unwrap().to_string();
    let (s, re) = w.post("/v1/refunds", &format!("payment={pay}&amount=2000"));
    assert_eq!((s, re["status"].as_str()), (200, Some("pending")), "{re}");
    let (_, d) = w.post(
        "/v1/payments",
        "amount=3000&currency=EUR&payment_method=pm_card_dispute",
    );
    let disputed = d["id"].as_str().unwrap().to_string();
    let db: &SqliteDb = &w.db;
    let r = pollster::block_on(jobs::run_due(db, &w.env, jobs::Scope::AllDue, 200)).unwrap();
    assert_eq!(
        (r.ran, r.failed),
        (2, 0),
        "the refund failure and the dispute opening were due"
    );
    let (_, re) = w.get(&format!("/v1/refunds/{}", re["id"].as_str().unwrap()));
    assert_eq!(re["status"], "failed", "{re}");
    assert_eq!(re["failure_reason"], "expired_or_canceled_card");
    assert_eq!(w.get(&format!("/v1/payments/{pay}")).1["amount_refunded"], 0);
    let (_, d) = w.get(&format!("/v1/payments/{disputed}"));
    assert!(d["dispute"].as_str().is_some_and(|x| x.starts_with("dp_")), "{d}");
    // Nothing else is due before the settlement batch: a second round runs nothing.
    let r = pollster::block_on(jobs::run_due(db, &w.env, jobs::Scope::AllDue, 200)).unwrap();
    assert_eq!(r, jobs::Report::default());
    assert_eq!(
        w.count("SELECT COUNT(*) FROM events WHERE type IN ('refund.failed', 'dispute.created')"),
        2
    );
}
