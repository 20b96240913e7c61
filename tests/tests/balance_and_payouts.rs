//! The ledger as the merchant sees it (docs/money.md): the processing plan and fees, transactions,
//! balances, daily settlements, manual and automatic payouts (also concurrent), the invariant
//! "sum of nets = pending + available", transaction search and CSV download, the sandbox clock.

use std::collections::{BTreeMap, BTreeSet};

use vinr_conformance::*;

const CSV_HEADER: &str = "id,created,updated,available_on,source_type,source_id,currency,amount,fee,net,status,settlement_status,settlement_id,settled_at,payout_id,description";

fn payout(rt: &Runtime, form: &str) -> Resp {
    rt.post("/v1/payouts").form(form).send()
}

fn get_payout(rt: &Runtime, id: &str) -> Value {
    let p = rt.get(&format!("/v1/payouts/{id}")).send().ok();
    assert_eq!(p["object"], "payout", "{p}");
    assert_eq!(p["id"], id, "{p}");
    p
}

fn payout_ids(rt: &Runtime) -> Vec<String> {
    list_all(rt, "/v1/payouts").iter().map(id_of).collect()
}

fn txn_ids(rt: &Runtime, path: &str) -> BTreeSet<String> {
    list_all(rt, path).iter().map(id_of).collect()
}

/// A captured payment of `amount` `currency`, then every unsettled transaction settled.
fn settled_payment(rt: &Runtime, amount: i64, currency: &str) -> Value {
    let p = pay(rt, amount, currency, "pm_card_visa");
    settle_all(rt);
    let t = get_txn(rt, &p["balance_transaction"]);
    assert_eq!(t["settlement_status"], "settled", "{t}");
    p
}

fn search(rt: &Runtime, form: &str) -> Value {
    let v = rt.post("/v1/transactions/search").form(form).send().ok();
    assert_eq!(v["object"], "search_result", "{v}");
    assert!(v["data"].is_array(), "{v}");
    v
}

fn data_ids(v: &Value) -> Vec<String> {
    v["data"].as_array().unwrap().iter().map(id_of).collect()
}

fn total(v: &Value) -> i64 {
    int(&v["meta"], "total")
}

/// For every currency: the sum of `net` over all transactions is `pending + available`; every
/// currency that moved is in the balance, sorted.
fn assert_ledger_invariant(rt: &Runtime) {
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for t in all_transactions(rt) {
        assert_eq!(int(&t, "net"), int(&t, "amount") - int(&t, "fee"), "{t}");
        *sums
            .entry(t["currency"].as_str().unwrap_or_else(|| panic!("{t}")).to_string())
            .or_default() += int(&t, "net");
    }
    let b = rt.get("/v1/balance").send().ok();
    assert_eq!(b["object"], "balance", "{b}");
    assert_eq!(b["livemode"], false, "{b}");
    let list = b["balances"].as_array().unwrap_or_else(|| panic!("{b}"));
    let currencies: Vec<String> = list
        .iter()
        .map(|e| e["currency"].as_str().unwrap().to_string())
        .collect();
    assert!(
        currencies.windows(2).all(|w| w[0] < w[1]),
        "balances sorted by currency, once each: {currencies:?}"
    );
    for (cur, sum) in &sums {
        let e = list
            .iter()
            .find(|e| e["currency"] == cur.as_str())
            .unwrap_or_else(|| panic!("{cur} moved but is not in {b}"));
        assert_eq!(
            *sum,
            int(e, "pending") + int(e, "available"),
            "{cur}: sum of nets = pending + available ({b})"
        );
    }
}

#[test]
fn processing_plan_is_the_sandbox_flat_rate() {
    let _g = serial();
    let rt = shared();
    let plan = rt.get("/v1/processing_plan").send().ok();
    assert_eq!(plan["object"], "processing_plan", "{plan}");
    assert!(plan["id"].is_string(), "{plan}");
    assert_eq!(plan["plan_type"], "FLAT_RATE", "{plan}");
    assert_eq!(plan["fees"]["percentage_bps"], 290, "{plan}");
    assert_eq!(plan["auth_fee"]["amount"], 30, "{plan}");
    assert_eq!(plan["dispute_fee"]["amount"], 1500, "{plan}");
    assert!(plan["settlement"].is_object(), "{plan}");
}

