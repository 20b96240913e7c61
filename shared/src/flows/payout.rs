//! Payouts: load the balance, the schedule or the payout, ask [`crate::domain::payout`], and
//! write what it decided (the payout, its posting, its steps, its event) in the order it always
//! has been written.

use crate::context::Ctx;
use crate::domain::payout::{self, Balance, CreatePayout, NewPayout, PayoutIds, PayoutInterval, StepDecision};
use crate::error::ApiResult;
use crate::events;
use crate::flows;
use crate::objects::Payout;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps;
use crate::store::{Loaded, guarded_update, load, to_json};

/// The payout schedule of the caller's environment (sandbox and live each have their own).
pub async fn interval<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> ApiResult<PayoutInterval> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT payout_interval FROM environment_settings WHERE account_id = ? AND livemode = ?",
            sql_params![&cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    // Only the API writes the column, with a known name; no row yet reads as the default.
    Ok(rows
        .first()
        .and_then(|r| r[0].as_str())
        .and_then(PayoutInterval::parse)
        .unwrap_or(PayoutInterval::DEFAULT))
}

/// Sets the payout schedule of the caller's environment only.
pub fn set_interval<D: Db, E: Env>(cx: &Ctx<'_, D, E>, interval: PayoutInterval) -> Vec<Stmt> {
    let mut writes = vec![Stmt::new(
        "INSERT INTO environment_settings (account_id, livemode, payout_interval) VALUES (?, ?, ?) ON CONFLICT (account_id, livemode) DO UPDATE SET payout_interval = excluded.payout_interval",
        sql_params![&cx.acct.id, cx.acct.livemode, interval.as_str()],
    )];
    if let Some((step, due)) = payout::schedule_update(interval, cx.now) {
        writes.push(steps::schedule_once(&cx.acct, &step, due, cx.now));
    }
    writes
}

async fn available<D: Db, E: Env>(cx: &Ctx<'_, D, E>, currency: &str) -> ApiResult<i64> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT available FROM balances WHERE account_id = ? AND livemode = ? AND currency = ?",
            sql_params![&cx.acct.id, cx.acct.livemode, currency],
        ))
        .await?;
    Ok(rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0))
}

/// The ids of a new payout, drawn in the order they always have been (transaction first).
fn ids<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> PayoutIds {
    let txn = cx.id("txn_");
    let payout = cx.id("po_");
    PayoutIds { txn, payout }
}

/// An on-demand payout.
pub async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, input: CreatePayout) -> ApiResult<(Payout, Vec<Stmt>)> {
    let available = available(cx, &input.currency).await?;
    let d = payout::create(input, cx.acct.livemode, available, cx.now, || ids(cx))?;
    let writes = new_payout(cx, &d);
    Ok((d.payout, writes))
}

/// The writes of a new payout. The guarded debit in [`crate::ledger::record_txn`] aborts the
/// batch if another payout took the money meanwhile.
fn new_payout<D: Db, E: Env>(cx: &Ctx<'_, D, E>, d: &NewPayout) -> Vec<Stmt> {
    let po = &d.payout;
    let data = to_json(po);
    let mut writes = flows::post(&cx.acct, &d.posting);
    writes.push(Stmt::new(
        "INSERT INTO payouts (id, account_id, livemode, status, created, data) VALUES (?, ?, ?, ?, ?, ?)",
        sql_params![
            &po.id,
            &cx.acct.id,
            cx.acct.livemode,
            po.status.as_str(),
            po.created,
            data.to_string()
        ],
    ));
    let (step, due) = &d.step;
    writes.push(steps::schedule_once(&cx.acct, step, *due, cx.now));
    writes.extend(events::record(cx.env, &cx.acct, d.event, cx.now, &data));
    writes
}

/// Scheduled step at each 00:00 UTC: the schedule's round ([`payout::round`]). Each automatic
/// payout also gives every settled transaction not yet in a payout that payout's id.
pub async fn automatic<D: Db, E: Env>(cx: &Ctx<'_, D, E>, due: i64) -> ApiResult<Vec<Stmt>> {
    let interval = interval(cx).await?;
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT currency, pending, available FROM balances WHERE account_id = ? AND livemode = ? ORDER BY currency",
            sql_params![&cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let balances: Vec<Balance> = rows
        .iter()
        .map(|r| Balance {
            currency: r[0].as_str().unwrap_or_default().to_string(),
            pending: r[1].as_i64().unwrap_or(0),
            available: r[2].as_i64().unwrap_or(0),
        })
        .collect();
    let round = payout::round(interval, due, cx.acct.livemode, &balances);
    let mut writes = Vec::new();
    for (currency, amount) in &round.payouts {
        let d = payout::automatic_payout(currency, *amount, cx.acct.livemode, cx.now, ids(cx));
        writes.push(Stmt::new(
            "UPDATE balance_transactions SET payout_id = ?, updated = ? WHERE account_id = ? AND livemode = ? AND currency = ? AND settlement_status = 'settled' AND payout_id IS NULL",
            sql_params![&d.payout.id, cx.now, &cx.acct.id, cx.acct.livemode, currency],
        ));
        writes.extend(new_payout(cx, &d));
    }
    if let Some((step, at)) = &round.next {
        writes.push(steps::schedule(&cx.acct, step, *at, cx.now));
    }
    Ok(writes)
}

/// Scheduled step: payout `id` goes in transit, then arrives (`paid`) or is refused by the bank.
pub async fn step<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: po, version }) = load::<Payout, _, _>(cx, "payouts", "", id).await? else {
        return Ok(vec![]);
    };
    let m = match payout::step(po, cx.now, || cx.id("txn_")) {
        StepDecision::Nothing => return Ok(vec![]),
        StepDecision::Wait((step, at)) => return Ok(vec![steps::schedule(&cx.acct, &step, at, cx.now)]),
        StepDecision::Moved(m) => m,
    };
    let mut writes = Vec::new();
    if let Some(p) = &m.posting {
        writes.extend(flows::post(&cx.acct, p));
    }
    if let Some(t) = &m.transfer {
        writes.extend(flows::settlement::transfer(&cx.acct, t));
    }
    if let Some((step, at)) = &m.next {
        writes.push(steps::schedule(&cx.acct, step, *at, cx.now));
    }
    if let Some((step, at)) = &m.round {
        writes.push(steps::schedule_once(&cx.acct, step, *at, cx.now));
    }
    let po = &m.payout;
    let data = to_json(po);
    writes.extend(guarded_update(
        "payouts",
        "status = ?, data = ?",
        sql_params![po.status.as_str(), data.to_string()],
        &po.id,
        version,
    ));
    writes.extend(events::record(cx.env, &cx.acct, m.event, cx.now, &data));
    Ok(writes)
}
