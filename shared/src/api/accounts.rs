//! A platform's connected accounts (seed 004's "Accounts"), `/v1/accounts`: create, list,
//! retrieve. A connected account has no keys of its own: the platform acts as it with
//! `x-account-id` ([`crate::auth::acting_as`]) and pays it with `payment_splits`.
//! docs/platforms.md.

use super::Outcome;
use super::operation::{Args, Field};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::keys::hex;
use crate::list::{self, ListSpec, Scope};
use crate::objects::accounts::ConnectedAccount;
use crate::port::{Db, Env, Row, SqlValue, Stmt};
use crate::sql_params;
use crate::store::to_json;
use crate::terminal::payment::rfc3339;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
}

/// Seed 004's business ids are the platform's own grouping keys.
const BUSINESS_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,100}$";

pub const CREATE: &[Field] = &[
    Field::str("business_name", 255),
    Field::pattern("business_id", 100, BUSINESS_ID_PATTERN)
        .doc("Groups the accounts of one business (x-business-id); your own key, e.g. biz_123."),
    Field::checked("email", 512),
    Field::metadata(),
];

pub const LIST: &[Field] =
    &[Field::pattern("business_id", 100, BUSINESS_ID_PATTERN).doc("Only the accounts of this business.")];

/// `business_id` as [`BUSINESS_ID_PATTERN`] says (declarations document patterns; handlers check).
fn business_id(p: &Args<'_>) -> ApiResult<Option<String>> {
    let b = p.string("business_id")?;
    match &b {
        Some(v) if !v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') => Err(ApiError::invalid(
            "business_id",
            "parameter_invalid_string",
            "business_id takes letters, digits, '_' and '-' (at most 100).",
        )),
        _ => Ok(b),
    }
}

/// The columns [`from_row`] reads, in order.
const COLUMNS: &str = "id, name, business_id, platform_id, livemode, created, data";

/// The caller's connected accounts in its environment (and those the CLI made, which are in both).
const MINE: &str = "platform_id = ? AND (livemode IS NULL OR livemode = ?)";

fn mine<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> Scope {
    Scope {
        sql: MINE.into(),
        params: sql_params![&cx.acct.id, cx.acct.livemode],
        order: "rowid",
    }
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p),
        Action::List => {
            let page = p.page()?;
            let (filter, filter_params) = match business_id(p)? {
                Some(b) => (" AND business_id = ?".to_string(), sql_params![b]),
                None => (String::new(), Vec::new()),
            };
            let spec = ListSpec {
                table: "accounts",
                filter,
                filter_params,
            };
            let (rows, has_more) = list::fetch_rows_in(cx.db, mine(cx), spec, &page, COLUMNS).await?;
            let data = rows.iter().map(from_row).collect::<ApiResult<Vec<_>>>()?;
            Ok(Outcome::read(list::seed004_envelope(
                "/v1/accounts",
                data,
                has_more,
                page.limit,
            )))
        }
        Action::Retrieve => {
            let mut params = sql_params![id];
            params.extend(mine(cx).params);
            let rows = cx
                .db
                .query(Stmt::new(
                    format!("SELECT {COLUMNS} FROM accounts WHERE id = ? AND {MINE}"),
                    params,
                ))
                .await?;
            let row = rows.first().ok_or_else(|| ApiError::not_found("id", "account", id))?;
            Ok(Outcome::read(from_row(row)?))
        }
    }
}

fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let email = p.string("email")?.map(|e| fields::email("email", &e)).transpose()?;
    let a = ConnectedAccount {
        id: cx.id("acct_"),
        object: "account".into(),
        entity: "account".into(),
        business_name: p.string("business_name")?,
        business_id: business_id(p)?,
        email,
        metadata: fields::new_metadata(p.params())?,
        partner_id: cx.acct.id.clone(),
        livemode: Some(cx.acct.livemode),
        created_at: rfc3339(cx.now),
        updated_at: rfc3339(cx.now),
        created: cx.now,
    };
    // Its own card-fingerprint key: the same card fingerprints differently in every account.
    let mut fp = [0u8; 32];
    cx.env.fill_random(&mut fp);
    let data = to_json(&a);
    let write = Stmt::new(
        "INSERT INTO accounts (id, name, fingerprint_key, created, platform_id, livemode, business_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &a.id,
            a.business_name.clone().unwrap_or_default(),
            hex(&fp),
            cx.now,
            &cx.acct.id,
            cx.acct.livemode,
            a.business_id.clone(),
            data.to_string()
        ],
    );
    Ok(Outcome::write(data, vec![write]))
}

/// A stored account (selected with [`COLUMNS`]) as returned. One the CLI made has no stored
/// object: it is described from its columns.
fn from_row(r: &Row) -> ApiResult<Value> {
    if let Some(d) = r[6].as_str() {
        return serde_json::from_str(d).map_err(|_| ApiError::internal("unreadable stored account"));
    }
    let text = |i: usize| r[i].as_str().map(str::to_string);
    let created = r[5].as_i64().unwrap_or(0);
    Ok(to_json(&ConnectedAccount {
        id: text(0).unwrap_or_default(),
        object: "account".into(),
        entity: "account".into(),
        business_name: text(1).filter(|n| !n.is_empty()),
        business_id: text(2),
        email: None,
        metadata: Default::default(),
        partner_id: text(3).unwrap_or_default(),
        livemode: match r[4] {
            SqlValue::Null => None,
            ref v => Some(v.as_i64() == Some(1)),
        },
        created_at: rfc3339(created),
        updated_at: rfc3339(created),
        created,
    }))
}
