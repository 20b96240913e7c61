//! Points from payments with no integration code (docs/engagement.md): captures earn in their
//! own commit (card payments, manual captures, invoices), refunds and lost disputes take back
//! the proportional points, automatic enrolment, pending points, expiry, tiers, and the events
//! seed 002's handler reads. Every test holds `serial()`: the program and the clock are
//! environment-wide.

use vinr_conformance::billing::{customer_paying_with, monthly};
use vinr_conformance::loyalty::{account, grant, member, plain_program, program, reward, transactions};
use vinr_conformance::money::{DAY, advance, int, serial};
use vinr_conformance::*;

fn pay_as(rt: &Runtime, cust: &str, amount: i64, currency: &str, pm: &str) -> Value {
    let p = create_payment(
        rt,
        &format!("amount={amount}&currency={currency}&payment_method={pm}&customer={cust}"),
    );
    assert_eq!(p["status"], "succeeded", "{p}");
    p
}

fn earning_of(rt: &Runtime, loy: &str, pay: &str) -> Value {
    transactions(rt, loy)
        .into_iter()
        .find(|t| t["type"] == "earn_payment" && t["payment"] == pay)
        .unwrap_or_else(|| panic!("no earning of {pay} on {loy}"))
}

fn refund(rt: &Runtime, pay: &str, amount: i64) -> Value {
    rt.post("/v1/refunds")
        .form(&format!("payment={pay}&amount={amount}"))
        .send()
        .ok()
}

#[test]
fn a_capture_earns_in_its_commit_and_refunds_take_back_the_proportion() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    // Rates per currency.
    program(rt, "earn_rate[EUR]=1&earn_rate[JPY]=0.01");
    let (cust, loy) = member(rt);
    let p = pay_as(rt, &cust, 5_099, "EUR", "pm_card_visa");
    let pay = id_of(&p);
    // 50.99 EUR at 1 point per euro: 50 (floored).
    let e = earning_of(rt, &loy, &pay);
    assert_eq!((int(&e, "points"), e["status"].as_str()), (50, Some("active")), "{e}");
    assert_eq!(int(&account(rt, &loy), "points_balance"), 50);
    // A currency left out of the rates earns nothing; JPY at 0.01 per yen.
    pay_as(rt, &cust, 5_000, "USD", "pm_card_visa");
    pay_as(rt, &cust, 10_000, "JPY", "pm_card_visa");
    assert_eq!(int(&account(rt, &loy), "points_balance"), 150);

    // Refund 20.00 of 50.99: floor(50 x 2000 / 5099) = 19 back; the rest with the last refund.
    refund(rt, &pay, 2_000);
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), 131, "{a}");
    refund(rt, &pay, 3_099);
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), 100, "{a}");
    assert_eq!(int(&a, "lifetime_points"), 100, "{a}");
    let reversals: Vec<i64> = transactions(rt, &loy)
        .iter()
        .filter(|t| t["type"] == "reversal")
        .map(|t| int(t, "points"))
        .collect();
    assert_eq!(reversals, vec![-19, -31]);
    assert_eq!(int(&earning_of(rt, &loy, &pay), "points_reversed"), 50);
    // A payment without a customer, or a customer without an account, earns nothing.
    succeeded_payment(rt);
    let stranger = id_of(&create_customer(rt));
    pay_as(rt, &stranger, 5_000, "EUR", "pm_card_visa");
    let none = rt.get(&format!("/v1/loyalty/accounts?customer={stranger}")).send().ok();
    assert_eq!(ids(&none), Vec::<String>::new());
    plain_program(rt);
}

#[test]
fn a_refund_after_spending_leaves_a_debt_that_later_earnings_pay_first() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    let (cust, loy) = member(rt);
    let p = pay_as(rt, &cust, 10_000, "EUR", "pm_card_visa");
    let rwd = reward(rt, 100, None);
    rt.post("/v1/loyalty/redemptions")
        .form(&format!("account={loy}&reward={rwd}"))
        .send()
        .ok();
    refund(rt, &id_of(&p), 10_000);
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), -100, "{a}");
    pay_as(rt, &cust, 15_000, "EUR", "pm_card_visa");
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), 50, "{a}");
    assert_eq!(int(&a, "spent_points"), 100, "{a}");
    // Negative: no redemption until the debt is paid.
    let dear = reward(rt, 51, None);
    rt.post("/v1/loyalty/redemptions")
        .form(&format!("account={loy}&reward={dear}"))
        .send()
        .err(400, "insufficient_points");
}

