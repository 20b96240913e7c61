//! Subscriptions over time: a period's invoice (drafted, finalized and, when automatic,
//! charged), the renewal step at each period end, the expiry of an unpaid first invoice, and
//! what a paid invoice does to its subscription. The handlers and the scheduled steps call these.

use crate::auth::Account;
use crate::context::Ctx;
use crate::domain::invoice::{self, Draft};
use crate::domain::subscription::{self as rules, item_amount, period_end_after};
use crate::domain::usage;
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::flows::invoice::{self as invoices, Missing};
use crate::flows::usage as usage_store;
use crate::money::min_amount;
use crate::objects::billing::{
    CollectionMethod, Invoice, InvoiceLine, InvoiceStatus, Period, Subscription, SubscriptionItem, SubscriptionStatus,
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
    writes.extend(
        sub.items
            .data
            .iter()
            .map(|i| usage_store::insert_item(cx, &sub.id, &i.id)),
    );
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

/// A line of one of `sub`'s invoices.
pub struct Line<'a> {
    pub amount: i64,
    pub description: String,
    pub item: Option<&'a SubscriptionItem>,
    pub quantity: i64,
    pub period: (i64, i64),
    pub proration: bool,
}

impl Line<'_> {
    pub fn build<D: Db, E: Env>(self, cx: &Ctx<'_, D, E>, sub: &Subscription) -> InvoiceLine {
        InvoiceLine {
            id: cx.id("il_"),
            object: "line_item".into(),
            amount: self.amount,
            currency: sub.currency.clone(),
            description: Some(self.description),
            price: self.item.map(|i| i.price.id.clone()),
            quantity: self.quantity,
            period: Period {
                start: self.period.0,
                end: self.period.1,
            },
            proration: self.proration,
            subscription_item: self.item.map(|i| i.id.clone()),
        }
    }
}

/// The name of an item's price on its lines: the nickname, else the id.
pub fn price_name(item: &SubscriptionItem) -> &str {
    item.price.nickname.as_deref().unwrap_or(&item.price.id)
}

fn overflow(sub: &Subscription) -> ApiError {
    ApiError::internal(format!("subscription {} overflows", sub.id))
}

/// One line per licensed item, billing the period `[start, end)` in advance.
pub fn item_lines<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &Subscription,
    period: (i64, i64),
) -> ApiResult<Vec<InvoiceLine>> {
    let mut lines = Vec::with_capacity(sub.items.data.len());
    for item in sub.items.data.iter().filter(|i| !rules::is_metered(i)) {
        let amount = item_amount(&item.price, item.quantity).ok_or_else(|| overflow(sub))?;
        let line = Line {
            amount,
            description: format!("{} × {}", item.quantity, price_name(item)),
            item: Some(item),
            quantity: item.quantity,
            period,
            proration: false,
        };
        lines.push(line.build(cx, sub));
    }
    Ok(lines)
}

/// One line per metered item billing its usage over `[current_period_start, until)` (none
/// while trialing: usage in a trial is free). So far in the period is `until` = its end: a
/// record may be timestamped a little ahead of the clock.
pub async fn usage_lines<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &Subscription,
    until: i64,
) -> ApiResult<Vec<InvoiceLine>> {
    let metered: Vec<&SubscriptionItem> = sub.items.data.iter().filter(|i| rules::is_metered(i)).collect();
    item_usage_lines(cx, sub, &metered, (sub.current_period_start, until)).await
}

/// Lines billing `items`' usage over `period` (their own quantity, by aggregate_usage).
pub async fn item_usage_lines<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &Subscription,
    items: &[&SubscriptionItem],
    period: (i64, i64),
) -> ApiResult<Vec<InvoiceLine>> {
    let mut lines = Vec::new();
    if sub.status == SubscriptionStatus::Trialing {
        return Ok(lines);
    }
    for item in items {
        let quantity = usage_store::quantity(cx, item, period).await?;
        let (amount, description) = usage_priced(sub, item, quantity)?;
        let line = Line {
            amount,
            description,
            item: Some(item),
            quantity,
            period,
            proration: false,
        };
        lines.push(line.build(cx, sub));
    }
    Ok(lines)
}

/// What `quantity` of a metered item's usage costs, and its line's description.
fn usage_priced(sub: &Subscription, item: &SubscriptionItem, quantity: i64) -> ApiResult<(i64, String)> {
    let amount = item_amount(&item.price, quantity).ok_or_else(|| overflow(sub))?;
    Ok((amount, format!("Usage: {quantity} × {}", price_name(item))))
}

