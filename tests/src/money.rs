//! Helpers of the money tests (docs/money.md): the sandbox clock, balances, fees, transactions,
//! polling, and the lock that serialises every money test of a test binary.
//!
//! Balances and the sandbox clock are account-wide, and the tests of one binary share one account:
//! every money test takes [`serial`] first, uses a currency of its own where balances matter, and
//! reasons in deltas (other tests have moved money before it).

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::fixtures::{create_payment, id_of};
use crate::http::Resp;
use crate::runtime::Runtime;

pub const DAY: i64 = 86_400;

/// Serialises the money tests of one binary (recovers from a poisoned lock: a failed test must
/// not fail the others).
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The integer `v[field]`, or a panic that shows `v`.
pub fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

/// Asserts `v` is a string starting with `prefix`; returns it.
pub fn assert_prefix(v: &Value, prefix: &str) -> String {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a {prefix}... id, got {v}"));
    assert!(
        s.starts_with(prefix) && s.len() > prefix.len(),
        "{s:?} is not a {prefix}... id"
    );
    s.to_string()
}

/// Asserts an error of `status` (any code) whose `param` is `param`; returns the error object.
pub fn err_naming(r: &Resp, status: u16, param: &str) -> Value {
    assert_eq!(r.status, status, "expected HTTP {status} naming {param:?}{}", r.show());
    let code = r.json()["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error.code missing{}", r.show()))
        .to_string();
    let e = r.err(status, &code);
    assert_eq!(
        e["param"].as_str(),
        Some(param),
        "expected error.param {param:?}{}",
        r.show()
    );
    e
}

// ---- the sandbox clock ----

/// `GET /v1/test_helpers/clock`.
pub fn clock(rt: &Runtime) -> Value {
    let c = rt.get("/v1/test_helpers/clock").send().ok();
    assert_eq!(c["object"], "test_clock", "{c}");
    c
}

pub fn clock_now(rt: &Runtime) -> i64 {
    int(&clock(rt), "now")
}

/// `POST /v1/test_helpers/clock/advance` by `seconds`: runs every step that became due.
pub fn advance(rt: &Runtime, seconds: i64) -> Value {
    let c = rt
        .post("/v1/test_helpers/clock/advance")
        .form(&format!("seconds={seconds}"))
        .send()
        .ok();
    assert_eq!(c["object"], "test_clock", "{c}");
    c
}

/// Three days later: every transaction unsettled so far has reached its `available_on` and
/// been settled by a daily batch (and, with a `daily` schedule, paid out).
pub fn settle_all(rt: &Runtime) -> Value {
    advance(rt, 3 * DAY)
}

/// `POST /v1/payouts/schedule interval=...`.
pub fn set_schedule(rt: &Runtime, interval: &str) {
    let s = rt
        .post("/v1/payouts/schedule")
        .form(&format!("interval={interval}"))
        .send()
        .ok();
    assert_eq!(s["object"], "payout_schedule", "{s}");
    assert_eq!(s["interval"], interval, "{s}");
}

// ---- money ----

/// The plan fee of a capture of `amount`: round_half_up(amount × 290 / 10000) + 30, at most `amount`.
pub fn fee_for(amount: i64) -> i64 {
    ((amount * 290 + 5_000) / 10_000 + 30).min(amount)
}

pub fn net_of(amount: i64) -> i64 {
    amount - fee_for(amount)
}

/// Account A's sandbox `(pending, available)` in `currency`; `(0, 0)` when it never moved.
pub fn balance(rt: &Runtime, currency: &str) -> (i64, i64) {
    balance_with(rt, &rt.secret_key, currency)
}

pub fn balance_with(rt: &Runtime, key: &str, currency: &str) -> (i64, i64) {
    let b = rt.get(&format!("/v1/balance?currency={currency}")).key(key).send().ok();
    assert_eq!(b["object"], "balance", "{b}");
    let list = b["balances"]
        .as_array()
        .unwrap_or_else(|| panic!("balances is not a list: {b}"));
    match list.iter().find(|e| e["currency"] == currency) {
        Some(e) => (int(e, "pending"), int(e, "available")),
        None => (0, 0),
    }
}

