//! Metered usage over storage: which subscription an item bills for, the records of a period
//! and its quantity, and the writes of new records. The rules are [`crate::domain::usage`].

use crate::context::Ctx;
use crate::domain::subscription::is_metered;
use crate::domain::usage::{self as rules, Record};
use crate::error::{ApiError, ApiResult};
use crate::objects::billing::{Invoice, InvoiceStatus, Subscription, SubscriptionItem, UsageAction, UsageRecord};
use crate::port::{Db, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;
use crate::store::{Loaded, load, to_json};

/// A metered item that takes usage, with its subscription as loaded.
pub struct Target {
    pub sub: Subscription,
    pub version: i64,
    pub item: SubscriptionItem,
    /// The closed period whose invoice is still a draft (its usage is still accepted), once
    /// asked for.
    grace: Option<Option<(i64, i64)>>,
}

/// The metered item `id` (the parameter `param`) of a subscription that has not ended.
pub async fn target<D: Db, E: Env>(cx: &Ctx<'_, D, E>, param: &str, id: &str) -> ApiResult<Target> {
    let missing = || ApiError::invalid(param, "resource_missing", format!("No such subscription item: '{id}'."));
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT subscription_id FROM subscription_items WHERE id = ? AND account_id = ? AND livemode = ?",
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let Some(sub_id) = rows.first().and_then(|r| r[0].as_str().map(str::to_string)) else {
        return Err(missing());
    };
    let Some(Loaded { obj: sub, version }) = load::<Subscription, _, _>(cx, "subscriptions", "", &sub_id).await? else {
        return Err(missing());
    };
    if sub.status.ended() {
        return Err(ApiError::invalid(
            param,
            "subscription_canceled",
            format!(
                "Subscription {} is {}; it takes no more usage.",
                sub.id,
                sub.status.as_str()
            ),
        ));
    }
    let item = sub
        .items
        .data
        .iter()
        .find(|i| i.id == id)
        .cloned()
        .ok_or_else(missing)?;
    if !is_metered(&item) {
        return Err(ApiError::invalid(
            param,
            "item_not_metered",
            format!(
                "Subscription item {id} is licensed: its quantity is billed; change it with POST /v1/subscriptions/{}.",
                sub.id
            ),
        ));
    }
    Ok(Target {
        sub,
        version,
        item,
        grace: None,
    })
}

impl Target {
    /// Checks a record's `timestamp` (named `param` in the error). Returns whether it falls in
    /// the closed period whose invoice is still a draft.
    pub async fn check<D: Db, E: Env>(&mut self, cx: &Ctx<'_, D, E>, param: &str, timestamp: i64) -> ApiResult<bool> {
        let current = self.sub.current_period_start;
        let grace = if timestamp < current {
            self.grace(cx).await?
        } else {
            None
        };
        rules::check_timestamp(timestamp, cx.now, self.item.created, current, grace)
            .map_err(|(code, message)| ApiError::invalid(param, code, message))?;
        Ok(timestamp < current)
    }

    async fn grace<D: Db, E: Env>(&mut self, cx: &Ctx<'_, D, E>) -> ApiResult<Option<(i64, i64)>> {
        if let Some(g) = self.grace {
            return Ok(g);
        }
        let mut g = None;
        if let Some(inv_id) = &self.sub.latest_invoice
            && let Some(Loaded { obj: inv, .. }) = load::<Invoice, _, _>(cx, "invoices", "", inv_id).await?
            && inv.status == InvoiceStatus::Draft
        {
            g = inv
                .lines
                .data
                .iter()
                .find(|l| l.subscription_item.as_deref() == Some(&self.item.id))
                .map(|l| (l.period.start, l.period.end));
        }
        self.grace = Some(g);
        Ok(g)
    }

    /// The statements that keep new records consistent with the subscription as checked: they
    /// apply only if it has not changed since (a renewal, a change, a finalized invoice re-runs
    /// the request). A record for a closed period also moves its version on, so a finalizing
    /// invoice that read the usage before it is re-run and bills it.
    pub fn guard(&self, closed_period: bool) -> [Stmt; 2] {
        [
            Stmt::new(
                "UPDATE subscriptions SET version = version + ? WHERE id = ? AND version = ?",
                sql_params![i64::from(closed_period), &self.sub.id, self.version],
            ),
            Stmt::new(GUARD_ONE_SQL, vec![]),
        ]
    }
}

/// The record already stored for `item` under `identifier`, if any.
pub async fn by_identifier<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    item: &str,
    identifier: &str,
) -> ApiResult<Option<UsageRecord>> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT data FROM usage_records WHERE subscription_item = ? AND identifier = ?",
            sql_params![item, identifier],
        ))
        .await?;
    rows.first()
        .and_then(|r| r[0].as_str().map(serde_json::from_str))
        .transpose()
        .map_err(|_| ApiError::internal("unreadable usage record"))
}

/// The write of a new record. One with an identifier that another request stored first aborts
/// the batch (the request re-runs and answers the stored record).
pub fn insert<D: Db, E: Env>(cx: &Ctx<'_, D, E>, rec: &UsageRecord) -> Vec<Stmt> {
    let mut writes = vec![Stmt::new(
        "INSERT INTO usage_records (id, account_id, livemode, subscription_item, timestamp, action, quantity, identifier, created, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        sql_params![
            &rec.id,
            &cx.acct.id,
            cx.acct.livemode,
            &rec.subscription_item,
            rec.timestamp,
            rec.action.as_str(),
            rec.quantity,
            rec.identifier.clone(),
            rec.created,
            to_json(rec).to_string()
        ],
    )];
    if rec.identifier.is_some() {
        writes.push(Stmt::new(GUARD_ONE_SQL, vec![]));
    }
    writes
}

/// The records of `item` timestamped in `[start, end)`, in the order they were received.
pub async fn records<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    item: &str,
    (start, end): (i64, i64),
) -> ApiResult<Vec<Record>> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT timestamp, action, quantity FROM usage_records WHERE subscription_item = ? AND timestamp >= ? AND timestamp < ? ORDER BY seq",
            sql_params![item, start, end],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Some(Record {
                timestamp: r[0].as_i64()?,
                action: UsageAction::parse(r[1].as_str()?)?,
                quantity: r[2].as_i64()?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::internal("unreadable usage record"))
}

/// The quantity a metered `item` bills for `[start, end)`, by its price's `aggregate_usage`.
pub async fn quantity<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    item: &SubscriptionItem,
    period: (i64, i64),
) -> ApiResult<i64> {
    let records = records(cx, &item.id, period).await?;
    rules::aggregate(rules::mode(item), &records)
        .ok_or_else(|| ApiError::internal(format!("usage of {} overflows", item.id)))
}

/// The row that lets usage find `item`'s subscription.
pub fn insert_item<D: Db, E: Env>(cx: &Ctx<'_, D, E>, sub: &str, item: &str) -> Stmt {
    Stmt::new(
        "INSERT INTO subscription_items (id, account_id, livemode, subscription_id) VALUES (?, ?, ?, ?)",
        sql_params![item, &cx.acct.id, cx.acct.livemode, sub],
    )
}

/// A removed item takes no more usage.
pub fn delete_item(item: &str) -> Stmt {
    Stmt::new("DELETE FROM subscription_items WHERE id = ?", sql_params![item])
}
