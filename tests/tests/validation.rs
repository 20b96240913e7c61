//! Bad input is a 4xx naming the parameter, never a 500; routes and methods; body limits.

use vinr_conformance::*;

fn create_json(rt: &Runtime, body: Value) -> Resp {
    rt.post("/v1/payments").json(&body).send()
}

fn create_form(rt: &Runtime, body: &str) -> Resp {
    rt.post("/v1/payments").form(body).send()
}

/// Asserts no payment was created by the refused requests (account A, sandbox, this customer).
fn none_for(rt: &Runtime, cust: &str) {
    let l = rt.get(&format!("/v1/payments?customer={cust}")).send().ok();
    assert_eq!(l["data"], json!([]), "a refused request created a payment: {l}");
}

#[test]
fn malformed_json() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let ct = Some("application/json");
    rt.post("/v1/payments")
        .body(ct, format!("{{\"amount\": 5000, \"customer\": \"{cust}\"").as_bytes())
        .send()
        .err(400, "invalid_json");
    rt.post("/v1/payments")
        .body(ct, b"[1,2]")
        .send()
        .err(400, "invalid_json");
    rt.post("/v1/payments")
        .body(ct, b"\"amount\"")
        .send()
        .err(400, "invalid_json");
    rt.post("/v1/payments")
        .body(ct, b"\xff\xfe{}")
        .send()
        .err(400, "invalid_json");
    rt.post("/v1/payments")
        .body(None, b"{nope")
        .send()
        .err(400, "invalid_json");
    none_for(rt, &cust);
}

#[test]
fn wrong_types_in_json() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let base = |k: &str, v: Value| {
        let mut b = json!({"amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "customer": cust});
        b[k] = v;
        b
    };
    create_json(rt, base("amount", json!("5000"))).err_param(400, "parameter_invalid_integer", "amount");
    create_json(rt, base("amount", json!(50.5))).err_param(400, "parameter_invalid_integer", "amount");
    create_json(rt, base("amount", json!(true))).err_param(400, "parameter_invalid_integer", "amount");
    create_json(rt, base("amount", json!(null))).err_in(&[400], &["parameter_invalid_integer", "parameter_missing"]);
    create_json(rt, base("currency", json!(978))).err_param(400, "parameter_invalid_string", "currency");
    create_json(rt, base("description", json!(["a"]))).err_param(400, "parameter_invalid_string", "description");
    create_json(rt, base("metadata", json!("x"))).err_param(400, "parameter_invalid_object", "metadata");
    create_json(rt, base("metadata", json!({"a": 5}))).err_param(400, "parameter_invalid_string", "metadata[a]");
    create_json(rt, base("capture", json!("maybe"))).err_param(400, "parameter_invalid_boolean", "capture");
    create_form(
        rt,
        &format!("amount=abc&currency=EUR&payment_method=pm_card_visa&customer={cust}"),
    )
    .err_param(400, "parameter_invalid_integer", "amount");
    create_form(
        rt,
        &format!("amount=50.5&currency=EUR&payment_method=pm_card_visa&customer={cust}"),
    )
    .err_param(400, "parameter_invalid_integer", "amount");
    none_for(rt, &cust);
}

#[test]
fn missing_fields() {
    let rt = shared();
    create_form(rt, "currency=EUR&payment_method=pm_card_visa").err_param(400, "parameter_missing", "amount");
    create_form(rt, "amount=5000&payment_method=pm_card_visa").err_param(400, "parameter_missing", "currency");
    create_json(rt, json!({})).err_in(&[400], &["parameter_missing"]);
    rt.post("/v1/payments").send().err(400, "parameter_missing");
}

#[test]
fn amounts() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let f = |amount: &str, cur: &str| {
        create_form(
            rt,
            &format!("amount={amount}&currency={cur}&payment_method=pm_card_visa&customer={cust}"),
        )
    };
    f("-100", "EUR").err_param(400, "amount_too_small", "amount");
    f("0", "EUR").err_param(400, "amount_too_small", "amount");
    f("49", "EUR").err_param(400, "amount_too_small", "amount");
    f("100000000", "EUR").err_param(400, "amount_too_large", "amount");
    // Past the API's integers (i64, or JSON's exact 2^53): either code, naming amount.
    for huge in ["9223372036854775807", "9223372036854775808", "99999999999999999999999"] {
        let r = f(huge, "EUR");
        r.err_in(&[400], &["parameter_invalid_integer", "amount_too_large"]);
        assert_eq!(r.json()["error"]["param"], "amount", "{}", r.show());
    }
    let r = create_json(
        rt,
        json!({"amount": 1e30, "currency": "EUR", "payment_method": "pm_card_visa", "customer": cust}),
    );
    r.err_in(&[400], &["parameter_invalid_integer", "amount_too_large"]);
    assert_eq!(r.json()["error"]["param"], "amount", "{}", r.show());
    none_for(rt, &cust);
    // Bounds are inclusive.
    assert_eq!(f("50", "EUR").ok()["amount"], 50);
    assert_eq!(f("99999999", "EUR").ok()["amount"], 99_999_999);
}

