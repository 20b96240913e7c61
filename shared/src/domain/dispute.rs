//! Disputes, pure: opening, evidence, and the issuer's decision.
//!
//! ```text
//! captured (dispute card) ─ dispute_open ─> needs_response ─ evidence, submit ─> under_review ─┬─> won
//!                                              │                                                └─> lost
//!                                              └─ close, or due_by passes ─> lost
//! ```
//! Opening withdraws the disputed amount and the plan's dispute fee; winning returns the amount
//! (the fee stays withdrawn). The sandbox issuer decides at once on the decisive evidence
//! `winning_evidence` / `losing_evidence` (as `uncategorized_text`), and otherwise finds against
//! the merchant when its review time is up.

use super::{Due, Posting};
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::fields;
use crate::ledger::{DAY, SourceType};
use crate::objects::*;
use crate::plan::DISPUTE_FEE;
use crate::steps::Step;
use std::collections::BTreeMap;

/// How long the merchant has to answer.
pub const RESPONSE_SECS: i64 = 7 * DAY;
/// How long the issuer reviews evidence that is not one of the sandbox's decisive values.
pub const REVIEW_SECS: i64 = 14 * DAY;

/// What a dispute of a payment takes, when the payment can be disputed ([`disputable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disputable {
    amount: i64,
}

impl Disputable {
    pub fn amount(self) -> i64 {
        self.amount
    }
}

/// Whether the cardholder's bank can dispute `pay`, and for how much: a captured payment not
/// yet disputed, for what was not refunded. None when there is nothing to dispute.
pub fn disputable(pay: &Payment) -> Option<Disputable> {
    let amount = pay.amount_received - pay.amount_refunded;
    if pay.dispute.is_some() || pay.status != PaymentStatus::Succeeded || amount <= 0 {
        return None;
    }
    Some(Disputable { amount })
}

/// The new ids a dispute needs, made in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub txn: String,
    pub dispute: String,
}

/// A new dispute and what it changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    pub payment: Payment,
    pub dispute: Dispute,
    /// The `dispute` transaction: the amount and the fee withdrawn.
    pub posting: Posting,
    /// The response deadline (scheduled, moving any earlier one).
    pub due: Due,
    /// Each carries the dispute.
    pub events: Vec<EventType>,
}

/// The cardholder's bank disputes `amount` of `pay` (as fraudulent): the merchant has
/// [`RESPONSE_SECS`] to answer.
pub fn open(pay: &Payment, amount: Disputable, ids: Ids, livemode: bool, now: i64) -> Opened {
    let amount = amount.amount;
    let dispute = Dispute {
        id: ids.dispute,
        object: "dispute".into(),
        amount,
        currency: pay.currency.clone(),
        payment: pay.id.clone(),
        status: DisputeStatus::NeedsResponse,
        reason: "fraudulent".into(),
        evidence: Evidence::default(),
        evidence_details: EvidenceDetails {
            due_by: now + RESPONSE_SECS,
            submission_count: 0,
            submitted_at: None,
        },
        fee: DISPUTE_FEE,
        balance_transactions: vec![ids.txn.clone()],
        metadata: Default::default(),
        closed_at: None,
        livemode,
        created: now,
    };
    let mut payment = pay.clone();
    payment.amount_disputed = amount;
    payment.dispute = Some(dispute.id.clone());
    let posting = Posting {
        id: ids.txn,
        source_type: SourceType::Dispute,
        source_id: dispute.id.clone(),
        currency: dispute.currency.clone(),
        amount: -amount,
        fee: DISPUTE_FEE,
        description: "Dispute".into(),
        payout_id: None,
        created: now,
    };
    let due = (Step::DisputeStep(dispute.id.clone()), dispute.evidence_details.due_by);
    Opened {
        payment,
        dispute,
        posting,
        due,
        events: vec![EventType::DisputeCreated, EventType::DisputeFundsWithdrawn],
    }
}

/// Only a dispute that awaits the merchant's answer can be updated or closed.
fn require_open(d: &Dispute, action: &str) -> ApiResult<()> {
    if d.status != DisputeStatus::NeedsResponse {
        return Err(ApiError::invalid_state(
            "dispute_invalid_state",
            format!(
                "This dispute's status is {}; it can no longer be {action}.",
                d.status.as_str()
            ),
        ));
    }
    Ok(())
}