/// Proration lines for the rest of the current period: a credit for the unused time of each
/// licensed item of `items` (`sign` -1), or a charge for the time left (`sign` 1). Items whose
/// share is 0 make no line.
pub fn prorations<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &Subscription,
    items: &[SubscriptionItem],
    sign: i64,
) -> ApiResult<Vec<InvoiceLine>> {
    let period = (sub.current_period_start, sub.current_period_end);
    let mut lines = Vec::new();
    for item in items.iter().filter(|i| !rules::is_metered(i)) {
        let full = item_amount(&item.price, item.quantity).ok_or_else(|| overflow(sub))?;
        let share = rules::prorate(full, period, cx.now);
        if share == 0 {
            continue;
        }
        let what = if sign < 0 {
            "Unused time on"
        } else {
            "Remaining time on"
        };
        let line = Line {
            amount: sign * share,
            description: format!("{what} {} × {}", item.quantity, price_name(item)),
            item: Some(item),
            quantity: item.quantity,
            period: (cx.now, sub.current_period_end),
            proration: true,
        };
        lines.push(line.build(cx, sub));
    }
    Ok(lines)
}

/// A draft of `lines` and what `sub` has pending (taken off it) for `[start, end)`; it becomes
/// `sub.latest_invoice`.
pub fn draft<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &mut Subscription,
    mut lines: Vec<InvoiceLine>,
    (start, end): (i64, i64),
) -> ApiResult<Invoice> {
    lines.append(&mut sub.pending_invoice_items);
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
    .ok_or_else(|| overflow(sub))?;
    sub.latest_invoice = Some(draft.id.clone());
    Ok(draft)
}

/// Invoices `lines` and what `sub` has pending at once: [`draft`] then [`collect`].
pub async fn bill<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &mut Subscription,
    lines: Vec<InvoiceLine>,
    period: (i64, i64),
    dunning: bool,
) -> ApiResult<Billed> {
    let d = draft(cx, sub, lines, period)?;
    let (_, mut writes) = invoices::insert(cx, &d);
    let mut billed = collect(cx, sub, d, None, dunning).await?;
    writes.append(&mut billed.writes);
    billed.writes = writes;
    Ok(billed)
}

/// Finalizes `sub`'s draft `d` (stored at `version`; None: inserted in this batch) and charges
/// it if the subscription collects automatically (and is not `unpaid`: its invoices wait for
/// the customer). What cannot be collected now (a credit, or less than the currency's minimum
/// charge) is carried: a line takes it off this invoice and it is pending on `sub` again. With
/// `dunning`, a failed charge is retried on the environment's schedule; the first invoice's is
/// not (the subscription is `incomplete` and expires), nor a final one's.
pub async fn collect<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    sub: &mut Subscription,
    mut d: Invoice,
    version: Option<i64>,
    dunning: bool,
) -> ApiResult<Billed> {
    let carried = invoice::uncollectable(d.total, min_amount(&sub.currency));
    if carried != 0 {
        let carry = |amount, description: &str| Line {
            amount,
            description: description.into(),
            item: None,
            quantity: 1,
            period: (cx.now, cx.now),
            proration: false,
        };
        d.lines
            .data
            .push(carry(-carried, "Carried to the next invoice").build(cx, sub));
        d = invoice::with_lines(&d).ok_or_else(|| overflow(sub))?;
        let pending = carry(carried, "Carried from an earlier invoice").build(cx, sub);
        sub.pending_invoice_items.push(pending);
    }
    let mut writes = Vec::new();
    let mut t = invoice::finalize(&d, cx.now)?;
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
        if t.invoice.status == InvoiceStatus::Open && dunning {
            (exhausted, retry) = crate::flows::dunning::after_failure(cx, &mut t.invoice).await?;
        }
    }
    let (_, saved) = invoices::save(cx, version, &t);
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

