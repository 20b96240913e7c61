//! The Engagement route group (one component, seed 002's third product), under `/v1/loyalty/`:
//! the program, accounts and their points transactions, rewards and redemptions. Objects are in
//! [`crate::objects::loyalty`], pure decisions in [`crate::domain::loyalty`], the writes in
//! [`crate::flows::loyalty`]; each resource's handlers are in its own file here.

pub mod accounts;
pub mod program;
pub mod redemptions;
pub mod rewards;
pub mod transactions;

use super::Outcome;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::objects::loyalty::PtxType;
use crate::port::{Db, Env, SqlValue};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Program(program::Action),
    Accounts(accounts::Action),
    Transactions(transactions::Action),
    Rewards(rewards::Action),
    Redemptions(redemptions::Action),
}

pub const OPS: &[Op<Action>] = &[
    Op::get(
        "loyalty/program",
        "loyalty_program",
        Action::Program(program::Action::Retrieve),
    )
    .summary("Retrieve the environment's loyalty program (the defaults until one is set)")
    .answers("LoyaltyProgram"),
    Op::post(
        "loyalty/program",
        "loyalty_program_update",
        Action::Program(program::Action::Update),
    )
    .summary("Set the environment's loyalty program: earn rate, pending days, expiry, tiers, automatic enrolment")
    .fields(program::UPDATE)
    .answers("LoyaltyProgram"),
    Op::post(
        "loyalty/accounts",
        "loyalty_account_create",
        Action::Accounts(accounts::Action::Create),
    )
    .summary("Open a customer's loyalty account (one per customer)")
    .fields(accounts::CREATE)
    .answers("LoyaltyAccount"),
    Op::get(
        "loyalty/accounts",
        "loyalty_account_list",
        Action::Accounts(accounts::Action::List),
    )
    .summary("List loyalty accounts")
    .list()
    .fields(&[Field::str("customer", 100).doc("Only this customer's account.")])
    .answers("LoyaltyAccountList"),
    Op::get(
        "loyalty/accounts/:id",
        "loyalty_account_retrieve",
        Action::Accounts(accounts::Action::Retrieve),
    )
    .summary("Retrieve a loyalty account and its balances")
    .answers("LoyaltyAccount"),
    Op::post(
        "loyalty/accounts/:id/transactions",
        "loyalty_transaction_create",
        Action::Accounts(accounts::Action::Transact),
    )
    .summary("Earn, burn or adjust an account's points by hand")
    .checked_after_load()
    .fields(accounts::TRANSACT)
    .answers("PointsTransaction"),
    Op::get(
        "loyalty/transactions",
        "loyalty_transaction_list",
        Action::Transactions(transactions::Action::List),
    )
    .summary("List points transactions")
    .list()
    .fields(&[
        Field::str("account", 100).doc("Only this loyalty account's."),
        Field::one_of("type", PtxType::NAMES),
        Field::int_filter("created"),
    ])
    .answers("PointsTransactionList"),
    Op::get(
        "loyalty/transactions/:id",
        "loyalty_transaction_retrieve",
        Action::Transactions(transactions::Action::Retrieve),
    )
    .summary("Retrieve a points transaction")
    .answers("PointsTransaction"),
    Op::post(
        "loyalty/rewards",
        "loyalty_reward_create",
        Action::Rewards(rewards::Action::Create),
    )
    .summary("Add a reward to the loyalty catalog")
    .fields(rewards::CREATE)
    .answers("Reward"),
    Op::get(
        "loyalty/rewards",
        "loyalty_reward_list",
        Action::Rewards(rewards::Action::List),
    )
    .summary("List rewards")
    .list()
    .fields(&[Field::bool("active").doc("Only active (true) or inactive (false) rewards.")])
    .answers("RewardList"),
    Op::get(
        "loyalty/rewards/:id",
        "loyalty_reward_retrieve",
        Action::Rewards(rewards::Action::Retrieve),
    )
    .summary("Retrieve a reward")
    .answers("Reward"),
    Op::post(
        "loyalty/rewards/:id",
        "loyalty_reward_update",
        Action::Rewards(rewards::Action::Update),
    )
    .summary("Update a reward: name, cost, stock, active, metadata")
    .checked_after_load()
    .fields(rewards::UPDATE)
    .answers("Reward"),
    Op::post(
        "loyalty/redemptions",
        "loyalty_redemption_create",
        Action::Redemptions(redemptions::Action::Create),
    )
    .summary("Exchange an account's points for a reward (points and stock taken in one commit)")
    .fields(redemptions::CREATE)
    .answers("Redemption"),
    Op::get(
        "loyalty/redemptions",
        "loyalty_redemption_list",
        Action::Redemptions(redemptions::Action::List),
    )
    .summary("List redemptions")
    .list()
    .fields(&[Field::str("account", 100).doc("Only this loyalty account's.")])
    .answers("RedemptionList"),
    Op::get(
        "loyalty/redemptions/:id",
        "loyalty_redemption_retrieve",
        Action::Redemptions(redemptions::Action::Retrieve),
    )
    .summary("Retrieve a redemption")
    .answers("Redemption"),
    Op::post(
        "loyalty/redemptions/:id/cancel",
        "loyalty_redemption_cancel",
        Action::Redemptions(redemptions::Action::Cancel),
    )
    .summary("Cancel a redemption: its points and stock come back")
    .answers("Redemption"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Program(a) => program::run(cx, a, p).await,
        Action::Accounts(a) => accounts::run(cx, a, id, p).await,
        Action::Transactions(a) => transactions::run(cx, a, id, p).await,
        Action::Rewards(a) => rewards::run(cx, a, id, p).await,
        Action::Redemptions(a) => redemptions::run(cx, a, id, p).await,
    }
}

/// A list of `spec`'s rows, newest first, each row's `columns` made an object by `render`; the
/// envelope's `url` is `/v1/loyalty/<what>`.
async fn listed<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    p: &Args<'_>,
    spec: crate::list::ListSpec,
    what: &str,
    columns: &str,
    render: impl Fn(&[SqlValue]) -> ApiResult<serde_json::Value>,
) -> ApiResult<Outcome> {
    let page = p.page()?;
    let (rows, has_more) = crate::list::fetch_rows(cx.db, &cx.acct, spec, &page, columns).await?;
    let data = rows.iter().map(|r| render(r)).collect::<ApiResult<Vec<_>>>()?;
    Ok(Outcome::read(crate::list::envelope(
        &format!("/v1/loyalty/{what}"),
        data,
        has_more,
    )))
}

/// A stored `data` column as the object it holds.
fn data_of(r: &[SqlValue]) -> ApiResult<serde_json::Value> {
    r[0].as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| crate::error::ApiError::internal("unreadable stored object"))
}

/// `table`'s list with an optional `name=<id>` filter on `column`.
fn id_filter(p: &Args<'_>, table: &'static str, name: &str, column: &str) -> ApiResult<crate::list::ListSpec> {
    let (filter, filter_params) = match p.string(name)? {
        Some(v) => (format!(" AND {column} = ?"), crate::sql_params![v]),
        None => (String::new(), Vec::new()),
    };
    Ok(crate::list::ListSpec {
        table,
        filter,
        filter_params,
    })
}
