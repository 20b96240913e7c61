//! `POST /v1/payment_intents/search` (docs/intents.md, "Search"): every filter of seed 004,
//! the sort columns, numbered pages with their total, `x-business-id`, and refusals naming the
//! parameter; and seed 004's `source_type` values as transaction filters (docs/money.md). Each
//! test works as connected accounts of its own (`x-account-id`), so it alone owns what it
//! searches.

use vinr_conformance::money::{err_naming, int};
use vinr_conformance::platforms::{ACT, connected, new_account};
use vinr_conformance::*;

/// A new connected account of the sandbox in business `business`.
fn account_of(rt: &Runtime, business: &str) -> String {
    id_of(&connected(rt, &format!("business_name=Shop&business_id={business}")))
}

fn intent(rt: &Runtime, acct: &str, form: &str) -> String {
    let pi = rt.post("/v1/payment_intents").header(ACT, acct).form(form).send().ok();
    assert_eq!(pi["status"], "created", "{pi}");
    id_of(&pi)
}

fn act(rt: &Runtime, acct: &str, pi: &str, action: &str, form: &str) -> Value {
    rt.post(&format!("/v1/payment_intents/{pi}/{action}"))
        .header(ACT, acct)
        .form(form)
        .send()
        .ok()
}

fn search(rt: &Runtime, acct: &str, body: Value) -> Resp {
    rt.post("/v1/payment_intents/search")
        .header(ACT, acct)
        .json(&body)
        .send()
}

/// The ids of a search result's `data`, in order (`ids` takes lists only).
fn ids_in(r: &Value) -> Vec<String> {
    r["data"].as_array().expect("data").iter().map(id_of).collect()
}

/// The ids a search answers, in its order, after checking its envelope.
fn found(rt: &Runtime, acct: &str, body: Value) -> (Vec<String>, Value) {
    let r = search(rt, acct, body).ok();
    assert_eq!(r["object"], "search_result", "{r}");
    assert_eq!(r["url"], "/v1/payment_intents/search");
    (ids_in(&r), r["meta"].clone())
}

/// Five intents of one new account, in every state a search tells apart; the ids in order of
/// creation: created, captured, captured and partly refunded, uncaptured, cancelled.
fn five_intents(rt: &Runtime, acct: &str) -> (String, Vec<String>) {
    let reference = uniq("order");
    let created = intent(rt, acct, &format!("amount=1000&currency=EUR&reference_id={reference}"));
    let captured = intent(rt, acct, "amount=2000&currency=EUR");
    let p = act(rt, acct, &captured, "payments", "payment_method_id=pm_card_visa");
    assert_eq!(p["status"], "succeeded", "{p}");
    let refunded = intent(rt, acct, "amount=3000&currency=EUR");
    act(rt, acct, &refunded, "payments", "payment_method_id=pm_card_visa");
    let r = act(rt, acct, &refunded, "refunds", "amount=500");
    assert_eq!(r["object"], "refund", "{r}");
    let uncaptured = intent(rt, acct, "amount=4000&currency=EUR&capture=false");
    let p = act(rt, acct, &uncaptured, "payments", "payment_method_id=pm_card_visa");
    assert_eq!(p["status"], "requires_capture", "{p}");
    let cancelled = intent(rt, acct, "amount=5000&currency=EUR");
    let c = act(
        rt,
        acct,
        &cancelled,
        "cancel",
        "cancellation_reason=requested_by_customer",
    );
    assert_eq!(c["status"], "cancelled", "{c}");
    (reference, vec![created, captured, refunded, uncaptured, cancelled])
}

