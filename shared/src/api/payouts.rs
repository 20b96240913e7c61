//! `/v1/payouts` (served by the balance component): on-demand payouts, the payout schedule, and
//! the scheduled steps that make automatic payouts and carry a payout to `paid` or `failed`.
//!
//! ```text
//! created ─> pending ─ next round ─> in_transit ─ arrival_date ─┬─> paid
//!                                                               └─> failed (ba_test_failure; money back)
//! ```

use super::{Outcome, Route};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::events::EventType;
use crate::fields;
use crate::ledger::{self, DAY, LedgerAccount, NewTxn, SourceType, next_midnight};
use crate::list::{self, ListSpec, Page};
use crate::money::parse_currency;
use crate::objects::*;
use crate::params::Params;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, guarded_update, load, load_path, to_json};
use chrono::Datelike;
use serde_json::json;

pub const INTERVALS: &[&str] = &["manual", "daily", "weekly", "monthly"];
pub const DESTINATIONS: &[&str] = &["ba_test_success", "ba_test_failure"];
const STATUSES: &[&str] = &["pending", "in_transit", "paid", "failed"];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, r: &Route, p: &Params) -> ApiResult<Outcome> {
    let id = r.id.as_deref().unwrap_or_default();
    match r.action {
        "payout_create" => create(cx, p).await,
        "payout_list" => {
            p.allow_only(&["limit", "starting_after", "ending_before", "status"])?;
            let page = Page::from_params(p)?;
            let (filter, filter_params) = match p.one_of("status", STATUSES)? {
                Some(s) => (" AND status = ?".to_string(), sql_params![s]),
                None => (String::new(), vec![]),
            };
            let (data, has_more) = list::fetch(
                cx.db,
                &cx.acct,
                ListSpec {
                    table: "payouts",
                    filter,
                    filter_params,
                },
                &page,
            )
            .await?;
            Ok(Outcome::read(list::envelope("/v1/payouts", data, has_more)))
        }
        "payout" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(to_json(
                &load_path::<Payout, _, _>(cx, "payouts", "", "payout", id).await?.obj,
            )))
        }
        "schedule" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(schedule_json(&interval(cx).await?)))
        }
        "schedule_update" => {
            p.allow_only(&["interval"])?;
            let interval = p
                .one_of("interval", INTERVALS)?
                .ok_or_else(|| ApiError::missing("interval"))?;
            let mut writes = vec![Stmt::new(
                "UPDATE accounts SET payout_interval = ? WHERE id = ?",
                sql_params![&interval, &cx.acct.id],
            )];
            if interval != "manual" {
                writes.push(steps::schedule_once(
                    &cx.acct,
                    &Step::Payouts,
                    next_midnight(cx.now),
                    cx.now,
                ));
            }
            Ok(Outcome::write(schedule_json(&interval), writes))
        }
        _ => unreachable!("every action in ROUTES is handled"),
    }
}

fn schedule_json(interval: &str) -> serde_json::Value {
    json!({ "object": "payout_schedule", "interval": interval })
}

async fn interval<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> ApiResult<String> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT payout_interval FROM accounts WHERE id = ?",
            sql_params![&cx.acct.id],
        ))
        .await?;
    Ok(rows.first().and_then(|r| r[0].as_str()).unwrap_or("daily").to_string())
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

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&["amount", "currency", "destination", "description", "metadata"])?;
    let currency = parse_currency("currency", &p.required_string("currency", 16)?)?;
    let amount = p.integer("amount")?;
    let destination = p
        .one_of("destination", DESTINATIONS)?
        .unwrap_or_else(|| DESTINATIONS[0].to_string());
    let description = p.string("description", 1000)?;
    let metadata = fields::new_metadata(p)?;
    if cx.acct.livemode {
        return Err(ApiError::new(
            403,
            "permission_error",
            "live_processing_unavailable",
            "This account has no live bank connection, so live payouts cannot be made.",
        ));
    }
    let available = available(cx, &currency).await?;
    if let Some(a) = amount {
        if a < 1 {
            return Err(ApiError::invalid(
                "amount",
                "amount_too_small",
                "amount must be a positive integer.",
            ));
        }
    }
    let amount = amount.unwrap_or(available);
    if amount > available || amount < 1 {
        return Err(ApiError::invalid(
            "amount",
            "balance_insufficient",
            format!("The available {currency} balance is {available}; a payout of {amount} cannot be made."),
        ));
    }
    let (po, writes) = new_payout(cx, &currency, amount, false, destination, description, metadata);
    Ok(Outcome::write(to_json(&po), writes))
}

/// A payout of `amount` (already checked against the available balance; the guarded debit in
/// [`ledger::record_txn`] aborts the batch if another payout took the money meanwhile).
fn new_payout<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    currency: &str,
    amount: i64,
    automatic: bool,
    destination: String,
    description: Option<String>,
    metadata: crate::fields::Metadata,
) -> (Payout, Vec<Stmt>) {
    let txn = cx.id("txn_");
    let po = Payout {
        id: cx.id("po_"),
        object: "payout".into(),
        amount,
        currency: currency.into(),
        status: PayoutStatus::Pending,
        automatic,
        destination,
        arrival_date: cx.now + DAY,
        failure_code: None,
        failure_message: None,
        balance_transaction: Some(txn.clone()),
        failure_balance_transaction: None,
        description,
        metadata,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let data = to_json(&po);
    let mut writes = crate::flows::post_txn(
        &cx.acct,
        &NewTxn {
            id: &txn,
            source_type: SourceType::Payout,
            source_id: &po.id,
            currency,
            amount: -amount,
            fee: 0,
            description: "Payout",
            payout_id: Some(&po.id),
            created: cx.now,
        },
    );
    writes.push(Stmt::new(
        "INSERT INTO payouts (id, account_id, livemode, status, created, data) VALUES (?, ?, ?, ?, ?, ?)",
        sql_params![
            &po.id,
            &cx.acct.id,
            cx.acct.livemode,
            po.status.as_str(),
            cx.now,
            data.to_string()
        ],
    ));
    writes.push(steps::schedule_once(
        &cx.acct,
        &Step::PayoutStep(po.id.clone()),
        cx.now,
        cx.now,
    ));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::PayoutCreated,
        cx.now,
        &data,
    ));
    (po, writes)
}

