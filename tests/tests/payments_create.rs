//! POST /v1/payments, GET /v1/payments/:id, GET /v1/charges/:id.

use vinr_conformance::*;

#[test]
fn create_form_succeeds_with_full_object() {
    let rt = shared();
    let r = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&description=Order%201&metadata[order]=A1")
        .send();
    let p = r.ok();
    let id = assert_id(&p["id"], "pay_");
    assert_eq!(p["object"], "payment");
    assert_eq!(p["amount"], 5000);
    assert_eq!(p["amount_authorized"], 5000);
    assert_eq!(p["amount_capturable"], 0);
    assert_eq!(p["amount_received"], 5000);
    assert_eq!(p["amount_reversed"], 0);
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["capture_method"], "automatic");
    assert_eq!(p["payment_method"], "pm_card_visa");
    assert_eq!(p["description"], "Order 1");
    assert_eq!(p["metadata"], json!({"order": "A1"}));
    assert_eq!(p["livemode"], false);
    assert!(p["customer"].is_null(), "{p}");
    assert!(p["last_payment_error"].is_null(), "{p}");
    assert!(p["next_action"].is_null(), "{p}");
    assert_eq!(p["routing"]["acquirer"], "acq_eu_1", "default acquirer for EUR: {p}");
    assert_created(&p);
    let ch = assert_id(&p["latest_charge"], "ch_");
    for field in [
        "return_url",
        "on_behalf_of",
        "statement_descriptor",
        "adjustment",
        "reversal",
        "canceled_at",
        "cancellation_reason",
    ] {
        assert!(p.get(field).is_some(), "payment lacks field {field}: {p}");
    }
    // Retrieve answers the same object.
    assert_eq!(get_payment(rt, &id), p);
    // The charge.
    let c = rt.get(&format!("/v1/charges/{ch}")).send().ok();
    assert_eq!(c["id"], ch.as_str());
    assert_eq!(c["object"], "charge");
    assert_eq!(c["payment"], id.as_str());
    assert_eq!(c["amount"], 5000);
    assert_eq!(c["amount_captured"], 5000);
    assert_eq!(c["currency"], "EUR");
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["captured"], true);
    assert_eq!(c["acquirer"], "acq_eu_1");
    assert!(c["authorization_code"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
    assert_eq!(c["payment_method_details"]["type"], "card");
    assert_eq!(c["payment_method_details"]["card"]["brand"], "visa");
    assert_eq!(c["payment_method_details"]["card"]["last4"], "4242");
    assert_eq!(c["livemode"], false);
    assert_created(&c);
}

#[test]
fn create_json_and_lowercase_currency() {
    let rt = shared();
    let p = rt
        .post("/v1/payments")
        .json(
            &json!({"amount": 1234, "currency": "usd", "payment_method": "pm_card_mastercard", "metadata": {"k": "v"}}),
        )
        .send()
        .ok();
    assert_id(&p["id"], "pay_");
    assert_eq!(p["currency"], "USD");
    assert_eq!(p["amount"], 1234);
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["metadata"], json!({"k": "v"}));
    assert_eq!(p["routing"]["acquirer"], "acq_us_1", "default acquirer for USD: {p}");
}

#[test]
fn body_without_content_type_is_sniffed() {
    let rt = shared();
    let j = rt
        .post("/v1/payments")
        .body(
            None,
            br#"{"amount":700,"currency":"EUR","payment_method":"pm_card_visa"}"#,
        )
        .send()
        .ok();
    assert_eq!(
        (j["amount"].as_i64(), j["status"].as_str()),
        (Some(700), Some("succeeded")),
        "{j}"
    );
    let f = rt
        .post("/v1/payments")
        .body(None, b"amount=800&currency=EUR&payment_method=pm_card_visa")
        .send()
        .ok();
    assert_eq!(
        (f["amount"].as_i64(), f["status"].as_str()),
        (Some(800), Some("succeeded")),
        "{f}"
    );
}