#[test]
fn capture_posts_a_pending_payment_transaction_with_the_plan_fee() {
    let _g = serial();
    let rt = shared();
    let (p0, a0) = balance(rt, "AUD");
    let mut nets = 0;
    for (amount, fee) in [(50, 31), (500, 45), (2500, 103), (1050, 60), (1250, 66), (99_999, 2930)] {
        assert_eq!(fee_for(amount), fee);
        let p = pay(rt, amount, "AUD", "pm_card_visa");
        let t = get_txn(rt, &p["balance_transaction"]);
        assert_eq!(t["source_type"], "payment", "{t}");
        assert_eq!(t["source_id"], p["id"], "{t}");
        assert_eq!(t["amount"], amount, "{t}");
        assert_eq!(t["fee"], fee, "round half up of 2.9 % plus 30: {t}");
        assert_eq!(t["net"], amount - fee, "{t}");
        assert_eq!(t["currency"], "AUD", "{t}");
        nets += amount - fee;
    }
    // Manual capture: the fee is taken at capture, on what is captured.
    let m = create_payment(
        rt,
        "amount=5000&currency=AUD&payment_method=pm_card_visa&capture_method=manual",
    );
    assert_eq!(m["status"], "requires_capture", "{m}");
    assert!(
        m["balance_transaction"].is_null(),
        "nothing is charged before capture: {m}"
    );
    assert_eq!(balance(rt, "AUD"), (p0 + nets, a0), "an authorisation moves no money");
    let c = rt
        .post(&format!("/v1/payments/{}/capture", id_of(&m)))
        .form("amount_to_capture=3000")
        .send()
        .ok();
    let t = get_txn(rt, &c["balance_transaction"]);
    assert_eq!((int(&t, "amount"), int(&t, "fee")), (3000, fee_for(3000)), "{t}");
    nets += net_of(3000);
    assert_eq!(
        balance(rt, "AUD"),
        (p0 + nets, a0),
        "captures add their nets to pending, not to available"
    );
}

#[test]
fn declined_canceled_and_uncaptured_payments_cost_nothing() {
    let _g = serial();
    let rt = shared();
    let declined = create_payment(rt, "amount=5000&currency=NZD&payment_method=pm_card_declined");
    assert_eq!(declined["status"], "failed", "{declined}");
    let uncaptured = create_payment(
        rt,
        "amount=5000&currency=NZD&payment_method=pm_card_visa&capture_method=manual",
    );
    let canceled = create_payment(
        rt,
        "amount=5000&currency=NZD&payment_method=pm_card_visa&capture_method=manual",
    );
    let canceled = rt
        .post(&format!("/v1/payments/{}/cancel", id_of(&canceled)))
        .send()
        .ok();
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    let threeds = create_payment(rt, "amount=5000&currency=NZD&payment_method=pm_card_threeds");
    assert_eq!(threeds["status"], "requires_action", "{threeds}");
    for p in [&declined, &uncaptured, &canceled, &threeds] {
        assert!(get_payment(rt, &id_of(p))["balance_transaction"].is_null(), "{p}");
    }
    let b = rt.get("/v1/balance").send().ok();
    assert!(
        b["balances"].as_array().unwrap().iter().all(|e| e["currency"] != "NZD"),
        "NZD never moved: {b}"
    );
    assert_eq!(balance(rt, "NZD"), (0, 0));
}

