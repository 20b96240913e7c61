//! One webhook delivery attempt, decided here and performed by a runtime's dispatcher (the
//! `vinr dev` host today; a Queue consumer and cron sweep on Cloudflare, Spin's trigger later):
//! which rows are due, how to lease one, what to send, and the writes that record the answer.
//! The runtime only runs the SQL and the HTTP request.

use super::{retry, signature};
use crate::port::{Row, SqlValue, Stmt};
use crate::sql_params;

/// Extra time a lease lasts beyond the attempt timeout, before another dispatcher may retry.
pub const LEASE_MARGIN_MS: i64 = 5_000;
pub const USER_AGENT: &str = "VINR-Webhooks/1.0";
/// `last_error` of an attempt refused because a live endpoint resolved to a non-public address.
pub const NOT_ALLOWED: &str = "address not allowed";
/// `last_error` classes of an attempt that got no response. Coarse on purpose: `last_error` is
/// shown to the account, and the raw text ("connection refused to 10.0.0.3:22", TLS alerts)
/// would make the dispatcher a port scanner of whatever network it can reach.
pub const TIMED_OUT: &str = "timed out";
pub const CONNECTION_FAILED: &str = "connection failed";
pub const TLS_FAILED: &str = "TLS handshake failed";
pub const DNS_FAILED: &str = "DNS lookup failed";
pub const INVALID_URL: &str = "invalid endpoint URL";

/// The class of a transport error's text (any runtime's wording), for `last_error`.
pub fn error_class(raw: &str) -> &'static str {
    let t = raw.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&[NOT_ALLOWED]) {
        NOT_ALLOWED
    } else if has(&["timed out", "timeout", "deadline"]) {
        TIMED_OUT
    } else if has(&["dns", "resolve", "lookup", "name or service not known", "no such host"]) {
        DNS_FAILED
    } else if has(&["tls", "ssl", "certificate", "handshake"]) {
        TLS_FAILED
    } else {
        CONNECTION_FAILED
    }
}

/// `last_error` for a response status: None for a 2xx. A 3xx is a failed attempt: redirects
/// are never followed (the target was not checked, and a 307 would re-send the signed body).
pub fn status_error(status: u16) -> Option<String> {
    match status {
        200..=299 => None,
        300..=399 => Some(format!("HTTP {status} (redirects are not followed)")),
        _ => Some(format!("HTTP {status}")),
    }
}

/// The due-deliveries query with an extra `WHERE` condition (a string literal) first: the rows
/// [`Job::from_row`] reads, oldest first. For one event's deliveries (one account, one row per
/// endpoint); every account's go through the fair [`super::fair::FAIR_DUE_SQL`] instead.
#[macro_export]
macro_rules! due_deliveries_sql {
    ($condition:literal) => {
        concat!(
            "SELECT d.id, d.event_id, d.endpoint_id, d.next_attempt_at, d.attempts, d.created_ms, e.data, ",
            "w.url, w.secret, w.previous_secret, w.previous_expires_at, w.livemode, w.disabled, w.deleted, ",
            "d.account_id || ':' || d.livemode ",
            "FROM webhook_deliveries d ",
            "JOIN events e ON e.id = d.event_id ",
            "JOIN webhook_endpoints w ON w.id = d.endpoint_id ",
            "WHERE ",
            $condition,
            " d.status = 'pending' AND d.next_attempt_at <= ? ",
            "ORDER BY d.next_attempt_at LIMIT ?"
        )
    };
}

/// Every account's due deliveries, ranked fairly: see [`super::fair`]. Binds: now (unix ms), limit.
pub const DUE_SQL: &str = super::fair::FAIR_DUE_SQL;

/// The earliest pending attempt (leases included), to know how long a dispatcher may sleep.
pub const EARLIEST_DUE_SQL: &str = "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'";
/// The attempts under way at `?` (unix ms), any dispatcher's: (account key, endpoint id) rows
/// for [`super::fair::InFlight`]. Read through the partial index `webhook_deliveries_leased`.
pub const IN_FLIGHT_SQL: &str = "SELECT account_id || ':' || livemode, endpoint_id FROM webhook_deliveries WHERE status = 'pending' AND leased_until > ?";

