//! Helpers of the terminal tests (docs/terminals.md): registering terminals, terminal payments,
//! the errors of the terminal checks, polling, and the lock around `term_test_simulator`.
//!
//! The sandbox's virtual terminal `term_test_simulator` is one per account, and a session on it
//! makes it busy for everyone: every test of a binary that uses it takes [`simulator_lock`]
//! first. Tests with a device (the `vinr-terminal-sim` program) register a terminal of their own.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::assert_id;
use crate::http::{ERROR_TYPES, Resp};
use crate::money::DAY;
use crate::runtime::Runtime;

/// The sandbox's virtual terminal.
pub const SIMULATOR: &str = "term_test_simulator";

/// Seed 003's test cards and the decline code each gives (`None`: approved).
pub const TEST_CARDS: &[(&str, Option<&str>)] = &[
    ("4242 4242 4242 4242", None),
    ("4000 0000 0000 0002", Some("card_declined")),
    ("4000 0000 0000 9995", Some("insufficient_funds")),
    ("4000 0000 0000 0069", Some("expired_card")),
    ("4100 0000 0000 0019", Some("lost_or_stolen")),
];

static SIMULATOR_LOCK: Mutex<()> = Mutex::new(());

/// Serialises the tests of one binary that use `term_test_simulator` (recovers from a poisoned
/// lock: a failed test must not fail the others).
pub fn simulator_lock() -> MutexGuard<'static, ()> {
    SIMULATOR_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `POST /v1/terminals` with `body` using `key`; asserts a 200 and the `deviceKey`. Returns
/// (terminal as answered, device key).
pub fn register_terminal_with(rt: &Runtime, key: &str, body: &Value) -> (Value, String) {
    let t = rt.post("/v1/terminals").key(key).json(body).send().ok();
    assert_eq!(t["object"], "terminal", "{t}");
    assert_id(&t["id"], "term_");
    let dk = t["deviceKey"]
        .as_str()
        .unwrap_or_else(|| panic!("no deviceKey in the create answer: {t}"))
        .to_string();
    (t, dk)
}

/// A fresh sandbox terminal of account A labelled `label`: (terminal, device key).
pub fn register_terminal(rt: &Runtime, label: &str) -> (Value, String) {
    register_terminal_with(rt, &rt.secret_key, &json!({ "label": label }))
}

pub fn get_terminal(rt: &Runtime, id: &str) -> Value {
    let t = rt.get(&format!("/v1/terminals/{id}")).send().ok();
    assert_eq!(t["object"], "terminal", "{t}");
    assert_eq!(t["id"], id, "{t}");
    t
}

