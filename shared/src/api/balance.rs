//! `/v1/balance`, `/v1/transactions` (list, retrieve, search, CSV download), `/v1/settlements`
//! and `/v1/processing_plan`; the component also serves `/v1/payouts` ([`super::payouts`]) and
//! `/v1/test_helpers` ([`super::test_clock`]). The daily settlement batch is
//! [`crate::flows::settlement`]'s.

use super::{Outcome, Route, match_route, payouts, test_clock};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{SOURCE_TYPES, TXN_COLUMNS, txn_json};
use crate::list::{self, ListSpec, Page};
use crate::money::parse_currency;
use crate::params::Params;
use crate::port::{Db, Env, SqlValue, Stmt};
use crate::sql_params;
use crate::store::load_path;
use serde_json::{Value, json};

pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "balance", "balance"),
    ("GET", "transactions", "transactions"),
    ("POST", "transactions/search", "search"),
    ("POST", "transactions/download", "download"),
    ("GET", "transactions/:id", "transaction"),
    ("GET", "settlements", "settlements"),
    ("GET", "settlements/:id", "settlement"),
    ("GET", "settlements/:id/transactions", "settlement_transactions"),
    ("GET", "processing_plan", "plan"),
    ("POST", "payouts", "payout_create"),
    ("GET", "payouts", "payout_list"),
    ("GET", "payouts/schedule", "schedule"),
    ("POST", "payouts/schedule", "schedule_update"),
    ("GET", "payouts/:id", "payout"),
    ("GET", "test_helpers/clock", "clock"),
    ("POST", "test_helpers/clock/advance", "clock_advance"),
];

pub fn route(method: &str, segs: &[&str]) -> ApiResult<Route> {
    match_route(ROUTES, method, segs)
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, r: &Route, p: &Params) -> ApiResult<Outcome> {
    let id = r.id.as_deref().unwrap_or_default();
    match r.action {
        "balance" => balance(cx, p).await,
        "transactions" => transactions(cx, p).await,
        "transaction" => {
            p.allow_only(&[])?;
            let rows = cx
                .db
                .query(Stmt::new(format!("SELECT {TXN_COLUMNS} FROM balance_transactions WHERE id = ? AND account_id = ? AND livemode = ?"), sql_params![id, &cx.acct.id, cx.acct.livemode]))
                .await?;
            let row = rows
                .first()
                .ok_or_else(|| ApiError::not_found("id", "transaction", id))?;
            Ok(Outcome::read(txn_json(row)))
        }
        "search" => search(cx, p).await,
        "download" => download(cx, p).await,
        "settlements" => {
            p.allow_only(&["limit", "starting_after", "ending_before", "currency"])?;
            let page = Page::from_params(p)?;
            let (filter, filter_params) = match p.string("currency", 16)? {
                Some(c) => (
                    " AND currency = ?".to_string(),
                    sql_params![parse_currency("currency", &c)?],
                ),
                None => (String::new(), vec![]),
            };
            let (data, has_more) = list::fetch(
                cx.db,
                &cx.acct,
                ListSpec {
                    table: "settlements",
                    filter,
                    filter_params,
                },
                &page,
            )
            .await?;
            Ok(Outcome::read(list::envelope("/v1/settlements", data, has_more)))
        }
        "settlement" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(
                load_path::<Value, _, _>(cx, "settlements", "", "settlement", id)
                    .await?
                    .obj,
            ))
        }
        "settlement_transactions" => {
            p.allow_only(&["limit", "starting_after", "ending_before"])?;
            let page = Page::from_params(p)?;
            load_path::<Value, _, _>(cx, "settlements", "", "settlement", id).await?;
            let spec = ListSpec {
                table: "balance_transactions",
                filter: " AND settlement_id = ?".into(),
                filter_params: sql_params![id],
            };
            let (rows, has_more) = list::fetch_rows(cx.db, &cx.acct, spec, &page, TXN_COLUMNS).await?;
            Ok(Outcome::read(list::envelope(
                &format!("/v1/settlements/{id}/transactions"),
                rows.iter().map(|r| txn_json(r)).collect(),
                has_more,
            )))
        }
        "plan" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(crate::plan::plan_json(cx.acct.livemode)))
        }
        "clock" | "clock_advance" => test_clock::run(cx, r, p).await,
        _ => payouts::run(cx, r, p).await,
    }
}

