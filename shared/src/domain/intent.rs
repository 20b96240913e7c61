//! Payment intents (seed 004), pure. An intent does not move money itself: its attempts are
//! payments (`pay_`, [`crate::domain::payment`]), and the intent follows its latest attempt
//! ([`follow`]): status, amounts, dispute and reversal.
//!
//! ```text
//! created ─ attempt ─┬─ 3DS ───────────> pending ─ confirm ─> (as an attempt)
//!   ^                ├─ approved, capture=false ─> uncaptured ─ capture ─> captured
//!   |                ├─ approved, capture=true ──────────────────────────> captured
//!   |                └─ declined ──────> failed ─ attempt ─> (as created)
//!   └─ cancel (created, failed, pending, uncaptured) ─> cancelled
//! ```

use crate::domain::split;
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::objects::intents::{IntentStatus, PaymentIntent};
use crate::objects::{Payment, PaymentStatus};
use crate::terminal::payment::rfc3339;

fn wrong_state(pi: &PaymentIntent, action: &str) -> ApiError {
    ApiError::invalid_state(
        "payment_intent_unexpected_state",
        format!(
            "This payment intent's status is {}; it cannot be {action}.",
            pi.status.as_str()
        ),
    )
}

/// Seed 004's word for a payment's status (the `payment_status` of a search): `voided` is an
/// authorization released without capture.
pub fn payment_status(p: &Payment) -> &'static str {
    match p.status {
        PaymentStatus::Processing | PaymentStatus::RequiresAction => "pending",
        PaymentStatus::RequiresCapture => "uncaptured",
        PaymentStatus::Succeeded => "captured",
        PaymentStatus::Canceled if p.latest_charge.is_some() => "voided",
        PaymentStatus::Canceled => "cancelled",
        PaymentStatus::Failed => "failed",
    }
}

/// The intent as its latest attempt `pay` leaves it, and the events that change causes.
pub fn follow(pi: &PaymentIntent, pay: &Payment, now: i64) -> (PaymentIntent, Vec<EventType>) {
    let mut n = pi.clone();
    n.status = match pay.status {
        PaymentStatus::Processing | PaymentStatus::RequiresAction => IntentStatus::Pending,
        PaymentStatus::RequiresCapture => IntentStatus::Uncaptured,
        PaymentStatus::Succeeded => IntentStatus::Captured,
        PaymentStatus::Canceled => IntentStatus::Cancelled,
        PaymentStatus::Failed => IntentStatus::Failed,
    };
    n.amount_authorized = pay.amount_authorized;
    n.amount_captured = pay.amount_received;
    n.amount_refunded = pay.amount_refunded;
    n.amount_disputed = pay.amount_disputed;
    n.amount_reversed = pay.amount_reversed;
    n.amount_voided = match pay.status {
        PaymentStatus::Succeeded => (pay.amount_authorized - pay.amount_received).max(0),
        PaymentStatus::Canceled => pay.amount_authorized,
        _ => 0,
    };
    n.disputed = pay.dispute.is_some();
    n.dispute_id = pay.dispute.clone();
    n.reversed = pay.reversal.is_some();
    n.reversal_id = pay.reversal.as_ref().map(|r| r.id.clone());
    if n.status == IntentStatus::Captured && pi.status != IntentStatus::Captured {
        n.captured_at = Some(rfc3339(now));
    }
    if n.status == IntentStatus::Cancelled && pi.status != IntentStatus::Cancelled {
        n.cancelled_at = Some(rfc3339(now));
        if n.cancellation_reason.is_none() {
            n.cancellation_reason = pay.cancellation_reason.clone();
        }
    }
    n.latest_payment = Some(Box::new(pay.clone()));
    n.updated_at = rfc3339(now);
    let events = match (pi.status, n.status) {
        (a, b) if a == b => vec![],
        (_, IntentStatus::Uncaptured) => vec![EventType::PaymentIntentSucceeded],
        (IntentStatus::Uncaptured, IntentStatus::Captured) => vec![EventType::PaymentIntentCaptured],
        (_, IntentStatus::Captured) => vec![EventType::PaymentIntentSucceeded, EventType::PaymentIntentCaptured],
        (_, IntentStatus::Failed) => vec![EventType::PaymentIntentPaymentFailed],
        (_, IntentStatus::Cancelled) => vec![EventType::PaymentIntentCanceled],
        (_, IntentStatus::Pending | IntentStatus::Created) => vec![],
    };
    (n, events)
}

/// Whether a new attempt may pay the intent: only while nothing is authorized or pending.
pub fn check_payable(pi: &PaymentIntent) -> ApiResult<()> {
    match pi.status {
        IntentStatus::Created | IntentStatus::Failed => Ok(()),
        _ => Err(wrong_state(pi, "paid again")),
    }
}