#[test]
fn daily_batch_settles_the_transaction_into_available() {
    let _g = serial();
    let rt = shared();
    set_schedule(rt, "manual");
    let (p0, a0) = balance(rt, "GBP");
    let p = pay(rt, 10_000, "GBP", "pm_card_visa");
    let t = get_txn(rt, &p["balance_transaction"]);
    let created = int(&t, "created");
    assert!(
        (clock_now(rt) - created).abs() <= 10,
        "created reads the sandbox clock: {t}"
    );
    assert_eq!(
        (int(&t, "amount"), int(&t, "fee"), int(&t, "net")),
        (10_000, 320, 9680),
        "{t}"
    );
    assert_eq!(t["status"], "pending", "{t}");
    assert_eq!(t["settlement_status"], "unsettled", "{t}");
    assert!(
        t["settlement_id"].is_null() && t["payout_id"].is_null() && t["settled_at"].is_null(),
        "{t}"
    );
    let available_on = int(&t, "available_on");
    assert_eq!(
        available_on,
        (created / DAY + 2) * DAY,
        "00:00 UTC two days after the day of creation: {t}"
    );
    let (p1, a1) = balance(rt, "GBP");
    assert_eq!((p1 - p0, a1 - a0), (9680, 0));

    settle_all(rt);
    let s = get_txn(rt, &t["id"]);
    assert_eq!(s["settlement_status"], "settled", "{s}");
    assert_eq!(s["status"], "available", "{s}");
    assert_eq!(s["available_on"], available_on, "{s}");
    assert_eq!(
        (int(&s, "amount"), int(&s, "fee"), int(&s, "net")),
        (10_000, 320, 9680),
        "{s}"
    );
    assert!(
        int(&s, "settled_at") >= available_on,
        "settled by the batch of available_on: {s}"
    );
    assert!(s["payout_id"].is_null(), "manual schedule: no payout: {s}");
    let (p2, a2) = balance(rt, "GBP");
    assert_eq!(
        (p2 - p1, a2 - a1),
        (-p1, p1),
        "pending (9680 of it ours) moves to available"
    );
    assert_eq!(p2, 0, "nothing left unsettled in GBP");

    let stl = assert_prefix(&s["settlement_id"], "stl_");
    let st = rt.get(&format!("/v1/settlements/{stl}")).send().ok();
    assert_eq!(st["object"], "settlement", "{st}");
    assert_eq!(st["id"], stl.as_str(), "{st}");
    assert_eq!(st["currency"], "GBP", "{st}");
    assert_eq!(st["status"], "settled", "{st}");
    assert_eq!(st["batch_date"], ymd(available_on).as_str(), "{st}");
    let members = list_all(rt, &format!("/v1/settlements/{stl}/transactions"));
    assert!(
        members.iter().any(|m| m["id"] == t["id"]),
        "the settlement lists our transaction"
    );
    assert_eq!(members.len() as i64, int(&st, "transaction_count"), "{st}");
    let sum = |k: &str| members.iter().map(|m| int(m, k)).sum::<i64>();
    assert_eq!(
        (sum("amount"), sum("fee"), sum("net")),
        (int(&st, "gross"), int(&st, "fees"), int(&st, "net")),
        "{st}"
    );
    for m in &members {
        assert_eq!(m["currency"], "GBP", "{m}");
        assert_eq!(m["settlement_id"], stl.as_str(), "{m}");
        assert_eq!(m["settlement_status"], "settled", "{m}");
        assert_ne!(m["source_type"], "payout", "payouts are never settled in a batch: {m}");
    }
    let members: BTreeSet<String> = members.iter().map(id_of).collect();
    assert_eq!(txn_ids(rt, &format!("/v1/transactions?settlement={stl}")), members);
    let listed = list_all(rt, "/v1/settlements?currency=GBP");
    assert!(listed.iter().all(|x| x["currency"] == "GBP"), "{listed:?}");
    assert!(
        listed.iter().any(|x| x["id"] == stl.as_str()),
        "GET /v1/settlements?currency=GBP lists {stl}"
    );
    find_event(rt, "settlement.created", &stl);
}

#[test]
fn manual_payout_pending_in_transit_paid() {
    let _g = serial();
    let rt = shared();
    set_schedule(rt, "manual");
    assert_eq!(rt.get("/v1/payouts/schedule").send().ok()["interval"], "manual");
    settled_payment(rt, 10_000, "USD");
    let (p1, a1) = balance(rt, "USD");
    assert!(a1 >= net_of(10_000), "available {a1}");

    let po = payout(rt, "currency=USD&amount=3000&description=rent").ok();
    let id = assert_prefix(&po["id"], "po_");
    assert_eq!(po["object"], "payout", "{po}");
    assert_eq!(po["amount"], 3000, "{po}");
    assert_eq!(po["currency"], "USD", "{po}");
    assert_eq!(po["status"], "pending", "{po}");
    assert_eq!(po["automatic"], false, "{po}");
    assert_eq!(po["destination"], "ba_test_success", "{po}");
    assert_eq!(po["description"], "rent", "{po}");
    assert_eq!(po["livemode"], false, "{po}");
    assert!(po["failure_code"].is_null(), "{po}");
    assert_eq!(int(&po, "arrival_date"), int(&po, "created") + DAY, "{po}");
    assert_eq!(balance(rt, "USD"), (p1, a1 - 3000), "available goes down at once");

    let t = get_txn(rt, &po["balance_transaction"]);
    assert_eq!(t["source_type"], "payout", "{t}");
    assert_eq!(t["source_id"], id.as_str(), "{t}");
    assert_eq!(
        (int(&t, "amount"), int(&t, "fee"), int(&t, "net")),
        (-3000, 0, -3000),
        "{t}"
    );
    assert_eq!(
        t["settlement_status"], "settled",
        "payout transactions are settled at creation: {t}"
    );
    assert_eq!(t["payout_id"], id.as_str(), "{t}");
    let contained = txn_ids(rt, &format!("/v1/transactions?payout={id}"));
    assert_eq!(
        contained,
        BTreeSet::from([id_of(&t)]),
        "a manual payout contains only its own transaction"
    );
    let payouts = list_all(rt, "/v1/transactions?source_type=payout");
    assert!(payouts.iter().all(|x| x["source_type"] == "payout"), "{payouts:?}");
    assert!(payouts.iter().any(|x| x["id"] == t["id"]));

    advance(rt, 1);
    assert_eq!(get_payout(rt, &id)["status"], "in_transit");
    find_event(rt, "payout.updated", &id);
    advance(rt, DAY + 1);
    let paid = get_payout(rt, &id);
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(
        balance(rt, "USD"),
        (p1, a1 - 3000),
        "a paid payout moves no more of the balance"
    );
    find_event(rt, "payout.created", &id);
    find_event(rt, "payout.paid", &id);
    assert_no_event(rt, "payout.failed", &id);
    let paid_list = list_all(rt, "/v1/payouts?status=paid");
    assert!(paid_list.iter().all(|x| x["status"] == "paid"), "{paid_list:?}");
    assert!(paid_list.iter().any(|x| x["id"] == id.as_str()));
    assert!(
        !list_all(rt, "/v1/payouts?status=pending")
            .iter()
            .any(|x| x["id"] == id.as_str())
    );
}

