//! Seed 004's payment intents (docs/intents.md): create, list with `meta`, retrieve, update by
//! POST and PATCH, attempts (declined, approved, 3-D Secure), capture in full and in part,
//! cancel in every state, refunds through the intent and through /v1/refunds, events, the
//! 10-character `x-idempotency-key`, every refusal, and two attempts at once. Each test holds
//! `serial()`: they read the newest intents and events of the one environment.

use vinr_conformance::money::{err_naming, serial};
use vinr_conformance::*;

fn intent(rt: &Runtime, form: &str) -> Value {
    let pi = rt.post("/v1/payment_intents").form(form).send().ok();
    assert_eq!(pi["status"], "created", "{pi}");
    pi
}

fn pay(rt: &Runtime, pi: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/payment_intents/{pi}/payments")).form(form).send()
}

fn get_intent(rt: &Runtime, pi: &str) -> Value {
    rt.get(&format!("/v1/payment_intents/{pi}")).send().ok()
}

fn act(rt: &Runtime, pi: &str, action: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/payment_intents/{pi}/{action}")).form(form).send()
}

/// The types of the events about `id`, oldest first.
fn events_of(rt: &Runtime, id: &str) -> Vec<String> {
    let list = rt.get("/v1/events?limit=100").send().ok();
    let mut types: Vec<String> = list["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["data"]["id"] == id)
        .map(|e| e["type"].as_str().expect("type").to_string())
        .collect();
    types.reverse();
    types
}

#[test]
fn an_intent_is_created_listed_retrieved_and_paid_by_one_attempt() {
    let rt = shared();
    let _s = serial();
    let reference = uniq("order");
    let pi = intent(
        rt,
        &format!(
            "amount=2500&currency=EUR&reference_id={reference}&user_fields[shop]=north&order_details[items][0][sku]=A1&description=Two%20mugs"
        ),
    );
    let id = assert_id(&pi["id"], "pi_");
    assert_eq!(pi["object"], "payment_intent");
    assert_eq!(pi["entity"], "payment_intent");
    assert!(
        pi["client_secret"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{id}_secret_")),
        "{pi}"
    );
    assert_eq!(pi["amount"], 2500);
    assert_eq!(pi["merchant_amount"], 2500, "all of amount without splits: {pi}");
    assert_eq!(pi["currency"], "EUR");
    assert_eq!(pi["capture"], true);
    assert_eq!(pi["payment_method_types"], json!(["card"]));
    assert_eq!(pi["reference_id"], reference.as_str());
    assert_eq!(pi["user_fields"], json!({ "shop": "north" }), "{pi}");
    assert_eq!(pi["order_details"]["items"][0]["sku"], "A1", "{pi}");
    assert_eq!(pi["settlement_status"], "unsettled");
    assert_eq!(pi["external"], false);
    assert!(pi["latest_payment"].is_null(), "{pi}");
    assert!(pi["created_at"].as_str().unwrap().ends_with('Z'), "RFC 3339: {pi}");
    assert_created(&pi);
    assert_eq!(get_intent(rt, &id), pi);

    // USD when no currency is given (seed 004).
    let usd = intent(rt, "amount=100");
    assert_eq!(usd["currency"], "USD", "{usd}");

    // The list: newest first, seed 004's meta with cursors.
    let list = rt.get("/v1/payment_intents?limit=1").send().ok();
    assert_eq!(list["object"], "list");
    assert_eq!(list["url"], "/v1/payment_intents");
    assert_eq!(ids(&list), vec![id_of(&usd)]);
    assert_eq!(list["has_more"], true);
    assert_eq!(list["meta"]["limit"], 1);
    assert_eq!(list["meta"]["has_more"], true);
    assert_eq!(list["meta"]["starting_after"], id_of(&usd).as_str());
    let next = rt
        .get(&format!("/v1/payment_intents?limit=1&starting_after={}", id_of(&usd)))
        .send()
        .ok();
    assert_eq!(ids(&next), vec![id.clone()]);

    let p = pay(rt, &id, "payment_method_id=pm_card_visa&cvv2=123&reference_id=att-1").ok();
    assert_id(&p["id"], "pay_");
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(p["amount"], 2500);
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["payment_intent_id"], id.as_str());
    assert_eq!(p["reference_id"], "att-1");
    assert!(
        !p.to_string().contains("cvv2") && !p.to_string().contains("\"123\""),
        "{p}"
    );
    // The same pay_ as /v1/payments serves.
    assert_eq!(get_payment(rt, &id_of(&p)), p);

    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "captured", "{pi}");
    assert_eq!(pi["amount_authorized"], 2500);
    assert_eq!(pi["amount_captured"], 2500);
    assert_eq!(pi["latest_payment"]["id"], p["id"], "{pi}");
    assert!(pi["captured_at"].is_string(), "{pi}");

    let attempts = rt.get(&format!("/v1/payment_intents/{id}/payments")).send().ok();
    assert_eq!(ids(&attempts), vec![id_of(&p)]);
    assert_eq!(attempts["meta"]["has_more"], false);

    assert_eq!(
        events_of(rt, &id),
        [
            "payment_intent.created",
            "payment_intent.succeeded",
            "payment_intent.captured"
        ]
    );

    // Paid: no second attempt, no update.
    pay(rt, &id, "payment_method_id=pm_card_visa").err(400, "payment_intent_unexpected_state");
    act(rt, &id, "", "amount=1").err(400, "payment_intent_unexpected_state");
}

