//! Cursor pagination shared by every list endpoint: `limit` (default 10, max 100),
//! `starting_after` / `ending_before` (object ids), newest first, `has_more`.

use crate::auth::Account;
use crate::error::{ApiError, ApiResult};
use crate::port::{Db, SqlValue, Stmt};
use crate::sql_params;
use serde_json::{Value, json};

pub const DEFAULT_LIMIT: i64 = 10;
pub const MAX_LIMIT: i64 = 100;

/// A list request's cursor, as [`crate::api::operation::Args::page`] reads it.
pub struct Page {
    pub limit: i64,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

/// One table's list query. `filter` adds fixed SQL conditions (e.g. `AND deleted = 0`) and
/// `filter_params` binds their placeholders.
pub struct ListSpec {
    pub table: &'static str,
    pub filter: String,
    pub filter_params: Vec<SqlValue>,
}

/// Runs the list and returns the stored `data` JSON of each row, newest first, with `has_more`.
pub async fn fetch(db: &impl Db, acct: &Account, spec: ListSpec, page: &Page) -> ApiResult<(Vec<Value>, bool)> {
    fetch_in(db, Scope::account(acct), spec, page).await
}

/// As `fetch`, returning the raw `columns` of each row (for tables without a `data` column).
pub async fn fetch_rows(
    db: &impl Db,
    acct: &Account,
    spec: ListSpec,
    page: &Page,
    columns: &str,
) -> ApiResult<(Vec<crate::port::Row>, bool)> {
    fetch_rows_in(db, Scope::account(acct), spec, page, columns).await
}

/// Which rows of a table a list may see, and the column that orders them.
pub struct Scope {
    /// SQL conditions (`account_id = ? AND livemode = ?`) and their parameters.
    pub sql: String,
    pub params: Vec<SqlValue>,
    /// Insertion order: `seq`, or `rowid` for a table without one (accounts).
    pub order: &'static str,
}

impl Scope {
    /// The caller's own rows in its environment: every list but the platform's.
    pub fn account(acct: &Account) -> Scope {
        Scope {
            sql: "account_id = ? AND livemode = ?".into(),
            params: sql_params![&acct.id, acct.livemode],
            order: "seq",
        }
    }

    /// The rows of every account of business `business` (seed 004's `x-business-id`) that the
    /// caller may see: its own, if it is of that business, and its connected accounts of it.
    pub fn business(acct: &Account, business: &str) -> Scope {
        Scope {
            sql: "livemode = ? AND account_id IN (SELECT id FROM accounts WHERE business_id = ? AND (id = ? OR platform_id = ?))"
                .into(),
            params: sql_params![acct.livemode, business, &acct.id, &acct.id],
            order: "seq",
        }
    }
}

/// As [`fetch_rows`], over the rows `scope` allows (a platform's accounts, a business's payouts).
pub async fn fetch_rows_in(
    db: &impl Db,
    scope: Scope,
    spec: ListSpec,
    page: &Page,
    columns: &str,
) -> ApiResult<(Vec<crate::port::Row>, bool)> {
    let table = spec.table;
    let order = scope.order;
    let (cursor_param, cursor) = match (&page.starting_after, &page.ending_before) {
        (Some(c), _) => ("starting_after", Some(c)),
        (_, Some(c)) => ("ending_before", Some(c)),
        _ => ("", None),
    };
    let mut params = scope.params.clone();
    params.extend(spec.filter_params);
    let mut sql = format!("SELECT {columns} FROM {table} WHERE {}{}", scope.sql, spec.filter);
    let ascending = page.ending_before.is_some();
    if let Some(c) = cursor {
        let mut cursor_params = sql_params![c];
        cursor_params.extend(scope.params);
        let rows = db
            .query(Stmt::new(
                format!("SELECT {order} FROM {table} WHERE id = ? AND {}", scope.sql),
                cursor_params,
            ))
            .await?;
        let seq = rows.first().and_then(|r| r[0].as_i64()).ok_or_else(|| {
            ApiError::invalid(
                cursor_param,
                "resource_missing",
                format!("No such object for {cursor_param}: '{c}'."),
            )
        })?;
        sql.push_str(&format!(" AND {order} {} ?", if ascending { ">" } else { "<" }));
        params.push(SqlValue::Int(seq));
    }
    sql.push_str(&format!(
        " ORDER BY {order} {} LIMIT ?",
        if ascending { "ASC" } else { "DESC" }
    ));
    params.push(SqlValue::Int(page.limit + 1));
    let mut rows = db.query(Stmt::new(sql, params)).await?;
    let has_more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    if ascending {
        rows.reverse();
    }
    Ok((rows, has_more))
}

/// As [`fetch`], over the rows `scope` allows.
pub async fn fetch_in(db: &impl Db, scope: Scope, spec: ListSpec, page: &Page) -> ApiResult<(Vec<Value>, bool)> {
    let (rows, has_more) = fetch_rows_in(db, scope, spec, page, "data").await?;
    Ok((objects(&rows)?, has_more))
}

/// The stored objects of rows whose first column is `data`.
pub fn objects(rows: &[crate::port::Row]) -> ApiResult<Vec<Value>> {
    rows.iter()
        .map(|r| {
            r[0].as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .ok_or_else(|| ApiError::internal("unreadable stored object"))
        })
        .collect()
}

pub fn envelope(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "url": url, "has_more": has_more, "data": data })
}

/// Seed 004's list shape: `data`, `meta` (cursors: `limit`, `has_more`, and the ids to pass as
/// `starting_after` for the next page and `ending_before` for the previous one), `has_more`; and
/// the API's `object` and `url`, so the same client code reads either. docs/intents.md.
pub fn seed004_envelope(url: &str, data: Vec<Value>, has_more: bool, limit: i64) -> Value {
    let id = |v: Option<&Value>| v.and_then(|o| o.get("id")).cloned().unwrap_or(Value::Null);
    let meta = json!({
        "limit": limit,
        "has_more": has_more,
        "starting_after": if has_more { id(data.last()) } else { Value::Null },
        "ending_before": id(data.first()),
    });
    json!({ "object": "list", "url": url, "has_more": has_more, "data": data, "meta": meta })
}
