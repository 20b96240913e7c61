//! The payment state machine, pure: each function takes the current payment (and charge) and
//! returns the next state plus the events to record, or a 4xx that leaves everything untouched.
//!
//! ```text
//! create ─┬─ approved, automatic ──────────────> succeeded
//!         ├─ approved, manual ─────────────────> requires_capture ─ capture ─> succeeded
//!         │                                        │  adjust (stays), reverse partial (stays)
//!         │                                        └─ cancel / reverse full ─> canceled
//!         ├─ declined ─────────────────────────> failed
//!         └─ 3DS required ─────────────────────> requires_action ─ confirm ─> (as create)
//!                                                  └─ cancel ─> canceled
//! ```

use crate::cards::supports_decrease;
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::money::check_partial;
use crate::objects::*;
use crate::processor::{AuthOutcome, decline_message};

#[derive(Debug)]
pub struct Transition {
    pub payment: Payment,
    /// The charge as it must be stored (new or updated), if it changed.
    pub charge: Option<Charge>,
    pub events: Vec<EventType>,
}

fn wrong_state(p: &Payment, action: &str) -> ApiError {
    ApiError::invalid_state(
        "payment_invalid_state",
        format!("This payment's status is {}; it cannot be {action}.", p.status.as_str()),
    )
}

/// Applies an authorisation outcome to a payment that has none yet (at create, or at confirm
/// after 3-D Secure). Returns the new charge, if the attempt reached the network.
pub fn apply_authorization(
    p: &mut Payment,
    outcome: AuthOutcome,
    details: PaymentMethodDetails,
    charge_id: String,
    now: i64,
) -> (Option<Charge>, Vec<EventType>) {
    let mut charge = Charge {
        id: charge_id,
        object: "charge".into(),
        payment: p.id.clone(),
        amount: p.amount,
        amount_captured: 0,
        currency: p.currency.clone(),
        status: ChargeStatus::Succeeded,
        captured: false,
        authorization_code: None,
        acquirer: p.routing.acquirer.clone(),
        failure_code: None,
        failure_message: None,
        outcome: Outcome {
            network_status: "approved_by_network".into(),
            kind: "authorized".into(),
            decline_code: None,
        },
        payment_method: p.payment_method.clone(),
        payment_method_details: details,
        livemode: p.livemode,
        created: now,
    };
    p.next_action = None;
    match outcome {
        AuthOutcome::ChallengeRequired => {
            p.status = PaymentStatus::RequiresAction;
            p.next_action = Some(NextAction {
                kind: "three_d_secure".into(),
                three_d_secure: ThreeDsChallenge {
                    version: "2.2.0".into(),
                    return_url: p.return_url.clone(),
                    confirm_url: format!("/v1/payments/{}/confirm", p.id),
                },
            });
            (None, vec![EventType::PaymentRequiresAction])
        }
        AuthOutcome::Declined { decline_code } => {
            p.status = PaymentStatus::Failed;
            let message = decline_message(decline_code).to_string();
            p.last_payment_error = Some(PaymentError {
                kind: "card_error".into(),
                code: "card_declined".into(),
                decline_code: Some(decline_code.into()),
                message: message.clone(),
            });
            charge.status = ChargeStatus::Failed;
            charge.failure_code = Some(decline_code.into());
            charge.failure_message = Some(message);
            charge.outcome = Outcome {
                network_status: "declined_by_network".into(),
                kind: "issuer_declined".into(),
                decline_code: Some(decline_code.into()),
            };
            p.latest_charge = Some(charge.id.clone());
            (Some(charge), vec![EventType::PaymentFailed])
        }
        AuthOutcome::Approved { authorization_code } => {
            charge.authorization_code = Some(authorization_code);
            p.amount_authorized = p.amount;
            p.latest_charge = Some(charge.id.clone());
            match p.capture_method {
                CaptureMethod::Automatic => {
                    p.status = PaymentStatus::Succeeded;
                    p.amount_received = p.amount;
                    charge.amount_captured = p.amount;
                    charge.captured = true;
                    (Some(charge), vec![EventType::PaymentSucceeded])
                }
                CaptureMethod::Manual => {
                    p.status = PaymentStatus::RequiresCapture;
                    p.amount_capturable = p.amount;
                    (Some(charge), vec![EventType::PaymentAuthorized])
                }
            }
        }
    }
}

