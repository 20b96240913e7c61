//! Authentication: `Authorization: Bearer <key>` or `X-Api-Key: <key>`, looked up by hash.

use crate::error::{ApiError, ApiResult};
use crate::http::Request;
use crate::keys::{KeyKind, hash_key, key_shape};
use crate::port::{Cache, Db, Stmt};
use crate::sql_params;

/// The caller: one account in one environment. Every query is scoped by both.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub livemode: bool,
    pub fingerprint_key: String,
    /// Seconds the sandbox clock runs ahead of real time (the test clock); always 0 live.
    pub clock_offset: i64,
}

impl Account {
    /// The account's clock: real time `wall` plus its sandbox offset.
    pub fn clock(&self, wall: i64) -> i64 {
        wall.saturating_add(self.clock_offset)
    }
}

fn unauthorized(code: &'static str, msg: &str) -> ApiError {
    ApiError::new(401, "authentication_error", code, msg)
}

/// The token of an `Authorization: Bearer <token>` value (any case, trimmed), if it is one.
/// Also the terminal hubs' reading of a device key.
pub fn bearer(h: &str) -> Option<&str> {
    let h = h.trim();
    // `get`, not `[..7]`: a multi-byte character across byte 7 must not panic.
    h.get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .and(h.get(7..))
        .map(str::trim)
}

/// The key the request carries, if any.
pub fn presented_key(req: &Request) -> Option<&str> {
    key_in(req.header("authorization"), req.header("x-api-key"))
}

/// [`presented_key`] from the two header values, for a host that has not built a [`Request`]
/// (vinr dev's rate limiter).
pub fn key_in<'a>(authorization: Option<&'a str>, x_api_key: Option<&'a str>) -> Option<&'a str> {
    if let Some(key) = authorization.and_then(bearer) {
        return Some(key);
    }
    x_api_key.map(str::trim)
}

fn missing_key() -> ApiError {
    unauthorized(
        "api_key_missing",
        "No API key provided. Send 'Authorization: Bearer sk_test_...' or 'X-Api-Key: sk_test_...'.",
    )
}

fn invalid_key() -> ApiError {
    unauthorized("api_key_invalid", "Invalid API key provided.")
}

/// How long a cached key lookup is trusted: a revoked key stops working at most this long after
/// the revocation is committed. The bound is checked against the time stored in the entry, so
/// it holds however long the cache itself keeps (or propagates) the value.
pub const KEY_CACHE_SECS: i64 = 30;

/// Resolves the request's key to its account. Missing, malformed, unknown or revoked: 401.
/// A public key: 403, since every endpoint served here is a server endpoint.
///
/// Successful live secret-key lookups are cached in `cache` (pass `NoCache` for none) for
/// [`KEY_CACHE_SECS`]. Only successes are cached (a new key works at once; unknown keys cannot
/// fill the cache), under the key's hash, never the key itself. Sandbox keys are always looked
/// up: the lookup also reads the sandbox clock, which a test-clock advance moves at once.
pub async fn authenticate(db: &impl Db, cache: &impl Cache, now: i64, req: &Request) -> ApiResult<Account> {
    let key = presented_key(req).ok_or_else(missing_key)?;
    let shape = key_shape(key).ok_or_else(invalid_key)?;
    let hash = hash_key(key);
    if shape.kind != KeyKind::Secret || !shape.livemode {
        return lookup(db, &hash, &shape).await;
    }
    let cache_key = format!("apikey:{hash}");
    if let Some(acct) = cache
        .get(&cache_key)
        .await
        .and_then(|v| from_cache(&v, now, shape.livemode))
    {
        return Ok(acct);
    }
    let acct = lookup(db, &hash, &shape).await?;
    let entry = serde_json::json!({
        "account": acct.id, "livemode": acct.livemode, "fingerprint_key": acct.fingerprint_key, "until": now + KEY_CACHE_SECS,
    });
    cache.put(&cache_key, entry.to_string()).await;
    Ok(acct)
}

/// A cache entry that is still fresh and agrees with the key's own prefix.
fn from_cache(v: &str, now: i64, livemode: bool) -> Option<Account> {
    let v: serde_json::Value = serde_json::from_str(v).ok()?;
    if v["until"].as_i64()? < now || v["livemode"].as_bool()? != livemode {
        return None;
    }
    Some(Account {
        id: v["account"].as_str()?.to_string(),
        livemode,
        fingerprint_key: v["fingerprint_key"].as_str()?.to_string(),
        clock_offset: 0,
    })
}

async fn lookup(db: &impl Db, hash: &str, shape: &crate::keys::KeyShape) -> ApiResult<Account> {
    let rows = db
        .query(Stmt::new(
            "SELECT k.account_id, k.livemode, k.kind, k.revoked_at, a.fingerprint_key, a.clock_offset FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?",
            sql_params![hash],
        ))
        .await?;
    let row = rows.first().ok_or_else(invalid_key)?;
    if !matches!(row[3], crate::port::SqlValue::Null) {
        return Err(unauthorized("api_key_revoked", "This API key has been revoked."));
    }
    let livemode = row[1].as_i64() == Some(1);
    if livemode != shape.livemode || row[2].as_str() != Some(shape.kind.as_str()) {
        // The stored key disagrees with its own prefix: treat as unknown rather than trust either.
        return Err(invalid_key());
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
        clock_offset: if livemode { 0 } else { row[5].as_i64().unwrap_or(0) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> Request {
        Request {
            method: "GET".into(),
            path: "/v1/payments".into(),
            query: String::new(),
            headers: vec![("authorization".into(), value.into())],
            body: Vec::new(),
        }
    }

    #[test]
    fn bearer_prefix_is_read_without_slicing_a_character() {
        assert_eq!(presented_key(&with_auth("Bearer sk_test_1")), Some("sk_test_1"));
        assert_eq!(presented_key(&with_auth("bearer  sk_test_1 ")), Some("sk_test_1"));
        // A multi-byte character across byte 7 (security review H2): no key, no panic.
        for odd in [
            "Bearer\u{e9}x",
            "Beare\u{e9}",
            "\u{e9}\u{e9}\u{e9}\u{e9}",
            "Bearer",
            "€",
        ] {
            assert_eq!(presented_key(&with_auth(odd)), None, "{odd:?}");
        }
    }
}
