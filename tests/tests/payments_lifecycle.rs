//! Capture, partial capture, 3-D Secure confirm, cancel, adjust, reverse, and every illegal
//! transition (which must leave the payment exactly as it was: re-read and compared).

use vinr_conformance::*;

fn act(rt: &Runtime, id: &str, action: &str, form: &str) -> Resp {
    rt.post(&format!("/v1/payments/{id}/{action}")).form(form).send()
}

/// Tries `action` on the payment, expects `code` (400), and checks nothing changed.
fn refused(rt: &Runtime, p: &Value, action: &str, form: &str, code: &str) -> Value {
    let id = id_of(p);
    let before = get_payment(rt, &id);
    let e = act(rt, &id, action, form).err(400, code);
    assert_unchanged(rt, &before, &format!("refused {action} {form:?}"));
    e
}

#[test]
fn full_capture() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let id = id_of(&p);
    let c = rt.post(&format!("/v1/payments/{id}/capture")).send().ok();
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["amount_received"], 5000);
    assert_eq!(c["amount_capturable"], 0);
    assert_eq!(
        get_payment(rt, &id),
        c,
        "GET after capture answers what capture answered"
    );
    let ch = rt
        .get(&format!("/v1/charges/{}", c["latest_charge"].as_str().unwrap()))
        .send()
        .ok();
    assert_eq!(ch["captured"], true, "{ch}");
    assert_eq!(ch["amount_captured"], 5000, "{ch}");
}

#[test]
fn partial_capture_releases_remainder() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let id = id_of(&p);
    let e = refused(rt, &p, "capture", "amount_to_capture=5001", "amount_too_large");
    assert_eq!(e["param"], "amount_to_capture");
    let e = refused(rt, &p, "capture", "amount_to_capture=0", "amount_too_small");
    assert_eq!(e["param"], "amount_to_capture");
    let c = rt
        .post(&format!("/v1/payments/{id}/capture"))
        .json(&json!({"amount_to_capture": 3000}))
        .send()
        .ok();
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["amount_received"], 3000);
    assert_eq!(c["amount_capturable"], 0, "the remainder is released: {c}");
    let ch = rt
        .get(&format!("/v1/charges/{}", c["latest_charge"].as_str().unwrap()))
        .send()
        .ok();
    assert_eq!(ch["amount_captured"], 3000, "{ch}");
    refused(rt, &c, "capture", "", "payment_invalid_state");
}

#[test]
fn threeds_confirm_authenticated_automatic_and_manual() {
    let rt = shared();
    let p = threeds_payment(rt, "automatic");
    let id = id_of(&p);
    let c = act(rt, &id, "confirm", "details[result]=authenticated").ok();
    assert_eq!(c["status"], "succeeded", "{c}");
    assert_eq!(c["amount_received"], 5000, "{c}");
    assert!(c["next_action"].is_null(), "{c}");
    assert_id(&c["latest_charge"], "ch_");
    refused(
        rt,
        &c,
        "confirm",
        "details[result]=authenticated",
        "payment_invalid_state",
    );

    let p = threeds_payment(rt, "manual");
    let id = id_of(&p);
    let c = rt
        .post(&format!("/v1/payments/{id}/confirm"))
        .json(&json!({"details": {"result": "authenticated"}}))
        .send()
        .ok();
    assert_eq!(c["status"], "requires_capture", "{c}");
    assert_eq!(c["amount_capturable"], 5000, "{c}");
    let d = act(rt, &id, "capture", "").ok();
    assert_eq!(d["status"], "succeeded");
    assert_eq!(d["amount_received"], 5000);
}

