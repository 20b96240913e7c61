//! A new card payment, for every caller that makes one: `POST /v1/payments` and Billing's
//! invoice charges. Authorize (the sandbox's test card decides), capture when automatic, post
//! the capture's money, and return the writes (the payment, its charge, the ledger, events).

use crate::cards::TestBehavior;
use crate::context::Ctx;
use crate::domain::payment::apply_authorization;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::fields::Metadata;
use crate::flows::payment_method::ResolvedPm;
use crate::ledger::{NewTxn, SourceType};
use crate::objects::*;
use crate::plan;
use crate::port::{Db, Env, Stmt};
use crate::processor::{self, AuthOutcome};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::to_json;

/// What a new payment is, checked by the caller.
pub struct NewPayment {
    pub amount: i64,
    pub currency: String,
    pub capture_method: CaptureMethod,
    pub customer: Option<String>,
    pub pm: ResolvedPm,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub return_url: Option<String>,
    pub routing: Routing,
    pub on_behalf_of: Option<String>,
    pub statement_descriptor: Option<String>,
    /// Charged without the cardholder present (an invoice): a card that asks for 3-D Secure is
    /// declined (`authentication_required`) instead of waiting for a challenge nobody can answer.
    pub off_session: bool,
}

/// The payment (and its charge) as authorized, and the writes that store it. A declined card
/// is not an error: the payment is `failed` with its `last_payment_error`.
pub async fn create<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    n: NewPayment,
) -> ApiResult<(Payment, Option<Charge>, Vec<Stmt>)> {
    let behavior = live_guard(cx, &n.pm)?;

    let mut pay = Payment {
        id: cx.id("pay_"),
        object: "payment".into(),
        amount: n.amount,
        amount_authorized: 0,
        amount_capturable: 0,
        amount_received: 0,
        amount_reversed: 0,
        amount_refunded: 0,
        amount_disputed: 0,
        currency: n.currency,
        status: PaymentStatus::Processing,
        capture_method: n.capture_method,
        customer: n.customer,
        payment_method: Some(n.pm.id.clone()),
        latest_charge: None,
        refunds: Vec::new(),
        dispute: None,
        balance_transaction: None,
        description: n.description,
        metadata: n.metadata,
        return_url: n.return_url,
        routing: n.routing,
        on_behalf_of: n.on_behalf_of,
        statement_descriptor: n.statement_descriptor,
        next_action: None,
        last_payment_error: None,
        adjustment: None,
        reversal: None,
        canceled_at: None,
        cancellation_reason: None,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let outcome = match processor::authorize(behavior, false, &random6(cx)) {
        AuthOutcome::ChallengeRequired if n.off_session => AuthOutcome::Declined {
            decline_code: "authentication_required",
        },
        o => o,
    };
    let details = PaymentMethodDetails {
        kind: "card".into(),
        card: CardDetails {
            card: n.pm.card,
            three_d_secure: None,
        },
    };
    let (charge, evts) = apply_authorization(&mut pay, outcome, details, cx.id("ch_"), cx.now);
    let money = capture_writes(cx, &mut pay, Some(behavior)).await?;

    let data = to_json(&pay);
    let mut writes = vec![Stmt::new(
        "INSERT INTO payments (id, account_id, livemode, customer_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &pay.id,
            &cx.acct.id,
            cx.acct.livemode,
            pay.customer.clone(),
            pay.status.as_str(),
            cx.now,
            data.to_string()
        ],
    )];
    if let Some(ch) = &charge {
        writes.push(insert_charge(cx, ch));
    }
    writes.extend(money);
    writes.extend(
        evts.iter()
            .flat_map(|t| events::record(cx.env, &cx.acct, *t, cx.now, &data)),
    );
    Ok((pay, charge, writes))
}

/// Sandbox: the test card's behaviour. Live: refuse, since there is no acquirer connection.
pub fn live_guard<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pm: &ResolvedPm) -> ApiResult<TestBehavior> {
    match (cx.acct.livemode, pm.behavior) {
        (false, Some(b)) => Ok(b),
        (false, None) => Err(ApiError::invalid(
            "payment_method",
            "test_card_required",
            "The sandbox only charges test cards.",
        )),
        (true, Some(_)) => Err(ApiError::invalid(
            "payment_method",
            "test_card_in_live_mode",
            "Test cards cannot be used with live keys.",
        )),
        (true, None) => Err(ApiError::new(
            403,
            "permission_error",
            "live_processing_unavailable",
            "This account has no live acquirer connection, so live payments cannot be processed. Use your sandbox keys (sk_test_...).",
        )),
    }
}

/// The writes of a payment's first capture: its money ([`capture_money`]) and the loyalty points
/// its customer earns, in the capture's batch. Nothing for a payment that is not (or already
/// was) captured.
pub async fn capture_writes<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    pay: &mut Payment,
    behavior: Option<TestBehavior>,
) -> ApiResult<Vec<Stmt>> {
    let mut writes = capture_money(cx, pay, behavior);
    if !writes.is_empty() {
        writes.extend(
            crate::flows::loyalty::earning::on_capture(
                cx,
                crate::flows::loyalty::earning::Capture {
                    payment: &pay.id,
                    customer: pay.customer.as_deref(),
                    amount: pay.amount_received,
                    currency: &pay.currency,
                },
            )
            .await?,
        );
    }
    Ok(writes)
}

/// The money of a payment's first capture: its `payment` transaction (amount captured, the
/// plan's fee) and, for the sandbox's dispute card, the dispute that follows. Sets the payment's
/// `balance_transaction`. Nothing for a payment that is not (or already was) captured.
fn capture_money<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pay: &mut Payment, behavior: Option<TestBehavior>) -> Vec<Stmt> {
    if pay.status != PaymentStatus::Succeeded || pay.balance_transaction.is_some() {
        return Vec::new();
    }
    let txn = cx.id("txn_");
    pay.balance_transaction = Some(txn.clone());
    let mut writes = crate::flows::post_txn(
        &cx.acct,
        &NewTxn {
            id: &txn,
            source_type: SourceType::Payment,
            source_id: &pay.id,
            currency: &pay.currency,
            amount: pay.amount_received,
            fee: plan::capture_fee(pay.amount_received),
            description: pay.description.as_deref().unwrap_or("Payment"),
            payout_id: None,
            created: cx.now,
        },
    );
    if behavior == Some(TestBehavior::Disputed) {
        writes.push(steps::schedule_once(
            &cx.acct,
            &Step::DisputeOpen(pay.id.clone()),
            cx.now,
            cx.now,
        ));
    }
    writes
}

pub fn random6<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> [u8; 6] {
    let mut r = [0u8; 6];
    cx.env.fill_random(&mut r);
    r
}

pub fn insert_charge<D: Db, E: Env>(cx: &Ctx<'_, D, E>, ch: &Charge) -> Stmt {
    Stmt::new(
        "INSERT INTO charges (id, account_id, livemode, payment_id, created, data) VALUES (?, ?, ?, ?, ?, ?)",
        sql_params![
            &ch.id,
            &cx.acct.id,
            cx.acct.livemode,
            &ch.payment,
            ch.created,
            to_json(ch).to_string()
        ],
    )
}
