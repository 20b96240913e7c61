//! Payouts, pure: the checks of an on-demand payout, what a new payout is (its object, the debit
//! of the available balance, its first step, its event), the payout schedule's automatic round,
//! and the step that carries a payout to the bank.
//!
//! ```text
//! created ─> pending ─ next round ─> in_transit ─ arrival_date ─┬─> paid
//!                                                               └─> failed (ba_test_failure; money back)
//! ```
//!
//! Ids are drawn lazily (`impl FnOnce() -> ..`): only when the decision makes the object, so a
//! refused request or a step with nothing to do draws none, exactly as before the rules moved here.

use super::settlement::Transfer;
use super::{Due, Posting};
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::fields::Metadata;
use crate::ledger::{DAY, LedgerAccount, SourceType, next_midnight};
use crate::objects::{Payout, PayoutStatus};
use crate::steps::Step;
use chrono::Datelike;

pub use crate::objects::{DESTINATIONS, TEST_FAILURE, TEST_SUCCESS};

/// When the schedule pays out the available balance by itself (the `payout_interval` column and
/// the API's `interval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutInterval {
    /// Only on-demand payouts.
    Manual,
    Daily,
    /// Mondays.
    Weekly,
    /// The 1st of the month.
    Monthly,
}

impl PayoutInterval {
    pub const ALL: [PayoutInterval; 4] = [
        PayoutInterval::Manual,
        PayoutInterval::Daily,
        PayoutInterval::Weekly,
        PayoutInterval::Monthly,
    ];

    /// Every interval's name, in [`Self::ALL`]'s order.
    pub const NAMES: &'static [&'static str] = &[
        PayoutInterval::Manual.as_str(),
        PayoutInterval::Daily.as_str(),
        PayoutInterval::Weekly.as_str(),
        PayoutInterval::Monthly.as_str(),
    ];

    /// A new account's (the column's default).
    pub const DEFAULT: PayoutInterval = PayoutInterval::Daily;

    pub const fn as_str(self) -> &'static str {
        match self {
            PayoutInterval::Manual => "manual",
            PayoutInterval::Daily => "daily",
            PayoutInterval::Weekly => "weekly",
            PayoutInterval::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<PayoutInterval> {
        PayoutInterval::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

/// Does the schedule pay out at the batch of `due` (00:00 UTC)?
pub fn selects(interval: PayoutInterval, due: i64) -> bool {
    let Some(day) = chrono::DateTime::from_timestamp(due, 0) else {
        return false;
    };
    match interval {
        PayoutInterval::Daily => true,
        PayoutInterval::Weekly => day.weekday() == chrono::Weekday::Mon,
        PayoutInterval::Monthly => day.day() == 1,
        PayoutInterval::Manual => false,
    }
}

/// The step a schedule change makes due: the next round at the next midnight, unless manual.
/// (Scheduled once: a round already due stays where it is.)
pub fn schedule_update(interval: PayoutInterval, now: i64) -> Option<Due> {
    (interval != PayoutInterval::Manual).then(|| (Step::Payouts, next_midnight(now)))
}

/// An on-demand payout, as the API asks for it (already parsed).
#[derive(Clone, Debug, PartialEq)]
pub struct CreatePayout {
    pub currency: String,
    /// None: the whole available balance.
    pub amount: Option<i64>,
    pub destination: String,
    pub description: Option<String>,
    pub metadata: Metadata,
}

/// The ids a new payout takes: its balance transaction's is drawn first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutIds {
    pub txn: String,
    pub payout: String,
}

/// A new payout and what it causes.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPayout {
    pub payout: Payout,
    /// The debit of the available balance (guarded in the ledger: the batch aborts if another
    /// payout took the money meanwhile).
    pub posting: Posting,
    /// Its first step, at once (scheduled once).
    pub step: Due,
    pub event: EventType,
}

