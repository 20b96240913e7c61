//! Refund flows: a refund asked for by the API, and the scheduled failure of a sandbox refund.
//! The rules are [`crate::domain::refund`]'s; this loads what they need and writes their answer.

use crate::cards::TestBehavior;
use crate::context::Ctx;
use crate::domain::refund::{self, CreateRefund, Ids, Of};
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::objects::*;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps;
use crate::store::{Loaded, guarded_update, load, load_param, to_json};

/// Refunds a payment: one batch, guarded by the payment's version, so concurrent refunds never
/// exceed what was captured. Returns the new refund and the writes.
pub async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, input: CreateRefund) -> ApiResult<(Refund, Vec<Stmt>)> {
    let Loaded { obj: pay, version } =
        load_param::<Payment, _, _>(cx, "payments", "", "payment", "payment", &input.payment).await?;
    // Only a succeeded payment has a dispute (one opens on a captured payment, which stays
    // succeeded), so reading it before the state check reads nothing more.
    let dispute = match &pay.dispute {
        Some(dp) => load::<Dispute, _, _>(cx, "disputes", "", dp).await?.map(|d| d.obj),
        None => None,
    };
    let ok = refund::check(&pay, dispute.as_ref(), input.amount)?;
    let behavior = match &pay.payment_method {
        Some(pm) => test_behavior(cx, pm).await,
        None => None,
    };
    let txn = cx.id("txn_");
    let ids = Ids {
        txn,
        refund: cx.id("re_"),
    };
    let c = refund::create(&pay, ok, input, behavior, ids, cx.acct.livemode, cx.now);
    let pay_data = to_json(&c.payment);
    let data = to_json(&c.refund);
    let mut writes: Vec<Stmt> = guarded_update(
        "payments",
        "status = ?, data = ?",
        sql_params![c.payment.status.as_str(), pay_data.to_string()],
        &c.payment.id,
        version,
    )
    .into();
    writes.push(Stmt::new(
        "INSERT INTO refunds (id, account_id, livemode, payment_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![&c.refund.id, &cx.acct.id, cx.acct.livemode, &c.payment.id, c.refund.status.as_str(), cx.now, data.to_string()],
    ));
    writes.extend(super::post(&cx.acct, &c.posting));
    for (step, due) in &c.due {
        writes.push(steps::schedule_once(&cx.acct, step, *due, cx.now));
    }
    // The loyalty points of what is now refunded (and lost in a dispute) are taken back.
    let lost = dispute
        .as_ref()
        .filter(|d| d.status == DisputeStatus::Lost)
        .map_or(0, |d| d.amount);
    writes.extend(
        crate::flows::loyalty::earning::on_reversal(
            cx,
            &c.payment.id,
            c.payment.amount_refunded + lost,
            c.payment.amount_received,
            &c.refund.id,
        )
        .await?,
    );
    for (kind, of) in &c.events {
        let object = match of {
            Of::Refund => &data,
            Of::Payment => &pay_data,
        };
        writes.extend(events::record(cx.env, &cx.acct, *kind, cx.now, object));
    }
    writes.extend(super::intent::follow_payment(cx, &c.payment).await?.1);
    Ok((c.refund, writes))
}

/// The sandbox behaviour of payment method `pm`: a test card's, or the one stored with a saved
/// method. None when it cannot be found or read, which refunds as usual.
async fn test_behavior<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pm: &str) -> Option<TestBehavior> {
    super::payment_method::resolve(cx, "payment_method", pm)
        .await
        .ok()
        .and_then(|r| r.behavior)
}

/// Scheduled step: a sandbox refund of the refund-failure card fails; its money comes back.
/// Nothing to do when the refund is gone or no longer pending.
pub async fn fail<D: Db, E: Env>(cx: &Ctx<'_, D, E>, refund_id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: r, version }) = load::<Refund, _, _>(cx, "refunds", "", refund_id).await? else {
        return Ok(vec![]);
    };
    if !refund::can_fail(&r) {
        return Ok(vec![]);
    }
    let Loaded {
        obj: pay,
        version: pay_version,
    } = load::<Payment, _, _>(cx, "payments", "", &r.payment)
        .await?
        .ok_or_else(|| ApiError::internal("refund without its payment"))?;
    let txn = cx.id("txn_");
    let Some(f) = refund::fail(&r, &pay, txn, cx.now) else {
        return Ok(vec![]);
    };
    let data = to_json(&f.refund);
    let pay_data = to_json(&f.payment);
    let mut writes: Vec<Stmt> = guarded_update(
        "refunds",
        "status = ?, data = ?",
        sql_params![f.refund.status.as_str(), data.to_string()],
        &f.refund.id,
        version,
    )
    .into();
    writes.extend(guarded_update(
        "payments",
        "status = ?, data = ?",
        sql_params![f.payment.status.as_str(), pay_data.to_string()],
        &f.payment.id,
        pay_version,
    ));
    writes.extend(super::post(&cx.acct, &f.posting));
    for kind in &f.events {
        writes.extend(events::record(cx.env, &cx.acct, *kind, cx.now, &data));
    }
    writes.extend(super::intent::follow_payment(cx, &f.payment).await?.1);
    Ok(writes)
}