/// Does the schedule pay out at the batch of `due` (00:00 UTC)?
fn selects(interval: &str, due: i64) -> bool {
    let Some(day) = chrono::DateTime::from_timestamp(due, 0) else {
        return false;
    };
    match interval {
        "daily" => true,
        "weekly" => day.weekday() == chrono::Weekday::Mon,
        "monthly" => day.day() == 1,
        _ => false,
    }
}

/// Scheduled step at each 00:00 UTC: if the schedule selects this batch, pays out the whole
/// available balance of every currency, and gives every settled transaction not yet in a payout
/// that payout's id. Reschedules itself while the account has money or money to come.
pub async fn automatic<D: Db, E: Env>(cx: &Ctx<'_, D, E>, due: i64) -> ApiResult<Vec<Stmt>> {
    let interval = interval(cx).await?;
    if interval == "manual" {
        return Ok(vec![]);
    }
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT currency, pending, available FROM balances WHERE account_id = ? AND livemode = ? ORDER BY currency",
            sql_params![&cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let mut writes = Vec::new();
    if selects(&interval, due) && !cx.acct.livemode {
        for r in rows.iter().filter(|r| r[2].as_i64().unwrap_or(0) > 0) {
            let currency = r[0].as_str().unwrap_or_default();
            let (po, w) = new_payout(
                cx,
                currency,
                r[2].as_i64().unwrap_or(0),
                true,
                DESTINATIONS[0].into(),
                None,
                Default::default(),
            );
            writes.push(Stmt::new(
                "UPDATE balance_transactions SET payout_id = ?, updated = ? WHERE account_id = ? AND livemode = ? AND currency = ? AND settlement_status = 'settled' AND payout_id IS NULL",
                sql_params![&po.id, cx.now, &cx.acct.id, cx.acct.livemode, currency],
            ));
            writes.extend(w);
        }
    }
    if rows
        .iter()
        .any(|r| r[1].as_i64() != Some(0) || r[2].as_i64() != Some(0))
    {
        writes.push(steps::schedule(&cx.acct, &Step::Payouts, next_midnight(due), cx.now));
    }
    Ok(writes)
}

/// Scheduled step: a payout goes in transit, then arrives (`paid`) or is refused by the bank.
pub async fn step<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: mut po, version }) = load::<Payout, _, _>(cx, "payouts", "", id).await? else {
        return Ok(vec![]);
    };
    let mut writes = Vec::new();
    let event = match po.status {
        PayoutStatus::Pending => {
            po.status = PayoutStatus::InTransit;
            writes.push(steps::schedule(
                &cx.acct,
                &Step::PayoutStep(po.id.clone()),
                po.arrival_date,
                cx.now,
            ));
            EventType::PayoutUpdated
        }
        PayoutStatus::InTransit if cx.now < po.arrival_date => {
            return Ok(vec![steps::schedule(
                &cx.acct,
                &Step::PayoutStep(po.id.clone()),
                po.arrival_date,
                cx.now,
            )]);
        }
        PayoutStatus::InTransit if po.destination == "ba_test_failure" => {
            let txn = cx.id("txn_");
            po.status = PayoutStatus::Failed;
            po.failure_code = Some("account_closed".into());
            po.failure_message = Some("The bank account has been closed.".into());
            po.failure_balance_transaction = Some(txn.clone());
            writes.extend(crate::flows::post_txn(
                &cx.acct,
                &NewTxn {
                    id: &txn,
                    source_type: SourceType::PayoutFailure,
                    source_id: &po.id,
                    currency: &po.currency,
                    amount: po.amount,
                    fee: 0,
                    description: "Payout failure",
                    payout_id: None,
                    created: cx.now,
                },
            ));
            // The returned money is available again: the schedule pays it out at its next batch.
            writes.push(steps::schedule_once(
                &cx.acct,
                &Step::Payouts,
                next_midnight(cx.now),
                cx.now,
            ));
            EventType::PayoutFailed
        }
        PayoutStatus::InTransit => {
            po.status = PayoutStatus::Paid;
            writes.extend(ledger::record_transfer(
                &cx.acct,
                &po.id,
                &po.currency,
                &[
                    (LedgerAccount::PayoutsInTransit, -po.amount),
                    (LedgerAccount::MerchantBank, po.amount),
                ],
                cx.now,
            ));
            EventType::PayoutPaid
        }
        PayoutStatus::Paid | PayoutStatus::Failed => return Ok(vec![]),
    };
    let data = to_json(&po);
    writes.extend(guarded_update(
        "payouts",
        "status = ?, data = ?",
        sql_params![po.status.as_str(), data.to_string()],
        &po.id,
        version,
    ));
    writes.extend(events::record(cx.env, &cx.acct, event, cx.now, &data));
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let monday = 1_763_942_400; // 2025-11-24 00:00 UTC, a Monday
        assert!(selects("daily", monday));
        assert!(selects("weekly", monday));
        assert!(!selects("weekly", monday + DAY));
        assert!(!selects("monthly", monday));
        assert!(selects("monthly", 1_764_547_200)); // 2025-12-01
        assert!(!selects("manual", monday));
    }
}
