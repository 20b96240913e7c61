//! The daily settlement batch: read the unsettled totals per currency, ask
//! [`crate::domain::settlement`], write each settlement with the rows it settles, its posting and
//! its event.

use crate::auth::Account;
use crate::context::Ctx;
use crate::domain::settlement::{self, Transfer, Unsettled};
use crate::error::ApiResult;
use crate::events;
use crate::ledger;
use crate::port::{Db, Env, GUARD_CHANGES_SQL, Stmt};
use crate::sql_params;
use crate::store::to_json;

/// Records a transfer the domain decided on.
pub fn transfer(acct: &Account, t: &Transfer) -> Vec<Stmt> {
    ledger::record_transfer(acct, &t.id, &t.currency, &t.lines, t.created)
}

/// Scheduled step: the daily batch at `due` (00:00 UTC, account clock) settles every unsettled
/// transaction available by then, one settlement per currency.
pub async fn settle<D: Db, E: Env>(cx: &Ctx<'_, D, E>, due: i64) -> ApiResult<Vec<Stmt>> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT currency, COUNT(*), SUM(amount), SUM(fee), SUM(net) FROM balance_transactions \
             WHERE account_id = ? AND livemode = ? AND settlement_status = 'unsettled' AND available_on <= ? GROUP BY currency ORDER BY currency",
            sql_params![&cx.acct.id, cx.acct.livemode, due],
        ))
        .await?;
    let totals: Vec<Unsettled> = rows
        .iter()
        .map(|r| Unsettled {
            currency: r[0].as_str().unwrap_or_default().to_string(),
            count: r[1].as_i64().unwrap_or(0),
            gross: r[2].as_i64().unwrap_or(0),
            fees: r[3].as_i64().unwrap_or(0),
            net: r[4].as_i64().unwrap_or(0),
        })
        .collect();
    let mut writes = Vec::new();
    // Each settlement's id is drawn as it is reached, before its event's: the order ids have
    // always been drawn in.
    for s in settlement::batch(due, &totals, cx.acct.livemode, cx.now, || cx.id("stl_")) {
        let st = &s.settlement;
        let data = to_json(st);
        writes.push(Stmt::new(
            "UPDATE balance_transactions SET settlement_status = 'settled', settlement_id = ?, settled_at = ?, updated = ? \
             WHERE account_id = ? AND livemode = ? AND currency = ? AND settlement_status = 'unsettled' AND available_on <= ?",
            sql_params![&st.id, cx.now, cx.now, &cx.acct.id, cx.acct.livemode, &st.currency, s.until],
        ));
        // The totals were read before this batch: they must describe exactly the rows it settles.
        writes.push(Stmt::new(GUARD_CHANGES_SQL, sql_params![st.transaction_count]));
        writes.push(Stmt::new(
            "INSERT INTO settlements (id, account_id, livemode, currency, created, data) VALUES (?, ?, ?, ?, ?, ?)",
            sql_params![
                &st.id,
                &cx.acct.id,
                cx.acct.livemode,
                &st.currency,
                cx.now,
                data.to_string()
            ],
        ));
        writes.extend(transfer(&cx.acct, &s.transfer));
        writes.extend(events::record(cx.env, &cx.acct, s.event, cx.now, &data));
    }
    Ok(writes)
}
