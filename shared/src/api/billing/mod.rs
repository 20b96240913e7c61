//! The Billing route group (one component, seed 002's second product): `/v1/products` and
//! `/v1/prices` (the catalogue), `/v1/invoices`; subscriptions and usage join it. Objects are in
//! [`crate::objects::billing`], pure decisions in [`crate::domain::pricing`]; each resource's
//! handlers are in its own file here.

pub mod invoices;
pub mod prices;
pub mod products;

use super::Outcome;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::events::{self, EventType};
use crate::port::{Db, Env, Stmt};
use crate::store::guarded_update;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Products(products::Action),
    Prices(prices::Action),
    Invoices(invoices::Action),
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
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Products(a) => products::run(cx, a, id, p).await,
        Action::Prices(a) => prices::run(cx, a, id, p).await,
        Action::Invoices(a) => invoices::run(cx, a, id, p).await,
    }
}

/// The SQL condition and parameter of an optional `active` filter.
fn active_filter(p: &Args<'_>) -> ApiResult<(String, Vec<crate::port::SqlValue>)> {
    Ok(match p.boolean("active")? {
        Some(a) => (" AND active = ?".into(), crate::sql_params![a]),
        None => (String::new(), Vec::new()),
    })
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
