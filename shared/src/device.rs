//! The server's side of the device protocol, for the runtimes' hubs: authenticate a device,
//! record its connection, and decide what each of its frames means (docs/terminals.md). The hub
//! only moves frames; every decision and write is here, so `vinr dev` and the Durable Object
//! behave alike.

use crate::auth::Account;
use crate::context::Ctx;
use crate::domain::terminal_payment::{CancelReason, Input};
use crate::error::ApiError;
use crate::flows::terminal_payment as flow;
use crate::keys::hash_key;
use crate::port::{Db, DbError, Env, Stmt, new_id};
use crate::sql_params;
use crate::terminal::protocol::{ENTRY_METHODS, FromDevice, ToDevice};
use crate::terminal::terminals;

/// A device's terminal, as its key identifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub terminal_id: String,
    pub account_id: String,
    pub livemode: bool,
}

/// What one device frame led to.
#[derive(Debug, Default)]
pub struct DeviceStep {
    /// Frames to send back to the device.
    pub replies: Vec<ToDevice>,
    /// Payments whose session ended (hub waiters for them can be answered).
    pub settled: Vec<String>,
    /// Events committed (for runtimes that push them to a delivery queue).
    pub events: Vec<String>,
}

/// Device keys: `tdk_test_…` / `tdk_live_…`, stored as their SHA-256.
pub fn new_device_key(env: &impl Env, livemode: bool) -> String {
    new_id(env, if livemode { "tdk_live_" } else { "tdk_test_" })
}

pub fn new_connection_id(env: &impl Env) -> String {
    new_id(env, "conn_")
}

pub async fn authenticate<D: Db>(db: &D, key: &str) -> Result<Option<Device>, DbError> {
    if !(key.starts_with("tdk_test_") || key.starts_with("tdk_live_")) {
        return Ok(None);
    }
    let rows = db
        .query(Stmt::new(
            "SELECT id, account_id, livemode FROM terminals WHERE device_key_hash = ?",
            sql_params![hash_key(key)],
        ))
        .await?;
    Ok(rows.first().map(|r| Device {
        terminal_id: r[0].as_str().unwrap_or_default().to_string(),
        account_id: r[1].as_str().unwrap_or_default().to_string(),
        livemode: r[2].as_i64() == Some(1),
    }))
}

/// The device's account with its sandbox clock, read fresh (a clock advance may have moved it).
async fn account<D: Db>(db: &D, dev: &Device) -> Result<Account, DbError> {
    let rows = db
        .query(Stmt::new(
            "SELECT clock_offset FROM accounts WHERE id = ?",
            sql_params![&dev.account_id],
        ))
        .await?;
    let offset = rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0);
    Ok(Account {
        id: dev.account_id.clone(),
        livemode: dev.livemode,
        fingerprint_key: None,
        permissions: None,
        clock_offset: if dev.livemode { 0 } else { offset },
        platform_id: None,
        business_id: None,
    })
}

fn db_error(e: ApiError) -> DbError {
    DbError::Other(e.message)
}

/// Records the connection (and the terminal's activation) and returns the first frames: `hello`,
/// then the running session's `payment` frame, if any, so a reconnecting device resumes it.
pub async fn connected<D: Db, E: Env>(
    db: &D,
    env: &E,
    dev: &Device,
    connection_id: &str,
) -> Result<Vec<ToDevice>, DbError> {
    let wall = env.now();
    db.batch(vec![Stmt::new(
        "UPDATE terminals SET connection_id = ?, last_seen_at = ?, activated_at = COALESCE(activated_at, ?) WHERE account_id = ? AND livemode = ? AND id = ?",
        sql_params![connection_id, wall, wall, &dev.account_id, dev.livemode, &dev.terminal_id],
    )])
    .await?;
    let Some(t) = terminals::select(db, &dev.account_id, dev.livemode, &dev.terminal_id).await? else {
        return Ok(vec![ToDevice::Error {
            message: "terminal no longer registered".into(),
        }]);
    };
    let mut frames = vec![ToDevice::Hello {
        terminal: t.to_json(wall),
    }];
    if let Some(pid) = &t.active_payment {
        let cx = Ctx::new(db, env, account(db, dev).await?, env.now());
        if let Some(l) = flow::load(&cx, pid).await.map_err(db_error)?
            && l.obj.active()
        {
            frames.push(ToDevice::Payment {
                payment: serde_json::to_value(&l.obj).expect("serializes"),
            });
        }
    }
    Ok(frames)
}

