//! Terminal payments (`tpay_`), pure: the lifecycle of docs/terminals.md ("Lifecycle"). Each
//! function takes the payment as it stands, the input, the account's time and a source of new ids,
//! and returns the payment as it must be stored plus what follows from it (the event, the money,
//! the steps made due or no longer needed), or a 4xx that changes nothing.
//!
//! ```text
//! create ─> pending ─ present ─> processing ─ authorize ─┬─ approved, automatic ─> completed
//!             │  (authorize without present: the same)   ├─ approved, manual ───> authorized
//!             │                                          └─ declined ───────────> failed
//!             ├─ cancel (requested, prompt_timeout) ─> cancelled
//!             └─ fail (terminal_offline) ────────────> failed
//!           processing ─ fail (communication_error) ─> failed
//!           authorized ─┬─ capture (≤ amount + tip tolerance) ─> completed
//!                       └─ cancel (expired) ─> cancelled
//! ```
//!
//! The terminal's session runs while the payment is pending or processing
//! ([`TerminalPayment::active`]); leaving those releases the terminal (the flow's write).

use super::{Due, Posting};
use crate::cards::{self, TestBehavior, TestCard};
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::fields::Metadata;
use crate::ledger::SourceType;
use crate::plan;
use crate::processor::{self, AuthOutcome};
use crate::steps::{Step, TerminalStep};
use crate::terminal::payment::{
    AUTH_EXPIRY_SECS, PROCESSING_TIMEOUT_SECS, PROMPT_TIMEOUT_SECS, TIP_TOLERANCE_PERCENT, TerminalPayment,
    TerminalPaymentStatus as Status, rfc3339,
};
use crate::terminal::terminals::{SIMULATOR_ID, TerminalRow, check_usable};

/// Where a decision draws what is new: ids and the random bytes of an authorization code. A
/// decision draws them only when it needs them, in the order it needs them, so a refusal draws
/// none (the runtimes' id streams stay as they were before these decisions were pure).
pub trait Ids {
    /// A new id: `prefix` and random characters (`txn_…`, `tpay_…`).
    fn id(&mut self, prefix: &str) -> String;
    /// Fills `buf` with random bytes.
    fn random(&mut self, buf: &mut [u8]);
}

/// Why a payment was cancelled (`cancellationReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// `POST /v1/terminal/payments/:id/cancel`.
    Requested,
    /// Nobody presented a card in time (the step, or the device's `timeout` frame).
    PromptTimeout,
    /// An uncaptured authorization expired.
    Expired,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Requested => "requested",
            CancelReason::PromptTimeout => "prompt_timeout",
            CancelReason::Expired => "expired",
        }
    }
}

/// What happens to an existing payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// The cardholder presented a card (`entryMethod`).
    Present {
        entry_method: &'a str,
    },
    /// The issuer answers for card `number`.
    Authorize {
        number: &'a str,
        entry_method: &'a str,
    },
    /// Capture the authorization: `amount`, or the authorized amount.
    Capture {
        amount: Option<i64>,
    },
    Cancel(CancelReason),
    /// The session failed without an issuer's answer (`communication_error`, `terminal_offline`).
    Fail {
        code: &'static str,
    },
}

/// A decided transition.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The payment as it must be stored.
    pub payment: TerminalPayment,
    pub event: Option<EventType>,
    /// The money, when the payment completes.
    pub posting: Option<Posting>,
    /// Steps to schedule (moved if already scheduled).
    pub due: Vec<Due>,
    /// Steps no longer needed.
    pub unscheduled: Vec<Step>,
}

impl Decision {
    fn new(payment: TerminalPayment, event: Option<EventType>) -> Decision {
        Decision {
            payment,
            event,
            posting: None,
            due: Vec::new(),
            unscheduled: Vec::new(),
        }
    }
}

/// Decides `input` for payment `p` at account time `now`.
pub fn decide(p: &TerminalPayment, input: Input<'_>, now: i64, ids: &mut impl Ids) -> ApiResult<Decision> {
    match input {
        Input::Present { entry_method } => present(p, entry_method, now),
        Input::Authorize { number, entry_method } => authorize(p, number, entry_method, now, ids),
        Input::Capture { amount } => capture(p, amount, now, ids),
        Input::Cancel(reason) => cancel(p, reason, now),
        Input::Fail { code } => fail(p, code, now),
    }
}

