//! Authentication: `Authorization: Bearer <key>` or `X-Api-Key: <key>`, looked up by hash.

use crate::error::{ApiError, ApiResult};
use crate::http::Request;
use crate::keys::{KeyKind, KeyShape, hash_key, key_shape};
use crate::permissions::Permissions;
use crate::port::{Cache, Db, SqlValue, Stmt};
use crate::sql_params;

/// The caller: one account in one environment. Every query is scoped by both.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub livemode: bool,
    /// The account's card-fingerprint key when the caller read it with the key (a database
    /// lookup does, at no cost); None otherwise (a cached live key, a scheduled step), and
    /// [`crate::context::Ctx::fingerprint_key`] reads it when needed, so it never sits in the
    /// key cache (security review L14).
    pub fingerprint_key: Option<String>,
    /// Seconds the sandbox clock runs ahead of real time (the test clock); always 0 live.
    pub clock_offset: i64,
    /// A restricted key's grant (checked by the pipeline, `crate::permissions::check`); None for
    /// a secret key and for the platform's own work, which may do everything.
    pub permissions: Option<Permissions>,
    /// The platform this account is connected to (seed 004's `partner_id`), if any.
    pub platform_id: Option<String>,
    /// Seed 004's `business_id`: the business this connected account belongs to, if any.
    pub business_id: Option<String>,
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
/// the revocation is committed, and so does a rolled key whose new `expires_at` came after its
/// entry was cached (an expiry already known when the entry was made is exact). The bound is
/// checked against the time stored in the entry, so it holds however long the cache itself
/// keeps (or propagates) the value.
pub const KEY_CACHE_SECS: i64 = 30;

/// Resolves the request's key to its account. Missing, malformed, unknown, revoked or expired:
/// 401. A public key: 403, since every endpoint served here is a server endpoint.
///
/// Successful live lookups of server keys (secret and restricted) are cached in `cache` (pass
/// `NoCache` for none) for [`KEY_CACHE_SECS`]. Only successes are cached (a new key works at
/// once; unknown keys cannot fill the cache), under the key's hash, never the key itself, and
/// the entry holds the account id, the key's kind, grant and expiry: not the account's
/// fingerprint key. Sandbox keys are always looked up: the lookup also reads the sandbox clock,
/// which a test-clock advance moves at once. `now` is real time: keys expire on the wall clock.
pub async fn authenticate(db: &impl Db, cache: &impl Cache, now: i64, req: &Request) -> ApiResult<Account> {
    let key = presented_key(req).ok_or_else(missing_key)?;
    let shape = key_shape(key).ok_or_else(invalid_key)?;
    let hash = hash_key(key);
    if shape.kind == KeyKind::Public || !shape.livemode {
        return Ok(lookup(db, &hash, &shape, now).await?.account);
    }
    let cache_key = format!("apikey:{hash}");
    if let Some(acct) = cache.get(&cache_key).await.and_then(|v| from_cache(&v, now, &shape)) {
        return Ok(acct);
    }
    let found = lookup(db, &hash, &shape, now).await?;
    cache.put(&cache_key, to_cache(&found, shape.kind, now)).await;
    Ok(found.account)
}

/// The cache entry of a key found at `now`: what [`from_cache`] needs, nothing more.
fn to_cache(found: &Found, kind: KeyKind, now: i64) -> String {
    serde_json::json!({
        "account": found.account.id,
        "livemode": found.account.livemode,
        "kind": kind.as_str(),
        "permissions": found.account.permissions.map(|p| p.to_stored()),
        "platform_id": found.account.platform_id,
        "business_id": found.account.business_id,
        "expires_at": found.expires_at,
        "until": now + KEY_CACHE_SECS,
    })
    .to_string()
}

/// A cache entry that is still fresh, agrees with the key's own prefix and has not expired
/// (an expired key is looked up again, which answers why).
fn from_cache(v: &str, now: i64, shape: &KeyShape) -> Option<Account> {
    let v: serde_json::Value = serde_json::from_str(v).ok()?;
    if v["until"].as_i64()? < now
        || v["livemode"].as_bool()? != shape.livemode
        || v["kind"].as_str()? != shape.kind.as_str()
    {
        return None;
    }
    if v["expires_at"].as_i64().is_some_and(|e| e <= now) {
        return None;
    }
    let permissions = match shape.kind {
        KeyKind::Restricted => Some(Permissions::from_stored(v["permissions"].as_str()?)?),
        _ => None,
    };
    Some(Account {
        id: v["account"].as_str()?.to_string(),
        livemode: shape.livemode,
        fingerprint_key: None,
        clock_offset: 0,
        permissions,
        platform_id: v["platform_id"].as_str().map(str::to_string),
        business_id: v["business_id"].as_str().map(str::to_string),
    })
}

/// A key found in the database, and when it expires (if it was rolled).
struct Found {
    account: Account,
    expires_at: Option<i64>,
}

