//! `/v1/invoices`: one-off invoices (create as a draft, finalize, pay, void, mark
//! uncollectible), list and retrieve. An invoice is paid by a real payment made through
//! [`flows::payment`], so fees, the ledger, refunds and disputes all apply to it. The lifecycle
//! is [`crate::domain::invoice`]'s.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::invoice::{self, Draft, Transition};
use crate::domain::pricing;
use crate::domain::subscription::period_end_after;
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::flows::{self, invoice::Missing};
use crate::money::{MAX_AMOUNT, parse_currency};
use crate::objects::Customer;
use crate::objects::billing::{Invoice, InvoiceLine, InvoiceStatus, Period, Price, PriceType, Subscription};
use crate::port::{Db, Env};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, load_param, load_path, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Upcoming,
    Finalize,
    Pay,
    Void,
    MarkUncollectible,
}

/// The most lines a one-off invoice takes.
pub const MAX_LINES: usize = 100;

const LINE: &[Field] = &[
    Field::int_in("amount", 0, MAX_AMOUNT).doc("The line's amount, minor units; or give `price`."),
    Field::str("price", 100).doc("A one-time `price_`; the line costs its unit_amount times quantity."),
    Field::int_in("quantity", 1, 1_000_000)
        .default("1")
        .doc("With `price` only."),
    Field::str("description", 500),
];

pub const CREATE: &[Field] = &[
    Field::str("customer", 100).required(),
    Field::objects("lines", LINE, MAX_LINES)
        .required()
        .doc("Each line has `amount` or `price` (with `quantity`)."),
    Field::checked("currency", 16).doc("ISO 4217; defaults to the lines' prices' currency."),
    super::COLLECTION_METHOD,
    super::DAYS_UNTIL_DUE,
    Field::str("default_payment_method", 100)
        .doc("Charged by /pay; else the customer's default payment method at the time of the charge."),
    Field::str("description", 1000),
    Field::metadata(),
];

pub const LIST_FILTERS: &[Field] = &[
    Field::str("customer", 100),
    Field::str("subscription", 100),
    Field::one_of("status", InvoiceStatus::NAMES),
];

pub const UPCOMING: &[Field] =
    &[Field::str("subscription", 100).doc("Required: the subscription whose next invoice is previewed.")];

pub const PAY: &[Field] = &[Field::str("payment_method", 100).doc(
    "A pm_ of the invoice's customer or a test method; default: the invoice's default_payment_method, else the customer's.",
)];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let mut filter = String::new();
            let mut filter_params = Vec::new();
            for (param, column) in [("customer", "customer_id"), ("subscription", "subscription_id")] {
                if let Some(v) = p.string(param)? {
                    filter.push_str(&format!(" AND {column} = ?"));
                    filter_params.extend(sql_params![v]);
                }
            }
            if let Some(status) = p.one_of("status")? {
                filter.push_str(" AND status = ?");
                filter_params.extend(sql_params![status]);
            }
            super::listed(cx, p, "invoices", filter, filter_params).await
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?.obj))),
        Action::Upcoming => upcoming(cx, p).await,
        Action::Finalize => match flows::subscription::finalize_draft(cx, id).await? {
            // A subscription's draft (a metered renewal in its grace window) is charged as its
            // scheduled finalization would; the step then finds it finalized.
            Some((inv, writes)) => Ok(Outcome::write(to_json(&inv), writes)),
            None => transition(cx, id, |inv| invoice::finalize(inv, cx.now)).await,
        },
        Action::Void => transition(cx, id, |inv| invoice::void(inv, cx.now)).await,
        Action::MarkUncollectible => transition(cx, id, |inv| invoice::mark_uncollectible(inv, cx.now)).await,
        Action::Pay => pay(cx, id, p).await,
    }
}

/// The id of every upcoming invoice: it is not stored, so it cannot be retrieved.
pub const UPCOMING_ID: &str = "inv_upcoming";

/// A subscription's next invoice as it would be if its period ended now: its licensed items for
/// the next period (none if it ends at the period end), what is pending, and its metered usage
/// so far. Nothing is written.
async fn upcoming<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let id = p.required_string("subscription")?;
    let mut sub = load_param::<Subscription, _, _>(cx, "subscriptions", "", "subscription", "subscription", &id)
        .await?
        .obj;
    if sub.status.ended() {
        return Err(ApiError::invalid(
            "subscription",
            "invoice_upcoming_none",
            format!("Subscription {id} is {}: it has no next invoice.", sub.status.as_str()),
        ));
    }
    let start = sub.current_period_end;
    let end = period_end_after(sub.billing_cycle_anchor, sub.interval, sub.interval_count, start);
    let mut lines = Vec::new();
    if !sub.cancel_at_period_end {
        lines = flows::subscription::item_lines(cx, &sub, (start, end))?;
    }
    lines.extend(flows::subscription::usage_lines(cx, &sub, start).await?);
    if lines.is_empty() && sub.pending_invoice_items.is_empty() {
        return Err(ApiError::invalid(
            "subscription",
            "invoice_upcoming_none",
            format!("Subscription {id} ends at its period end with nothing left to bill."),
        ));
    }
    let mut inv = flows::subscription::draft(cx, &mut sub, lines, (start, end))?;
    inv.id = UPCOMING_ID.into();
    inv.created = start;
    Ok(Outcome::read(to_json(&inv)))
}