/// The earliest pending attempt after `?` (unix ms): when a dispatcher whose due rows are all
/// held back by their fair-share caps must look again at the latest.
pub const EARLIEST_AFTER_SQL: &str =
    "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at > ?";

/// A due delivery with everything needed to send it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// The account and environment (`account_id:livemode`): the unit of fair shares.
    pub account: String,
    /// The `next_attempt_at` this dispatcher holds: the guard of every later update.
    pub lease: i64,
    pub attempts: i64,
    pub created_ms: i64,
    /// The event JSON, sent byte for byte.
    pub body: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_expires_at: Option<i64>,
    pub livemode: bool,
    pub disabled: bool,
    pub deleted: bool,
}

impl Job {
    /// Reads one row of [`DUE_SQL`] (or of a `due_deliveries_sql!` query).
    pub fn from_row(r: &Row) -> Option<Job> {
        let text = |i: usize| r.get(i).and_then(SqlValue::as_str).map(str::to_string);
        let int = |i: usize| r.get(i).and_then(SqlValue::as_i64);
        Some(Job {
            id: text(0)?,
            event_id: text(1)?,
            endpoint_id: text(2)?,
            account: text(14)?,
            lease: int(3)?,
            attempts: int(4)?,
            created_ms: int(5)?,
            body: text(6)?,
            url: text(7)?,
            secret: text(8)?,
            previous_secret: text(9),
            previous_expires_at: int(10),
            livemode: int(11)? != 0,
            disabled: int(12)? != 0,
            deleted: int(13)? != 0,
        })
    }

    /// Why this delivery must not be sent at all (its endpoint went away after it was queued).
    pub fn refusal(&self) -> Option<&'static str> {
        if self.deleted {
            Some("endpoint deleted")
        } else if self.disabled {
            Some("endpoint disabled")
        } else {
            None
        }
    }

    /// Moves the delivery's next attempt to `until` if it is still ours to take: the runtime
    /// checks that exactly one row changed, else another dispatcher has it.
    pub fn lease_stmt(&self, until: i64) -> Stmt {
        Stmt::new(
            "UPDATE webhook_deliveries SET next_attempt_at = ?, leased_until = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
            sql_params![until, until, &self.id, self.lease],
        )
    }

    /// The request headers for an attempt at `now_secs`: signed with the current secret, and
    /// with the previous one too while a roll's grace period runs.
    pub fn headers(&self, now_secs: i64) -> Vec<(&'static str, String)> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(prev), Some(exp)) = (&self.previous_secret, self.previous_expires_at)
            && exp > now_secs
        {
            secrets.push(prev);
        }
        vec![
            ("content-type", "application/json".into()),
            ("user-agent", USER_AGENT.into()),
            (
                signature::HEADER,
                signature::sign(&secrets, now_secs, self.body.as_bytes()),
            ),
            ("x-vinr-event-id", self.event_id.clone()),
            ("x-vinr-delivery-id", self.id.clone()),
        ]
    }
}

/// What one attempt produced.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The response status, None if no response arrived (connection error, timeout, refusal).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at_ms: i64,
}

/// The writes that record an attempt (one transaction), and the next attempt time if it is to be
/// retried. Every write is guarded by the lease, so a late result for a delivery that was
/// closed meanwhile (endpoint deleted) changes nothing. `jitter` in [0, 1); `scale` as in retry.
pub fn record(job: &Job, a: &Attempt, now_ms: i64, jitter: f64, scale: f64) -> (Vec<Stmt>, Option<i64>) {
    let attempts = job.attempts + 1;
    let still_ours =
        "EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ? AND status = 'pending' AND next_attempt_at = ?)";
    let status = a.status.map(i64::from);
    if retry::acknowledged(a.status) {
        let stmts = vec![
            Stmt::new(
                format!(
                    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL AND {still_ours}"
                ),
                sql_params![&job.endpoint_id, &job.id, job.lease],
            ),
            Stmt::new(
                "UPDATE webhook_deliveries SET status = 'succeeded', attempts = ?, next_attempt_at = NULL, leased_until = NULL, last_status_code = ?, last_error = NULL, \
                 last_duration_ms = ?, last_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
                sql_params![attempts, status, a.duration_ms, a.at_ms, &job.id, job.lease],
            ),
        ];
        return (stmts, None);
    }
    let tries = u32::try_from(attempts.max(1)).unwrap_or(u32::MAX);
    let next = retry::next_attempt_at(tries, job.created_ms, now_ms, jitter, scale);
    let mut stmts = Vec::with_capacity(2);
    if next.is_none() {
        // Gave up after the retry window: flag the endpoint (until its next success).
        stmts.push(Stmt::new(
            format!(
                "UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL AND {still_ours}"
            ),
            sql_params![now_ms / 1000, &job.endpoint_id, &job.id, job.lease],
        ));
    }
    stmts.push(Stmt::new(
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, leased_until = NULL, last_status_code = ?, last_error = ?, \
         last_duration_ms = ?, last_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
        sql_params![if next.is_some() { "pending" } else { "failed" }, attempts, next, status, a.error.clone(), a.duration_ms, a.at_ms, &job.id, job.lease],
    ));
    (stmts, next)
}