#[test]
fn a_declined_attempt_leaves_the_intent_payable_by_another() {
    let rt = shared();
    let _s = serial();
    let id = id_of(&intent(rt, "amount=4000&currency=EUR"));
    let declined = pay(rt, &id, "payment_method_id=pm_card_declined").ok();
    assert_eq!(declined["status"], "failed", "{declined}");
    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "failed", "{pi}");
    assert_eq!(pi["latest_payment"]["id"], declined["id"]);

    // Still updatable and payable.
    let pi = act(rt, &id, "", "amount=4500").ok();
    assert_eq!(pi["amount"], 4500, "{pi}");
    assert_eq!(pi["merchant_amount"], 4500, "{pi}");
    let ok = pay(rt, &id, "payment_method_id=pm_card_visa").ok();
    assert_eq!(ok["status"], "succeeded", "{ok}");
    assert_eq!(ok["amount"], 4500);
    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "captured", "{pi}");
    assert_eq!(pi["latest_payment"]["id"], ok["id"]);
    let attempts = rt.get(&format!("/v1/payment_intents/{id}/payments")).send().ok();
    assert_eq!(ids(&attempts), vec![id_of(&ok), id_of(&declined)]);
    assert_eq!(
        events_of(rt, &id),
        [
            "payment_intent.created",
            "payment_intent.payment_failed",
            "payment_intent.succeeded",
            "payment_intent.captured"
        ]
    );
}

#[test]
fn a_manual_intent_captures_part_voids_the_rest_and_refunds_both_ways() {
    let rt = shared();
    let _s = serial();
    let id = id_of(&intent(rt, "amount=10000&currency=EUR&capture=false"));
    let p = pay(rt, &id, "payment_method_id=pm_card_visa").ok();
    assert_eq!(p["status"], "requires_capture", "{p}");
    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "uncaptured", "{pi}");
    assert_eq!(pi["amount_authorized"], 10000);
    assert_eq!(pi["amount_captured"], 0);

    err_naming(&act(rt, &id, "capture", "amount=10001"), 400, "amount");
    err_naming(&act(rt, &id, "capture", "amount=zero"), 400, "amount");
    assert_eq!(get_intent(rt, &id), pi, "a refused capture changed nothing");

    let pi = act(rt, &id, "capture", "amount=6000").ok();
    assert_eq!(pi["object"], "payment_intent", "{pi}");
    assert_eq!(pi["status"], "captured", "{pi}");
    assert_eq!(pi["amount_captured"], 6000);
    assert_eq!(pi["amount_voided"], 4000, "{pi}");
    assert_eq!(get_payment(rt, &id_of(&p))["amount_received"], 6000);
    act(rt, &id, "capture", "").err(400, "payment_intent_unexpected_state");

    // A refund through the intent answers the re_ and counts on the intent.
    let r = act(rt, &id, "refunds", "amount=1000").ok();
    assert_id(&r["id"], "re_");
    assert_eq!(r["amount"], 1000);
    assert_eq!(r["payment"], p["id"], "{r}");
    assert_eq!(get_intent(rt, &id)["amount_refunded"], 1000);
    err_naming(&act(rt, &id, "refunds", "amount=5001"), 400, "amount");

    // A refund of the attempt through /v1/refunds counts on the intent too.
    rt.post("/v1/refunds")
        .form(&format!("payment={}&amount=2000", id_of(&p)))
        .send()
        .ok();
    let pi = get_intent(rt, &id);
    assert_eq!(pi["amount_refunded"], 3000, "{pi}");
    assert_eq!(pi["status"], "captured", "{pi}");
    // The rest at once.
    let r = act(rt, &id, "refunds", "").ok();
    assert_eq!(r["amount"], 3000, "{r}");
    assert_eq!(get_intent(rt, &id)["amount_refunded"], 6000);
    act(rt, &id, "refunds", "").err_in(
        &[400],
        &["amount_too_large", "charge_already_refunded", "payment_fully_refunded"],
    );
}

