//! `/v1/loyalty/rewards`: the loyalty catalog. A reward's `stock` is its own column, taken by
//! redemptions with a guarded delta; an update that sets `stock` replaces it, one that does not
//! leaves concurrent redemptions' counts alone.

use super::super::Outcome;
use super::super::operation::{Args, Field};
use super::listed;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::flows::loyalty::redemption::{REWARD_COLUMNS, load_reward, reward_from_row};
use crate::objects::loyalty::Reward;
use crate::port::{Db, Env, SqlValue, Stmt};
use crate::sql_params;
use crate::store::{guarded_update, to_json};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Update,
}

pub const MAX_COST: i64 = 1_000_000_000_000;
pub const MAX_STOCK: i64 = 1_000_000_000;

const NAME: Field = Field::str("name", 250);
const COST: Field = Field::int_in("points_cost", 1, MAX_COST);

pub const CREATE: &[Field] = &[
    NAME.required(),
    COST.required(),
    Field::int_in("stock", 0, MAX_STOCK).doc("How many can be redeemed; absent: unlimited."),
    Field::bool("active").default("true"),
    Field::metadata(),
];

pub const UPDATE: &[Field] = &[
    NAME,
    COST.doc("Applies to later redemptions; earlier ones keep what they cost."),
    Field::any("stock", stock_schema).doc("Replaces the stock; null (or an empty value in a form): unlimited."),
    Field::bool("active"),
    Field::metadata(),
];

fn stock_schema() -> Value {
    json!({ "type": ["integer", "null"], "minimum": 0, "maximum": MAX_STOCK })
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p),
        Action::List => {
            let (filter, params) = super::super::active_filter(p)?;
            let spec = crate::list::ListSpec {
                table: "loyalty_rewards",
                filter,
                filter_params: params,
            };
            listed(cx, p, spec, "rewards", REWARD_COLUMNS, |r| {
                Ok(to_json(&reward_from_row(r)?.obj))
            })
            .await
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?.obj))),
        Action::Update => update(cx, id, p).await,
    }
}

async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<crate::store::Loaded<Reward>> {
    load_reward(cx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("id", "reward", id))
}

fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let reward = Reward {
        id: cx.id("rwd_"),
        object: "loyalty_reward".into(),
        name: p.required_string("name")?,
        points_cost: p
            .integer("points_cost")?
            .ok_or_else(|| ApiError::missing("points_cost"))?,
        stock: p.integer("stock")?,
        active: p.boolean("active")?.unwrap_or(true),
        metadata: fields::new_metadata(p.params())?,
        livemode: cx.acct.livemode,
        created: cx.now,
        updated: cx.now,
    };
    let data = to_json(&reward);
    let writes = vec![Stmt::new(
        "INSERT INTO loyalty_rewards (id, account_id, livemode, active, stock, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &reward.id,
            &cx.acct.id,
            cx.acct.livemode,
            reward.active,
            reward.stock,
            cx.now,
            data.to_string()
        ],
    )];
    Ok(Outcome::write(data, writes))
}

/// `stock` of an update: None when absent, Some(None) for unlimited.
fn stock(p: &Args<'_>) -> ApiResult<Option<Option<i64>>> {
    let bad = || {
        ApiError::invalid(
            "stock",
            "parameter_invalid_integer",
            format!("stock must be a whole number from 0 to {MAX_STOCK}, or null for unlimited."),
        )
    };
    // Read from the parameters themselves: a JSON null is "unlimited", not "absent".
    match p.params().root.get("stock") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| (0..=MAX_STOCK).contains(n))
            .map(|n| Some(Some(n)))
            .ok_or_else(bad),
        Some(Value::String(s)) if p.params().form => s
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_STOCK).contains(n))
            .map(|n| Some(Some(n)))
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let crate::store::Loaded {
        obj: mut reward,
        version,
    } = load(cx, id).await?;
    p.check_after_load()?;
    if let Some(name) = p.string("name")? {
        reward.name = name;
    }
    if let Some(cost) = p.integer("points_cost")? {
        reward.points_cost = cost;
    }
    let new_stock = stock(p)?;
    if let Some(s) = new_stock {
        reward.stock = s;
    }
    if let Some(active) = p.boolean("active")? {
        reward.active = active;
    }
    if let Some(m) = fields::metadata(p.params())? {
        fields::merge_metadata(&mut reward.metadata, m)?;
    }
    reward.updated = cx.now;
    let data = to_json(&reward);
    let writes: Vec<Stmt> = match new_stock {
        Some(s) => guarded_update(
            "loyalty_rewards",
            "active = ?, stock = ?, data = ?",
            vec![reward.active.into(), SqlValue::from(s), data.to_string().into()],
            id,
            version,
        ),
        None => guarded_update(
            "loyalty_rewards",
            "active = ?, data = ?",
            sql_params![reward.active, data.to_string()],
            id,
            version,
        ),
    }
    .into();
    Ok(Outcome::write(data, writes))
}