/// A payout of `amount` (already checked against the available balance), arriving a day later.
#[allow(clippy::too_many_arguments)]
pub fn new_payout(
    currency: &str,
    amount: i64,
    automatic: bool,
    destination: String,
    description: Option<String>,
    metadata: Metadata,
    livemode: bool,
    now: i64,
    ids: PayoutIds,
) -> NewPayout {
    let payout = Payout {
        id: ids.payout,
        object: "payout".into(),
        amount,
        currency: currency.into(),
        status: PayoutStatus::Pending,
        automatic,
        destination,
        arrival_date: now + DAY,
        failure_code: None,
        failure_message: None,
        balance_transaction: Some(ids.txn.clone()),
        failure_balance_transaction: None,
        description,
        metadata,
        livemode,
        created: now,
    };
    let posting = Posting {
        id: ids.txn,
        source_type: SourceType::Payout,
        source_id: payout.id.clone(),
        currency: currency.into(),
        amount: -amount,
        fee: 0,
        description: "Payout".into(),
        payout_id: Some(payout.id.clone()),
        created: now,
    };
    NewPayout {
        step: (Step::PayoutStep(payout.id.clone()), now),
        payout,
        posting,
        event: EventType::PayoutCreated,
    }
}

/// An on-demand payout of `input` from an `available` balance (of its currency): refused in live
/// mode (no bank connection), for a non-positive amount, and for more than is available (no
/// amount means all of it, so an empty balance is refused too).
pub fn create(
    input: CreatePayout,
    livemode: bool,
    available: i64,
    now: i64,
    ids: impl FnOnce() -> PayoutIds,
) -> ApiResult<NewPayout> {
    if livemode {
        return Err(ApiError::new(
            403,
            "permission_error",
            "live_processing_unavailable",
            "This account has no live bank connection, so live payouts cannot be made.",
        ));
    }
    if input.amount.is_some_and(|a| a < 1) {
        return Err(ApiError::invalid(
            "amount",
            "amount_too_small",
            "amount must be a positive integer.",
        ));
    }
    let amount = input.amount.unwrap_or(available);
    if amount > available || amount < 1 {
        let currency = &input.currency;
        return Err(ApiError::invalid(
            "amount",
            "balance_insufficient",
            format!("The available {currency} balance is {available}; a payout of {amount} cannot be made."),
        ));
    }
    Ok(new_payout(
        &input.currency,
        amount,
        false,
        input.destination,
        input.description,
        input.metadata,
        livemode,
        now,
        ids(),
    ))
}

/// One currency's balances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    pub currency: String,
    pub pending: i64,
    pub available: i64,
}

/// What the schedule does at a midnight.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// (currency, amount): an automatic payout of the whole available balance of each, in the
    /// order of `balances`. Each also takes the settled transactions not yet in a payout.
    pub payouts: Vec<(String, i64)>,
    /// The next round (moved there if already scheduled).
    pub next: Option<Due>,
}

/// The schedule's round at `due` (00:00 UTC): if the interval selects it (and not in live mode,
/// where there is no bank), pays out every currency with money available. Runs again at the next
/// midnight while the account has money or money to come; a manual schedule stops.
pub fn round(interval: PayoutInterval, due: i64, livemode: bool, balances: &[Balance]) -> Round {
    if interval == PayoutInterval::Manual {
        return Round::default();
    }
    let payouts = if selects(interval, due) && !livemode {
        balances
            .iter()
            .filter(|b| b.available > 0)
            .map(|b| (b.currency.clone(), b.available))
            .collect()
    } else {
        Vec::new()
    };
    let money = balances.iter().any(|b| b.pending != 0 || b.available != 0);
    Round {
        payouts,
        next: money.then(|| (Step::Payouts, next_midnight(due))),
    }
}

/// A payout's automatic round (its arguments to [`new_payout`]).
pub fn automatic_payout(currency: &str, amount: i64, livemode: bool, now: i64, ids: PayoutIds) -> NewPayout {
    new_payout(
        currency,
        amount,
        true,
        TEST_SUCCESS.into(),
        None,
        Metadata::default(),
        livemode,
        now,
        ids,
    )
}

/// What a payout's step does.
#[derive(Clone, Debug, PartialEq)]
pub enum StepDecision {
    /// Paid or failed already: nothing.
    Nothing,
    /// In transit but not arrived: the step moves to the arrival date.
    Wait(Due),
    Moved(Box<Moved>),
}

/// A payout's transition. The flow writes, in this order: posting, transfer, next step, round,
/// the payout, the event.
#[derive(Clone, Debug, PartialEq)]
pub struct Moved {
    pub payout: Payout,
    /// The money back on failure (`payout_failure`).
    pub posting: Option<Posting>,
    /// The money reaching the bank on arrival.
    pub transfer: Option<Transfer>,
    /// The payout's next step (moved there if already scheduled).
    pub next: Option<Due>,
    /// The schedule's next round, for money returned (scheduled once).
    pub round: Option<Due>,
    pub event: EventType,
}