/// A new payment's parameters, validated as parameters (the handler's part).
#[derive(Clone)]
pub struct NewPayment<'a> {
    pub terminal_id: String,
    pub amount: i64,
    pub currency: String,
    pub reference: Option<String>,
    /// The customer whose loyalty account the completed payment earns for (checked by the caller).
    pub customer: Option<String>,
    /// `automatic` or `manual`.
    pub capture_method: String,
    /// `responseMode=sync`.
    pub sync: bool,
    pub metadata: Metadata,
    /// The sandbox test card asked for, and the parameter that named it (for its refusal).
    pub test_card: Option<&'static TestCard>,
    pub test_card_param: &'a str,
    /// `simulateDelay`, seconds.
    pub simulate_delay: i64,
}

/// A decided create.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub payment: TerminalPayment,
    /// On the sandbox simulator: the payment method whose card its cardholder will present.
    pub sim_card: Option<&'static str>,
    /// The prompt timeout, scheduled with the payment.
    pub prompt_timeout: Due,
    /// On the sandbox simulator: its cardholder's card, after the simulated interaction.
    pub simulate: Option<Due>,
}

impl Created {
    /// Is the payment on the sandbox simulator (no device)?
    pub fn simulated(&self) -> bool {
        self.sim_card.is_some()
    }
}

/// Creates a payment on `terminal` (None: no such terminal). `wall` is real time, the devices'
/// clock; `livemode` the environment. The checks come in docs/terminals.md's order.
pub fn create(
    input: NewPayment<'_>,
    terminal: Option<&TerminalRow>,
    livemode: bool,
    wall: i64,
    now: i64,
    ids: &mut impl Ids,
) -> ApiResult<Created> {
    if terminal.is_some() && livemode {
        return Err(ApiError::new(
            403,
            "permission_error",
            "live_processing_unavailable",
            "This account has no live acquirer connection, so live terminal payments cannot be made.",
        ));
    }
    check_usable(terminal, &input.terminal_id, wall)?;
    let simulated = terminal.is_some_and(|t| t.simulated);
    if input.test_card.is_some() && !simulated {
        let param = input.test_card_param;
        return Err(ApiError::invalid(
            param,
            "parameter_invalid",
            format!("{param} applies to {SIMULATOR_ID} only: a connected device presents its own card."),
        ));
    }
    let payment = TerminalPayment {
        id: ids.id("tpay_"),
        object: "terminal_payment".into(),
        terminal_id: input.terminal_id,
        amount: input.amount,
        amount_captured: 0,
        currency: input.currency,
        reference: input.reference,
        customer: input.customer,
        status: Status::Pending,
        capture_method: input.capture_method,
        response_mode: if input.sync { "sync" } else { "async" }.into(),
        entry_method: None,
        last4: None,
        brand: None,
        auth_code: None,
        decline_code: None,
        cancellation_reason: None,
        balance_transaction: None,
        simulate_delay: input.simulate_delay,
        livemode,
        metadata: input.metadata,
        created_at: rfc3339(now),
        presented_at: None,
        authorized_at: None,
        captured_at: None,
        completed_at: None,
        failed_at: None,
        cancelled_at: None,
        expires_at: None,
    };
    let step = |kind| Step::Terminal(kind, payment.id.clone());
    Ok(Created {
        prompt_timeout: (step(TerminalStep::PromptTimeout), now + PROMPT_TIMEOUT_SECS),
        simulate: simulated.then(|| (step(TerminalStep::Simulate), now + input.simulate_delay)),
        sim_card: simulated.then(|| input.test_card.map_or("pm_card_visa", |c| c.pm_id)),
        payment,
    })
}

/// pending → processing: the cardholder presented a card.
pub fn present(p: &TerminalPayment, entry_method: &str, now: i64) -> ApiResult<Decision> {
    let mut p = p.clone();
    if p.status != Status::Pending {
        return Err(not_active(&p));
    }
    p.status = Status::Processing;
    p.entry_method = Some(entry_method.into());
    p.presented_at = Some(rfc3339(now));
    let due = (
        Step::Terminal(TerminalStep::ProcessingTimeout, p.id.clone()),
        now + PROCESSING_TIMEOUT_SECS,
    );
    Ok(Decision {
        due: vec![due],
        ..Decision::new(p, None)
    })
}

