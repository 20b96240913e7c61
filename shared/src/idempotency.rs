//! Idempotency keys. A request reads its key's row first ([`earlier`]) and stores its final
//! response in the same atomic batch as its writes ([`record`], `done`): one commit. A request
//! that reaches outside the database before it commits claims the key first instead ([`claim`]:
//! `in_flight`, with a random claim token) and stores its response only while it still holds
//! that token ([`finish`]). A repeat with the same request replays that response; with
//! a different request it is a 409. While the first still runs, a repeat of a claimed key is a
//! 409; a repeat of any other runs too, and only one of the two commits (the other answers the
//! committed response, replayed). Keys expire after
//! [`RETENTION_SECS`]: an older row counts as absent, and the retention purge deletes it.

use crate::auth::Account;
use crate::error::{ApiError, ApiResult};
use crate::port::{Db, GUARD_ONE_SQL, SqlValue, Stmt};
use crate::sql_params;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// A claim older than this is taken to belong to a request that died mid-way and may be re-claimed.
pub const STALE_IN_FLIGHT_SECS: i64 = 60;
/// How long a key is remembered: a request with an older key runs afresh (docs/security.md).
pub const RETENTION_SECS: i64 = 24 * 3600;
pub const MAX_KEY_LEN: usize = 255;

pub enum Claim {
    /// This request owns the key under this claim token: run it and store its response with
    /// [`finish`].
    Owned(String),
    /// An earlier identical request completed: replay its response.
    Replay { status: u16, body: Vec<u8> },
}

/// Feeds serialized JSON straight into the MAC, so hashing never builds the text.
struct MacWriter<'a>(&'a mut Hmac<Sha256>);

