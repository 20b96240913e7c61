//! Terminal payments through the real pipeline over SQLite (docs/terminals.md): the sandbox
//! simulator, the lifecycle, the money, and the device protocol's decisions (`device`), with a
//! hub that only records what it was asked.

mod common;

use common::*;
use serde_json::Value;
use vinr_shared::device::{self, Device};
use vinr_shared::hub::HubCall;
use vinr_shared::jobs;
use vinr_shared::terminal::protocol::ToDevice;

fn run_due(w: &World) -> jobs::Report {
    pollster::block_on(jobs::run_due(&w.db, &w.env, jobs::Scope::AllDue, 100)).unwrap()
}

fn types(w: &World) -> Vec<String> {
    let mut st = w.db.0.prepare("SELECT type FROM events ORDER BY seq").unwrap();
    st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// A registered terminal whose device is connected: (terminal id, device).
fn connected_terminal(w: &World) -> (String, Device) {
    let (s, t) = w.post("/v1/terminals", "label=Counter");
    assert_eq!(s, 200, "{t}");
    let key = t["deviceKey"].as_str().unwrap();
    let dev = pollster::block_on(device::authenticate(&w.db, key))
        .unwrap()
        .expect("the device key authenticates");
    let frames = pollster::block_on(device::connected(&w.db, &w.env, &dev, "conn_1")).unwrap();
    assert!(matches!(frames.as_slice(), [ToDevice::Hello { .. }]), "{frames:?}");
    (t["id"].as_str().unwrap().to_string(), dev)
}

fn frame(w: &World, dev: &Device, text: &str) -> device::DeviceStep {
    pollster::block_on(device::on_message(&w.db, &w.env, dev, text)).unwrap()
}

#[test]
fn simulator_sync_payments_follow_the_test_cards() {
    let w = world();
    let (s, p) = w.post(
        "/v1/terminal/payments",
        "terminalId=term_test_simulator&amount=2500&currency=USD&reference=order_8821&responseMode=sync",
    );
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        (
            p["status"].as_str(),
            p["brand"].as_str(),
            p["last4"].as_str(),
            p["entryMethod"].as_str()
        ),
        (Some("completed"), Some("visa"), Some("4242"), Some("contactless"))
    );
    assert_eq!(p["amountCaptured"], 2500);
    assert!(p["authCode"].as_str().is_some_and(|c| c.len() == 6), "{p}");
    assert!(p["balanceTransaction"].as_str().is_some_and(|t| t.starts_with("txn_")));
    for (card, code) in [
        ("4000 0000 0000 0002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4100000000000019", "lost_or_stolen"),
    ] {
        let (s, p) = w.post(
            "/v1/terminal/payments",
            &format!("terminalId=term_test_simulator&amount=2500&currency=USD&responseMode=sync&testCard={card}"),
        );
        assert_eq!(
            (s, p["status"].as_str(), p["declineCode"].as_str()),
            (200, Some("failed"), Some(code)),
            "{p}"
        );
        assert!(p["balanceTransaction"].is_null());
    }
    let (s, e) = w.post(
        "/v1/terminal/payments",
        "terminalId=term_test_simulator&amount=2500&currency=USD&testCard=4000000000000077",
    );
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("testCard")), "{e}");
    // One transaction: only the approved payment moved money.
    assert_eq!(w.count("SELECT COUNT(*) FROM balance_transactions"), 1);
    assert_eq!(types(&w).iter().filter(|t| *t == "terminal_payment.failed").count(), 4);
}

