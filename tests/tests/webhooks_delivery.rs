//! Webhook delivery end to end: `vinr dev` (with `VINR_RETRY_SCALE=0.001`, so the retry schedule
//! runs a thousand times faster) POSTs events to a real HTTP receiver on loopback.

use std::time::Duration;

use vinr_conformance::receiver::now_ms;
use vinr_conformance::webhooks::{delivery_until, endpoint, event_for};
use vinr_conformance::*;
use vinr_shared::webhooks::signature::{self, VerifyError};

const SCALE: (&str, &str) = ("VINR_RETRY_SCALE", "0.001");
const WAIT: Duration = Duration::from_secs(15);

fn runtime() -> Runtime {
    start_with_env(&[SCALE])
}

fn hits_of(rx: &Receiver, evt: &str, n: usize) -> Vec<Hit> {
    rx.wait_for(n, WAIT, |h| h.event_id().as_deref() == Some(evt))
}

#[test]
fn payment_event_is_delivered_signed_and_the_signature_checks_body_and_time() {
    let rt = runtime();
    let rx = Receiver::start(vec![200]);
    let (we, secret) = endpoint(&rt, &rt.secret_key, &rx.url(), &["payment.succeeded"]);
    let pay = succeeded_payment(&rt);
    let created_at = now_ms();
    let evt = event_for(&rt, &rt.secret_key, "payment.succeeded", &id_of(&pay));
    let evt_id = assert_id(&evt["id"], "evt_");

    let hits = hits_of(&rx, &evt_id, 1);
    assert_eq!(hits.len(), 1, "the receiver got the event (log: {:?})", rt.log_path());
    let h = &hits[0];
    eprintln!(
        "payment response -> webhook received: {} ms",
        h.received_ms - created_at
    );
    assert_eq!(h.method, "POST");
    assert_eq!(h.header("content-type"), Some("application/json"));
    assert_eq!(h.header("x-vinr-event-id"), Some(evt_id.as_str()));
    assert!(
        h.header("x-vinr-delivery-id").is_some_and(|d| d.starts_with("wd_")),
        "{h:?}"
    );
    let body = h.json();
    assert_eq!(body["id"], evt_id.as_str());
    assert_eq!(body["type"], "payment.succeeded");
    assert_eq!(body["data"]["id"], pay["id"]);
    assert_eq!(body, evt, "the body is the event as the API shows it");

    let sig = h.header("x-vinr-signature").expect("signature header");
    let now = now_ms() / 1000;
    assert_eq!(
        signature::verify(&secret, sig, &h.body, now, signature::DEFAULT_TOLERANCE_SECS),
        Ok(())
    );
    let mut tampered = h.body.clone();
    let pos = tampered
        .iter()
        .position(|&b| b == b'5')
        .expect("the amount 5000 is in the body");
    tampered[pos] = b'6';
    assert_eq!(
        signature::verify(&secret, sig, &tampered, now, 300),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        signature::verify(&secret, sig, &h.body, now + 301, 300),
        Err(VerifyError::Stale)
    );
    assert_eq!(
        signature::verify("whsec_wrong", sig, &h.body, now, 300),
        Err(VerifyError::Mismatch)
    );

    let d = delivery_until(&rt, &rt.secret_key, &we, &evt_id, |d| d["status"] != "pending");
    assert_eq!(d["status"], "succeeded", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_status_code"], 200, "{d}");
}

#[test]
fn failing_receiver_gets_the_same_event_three_times_then_succeeds() {
    let rt = runtime();
    let rx = Receiver::start(vec![500, 500, 200]);
    let (we, secret) = endpoint(&rt, &rt.secret_key, &rx.url(), &["payment.succeeded"]);
    let pay = succeeded_payment(&rt);
    let evt_id = id_of(&event_for(&rt, &rt.secret_key, "payment.succeeded", &id_of(&pay)));

    let hits = hits_of(&rx, &evt_id, 3);
    assert_eq!(hits.iter().map(|h| h.answered).collect::<Vec<_>>(), vec![500, 500, 200]);
    for h in &hits {
        assert_eq!(h.event_id().as_deref(), Some(evt_id.as_str()));
        assert_eq!(h.header("x-vinr-event-id"), Some(evt_id.as_str()));
        assert_eq!(
            h.header("x-vinr-delivery-id"),
            hits[0].header("x-vinr-delivery-id"),
            "one delivery, retried"
        );
        assert_eq!(h.body, hits[0].body, "the same bytes each time");
        assert_eq!(
            signature::verify(
                &secret,
                h.header("x-vinr-signature").unwrap(),
                &h.body,
                now_ms() / 1000,
                300
            ),
            Ok(())
        );
    }
    let d = delivery_until(&rt, &rt.secret_key, &we, &evt_id, |d| d["status"] != "pending");
    assert_eq!(d["status"], "succeeded", "{d}");
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["last_status_code"], 200, "{d}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        rx.hits()
            .iter()
            .filter(|h| h.event_id().as_deref() == Some(evt_id.as_str()))
            .count(),
        3,
        "exactly three"
    );
}