/// The connection closed: the terminal has none unless a newer one already replaced it.
pub async fn disconnected<D: Db, E: Env>(db: &D, env: &E, dev: &Device, connection_id: &str) -> Result<(), DbError> {
    let _ = env;
    db.batch(vec![Stmt::new(
        "UPDATE terminals SET connection_id = NULL WHERE account_id = ? AND livemode = ? AND id = ? AND connection_id = ?",
        sql_params![&dev.account_id, dev.livemode, &dev.terminal_id, connection_id],
    )])
    .await
}

/// Heartbeats move `last_seen_at` at most this often (a write per device per 10 s, not per frame).
const SEEN_EVERY_SECS: i64 = 10;

/// Decides one text frame from the device and commits what it means.
pub async fn on_message<D: Db, E: Env>(db: &D, env: &E, dev: &Device, text: &str) -> Result<DeviceStep, DbError> {
    let wall = env.now();
    // Any frame is a sign of life.
    db.batch(vec![Stmt::new(
        "UPDATE terminals SET last_seen_at = ? WHERE account_id = ? AND livemode = ? AND id = ? AND (last_seen_at IS NULL OR last_seen_at <= ?)",
        sql_params![wall, &dev.account_id, dev.livemode, &dev.terminal_id, wall - SEEN_EVERY_SECS],
    )])
    .await?;
    let msg: FromDevice = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return Ok(reply(ToDevice::Error {
                message: format!("unreadable frame: {e}"),
            }));
        }
    };
    let (pid, action) = match msg {
        FromDevice::Heartbeat {} => return Ok(DeviceStep::default()),
        FromDevice::Presented {
            payment_id,
            entry_method,
        } => {
            if !ENTRY_METHODS.contains(&entry_method.as_str()) {
                return Ok(reply(ToDevice::Error {
                    message: format!("entryMethod must be one of {}", ENTRY_METHODS.join(", ")),
                }));
            }
            (payment_id, Action::Present(entry_method))
        }
        FromDevice::Authorize { payment_id, card } => (payment_id, Action::Authorize(card)),
        FromDevice::Timeout { payment_id } => (payment_id, Action::Timeout),
    };
    let cx = Ctx::new(db, env, account(db, dev).await?, env.now());
    // A lost race (an API cancel at the same moment) is decided again on fresh state.
    for _ in 0..8 {
        let Some(l) = flow::load(&cx, &pid)
            .await
            .map_err(db_error)?
            .filter(|l| l.obj.terminal_id == dev.terminal_id)
        else {
            return Ok(reply(ToDevice::Error {
                message: format!("no payment {pid} on this terminal"),
            }));
        };
        let (p, writes) = match flow::apply(&cx, &l, action.input()).await {
            Ok(d) => d,
            // Not (or no longer) something this frame can change: show the device where it stands.
            Err(_) => {
                return Ok(reply(ToDevice::Result {
                    payment: serde_json::to_value(&l.obj).expect("serializes"),
                }));
            }
        };
        let events = crate::events::fan_outs(&writes).into_iter().map(|(id, _)| id).collect();
        match db.batch(writes).await {
            Ok(()) => {
                let payment = serde_json::to_value(&p).expect("serializes");
                let settled = if p.active() { Vec::new() } else { vec![p.id.clone()] };
                // `presented` needs no answer; the outcome of anything else is shown.
                let replies = if matches!(action, Action::Present(_)) {
                    Vec::new()
                } else {
                    vec![ToDevice::Result { payment }]
                };
                return Ok(DeviceStep {
                    replies,
                    settled,
                    events,
                });
            }
            Err(DbError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DbError::Conflict)
}

enum Action {
    Present(String),
    Authorize(String),
    Timeout,
}

impl Action {
    fn input(&self) -> Input<'_> {
        match self {
            Action::Present(entry) => Input::Present { entry_method: entry },
            Action::Authorize(card) => Input::Authorize {
                number: card,
                entry_method: "contactless",
            },
            Action::Timeout => Input::Cancel(CancelReason::PromptTimeout),
        }
    }
}

fn reply(frame: ToDevice) -> DeviceStep {
    DeviceStep {
        replies: vec![frame],
        ..DeviceStep::default()
    }
}