/// pending|processing → completed | authorized | failed: the issuer's answer for `number`.
pub fn authorize(
    p: &TerminalPayment,
    number: &str,
    entry_method: &str,
    now: i64,
    ids: &mut impl Ids,
) -> ApiResult<Decision> {
    let mut p = p.clone();
    if !p.active() {
        return Err(not_active(&p));
    }
    if p.entry_method.is_none() {
        p.entry_method = Some(entry_method.into());
        p.presented_at = Some(rfc3339(now));
    }
    let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    // A number that is not a card at all is a generic decline, as an issuer would answer it.
    let behavior = match cards::normalize_number(&digits) {
        Some(n) => cards::test_card_by_number(&n)
            .map(|c| c.behavior)
            .unwrap_or(TestBehavior::Approve),
        None => TestBehavior::Decline("card_declined"),
    };
    // Only an all-digit string is sliced: a device may send any text (a multi-byte character
    // sliced by bytes would panic, and take the Durable Object down with it).
    if digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
        p.last4 = Some(digits[digits.len() - 4..].to_string());
        p.brand = Some(cards::brand_of(&digits).to_string());
    }
    let mut random = [0u8; 6];
    ids.random(&mut random);
    // Card present: the PIN or the tap is the cardholder's verification, no 3-D Secure.
    match processor::authorize(behavior, true, &random) {
        AuthOutcome::Approved { authorization_code } => {
            p.auth_code = Some(authorization_code);
            p.authorized_at = Some(rfc3339(now));
            if p.capture_method == "manual" {
                p.status = Status::Authorized;
                p.expires_at = Some(rfc3339(now + AUTH_EXPIRY_SECS));
                let due = (
                    Step::Terminal(TerminalStep::AuthExpiry, p.id.clone()),
                    now + AUTH_EXPIRY_SECS,
                );
                Ok(Decision {
                    due: vec![due],
                    ..Decision::new(p, Some(EventType::TerminalPaymentAuthorized))
                })
            } else {
                let amount = p.amount;
                let posting = complete(&mut p, amount, now, ids);
                Ok(Decision {
                    posting: Some(posting),
                    ..Decision::new(p, Some(EventType::TerminalPaymentCompleted))
                })
            }
        }
        AuthOutcome::Declined { decline_code } => {
            p.status = Status::Failed;
            p.decline_code = Some(decline_code.into());
            p.failed_at = Some(rfc3339(now));
            Ok(Decision::new(p, Some(EventType::TerminalPaymentFailed)))
        }
        AuthOutcome::ChallengeRequired => Err(ApiError::internal("a card-present authorization asked for 3-D Secure")),
    }
}

/// Captures `amount` now: status completed, and the money.
fn complete(p: &mut TerminalPayment, amount: i64, now: i64, ids: &mut impl Ids) -> Posting {
    let at = rfc3339(now);
    p.status = Status::Completed;
    p.amount_captured = amount;
    p.captured_at = Some(at.clone());
    p.completed_at = Some(at);
    p.expires_at = None;
    let txn = ids.id("txn_");
    p.balance_transaction = Some(txn.clone());
    Posting {
        id: txn,
        source_type: SourceType::Payment,
        source_id: p.id.clone(),
        currency: p.currency.clone(),
        amount,
        fee: plan::capture_fee(amount),
        description: p.reference.clone().unwrap_or_else(|| "Terminal payment".into()),
        payout_id: None,
        created: now,
    }
}

/// The most a capture may take: the authorized amount plus the tip tolerance.
pub fn capture_ceiling(p: &TerminalPayment) -> i64 {
    p.amount + p.amount * TIP_TOLERANCE_PERCENT / 100
}

/// authorized → completed with the final amount (tips within the tolerance).
pub fn capture(p: &TerminalPayment, amount: Option<i64>, now: i64, ids: &mut impl Ids) -> ApiResult<Decision> {
    let mut p = p.clone();
    if p.status != Status::Authorized {
        return Err(ApiError::invalid_state(
            "payment_invalid_state",
            format!(
                "Terminal payment {} is {}; only an authorized payment (captureMethod manual) can be captured.",
                p.id,
                p.status.as_str()
            ),
        ));
    }
    let ceiling = capture_ceiling(&p);
    let amount = amount.unwrap_or(p.amount);
    if amount < 1 {
        return Err(ApiError::invalid(
            "amount",
            "amount_too_small",
            "amount must be at least 1.",
        ));
    }
    if amount > ceiling {
        return Err(ApiError::invalid(
            "amount",
            "amount_too_large",
            format!(
                "amount {amount} exceeds the authorized {} plus the {TIP_TOLERANCE_PERCENT} % tip tolerance ({ceiling}).",
                p.amount
            ),
        ));
    }
    let posting = complete(&mut p, amount, now, ids);
    let expiry = Step::Terminal(TerminalStep::AuthExpiry, p.id.clone());
    Ok(Decision {
        posting: Some(posting),
        unscheduled: vec![expiry],
        ..Decision::new(p, Some(EventType::TerminalPaymentCompleted))
    })
}

