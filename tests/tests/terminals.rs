//! Terminals (docs/terminals.md): registration and computed status, the sandbox's virtual
//! terminal and its test cards, sync and async payments (webhooks), cancel, busy and offline
//! terminals, a device that drops mid-payment and finishes it on reconnect, manual capture with a
//! tip and the 7-day authorization expiry, idempotency, live keys.
//!
//! Devices are played by `vinr-terminal-sim` ([`SimHandle`]) over the real device WebSocket.
//! Each device test registers its own terminal; tests that use `term_test_simulator` (one per
//! account, busy during a session) hold [`simulator_lock`].

use std::time::Duration;

use vinr_conformance::terminals::*;
use vinr_conformance::*;
use vinr_terminal_sim::{DropPoint, Options, SimHandle};

const CONNECT: Duration = Duration::from_secs(15);
const WEBHOOK_WAIT: Duration = Duration::from_secs(30);

/// A device for `key` with `opts`, connected (or the test fails).
fn device(rt: &Runtime, key: &str, opts: Options) -> SimHandle {
    let d = SimHandle::spawn(&rt.base_url, key, opts);
    assert!(
        d.wait_connected(CONNECT),
        "the simulator did not connect within {CONNECT:?}: {:?} (log: {:?})",
        d.ended(),
        rt.log_path()
    );
    d
}

/// A fresh terminal with a connected device: (terminal id, device).
fn terminal_with_device(rt: &Runtime, label: &str, opts: Options) -> (String, SimHandle) {
    let (t, key) = register_terminal(rt, label);
    let id = id_of(&t);
    let d = device(rt, &key, opts);
    wait_terminal_status(rt, &id, "online");
    (id, d)
}

fn ignoring() -> Options {
    Options {
        ignore_payments: true,
        ..Options::default()
    }
}

fn cancel(rt: &Runtime, id: &str) -> Resp {
    rt.post(&format!("/v1/terminal/payments/{id}/cancel")).send()
}

fn capture(rt: &Runtime, id: &str, body: Value) -> Resp {
    rt.post(&format!("/v1/terminal/payments/{id}/capture"))
        .json(&body)
        .send()
}

/// The frames of `ty` the device received about payment `id`.
fn frames_about(d: &SimHandle, ty: &str, id: &str) -> Vec<Value> {
    d.frames_json()
        .into_iter()
        .filter(|f| f["type"] == ty && (f["payment"]["id"] == id || f["paymentId"] == id))
        .collect()
}

/// Registers a webhook endpoint of account A for `events`; returns its id.
fn webhook_endpoint(rt: &Runtime, url: &str, events: &[&str]) -> String {
    let mut form = format!("url={}", http::enc(url));
    for e in events {
        form.push_str(&format!("&enabled_events[]={}", http::enc(e)));
    }
    let ep = rt.post("/v1/webhooks").form(&form).send().ok();
    assert_eq!(ep["object"], "webhook_endpoint", "{ep}");
    id_of(&ep)
}

/// The webhook of `kind` about payment `id` the receiver got (waits for it).
fn webhook_about(rx: &Receiver, kind: &str, id: &str) -> Value {
    let hits = rx.wait_for(1, WEBHOOK_WAIT, |h| {
        let b = h.json();
        b["type"] == kind && event_payment(&b)["id"] == id
    });
    assert!(
        !hits.is_empty(),
        "no {kind} webhook about {id} within {WEBHOOK_WAIT:?}; got: {:?}",
        rx.hits().iter().map(|h| h.json()).collect::<Vec<_>>()
    );
    hits[0].json()
}

// ---- terminals ----

