//! /v1/payment_methods: create (card checks), retrieve, list, attach, detach.

use vinr_conformance::*;

const VISA: &str = "card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034&card[cvc]=123";

#[test]
fn create_card_form_stores_no_number() {
    let rt = shared();
    let r = rt
        .post("/v1/payment_methods")
        .form(&format!("type=card&{VISA}&billing_details[name]=Jane&metadata[k]=v"))
        .send();
    let pm = r.ok();
    let id = assert_id(&pm["id"], "pm_");
    assert_eq!(pm["object"], "payment_method");
    assert_eq!(pm["type"], "card");
    assert_eq!(pm["card"]["brand"], "visa");
    assert_eq!(pm["card"]["last4"], "4242");
    assert_eq!(pm["card"]["exp_month"], 12);
    assert_eq!(pm["card"]["exp_year"], 2034);
    assert_eq!(pm["card"]["funding"], "credit");
    assert!(
        pm["card"]["fingerprint"].as_str().is_some_and(|f| !f.is_empty()),
        "{pm}"
    );
    assert_eq!(pm["billing_details"]["name"], "Jane");
    assert_eq!(pm["metadata"], json!({"k": "v"}));
    assert!(pm["customer"].is_null(), "{pm}");
    assert_eq!(pm["livemode"], false);
    assert_created(&pm);
    let text = r.text();
    assert!(
        !text.contains("4242424242424242") && !text.contains("\"cvc\"") && !text.contains("\"number\""),
        "number or CVC returned{}",
        r.show()
    );
    let g = rt.get(&format!("/v1/payment_methods/{id}")).send();
    assert_eq!(g.ok(), pm);
    assert!(!g.text().contains("4242424242424242"), "{}", g.show());
    // It can pay.
    let p = create_payment(rt, &format!("amount=5000&currency=EUR&payment_method={id}"));
    assert_eq!(p["status"], "succeeded");
}

#[test]
fn create_card_json_and_fingerprints() {
    let rt = shared();
    let mk = |number: &str| {
        rt.post("/v1/payment_methods")
            .json(&json!({"type": "card", "card": {"number": number, "exp_month": 1, "exp_year": 2033, "cvc": "1234"}}))
            .send()
            .ok()
    };
    let a = mk("5555555555554444");
    let b = mk("5555 5555 5555 4444".replace(' ', "").as_str());
    let c = mk("4000056655665556");
    assert_eq!(a["card"]["brand"], "mastercard");
    assert_eq!(c["card"]["funding"], "debit");
    assert_ne!(a["id"], b["id"]);
    assert_eq!(
        a["card"]["fingerprint"], b["card"]["fingerprint"],
        "same card, same fingerprint"
    );
    assert_ne!(
        a["card"]["fingerprint"], c["card"]["fingerprint"],
        "different cards, different fingerprints"
    );
    let amex = mk("378282246310005");
    assert_eq!(amex["card"]["brand"], "amex");
    assert_eq!(amex["card"]["last4"], "0005");
}

