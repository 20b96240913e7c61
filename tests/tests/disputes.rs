//! Disputes (docs/money.md): `pm_card_dispute` payments are disputed shortly after capture; the
//! dispute's money (amount + 1500 fee out of pending, amount back when won), evidence and its
//! outcomes, closing, the response deadline, lists and filters, events, refusals.

use vinr_conformance::*;

const WEEK: i64 = 7 * DAY;

fn get_dispute(rt: &Runtime, id: &str) -> Value {
    let d = rt.get(&format!("/v1/disputes/{id}")).send().ok();
    assert_eq!(d["object"], "dispute", "{d}");
    assert_eq!(d["id"], id, "{d}");
    d
}

fn update(rt: &Runtime, id: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/disputes/{id}")).form(form).send()
}

fn close(rt: &Runtime, id: &str) -> Resp {
    rt.post(&format!("/v1/disputes/{id}/close")).send()
}

/// A captured `pm_card_dispute` payment of `amount` `currency`, and its dispute once opened (a
/// clock advance runs the opening at once). Returns (payment as now, dispute).
fn disputed(rt: &Runtime, amount: i64, currency: &str) -> (Value, Value) {
    let p = pay(rt, amount, currency, "pm_card_dispute");
    advance(rt, 1);
    let p = get_payment(rt, &id_of(&p));
    let dp = assert_prefix(&p["dispute"], "dp_");
    let d = get_dispute(rt, &dp);
    assert_eq!(d["status"], "needs_response", "{d}");
    (p, d)
}

/// The dispute's transactions (`balance_transactions`, as ids or objects).
fn dispute_txns(rt: &Runtime, d: &Value) -> Vec<Value> {
    let list = d["balance_transactions"]
        .as_array()
        .unwrap_or_else(|| panic!("balance_transactions is not a list: {d}"));
    list.iter()
        .map(|t| {
            if t.is_string() {
                get_txn(rt, t)
            } else {
                get_txn(rt, &t["id"])
            }
        })
        .collect()
}

/// A 400 `dispute_invalid_state` for `resp`, with the dispute unchanged.
fn assert_invalid_state(rt: &Runtime, before: &Value, resp: Resp) {
    resp.err(400, "dispute_invalid_state");
    assert_eq!(
        &get_dispute(rt, &id_of(before)),
        before,
        "the refused call changed the dispute"
    );
}

fn refund_refused_as_disputed(rt: &Runtime, pid: &str) {
    let before = get_payment(rt, pid);
    rt.post("/v1/refunds")
        .form(&format!("payment={pid}&amount=100"))
        .send()
        .err(400, "payment_disputed");
    assert_unchanged(rt, &before, "a refund of a disputed payment");
}

#[test]
fn dispute_opens_after_capture_and_withdraws_amount_and_fee() {
    let _g = serial();
    let rt = shared();
    let (p0, a0) = balance(rt, "GBP");
    let (p, d) = disputed(rt, 5000, "GBP");
    let pid = id_of(&p);
    let dp = id_of(&d);
    assert_eq!(p["amount_disputed"], 5000, "{p}");
    assert_eq!(d["amount"], 5000, "{d}");
    assert_eq!(d["currency"], "GBP", "{d}");
    assert_eq!(d["payment"], pid.as_str(), "{d}");
    assert_eq!(d["reason"], "fraudulent", "{d}");
    assert_eq!(d["livemode"], false, "{d}");
    assert!(d["closed_at"].is_null(), "{d}");
    assert_eq!(
        int(&d["evidence_details"], "due_by"),
        int(&d, "created") + WEEK,
        "due 7 days after opening: {d}"
    );

    let txns = dispute_txns(rt, &d);
    assert_eq!(txns.len(), 1, "{txns:?}");
    let t = &txns[0];
    assert_eq!(t["source_type"], "dispute", "{t}");
    assert_eq!(t["amount"], -5000, "{t}");
    assert_eq!(t["fee"], 1500, "{t}");
    assert_eq!(t["net"], -6500, "{t}");
    assert_eq!(t["currency"], "GBP", "{t}");

    let (p1, a1) = balance(rt, "GBP");
    assert_eq!(
        (p1 - p0, a1 - a0),
        (net_of(5000) - 6500, 0),
        "capture net in, then amount + 1500 out of pending"
    );

    find_event(rt, "dispute.created", &dp);
    find_event(rt, "dispute.funds_withdrawn", &dp);
    assert_no_event(rt, "dispute.closed", &dp);
    refund_refused_as_disputed(rt, &pid);

    let l = rt.get(&format!("/v1/disputes?payment={pid}")).send().ok();
    assert_eq!(l["url"], "/v1/disputes", "{l}");
    assert_eq!(ids(&l), vec![dp.clone()], "{l}");
}