#[test]
fn register_retrieve_and_list_terminals() {
    let rt = shared();
    let (t, key) = register_terminal_with(
        rt,
        &rt.secret_key,
        &json!({"label": "Front counter", "metadata": {"store": "s-1"}}),
    );
    let id = assert_id(&t["id"], "term_");
    assert!(
        key.starts_with("tdk_test_") && key.len() > "tdk_test_".len() + 16,
        "deviceKey {key:?}"
    );
    assert_eq!(t["label"], "Front counter", "{t}");
    assert_eq!(t["status"], "offline", "never connected: {t}");
    assert!(t["activePayment"].is_null(), "{t}");
    assert!(t["lastSeenAt"].is_null(), "{t}");
    assert_eq!(t["simulated"], false, "{t}");
    assert_eq!(t["livemode"], false, "{t}");
    assert_eq!(t["metadata"], json!({"store": "s-1"}), "{t}");
    assert_rfc3339(&t["createdAt"], "createdAt", &t);

    let got = get_terminal(rt, &id);
    assert!(
        got.get("deviceKey").is_none_or(Value::is_null),
        "the device key is shown only once: {got}"
    );
    let mut without_key = t.clone();
    without_key.as_object_mut().unwrap().remove("deviceKey");
    assert_eq!(
        got, without_key,
        "retrieve answers what register answered, less the key"
    );

    let (t2, key2) = register_terminal(rt, "Back office");
    let id2 = id_of(&t2);
    assert_ne!(key, key2, "every terminal has its own key");
    let l = rt.get("/v1/terminals?limit=100").send().ok();
    assert_eq!(l["object"], "list", "{l}");
    let listed = ids(&l);
    let (p1, p2) = (
        listed.iter().position(|x| *x == id),
        listed.iter().position(|x| *x == id2),
    );
    assert!(p1.is_some() && p2.is_some(), "both terminals are listed: {l}");
    assert!(p2 < p1, "newest first: {l}");
    for item in l["data"].as_array().unwrap() {
        assert!(
            item.get("deviceKey").is_none_or(Value::is_null),
            "no device key in lists: {item}"
        );
    }
    let page = rt
        .get(&format!("/v1/terminals?limit=1&starting_after={id2}"))
        .send()
        .ok();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "{page}");
    let offline = ids(&rt.get("/v1/terminals?status=offline&limit=100").send().ok());
    assert!(
        offline.contains(&id) && offline.contains(&id2),
        "status=offline lists them: {offline:?}"
    );
    let online = ids(&rt.get("/v1/terminals?status=online&limit=100").send().ok());
    assert!(
        !online.contains(&id),
        "status=online does not list an offline terminal: {online:?}"
    );

    let long = "x".repeat(201);
    let r = rt.post("/v1/terminals").json(&json!({"label": long})).send();
    assert_eq!(r.status, 400, "label over 200 characters{}", r.show());
    assert_eq!(r.json()["error"]["param"], "label", "{}", r.show());

    // Other accounts and unknown ids: 404.
    let r = rt.get(&format!("/v1/terminals/{id}")).key(&rt.b_secret_key).send();
    assert_eq!(r.status, 404, "another account's terminal{}", r.show());
    let r = rt.get("/v1/terminals/term_000000000000000000000000").send();
    assert_eq!(r.status, 404, "{}", r.show());
}

#[test]
fn simulator_terminal_exists_and_is_online() {
    let _g = simulator_lock();
    let rt = shared();
    let t = get_terminal(rt, SIMULATOR);
    assert_eq!(t["simulated"], true, "{t}");
    assert_eq!(t["status"], "online", "{t}");
    assert!(t["activePayment"].is_null(), "{t}");
    assert_eq!(t["livemode"], false, "{t}");
    // Per account, and not in live mode.
    assert_eq!(
        rt.get(&format!("/v1/terminals/{SIMULATOR}"))
            .key(&rt.b_secret_key)
            .send()
            .ok()["status"],
        "online"
    );
    let r = rt
        .get(&format!("/v1/terminals/{SIMULATOR}"))
        .key(&rt.live_secret_key)
        .send();
    assert_eq!(r.status, 404, "no simulator in live mode{}", r.show());
}

#[test]
fn device_connection_makes_a_terminal_online_and_its_end_offline() {
    let rt = shared();
    let (t, key) = register_terminal(rt, "Till 1");
    let id = id_of(&t);
    assert_eq!(get_terminal(rt, &id)["status"], "offline");
    let d = device(rt, &key, Options::default());
    let hello = d.wait_frame(CONNECT, |f| f["type"] == "hello").expect("a hello frame");
    assert_eq!(
        hello["terminal"]["id"],
        id.as_str(),
        "hello names the terminal: {hello}"
    );
    assert_eq!(d.frames_json()[0]["type"], "hello", "hello is the first frame");
    let t = wait_terminal_status(rt, &id, "online");
    assert_rfc3339(&t["lastSeenAt"], "lastSeenAt", &t);
    assert_rfc3339(&t["activatedAt"], "activatedAt", &t);
    assert!(ids(&rt.get("/v1/terminals?status=online&limit=100").send().ok()).contains(&id));

    d.stop();
    let t = wait_terminal_status(rt, &id, "offline");
    assert_rfc3339(&t["activatedAt"], "activatedAt stays", &t);
}

#[test]
fn wrong_device_key_is_refused_before_the_upgrade() {
    let rt = shared();
    let d = SimHandle::spawn(&rt.base_url, "tdk_test_000000000000000000000000", Options::default());
    let ended = d.wait_ended(CONNECT).expect("the run ends");
    let e = ended.expect_err("a wrong key cannot connect");
    assert!(e.contains("401"), "refused with 401: {e}");
    // No key, an unknown device key, an API secret key (not a device key).
    for auth in [
        None,
        Some("Bearer tdk_test_nope".to_string()),
        Some(format!("Bearer {}", rt.secret_key)),
    ] {
        let mut req = Req::new(&rt.base_url, "GET", "/v1/terminal/connect")
            .no_auth()
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .unchecked();
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let r = req.send();
        assert_eq!(r.status, 401, "auth {auth:?}{}", r.show());
    }
}

#[test]
fn a_new_device_connection_replaces_the_old_one() {
    let rt = shared();
    let (t, key) = register_terminal(rt, "Till 2");
    let id = id_of(&t);
    let first = device(rt, &key, Options::default());
    let second = device(rt, &key, Options::default());
    assert!(
        first.wait_ended(CONNECT).is_some(),
        "the old connection is closed when a new one comes"
    );
    assert!(second.is_connected(), "the new connection stays");
    assert_eq!(wait_terminal_status(rt, &id, "online")["status"], "online");
    // Payments go to the new connection.
    let p = sync_tpay(rt, &id, 1200, json!({}));
    check_approved(&p, 1200);
    assert_eq!(frames_about(&second, "payment", &id_of(&p)).len(), 1);
    assert!(frames_about(&first, "payment", &id_of(&p)).is_empty());
}

