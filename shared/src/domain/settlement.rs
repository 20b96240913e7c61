//! When money settles: card money waits for the daily 00:00 UTC batch of the day after next
//! (T+1, [`crate::ledger::available_on`]); bank money (payouts) is settled at once. Settling makes
//! money available, so the payout schedule runs at the next midnight.
//!
//! The batch itself: at its midnight, every currency with unsettled money available by then gets
//! one settlement, which moves that money from pending to available.

use crate::events::EventType;
use crate::ledger::{LedgerAccount, NewTxn, available_on, next_midnight};
use crate::steps::Step;
use serde::Serialize;

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

/// A posting that is not a balance transaction (a settlement moving pending to available, a
/// payout reaching the bank): its lines sum to zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub id: String,
    pub currency: String,
    pub lines: Vec<(LedgerAccount, i64)>,
    pub created: i64,
}

/// One currency's unsettled transactions available by the batch: how many, and their sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsettled {
    pub currency: String,
    pub count: i64,
    pub gross: i64,
    pub fees: i64,
    pub net: i64,
}

/// The API's settlement object.
// Fields in the order the API has always stored them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Settlement {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^stl_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "settlement")))]
    pub object: &'static str,
    pub currency: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "settled")))]
    pub status: &'static str,
    /// The batch's day, `YYYY-MM-DD` (UTC).
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date")))]
    pub batch_date: String,
    pub transaction_count: i64,
    /// Sum of the transactions' amount.
    pub gross: i64,
    /// Sum of their fee.
    pub fees: i64,
    /// Sum of their net: what moved from pending to available.
    pub net: i64,
    pub livemode: bool,
    pub created: i64,
}

/// One currency's settlement and what it causes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub settlement: Settlement,
    /// The batch's time: it settles the currency's unsettled transactions available by then,
    /// which must be exactly `settlement.transaction_count` rows (the totals were read before
    /// the batch is written; a transaction made meanwhile aborts it).
    pub until: i64,
    /// `merchant_pending` -> `merchant_available`, the net.
    pub transfer: Transfer,
    pub event: EventType,
}

/// The day of batch `due`, as settlements show it.
pub fn batch_date(due: i64) -> String {
    chrono::DateTime::from_timestamp(due, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The settlement `id` of `total` in the batch at `due`.
pub fn settle(due: i64, total: &Unsettled, id: String, livemode: bool, now: i64) -> Settled {
    let net = total.net;
    Settled {
        transfer: Transfer {
            id: id.clone(),
            currency: total.currency.clone(),
            lines: vec![
                (LedgerAccount::MerchantPending, -net),
                (LedgerAccount::MerchantAvailable, net),
            ],
            created: now,
        },
        settlement: Settlement {
            id,
            object: "settlement",
            currency: total.currency.clone(),
            status: "settled",
            batch_date: batch_date(due),
            transaction_count: total.count,
            gross: total.gross,
            fees: total.fees,
            net,
            livemode,
            created: now,
        },
        until: due,
        event: EventType::SettlementCreated,
    }
}

/// The batch at `due`: one settlement per currency of `totals`, in their order. Lazy: each id is
/// drawn from `ids` when its settlement is reached, so a caller that writes each one (and its
/// event) before taking the next draws ids in the order it always has.
pub fn batch<'a>(
    due: i64,
    totals: &'a [Unsettled],
    livemode: bool,
    now: i64,
    mut ids: impl FnMut() -> String + 'a,
) -> impl Iterator<Item = Settled> + 'a {
    totals.iter().map(move |t| settle(due, t, ids(), livemode, now))
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

    fn total(currency: &str, count: i64, gross: i64, fees: i64) -> Unsettled {
        Unsettled {
            currency: currency.into(),
            count,
            gross,
            fees,
            net: gross - fees,
        }
    }

    #[test]
    fn a_batch_settles_each_currency_once_moving_its_net_to_available() {
        let due = 1_763_942_400; // 2025-11-24 00:00 UTC
        let now = due + 30;
        let totals = [total("EUR", 3, 10_000, 350), total("USD", 1, -2_000, 0)];
        let mut n = 0;
        let all: Vec<Settled> = batch(due, &totals, false, now, || {
            n += 1;
            format!("stl_{n}")
        })
        .collect();
        assert_eq!(all.len(), 2);
        let eur = &all[0];
        assert_eq!(
            eur.settlement,
            Settlement {
                id: "stl_1".into(),
                object: "settlement",
                currency: "EUR".into(),
                status: "settled",
                batch_date: "2025-11-24".into(),
                transaction_count: 3,
                gross: 10_000,
                fees: 350,
                net: 9_650,
                livemode: false,
                created: now,
            }
        );
        assert_eq!(eur.until, due);
        assert_eq!(
            eur.transfer,
            Transfer {
                id: "stl_1".into(),
                currency: "EUR".into(),
                lines: vec![
                    (LedgerAccount::MerchantPending, -9_650),
                    (LedgerAccount::MerchantAvailable, 9_650)
                ],
                created: now,
            }
        );
        assert_eq!(eur.event, EventType::SettlementCreated);
        // A negative net (refunds exceeding payments) moves money back to pending.
        let usd = &all[1];
        assert_eq!((usd.settlement.id.as_str(), usd.settlement.net), ("stl_2", -2_000));
        assert_eq!(usd.transfer.lines[0], (LedgerAccount::MerchantPending, 2_000));
        for s in &all {
            assert_eq!(s.transfer.lines.iter().map(|l| l.1).sum::<i64>(), 0);
        }
    }

    #[test]
    fn an_empty_batch_settles_nothing_and_draws_no_ids() {
        let none: Vec<Settled> = batch(0, &[], true, 0, || panic!("no id for nothing")).collect();
        assert!(none.is_empty());
    }

    #[test]
    fn batch_dates_are_utc_days() {
        assert_eq!(batch_date(1_764_547_200), "2025-12-01");
        assert_eq!(batch_date(1_764_547_200 + DAY - 1), "2025-12-01");
        assert_eq!(batch_date(i64::MAX), "");
    }
}
