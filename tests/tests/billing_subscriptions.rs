//! Billing's subscriptions: /v1/subscriptions, renewals on the sandbox clock, and the invoices
//! and payments they make (docs/billing.md, Subscriptions). Every test holds `serial()`: clock
//! advances move the whole account's time.

use vinr_conformance::billing::{attach, customer_paying_with, monthly, price, set_default};
use vinr_conformance::money::{advance, assert_no_event, events_for, find_event, serial};
use vinr_conformance::*;

const DAY: i64 = 86_400;

fn subscribe(rt: &Runtime, form: &str) -> Resp {
    rt.post("/v1/subscriptions").form(form).send()
}

fn get(rt: &Runtime, path: &str) -> Value {
    rt.get(path).send().ok()
}

/// The subscription's invoices, oldest first.
fn invoices_of(rt: &Runtime, sub: &str) -> Vec<Value> {
    let mut all = get(rt, &format!("/v1/invoices?subscription={sub}&limit=100"))["data"]
        .as_array()
        .unwrap()
        .clone();
    all.reverse();
    all
}

#[test]
fn a_subscription_invoices_and_charges_its_first_period_at_once() {
    let _s = serial();
    let rt = shared();
    let cust = customer_paying_with(rt, "pm_card_visa");
    let pr = monthly(rt, 1500);
    let sub = subscribe(
        rt,
        &format!("customer={cust}&items[0][price]={pr}&items[0][quantity]=2&metadata[plan]=pro"),
    )
    .ok();
    let id = assert_id(&sub["id"], "sub_");
    assert_eq!(sub["object"], "subscription");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["customer"], cust.as_str());
    assert_eq!(sub["customerId"], cust.as_str());
    assert_eq!(sub["currency"], "EUR");
    assert_eq!(
        (sub["interval"].as_str(), sub["interval_count"].as_i64()),
        (Some("month"), Some(1))
    );
    let item = &sub["items"]["data"][0];
    assert_id(&item["id"], "si_");
    assert_eq!(item["price"]["id"], pr.as_str());
    assert_eq!(item["quantity"], 2);
    let (start, end) = (
        sub["current_period_start"].as_i64().unwrap(),
        sub["current_period_end"].as_i64().unwrap(),
    );
    assert!((28 * DAY..=31 * DAY).contains(&(end - start)), "a month: {sub}");
    assert_eq!(sub["metadata"], json!({"plan": "pro"}));

    let inv = get(rt, &format!("/v1/invoices/{}", sub["latest_invoice"].as_str().unwrap()));
    assert_eq!(inv["subscription"], id.as_str());
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["total"], 3000);
    assert_eq!(
        (inv["period_start"].as_i64(), inv["period_end"].as_i64()),
        (Some(start), Some(end))
    );
    let line = &inv["lines"]["data"][0];
    assert_eq!(
        (line["amount"].as_i64(), line["quantity"].as_i64()),
        (Some(3000), Some(2))
    );
    assert_eq!(line["period"], json!({"start": start, "end": end}));
    let pay = get_payment(rt, inv["payment"].as_str().unwrap());
    assert_eq!(
        (pay["status"].as_str(), pay["amount"].as_i64()),
        (Some("succeeded"), Some(3000))
    );
    assert_eq!(get(rt, &format!("/v1/subscriptions/{id}")), sub);
    let created = get(rt, "/v1/events?type=subscription.created&limit=100");
    assert!(
        created["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["id"] == id.as_str())
    );
}

#[test]
fn a_year_of_the_clock_renews_a_monthly_subscription_twelve_times() {
    let _s = serial();
    let rt = shared();
    let cust = customer_paying_with(rt, "pm_card_visa");
    let pr = monthly(rt, 990);
    let id = id_of(&subscribe(rt, &format!("customer={cust}&items[0][price]={pr}")).ok());
    advance(rt, 365 * DAY);
    let invs = invoices_of(rt, &id);
    assert!(
        (12..=13).contains(&invs.len()),
        "13 invoices (12 renewals, a year may hold 12 boundaries): {}",
        invs.len()
    );
    for w in invs.windows(2) {
        assert_eq!(
            w[0]["period_end"], w[1]["period_start"],
            "no period skipped or billed twice"
        );
    }
    for inv in &invs {
        assert_eq!(inv["status"], "paid", "{inv}");
        assert_eq!(inv["total"], 990);
        let pay = get_payment(rt, inv["payment"].as_str().unwrap());
        assert_eq!(pay["status"], "succeeded");
        assert_eq!(pay["created"], inv["period_start"], "charged on its own date");
    }
    let payments = get(rt, &format!("/v1/payments?customer={cust}&limit=100"));
    assert_eq!(
        payments["data"].as_array().unwrap().len(),
        invs.len(),
        "one payment per invoice"
    );
    let sub = get(rt, &format!("/v1/subscriptions/{id}"));
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["current_period_start"], invs.last().unwrap()["period_start"]);
    assert_eq!(sub["latest_invoice"], invs.last().unwrap()["id"]);
}

