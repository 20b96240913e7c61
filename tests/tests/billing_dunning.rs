//! Billing's dunning: a renewal's failed charge is retried on the environment's schedule
//! (`/v1/billing/settings`), a new default payment method is used by the next retry, and the
//! last failure cancels, keeps unpaid or leaves past due (docs/billing.md, Dunning). Every
//! test holds `serial()` and sets the schedule it needs: settings and the clock are per account.

use vinr_conformance::billing::{attach, customer_paying_with, monthly, set_default};
use vinr_conformance::money::{advance, clock_now, err_naming, events_for, find_event, serial};
use vinr_conformance::*;

const DAY: i64 = 86_400;
/// The documented default settings, set by each test that relies on them.
const DEFAULTS: &str =
    "retry_schedule_days[]=3&retry_schedule_days[]=5&retry_schedule_days[]=7&after_final_failure=cancel";

fn set(rt: &Runtime, form: &str) -> Value {
    let s = rt.post("/v1/billing/settings").form(form).send().ok();
    assert_eq!(s["object"], "billing_settings", "{s}");
    s
}

fn get(rt: &Runtime, path: &str) -> Value {
    rt.get(path).send().ok()
}

/// Makes a copy of `test_pm` the customer's default payment method.
fn switch_to(rt: &Runtime, cust: &str, test_pm: &str) {
    let pm = attach(rt, cust, test_pm);
    set_default(rt, cust, &pm);
}

/// A monthly subscription paid at once, whose customer's default card then declines; the
/// clock is moved a minute past its renewal. Returns (subscription, customer, renewal invoice).
fn failed_renewal(rt: &Runtime) -> (String, String, Value) {
    let pr = monthly(rt, 1500);
    let cust = customer_paying_with(rt, "pm_card_visa");
    let sub = rt
        .post("/v1/subscriptions")
        .form(&format!("customer={cust}&items[0][price]={pr}"))
        .send()
        .ok();
    assert_eq!(sub["status"], "active", "{sub}");
    switch_to(rt, &cust, "pm_card_insufficient_funds");
    let end = sub["current_period_end"].as_i64().unwrap();
    advance(rt, end - clock_now(rt) + 60);
    let id = id_of(&sub);
    let inv = get(rt, &format!("/v1/subscriptions/{id}"))["latest_invoice"]
        .as_str()
        .unwrap()
        .to_string();
    (id, cust, get(rt, &format!("/v1/invoices/{inv}")))
}

/// The payments made for `inv`, by status.
fn attempts(rt: &Runtime, cust: &str, inv: &str) -> (usize, usize) {
    let all = get(rt, &format!("/v1/payments?customer={cust}&limit=100"));
    let mine: Vec<&Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["invoice"] == inv)
        .collect();
    let ok = mine.iter().filter(|p| p["status"] == "succeeded").count();
    (ok, mine.len() - ok)
}

#[test]
fn a_failed_renewal_is_retried_and_the_new_default_card_pays_it() {
    let _s = serial();
    let rt = shared();
    set(rt, DEFAULTS);
    let (sub, cust, inv) = failed_renewal(rt);
    let id = id_of(&inv);
    assert_eq!(inv["status"], "open");
    assert_eq!(inv["attempt_count"], 1);
    let first = inv["finalized_at"].as_i64().unwrap();
    assert_eq!(inv["next_payment_attempt"], first + 3 * DAY, "{inv}");
    assert_eq!(get(rt, &format!("/v1/subscriptions/{sub}"))["status"], "past_due");
    assert_eq!(events_for(rt, "invoice.payment_failed", &id).len(), 1);

    advance(rt, 3 * DAY);
    let again = get(rt, &format!("/v1/invoices/{id}"));
    assert_eq!(again["attempt_count"], 2, "{again}");
    assert_eq!(
        again["next_payment_attempt"],
        first + 8 * DAY,
        "5 days after the attempt before"
    );
    assert_eq!(events_for(rt, "invoice.payment_failed", &id).len(), 2);
    let retry = get_payment(rt, again["last_payment_error"]["payment"].as_str().unwrap());
    assert_eq!(retry["created"], first + 3 * DAY, "retried on its own date");

    // The customer's new default card is what the next retry charges.
    switch_to(rt, &cust, "pm_card_mastercard");
    advance(rt, 5 * DAY);
    let paid = get(rt, &format!("/v1/invoices/{id}"));
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["attempt_count"], 3);
    assert!(paid["next_payment_attempt"].is_null());
    assert_eq!(paid["amount_paid"], 1500);
    assert_eq!(
        get_payment(rt, paid["payment"].as_str().unwrap())["created"],
        first + 8 * DAY
    );
    find_event(rt, "invoice.paid", &id);
    assert_eq!(get(rt, &format!("/v1/subscriptions/{sub}"))["status"], "active");
    assert_eq!(attempts(rt, &cust, &id), (1, 2), "one success after two declines");
    advance(rt, 10 * DAY);
    assert_eq!(attempts(rt, &cust, &id), (1, 2), "nothing tried after it was paid");
}