#[test]
fn card_checks() {
    let rt = shared();
    let post = |form: &str| rt.post("/v1/payment_methods").form(form).send();
    post("card[number]=4242424242424241&card[exp_month]=12&card[exp_year]=2034").err_param(
        400,
        "card_number_invalid",
        "card[number]",
    );
    let r = post("card[number]=4242424242424242&card[exp_month]=1&card[exp_year]=2020");
    let e = r.err(400, "card_expired");
    assert!(
        matches!(e["param"].as_str(), Some("card[exp_year]" | "card[exp_month]")),
        "{}",
        r.show()
    );
    let r = post("card[number]=4242424242424242&card[exp_month]=13&card[exp_year]=2034");
    r.err_in(
        &[400],
        &["parameter_invalid", "parameter_invalid_integer", "invalid_expiry_month"],
    );
    assert_eq!(r.json()["error"]["param"], "card[exp_month]", "{}", r.show());
    let r = post("card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034&card[cvc]=12");
    r.err_in(&[400], &["parameter_invalid", "invalid_cvc"]);
    assert_eq!(r.json()["error"]["param"], "card[cvc]", "{}", r.show());
    // A Luhn-valid number that is not a documented test card.
    post("card[number]=4111111111111111&card[exp_month]=12&card[exp_year]=2034").err_param(
        400,
        "test_card_required",
        "card[number]",
    );
    post("card[exp_month]=12&card[exp_year]=2034").err_param(400, "parameter_missing", "card[number]");
    post("card[number]=4242424242424242&card[exp_year]=2034").err_param(400, "parameter_missing", "card[exp_month]");
    post("card[number]=4242424242424242&card[exp_month]=12").err_param(400, "parameter_missing", "card[exp_year]");
    let r = post(&format!("type=sepa_debit&{VISA}"));
    r.err_in(&[400], &["parameter_invalid", "payment_method_type_unsupported"]);
    assert_eq!(r.json()["error"]["param"], "type", "{}", r.show());
    post(&format!("{VISA}&card[color]=red")).err_param(400, "parameter_unknown", "card[color]");
}

#[test]
fn attach_detach_and_list_by_customer() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let pm = rt.post("/v1/payment_methods").form(VISA).send().ok();
    let pm_id = id_of(&pm);
    let a = rt
        .post(&format!("/v1/payment_methods/{pm_id}/attach"))
        .form(&format!("customer={cust}"))
        .send()
        .ok();
    assert_eq!(a["id"], pm_id.as_str());
    assert_eq!(a["customer"], cust.as_str());
    // Attaching a predefined test method creates a new pm_ copy.
    let copy = rt
        .post("/v1/payment_methods/pm_card_amex/attach")
        .json(&json!({"customer": cust}))
        .send()
        .ok();
    let copy_id = assert_id(&copy["id"], "pm_");
    assert_ne!(copy_id, "pm_card_amex");
    assert_eq!(copy["customer"], cust.as_str());
    assert_eq!(copy["card"]["brand"], "amex");

    let l = rt.get(&format!("/v1/payment_methods?customer={cust}")).send().ok();
    assert_eq!(ids(&l), vec![copy_id.clone(), pm_id.clone()], "newest first: {l}");
    assert_eq!(l["has_more"], false);
    assert_eq!(l["url"], "/v1/payment_methods");

    let d = rt.post(&format!("/v1/payment_methods/{pm_id}/detach")).send().ok();
    assert_eq!(d["id"], pm_id.as_str());
    assert!(d["customer"].is_null(), "{d}");
    assert_eq!(
        rt.get(&format!("/v1/payment_methods/{pm_id}")).send().ok()["customer"],
        Value::Null
    );
    let l = rt.get(&format!("/v1/payment_methods?customer={cust}")).send().ok();
    assert_eq!(ids(&l), vec![copy_id], "{l}");

    rt.post(&format!("/v1/payment_methods/{pm_id}/attach"))
        .send()
        .err_param(400, "parameter_missing", "customer");
    let r = rt
        .post(&format!("/v1/payment_methods/{pm_id}/attach"))
        .form("customer=cust_000000000000000000000000")
        .send();
    let e = r.err_in(&[400, 404], &["resource_missing"]);
    assert_eq!(e["param"], "customer", "{}", r.show());
    rt.get("/v1/payment_methods/pm_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
}

#[test]
fn create_with_customer_attaches() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let pm = rt
        .post("/v1/payment_methods")
        .form(&format!("{VISA}&customer={cust}"))
        .send()
        .ok();
    assert_eq!(pm["customer"], cust.as_str());
    let p = create_payment(rt, &format!("amount=5000&currency=EUR&payment_method={}", id_of(&pm)));
    assert_eq!(p["customer"], cust.as_str(), "{p}");
}
