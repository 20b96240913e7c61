//! Refunds (docs/money.md): full and partial refunds up to the captured amount (also when sent
//! concurrently), every refusal (which changes nothing), the refund transaction and balance,
//! events, the asynchronous failure of `pm_card_refund_fail`, isolation and idempotency.

use vinr_conformance::*;

fn refund(rt: &Runtime, form: &str) -> Resp {
    rt.post("/v1/refunds").form(form).send()
}

/// The ids of the payment's refunds as `GET /v1/refunds?payment=` lists them (newest first).
fn listed_refunds(rt: &Runtime, pay: &str) -> Vec<String> {
    ids(&rt.get(&format!("/v1/refunds?payment={pay}&limit=100")).send().ok())
}

/// Tries `form`, expects a 400 `code`, and checks that neither the payment nor its refunds changed.
fn refused(rt: &Runtime, pay: &str, form: &str, code: &str) -> Value {
    let before = get_payment(rt, pay);
    let refunds = listed_refunds(rt, pay);
    let e = refund(rt, form).err(400, code);
    assert_unchanged(rt, &before, &format!("refused refund {form:?}"));
    assert_eq!(listed_refunds(rt, pay), refunds, "no refund was created by {form:?}");
    e
}

/// Checks the refund's `refund` transaction: amount −R, no fee, in the refund's currency.
fn assert_refund_txn(rt: &Runtime, r: &Value) -> Value {
    let t = get_txn(rt, &r["balance_transaction"]);
    assert_eq!(t["source_type"], "refund", "{t}");
    assert_eq!(t["source_id"], r["id"], "{t}");
    assert_eq!(int(&t, "amount"), -int(r, "amount"), "{t}");
    assert_eq!(t["fee"], 0, "refunds carry no fee: {t}");
    assert_eq!(int(&t, "net"), -int(r, "amount"), "{t}");
    assert_eq!(t["currency"], r["currency"], "{t}");
    t
}

#[test]
fn full_refund_moves_money_at_once_and_is_recorded() {
    let _g = serial();
    let rt = shared();
    let (p0, a0) = balance(rt, "GBP");
    let p = pay(rt, 5000, "GBP", "pm_card_visa");
    let pid = id_of(&p);
    assert_eq!(p["amount_refunded"], 0, "{p}");
    assert_eq!(p["refunds"], json!([]), "{p}");
    let (p1, a1) = balance(rt, "GBP");
    assert_eq!(
        (p1 - p0, a1 - a0),
        (net_of(5000), 0),
        "a capture adds its net to pending"
    );

    let r = refund(rt, &format!("payment={pid}")).ok();
    let rid = assert_prefix(&r["id"], "re_");
    assert_eq!(r["object"], "refund", "{r}");
    assert_eq!(r["amount"], 5000, "the default amount is everything refundable: {r}");
    assert_eq!(r["currency"], "GBP", "{r}");
    assert_eq!(r["payment"], pid.as_str(), "{r}");
    assert_eq!(r["status"], "succeeded", "sandbox refunds succeed at once: {r}");
    assert!(r["reason"].is_null(), "{r}");
    assert!(r["failure_reason"].is_null(), "{r}");
    assert!(r["failure_balance_transaction"].is_null(), "{r}");
    assert_eq!(r["livemode"], false, "{r}");
    assert!(r["created"].as_i64().is_some(), "{r}");
    assert_eq!(
        rt.get(&format!("/v1/refunds/{rid}")).send().ok(),
        r,
        "GET answers what the create answered"
    );

    let t = assert_refund_txn(rt, &r);
    assert_eq!(t["settlement_status"], "unsettled", "{t}");
    let (p2, a2) = balance(rt, "GBP");
    assert_eq!(
        (p2 - p1, a2 - a1),
        (-5000, 0),
        "the refund leaves pending at once, the fee is not returned"
    );

    let after = get_payment(rt, &pid);
    assert_eq!(after["amount_refunded"], 5000, "{after}");
    assert_eq!(after["refunds"], json!([rid]), "{after}");
    assert_eq!(
        after["balance_transaction"], p["balance_transaction"],
        "the capture's transaction stays: {after}"
    );

    let e = find_event(rt, "refund.created", &rid);
    assert_eq!(e["data"]["amount"], 5000, "{e}");
    let e = find_event(rt, "payment.refunded", &pid);
    assert_eq!(e["data"]["object"], "payment", "{e}");
    assert_no_event(rt, "refund.failed", &rid);

    refused(rt, &pid, &format!("payment={pid}"), "payment_fully_refunded");
}

