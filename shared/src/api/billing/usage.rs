//! Metered usage (`mbu_`): `POST /v1/usage_records` (one record), `POST
//! /v1/usage_records/batch` (up to 100, stored all or none), `GET /v1/usage_records` (an item's
//! records) and `GET /v1/subscription_items/:id/usage_record_summaries` (its usage per period).
//! A record counts toward the period of its `timestamp`, billed when that period ends.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::subscription::period_start_before;
use crate::domain::usage::{aggregate, mode};
use crate::error::{ApiError, ApiResult};
use crate::flows::usage::{self as store, Target};
use crate::objects::billing::{Period, Subscription, UsageAction, UsageRecord, UsageRecordBatch, UsageRecordSummary};
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::store::to_json;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Batch,
    List,
    Summaries,
}

/// The most records one batch takes.
pub const MAX_BATCH: usize = 100;

/// A record's fields, for one record or each of a batch's.
const RECORD: &[Field] = &[
    Field::str("subscription_item", 100)
        .required()
        .doc("A metered `si_` of a subscription that has not ended."),
    Field::int_in("quantity", 0, 1_000_000_000).required(),
    Field::int_in("timestamp", 0, 253_402_300_799)
        .doc("Unix seconds the usage happened; default now. At most 5 minutes ahead of the clock."),
    Field::one_of("action", UsageAction::NAMES)
        .default("\"increment\"")
        .doc("increment: added to the usage at its timestamp; set: replaces it."),
    Field::str("identifier", 100)
        .doc("Makes the record idempotent: another record with it for the same item answers the first."),
];

pub const CREATE: &[Field] = RECORD;

pub const BATCH: &[Field] = &[Field::objects("records", RECORD, MAX_BATCH)
    .required()
    .doc("1 to 100 records, stored all or none.")];

pub const SUMMARIES: &[Field] = &[Field::int_in("limit", 1, MAX_SUMMARIES)
    .default("10")
    .doc("How many periods, newest first.")];

pub const LIST_FILTERS: &[Field] =
    &[Field::str("subscription_item", 100).doc("Required: the item whose records are listed, newest first.")];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => {
            let (records, writes) = record_all(cx, std::slice::from_ref(p)).await?;
            let body = to_json(&records[0]);
            Ok(Outcome::write(body, writes))
        }
        Action::Batch => {
            let all = p.objects("records")?;
            if all.is_empty() {
                return Err(ApiError::missing("records"));
            }
            let (data, writes) = record_all(cx, &all).await?;
            let batch = UsageRecordBatch {
                object: "list".into(),
                data,
            };
            Ok(Outcome::write(to_json(&batch), writes))
        }
        Action::List => {
            let item = p.required_string("subscription_item")?;
            check_owned(cx, &item).await?;
            let filter = " AND subscription_item = ?".to_string();
            super::listed(cx, p, "usage_records", filter, sql_params![item]).await
        }
        Action::Summaries => summaries(cx, id, p).await,
    }
}

/// Checks and writes `records` (errors name each one's fields, `records[3][timestamp]`). Each
/// item is loaded once; one record that is refused refuses all of them. A record whose
/// identifier is stored already answers the stored one and writes nothing.
async fn record_all<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    records: &[Args<'_>],
) -> ApiResult<(Vec<UsageRecord>, Vec<Stmt>)> {
    let mut targets: HashMap<String, (Target, bool)> = HashMap::new();
    let mut out = Vec::with_capacity(records.len());
    let mut writes = Vec::with_capacity(records.len() + 2);
    for r in records {
        let item = r.required_string("subscription_item")?;
        let item_param = r.display("subscription_item");
        if !targets.contains_key(&item) {
            let t = store::target(cx, &item_param, &item).await?;
            targets.insert(item.clone(), (t, false));
        }
        let quantity = r
            .integer("quantity")?
            .ok_or_else(|| ApiError::missing(&r.display("quantity")))?;
        let timestamp = r.integer("timestamp")?.unwrap_or(cx.now);
        let action = match r.one_of("action")?.as_deref() {
            Some("set") => UsageAction::Set,
            _ => UsageAction::Increment,
        };
        let identifier = r.string("identifier")?;
        if let Some(key) = &identifier
            && let Some(stored) = store::by_identifier(cx, &item, key).await?
        {
            out.push(stored);
            continue;
        }
        let (target, closed) = targets.get_mut(&item).expect("loaded above");
        *closed |= target.check(cx, &r.display("timestamp"), timestamp).await?;
        let rec = UsageRecord {
            id: cx.id("mbu_"),
            object: "usage_record".into(),
            subscription_item: item,
            subscription: target.sub.id.clone(),
            quantity,
            timestamp,
            action,
            identifier,
            livemode: cx.acct.livemode,
            created: cx.now,
        };
        writes.extend(store::insert(cx, &rec));
        out.push(rec);
    }
    for (target, closed) in targets.values() {
        writes.extend(target.guard(*closed));
    }
    Ok((out, writes))
}

/// 400 unless `id` is (or was: removed items keep their records) one of the caller's items.
async fn check_owned<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<()> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT 1 FROM subscription_items WHERE id = ? AND account_id = ? AND livemode = ? \
             UNION ALL SELECT 1 FROM usage_records WHERE subscription_item = ? AND account_id = ? AND livemode = ? LIMIT 1",
            sql_params![id, &cx.acct.id, cx.acct.livemode, id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    if rows.is_empty() {
        return Err(ApiError::invalid(
            "subscription_item",
            "resource_missing",
            format!("No such subscription item: '{id}'."),
        ));
    }
    Ok(())
}

/// The most periods a summary list shows.
const MAX_SUMMARIES: i64 = 100;

/// A metered item's usage per billing period, newest first: the current period (so far), then
/// each earlier one back to the item's creation (a trial is one period of its own). `limit`
/// periods (default 10, at most 100), each one indexed range read.
async fn summaries<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let target = store::target(cx, "id", id).await.map_err(|e| {
        if e.code == "resource_missing" {
            ApiError::not_found("id", "subscription item", id)
        } else {
            e
        }
    })?;
    let limit = p.integer("limit")?.unwrap_or(10);
    let (sub, item) = (&target.sub, &target.item);
    let mode = mode(item);
    let mut data = Vec::new();
    let mut period = (sub.current_period_start, sub.current_period_end);
    while data.len() < limit as usize && period.1 > item.created {
        let records = store::records(cx, id, period).await?;
        data.push(to_json(&UsageRecordSummary {
            object: "usage_record_summary".into(),
            subscription_item: id.to_string(),
            period: Period {
                start: period.0,
                end: period.1,
            },
            total_usage: aggregate(mode, &records).unwrap_or(i64::MAX),
            records: records.len() as i64,
        }));
        let Some(before) = previous_period(sub, period.0) else {
            break;
        };
        period = before;
    }
    let url = format!("/v1/subscription_items/{id}/usage_record_summaries");
    Ok(Outcome::read(crate::list::envelope(&url, data, false)))
}

/// The period that ends at `end`: the trial before the first paid period, else one of the
/// anchor's periods. None before the subscription began.
fn previous_period(sub: &Subscription, end: i64) -> Option<(i64, i64)> {
    if end <= sub.created {
        return None;
    }
    if sub.trial_end == Some(end) {
        return Some((sub.trial_start.unwrap_or(sub.created), end));
    }
    let start = period_start_before(sub.billing_cycle_anchor, sub.interval, sub.interval_count, end);
    Some((start.max(sub.created), end))
}