/// The merchant's answer (parameters parsed).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateDispute {
    /// Submits the evidence to the issuer (the default), or only saves it.
    pub submit: bool,
    /// The evidence fields given (each `Some` replaces that field). A malformed `evidence` is
    /// reported only once the dispute is found open, so its error waits here.
    pub evidence: ApiResult<Option<Evidence>>,
    /// Keys with a value are set, keys with an empty value removed.
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// A dispute changed by the merchant and what it causes.
#[derive(Clone, Debug, PartialEq)]
pub struct Updated {
    pub dispute: Dispute,
    /// The issuer's next round, when the evidence was submitted (scheduled, moving the
    /// response deadline).
    pub due: Option<Due>,
    /// Each carries the dispute.
    pub events: Vec<EventType>,
}

/// The merchant adds evidence and metadata to an open dispute, and submits it unless told not
/// to: then the dispute is under review and the sandbox issuer answers at its next round.
pub fn update(d: &Dispute, input: UpdateDispute, now: i64) -> ApiResult<Updated> {
    require_open(d, "updated")?;
    let mut d = d.clone();
    if let Some(ev) = input.evidence? {
        let slots = [
            (ev.product_description, &mut d.evidence.product_description),
            (ev.customer_communication, &mut d.evidence.customer_communication),
            (ev.refund_policy, &mut d.evidence.refund_policy),
            (ev.shipping_tracking_number, &mut d.evidence.shipping_tracking_number),
            (ev.uncategorized_text, &mut d.evidence.uncategorized_text),
        ];
        for (given, slot) in slots {
            if given.is_some() {
                *slot = given;
            }
        }
    }
    if let Some(m) = input.metadata {
        fields::merge_metadata(&mut d.metadata, m)?;
    }
    let mut due = None;
    if input.submit {
        d.status = DisputeStatus::UnderReview;
        d.evidence_details.submission_count += 1;
        d.evidence_details.submitted_at = Some(now);
        // The sandbox issuer answers at its next round (see `next`).
        due = Some((Step::DisputeStep(d.id.clone()), now));
    }
    Ok(Updated {
        dispute: d,
        due,
        events: vec![EventType::DisputeUpdated],
    })
}

/// What the dispute step does with a dispute at `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// It is closed already.
    Nothing,
    /// Not yet: look again then (scheduled, moving the step).
    Wait(Due),
    /// The issuer decides: for the merchant (`won`) or against.
    Decide { won: bool },
}

/// The response deadline passed (lost), or the issuer decides on submitted evidence: at once on
/// the sandbox's decisive values, otherwise against the merchant after [`REVIEW_SECS`].
pub fn next(d: &Dispute, now: i64) -> Next {
    let step = || Step::DisputeStep(d.id.clone());
    match d.status {
        DisputeStatus::NeedsResponse if now >= d.evidence_details.due_by => Next::Decide { won: false },
        DisputeStatus::NeedsResponse => Next::Wait((step(), d.evidence_details.due_by)),
        DisputeStatus::UnderReview => {
            let submitted = d.evidence_details.submitted_at.unwrap_or(d.created);
            match d.evidence.uncategorized_text.as_deref() {
                Some("winning_evidence") => Next::Decide { won: true },
                Some("losing_evidence") => Next::Decide { won: false },
                _ if now >= submitted + REVIEW_SECS => Next::Decide { won: false },
                _ => Next::Wait((step(), submitted + REVIEW_SECS)),
            }
        }
        DisputeStatus::Won | DisputeStatus::Lost => Next::Nothing,
    }
}

/// How a dispute ends; a won one gives the amount back in transaction `txn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Won { txn: String },
    Lost,
}

/// A closed dispute and what closing it causes.
#[derive(Clone, Debug, PartialEq)]
pub struct Concluded {
    pub dispute: Dispute,
    /// The `dispute_reversal` transaction of a won dispute.
    pub posting: Option<Posting>,
    /// Each carries the dispute.
    pub events: Vec<EventType>,
}

/// Closes `d` with `verdict` (the issuer's decision, or the merchant accepting the loss).
pub fn conclude(d: &Dispute, verdict: Verdict, now: i64) -> Concluded {
    let mut d = d.clone();
    d.closed_at = Some(now);
    match verdict {
        Verdict::Lost => {
            d.status = DisputeStatus::Lost;
            Concluded {
                dispute: d,
                posting: None,
                events: vec![EventType::DisputeClosed],
            }
        }
        Verdict::Won { txn } => {
            d.status = DisputeStatus::Won;
            d.balance_transactions.push(txn.clone());
            let posting = Posting {
                id: txn,
                source_type: SourceType::DisputeReversal,
                source_id: d.id.clone(),
                currency: d.currency.clone(),
                amount: d.amount,
                fee: 0,
                description: "Dispute won".into(),
                payout_id: None,
                created: now,
            };
            Concluded {
                dispute: d,
                posting: Some(posting),
                events: vec![EventType::DisputeClosed, EventType::DisputeFundsReinstated],
            }
        }
    }
}