#[test]
fn simulator_async_pending_then_completed_by_its_step() {
    let w = world();
    let (s, p) = w.post(
        "/v1/terminal/payments?simulateDelay=5",
        "terminalId=term_test_simulator&amount=1000&currency=EUR",
    );
    assert_eq!(
        (s, p["status"].as_str(), p["simulateDelay"].as_i64()),
        (202, Some("pending"), Some(5)),
        "{p}"
    );
    let id = p["id"].as_str().unwrap();
    // Busy while it runs: a second payment is refused with its decline code.
    let (s, e) = w.post(
        "/v1/terminal/payments",
        "terminalId=term_test_simulator&amount=1000&currency=EUR",
    );
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["decline_code"].as_str()),
        (409, Some("terminal_busy"), Some("terminal_busy")),
        "{e}"
    );
    assert_eq!(w.get("/v1/terminals/term_test_simulator").1["status"], "busy");
    assert_eq!(run_due(&w).ran, 0, "not due for 5 s");
    w.env.now.set(w.env.now.get() + 5);
    assert_eq!(run_due(&w).ran, 1);
    let (_, p) = w.get(&format!("/v1/terminal/payments/{id}"));
    assert_eq!(p["status"], "completed", "{p}");
    assert_eq!(w.get("/v1/terminals/term_test_simulator").1["status"], "online");
    assert_eq!(types(&w), ["terminal_payment.completed"]);
}

#[test]
fn cancel_only_while_pending() {
    let w = world();
    let (_, p) = w.post(
        "/v1/terminal/payments?simulateDelay=30",
        "terminalId=term_test_simulator&amount=1000&currency=EUR",
    );
    let id = p["id"].as_str().unwrap();
    let (s, c) = w.post(&format!("/v1/terminal/payments/{id}/cancel"), "");
    assert_eq!(
        (s, c["status"].as_str(), c["cancellationReason"].as_str()),
        (200, Some("cancelled"), Some("requested")),
        "{c}"
    );
    // The simulated cardholder's step finds nothing left to do.
    w.env.now.set(w.env.now.get() + 30);
    run_due(&w);
    assert_eq!(w.get(&format!("/v1/terminal/payments/{id}")).1["status"], "cancelled");
    let (s, e) = w.post(&format!("/v1/terminal/payments/{id}/cancel"), "");
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("payment_invalid_state")));
    assert_eq!(types(&w), ["terminal_payment.cancelled"]);
}

#[test]
fn manual_capture_with_a_tip_and_expiry() {
    let w = world();
    let (s, p) = w.post(
        "/v1/terminal/payments",
        "terminalId=term_test_simulator&amount=2500&currency=USD&captureMethod=manual&responseMode=sync",
    );
    assert_eq!((s, p["status"].as_str()), (200, Some("authorized")), "{p}");
    assert!(p["expiresAt"].is_string() && p["balanceTransaction"].is_null());
    let id = p["id"].as_str().unwrap();
    let (s, e) = w.post(&format!("/v1/terminal/payments/{id}/capture"), "amount=3001");
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["param"].as_str()),
        (400, Some("amount_too_large"), Some("amount")),
        "{e}"
    );
    let (s, c) = w.post(&format!("/v1/terminal/payments/{id}/capture"), "amount=2875");
    assert_eq!(
        (s, c["status"].as_str(), c["amountCaptured"].as_i64()),
        (200, Some("completed"), Some(2875)),
        "{c}"
    );
    let fee = w.count("SELECT fee FROM balance_transactions");
    assert_eq!(w.count("SELECT amount FROM balance_transactions"), 2875);
    assert_eq!(
        fee,
        vinr_shared::plan::capture_fee(2875),
        "the processing plan's fee on the captured amount"
    );
    let (s, _) = w.post(&format!("/v1/terminal/payments/{id}/capture"), "");
    assert_eq!(s, 400, "captured once only");

    // Another authorization, never captured: cancelled as expired after 7 days.
    let (_, p) = w.post(
        "/v1/terminal/payments",
        "terminalId=term_test_simulator&amount=1000&currency=USD&captureMethod=manual&responseMode=sync",
    );
    let id = p["id"].as_str().unwrap();
    w.env.now.set(w.env.now.get() + 7 * 86_400 - 1);
    run_due(&w);
    assert_eq!(w.get(&format!("/v1/terminal/payments/{id}")).1["status"], "authorized");
    w.env.now.set(w.env.now.get() + 1);
    run_due(&w);
    let (_, p) = w.get(&format!("/v1/terminal/payments/{id}"));
    assert_eq!(
        (p["status"].as_str(), p["cancellationReason"].as_str()),
        (Some("cancelled"), Some("expired")),
        "{p}"
    );
    let (s, _) = w.post(&format!("/v1/terminal/payments/{id}/capture"), "");
    assert_eq!(s, 400);
}