#[test]
fn threeds_confirm_failed() {
    let rt = shared();
    let p = threeds_payment(rt, "automatic");
    let id = id_of(&p);
    refused(rt, &p, "confirm", "details[result]=maybe", "parameter_invalid");
    let before = get_payment(rt, &id);
    let r = act(rt, &id, "confirm", "");
    let e = r.err(400, "parameter_missing");
    let param = e["param"].as_str().unwrap_or_default();
    assert!(
        param == "details[result]" || param == "details",
        "param names details[result]{}",
        r.show()
    );
    assert_unchanged(rt, &before, "confirm without details");
    let f = act(rt, &id, "confirm", "details[result]=failed").ok();
    assert_eq!(f["status"], "failed", "{f}");
    assert_eq!(f["last_payment_error"]["decline_code"], "authentication_failed", "{f}");
    assert_eq!(f["amount_received"], 0);
    refused(
        rt,
        &f,
        "confirm",
        "details[result]=authenticated",
        "payment_invalid_state",
    );
    refused(rt, &f, "cancel", "", "payment_invalid_state");
    refused(rt, &f, "capture", "", "payment_invalid_state");
}

#[test]
fn cancel_from_requires_capture_and_requires_action() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let id = id_of(&p);
    let e = refused(rt, &p, "cancel", "cancellation_reason=bored", "parameter_invalid");
    assert_eq!(e["param"], "cancellation_reason");
    let c = act(rt, &id, "cancel", "cancellation_reason=requested_by_customer").ok();
    assert_eq!(c["status"], "canceled");
    assert_eq!(c["cancellation_reason"], "requested_by_customer");
    assert!(c["canceled_at"].as_i64().is_some(), "{c}");
    assert_eq!(c["amount_capturable"], 0);
    assert_eq!(c["amount_received"], 0);
    assert_eq!(get_payment(rt, &id), c);

    let p = threeds_payment(rt, "automatic");
    let c = act(rt, &id_of(&p), "cancel", "").ok();
    assert_eq!(c["status"], "canceled");
    assert!(c["next_action"].is_null(), "{c}");
}

#[test]
fn adjust_up_then_down() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let id = id_of(&p);
    let a = act(rt, &id, "adjust", "amount=6500").ok();
    assert_eq!(a["amount"], 6500);
    assert_eq!(a["amount_authorized"], 6500);
    assert_eq!(a["amount_capturable"], 6500);
    assert_eq!(a["status"], "requires_capture");
    assert_eq!(a["adjustment"]["previous_amount"], 5000, "{a}");
    assert!(a["adjustment"]["adjusted_at"].as_i64().is_some(), "{a}");
    let e = refused(rt, &a, "adjust", "amount=6500", "amount_unchanged");
    assert_eq!(e["param"], "amount");
    let e = refused(rt, &a, "adjust", "", "parameter_missing");
    assert_eq!(e["param"], "amount");
    let e = refused(rt, &a, "adjust", "amount=10", "amount_too_small");
    assert_eq!(e["param"], "amount");
    let d = act(rt, &id, "adjust", "amount=4000").ok();
    assert_eq!(
        (d["amount_authorized"].as_i64(), d["amount_capturable"].as_i64()),
        (Some(4000), Some(4000)),
        "{d}"
    );
    assert_eq!(d["adjustment"]["previous_amount"], 6500, "{d}");
    let c = act(rt, &id, "capture", "").ok();
    assert_eq!(c["amount_received"], 4000, "{c}");
    refused(rt, &c, "adjust", "amount=3000", "payment_invalid_state");
}

#[test]
fn adjust_down_amex_keeps_hold() {
    let rt = shared();
    let p = manual_payment_with(rt, 5000, "pm_card_amex");
    let a = act(rt, &id_of(&p), "adjust", "amount=3000").ok();
    assert_eq!(a["amount_authorized"], 5000, "amex cannot lower a hold: {a}");
    assert_eq!(a["amount_capturable"], 3000, "{a}");
    let e = refused(rt, &a, "capture", "amount_to_capture=3001", "amount_too_large");
    assert_eq!(e["param"], "amount_to_capture");
}

