//! `POST /v1/subscriptions/:id`: change its items (add one, remove one, a new price or quantity
//! for one), its default payment method, `cancel_at_period_end` or metadata. A mid-period change
//! of what the licensed items cost is billed by `proration_behavior`: `create_prorations` (the
//! default) leaves the credit for the unused time and the charge for the time left pending for
//! the next invoice, `always_invoice` invoices and charges them now, `none` bills nothing. A
//! removed metered item's usage so far is always billed (pending, or now with `always_invoice`).

use super::super::Outcome;
use super::super::operation::{Args, Field};
use super::subscriptions::{MAX_ITEMS, Terms, item, load, metered_quantity, recurring_price};
use crate::context::Ctx;
use crate::domain::subscription::{self as rules, is_metered, period_amount};
use crate::error::{ApiError, ApiResult};
use crate::events::EventType;
use crate::fields;
use crate::flows::{self, usage};
use crate::objects::billing::{Subscription, SubscriptionItem, SubscriptionStatus, UsageType};
use crate::port::{Db, Env, Stmt};
use crate::store::Loaded;

const UPDATE_ITEM: &[Field] = &[
    Field::str("id", 100).doc("The `si_` to change or remove; without it, a new item."),
    Field::str("price", 100).doc("A new item's price, or a licensed item's new price (same currency and interval)."),
    Field::int_in("quantity", 1, 1_000_000).doc("Licensed items only."),
    Field::bool("deleted").doc("With `id`: remove the item."),
];

pub const PRORATION_BEHAVIORS: &[&str] = &["create_prorations", "always_invoice", "none"];

pub const UPDATE: &[Field] = &[
    Field::objects("items", UPDATE_ITEM, MAX_ITEMS).doc("Changes to its items; items not named stay as they are."),
    Field::one_of("proration_behavior", PRORATION_BEHAVIORS)
        .default("\"create_prorations\"")
        .doc("How a mid-period change of the licensed items is billed."),
    Field::str("default_payment_method", 100),
    Field::bool("cancel_at_period_end").doc("true: it ends at the period end; false: it renews again."),
    Field::metadata(),
];

/// What one entry of `items` did: the item before (None: added) and after (None: removed).
struct Change {
    before: Option<SubscriptionItem>,
    after: Option<SubscriptionItem>,
}

pub async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj: sub, version } = load(cx, id).await?;
    p.check_after_load()?;
    rules::check_changeable(&sub)?;
    let behavior = p
        .one_of("proration_behavior")?
        .unwrap_or_else(|| "create_prorations".into());
    let mut next = sub.clone();
    let changes = if p.has("items") {
        change_items(cx, &mut next, p).await?
    } else {
        Vec::new()
    };
    if next.items.data.is_empty() {
        return Err(ApiError::invalid(
            "items",
            "subscription_needs_items",
            "A subscription keeps at least one item: cancel it instead.",
        ));
    }
    if next.items.data.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "items",
            "too_many_items",
            format!("A subscription has at most {MAX_ITEMS} items."),
        ));
    }
    super::check_total(
        "items",
        "A period's total",
        period_amount(&next.items.data),
        &sub.currency,
    )?;
    if p.has("default_payment_method") {
        next.default_payment_method = super::default_payment_method(cx, p, &sub.customer).await?;
    }
    if let Some(at_end) = p.boolean("cancel_at_period_end")? {
        next.cancel_at_period_end = at_end;
        next.canceled_at = at_end.then_some(cx.now);
    }
    if let Some(m) = fields::metadata(p.params())? {
        fields::merge_metadata(&mut next.metadata, m)?;
    }

    let mut lines = Vec::new();
    for c in &changes {
        // A removed metered item's usage so far is owed whatever the proration behaviour.
        if let Some(gone) = c.before.as_ref().filter(|b| is_metered(b) && c.after.is_none()) {
            let period = (sub.current_period_start, sub.current_period_end);
            lines.extend(flows::subscription::item_usage_lines(cx, &sub, &[gone], period).await?);
        }
        // What the entry moves the licensed items' period amount by (a metered item's is 0).
        let amount = |i: &SubscriptionItem| period_amount(std::slice::from_ref(i));
        let licensed_change = c.before.as_ref().map(amount) != c.after.as_ref().map(amount);
        if behavior != "none" && sub.status != SubscriptionStatus::Trialing && licensed_change {
            lines.extend(flows::subscription::prorations(cx, &sub, c.before.as_slice(), -1)?);
            lines.extend(flows::subscription::prorations(cx, &sub, c.after.as_slice(), 1)?);
        }
    }
    let mut after = item_rows(cx, &sub, &changes);
    let mut kinds = vec![EventType::SubscriptionUpdated];
    if behavior == "always_invoice" && (!lines.is_empty() || !next.pending_invoice_items.is_empty()) {
        let period = (cx.now, sub.current_period_end);
        let billed = flows::subscription::bill(cx, &mut next, lines, period, true).await?;
        next = flows::subscription::after_billed(next, sub.status, false, &billed, cx.now);
        kinds = vec![flows::subscription::change_event(&next)];
        if next.status.ended() {
            after.extend(flows::subscription::unschedule_all(&cx.acct, &next));
        }
        after.extend(billed.writes);
    } else {
        next.pending_invoice_items.extend(lines);
    }
    let (data, mut writes) = flows::subscription::save(cx, version, &next, &kinds);
    writes.extend(after);
    Ok(Outcome::write(data, writes))
}