/// An update changes what is asked, so only before any attempt succeeded or waits.
pub fn check_update(pi: &PaymentIntent) -> ApiResult<()> {
    match pi.status {
        IntentStatus::Created | IntentStatus::Failed => Ok(()),
        _ => Err(wrong_state(pi, "updated")),
    }
}

/// What cancelling does: nothing to release (`Done`: the intent as cancelled), or the latest
/// attempt's authorization or challenge to cancel (`Payment`; the intent then [`follow`]s it,
/// taking its cancellation reason).
pub fn cancel(pi: &PaymentIntent, reason: Option<String>, now: i64) -> ApiResult<Cancel> {
    match (pi.status, &pi.latest_payment) {
        (IntentStatus::Created | IntentStatus::Failed, _) => {
            let mut n = pi.clone();
            n.status = IntentStatus::Cancelled;
            n.cancellation_reason = reason;
            n.cancelled_at = Some(rfc3339(now));
            n.updated_at = rfc3339(now);
            Ok(Cancel::Done(Box::new(n)))
        }
        (IntentStatus::Pending | IntentStatus::Uncaptured, Some(p)) => Ok(Cancel::Payment(p.id.clone())),
        _ => Err(wrong_state(pi, "cancelled")),
    }
}

pub enum Cancel {
    Done(Box<PaymentIntent>),
    Payment(String),
}

/// What an intent is asked to be, checked by the caller (amounts against the currency).
pub struct NewIntent {
    pub amount: i64,
    pub merchant_amount: Option<i64>,
    pub currency: String,
    pub capture: bool,
    pub payment_method_types: Vec<String>,
    pub reference_id: Option<String>,
    pub description: Option<String>,
    pub user_fields: Option<serde_json::Map<String, serde_json::Value>>,
    pub order_details: Option<serde_json::Map<String, serde_json::Value>>,
    /// Checked against `amount` here; their accounts by the caller.
    pub payment_splits: Vec<split::SplitIn>,
}

/// A new intent, status `created`. `ids` is (its id, its client secret).
pub fn new(
    n: NewIntent,
    ids: (String, String),
    account_id: &str,
    livemode: bool,
    now: i64,
) -> ApiResult<PaymentIntent> {
    split::check(&n.payment_splits, n.amount, "payment_splits")?;
    let payment_splits = split::new(n.payment_splits);
    let merchant_amount = split::merchant_amount(n.amount, &payment_splits, n.merchant_amount)?;
    Ok(PaymentIntent {
        id: ids.0,
        object: "payment_intent".into(),
        entity: "payment_intent".into(),
        client_secret: ids.1,
        status: IntentStatus::Created,
        amount: n.amount,
        merchant_amount,
        amount_authorized: 0,
        amount_captured: 0,
        amount_refunded: 0,
        amount_voided: 0,
        amount_disputed: 0,
        amount_reversed: 0,
        payment_splits,
        order_details: n.order_details,
        capture: n.capture,
        currency: n.currency,
        latest_payment: None,
        disputed: false,
        dispute_id: None,
        reversed: false,
        reversal_id: None,
        external: false,
        partner_id: None,
        business_id: None,
        account_id: account_id.into(),
        payment_method_types: n.payment_method_types,
        reference_id: n.reference_id,
        user_fields: n.user_fields,
        cancellation_reason: None,
        description: n.description,
        created_at: rfc3339(now),
        updated_at: rfc3339(now),
        cancelled_at: None,
        captured_at: None,
        settlement_status: "unsettled".into(),
        settled_at: None,
        livemode,
        created: now,
    })
}

/// The attempt a capture captures.
pub fn capturable(pi: &PaymentIntent) -> ApiResult<String> {
    match (&pi.status, &pi.latest_payment) {
        (IntentStatus::Uncaptured, Some(p)) => Ok(p.id.clone()),
        _ => Err(wrong_state(pi, "captured")),
    }
}