/// The merchant accepts an open dispute: it is lost at once.
pub fn close(d: &Dispute, now: i64) -> ApiResult<Concluded> {
    require_open(d, "closed")?;
    Ok(conclude(d, Verdict::Lost, now))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::refund::tests::payment;
    use crate::fields::Metadata;

    const NOW: i64 = 1_763_719_200;

    /// A dispute opened at NOW for 5000 EUR, in `status`.
    pub(crate) fn dispute(status: DisputeStatus) -> Dispute {
        let p = payment();
        let mut d = open(&p, disputable(&p).unwrap(), ids(), false, NOW).dispute;
        d.status = status;
        d
    }

    fn ids() -> Ids {
        Ids {
            txn: "txn_1".into(),
            dispute: "dp_1".into(),
        }
    }

    fn answer(submit: bool, text: Option<&str>) -> UpdateDispute {
        UpdateDispute {
            submit,
            evidence: Ok(Some(Evidence {
                uncategorized_text: text.map(str::to_string),
                ..Default::default()
            })),
            metadata: None,
        }
    }

    #[test]
    fn only_a_captured_payment_with_something_left_is_disputable() {
        let p = payment();
        assert_eq!(disputable(&p).map(Disputable::amount), Some(5000));
        let mut refunded = payment();
        refunded.amount_refunded = 1500;
        assert_eq!(disputable(&refunded).map(Disputable::amount), Some(3500));
        refunded.amount_refunded = 5000;
        assert_eq!(disputable(&refunded), None);
        let mut disputed = payment();
        disputed.dispute = Some("dp_0".into());
        assert_eq!(disputable(&disputed), None);
        for status in [
            PaymentStatus::RequiresCapture,
            PaymentStatus::Canceled,
            PaymentStatus::Failed,
        ] {
            let mut p = payment();
            p.status = status;
            assert_eq!(disputable(&p), None, "{status:?}");
        }
    }

    #[test]
    fn opening_withdraws_the_amount_and_the_fee_and_sets_the_deadline() {
        let mut p = payment();
        p.amount_refunded = 1000;
        let o = open(&p, disputable(&p).unwrap(), ids(), true, NOW);
        let d = &o.dispute;
        assert_eq!(d.id, "dp_1");
        assert_eq!(d.status, DisputeStatus::NeedsResponse);
        assert_eq!(d.amount, 4000);
        assert_eq!(d.currency, "EUR");
        assert_eq!(d.payment, "pay_1");
        assert_eq!(d.reason, "fraudulent");
        assert_eq!(d.fee, DISPUTE_FEE);
        assert_eq!(d.evidence, Evidence::default());
        assert_eq!(
            d.evidence_details,
            EvidenceDetails {
                due_by: NOW + RESPONSE_SECS,
                submission_count: 0,
                submitted_at: None
            }
        );
        assert_eq!(d.balance_transactions, vec!["txn_1".to_string()]);
        assert!(d.metadata.is_empty());
        assert_eq!(d.closed_at, None);
        assert!(d.livemode);
        assert_eq!(d.created, NOW);
        assert_eq!(o.payment.amount_disputed, 4000);
        assert_eq!(o.payment.dispute.as_deref(), Some("dp_1"));
        assert_eq!(
            o.posting,
            Posting {
                id: "txn_1".into(),
                source_type: SourceType::Dispute,
                source_id: "dp_1".into(),
                currency: "EUR".into(),
                amount: -4000,
                fee: DISPUTE_FEE,
                description: "Dispute".into(),
                payout_id: None,
                created: NOW,
            }
        );
        assert_eq!(o.due, (Step::DisputeStep("dp_1".into()), NOW + 7 * DAY));
        assert_eq!(
            o.events,
            vec![EventType::DisputeCreated, EventType::DisputeFundsWithdrawn]
        );
    }

    #[test]
    fn submitting_evidence_puts_it_under_review_at_once() {
        let d = dispute(DisputeStatus::NeedsResponse);
        let u = update(&d, answer(true, Some("some text")), NOW + 60).unwrap();
        assert_eq!(u.dispute.status, DisputeStatus::UnderReview);
        assert_eq!(u.dispute.evidence.uncategorized_text.as_deref(), Some("some text"));
        assert_eq!(u.dispute.evidence_details.submission_count, 1);
        assert_eq!(u.dispute.evidence_details.submitted_at, Some(NOW + 60));
        assert_eq!(u.dispute.evidence_details.due_by, NOW + RESPONSE_SECS);
        assert_eq!(u.due, Some((Step::DisputeStep("dp_1".into()), NOW + 60)));
        assert_eq!(u.events, vec![EventType::DisputeUpdated]);
    }

    #[test]
    fn saving_without_submitting_keeps_it_open_and_merges() {
        let mut d = dispute(DisputeStatus::NeedsResponse);
        d.evidence.refund_policy = Some("30 days".into());
        d.metadata.insert("gone".into(), "x".into());
        let u = update(
            &d,
            UpdateDispute {
                submit: false,
                evidence: Ok(Some(Evidence {
                    product_description: Some("a lamp".into()),
                    shipping_tracking_number: Some("1Z".into()),
                    ..Default::default()
                })),
                metadata: Some([("gone".to_string(), None), ("k".to_string(), Some("v".to_string()))].into()),
            },
            NOW + 60,
        )
        .unwrap();
        assert_eq!(u.dispute.status, DisputeStatus::NeedsResponse);
        assert_eq!(u.dispute.evidence_details.submission_count, 0);
        assert_eq!(u.dispute.evidence_details.submitted_at, None);
        assert_eq!(u.due, None);
        // Fields not given stay as they were.
        assert_eq!(
            u.dispute.evidence,
            Evidence {
                product_description: Some("a lamp".into()),
                refund_policy: Some("30 days".into()),
                shipping_tracking_number: Some("1Z".into()),
                ..Default::default()
            }
        );
        assert_eq!(u.dispute.metadata, Metadata::from([("k".to_string(), "v".to_string())]));
        assert_eq!(u.events, vec![EventType::DisputeUpdated]);
    }

    #[test]
    fn every_evidence_field_is_taken() {
        let d = dispute(DisputeStatus::NeedsResponse);
        let all = Evidence {
            product_description: Some("a".into()),
            customer_communication: Some("b".into()),
            refund_policy: Some("c".into()),
            shipping_tracking_number: Some("d".into()),
            uncategorized_text: Some("e".into()),
        };
        let mut input = answer(false, None);
        input.evidence = Ok(Some(all.clone()));
        assert_eq!(update(&d, input, NOW).unwrap().dispute.evidence, all);
        let mut input = answer(false, None);
        input.evidence = Ok(None);
        assert_eq!(update(&d, input, NOW).unwrap().dispute.evidence, Evidence::default());
    }

    #[test]
    fn the_state_is_checked_before_the_evidence_and_the_evidence_before_metadata() {
        let bad = || ApiError::invalid("evidence[x]", "parameter_unknown", "no");
        for status in [DisputeStatus::UnderReview, DisputeStatus::Won, DisputeStatus::Lost] {
            let mut input = answer(true, None);
            input.evidence = Err(bad());
            let e = update(&dispute(status), input, NOW).unwrap_err();
            assert_eq!(e.code, "dispute_invalid_state");
            assert_eq!(
                e.message,
                format!(
                    "This dispute's status is {}; it can no longer be updated.",
                    status.as_str()
                )
            );
        }
        let too_many: BTreeMap<String, Option<String>> = (0..51).map(|i| (format!("k{i}"), Some("v".into()))).collect();
        let mut input = answer(true, None);
        input.evidence = Err(bad());
        input.metadata = Some(too_many.clone());
        assert_eq!(
            update(&dispute(DisputeStatus::NeedsResponse), input, NOW).unwrap_err(),
            bad()
        );
        let mut input = answer(true, None);
        input.metadata = Some(too_many);
        let e = update(&dispute(DisputeStatus::NeedsResponse), input, NOW).unwrap_err();
        assert_eq!(e.code, "metadata_too_many_keys");
    }

    #[test]
    fn closing_loses_an_open_dispute() {
        let c = close(&dispute(DisputeStatus::NeedsResponse), NOW + 5).unwrap();
        assert_eq!(c.dispute.status, DisputeStatus::Lost);
        assert_eq!(c.dispute.closed_at, Some(NOW + 5));
        assert_eq!(c.posting, None);
        assert_eq!(c.events, vec![EventType::DisputeClosed]);
        for status in [DisputeStatus::UnderReview, DisputeStatus::Won, DisputeStatus::Lost] {
            let e = close(&dispute(status), NOW).unwrap_err();
            assert_eq!(e.code, "dispute_invalid_state");
            assert_eq!(
                e.message,
                format!(
                    "This dispute's status is {}; it can no longer be closed.",
                    status.as_str()
                )
            );
        }
    }

    #[test]
    fn an_unanswered_dispute_is_lost_at_its_deadline() {
        let d = dispute(DisputeStatus::NeedsResponse);
        let due_by = NOW + RESPONSE_SECS;
        assert_eq!(next(&d, NOW), Next::Wait((Step::DisputeStep("dp_1".into()), due_by)));
        assert_eq!(
            next(&d, due_by - 1),
            Next::Wait((Step::DisputeStep("dp_1".into()), due_by))
        );
        assert_eq!(next(&d, due_by), Next::Decide { won: false });
        assert_eq!(next(&d, due_by + DAY), Next::Decide { won: false });
    }

    #[test]
    fn the_issuer_decides_on_the_decisive_evidence_at_once() {
        let d = dispute(DisputeStatus::NeedsResponse);
        let won = update(&d, answer(true, Some("winning_evidence")), NOW + 60)
            .unwrap()
            .dispute;
        assert_eq!(next(&won, NOW + 60), Next::Decide { won: true });
        let lost = update(&d, answer(true, Some("losing_evidence")), NOW + 60)
            .unwrap()
            .dispute;
        assert_eq!(next(&lost, NOW + 60), Next::Decide { won: false });
    }

    #[test]
    fn other_evidence_is_lost_when_the_review_time_is_up() {
        let d = dispute(DisputeStatus::NeedsResponse);
        for text in [Some("it was delivered"), None] {
            let d = update(&d, answer(true, text), NOW + 60).unwrap().dispute;
            let review = NOW + 60 + REVIEW_SECS;
            assert_eq!(
                next(&d, NOW + 60),
                Next::Wait((Step::DisputeStep("dp_1".into()), review))
            );
            assert_eq!(
                next(&d, review - 1),
                Next::Wait((Step::DisputeStep("dp_1".into()), review))
            );
            assert_eq!(next(&d, review), Next::Decide { won: false });
        }
        // Under review without a submission time (never written so): counted from its opening.
        let mut d = dispute(DisputeStatus::UnderReview);
        d.evidence_details.submitted_at = None;
        assert_eq!(
            next(&d, NOW),
            Next::Wait((Step::DisputeStep("dp_1".into()), NOW + REVIEW_SECS))
        );
    }

    #[test]
    fn a_closed_dispute_is_left_alone() {
        for status in [DisputeStatus::Won, DisputeStatus::Lost] {
            let mut d = dispute(status);
            d.evidence.uncategorized_text = Some("winning_evidence".into());
            assert_eq!(next(&d, NOW + 100 * DAY), Next::Nothing);
        }
    }

    #[test]
    fn winning_gives_the_amount_back_but_not_the_fee() {
        let d = dispute(DisputeStatus::UnderReview);
        let c = conclude(&d, Verdict::Won { txn: "txn_2".into() }, NOW + 9);
        assert_eq!(c.dispute.status, DisputeStatus::Won);
        assert_eq!(c.dispute.closed_at, Some(NOW + 9));
        assert_eq!(
            c.dispute.balance_transactions,
            vec!["txn_1".to_string(), "txn_2".to_string()]
        );
        assert_eq!(
            c.posting,
            Some(Posting {
                id: "txn_2".into(),
                source_type: SourceType::DisputeReversal,
                source_id: "dp_1".into(),
                currency: "EUR".into(),
                amount: 5000,
                fee: 0,
                description: "Dispute won".into(),
                payout_id: None,
                created: NOW + 9,
            })
        );
        assert_eq!(
            c.events,
            vec![EventType::DisputeClosed, EventType::DisputeFundsReinstated]
        );
        let c = conclude(&d, Verdict::Lost, NOW + 9);
        assert_eq!(c.dispute.status, DisputeStatus::Lost);
        assert_eq!(c.dispute.balance_transactions, vec!["txn_1".to_string()]);
        assert_eq!(c.posting, None);
        assert_eq!(c.events, vec![EventType::DisputeClosed]);
    }
}
