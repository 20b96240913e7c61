//! Subscriptions over time: a period's invoice (drafted, finalized and, when automatic,
//! charged), the renewal step at each period end, the expiry of an unpaid first invoice, and
//! what a paid invoice does to its subscription. The handlers and the scheduled steps call these.

use crate::auth::Account;
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

/// A period's invoice as it ends up, and its writes (the invoice, its events, the payment's,
/// its retry).
pub struct Billed {
    pub invoice: Invoice,
    /// Dunning is over at once (a schedule without retries): the subscription's new status.
    pub exhausted: Option<SubscriptionStatus>,
    pub writes: Vec<Stmt>,
}

/// The invoice of `sub`'s period `[start, end)`: one line per item, finalized, and charged if
/// the subscription collects automatically (and is not `unpaid`: its invoices wait for the
/// customer). A renewal's failed charge starts dunning; the `first` invoice's does not (the
/// subscription is `incomplete` and expires).
pub async fn bill_period<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &Subscription,
    (start, end): (i64, i64),
    first: bool,
) -> ApiResult<Billed> {
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
    let mut exhausted = None;
    let mut retry = Vec::new();
    if t.invoice.status == InvoiceStatus::Open
        && sub.collection_method == CollectionMethod::ChargeAutomatically
        && sub.status != SubscriptionStatus::Unpaid
    {
        let (charged, payment_writes) =
            invoices::charge(cx, t, None, sub.default_payment_method.as_deref(), Missing::Fail).await?;
        t = charged;
        writes.extend(payment_writes);
        if t.invoice.status == InvoiceStatus::Open && !first {
            (exhausted, retry) = crate::flows::dunning::after_failure(cx, &mut t.invoice).await?;
        }
    }
    let (_, saved) = invoices::save(cx, None, &t);
    writes.extend(saved);
    writes.extend(retry);
    Ok(Billed {
        invoice: t.invoice,
        exhausted,
        writes,
    })
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
    let at = cx.at(boundary.min(cx.now));
    let mut next = sub.clone();
    if sub.cancel_at_period_end {
        next.status = SubscriptionStatus::Canceled;
        next.ended_at = Some(at.now);
        return Ok(save(&at, version, &next, &[EventType::SubscriptionDeleted]).1);
    }
    let end = period_end_after(sub.billing_cycle_anchor, sub.interval, sub.interval_count, boundary);
    next.current_period_start = boundary;
    next.current_period_end = end;
    let billed = bill_period(&at, &next, (boundary, end), false).await?;
    next.latest_invoice = Some(billed.invoice.id.clone());
    next.status = status_after(sub.status, false, &billed.invoice);
    if let Some(status) = billed.exhausted {
        next = rules::after_dunning(&next, status, at.now);
    }
    let (_, mut writes) = save(&at, version, &next, &[change_event(&next)]);
    writes.extend(billed.writes);
    if !next.status.ended() {
        writes.push(steps::schedule(
            &at.acct,
            &Step::SubscriptionRenew(id.to_string()),
            end,
            at.now,
        ));
    }
    Ok(writes)
}

/// The writes of dunning giving up on one of `sub`'s invoices (`status`: the settings'
/// `after_final_failure`). A canceled subscription renews no more.
pub fn dunning_over<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: Subscription,
    version: i64,
    status: SubscriptionStatus,
) -> Vec<Stmt> {
    let next = rules::after_dunning(&sub, status, cx.now);
    if next == sub {
        return Vec::new();
    }
    let mut writes = save(cx, version, &next, &[change_event(&next)]).1;
    if next.status.ended() {
        writes.extend(unschedule_all(&cx.acct, &next));
    }
    writes
}

/// The event of a change: `subscription.deleted` once canceled, else `subscription.updated`.
fn change_event(next: &Subscription) -> EventType {
    if next.status == SubscriptionStatus::Canceled {
        EventType::SubscriptionDeleted
    } else {
        EventType::SubscriptionUpdated
    }
}

/// Nothing of an ended subscription is left to run: its renewal, expiry, trial notice and its
/// latest invoice's retry are unscheduled (each a no-op if it is not scheduled).
pub fn unschedule_all(acct: &Account, sub: &Subscription) -> Vec<Stmt> {
    let id = || sub.id.clone();
    let mut steps = vec![
        Step::SubscriptionRenew(id()),
        Step::SubscriptionExpire(id()),
        Step::TrialWillEnd(id()),
    ];
    steps.extend(sub.latest_invoice.clone().map(Step::InvoiceRetry));
    steps.iter().map(|s| steps::unschedule(acct, s)).collect()
}

/// The step three days before a trial ends: `subscription.trial_will_end`, if it is still
/// trialing toward the same end (a canceled subscription's step was unscheduled).
pub async fn trial_will_end<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, due_at: i64) -> ApiResult<Vec<Stmt>> {
    let cx = &cx.at(due_at.min(cx.now));
    let Some(Loaded { obj: sub, .. }) = load::<Subscription, _, _>(cx, "subscriptions", "", id).await? else {
        return Ok(Vec::new());
    };
    if sub.status != SubscriptionStatus::Trialing {
        return Ok(Vec::new());
    }
    Ok(trial_will_end_event(cx, &sub))
}

/// `subscription.trial_will_end` with the subscription as it is.
pub fn trial_will_end_event<D: Db, E: Env>(cx: &Ctx<'_, D, E>, sub: &Subscription) -> Vec<Stmt> {
    events::record(
        cx.env,
        &cx.acct,
        EventType::SubscriptionTrialWillEnd,
        cx.now,
        &to_json(sub),
    )
    .into()
}

/// When `subscription.trial_will_end` is due: three days before the trial ends.
pub const TRIAL_WILL_END_SECS: i64 = 3 * 86_400;

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
    writes.extend(unschedule_all(&cx.acct, &next));
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
