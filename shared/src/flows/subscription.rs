//! Subscriptions over time: a period's invoice (drafted, finalized and, when automatic,
//! charged), the renewal step at each period end, the expiry of an unpaid first invoice, and
//! what a paid invoice does to its subscription. The handlers and the scheduled steps call these.

use crate::context::Ctx;
use crate::domain::invoice::{self, Draft};
use crate::domain::subscription::{self as rules, item_amount, period_end_after};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::flows::invoice::{self as invoices, Missing};
use crate::objects::billing::{
    CollectionMethod, Invoice, InvoiceLine, InvoiceStatus, Period, Subscription, SubscriptionStatus,
};
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, guarded_update, load, to_json};
use serde_json::Value;

/// How long a first invoice may stay unpaid before the subscription is `incomplete_expired`.
pub const INCOMPLETE_EXPIRY_SECS: i64 = 23 * 3600;

/// The writes of a new subscription: its row and `subscription.created`.
pub fn insert<D: Db, E: Env>(cx: &Ctx<'_, D, E>, sub: &Subscription) -> (Value, Vec<Stmt>) {
    let data = to_json(sub);
    let mut writes = vec![Stmt::new(
        "INSERT INTO subscriptions (id, account_id, livemode, customer_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &sub.id,
            &cx.acct.id,
            cx.acct.livemode,
            &sub.customer,
            sub.status.as_str(),
            sub.created,
            data.to_string()
        ],
    )];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::SubscriptionCreated,
        cx.now,
        &data,
    ));
    (data, writes)
}

/// The writes of a change: the row behind its version guard, and `kinds` of events.
pub fn save<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    version: i64,
    sub: &Subscription,
    kinds: &[EventType],
) -> (Value, Vec<Stmt>) {
    let data = to_json(sub);
    let mut writes: Vec<Stmt> = guarded_update(
        "subscriptions",
        "status = ?, data = ?",
        sql_params![sub.status.as_str(), data.to_string()],
        &sub.id,
        version,
    )
    .into();
    writes.extend(
        kinds
            .iter()
            .flat_map(|k| events::record(cx.env, &cx.acct, *k, cx.now, &data)),
    );
    (data, writes)
}

/// The invoice of `sub`'s period `[start, end)`: one line per item, finalized, and charged if
/// the subscription collects automatically. Returns it as it ends up, with its writes (the
/// invoice, its events, the payment's).
pub async fn bill_period<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &Subscription,
    (start, end): (i64, i64),
) -> ApiResult<(Invoice, Vec<Stmt>)> {
    let mut lines = Vec::with_capacity(sub.items.data.len());
    for item in &sub.items.data {
        let amount = item_amount(&item.price, item.quantity)
            .ok_or_else(|| ApiError::internal(format!("subscription {} overflows", sub.id)))?;
        let name = item.price.nickname.as_deref().unwrap_or(&item.price.id);
        lines.push(InvoiceLine {
            id: cx.id("il_"),
            object: "line_item".into(),
            amount,
            currency: sub.currency.clone(),
            description: Some(format!("{} × {name}", item.quantity)),
            price: Some(item.price.id.clone()),
            quantity: item.quantity,
            period: Period { start, end },
            proration: false,
        });
    }
    let draft = invoice::draft(Draft {
        id: cx.id("inv_"),
        customer: sub.customer.clone(),
        subscription: Some(sub.id.clone()),
        collection_method: sub.collection_method,
        currency: sub.currency.clone(),
        lines,
        days_until_due: sub.days_until_due,
        default_payment_method: None,
        description: None,
        metadata: Default::default(),
        livemode: cx.acct.livemode,
        period: (start, end),
        now: cx.now,
    })
    .ok_or_else(|| ApiError::internal(format!("subscription {} overflows", sub.id)))?;
    let (_, mut writes) = invoices::insert(cx, &draft);
    let mut t = invoice::finalize(&draft, cx.now)?;
    if t.invoice.status == InvoiceStatus::Open && sub.collection_method == CollectionMethod::ChargeAutomatically {
        let (charged, payment_writes) =
            invoices::charge(cx, t, None, sub.default_payment_method.as_deref(), Missing::Fail).await?;
        t = charged;
        writes.extend(payment_writes);
    }
    let (_, saved) = invoices::save(cx, None, &t);
    writes.extend(saved);
    Ok((t.invoice, writes))
}

