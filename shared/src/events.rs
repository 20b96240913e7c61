//! Events (`evt_`): written to the outbox in the same batch as the change that caused them,
//! together with one pending delivery per webhook endpoint that subscribes to the type. A
//! committed event therefore always has its deliveries; no later fan-out step can be lost.

use crate::auth::Account;
use crate::port::{Env, Stmt, new_id};
use crate::sql_params;
use serde_json::{Value, json};

/// Every event type the API emits; webhook endpoints may subscribe to these or to `*`.
pub const TYPES: &[&str] = &[
    "payment.succeeded",
    "payment.authorized",
    "payment.requires_action",
    "payment.failed",
    "payment.captured",
    "payment.canceled",
    "payment.adjusted",
    "payment.reversed",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "payment_method.created",
    "payment_method.attached",
    "payment_method.detached",
    "payment.refunded",
    "refund.created",
    "refund.failed",
    "dispute.created",
    "dispute.updated",
    "dispute.closed",
    "dispute.funds_withdrawn",
    "dispute.funds_reinstated",
    "settlement.created",
    "payout.created",
    "payout.updated",
    "payout.paid",
    "payout.failed",
    "terminal_payment.completed",
    "terminal_payment.failed",
    "terminal_payment.authorized",
    "terminal_payment.cancelled",
];

/// Seed 002 names an event differently from seed 001; accepted as input, stored canonically.
pub fn canonical_type(t: &str) -> &str {
    match t {
        "payment.completed" => "payment.succeeded",
        other => other,
    }
}

const INSERT_SQL: &str = "INSERT INTO events (id, account_id, livemode, type, created, data) VALUES (?, ?, ?, ?, ?, ?)";

/// The statement that creates an event's pending deliveries, one per subscribed endpoint; its
/// first parameter is the event id, and the rows it changed are the deliveries it created.
pub const FAN_OUT_SQL: &str = "INSERT INTO webhook_deliveries (id, account_id, livemode, endpoint_id, event_id, status, attempts, next_attempt_at, created_ms, created) \
     SELECT 'wd_' || lower(hex(randomblob(12))), e.account_id, e.livemode, e.id, ?, 'pending', 0, ?, ?, ? \
     FROM webhook_endpoints e \
     WHERE e.account_id = ? AND e.livemode = ? AND e.deleted = 0 AND e.disabled = 0 \
     AND EXISTS (SELECT 1 FROM json_each(e.enabled_events) j WHERE j.value = ? OR j.value = '*')";

/// The event payload as stored and delivered: `{id, object, type, created, livemode, data}`
/// where `data` is the full object that changed.
pub fn record(env: &impl Env, acct: &Account, kind: &str, now: i64, object: &Value) -> [Stmt; 2] {
    let id = new_id(env, "evt_");
    let event = json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": now,
        "livemode": acct.livemode,
        "data": object,
    });
    // Deliveries run on the wall clock, whatever the account's sandbox clock says.
    let now_ms = env.now_ms();
    [
        Stmt::new(
            INSERT_SQL,
            sql_params![&id, &acct.id, acct.livemode, kind, now, event.to_string()],
        ),
        // Ids are made in SQL because the number of subscribed endpoints is not known here.
        Stmt::new(
            FAN_OUT_SQL,
            sql_params![&id, now_ms, now_ms, now, &acct.id, acct.livemode, kind],
        ),
    ]
}