// ---- term_test_simulator ----

#[test]
fn sync_payment_on_the_simulator_completes_inline() {
    let _g = simulator_lock();
    let rt = shared();
    let body = tpay_body(
        SIMULATOR,
        2500,
        json!({"reference": "order_8821", "responseMode": "sync", "metadata": {"table": "12"}}),
    );
    let r = create_tpay(rt, &body);
    let p = r.ok();
    check_tpay(&p);
    let id = id_of(&p);
    check_approved(&p, 2500);
    assert_eq!(p["terminalId"], SIMULATOR, "{p}");
    assert_eq!(p["currency"], "USD", "{p}");
    assert_eq!(p["reference"], "order_8821", "{p}");
    assert_eq!(p["responseMode"], "sync", "{p}");
    assert_eq!(p["captureMethod"], "automatic", "{p}");
    assert_eq!(p["entryMethod"], "contactless", "{p}");
    assert_eq!(p["metadata"], json!({"table": "12"}), "{p}");
    assert_eq!(p["livemode"], false, "{p}");
    assert!(p["expiresAt"].is_null(), "{p}");
    assert_eq!(get_tpay(rt, &id), p, "retrieve answers what the sync create answered");

    // The money: a `payment` transaction of the plan fee, sourced by the terminal payment.
    let t = get_txn(rt, &p["balanceTransaction"]);
    assert_eq!(t["source_type"], "payment", "{t}");
    assert_eq!(t["source_id"], id.as_str(), "{t}");
    assert_eq!(int(&t, "amount"), 2500, "{t}");
    assert_eq!(int(&t, "fee"), fee_for(2500), "{t}");
    assert_eq!(t["currency"], "USD", "{t}");

    let e = find_event(rt, "terminal_payment.completed", &id);
    assert_eq!(event_payment(&e)["status"], "completed", "{e}");
    let t = get_terminal(rt, SIMULATOR);
    assert_eq!(t["status"], "online", "the session ended with the payment: {t}");
    assert!(t["activePayment"].is_null(), "{t}");

    let l = rt
        .get(&format!("/v1/terminal/payments?terminalId={SIMULATOR}&limit=5"))
        .send()
        .ok();
    assert_eq!(l["object"], "list", "{l}");
    assert_eq!(ids(&l).first(), Some(&id), "newest first: {l}");
    let l = rt.get("/v1/terminal/payments?status=completed&limit=100").send().ok();
    assert!(ids(&l).contains(&id), "status filter: {l}");
    assert!(
        l["data"].as_array().unwrap().iter().all(|p| p["status"] == "completed"),
        "{l}"
    );
}

#[test]
fn each_test_card_gives_its_outcome() {
    let _g = simulator_lock();
    let rt = shared();
    for (card, decline) in TEST_CARDS {
        let p = sync_tpay(rt, SIMULATOR, 1500, json!({"testCard": card}));
        match decline {
            None => check_approved(&p, 1500),
            Some(code) => {
                check_declined(&p, code);
                assert_eq!(p["last4"], card[card.len() - 4..].to_string(), "{p}");
                assert_no_event(rt, "terminal_payment.completed", &id_of(&p));
                let e = find_event(rt, "terminal_payment.failed", &id_of(&p));
                assert_eq!(event_payment(&e)["declineCode"], *code, "{e}");
            }
        }
    }
    // snake_case spellings of the inputs.
    let p = create_tpay(rt, &json!({"terminal_id": SIMULATOR, "amount": 1500, "currency": "USD", "response_mode": "sync", "test_card": "4000000000000002"})).ok();
    check_declined(&p, "card_declined");

    for bad in ["4111 1111 1111 1111", "4242", "not a card"] {
        let r = create_tpay(
            rt,
            &tpay_body(SIMULATOR, 1500, json!({"testCard": bad, "responseMode": "sync"})),
        );
        r.err_param(400, "parameter_invalid", "testCard");
    }
    assert_eq!(
        get_terminal(rt, SIMULATOR)["status"],
        "online",
        "refused creates took no session"
    );
}

#[test]
fn async_payments_complete_by_webhook() {
    let _g = simulator_lock();
    let rt = shared();
    let rx = Receiver::start(vec![200]);
    webhook_endpoint(
        rt,
        &rx.url(),
        &["terminal_payment.completed", "terminal_payment.failed"],
    );

    let p = async_tpay(rt, SIMULATOR, 2500, json!({"reference": "order_async"}));
    let id = id_of(&p);
    assert!(p["authCode"].is_null() && p["completedAt"].is_null(), "{p}");
    let hook = webhook_about(&rx, "terminal_payment.completed", &id);
    let obj = event_payment(&hook);
    assert_eq!(obj["status"], "completed", "{hook}");
    assert_eq!(obj["reference"], "order_async", "{hook}");
    let now = wait_tpay_status(rt, &id, "completed");
    check_approved(&now, 2500);
    assert_eq!(now["responseMode"], "async", "{now}");

    let p = async_tpay(rt, SIMULATOR, 2500, json!({"testCard": "4000 0000 0000 9995"}));
    let id = id_of(&p);
    let hook = webhook_about(&rx, "terminal_payment.failed", &id);
    assert_eq!(event_payment(&hook)["declineCode"], "insufficient_funds", "{hook}");
    check_declined(&wait_tpay_status(rt, &id, "failed"), "insufficient_funds");
    wait_terminal_status(rt, SIMULATOR, "online");
}