#[test]
fn a_three_d_secure_attempt_waits_pending_and_the_confirm_step_pays_the_intent() {
    let rt = shared();
    let _s = serial();
    let id = id_of(&intent(rt, "amount=3000&currency=EUR"));
    let p = pay(rt, &id, "payment_method_id=pm_card_threeds").ok();
    assert_eq!(p["status"], "requires_action", "{p}");
    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "pending", "{pi}");
    // Waiting on the customer: neither payable again nor updatable.
    pay(rt, &id, "payment_method_id=pm_card_visa").err(400, "payment_intent_unexpected_state");
    act(rt, &id, "", "amount=1").err(400, "payment_intent_unexpected_state");

    let c = rt
        .post(&format!("/v1/payments/{}/confirm", id_of(&p)))
        .form("details[result]=authenticated")
        .send()
        .ok();
    assert_eq!(c["status"], "succeeded", "{c}");
    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "captured", "{pi}");
    assert_eq!(pi["amount_captured"], 3000);
    assert_eq!(pi["latest_payment"]["status"], "succeeded", "{pi}");

    // A failed challenge leaves the intent payable.
    let id = id_of(&intent(rt, "amount=3000&currency=EUR"));
    let p = pay(rt, &id, "payment_method_id=pm_card_threeds").ok();
    rt.post(&format!("/v1/payments/{}/confirm", id_of(&p)))
        .form("details[result]=failed")
        .send()
        .ok();
    assert_eq!(get_intent(rt, &id)["status"], "failed");
    assert_eq!(
        pay(rt, &id, "payment_method_id=pm_card_visa").ok()["status"],
        "succeeded"
    );
}

