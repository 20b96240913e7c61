//! Runs due webhook deliveries over any [`Db`] and a [`Transport`]: what the Worker's queue
//! consumer and cron sweep do. (`vinr dev` has its own long-running scheduler in the host, over
//! the same [`delivery`] decisions.) Read the due rows, lease each one (a guarded update, so two
//! consumers never both send it), send them concurrently, record each answer.

use super::delivery::{self, Attempt, DUE_SQL, Job, LEASE_MARGIN_MS, NOT_ALLOWED};
use super::{retry, url_policy};
use crate::port::{Db, DbError, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;

/// [`DUE_SQL`] for one event's deliveries. Binds: event id, now (unix ms), limit.
pub const DUE_FOR_EVENT_SQL: &str = crate::due_deliveries_sql!("d.event_id = ? AND");

/// The runtime's HTTP client.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// POSTs `body` to `url`, giving up after `timeout_ms`. Ok(status) when a response arrived;
    /// Err(short reason) when none did.
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
        timeout_ms: u64,
    ) -> Result<u16, String>;
}

/// Which deliveries to run.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// Those of one event (a queue message).
    Event(&'a str),
    /// Everything due (the cron sweep).
    AllDue,
}

#[derive(Debug, Default, PartialEq)]
pub struct Report {
    /// Attempts made (leases won).
    pub attempted: usize,
    pub succeeded: usize,
    /// The earliest pending attempt left in scope (unix ms), leases of other consumers included:
    /// when to look again.
    pub next_due: Option<i64>,
}

/// Runs up to `limit` due deliveries of `scope`. `scale` shrinks the retry schedule (1.0 in
/// production; see [`retry::next_attempt_at`]).
pub async fn run<D: Db, E: Env, T: Transport>(
    db: &D,
    env: &E,
    t: &T,
    scope: Scope<'_>,
    limit: i64,
    scale: f64,
) -> Result<Report, DbError> {
    let now = env.now_ms();
    let rows = match scope {
        Scope::Event(id) => {
            db.query(Stmt::new(DUE_FOR_EVENT_SQL, sql_params![id, now, limit]))
                .await?
        }
        Scope::AllDue => db.query(Stmt::new(DUE_SQL, sql_params![now, limit])).await?,
    };
    let lease = now + retry::ATTEMPT_TIMEOUT_MS as i64 + LEASE_MARGIN_MS;
    let mut mine = Vec::new();
    for mut job in rows.iter().filter_map(Job::from_row) {
        match db
            .batch(vec![job.lease_stmt(lease), Stmt::new(GUARD_ONE_SQL, vec![])])
            .await
        {
            Ok(()) => {
                job.lease = lease;
                mine.push(job);
            }
            // Another consumer leased it first: it is theirs to send.
            Err(DbError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    let attempts = futures_util::future::join_all(mine.iter().map(|j| attempt(env, t, j))).await;
    let mut report = Report {
        attempted: mine.len(),
        ..Report::default()
    };
    for (job, a) in mine.iter().zip(&attempts) {
        report.succeeded += usize::from(retry::acknowledged(a.status));
        let (stmts, _) = delivery::record(job, a, env.now_ms(), jitter(env), scale);
        // If recording fails the lease runs out and the delivery is sent again: at-least-once.
        db.batch(stmts).await?;
    }
    let earliest = match scope {
        Scope::Event(id) => {
            db.query(Stmt::new(
                "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE event_id = ? AND status = 'pending'",
                sql_params![id],
            ))
            .await?
        }
        Scope::AllDue => db.query(Stmt::new(delivery::EARLIEST_DUE_SQL, vec![])).await?,
    };
    report.next_due = earliest.first().and_then(|r| r.first()).and_then(|v| v.as_i64());
    Ok(report)
}

/// One attempt; every problem becomes the attempt's error.
async fn attempt<E: Env, T: Transport>(env: &E, t: &T, job: &Job) -> Attempt {
    let at_ms = env.now_ms();
    let sent = if let Some(why) = job.refusal() {
        Err(why.to_string())
    } else if job.livemode && !live_host_allowed(&job.url) {
        Err(NOT_ALLOWED.to_string())
    } else {
        t.post(
            &job.url,
            job.headers(at_ms.div_euclid(1000)),
            job.body.clone(),
            retry::ATTEMPT_TIMEOUT_MS,
        )
        .await
    };
    let (status, error) = match sent {
        Ok(s) => (Some(s), (!retry::acknowledged(Some(s))).then(|| format!("HTTP {s}"))),
        Err(e) => (None, Some(e)),
    };
    Attempt {
        status,
        error,
        duration_ms: env.now_ms() - at_ms,
        at_ms,
    }
}

/// A live URL whose host is an IP literal must be a public address. (Names cannot be resolved
/// inside a Worker; the platform's fetch does not reach private networks.)
fn live_host_allowed(url: &str) -> bool {
    match url_policy::scheme_and_host(url) {
        Some((_, host)) => host
            .parse::<std::net::IpAddr>()
            .map_or(true, url_policy::ip_allowed_live),
        None => false,
    }
}

fn jitter(env: &impl Env) -> f64 {
    let mut b = [0u8; 8];
    env.fill_random(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_hosts() {
        assert!(live_host_allowed("https://hooks.example.com/x"));
        assert!(live_host_allowed("https://93.184.216.34/x"));
        assert!(!live_host_allowed("https://10.0.0.1/x"));
        assert!(!live_host_allowed("https://[::1]/x"));
        assert!(!live_host_allowed("not a url"));
    }
}