/// The cardholder's 3-D Secure answer failed: the payment fails without reaching the network.
pub fn fail_authentication(p: &Payment) -> ApiResult<Transition> {
    if p.status != PaymentStatus::RequiresAction {
        return Err(wrong_state(p, "confirmed"));
    }
    let mut next = p.clone();
    next.status = PaymentStatus::Failed;
    next.next_action = None;
    next.last_payment_error = Some(PaymentError {
        kind: "card_error".into(),
        code: "authentication_failed".into(),
        decline_code: Some("authentication_failed".into()),
        message: decline_message("authentication_failed").into(),
    });
    Ok(Transition {
        payment: next,
        charge: None,
        events: vec![EventType::PaymentFailed],
    })
}

/// Captures all or part (`amount`) of an authorisation; the remainder is released.
pub fn capture(p: &Payment, charge: &Charge, amount: Option<i64>) -> ApiResult<Transition> {
    if p.status != PaymentStatus::RequiresCapture {
        return Err(wrong_state(p, "captured"));
    }
    let amount = match amount {
        Some(a) => check_partial("amount_to_capture", a, p.amount_capturable)?,
        None => p.amount_capturable,
    };
    let mut next = p.clone();
    next.status = PaymentStatus::Succeeded;
    next.amount_received = amount;
    next.amount_capturable = 0;
    let mut ch = charge.clone();
    ch.amount_captured = amount;
    ch.captured = true;
    Ok(Transition {
        payment: next,
        charge: Some(ch),
        events: vec![EventType::PaymentCaptured, EventType::PaymentSucceeded],
    })
}

/// Cancels a payment that has not been captured, releasing any hold.
pub fn cancel(p: &Payment, reason: Option<String>, now: i64) -> ApiResult<Transition> {
    if !matches!(p.status, PaymentStatus::RequiresCapture | PaymentStatus::RequiresAction) {
        return Err(wrong_state(p, "canceled"));
    }
    let mut next = p.clone();
    next.status = PaymentStatus::Canceled;
    next.amount_capturable = 0;
    next.next_action = None;
    next.canceled_at = Some(now);
    next.cancellation_reason = reason;
    Ok(Transition {
        payment: next,
        charge: None,
        events: vec![EventType::PaymentCanceled],
    })
}

pub const CANCELLATION_REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer", "abandoned"];

/// Raises or lowers the authorisation before capture. Networks that cannot lower a hold (amex)
/// keep the original hold and only lower what may be captured.
pub fn adjust(p: &Payment, brand: &str, amount: i64, now: i64) -> ApiResult<Transition> {
    if p.status != PaymentStatus::RequiresCapture {
        return Err(wrong_state(p, "adjusted"));
    }
    if amount == p.amount_capturable {
        return Err(ApiError::invalid(
            "amount",
            "amount_unchanged",
            format!("amount must differ from the current authorized amount ({amount})."),
        ));
    }
    let mut next = p.clone();
    next.adjustment = Some(Adjustment {
        previous_amount: p.amount_capturable,
        adjusted_at: now,
    });
    next.amount = amount;
    next.amount_capturable = amount;
    if amount > p.amount_authorized || supports_decrease(brand) {
        next.amount_authorized = amount;
    }
    Ok(Transition {
        payment: next,
        charge: None,
        events: vec![EventType::PaymentAdjusted],
    })
}

