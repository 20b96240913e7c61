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
    let (rows, has_more) = fetch_rows(db, acct, spec, page, "data").await?;
    let data = rows
        .iter()
        .map(|r| {
            r[0].as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .ok_or_else(|| ApiError::internal("unreadable stored object"))
        })
        .collect::<ApiResult<_>>()?;
    Ok((data, has_more))
}

/// As `fetch`, returning the raw `columns` of each row (for tables without a `data` column).
pub async fn fetch_rows(
    db: &impl Db,
    acct: &Account,
    spec: ListSpec,
    page: &Page,
    columns: &str,
) -> ApiResult<(Vec<crate::port::Row>, bool)> {
    let table = spec.table;
    let (cursor_param, cursor) = match (&page.starting_after, &page.ending_before) {
        (Some(c), _) => ("starting_after", Some(c)),
        (_, Some(c)) => ("ending_before", Some(c)),
        _ => ("", None),
    };
    let mut params = sql_params![&acct.id, acct.livemode];
    params.extend(spec.filter_params);
    let mut sql = format!(
        "SELECT {columns} FROM {table} WHERE account_id = ? AND livemode = ?{}",
        spec.filter
    );
    let ascending = page.ending_before.is_some();
    if let Some(c) = cursor {
        let rows = db
            .query(Stmt::new(
                format!("SELECT seq FROM {table} WHERE id = ? AND account_id = ? AND livemode = ?"),
                sql_params![c, &acct.id, acct.livemode],
            ))
            .await?;
        let seq = rows.first().and_then(|r| r[0].as_i64()).ok_or_else(|| {
            ApiError::invalid(
                cursor_param,
                "resource_missing",
                format!("No such object for {cursor_param}: '{c}'."),
            )
        })?;
        sql.push_str(if ascending { " AND seq > ?" } else { " AND seq < ?" });
        params.push(SqlValue::Int(seq));
    }
    sql.push_str(if ascending {
        " ORDER BY seq ASC LIMIT ?"
    } else {
        " ORDER BY seq DESC LIMIT ?"
    });
    params.push(SqlValue::Int(page.limit + 1));
    let mut rows = db.query(Stmt::new(sql, params)).await?;
    let has_more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    if ascending {
        rows.reverse();
    }
    Ok((rows, has_more))
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