async fn balance<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&["currency"])?;
    let mut sql = "SELECT currency, pending, available FROM balances WHERE account_id = ? AND livemode = ?".to_string();
    let mut params = sql_params![&cx.acct.id, cx.acct.livemode];
    if let Some(c) = p.string("currency", 16)? {
        sql.push_str(" AND currency = ?");
        params.push(parse_currency("currency", &c)?.into());
    }
    sql.push_str(" ORDER BY currency");
    let rows = cx.db.query(Stmt::new(sql, params)).await?;
    let balances: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "currency": r[0].as_str(), "pending": r[1].as_i64(), "available": r[2].as_i64() }))
        .collect();
    Ok(Outcome::read(
        json!({ "object": "balance", "livemode": cx.acct.livemode, "balances": balances }),
    ))
}

async fn transactions<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&[
        "limit",
        "starting_after",
        "ending_before",
        "payout",
        "payout_id",
        "source_type",
        "settlement",
    ])?;
    let page = Page::from_params(p)?;
    let mut filter = String::new();
    let mut filter_params = Vec::new();
    let payout = match p.string("payout", 100)? {
        Some(po) => Some(po),
        None => p.string("payout_id", 100)?,
    };
    if let Some(po) = payout {
        filter.push_str(" AND payout_id = ?");
        filter_params.push(po.into());
    }
    if let Some(t) = p.one_of("source_type", SOURCE_TYPES)? {
        filter.push_str(" AND source_type = ?");
        filter_params.push(t.into());
    }
    if let Some(s) = p.string("settlement", 100)? {
        filter.push_str(" AND settlement_id = ?");
        filter_params.push(s.into());
    }
    let (rows, has_more) = list::fetch_rows(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "balance_transactions",
            filter,
            filter_params,
        },
        &page,
        TXN_COLUMNS,
    )
    .await?;
    Ok(Outcome::read(list::envelope(
        "/v1/transactions",
        rows.iter().map(|r| txn_json(r)).collect(),
        has_more,
    )))
}

/// The filters and order shared by search and download (seed 004).
struct Selection {
    filter: String,
    params: Vec<SqlValue>,
    order: String,
}

const SEARCH_FILTERS: &[&str] = &[
    "source_type",
    "settlement_status",
    "start_date",
    "end_date",
    "amount_min",
    "amount_max",
    "sort_column",
    "sort_direction",
];

fn selection<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Selection> {
    let mut filter = String::from(" WHERE account_id = ? AND livemode = ?");
    let mut params = sql_params![&cx.acct.id, cx.acct.livemode];
    if let Some(t) = p.one_of("source_type", SOURCE_TYPES)? {
        filter.push_str(" AND source_type = ?");
        params.push(t.into());
    }
    if let Some(s) = p.one_of("settlement_status", &["settled", "unsettled"])? {
        filter.push_str(" AND settlement_status = ?");
        params.push(s.into());
    }
    for (name, op) in [("start_date", ">="), ("end_date", "<=")] {
        if let Some(t) = date(p, name)? {
            filter.push_str(&format!(" AND created {op} ?"));
            params.push(t.into());
        }
    }
    for (name, op) in [("amount_min", ">="), ("amount_max", "<=")] {
        if let Some(a) = p.integer(name)? {
            filter.push_str(&format!(" AND amount {op} ?"));
            params.push(a.into());
        }
    }
    let column = match p
        .one_of("sort_column", &["updated_at", "created_at", "amount"])?
        .as_deref()
    {
        Some("created_at") => "created",
        Some("amount") => "amount",
        _ => "updated",
    };
    let direction = match p.one_of("sort_direction", &["asc", "desc"])?.as_deref() {
        Some("asc") => "ASC",
        _ => "DESC",
    };
    // `seq` breaks ties, so pages never overlap or skip.
    Ok(Selection {
        filter,
        params,
        order: format!(" ORDER BY {column} {direction}, seq {direction}"),
    })
}