#[test]
fn after_the_last_retry_the_default_cancels() {
    let _s = serial();
    let rt = shared();
    set(rt, DEFAULTS);
    let (sub, cust, inv) = failed_renewal(rt);
    let id = id_of(&inv);
    advance(rt, 14 * DAY);
    assert_eq!(
        get(rt, &format!("/v1/subscriptions/{sub}"))["status"],
        "past_due",
        "day 14: one retry left"
    );
    advance(rt, DAY);
    let s = get(rt, &format!("/v1/subscriptions/{sub}"));
    assert_eq!(s["status"], "canceled", "{s}");
    assert!(s["ended_at"].is_i64());
    find_event(rt, "subscription.deleted", &sub);
    let last = get(rt, &format!("/v1/invoices/{id}"));
    assert_eq!(last["status"], "open", "still owed; the merchant may void it");
    assert_eq!(last["attempt_count"], 4, "the renewal and three retries");
    assert!(last["next_payment_attempt"].is_null());
    assert_eq!(attempts(rt, &cust, &id), (0, 4));
    advance(rt, 40 * DAY);
    let invs = get(rt, &format!("/v1/invoices?subscription={sub}"));
    assert_eq!(
        invs["data"].as_array().unwrap().len(),
        2,
        "a canceled subscription renews no more"
    );
}

#[test]
fn unpaid_subscriptions_invoice_without_charging_and_past_due_ones_keep_charging() {
    let _s = serial();
    let rt = shared();
    let s = set(rt, "retry_schedule_days[]=1&after_final_failure=unpaid");
    assert_eq!(s["retry_schedule_days"], json!([1]));
    assert_eq!(s["after_final_failure"], "unpaid");
    let (sub, cust, inv) = failed_renewal(rt);
    assert_eq!(inv["next_payment_attempt"], inv["finalized_at"].as_i64().unwrap() + DAY);
    advance(rt, DAY);
    let s = get(rt, &format!("/v1/subscriptions/{sub}"));
    assert_eq!(s["status"], "unpaid", "{s}");
    switch_to(rt, &cust, "pm_card_visa");
    advance(rt, 31 * DAY);
    let next = get(rt, &format!("/v1/subscriptions/{sub}"));
    assert_eq!(next["status"], "unpaid", "renewed, not charged: {next}");
    let newest = get(
        rt,
        &format!("/v1/invoices/{}", next["latest_invoice"].as_str().unwrap()),
    );
    assert_ne!(newest["id"], inv["id"]);
    assert_eq!(newest["status"], "open");
    assert_eq!(
        newest["attempt_count"], 0,
        "an unpaid subscription's invoice waits for the customer"
    );
    let paid = rt.post(&format!("/v1/invoices/{}/pay", id_of(&newest))).send().ok();
    assert_eq!(paid["status"], "paid");
    assert_eq!(get(rt, &format!("/v1/subscriptions/{sub}"))["status"], "active");

    // No retries and past_due: the failed renewal stays open and the next one is charged.
    set(rt, "retry_schedule_days=&after_final_failure=past_due");
    let (sub, cust, inv) = failed_renewal(rt);
    assert!(inv["next_payment_attempt"].is_null(), "{inv}");
    assert_eq!(get(rt, &format!("/v1/subscriptions/{sub}"))["status"], "past_due");
    switch_to(rt, &cust, "pm_card_visa");
    advance(rt, 31 * DAY);
    let s = get(rt, &format!("/v1/subscriptions/{sub}"));
    let newest = get(rt, &format!("/v1/invoices/{}", s["latest_invoice"].as_str().unwrap()));
    assert_eq!(newest["status"], "paid", "{newest}");
    assert_eq!(get(rt, &format!("/v1/invoices/{}", id_of(&inv)))["status"], "open");
    assert_eq!(s["status"], "active");
    set(rt, DEFAULTS);
}

