//! `/v1/subscriptions`: subscribe a customer to recurring prices (a trial, or the first period
//! invoiced and charged at once), list, retrieve, cancel now (optionally with a final invoice)
//! or at the period end; changes are [`super::subscription_update`]. Renewals are
//! the scheduled step [`flows::subscription::renew`], on the account's (sandbox) clock.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::subscription::{self as rules, period_amount, period_end_after};
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::fields;
use crate::flows::{
    self,
    subscription::{INCOMPLETE_EXPIRY_SECS, TRIAL_WILL_END_SECS},
};
use crate::objects::Customer;
use crate::objects::billing::{
    Interval, Price, Subscription, SubscriptionItem, SubscriptionItems, SubscriptionStatus, UsageType,
};
use crate::port::{Db, Env};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, load_param, load_path, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Update,
    Cancel,
}

/// The most items a subscription has.
pub const MAX_ITEMS: usize = 20;
const DAY: i64 = 86_400;

const ITEM: &[Field] = &[
    Field::str("price", 100).required().doc("A recurring `price_`."),
    Field::int_in("quantity", 1, 1_000_000)
        .default("1")
        .doc("Licensed prices only: a metered item counts its usage records."),
];

pub const CREATE: &[Field] = &[
    Field::str("customer", 100).required(),
    Field::objects("items", ITEM, MAX_ITEMS)
        .required()
        .doc("The prices it bills: one currency and one billing interval for all."),
    Field::str("default_payment_method", 100)
        .doc("Charged for its invoices; else the customer's default payment method at the time of each charge."),
    Field::int_in("trial_period_days", 1, 730).doc("A free trial: the first invoice comes when it ends."),
    super::COLLECTION_METHOD,
    super::DAYS_UNTIL_DUE,
    Field::bool("cancel_at_period_end").default("false"),
    Field::metadata(),
];

pub const LIST_FILTERS: &[Field] = &[
    Field::str("customer", 100),
    Field::one_of("status", SubscriptionStatus::NAMES),
    Field::str("price", 100).doc("Only subscriptions with an item of this price."),
];

pub const CANCEL: &[Field] = &[
    Field::bool("at_period_end")
        .default("false")
        .doc("Cancel when the current period ends (it is not renewed) instead of now."),
    Field::bool("invoice_now")
        .default("false")
        .doc("Cancelling now: a final invoice of what is pending (prorations, usage so far) is made and charged."),
    Field::bool("prorate")
        .default("false")
        .doc("With invoice_now: the final invoice credits the unused time of the licensed items."),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let mut filter = String::new();
            let mut filter_params = Vec::new();
            if let Some(c) = p.string("customer")? {
                filter.push_str(" AND customer_id = ?");
                filter_params.extend(sql_params![c]);
            }
            if let Some(s) = p.one_of("status")? {
                filter.push_str(" AND status = ?");
                filter_params.extend(sql_params![s]);
            }
            if let Some(price) = p.string("price")? {
                filter.push_str(
                    " AND EXISTS (SELECT 1 FROM json_each(data, '$.items.data') WHERE json_extract(value, '$.price.id') = ?)",
                );
                filter_params.extend(sql_params![price]);
            }
            super::listed(cx, p, "subscriptions", filter, filter_params).await
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?.obj))),
        Action::Update => super::subscription_update::update(cx, id, p).await,
        Action::Cancel => cancel(cx, id, p).await,
    }
}

pub async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<Subscription>> {
    load_path(cx, "subscriptions", "", "subscription", id).await
}

/// What every item of a subscription shares: its currency and billing interval.
pub struct Terms<'a> {
    pub currency: &'a str,
    pub interval: Interval,
    pub interval_count: i64,
}