impl std::io::Write for MacWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What makes two requests "the same": method, path and the parsed parameters (a canonical,
/// key-sorted JSON form, so key order and JSON-vs-form spacing do not matter), under an HMAC with
/// the deployment's secret (`secret`, never stored with the data), so a stored fingerprint
/// cannot be brute-forced offline. Card data never enters it: `card[number]` is replaced by the
/// card's keyed fingerprint (the one the payment method stores anyway, with the account's
/// `fingerprint_key`) and `card[cvc]` is left out, so nothing at rest recovers a PAN or a CVC
/// (PCI DSS), while two requests with different cards still differ.
pub fn request_hash(
    secret: &[u8],
    fingerprint_key: &str,
    method: &str,
    path: &str,
    params: &Map<String, Value>,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(method.as_bytes());
    mac.update(b" ");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    let carded;
    let params = match params.get("card") {
        Some(Value::Object(card)) if has_card_secrets(params) => {
            carded = without_card_secrets(fingerprint_key, params, card);
            &carded
        }
        _ => params,
    };
    serde_json::to_writer(MacWriter(&mut mac), params).expect("a JSON map always serializes");
    crate::keys::hex(&mac.finalize().into_bytes())
}

/// Whether [`request_hash`] needs the account's fingerprint key for `params` (they carry a card
/// number or CVC): the caller reads the key only then.
pub fn has_card_secrets(params: &Map<String, Value>) -> bool {
    matches!(params.get("card"), Some(Value::Object(card)) if card.contains_key("number") || card.contains_key("cvc"))
}

fn without_card_secrets(
    fingerprint_key: &str,
    params: &Map<String, Value>,
    card: &Map<String, Value>,
) -> Map<String, Value> {
    let mut card = card.clone();
    card.remove("cvc");
    if let Some(number) = card.remove("number") {
        let text = match &number {
            Value::String(s) => crate::cards::normalize_number(s).unwrap_or_else(|| s.clone()),
            other => other.to_string(),
        };
        card.insert(
            "number_fingerprint".into(),
            Value::String(crate::cards::fingerprint(fingerprint_key, &text)),
        );
    }
    let mut params = params.clone();
    params.insert("card".into(), Value::Object(card));
    params
}

/// Removes the fields an answer shows once (a secret) from the copy kept for replays: they are
/// answered `null` on a replay (docs/security.md), and never stored.
pub fn replay_body(body: &Value, shown_once: &[&str]) -> Option<Vec<u8>> {
    let obj = body.as_object()?;
    if !shown_once.iter().any(|f| obj.contains_key(*f)) {
        return None;
    }
    let mut kept = obj.clone();
    for f in shown_once {
        if let Some(v) = kept.get_mut(*f) {
            *v = Value::Null;
        }
    }
    Some(serde_json::to_vec(&kept).expect("a JSON value always serializes"))
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

/// A key shorter than `min` characters on an operation that asks for at least that many (seed 004).
pub fn too_short(min: usize) -> ApiError {
    ApiError::invalid(
        "x-idempotency-key",
        "idempotency_key_too_short",
        format!("Idempotency keys of this operation have at least {min} characters (seed 004)."),
    )
}

fn reused() -> ApiError {
    ApiError::new(
        409,
        "idempotency_error",
        "idempotency_key_reused",
        "This idempotency key was already used with a different request; use a new key for a new request.",
    )
}

/// Also the answer of a request that lost its claim to a later retry while it ran.
pub fn in_use() -> ApiError {
    ApiError::new(
        409,
        "idempotency_error",
        "idempotency_key_in_use",
        "A request with this idempotency key is still in progress; retry after it completes.",
    )
}

/// Claims `key` for this request under `token` (random, unique to this request), or answers
/// what the key's earlier use decided. For operations that reach outside the database before
/// they commit (a terminal payment): a concurrent duplicate must not reach the device too.
pub async fn claim(db: &impl Db, acct: &Account, key: &str, hash: &str, now: i64, token: &str) -> ApiResult<Claim> {
    let inserted = db
        .query(Stmt::new(
            "INSERT INTO idempotency_keys (account_id, livemode, key, request_hash, state, created, claim) VALUES (?, ?, ?, ?, 'in_flight', ?, ?) ON CONFLICT DO NOTHING RETURNING state",
            sql_params![&acct.id, acct.livemode, key, hash, now, token],
        ))
        .await?;
    if !inserted.is_empty() {
        return Ok(Claim::Owned(token.to_string()));
    }
    match seen(db, acct, key, hash, now).await? {
        // Released (a 5xx) between our insert and this read: the caller may simply retry.
        Seen::Absent => Err(in_use()),
        // Expired but not purged yet: the key is free again, for any request.
        Seen::Expired(created) => {
            take_over(
                db,
                Stmt::new(
                    "UPDATE idempotency_keys SET request_hash = ?, state = 'in_flight', status = NULL, body = NULL, created = ?, claim = ? WHERE account_id = ? AND livemode = ? AND key = ? AND created = ? RETURNING key",
                    sql_params![hash, now, token, &acct.id, acct.livemode, key, created],
                ),
                token,
            )
            .await
        }
        Seen::Done { status, body } => Ok(Claim::Replay { status, body }),
        // A stale claim: its request died mid-way, or is still running and will find its token gone.
        Seen::StaleClaim(created) => {
            take_over(
                db,
                Stmt::new(
                    "UPDATE idempotency_keys SET created = ?, claim = ? WHERE account_id = ? AND livemode = ? AND key = ? AND state = 'in_flight' AND created = ? RETURNING key",
                    sql_params![now, token, &acct.id, acct.livemode, key, created],
                ),
                token,
            )
            .await
        }
    }
}

/// For every other operation: what the key's earlier use decided, read (not written) before
/// the handler runs. `None`: run the request and put [`record`] in its batch. One commit per
/// request instead of two; a concurrent duplicate runs too, but only one of the two batches
/// commits (the other conflicts on the key and replays the winner's answer).
pub async fn earlier(db: &impl Db, acct: &Account, key: &str, hash: &str, now: i64) -> ApiResult<Option<Claim>> {
    Ok(match seen(db, acct, key, hash, now).await? {
        Seen::Done { status, body } => Some(Claim::Replay { status, body }),
        // Expired, or a claim whose request died: `record` takes the row over.
        Seen::Absent | Seen::Expired(_) | Seen::StaleClaim(_) => None,
    })
}

/// The key's row as a request with `hash` at `now` sees it; a different request's row (409
/// `idempotency_key_reused`) and a live claim (409 `idempotency_key_in_use`) are errors.
enum Seen {
    Absent,
    /// Older than [`RETENTION_SECS`], not purged yet: free for any request.
    Expired(i64),
    Done {
        status: u16,
        body: Vec<u8>,
    },
    /// `in_flight` for longer than [`STALE_IN_FLIGHT_SECS`].
    StaleClaim(i64),
}

async fn seen(db: &impl Db, acct: &Account, key: &str, hash: &str, now: i64) -> ApiResult<Seen> {
    let rows = db
        .query(Stmt::new(
            "SELECT request_hash, state, status, body, created FROM idempotency_keys WHERE account_id = ? AND livemode = ? AND key = ?",
            sql_params![&acct.id, acct.livemode, key],
        ))
        .await?;
    let Some(row) = rows.first() else {
        return Ok(Seen::Absent);
    };
    let created = row[4].as_i64().unwrap_or(now);
    if created <= now - RETENTION_SECS {
        return Ok(Seen::Expired(created));
    }
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
            Ok(Seen::Done { status, body })
        }
        _ if created > now - STALE_IN_FLIGHT_SECS => Err(in_use()),
        _ => Ok(Seen::StaleClaim(created)),
    }
}