/// The step of payout `po` at `now`: `pending` goes in transit until its arrival date; then a
/// payout to [`TEST_FAILURE`] fails (its money comes back and is paid out at the schedule's next
/// round), any other is paid (the money leaves for the merchant's bank). `failure_txn` draws the
/// id of the returned money's transaction.
pub fn step(mut po: Payout, now: i64, failure_txn: impl FnOnce() -> String) -> StepDecision {
    let moved = |po: Payout, event| Moved {
        payout: po,
        posting: None,
        transfer: None,
        next: None,
        round: None,
        event,
    };
    match po.status {
        PayoutStatus::Pending => {
            po.status = PayoutStatus::InTransit;
            let next = (Step::PayoutStep(po.id.clone()), po.arrival_date);
            StepDecision::Moved(Box::new(Moved {
                next: Some(next),
                ..moved(po, EventType::PayoutUpdated)
            }))
        }
        PayoutStatus::InTransit if now < po.arrival_date => {
            StepDecision::Wait((Step::PayoutStep(po.id.clone()), po.arrival_date))
        }
        PayoutStatus::InTransit if po.destination == TEST_FAILURE => {
            let txn = failure_txn();
            po.status = PayoutStatus::Failed;
            po.failure_code = Some("account_closed".into());
            po.failure_message = Some("The bank account has been closed.".into());
            po.failure_balance_transaction = Some(txn.clone());
            let posting = Posting {
                id: txn,
                source_type: SourceType::PayoutFailure,
                source_id: po.id.clone(),
                currency: po.currency.clone(),
                amount: po.amount,
                fee: 0,
                description: "Payout failure".into(),
                payout_id: None,
                created: now,
            };
            StepDecision::Moved(Box::new(Moved {
                posting: Some(posting),
                // The returned money is available again: the schedule pays it out at its next batch.
                round: Some((Step::Payouts, next_midnight(now))),
                ..moved(po, EventType::PayoutFailed)
            }))
        }
        PayoutStatus::InTransit => {
            po.status = PayoutStatus::Paid;
            let transfer = Transfer {
                id: po.id.clone(),
                currency: po.currency.clone(),
                lines: vec![
                    (LedgerAccount::PayoutsInTransit, -po.amount),
                    (LedgerAccount::MerchantBank, po.amount),
                ],
                created: now,
            };
            StepDecision::Moved(Box::new(Moved {
                transfer: Some(transfer),
                ..moved(po, EventType::PayoutPaid)
            }))
        }
        PayoutStatus::Paid | PayoutStatus::Failed => StepDecision::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_719_200; // 2025-11-21 10:00 UTC, a Friday
    const MONDAY: i64 = 1_763_942_400; // 2025-11-24 00:00 UTC

    fn ids() -> PayoutIds {
        PayoutIds {
            txn: "txn_1".into(),
            payout: "po_1".into(),
        }
    }

    fn input(amount: Option<i64>) -> CreatePayout {
        CreatePayout {
            currency: "EUR".into(),
            amount,
            destination: TEST_SUCCESS.into(),
            description: Some("rent".into()),
            metadata: Metadata::from([("k".to_string(), "v".to_string())]),
        }
    }

    fn no_ids() -> PayoutIds {
        panic!("a refused payout draws no ids")
    }

    fn code(e: ApiError) -> String {
        e.code.to_string()
    }

    #[test]
    fn intervals_round_trip_and_keep_the_api_names() {
        assert_eq!(PayoutInterval::NAMES, &["manual", "daily", "weekly", "monthly"]);
        for i in PayoutInterval::ALL {
            assert_eq!(PayoutInterval::parse(i.as_str()), Some(i));
        }
        assert_eq!(PayoutInterval::parse("hourly"), None);
        assert_eq!(PayoutInterval::DEFAULT.as_str(), "daily");
    }

    #[test]
    fn schedules() {
        use PayoutInterval::*;
        assert!(selects(Daily, MONDAY));
        assert!(selects(Weekly, MONDAY));
        assert!(!selects(Weekly, MONDAY + DAY));
        assert!(!selects(Monthly, MONDAY));
        assert!(selects(Monthly, 1_764_547_200)); // 2025-12-01
        assert!(!selects(Manual, MONDAY));
        assert!(!selects(Daily, i64::MAX)); // not a date
    }

    #[test]
    fn a_schedule_change_runs_the_next_round_unless_manual() {
        let midnight = (NOW / DAY + 1) * DAY;
        assert_eq!(
            schedule_update(PayoutInterval::Weekly, NOW),
            Some((Step::Payouts, midnight))
        );
        assert_eq!(schedule_update(PayoutInterval::Manual, NOW), None);
    }

    #[test]
    fn live_payouts_are_refused_first() {
        let e = create(input(Some(-5)), true, 0, NOW, no_ids).unwrap_err();
        assert_eq!(e.status, 403);
        assert_eq!(code(e), "live_processing_unavailable");
    }

    #[test]
    fn amount_must_be_positive_and_available() {
        let e = create(input(Some(0)), false, 1000, NOW, no_ids).unwrap_err();
        assert_eq!(code(e), "amount_too_small");
        let e = create(input(Some(1001)), false, 1000, NOW, no_ids).unwrap_err();
        assert_eq!(code(e.clone()), "balance_insufficient");
        assert_eq!(
            e.message,
            "The available EUR balance is 1000; a payout of 1001 cannot be made."
        );
        // No amount is the whole balance: an empty one is refused.
        let e = create(input(None), false, 0, NOW, no_ids).unwrap_err();
        assert_eq!(code(e), "balance_insufficient");
        let e = create(input(None), false, -30, NOW, no_ids).unwrap_err();
        assert_eq!(code(e), "balance_insufficient");
    }

    #[test]
    fn a_new_payout_debits_the_balance_and_arrives_a_day_later() {
        let d = create(input(None), false, 1000, NOW, ids).unwrap();
        let po = &d.payout;
        assert_eq!(
            (po.id.as_str(), po.amount, po.status),
            ("po_1", 1000, PayoutStatus::Pending)
        );
        assert_eq!(po.arrival_date, NOW + DAY);
        assert!(!po.automatic);
        assert_eq!(po.balance_transaction.as_deref(), Some("txn_1"));
        assert_eq!(po.description.as_deref(), Some("rent"));
        assert_eq!(po.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(
            d.posting,
            Posting {
                id: "txn_1".into(),
                source_type: SourceType::Payout,
                source_id: "po_1".into(),
                currency: "EUR".into(),
                amount: -1000,
                fee: 0,
                description: "Payout".into(),
                payout_id: Some("po_1".into()),
                created: NOW,
            }
        );
        assert_eq!(d.step, (Step::PayoutStep("po_1".into()), NOW));
        assert_eq!(d.event, EventType::PayoutCreated);
        let part = create(input(Some(400)), false, 1000, NOW, ids).unwrap();
        assert_eq!(part.payout.amount, 400);
        assert_eq!(part.posting.amount, -400);
    }

    #[test]
    fn automatic_payouts_go_to_the_default_bank_account() {
        let d = automatic_payout("USD", 70, false, NOW, ids());
        assert!(d.payout.automatic);
        assert_eq!(d.payout.destination, TEST_SUCCESS);
        assert_eq!(d.payout.description, None);
        assert!(d.payout.metadata.is_empty());
    }

    fn balance(currency: &str, pending: i64, available: i64) -> Balance {
        Balance {
            currency: currency.into(),
            pending,
            available,
        }
    }

    #[test]
    fn a_selected_round_pays_out_every_currency_with_money_available() {
        let balances = [balance("EUR", 0, 500), balance("GBP", 300, 0), balance("USD", 0, -20)];
        let r = round(PayoutInterval::Daily, MONDAY, false, &balances);
        assert_eq!(r.payouts, vec![("EUR".to_string(), 500)]);
        assert_eq!(r.next, Some((Step::Payouts, MONDAY + DAY)));
        // Not selected: no payouts, but the round comes again.
        let r = round(PayoutInterval::Weekly, MONDAY + DAY, false, &balances);
        assert!(r.payouts.is_empty());
        assert_eq!(r.next, Some((Step::Payouts, MONDAY + 2 * DAY)));
        // Live: no bank to pay out to.
        let r = round(PayoutInterval::Daily, MONDAY, true, &balances);
        assert!(r.payouts.is_empty());
        assert!(r.next.is_some());
    }

    #[test]
    fn the_round_stops_when_manual_or_nothing_is_left() {
        let balances = [balance("EUR", 100, 500)];
        assert_eq!(
            round(PayoutInterval::Manual, MONDAY, false, &balances),
            Round::default()
        );
        assert_eq!(
            round(PayoutInterval::Daily, MONDAY, false, &[balance("EUR", 0, 0)]),
            Round::default()
        );
        assert_eq!(round(PayoutInterval::Daily, MONDAY, false, &[]), Round::default());
        // Money to come is enough to keep it going.
        let r = round(PayoutInterval::Daily, MONDAY, false, &[balance("EUR", 100, 0)]);
        assert!(r.payouts.is_empty());
        assert!(r.next.is_some());
    }

    fn payout(destination: &str) -> Payout {
        let mut d = create(input(None), false, 1000, NOW, ids).unwrap();
        d.payout.destination = destination.into();
        d.payout
    }

    fn moved(d: StepDecision) -> Moved {
        match d {
            StepDecision::Moved(m) => *m,
            other => panic!("not moved: {other:?}"),
        }
    }

    fn no_txn() -> String {
        panic!("only a failure draws a transaction id")
    }

    #[test]
    fn a_pending_payout_goes_in_transit_until_it_arrives() {
        let po = payout(TEST_SUCCESS);
        let arrival = po.arrival_date;
        let m = moved(step(po, NOW, no_txn));
        assert_eq!(m.payout.status, PayoutStatus::InTransit);
        assert_eq!(m.next, Some((Step::PayoutStep("po_1".into()), arrival)));
        assert_eq!((m.posting, m.transfer, m.round), (None, None, None));
        assert_eq!(m.event, EventType::PayoutUpdated);
        // Run early (a step moved or run by hand): wait for the arrival date.
        let d = step(m.payout, arrival - 1, no_txn);
        assert_eq!(d, StepDecision::Wait((Step::PayoutStep("po_1".into()), arrival)));
    }

    #[test]
    fn an_arriving_payout_reaches_the_bank() {
        let mut po = payout(TEST_SUCCESS);
        po.status = PayoutStatus::InTransit;
        let at = po.arrival_date;
        let m = moved(step(po, at, no_txn));
        assert_eq!(m.payout.status, PayoutStatus::Paid);
        assert_eq!(
            m.transfer,
            Some(Transfer {
                id: "po_1".into(),
                currency: "EUR".into(),
                lines: vec![
                    (LedgerAccount::PayoutsInTransit, -1000),
                    (LedgerAccount::MerchantBank, 1000)
                ],
                created: at,
            })
        );
        assert_eq!((m.posting, m.next, m.round), (None, None, None));
        assert_eq!(m.event, EventType::PayoutPaid);
    }

    #[test]
    fn a_payout_to_the_failure_account_fails_and_the_money_comes_back() {
        let mut po = payout(TEST_FAILURE);
        po.status = PayoutStatus::InTransit;
        let at = po.arrival_date + 5;
        let m = moved(step(po, at, || "txn_2".into()));
        let po = &m.payout;
        assert_eq!(po.status, PayoutStatus::Failed);
        assert_eq!(po.failure_code.as_deref(), Some("account_closed"));
        assert_eq!(po.failure_message.as_deref(), Some("The bank account has been closed."));
        assert_eq!(po.failure_balance_transaction.as_deref(), Some("txn_2"));
        assert_eq!(
            m.posting,
            Some(Posting {
                id: "txn_2".into(),
                source_type: SourceType::PayoutFailure,
                source_id: "po_1".into(),
                currency: "EUR".into(),
                amount: 1000,
                fee: 0,
                description: "Payout failure".into(),
                payout_id: None,
                created: at,
            })
        );
        assert_eq!(m.round, Some((Step::Payouts, next_midnight(at))));
        assert_eq!((m.transfer, m.next), (None, None));
        assert_eq!(m.event, EventType::PayoutFailed);
    }

    #[test]
    fn finished_payouts_do_nothing() {
        for status in [PayoutStatus::Paid, PayoutStatus::Failed] {
            let mut po = payout(TEST_FAILURE);
            po.status = status;
            assert_eq!(step(po, NOW + 9 * DAY, no_txn), StepDecision::Nothing);
        }
    }
}
