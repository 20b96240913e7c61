//! The time-driven steps, typed: what can be scheduled, and the statements that schedule it.
//!
//! A step is a row of `scheduled_jobs` (`kind`, `object_id`, `due_at` in account-clock time),
//! written in the same batch as the change that made it necessary. [`crate::jobs`] runs the due
//! ones. This module is below every domain module: it knows the names of steps, not what they do.

use crate::auth::Account;
use crate::port::Stmt;
use crate::sql_params;

/// A terminal payment's timed steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalStep {
    /// The sandbox simulator's cardholder presents a card.
    Simulate,
    /// Nobody presented a card in time.
    PromptTimeout,
    /// A presented card's authorization never arrived.
    ProcessingTimeout,
    /// An uncaptured authorization expires.
    AuthExpiry,
}

/// Every step that can be scheduled, with the object it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The daily settlement batch of that 00:00 UTC (account clock).
    Settle {
        batch: i64,
    },
    /// The account's payout schedule at a midnight.
    Payouts,
    /// A payout moves on (`pending` -> `in_transit` -> `paid` | `failed`).
    PayoutStep(String),
    /// A sandbox refund of the refund-failure card fails.
    RefundFail(String),
    /// The cardholder's bank disputes a captured dispute-card payment.
    DisputeOpen(String),
    /// A dispute's deadline passes or the issuer decides.
    DisputeStep(String),
    Terminal(TerminalStep, String),
    /// A subscription's period ends: renew it (invoice and charge), or end it.
    SubscriptionRenew(String),
    /// An incomplete subscription's first invoice was not paid in time.
    SubscriptionExpire(String),
    /// Dunning: an open subscription invoice whose automatic charge failed is charged again.
    InvoiceRetry(String),
    /// Three days before a trial ends: `subscription.trial_will_end`.
    TrialWillEnd(String),
    /// A metered subscription's renewal draft is finalized and charged after the usage grace window.
    InvoiceFinalize(String),
    /// Pending points of an earning (`ptx_`) become active after the program's `pending_days`.
    LoyaltyActivate(String),
    /// An active lot of points (`ptx_`) reaches the program's `expiry_months`.
    LoyaltyExpire(String),
    /// A loyalty account's (`loy_`) oldest earning in the tier window leaves it.
    LoyaltyTierReview(String),
}

impl Step {
    /// The `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Settle { .. } => "settle",
            Step::Payouts => "payouts",
            Step::PayoutStep(_) => "payout_step",
            Step::RefundFail(_) => "refund_fail",
            Step::DisputeOpen(_) => "dispute_open",
            Step::DisputeStep(_) => "dispute_step",
            Step::Terminal(TerminalStep::Simulate, _) => "terminal_simulate",
            Step::Terminal(TerminalStep::PromptTimeout, _) => "terminal_prompt_timeout",
            Step::Terminal(TerminalStep::ProcessingTimeout, _) => "terminal_processing_timeout",
            Step::Terminal(TerminalStep::AuthExpiry, _) => "terminal_auth_expiry",
            Step::SubscriptionRenew(_) => "subscription_renew",
            Step::SubscriptionExpire(_) => "subscription_expire",
            Step::InvoiceRetry(_) => "invoice_retry",
            Step::TrialWillEnd(_) => "trial_will_end",
            Step::InvoiceFinalize(_) => "invoice_finalize",
            Step::LoyaltyActivate(_) => "loyalty_activate",
            Step::LoyaltyExpire(_) => "loyalty_expire",
            Step::LoyaltyTierReview(_) => "loyalty_tier_review",
        }
    }

    /// The `object_id` column: the step's object, the batch time of a settlement, empty for
    /// the account-wide payout schedule.
    pub fn object_id(&self) -> String {
        match self {
            Step::Settle { batch } => batch.to_string(),
            Step::Payouts => String::new(),
            Step::PayoutStep(id)
            | Step::RefundFail(id)
            | Step::DisputeOpen(id)
            | Step::DisputeStep(id)
            | Step::Terminal(_, id)
            | Step::SubscriptionRenew(id)
            | Step::SubscriptionExpire(id)
            | Step::InvoiceRetry(id)
            | Step::TrialWillEnd(id)
            | Step::InvoiceFinalize(id)
            | Step::LoyaltyActivate(id)
            | Step::LoyaltyExpire(id)
            | Step::LoyaltyTierReview(id) => id.clone(),
        }
    }

    /// The step a stored row names; None for a kind this version does not know (written by a
    /// newer one), which the runner leaves alone.
    pub fn parse(kind: &str, object_id: &str) -> Option<Step> {
        let id = || object_id.to_string();
        Some(match kind {
            "settle" => Step::Settle {
                batch: object_id.parse().ok()?,
            },
            "payouts" => Step::Payouts,
            "payout_step" => Step::PayoutStep(id()),
            "refund_fail" => Step::RefundFail(id()),
            "dispute_open" => Step::DisputeOpen(id()),
            "dispute_step" => Step::DisputeStep(id()),
            "terminal_simulate" => Step::Terminal(TerminalStep::Simulate, id()),
            "terminal_prompt_timeout" => Step::Terminal(TerminalStep::PromptTimeout, id()),
            "terminal_processing_timeout" => Step::Terminal(TerminalStep::ProcessingTimeout, id()),
            "terminal_auth_expiry" => Step::Terminal(TerminalStep::AuthExpiry, id()),
            "subscription_renew" => Step::SubscriptionRenew(id()),
            "subscription_expire" => Step::SubscriptionExpire(id()),
            "invoice_retry" => Step::InvoiceRetry(id()),
            "trial_will_end" => Step::TrialWillEnd(id()),
            "invoice_finalize" => Step::InvoiceFinalize(id()),
            "loyalty_activate" => Step::LoyaltyActivate(id()),
            "loyalty_expire" => Step::LoyaltyExpire(id()),
            "loyalty_tier_review" => Step::LoyaltyTierReview(id()),
            _ => return None,
        })
    }
}