#[test]
fn simulate_delay_leaves_time_to_cancel() {
    let _g = simulator_lock();
    let rt = shared();
    let r = rt
        .post("/v1/terminal/payments?simulateDelay=2")
        .json(&tpay_body(SIMULATOR, 2500, json!({})))
        .send();
    assert_eq!(r.status, 202, "{}", r.show());
    let p = r.json();
    let id = id_of(&p);
    assert_eq!(p["status"], "pending", "{p}");
    let t = get_terminal(rt, SIMULATOR);
    assert_eq!(t["status"], "busy", "{t}");
    assert_eq!(t["activePayment"], id.as_str(), "{t}");
    // Busy: nobody else can use the simulator meanwhile.
    terminal_err(
        &create_tpay(rt, &tpay_body(SIMULATOR, 1000, json!({}))),
        409,
        "terminal_busy",
    );

    let c = cancel(rt, &id).ok();
    check_tpay(&c);
    assert_eq!(c["status"], "cancelled", "{c}");
    assert_eq!(c["cancellationReason"], "requested", "{c}");
    assert_rfc3339(&c["cancelledAt"], "cancelledAt", &c);
    assert_eq!(
        get_terminal(rt, SIMULATOR)["status"],
        "online",
        "the cancel ended the session"
    );
    find_event(rt, "terminal_payment.cancelled", &id);
    // The virtual cardholder's card, 2 s later, changes nothing.
    std::thread::sleep(Duration::from_millis(2500));
    let after = get_tpay(rt, &id);
    assert_eq!(after["status"], "cancelled", "{after}");
    assert!(after["balanceTransaction"].is_null(), "{after}");
    api_err(&cancel(rt, &id), 400, "payment_invalid_state");

    // A body `simulateDelay` in sync mode: the answer comes after the interaction.
    let t0 = std::time::Instant::now();
    let p = sync_tpay(rt, SIMULATOR, 2500, json!({"simulateDelay": 1}));
    check_approved(&p, 2500);
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "a 1 s interaction answered after {:?}",
        t0.elapsed()
    );
    // Cancel after completion: refused, nothing changes.
    let e = api_err(&cancel(rt, &id_of(&p)), 400, "payment_invalid_state");
    assert!(e["message"].as_str().unwrap().contains("completed"), "{e}");
    assert_eq!(get_tpay(rt, &id_of(&p)), p);

    for bad in [json!({"simulateDelay": 601}), json!({"simulateDelay": -1})] {
        let r = create_tpay(rt, &tpay_body(SIMULATOR, 2500, bad));
        err_naming(&r, 400, "simulateDelay");
    }
}

/// A sync create waits at most 150 s (docs/terminals.md), even when the simulated interaction
/// takes longer: 202 with the payment as it stands, and the interaction then finishes on its own.
/// About 155 s long, so it runs on `vinr dev` only (its own server: the shared simulator stays
/// free for the other tests); the Worker runs the same shared code (`simulated_wait`, unit-tested).
#[test]
fn sync_create_answers_202_at_150_s_when_the_interaction_takes_longer() {
    if std::env::var("VINR_TEST_RUNTIME").is_ok_and(|r| r != "vinr") {
        eprintln!("skipped: a 155 s test, run on vinr dev only");
        return;
    }
    let rt = start();
    let mut body = tpay_body(SIMULATOR, 2500, json!({"simulateDelay": 152}));
    body["responseMode"] = json!("sync");
    let t0 = std::time::Instant::now();
    let r = rt
        .post("/v1/terminal/payments")
        .json(&body)
        .read_timeout(Duration::from_secs(200))
        .send();
    let waited = t0.elapsed();
    assert_eq!(r.status, 202, "answered after {waited:?}{}", r.show());
    assert!(
        waited >= Duration::from_millis(149_500) && waited < Duration::from_secs(170),
        "a sync create answers at 150 s, not after {waited:?}"
    );
    let p = r.json();
    check_tpay(&p);
    assert_eq!(p["status"], "pending", "{p}");
    assert_eq!(p["responseMode"], "sync", "{p}");
    // The virtual cardholder presents the card at 152 s: the payment completes without the request.
    let done = wait_tpay_status(&rt, &id_of(&p), "completed");
    check_approved(&done, 2500);
}