#[test]
fn billing_settings_are_checked_and_read_back() {
    let _s = serial();
    let rt = shared();
    let before = set(rt, DEFAULTS);
    assert_eq!(before["retry_schedule_days"], json!([3, 5, 7]));
    assert_eq!(before["livemode"], false);
    for bad in [
        "retry_schedule_days[]=0",
        "retry_schedule_days[]=61",
        "retry_schedule_days[]=two",
        "retry_schedule_days[]=1&retry_schedule_days[]=1&retry_schedule_days[]=1&retry_schedule_days[]=1&retry_schedule_days[]=1&retry_schedule_days[]=1&retry_schedule_days[]=1&retry_schedule_days[]=1&retry_schedule_days[]=1",
    ] {
        let r = rt
            .post("/v1/billing/settings")
            .form(&format!("after_final_failure=unpaid&{bad}"))
            .send();
        err_naming(&r, 400, "retry_schedule_days");
    }
    err_naming(
        &rt.post("/v1/billing/settings")
            .form("after_final_failure=forgive")
            .send(),
        400,
        "after_final_failure",
    );
    err_naming(
        &rt.post("/v1/billing/settings")
            .json(&json!({ "retry_schedule_days": "3,5" }))
            .send(),
        400,
        "retry_schedule_days",
    );
    assert_eq!(
        get(rt, "/v1/billing/settings"),
        before,
        "nothing written by a refused change"
    );
    let j = rt
        .post("/v1/billing/settings")
        .json(&json!({ "retry_schedule_days": [2, 4] }))
        .send()
        .ok();
    assert_eq!(j["retry_schedule_days"], json!([2, 4]));
    assert_eq!(j["after_final_failure"], "cancel", "unchanged when not sent");
    assert_eq!(get(rt, "/v1/billing/settings"), j);
    set(rt, DEFAULTS);
}

#[test]
fn a_retry_racing_a_manual_pay_charges_once() {
    let _s = serial();
    let rt = shared();
    set(rt, DEFAULTS);
    for _ in 0..3 {
        let (_sub, cust, inv) = failed_renewal(rt);
        let id = id_of(&inv);
        switch_to(rt, &cust, "pm_card_visa");
        let due = inv["next_payment_attempt"].as_i64().unwrap();
        let wait = due - clock_now(rt) + 1;
        std::thread::scope(|s| {
            let clock = s.spawn(|| advance(rt, wait));
            let pay = s.spawn(|| rt.post(&format!("/v1/invoices/{id}/pay")).send());
            let r = pay.join().unwrap();
            assert!(
                r.status == 200 || (r.status == 400 && r.json()["error"]["code"] == "invoice_already_paid"),
                "pay: {} {}",
                r.status,
                r.text()
            );
            clock.join().unwrap();
        });
        let paid = get(rt, &format!("/v1/invoices/{id}"));
        assert_eq!(paid["status"], "paid", "{paid}");
        assert_eq!(attempts(rt, &cust, &id).0, 1, "exactly one successful charge");
        assert_eq!(paid["amount_paid"], 1500);
    }
}