#[test]
fn payouts_never_take_more_than_available() {
    let _g = serial();
    let rt = shared();
    set_schedule(rt, "manual");
    settled_payment(rt, 10_000, "SGD");
    let (p1, a1) = balance(rt, "SGD");
    assert!(a1 >= net_of(10_000), "available {a1}");
    let before = payout_ids(rt);
    payout(rt, &format!("currency=SGD&amount={}", a1 + 1)).err_param(400, "balance_insufficient", "amount");
    payout(rt, "currency=ZAR&amount=100").err_param(400, "balance_insufficient", "amount");
    payout(rt, "currency=ZAR").err_param(400, "balance_insufficient", "amount");
    payout(rt, "amount=100").err_param(400, "parameter_missing", "currency");
    err_naming(
        &payout(rt, "currency=SGD&amount=100&destination=ba_nowhere"),
        400,
        "destination",
    );
    assert_eq!(payout_ids(rt), before, "no payout was created");
    assert_eq!(balance(rt, "SGD"), (p1, a1), "nothing moved");

    let all = payout(rt, "currency=SGD").ok();
    assert_eq!(all["amount"], a1, "the default is everything available: {all}");
    assert_eq!(balance(rt, "SGD"), (p1, 0));
    payout(rt, "currency=SGD").err_param(400, "balance_insufficient", "amount");
    payout(rt, "currency=SGD&amount=1").err_param(400, "balance_insufficient", "amount");
}

#[test]
fn failed_payout_returns_the_money() {
    let _g = serial();
    let rt = shared();
    set_schedule(rt, "manual");
    settled_payment(rt, 10_000, "CHF");
    let (p1, a1) = balance(rt, "CHF");
    let po = payout(rt, "currency=CHF&amount=2000&destination=ba_test_failure").ok();
    let id = id_of(&po);
    assert_eq!(po["status"], "pending", "{po}");
    assert_eq!(po["destination"], "ba_test_failure", "{po}");
    assert_eq!(balance(rt, "CHF"), (p1, a1 - 2000));
    advance(rt, 1);
    advance(rt, DAY + 1);
    let f = get_payout(rt, &id);
    assert_eq!(f["status"], "failed", "{f}");
    assert_eq!(f["failure_code"], "account_closed", "{f}");
    let t = get_txn(rt, &f["failure_balance_transaction"]);
    assert_eq!(t["source_type"], "payout_failure", "{t}");
    assert_eq!(t["source_id"], id.as_str(), "{t}");
    assert_eq!(
        (int(&t, "amount"), int(&t, "fee"), int(&t, "net")),
        (2000, 0, 2000),
        "{t}"
    );
    assert_eq!(t["currency"], "CHF", "{t}");
    assert_eq!(balance(rt, "CHF"), (p1, a1), "the money is available again");
    find_event(rt, "payout.failed", &id);
    assert_no_event(rt, "payout.paid", &id);
}

