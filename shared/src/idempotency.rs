//! Idempotency keys. The first request with a key claims it (`in_flight`); its final response is
//! stored in the same atomic batch as its writes (`done`). A repeat with the same request replays
//! that response; with a different request it is a 409; while the first still runs, a 409 too.

use crate::auth::Account;
use crate::error::{ApiError, ApiResult};
use crate::port::{Db, SqlValue, Stmt};
use crate::sql_params;
use sha2::{Digest, Sha256};

/// A claim older than this is taken to belong to a request that died mid-way and may be re-claimed.
pub const STALE_IN_FLIGHT_SECS: i64 = 60;
pub const MAX_KEY_LEN: usize = 255;

pub enum Claim {
    /// This request owns the key: run it and store its response with [`finish`].
    Owned,
    /// An earlier identical request completed: replay its response.
    Replay { status: u16, body: Vec<u8> },
}

/// Hash of what makes two requests "the same": method, path and the parsed parameters (a
/// canonical, key-sorted JSON form, so key order and JSON-vs-form spacing do not matter).
pub fn request_hash(method: &str, path: &str, params: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(params).unwrap_or_default());
    crate::keys::hex(&h.finalize())
}

pub fn check_key(key: &str) -> ApiResult<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            "idempotency_key_invalid",
            format!("Idempotency keys must be 1 to {MAX_KEY_LEN} printable ASCII characters without spaces."),
        ));
    }
    Ok(())
}

fn reused() -> ApiError {
    ApiError::new(
        409,
        "idempotency_error",
        "idempotency_key_reused",
        "This idempotency key was already used with a different request; use a new key for a new request.",
    )
}

fn in_use() -> ApiError {
    ApiError::new(
        409,
        "idempotency_error",
        "idempotency_key_in_use",
        "A request with this idempotency key is still in progress; retry after it completes.",
    )
}

pub async fn claim(db: &impl Db, acct: &Account, key: &str, hash: &str, now: i64) -> ApiResult<Claim> {
    let inserted = db
        .query(Stmt::new(
            "INSERT INTO idempotency_keys (account_id, livemode, key, request_hash, state, created) VALUES (?, ?, ?, ?, 'in_flight', ?) ON CONFLICT DO NOTHING RETURNING state",
            sql_params![&acct.id, acct.livemode, key, hash, now],
        ))
        .await?;
    if !inserted.is_empty() {
        return Ok(Claim::Owned);
    }
    let rows = db
        .query(Stmt::new(
            "SELECT request_hash, state, status, body, created FROM idempotency_keys WHERE account_id = ? AND livemode = ? AND key = ?",
            sql_params![&acct.id, acct.livemode, key],
        ))
        .await?;
    let Some(row) = rows.first() else {
        // Released (a 5xx) between our insert and this read: the caller may simply retry.
        return Err(in_use());
    };
    if row[0].as_str() != Some(hash) {
        return Err(reused());
    }
    match row[1].as_str() {
        Some("done") => {
            let status = row[2].as_i64().and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
            let body = match &row[3] {
                SqlValue::Text(t) => t.clone().into_bytes(),
                SqlValue::Blob(b) => b.clone(),
                _ => Vec::new(),
            };
            Ok(Claim::Replay { status, body })
        }
        _ => {
            let created = row[4].as_i64().unwrap_or(now);
            if created > now - STALE_IN_FLIGHT_SECS {
                return Err(in_use());
            }
            // Take over a stale claim, atomically: only one re-claimer can match `created`.
            let took = db
                .query(Stmt::new(
                    "UPDATE idempotency_keys SET created = ? WHERE account_id = ? AND livemode = ? AND key = ? AND state = 'in_flight' AND created = ? RETURNING key",
                    sql_params![now, &acct.id, acct.livemode, key, created],
                ))
                .await?;
            if took.is_empty() {
                Err(in_use())
            } else {
                Ok(Claim::Owned)
            }
        }
    }
}

/// Stores the final response; goes into the same batch as the request's writes.
pub fn finish(acct: &Account, key: &str, status: u16, body: &[u8]) -> Stmt {
    Stmt::new(
        "UPDATE idempotency_keys SET state = 'done', status = ?, body = ? WHERE account_id = ? AND livemode = ? AND key = ?",
        sql_params![
            status as i64,
            String::from_utf8_lossy(body).into_owned(),
            &acct.id,
            acct.livemode,
            key
        ],
    )
}

/// Gives the key back (after a server error or a lost race) so that a retry can run afresh.
pub fn release(acct: &Account, key: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM idempotency_keys WHERE account_id = ? AND livemode = ? AND key = ? AND state = 'in_flight'",
        sql_params![&acct.id, acct.livemode, key],
    )
}