#[test]
fn cancel_works_before_capture_and_releases_an_authorization() {
    let rt = shared();
    let _s = serial();
    // Created: cancelled at once, with the reason.
    let id = id_of(&intent(rt, "amount=500"));
    err_naming(
        &act(rt, &id, "cancel", "cancellation_reason=bored"),
        400,
        "cancellation_reason",
    );
    assert_eq!(get_intent(rt, &id)["status"], "created");
    let pi = act(rt, &id, "cancel", "cancellation_reason=abandoned").ok();
    assert_eq!(pi["status"], "cancelled", "{pi}");
    assert_eq!(pi["cancellation_reason"], "abandoned");
    assert!(pi["cancelled_at"].is_string(), "{pi}");
    pay(rt, &id, "payment_method_id=pm_card_visa").err(400, "payment_intent_unexpected_state");
    act(rt, &id, "cancel", "").err(400, "payment_intent_unexpected_state");
    assert_eq!(
        events_of(rt, &id),
        ["payment_intent.created", "payment_intent.canceled"]
    );

    // Uncaptured: the attempt's authorization is released.
    let id = id_of(&intent(rt, "amount=700&currency=EUR&capture=false"));
    let p = pay(rt, &id, "payment_method_id=pm_card_visa").ok();
    let pi = act(rt, &id, "cancel", "cancellation_reason=requested_by_customer").ok();
    assert_eq!(pi["status"], "cancelled", "{pi}");
    assert_eq!(pi["amount_voided"], 700, "{pi}");
    assert_eq!(get_payment(rt, &id_of(&p))["status"], "canceled");
    act(rt, &id, "capture", "").err(400, "payment_intent_unexpected_state");

    // Cancelling the attempt through /v1/payments cancels the intent too.
    let id = id_of(&intent(rt, "amount=800&currency=EUR&capture=false"));
    let p = pay(rt, &id, "payment_method_id=pm_card_visa").ok();
    rt.post(&format!("/v1/payments/{}/cancel", id_of(&p))).send().ok();
    assert_eq!(get_intent(rt, &id)["status"], "cancelled");

    // Captured: refused (a refund is the way back).
    let id = id_of(&intent(rt, "amount=900&currency=EUR"));
    pay(rt, &id, "payment_method_id=pm_card_visa").ok();
    act(rt, &id, "cancel", "").err(400, "payment_intent_unexpected_state");
    assert_eq!(get_intent(rt, &id)["status"], "captured");
}

#[test]
fn update_by_post_and_patch_changes_only_what_it_names() {
    let rt = shared();
    let _s = serial();
    let id = id_of(&intent(rt, "amount=1000&reference_id=r1&description=first"));
    let pi = rt
        .req("PATCH", &format!("/v1/payment_intents/{id}"))
        .json(&json!({ "amount": 1200, "user_fields": { "k": "v" }, "payment_method_types": ["card", "bank"] }))
        .send()
        .ok();
    assert_eq!(pi["amount"], 1200, "{pi}");
    assert_eq!(pi["merchant_amount"], 1200, "{pi}");
    assert_eq!(pi["reference_id"], "r1");
    assert_eq!(pi["description"], "first");
    assert_eq!(pi["user_fields"], json!({ "k": "v" }));
    assert_eq!(pi["payment_method_types"], json!(["card", "bank"]));
    let pi = act(rt, &id, "", "description=&capture=false&currency=eur").ok();
    assert!(pi["description"].is_null(), "an empty value clears: {pi}");
    assert_eq!(pi["capture"], false);
    assert_eq!(pi["currency"], "EUR");
    assert_eq!(get_intent(rt, &id), pi);

    for (form, param) in [
        ("amount=-5", "amount"),
        ("merchant_amount=100", "merchant_amount"),
        ("currency=XYZ", "currency"),
        ("capture=sometimes", "capture"),
        ("payment_method_types[]=cash", "payment_method_types"),
        ("user_fields=abc", "user_fields"),
        ("colour=red", "colour"),
    ] {
        err_naming(&act(rt, &id, "", form), 400, param);
        assert_eq!(get_intent(rt, &id), pi, "{form} changed nothing");
    }
    err_naming(
        &rt.req("PATCH", &format!("/v1/payment_intents/{id}"))
            .form("amount=abc")
            .send(),
        400,
        "amount",
    );
}