#[test]
fn terminal_checks_in_order() {
    let w = world();
    let (s, e) = w.post("/v1/terminal/payments", "terminalId=term_nope&amount=1000&currency=EUR");
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["param"].as_str()),
        (404, Some("terminal_not_found"), Some("terminalId")),
        "{e}"
    );
    let (_, t) = w.post("/v1/terminals", "label=Back");
    assert_eq!(
        (t["status"].as_str(), t["activatedAt"].is_null()),
        (Some("offline"), true),
        "{t}"
    );
    let tid = t["id"].as_str().unwrap();
    let (s, e) = w.post(
        "/v1/terminal/payments",
        &format!("terminalId={tid}&amount=1000&currency=EUR"),
    );
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("terminal_offline")), "{e}");
    let (s, e) = w.post(
        "/v1/terminal/payments",
        &format!("terminalId={tid}&amount=1000&currency=EUR&testCard=4242424242424242"),
    );
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("terminal_offline")), "{e}");
    // The key is never shown again; live mode has no simulator.
    assert!(w.get(&format!("/v1/terminals/{tid}")).1.get("deviceKey").is_none());
    let (s, v, _) = w.call(
        "POST",
        "/v1/terminal/payments",
        &w.live,
        "terminalId=term_test_simulator&amount=1000&currency=EUR",
        &[],
    );
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("terminal_not_found")));
    // Nothing was written by the refusals.
    assert_eq!(w.count("SELECT COUNT(*) FROM terminal_payments"), 0);
}