#[test]
fn partial_refunds_add_up_to_the_captured_amount() {
    let _g = serial();
    let rt = shared();
    let p = pay(rt, 5000, "EUR", "pm_card_visa");
    let pid = id_of(&p);
    let r1 = refund(
        rt,
        &format!("payment={pid}&amount=1000&reason=requested_by_customer&metadata[order]=o-1"),
    )
    .ok();
    assert_eq!(r1["amount"], 1000, "{r1}");
    assert_eq!(r1["status"], "succeeded", "{r1}");
    assert_eq!(r1["reason"], "requested_by_customer", "{r1}");
    assert_eq!(r1["metadata"]["order"], "o-1", "{r1}");
    assert_refund_txn(rt, &r1);
    assert_eq!(get_payment(rt, &pid)["amount_refunded"], 1000);

    let e = refused(rt, &pid, &format!("payment={pid}&amount=4001"), "amount_too_large");
    assert_eq!(e["param"], "amount");

    let r2 = rt
        .post("/v1/refunds")
        .json(&json!({"payment": pid, "amount": 1500, "reason": "duplicate"}))
        .send()
        .ok();
    assert_eq!(r2["amount"], 1500, "{r2}");
    assert_eq!(r2["reason"], "duplicate", "{r2}");
    assert_eq!(get_payment(rt, &pid)["amount_refunded"], 2500);

    let r3 = refund(rt, &format!("payment={pid}&reason=fraudulent")).ok();
    assert_eq!(r3["amount"], 2500, "the default is what is left: {r3}");
    assert_refund_txn(rt, &r3);

    let after = get_payment(rt, &pid);
    assert_eq!(after["amount_refunded"], 5000, "{after}");
    assert_eq!(
        after["refunds"],
        json!([id_of(&r1), id_of(&r2), id_of(&r3)]),
        "oldest first: {after}"
    );
    refused(rt, &pid, &format!("payment={pid}"), "payment_fully_refunded");
}

#[test]
fn refusals_change_nothing() {
    let _g = serial();
    let rt = shared();
    let p = pay(rt, 5000, "EUR", "pm_card_visa");
    let pid = id_of(&p);
    let e = refused(rt, &pid, &format!("payment={pid}&amount=5001"), "amount_too_large");
    assert_eq!(e["param"], "amount");
    let e = refused(rt, &pid, &format!("payment={pid}&amount=0"), "amount_too_small");
    assert_eq!(e["param"], "amount");
    let before = get_payment(rt, &pid);
    err_naming(&refund(rt, &format!("payment={pid}&reason=because")), 400, "reason");
    err_naming(&refund(rt, &format!("payment={pid}&amount=abc")), 400, "amount");
    assert_unchanged(rt, &before, "invalid parameters");
    assert!(listed_refunds(rt, &pid).is_empty());

    refund(rt, "amount=1000").err_param(400, "parameter_missing", "payment");
    refund(rt, "payment=pay_000000000000000000000000").err_param(400, "resource_missing", "payment");
    rt.get("/v1/refunds/re_000000000000000000000000")
        .send()
        .err(404, "resource_missing");

    // After all these, the whole amount is still refundable.
    let r = refund(rt, &format!("payment={pid}")).ok();
    assert_eq!(r["amount"], 5000, "{r}");
}