#[test]
fn automatic_daily_payout_sweeps_available() {
    let _g = serial();
    let rt = shared();
    set_schedule(rt, "daily");
    assert_eq!(rt.get("/v1/payouts/schedule").send().ok()["interval"], "daily");
    let (p0, a0) = balance(rt, "NOK");
    let before: BTreeSet<String> = payout_ids(rt).into_iter().collect();
    let p = pay(rt, 10_000, "NOK", "pm_card_visa");
    settle_all(rt);
    let new: Vec<Value> = list_all(rt, "/v1/payouts")
        .into_iter()
        .filter(|x| !before.contains(&id_of(x)) && x["currency"] == "NOK")
        .collect();
    assert!(!new.is_empty(), "an automatic NOK payout was made");
    assert!(new.iter().all(|x| x["automatic"] == true), "{new:?}");
    let swept: i64 = new.iter().map(|x| int(x, "amount")).sum();
    assert_eq!(
        swept,
        p0 + a0 + net_of(10_000),
        "everything that became available was paid out"
    );
    assert_eq!(balance(rt, "NOK"), (0, 0));

    let t = get_txn(rt, &p["balance_transaction"]);
    assert_eq!(t["settlement_status"], "settled", "{t}");
    let po = assert_prefix(&t["payout_id"], "po_");
    let po_obj = new
        .iter()
        .find(|x| x["id"] == po.as_str())
        .unwrap_or_else(|| panic!("{po} is not a new NOK payout: {new:?}"));
    assert_eq!(po_obj["destination"], "ba_test_success", "{po_obj}");
    let contained = txn_ids(rt, &format!("/v1/transactions?payout={po}"));
    assert!(
        contained.contains(&id_of(&t)),
        "the payout lists the payment transaction: {contained:?}"
    );
    assert_eq!(
        txn_ids(rt, &format!("/v1/transactions?payout_id={po}")),
        contained,
        "payout_id is the same filter"
    );
    find_event(rt, "payout.created", &po);
    set_schedule(rt, "manual");
}

#[test]
fn concurrent_payouts_never_overdraw() {
    let _g = serial();
    let rt = shared();
    set_schedule(rt, "manual");
    settled_payment(rt, 10_000, "PLN");
    let (p1, x) = balance(rt, "PLN");
    let q = x / 4;
    assert!(q > 0, "available {x}");
    let resps = Req::send_at_once(
        (0..10)
            .map(|_| rt.post("/v1/payouts").form(&format!("currency=PLN&amount={q}")))
            .collect(),
    );
    let mut won = 0;
    for r in &resps {
        if r.status == 200 {
            assert_eq!(r.json()["amount"], q, "{}", r.show());
            won += 1;
        } else {
            r.err_param(400, "balance_insufficient", "amount");
        }
    }
    assert!((1..=4).contains(&won), "{won} payouts of {q} out of {x} succeeded");
    let (p2, a2) = balance(rt, "PLN");
    assert!(a2 >= 0, "available never negative: {a2}");
    assert_eq!((p2, a2), (p1, x - won * q));
    let pln_payouts = all_transactions(rt)
        .into_iter()
        .filter(|t| t["currency"] == "PLN" && t["source_type"] == "payout")
        .count();
    assert_eq!(pln_payouts as i64, won, "one payout transaction per successful payout");
}

#[test]
fn sum_of_nets_equals_pending_plus_available() {
    let _g = serial();
    let rt = shared();
    set_schedule(rt, "manual");
    assert_ledger_invariant(rt);
    let (p0, a0) = balance(rt, "DKK");
    let first = pay(rt, 10_000, "DKK", "pm_card_visa");
    pay(rt, 5000, "DKK", "pm_card_visa");
    rt.post("/v1/refunds")
        .form(&format!("payment={}&amount=2000", id_of(&first)))
        .send()
        .ok();
    assert_ledger_invariant(rt);
    assert_eq!(balance(rt, "DKK"), (p0 + net_of(10_000) + net_of(5000) - 2000, a0));
    settle_all(rt);
    assert_ledger_invariant(rt);
    let settled = p0 + a0 + net_of(10_000) + net_of(5000) - 2000;
    assert_eq!(balance(rt, "DKK"), (0, settled));
    payout(rt, "currency=DKK&amount=1000").ok();
    assert_ledger_invariant(rt);
    pay(rt, 3000, "DKK", "pm_card_visa");
    assert_ledger_invariant(rt);
    assert_eq!(balance(rt, "DKK"), (net_of(3000), settled - 1000));
    let b = rt.get("/v1/balance?currency=DKK").send().ok();
    assert_eq!(
        b["balances"].as_array().map(Vec::len),
        Some(1),
        "the currency filter: {b}"
    );
    assert_eq!(b["balances"][0]["currency"], "DKK", "{b}");
}

