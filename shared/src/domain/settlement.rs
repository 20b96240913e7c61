//! When money settles: card money waits for the daily 00:00 UTC batch of the day after next
//! (T+1, [`crate::ledger::available_on`]); bank money (payouts) is settled at once. Settling makes
//! money available, so the payout schedule runs at the next midnight.

use crate::ledger::{NewTxn, available_on, next_midnight};
use crate::steps::Step;

/// The steps a new balance transaction makes due, each with its due time (account clock): the
/// settlement batch that will settle it and the payout schedule's next round (which stops itself
/// when the schedule is manual and nothing is left to do). None for bank money.
pub fn steps_after(t: &NewTxn) -> Vec<(Step, i64)> {
    if t.source_type.is_bank() {
        return Vec::new();
    }
    let batch = available_on(t.created);
    vec![
        (Step::Settle { batch }, batch),
        (Step::Payouts, next_midnight(t.created)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{DAY, SourceType};

    fn txn(source_type: SourceType, created: i64) -> NewTxn<'static> {
        NewTxn {
            id: "txn_1",
            source_type,
            source_id: "x",
            currency: "EUR",
            amount: 100,
            fee: 0,
            description: "",
            payout_id: None,
            created,
        }
    }

    #[test]
    fn card_money_waits_for_its_batch_bank_money_does_not() {
        let t = 1_763_719_200; // 2025-11-21 10:00 UTC
        let midnight = (t / DAY) * DAY;
        assert_eq!(
            steps_after(&txn(SourceType::Refund, t)),
            vec![
                (
                    Step::Settle {
                        batch: midnight + 2 * DAY
                    },
                    midnight + 2 * DAY
                ),
                (Step::Payouts, midnight + DAY)
            ]
        );
        assert!(steps_after(&txn(SourceType::Payout, t)).is_empty());
        assert!(steps_after(&txn(SourceType::PayoutFailure, t)).is_empty());
    }
}