#[test]
fn receiver_down_across_a_restart_still_gets_the_event() {
    let mut rt = runtime();
    let rx = Receiver::start(vec![200]);
    let port = rx.port;
    let (we, secret) = endpoint(&rt, &rt.secret_key, &rx.url(), &["payment.succeeded"]);
    rx.stop();
    let pay = succeeded_payment(&rt);
    let evt_id = id_of(&event_for(&rt, &rt.secret_key, "payment.succeeded", &id_of(&pay)));
    // At least one attempt failed (connection refused) before the restart.
    let d = delivery_until(&rt, &rt.secret_key, &we, &evt_id, |d| {
        d["attempts"].as_i64().unwrap_or(0) >= 1
    });
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["last_status_code"], Value::Null, "{d}");
    assert!(d["last_error"].is_string(), "{d}");

    rt.restart();
    let rx = Receiver::start_on(port, vec![200]);
    // The restart may kill a sender between its lease and its answer (the runtime retries in
    // place while the receiver is down); that delivery is due again when its lease runs out:
    // attempt timeout + margin, 35 s. At least once, possibly that late.
    let lease = Duration::from_millis(
        vinr_shared::webhooks::retry::ATTEMPT_TIMEOUT_MS + vinr_shared::webhooks::delivery::LEASE_MARGIN_MS as u64,
    );
    let hits = rx.wait_for(1, WAIT + lease, |h| h.event_id().as_deref() == Some(evt_id.as_str()));
    assert_eq!(hits.len(), 1, "delivered after the restart (log: {:?})", rt.log_path());
    assert_eq!(
        signature::verify(
            &secret,
            hits[0].header("x-vinr-signature").unwrap(),
            &hits[0].body,
            now_ms() / 1000,
            300
        ),
        Ok(())
    );
    let d = delivery_until(&rt, &rt.secret_key, &we, &evt_id, |d| d["status"] != "pending");
    assert_eq!(d["status"], "succeeded", "{d}");
    assert!(d["attempts"].as_i64().unwrap() >= 2, "{d}");
}

#[test]
fn events_of_one_account_never_reach_another_accounts_endpoint() {
    let rt = runtime();
    let rx_a = Receiver::start(vec![200]);
    let rx_b = Receiver::start(vec![200]);
    endpoint(&rt, &rt.secret_key, &rx_a.url(), &["*"]);
    endpoint(&rt, &rt.b_secret_key, &rx_b.url(), &["*"]);

    let pay_b = rt
        .post("/v1/payments")
        .key(&rt.b_secret_key)
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send()
        .ok();
    let evt_b = id_of(&event_for(&rt, &rt.b_secret_key, "payment.succeeded", &id_of(&pay_b)));
    let pay_a = succeeded_payment(&rt);
    let evt_a = id_of(&event_for(&rt, &rt.secret_key, "payment.succeeded", &id_of(&pay_a)));

    assert_eq!(hits_of(&rx_b, &evt_b, 1).len(), 1, "B's endpoint gets B's event");
    assert_eq!(hits_of(&rx_a, &evt_a, 1).len(), 1, "A's endpoint gets A's event");
    std::thread::sleep(Duration::from_millis(300));
    for h in rx_a.hits() {
        assert_ne!(h.json()["data"]["id"], pay_b["id"], "B's payment reached A: {h:?}");
        assert_ne!(h.event_id().as_deref(), Some(evt_b.as_str()));
    }
    for h in rx_b.hits() {
        assert_ne!(h.json()["data"]["id"], pay_a["id"], "A's payment reached B: {h:?}");
        assert_ne!(h.event_id().as_deref(), Some(evt_a.as_str()));
    }
}

#[test]
fn endpoints_get_only_the_event_types_they_subscribe_to() {
    let rt = runtime();
    let rx = Receiver::start(vec![200]);
    endpoint(&rt, &rt.secret_key, &rx.url(), &["payment.failed"]);
    let ok = succeeded_payment(&rt);
    let failed = failed_payment(&rt);
    let evt_failed = id_of(&event_for(&rt, &rt.secret_key, "payment.failed", &id_of(&failed)));

    let hits = hits_of(&rx, &evt_failed, 1);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].json()["type"], "payment.failed");
    std::thread::sleep(Duration::from_millis(300));
    for h in rx.hits() {
        assert_eq!(h.json()["type"], "payment.failed", "{h:?}");
        assert_ne!(
            h.json()["data"]["id"],
            ok["id"],
            "the succeeded payment's event was not subscribed to"
        );
    }
}