#[test]
fn dispute_opens_by_itself_shortly_after_capture() {
    let _g = serial();
    let rt = shared();
    let p = pay(rt, 4000, "EUR", "pm_card_dispute");
    let p = wait_for(
        rt,
        &format!("/v1/payments/{}", id_of(&p)),
        |v| v["dispute"].is_string(),
        "the scheduler opens the dispute",
    );
    assert_eq!(p["amount_disputed"], 4000, "{p}");
    let d = get_dispute(rt, p["dispute"].as_str().unwrap());
    assert_eq!(d["status"], "needs_response", "{d}");
    assert_eq!(d["amount"], 4000, "{d}");
}

#[test]
fn winning_evidence_wins_and_reinstates_the_amount() {
    let _g = serial();
    let rt = shared();
    let (p, d) = disputed(rt, 5000, "USD");
    let dp = id_of(&d);
    let (p1, a1) = balance(rt, "USD");
    let u = update(
        rt,
        &dp,
        "evidence[uncategorized_text]=winning_evidence&evidence[product_description]=Blue%20widget",
    )
    .ok();
    assert_eq!(u["id"], dp.as_str(), "{u}");
    assert_eq!(u["status"], "under_review", "submit defaults to true: {u}");
    assert_eq!(u["evidence"]["uncategorized_text"], "winning_evidence", "{u}");
    assert_eq!(u["evidence"]["product_description"], "Blue widget", "{u}");
    assert!(u["evidence_details"]["submitted_at"].as_i64().is_some(), "{u}");
    find_event(rt, "dispute.updated", &dp);

    advance(rt, 1);
    let w = get_dispute(rt, &dp);
    assert_eq!(w["status"], "won", "{w}");
    assert!(w["closed_at"].as_i64().is_some(), "{w}");
    let txns = dispute_txns(rt, &w);
    let rev: Vec<&Value> = txns.iter().filter(|t| t["source_type"] == "dispute_reversal").collect();
    assert_eq!(rev.len(), 1, "one dispute_reversal: {txns:?}");
    assert_eq!(rev[0]["amount"], 5000, "{}", rev[0]);
    assert_eq!(rev[0]["fee"], 0, "{}", rev[0]);
    assert_eq!(rev[0]["net"], 5000, "the fee is not returned: {}", rev[0]);
    assert_eq!(
        txns.iter().filter(|t| t["source_type"] == "dispute").count(),
        1,
        "{txns:?}"
    );
    let (p2, a2) = balance(rt, "USD");
    assert_eq!((p2 - p1, a2 - a1), (5000, 0), "the amount comes back to pending");

    let e = find_event(rt, "dispute.closed", &dp);
    assert_eq!(e["data"]["status"], "won", "{e}");
    find_event(rt, "dispute.funds_reinstated", &dp);

    assert_invalid_state(rt, &w, update(rt, &dp, "evidence[uncategorized_text]=more"));
    assert_invalid_state(rt, &w, close(rt, &dp));
    assert_eq!(get_payment(rt, &id_of(&p))["dispute"], dp.as_str());
}

#[test]
fn losing_evidence_loses() {
    let _g = serial();
    let rt = shared();
    let (p, d) = disputed(rt, 5000, "EUR");
    let dp = id_of(&d);
    let u = update(rt, &dp, "evidence[uncategorized_text]=losing_evidence").ok();
    assert_eq!(u["status"], "under_review", "{u}");
    advance(rt, 1);
    let l = get_dispute(rt, &dp);
    assert_eq!(l["status"], "lost", "{l}");
    assert!(l["closed_at"].as_i64().is_some(), "{l}");
    let txns = dispute_txns(rt, &l);
    assert!(
        txns.iter().all(|t| t["source_type"] == "dispute"),
        "no reversal when lost: {txns:?}"
    );
    let e = find_event(rt, "dispute.closed", &dp);
    assert_eq!(e["data"]["status"], "lost", "{e}");
    assert_no_event(rt, "dispute.funds_reinstated", &dp);
    refund_refused_as_disputed(rt, &id_of(&p));
    assert_invalid_state(rt, &l, update(rt, &dp, "evidence[uncategorized_text]=winning_evidence"));
}