/// pending → cancelled (`requested`, `prompt_timeout`), or authorized → cancelled (`expired`).
pub fn cancel(p: &TerminalPayment, reason: CancelReason, now: i64) -> ApiResult<Decision> {
    let mut p = p.clone();
    let allowed = match reason {
        CancelReason::Expired => p.status == Status::Authorized,
        CancelReason::Requested | CancelReason::PromptTimeout => p.status == Status::Pending,
    };
    if !allowed {
        return Err(not_active(&p));
    }
    p.status = Status::Cancelled;
    p.cancellation_reason = Some(reason.as_str().into());
    p.cancelled_at = Some(rfc3339(now));
    p.expires_at = None;
    Ok(Decision::new(p, Some(EventType::TerminalPaymentCancelled)))
}

/// pending|processing → failed with `code` (the device went silent; it vanished after the
/// create).
pub fn fail(p: &TerminalPayment, code: &str, now: i64) -> ApiResult<Decision> {
    let mut p = p.clone();
    if !p.active() {
        return Err(not_active(&p));
    }
    p.status = Status::Failed;
    p.decline_code = Some(code.into());
    p.failed_at = Some(rfc3339(now));
    Ok(Decision::new(p, Some(EventType::TerminalPaymentFailed)))
}

/// The refusal of a transition the payment's status does not allow.
pub fn not_active(p: &TerminalPayment) -> ApiError {
    let why = match p.status {
        Status::Processing => {
            "the card was presented and its authorization is in flight; wait for the result and refund it if needed"
        }
        Status::Pending => "it is waiting for the card",
        _ => "its session is over",
    };
    ApiError::invalid_state(
        "payment_invalid_state",
        format!("Terminal payment {} is {}: {why}.", p.id, p.status.as_str()),
    )
}

/// The card the sandbox simulator's cardholder presents for payment method `sim_card` (the
/// create's `testCard`; the Visa test card when none is known).
pub fn simulated_card(sim_card: &str) -> &'static str {
    cards::test_card_by_pm(sim_card)
        .map(|c| c.number)
        .unwrap_or("4242424242424242")
}

