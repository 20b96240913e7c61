//! `/v1/products`: create, list, retrieve, update, and delete while a product has no prices.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use super::active_filter;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::fields;
use crate::objects::billing::Product;
use crate::port::{Db, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;
use crate::store::{Loaded, load_path, to_json};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Update,
    Delete,
}

const NAME: Field = Field::str("name", 250);
const DESCRIPTION: Field = Field::str("description", 1000);
const ACTIVE: Field = Field::bool("active").default("true");

pub const CREATE: &[Field] = &[NAME.required(), DESCRIPTION, ACTIVE, Field::metadata()];
pub const UPDATE: &[Field] = &[NAME, DESCRIPTION, Field::bool("active"), Field::metadata()];

const LIVE: &str = " AND deleted = 0";

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p),
        Action::List => {
            let (filter, filter_params) = active_filter(p)?;
            super::listed(cx, p, "products", format!("{LIVE}{filter}"), filter_params).await
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?.obj))),
        Action::Update => update(cx, id, p).await,
        Action::Delete => delete(cx, id).await,
    }
}

async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<Product>> {
    load_path(cx, "products", LIVE, "product", id).await
}

fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let product = Product {
        id: cx.id("prod_"),
        object: "product".into(),
        name: p.required_string("name")?,
        description: p.string("description")?,
        active: p.boolean("active")?.unwrap_or(true),
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        created: cx.now,
        updated: cx.now,
    };
    let data = to_json(&product);
    let mut writes = vec![Stmt::new(
        "INSERT INTO products (id, account_id, livemode, active, created, data) VALUES (?, ?, ?, ?, ?, ?)",
        sql_params![
            &product.id,
            &cx.acct.id,
            cx.acct.livemode,
            product.active,
            cx.now,
            data.to_string()
        ],
    )];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::ProductCreated,
        cx.now,
        &data,
    ));
    Ok(Outcome::write(data, writes))
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let Loaded {
        obj: mut product,
        version,
    } = load(cx, id).await?;
    p.check_after_load()?;
    if let Some(name) = p.string("name")? {
        product.name = name;
    }
    if let Some(v) = p.update_text("description")? {
        product.description = v;
    }
    if let Some(active) = p.boolean("active")? {
        product.active = active;
    }
    if let Some(m) = fields::metadata(p.params())? {
        fields::merge_metadata(&mut product.metadata, m)?;
    }
    product.updated = cx.now;
    let data = to_json(&product);
    let writes = super::updated(
        cx,
        "products",
        id,
        version,
        product.active,
        &data,
        EventType::ProductUpdated,
    );
    Ok(Outcome::write(data, writes))
}

/// Refused while the product has prices (active or not): they, and the invoices that name
/// them, would point at nothing. Deactivate it instead.
async fn delete<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Outcome> {
    let Loaded { obj, version } = load(cx, id).await?;
    let priced = cx
        .db
        .query(Stmt::new(
            "SELECT 1 FROM prices WHERE product_id = ? LIMIT 1",
            sql_params![id],
        ))
        .await?;
    if !priced.is_empty() {
        return Err(has_prices(id));
    }
    // A price created meanwhile makes this change nothing: the guard aborts the batch, and the
    // retry sees the price.
    let mut writes = vec![
        Stmt::new(
            "UPDATE products SET deleted = 1, version = version + 1 WHERE id = ? AND version = ? \
             AND NOT EXISTS (SELECT 1 FROM prices WHERE product_id = ?)",
            sql_params![id, version, id],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
    ];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::ProductDeleted,
        cx.now,
        &to_json(&obj),
    ));
    Ok(Outcome::write(
        json!({ "id": id, "object": "product", "deleted": true }),
        writes,
    ))
}

fn has_prices(id: &str) -> ApiError {
    ApiError::invalid_state(
        "product_has_prices",
        format!("Product {id} has prices, so it cannot be deleted; set active=false to retire it instead."),
    )
}