#[test]
fn transaction_search_filters_sorts_and_pages() {
    let _g = serial();
    let rt = shared();
    let mut txns = BTreeMap::new(); // amount -> transaction
    for amount in [9_876_541, 9_876_543, 9_876_542] {
        let p = pay(rt, amount, "CZK", "pm_card_visa");
        txns.insert(amount, get_txn(rt, &p["balance_transaction"]));
    }
    let asc: Vec<String> = txns.values().map(id_of).collect();
    let desc: Vec<String> = asc.iter().rev().cloned().collect();
    let base = "source_type=payment&amount_min=9876541&amount_max=9876543";

    let all = search(rt, base);
    assert_eq!(total(&all), 3, "{all}");
    assert_eq!(all["has_more"], false, "{all}");
    assert_eq!(
        (int(&all["meta"], "page"), int(&all["meta"], "limit")),
        (1, 10),
        "defaults: {all}"
    );
    assert_eq!(
        data_ids(&all).into_iter().collect::<BTreeSet<_>>(),
        asc.iter().cloned().collect(),
        "{all}"
    );
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["object"] == "transaction"),
        "{all}"
    );

    assert_eq!(
        data_ids(&search(rt, &format!("{base}&sort_column=amount&sort_direction=asc"))),
        asc
    );
    assert_eq!(
        data_ids(&search(rt, &format!("{base}&sort_column=amount&sort_direction=desc"))),
        desc
    );
    assert_eq!(
        data_ids(&search(rt, &format!("{base}&sort_column=amount"))),
        desc,
        "desc by default"
    );
    let j = rt
        .post("/v1/transactions/search")
        .json(&json!({"source_type": "payment", "amount_min": 9_876_542, "amount_max": 9_876_543, "sort_column": "amount", "sort_direction": "asc"}))
        .send()
        .ok();
    assert_eq!(data_ids(&j), asc[1..3], "{j}");

    let p1 = search(
        rt,
        &format!("{base}&sort_column=amount&sort_direction=asc&limit=2&page=1"),
    );
    assert_eq!(data_ids(&p1), asc[0..2], "{p1}");
    assert_eq!(p1["has_more"], true, "{p1}");
    assert_eq!(p1["meta"], json!({"page": 1, "limit": 2, "total": 3}), "{p1}");
    let p2 = search(
        rt,
        &format!("{base}&sort_column=amount&sort_direction=asc&limit=2&page=2"),
    );
    assert_eq!(data_ids(&p2), asc[2..3], "{p2}");
    assert_eq!(p2["has_more"], false, "{p2}");
    assert_eq!(p2["meta"], json!({"page": 2, "limit": 2, "total": 3}), "{p2}");

    assert_eq!(total(&search(rt, &format!("{base}&settlement_status=unsettled"))), 3);
    assert_eq!(total(&search(rt, &format!("{base}&settlement_status=settled"))), 0);

    let created: Vec<i64> = txns.values().map(|t| int(t, "created")).collect();
    let (lo, hi) = (*created.iter().min().unwrap(), *created.iter().max().unwrap());
    assert_eq!(
        total(&search(rt, &format!("{base}&start_date={lo}"))),
        3,
        "start_date is inclusive (unix seconds)"
    );
    assert_eq!(
        total(&search(rt, &format!("{base}&end_date={hi}"))),
        3,
        "end_date is inclusive (unix seconds)"
    );
    assert_eq!(total(&search(rt, &format!("{base}&start_date={}", hi + 1))), 0);
    assert_eq!(total(&search(rt, &format!("{base}&end_date={}", lo - 1))), 0);
    let (lo_s, hi_s) = (http::enc(&rfc3339(lo)), http::enc(&rfc3339(hi)));
    assert_eq!(
        total(&search(rt, &format!("{base}&start_date={lo_s}&end_date={hi_s}"))),
        3,
        "RFC 3339 dates"
    );
    assert_eq!(
        total(&search(
            rt,
            &format!("{base}&start_date={}", http::enc(&rfc3339(hi + 1)))
        )),
        0
    );
    assert_eq!(
        total(&search(rt, &format!("{base}&end_date={}", http::enc(&rfc3339(lo - 1))))),
        0
    );
    let j = rt.post("/v1/transactions/search").json(&json!({"source_type": "payment", "amount_min": 9_876_541, "amount_max": 9_876_543, "start_date": rfc3339(lo)})).send().ok();
    assert_eq!(total(&j), 3, "{j}");

    // source_type, and amounts on `amount` (negative for refunds).
    let paid = txns.values().next().unwrap();
    let r = rt
        .post("/v1/refunds")
        .form(&format!("payment={}&amount=1234", paid["source_id"].as_str().unwrap()))
        .send()
        .ok();
    let refunds = search(rt, "source_type=refund&amount_min=-1234&amount_max=-1234&limit=50");
    assert!(
        data_ids(&refunds)
            .iter()
            .any(|id| r["balance_transaction"] == id.as_str()),
        "{refunds}"
    );
    assert!(
        refunds["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["source_type"] == "refund" && t["amount"] == -1234),
        "{refunds}"
    );
    assert_eq!(total(&search(rt, "source_type=refund&amount_min=9876541")), 0);

    let wide = search(rt, "source_type=payment&sort_column=amount&sort_direction=asc&limit=50");
    let amounts: Vec<i64> = wide["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| int(t, "amount"))
        .collect();
    assert!(
        amounts.windows(2).all(|w| w[0] <= w[1]),
        "sorted by amount ascending: {amounts:?}"
    );
    assert!(
        wide["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["source_type"] == "payment"),
        "{wide}"
    );
    let by_created = search(rt, "sort_column=created_at&sort_direction=asc&limit=50");
    let cs: Vec<i64> = by_created["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| int(t, "created"))
        .collect();
    assert!(
        cs.windows(2).all(|w| w[0] <= w[1]),
        "sorted by created ascending: {cs:?}"
    );
}

#[test]
fn transaction_search_refuses_bad_parameters() {
    let _g = serial();
    let rt = shared();
    let bad = |form: &str, param: &str| err_naming(&rt.post("/v1/transactions/search").form(form).send(), 400, param);
    bad("sort_column=colour", "sort_column");
    bad("sort_direction=sideways", "sort_direction");
    bad("limit=51", "limit");
    bad("limit=0", "limit");
    bad("page=0", "page");
    bad("source_type=gift", "source_type");
    bad("settlement_status=maybe", "settlement_status");
    bad("start_date=yesterday", "start_date");
    assert_eq!(int(&search(rt, "limit=50")["meta"], "limit"), 50);
    err_naming(
        &rt.post("/v1/transactions/download").form("sort_column=colour").send(),
        400,
        "sort_column",
    );
}

#[test]
fn download_is_the_csv_of_the_search() {
    let _g = serial();
    let rt = shared();
    let t1 = get_txn(rt, &pay(rt, 8_765_432, "CZK", "pm_card_visa")["balance_transaction"]);
    let t2 = get_txn(rt, &pay(rt, 8_765_431, "CZK", "pm_card_visa")["balance_transaction"]);
    let filters = "source_type=payment&amount_min=8765431&amount_max=8765432&sort_column=amount&sort_direction=asc";
    let csv = |form: &str| {
        let r = rt.post("/v1/transactions/download").form(form).unchecked().send();
        assert_eq!(r.status, 200, "{}", r.show());
        let ct = r.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("text/csv"), "content-type {ct:?}{}", r.show());
        assert!(
            r.header("request-id").is_some_and(|h| h.starts_with("req_")),
            "{}",
            r.show()
        );
        let text = r.text();
        let lines: Vec<String> = text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
        assert_eq!(lines.first().map(String::as_str), Some(CSV_HEADER), "{}", r.show());
        lines[1..].to_vec()
    };
    let rows = csv(filters);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, t) in rows.iter().zip([&t2, &t1]) {
        let cols: Vec<&str> = row.split(',').collect();
        assert!(cols.len() >= 16, "{row}");
        assert_eq!(cols[0], t["id"].as_str().unwrap(), "sorted by amount ascending: {row}");
        assert_eq!(cols[4], "payment", "{row}");
        assert_eq!(cols[5], t["source_id"].as_str().unwrap(), "{row}");
        assert_eq!(cols[6], "CZK", "{row}");
        assert_eq!(cols[7], t["amount"].to_string(), "{row}");
        assert_eq!(cols[8], t["fee"].to_string(), "{row}");
        assert_eq!(cols[9], t["net"].to_string(), "{row}");
        assert_eq!(cols[11], "unsettled", "{row}");
    }
    assert_eq!(
        rows.len() as i64,
        total(&search(rt, filters)),
        "one line per matching transaction"
    );
    let payments = csv("source_type=payment");
    assert_eq!(
        payments.len() as i64,
        total(&search(rt, "source_type=payment")),
        "same count as the search"
    );
    assert!(payments.iter().all(|l| l.split(',').nth(4) == Some("payment")));
}

#[test]
fn sandbox_clock_advances_and_everything_reads_it() {
    let _g = serial();
    let rt = shared();
    let c0 = clock(rt);
    let (now0, off0) = (int(&c0, "now"), int(&c0, "offset"));
    assert!(off0 >= 0, "{c0}");
    assert!(
        (now0 - (real_now() + off0)).abs() <= 5,
        "now = real time + offset: {c0}"
    );
    let b0 = int(
        &rt.get("/v1/test_helpers/clock").key(&rt.b_secret_key).send().ok(),
        "offset",
    );

    let adv = |form: &str| rt.post("/v1/test_helpers/clock/advance").form(form).send();
    err_naming(&adv("seconds=0"), 400, "seconds");
    err_naming(&adv("seconds=-5"), 400, "seconds");
    err_naming(&adv("seconds=31622401"), 400, "seconds");
    err_naming(&adv("seconds=abc"), 400, "seconds");
    adv("").err_param(400, "parameter_missing", "seconds");
    assert_eq!(int(&clock(rt), "offset"), off0, "refused advances move nothing");
    let live = &rt.live_secret_key;
    rt.get("/v1/test_helpers/clock")
        .key(live)
        .send()
        .err(403, "sandbox_only");
    rt.post("/v1/test_helpers/clock/advance")
        .key(live)
        .form("seconds=60")
        .send()
        .err(403, "sandbox_only");

    let a = advance(rt, 100);
    assert_eq!(int(&a, "offset"), off0 + 100, "{a}");
    assert!(
        (100..=105).contains(&(int(&a, "now") - now0)),
        "now moved by 100 s (+ real time): {a}"
    );
    assert!(!a["steps_run"].is_null(), "{a}");
    let c1 = clock(rt);
    assert_eq!(int(&c1, "offset"), off0 + 100, "{c1}");
    assert_eq!(
        int(
            &rt.get("/v1/test_helpers/clock").key(&rt.b_secret_key).send().ok(),
            "offset"
        ),
        b0,
        "B's clock is its own"
    );

    let p = succeeded_payment(rt);
    let created = int(&p, "created");
    assert!(
        (created - clock_now(rt)).abs() <= 5,
        "created reads the sandbox clock: {p}"
    );
    assert!(
        created - real_now() >= off0 + 100 - 5,
        "created is ahead of real time by the offset: {p}"
    );
}

#[test]
fn live_key_balance_is_empty() {
    let _g = serial();
    let rt = shared();
    let live = &rt.live_secret_key;
    let b = rt.get("/v1/balance").key(live).send().ok();
    assert_eq!(b["object"], "balance", "{b}");
    assert_eq!(b["livemode"], true, "{b}");
    assert_eq!(b["balances"], json!([]), "{b}");
    let t = rt.get("/v1/transactions").key(live).send().ok();
    assert_eq!(t["data"], json!([]), "a live balance never moves: {t}");
    let p = succeeded_payment(rt);
    rt.get(&format!(
        "/v1/transactions/{}",
        p["balance_transaction"].as_str().unwrap()
    ))
    .key(live)
    .send()
    .err(404, "resource_missing");
    rt.get(&format!(
        "/v1/transactions/{}",
        p["balance_transaction"].as_str().unwrap()
    ))
    .key(&rt.b_secret_key)
    .send()
    .err(404, "resource_missing");
}

#[test]
fn lists_refuse_bad_limits_and_unknown_cursors() {
    let _g = serial();
    let rt = shared();
    for (path, prefix) in [
        ("/v1/refunds", "re_"),
        ("/v1/disputes", "dp_"),
        ("/v1/transactions", "txn_"),
        ("/v1/settlements", "stl_"),
        ("/v1/payouts", "po_"),
    ] {
        let l = rt.get(path).send().ok();
        assert_eq!(l["object"], "list", "{path}: {l}");
        assert_eq!(l["url"], path, "{path}: {l}");
        rt.get(&format!("{path}?limit=100")).send().ok();
        err_naming(&rt.get(&format!("{path}?limit=0")).send(), 400, "limit");
        err_naming(&rt.get(&format!("{path}?limit=101")).send(), 400, "limit");
        let unknown = format!("{prefix}000000000000000000000000");
        rt.get(&format!("{path}?starting_after={unknown}"))
            .send()
            .err_param(400, "resource_missing", "starting_after");
        rt.get(&format!("{path}?ending_before={unknown}"))
            .send()
            .err_param(400, "resource_missing", "ending_before");
        rt.get(&format!("{path}/{unknown}")).send().err(404, "resource_missing");
    }
    rt.get("/v1/settlements/stl_000000000000000000000000/transactions")
        .send()
        .err(404, "resource_missing");
}