#[test]
fn payments_not_succeeded_cannot_be_refunded() {
    let _g = serial();
    let rt = shared();
    let uncaptured = manual_payment(rt, 5000);
    refused(
        rt,
        &id_of(&uncaptured),
        &format!("payment={}", id_of(&uncaptured)),
        "payment_invalid_state",
    );
    let failed = failed_payment(rt);
    refused(
        rt,
        &id_of(&failed),
        &format!("payment={}&amount=1000", id_of(&failed)),
        "payment_invalid_state",
    );
    let canceled = manual_payment(rt, 5000);
    let c = rt
        .post(&format!("/v1/payments/{}/cancel", id_of(&canceled)))
        .send()
        .ok();
    assert_eq!(c["status"], "canceled", "{c}");
    refused(
        rt,
        &id_of(&c),
        &format!("payment={}", id_of(&c)),
        "payment_invalid_state",
    );
    let threeds = threeds_payment(rt, "automatic");
    refused(
        rt,
        &id_of(&threeds),
        &format!("payment={}", id_of(&threeds)),
        "payment_invalid_state",
    );

    // Once captured (partially), what was received is refundable, and no more.
    let pid = id_of(&uncaptured);
    let c = rt
        .post(&format!("/v1/payments/{pid}/capture"))
        .form("amount_to_capture=3000")
        .send()
        .ok();
    assert_eq!(c["amount_received"], 3000, "{c}");
    let e = refused(rt, &pid, &format!("payment={pid}&amount=3001"), "amount_too_large");
    assert_eq!(e["param"], "amount");
    let r = refund(rt, &format!("payment={pid}")).ok();
    assert_eq!(r["amount"], 3000, "refundable = amount_received - amount_refunded: {r}");
    assert_eq!(get_payment(rt, &pid)["amount_refunded"], 3000);
}

#[test]
fn list_by_payment_newest_first_with_cursors() {
    let _g = serial();
    let rt = shared();
    let p = pay(rt, 6000, "EUR", "pm_card_visa");
    let pid = id_of(&p);
    let other = pay(rt, 5000, "EUR", "pm_card_visa");
    let other_r = id_of(&refund(rt, &format!("payment={}&amount=100", id_of(&other))).ok());
    let made: Vec<String> = (1..=3)
        .map(|i| id_of(&refund(rt, &format!("payment={pid}&amount={}", i * 1000)).ok()))
        .collect();
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();

    let l = rt.get(&format!("/v1/refunds?payment={pid}")).send().ok();
    assert_eq!(l["object"], "list", "{l}");
    assert_eq!(l["url"], "/v1/refunds", "{l}");
    assert_eq!(l["has_more"], false, "{l}");
    assert_eq!(ids(&l), newest_first, "{l}");
    for r in l["data"].as_array().unwrap() {
        assert_eq!(r["object"], "refund", "{r}");
        assert_eq!(r["payment"], pid.as_str(), "{r}");
    }
    let page1 = rt.get(&format!("/v1/refunds?payment={pid}&limit=2")).send().ok();
    assert_eq!(ids(&page1), newest_first[0..2], "{page1}");
    assert_eq!(page1["has_more"], true, "{page1}");
    let page2 = rt
        .get(&format!(
            "/v1/refunds?payment={pid}&limit=2&starting_after={}",
            newest_first[1]
        ))
        .send()
        .ok();
    assert_eq!(ids(&page2), newest_first[2..3], "{page2}");
    assert_eq!(page2["has_more"], false, "{page2}");
    let back = rt
        .get(&format!(
            "/v1/refunds?payment={pid}&limit=2&ending_before={}",
            newest_first[2]
        ))
        .send()
        .ok();
    assert_eq!(ids(&back), newest_first[0..2], "{back}");

    let all = ids(&rt.get("/v1/refunds?limit=100").send().ok());
    for id in made.iter().chain([&other_r]) {
        assert!(all.contains(id), "{id} in the unfiltered list");
    }
    let pos = |id: &String| all.iter().position(|x| x == id).unwrap();
    assert!(pos(&made[2]) < pos(&made[0]), "newest first across the account");

    err_naming(&rt.get("/v1/refunds?limit=0").send(), 400, "limit");
    rt.get("/v1/refunds?starting_after=re_000000000000000000000000")
        .send()
        .err_param(400, "resource_missing", "starting_after");
}

