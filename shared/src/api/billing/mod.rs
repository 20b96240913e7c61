//! The Billing route group (one component, seed 002's second product): `/v1/products` and
//! `/v1/prices` (the catalogue), `/v1/invoices`, `/v1/subscriptions`, `/v1/billing/settings`,
//! `/v1/usage_records` and `/v1/subscription_items/:id/usage_record_summaries`. Objects are in
//! [`crate::objects::billing`], pure decisions in [`crate::domain`] (pricing, invoice,
//! subscription, dunning, usage); each resource's handlers are in its own file here.

pub mod invoices;
pub mod prices;
pub mod products;
pub mod settings;
pub mod subscription_update;
pub mod subscriptions;
pub mod usage;

use super::Outcome;
use super::active_filter;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::events::{self, EventType};
use crate::objects::billing::CollectionMethod;
use crate::port::{Db, Env, Stmt};
use crate::store::guarded_update;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Products(products::Action),
    Prices(prices::Action),
    Invoices(invoices::Action),
    Subscriptions(subscriptions::Action),
    Settings(settings::Action),
    Usage(usage::Action),
}

const ACTIVE_FILTER: Field = Field::bool("active").doc("Only active (true) or inactive (false) objects.");

pub const OPS: &[Op<Action>] = &[
    Op::post("products", "product_create", Action::Products(products::Action::Create))
        .summary("Create a product")
        .fields(products::CREATE)
        .answers("Product"),
    Op::get("products", "product_list", Action::Products(products::Action::List))
        .summary("List products")
        .list()
        .fields(&[ACTIVE_FILTER])
        .answers("ProductList"),
    Op::get(
        "products/:id",
        "product_retrieve",
        Action::Products(products::Action::Retrieve),
    )
    .summary("Retrieve a product")
    .answers("Product"),
    Op::post(
        "products/:id",
        "product_update",
        Action::Products(products::Action::Update),
    )
    .summary("Update a product")
    .checked_after_load()
    .fields(products::UPDATE)
    .answers("Product"),
    Op::delete(
        "products/:id",
        "product_delete",
        Action::Products(products::Action::Delete),
    )
    .summary("Delete a product (only while it has no prices)")
    .answers("Deleted"),
    Op::post("prices", "price_create", Action::Prices(prices::Action::Create))
        .summary("Create a price for a product")
        .fields(prices::CREATE)
        .answers("Price"),
    Op::get("prices", "price_list", Action::Prices(prices::Action::List))
        .summary("List prices")
        .list()
        .fields(&[
            Field::str("product", 100).doc("Only this product's prices."),
            ACTIVE_FILTER,
            Field::one_of("type", prices::TYPES),
        ])
        .answers("PriceList"),
    Op::get("prices/:id", "price_retrieve", Action::Prices(prices::Action::Retrieve))
        .summary("Retrieve a price")
        .answers("Price"),
    Op::post("prices/:id", "price_update", Action::Prices(prices::Action::Update))
        .summary("Update a price (only active, nickname and metadata change)")
        .checked_after_load()
        .fields(prices::UPDATE)
        .answers("Price"),
    Op::post("invoices", "invoice_create", Action::Invoices(invoices::Action::Create))
        .summary("Create a one-off invoice (a draft)")
        .fields(invoices::CREATE)
        .answers("Invoice"),
    Op::get("invoices", "invoice_list", Action::Invoices(invoices::Action::List))
        .summary("List invoices")
        .list()
        .fields(invoices::LIST_FILTERS)
        .answers("InvoiceList"),
    Op::get(
        "invoices/upcoming",
        "invoice_upcoming",
        Action::Invoices(invoices::Action::Upcoming),
    )
    .summary("Preview a subscription's next invoice (not stored): its items, pending prorations and usage so far")
    .fields(invoices::UPCOMING)
    .answers("Invoice"),
    Op::get(
        "invoices/:id",
        "invoice_retrieve",
        Action::Invoices(invoices::Action::Retrieve),
    )
    .summary("Retrieve an invoice")
    .answers("Invoice"),
    Op::post(
        "invoices/:id/finalize",
        "invoice_finalize",
        Action::Invoices(invoices::Action::Finalize),
    )
    .summary("Finalize a draft invoice (an invoice of 0 is paid at once)")
    .answers("Invoice"),
    Op::post(
        "invoices/:id/pay",
        "invoice_pay",
        Action::Invoices(invoices::Action::Pay),
    )
    .summary("Charge what an invoice owes (a decline leaves it open with last_payment_error)")
    .fields(invoices::PAY)
    .answers("Invoice"),
    Op::post(
        "invoices/:id/void",
        "invoice_void",
        Action::Invoices(invoices::Action::Void),
    )
    .summary("Void an open or uncollectible invoice")
    .answers("Invoice"),
    Op::post(
        "invoices/:id/mark_uncollectible",
        "invoice_mark_uncollectible",
        Action::Invoices(invoices::Action::MarkUncollectible),
    )
    .summary("Mark an open invoice uncollectible (it can still be paid)")
    .answers("Invoice"),
    Op::post(
        "subscriptions",
        "subscription_create",
        Action::Subscriptions(subscriptions::Action::Create),
    )
    .summary(
        "Subscribe a customer to recurring prices (the first period is invoiced and charged at once, or after a trial)",
    )
    .fields(subscriptions::CREATE)
    .answers("Subscription"),
    Op::get(
        "subscriptions",
        "subscription_list",
        Action::Subscriptions(subscriptions::Action::List),
    )
    .summary("List subscriptions")
    .list()
    .fields(subscriptions::LIST_FILTERS)
    .answers("SubscriptionList"),
    Op::get(
        "subscriptions/:id",
        "subscription_retrieve",
        Action::Subscriptions(subscriptions::Action::Retrieve),
    )
    .summary("Retrieve a subscription")
    .answers("Subscription"),
    Op::post(
        "subscriptions/:id",
        "subscription_update",
        Action::Subscriptions(subscriptions::Action::Update),
    )
    .summary(
        "Change a subscription's items, quantities or prices (with proration_behavior), payment method or metadata",
    )
    .checked_after_load()
    .fields(subscription_update::UPDATE)
    .answers("Subscription"),
    Op::post(
        "subscriptions/:id/cancel",
        "subscription_cancel",
        Action::Subscriptions(subscriptions::Action::Cancel),
    )
    .summary("Cancel a subscription now, or at the end of its period")
    .fields(subscriptions::CANCEL)
    .answers("Subscription"),
    Op::get(
        "billing/settings",
        "billing_settings",
        Action::Settings(settings::Action::Retrieve),
    )
    .summary("Retrieve the environment's Billing settings (the dunning schedule)")
    .answers("BillingSettings"),
    Op::post(
        "billing/settings",
        "billing_settings_update",
        Action::Settings(settings::Action::Update),
    )
    .summary("Set the environment's dunning schedule")
    .fields(settings::UPDATE)
    .answers("BillingSettings"),
    Op::post(
        "usage_records",
        "usage_record_create",
        Action::Usage(usage::Action::Create),
    )
    .summary("Report usage of a metered subscription item")
    .fields(usage::CREATE)
    .answers("UsageRecord"),
    Op::post(
        "usage_records/batch",
        "usage_record_batch",
        Action::Usage(usage::Action::Batch),
    )
    .summary("Report up to 100 usage records at once, stored all or none")
    .fields(usage::BATCH)
    .answers("UsageRecordBatch"),
    Op::get("usage_records", "usage_record_list", Action::Usage(usage::Action::List))
        .summary("List a subscription item's usage records")
        .list()
        .fields(usage::LIST_FILTERS)
        .answers("UsageRecordList"),
    Op::get(
        "subscription_items/:id/usage_record_summaries",
        "usage_record_summaries",
        Action::Usage(usage::Action::Summaries),
    )
    .summary("A metered item's usage per billing period, the current one first")
    .fields(usage::SUMMARIES)
    .answers("UsageRecordSummaryList"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Products(a) => products::run(cx, a, id, p).await,
        Action::Prices(a) => prices::run(cx, a, id, p).await,
        Action::Invoices(a) => invoices::run(cx, a, id, p).await,
        Action::Subscriptions(a) => subscriptions::run(cx, a, id, p).await,
        Action::Settings(a) => settings::run(cx, a, p).await,
        Action::Usage(a) => usage::run(cx, a, id, p).await,
    }
}