#[test]
fn manual_capture_adds_a_tip_within_twenty_percent() {
    let _g = simulator_lock();
    let rt = shared();
    let p = sync_tpay(
        rt,
        SIMULATOR,
        2500,
        json!({"captureMethod": "manual", "reference": "table_12"}),
    );
    let id = id_of(&p);
    assert_eq!(p["status"], "authorized", "{p}");
    assert_eq!(p["captureMethod"], "manual", "{p}");
    assert_eq!(p["amountCaptured"], 0, "{p}");
    assert!(
        p["balanceTransaction"].is_null() && p["capturedAt"].is_null(),
        "no money before the capture: {p}"
    );
    let authorized_at = assert_rfc3339(&p["authorizedAt"], "authorizedAt", &p);
    let expires_at = assert_rfc3339(&p["expiresAt"], "expiresAt", &p);
    assert_eq!(
        expires_at - authorized_at,
        7 * DAY,
        "expires 7 days after the authorization: {p}"
    );
    find_event(rt, "terminal_payment.authorized", &id);
    assert_eq!(
        get_terminal(rt, SIMULATOR)["status"],
        "online",
        "an authorization ends the session"
    );
    // Cancel is for pending payments only.
    api_err(&cancel(rt, &id), 400, "payment_invalid_state");

    // 2500 + 20 % = 3000.
    let e = capture(rt, &id, json!({"amount": 3001})).err_param(400, "amount_too_large", "amount");
    assert!(e["message"].as_str().is_some());
    assert_eq!(
        get_tpay(rt, &id)["status"],
        "authorized",
        "a refused capture changes nothing"
    );
    let c = capture(rt, &id, json!({"amount": 2875})).ok();
    check_tpay(&c);
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(c["amount"], 2500, "the authorized amount stays: {c}");
    assert_eq!(c["amountCaptured"], 2875, "{c}");
    assert!(c["expiresAt"].is_null(), "{c}");
    assert_rfc3339(&c["capturedAt"], "capturedAt", &c);
    assert_rfc3339(&c["completedAt"], "completedAt", &c);
    let t = get_txn(rt, &c["balanceTransaction"]);
    assert_eq!((int(&t, "amount"), int(&t, "fee")), (2875, fee_for(2875)), "{t}");
    assert_eq!(t["source_id"], id.as_str(), "{t}");
    let e = find_event(rt, "terminal_payment.completed", &id);
    assert_eq!(event_payment(&e)["amountCaptured"], 2875, "{e}");
    // Captured once.
    api_err(&capture(rt, &id, json!({"amount": 2875})), 400, "payment_invalid_state");
    api_err(&capture(rt, &id, json!({})), 400, "payment_invalid_state");

    // Default amount: the authorized one; exactly +20 % is allowed.
    let p = sync_tpay(rt, SIMULATOR, 2500, json!({"captureMethod": "manual"}));
    assert_eq!(capture(rt, &id_of(&p), json!({})).ok()["amountCaptured"], 2500);
    let p = sync_tpay(rt, SIMULATOR, 2500, json!({"captureMethod": "manual"}));
    assert_eq!(
        capture(rt, &id_of(&p), json!({"amount": 3000})).ok()["amountCaptured"],
        3000
    );
    // An automatic payment cannot be captured.
    let p = sync_tpay(rt, SIMULATOR, 2500, json!({}));
    api_err(
        &capture(rt, &id_of(&p), json!({"amount": 2500})),
        400,
        "payment_invalid_state",
    );
}

#[test]
fn uncaptured_authorization_expires_after_seven_days() {
    // The sandbox clock is account-wide: this test has a runtime (and accounts) of its own.
    let rt = start();
    let p = sync_tpay(&rt, SIMULATOR, 2500, json!({"captureMethod": "manual"}));
    let id = id_of(&p);
    assert_eq!(p["status"], "authorized", "{p}");
    advance(&rt, 6 * DAY);
    assert_eq!(
        get_tpay(&rt, &id)["status"],
        "authorized",
        "6 days later it is still capturable"
    );
    advance(&rt, DAY + 60);
    let e = get_tpay(&rt, &id);
    assert_eq!(e["status"], "cancelled", "{e}");
    assert_eq!(e["cancellationReason"], "expired", "{e}");
    assert_eq!(e["amountCaptured"], 0, "{e}");
    assert!(
        e["balanceTransaction"].is_null(),
        "an expired authorization moves no money: {e}"
    );
    assert_rfc3339(&e["cancelledAt"], "cancelledAt", &e);
    find_event(&rt, "terminal_payment.cancelled", &id);
    api_err(
        &capture(&rt, &id, json!({"amount": 2500})),
        400,
        "payment_invalid_state",
    );
    // A captured one does not expire.
    let p = sync_tpay(&rt, SIMULATOR, 2500, json!({"captureMethod": "manual"}));
    capture(&rt, &id_of(&p), json!({})).ok();
    advance(&rt, 8 * DAY);
    assert_eq!(get_tpay(&rt, &id_of(&p))["status"], "completed");
}