#[test]
fn a_trial_invoices_nothing_until_it_ends() {
    let _s = serial();
    let rt = shared();
    let cust = customer_paying_with(rt, "pm_card_visa");
    let pr = monthly(rt, 2500);
    let sub = subscribe(
        rt,
        &format!("customer={cust}&items[0][price]={pr}&trial_period_days=14"),
    )
    .ok();
    let id = id_of(&sub);
    assert_eq!(sub["status"], "trialing");
    assert!(sub["latest_invoice"].is_null());
    let trial_end = sub["trial_end"].as_i64().unwrap();
    assert_eq!(trial_end - sub["trial_start"].as_i64().unwrap(), 14 * DAY);
    assert_eq!(sub["current_period_end"], trial_end);
    assert!(invoices_of(rt, &id).is_empty());
    advance(rt, 15 * DAY);
    let after = get(rt, &format!("/v1/subscriptions/{id}"));
    assert_eq!(after["status"], "active");
    let invs = invoices_of(rt, &id);
    assert_eq!(invs.len(), 1);
    assert_eq!(invs[0]["period_start"], trial_end);
    assert_eq!(invs[0]["status"], "paid");
}

#[test]
fn trial_will_end_fires_three_days_before_the_trial_ends() {
    let _s = serial();
    let rt = shared();
    let cust = customer_paying_with(rt, "pm_card_visa");
    let pr = monthly(rt, 2500);
    let trial = |days: i64| {
        id_of(
            &subscribe(
                rt,
                &format!("customer={cust}&items[0][price]={pr}&trial_period_days={days}"),
            )
            .ok(),
        )
    };
    let long = trial(10);
    let canceled = trial(10);
    rt.post(&format!("/v1/subscriptions/{canceled}/cancel")).send().ok();
    let short = trial(2);
    let told = find_event(rt, "subscription.trial_will_end", &short);
    assert_eq!(
        told["data"]["status"], "trialing",
        "a trial under 3 days is told at once"
    );
    assert_no_event(rt, "subscription.trial_will_end", &long);
    let start = get(rt, &format!("/v1/subscriptions/{long}"))["trial_start"]
        .as_i64()
        .unwrap();
    advance(rt, 7 * DAY - 60);
    assert_no_event(rt, "subscription.trial_will_end", &long);
    advance(rt, 120);
    let e = find_event(rt, "subscription.trial_will_end", &long);
    assert_eq!(e["created"], start + 7 * DAY, "three days before trial_end");
    assert_eq!(e["data"]["trial_end"], start + 10 * DAY);
    assert_eq!(events_for(rt, "subscription.trial_will_end", &long).len(), 1);
    advance(rt, 4 * DAY);
    assert_no_event(rt, "subscription.trial_will_end", &canceled);
}

#[test]
fn a_declined_first_charge_is_incomplete_until_paid_or_expired() {
    let _s = serial();
    let rt = shared();
    let pr = monthly(rt, 1000);
    let cust = customer_paying_with(rt, "pm_card_insufficient_funds");
    let sub = subscribe(rt, &format!("customer={cust}&items[0][price]={pr}")).ok();
    assert_eq!(sub["status"], "incomplete");
    let inv = sub["latest_invoice"].as_str().unwrap().to_string();
    let open = get(rt, &format!("/v1/invoices/{inv}"));
    assert_eq!(open["status"], "open");
    assert_eq!(open["last_payment_error"]["decline_code"], "insufficient_funds");
    // Paid by hand: the subscription is active.
    let paid = rt
        .post(&format!("/v1/invoices/{inv}/pay"))
        .form("payment_method=pm_card_visa")
        .send()
        .ok();
    assert_eq!(paid["status"], "paid");
    assert_eq!(
        get(rt, &format!("/v1/subscriptions/{}", id_of(&sub)))["status"],
        "active"
    );

    let other = customer_paying_with(rt, "pm_card_declined");
    let late = subscribe(rt, &format!("customer={other}&items[0][price]={pr}")).ok();
    assert_eq!(late["status"], "incomplete");
    advance(rt, DAY);
    let expired = get(rt, &format!("/v1/subscriptions/{}", id_of(&late)));
    assert_eq!(expired["status"], "incomplete_expired");
    let void = get(
        rt,
        &format!("/v1/invoices/{}", late["latest_invoice"].as_str().unwrap()),
    );
    assert_eq!(void["status"], "void");
    advance(rt, 40 * DAY);
    assert_eq!(
        invoices_of(rt, &id_of(&late)).len(),
        1,
        "an expired subscription never renews"
    );
}