#[test]
fn search_answers_every_seed_004_filter_with_its_total() {
    let rt = shared();
    let acct = new_account(rt);
    let (reference, pis) = five_intents(rt, &acct);
    let newest_first: Vec<String> = pis.iter().rev().cloned().collect();

    let (all, meta) = found(rt, &acct, json!({}));
    assert_eq!(all, newest_first);
    assert_eq!(meta, json!({ "page": 1, "limit": 10, "total": 5 }));

    let one = |body: Value| found(rt, &acct, body).0;
    assert_eq!(one(json!({ "reference_id": reference })), vec![pis[0].clone()]);
    assert_eq!(one(json!({ "status": "created" })), vec![pis[0].clone()]);
    assert_eq!(
        one(json!({ "status": "captured" })),
        vec![pis[2].clone(), pis[1].clone()]
    );
    assert_eq!(one(json!({ "status": "uncaptured" })), vec![pis[3].clone()]);
    assert_eq!(one(json!({ "status": "cancelled" })), vec![pis[4].clone()]);
    assert_eq!(one(json!({ "status": "failed" })), Vec::<String>::new());
    assert_eq!(one(json!({ "payment_status": "uncaptured" })), vec![pis[3].clone()]);
    assert_eq!(
        one(json!({ "payment_status": "captured" })),
        vec![pis[2].clone(), pis[1].clone()]
    );
    assert_eq!(one(json!({ "has_refund": true })), vec![pis[2].clone()]);
    assert_eq!(one(json!({ "has_refund": false })).len(), 4);
    assert_eq!(one(json!({ "settlement_status": "unsettled" })).len(), 5);
    assert_eq!(one(json!({ "settlement_status": "settled" })).len(), 0);
    assert_eq!(
        one(json!({ "amount_min": 2000, "amount_max": 4000 })),
        vec![pis[3].clone(), pis[2].clone(), pis[1].clone()]
    );
    // Combined filters narrow each other.
    assert_eq!(
        one(json!({ "status": "captured", "amount_min": 2500, "has_refund": true })),
        vec![pis[2].clone()]
    );
    // The date window is on creation, inclusive, RFC 3339 or unix seconds.
    let created = int(
        &rt.get(&format!("/v1/payment_intents/{}", pis[0]))
            .header(ACT, &acct)
            .send()
            .ok(),
        "created",
    );
    assert_eq!(one(json!({ "start_date": created + 86_400 })), Vec::<String>::new());
    assert_eq!(one(json!({ "end_date": created - 1 })), Vec::<String>::new());
    assert_eq!(
        one(json!({ "start_date": "2000-01-01T00:00:00Z", "end_date": created + 86_400 })).len(),
        5
    );
}

#[test]
fn search_sorts_by_each_column_and_numbers_its_pages() {
    let rt = shared();
    let acct = new_account(rt);
    let (_, pis) = five_intents(rt, &acct);
    let by = |column: &str, direction: &str| {
        found(rt, &acct, json!({ "sort_column": column, "sort_direction": direction })).0
    };
    assert_eq!(by("amount", "asc"), pis);
    assert_eq!(by("created_at", "asc"), pis);
    assert_eq!(by("amount", "desc"), pis.iter().rev().cloned().collect::<Vec<_>>());
    // amount_captured: 0, 0 (uncaptured, cancelled, created), then 2000 and 3000.
    let captured = by("amount_captured", "desc");
    assert_eq!(captured[..2], [pis[2].clone(), pis[1].clone()]);
    assert_eq!(by("amount_refunded", "desc")[0], pis[2]);
    // status asc: cancelled, captured ×2, created, uncaptured.
    let status = by("status", "asc");
    assert_eq!(status[0], pis[4]);
    assert_eq!(status[3], pis[0]);
    assert_eq!(status[4], pis[3]);
    // updated_at desc: the cancelled one changed last.
    assert_eq!(by("updated_at", "desc")[0], pis[4]);

    // Pages of two, oldest first: 2 + 2 + 1, then an empty page past the end.
    let page = |n: i64| {
        let r = search(
            rt,
            &acct,
            json!({ "sort_column": "created_at", "sort_direction": "asc", "limit": 2, "page": n }),
        )
        .ok();
        (ids_in(&r), r["has_more"].clone(), r["meta"].clone())
    };
    assert_eq!(
        page(1),
        (
            pis[..2].to_vec(),
            json!(true),
            json!({ "page": 1, "limit": 2, "total": 5 })
        )
    );
    assert_eq!(page(2).0, pis[2..4].to_vec());
    assert_eq!(
        page(3),
        (
            pis[4..].to_vec(),
            json!(false),
            json!({ "page": 3, "limit": 2, "total": 5 })
        )
    );
    assert_eq!(page(4).0, Vec::<String>::new());

    // A form body works as well as JSON.
    let r = rt
        .post("/v1/payment_intents/search")
        .header(ACT, &acct)
        .form("status=uncaptured&limit=1")
        .send()
        .ok();
    assert_eq!(ids_in(&r), vec![pis[3].clone()]);
}