#[test]
fn manual_capture_method_and_seed000_capture_false() {
    let rt = shared();
    let p = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&capture_method=manual")
        .send()
        .ok();
    assert_eq!(p["status"], "requires_capture");
    assert_eq!(p["capture_method"], "manual");
    assert_eq!(p["amount_authorized"], 5000);
    assert_eq!(p["amount_capturable"], 5000);
    assert_eq!(p["amount_received"], 0);
    let c = rt
        .get(&format!("/v1/charges/{}", p["latest_charge"].as_str().unwrap()))
        .send()
        .ok();
    assert_eq!(c["captured"], false, "{c}");
    assert_eq!(c["amount_captured"], 0, "{c}");

    let q = rt
        .post("/v1/payments")
        .json(&json!({"amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "capture": false}))
        .send()
        .ok();
    assert_eq!(q["status"], "requires_capture", "capture:false means manual: {q}");
    assert_eq!(q["capture_method"], "manual");
    let q = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&capture=true")
        .send()
        .ok();
    assert_eq!(q["status"], "succeeded", "{q}");
    assert_eq!(q["capture_method"], "automatic");
}

#[test]
fn conflicting_capture_and_capture_method_is_400() {
    let rt = shared();
    let r = rt
        .post("/v1/payments")
        .json(&json!({"amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "capture": false, "capture_method": "automatic"}))
        .send();
    let e = r.err_any(400, &["parameter_invalid", "parameters_conflict", "parameter_conflict"]);
    let param = e["param"].as_str().unwrap_or_default();
    assert!(
        param == "capture" || param == "capture_method",
        "param should name capture/capture_method{}",
        r.show()
    );
    let r = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&capture_method=later")
        .send();
    r.err_any(
        400,
        &[
            "parameter_invalid",
            "parameter_invalid_enum",
            "parameter_invalid_string",
        ],
    );
    assert_eq!(r.json()["error"]["param"], "capture_method", "{}", r.show());
}

#[test]
fn return_url_and_seed000_return_url_alias() {
    let rt = shared();
    let p = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&return_url=https%3A%2F%2Fshop.example%2Fdone")
        .send()
        .ok();
    assert_eq!(p["return_url"], "https://shop.example/done");
    let p = rt
        .post("/v1/payments")
        .json(&json!({"amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "returnUrl": "https://shop.example/r"}))
        .send()
        .ok();
    assert_eq!(
        p["return_url"], "https://shop.example/r",
        "returnUrl is accepted as return_url: {p}"
    );
    rt.post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&return_url=javascript%3Aalert(1)")
        .send()
        .err_param(400, "url_invalid", "return_url");
}

#[test]
fn declined_cards_fail_with_decline_codes() {
    let rt = shared();
    for (pm, decline) in [
        ("pm_card_declined", "card_declined"),
        ("pm_card_insufficient_funds", "insufficient_funds"),
        ("pm_card_expired", "expired_card"),
        ("pm_card_lost_or_stolen", "lost_or_stolen"),
    ] {
        let p = rt
            .post("/v1/payments")
            .form(&format!("amount=5000&currency=EUR&payment_method={pm}"))
            .send()
            .ok();
        assert_eq!(p["status"], "failed", "{pm}: {p}");
        assert_eq!(p["amount_received"], 0, "{pm}: {p}");
        let e = &p["last_payment_error"];
        assert_eq!(e["type"], "card_error", "{pm}: {p}");
        assert_eq!(e["code"], "card_declined", "{pm}: {p}");
        assert_eq!(e["decline_code"], decline, "{pm}: {p}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{pm}: {p}");
        let ch = assert_id(&p["latest_charge"], "ch_");
        let c = rt.get(&format!("/v1/charges/{ch}")).send().ok();
        assert_eq!(c["status"], "failed", "{pm}: {c}");
        assert_eq!(c["failure_code"], decline, "{pm}: {c}");
        assert_eq!(c["captured"], false, "{pm}: {c}");
        assert_eq!(c["outcome"]["decline_code"], decline, "{pm}: {c}");
    }
}

#[test]
fn approved_cards() {
    let rt = shared();
    for (pm, brand, last4) in [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_visa_debit", "visa", "5556"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_amex", "amex", "0005"),
    ] {
        let p = rt
            .post("/v1/payments")
            .form(&format!("amount=5000&currency=EUR&payment_method={pm}"))
            .send()
            .ok();
        assert_eq!(p["status"], "succeeded", "{pm}: {p}");
        let c = rt
            .get(&format!("/v1/charges/{}", p["latest_charge"].as_str().unwrap()))
            .send()
            .ok();
        assert_eq!(c["payment_method_details"]["card"]["brand"], brand, "{pm}: {c}");
        assert_eq!(c["payment_method_details"]["card"]["last4"], last4, "{pm}: {c}");
    }
    let p = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa_debit")
        .send()
        .ok();
    let c = rt
        .get(&format!("/v1/charges/{}", p["latest_charge"].as_str().unwrap()))
        .send()
        .ok();
    assert_eq!(c["payment_method_details"]["card"]["funding"], "debit", "{c}");
}

#[test]
fn threeds_requires_action() {
    let rt = shared();
    let p = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_threeds")
        .send()
        .ok();
    assert_eq!(p["status"], "requires_action");
    assert!(p["next_action"].is_object(), "next_action describes the challenge: {p}");
    assert_eq!(p["amount_received"], 0);
}

#[test]
fn routing_preferred_acquirer() {
    let rt = shared();
    let p = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&routing[preferred_acquirer]=acq_eu_2")
        .send()
        .ok();
    assert_eq!(p["routing"]["preferred_acquirer"], "acq_eu_2", "{p}");
    assert_eq!(p["routing"]["acquirer"], "acq_eu_2", "{p}");
    let p = rt
        .post("/v1/payments")
        .json(&json!({"amount": 5000, "currency": "GBP", "payment_method": "pm_card_visa", "routing": {"preferred_acquirer": "acq_uk_1"}}))
        .send()
        .ok();
    assert_eq!(p["routing"]["acquirer"], "acq_uk_1", "{p}");
    let p = create_payment(rt, "amount=5000&currency=JPY&payment_method=pm_card_visa");
    assert_eq!(
        p["routing"]["acquirer"], "acq_global_1",
        "only acq_global_1 settles JPY: {p}"
    );
    rt.post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&routing[preferred_acquirer]=acq_mars_1")
        .send()
        .err_param(400, "acquirer_unknown", "routing[preferred_acquirer]");
    rt.post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&routing[preferred_acquirer]=acq_us_1")
        .send()
        .err_param(400, "acquirer_currency_unsupported", "routing[preferred_acquirer]");
}

#[test]
fn statement_descriptor_and_on_behalf_of() {
    let rt = shared();
    let p = create_payment(
        rt,
        "amount=5000&currency=EUR&payment_method=pm_card_visa&statement_descriptor=VINR%20SHOP",
    );
    assert_eq!(p["statement_descriptor"], "VINR SHOP");
    rt.post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&statement_descriptor=ABCD")
        .send()
        .err_param(400, "statement_descriptor_invalid", "statement_descriptor");
    rt.post("/v1/payments")
        .form(&format!(
            "amount=5000&currency=EUR&payment_method=pm_card_visa&statement_descriptor={}",
            "A".repeat(23)
        ))
        .send()
        .err_param(400, "statement_descriptor_invalid", "statement_descriptor");
    // The caller's own connected account is accepted.
    let p = create_payment(
        rt,
        &format!(
            "amount=5000&currency=EUR&payment_method=pm_card_visa&on_behalf_of={}",
            rt.connected_account
        ),
    );
    assert_eq!(p["on_behalf_of"], rt.connected_account.as_str(), "{p}");
    // Another tenant's account answers exactly as an id that exists nowhere: the check tells
    // nothing about who else is on the platform (security review L2).
    let refusal = |account: &str| {
        let r = rt
            .post("/v1/payments")
            .form(&format!(
                "amount=5000&currency=EUR&payment_method=pm_card_visa&on_behalf_of={account}"
            ))
            .send();
        let mut e = r.err_param(400, "resource_missing", "on_behalf_of");
        e["message"] = e["message"]
            .as_str()
            .unwrap_or_default()
            .replace(account, "ACCOUNT")
            .into();
        e
    };
    assert_eq!(refusal(&rt.b_account), refusal("acct_000000000000000000000000"));
    // Nor can an account name its own id.
    refusal(&rt.account);
}

#[test]
fn customer_default_payment_method_and_mismatch() {
    let rt = shared();
    // A customer created with a payment method: it is attached and becomes the default.
    let c = rt
        .post("/v1/customers")
        .form("email=dpm%40example.com&payment_method=pm_card_mastercard")
        .send()
        .ok();
    let cust = id_of(&c);
    let dpm = assert_id(&c["default_payment_method"], "pm_");
    let p = create_payment(rt, &format!("amount=5000&currency=EUR&customer={cust}"));
    assert_eq!(
        p["payment_method"],
        dpm.as_str(),
        "payment_method defaults to the customer's: {p}"
    );
    assert_eq!(p["customer"], cust.as_str());
    assert_eq!(p["status"], "succeeded");
    // A payment method attached to a customer implies that customer.
    let p = create_payment(rt, &format!("amount=5000&currency=EUR&payment_method={dpm}"));
    assert_eq!(p["customer"], cust.as_str(), "attached pm implies its customer: {p}");
    // ...and a different customer is refused.
    let other = id_of(&create_customer(rt));
    rt.post("/v1/payments")
        .form(&format!(
            "amount=5000&currency=EUR&payment_method={dpm}&customer={other}"
        ))
        .send()
        .err(400, "payment_method_customer_mismatch");
    // No payment method and no default: the parameter is missing.
    rt.post("/v1/payments")
        .form(&format!("amount=5000&currency=EUR&customer={other}"))
        .send()
        .err_param(400, "parameter_missing", "payment_method");
    rt.post("/v1/payments")
        .form("amount=5000&currency=EUR")
        .send()
        .err_param(400, "parameter_missing", "payment_method");
}

#[test]
fn unknown_references_are_refused() {
    let rt = shared();
    let r = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_000000000000000000000000")
        .send();
    let e = r.err_in(&[400, 404], &["resource_missing"]);
    assert_eq!(e["param"], "payment_method", "{}", r.show());
    let r = rt
        .post("/v1/payments")
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa&customer=cust_000000000000000000000000")
        .send();
    let e = r.err_in(&[400, 404], &["resource_missing"]);
    assert_eq!(e["param"], "customer", "{}", r.show());
    rt.get("/v1/payments/pay_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
    rt.get("/v1/charges/ch_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
}

#[test]
fn expand_customer_and_latest_charge() {
    let rt = shared();
    let c = create_customer(rt);
    let cust = id_of(&c);
    let p = rt
        .post("/v1/payments")
        .form(&format!(
            "amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}&expand[]=customer"
        ))
        .send()
        .ok();
    assert_eq!(p["customer"]["id"], cust.as_str(), "expand[]=customer at create: {p}");
    assert_eq!(p["customer"]["object"], "customer");
    let id = id_of(&p);
    let g = rt
        .get(&format!("/v1/payments/{id}?expand[]=customer&expand[]=latest_charge"))
        .send()
        .ok();
    assert_eq!(g["customer"]["email"], c["email"], "{g}");
    assert_eq!(g["latest_charge"]["object"], "charge", "{g}");
    assert_eq!(g["latest_charge"]["payment"], id.as_str(), "{g}");
    // Not expanded: ids.
    let g = get_payment(rt, &id);
    assert_eq!(g["customer"], cust.as_str());
    assert!(g["latest_charge"].is_string(), "{g}");
    rt.get(&format!("/v1/payments/{id}?expand[]=nonsense"))
        .send()
        .err_param(400, "parameter_invalid", "expand");
}