/// The attempt a refund refunds: the captured one.
pub fn refundable(pi: &PaymentIntent) -> ApiResult<String> {
    match (&pi.status, &pi.latest_payment) {
        (IntentStatus::Captured, Some(p)) => Ok(p.id.clone()),
        _ => Err(wrong_state(pi, "refunded")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payment;
    use crate::objects::CaptureMethod;

    const NOW: i64 = 1_800_000_000;

    fn intent() -> PaymentIntent {
        let n = NewIntent {
            amount: 5000,
            merchant_amount: None,
            currency: "USD".into(),
            capture: true,
            payment_method_types: vec!["card".into()],
            reference_id: None,
            description: None,
            user_fields: None,
            order_details: None,
            payment_splits: Vec::new(),
        };
        new(n, ("pi_1".into(), "pi_1_secret_x".into()), "acct_1", false, NOW).unwrap()
    }

    #[test]
    fn merchant_amount_is_all_of_amount_without_splits() {
        assert_eq!(intent().merchant_amount, 5000);
        assert_eq!(split::merchant_amount(5000, &[], Some(5000)).unwrap(), 5000);
        assert_eq!(
            split::merchant_amount(5000, &[], Some(4000))
                .unwrap_err()
                .param
                .as_deref(),
            Some("merchant_amount")
        );
    }

    fn paid(capture: CaptureMethod, status: PaymentStatus) -> Payment {
        let mut p = payment::tests::payment(capture);
        p.status = status;
        p.amount_authorized = 5000;
        p.latest_charge = Some("ch_1".into());
        if status == PaymentStatus::Succeeded {
            p.amount_received = 5000;
        }
        p
    }

    #[test]
    fn an_automatic_capture_succeeds_and_captures_at_once() {
        let (n, ev) = follow(
            &intent(),
            &paid(CaptureMethod::Automatic, PaymentStatus::Succeeded),
            NOW,
        );
        assert_eq!(n.status, IntentStatus::Captured);
        assert_eq!(
            (n.amount_authorized, n.amount_captured, n.amount_voided),
            (5000, 5000, 0)
        );
        assert_eq!(
            ev,
            vec![EventType::PaymentIntentSucceeded, EventType::PaymentIntentCaptured]
        );
        assert_eq!(n.captured_at.as_deref(), Some(rfc3339(NOW).as_str()));
        assert!(check_payable(&n).is_err() && check_update(&n).is_err());
        assert_eq!(refundable(&n).unwrap(), "pay_1");
    }

    #[test]
    fn a_manual_attempt_waits_then_a_partial_capture_voids_the_rest() {
        let auth = paid(CaptureMethod::Manual, PaymentStatus::RequiresCapture);
        let (n, ev) = follow(&intent(), &auth, NOW);
        assert_eq!(
            (n.status, ev),
            (IntentStatus::Uncaptured, vec![EventType::PaymentIntentSucceeded])
        );
        assert_eq!(capturable(&n).unwrap(), "pay_1");
        let mut cap = auth.clone();
        cap.status = PaymentStatus::Succeeded;
        cap.amount_received = 3000;
        let (c, ev) = follow(&n, &cap, NOW + 5);
        assert_eq!(
            (c.status, ev),
            (IntentStatus::Captured, vec![EventType::PaymentIntentCaptured])
        );
        assert_eq!((c.amount_captured, c.amount_voided), (3000, 2000));
    }

    #[test]
    fn a_decline_leaves_the_intent_payable_and_a_refund_changes_amounts_only() {
        let (f, ev) = follow(&intent(), &paid(CaptureMethod::Automatic, PaymentStatus::Failed), NOW);
        assert_eq!(
            (f.status, ev),
            (IntentStatus::Failed, vec![EventType::PaymentIntentPaymentFailed])
        );
        assert!(check_payable(&f).is_ok() && check_update(&f).is_ok());
        let (c, _) = follow(&f, &paid(CaptureMethod::Automatic, PaymentStatus::Succeeded), NOW);
        let mut refunded = paid(CaptureMethod::Automatic, PaymentStatus::Succeeded);
        refunded.amount_refunded = 1000;
        let (r, ev) = follow(&c, &refunded, NOW + 9);
        assert_eq!((r.status, r.amount_refunded), (IntentStatus::Captured, 1000));
        assert!(ev.is_empty());
        assert_eq!(r.captured_at, c.captured_at, "captured_at keeps the capture's time");
    }

    #[test]
    fn cancel_releases_what_is_held_and_refuses_once_captured() {
        let mut pi = intent();
        match cancel(&pi, Some("duplicate".into()), NOW).unwrap() {
            Cancel::Done(n) => {
                assert_eq!(n.status, IntentStatus::Cancelled);
                assert_eq!(n.cancellation_reason.as_deref(), Some("duplicate"));
            }
            Cancel::Payment(_) => panic!("nothing to release"),
        }
        let auth = paid(CaptureMethod::Manual, PaymentStatus::RequiresCapture);
        pi = follow(&pi, &auth, NOW).0;
        let Cancel::Payment(payment) = cancel(&pi, Some("abandoned".into()), NOW).unwrap() else {
            panic!("the authorization must be cancelled first")
        };
        assert_eq!(payment, "pay_1");
        let intent = pi.clone();
        let mut canceled = auth.clone();
        canceled.status = PaymentStatus::Canceled;
        canceled.cancellation_reason = Some("abandoned".into());
        let (n, ev) = follow(&intent, &canceled, NOW);
        assert_eq!(
            (n.status, ev),
            (IntentStatus::Cancelled, vec![EventType::PaymentIntentCanceled])
        );
        assert_eq!(
            (n.amount_voided, n.cancellation_reason.as_deref()),
            (5000, Some("abandoned"))
        );
        assert_eq!(payment_status(&canceled), "voided");
        let captured = follow(&intent, &paid(CaptureMethod::Automatic, PaymentStatus::Succeeded), NOW).0;
        assert!(cancel(&captured, None, NOW).is_err());
    }
}