/// Gives a lease back (shutdown with the attempt unfinished): due again at `now_ms`.
pub fn release_stmt(id: &str, lease: i64, now_ms: i64) -> Stmt {
    Stmt::new(
        "UPDATE webhook_deliveries SET next_attempt_at = ?, leased_until = NULL WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
        sql_params![now_ms, id, lease],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            id: "wd_1".into(),
            event_id: "evt_1".into(),
            endpoint_id: "we_1".into(),
            account: "acct_1:0".into(),
            lease: 100,
            attempts: 0,
            created_ms: 0,
            body: "{}".into(),
            url: "http://127.0.0.1/x".into(),
            secret: "whsec_new".into(),
            previous_secret: Some("whsec_old".into()),
            previous_expires_at: Some(50),
            livemode: false,
            disabled: false,
            deleted: false,
        }
    }

    #[test]
    fn headers_sign_with_previous_secret_during_grace_only() {
        let j = job();
        let sig = |now| {
            j.headers(now)
                .into_iter()
                .find(|(k, _)| *k == signature::HEADER)
                .unwrap()
                .1
        };
        assert_eq!(signature::verify("whsec_old", &sig(40), b"{}", 40, 300), Ok(()));
        assert_eq!(
            signature::verify("whsec_old", &sig(60), b"{}", 60, 300),
            Err(signature::VerifyError::Mismatch)
        );
        assert_eq!(signature::verify("whsec_new", &sig(60), b"{}", 60, 300), Ok(()));
    }

    #[test]
    fn errors_are_coarse() {
        assert_eq!(
            error_class("error trying to connect: tcp connect error: Connection refused (os error 111)"),
            CONNECTION_FAILED
        );
        assert_eq!(error_class("TypeError: Network connection lost."), CONNECTION_FAILED);
        assert_eq!(error_class("invalid peer certificate: UnknownIssuer"), TLS_FAILED);
        assert_eq!(
            error_class("dns error: failed to lookup address information"),
            DNS_FAILED
        );
        assert_eq!(error_class("operation timed out"), TIMED_OUT);
        assert_eq!(error_class("client error (Connect): address not allowed"), NOT_ALLOWED);
        assert_eq!(status_error(204), None);
        assert_eq!(
            status_error(307).as_deref(),
            Some("HTTP 307 (redirects are not followed)")
        );
        assert_eq!(status_error(500).as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn records_success_retry_and_give_up() {
        let j = job();
        let ok = Attempt {
            status: Some(204),
            error: None,
            duration_ms: 3,
            at_ms: 1000,
        };
        let (s, next) = record(&j, &ok, 1000, 0.5, 1.0);
        assert_eq!((s.len(), next), (2, None));
        assert!(s[1].sql.contains("'succeeded'"));
        let fail = Attempt {
            status: Some(500),
            error: Some("HTTP 500".into()),
            duration_ms: 3,
            at_ms: 1000,
        };
        let (s, next) = record(&j, &fail, 1000, 0.5, 1.0);
        assert_eq!((s.len(), next), (1, Some(6000)));
        let late = Job {
            created_ms: -retry::RETRY_WINDOW_MS,
            ..j
        };
        let (s, next) = record(&late, &fail, 1000, 0.5, 1.0);
        assert_eq!((s.len(), next), (2, None));
        assert!(s[0].sql.contains("failing_since = ?"));
    }
}
