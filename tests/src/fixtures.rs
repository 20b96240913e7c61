//! Helpers that create fresh objects (tests never rely on each other's data) and common checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::enc;
use crate::runtime::Runtime;

/// A string unique across tests and runs: `<prefix>-<pid>-<nanos>-<n>`.
pub fn uniq(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Asserts `id` is `<prefix>` followed by 24 base62 characters.
pub fn assert_id(id: &Value, prefix: &str) -> String {
    let s = id.as_str().unwrap_or_else(|| panic!("id is not a string: {id}"));
    let rest = s
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("id {s:?} does not start with {prefix:?}"));
    assert!(
        rest.len() == 24 && rest.bytes().all(|b| b.is_ascii_alphanumeric()),
        "id {s:?} is not {prefix} + 24 base62 characters"
    );
    s.to_string()
}

/// Asserts `created` is a plausible unix time in seconds.
pub fn assert_created(v: &Value) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let c = v["created"]
        .as_i64()
        .unwrap_or_else(|| panic!("created is not an integer: {v}"));
    assert!(
        (now - 3600..=now + 3600).contains(&c),
        "created {c} is not unix seconds near {now}: {v}"
    );
}

/// POST /v1/payments with the form body given (already encoded); asserts a 200.
pub fn create_payment(rt: &Runtime, form: &str) -> Value {
    rt.post("/v1/payments").form(form).send().ok()
}

/// A 5000 EUR visa payment, captured automatically.
pub fn succeeded_payment(rt: &Runtime) -> Value {
    let p = create_payment(rt, "amount=5000&currency=EUR&payment_method=pm_card_visa");
    assert_eq!(p["status"], "succeeded", "{p}");
    p
}

/// An authorised, uncaptured payment (`requires_capture`) of `amount` EUR with `pm`.
pub fn manual_payment_with(rt: &Runtime, amount: i64, pm: &str) -> Value {
    let p = create_payment(
        rt,
        &format!("amount={amount}&currency=EUR&payment_method={pm}&capture_method=manual"),
    );
    assert_eq!(p["status"], "requires_capture", "{p}");
    assert_eq!(p["amount_capturable"], amount, "{p}");
    p
}

pub fn manual_payment(rt: &Runtime, amount: i64) -> Value {
    manual_payment_with(rt, amount, "pm_card_visa")
}

/// A payment waiting for 3-D Secure (`requires_action`).
pub fn threeds_payment(rt: &Runtime, capture_method: &str) -> Value {
    let p = create_payment(
        rt,
        &format!("amount=5000&currency=EUR&payment_method=pm_card_threeds&capture_method={capture_method}"),
    );
    assert_eq!(p["status"], "requires_action", "{p}");
    p
}

/// A declined payment (`failed`).
pub fn failed_payment(rt: &Runtime) -> Value {
    let p = create_payment(rt, "amount=5000&currency=EUR&payment_method=pm_card_declined");
    assert_eq!(p["status"], "failed", "{p}");
    p
}

/// A fresh customer with a unique email; returns it.
pub fn create_customer(rt: &Runtime) -> Value {
    let email = format!("{}@example.com", uniq("c"));
    let c = rt
        .post("/v1/customers")
        .form(&format!("email={}&name=Jane%20Doe", enc(&email)))
        .send()
        .ok();
    assert_eq!(c["email"], email.as_str(), "{c}");
    c
}

pub fn get_payment(rt: &Runtime, id: &str) -> Value {
    rt.get(&format!("/v1/payments/{id}")).send().ok()
}

/// Re-reads the payment and asserts nothing changed since `before`.
pub fn assert_unchanged(rt: &Runtime, before: &Value, after_what: &str) {
    let id = before["id"].as_str().expect("payment id");
    let now = get_payment(rt, id);
    assert_eq!(&now, before, "payment {id} changed after {after_what}");
}

pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

/// The ids of a list response's `data`, in order.
pub fn ids(list: &Value) -> Vec<String> {
    assert_eq!(list["object"], "list", "not a list: {list}");
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("list without data: {list}"))
        .iter()
        .map(id_of)
        .collect()
}
