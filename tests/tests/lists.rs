//! Lists: limit, cursors both ways, has_more, the customer filter, newest first.

use vinr_conformance::*;

/// A fresh customer with `n` payments; returns (customer id, payment ids oldest first).
fn customer_with_payments(rt: &Runtime, n: usize) -> (String, Vec<String>) {
    let cust = id_of(&create_customer(rt));
    let ids = (0..n)
        .map(|i| {
            id_of(&create_payment(
                rt,
                &format!(
                    "amount={}&currency=EUR&payment_method=pm_card_visa&customer={cust}",
                    1000 + i
                ),
            ))
        })
        .collect();
    (cust, ids)
}

fn list(rt: &Runtime, q: &str) -> Value {
    rt.get(&format!("/v1/payments?{q}")).send().ok()
}

#[test]
fn customer_filter_newest_first() {
    let rt = shared();
    let (cust, mut created) = customer_with_payments(rt, 5);
    create_payment(rt, "amount=5000&currency=EUR&payment_method=pm_card_visa"); // another, no customer
    created.reverse();
    let l = list(rt, &format!("customer={cust}"));
    assert_eq!(l["object"], "list");
    assert_eq!(l["url"], "/v1/payments");
    assert_eq!(l["has_more"], false);
    assert_eq!(ids(&l), created, "customer filter, newest first");
    for p in l["data"].as_array().unwrap() {
        assert_eq!(p["object"], "payment");
        assert_eq!(p["customer"], cust.as_str());
    }
    // The seed's example query.
    let l = list(rt, &format!("limit=10&customer={cust}"));
    assert_eq!(ids(&l), created);
}

#[test]
fn limit_and_cursors_forward_and_back() {
    let rt = shared();
    let (cust, mut created) = customer_with_payments(rt, 5);
    created.reverse(); // newest first: p4 p3 p2 p1 p0
    let page1 = list(rt, &format!("customer={cust}&limit=2"));
    assert_eq!(ids(&page1), created[0..2], "{page1}");
    assert_eq!(page1["has_more"], true);
    let page2 = list(rt, &format!("customer={cust}&limit=2&starting_after={}", created[1]));
    assert_eq!(ids(&page2), created[2..4], "{page2}");
    assert_eq!(page2["has_more"], true);
    let page3 = list(rt, &format!("customer={cust}&limit=2&starting_after={}", created[3]));
    assert_eq!(ids(&page3), created[4..5], "{page3}");
    assert_eq!(page3["has_more"], false);
    // Backwards from the oldest.
    let back = list(rt, &format!("customer={cust}&limit=2&ending_before={}", created[4]));
    assert_eq!(
        ids(&back),
        created[2..4],
        "ending_before gives the newer neighbours, still newest first: {back}"
    );
    assert_eq!(back["has_more"], true);
    let back2 = list(rt, &format!("customer={cust}&limit=2&ending_before={}", created[2]));
    assert_eq!(ids(&back2), created[0..2], "{back2}");
    assert_eq!(back2["has_more"], false);
    let all = list(rt, &format!("customer={cust}&limit=100"));
    assert_eq!(ids(&all), created);
    let one = list(rt, &format!("customer={cust}&limit=1&ending_before={}", created[1]));
    assert_eq!(ids(&one), created[0..1]);
}

#[test]
fn default_limit_is_10_and_bounds() {
    let rt = shared();
    let (cust, mut created) = customer_with_payments(rt, 11);
    created.reverse();
    let l = list(rt, &format!("customer={cust}"));
    assert_eq!(ids(&l), created[0..10], "default limit 10");
    assert_eq!(l["has_more"], true);
    for bad in ["0", "101", "-1", "abc"] {
        let r = rt.get(&format!("/v1/payments?limit={bad}")).send();
        r.err_in(&[400], &["parameter_invalid_integer", "parameter_invalid"]);
        assert_eq!(r.json()["error"]["param"], "limit", "{}", r.show());
    }
    assert_eq!(
        list(rt, &format!("customer={cust}&limit=100"))["data"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
}

#[test]
fn unknown_cursor_is_400() {
    let rt = shared();
    rt.get("/v1/payments?starting_after=pay_000000000000000000000000")
        .send()
        .err_param(400, "resource_missing", "starting_after");
    rt.get("/v1/payments?ending_before=pay_000000000000000000000000")
        .send()
        .err_param(400, "resource_missing", "ending_before");
    rt.get("/v1/customers?starting_after=cust_000000000000000000000000")
        .send()
        .err_param(400, "resource_missing", "starting_after");
    // A cursor of another account is unknown too.
    let b = rt
        .post("/v1/payments")
        .key(&rt.b_secret_key)
        .form("amount=5000&currency=EUR&payment_method=pm_card_visa")
        .send()
        .ok();
    rt.get(&format!("/v1/payments?starting_after={}", id_of(&b)))
        .send()
        .err_param(400, "resource_missing", "starting_after");
}

#[test]
fn expand_in_lists() {
    let rt = shared();
    let (cust, _) = customer_with_payments(rt, 2);
    let l = list(
        rt,
        &format!("customer={cust}&expand[]=data.customer&expand[]=data.latest_charge"),
    );
    for p in l["data"].as_array().unwrap() {
        assert_eq!(p["customer"]["id"], cust.as_str(), "{p}");
        assert_eq!(p["latest_charge"]["object"], "charge", "{p}");
    }
}

#[test]
fn customers_list_paginates() {
    let rt = shared();
    let email = format!("{}@example.com", uniq("page"));
    let mut made: Vec<String> = (0..3)
        .map(|_| {
            id_of(
                &rt.post("/v1/customers")
                    .form(&format!("email={}", http::enc(&email)))
                    .send()
                    .ok(),
            )
        })
        .collect();
    made.reverse(); // newest first
    let q = format!("email={}", http::enc(&email));
    let p1 = rt.get(&format!("/v1/customers?{q}&limit=2")).send().ok();
    assert_eq!(ids(&p1), made[0..2]);
    assert_eq!(p1["has_more"], true);
    let p2 = rt
        .get(&format!("/v1/customers?{q}&limit=2&starting_after={}", made[1]))
        .send()
        .ok();
    assert_eq!(ids(&p2), made[2..3]);
    assert_eq!(p2["has_more"], false);
}

#[test]
fn newest_first_across_account() {
    let rt = shared();
    let a = id_of(&succeeded_payment(rt));
    let b = id_of(&succeeded_payment(rt));
    let l = list(rt, "limit=100");
    let all = ids(&l);
    let pa = all.iter().position(|x| *x == a).expect("a listed");
    let pb = all.iter().position(|x| *x == b).expect("b listed");
    assert!(pb < pa, "newer payment must come first");
    let created: Vec<i64> = l["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["created"].as_i64().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "created must not increase down the list: {created:?}"
    );
}
