//! Idempotency-Key (and x-idempotency-key, and seed 000's idempotencyKey body field).

use vinr_conformance::*;

fn payments_of(rt: &Runtime, cust: &str) -> Vec<String> {
    ids(&rt.get(&format!("/v1/payments?customer={cust}&limit=100")).send().ok())
}

#[test]
fn same_key_same_request_replays() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let key = uniq("idem");
    let body = format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}");
    let first = rt.post("/v1/payments").idem(&key).form(&body).send();
    let a = first.ok();
    assert!(
        !first.replayed(),
        "first response must not be marked replayed{}",
        first.show()
    );
    let second = rt.post("/v1/payments").idem(&key).form(&body).send();
    let b = second.ok();
    assert!(second.replayed(), "expected idempotent-replayed: true{}", second.show());
    assert_eq!(a, b, "replay must be the stored response");
    assert_ne!(first.header("request-id"), None);
    assert_eq!(payments_of(rt, &cust), vec![id_of(&a)], "exactly one payment");
}

#[test]
fn same_key_different_request_is_409() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let key = uniq("idem");
    let a = rt
        .post("/v1/payments")
        .idem(&key)
        .form(&format!(
            "amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}"
        ))
        .send()
        .ok();
    rt.post("/v1/payments")
        .idem(&key)
        .form(&format!(
            "amount=5001&currency=EUR&payment_method=pm_card_visa&customer={cust}"
        ))
        .send()
        .err(409, "idempotency_key_reused");
    // Another path with the same key.
    rt.post("/v1/customers")
        .idem(&key)
        .form("name=x")
        .send()
        .err(409, "idempotency_key_reused");
    rt.post(&format!("/v1/payments/{}/capture", id_of(&a)))
        .idem(&key)
        .send()
        .err(409, "idempotency_key_reused");
    assert_eq!(payments_of(rt, &cust), vec![id_of(&a)]);
    // The original still replays.
    let r = rt
        .post("/v1/payments")
        .idem(&key)
        .form(&format!(
            "amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}"
        ))
        .send();
    assert_eq!(r.ok(), a);
    assert!(r.replayed());
}

#[test]
fn x_idempotency_key_header_and_body_field() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let key = uniq("xidem");
    let body = format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}");
    let a = rt
        .post("/v1/payments")
        .header("x-idempotency-key", &key)
        .form(&body)
        .send()
        .ok();
    let r = rt
        .post("/v1/payments")
        .header("x-idempotency-key", &key)
        .form(&body)
        .send();
    assert_eq!(r.ok()["id"], a["id"]);
    assert!(r.replayed(), "{}", r.show());
    // Seed 000: idempotencyKey in the body.
    let key2 = uniq("bodyidem");
    let j = json!({"amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "customer": cust, "idempotencyKey": key2});
    let b = rt.post("/v1/payments").json(&j).send().ok();
    let r = rt.post("/v1/payments").json(&j).send();
    assert_eq!(r.ok()["id"], b["id"], "idempotencyKey body field replays{}", r.show());
    assert!(r.replayed(), "{}", r.show());
    assert_eq!(payments_of(rt, &cust).len(), 2);
}

#[test]
fn keys_are_per_account() {
    let rt = shared();
    let key = uniq("acct");
    let body = "amount=5000&currency=EUR&payment_method=pm_card_visa";
    let a = rt.post("/v1/payments").idem(&key).form(body).send().ok();
    let r = rt
        .post("/v1/payments")
        .key(&rt.b_secret_key)
        .idem(&key)
        .form(body)
        .send();
    let b = r.ok();
    assert!(!r.replayed(), "account B got A's stored response{}", r.show());
    assert_ne!(a["id"], b["id"]);
    rt.get(&format!("/v1/payments/{}", id_of(&b)))
        .key(&rt.b_secret_key)
        .send()
        .ok();
}

#[test]
fn errors_are_replayed_too() {
    let rt = shared();
    let key = uniq("err");
    let e1 = rt
        .post("/v1/payments")
        .idem(&key)
        .form("amount=5000&currency=QQQ&payment_method=pm_card_visa")
        .send();
    e1.err_param(400, "currency_invalid", "currency");
    let e2 = rt
        .post("/v1/payments")
        .idem(&key)
        .form("amount=5000&currency=QQQ&payment_method=pm_card_visa")
        .send();
    e2.err_param(400, "currency_invalid", "currency");
    assert!(e2.replayed(), "4xx responses are stored and replayed{}", e2.show());
}

#[test]
fn transitions_are_idempotent() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let id = id_of(&p);
    let key = uniq("cap");
    let a = rt
        .post(&format!("/v1/payments/{id}/capture"))
        .idem(&key)
        .form("amount_to_capture=4000")
        .send()
        .ok();
    let r = rt
        .post(&format!("/v1/payments/{id}/capture"))
        .idem(&key)
        .form("amount_to_capture=4000")
        .send();
    assert_eq!(
        r.ok(),
        a,
        "a retried capture replays instead of failing on the new state"
    );
    assert!(r.replayed());
    assert_eq!(get_payment(rt, &id)["amount_received"], 4000);
    // Without the key the retry is a new request and the state forbids it.
    rt.post(&format!("/v1/payments/{id}/capture"))
        .form("amount_to_capture=4000")
        .send()
        .err(400, "payment_invalid_state");
}

#[test]
fn invalid_key() {
    let rt = shared();
    let r = rt
        .post("/v1/payments")
        .idem(&"k".repeat(300))
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send();
    r.err(400, "idempotency_key_invalid");
}

#[test]
fn secrets_shown_once_are_not_replayed() {
    // A webhook endpoint's secret and a terminal's device key are in the first answer only; a
    // replay answers the same object with them null (they are never stored for replays).
    let rt = shared();
    for (path, body, field) in [
        (
            "/v1/webhooks",
            "url=https://example.com/hook&enabled_events[]=*",
            "secret",
        ),
        ("/v1/terminals", "label=Counter", "deviceKey"),
    ] {
        let key = uniq("idem-secret");
        let first = rt.post(path).idem(&key).form(body).send().ok();
        assert!(first[field].as_str().is_some_and(|s| s.len() > 16), "{first}");
        let again = rt.post(path).idem(&key).form(body).send();
        assert!(again.replayed(), "{}", again.show());
        let again = again.ok();
        assert_eq!(again["id"], first["id"]);
        assert!(
            again[field].is_null(),
            "{path}: the replay showed the secret again: {again}"
        );
    }
}