#[test]
fn search_with_x_business_id_covers_every_account_of_the_business() {
    let rt = shared();
    let business = uniq("biz");
    let a = account_of(rt, &business);
    let b = account_of(rt, &business);
    let other = new_account(rt);
    let in_a = intent(rt, &a, "amount=1100&currency=EUR");
    let in_b = intent(rt, &b, "amount=1200&currency=EUR");
    intent(rt, &other, "amount=1300&currency=EUR");
    let r = rt
        .post("/v1/payment_intents/search")
        .header("x-business-id", &business)
        .json(&json!({ "sort_column": "amount", "sort_direction": "asc" }))
        .send()
        .ok();
    assert_eq!(ids_in(&r), vec![in_a, in_b]);
    assert_eq!(r["meta"]["total"], 2);
}

#[test]
fn bad_searches_are_refused_naming_the_parameter() {
    let rt = shared();
    let acct = new_account(rt);
    for (body, param) in [
        (json!({ "status": "paid" }), "status"),
        (json!({ "payment_status": "succeeded" }), "payment_status"),
        (json!({ "settlement_status": "done" }), "settlement_status"),
        (json!({ "has_refund": "maybe" }), "has_refund"),
        (json!({ "sort_column": "id" }), "sort_column"),
        (json!({ "sort_direction": "up" }), "sort_direction"),
        (json!({ "limit": 51 }), "limit"),
        (json!({ "limit": 0 }), "limit"),
        (json!({ "page": 0 }), "page"),
        (json!({ "start_date": "yesterday" }), "start_date"),
        (json!({ "end_date": "2026-13-01T00:00:00Z" }), "end_date"),
        (json!({ "amount_min": "ten" }), "amount_min"),
        (json!({ "colour": "red" }), "colour"),
    ] {
        err_naming(&search(rt, &acct, body), 400, param);
    }
    // Another platform's account is refused as if it did not exist.
    rt.post("/v1/payment_intents/search")
        .header(ACT, "acct_notyours000000000000")
        .json(&json!({}))
        .send()
        .err_param(403, "account_invalid", ACT);
}

#[test]
fn seed_004_source_types_filter_transactions() {
    let rt = shared();
    let acct = new_account(rt);
    let pi = intent(rt, &acct, "amount=2500&currency=EUR");
    let pay = act(rt, &acct, &pi, "payments", "payment_method_id=pm_card_visa");
    // A payment that is no intent's attempt.
    let plain = rt
        .post("/v1/payments")
        .header(ACT, &acct)
        .form("amount=700&currency=EUR&payment_method=pm_card_visa")
        .send()
        .ok();
    let list = |t: &str| {
        let r = rt
            .get(&format!("/v1/transactions?source_type={t}"))
            .header(ACT, &acct)
            .send()
            .ok();
        r["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|t| t["source_id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(list("payment_intent"), vec![pay["id"].clone()]);
    assert_eq!(list("payment"), vec![plain["id"].clone(), pay["id"].clone()]);
    for t in [
        "adjustment",
        "checkout_session",
        "fee",
        "fee_refund",
        "funding",
        "payment_method",
        "payment_refund",
        "reversal",
    ] {
        assert_eq!(list(t), Vec::<Value>::new(), "{t}");
    }
    let r = rt
        .post("/v1/transactions/search")
        .header(ACT, &acct)
        .json(&json!({ "source_type": "payment_intent" }))
        .send()
        .ok();
    assert_eq!(r["meta"]["total"], 1, "{r}");
    assert_eq!(r["data"][0]["source_id"], pay["id"]);
    err_naming(
        &rt.get("/v1/transactions?source_type=interest")
            .header(ACT, &acct)
            .send(),
        400,
        "source_type",
    );
}
