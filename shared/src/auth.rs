//! Authentication: `Authorization: Bearer <key>` or `X-Api-Key: <key>`, looked up by hash.

use crate::error::{ApiError, ApiResult};
use crate::http::Request;
use crate::keys::{KeyKind, hash_key, key_shape};
use crate::port::{Db, Stmt};
use crate::sql_params;

/// The caller: one account in one environment. Every query is scoped by both.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub livemode: bool,
    pub fingerprint_key: String,
}

fn unauthorized(code: &'static str, msg: &str) -> ApiError {
    ApiError::new(401, "authentication_error", code, msg)
}

/// The key the request carries, if any.
pub fn presented_key(req: &Request) -> Option<&str> {
    if let Some(h) = req.header("authorization") {
        let h = h.trim();
        if h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer ") {
            return Some(h[7..].trim());
        }
    }
    req.header("x-api-key").map(str::trim)
}

/// Resolves the request's key to its account. Missing, malformed, unknown or revoked: 401.
/// A public key: 403, since every endpoint served here is a server endpoint.
pub async fn authenticate(db: &impl Db, req: &Request) -> ApiResult<Account> {
    let key = presented_key(req).ok_or_else(|| {
        unauthorized("api_key_missing", "No API key provided. Send 'Authorization: Bearer sk_test_...' or 'X-Api-Key: sk_test_...'.")
    })?;
    let shape = key_shape(key).ok_or_else(|| unauthorized("api_key_invalid", "Invalid API key provided."))?;
    let rows = db
        .query(Stmt::new(
            "SELECT k.account_id, k.livemode, k.kind, k.revoked_at, a.fingerprint_key FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?",
            sql_params![hash_key(key)],
        ))
        .await?;
    let row = rows.first().ok_or_else(|| unauthorized("api_key_invalid", "Invalid API key provided."))?;
    if !matches!(row[3], crate::port::SqlValue::Null) {
        return Err(unauthorized("api_key_revoked", "This API key has been revoked."));
    }
    let livemode = row[1].as_i64() == Some(1);
    if livemode != shape.livemode || row[2].as_str() != Some(shape.kind.as_str()) {
        // The stored key disagrees with its own prefix: treat as unknown rather than trust either.
        return Err(unauthorized("api_key_invalid", "Invalid API key provided."));
    }
    if shape.kind == KeyKind::Public {
        return Err(ApiError::new(
            403,
            "permission_error",
            "secret_key_required",
            "Public keys (pk_...) cannot call server-side endpoints; use your secret key (sk_...).",
        ));
    }
    Ok(Account {
        id: row[0].as_str().unwrap_or_default().to_string(),
        livemode,
        fingerprint_key: row[4].as_str().unwrap_or_default().to_string(),
    })
}