#[test]
fn other_evidence_stays_under_review_for_14_days_then_loses() {
    let _g = serial();
    let rt = shared();
    let (_, d) = disputed(rt, 5000, "EUR");
    let dp = id_of(&d);
    let u = update(rt, &dp, "evidence[uncategorized_text]=signed%20receipt%20attached").ok();
    assert_eq!(u["status"], "under_review", "{u}");
    advance(rt, 1);
    assert_eq!(get_dispute(rt, &dp)["status"], "under_review");
    advance(rt, 13 * DAY);
    assert_eq!(
        get_dispute(rt, &dp)["status"],
        "under_review",
        "still under review before 14 days"
    );
    advance(rt, DAY + 60);
    let l = get_dispute(rt, &dp);
    assert_eq!(l["status"], "lost", "lost after 14 days under review: {l}");
    find_event(rt, "dispute.closed", &dp);
}

#[test]
fn saving_without_submit_keeps_needs_response_then_close_loses() {
    let _g = serial();
    let rt = shared();
    let (p, d) = disputed(rt, 5000, "CHF");
    let dp = id_of(&d);
    let s = update(
        rt,
        &dp,
        "submit=false&evidence[customer_communication]=emails%20of%20May",
    )
    .ok();
    assert_eq!(s["status"], "needs_response", "submit=false keeps the status: {s}");
    assert_eq!(s["evidence"]["customer_communication"], "emails of May", "{s}");
    assert_eq!(get_dispute(rt, &dp), s, "GET shows the saved evidence");
    find_event(rt, "dispute.updated", &dp);

    let too_long = "x".repeat(20_001);
    let before = get_dispute(rt, &dp);
    update(rt, &dp, &format!("evidence[refund_policy]={too_long}")).err(400, "string_too_long");
    assert_eq!(get_dispute(rt, &dp), before, "a refused update changes nothing");

    let (p1, a1) = balance(rt, "CHF");
    let c = close(rt, &dp).ok();
    assert_eq!(c["status"], "lost", "closing accepts the dispute: {c}");
    assert!(c["closed_at"].as_i64().is_some(), "{c}");
    assert_eq!(balance(rt, "CHF"), (p1, a1), "losing moves no more money");
    let e = find_event(rt, "dispute.closed", &dp);
    assert_eq!(e["data"]["status"], "lost", "{e}");
    assert_no_event(rt, "dispute.funds_reinstated", &dp);

    let lost = get_dispute(rt, &dp);
    assert_invalid_state(rt, &lost, close(rt, &dp));
    assert_invalid_state(
        rt,
        &lost,
        update(rt, &dp, "evidence[uncategorized_text]=winning_evidence"),
    );
    assert_invalid_state(
        rt,
        &lost,
        update(rt, &dp, "submit=false&evidence[product_description]=late"),
    );
    refund_refused_as_disputed(rt, &id_of(&p));
}

#[test]
fn no_response_by_the_deadline_loses() {
    let _g = serial();
    let rt = shared();
    let (_, d) = disputed(rt, 5000, "EUR");
    let dp = id_of(&d);
    advance(rt, 6 * DAY);
    assert_eq!(get_dispute(rt, &dp)["status"], "needs_response", "not due yet");
    advance(rt, 2 * DAY);
    let l = get_dispute(rt, &dp);
    assert_eq!(l["status"], "lost", "no evidence by due_by: {l}");
    assert!(l["closed_at"].as_i64().is_some(), "{l}");
    find_event(rt, "dispute.closed", &dp);
}