/// The answer of a request that did not claim its key ([`earlier`]), in the same batch as its
/// writes: the key's row, new or taking over an expired row or a dead request's stale claim.
/// Otherwise (a concurrent duplicate committed first) the guard aborts the whole batch. `token`
/// lets [`finish`] replace the answer after the commit, as for a claimed key.
pub fn record(acct: &Account, key: &str, hash: &str, now: i64, token: &str, status: u16, body: &[u8]) -> [Stmt; 2] {
    [
        Stmt::new(
            "INSERT INTO idempotency_keys (account_id, livemode, key, request_hash, state, status, body, created, claim) VALUES (?, ?, ?, ?, 'done', ?, ?, ?, ?) \
             ON CONFLICT (account_id, livemode, key) DO UPDATE SET request_hash = excluded.request_hash, state = 'done', status = excluded.status, body = excluded.body, created = excluded.created, claim = excluded.claim \
             WHERE idempotency_keys.created <= ? OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created <= ?)",
            sql_params![
                &acct.id,
                acct.livemode,
                key,
                hash,
                status as i64,
                String::from_utf8_lossy(body).into_owned(),
                now,
                token,
                now - RETENTION_SECS,
                now - STALE_IN_FLIGHT_SECS
            ],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
    ]
}

/// Runs a conditional re-claim; only one re-claimer can match the `created` it read.
async fn take_over(db: &impl Db, update: Stmt, token: &str) -> ApiResult<Claim> {
    if db.query(update).await?.is_empty() {
        Err(in_use())
    } else {
        Ok(Claim::Owned(token.to_string()))
    }
}

/// Stores the final response; goes into the same batch as the request's writes. The guard aborts
/// the whole batch (a conflict) if the claim was taken over meanwhile, so a request that ran
/// past [`STALE_IN_FLIGHT_SECS`] cannot commit beside its retry: see [`still_owned`].
pub fn finish(acct: &Account, key: &str, token: &str, status: u16, body: &[u8]) -> [Stmt; 2] {
    [
        Stmt::new(
            "UPDATE idempotency_keys SET state = 'done', status = ?, body = ? WHERE account_id = ? AND livemode = ? AND key = ? AND claim = ?",
            sql_params![
                status as i64,
                String::from_utf8_lossy(body).into_owned(),
                &acct.id,
                acct.livemode,
                key,
                token
            ],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
    ]
}

/// Does this request still hold its claim? After a batch conflict: if not, a retry took the key
/// over and this request must not run again.
pub async fn still_owned(db: &impl Db, acct: &Account, key: &str, token: &str) -> ApiResult<bool> {
    let rows = db
        .query(Stmt::new(
            "SELECT 1 FROM idempotency_keys WHERE account_id = ? AND livemode = ? AND key = ? AND claim = ?",
            sql_params![&acct.id, acct.livemode, key, token],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// Gives the key back (after a server error or a lost race) so that a retry can run afresh;
/// only while this request still holds it.
pub fn release(acct: &Account, key: &str, token: &str) -> Stmt {
    Stmt::new(
        "DELETE FROM idempotency_keys WHERE account_id = ? AND livemode = ? AND key = ? AND state = 'in_flight' AND claim = ?",
        sql_params![&acct.id, acct.livemode, key, token],
    )
}