#[test]
fn device_frames_drive_a_payment() {
    let w = world();
    let (tid, dev) = connected_terminal(&w);
    assert_eq!(w.get(&format!("/v1/terminals/{tid}")).1["status"], "online");
    let (s, p) = w.post(
        "/v1/terminal/payments",
        &format!("terminalId={tid}&amount=4200&currency=EUR&reference=r1"),
    );
    assert_eq!((s, p["status"].as_str()), (202, Some("pending")), "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    assert!(matches!(
        &w.env.hub_calls.borrow()[..],
        [HubCall::Deliver { wait_ms: None, .. }]
    ));
    // A reconnect re-sends the running session.
    let frames = pollster::block_on(device::connected(&w.db, &w.env, &dev, "conn_2")).unwrap();
    assert!(
        matches!(&frames[..], [ToDevice::Hello { .. }, ToDevice::Payment { payment }] if payment["id"] == id.as_str()),
        "{frames:?}"
    );
    // A stale close of the first connection does not take the terminal offline.
    pollster::block_on(device::disconnected(&w.db, &w.env, &dev, "conn_1")).unwrap();
    assert_eq!(w.get(&format!("/v1/terminals/{tid}")).1["status"], "busy");

    let step = frame(
        &w,
        &dev,
        &format!(r#"{{"type":"presented","paymentId":"{id}","entryMethod":"chip"}}"#),
    );
    assert!(step.replies.is_empty() && step.settled.is_empty());
    let (s, e) = w.post(&format!("/v1/terminal/payments/{id}/cancel"), "");
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("payment_invalid_state")),
        "processing cannot be cancelled: {e}"
    );
    let step = frame(
        &w,
        &dev,
        &format!(r#"{{"type":"authorize","paymentId":"{id}","card":"4000000000009995"}}"#),
    );
    assert_eq!(step.settled, std::slice::from_ref(&id));
    assert_eq!(step.events.len(), 1);
    let ToDevice::Result { payment } = &step.replies[0] else {
        panic!("{:?}", step.replies)
    };
    assert_eq!(
        (
            payment["status"].as_str(),
            payment["declineCode"].as_str(),
            payment["entryMethod"].as_str()
        ),
        (Some("failed"), Some("insufficient_funds"), Some("chip"))
    );
    // The card number is nowhere in the database.
    assert_eq!(
        w.count("SELECT COUNT(*) FROM terminal_payments WHERE data LIKE '%4000000000009995%'"),
        0
    );
    // A late frame about a settled payment is answered with where it stands.
    let step = frame(
        &w,
        &dev,
        &format!(r#"{{"type":"authorize","paymentId":"{id}","card":"4242424242424242"}}"#),
    );
    assert!(matches!(&step.replies[..], [ToDevice::Result { payment }] if payment["status"] == "failed"));
    // Nonsense is answered, not fatal.
    assert!(matches!(&frame(&w, &dev, "{").replies[..], [ToDevice::Error { .. }]));
    assert!(matches!(
        &frame(
            &w,
            &dev,
            r#"{"type":"authorize","paymentId":"tpay_x","card":"4242424242424242"}"#
        )
        .replies[..],
        [ToDevice::Error { .. }]
    ));
    assert_eq!(w.get(&format!("/v1/terminals/{tid}")).1["status"], "online");

    // A device that goes silent after presenting: failed with communication_error after 120 s.
    let (_, p) = w.post(
        "/v1/terminal/payments",
        &format!("terminalId={tid}&amount=1000&currency=EUR"),
    );
    let id2 = p["id"].as_str().unwrap().to_string();
    frame(
        &w,
        &dev,
        &format!(r#"{{"type":"presented","paymentId":"{id2}","entryMethod":"contactless"}}"#),
    );
    w.env.now.set(w.env.now.get() + 120);
    run_due(&w);
    let (_, p) = w.get(&format!("/v1/terminal/payments/{id2}"));
    assert_eq!(
        (p["status"].as_str(), p["declineCode"].as_str()),
        (Some("failed"), Some("communication_error")),
        "{p}"
    );
}

#[test]
fn a_sync_wait_that_runs_out_answers_202_with_the_payment_as_it_stands() {
    let w = world();
    let (tid, _dev) = connected_terminal(&w);
    let key = "sync-1";
    let (s, p, _) = w.call(
        "POST",
        "/v1/terminal/payments",
        &w.sk,
        &format!("terminalId={tid}&amount=1000&currency=EUR&responseMode=sync"),
        &[("idempotency-key", key)],
    );
    assert_eq!((s, p["status"].as_str()), (202, Some("pending")), "{p}");
    let (s2, p2, r) = w.call(
        "POST",
        "/v1/terminal/payments",
        &w.sk,
        &format!("terminalId={tid}&amount=1000&currency=EUR&responseMode=sync"),
        &[("idempotency-key", key)],
    );
    assert_eq!((s2, &p2), (202, &p));
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    let _: Value = p2;
}

#[test]
fn simulate_delay_in_the_query_beside_a_json_body() {
    let w = world();
    let body = r#"{"terminalId":"term_test_simulator","amount":2500,"currency":"USD"}"#;
    let (s, p, _) = w.call(
        "POST",
        "/v1/terminal/payments?simulateDelay=30",
        &w.sk,
        body,
        &[("content-type", "application/json")],
    );
    assert_eq!((s, p["simulateDelay"].as_i64()), (202, Some(30)), "{p}");
    let (s, e, _) = w.call(
        "POST",
        "/v1/terminal/payments?simulateDelay=601",
        &w.sk,
        body,
        &[("content-type", "application/json")],
    );
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("simulateDelay")), "{e}");
}