#[test]
fn idempotent_sync_create_replays_the_outcome() {
    let _g = simulator_lock();
    let rt = shared();
    let key = uniq("tpay");
    let body = tpay_body(
        SIMULATOR,
        2500,
        json!({"responseMode": "sync", "testCard": "4000000000000069"}),
    );
    let first = rt.post("/v1/terminal/payments").idem(&key).json(&body).send();
    let p = first.ok();
    check_declined(&p, "expired_card");
    let again = rt.post("/v1/terminal/payments").idem(&key).json(&body).send();
    assert_eq!(again.ok(), p, "the retry gets the same final answer");
    assert!(again.replayed(), "the retry is a replay{}", again.show());
    let l = rt
        .get(&format!("/v1/terminal/payments?terminalId={SIMULATOR}&limit=3"))
        .send()
        .ok();
    assert_eq!(
        ids(&l).iter().filter(|x| **x == id_of(&p)).count(),
        1,
        "one payment: {l}"
    );
    assert_eq!(ids(&l)[0], id_of(&p), "no second payment was made: {l}");
}

// ---- devices ----

#[test]
fn sync_payment_through_a_device_completes() {
    let rt = shared();
    let (tid, d) = terminal_with_device(
        rt,
        "Counter A",
        Options {
            entry_method: "chip".into(),
            ..Options::default()
        },
    );
    let p = sync_tpay(rt, &tid, 2500, json!({"reference": "order_8821"}));
    let id = id_of(&p);
    check_approved(&p, 2500);
    assert_eq!(p["entryMethod"], "chip", "the device's entry method: {p}");
    assert_eq!(p["terminalId"], tid.as_str(), "{p}");
    assert_eq!(get_tpay(rt, &id), p);
    let shown = frames_about(&d, "payment", &id);
    assert_eq!(shown.len(), 1, "one payment frame: {:?}", d.frames());
    assert_eq!(shown[0]["payment"]["amount"], 2500, "{:?}", shown[0]);
    assert_eq!(shown[0]["payment"]["reference"], "order_8821", "{:?}", shown[0]);
    let result = d
        .wait_frame(CONNECT, |f| f["type"] == "result" && f["payment"]["id"] == id)
        .expect("a result frame");
    assert_eq!(result["payment"]["status"], "completed", "{result}");
    assert!(
        d.wait_screen(CONNECT, |l| l == "Pay USD 25.00 — order_8821"),
        "{:?}",
        d.screen()
    );
    assert!(
        d.wait_screen(CONNECT, |l| l.starts_with("Approved ")),
        "{:?}",
        d.screen()
    );
    let t = get_terminal(rt, &tid);
    assert_eq!(t["status"], "online", "{t}");
    assert!(t["activePayment"].is_null(), "{t}");

    // With a device, the device picks the card.
    let r = create_tpay(
        rt,
        &tpay_body(
            &tid,
            2500,
            json!({"testCard": "4242424242424242", "responseMode": "sync"}),
        ),
    );
    err_naming(&r, 400, "testCard");
    assert_eq!(
        get_terminal(rt, &tid)["status"],
        "online",
        "a refused create took no session"
    );
}

#[test]
fn the_devices_card_decides_the_outcome() {
    let rt = shared();
    let (tid, d) = terminal_with_device(
        rt,
        "Counter B",
        Options {
            card: "4000000000009995".into(),
            ..Options::default()
        },
    );
    let p = sync_tpay(rt, &tid, 4000, json!({}));
    check_declined(&p, "insufficient_funds");
    assert_eq!(p["last4"], "9995", "{p}");
    assert!(
        d.wait_frame(CONNECT, |f| f["type"] == "result" && f["payment"]["status"] == "failed")
            .is_some()
    );
    assert!(
        d.wait_screen(CONNECT, |l| l == "Declined: insufficient_funds"),
        "{:?}",
        d.screen()
    );
    // The async mode with a device: 202, then the outcome.
    let p = async_tpay(rt, &tid, 4000, json!({}));
    check_declined(&wait_tpay_status(rt, &id_of(&p), "failed"), "insufficient_funds");
}

#[test]
fn cancel_while_pending_clears_the_devices_prompt() {
    let rt = shared();
    let (tid, d) = terminal_with_device(rt, "Counter C", ignoring());
    let p = async_tpay(rt, &tid, 2500, json!({}));
    let id = id_of(&p);
    assert!(
        d.wait_frame(CONNECT, |f| f["type"] == "payment" && f["payment"]["id"] == id)
            .is_some(),
        "the device got the payment"
    );
    let t = get_terminal(rt, &tid);
    assert_eq!(t["status"], "busy", "{t}");
    assert_eq!(t["activePayment"], id.as_str(), "{t}");
    assert!(ids(&rt.get("/v1/terminals?status=busy&limit=100").send().ok()).contains(&tid));

    let c = cancel(rt, &id).ok();
    assert_eq!(c["status"], "cancelled", "{c}");
    assert_eq!(c["cancellationReason"], "requested", "{c}");
    let f = d
        .wait_frame(CONNECT, |f| f["type"] == "cancel")
        .expect("the device is told to clear its prompt");
    assert_eq!(f["paymentId"], id.as_str(), "{f}");
    let t = wait_terminal_status(rt, &tid, "online");
    assert!(t["activePayment"].is_null(), "{t}");
    api_err(&cancel(rt, &id), 400, "payment_invalid_state");
    assert_eq!(get_tpay(rt, &id)["status"], "cancelled");
}