#[test]
fn refund_failure_after_clock_advance_returns_the_money() {
    let _g = serial();
    let rt = shared();
    let (p0, a0) = balance(rt, "SEK");
    let p = pay(rt, 5000, "SEK", "pm_card_refund_fail");
    let pid = id_of(&p);
    let r = refund(rt, &format!("payment={pid}&amount=2000")).ok();
    let rid = id_of(&r);
    assert_eq!(
        r["status"], "pending",
        "refunds of pm_card_refund_fail answer pending: {r}"
    );
    assert!(r["failure_reason"].is_null(), "{r}");
    assert_refund_txn(rt, &r);

    advance(rt, 1);
    let f = rt.get(&format!("/v1/refunds/{rid}")).send().ok();
    assert_eq!(f["status"], "failed", "{f}");
    assert_eq!(f["failure_reason"], "expired_or_canceled_card", "{f}");
    assert_eq!(f["amount"], 2000, "{f}");
    assert_eq!(f["balance_transaction"], r["balance_transaction"], "{f}");
    let t = get_txn(rt, &f["failure_balance_transaction"]);
    assert_eq!(t["source_type"], "refund_failure", "{t}");
    assert_eq!(t["source_id"], rid.as_str(), "{t}");
    assert_eq!(t["amount"], 2000, "{t}");
    assert_eq!(t["fee"], 0, "{t}");
    assert_eq!(t["net"], 2000, "{t}");
    assert_eq!(t["currency"], "SEK", "{t}");

    let after = get_payment(rt, &pid);
    assert_eq!(
        after["amount_refunded"], 0,
        "a failed refund gives the amount back: {after}"
    );
    let (p1, a1) = balance(rt, "SEK");
    assert_eq!(
        (p1 - p0, a1 - a0),
        (net_of(5000), 0),
        "refund and refund_failure cancel out"
    );
    find_event(rt, "refund.created", &rid);
    let e = find_event(rt, "refund.failed", &rid);
    assert_eq!(e["data"]["status"], "failed", "{e}");

    // The money is refundable again.
    let again = refund(rt, &format!("payment={pid}")).ok();
    assert_eq!(again["amount"], 5000, "{again}");
    assert_eq!(again["status"], "pending", "{again}");
    advance(rt, 1);
    assert_eq!(
        rt.get(&format!("/v1/refunds/{}", id_of(&again))).send().ok()["status"],
        "failed"
    );
}

#[test]
fn refund_failure_happens_by_itself_shortly_after() {
    let _g = serial();
    let rt = shared();
    let p = pay(rt, 5000, "EUR", "pm_card_refund_fail");
    let r = refund(rt, &format!("payment={}", id_of(&p))).ok();
    assert_eq!(r["status"], "pending", "{r}");
    let f = wait_for(
        rt,
        &format!("/v1/refunds/{}", id_of(&r)),
        |v| v["status"] == "failed",
        "the scheduler fails the refund",
    );
    assert_eq!(f["failure_reason"], "expired_or_canceled_card", "{f}");
    assert!(
        f["failure_balance_transaction"]
            .as_str()
            .is_some_and(|s| s.starts_with("txn_")),
        "{f}"
    );
    assert_eq!(get_payment(rt, &id_of(&p))["amount_refunded"], 0);
}

