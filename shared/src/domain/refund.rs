//! Refunds, pure: what may be refunded, the refund it makes, and a refund that fails.
//!
//! ```text
//! succeeded payment ─ create ─┬─> succeeded
//!                             └─ refund-failure test card ─> pending ─ refund_fail step ─> failed
//! ```
//! A refund moves money at once: a `refund` transaction withdraws it and the payment's
//! `amount_refunded` grows, in the batch that creates the refund. A refund that fails gives both
//! back (a `refund_failure` transaction).

use super::{Due, Posting};
use crate::cards::TestBehavior;
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::fields::Metadata;
use crate::ledger::SourceType;
use crate::money::check_partial;
use crate::objects::*;
use crate::steps::Step;

/// A refund as asked for (parameters parsed and validated).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateRefund {
    pub payment: String,
    /// All that is left to refund when None.
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub metadata: Metadata,
}

/// What a refund of a payment may take, once the payment allows one ([`check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refundable {
    amount: i64,
}

impl Refundable {
    pub fn amount(self) -> i64 {
        self.amount
    }
}

/// Whether `pay` (with its `dispute`, if it has one) can be refunded by `requested` (all that is
/// left when None), and by how much. Checked in this order: the payment must be captured, a
/// dispute must have been won, something must be left, and `requested` must fit in it.
pub fn check(pay: &Payment, dispute: Option<&Dispute>, requested: Option<i64>) -> ApiResult<Refundable> {
    if pay.status != PaymentStatus::Succeeded {
        return Err(ApiError::invalid_state(
            "payment_invalid_state",
            format!(
                "This payment's status is {}; only a captured (succeeded) payment can be refunded.",
                pay.status.as_str()
            ),
        )
        .with_param("payment"));
    }
    // A dispute the payment names but that cannot be found does not block.
    if let (Some(dp), Some(d)) = (&pay.dispute, dispute)
        && d.status != DisputeStatus::Won
    {
        return Err(ApiError::invalid(
            "payment",
            "payment_disputed",
            format!(
                "Payment {} has a dispute ({dp}) that was not won; it cannot be refunded.",
                pay.id
            ),
        ));
    }
    let refundable = pay.amount_received - pay.amount_refunded;
    if refundable <= 0 {
        return Err(ApiError::invalid(
            "payment",
            "payment_fully_refunded",
            format!("Payment {} is already fully refunded.", pay.id),
        ));
    }
    let amount = match requested {
        Some(a) => check_partial("amount", a, refundable)?,
        None => refundable,
    };
    Ok(Refundable { amount })
}

/// The new ids a refund needs, made in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub txn: String,
    pub refund: String,
}

/// Which object an event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Of {
    Refund,
    Payment,
}

/// A new refund and what it changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub payment: Payment,
    pub refund: Refund,
    /// The `refund` transaction.
    pub posting: Posting,
    /// The refund's failure, for the refund-failure test card (scheduled once).
    pub due: Vec<Due>,
    pub events: Vec<(EventType, Of)>,
}

/// Refunds `amount` of `pay`, paid with a method whose sandbox behaviour is `behavior`: the
/// refund-failure test card's refund stays pending until its failure step, due at once.
pub fn create(
    pay: &Payment,
    amount: Refundable,
    input: CreateRefund,
    behavior: Option<TestBehavior>,
    ids: Ids,
    livemode: bool,
    now: i64,
) -> Created {
    let amount = amount.amount;
    let fails = behavior == Some(TestBehavior::RefundFails);
    let refund = Refund {
        id: ids.refund,
        object: "refund".into(),
        amount,
        currency: pay.currency.clone(),
        payment: pay.id.clone(),
        status: if fails {
            RefundStatus::Pending
        } else {
            RefundStatus::Succeeded
        },
        reason: input.reason,
        failure_reason: None,
        balance_transaction: Some(ids.txn.clone()),
        failure_balance_transaction: None,
        metadata: input.metadata,
        livemode,
        created: now,
    };
    let mut payment = pay.clone();
    payment.amount_refunded += amount;
    payment.refunds.push(refund.id.clone());
    let posting = Posting {
        id: ids.txn,
        source_type: SourceType::Refund,
        source_id: refund.id.clone(),
        currency: pay.currency.clone(),
        amount: -amount,
        fee: 0,
        description: "Refund".into(),
        payout_id: None,
        created: now,
    };
    let due = if fails {
        vec![(Step::RefundFail(refund.id.clone()), now)]
    } else {
        Vec::new()
    };
    Created {
        payment,
        refund,
        posting,
        due,
        events: vec![
            (EventType::RefundCreated, Of::Refund),
            (EventType::PaymentRefunded, Of::Payment),
        ],
    }
}

/// Whether a scheduled failure still applies to `r`: only a pending refund fails.
pub fn can_fail(r: &Refund) -> bool {
    r.status == RefundStatus::Pending
}

