//! Payment intents (seed 004): create, pay by an attempt (a new `pay_` made by
//! [`crate::flows::payment::create`]), and follow an attempt's every later change
//! ([`follow_payment`], called by whatever changes a payment: capture, confirm, cancel, adjust,
//! reverse, refunds, disputes). The intent is written behind its version guard in the same batch
//! as the payment, so two concurrent attempts never both pay it. Rules: [`crate::domain::intent`].

use crate::context::Ctx;
use crate::domain::intent::{self, payment_status};
use crate::error::ApiResult;
use crate::events::{self, EventType};
use crate::objects::Payment;
use crate::objects::intents::PaymentIntent;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::store::{Loaded, guarded_update, load, load_path, to_json};

pub const TABLE: &str = "payment_intents";

/// Intent `id` of the caller's environment, or a 404 naming the path's id.
pub async fn load_intent<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<PaymentIntent>> {
    load_path::<PaymentIntent, _, _>(cx, TABLE, "", "payment_intent", id).await
}

/// The new intent's row and its `payment_intent.created` event.
pub fn insert<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pi: &PaymentIntent) -> Vec<Stmt> {
    let data = to_json(pi);
    let mut writes = vec![Stmt::new(
        "INSERT INTO payment_intents (id, account_id, livemode, status, amount, reference_id, created, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &pi.id,
            &cx.acct.id,
            cx.acct.livemode,
            pi.status.as_str(),
            pi.amount,
            pi.reference_id.clone(),
            cx.now,
            data.to_string()
        ],
    )];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::PaymentIntentCreated,
        cx.now,
        &data,
    ));
    writes
}

/// `pi` stored over version `version` (the batch fails as a lost race if it moved), with
/// `events` about it.
pub fn save<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pi: &PaymentIntent, version: i64, events: &[EventType]) -> Vec<Stmt> {
    let data = to_json(pi);
    let pay_status = pi.latest_payment.as_deref().map(payment_status);
    let mut writes: Vec<Stmt> = guarded_update(
        TABLE,
        "status = ?, amount = ?, reference_id = ?, payment_status = ?, has_refund = ?, data = ?",
        sql_params![
            pi.status.as_str(),
            pi.amount,
            pi.reference_id.clone(),
            pay_status,
            pi.amount_refunded > 0,
            data.to_string()
        ],
        &pi.id,
        version,
    )
    .into();
    for e in events {
        writes.extend(events::record(cx.env, &cx.acct, *e, cx.now, &data));
    }
    writes
}

/// The intent `pay` is an attempt at, as `pay` leaves it, and the writes that store it. Nothing
/// for a payment of no intent, or for an older attempt than the intent's latest (a declined one
/// never changes again).
pub async fn follow_payment<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    pay: &Payment,
) -> ApiResult<(Option<PaymentIntent>, Vec<Stmt>)> {
    let Some(pi_id) = &pay.payment_intent_id else {
        return Ok((None, Vec::new()));
    };
    let Some(Loaded { obj: pi, version }) = load::<PaymentIntent, _, _>(cx, TABLE, "", pi_id).await? else {
        return Ok((None, Vec::new()));
    };
    if pi.latest_payment.as_ref().is_some_and(|l| l.id != pay.id) {
        return Ok((Some(pi), Vec::new()));
    }
    let (next, events) = intent::follow(&pi, pay, cx.now);
    let writes = save(cx, &next, version, &events);
    Ok((Some(next), writes))
}
