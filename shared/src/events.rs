//! Events (`evt_`): written to the outbox table in the same batch as the change that caused them.

use crate::auth::Account;
use crate::port::{Env, Stmt, new_id};
use crate::sql_params;
use serde_json::{Value, json};

/// The INSERT for one event whose `data` is the full object that changed.
pub fn record(env: &impl Env, acct: &Account, kind: &str, now: i64, object: &Value) -> Stmt {
    let id = new_id(env, "evt_");
    let event = json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": now,
        "livemode": acct.livemode,
        "data": object,
    });
    Stmt::new(
        "INSERT INTO events (id, account_id, livemode, type, created, data) VALUES (?, ?, ?, ?, ?, ?)",
        sql_params![id, &acct.id, acct.livemode, kind, now, event.to_string()],
    )
}