/// Applies `items[]` to `next`'s items, in order, and says what each entry did.
async fn change_items<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    next: &mut Subscription,
    p: &Args<'_>,
) -> ApiResult<Vec<Change>> {
    let mut changes = Vec::new();
    let (currency, interval, interval_count) = (next.currency.clone(), next.interval, next.interval_count);
    let terms = Terms {
        currency: &currency,
        interval,
        interval_count,
    };
    for (i, it) in p.objects("items")?.iter().enumerate() {
        let param = |name: &str| format!("items[{i}][{name}]");
        let Some(si) = it.string("id")? else {
            if it.boolean("deleted")?.unwrap_or(false) {
                return Err(ApiError::missing(&param("id")));
            }
            let added = item(cx, i, it, Some(&terms)).await?;
            next.items.data.push(added.clone());
            changes.push(Change {
                before: None,
                after: Some(added),
            });
            continue;
        };
        let Some(pos) = next.items.data.iter().position(|x| x.id == si) else {
            return Err(ApiError::invalid(
                &param("id"),
                "resource_missing",
                format!("Subscription {} has no item '{si}'.", next.id),
            ));
        };
        let before = next.items.data[pos].clone();
        if it.boolean("deleted")?.unwrap_or(false) {
            next.items.data.remove(pos);
            changes.push(Change {
                before: Some(before),
                after: None,
            });
            continue;
        }
        let mut changed = before.clone();
        if let Some(price) = it.string("price")? {
            let price = recurring_price(cx, &param("price"), &price, Some(&terms)).await?;
            if is_metered(&before) || price.recurring.as_ref().map(|r| r.usage_type) != Some(UsageType::Licensed) {
                return Err(ApiError::invalid(
                    &param("price"),
                    "metered_price_change",
                    "A metered item keeps its price, and a licensed item stays licensed: remove the item (items[][deleted]=true) and add the new price as a new item.",
                ));
            }
            changed.price = price;
        }
        if let Some(q) = it.integer("quantity")? {
            if is_metered(&changed) {
                return Err(metered_quantity(i));
            }
            changed.quantity = q;
        }
        next.items.data[pos] = changed.clone();
        changes.push(Change {
            before: Some(before),
            after: Some(changed),
        });
    }
    Ok(changes)
}

/// The `subscription_items` rows of added and removed items.
fn item_rows<D: Db, E: Env>(cx: &Ctx<'_, D, E>, sub: &Subscription, changes: &[Change]) -> Vec<Stmt> {
    changes
        .iter()
        .filter_map(|c| match (&c.before, &c.after) {
            (None, Some(added)) => Some(usage::insert_item(cx, &sub.id, &added.id)),
            (Some(gone), None) => Some(usage::delete_item(&gone.id)),
            _ => None,
        })
        .collect()
}