/// The recurring price `id` (the parameter `param`), active and on `terms` when the subscription
/// has them already.
pub async fn recurring_price<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    param: &str,
    id: &str,
    terms: Option<&Terms<'_>>,
) -> ApiResult<Price> {
    let price = load_param::<Price, _, _>(cx, "prices", "", "price", param, id)
        .await?
        .obj;
    let refuse = |code, message: String| Err(ApiError::invalid(param, code, message));
    if !price.active {
        return refuse("price_inactive", format!("Price {id} is not active."));
    }
    let Some(recurring) = price.recurring.as_ref() else {
        return refuse(
            "price_not_recurring",
            format!("Price {id} is one-time: put it on an invoice; a subscription takes recurring prices."),
        );
    };
    if let Some(t) = terms {
        if t.currency != price.currency {
            return refuse(
                "currency_mismatch",
                format!(
                    "Price {id} is in {}, the subscription in {}.",
                    price.currency, t.currency
                ),
            );
        }
        if (t.interval, t.interval_count) != (recurring.interval, recurring.interval_count) {
            return refuse(
                "interval_mismatch",
                format!("Price {id} bills on another interval than the subscription's other items."),
            );
        }
    }
    Ok(price)
}

/// A new item from `items[i]` (`price`, and `quantity` for a licensed price; a metered price
/// counts usage records instead, and its quantity is 0).
pub async fn item<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    i: usize,
    it: &Args<'_>,
    terms: Option<&Terms<'_>>,
) -> ApiResult<SubscriptionItem> {
    let id = it.required_string("price")?;
    let price = recurring_price(cx, &format!("items[{i}][price]"), &id, terms).await?;
    let metered = price.recurring.as_ref().map(|r| r.usage_type) == Some(UsageType::Metered);
    let quantity = match (metered, it.integer("quantity")?) {
        (true, Some(_)) => return Err(metered_quantity(i)),
        (true, None) => 0,
        (false, q) => q.unwrap_or(1),
    };
    Ok(SubscriptionItem {
        id: cx.id("si_"),
        object: "subscription_item".into(),
        quantity,
        price,
        created: cx.now,
    })
}