/// A failed refund and what it gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct Failed {
    pub refund: Refund,
    pub payment: Payment,
    /// The `refund_failure` transaction.
    pub posting: Posting,
    pub events: Vec<EventType>,
}

/// The sandbox refund `r` of `pay` fails (the card expired or was canceled): its amount comes
/// back to the balance (transaction `txn`) and is no longer refunded. None unless [`can_fail`].
pub fn fail(r: &Refund, pay: &Payment, txn: String, now: i64) -> Option<Failed> {
    if !can_fail(r) {
        return None;
    }
    let mut refund = r.clone();
    refund.status = RefundStatus::Failed;
    refund.failure_reason = Some("expired_or_canceled_card".into());
    refund.failure_balance_transaction = Some(txn.clone());
    let mut payment = pay.clone();
    payment.amount_refunded -= refund.amount;
    let posting = Posting {
        id: txn,
        source_type: SourceType::RefundFailure,
        source_id: refund.id.clone(),
        currency: refund.currency.clone(),
        amount: refund.amount,
        fee: 0,
        description: "Refund failure".into(),
        payout_id: None,
        created: now,
    };
    Some(Failed {
        refund,
        payment,
        posting,
        events: vec![EventType::RefundFailed],
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const NOW: i64 = 1_763_719_200;

    /// A captured payment of 5000 EUR.
    pub(crate) fn payment() -> Payment {
        let mut p = crate::domain::payment::tests::payment(CaptureMethod::Automatic);
        p.amount_authorized = 5000;
        p.amount_received = 5000;
        p.status = PaymentStatus::Succeeded;
        p.latest_charge = Some("ch_1".into());
        p.balance_transaction = Some("txn_0".into());
        p.created = NOW - 100;
        p
    }

    fn dispute(status: DisputeStatus) -> Dispute {
        super::super::dispute::tests::dispute(status)
    }

    fn ids() -> Ids {
        Ids {
            txn: "txn_1".into(),
            refund: "re_1".into(),
        }
    }

    fn input(amount: Option<i64>) -> CreateRefund {
        CreateRefund {
            payment: "pay_1".into(),
            amount,
            reason: Some("duplicate".into()),
            metadata: [("k".to_string(), "v".to_string())].into(),
        }
    }

    #[test]
    fn only_a_succeeded_payment_is_refundable() {
        for status in [
            PaymentStatus::RequiresCapture,
            PaymentStatus::RequiresAction,
            PaymentStatus::Processing,
            PaymentStatus::Canceled,
            PaymentStatus::Failed,
        ] {
            let mut p = payment();
            p.status = status;
            let e = check(&p, None, None).unwrap_err();
            let status = status.as_str();
            assert_eq!(e.code, "payment_invalid_state", "{status}");
            assert_eq!(e.param.as_deref(), Some("payment"));
            assert_eq!(
                e.message,
                format!("This payment's status is {status}; only a captured (succeeded) payment can be refunded.")
            );
        }
    }

    #[test]
    fn a_dispute_blocks_unless_won() {
        let mut p = payment();
        p.dispute = Some("dp_1".into());
        for status in [
            DisputeStatus::NeedsResponse,
            DisputeStatus::UnderReview,
            DisputeStatus::Lost,
        ] {
            let e = check(&p, Some(&dispute(status)), None).unwrap_err();
            assert_eq!(e.code, "payment_disputed", "{status:?}");
            assert_eq!(
                e.message,
                "Payment pay_1 has a dispute (dp_1) that was not won; it cannot be refunded."
            );
        }
        assert_eq!(
            check(&p, Some(&dispute(DisputeStatus::Won)), None).unwrap().amount(),
            5000
        );
        // Named but not found: does not block.
        assert_eq!(check(&p, None, None).unwrap().amount(), 5000);
    }

    #[test]
    fn the_state_is_checked_before_the_dispute() {
        let mut p = payment();
        p.status = PaymentStatus::Canceled;
        p.dispute = Some("dp_1".into());
        let e = check(&p, Some(&dispute(DisputeStatus::Lost)), None).unwrap_err();
        assert_eq!(e.code, "payment_invalid_state");
    }

    #[test]
    fn refundable_is_what_was_received_less_what_was_refunded() {
        let mut p = payment();
        p.amount_refunded = 3000;
        assert_eq!(check(&p, None, None).unwrap().amount(), 2000);
        assert_eq!(check(&p, None, Some(2000)).unwrap().amount(), 2000);
        assert_eq!(check(&p, None, Some(1)).unwrap().amount(), 1);
        let e = check(&p, None, Some(2001)).unwrap_err();
        assert_eq!(e.code, "amount_too_large");
        assert_eq!(e.message, "amount (2001) exceeds the amount available (2000).");
        for a in [0, -5] {
            assert_eq!(check(&p, None, Some(a)).unwrap_err().code, "amount_too_small");
        }
        p.amount_refunded = 5000;
        let e = check(&p, None, Some(1)).unwrap_err();
        assert_eq!(e.code, "payment_fully_refunded");
        assert_eq!(e.message, "Payment pay_1 is already fully refunded.");
        assert_eq!(e.param.as_deref(), Some("payment"));
    }

    #[test]
    fn a_refund_withdraws_its_amount_at_once() {
        let p = payment();
        let ok = check(&p, None, Some(2000)).unwrap();
        let c = create(
            &p,
            ok,
            input(Some(2000)),
            Some(TestBehavior::Approve),
            ids(),
            false,
            NOW,
        );
        assert_eq!(c.refund.status, RefundStatus::Succeeded);
        assert_eq!(c.refund.id, "re_1");
        assert_eq!(c.refund.amount, 2000);
        assert_eq!(c.refund.currency, "EUR");
        assert_eq!(c.refund.payment, "pay_1");
        assert_eq!(c.refund.reason.as_deref(), Some("duplicate"));
        assert_eq!(c.refund.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(c.refund.balance_transaction.as_deref(), Some("txn_1"));
        assert_eq!(c.refund.failure_balance_transaction, None);
        assert_eq!(c.refund.created, NOW);
        assert_eq!(c.payment.amount_refunded, 2000);
        assert_eq!(c.payment.refunds, vec!["re_1".to_string()]);
        assert_eq!(c.payment.status, PaymentStatus::Succeeded);
        assert_eq!(
            c.posting,
            Posting {
                id: "txn_1".into(),
                source_type: SourceType::Refund,
                source_id: "re_1".into(),
                currency: "EUR".into(),
                amount: -2000,
                fee: 0,
                description: "Refund".into(),
                payout_id: None,
                created: NOW,
            }
        );
        assert!(c.due.is_empty());
        assert_eq!(
            c.events,
            vec![
                (EventType::RefundCreated, Of::Refund),
                (EventType::PaymentRefunded, Of::Payment)
            ]
        );
        // No known behaviour (a method that could not be found) refunds as usual.
        let c = create(&p, ok, input(None), None, ids(), true, NOW);
        assert_eq!(c.refund.status, RefundStatus::Succeeded);
        assert!(c.refund.livemode);
    }

    #[test]
    fn the_refund_failure_card_refunds_pending_and_fails_at_once() {
        let p = payment();
        let ok = check(&p, None, None).unwrap();
        let c = create(&p, ok, input(None), Some(TestBehavior::RefundFails), ids(), false, NOW);
        assert_eq!(c.refund.status, RefundStatus::Pending);
        assert_eq!(c.refund.amount, 5000);
        assert_eq!(c.payment.amount_refunded, 5000);
        assert_eq!(c.posting.amount, -5000);
        assert_eq!(c.due, vec![(Step::RefundFail("re_1".into()), NOW)]);
    }

    #[test]
    fn a_failed_refund_gives_its_money_back() {
        let p = payment();
        let ok = check(&p, None, Some(2000)).unwrap();
        let c = create(
            &p,
            ok,
            input(Some(2000)),
            Some(TestBehavior::RefundFails),
            ids(),
            false,
            NOW,
        );
        assert!(can_fail(&c.refund));
        let f = fail(&c.refund, &c.payment, "txn_2".into(), NOW + 5).unwrap();
        assert_eq!(f.refund.status, RefundStatus::Failed);
        assert_eq!(f.refund.failure_reason.as_deref(), Some("expired_or_canceled_card"));
        assert_eq!(f.refund.failure_balance_transaction.as_deref(), Some("txn_2"));
        assert_eq!(f.refund.balance_transaction.as_deref(), Some("txn_1"));
        assert_eq!(f.payment.amount_refunded, 0);
        // The refund stays listed on the payment.
        assert_eq!(f.payment.refunds, vec!["re_1".to_string()]);
        assert_eq!(
            f.posting,
            Posting {
                id: "txn_2".into(),
                source_type: SourceType::RefundFailure,
                source_id: "re_1".into(),
                currency: "EUR".into(),
                amount: 2000,
                fee: 0,
                description: "Refund failure".into(),
                payout_id: None,
                created: NOW + 5,
            }
        );
        assert_eq!(f.events, vec![EventType::RefundFailed]);
    }

    #[test]
    fn only_a_pending_refund_fails() {
        let p = payment();
        let ok = check(&p, None, None).unwrap();
        let mut r = create(&p, ok, input(None), None, ids(), false, NOW).refund;
        for status in [RefundStatus::Succeeded, RefundStatus::Failed] {
            r.status = status;
            assert!(!can_fail(&r));
            assert_eq!(fail(&r, &p, "txn_2".into(), NOW), None);
        }
    }
}