#[test]
fn cancel_after_the_card_was_presented_is_refused() {
    let rt = shared();
    let (tid, d) = terminal_with_device(
        rt,
        "Counter D",
        Options {
            pin_delay: Duration::from_secs(2),
            ..Options::default()
        },
    );
    let p = async_tpay(rt, &tid, 2500, json!({}));
    let id = id_of(&p);
    let processing = wait_tpay_status(rt, &id, "processing");
    assert_rfc3339(&processing["presentedAt"], "presentedAt", &processing);
    assert_eq!(processing["entryMethod"], "contactless", "{processing}");
    let e = api_err(&cancel(rt, &id), 400, "payment_invalid_state");
    assert!(e["message"].as_str().unwrap().contains("processing"), "{e}");
    check_approved(&wait_tpay_status(rt, &id, "completed"), 2500);
    assert!(
        frames_about(&d, "cancel", &id).is_empty(),
        "no cancel was sent: {:?}",
        d.frames()
    );
}

#[test]
fn a_busy_terminal_refuses_a_second_payment() {
    let rt = shared();
    let (tid, _d) = terminal_with_device(rt, "Counter E", ignoring());
    let p = async_tpay(rt, &tid, 2500, json!({}));
    let id = id_of(&p);
    for mode in ["async", "sync"] {
        let r = create_tpay(rt, &tpay_body(&tid, 1000, json!({"responseMode": mode})));
        let e = terminal_err(&r, 409, "terminal_busy");
        assert!(e["message"].as_str().is_some(), "{e}");
    }
    let l = rt.get(&format!("/v1/terminal/payments?terminalId={tid}")).send().ok();
    assert_eq!(ids(&l), vec![id.clone()], "the refused creates wrote nothing: {l}");
    cancel(rt, &id).ok();
    let p2 = async_tpay(rt, &tid, 1000, json!({}));
    cancel(rt, &id_of(&p2)).ok();
}

#[test]
fn of_two_concurrent_creates_exactly_one_wins() {
    let rt = shared();
    let (tid, _d) = terminal_with_device(rt, "Counter F", ignoring());
    for round in 0..3 {
        let reqs: Vec<Req> = (0..4)
            .map(|i| {
                rt.post("/v1/terminal/payments")
                    .json(&tpay_body(&tid, 1000 + i, json!({})))
            })
            .collect();
        let resps = Req::send_at_once(reqs);
        let won: Vec<&Resp> = resps.iter().filter(|r| r.status == 202).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one create wins: {:?}",
            resps.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>()
        );
        for r in resps.iter().filter(|r| r.status != 202) {
            terminal_err(r, 409, "terminal_busy");
        }
        let winner = won[0].json();
        assert_eq!(get_terminal(rt, &tid)["activePayment"], winner["id"], "round {round}");
        let l = rt
            .get(&format!("/v1/terminal/payments?terminalId={tid}&status=pending"))
            .send()
            .ok();
        assert_eq!(ids(&l), vec![id_of(&winner)], "round {round}: one pending payment: {l}");
        cancel(rt, &id_of(&winner)).ok();
        wait_terminal_status(rt, &tid, "online");
    }
}

#[test]
fn offline_and_unknown_terminals_are_refused() {
    let rt = shared();
    let (t, key) = register_terminal(rt, "Never connected");
    let tid = id_of(&t);
    for mode in ["async", "sync"] {
        terminal_err(
            &create_tpay(rt, &tpay_body(&tid, 2500, json!({"responseMode": mode}))),
            409,
            "terminal_offline",
        );
    }
    let r = create_tpay(rt, &tpay_body("term_000000000000000000000000", 2500, json!({})));
    terminal_err(&r, 404, "terminal_not_found");
    // Another account's terminal does not exist for this one.
    let r = rt
        .post("/v1/terminal/payments")
        .key(&rt.b_secret_key)
        .json(&tpay_body(&tid, 2500, json!({})))
        .send();
    terminal_err(&r, 404, "terminal_not_found");
    let l = rt.get(&format!("/v1/terminal/payments?terminalId={tid}")).send().ok();
    assert_eq!(l["data"], json!([]), "refused creates wrote nothing: {l}");
    assert_eq!(get_terminal(rt, &tid)["status"], "offline");

    // Connected, then gone: offline again.
    let d = device(rt, &key, Options::default());
    wait_terminal_status(rt, &tid, "online");
    d.stop();
    wait_terminal_status(rt, &tid, "offline");
    terminal_err(
        &create_tpay(rt, &tpay_body(&tid, 2500, json!({}))),
        409,
        "terminal_offline",
    );
}

