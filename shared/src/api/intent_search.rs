//! `POST /v1/payment_intents/search`: seed 004's "Search for payment intents", every filter of
//! the seed, numbered pages with a total. Reads only the columns of `payment_intents_search`
//! (schema/migrations/0017) until the page's ids are known, then the page's rows; docs/intents.md.

use super::Outcome;
use super::operation::{Args, Field};
use super::search::{self, Filter, Paging};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::list::{self, Scope};
use crate::port::{Db, Env, Stmt};

const STATUSES: &[&str] = &["created", "pending", "uncaptured", "captured", "cancelled", "failed"];
const PAYMENT_STATUSES: &[&str] = &["pending", "uncaptured", "captured", "cancelled", "voided", "failed"];

/// The seed's seven sort columns are unnamed; these are ours, each an indexed column.
const SORT_COLUMNS: &[(&str, &str)] = &[
    ("created_at", "created"),
    ("updated_at", "updated"),
    ("amount", "amount"),
    ("amount_captured", "amount_captured"),
    ("amount_refunded", "amount_refunded"),
    ("status", "status"),
    ("reference_id", "reference_id"),
];
const SORT_NAMES: &[&str] = &[
    SORT_COLUMNS[0].0,
    SORT_COLUMNS[1].0,
    SORT_COLUMNS[2].0,
    SORT_COLUMNS[3].0,
    SORT_COLUMNS[4].0,
    SORT_COLUMNS[5].0,
    SORT_COLUMNS[6].0,
];

pub const FIELDS: &[Field] = &[
    Field::str("reference_id", 255).doc("Exactly this reference_id."),
    Field::one_of("status", STATUSES),
    Field::one_of("settlement_status", &["settled", "unsettled"]),
    Field::one_of("payment_status", PAYMENT_STATUSES).doc("The latest attempt's status in seed 004's words."),
    Field::bool("has_refund").doc("Whether any of it has been refunded."),
    search::START_DATE,
    search::END_DATE,
    search::AMOUNT_MIN,
    search::AMOUNT_MAX,
    Field::one_of("sort_column", SORT_NAMES).default("\"created_at\""),
    search::SORT_DIRECTION,
    search::LIMIT,
    search::PAGE,
    super::intents::BUSINESS,
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let paging = Paging::of(p)?;
    let mut f = Filter::default();
    if let Some(r) = p.string("reference_id")? {
        f.add("reference_id = ?", r);
    }
    for name in ["status", "settlement_status", "payment_status"] {
        if let Some(v) = p.one_of(name)? {
            f.add(&format!("{name} = ?"), v);
        }
    }
    if let Some(b) = p.boolean("has_refund")? {
        f.add("has_refund = ?", b);
    }
    f.window(p)?;
    let scope = match p.string("x-business-id")? {
        Some(b) => Scope::business(&cx.acct, &b),
        None => Scope::account(&cx.acct),
    };
    let wanted = p.one_of("sort_column")?;
    let column = SORT_COLUMNS
        .iter()
        .find(|(name, _)| Some(*name) == wanted.as_deref())
        .map_or("created", |(_, column)| column);
    let direction = search::direction(p)?;
    let filter = format!(" WHERE {}{}", scope.sql, f.sql);
    let mut params = scope.params;
    params.extend(f.params);
    let total = search::total(cx.db, crate::flows::intent::TABLE, &filter, params.clone()).await?;
    // `seq` breaks ties, so pages never overlap or skip. The inner select names indexed columns
    // only, so it never reads a row's `data`; the outer one reads the page's rows.
    let order = format!(" ORDER BY {column} {direction}, seq {direction}");
    let (limit, limit_params) = paging.sql();
    params.extend(limit_params);
    let rows = cx
        .db
        .query(Stmt::new(
            format!(
                "SELECT data FROM payment_intents WHERE seq IN (SELECT seq FROM payment_intents{filter}{order}{limit}){order}"
            ),
            params,
        ))
        .await?;
    Ok(Outcome::read(search::result(
        "/v1/payment_intents/search",
        list::objects(&rows)?,
        &paging,
        total,
    )))
}