/// An automatically captured payment of `amount` `currency` with `pm`; asserts it succeeded.
pub fn pay(rt: &Runtime, amount: i64, currency: &str, pm: &str) -> Value {
    let p = create_payment(rt, &format!("amount={amount}&currency={currency}&payment_method={pm}"));
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(p["amount_received"], amount, "{p}");
    p
}

/// `GET /v1/transactions/:id` (`id` a string value or a str).
pub fn get_txn(rt: &Runtime, id: &Value) -> Value {
    let id = id.as_str().unwrap_or_else(|| panic!("not a transaction id: {id}"));
    assert!(id.starts_with("txn_"), "not a transaction id: {id:?}");
    let t = rt.get(&format!("/v1/transactions/{id}")).send().ok();
    assert_eq!(t["object"], "transaction", "{t}");
    assert_eq!(t["id"], id, "{t}");
    assert_eq!(
        int(&t, "net"),
        int(&t, "amount") - int(&t, "fee"),
        "net = amount - fee: {t}"
    );
    t
}

// ---- lists, events, polling ----

/// Every item of a list endpoint (`path` may carry filters), following `starting_after`.
pub fn list_all(rt: &Runtime, path: &str) -> Vec<Value> {
    list_all_with(rt, &rt.secret_key, path)
}

pub fn list_all_with(rt: &Runtime, key: &str, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out: Vec<Value> = Vec::new();
    for _ in 0..1000 {
        let mut url = format!("{path}{sep}limit=100");
        if let Some(last) = out.last() {
            url.push_str(&format!("&starting_after={}", id_of(last)));
        }
        let page = rt.get(&url).key(key).send().ok();
        assert_eq!(page["object"], "list", "{page}");
        let data = page["data"]
            .as_array()
            .unwrap_or_else(|| panic!("list without data: {page}"));
        out.extend(data.iter().cloned());
        if page["has_more"] != true || data.is_empty() {
            return out;
        }
    }
    panic!("{path}: more than 1000 pages");
}

/// Every transaction of account A's sandbox.
pub fn all_transactions(rt: &Runtime) -> Vec<Value> {
    list_all(rt, "/v1/transactions")
}

/// The events of `kind` whose `data.id` is `object_id`.
pub fn events_for(rt: &Runtime, kind: &str, object_id: &str) -> Vec<Value> {
    let all = list_all(rt, &format!("/v1/events?type={kind}"));
    for e in &all {
        assert_eq!(e["type"], kind, "GET /v1/events?type={kind} answered another type: {e}");
    }
    all.into_iter().filter(|e| e["data"]["id"] == object_id).collect()
}

/// The event of `kind` about `object_id` (there must be one).
pub fn find_event(rt: &Runtime, kind: &str, object_id: &str) -> Value {
    let found = events_for(rt, kind, object_id);
    assert!(!found.is_empty(), "no {kind} event with data.id {object_id}");
    found[0].clone()
}

pub fn assert_no_event(rt: &Runtime, kind: &str, object_id: &str) {
    let found = events_for(rt, kind, object_id);
    assert!(found.is_empty(), "unexpected {kind} event about {object_id}: {found:?}");
}

/// Polls `GET path` every 100 ms, up to 15 s, until `pred` holds; returns that answer.
pub fn wait_for(rt: &Runtime, path: &str, pred: impl Fn(&Value) -> bool, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = rt.get(path).send().ok();
        if pred(&v) {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: not within 15 s (log: {:?}); last GET {path}: {v}",
                rt.log_path()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- time formatting ----

pub fn real_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// `YYYY-MM-DD` of a unix time (UTC).
pub fn ymd(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a unix time.
pub fn rfc3339(unix: i64) -> String {
    let s = unix.rem_euclid(DAY);
    format!("{}T{:02}:{:02}:{:02}Z", ymd(unix), s / 3600, s / 60 % 60, s % 60)
}