async fn lookup(db: &impl Db, hash: &str, shape: &KeyShape, now: i64) -> ApiResult<Found> {
    let rows = db
        .query(Stmt::new(
            "SELECT k.account_id, k.livemode, k.kind, k.revoked_at, a.fingerprint_key, a.clock_offset, k.expires_at, k.permissions, a.platform_id, a.business_id FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?",
            sql_params![hash],
        ))
        .await?;
    let row = rows.first().ok_or_else(invalid_key)?;
    if !matches!(row[3], SqlValue::Null) {
        return Err(unauthorized("api_key_revoked", "This API key has been revoked."));
    }
    let expires_at = row[6].as_i64();
    if expires_at.is_some_and(|e| e <= now) {
        return Err(unauthorized(
            "api_key_expired",
            "This API key has expired: it was rolled, and its replacement is the key to use.",
        ));
    }
    let livemode = row[1].as_i64() == Some(1);
    if livemode != shape.livemode || row[2].as_str() != Some(shape.kind.as_str()) {
        // The stored key disagrees with its own prefix: treat as unknown rather than trust either.
        return Err(invalid_key());
    }
    let permissions = match shape.kind {
        KeyKind::Public => {
            return Err(ApiError::new(
                403,
                "permission_error",
                "secret_key_required",
                "Public keys (pk_...) cannot call server-side endpoints; use your secret key (sk_...).",
            ));
        }
        KeyKind::Secret => None,
        KeyKind::Restricted => Some(
            row[7]
                .as_str()
                .and_then(Permissions::from_stored)
                .ok_or_else(|| ApiError::internal("a restricted key with unreadable permissions"))?,
        ),
    };
    Ok(Found {
        account: Account {
            id: row[0].as_str().unwrap_or_default().to_string(),
            livemode,
            fingerprint_key: row[4].as_str().map(str::to_string),
            clock_offset: if livemode { 0 } else { row[5].as_i64().unwrap_or(0) },
            permissions,
            platform_id: row[8].as_str().map(str::to_string),
            business_id: row[9].as_str().map(str::to_string),
        },
        expires_at,
    })
}

/// The header that makes a platform's request one of its connected accounts' (seed 004).
pub const ACCOUNT_HEADER: &str = "x-account-id";

/// The account a request acts as. Without `x-account-id`, or with the caller's own id, the
/// caller. With one of the caller's connected accounts (of the caller's environment, or made by
/// the CLI, which exist in both), that account, keeping the caller's environment and grant: its
/// objects, balance and webhooks are the request's. Any other value (another platform's account,
/// an unknown id, a malformed one) is one and the same 403, so the answer says nothing about
/// who else is on the platform.
pub async fn acting_as(db: &impl Db, caller: Account, header: Option<&str>) -> ApiResult<Account> {
    let Some(id) = header.map(str::trim) else {
        return Ok(caller);
    };
    if id == caller.id {
        return Ok(caller);
    }
    let refused = || {
        ApiError::new(
            403,
            "permission_error",
            "account_invalid",
            "No such account. x-account-id names your own account or one of your connected accounts.",
        )
        .with_param(ACCOUNT_HEADER)
    };
    if !(id.starts_with("acct_") && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
        return Err(refused());
    }
    let rows = db
        .query(Stmt::new(
            "SELECT fingerprint_key, clock_offset, business_id FROM accounts WHERE id = ? AND platform_id = ? AND (livemode IS NULL OR livemode = ?)",
            sql_params![id, &caller.id, caller.livemode],
        ))
        .await?;
    let row = rows.first().ok_or_else(refused)?;
    Ok(Account {
        id: id.to_string(),
        livemode: caller.livemode,
        fingerprint_key: row[0].as_str().map(str::to_string),
        clock_offset: if caller.livemode {
            0
        } else {
            row[1].as_i64().unwrap_or(0)
        },
        permissions: caller.permissions,
        platform_id: Some(caller.id),
        business_id: row[2].as_str().map(str::to_string),
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

    fn found(permissions: Option<Permissions>, expires_at: Option<i64>) -> Found {
        Found {
            account: Account {
                id: "acct_1".into(),
                livemode: true,
                fingerprint_key: Some("f1ngerpr1nt".into()),
                clock_offset: 0,
                permissions,
                platform_id: None,
                business_id: None,
            },
            expires_at,
        }
    }

    const LIVE_SECRET: KeyShape = KeyShape {
        kind: KeyKind::Secret,
        livemode: true,
    };
    const LIVE_RESTRICTED: KeyShape = KeyShape {
        kind: KeyKind::Restricted,
        livemode: true,
    };

    #[test]
    fn cache_entries_hold_no_fingerprint_key_and_keep_the_grant() {
        let entry = to_cache(&found(None, None), KeyKind::Secret, 100);
        assert!(
            !entry.contains("f1ngerpr1nt") && !entry.contains("fingerprint"),
            "{entry}"
        );
        let acct = from_cache(&entry, 100 + KEY_CACHE_SECS, &LIVE_SECRET).unwrap();
        assert_eq!(
            (acct.id.as_str(), acct.fingerprint_key, acct.permissions),
            ("acct_1", None, None)
        );
        // Stale, or of another kind or environment than the key's prefix: looked up again.
        assert!(from_cache(&entry, 101 + KEY_CACHE_SECS, &LIVE_SECRET).is_none());
        assert!(from_cache(&entry, 100, &LIVE_RESTRICTED).is_none());
        let grant = Permissions::NONE.with(0, crate::permissions::Level::Read);
        let entry = to_cache(&found(Some(grant), None), KeyKind::Restricted, 100);
        assert_eq!(
            from_cache(&entry, 100, &LIVE_RESTRICTED).unwrap().permissions,
            Some(grant)
        );
    }

    #[test]
    fn a_cached_key_stops_at_its_expiry() {
        let entry = to_cache(&found(None, Some(110)), KeyKind::Secret, 100);
        assert!(from_cache(&entry, 109, &LIVE_SECRET).is_some());
        // At expires_at the lookup answers (401 api_key_expired), not the cache.
        assert!(from_cache(&entry, 110, &LIVE_SECRET).is_none());
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
