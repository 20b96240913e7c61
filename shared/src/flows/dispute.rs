//! Dispute flows: the merchant's answer and acceptance (from the API), the dispute opening and
//! the issuer's rounds (scheduled steps). The rules are [`crate::domain::dispute`]'s; this loads
//! what they need and writes their answer.

use crate::context::Ctx;
use crate::domain::dispute::{self, Concluded, Ids, Next, UpdateDispute, Verdict};
use crate::error::ApiResult;
use crate::events;
use crate::objects::*;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps;
use crate::store::{Loaded, guarded_update, load, load_path, to_json};

fn save(d: &Dispute, version: i64) -> Vec<Stmt> {
    guarded_update(
        "disputes",
        "status = ?, data = ?",
        sql_params![d.status.as_str(), to_json(d).to_string()],
        &d.id,
        version,
    )
    .into()
}

/// The merchant's evidence and metadata for dispute `id` (a 404 when there is none). Returns
/// the dispute and the writes.
pub async fn update<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    id: &str,
    input: UpdateDispute,
) -> ApiResult<(Dispute, Vec<Stmt>)> {
    let Loaded { obj: d, version } = load_path::<Dispute, _, _>(cx, "disputes", "", "dispute", id).await?;
    let u = dispute::update(&d, input, cx.now)?;
    let mut writes = Vec::new();
    if let Some((step, due)) = &u.due {
        writes.push(steps::schedule(&cx.acct, step, *due, cx.now));
    }
    let data = to_json(&u.dispute);
    writes.extend(save(&u.dispute, version));
    for kind in &u.events {
        writes.extend(events::record(cx.env, &cx.acct, *kind, cx.now, &data));
    }
    Ok((u.dispute, writes))
}

/// The merchant accepts dispute `id` (a 404 when there is none): it is lost. Returns the
/// dispute and the writes.
pub async fn close<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<(Dispute, Vec<Stmt>)> {
    let Loaded { obj: d, version } = load_path::<Dispute, _, _>(cx, "disputes", "", "dispute", id).await?;
    let c = dispute::close(&d, cx.now)?;
    let writes = concluded(cx, &c, version).await?;
    Ok((c.dispute, writes))
}

/// The writes of a closed dispute: its reversal (when won), the dispute, its events, and when
/// lost the loyalty points its payment earned for the disputed amount, taken back.
async fn concluded<D: Db, E: Env>(cx: &Ctx<'_, D, E>, c: &Concluded, version: i64) -> ApiResult<Vec<Stmt>> {
    let mut writes = Vec::new();
    if c.dispute.status == DisputeStatus::Lost
        && let Some(pay) = load::<Payment, _, _>(cx, "payments", "", &c.dispute.payment).await?
    {
        let p = pay.obj;
        writes.extend(
            crate::flows::loyalty::earning::on_reversal(
                cx,
                &p.id,
                p.amount_refunded + c.dispute.amount,
                p.amount_received,
                &c.dispute.id,
            )
            .await?,
        );
    }
    if let Some(p) = &c.posting {
        writes.extend(super::post(&cx.acct, p));
    }
    let data = to_json(&c.dispute);
    writes.extend(save(&c.dispute, version));
    for kind in &c.events {
        writes.extend(events::record(cx.env, &cx.acct, *kind, cx.now, &data));
    }
    Ok(writes)
}

/// Scheduled step after a dispute-card payment was captured: the cardholder's bank disputes it.
/// Nothing to do when the payment is gone or cannot be disputed (any more).
pub async fn open<D: Db, E: Env>(cx: &Ctx<'_, D, E>, payment_id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: pay, version }) = load::<Payment, _, _>(cx, "payments", "", payment_id).await? else {
        return Ok(vec![]);
    };
    let Some(amount) = dispute::disputable(&pay) else {
        return Ok(vec![]);
    };
    let txn = cx.id("txn_");
    let ids = Ids {
        txn,
        dispute: cx.id("dp_"),
    };
    let o = dispute::open(&pay, amount, ids, cx.acct.livemode, cx.now);
    let data = to_json(&o.dispute);
    let mut writes: Vec<Stmt> = guarded_update(
        "payments",
        "status = ?, data = ?",
        sql_params![o.payment.status.as_str(), to_json(&o.payment).to_string()],
        &o.payment.id,
        version,
    )
    .into();
    writes.push(Stmt::new(
        "INSERT INTO disputes (id, account_id, livemode, payment_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![&o.dispute.id, &cx.acct.id, cx.acct.livemode, &o.payment.id, o.dispute.status.as_str(), cx.now, data.to_string()],
    ));
    writes.extend(super::post(&cx.acct, &o.posting));
    let (step, due) = &o.due;
    writes.push(steps::schedule(&cx.acct, step, *due, cx.now));
    for kind in &o.events {
        writes.extend(events::record(cx.env, &cx.acct, *kind, cx.now, &data));
    }
    writes.extend(super::intent::follow_payment(cx, &o.payment).await?.1);
    Ok(writes)
}

/// Scheduled step: the response deadline passed, or the issuer decides on submitted evidence;
/// when it is not time yet, the step moves to when it is.
pub async fn step<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: d, version }) = load::<Dispute, _, _>(cx, "disputes", "", id).await? else {
        return Ok(vec![]);
    };
    let verdict = match dispute::next(&d, cx.now) {
        Next::Nothing => return Ok(vec![]),
        Next::Wait((step, due)) => return Ok(vec![steps::schedule(&cx.acct, &step, due, cx.now)]),
        Next::Decide { won: true } => Verdict::Won { txn: cx.id("txn_") },
        Next::Decide { won: false } => Verdict::Lost,
    };
    let c = dispute::conclude(&d, verdict, cx.now);
    concluded(cx, &c, version).await
}