/// A quantity given for a metered item: its usage records are its quantity.
pub fn metered_quantity(i: usize) -> ApiError {
    ApiError::invalid(
        &format!("items[{i}][quantity]"),
        "metered_quantity",
        "A metered item has no quantity: report usage with POST /v1/usage_records.",
    )
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let customer = p.required_string("customer")?;
    load_param::<Customer, _, _>(cx, "customers", " AND deleted = 0", "customer", "customer", &customer).await?;
    let mut items: Vec<SubscriptionItem> = Vec::new();
    for (i, it) in p.objects("items")?.iter().enumerate() {
        let terms = items.first().and_then(|f| {
            let r = f.price.recurring.as_ref()?;
            Some(Terms {
                currency: &f.price.currency,
                interval: r.interval,
                interval_count: r.interval_count,
            })
        });
        let next = item(cx, i, it, terms.as_ref()).await?;
        items.push(next);
    }
    let Some(first) = items.first().map(|i| i.price.clone()) else {
        return Err(ApiError::missing("items"));
    };
    let currency = first.currency.clone();
    super::check_total("items", "A period's total", period_amount(&items), &currency)?;
    let (collection_method, days_until_due) = super::collection(p)?;
    let default_payment_method = super::default_payment_method(cx, p, &customer).await?;
    let recurring = first.recurring.clone().expect("checked recurring");
    let trial_end = p.integer("trial_period_days")?.map(|d| cx.now + d * DAY);
    let anchor = trial_end.unwrap_or(cx.now);
    let mut sub = Subscription {
        id: cx.id("sub_"),
        object: "subscription".into(),
        customer_id: customer.clone(),
        customer,
        status: if trial_end.is_some() {
            SubscriptionStatus::Trialing
        } else {
            SubscriptionStatus::Active
        },
        items: SubscriptionItems {
            object: "list".into(),
            data: items,
            has_more: false,
        },
        currency,
        interval: recurring.interval,
        interval_count: recurring.interval_count,
        collection_method,
        days_until_due,
        default_payment_method,
        billing_cycle_anchor: anchor,
        current_period_start: cx.now,
        current_period_end: trial_end
            .unwrap_or_else(|| period_end_after(anchor, recurring.interval, recurring.interval_count, cx.now)),
        trial_start: trial_end.map(|_| cx.now),
        trial_end,
        cancel_at_period_end: p.boolean("cancel_at_period_end")?.unwrap_or(false),
        canceled_at: None,
        ended_at: None,
        latest_invoice: None,
        pending_invoice_items: Vec::new(),
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let renew = Step::SubscriptionRenew(sub.id.clone());
    let mut after = vec![steps::schedule(&cx.acct, &renew, sub.current_period_end, cx.now)];
    if let Some(end) = trial_end {
        // Three days before the trial ends; a shorter trial is told at once.
        let due = end - TRIAL_WILL_END_SECS;
        if due > cx.now {
            let step = Step::TrialWillEnd(sub.id.clone());
            after.push(steps::schedule(&cx.acct, &step, due, cx.now));
        } else {
            after.extend(flows::subscription::trial_will_end_event(cx, &sub));
        }
    } else {
        let period = (sub.current_period_start, sub.current_period_end);
        let lines = flows::subscription::item_lines(cx, &sub, period)?;
        let billed = flows::subscription::bill(cx, &mut sub, lines, period, false).await?;
        sub.status = flows::subscription::status_after(sub.status, true, &billed.invoice);
        let invoice_writes = billed.writes;
        if sub.status == SubscriptionStatus::Incomplete {
            let expire = Step::SubscriptionExpire(sub.id.clone());
            after.push(steps::schedule(
                &cx.acct,
                &expire,
                cx.now + INCOMPLETE_EXPIRY_SECS,
                cx.now,
            ));
        }
        after.splice(0..0, invoice_writes);
    }
    let (data, mut writes) = flows::subscription::insert(cx, &sub);
    writes.extend(after);
    Ok(Outcome::write(data, writes))
}

/// Cancels now (`subscription.deleted`; nothing renews) or at the period end (the renewal step
/// ends it then). Now with `invoice_now`: a final invoice of what is pending and, with
/// `prorate`, a credit for the licensed items' unused time.
async fn cancel<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj: sub, version } = load(cx, id).await?;
    let invoice_now = p.boolean("invoice_now")?.unwrap_or(false);
    let prorate = p.boolean("prorate")?.unwrap_or(false);
    if prorate && !invoice_now {
        return Err(ApiError::invalid(
            "prorate",
            "parameter_not_allowed",
            "prorate needs invoice_now=true: a canceled subscription has no later invoice to credit.",
        ));
    }
    if p.boolean("at_period_end")?.unwrap_or(false) {
        if invoice_now {
            return Err(ApiError::invalid(
                "invoice_now",
                "parameter_not_allowed",
                "invoice_now is for cancelling now; at the period end the last invoice is made then.",
            ));
        }
        let next = rules::cancel_at_period_end(&sub, cx.now)?;
        let (data, writes) = flows::subscription::save(cx, version, &next, &[EventType::SubscriptionUpdated]);
        return Ok(Outcome::write(data, writes));
    }
    let mut next = rules::cancel_now(&sub, cx.now)?;
    // Unscheduled as the subscription was: its latest invoice's retry, not the final invoice's.
    let mut after = flows::subscription::unschedule_all(&cx.acct, &sub);
    if invoice_now {
        let mut lines = flows::subscription::usage_lines(cx, &sub, sub.current_period_end).await?;
        if prorate && sub.status != SubscriptionStatus::Trialing {
            lines.extend(flows::subscription::prorations(cx, &sub, &sub.items.data, -1)?);
        }
        if !lines.is_empty() || !next.pending_invoice_items.is_empty() {
            let period = (sub.current_period_start, cx.now);
            let billed = flows::subscription::bill(cx, &mut next, lines, period, false).await?;
            after.extend(billed.writes);
        }
    }
    let (data, mut writes) = flows::subscription::save(cx, version, &next, &[EventType::SubscriptionDeleted]);
    writes.extend(after);
    Ok(Outcome::write(data, writes))
}