/// The writes of an update to a catalogue object (`table` has an `active` column beside its
/// data): its row, only if `version` is still current, and its event.
fn updated<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    table: &'static str,
    id: &str,
    version: i64,
    active: bool,
    data: &Value,
    kind: EventType,
) -> Vec<Stmt> {
    let mut writes: Vec<Stmt> = guarded_update(
        table,
        "active = ?, data = ?",
        crate::sql_params![active, data.to_string()],
        id,
        version,
    )
    .into();
    writes.extend(events::record(cx.env, &cx.acct, kind, cx.now, data));
    writes
}

/// How an invoice (or a subscription's invoices) is collected.
const COLLECTION_METHOD: Field =
    Field::one_of("collection_method", &["charge_automatically", "send_invoice"]).default("\"charge_automatically\"");
const DAYS_UNTIL_DUE: Field = Field::int_in("days_until_due", 1, 365).doc("send_invoice only; default 30.");
const DEFAULT_DAYS_UNTIL_DUE: i64 = 30;

/// `collection_method` and its `days_until_due` (only for `send_invoice`, default 30).
fn collection(p: &Args<'_>) -> ApiResult<(CollectionMethod, Option<i64>)> {
    let method = match p.one_of("collection_method")?.as_deref() {
        Some("send_invoice") => CollectionMethod::SendInvoice,
        _ => CollectionMethod::ChargeAutomatically,
    };
    match (method, p.integer("days_until_due")?) {
        (CollectionMethod::SendInvoice, days) => Ok((method, Some(days.unwrap_or(DEFAULT_DAYS_UNTIL_DUE)))),
        (CollectionMethod::ChargeAutomatically, None) => Ok((method, None)),
        (CollectionMethod::ChargeAutomatically, Some(_)) => Err(crate::error::ApiError::invalid(
            "days_until_due",
            "parameter_not_allowed",
            "days_until_due is only for collection_method=send_invoice.",
        )),
    }
}