/// A date filter: RFC 3339 date-time or unix seconds.
fn date(p: &Params, name: &str) -> ApiResult<Option<i64>> {
    let bad = || {
        ApiError::invalid(
            name,
            "parameter_invalid",
            format!("{name} must be an RFC 3339 date-time (2026-11-21T10:00:00Z) or unix seconds."),
        )
    };
    match p.raw(name) {
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

async fn search<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    let mut allowed = SEARCH_FILTERS.to_vec();
    allowed.extend(["limit", "page"]);
    p.allow_only(&allowed)?;
    let limit = p.integer("limit")?.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "parameter_invalid_integer",
            "limit must be between 1 and 50.",
        ));
    }
    let page = p.integer("page")?.unwrap_or(1);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::invalid(
            "page",
            "parameter_invalid_integer",
            "page must be between 1 and 1000000.",
        ));
    }
    let sel = selection(cx, p)?;
    let total = cx
        .db
        .query(Stmt::new(
            format!("SELECT COUNT(*) FROM balance_transactions{}", sel.filter),
            sel.params.clone(),
        ))
        .await?;
    let total = total.first().and_then(|r| r[0].as_i64()).unwrap_or(0);
    let mut params = sel.params;
    params.extend(sql_params![limit, (page - 1) * limit]);
    let rows = cx
        .db
        .query(Stmt::new(
            format!(
                "SELECT {TXN_COLUMNS} FROM balance_transactions{}{} LIMIT ? OFFSET ?",
                sel.filter, sel.order
            ),
            params,
        ))
        .await?;
    let data: Vec<Value> = rows.iter().map(|r| txn_json(r)).collect();
    Ok(Outcome::read(json!({
        "object": "search_result",
        "url": "/v1/transactions/search",
        "has_more": page * limit < total,
        "data": data,
        "meta": { "page": page, "limit": limit, "total": total },
    })))
}

/// Most rows one download returns; narrow the filters for more.
pub const MAX_DOWNLOAD_ROWS: i64 = 10_000;
const CSV_HEADER: &str = "id,created,updated,available_on,source_type,source_id,currency,amount,fee,net,status,settlement_status,settlement_id,settled_at,payout_id,description";

async fn download<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(SEARCH_FILTERS)?;
    let sel = selection(cx, p)?;
    let mut params = sel.params;
    params.push((MAX_DOWNLOAD_ROWS + 1).into());
    let rows = cx
        .db
        .query(Stmt::new(
            format!(
                "SELECT {TXN_COLUMNS} FROM balance_transactions{}{} LIMIT ?",
                sel.filter, sel.order
            ),
            params,
        ))
        .await?;
    if rows.len() as i64 > MAX_DOWNLOAD_ROWS {
        return Err(ApiError::invalid(
            "start_date",
            "too_many_rows",
            format!("More than {MAX_DOWNLOAD_ROWS} transactions match; narrow the date range or filters."),
        ));
    }
    let mut csv = String::with_capacity(64 + rows.len() * 160);
    csv.push_str(CSV_HEADER);
    csv.push('\n');
    for r in &rows {
        let t = txn_json(r);
        let cols = CSV_HEADER.split(',').map(|c| match &t[c] {
            Value::Null => String::new(),
            Value::String(s) => csv_field(s),
            v => v.to_string(),
        });
        csv.push_str(&cols.collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    Ok(Outcome {
        raw: Some(("text/csv; charset=utf-8", csv.into_bytes())),
        ..Outcome::read(Value::Null)
    })
}

/// RFC 4180: quote a field that holds a comma, quote or line break, doubling its quotes.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