#[test]
fn currencies() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let f = |amount: &str, cur: &str| {
        create_form(
            rt,
            &format!("amount={amount}&currency={cur}&payment_method=pm_card_visa&customer={cust}"),
        )
    };
    f("5000", "XYZ").err_param(400, "currency_invalid", "currency");
    f("5000", "EURO").err_param(400, "currency_invalid", "currency");
    f("5000", "").err_in(&[400], &["currency_invalid", "parameter_missing"]);
    // Zero-decimal: JPY amounts are whole yen.
    let p = f("50", "JPY").ok();
    assert_eq!(
        (p["amount"].as_i64(), p["currency"].as_str()),
        (Some(50), Some("JPY")),
        "{p}"
    );
    f("49", "JPY").err_param(400, "amount_too_small", "amount");
    // Three decimals: at least 500, multiples of 10.
    let p = f("1000", "KWD").ok();
    assert_eq!(
        (p["amount"].as_i64(), p["currency"].as_str()),
        (Some(1000), Some("KWD")),
        "{p}"
    );
    f("1005", "KWD").err_param(400, "amount_invalid", "amount");
    f("490", "KWD").err_param(400, "amount_too_small", "amount");
    assert_eq!(f("500", "kwd").ok()["currency"], "KWD");
}

#[test]
fn over_long_strings() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let base = format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}");
    create_form(rt, &format!("{base}&description={}", "d".repeat(1001))).err_param(
        400,
        "string_too_long",
        "description",
    );
    create_form(rt, &format!("{base}&metadata[k]={}", "v".repeat(501))).err_param(
        400,
        "string_too_long",
        "metadata[k]",
    );
    create_form(rt, &format!("{base}&metadata[{}]=v", "k".repeat(41))).err_in(&[400], &["metadata_key_invalid"]);
    rt.post("/v1/customers")
        .form(&format!("name={}", "n".repeat(5000)))
        .send()
        .err_param(400, "string_too_long", "name");
    none_for(rt, &cust);
    let p = create_form(rt, &format!("{base}&description={}", "d".repeat(1000))).ok();
    assert_eq!(p["description"].as_str().map(str::len), Some(1000));
}

#[test]
fn unknown_params() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    create_form(
        rt,
        &format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}&colour=blue"),
    )
    .err_param(400, "parameter_unknown", "colour");
    create_json(
        rt,
        json!({"amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "customer": cust, "amout": 1}),
    )
    .err_param(400, "parameter_unknown", "amout");
    create_form(
        rt,
        &format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}&routing[speed]=fast"),
    )
    .err_param(400, "parameter_unknown", "routing[speed]");
    none_for(rt, &cust);
    rt.get("/v1/payments?colour=blue")
        .send()
        .err_param(400, "parameter_unknown", "colour");
    let p = succeeded_payment(rt);
    rt.get(&format!("/v1/payments/{}?colour=blue", id_of(&p)))
        .send()
        .err_param(400, "parameter_unknown", "colour");
    let m = manual_payment(rt, 5000);
    let before = get_payment(rt, &id_of(&m));
    rt.post(&format!("/v1/payments/{}/capture", id_of(&m)))
        .form("amount=100")
        .send()
        .err_param(400, "parameter_unknown", "amount");
    assert_unchanged(rt, &before, "capture with an unknown parameter");
}