#[test]
fn missing_and_invalid_parameters() {
    let rt = shared();
    err_naming(
        &create_tpay(rt, &json!({"amount": 2500, "currency": "USD"})),
        400,
        "terminalId",
    );
    err_naming(
        &create_tpay(rt, &json!({"terminalId": SIMULATOR, "currency": "USD"})),
        400,
        "amount",
    );
    err_naming(
        &create_tpay(rt, &json!({"terminalId": SIMULATOR, "amount": 2500})),
        400,
        "currency",
    );
    err_naming(
        &create_tpay(rt, &tpay_body(SIMULATOR, 2500, json!({"captureMethod": "later"}))),
        400,
        "captureMethod",
    );
    err_naming(
        &create_tpay(rt, &tpay_body(SIMULATOR, 2500, json!({"responseMode": "maybe"}))),
        400,
        "responseMode",
    );
    err_naming(&create_tpay(rt, &tpay_body(SIMULATOR, 0, json!({}))), 400, "amount");
    err_naming(
        &create_tpay(rt, &tpay_body(SIMULATOR, 2500, json!({"reference": "r".repeat(201)}))),
        400,
        "reference",
    );
    create_tpay(rt, &tpay_body(SIMULATOR, 2500, json!({"tip": 5}))).err(400, "parameter_unknown");
    rt.get("/v1/terminal/payments/tpay_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
    cancel(rt, "tpay_000000000000000000000000").err(404, "resource_missing");
}

#[test]
fn device_drop_mid_payment_answers_502_and_the_reconnect_finishes_it() {
    let rt = shared();
    for (point, label) in [
        (DropPoint::AfterPresented, "Counter G"),
        (DropPoint::OnPayment, "Counter H"),
    ] {
        let opts = Options {
            drop: Some(point),
            reconnect_after: Some(Duration::from_secs(1)),
            ..Options::default()
        };
        let (tid, d) = terminal_with_device(rt, label, opts);
        let r = create_tpay(rt, &tpay_body(&tid, 2500, json!({"responseMode": "sync"})));
        let e = api_err(&r, 502, "communication_error");
        assert_eq!(e["decline_code"], "communication_error", "{point:?}{}", r.show());
        let p = e["payment"].clone();
        check_tpay(&p);
        let id = id_of(&p);
        let expected = if point == DropPoint::AfterPresented {
            "processing"
        } else {
            "pending"
        };
        assert_eq!(p["status"], expected, "{point:?}: the payment as it stands{}", r.show());
        // The drop does not fail the payment: the device comes back and finishes it.
        assert!(d.wait_connections(2, CONNECT), "{point:?}: the device reconnected");
        let done = wait_tpay_status(rt, &id, "completed");
        check_approved(&done, 2500);
        assert_eq!(
            frames_about(&d, "payment", &id).len(),
            2,
            "{point:?}: the session was re-sent on reconnect: {:?}",
            d.frames()
        );
        assert!(
            d.wait_frame(CONNECT, |f| f["type"] == "result" && f["payment"]["id"] == id)
                .is_some(),
            "{point:?}"
        );
        wait_terminal_status(rt, &tid, "online");
    }
}

#[test]
fn idempotent_sync_create_through_a_device() {
    let rt = shared();
    let (tid, d) = terminal_with_device(
        rt,
        "Counter I",
        Options {
            pin_delay: Duration::from_millis(300),
            ..Options::default()
        },
    );
    let key = uniq("tpay-dev");
    let body = tpay_body(&tid, 2500, json!({"responseMode": "sync"}));
    let p = rt.post("/v1/terminal/payments").idem(&key).json(&body).send().ok();
    check_approved(&p, 2500);
    let again = rt.post("/v1/terminal/payments").idem(&key).json(&body).send();
    assert_eq!(again.ok(), p, "the retry gets the final answer, not the pending one");
    assert_eq!(
        frames_about(&d, "payment", &id_of(&p)).len(),
        1,
        "the device saw one payment"
    );
    let l = rt.get(&format!("/v1/terminal/payments?terminalId={tid}")).send().ok();
    assert_eq!(ids(&l), vec![id_of(&p)], "{l}");
}

#[test]
fn live_keys_cannot_take_terminal_payments() {
    let rt = shared();
    let live = &rt.live_secret_key;
    let (t, key) = register_terminal_with(rt, live, &json!({"label": "Live counter"}));
    assert!(key.starts_with("tdk_live_"), "{key}");
    assert_eq!(t["livemode"], true, "{t}");
    let tid = id_of(&t);
    let r = rt
        .post("/v1/terminal/payments")
        .key(live)
        .json(&tpay_body(&tid, 2500, json!({})))
        .send();
    // Not a decline: the live environment has no acquirer connection (docs/terminals.md).
    let e = api_err(&r, 403, "live_processing_unavailable");
    assert!(e.get("decline_code").is_none(), "{}", r.show());
    let r = rt
        .post("/v1/terminal/payments")
        .key(live)
        .json(&tpay_body(SIMULATOR, 2500, json!({})))
        .send();
    terminal_err(&r, 404, "terminal_not_found");
    let l = rt.get("/v1/terminal/payments").key(live).send().ok();
    assert_eq!(l["data"], json!([]), "{l}");
    // Environments do not mix.
    let r = rt.get(&format!("/v1/terminals/{tid}")).send();
    assert_eq!(r.status, 404, "a live terminal with a test key{}", r.show());
    assert!(!ids(&rt.get("/v1/terminals?limit=100").send().ok()).contains(&tid));
}

#[test]
fn rfc3339_helper() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339("2026-06-11T09:00:00Z"), Some(1_781_168_400));
    assert_eq!(parse_rfc3339("2026-06-11T10:00:00+01:00"), Some(1_781_168_400));
    assert_eq!(parse_rfc3339("2026-06-11 09:00:00"), None);
    assert_eq!(rfc3339(1_781_168_400), "2026-06-11T09:00:00Z");
}
