//! Time-driven steps (settlements, automatic payouts, refund failures, disputes opening and
//! closing, payouts arriving), run by the scheduler that delivers webhooks: `vinr dev`'s
//! dispatcher loop, the Worker's cron, and inline by a sandbox clock advance.
//!
//! A step is a row of `scheduled_jobs`, written in the same batch as the change that made it
//! necessary, due in account-clock time (real time plus the sandbox offset). Running a step reads
//! the current state, decides, and commits its writes in one batch together with the deletion of
//! its row, guarded on the row's `due_at`: two schedulers never both apply a step, and a step
//! rescheduled meanwhile is decided again on fresh state.

use crate::auth::Account;
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::port::{Db, DbError, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;
use crate::steps::Step;

/// Which due steps to run.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// Every account's (the scheduler).
    AllDue,
    /// One account's, in its environment (a sandbox clock advance).
    Account(&'a Account),
}

/// The steps of every account due at wall time `?` (each sandbox on its own clock), as
/// `scheduled_jobs j` joined with `accounts a`.
macro_rules! all_due_from {
    () => {
        "FROM scheduled_jobs j JOIN accounts a ON a.id = j.account_id WHERE j.due_at <= ? + CASE WHEN j.livemode = 1 THEN 0 ELSE a.clock_offset END"
    };
}

/// Is any step due at wall time `?` ([`Scope::AllDue`])? A cheap read for schedulers that skip
/// rounds with nothing to do.
pub const ANY_DUE_SQL: &str = concat!("SELECT EXISTS (SELECT 1 ", all_due_from!(), ")");

const COLUMNS: &str = "j.id, j.account_id, j.livemode, j.kind, j.object_id, j.due_at, a.clock_offset";
// Settlements before the automatic payouts of the same batch; otherwise oldest first.
const ORDER: &str = "ORDER BY j.due_at, CASE j.kind WHEN 'settle' THEN 0 ELSE 1 END LIMIT ?";
/// [`Scope::AllDue`]: each account's steps in [`ORDER`], but accounts taken in turn (every
/// account's first due step, then every account's second...), so one account's backlog never
/// holds a round's whole limit while other accounts' steps wait.
const FAIR_ORDER: &str = "ORDER BY account_rank, due_at, settle_last LIMIT ?";
const RANKED: &str = "ROW_NUMBER() OVER (PARTITION BY j.account_id, j.livemode ORDER BY j.due_at, CASE j.kind WHEN 'settle' THEN 0 ELSE 1 END, j.id) AS account_rank, CASE j.kind WHEN 'settle' THEN 0 ELSE 1 END AS settle_last";

/// A due row of `scheduled_jobs`; `step` is None for a kind this version does not know.
struct Job {
    id: String,
    acct: Account,
    step: Option<Step>,
    due_at: i64,
}

/// Runs up to `limit` due steps of `scope`; returns how many ran. A step that fails for a reason
/// other than a lost race is postponed by a minute (and reported in the error count) rather
/// than retried in a tight loop.
pub async fn run_due<D: Db, E: Env>(db: &D, env: &E, scope: Scope<'_>, limit: i64) -> Result<Report, DbError> {
    let wall = env.now();
    let rows = match scope {
        Scope::AllDue => {
            db.query(Stmt::new(
                format!(
                    "SELECT * FROM (SELECT {COLUMNS}, {RANKED} {}) {FAIR_ORDER}",
                    all_due_from!()
                ),
                sql_params![wall, limit],
            ))
            .await?
        }
        Scope::Account(acct) => {
            db.query(Stmt::new(
                format!("SELECT {COLUMNS} FROM scheduled_jobs j JOIN accounts a ON a.id = j.account_id WHERE j.account_id = ? AND j.livemode = ? AND j.due_at <= ? {ORDER}"),
                sql_params![&acct.id, acct.livemode, acct.clock(wall), limit],
            ))
            .await?
        }
    };
    let mut report = Report::default();
    for r in rows {
        let livemode = r[2].as_i64() == Some(1);
        let job = Job {
            id: r[0].as_str().unwrap_or_default().to_string(),
            acct: Account {
                id: r[1].as_str().unwrap_or_default().to_string(),
                livemode,
                fingerprint_key: None,
                permissions: None,
                clock_offset: if livemode { 0 } else { r[6].as_i64().unwrap_or(0) },
                platform_id: None,
                business_id: None,
            },
            step: Step::parse(r[3].as_str().unwrap_or_default(), r[4].as_str().unwrap_or_default()),
            due_at: r[5].as_i64().unwrap_or(0),
        };
        match run_one(db, env, &job, wall).await? {
            true => report.ran += 1,
            false => report.failed += 1,
        }
    }
    Ok(report)
}

/// Runs `kind` for `object_id` of `acct` now if it is still scheduled, whatever its due time:
/// for a request that waits for the step itself (a sync payment on the sandbox's simulated
/// terminal) instead of for the scheduler. Returns whether it was there to run; the guarded
/// deletion keeps it exactly-once against a scheduler running it at the same moment.
pub async fn run_now<D: Db, E: Env>(db: &D, env: &E, acct: &Account, step: &Step) -> Result<bool, DbError> {
    let rows = db
        .query(Stmt::new(
            "SELECT id, due_at FROM scheduled_jobs WHERE account_id = ? AND livemode = ? AND kind = ? AND object_id = ?",
            sql_params![&acct.id, acct.livemode, step.kind(), step.object_id()],
        ))
        .await?;
    let Some(r) = rows.first() else { return Ok(false) };
    let job = Job {
        id: r[0].as_str().unwrap_or_default().to_string(),
        acct: acct.clone(),
        step: Some(step.clone()),
        due_at: r[1].as_i64().unwrap_or(0),
    };
    run_one(db, env, &job, env.now()).await
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub ran: usize,
    /// Steps whose decision failed; each was postponed by [`RETRY_SECS`].
    pub failed: usize,
}

pub const RETRY_SECS: i64 = 60;

async fn run_one<D: Db, E: Env>(db: &D, env: &E, job: &Job, wall: i64) -> Result<bool, DbError> {
    let cx = Ctx::new(db, env, job.acct.clone(), wall);
    for _ in 0..4 {
        match decide(&cx, job).await {
            Ok(writes) => {
                let mut batch = vec![
                    Stmt::new(
                        "DELETE FROM scheduled_jobs WHERE id = ? AND due_at = ?",
                        sql_params![&job.id, job.due_at],
                    ),
                    Stmt::new(GUARD_ONE_SQL, vec![]),
                ];
                batch.extend(writes);
                match db.batch(batch).await {
                    Ok(()) => return Ok(true),
                    // Another scheduler ran it, or the state moved under us: look again.
                    Err(DbError::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => {
                // Postponed below; the reason goes to the runtime's log, keyed by the step.
                env.log_error(&job.id, &format!("scheduled step {:?}: {}", job.step, e.message));
                break;
            }
        }
    }
    // Still there and not decidable: try again later rather than spin.
    let still = db
        .query(Stmt::new(
            "SELECT 1 FROM scheduled_jobs WHERE id = ?",
            sql_params![&job.id],
        ))
        .await?;
    if still.is_empty() {
        return Ok(true);
    }
    db.batch(vec![Stmt::new(
        "UPDATE scheduled_jobs SET due_at = due_at + ? WHERE id = ?",
        sql_params![RETRY_SECS, &job.id],
    )])
    .await?;
    Ok(false)
}

async fn decide<D: Db, E: Env>(cx: &Ctx<'_, D, E>, job: &Job) -> ApiResult<Vec<Stmt>> {
    let Some(step) = &job.step else {
        // A kind this version does not know (written by a newer one): leave it alone.
        return Err(crate::error::ApiError::internal("unknown scheduled step"));
    };
    match step {
        Step::Settle { .. } => crate::flows::settlement::settle(cx, job.due_at).await,
        Step::Payouts => crate::flows::payout::automatic(cx, job.due_at).await,
        Step::PayoutStep(id) => crate::flows::payout::step(cx, id).await,
        Step::RefundFail(id) => crate::flows::refund::fail(cx, id).await,
        Step::DisputeOpen(id) => crate::flows::dispute::open(cx, id).await,
        Step::DisputeStep(id) => crate::flows::dispute::step(cx, id).await,
        Step::Terminal(kind, id) => crate::flows::terminal_payment::step(cx, *kind, id).await,
        Step::SubscriptionRenew(id) => crate::flows::subscription::renew(cx, id).await,
        Step::SubscriptionExpire(id) => crate::flows::subscription::expire(cx, id).await,
        Step::InvoiceRetry(id) => crate::flows::dunning::retry(cx, id, job.due_at).await,
        Step::TrialWillEnd(id) => crate::flows::subscription::trial_will_end(cx, id, job.due_at).await,
        Step::InvoiceFinalize(id) => crate::flows::subscription::finalize_step(cx, id, job.due_at).await,
        Step::LoyaltyActivate(id) => crate::flows::loyalty::timed::activate(cx, id, job.due_at).await,
        Step::LoyaltyExpire(id) => crate::flows::loyalty::timed::expire(cx, id, job.due_at).await,
        Step::LoyaltyTierReview(id) => crate::flows::loyalty::timed::review_tier(cx, id, job.due_at).await,
    }
}