#[test]
fn list_filters_by_status_and_payment() {
    let _g = serial();
    let rt = shared();
    let (p1, d1) = disputed(rt, 5000, "EUR");
    let (p2, d2) = disputed(rt, 6000, "EUR");
    let (dp1, dp2) = (id_of(&d1), id_of(&d2));
    assert_eq!(close(rt, &dp2).ok()["status"], "lost");

    for status in ["needs_response", "new"] {
        let l = list_all(rt, &format!("/v1/disputes?status={status}"));
        assert!(
            l.iter().all(|d| d["status"] == "needs_response"),
            "status={status}: {l:?}"
        );
        let got: Vec<String> = l.iter().map(id_of).collect();
        assert!(got.contains(&dp1), "status={status} lists the open dispute");
        assert!(!got.contains(&dp2), "status={status} does not list the lost one");
    }
    let lost = list_all(rt, "/v1/disputes?status=lost");
    assert!(lost.iter().all(|d| d["status"] == "lost"), "{lost:?}");
    let got: Vec<String> = lost.iter().map(id_of).collect();
    assert!(got.contains(&dp2) && !got.contains(&dp1), "{got:?}");

    assert_eq!(
        ids(&rt.get(&format!("/v1/disputes?payment={}", id_of(&p1))).send().ok()),
        vec![dp1.clone()]
    );
    assert_eq!(
        ids(&rt.get(&format!("/v1/disputes?payment={}", id_of(&p2))).send().ok()),
        vec![dp2.clone()]
    );
    let all: Vec<String> = list_all(rt, "/v1/disputes").iter().map(id_of).collect();
    let pos = |id: &String| {
        all.iter()
            .position(|x| x == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    assert!(pos(&dp2) < pos(&dp1), "newest first");

    err_naming(&rt.get("/v1/disputes?status=pondering").send(), 400, "status");
    err_naming(&rt.get("/v1/disputes?limit=0").send(), 400, "limit");
    rt.get("/v1/disputes?starting_after=dp_000000000000000000000000")
        .send()
        .err_param(400, "resource_missing", "starting_after");
}

#[test]
fn manual_capture_is_disputed_only_once_captured() {
    let _g = serial();
    let rt = shared();
    let p = manual_payment_with(rt, 5000, "pm_card_dispute");
    let pid = id_of(&p);
    advance(rt, 1);
    let still = get_payment(rt, &pid);
    assert!(still["dispute"].is_null(), "not disputed before capture: {still}");
    assert_eq!(still["amount_disputed"], 0, "{still}");
    assert!(ids(&rt.get(&format!("/v1/disputes?payment={pid}")).send().ok()).is_empty());

    let c = rt
        .post(&format!("/v1/payments/{pid}/capture"))
        .form("amount_to_capture=3000")
        .send()
        .ok();
    assert_eq!(c["status"], "succeeded", "{c}");
    advance(rt, 1);
    let after = get_payment(rt, &pid);
    let dp = assert_prefix(&after["dispute"], "dp_");
    assert_eq!(after["amount_disputed"], 3000, "{after}");
    let d = get_dispute(rt, &dp);
    assert_eq!(d["amount"], 3000, "the dispute is for what was captured: {d}");
    assert_eq!(d["payment"], pid.as_str(), "{d}");
}

#[test]
fn unknown_and_foreign_disputes_are_404() {
    let _g = serial();
    let rt = shared();
    rt.get("/v1/disputes/dp_000000000000000000000000")
        .send()
        .err(404, "resource_missing");
    rt.post("/v1/disputes/dp_000000000000000000000000/close")
        .send()
        .err(404, "resource_missing");
    let (_, d) = disputed(rt, 5000, "EUR");
    let dp = id_of(&d);
    let b = &rt.b_secret_key;
    rt.get(&format!("/v1/disputes/{dp}"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.post(&format!("/v1/disputes/{dp}/close"))
        .key(b)
        .send()
        .err(404, "resource_missing");
    rt.post(&format!("/v1/disputes/{dp}"))
        .key(b)
        .form("evidence[uncategorized_text]=winning_evidence")
        .send()
        .err(404, "resource_missing");
    rt.get(&format!("/v1/disputes/{dp}"))
        .key(&rt.live_secret_key)
        .send()
        .err(404, "resource_missing");
    assert!(!ids(&rt.get("/v1/disputes?limit=100").key(b).send().ok()).contains(&dp));
    assert_eq!(get_dispute(rt, &dp), d, "nothing changed");
}