#[test]
fn manual_capture_and_invoices_earn_too_and_auto_enrolment_opens_the_account() {
    let rt = shared();
    let _s = serial();
    program(rt, "earn_rate=2&auto_enroll=true&pending_days=0&expiry_months=0");
    let cust = id_of(&create_customer(rt));
    let p = create_payment(
        rt,
        &format!("amount=5000&currency=EUR&payment_method=pm_card_visa&customer={cust}&capture_method=manual"),
    );
    // Authorized only: nothing yet, not even an account.
    let none = rt.get(&format!("/v1/loyalty/accounts?customer={cust}")).send().ok();
    assert_eq!(ids(&none), Vec::<String>::new());
    rt.post(&format!("/v1/payments/{}/capture", id_of(&p)))
        .form("amount_to_capture=3000")
        .send()
        .ok();
    let list = rt.get(&format!("/v1/loyalty/accounts?customer={cust}")).send().ok();
    let loy = ids(&list).pop().expect("auto-enrolled at the first capture");
    assert_eq!(int(&account(rt, &loy), "points_balance"), 60, "30 EUR captured x 2");
    // A subscription's invoice is paid by a real payment, which earns.
    let payer = customer_paying_with(rt, "pm_card_visa");
    let price = monthly(rt, 2_500);
    let sub = rt
        .post("/v1/subscriptions")
        .form(&format!("customer={payer}&items[0][price]={price}"))
        .send()
        .ok();
    assert_eq!(sub["status"], "active", "{sub}");
    let list = rt.get(&format!("/v1/loyalty/accounts?customer={payer}")).send().ok();
    let loy = ids(&list).pop().expect("the invoice payment enrolled its customer");
    assert_eq!(int(&account(rt, &loy), "points_balance"), 50);
    // Seed 002's handler reads event.data.customerId and event.data.amount.
    let evts = rt.get("/v1/events?type=loyalty.points.earned&limit=100").send().ok();
    let e = evts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["account"] == loy.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no loyalty.points.earned for {loy}: {evts}"));
    assert_eq!(e["data"]["customerId"], payer.as_str(), "{e}");
    assert_eq!(e["data"]["amount"], 50, "{e}");
    plain_program(rt);
}

#[test]
fn a_lost_dispute_takes_back_the_points() {
    let rt = shared();
    let _s = serial();
    plain_program(rt);
    let (cust, loy) = member(rt);
    let p = pay_as(rt, &cust, 8_000, "EUR", "pm_card_dispute");
    advance(rt, 1);
    let p = get_payment(rt, &id_of(&p));
    let dp = p["dispute"].as_str().expect("disputed").to_string();
    assert_eq!(int(&account(rt, &loy), "points_balance"), 80);
    rt.post(&format!("/v1/disputes/{dp}/close")).send().ok();
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), 0, "{a}");
    let rev = transactions(rt, &loy)
        .into_iter()
        .find(|t| t["type"] == "reversal")
        .unwrap();
    assert_eq!(rev["source"], dp.as_str());
    let evts = rt.get("/v1/events?type=loyalty.points.reversed&limit=100").send().ok();
    assert!(
        evts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["id"] == rev["id"]),
        "{evts}"
    );
}