async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<Invoice>> {
    load_path(cx, "invoices", "", "invoice", id).await
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let customer = p.required_string("customer")?;
    load_param::<Customer, _, _>(cx, "customers", " AND deleted = 0", "customer", "customer", &customer).await?;
    let (collection_method, days_until_due) = super::collection(p)?;
    let mut currency = p
        .string("currency")?
        .map(|c| parse_currency("currency", &c))
        .transpose()?;
    let mut lines = Vec::new();
    for (i, l) in p.objects("lines")?.iter().enumerate() {
        lines.push(line(cx, i, l, &mut currency).await?);
    }
    if lines.is_empty() {
        return Err(ApiError::missing("lines"));
    }
    let currency = currency.ok_or_else(|| ApiError::missing("currency"))?;
    for l in &mut lines {
        l.currency = currency.clone();
    }
    let default_payment_method = super::default_payment_method(cx, p, &customer).await?;
    let inv = invoice::draft(Draft {
        id: cx.id("inv_"),
        customer,
        subscription: None,
        collection_method,
        currency: currency.clone(),
        lines,
        days_until_due,
        default_payment_method,
        description: p.string("description")?,
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        period: (cx.now, cx.now),
        now: cx.now,
    });
    super::check_total("lines", "An invoice's total", inv.as_ref().map(|i| i.total), &currency)?;
    let Some(inv) = inv else {
        unreachable!("check_total refuses an overflowing total")
    };
    let (data, writes) = flows::invoice::insert(cx, &inv);
    Ok(Outcome::write(data, writes))
}

/// Line `i` of a create: its own amount, or a one-time price times a quantity. `currency` is
/// the invoice's so far (set by the first price when the request names none).
async fn line<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    i: usize,
    l: &Args<'_>,
    currency: &mut Option<String>,
) -> ApiResult<InvoiceLine> {
    let name = |field: &str| format!("lines[{i}][{field}]");
    let (amount, price, quantity) = match (l.integer("amount")?, l.string("price")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                &name("price"),
                "parameter_not_allowed",
                format!("lines[{i}] has an amount or a price, not both."),
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                &format!("lines[{i}]"),
                "parameter_missing",
                format!("lines[{i}] needs amount or price."),
            ));
        }
        (Some(amount), None) => {
            if l.has("quantity") {
                return Err(ApiError::invalid(
                    &name("quantity"),
                    "parameter_not_allowed",
                    format!("{} is only for a line with a price.", name("quantity")),
                ));
            }
            (amount, None, 1)
        }
        (None, Some(id)) => {
            let param = name("price");
            let price = load_param::<Price, _, _>(cx, "prices", "", "price", &param, &id)
                .await?
                .obj;
            if !price.active {
                return Err(ApiError::invalid(
                    &param,
                    "price_inactive",
                    format!("Price {id} is not active."),
                ));
            }
            if price.kind != PriceType::OneTime {
                return Err(ApiError::invalid(
                    &param,
                    "price_not_one_time",
                    format!("Price {id} is recurring: subscribe to it instead; invoice lines take one-time prices."),
                ));
            }
            match currency {
                Some(c) if *c != price.currency => {
                    return Err(ApiError::invalid(
                        &param,
                        "currency_mismatch",
                        format!("Price {id} is in {}, the invoice in {c}.", price.currency),
                    ));
                }
                Some(_) => {}
                None => *currency = Some(price.currency.clone()),
            }
            let quantity = l.integer("quantity")?.unwrap_or(1);
            let amount = pricing::per_unit(price.unit_amount.unwrap_or(0), quantity)
                .filter(|a| *a <= MAX_AMOUNT)
                .ok_or_else(|| {
                    ApiError::invalid(
                        &name("quantity"),
                        "amount_too_large",
                        format!("The line's amount is at most {MAX_AMOUNT}."),
                    )
                })?;
            (amount, Some(id), quantity)
        }
    };
    Ok(InvoiceLine {
        id: cx.id("il_"),
        object: "line_item".into(),
        amount,
        // Set once the invoice's currency is known.
        currency: String::new(),
        description: l.string("description")?,
        price,
        quantity,
        period: Period {
            start: cx.now,
            end: cx.now,
        },
        proration: false,
        subscription_item: None,
    })
}

async fn transition<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    id: &str,
    step: impl FnOnce(&Invoice) -> ApiResult<Transition>,
) -> ApiResult<Outcome> {
    let Loaded { obj, version } = load(cx, id).await?;
    let t = step(&obj)?;
    let (data, writes) = flows::invoice::save(cx, Some(version), &t);
    Ok(Outcome::write(data, writes))
}

/// Charges what the invoice still owes (finalizing a draft first). The charge and the invoice's
/// change are one commit behind the invoice's version: of two concurrent pays, one charges and
/// the other, re-run on the paid invoice, answers `invoice_already_paid`.
async fn pay<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded { obj, version } = load(cx, id).await?;
    invoice::check_payable(&obj)?;
    let mut t = Transition {
        invoice: obj,
        events: Vec::new(),
    };
    if t.invoice.status == InvoiceStatus::Draft {
        t = invoice::finalize(&t.invoice, cx.now)?;
    }
    if t.invoice.status == InvoiceStatus::Paid {
        let (data, writes) = flows::invoice::save(cx, Some(version), &t);
        return Ok(Outcome::write(data, writes));
    }
    let sub = t.invoice.subscription.clone();
    let (t, mut writes) = flows::invoice::charge(cx, t, p.string("payment_method")?, None, Missing::Refuse).await?;
    let (data, invoice_writes) = flows::invoice::save(cx, Some(version), &t);
    // The invoice's guarded update first: a lost race aborts the batch before anything else.
    writes.splice(0..0, invoice_writes);
    if let (Some(sub), InvoiceStatus::Paid) = (sub, t.invoice.status) {
        writes.extend(flows::subscription::invoice_paid(cx, &sub).await?);
        writes.push(steps::unschedule(&cx.acct, &Step::InvoiceRetry(id.to_string())));
    }
    Ok(Outcome::write(data, writes))
}
