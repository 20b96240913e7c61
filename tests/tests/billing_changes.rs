//! Billing's subscription changes: POST /v1/subscriptions/:id with proration_behavior, cancel
//! with invoice_now/prorate, and GET /v1/invoices/upcoming (docs/billing.md, Changes and
//! prorations). Every test holds `serial()`: clock advances move the whole account's time.

use vinr_conformance::billing::{customer_paying_with, monthly, price};
use vinr_conformance::money::{advance, clock_now, int, serial};
use vinr_conformance::*;

const DAY: i64 = 86_400;

fn get(rt: &Runtime, path: &str) -> Value {
    rt.get(path).send().ok()
}

fn update(rt: &Runtime, sub: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/subscriptions/{sub}")).form(form).send()
}

/// An active monthly subscription of `qty` × a new price of `unit` (EUR), paid with Visa.
fn subscribed(rt: &Runtime, unit: i64, qty: i64) -> (String, Value) {
    let cust = customer_paying_with(rt, "pm_card_visa");
    let pr = monthly(rt, unit);
    let sub = rt
        .post("/v1/subscriptions")
        .form(&format!(
            "customer={cust}&items[0][price]={pr}&items[0][quantity]={qty}"
        ))
        .send()
        .ok();
    assert_eq!(sub["status"], "active", "{sub}");
    (cust, sub)
}

/// The share of a period's `amount` for the time left at `now`, as docs/billing.md defines it:
/// to the nearest minor unit, halves up.
fn share(amount: i64, sub: &Value, now: i64) -> i64 {
    let (start, end) = (int(sub, "current_period_start"), int(sub, "current_period_end"));
    let (left, len) = (i128::from(end - now), i128::from(end - start));
    ((i128::from(amount) * left * 2 + len) / (len * 2)) as i64
}

fn lines(inv: &Value) -> Vec<Value> {
    inv["lines"]["data"].as_array().unwrap().clone()
}

fn sum(lines: &[Value]) -> i64 {
    lines.iter().map(|l| l["amount"].as_i64().unwrap()).sum()
}

/// Advances the clock just past `sub`'s period end: the subscription renewed, and its newest
/// invoice.
fn renew_past_period(rt: &Runtime, sub: &Value) -> (Value, Value) {
    advance(rt, int(sub, "current_period_end") - clock_now(rt) + 1);
    let renewed = get(rt, &format!("/v1/subscriptions/{}", id_of(sub)));
    let inv = get(
        rt,
        &format!("/v1/invoices/{}", renewed["latest_invoice"].as_str().unwrap()),
    );
    (renewed, inv)
}

fn item_id(sub: &Value, i: usize) -> String {
    sub["items"]["data"][i]["id"].as_str().unwrap().to_string()
}

