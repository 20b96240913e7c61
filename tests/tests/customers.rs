//! /v1/customers: create, retrieve, update, list, delete.

use vinr_conformance::*;

#[test]
fn create_form_and_retrieve() {
    let rt = shared();
    let email = format!("{}@example.com", uniq("form"));
    let c = rt
        .post("/v1/customers")
        .form(&format!(
            "email={}&name=Jane%20Doe&phone=%2B33123456789&description=VIP&metadata[tier]=gold",
            http_enc(&email)
        ))
        .send()
        .ok();
    let id = assert_id(&c["id"], "cust_");
    assert_eq!(c["object"], "customer");
    assert_eq!(c["email"], email.as_str());
    assert_eq!(c["name"], "Jane Doe");
    assert_eq!(c["phone"], "+33123456789");
    assert_eq!(c["description"], "VIP");
    assert_eq!(c["metadata"], json!({"tier": "gold"}));
    assert_eq!(c["livemode"], false);
    assert!(c["default_payment_method"].is_null(), "{c}");
    assert_created(&c);
    assert_eq!(rt.get(&format!("/v1/customers/{id}")).send().ok(), c);
}

fn http_enc(s: &str) -> String {
    vinr_conformance::http::enc(s)
}

#[test]
fn create_json() {
    let rt = shared();
    let c = rt
        .post("/v1/customers")
        .json(&json!({"email": "json@example.com", "name": "J", "metadata": {"a": "1"}}))
        .send()
        .ok();
    assert_id(&c["id"], "cust_");
    assert_eq!(c["email"], "json@example.com");
    assert_eq!(c["metadata"], json!({"a": "1"}));
    // An empty customer is allowed.
    let e = rt.post("/v1/customers").json(&json!({})).send().ok();
    assert_id(&e["id"], "cust_");
}

#[test]
fn invalid_fields() {
    let rt = shared();
    rt.post("/v1/customers")
        .form("email=not-an-email")
        .send()
        .err_param(400, "email_invalid", "email");
    rt.post("/v1/customers")
        .json(&json!({"name": 5}))
        .send()
        .err_param(400, "parameter_invalid_string", "name");
    rt.post("/v1/customers")
        .json(&json!({"metadata": "x"}))
        .send()
        .err_param(400, "parameter_invalid_object", "metadata");
    rt.post("/v1/customers")
        .form("nickname=Jo")
        .send()
        .err_param(400, "parameter_unknown", "nickname");
    rt.get("/v1/customers/cust_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
}

#[test]
fn update_fields_and_default_payment_method() {
    let rt = shared();
    let c = create_customer(rt);
    let id = id_of(&c);
    let u = rt
        .post(&format!("/v1/customers/{id}"))
        .form("name=New%20Name&metadata[a]=1")
        .send()
        .ok();
    assert_eq!(u["name"], "New Name");
    assert_eq!(u["email"], c["email"], "untouched fields stay: {u}");
    assert_eq!(u["metadata"]["a"], "1");
    assert_eq!(rt.get(&format!("/v1/customers/{id}")).send().ok(), u);

    // default_payment_method must be attached to this customer.
    let before = rt.get(&format!("/v1/customers/{id}")).send().ok();
    let r = rt
        .post(&format!("/v1/customers/{id}"))
        .form("default_payment_method=pm_card_visa")
        .send();
    let e = r.err_in(
        &[400],
        &[
            "payment_method_not_attached",
            "parameter_invalid",
            "resource_missing",
            "payment_method_customer_mismatch",
        ],
    );
    assert_eq!(e["param"], "default_payment_method", "{}", r.show());
    assert_eq!(
        rt.get(&format!("/v1/customers/{id}")).send().ok(),
        before,
        "refused update changed the customer"
    );

    let pm = rt
        .post("/v1/payment_methods/pm_card_mastercard/attach")
        .form(&format!("customer={id}"))
        .send()
        .ok();
    let pm_id = assert_id(&pm["id"], "pm_");
    let u = rt
        .post(&format!("/v1/customers/{id}"))
        .form(&format!("default_payment_method={pm_id}"))
        .send()
        .ok();
    assert_eq!(u["default_payment_method"], pm_id.as_str());
    let p = create_payment(rt, &format!("amount=5000&currency=EUR&customer={id}"));
    assert_eq!(p["payment_method"], pm_id.as_str());
}

#[test]
fn delete_then_404_and_unusable() {
    let rt = shared();
    let c = create_customer(rt);
    let id = id_of(&c);
    let d = rt.delete(&format!("/v1/customers/{id}")).send().ok();
    assert_eq!(d, json!({"id": id, "object": "customer", "deleted": true}));
    rt.get(&format!("/v1/customers/{id}"))
        .send()
        .err(404, "resource_missing");
    rt.delete(&format!("/v1/customers/{id}"))
        .send()
        .err(404, "resource_missing");
    rt.post(&format!("/v1/customers/{id}"))
        .form("name=x")
        .send()
        .err(404, "resource_missing");
    let r = rt
        .post("/v1/payments")
        .form(&format!(
            "amount=5000&currency=EUR&payment_method=pm_card_visa&customer={id}"
        ))
        .send();
    let e = r.err_in(&[400, 404], &["resource_missing"]);
    assert_eq!(e["param"], "customer", "{}", r.show());
    let ids = ids(&rt.get("/v1/customers?limit=100").send().ok());
    assert!(!ids.contains(&id), "deleted customer still listed");
}

#[test]
fn list_email_filter() {
    let rt = shared();
    let email = format!("{}@example.com", uniq("filter"));
    let a = rt
        .post("/v1/customers")
        .form(&format!("email={}", http_enc(&email)))
        .send()
        .ok();
    let b = rt
        .post("/v1/customers")
        .form(&format!("email={}", http_enc(&email)))
        .send()
        .ok();
    create_customer(rt);
    let l = rt.get(&format!("/v1/customers?email={}", http_enc(&email))).send().ok();
    assert_eq!(ids(&l), vec![id_of(&b), id_of(&a)], "email filter, newest first: {l}");
    assert_eq!(l["has_more"], false);
    assert_eq!(l["url"], "/v1/customers");
}
