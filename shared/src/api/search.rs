//! What seed 004's two searches share (`POST /v1/transactions/search`,
//! `POST /v1/payment_intents/search`): numbered pages with a total instead of cursors, a date
//! window on `created`, an amount range, a sort direction, and the `search_result` envelope.

use super::operation::{Args, Field};
use crate::error::{ApiError, ApiResult};
use crate::port::{Db, Row, SqlValue, Stmt};
use crate::sql_params;
use serde_json::{Value, json};

fn date_schema() -> Value {
    json!({
        "description": "RFC 3339 date-time or unix seconds; on `created`, inclusive.",
        "anyOf": [{ "type": "integer" }, { "type": "string", "pattern": "^[0-9]+$" }, { "type": "string", "format": "date-time" }],
    })
}

pub const START_DATE: Field = Field::any("start_date", date_schema);
pub const END_DATE: Field = Field::any("end_date", date_schema);
pub const AMOUNT_MIN: Field = Field::int("amount_min").doc("On `amount`, inclusive.");
pub const AMOUNT_MAX: Field = Field::int("amount_max").doc("On `amount`, inclusive.");
pub const SORT_DIRECTION: Field = Field::one_of("sort_direction", &["asc", "desc"]).default("\"desc\"");
pub const LIMIT: Field = Field::int_in("limit", 1, 50).default("10");
pub const PAGE: Field = Field::int_in("page", 1, 1_000_000).default("1");

/// SQL conditions (each starting ` AND `) and their parameters, built filter by filter.
#[derive(Default)]
pub struct Filter {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

impl Filter {
    pub fn add(&mut self, condition: &str, value: impl Into<SqlValue>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self.params.push(value.into());
    }

    /// A condition without parameters.
    pub fn raw(&mut self, condition: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
    }

    /// `start_date`/`end_date` on `created` and `amount_min`/`amount_max` on `amount`.
    pub fn window(&mut self, p: &Args<'_>) -> ApiResult<()> {
        for (name, condition) in [("start_date", "created >= ?"), ("end_date", "created <= ?")] {
            if let Some(t) = date(p, name)? {
                self.add(condition, t);
            }
        }
        for (name, condition) in [("amount_min", "amount >= ?"), ("amount_max", "amount <= ?")] {
            if let Some(a) = p.integer(name)? {
                self.add(condition, a);
            }
        }
        Ok(())
    }
}

/// `sort_direction` as SQL (`DESC` unless `asc`).
pub fn direction(p: &Args<'_>) -> ApiResult<&'static str> {
    Ok(match p.one_of("sort_direction")?.as_deref() {
        Some("asc") => "ASC",
        _ => "DESC",
    })
}

/// A date filter: RFC 3339 date-time or unix seconds.
fn date(p: &Args<'_>, name: &str) -> ApiResult<Option<i64>> {
    let bad = || {
        ApiError::invalid(
            name,
            "parameter_invalid",
            format!("{name} must be an RFC 3339 date-time (2026-11-21T10:00:00Z) or unix seconds."),
        )
    };
    match p.raw(name)? {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map(Some).map_err(|_| bad())
        }
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.timestamp()))
            .map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// The page of a search: `limit` and `page` (both within their declared ranges, checked before
/// the handler runs).
pub struct Paging {
    pub limit: i64,
    pub page: i64,
}

impl Paging {
    pub fn of(p: &Args<'_>) -> ApiResult<Paging> {
        Ok(Paging {
            limit: p.integer("limit")?.unwrap_or(10),
            page: p.integer("page")?.unwrap_or(1),
        })
    }

    /// `LIMIT ? OFFSET ?` and its parameters.
    pub fn sql(&self) -> (&'static str, Vec<SqlValue>) {
        (
            " LIMIT ? OFFSET ?",
            sql_params![self.limit, (self.page - 1) * self.limit],
        )
    }
}

/// How many rows of `table` match `filter` (its WHERE clause, from ` WHERE`).
pub async fn total(db: &impl Db, table: &str, filter: &str, params: Vec<SqlValue>) -> ApiResult<i64> {
    let rows: Vec<Row> = db
        .query(Stmt::new(format!("SELECT COUNT(*) FROM {table}{filter}"), params))
        .await?;
    Ok(rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0))
}

/// Seed 004's search answer: the page, `meta` with `page`, `limit` and `total`, and `has_more`.
pub fn result(url: &str, data: Vec<Value>, paging: &Paging, total: i64) -> Value {
    json!({
        "object": "search_result",
        "url": url,
        "has_more": paging.page * paging.limit < total,
        "data": data,
        "meta": { "page": paging.page, "limit": paging.limit, "total": total },
    })
}
