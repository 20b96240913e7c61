//! Live keys: customers and payment methods work, payments are refused (no acquirer connection),
//! test cards are refused.

use vinr_conformance::*;

#[test]
fn live_payment_is_refused_and_nothing_is_created() {
    let rt = shared();
    let live = &rt.live_secret_key;
    // A Luhn-valid card that is not a test card is accepted in live mode...
    let pm = rt
        .post("/v1/payment_methods")
        .key(live)
        .form("card[number]=4111111111111111&card[exp_month]=12&card[exp_year]=2034&card[cvc]=123")
        .send()
        .ok();
    assert_eq!(pm["livemode"], true, "{pm}");
    assert_eq!(pm["card"]["last4"], "1111");
    let pm_id = id_of(&pm);
    // ...but no payment can be made with it.
    let e = rt
        .post("/v1/payments")
        .key(live)
        .form(&format!("amount=5000&currency=EUR&payment_method={pm_id}"))
        .send()
        .err(403, "live_processing_unavailable");
    assert!(
        e["type"] == "permission_error" || e["type"] == "invalid_request_error",
        "{e}"
    );
    let e = rt
        .post("/v1/payments")
        .key(live)
        .json(&json!({"amount": 5000, "currency": "EUR", "payment_method": pm_id}))
        .send()
        .err(403, "live_processing_unavailable");
    assert!(e["message"].as_str().is_some());
    let l = rt.get("/v1/payments").key(live).send().ok();
    assert_eq!(l["data"], json!([]), "a refused live payment left an object: {l}");
}

#[test]
fn test_card_with_live_key() {
    let rt = shared();
    let live = &rt.live_secret_key;
    rt.post("/v1/payment_methods")
        .key(live)
        .form("card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034")
        .send()
        .err_param(400, "test_card_in_live_mode", "card[number]");
    // A predefined test payment method with a live key is refused too (never a fake success).
    let r = rt
        .post("/v1/payments")
        .key(live)
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send();
    r.err_param(400, "test_card_in_live_mode", "payment_method");
    let c = id_of(&rt.post("/v1/customers").key(live).send().ok());
    let r = rt
        .post("/v1/payment_methods/pm_card_visa/attach")
        .key(live)
        .form(&format!("customer={c}"))
        .send();
    r.err(400, "test_card_in_live_mode");
}

#[test]
fn settings_are_per_environment() {
    // The payout schedule: a sandbox key changes the sandbox's only (security review M5).
    let rt = shared();
    let live = &rt.live_secret_key;
    let schedule = |key: &str| rt.get("/v1/payouts/schedule").key(key).send().ok()["interval"].clone();
    rt.post("/v1/payouts/schedule")
        .key(live)
        .form("interval=weekly")
        .send()
        .ok();
    for sandbox in ["manual", "monthly"] {
        rt.post("/v1/payouts/schedule")
            .form(&format!("interval={sandbox}"))
            .send()
            .ok();
        assert_eq!(schedule(&rt.secret_key), sandbox);
        assert_eq!(schedule(live), "weekly", "the sandbox changed the live schedule");
    }
}