#[test]
fn a_quantity_change_leaves_prorations_for_the_next_invoice() {
    let _s = serial();
    let rt = shared();
    let (_, sub) = subscribed(rt, 3000, 1);
    let id = id_of(&sub);
    advance(rt, 10 * DAY);
    let now = clock_now(rt);
    let si = item_id(&sub, 0);
    let changed = update(rt, &id, &format!("items[0][id]={si}&items[0][quantity]=2")).ok();
    assert_eq!(changed["items"]["data"][0]["quantity"], 2);
    assert_eq!(changed["items"]["data"][0]["id"], si.as_str(), "the item keeps its id");
    assert_eq!(changed["latest_invoice"], sub["latest_invoice"], "nothing invoiced now");
    let pending = changed["pending_invoice_items"].as_array().unwrap().clone();
    let amounts: Vec<i64> = pending.iter().map(|l| l["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![-share(3000, &sub, now), share(6000, &sub, now)]);
    assert!(
        pending
            .iter()
            .all(|l| l["proration"] == true && l["subscription_item"] == si.as_str())
    );
    assert_eq!(pending[0]["period"]["start"], now);

    let upcoming = get(rt, &format!("/v1/invoices/upcoming?subscription={id}"));
    assert_eq!(upcoming["id"], "inv_upcoming");
    assert_eq!(upcoming["status"], "draft");
    let expected = 6000 + amounts[0] + amounts[1];
    assert_eq!(upcoming["total"], expected);
    assert_eq!(sum(&lines(&upcoming)), expected);
    rt.get("/v1/invoices/inv_upcoming").send().err(404, "resource_missing");

    let (renewed, inv) = renew_past_period(rt, &sub);
    assert_eq!(inv["status"], "paid", "{inv}");
    assert_eq!(inv["total"], expected, "the upcoming invoice was what came");
    assert_eq!(sum(&lines(&inv)), expected);
    assert_eq!(renewed["pending_invoice_items"], json!([]), "billed once, then gone");
    assert_eq!(get_payment(rt, inv["payment"].as_str().unwrap())["amount"], expected);
}

#[test]
fn always_invoice_charges_an_upgrade_now_and_carries_a_downgrades_credit() {
    let _s = serial();
    let rt = shared();
    let (_, sub) = subscribed(rt, 2000, 1);
    let id = id_of(&sub);
    let si = item_id(&sub, 0);
    let bigger = monthly(rt, 5000);
    advance(rt, 5 * DAY);
    let now = clock_now(rt);
    let up = update(
        rt,
        &id,
        &format!("items[0][id]={si}&items[0][price]={bigger}&proration_behavior=always_invoice"),
    )
    .ok();
    assert_eq!(up["items"]["data"][0]["price"]["id"], bigger.as_str());
    assert_ne!(up["latest_invoice"], sub["latest_invoice"]);
    let inv = get(rt, &format!("/v1/invoices/{}", up["latest_invoice"].as_str().unwrap()));
    let net = share(5000, &sub, now) - share(2000, &sub, now);
    assert_eq!(
        (inv["status"].as_str(), inv["total"].as_i64()),
        (Some("paid"), Some(net))
    );
    assert_eq!(get_payment(rt, inv["payment"].as_str().unwrap())["amount"], net);
    assert_eq!(up["pending_invoice_items"], json!([]));

    // Back down: the credit is more than nothing; the invoice carries it to the next one.
    let small = monthly(rt, 4000);
    let down = update(
        rt,
        &id,
        &format!("items[0][id]={si}&items[0][price]={small}&proration_behavior=always_invoice"),
    )
    .ok();
    let credit = share(4000, &sub, now) - share(5000, &sub, now);
    let inv = get(
        rt,
        &format!("/v1/invoices/{}", down["latest_invoice"].as_str().unwrap()),
    );
    assert_eq!((inv["status"].as_str(), inv["total"].as_i64()), (Some("paid"), Some(0)));
    assert!(inv["payment"].is_null(), "nothing to charge");
    let carry = lines(&inv).last().unwrap().clone();
    assert_eq!(carry["amount"], -credit);
    assert_eq!(carry["description"], "Carried to the next invoice");
    let pending = down["pending_invoice_items"].as_array().unwrap();
    assert_eq!(sum(pending), credit, "the credit waits for the next invoice");

    let (_, next) = renew_past_period(rt, &sub);
    assert_eq!(next["total"], 4000 + credit, "{next}");
    assert_eq!(next["status"], "paid");
}

#[test]
fn proration_none_changes_the_price_from_the_next_period_only() {
    let _s = serial();
    let rt = shared();
    let (_, sub) = subscribed(rt, 1000, 1);
    let id = id_of(&sub);
    let si = item_id(&sub, 0);
    let extra = monthly(rt, 700);
    advance(rt, 3 * DAY);
    let changed = update(
        rt,
        &id,
        &format!(
            "items[0][id]={si}&items[0][quantity]=3&items[1][price]={extra}&proration_behavior=none&metadata[tier]=team"
        ),
    )
    .ok();
    assert_eq!(changed["pending_invoice_items"], json!([]));
    assert_eq!(changed["latest_invoice"], sub["latest_invoice"]);
    assert_eq!(changed["items"]["data"].as_array().unwrap().len(), 2);
    assert_id(&changed["items"]["data"][1]["id"], "si_");
    assert_eq!(changed["metadata"]["tier"], "team");
    let (renewed, inv) = renew_past_period(rt, &sub);
    assert_eq!(inv["total"], 3 * 1000 + 700);

    // Removing an item: the next period bills what is left.
    let extra_item = item_id(&renewed, 1);
    let fewer = update(
        rt,
        &id,
        &format!("items[0][id]={extra_item}&items[0][deleted]=true&proration_behavior=none"),
    )
    .ok();
    assert_eq!(fewer["items"]["data"].as_array().unwrap().len(), 1);
    let upcoming = get(rt, &format!("/v1/invoices/upcoming?subscription={id}"));
    assert_eq!(upcoming["total"], 3000);
}

#[test]
fn cancelling_with_invoice_now_bills_what_is_pending() {
    let _s = serial();
    let rt = shared();
    let (cust, sub) = subscribed(rt, 3000, 1);
    let id = id_of(&sub);
    let si = item_id(&sub, 0);
    advance(rt, 7 * DAY);
    let now = clock_now(rt);
    update(rt, &id, &format!("items[0][id]={si}&items[0][quantity]=3")).ok();
    rt.post(&format!("/v1/subscriptions/{id}/cancel"))
        .form("prorate=true")
        .send()
        .err_param(400, "parameter_not_allowed", "prorate");
    rt.post(&format!("/v1/subscriptions/{id}/cancel"))
        .form("at_period_end=true&invoice_now=true")
        .send()
        .err_param(400, "parameter_not_allowed", "invoice_now");
    let canceled = rt
        .post(&format!("/v1/subscriptions/{id}/cancel"))
        .form("invoice_now=true")
        .send()
        .ok();
    assert_eq!(canceled["status"], "canceled");
    let inv = get(
        rt,
        &format!("/v1/invoices/{}", canceled["latest_invoice"].as_str().unwrap()),
    );
    let net = share(9000, &sub, now) - share(3000, &sub, now);
    assert_eq!(
        (inv["status"].as_str(), inv["total"].as_i64()),
        (Some("paid"), Some(net))
    );
    assert_eq!(canceled["pending_invoice_items"], json!([]));
    let all = get(rt, &format!("/v1/invoices?customer={cust}"));
    assert_eq!(ids(&all).len(), 2, "the first period's and the final one");

    // With prorate, the unused time is credited on the final invoice.
    let (_, other) = subscribed(rt, 3000, 1);
    let oid = id_of(&other);
    advance(rt, 20 * DAY);
    let now = clock_now(rt);
    let done = rt
        .post(&format!("/v1/subscriptions/{oid}/cancel"))
        .form("invoice_now=true&prorate=true")
        .send()
        .ok();
    let fin = get(
        rt,
        &format!("/v1/invoices/{}", done["latest_invoice"].as_str().unwrap()),
    );
    let credit = lines(&fin)[0].clone();
    assert_eq!(credit["amount"], -share(3000, &other, now));
    assert_eq!(credit["proration"], true);
    assert_eq!(fin["total"], 0, "a credit is carried, not charged: {fin}");
    assert_eq!(
        sum(done["pending_invoice_items"].as_array().unwrap()),
        -share(3000, &other, now)
    );
}

#[test]
fn bad_changes_name_the_parameter_and_change_nothing() {
    let _s = serial();
    let rt = shared();
    let (_, sub) = subscribed(rt, 1000, 1);
    let id = id_of(&sub);
    let si = item_id(&sub, 0);
    let usd = price(rt, "currency=USD&unit_amount=1000&recurring[interval]=month");
    let metered = price(
        rt,
        "currency=EUR&unit_amount=5&recurring[interval]=month&recurring[usage_type]=metered",
    );
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "items[0][id]=si_000000000000000000000000&items[0][quantity]=2".into(),
            "resource_missing",
            "items[0][id]",
        ),
        (
            format!("items[0][id]={si}&items[0][price]={usd}"),
            "currency_mismatch",
            "items[0][price]",
        ),
        (
            format!("items[0][id]={si}&items[0][price]={metered}"),
            "metered_price_change",
            "items[0][price]",
        ),
        (
            format!("items[0][price]={metered}&items[0][quantity]=2"),
            "metered_quantity",
            "items[0][quantity]",
        ),
        (
            format!("items[0][id]={si}&items[0][quantity]=-1"),
            "parameter_invalid_integer",
            "items[0][quantity]",
        ),
        (
            format!("items[0][id]={si}&items[0][deleted]=true"),
            "subscription_needs_items",
            "items",
        ),
        ("items[0][deleted]=true".into(), "parameter_missing", "items[0][id]"),
        (
            "proration_behavior=sometimes".into(),
            "parameter_invalid",
            "proration_behavior",
        ),
        (
            "default_payment_method=pm_nope".into(),
            "resource_missing",
            "default_payment_method",
        ),
    ];
    for (form, code, param) in &cases {
        update(rt, &id, form).err_param(400, code, param);
    }
    assert_eq!(get(rt, &format!("/v1/subscriptions/{id}")), sub, "nothing written");
    update(rt, "sub_000000000000000000000000", "metadata[a]=b").err(404, "resource_missing");
    rt.get("/v1/invoices/upcoming")
        .send()
        .err_param(400, "parameter_missing", "subscription");

    rt.post(&format!("/v1/subscriptions/{id}/cancel")).send().ok();
    update(rt, &id, "metadata[a]=b").err(400, "subscription_canceled");
    rt.get(&format!("/v1/invoices/upcoming?subscription={id}"))
        .send()
        .err_param(400, "invoice_upcoming_none", "subscription");
}