#[test]
fn a_failed_renewal_is_past_due_and_the_customer_default_at_charge_time_is_used() {
    let _s = serial();
    let rt = shared();
    let pr = monthly(rt, 1200);
    let cust = customer_paying_with(rt, "pm_card_visa");
    let id = id_of(&subscribe(rt, &format!("customer={cust}&items[0][price]={pr}")).ok());
    let poor = attach(rt, &cust, "pm_card_insufficient_funds");
    set_default(rt, &cust, &poor);
    advance(rt, 32 * DAY);
    let sub = get(rt, &format!("/v1/subscriptions/{id}"));
    assert_eq!(sub["status"], "past_due");
    let inv = invoices_of(rt, &id).pop().unwrap();
    assert_eq!(inv["status"], "open");
    let failed = get_payment(rt, inv["last_payment_error"]["payment"].as_str().unwrap());
    assert_eq!(
        failed["payment_method"],
        poor.as_str(),
        "the default as it was at the charge"
    );
    let good = attach(rt, &cust, "pm_card_mastercard");
    let paid = rt
        .post(&format!("/v1/invoices/{}/pay", id_of(&inv)))
        .form(&format!("payment_method={good}"))
        .send()
        .ok();
    assert_eq!(paid["status"], "paid");
    assert_eq!(get(rt, &format!("/v1/subscriptions/{id}"))["status"], "active");
}

