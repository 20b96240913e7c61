//! Dunning, pure: after a subscription invoice's automatic charge fails, when it is tried again
//! and what happens once the last retry has failed. The schedule is the environment's billing
//! settings (`retry_schedule_days`, each wait counted from the attempt before).

use crate::objects::billing::{AfterFinalFailure, SubscriptionStatus};

const DAY: i64 = 86_400;

/// The default schedule: retried 3, then 5, then 7 days after the attempt before.
pub const DEFAULT_RETRY_DAYS: &[i64] = &[3, 5, 7];
/// The most retries a schedule holds, and the longest wait between two attempts.
pub const MAX_RETRIES: usize = 8;
pub const MAX_RETRY_DAYS: i64 = 60;

/// What follows a failed automatic charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Charge again at this time (account clock).
    RetryAt(i64),
    /// The schedule is exhausted: the subscription becomes this (and a canceled one ends).
    Final(SubscriptionStatus),
}

/// After an automatic charge failed at `failed_at`, the invoice's first failure having been at
/// `first_failed_at`: the next retry is the first point of the schedule (its waits added up from
/// the first failure) after `failed_at`. Counting from the first failure rather than from a
/// tally of attempts keeps the schedule whatever manual `/pay` attempts happen in between, and
/// whatever the scheduler's lateness.
pub fn after_failure(schedule: &[i64], final_action: AfterFinalFailure, first_failed_at: i64, failed_at: i64) -> Next {
    let mut at = first_failed_at;
    for days in schedule {
        at += days * DAY;
        if at > failed_at {
            return Next::RetryAt(at);
        }
    }
    Next::Final(match final_action {
        AfterFinalFailure::Cancel => SubscriptionStatus::Canceled,
        AfterFinalFailure::Unpaid => SubscriptionStatus::Unpaid,
        AfterFinalFailure::PastDue => SubscriptionStatus::PastDue,
    })
}

/// A schedule as given: at most [`MAX_RETRIES`] waits of 1 to [`MAX_RETRY_DAYS`] days each.
/// Returns the message naming what is wrong.
pub fn check_schedule(days: &[i64]) -> Result<(), String> {
    if days.len() > MAX_RETRIES {
        return Err(format!("retry_schedule_days holds at most {MAX_RETRIES} retries."));
    }
    match days.iter().find(|d| !(1..=MAX_RETRY_DAYS).contains(*d)) {
        Some(d) => Err(format!(
            "retry_schedule_days: each wait is 1 to {MAX_RETRY_DAYS} days, not {d}."
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_retry_waits_from_the_attempt_before() {
        let t = 1_000_000;
        let s = DEFAULT_RETRY_DAYS;
        let cancel = AfterFinalFailure::Cancel;
        assert_eq!(after_failure(s, cancel, t, t), Next::RetryAt(t + 3 * DAY));
        assert_eq!(after_failure(s, cancel, t, t + 3 * DAY), Next::RetryAt(t + 8 * DAY));
        assert_eq!(after_failure(s, cancel, t, t + 8 * DAY), Next::RetryAt(t + 15 * DAY));
        assert_eq!(
            after_failure(s, cancel, t, t + 15 * DAY),
            Next::Final(SubscriptionStatus::Canceled)
        );
        assert_eq!(
            after_failure(s, AfterFinalFailure::Unpaid, t, t + 15 * DAY),
            Next::Final(SubscriptionStatus::Unpaid)
        );
        assert_eq!(
            after_failure(&[], AfterFinalFailure::PastDue, t, t),
            Next::Final(SubscriptionStatus::PastDue)
        );
    }

    #[test]
    fn a_late_or_manual_attempt_does_not_shift_the_schedule() {
        let t = 1_000_000;
        let s = DEFAULT_RETRY_DAYS;
        let cancel = AfterFinalFailure::Cancel;
        // A manual pay failing on day 1 leaves the day-3 retry where it was.
        assert_eq!(after_failure(s, cancel, t, t + DAY), Next::RetryAt(t + 3 * DAY));
        // A retry that ran a minute late still points at the next day of the schedule.
        assert_eq!(
            after_failure(s, cancel, t, t + 3 * DAY + 60),
            Next::RetryAt(t + 8 * DAY)
        );
    }

    #[test]
    fn schedules_are_bounded() {
        assert!(check_schedule(&[]).is_ok());
        assert!(check_schedule(&[1, 60]).is_ok());
        assert!(check_schedule(&[0]).unwrap_err().contains("not 0"));
        assert!(check_schedule(&[61]).is_err());
        assert!(check_schedule(&[1; 9]).unwrap_err().contains("at most 8"));
    }
}