#[test]
fn two_concurrent_upgrades_each_invoice_once() {
    let _s = serial();
    let rt = shared();
    for _ in 0..3 {
        let (cust, sub) = subscribed(rt, 1000, 1);
        let id = id_of(&sub);
        let si = item_id(&sub, 0);
        advance(rt, 2 * DAY);
        let answers: Vec<Resp> = std::thread::scope(|s| {
            let a = s.spawn(|| {
                update(
                    rt,
                    &id,
                    &format!("items[0][id]={si}&items[0][quantity]=2&proration_behavior=always_invoice"),
                )
            });
            let b = s.spawn(|| {
                update(
                    rt,
                    &id,
                    &format!("items[0][id]={si}&items[0][quantity]=3&proration_behavior=always_invoice"),
                )
            });
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        let ok = answers.iter().filter(|r| r.status == 200).count();
        for r in &answers {
            assert!(r.status == 200, "{} {}", r.status, r.text());
        }
        let now = get(rt, &format!("/v1/subscriptions/{id}"));
        let q = now["items"]["data"][0]["quantity"].as_i64().unwrap();
        assert!(q == 2 || q == 3, "{now}");
        let invoices = get(rt, &format!("/v1/invoices?subscription={id}&limit=100"));
        let invoices = invoices["data"].as_array().unwrap();
        assert_eq!(invoices.len(), 1 + ok, "one invoice per applied change");
        for inv in invoices {
            assert_eq!(inv["total"], sum(&lines(inv)), "{inv}");
            if inv["total"].as_i64().unwrap() > 0 {
                assert_eq!(inv["status"], "paid");
            }
        }
        let pays = get(rt, &format!("/v1/payments?customer={cust}&limit=100"));
        let charged: i64 = pays["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] == "succeeded")
            .map(|p| p["amount"].as_i64().unwrap())
            .sum();
        let billed: i64 = invoices.iter().map(|i| i["amount_paid"].as_i64().unwrap()).sum();
        assert_eq!(charged, billed, "every charge belongs to exactly one invoice");
    }
}