/// What scheduled step `kind` does to `p`, or None when it has nothing to do. `sim_card`: the
/// simulator's payment method, read only for [`TerminalStep::Simulate`]. (A step whose input the
/// payment's status refuses has nothing to do either: see the flow.)
pub fn step_input(kind: TerminalStep, p: &TerminalPayment, sim_card: Option<&str>) -> Option<Input<'static>> {
    Some(match kind {
        TerminalStep::Simulate => Input::Authorize {
            number: simulated_card(sim_card.unwrap_or_default()),
            entry_method: "contactless",
        },
        TerminalStep::PromptTimeout => Input::Cancel(CancelReason::PromptTimeout),
        TerminalStep::ProcessingTimeout if p.status == Status::Processing => Input::Fail {
            code: "communication_error",
        },
        TerminalStep::ProcessingTimeout => return None,
        TerminalStep::AuthExpiry => Input::Cancel(CancelReason::Expired),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_781_168_400; // 2026-06-11T09:00:00Z

    /// Ids `<prefix>1`, `<prefix>2`, … and random bytes 0, 1, 2, …; records what was drawn.
    #[derive(Default)]
    struct Seq {
        ids: usize,
        random: u8,
        drawn: Vec<String>,
    }

    impl Ids for Seq {
        fn id(&mut self, prefix: &str) -> String {
            self.ids += 1;
            let id = format!("{prefix}{}", self.ids);
            self.drawn.push(id.clone());
            id
        }
        fn random(&mut self, buf: &mut [u8]) {
            for b in buf.iter_mut() {
                *b = self.random;
                self.random = self.random.wrapping_add(1);
            }
            self.drawn.push(format!("random {}", buf.len()));
        }
    }

    fn new_payment(test_card: Option<&'static TestCard>) -> NewPayment<'static> {
        NewPayment {
            terminal_id: "term_1".into(),
            amount: 2500,
            currency: "USD".into(),
            reference: Some("order_8821".into()),
            customer: None,
            capture_method: "automatic".into(),
            sync: false,
            metadata: Default::default(),
            test_card,
            test_card_param: "testCard",
            simulate_delay: 5,
        }
    }

    fn row(simulated: bool, active_payment: Option<&str>, last_seen_at: Option<i64>) -> TerminalRow {
        TerminalRow {
            id: "term_1".into(),
            livemode: false,
            data: json!({}),
            created: NOW - 100,
            connected: last_seen_at.is_some(),
            last_seen_at,
            activated_at: None,
            active_payment: active_payment.map(str::to_string),
            simulated,
        }
    }

    fn payment(status: Status, capture_method: &str) -> TerminalPayment {
        let online = row(false, None, Some(NOW));
        let mut input = new_payment(None);
        input.capture_method = capture_method.into();
        let mut p = create(input, Some(&online), false, NOW, NOW - 10, &mut Seq::default())
            .unwrap()
            .payment;
        p.status = status;
        p
    }

    fn code(r: ApiResult<Decision>) -> (u16, &'static str) {
        let e = r.unwrap_err();
        (e.status, e.code)
    }

    #[test]
    fn status_names_are_the_stored_and_shown_ones() {
        for (s, name) in Status::ALL.iter().zip(crate::terminal::payment::STATUSES) {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(name));
            assert_eq!(s.as_str(), *name);
            assert_eq!(serde_json::from_value::<Status>(json!(name)).unwrap(), *s);
        }
    }

    #[test]
    fn create_on_a_device_is_pending_with_its_prompt_timeout() {
        let mut ids = Seq::default();
        let c = create(
            new_payment(None),
            Some(&row(false, None, Some(NOW - 5))),
            false,
            NOW,
            NOW + 30,
            &mut ids,
        )
        .unwrap();
        assert_eq!(c.payment.id, "tpay_1");
        assert_eq!(c.payment.status, Status::Pending);
        assert_eq!(c.payment.response_mode, "async");
        assert_eq!(c.payment.created_at, rfc3339(NOW + 30));
        assert_eq!(
            c.prompt_timeout,
            (
                Step::Terminal(TerminalStep::PromptTimeout, "tpay_1".into()),
                NOW + 30 + PROMPT_TIMEOUT_SECS
            )
        );
        assert_eq!((&c.simulate, c.sim_card, c.simulated()), (&None, None, false));
        assert!(c.payment.active());
    }

    #[test]
    fn create_on_the_simulator_schedules_its_cardholder() {
        let visa_debit = cards::test_card_by_number("4000000000009995");
        for (card, pm) in [(None, "pm_card_visa"), (visa_debit, visa_debit.unwrap().pm_id)] {
            let mut input = new_payment(card);
            input.sync = true;
            let c = create(
                input,
                Some(&row(true, None, None)),
                false,
                NOW,
                NOW,
                &mut Seq::default(),
            )
            .unwrap();
            assert_eq!(c.sim_card, Some(pm));
            assert_eq!(c.payment.response_mode, "sync");
            assert_eq!(
                c.simulate,
                Some((Step::Terminal(TerminalStep::Simulate, "tpay_1".into()), NOW + 5))
            );
        }
    }

    #[test]
    fn create_refusals_come_in_order_and_draw_no_id() {
        let mut ids = Seq::default();
        let busy = row(false, Some("tpay_0"), Some(NOW));
        let offline = row(false, None, Some(NOW - 600));
        let online = row(false, None, Some(NOW));
        let visa = cards::test_card_by_number("4242424242424242");
        // (terminal, livemode, test card, status, code)
        type Case<'a> = (Option<&'a TerminalRow>, bool, Option<&'static TestCard>, u16, &'a str);
        let cases: [Case; 5] = [
            (Some(&busy), true, None, 403, "live_processing_unavailable"),
            (None, false, None, 404, "terminal_not_found"),
            (Some(&busy), false, None, 409, "terminal_busy"),
            (Some(&offline), false, visa, 409, "terminal_offline"),
            (Some(&online), false, visa, 400, "parameter_invalid"),
        ];
        for (terminal, livemode, card, status, code) in cases {
            let e = create(new_payment(card), terminal, livemode, NOW, NOW, &mut ids).unwrap_err();
            assert_eq!((e.status, e.code), (status, code), "{}", e.message);
        }
        // No terminal at all is a 404 in live mode too (the 403 is for a terminal that exists).
        let e = create(new_payment(None), None, true, NOW, NOW, &mut ids).unwrap_err();
        assert_eq!(e.status, 404);
        assert!(ids.drawn.is_empty(), "{:?}", ids.drawn);
    }

    #[test]
    fn present_moves_pending_to_processing_with_its_timeout() {
        let p = payment(Status::Pending, "automatic");
        let d = present(&p, "chip", NOW).unwrap();
        assert_eq!(d.payment.status, Status::Processing);
        assert_eq!(d.payment.entry_method.as_deref(), Some("chip"));
        assert_eq!(d.payment.presented_at, Some(rfc3339(NOW)));
        assert_eq!((d.event, d.posting), (None, None));
        assert_eq!(
            d.due,
            vec![(
                Step::Terminal(TerminalStep::ProcessingTimeout, p.id.clone()),
                NOW + PROCESSING_TIMEOUT_SECS
            )]
        );
        assert!(d.unscheduled.is_empty());
        assert!(d.payment.active(), "the session still runs");
    }

    #[test]
    fn present_refuses_anything_but_pending() {
        for s in [
            Status::Processing,
            Status::Authorized,
            Status::Completed,
            Status::Failed,
            Status::Cancelled,
        ] {
            assert_eq!(
                code(present(&payment(s, "automatic"), "chip", NOW)),
                (400, "payment_invalid_state")
            );
        }
    }

    #[test]
    fn automatic_approval_completes_and_posts_the_money() {
        let mut ids = Seq::default();
        let p = payment(Status::Pending, "automatic");
        let d = authorize(&p, "4242 4242 4242 4242", "contactless", NOW, &mut ids).unwrap();
        let q = &d.payment;
        assert_eq!(q.status, Status::Completed);
        assert_eq!((q.last4.as_deref(), q.brand.as_deref()), (Some("4242"), Some("visa")));
        assert_eq!(q.entry_method.as_deref(), Some("contactless"));
        assert_eq!(q.auth_code.as_ref().map(String::len), Some(6));
        assert_eq!(q.amount_captured, 2500);
        assert_eq!(q.balance_transaction.as_deref(), Some("txn_1"));
        let at = Some(rfc3339(NOW));
        assert_eq!(
            (&q.presented_at, &q.authorized_at, &q.captured_at, &q.completed_at),
            (&at, &at, &at, &at)
        );
        assert_eq!(d.event, Some(EventType::TerminalPaymentCompleted));
        assert_eq!(
            d.posting,
            Some(Posting {
                id: "txn_1".into(),
                source_type: SourceType::Payment,
                source_id: p.id.clone(),
                currency: "USD".into(),
                amount: 2500,
                fee: plan::capture_fee(2500),
                description: "order_8821".into(),
                payout_id: None,
                created: NOW,
            })
        );
        assert!(d.due.is_empty() && d.unscheduled.is_empty());
        // The code's random bytes first, then the transaction's id.
        assert_eq!(ids.drawn, ["random 6", "txn_1"]);
    }

    #[test]
    fn the_posting_without_a_reference_says_terminal_payment() {
        let mut p = payment(Status::Processing, "automatic");
        p.reference = None;
        let d = authorize(&p, "4242424242424242", "contactless", NOW, &mut Seq::default()).unwrap();
        assert_eq!(d.posting.unwrap().description, "Terminal payment");
    }

    #[test]
    fn authorize_keeps_the_presented_entry_method() {
        let p = present(&payment(Status::Pending, "automatic"), "chip", NOW - 3)
            .unwrap()
            .payment;
        let d = authorize(&p, "4242424242424242", "contactless", NOW, &mut Seq::default()).unwrap();
        assert_eq!(d.payment.entry_method.as_deref(), Some("chip"));
        assert_eq!(d.payment.presented_at, Some(rfc3339(NOW - 3)));
    }

    #[test]
    fn manual_approval_authorizes_until_expiry() {
        let mut ids = Seq::default();
        let p = payment(Status::Processing, "manual");
        let d = authorize(&p, "4242424242424242", "chip", NOW, &mut ids).unwrap();
        assert_eq!(d.payment.status, Status::Authorized);
        assert_eq!(d.payment.expires_at, Some(rfc3339(NOW + AUTH_EXPIRY_SECS)));
        assert_eq!((d.payment.amount_captured, &d.payment.balance_transaction), (0, &None));
        assert_eq!(d.event, Some(EventType::TerminalPaymentAuthorized));
        assert_eq!(d.posting, None);
        assert_eq!(
            d.due,
            vec![(
                Step::Terminal(TerminalStep::AuthExpiry, p.id.clone()),
                NOW + AUTH_EXPIRY_SECS
            )]
        );
        assert!(!d.payment.active(), "an authorization ends the session");
        assert_eq!(ids.drawn, ["random 6"]);
    }

    #[test]
    fn declines_fail_with_the_test_cards_code() {
        for (number, decline) in [
            ("4000000000000002", "card_declined"),
            ("4000000000009995", "insufficient_funds"),
            ("4000000000000069", "expired_card"),
            // Not a card number at all: a generic decline.
            ("1234", "card_declined"),
        ] {
            let mut ids = Seq::default();
            let d = authorize(
                &payment(Status::Pending, "automatic"),
                number,
                "contactless",
                NOW,
                &mut ids,
            )
            .unwrap();
            assert_eq!(d.payment.status, Status::Failed, "{number}");
            assert_eq!(d.payment.decline_code.as_deref(), Some(decline), "{number}");
            assert_eq!(d.payment.failed_at, Some(rfc3339(NOW)));
            assert_eq!(d.payment.last4.as_deref(), Some(&number[number.len() - 4..]));
            assert_eq!(d.event, Some(EventType::TerminalPaymentFailed));
            assert_eq!((d.posting, d.due.len()), (None, 0));
            assert_eq!(ids.drawn, ["random 6"], "no transaction for a decline");
        }
    }

    #[test]
    fn a_short_number_has_no_last4() {
        let d = authorize(
            &payment(Status::Pending, "automatic"),
            "12",
            "contactless",
            NOW,
            &mut Seq::default(),
        )
        .unwrap();
        assert_eq!((d.payment.last4, d.payment.brand), (None, None));
        assert_eq!(d.payment.status, Status::Failed);
    }

    #[test]
    fn a_card_string_that_is_not_digits_declines_without_panicking() {
        // Multi-byte characters where the last four bytes would be cut (security review M9).
        for card in ["€€", "4242€4242", "12\u{0}\u{7f}ab€", "🂡🂢🂣🂤"] {
            let d = authorize(
                &payment(Status::Pending, "automatic"),
                card,
                "contactless",
                NOW,
                &mut Seq::default(),
            )
            .unwrap();
            assert_eq!((d.payment.last4, d.payment.status), (None, Status::Failed), "{card:?}");
        }
    }

    #[test]
    fn authorize_refuses_a_finished_session_and_draws_nothing() {
        for s in [Status::Authorized, Status::Completed, Status::Failed, Status::Cancelled] {
            let mut ids = Seq::default();
            let r = authorize(
                &payment(s, "automatic"),
                "4242424242424242",
                "contactless",
                NOW,
                &mut ids,
            );
            assert_eq!(code(r), (400, "payment_invalid_state"));
            assert!(ids.drawn.is_empty());
        }
    }

    #[test]
    fn capture_takes_the_authorized_amount_or_a_tip_within_tolerance() {
        let p = payment(Status::Authorized, "manual");
        let expiry = Step::Terminal(TerminalStep::AuthExpiry, p.id.clone());
        for (asked, captured) in [(None, 2500), (Some(1), 1), (Some(3000), 3000)] {
            let mut ids = Seq::default();
            let d = capture(&p, asked, NOW, &mut ids).unwrap();
            assert_eq!(d.payment.status, Status::Completed);
            assert_eq!(d.payment.amount_captured, captured);
            assert_eq!(d.payment.expires_at, None);
            assert_eq!(d.event, Some(EventType::TerminalPaymentCompleted));
            let posting = d.posting.unwrap();
            assert_eq!(
                (posting.amount, posting.fee, posting.id.as_str()),
                (captured, plan::capture_fee(captured), "txn_1")
            );
            assert_eq!(d.unscheduled, vec![expiry.clone()]);
            assert!(d.due.is_empty());
        }
        assert_eq!(capture_ceiling(&p), 3000);
    }

    #[test]
    fn capture_refuses_amounts_outside_the_tolerance_and_draws_nothing() {
        let p = payment(Status::Authorized, "manual");
        let mut ids = Seq::default();
        assert_eq!(code(capture(&p, Some(0), NOW, &mut ids)), (400, "amount_too_small"));
        assert_eq!(code(capture(&p, Some(-5), NOW, &mut ids)), (400, "amount_too_small"));
        let e = capture(&p, Some(3001), NOW, &mut ids).unwrap_err();
        assert_eq!((e.status, e.code), (400, "amount_too_large"));
        assert_eq!(
            e.message,
            "amount 3001 exceeds the authorized 2500 plus the 20 % tip tolerance (3000)."
        );
        assert!(ids.drawn.is_empty());
    }

    #[test]
    fn capture_refuses_anything_but_authorized() {
        for s in [
            Status::Pending,
            Status::Processing,
            Status::Completed,
            Status::Failed,
            Status::Cancelled,
        ] {
            let p = payment(s, "manual");
            let e = capture(&p, None, NOW, &mut Seq::default()).unwrap_err();
            assert_eq!((e.status, e.code), (400, "payment_invalid_state"));
            assert!(e.message.contains(&format!("is {};", s.as_str())), "{}", e.message);
        }
    }

    #[test]
    fn cancel_ends_a_pending_session_or_an_expired_authorization() {
        for (from, reason) in [
            (Status::Pending, CancelReason::Requested),
            (Status::Pending, CancelReason::PromptTimeout),
            (Status::Authorized, CancelReason::Expired),
        ] {
            let mut p = payment(from, "manual");
            p.expires_at = Some(rfc3339(NOW));
            let d = cancel(&p, reason, NOW).unwrap();
            assert_eq!(d.payment.status, Status::Cancelled);
            assert_eq!(d.payment.cancellation_reason.as_deref(), Some(reason.as_str()));
            assert_eq!(d.payment.cancelled_at, Some(rfc3339(NOW)));
            assert_eq!(d.payment.expires_at, None);
            assert_eq!(d.event, Some(EventType::TerminalPaymentCancelled));
            assert_eq!((d.posting, d.due.len(), d.unscheduled.len()), (None, 0, 0));
        }
    }

    #[test]
    fn cancel_refusals() {
        let refused = [
            (Status::Processing, CancelReason::Requested),
            (Status::Authorized, CancelReason::Requested),
            (Status::Completed, CancelReason::Requested),
            (Status::Processing, CancelReason::PromptTimeout),
            (Status::Cancelled, CancelReason::PromptTimeout),
            (Status::Pending, CancelReason::Expired),
            (Status::Completed, CancelReason::Expired),
        ];
        for (from, reason) in refused {
            assert_eq!(
                code(cancel(&payment(from, "manual"), reason, NOW)),
                (400, "payment_invalid_state"),
                "{from:?} {reason:?}"
            );
        }
    }

    #[test]
    fn fail_ends_a_running_session_only() {
        for from in [Status::Pending, Status::Processing] {
            let d = fail(&payment(from, "automatic"), "terminal_offline", NOW).unwrap();
            assert_eq!(d.payment.status, Status::Failed);
            assert_eq!(d.payment.decline_code.as_deref(), Some("terminal_offline"));
            assert_eq!(d.payment.failed_at, Some(rfc3339(NOW)));
            assert_eq!(d.event, Some(EventType::TerminalPaymentFailed));
        }
        for from in [Status::Authorized, Status::Completed, Status::Failed, Status::Cancelled] {
            assert_eq!(
                code(fail(&payment(from, "automatic"), "terminal_offline", NOW)),
                (400, "payment_invalid_state")
            );
        }
    }

    #[test]
    fn refusals_explain_where_the_payment_stands() {
        let msg = |s| not_active(&payment(s, "automatic")).message;
        assert!(msg(Status::Processing).contains("is processing: the card was presented"));
        assert!(msg(Status::Pending).contains("is pending: it is waiting for the card"));
        assert!(msg(Status::Completed).contains("is completed: its session is over"));
    }

    #[test]
    fn decide_dispatches_each_input() {
        let pending = payment(Status::Pending, "automatic");
        let authorized = payment(Status::Authorized, "manual");
        let mut ids = Seq::default();
        let status = |r: ApiResult<Decision>| r.unwrap().payment.status;
        assert_eq!(
            status(decide(&pending, Input::Present { entry_method: "chip" }, NOW, &mut ids)),
            Status::Processing
        );
        assert_eq!(
            status(decide(
                &pending,
                Input::Authorize {
                    number: "4242424242424242",
                    entry_method: "chip"
                },
                NOW,
                &mut ids
            )),
            Status::Completed
        );
        assert_eq!(
            status(decide(&authorized, Input::Capture { amount: None }, NOW, &mut ids)),
            Status::Completed
        );
        assert_eq!(
            status(decide(&pending, Input::Cancel(CancelReason::Requested), NOW, &mut ids)),
            Status::Cancelled
        );
        assert_eq!(
            status(decide(
                &pending,
                Input::Fail {
                    code: "communication_error"
                },
                NOW,
                &mut ids
            )),
            Status::Failed
        );
    }

    #[test]
    fn steps_map_to_their_inputs() {
        let pending = payment(Status::Pending, "automatic");
        let processing = payment(Status::Processing, "automatic");
        let funds = cards::test_card_by_number("4000000000009995").unwrap();
        assert_eq!(
            step_input(TerminalStep::Simulate, &pending, Some(funds.pm_id)),
            Some(Input::Authorize {
                number: funds.number,
                entry_method: "contactless"
            })
        );
        for unknown in [None, Some(""), Some("pm_nope")] {
            assert_eq!(
                step_input(TerminalStep::Simulate, &pending, unknown),
                Some(Input::Authorize {
                    number: "4242424242424242",
                    entry_method: "contactless"
                })
            );
        }
        assert_eq!(
            step_input(TerminalStep::PromptTimeout, &pending, None),
            Some(Input::Cancel(CancelReason::PromptTimeout))
        );
        assert_eq!(
            step_input(TerminalStep::ProcessingTimeout, &processing, None),
            Some(Input::Fail {
                code: "communication_error"
            })
        );
        // Only a payment still processing times out; a pending one waits for its prompt timeout.
        assert_eq!(step_input(TerminalStep::ProcessingTimeout, &pending, None), None);
        assert_eq!(
            step_input(TerminalStep::AuthExpiry, &pending, None),
            Some(Input::Cancel(CancelReason::Expired))
        );
    }
}
