//! Terminals (`term_`): registration, the stored row, and the status computed when read
//! (docs/terminals.md): busy while a session runs, online while its device is connected and
//! heard from within 60 s, offline otherwise.

use super::payment::rfc3339;
use super::protocol::OFFLINE_AFTER_SECS;
use crate::auth::Account;
use crate::error::{ApiError, ApiResult};
use crate::port::{Db, Row, Stmt};
use crate::sql_params;
use serde_json::{Value, json};

/// The sandbox's virtual terminal: no device, always online unless busy.
pub const SIMULATOR_ID: &str = "term_test_simulator";

/// The columns [`to_json`] reads, in order.
pub const COLUMNS: &str =
    "id, livemode, data, created, connection_id, last_seen_at, activated_at, active_payment, device_key_hash IS NULL";

/// A terminal row, read.
pub struct TerminalRow {
    pub id: String,
    pub livemode: bool,
    pub data: Value,
    pub created: i64,
    pub connected: bool,
    pub last_seen_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub active_payment: Option<String>,
    pub simulated: bool,
}

impl TerminalRow {
    pub fn from_row(r: &Row) -> TerminalRow {
        TerminalRow {
            id: r[0].as_str().unwrap_or_default().to_string(),
            livemode: r[1].as_i64() == Some(1),
            data: r[2]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_else(|| json!({})),
            created: r[3].as_i64().unwrap_or(0),
            connected: r[4].as_str().is_some(),
            last_seen_at: r[5].as_i64(),
            activated_at: r[6].as_i64(),
            active_payment: r[7].as_str().map(str::to_string),
            simulated: r[8].as_i64() == Some(1),
        }
    }

    /// `wall`: real time, the device's clock (a sandbox clock advance does not make devices
    /// go silent).
    pub fn status(&self, wall: i64) -> &'static str {
        if self.active_payment.is_some() {
            "busy"
        } else if self.simulated || (self.connected && self.last_seen_at.is_some_and(|t| wall - t < OFFLINE_AFTER_SECS))
        {
            "online"
        } else {
            "offline"
        }
    }

    pub fn to_json(&self, wall: i64) -> Value {
        json!({
            "id": self.id,
            "object": "terminal",
            "label": self.data.get("label").cloned().unwrap_or(Value::Null),
            "status": self.status(wall),
            "activePayment": self.active_payment,
            "lastSeenAt": self.last_seen_at.map(rfc3339),
            "activatedAt": self.activated_at.map(rfc3339),
            "createdAt": rfc3339(self.created),
            "simulated": self.simulated,
            "livemode": self.livemode,
            "metadata": self.data.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })
    }
}

/// Reads terminal `id` of an account in one environment.
pub async fn select(
    db: &impl Db,
    account_id: &str,
    livemode: bool,
    id: &str,
) -> Result<Option<TerminalRow>, crate::port::DbError> {
    let rows = db
        .query(Stmt::new(
            format!("SELECT {COLUMNS} FROM terminals WHERE account_id = ? AND livemode = ? AND id = ?"),
            sql_params![account_id, livemode, id],
        ))
        .await?;
    Ok(rows.first().map(TerminalRow::from_row))
}

/// Reads a terminal of `acct`; the sandbox simulator is created on first use (a write only then,
/// not on every read of it).
pub async fn load(db: &impl Db, acct: &Account, id: &str, now: i64) -> ApiResult<Option<TerminalRow>> {
    if let Some(t) = select(db, &acct.id, acct.livemode, id).await? {
        return Ok(Some(t));
    }
    if id != SIMULATOR_ID || acct.livemode {
        return Ok(None);
    }
    db.batch(vec![Stmt::new(
        "INSERT OR IGNORE INTO terminals (id, account_id, livemode, created, data) VALUES (?, ?, 0, ?, ?)",
        sql_params![
            SIMULATOR_ID,
            &acct.id,
            now,
            json!({"label": "Sandbox simulator", "metadata": {}}).to_string()
        ],
    )])
    .await?;
    Ok(select(db, &acct.id, false, id).await?)
}

/// The create's checks on the terminal, in docs/terminals.md's order.
pub fn check_usable(t: Option<&TerminalRow>, id: &str, wall: i64) -> ApiResult<()> {
    let Some(t) = t else {
        return Err(terminal_error(
            404,
            "terminal_not_found",
            format!("No terminal '{id}' is registered in this account."),
        ));
    };
    match t.status(wall) {
        "busy" => Err(terminal_error(
            409,
            "terminal_busy",
            format!(
                "Terminal {id} is busy with payment {}; wait for it to finish or cancel it first.",
                t.active_payment.as_deref().unwrap_or("?")
            ),
        )),
        "offline" => Err(terminal_error(
            409,
            "terminal_offline",
            format!(
                "Terminal {id} has not checked in for {OFFLINE_AFTER_SECS} s or more; check its power and connection."
            ),
        )),
        _ => Ok(()),
    }
}

pub fn terminal_error(status: u16, code: &'static str, message: String) -> ApiError {
    let kind = if status == 404 {
        "invalid_request_error"
    } else {
        "terminal_error"
    };
    ApiError::new(status, kind, code, message)
        .with_param("terminalId")
        .with_decline_code(code)
}

/// Takes the terminal for payment `payment_id`: aborts the batch (a lost race, re-decided as
/// busy) unless no session was running.
pub fn claim(acct: &Account, terminal_id: &str, payment_id: &str) -> [Stmt; 2] {
    [
        Stmt::new(
            "UPDATE terminals SET active_payment = ? WHERE account_id = ? AND livemode = ? AND id = ? AND active_payment IS NULL",
            sql_params![payment_id, &acct.id, acct.livemode, terminal_id],
        ),
        Stmt::new(crate::port::GUARD_ONE_SQL, vec![]),
    ]
}