#[test]
fn routes_and_methods() {
    let rt = shared();
    rt.get("/v1/nope").send().err(404, "route_not_found");
    rt.get("/v1/subscriptions/sub_000000000000000000000000/explode")
        .send()
        .err(404, "route_not_found");
    rt.get("/").send().err(404, "route_not_found");
    rt.get("/v1/payments/pay_000000000000000000000000/explode")
        .send()
        .err(404, "route_not_found");
    rt.post("/v1/payments/pay_000000000000000000000000/explode")
        .send()
        .err(404, "route_not_found");
    let r = rt.req("DELETE", "/v1/payments").send();
    r.err(405, "method_not_allowed");
    assert_eq!(
        r.header("allow"),
        Some("POST, GET"),
        "a 405 lists the allowed methods (RFC 9110){}",
        r.show()
    );
    rt.req("PUT", "/v1/payments/pay_000000000000000000000000")
        .send()
        .err(405, "method_not_allowed");
    rt.get("/v1/payments/pay_000000000000000000000000/capture")
        .send()
        .err(405, "method_not_allowed");
    rt.req("PATCH", "/v1/customers").send().err(405, "method_not_allowed");
    rt.req("DELETE", "/v1/payment_methods/pm_card_visa")
        .send()
        .err(405, "method_not_allowed");
    // Literal segments win over ids: `search` is not a transaction id, and methods are listed once.
    let r = rt.get("/v1/transactions/search").send();
    r.err(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST"), "{}", r.show());
    let r = rt.req("DELETE", "/v1/payouts/schedule").send();
    r.err(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"), "{}", r.show());
    let r = rt.req("TRACE", "/v1/openapi.json").no_auth().send();
    r.err(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET"), "{}", r.show());
}

#[test]
fn body_limits_and_content_types() {
    let rt = shared();
    let mut big = String::from("amount=5000&currency=EUR&payment_method=pm_card_visa&description=");
    big.push_str(&"x".repeat(70 * 1024));
    let r = rt.post("/v1/payments").form(&big).send();
    r.err(413, "body_too_large");
    let big_json = json!({"amount": 5000, "currency": "EUR", "metadata": {"k": "x".repeat(66 * 1024)}});
    rt.post("/v1/payments")
        .json(&big_json)
        .send()
        .err(413, "body_too_large");
    rt.post("/v1/payments")
        .body(Some("text/plain"), b"amount=5000")
        .send()
        .err(415, "unsupported_content_type");
    rt.post("/v1/payments")
        .body(Some("application/xml"), b"<amount>5000</amount>")
        .send()
        .err(415, "unsupported_content_type");
    // JSON with a charset parameter is still JSON.
    let p = rt
        .post("/v1/payments")
        .body(
            Some("application/json; charset=utf-8"),
            br#"{"amount":5000,"currency":"EUR","payment_method":"pm_card_visa"}"#,
        )
        .send()
        .ok();
    assert_eq!(p["status"], "succeeded");
}

#[test]
fn form_encoding_details() {
    let rt = shared();
    let p = create_form(rt, "amount=5000&currency=EUR&payment_method=pm_card_visa&description=caf%C3%A9+%26+cr%C3%A8me&metadata[a%20b]=c%3Dd").ok();
    assert_eq!(p["description"], "café & crème", "{p}");
    assert_eq!(p["metadata"], json!({"a b": "c=d"}), "{p}");
    create_form(
        rt,
        "amount=5000&currency=EUR&payment_method=pm_card_visa&description=%FF",
    )
    .err_param(400, "parameter_invalid", "description");
    let r = create_form(
        rt,
        "amount=5000&currency=EUR&payment_method=pm_card_visa&metadata[a]]=1",
    );
    r.err_in(&[400], &["parameter_invalid", "parameter_unknown"]);
}

/// Found by schemathesis: `created[gte]=` (empty) was taken as "no filter" and answered 200.
#[test]
fn empty_integers_are_invalid_not_absent() {
    let rt = shared();
    rt.get("/v1/events?created[gte]=")
        .send()
        .err_param(400, "parameter_invalid_integer", "created[gte]");
    rt.get("/v1/payments?limit=")
        .send()
        .err_param(400, "parameter_invalid_integer", "limit");
    create_form(rt, "amount=&currency=EUR&payment_method=pm_card_visa").err_param(
        400,
        "parameter_invalid_integer",
        "amount",
    );
}

/// Found by schemathesis: `status=` (empty) on deliveries was taken as "no filter". An empty
/// value of an enumerated parameter is invalid, wherever it appears.
#[test]
fn empty_enumerated_values_are_invalid_not_absent() {
    let rt = shared();
    let we = rt
        .post("/v1/webhooks")
        .form("url=http://127.0.0.1:9/x&enabled_events[]=*")
        .send()
        .ok();
    let we = we["id"].as_str().unwrap();
    rt.get(&format!("/v1/webhooks/{we}/deliveries?status="))
        .send()
        .err_param(400, "parameter_invalid", "status");
    rt.get("/v1/payment_methods?type=")
        .send()
        .err_param(400, "parameter_invalid", "type");
    create_form(
        rt,
        "amount=5000&currency=EUR&payment_method=pm_card_visa&capture_method=",
    )
    .err_param(400, "parameter_invalid", "capture_method");
    let held = create_form(
        rt,
        "amount=5000&currency=EUR&payment_method=pm_card_visa&capture_method=manual",
    )
    .ok();
    let id = held["id"].as_str().unwrap();
    rt.post(&format!("/v1/payments/{id}/cancel"))
        .form("cancellation_reason=")
        .send()
        .err_param(400, "parameter_invalid", "cancellation_reason");
    assert_eq!(
        get_payment(rt, id)["status"],
        "requires_capture",
        "the refused cancel changed nothing"
    );
}
