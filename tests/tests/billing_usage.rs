//! Billing's metered usage: /v1/usage_records (one, batch, list), usage record summaries, and
//! metered items billed at the period end after the grace window (docs/billing.md, Metered
//! usage). Every test holds `serial()`: clock advances move the whole account's time.

use vinr_conformance::billing::{customer_paying_with, monthly, price};
use vinr_conformance::money::{advance, clock_now, int, serial};
use vinr_conformance::*;

const GRACE: i64 = 3600;

fn get(rt: &Runtime, path: &str) -> Value {
    rt.get(path).send().ok()
}

fn usage(rt: &Runtime, form: &str) -> Resp {
    rt.post("/v1/usage_records").form(form).send()
}

/// A metered monthly EUR price of `unit` per unit, aggregated by `aggregate`.
fn metered(rt: &Runtime, unit: i64, aggregate: &str) -> String {
    price(
        rt,
        &format!(
            "currency=EUR&unit_amount={unit}&recurring[interval]=month&recurring[usage_type]=metered&recurring[aggregate_usage]={aggregate}&nickname=API calls"
        ),
    )
}

/// An active subscription of a licensed 1000 EUR/month item and a metered item of `metered`;
/// returns (subscription, metered item id).
fn subscribed(rt: &Runtime, metered_price: &str) -> (Value, String) {
    let cust = customer_paying_with(rt, "pm_card_visa");
    let base = monthly(rt, 1000);
    let sub = rt
        .post("/v1/subscriptions")
        .form(&format!(
            "customer={cust}&items[0][price]={base}&items[1][price]={metered_price}"
        ))
        .send()
        .ok();
    assert_eq!(sub["status"], "active", "{sub}");
    let si = sub["items"]["data"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(sub["items"]["data"][1]["quantity"], 0, "a metered item has no quantity");
    (sub, si)
}

fn invoice(rt: &Runtime, id: &Value) -> Value {
    get(rt, &format!("/v1/invoices/{}", id.as_str().unwrap()))
}

/// The line of `inv` billing item `si`.
fn line_of(inv: &Value, si: &str) -> Value {
    inv["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["subscription_item"] == si)
        .cloned()
        .unwrap_or_else(|| panic!("no line for {si}: {inv}"))
}

#[test]
fn usage_is_billed_when_the_period_ends_and_the_grace_window_closes() {
    let _s = serial();
    let rt = shared();
    let (sub, si) = subscribed(rt, &metered(rt, 5, "sum"));
    let id = id_of(&sub);
    let first = invoice(rt, &sub["latest_invoice"]);
    assert_eq!(first["total"], 1000, "usage is billed in arrears: {first}");

    let now = clock_now(rt);
    let r = usage(rt, &format!("subscription_item={si}&quantity=10")).ok();
    assert_id(&r["id"], "mbu_");
    assert_eq!(r["object"], "usage_record");
    assert_eq!(
        (r["quantity"].as_i64(), r["action"].as_str()),
        (Some(10), Some("increment"))
    );
    assert_eq!(r["subscription"], id.as_str());
    assert!((now..now + 5).contains(&int(&r, "timestamp")));
    usage(rt, &format!("subscription_item={si}&quantity=7&timestamp={}", now + 60)).ok();
    // A set replaces the value at its timestamp: 7 becomes 4.
    usage(
        rt,
        &format!("subscription_item={si}&quantity=4&timestamp={}&action=set", now + 60),
    )
    .ok();
    let upcoming = get(rt, &format!("/v1/invoices/upcoming?subscription={id}"));
    assert_eq!(line_of(&upcoming, &si)["quantity"], 14);
    assert_eq!(upcoming["total"], 1000 + 14 * 5);

    let end = int(&sub, "current_period_end");
    advance(rt, end - clock_now(rt) + 10);
    let renewed = get(rt, &format!("/v1/subscriptions/{id}"));
    assert_eq!(renewed["current_period_start"], end);
    let draft = invoice(rt, &renewed["latest_invoice"]);
    assert_eq!(draft["status"], "draft", "usage may still come in: {draft}");
    assert_eq!(
        line_of(&draft, &si)["period"],
        json!({"start": sub["current_period_start"], "end": end})
    );
    // Late usage for the closed period, within the grace window, counts.
    usage(rt, &format!("subscription_item={si}&quantity=6&timestamp={}", end - 30)).ok();
    // And usage of the new period goes to the next invoice.
    usage(rt, &format!("subscription_item={si}&quantity=100")).ok();

    advance(rt, GRACE);
    let paid = invoice(rt, &renewed["latest_invoice"]);
    assert_eq!(paid["status"], "paid", "{paid}");
    let line = line_of(&paid, &si);
    assert_eq!(
        (line["quantity"].as_i64(), line["amount"].as_i64()),
        (Some(20), Some(100))
    );
    assert_eq!(paid["total"], 1000 + 100);
    assert_eq!(get_payment(rt, paid["payment"].as_str().unwrap())["amount"], 1100);

    usage(rt, &format!("subscription_item={si}&quantity=1&timestamp={}", end - 30)).err_param(
        400,
        "usage_period_closed",
        "timestamp",
    );
    let summaries = get(rt, &format!("/v1/subscription_items/{si}/usage_record_summaries"));
    let totals: Vec<(i64, i64)> = summaries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (int(s, "total_usage"), int(&s["period"], "start")))
        .collect();
    assert_eq!(totals, vec![(100, end), (20, int(&sub, "current_period_start"))]);
}

#[test]
fn max_and_last_during_period_aggregate_by_timestamp() {
    let _s = serial();
    let rt = shared();
    let (_, max_si) = subscribed(rt, &metered(rt, 1, "max"));
    let (_, last_si) = subscribed(rt, &metered(rt, 1, "last_during_period"));
    let now = clock_now(rt);
    for (si, q, t) in [
        (&max_si, 8, 0),
        (&max_si, 3, 10),
        (&max_si, 2, 0),
        (&last_si, 8, 20),
        (&last_si, 3, 10),
    ] {
        usage(
            rt,
            &format!("subscription_item={si}&quantity={q}&timestamp={}", now + t),
        )
        .ok();
    }
    let total = |si: &str| {
        let s = get(
            rt,
            &format!("/v1/subscription_items/{si}/usage_record_summaries?limit=1"),
        );
        assert_eq!(s["data"].as_array().unwrap().len(), 1);
        int(&s["data"][0], "total_usage")
    };
    assert_eq!(total(&max_si), 10, "8 + 2 at one timestamp, 3 at another");
    assert_eq!(total(&last_si), 8, "the latest timestamp's, not the last reported");
}

#[test]
fn an_identifier_makes_a_record_idempotent() {
    let _s = serial();
    let rt = shared();
    let (_, si) = subscribed(rt, &metered(rt, 2, "sum"));
    let a = usage(rt, &format!("subscription_item={si}&quantity=5&identifier=req-1")).ok();
    let b = usage(rt, &format!("subscription_item={si}&quantity=5&identifier=req-1")).ok();
    assert_eq!(a, b, "the second answers the first");
    let batch = rt
        .post("/v1/usage_records/batch")
        .form(&format!(
            "records[0][subscription_item]={si}&records[0][quantity]=5&records[0][identifier]=req-1&records[1][subscription_item]={si}&records[1][quantity]=2&records[1][identifier]=req-2"
        ))
        .send()
        .ok();
    assert_eq!(batch["data"][0], a);
    let list = get(rt, &format!("/v1/usage_records?subscription_item={si}"));
    assert_eq!(ids(&list).len(), 2, "{list}");
    let s = get(rt, &format!("/v1/subscription_items/{si}/usage_record_summaries"));
    assert_eq!(s["data"][0]["total_usage"], 7);
}

#[test]
fn a_batch_is_stored_all_or_none() {
    let _s = serial();
    let rt = shared();
    let (_, si) = subscribed(rt, &metered(rt, 2, "sum"));
    let (other, _) = subscribed(rt, &metered(rt, 2, "sum"));
    let licensed = other["items"]["data"][0]["id"].as_str().unwrap().to_string();
    let now = clock_now(rt);
    let rec = |i: usize, rest: &str| format!("records[{i}][subscription_item]={si}&records[{i}][quantity]=1{rest}");
    let bad: Vec<(String, &str, &str)> = vec![
        (
            format!(
                "{}&{}&{}",
                rec(0, ""),
                rec(1, ""),
                rec(2, &format!("&records[2][timestamp]={}", now + 3600))
            ),
            "timestamp_in_future",
            "records[2][timestamp]",
        ),
        (
            format!(
                "{}&records[1][subscription_item]={si}&records[1][quantity]=-3",
                rec(0, "")
            ),
            "parameter_invalid_integer",
            "records[1][quantity]",
        ),
        (
            format!(
                "{}&records[1][subscription_item]={licensed}&records[1][quantity]=3",
                rec(0, "")
            ),
            "item_not_metered",
            "records[1][subscription_item]",
        ),
        (
            format!("{}&records[1][quantity]=3", rec(0, "")),
            "parameter_missing",
            "records[1][subscription_item]",
        ),
        (
            rec(0, "&records[0][action]=double"),
            "parameter_invalid",
            "records[0][action]",
        ),
        (String::new(), "parameter_missing", "records"),
    ];
    for (form, code, param) in &bad {
        rt.post("/v1/usage_records/batch")
            .form(form)
            .send()
            .err_param(400, code, param);
    }
    let too_many: Vec<String> = (0..101).map(|i| rec(i, "")).collect();
    rt.post("/v1/usage_records/batch")
        .form(&too_many.join("&"))
        .send()
        .err_param(400, "parameter_invalid_array", "records");
    assert!(
        ids(&get(rt, &format!("/v1/usage_records?subscription_item={si}"))).is_empty(),
        "nothing stored"
    );

    let hundred: Vec<String> = (0..100).map(|i| rec(i, "")).collect();
    let ok = rt.post("/v1/usage_records/batch").form(&hundred.join("&")).send().ok();
    assert_eq!(ok["data"].as_array().unwrap().len(), 100);
    let s = get(rt, &format!("/v1/subscription_items/{si}/usage_record_summaries"));
    assert_eq!(
        (s["data"][0]["total_usage"].as_i64(), s["data"][0]["records"].as_i64()),
        (Some(100), Some(100))
    );
}

#[test]
fn usage_errors_name_the_parameter() {
    let _s = serial();
    let rt = shared();
    let (sub, si) = subscribed(rt, &metered(rt, 2, "sum"));
    let id = id_of(&sub);
    let licensed = sub["items"]["data"][0]["id"].as_str().unwrap().to_string();
    usage(rt, "quantity=1").err_param(400, "parameter_missing", "subscription_item");
    usage(rt, &format!("subscription_item={si}")).err_param(400, "parameter_missing", "quantity");
    usage(rt, "subscription_item=si_000000000000000000000000&quantity=1").err_param(
        400,
        "resource_missing",
        "subscription_item",
    );
    usage(rt, &format!("subscription_item={licensed}&quantity=1")).err_param(
        400,
        "item_not_metered",
        "subscription_item",
    );
    usage(
        rt,
        &format!(
            "subscription_item={si}&quantity=1&timestamp={}",
            int(&sub, "created") - 10
        ),
    )
    .err_param(400, "timestamp_before_item", "timestamp");
    rt.get("/v1/usage_records")
        .send()
        .err_param(400, "parameter_missing", "subscription_item");
    rt.get("/v1/usage_records?subscription_item=si_000000000000000000000000")
        .send()
        .err_param(400, "resource_missing", "subscription_item");
    rt.get("/v1/subscription_items/si_000000000000000000000000/usage_record_summaries")
        .send()
        .err(404, "resource_missing");

    // A removed metered item's usage so far is billed on the next invoice; it takes no more.
    usage(rt, &format!("subscription_item={si}&quantity=9")).ok();
    let changed = rt
        .post(&format!("/v1/subscriptions/{id}"))
        .form(&format!("items[0][id]={si}&items[0][deleted]=true"))
        .send()
        .ok();
    let pending = changed["pending_invoice_items"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{changed}");
    assert_eq!(
        (pending[0]["quantity"].as_i64(), pending[0]["amount"].as_i64()),
        (Some(9), Some(18))
    );
    usage(rt, &format!("subscription_item={si}&quantity=1")).err_param(400, "resource_missing", "subscription_item");
    assert_eq!(
        ids(&get(rt, &format!("/v1/usage_records?subscription_item={si}"))).len(),
        1,
        "still listed"
    );

    rt.post(&format!("/v1/subscriptions/{id}/cancel")).send().ok();
    usage(rt, &format!("subscription_item={licensed}&quantity=1")).err_param(
        400,
        "subscription_canceled",
        "subscription_item",
    );
}