/// Releases all (no `amount`, or all that is capturable) or part of an uncaptured authorisation.
pub fn reverse(p: &Payment, amount: Option<i64>, reversal_id: String, now: i64) -> ApiResult<Transition> {
    if p.status != PaymentStatus::RequiresCapture {
        return Err(wrong_state(p, "reversed"));
    }
    let amount = match amount {
        Some(a) => check_partial("amount", a, p.amount_capturable)?,
        None => p.amount_capturable,
    };
    let mut next = p.clone();
    next.amount_reversed += amount;
    next.amount_capturable -= amount;
    next.amount_authorized = (next.amount_authorized - amount).max(next.amount_capturable);
    next.reversal = Some(Reversal {
        id: reversal_id,
        amount,
        reversed_at: now,
    });
    let mut events = vec![EventType::PaymentReversed];
    if next.amount_capturable == 0 {
        next.status = PaymentStatus::Canceled;
        next.canceled_at = Some(now);
        next.cancellation_reason = Some("reversed".into());
        events.push(EventType::PaymentCanceled);
    }
    Ok(Transition {
        payment: next,
        charge: None,
        events,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fields::Metadata;

    fn card() -> PaymentMethodDetails {
        PaymentMethodDetails {
            kind: "card".into(),
            card: CardDetails {
                card: Card {
                    brand: "visa".into(),
                    last4: "4242".into(),
                    exp_month: 12,
                    exp_year: 2034,
                    fingerprint: "f".into(),
                    funding: "credit".into(),
                },
                three_d_secure: None,
            },
        }
    }

    /// A new 5000 EUR payment, before its authorisation (the other domains' tests start here).
    pub(crate) fn payment(capture: CaptureMethod) -> Payment {
        Payment {
            id: "pay_1".into(),
            object: "payment".into(),
            amount: 5000,
            amount_authorized: 0,
            amount_capturable: 0,
            amount_received: 0,
            amount_reversed: 0,
            amount_refunded: 0,
            amount_disputed: 0,
            currency: "EUR".into(),
            status: PaymentStatus::Processing,
            capture_method: capture,
            customer: None,
            payment_method: Some("pm_card_visa".into()),
            latest_charge: None,
            refunds: Vec::new(),
            dispute: None,
            balance_transaction: None,
            description: None,
            metadata: Metadata::new(),
            return_url: None,
            routing: Routing {
                preferred_acquirer: None,
                acquirer: "acq_eu_1".into(),
            },
            on_behalf_of: None,
            statement_descriptor: None,
            next_action: None,
            last_payment_error: None,
            adjustment: None,
            reversal: None,
            canceled_at: None,
            cancellation_reason: None,
            payment_intent_id: None,
            reference_id: None,
            user_fields: None,
            order_details: None,
            livemode: false,
            created: 1,
        }
    }

    fn authorized(capture: CaptureMethod) -> (Payment, Charge) {
        let mut p = payment(capture);
        let (ch, _) = apply_authorization(
            &mut p,
            AuthOutcome::Approved {
                authorization_code: "A1".into(),
            },
            card(),
            "ch_1".into(),
            2,
        );
        (p, ch.unwrap())
    }

    #[test]
    fn automatic_capture_succeeds_at_once() {
        let (p, ch) = authorized(CaptureMethod::Automatic);
        assert_eq!(p.status, PaymentStatus::Succeeded);
        assert_eq!((p.amount_received, p.amount_capturable), (5000, 0));
        assert!(ch.captured);
        assert_eq!(ch.amount_captured, 5000);
        assert!(capture(&p, &ch, None).is_err());
        assert!(cancel(&p, None, 3).is_err());
        assert!(reverse(&p, None, "rev_1".into(), 3).is_err());
        assert!(adjust(&p, "visa", 6000, 3).is_err());
    }

    #[test]
    fn partial_capture_releases_remainder() {
        let (p, ch) = authorized(CaptureMethod::Manual);
        assert_eq!(p.status, PaymentStatus::RequiresCapture);
        assert_eq!(capture(&p, &ch, Some(5001)).unwrap_err().code, "amount_too_large");
        let t = capture(&p, &ch, Some(3000)).unwrap();
        assert_eq!(t.payment.status, PaymentStatus::Succeeded);
        assert_eq!((t.payment.amount_received, t.payment.amount_capturable), (3000, 0));
        assert_eq!(t.charge.unwrap().amount_captured, 3000);
        assert!(capture(&t.payment, &ch, None).is_err());
        assert_eq!(cancel(&t.payment, None, 5).unwrap_err().code, "payment_invalid_state");
    }

    #[test]
    fn declines_and_challenges() {
        let mut p = payment(CaptureMethod::Automatic);
        let (ch, ev) = apply_authorization(
            &mut p,
            AuthOutcome::Declined {
                decline_code: "insufficient_funds",
            },
            card(),
            "ch_2".into(),
            2,
        );
        assert_eq!(p.status, PaymentStatus::Failed);
        assert_eq!(
            p.last_payment_error.as_ref().unwrap().decline_code.as_deref(),
            Some("insufficient_funds")
        );
        assert_eq!(ch.unwrap().status, ChargeStatus::Failed);
        assert_eq!(ev, vec![EventType::PaymentFailed]);
        let mut p = payment(CaptureMethod::Automatic);
        let (ch, ev) = apply_authorization(&mut p, AuthOutcome::ChallengeRequired, card(), "ch_3".into(), 2);
        assert!(ch.is_none());
        assert_eq!(p.status, PaymentStatus::RequiresAction);
        assert_eq!(ev, vec![EventType::PaymentRequiresAction]);
        assert_eq!(fail_authentication(&p).unwrap().payment.status, PaymentStatus::Failed);
        assert_eq!(cancel(&p, None, 3).unwrap().payment.status, PaymentStatus::Canceled);
    }

    #[test]
    fn adjust_up_and_down() {
        let (p, _) = authorized(CaptureMethod::Manual);
        let up = adjust(&p, "visa", 6500, 9).unwrap().payment;
        assert_eq!(
            (up.amount, up.amount_authorized, up.amount_capturable),
            (6500, 6500, 6500)
        );
        assert_eq!(
            up.adjustment,
            Some(Adjustment {
                previous_amount: 5000,
                adjusted_at: 9
            })
        );
        let down = adjust(&up, "visa", 4000, 10).unwrap().payment;
        assert_eq!((down.amount_authorized, down.amount_capturable), (4000, 4000));
        let amex_down = adjust(&up, "amex", 4000, 10).unwrap().payment;
        assert_eq!((amex_down.amount_authorized, amex_down.amount_capturable), (6500, 4000));
        assert_eq!(adjust(&up, "visa", 6500, 10).unwrap_err().code, "amount_unchanged");
    }

    #[test]
    fn partial_then_full_reverse() {
        let (p, ch) = authorized(CaptureMethod::Manual);
        let t = reverse(&p, Some(2000), "rev_1".into(), 9).unwrap();
        assert_eq!(t.payment.status, PaymentStatus::RequiresCapture);
        assert_eq!(
            (
                t.payment.amount_capturable,
                t.payment.amount_reversed,
                t.payment.amount_authorized
            ),
            (3000, 2000, 3000)
        );
        assert_eq!(
            reverse(&t.payment, Some(3001), "rev_2".into(), 9).unwrap_err().code,
            "amount_too_large"
        );
        let full = reverse(&t.payment, None, "rev_2".into(), 10).unwrap();
        assert_eq!(full.payment.status, PaymentStatus::Canceled);
        assert_eq!(full.payment.amount_reversed, 5000);
        assert_eq!(
            full.events,
            vec![EventType::PaymentReversed, EventType::PaymentCanceled]
        );
        assert!(capture(&full.payment, &ch, None).is_err());
    }
}