#[test]
fn reverse_partial_then_full() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let id = id_of(&p);
    let r = act(rt, &id, "reverse", "amount=2000").ok();
    assert_eq!(r["status"], "requires_capture", "{r}");
    assert_eq!(r["amount_capturable"], 3000, "{r}");
    assert_eq!(r["amount_reversed"], 2000, "{r}");
    assert_id(&r["reversal"]["id"], "rev_");
    assert_eq!(r["reversal"]["amount"], 2000, "{r}");
    assert!(r["reversal"]["reversed_at"].as_i64().is_some(), "{r}");
    let e = refused(rt, &r, "reverse", "amount=3001", "amount_too_large");
    assert_eq!(e["param"], "amount");
    let f = act(rt, &id, "reverse", "").ok();
    assert_eq!(f["status"], "canceled", "releasing everything cancels: {f}");
    assert_eq!(f["amount_reversed"], 5000, "{f}");
    assert_eq!(f["amount_capturable"], 0, "{f}");
    assert_eq!(f["reversal"]["amount"], 3000, "{f}");
    assert_ne!(f["reversal"]["id"], r["reversal"]["id"], "each reversal has its own id");
    refused(rt, &f, "reverse", "", "payment_invalid_state");
}

#[test]
fn partial_reverse_then_capture_the_rest() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let id = id_of(&p);
    act(rt, &id, "reverse", "amount=1500").ok();
    let c = act(rt, &id, "capture", "").ok();
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["amount_received"], 3500, "{c}");
}

#[test]
fn illegal_transitions_from_succeeded() {
    let rt = shared();
    let p = succeeded_payment(rt);
    refused(rt, &p, "capture", "", "payment_invalid_state");
    refused(rt, &p, "cancel", "", "payment_invalid_state");
    refused(rt, &p, "adjust", "amount=6000", "payment_invalid_state");
    refused(rt, &p, "reverse", "", "payment_invalid_state");
    refused(
        rt,
        &p,
        "confirm",
        "details[result]=authenticated",
        "payment_invalid_state",
    );
}

#[test]
fn illegal_transitions_from_canceled() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    let c = act(rt, &id_of(&p), "cancel", "").ok();
    refused(rt, &c, "capture", "", "payment_invalid_state");
    refused(rt, &c, "cancel", "", "payment_invalid_state");
    refused(rt, &c, "adjust", "amount=6000", "payment_invalid_state");
    refused(rt, &c, "reverse", "", "payment_invalid_state");
    refused(
        rt,
        &c,
        "confirm",
        "details[result]=authenticated",
        "payment_invalid_state",
    );
}

#[test]
fn illegal_transitions_from_failed() {
    let rt = shared();
    let p = failed_payment(rt);
    refused(rt, &p, "capture", "", "payment_invalid_state");
    refused(rt, &p, "cancel", "", "payment_invalid_state");
    refused(rt, &p, "adjust", "amount=6000", "payment_invalid_state");
    refused(rt, &p, "reverse", "", "payment_invalid_state");
    refused(
        rt,
        &p,
        "confirm",
        "details[result]=authenticated",
        "payment_invalid_state",
    );
}

#[test]
fn illegal_transitions_from_requires_capture_and_requires_action() {
    let rt = shared();
    let p = manual_payment(rt, 5000);
    refused(
        rt,
        &p,
        "confirm",
        "details[result]=authenticated",
        "payment_invalid_state",
    );
    let t = threeds_payment(rt, "manual");
    refused(rt, &t, "capture", "", "payment_invalid_state");
    refused(rt, &t, "adjust", "amount=6000", "payment_invalid_state");
    refused(rt, &t, "reverse", "", "payment_invalid_state");
}

#[test]
fn transitions_on_unknown_payment_are_404() {
    let rt = shared();
    for (action, form) in [
        ("capture", ""),
        ("cancel", ""),
        ("reverse", ""),
        ("confirm", "details[result]=authenticated"),
        ("adjust", "amount=6000"),
    ] {
        act(rt, "pay_000000000000000000000000", action, form).err(404, "resource_missing");
    }
}