#[test]
fn cancel_now_or_at_the_period_end() {
    let _s = serial();
    let rt = shared();
    let pr = monthly(rt, 800);
    let cust = customer_paying_with(rt, "pm_card_visa");
    let later = id_of(&subscribe(rt, &format!("customer={cust}&items[0][price]={pr}")).ok());
    let c = rt
        .post(&format!("/v1/subscriptions/{later}/cancel"))
        .form("at_period_end=true")
        .send()
        .ok();
    assert_eq!(
        (c["status"].as_str(), c["cancel_at_period_end"].as_bool()),
        (Some("active"), Some(true))
    );
    let now = id_of(&subscribe(rt, &format!("customer={cust}&items[0][price]={pr}")).ok());
    let d = rt.post(&format!("/v1/subscriptions/{now}/cancel")).send().ok();
    assert_eq!(d["status"], "canceled");
    assert!(d["ended_at"].as_i64().is_some());
    rt.post(&format!("/v1/subscriptions/{now}/cancel"))
        .send()
        .err(400, "subscription_canceled");
    advance(rt, 40 * DAY);
    let ended = get(rt, &format!("/v1/subscriptions/{later}"));
    assert_eq!(ended["status"], "canceled");
    assert_eq!(ended["ended_at"], c["current_period_end"]);
    assert_eq!(invoices_of(rt, &later).len(), 1, "not renewed");
    assert_eq!(invoices_of(rt, &now).len(), 1);
    let deleted = get(rt, "/v1/events?type=subscription.deleted&limit=100");
    for id in [&later, &now] {
        assert!(
            deleted["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["data"]["id"] == id.as_str()),
            "{id}"
        );
    }
    let canceled = ids(&get(rt, &format!("/v1/subscriptions?customer={cust}&status=canceled")));
    assert_eq!(canceled, vec![now.clone(), later.clone()]);
    let by_price = ids(&get(rt, &format!("/v1/subscriptions?price={pr}")));
    assert_eq!(by_price, vec![now, later]);
}

#[test]
fn send_invoice_subscriptions_are_active_with_an_open_invoice_due_later() {
    let _s = serial();
    let rt = shared();
    let pr = monthly(rt, 5000);
    let cust = id_of(&rt.post("/v1/customers").form("").send().ok());
    let sub = subscribe(
        rt,
        &format!("customer={cust}&items[0][price]={pr}&collection_method=send_invoice&days_until_due=7"),
    )
    .ok();
    assert_eq!(sub["status"], "active");
    let inv = get(rt, &format!("/v1/invoices/{}", sub["latest_invoice"].as_str().unwrap()));
    assert_eq!(inv["status"], "open");
    assert_eq!(inv["collection_method"], "send_invoice");
    assert_eq!(
        inv["due_date"].as_i64().unwrap(),
        inv["finalized_at"].as_i64().unwrap() + 7 * DAY
    );
    assert_eq!(inv["attempt_count"], 0, "nothing was charged");
}

#[test]
fn subscription_errors_name_the_parameter_and_write_nothing() {
    let _s = serial();
    let rt = shared();
    let cust = customer_paying_with(rt, "pm_card_visa");
    let eur = monthly(rt, 1000);
    let usd = price(rt, "currency=USD&unit_amount=1000&recurring[interval]=month");
    let yearly = price(rt, "currency=EUR&unit_amount=1000&recurring[interval]=year");
    let once = price(rt, "currency=EUR&unit_amount=1000");
    let metered = price(
        rt,
        "currency=EUR&unit_amount=5&recurring[interval]=month&recurring[usage_type]=metered",
    );
    let inactive = monthly(rt, 1000);
    rt.post(&format!("/v1/prices/{inactive}"))
        .form("active=false")
        .send()
        .ok();
    let tiny = monthly(rt, 10);
    let c = format!("customer={cust}");
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("items[0][price]={eur}"), "parameter_missing", "customer"),
        (
            format!("customer=cust_000000000000000000000000&items[0][price]={eur}"),
            "resource_missing",
            "customer",
        ),
        (c.clone(), "parameter_missing", "items"),
        (
            format!("{c}&items[0][quantity]=2"),
            "parameter_missing",
            "items[0][price]",
        ),
        (
            format!("{c}&items[0][price]=price_000000000000000000000000"),
            "resource_missing",
            "items[0][price]",
        ),
        (
            format!("{c}&items[0][price]={once}"),
            "price_not_recurring",
            "items[0][price]",
        ),
        (
            format!("{c}&items[0][price]={metered}&items[0][quantity]=3"),
            "metered_quantity",
            "items[0][quantity]",
        ),
        (
            format!("{c}&items[0][price]={inactive}"),
            "price_inactive",
            "items[0][price]",
        ),
        (
            format!("{c}&items[0][price]={eur}&items[1][price]={usd}"),
            "currency_mismatch",
            "items[1][price]",
        ),
        (
            format!("{c}&items[0][price]={eur}&items[1][price]={yearly}"),
            "interval_mismatch",
            "items[1][price]",
        ),
        (
            format!("{c}&items[0][price]={eur}&items[0][quantity]=0"),
            "parameter_invalid_integer",
            "items[0][quantity]",
        ),
        (
            format!("{c}&items[0][price]={eur}&items[0][quantity]=-2"),
            "parameter_invalid_integer",
            "items[0][quantity]",
        ),
        (format!("{c}&items[0][price]={tiny}"), "amount_too_small", "items"),
        (
            format!("{c}&items[0][price]={eur}&trial_period_days=0"),
            "parameter_invalid_integer",
            "trial_period_days",
        ),
        (
            format!("{c}&items[0][price]={eur}&days_until_due=3"),
            "parameter_not_allowed",
            "days_until_due",
        ),
        (
            format!("{c}&items[0][price]={eur}&default_payment_method=pm_nope"),
            "resource_missing",
            "default_payment_method",
        ),
    ];
    for (form, code, param) in &cases {
        subscribe(rt, form).err_param(400, code, param);
    }
    assert!(ids(&get(rt, &format!("/v1/subscriptions?customer={cust}"))).is_empty());
    assert!(
        ids(&get(rt, &format!("/v1/invoices?customer={cust}"))).is_empty(),
        "no invoice either"
    );
    rt.get("/v1/subscriptions/sub_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
    rt.get("/v1/subscriptions?status=paused")
        .send()
        .err_param(400, "parameter_invalid", "status");
}