/// The status a period's invoice leaves: paid (or sent, to be paid by the customer) is active; a
/// failed charge is `incomplete` for the first invoice, `past_due` for a renewal.
pub fn status_after(status: SubscriptionStatus, first: bool, inv: &Invoice) -> SubscriptionStatus {
    let paid = inv.status == InvoiceStatus::Paid || inv.collection_method == CollectionMethod::SendInvoice;
    rules::after_charge(status, first, paid)
}

/// The step at a period end: end the subscription (`cancel_at_period_end`), or start the next
/// period and bill it. Runs at the boundary's time, however late the scheduler is, so a clock
/// advance of a year bills twelve months each on its own date.
pub async fn renew<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: sub, version }) = load::<Subscription, _, _>(cx, "subscriptions", "", id).await? else {
        return Ok(Vec::new());
    };
    if sub.status.ended() {
        return Ok(Vec::new());
    }
    let boundary = sub.current_period_end;
    let at = Ctx {
        db: cx.db,
        env: cx.env,
        acct: cx.acct.clone(),
        now: boundary.min(cx.now),
        wall: cx.wall,
    };
    let mut next = sub.clone();
    if sub.cancel_at_period_end {
        next.status = SubscriptionStatus::Canceled;
        next.ended_at = Some(at.now);
        return Ok(save(&at, version, &next, &[EventType::SubscriptionDeleted]).1);
    }
    let end = period_end_after(sub.billing_cycle_anchor, sub.interval, sub.interval_count, boundary);
    next.current_period_start = boundary;
    next.current_period_end = end;
    let (inv, invoice_writes) = bill_period(&at, &next, (boundary, end)).await?;
    next.latest_invoice = Some(inv.id.clone());
    next.status = status_after(sub.status, false, &inv);
    let (_, mut writes) = save(&at, version, &next, &[EventType::SubscriptionUpdated]);
    writes.extend(invoice_writes);
    writes.push(steps::schedule(
        &at.acct,
        &Step::SubscriptionRenew(id.to_string()),
        end,
        at.now,
    ));
    Ok(writes)
}

/// The step 23 hours after a declined first charge: still unpaid, the subscription is
/// `incomplete_expired` and its invoice void.
pub async fn expire<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: sub, version }) = load::<Subscription, _, _>(cx, "subscriptions", "", id).await? else {
        return Ok(Vec::new());
    };
    if sub.status != SubscriptionStatus::Incomplete {
        return Ok(Vec::new());
    }
    let mut next = sub.clone();
    next.status = SubscriptionStatus::IncompleteExpired;
    next.ended_at = Some(cx.now);
    let (_, mut writes) = save(cx, version, &next, &[EventType::SubscriptionUpdated]);
    if let Some(inv_id) = &sub.latest_invoice
        && let Some(Loaded { obj: inv, version }) = load::<Invoice, _, _>(cx, "invoices", "", inv_id).await?
        && let Ok(t) = invoice::void(&inv, cx.now)
    {
        writes.extend(invoices::save(cx, Some(version), &t).1);
    }
    writes.push(steps::unschedule(&cx.acct, &Step::SubscriptionRenew(id.to_string())));
    Ok(writes)
}

/// After one of its invoices is paid: an incomplete or past-due subscription is active again.
pub async fn invoice_paid<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: sub, version }) = load::<Subscription, _, _>(cx, "subscriptions", "", id).await? else {
        return Ok(Vec::new());
    };
    let status = rules::invoice_paid(sub.status);
    if status == sub.status {
        return Ok(Vec::new());
    }
    let mut next = sub;
    next.status = status;
    Ok(save(cx, version, &next, &[EventType::SubscriptionUpdated]).1)
}
