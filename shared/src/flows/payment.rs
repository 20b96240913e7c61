//! A new card payment, for every caller that makes one: `POST /v1/payments` and Billing's
//! invoice charges. Authorize (the sandbox's test card decides), capture when automatic, post
//! the capture's money, and return the writes (the payment, its charge, the ledger, events).

use crate::cards::TestBehavior;
use crate::context::Ctx;
use crate::domain::payment::{Transition, apply_authorization};
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::fields::Metadata;
use crate::flows::payment_method::{ResolvedPm, resolve};
use crate::ledger::{NewTxn, SourceType};
use crate::objects::intents::{PaymentIntent, PaymentSplit};
use crate::objects::*;
use crate::plan;
use crate::port::{Db, Env, Stmt};
use crate::processor::{self, AuthOutcome};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, guarded_update, load, load_path, to_json};

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
    /// The payment intent this payment is an attempt at (seed 004), if any.
    pub intent: Option<IntentAttempt>,
}

/// What an attempt at a payment intent adds to its payment (seed 004's fields).
pub struct IntentAttempt {
    pub payment_intent_id: String,
    pub reference_id: Option<String>,
    pub user_fields: Option<serde_json::Map<String, serde_json::Value>>,
    pub order_details: Option<serde_json::Map<String, serde_json::Value>>,
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
        payment_intent_id: None,
        reference_id: None,
        user_fields: None,
        order_details: None,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    if let Some(a) = n.intent {
        pay.payment_intent_id = Some(a.payment_intent_id);
        pay.reference_id = a.reference_id;
        pay.user_fields = a.user_fields;
        pay.order_details = a.order_details;
    }
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
        "INSERT INTO payments (id, account_id, livemode, customer_id, status, created, data, payment_intent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &pay.id,
            &cx.acct.id,
            cx.acct.livemode,
            pay.customer.clone(),
            pay.status.as_str(),
            cx.now,
            data.to_string(),
            pay.payment_intent_id.clone()
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

/// A payment moved by a transition: its new state and charge, the intent it is an attempt at as
/// it now is (if any), and the writes that store all of it.
pub struct Moved {
    pub payment: Payment,
    pub charge: Option<Charge>,
    pub intent: Option<PaymentIntent>,
    pub writes: Vec<Stmt>,
}

/// Loads payment `id` and its charge, applies `step`, and returns the writes (behind the
/// payment's version guard).
pub async fn transition<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    id: &str,
    step: impl FnOnce(&Payment, Option<&Charge>) -> ApiResult<Transition>,
) -> ApiResult<Moved> {
    transition_with(cx, id, step, None).await
}

/// As [`transition`], for the capture of an intent's attempt that names its own payment splits.
pub async fn transition_with<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    id: &str,
    step: impl FnOnce(&Payment, Option<&Charge>) -> ApiResult<Transition>,
    splits: Option<Vec<PaymentSplit>>,
) -> ApiResult<Moved> {
    let Loaded { obj: pay, version } = load_path::<Payment, _, _>(cx, "payments", "", "payment", id).await?;
    let charge = match &pay.latest_charge {
        Some(ch) => load::<Charge, _, _>(cx, "charges", "", ch).await?.map(|l| l.obj),
        None => None,
    };
    let t = step(&pay, charge.as_ref())?;
    let behavior = match (&t.payment.status, &t.payment.payment_method) {
        (PaymentStatus::Succeeded, Some(pm)) if t.payment.balance_transaction.is_none() => {
            resolve(cx, "payment_method", pm).await.ok().and_then(|p| p.behavior)
        }
        _ => None,
    };
    commit_with(cx, version, t, charge.is_some(), behavior, splits).await
}

/// The writes of transition `t` of a payment read at `version`: the payment, its charge (new or
/// updated), the money of a first capture, the events, and the payment intent following it.
pub async fn commit<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    version: i64,
    t: Transition,
    charge_existed: bool,
    behavior: Option<TestBehavior>,
) -> ApiResult<Moved> {
    commit_with(cx, version, t, charge_existed, behavior, None).await
}

async fn commit_with<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    version: i64,
    mut t: Transition,
    charge_existed: bool,
    behavior: Option<TestBehavior>,
    splits: Option<Vec<PaymentSplit>>,
) -> ApiResult<Moved> {
    let money = capture_writes(cx, &mut t.payment, behavior).await?;
    let data = to_json(&t.payment);
    let mut writes: Vec<Stmt> = guarded_update(
        "payments",
        "status = ?, data = ?",
        sql_params![t.payment.status.as_str(), data.to_string()],
        &t.payment.id,
        version,
    )
    .into();
    if let Some(ch) = &t.charge {
        writes.push(if charge_existed {
            Stmt::new(
                "UPDATE charges SET data = ? WHERE id = ? AND account_id = ?",
                sql_params![to_json(ch).to_string(), &ch.id, &cx.acct.id],
            )
        } else {
            insert_charge(cx, ch)
        });
    }
    writes.extend(money);
    writes.extend(
        t.events
            .iter()
            .flat_map(|e| events::record(cx.env, &cx.acct, *e, cx.now, &data)),
    );
    let (intent, intent_writes) = crate::flows::intent::follow_payment_with(cx, &t.payment, splits).await?;
    writes.extend(intent_writes);
    Ok(Moved {
        payment: t.payment,
        charge: t.charge,
        intent,
        writes,
    })
}
