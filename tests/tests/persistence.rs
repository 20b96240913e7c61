//! Restarting the server on the same data directory loses nothing.

use vinr_conformance::*;

#[test]
fn objects_survive_a_restart() {
    let mut rt = start();
    let cust = rt
        .post("/v1/customers")
        .form("email=persist%40example.com&payment_method=pm_card_visa")
        .send()
        .ok();
    let cust_id = id_of(&cust);
    let pm_id = cust["default_payment_method"].as_str().expect("default pm").to_string();
    let key = uniq("persist");
    let body = format!("amount=4200&currency=EUR&customer={cust_id}&capture_method=manual");
    let held = rt.post("/v1/payments").idem(&key).form(&body).send().ok();
    assert_eq!(held["status"], "requires_capture");
    let paid = succeeded_payment(&rt);
    let live = rt
        .post("/v1/customers")
        .key(&rt.live_secret_key)
        .form("name=Live")
        .send()
        .ok();
    let b = rt
        .post("/v1/customers")
        .key(&rt.b_secret_key)
        .form("name=B")
        .send()
        .ok();
    let old_url = rt.base_url.clone();

    rt.restart();
    assert_ne!(rt.base_url, "", "restart gives a base URL (was {old_url})");

    assert_eq!(rt.get(&format!("/v1/customers/{cust_id}")).send().ok(), cust);
    assert_eq!(
        rt.get(&format!("/v1/payment_methods/{pm_id}")).send().ok()["customer"],
        cust_id.as_str()
    );
    assert_eq!(get_payment(&rt, &id_of(&held)), held);
    assert_eq!(get_payment(&rt, &id_of(&paid)), paid);
    let ch = paid["latest_charge"].as_str().unwrap();
    assert_eq!(rt.get(&format!("/v1/charges/{ch}")).send().ok()["id"], ch);
    assert_eq!(
        rt.get(&format!("/v1/customers/{}", id_of(&live)))
            .key(&rt.live_secret_key)
            .send()
            .ok(),
        live
    );
    assert_eq!(
        rt.get(&format!("/v1/customers/{}", id_of(&b)))
            .key(&rt.b_secret_key)
            .send()
            .ok(),
        b
    );
    // Keys still authenticate (checked above), lists still find the objects.
    let l = rt.get(&format!("/v1/payments?customer={cust_id}")).send().ok();
    assert_eq!(ids(&l), vec![id_of(&held)]);
    // The idempotency key is still remembered.
    let r = rt.post("/v1/payments").idem(&key).form(&body).send();
    assert_eq!(r.ok(), held);
    assert!(r.replayed(), "idempotency keys survive a restart{}", r.show());
    // State machine carries on.
    let c = rt.post(&format!("/v1/payments/{}/capture", id_of(&held))).send().ok();
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["amount_received"], 4200);

    rt.restart();
    assert_eq!(
        get_payment(&rt, &id_of(&held)),
        c,
        "capture after the first restart survives a second one"
    );
}