#[test]
fn pending_points_activate_and_expire_on_the_sandbox_clock() {
    let rt = shared();
    let _s = serial();
    program(rt, "earn_rate=1&pending_days=3&expiry_months=1&auto_enroll=false");
    let (cust, loy) = member(rt);
    let p = pay_as(rt, &cust, 10_000, "EUR", "pm_card_visa");
    let e = earning_of(rt, &loy, &id_of(&p));
    assert_eq!(e["status"], "pending");
    assert!(e["available_at"].is_i64(), "{e}");
    let a = account(rt, &loy);
    assert_eq!((int(&a, "pending_points"), int(&a, "points_balance")), (100, 0), "{a}");
    // A refund of pending points is pending with them.
    refund(rt, &id_of(&p), 2_000);
    let a = account(rt, &loy);
    assert_eq!(int(&a, "pending_points"), 80, "{a}");
    advance(rt, 3 * DAY + 60);
    let a = account(rt, &loy);
    assert_eq!((int(&a, "pending_points"), int(&a, "points_balance")), (0, 80), "{a}");
    assert!(transactions(rt, &loy).iter().all(|t| t["status"] == "active"));
    // Manual points are active at once; spend 30, oldest first: the payment's lot keeps 50.
    grant(rt, &loy, 10);
    rt.post(&format!("/v1/loyalty/accounts/{loy}/transactions"))
        .form("type=burn&points=30")
        .send()
        .ok();
    // A month later both lots expire: what is left of each.
    advance(rt, 32 * DAY);
    let a = account(rt, &loy);
    assert_eq!(int(&a, "points_balance"), 0, "{a}");
    assert_eq!(int(&a, "expired_points"), 60, "{a}");
    let expired: Vec<i64> = transactions(rt, &loy)
        .iter()
        .filter(|t| t["type"] == "expire")
        .map(|t| int(t, "points"))
        .collect();
    assert_eq!(expired, vec![-50, -10]);
    let evts = rt.get("/v1/events?type=loyalty.points.expired&limit=100").send().ok();
    let mine = evts["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["account"] == loy.as_str())
        .count();
    assert_eq!(mine, 2, "{evts}");
    plain_program(rt);
}

#[test]
fn tiers_multiply_earning_and_fall_when_earnings_leave_the_window() {
    let rt = shared();
    let _s = serial();
    program(
        rt,
        "earn_rate=1&pending_days=0&expiry_months=0&tiers[0][name]=silver&tiers[0][min_points]=100&tiers[0][multiplier]=1.5",
    );
    let (cust, loy) = member(rt);
    pay_as(rt, &cust, 10_000, "EUR", "pm_card_visa");
    let a = account(rt, &loy);
    assert_eq!(a["tier"], "silver", "{a}");
    // In silver: 40 EUR earns 60.
    let p = pay_as(rt, &cust, 4_000, "EUR", "pm_card_visa");
    let e = earning_of(rt, &loy, &id_of(&p));
    assert_eq!(int(&e, "points"), 60, "{e}");
    assert_eq!(e["multiplier"], 1.5, "{e}");
    let evts = rt.get("/v1/events?type=loyalty.tier.changed&limit=100").send().ok();
    assert!(
        evts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["id"] == loy.as_str() && e["data"]["tier"] == "silver"),
        "{evts}"
    );
    // Thirteen months on, nothing earned in the window: back below silver.
    advance(rt, 200 * DAY);
    assert_eq!(account(rt, &loy)["tier"], "silver", "still within 12 months");
    advance(rt, 200 * DAY);
    let a = account(rt, &loy);
    assert_eq!(a["tier"], Value::Null, "{a}");
    assert_eq!(int(&a, "points_balance"), 160, "points do not expire here");
    plain_program(rt);
}

#[test]
fn a_completed_terminal_payment_with_a_customer_earns() {
    use vinr_conformance::terminals::{SIMULATOR, create_tpay, simulator_lock, sync_tpay, tpay_body};
    let rt = shared();
    let _s = serial();
    let _g = simulator_lock();
    plain_program(rt);
    let (cust, loy) = member(rt);
    let p = sync_tpay(rt, SIMULATOR, 2_500, json!({ "customer": cust }));
    assert_eq!(p["status"], "completed", "{p}");
    assert_eq!(p["customer"], cust.as_str(), "{p}");
    let e = earning_of(rt, &loy, &id_of(&p));
    assert_eq!(int(&e, "points"), 25, "{e}");
    err_naming(
        &create_tpay(rt, &tpay_body(SIMULATOR, 2_500, json!({ "customer": "cust_nope" }))),
        400,
        "customer",
    );
}