/// A list of `table`'s objects, newest first, with `filter` (SQL conditions) and its parameters;
/// the envelope's `url` is `/v1/<table>`.
async fn listed<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    p: &Args<'_>,
    table: &'static str,
    filter: String,
    filter_params: Vec<crate::port::SqlValue>,
) -> ApiResult<Outcome> {
    let page = p.page()?;
    let spec = crate::list::ListSpec {
        table,
        filter,
        filter_params,
    };
    let (data, has_more) = crate::list::fetch(cx.db, &cx.acct, spec, &page).await?;
    Ok(Outcome::read(crate::list::envelope(
        &format!("/v1/{table}"),
        data,
        has_more,
    )))
}

/// A `default_payment_method` parameter: a payment method that exists and is `customer`'s (a
/// test method belongs to nobody and always fits).
async fn default_payment_method<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    p: &Args<'_>,
    customer: &str,
) -> ApiResult<Option<String>> {
    let Some(pm) = p.string("default_payment_method")? else {
        return Ok(None);
    };
    let resolved = crate::flows::payment_method::resolve(cx, "default_payment_method", &pm).await?;
    crate::flows::invoice::check_owner(&resolved.customer, customer, "default_payment_method", &pm)?;
    Ok(Some(pm))
}

/// A total to be charged (`what`, e.g. "An invoice's total", names it in messages; `param` in
/// the error): 0, or from the currency's minimum charge to `MAX_AMOUNT`. None is an overflow.
fn check_total(param: &str, what: &str, total: Option<i64>, currency: &str) -> ApiResult<()> {
    use crate::error::ApiError;
    use crate::money::{MAX_AMOUNT, min_amount};
    let Some(total) = total.filter(|t| *t <= MAX_AMOUNT) else {
        return Err(ApiError::invalid(
            param,
            "amount_too_large",
            format!("{what} is at most {MAX_AMOUNT}."),
        ));
    };
    let min = min_amount(currency);
    if total > 0 && total < min {
        return Err(ApiError::invalid(
            param,
            "amount_too_small",
            format!("{what} is 0 or at least {min} (in the smallest unit of {currency}): less cannot be charged."),
        ));
    }
    Ok(())
}
