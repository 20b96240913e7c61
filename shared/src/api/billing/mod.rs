//! The Billing route group (one component, seed 002's second product): `/v1/products` and
//! `/v1/prices` (the catalogue); subscriptions, invoices and usage join it. Objects are in
//! [`crate::objects::billing`], pure decisions in [`crate::domain::pricing`]; each resource's
//! handlers are in its own file here.

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
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Products(a) => products::run(cx, a, id, p).await,
        Action::Prices(a) => prices::run(cx, a, id, p).await,
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