/// Schedules `step` at `due_at` unless it is already scheduled.
pub fn schedule_once(acct: &Account, step: &Step, due_at: i64, now: i64) -> Stmt {
    Stmt::new(
        "INSERT OR IGNORE INTO scheduled_jobs (id, account_id, livemode, kind, object_id, due_at, created) VALUES ('job_' || lower(hex(randomblob(12))), ?, ?, ?, ?, ?, ?)",
        sql_params![&acct.id, acct.livemode, step.kind(), step.object_id(), due_at, now],
    )
}

/// Schedules `step` at `due_at`, moving it if it is already scheduled.
pub fn schedule(acct: &Account, step: &Step, due_at: i64, now: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO scheduled_jobs (id, account_id, livemode, kind, object_id, due_at, created) VALUES ('job_' || lower(hex(randomblob(12))), ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (account_id, livemode, kind, object_id) DO UPDATE SET due_at = excluded.due_at",
        sql_params![&acct.id, acct.livemode, step.kind(), step.object_id(), due_at, now],
    )
}

/// Removes `step` if it is scheduled.
pub fn unschedule(acct: &Account, step: &Step) -> Stmt {
    Stmt::new(
        "DELETE FROM scheduled_jobs WHERE account_id = ? AND livemode = ? AND kind = ? AND object_id = ?",
        sql_params![&acct.id, acct.livemode, step.kind(), step.object_id()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_its_columns() {
        let id = || "x_1".to_string();
        let all = [
            Step::Settle { batch: 1_763_942_400 },
            Step::Payouts,
            Step::PayoutStep(id()),
            Step::RefundFail(id()),
            Step::DisputeOpen(id()),
            Step::DisputeStep(id()),
            Step::Terminal(TerminalStep::Simulate, id()),
            Step::Terminal(TerminalStep::PromptTimeout, id()),
            Step::Terminal(TerminalStep::ProcessingTimeout, id()),
            Step::Terminal(TerminalStep::AuthExpiry, id()),
            Step::SubscriptionRenew(id()),
            Step::SubscriptionExpire(id()),
            Step::InvoiceRetry(id()),
            Step::TrialWillEnd(id()),
            Step::InvoiceFinalize(id()),
            Step::LoyaltyActivate(id()),
            Step::LoyaltyExpire(id()),
            Step::LoyaltyTierReview(id()),
        ];
        for s in all {
            assert_eq!(Step::parse(s.kind(), &s.object_id()), Some(s.clone()), "{s:?}");
        }
        assert_eq!(Step::parse("from_a_newer_version", "x"), None);
        assert_eq!(Step::parse("settle", "not a time"), None);
    }
}
