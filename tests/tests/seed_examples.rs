//! The curl examples of seed 001 (the documentation we implement), sent as curl sends them: the
//! same headers (`X-Api-Key`, no `Authorization`), `-d` values joined by `&` as a form body, and
//! no body at all for `-X POST` without `-d`. Only the base URL and the example ids (`cust_8aZ2`,
//! `pay_3Nx8a2Lk`, placeholders for objects of the reader's account) are swapped.

use vinr_conformance::*;

/// `curl [-X method] <base><path> -H "X-Api-Key: $VINR_SECRET_KEY" [-d d]...`
fn curl(rt: &Runtime, method: &str, path: &str, data: &[&str]) -> Value {
    let mut req = Req::new(&rt.base_url, method, path)
        .header("User-Agent", "curl/8.5.0")
        .header("Accept", "*/*")
        .header("X-Api-Key", &rt.secret_key);
    if !data.is_empty() {
        req = req.form(&data.join("&"));
    }
    req.send().ok()
}

/// A payment held for capture, as the Advanced example creates it (form-encoded).
fn held(rt: &Runtime) -> String {
    let p = curl(
        rt,
        "POST",
        "/v1/payments",
        &[
            "amount=5000",
            "currency=EUR",
            "payment_method=pm_card_visa",
            "capture_method=manual",
            "routing[preferred_acquirer]=acq_eu_1",
        ],
    );
    assert_eq!(p["status"], "requires_capture", "{p}");
    assert_eq!(p["routing"]["acquirer"], "acq_eu_1", "{p}");
    id_of(&p)
}

#[test]
fn create_a_payment() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let d_customer = format!("customer={cust}");
    let p = curl(
        rt,
        "POST",
        "/v1/payments",
        &[
            "amount=5000",
            "currency=EUR",
            "payment_method=pm_card_visa",
            &d_customer,
        ],
    );
    assert_id(&p["id"], "pay_");
    assert_eq!(p["amount"], 5000);
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["customer"], cust.as_str());
    assert_id(&p["latest_charge"], "ch_");
}

#[test]
fn retrieve_a_payment() {
    let rt = shared();
    let id = id_of(&succeeded_payment(rt));
    let p = curl(rt, "GET", &format!("/v1/payments/{id}"), &[]);
    assert_eq!(p["id"], id.as_str());
    assert_eq!(p["amount"], 5000);
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["status"], "succeeded");
    assert_created(&p);
}

#[test]
fn capture_a_payment() {
    let rt = shared();
    let id = held(rt);
    let p = curl(rt, "POST", &format!("/v1/payments/{id}/capture"), &[]);
    assert_eq!(p["id"], id.as_str());
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["amount"], 5000);
    assert_eq!(p["amount_received"], 5000);
}

#[test]
fn cancel_a_payment() {
    let rt = shared();
    let id = held(rt);
    let p = curl(rt, "POST", &format!("/v1/payments/{id}/cancel"), &[]);
    assert_eq!(p["status"], "canceled");
    assert_eq!(p["amount"], 5000);
    assert_eq!(p["currency"], "EUR");
}

#[test]
fn list_payments() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let pay = id_of(&create_payment(
        rt,
        &format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}"),
    ));
    let l = curl(rt, "GET", &format!("/v1/payments?limit=10&customer={cust}"), &[]);
    assert_eq!(l["object"], "list");
    assert_eq!(l["has_more"], false);
    assert_eq!(ids(&l), vec![pay]);
    assert_eq!(l["data"][0]["status"], "succeeded");
    assert_eq!(l["data"][0]["customer"], cust.as_str());
}

#[test]
fn adjust_an_authorization() {
    let rt = shared();
    let id = held(rt);
    let p = curl(rt, "POST", &format!("/v1/payments/{id}/adjust"), &["amount=6500"]);
    assert_eq!(p["id"], id.as_str());
    assert_eq!(p["amount"], 6500);
    assert_eq!(p["amount_authorized"], 6500);
    assert_eq!(p["amount_capturable"], 6500);
    assert_eq!(p["status"], "requires_capture");
    assert_eq!(p["adjustment"]["previous_amount"], 5000);
    assert!(p["adjustment"]["adjusted_at"].as_i64().is_some(), "{p}");
}

#[test]
fn reverse_a_payment() {
    let rt = shared();
    let id = held(rt);
    let p = curl(rt, "POST", &format!("/v1/payments/{id}/reverse"), &[]);
    assert_eq!(p["status"], "canceled");
    assert_eq!(p["amount"], 5000);
    assert_id(&p["reversal"]["id"], "rev_");
    assert!(p["reversal"]["reversed_at"].as_i64().is_some(), "{p}");
}

#[test]
fn advanced_examples_as_json() {
    // The TypeScript examples: nested routing, idempotencyKey option, then partial capture and
    // partial reversal.
    let rt = shared();
    let key = uniq("order");
    let body = json!({"amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa", "capture_method": "manual", "routing": {"preferred_acquirer": "acq_eu_1"}});
    let a = rt.post("/v1/payments").idem(&key).json(&body).send().ok();
    assert_eq!(a["status"], "requires_capture");
    let again = rt.post("/v1/payments").idem(&key).json(&body).send();
    assert_eq!(again.ok()["id"], a["id"], "retries collapse to one payment");
    let id = id_of(&a);
    let r = rt
        .post(&format!("/v1/payments/{id}/reverse"))
        .json(&json!({"amount": 2000}))
        .send()
        .ok();
    assert_eq!(
        r["amount_capturable"], 3000,
        "releases 2000 of the 5000 hold; 3000 stays authorized: {r}"
    );
    assert_eq!(r["status"], "requires_capture");
    let c = rt
        .post(&format!("/v1/payments/{id}/capture"))
        .json(&json!({"amount_to_capture": 3000}))
        .send()
        .ok();
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["amount_received"], 3000);
}
