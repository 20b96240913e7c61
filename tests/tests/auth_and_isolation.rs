//! API keys, and that objects never cross accounts or environments (404 as if absent).

use vinr_conformance::*;

#[test]
fn missing_invalid_and_public_keys() {
    let rt = shared();
    rt.get("/v1/payments")
        .no_auth()
        .send()
        .err_no_param(401, "api_key_missing");
    rt.post("/v1/payments")
        .no_auth()
        .form("amount=5000&currency=EUR")
        .send()
        .err(401, "api_key_missing");
    rt.get("/v1/payments")
        .key("sk_test_000000000000000000000000")
        .send()
        .err(401, "api_key_invalid");
    rt.get("/v1/payments")
        .key("nonsense")
        .send()
        .err(401, "api_key_invalid");
    rt.get("/v1/payments")
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .err_in(&[401], &["api_key_invalid", "api_key_missing"]);
    // A near miss of a real key.
    let mut bad = rt.secret_key.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'a' { 'b' } else { 'a' });
    rt.get("/v1/payments").key(&bad).send().err(401, "api_key_invalid");
    rt.get("/v1/payments")
        .key(&rt.public_key)
        .send()
        .err(403, "secret_key_required");
    rt.get("/v1/customers")
        .api_key(&rt.live_public_key)
        .send()
        .err(403, "secret_key_required");
    let e = rt
        .post("/v1/payments")
        .key(&rt.public_key)
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send()
        .err(403, "secret_key_required");
    assert_eq!(e["type"], "permission_error");
}

#[test]
fn both_header_forms_work() {
    let rt = shared();
    let p = rt
        .post("/v1/payments")
        .api_key(&rt.secret_key)
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send()
        .ok();
    let id = id_of(&p);
    assert_eq!(
        rt.get(&format!("/v1/payments/{id}"))
            .api_key(&rt.secret_key)
            .send()
            .ok()["id"],
        id.as_str()
    );
    assert_eq!(
        rt.get(&format!("/v1/payments/{id}")).key(&rt.secret_key).send().ok()["id"],
        id.as_str()
    );
}

#[test]
fn account_b_cannot_see_account_a() {
    let rt = shared();
    let cust = create_customer(rt);
    let cust_id = id_of(&cust);
    let p = create_payment(
        rt,
        &format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust_id}&capture_method=manual"),
    );
    let pay = id_of(&p);
    let ch = p["latest_charge"].as_str().unwrap().to_string();
    let pm = rt
        .post("/v1/payment_methods")
        .form("card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034")
        .send()
        .ok();
    let pm_id = id_of(&pm);
    let b = &rt.b_secret_key;
    rt.get(&format!("/v1/payments/{pay}"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.get(&format!("/v1/charges/{ch}"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.get(&format!("/v1/customers/{cust_id}"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.get(&format!("/v1/payment_methods/{pm_id}"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.delete(&format!("/v1/customers/{cust_id}"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.post(&format!("/v1/customers/{cust_id}"))
        .key(b)
        .form("name=Mallory")
        .send()
        .err(404, "resource_missing");
    // B cannot move A's payment.
    let before = get_payment(rt, &pay);
    rt.post(&format!("/v1/payments/{pay}/capture"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.post(&format!("/v1/payments/{pay}/cancel"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    assert_unchanged(rt, &before, "account B's capture/cancel");
    // B cannot use A's customer or payment method.
    let r = rt
        .post("/v1/payments")
        .key(b)
        .form(&format!(
            "amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust_id}"
        ))
        .send();
    assert_eq!(
        r.err_in(&[400, 404], &["resource_missing"])["param"],
        "customer",
        "{}",
        r.show()
    );
    let r = rt
        .post("/v1/payments")
        .key(b)
        .form(&format!("amount=5000&currency=EUR&payment_method={pm_id}"))
        .send();
    assert_eq!(
        r.err_in(&[400, 404], &["resource_missing"])["param"],
        "payment_method",
        "{}",
        r.show()
    );
    // Nor see them in lists, nor filter by them.
    let l = rt.get("/v1/payments?limit=100").key(b).send().ok();
    assert!(!ids(&l).contains(&pay), "A's payment in B's list");
    let l = rt.get("/v1/customers?limit=100").key(b).send().ok();
    assert!(!ids(&l).contains(&cust_id), "A's customer in B's list");
    let r = rt.get(&format!("/v1/payments?customer={cust_id}")).key(b).send();
    if r.status == 200 {
        assert_eq!(ids(&r.json()), Vec::<String>::new(), "{}", r.show());
    } else {
        assert_eq!(
            r.err_in(&[400, 404], &["resource_missing"])["param"],
            "customer",
            "{}",
            r.show()
        );
    }
    // B's own objects work and are B's.
    let bp = rt
        .post("/v1/payments")
        .key(b)
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send()
        .ok();
    rt.get(&format!("/v1/payments/{}", id_of(&bp)))
        .send()
        .err(404, "resource_missing");
}

#[test]
fn live_and_test_environments_are_separate() {
    let rt = shared();
    let cust = id_of(&create_customer(rt));
    let pay = id_of(&succeeded_payment(rt));
    let live = &rt.live_secret_key;
    rt.get(&format!("/v1/customers/{cust}"))
        .key(live)
        .send()
        .err(404, "resource_missing");
    rt.get(&format!("/v1/payments/{pay}"))
        .key(live)
        .send()
        .err(404, "resource_missing");
    let lc = rt
        .post("/v1/customers")
        .key(live)
        .form("email=live%40example.com")
        .send()
        .ok();
    assert_eq!(lc["livemode"], true, "{lc}");
    let lc_id = id_of(&lc);
    assert_eq!(
        rt.get(&format!("/v1/customers/{lc_id}")).key(live).send().ok()["id"],
        lc_id.as_str()
    );
    rt.get(&format!("/v1/customers/{lc_id}"))
        .send()
        .err(404, "resource_missing");
    assert!(!ids(&rt.get("/v1/customers?limit=100").send().ok()).contains(&lc_id));
    assert!(!ids(&rt.get("/v1/payments?limit=100").key(live).send().ok()).contains(&pay));
}