/// A create body: `amount` USD on `terminal`, with `extra` fields merged in.
pub fn tpay_body(terminal: &str, amount: i64, extra: Value) -> Value {
    let mut b = json!({ "terminalId": terminal, "amount": amount, "currency": "USD" });
    if let (Some(m), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    b
}

/// `POST /v1/terminal/payments` (JSON `body`).
pub fn create_tpay(rt: &Runtime, body: &Value) -> Resp {
    rt.post("/v1/terminal/payments").json(body).send()
}

/// A sync create that must answer 200 with a final object; returns it.
pub fn sync_tpay(rt: &Runtime, terminal: &str, amount: i64, extra: Value) -> Value {
    let mut body = tpay_body(terminal, amount, extra);
    body["responseMode"] = json!("sync");
    let p = create_tpay(rt, &body).ok();
    check_tpay(&p);
    p
}

/// An async create that must answer 202 with the `pending` object; returns it.
pub fn async_tpay(rt: &Runtime, terminal: &str, amount: i64, extra: Value) -> Value {
    let r = create_tpay(rt, &tpay_body(terminal, amount, extra));
    assert_eq!(r.status, 202, "an async create answers 202{}", r.show());
    let p = r.json();
    check_tpay(&p);
    assert_eq!(p["status"], "pending", "{p}");
    assert_eq!(p["responseMode"], "async", "{p}");
    p
}

pub fn get_tpay(rt: &Runtime, id: &str) -> Value {
    let p = rt.get(&format!("/v1/terminal/payments/{id}")).send().ok();
    check_tpay(&p);
    assert_eq!(p["id"], id, "{p}");
    p
}

/// Polls `GET /v1/terminal/payments/:id` every 100 ms, up to `within`, until `pred` holds.
pub fn wait_tpay(rt: &Runtime, id: &str, within: Duration, pred: impl Fn(&Value) -> bool, what: &str) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let p = get_tpay(rt, id);
        if pred(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?} (log: {:?}); last: {p}",
            rt.log_path()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the payment has `status`.
pub fn wait_tpay_status(rt: &Runtime, id: &str, status: &str) -> Value {
    wait_tpay(
        rt,
        id,
        Duration::from_secs(15),
        |p| p["status"] == status,
        &format!("{id} becoming {status}"),
    )
}

/// Polls the terminal until its `status` is `status` (up to 15 s).
pub fn wait_terminal_status(rt: &Runtime, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let t = get_terminal(rt, id);
        if t["status"] == status {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "terminal {id} not {status} within 15 s (log: {:?}): {t}",
            rt.log_path()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What every terminal payment object carries.
pub fn check_tpay(p: &Value) {
    assert_eq!(p["object"], "terminal_payment", "{p}");
    assert_id(&p["id"], "tpay_");
    assert!(
        p["terminalId"].as_str().is_some_and(|t| t.starts_with("term_")),
        "terminalId: {p}"
    );
    assert!(p["amount"].as_i64().is_some(), "amount: {p}");
    assert!(
        p["amountCaptured"].as_i64().is_some(),
        "amountCaptured is an integer (0 until captured): {p}"
    );
    assert!(p["livemode"].is_boolean(), "{p}");
    assert!(p["metadata"].is_object(), "{p}");
    assert_rfc3339(&p["createdAt"], "createdAt", p);
    for k in [
        "presentedAt",
        "authorizedAt",
        "capturedAt",
        "completedAt",
        "failedAt",
        "cancelledAt",
        "expiresAt",
    ] {
        assert!(
            p[k].is_null() || parse_rfc3339(p[k].as_str().unwrap_or("")).is_some(),
            "{k} is null or RFC 3339: {p}"
        );
    }
    let status = p["status"].as_str().unwrap_or_else(|| panic!("status: {p}"));
    assert!(
        [
            "pending",
            "processing",
            "authorized",
            "completed",
            "failed",
            "cancelled"
        ]
        .contains(&status),
        "status {status:?}: {p}"
    );
}

/// Asserts a completed, approved payment of `amount` (card 4242): brand, last4, auth code,
/// timestamps, captured amount, a balance transaction.
pub fn check_approved(p: &Value, amount: i64) {
    assert_eq!(p["status"], "completed", "{p}");
    assert_eq!(p["amount"], amount, "{p}");
    assert_eq!(p["amountCaptured"], amount, "{p}");
    assert_eq!(p["brand"], "visa", "{p}");
    assert_eq!(p["last4"], "4242", "{p}");
    assert!(p["authCode"].as_str().is_some_and(|c| !c.is_empty()), "authCode: {p}");
    assert!(p["declineCode"].is_null(), "{p}");
    assert!(p["cancellationReason"].is_null(), "{p}");
    assert!(
        p["balanceTransaction"].as_str().is_some_and(|t| t.starts_with("txn_")),
        "balanceTransaction: {p}"
    );
    for k in ["presentedAt", "authorizedAt", "capturedAt", "completedAt"] {
        assert_rfc3339(&p[k], k, p);
    }
    assert!(p["failedAt"].is_null() && p["cancelledAt"].is_null(), "{p}");
}

/// Asserts a declined payment with `code`: no money moved.
pub fn check_declined(p: &Value, code: &str) {
    assert_eq!(p["status"], "failed", "{p}");
    assert_eq!(p["declineCode"], code, "{p}");
    assert_eq!(p["amountCaptured"], 0, "{p}");
    assert!(
        p["balanceTransaction"].is_null(),
        "a declined payment moves no money: {p}"
    );
    assert_rfc3339(&p["failedAt"], "failedAt", p);
    assert!(p["completedAt"].is_null(), "{p}");
}

/// An error of the terminal checks: `status`, `error.code` = `error.decline_code` = `code`,
/// `param` `terminalId`, a known `type` and a message. (Not [`Resp::err`]: that one insists on
/// `idempotency_error` for every 409.) Returns the error object.
pub fn terminal_err(r: &Resp, status: u16, code: &str) -> Value {
    let e = api_err(r, status, code);
    assert_eq!(e["decline_code"], code, "error.decline_code{}", r.show());
    assert_eq!(e["param"], "terminalId", "error.param{}", r.show());
    e
}

/// An error response of `status` and `code`, whatever its type (among the known ones).
pub fn api_err(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "expected HTTP {status} {code}{}", r.show());
    let v = r.json();
    let e = v
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("no error object{}", r.show()));
    assert_eq!(e["code"], code, "error.code{}", r.show());
    let ty = e["type"].as_str().unwrap_or("");
    assert!(ERROR_TYPES.contains(&ty), "error.type {ty:?}{}", r.show());
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message{}",
        r.show()
    );
    e
}

/// The payment an event is about: `data.object` when it is the object, else `data`.
pub fn event_payment(evt: &Value) -> Value {
    let d = &evt["data"];
    if d["object"].is_object() {
        d["object"].clone()
    } else {
        d.clone()
    }
}

// ---- RFC 3339 ----

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (or `+00:00`) → unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b'T' && b[10] != b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let v = o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + se - offset)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Asserts `v` (field `name` of `whole`) is an RFC 3339 UTC timestamp; returns it in unix seconds.
pub fn assert_rfc3339(v: &Value, name: &str, whole: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("{name} is not a string: {whole}"));
    parse_rfc3339(s).unwrap_or_else(|| panic!("{name} {s:?} is not RFC 3339: {whole}"))
}