#[test]
fn twenty_concurrent_refunds_never_exceed_the_captured_amount() {
    let _g = serial();
    let rt = shared();
    let p = pay(rt, 5000, "USD", "pm_card_visa");
    let pid = id_of(&p);
    let (p0, _) = balance(rt, "USD");
    let resps = Req::send_at_once(
        (0..20)
            .map(|_| rt.post("/v1/refunds").form(&format!("payment={pid}&amount=1000")))
            .collect(),
    );
    let mut won = Vec::new();
    for r in &resps {
        if r.status == 200 {
            let v = r.json();
            assert_eq!(v["amount"], 1000, "{v}");
            won.push(id_of(&v));
        } else {
            r.err_any(400, &["amount_too_large", "payment_fully_refunded"]);
        }
    }
    assert_eq!(won.len(), 5, "exactly 5 refunds of 1000 fit in 5000");
    let after = get_payment(rt, &pid);
    assert_eq!(after["amount_refunded"], 5000, "{after}");
    let mut on_payment: Vec<String> = after["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut listed = listed_refunds(rt, &pid);
    won.sort();
    on_payment.sort();
    listed.sort();
    assert_eq!(on_payment, won, "payment.refunds holds the winners");
    assert_eq!(listed, won, "the list holds the winners");
    let (p1, _) = balance(rt, "USD");
    assert_eq!(p1 - p0, -5000, "five refund transactions of 1000");
    refused(rt, &pid, &format!("payment={pid}"), "payment_fully_refunded");
}

#[test]
fn another_account_cannot_see_or_refund() {
    let _g = serial();
    let rt = shared();
    let b = &rt.b_secret_key;
    let p = pay(rt, 5000, "EUR", "pm_card_visa");
    let pid = id_of(&p);
    let r = refund(rt, &format!("payment={pid}&amount=1000")).ok();
    let rid = id_of(&r);
    rt.get(&format!("/v1/refunds/{rid}"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    let before = get_payment(rt, &pid);
    rt.post("/v1/refunds")
        .key(b)
        .form(&format!("payment={pid}"))
        .send()
        .err_param(400, "resource_missing", "payment");
    assert_unchanged(rt, &before, "B's refund attempt");
    let b_list = ids(&rt.get("/v1/refunds?limit=100").key(b).send().ok());
    assert!(!b_list.contains(&rid), "B's list does not show A's refund");
    rt.get(&format!("/v1/refunds?starting_after={rid}"))
        .key(b)
        .send()
        .err_param(400, "resource_missing", "starting_after");
}

#[test]
fn idempotent_replay_gives_the_same_refund() {
    let _g = serial();
    let rt = shared();
    let p = pay(rt, 5000, "EUR", "pm_card_visa");
    let pid = id_of(&p);
    let key = uniq("refund");
    let form = format!("payment={pid}&amount=1200");
    let first = rt.post("/v1/refunds").idem(&key).form(&form).send();
    let r1 = first.ok();
    assert!(!first.replayed(), "{}", first.show());
    let second = rt.post("/v1/refunds").idem(&key).form(&form).send();
    let r2 = second.ok();
    assert!(second.replayed(), "the second answer is a replay{}", second.show());
    assert_eq!(r1, r2);
    let after = get_payment(rt, &pid);
    assert_eq!(after["amount_refunded"], 1200, "one refund only: {after}");
    assert_eq!(after["refunds"], json!([id_of(&r1)]), "{after}");
    assert_eq!(listed_refunds(rt, &pid), vec![id_of(&r1)]);
    rt.post("/v1/refunds")
        .idem(&key)
        .form(&format!("payment={pid}&amount=1300"))
        .send()
        .err(409, "idempotency_key_reused");
}

#[test]
fn live_key_refunds_find_no_sandbox_payment() {
    let _g = serial();
    let rt = shared();
    let live = &rt.live_secret_key;
    rt.post("/v1/refunds")
        .key(live)
        .form("payment=pay_000000000000000000000000")
        .send()
        .err_param(400, "resource_missing", "payment");
    let p = pay(rt, 5000, "EUR", "pm_card_visa");
    let pid = id_of(&p);
    let before = get_payment(rt, &pid);
    rt.post("/v1/refunds")
        .key(live)
        .form(&format!("payment={pid}"))
        .send()
        .err_param(400, "resource_missing", "payment");
    assert_unchanged(rt, &before, "a live-key refund of a sandbox payment");
    let r = refund(rt, &format!("payment={pid}&amount=500")).ok();
    rt.get(&format!("/v1/refunds/{}", id_of(&r)))
        .key(live)
        .send()
        .err(404, "resource_missing");
}
