//! Runs due webhook deliveries over any [`Db`] and a [`Transport`]: what the Worker's queue
//! consumer and cron sweep do. (`vinr dev` has its own long-running scheduler in the host, over
//! the same [`delivery`] decisions.) Read the due rows (every account's ranked fairly, see
//! [`fair`]), choose this run's share of them, lease each one (a guarded update, so two consumers
//! never both send it), send them concurrently, and record each answer as soon as it arrives.

use super::delivery::{self, Attempt, DUE_SQL, Job, LEASE_MARGIN_MS, NOT_ALLOWED};
use super::{fair, retry, url_policy};
use crate::port::{Db, DbError, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;

/// One event's due deliveries, oldest first. Binds: event id, now (unix ms), limit.
pub const DUE_FOR_EVENT_SQL: &str = crate::due_deliveries_sql!("d.event_id = ? AND");

/// The runtime's HTTP client.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// POSTs `body` to `url` without following redirects, reading at most a small part of the
    /// response body, all within `timeout_ms`. Ok(status) when a response arrived; Err(reason)
    /// when none did (the runner keeps only its class, [`delivery::error_class`]).
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
    /// Everything due (the cron sweep), fairly shared between accounts.
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
/// production; see [`retry::next_attempt_at`]). For [`Scope::AllDue`] a run takes at most each
/// account's and each endpoint's fair share ([`fair::pick`]), counting the attempts other runs
/// have under way (`leased_until`), so one account's backlog of slow endpoints cannot fill it.
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
    let due: Vec<Job> = rows.iter().filter_map(Job::from_row).collect();
    let keys: Vec<(&str, &str)> = due
        .iter()
        .map(|j| (j.account.as_str(), j.endpoint_id.as_str()))
        .collect();
    // What every consumer and sweep has under way (they run in separate isolates): the caps
    // count those too.
    let mut in_flight = fair::InFlight::default();
    if matches!(scope, Scope::AllDue) && !due.is_empty() {
        for r in db.query(Stmt::new(delivery::IN_FLIGHT_SQL, sql_params![now])).await? {
            if let (Some(a), Some(e)) = (r.first().and_then(|v| v.as_str()), r.get(1).and_then(|v| v.as_str())) {
                in_flight.add(a, e);
            }
        }
    }
    let share = fair::pick(&keys, &in_flight, due.len()).chosen;
    let lease = now + retry::ATTEMPT_TIMEOUT_MS as i64 + LEASE_MARGIN_MS;
    let mut mine = Vec::new();
    for i in share {
        let mut job = due[i].clone();
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
    // Each answer is recorded as it arrives: a quick receiver's delivery is not left pending
    // while a slow one in the same run runs to its timeout.
    let results = futures_util::future::join_all(mine.iter().map(|job| async move {
        let a = attempt(env, t, job).await;
        let ok = retry::acknowledged(a.status);
        let (stmts, _) = delivery::record(job, &a, env.now_ms(), jitter(env), scale);
        // If recording fails the lease runs out and the delivery is sent again: at-least-once.
        db.batch(stmts).await.map(|()| ok)
    }))
    .await;
    let mut report = Report {
        attempted: mine.len(),
        ..Report::default()
    };
    for r in results {
        report.succeeded += usize::from(r?);
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
    } else if url_policy::refusal(&job.url, job.livemode).is_some() {
        // Checked again at send time (the rules may have tightened since registration). Names
        // cannot be resolved inside a Worker; the platform's fetch does not reach private
        // networks.
        Err(NOT_ALLOWED.to_string())
    } else {
        t.post(
            &job.url,
            job.headers(at_ms.div_euclid(1000)),
            job.body.clone(),
            retry::ATTEMPT_TIMEOUT_MS,
        )
        .await
        .map_err(|e| delivery::error_class(&e).to_string())
    };
    let (status, error) = match sent {
        Ok(s) => (Some(s), delivery::status_error(s)),
        Err(e) => (None, Some(e)),
    };
    Attempt {
        status,
        error,
        duration_ms: env.now_ms() - at_ms,
        at_ms,
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
    fn live_urls_refused_at_send_time() {
        for (url, ok) in [
            ("https://hooks.example.com/x", true),
            ("https://93.184.216.34/x", true),
            ("https://10.0.0.1/x", false),
            ("https://[::1]/x", false),
            ("https://2130706433/x", false),
            ("https://0x7f.1/x", false),
            ("https://[64:ff9b::a9fe:a9fe]/x", false),
            ("not a url", false),
        ] {
            assert_eq!(url_policy::refusal(url, true).is_none(), ok, "{url}");
        }
    }
}
