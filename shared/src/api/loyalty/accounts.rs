//! `/v1/loyalty/accounts`: open (one per customer), list, retrieve, and the merchant's own
//! points transactions (`POST /v1/loyalty/accounts/:id/transactions`: earn, burn, adjust).

use super::super::Outcome;
use super::super::operation::{Args, Field};
use super::{id_filter, listed};
use crate::context::Ctx;
use crate::domain::loyalty::{self as domain};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::fields;
use crate::flows::loyalty::{self as flows, ACCOUNT_COLUMNS, AccountRow, Guard, Movement};
use crate::objects::Customer;
use crate::objects::loyalty::PtxType;
use crate::port::{Db, Env};
use crate::store::{load_param, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Transact,
}

/// The most points one manual transaction moves.
pub const MAX_POINTS: i64 = 1_000_000_000_000;

pub const CREATE: &[Field] = &[
    Field::str("customer", 100)
        .required()
        .doc("The cust_ whose points these are."),
    Field::metadata(),
];

pub const TRANSACT: &[Field] = &[
    Field::one_of("type", PtxType::MANUAL).required(),
    Field::int_in("points", -MAX_POINTS, MAX_POINTS)
        .required()
        .doc("Positive for earn and burn; an adjustment is signed (negative takes points away) and not 0."),
    Field::str("description", 500),
    Field::metadata(),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let spec = id_filter(p, "loyalty_accounts", "customer", "customer_id")?;
            listed(cx, p, spec, "accounts", ACCOUNT_COLUMNS, |r| {
                Ok(to_json(&AccountRow::from_row(r, 0)?.obj))
            })
            .await
        }
        Action::Retrieve => Ok(Outcome::read(to_json(&load(cx, id).await?.obj))),
        Action::Transact => transact(cx, id, p).await,
    }
}

async fn load<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<AccountRow> {
    flows::load_account(cx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("id", "loyalty account", id))
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let customer = p.required_string("customer")?;
    load_param::<Customer, _, _>(cx, "customers", " AND deleted = 0", "customer", "customer", &customer).await?;
    let existing = cx
        .db
        .query(crate::port::Stmt::new(
            "SELECT id FROM loyalty_accounts WHERE account_id = ? AND livemode = ? AND customer_id = ?",
            crate::sql_params![&cx.acct.id, cx.acct.livemode, &customer],
        ))
        .await?;
    if let Some(r) = existing.first() {
        return Err(ApiError::invalid(
            "customer",
            "loyalty_account_exists",
            format!(
                "Customer {customer} already has loyalty account {}.",
                r[0].as_str().unwrap_or_default()
            ),
        ));
    }
    let program = flows::program(cx).await?;
    let (account, writes) = flows::open_account(cx, &customer, fields::new_metadata(p.params())?, &program);
    Ok(Outcome::write(to_json(&account.obj), writes))
}

/// A manual `earn`, `burn` or `adjust`. A burn is guarded on the balance it read, so two
/// concurrent burns never take the account below zero.
async fn transact<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let mut account = load(cx, id).await?;
    p.check_after_load()?;
    let kind = p
        .one_of("type")?
        .and_then(|t| PtxType::parse(&t))
        .ok_or_else(|| ApiError::missing("type"))?;
    let points = p.integer("points")?.ok_or_else(|| ApiError::missing("points"))?;
    let (delta, signed) = domain::manual(kind, points, account.obj.points_balance)?;
    let program = flows::program(cx).await?;
    let window = if program.tiers.is_empty() {
        0
    } else {
        flows::window_points(cx, id).await?
    };
    let mut m = Movement::new(kind, signed, delta);
    if kind == PtxType::Burn {
        m.guard = Guard::Balance(points);
    }
    m.description = p.string("description")?;
    m.metadata = fields::new_metadata(p.params())?;
    let (ptx, mut writes) = flows::record(cx, &mut account, m, Some(&program));
    let data = to_json(&ptx);
    if kind == PtxType::Earn {
        writes.extend(events::record(
            cx.env,
            &cx.acct,
            EventType::LoyaltyPointsEarned,
            cx.now,
            &data,
        ));
    }
    let counted = domain::tier_points(kind, signed);
    if counted != 0 {
        writes.extend(flows::retier(cx, &mut account, &program, window + counted));
    }
    Ok(Outcome::write(data, writes))
}
