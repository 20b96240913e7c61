//! `/v1/test_helpers/clock`: the sandbox clock of the calling account. Advancing it runs, before
//! answering, every scheduled step that became due, so a month of settlements, payouts and
//! dispute deadlines happens within the request.

use super::Outcome;
use super::operation::Args;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{self, Scope};
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use serde::Serialize;

/// The longest single advance (366 days).
pub const MAX_ADVANCE_SECS: i64 = 366 * 86_400;
/// Steps one advance runs at most; the scheduler does whatever is left.
pub const MAX_STEPS: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Clock,
    Advance,
}

/// Why a live key may not call it (the operations are declared sandbox-only: the pipeline refuses
/// before checking their parameters).
pub const SANDBOX_ONLY: &str = "The test clock exists only in the sandbox; use a sk_test_ key.";

/// The account's sandbox clock.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TestClock {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "test_clock")))]
    pub object: &'static str,
    /// The account's sandbox time (unix seconds).
    pub now: i64,
    /// Seconds added to real time.
    pub offset: i64,
}

/// The account's sandbox clock after an advance.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TestClockAdvance {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "test_clock")))]
    pub object: &'static str,
    /// The account's sandbox time (unix seconds).
    pub now: i64,
    /// Seconds added to real time.
    pub offset: i64,
    /// Time-driven steps that ran because they became due.
    pub steps_run: i64,
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Clock => {
            let clock = TestClock {
                object: "test_clock",
                now: cx.now,
                offset: cx.acct.clock_offset,
            };
            Ok(Outcome::read(serde_json::to_value(clock).unwrap_or_default()))
        }
        Action::Advance => {
            // Required and within 1..=MAX_ADVANCE_SECS: checked before the handler runs.
            let seconds = p.integer("seconds")?.ok_or_else(|| ApiError::missing("seconds"))?;
            // Committed at once (not with the response): the steps below must see the new time.
            cx.db
                .batch(vec![Stmt::new(
                    "UPDATE accounts SET clock_offset = clock_offset + ? WHERE id = ?",
                    sql_params![seconds, &cx.acct.id],
                )])
                .await?;
            let rows = cx
                .db
                .query(Stmt::new(
                    "SELECT clock_offset FROM accounts WHERE id = ?",
                    sql_params![&cx.acct.id],
                ))
                .await?;
            let mut acct = cx.acct.clone();
            acct.clock_offset = rows
                .first()
                .and_then(|r| r[0].as_i64())
                .unwrap_or(acct.clock_offset + seconds);
            let mut steps = 0;
            while steps < MAX_STEPS {
                let report = jobs::run_due(cx.db, cx.env, Scope::Account(&acct), 500).await?;
                steps += report.ran;
                if report.ran == 0 {
                    break;
                }
            }
            let advance = TestClockAdvance {
                object: "test_clock",
                now: acct.clock(cx.wall),
                offset: acct.clock_offset,
                steps_run: steps as i64,
            };
            Ok(Outcome::read(serde_json::to_value(advance).unwrap_or_default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clock_json() {
        let clock = TestClock {
            object: "test_clock",
            now: 10,
            offset: 2,
        };
        let advance = TestClockAdvance {
            object: "test_clock",
            now: 10,
            offset: 2,
            steps_run: 3,
        };
        assert_eq!(
            serde_json::to_value(clock).unwrap(),
            json!({ "object": "test_clock", "now": 10, "offset": 2 })
        );
        assert_eq!(
            serde_json::to_value(advance).unwrap(),
            json!({ "object": "test_clock", "now": 10, "offset": 2, "steps_run": 3 })
        );
    }
}