/// `sub` once a non-first invoice of it was `billed` (its status before: `was`): active, past
/// due, or what dunning left when it was over at once.
pub fn after_billed(
    sub: Subscription,
    was: SubscriptionStatus,
    first: bool,
    billed: &Billed,
    now: i64,
) -> Subscription {
    let mut next = sub;
    next.status = status_after(was, first, &billed.invoice);
    match billed.exhausted {
        Some(status) => rules::after_dunning(&next, status, now),
        None => next,
    }
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
    // Usage of the period that ends (none after a trial: usage in a trial is free).
    let usage = usage_lines(&at, &sub, boundary).await?;
    if sub.cancel_at_period_end {
        next.status = SubscriptionStatus::Canceled;
        next.ended_at = Some(at.now);
        let mut last = Vec::new();
        if !usage.is_empty() || !next.pending_invoice_items.is_empty() {
            let period = (sub.current_period_start, boundary);
            last = bill(&at, &mut next, usage, period, false).await?.writes;
        }
        let (_, mut writes) = save(&at, version, &next, &[EventType::SubscriptionDeleted]);
        writes.extend(last);
        return Ok(writes);
    }
    let end = period_end_after(sub.billing_cycle_anchor, sub.interval, sub.interval_count, boundary);
    next.current_period_start = boundary;
    next.current_period_end = end;
    let mut lines = item_lines(&at, &next, (boundary, end))?;
    let mut writes;
    if usage.is_empty() {
        let billed = bill(&at, &mut next, lines, (boundary, end), true).await?;
        next = after_billed(next, sub.status, false, &billed, at.now);
        writes = save(&at, version, &next, &[change_event(&next)]).1;
        writes.extend(billed.writes);
    } else {
        // Usage of the closed period may still come in: its invoice stays a draft for the grace
        // window, then `finalize_step` counts the usage again, finalizes and charges it.
        lines.extend(usage);
        let d = draft(&at, &mut next, lines, (boundary, end))?;
        writes = save(&at, version, &next, &[EventType::SubscriptionUpdated]).1;
        writes.extend(invoices::insert(&at, &d).1);
        let finalize = Step::InvoiceFinalize(d.id.clone());
        writes.push(steps::schedule(
            &at.acct,
            &finalize,
            boundary + usage::GRACE_SECS,
            at.now,
        ));
    }
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

/// The step at the end of a metered renewal's grace window: [`finalize_draft`] at its time.
pub async fn finalize_step<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, due_at: i64) -> ApiResult<Vec<Stmt>> {
    let at = cx.at(due_at.min(cx.now));
    Ok(finalize_draft(&at, id)
        .await?
        .map(|(_, writes)| writes)
        .unwrap_or_default())
}

/// Finalizes and charges the subscription draft `id` (a metered renewal's), with its usage
/// lines counted again (records that came in during the grace window count), and moves the
/// subscription as a renewal's charge does. None if it is not a subscription's draft.
pub async fn finalize_draft<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Option<(Invoice, Vec<Stmt>)>> {
    let Some(Loaded { obj: inv, version }) = load::<Invoice, _, _>(cx, "invoices", "", id).await? else {
        return Ok(None);
    };
    let Some(sub_id) = inv.subscription.clone().filter(|_| inv.status == InvoiceStatus::Draft) else {
        return Ok(None);
    };
    let Some(Loaded {
        obj: sub,
        version: sub_version,
    }) = load::<Subscription, _, _>(cx, "subscriptions", "", &sub_id).await?
    else {
        return Ok(None);
    };
    let mut d = inv;
    for line in d.lines.data.iter_mut().filter(|l| !l.proration) {
        let item = sub
            .items
            .data
            .iter()
            .find(|i| line.subscription_item.as_deref() == Some(&i.id) && rules::is_metered(i));
        if let Some(item) = item {
            let period = (line.period.start, line.period.end);
            line.quantity = usage_store::quantity(cx, item, period).await?;
            let (amount, description) = usage_priced(&sub, item, line.quantity)?;
            line.amount = amount;
            line.description = Some(description);
        }
    }
    let d = invoice::with_lines(&d).ok_or_else(|| overflow(&sub))?;
    let mut next = sub.clone();
    let billed = collect(cx, &mut next, d, Some(version), !sub.status.ended()).await?;
    if !sub.status.ended() {
        next = after_billed(next, sub.status, false, &billed, cx.now);
    }
    // Saved even unchanged: its version moves on, so usage checked against it re-runs.
    let kinds = if next.status == sub.status {
        Vec::new()
    } else {
        vec![change_event(&next)]
    };
    let mut writes = save(cx, sub_version, &next, &kinds).1;
    writes.extend(billed.writes);
    if next.status.ended() && !sub.status.ended() {
        writes.extend(unschedule_all(&cx.acct, &next));
    }
    Ok(Some((billed.invoice, writes)))
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
pub fn change_event(next: &Subscription) -> EventType {
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