#[test]
fn bad_input_is_refused_naming_the_parameter_and_nothing_is_written() {
    let rt = shared();
    let _s = serial();
    let before = rt.get("/v1/payment_intents?limit=1").send().ok();
    for (form, param) in [
        ("", "amount"),
        ("amount=abc", "amount"),
        ("amount=0", "amount"),
        ("amount=100&currency=XYZ", "currency"),
        ("amount=100&merchant_amount=50", "merchant_amount"),
        ("amount=100&capture=maybe", "capture"),
        ("amount=100&user_fields=abc", "user_fields"),
        ("amount=100&order_details=abc", "order_details"),
        ("amount=100&payment_method_types[]=cash", "payment_method_types"),
        ("amount=100&colour=red", "colour"),
    ] {
        err_naming(&rt.post("/v1/payment_intents").form(form).send(), 400, param);
    }
    let huge = "x".repeat(9000);
    err_naming(
        &rt.post("/v1/payment_intents")
            .json(&json!({ "amount": 100, "user_fields": { "big": huge } }))
            .send(),
        400,
        "user_fields",
    );
    assert_eq!(
        rt.get("/v1/payment_intents?limit=1").send().ok(),
        before,
        "nothing written"
    );

    rt.get("/v1/payment_intents/pi_missing")
        .send()
        .err(404, "resource_missing");
    pay(rt, "pi_missing", "payment_method_id=pm_card_visa").err(404, "resource_missing");

    let id = id_of(&intent(rt, "amount=100&currency=EUR"));
    for (form, param) in [
        ("", "payment_method_id"),
        ("payment_method_id=pm_nope", "payment_method_id"),
        ("payment_method_id=pm_card_visa&cvv2=12", "cvv2"),
        ("payment_method_id=pm_card_visa&cvv2=abcd", "cvv2"),
        ("payment_method_id=pm_card_visa&user_fields=abc", "user_fields"),
    ] {
        let r = pay(rt, &id, form);
        assert!(r.status == 400 || r.status == 404, "{form}: {}", r.show());
        assert_eq!(r.json()["error"]["param"], param, "{form}: {}", r.show());
    }
    let pi = get_intent(rt, &id);
    assert_eq!(pi["status"], "created", "{pi}");
    let attempts = rt.get(&format!("/v1/payment_intents/{id}/payments")).send().ok();
    assert_eq!(attempts["data"], json!([]), "no attempt written");

    // An intent that takes bank payments only refuses a card.
    let bank = id_of(&intent(rt, "amount=100&payment_method_types[]=bank"));
    pay(rt, &bank, "payment_method_id=pm_card_visa").err_param(
        400,
        "payment_method_type_not_allowed",
        "payment_method_id",
    );
}

#[test]
fn seed_004_idempotency_keys_have_ten_characters_and_replay() {
    let rt = shared();
    let _s = serial();
    let before = rt.get("/v1/payment_intents?limit=1").send().ok();
    rt.post("/v1/payment_intents")
        .header("x-idempotency-key", "short")
        .form("amount=100")
        .send()
        .err_param(400, "idempotency_key_too_short", "x-idempotency-key");
    rt.post("/v1/payment_intents")
        .idem("short")
        .form("amount=100")
        .send()
        .err(400, "idempotency_key_too_short");
    assert_eq!(
        rt.get("/v1/payment_intents?limit=1").send().ok(),
        before,
        "nothing written"
    );

    let key = uniq("intent-key");
    let first = rt
        .post("/v1/payment_intents")
        .header("x-idempotency-key", &key)
        .form("amount=100")
        .send();
    let again = rt
        .post("/v1/payment_intents")
        .header("x-idempotency-key", &key)
        .form("amount=100")
        .send();
    assert!(again.replayed(), "{}", again.show());
    assert_eq!(first.ok(), again.ok());

    // Other routes keep their own rule: a short key is fine on /v1/payments.
    rt.post("/v1/payments")
        .idem(&uniq("k")[..6])
        .form("amount=100&currency=EUR&payment_method=pm_card_visa")
        .send()
        .ok();
}

#[test]
fn eight_attempts_at_once_pay_an_intent_exactly_once() {
    let rt = shared();
    let _s = serial();
    let id = id_of(&intent(rt, "amount=1500&currency=EUR"));
    let reqs = (0..8)
        .map(|_| {
            rt.post(&format!("/v1/payment_intents/{id}/payments"))
                .form("payment_method_id=pm_card_visa")
        })
        .collect();
    let answers = Req::send_at_once(reqs);
    let paid: Vec<&Resp> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        paid.len(),
        1,
        "{:?}",
        answers.iter().map(Resp::show).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        assert!(
            r.status == 409 || r.status == 400,
            "a losing attempt is a 4xx: {}",
            r.show()
        );
    }
    let attempts = rt.get(&format!("/v1/payment_intents/{id}/payments")).send().ok();
    assert_eq!(ids(&attempts), vec![id_of(&paid[0].json())], "one pay_ written");
    let pi = get_intent(rt, &id);
    assert_eq!(pi["amount_captured"], 1500, "{pi}");
}
