//! `/v1/balance`, `/v1/transactions` (list, retrieve, search, CSV download), `/v1/settlements`
//! and `/v1/processing_plan`; the component also serves `/v1/payouts` ([`super::payouts`]) and
//! `/v1/test_helpers` ([`super::test_clock`]). The daily settlement batch is
//! [`crate::flows::settlement`]'s.

use super::operation::{Args, Field, Op};
use super::search::{self, Filter, Paging};
use super::{Outcome, payouts, test_clock};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::ledger::{SOURCE_TYPE_FILTERS, SourceFilter, TXN_COLUMNS, txn_json};
use crate::list::{self, ListSpec};
use crate::money::parse_currency;
use crate::port::{Db, Env, SqlValue, Stmt};
use crate::sql_params;
use crate::store::load_path;
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Balance,
    Transactions,
    Search,
    Download,
    Transaction,
    Settlements,
    Settlement,
    SettlementTransactions,
    Plan,
    /// Seed 004's "Fetch Partner Processing Plan".
    PartnerPlan,
    Payouts(payouts::Action),
    Clock(test_clock::Action),
}

/// A currency filter in a query: an empty value is no filter.
const CURRENCY_FILTER: Field = Field::pattern("currency", 16, "^([A-Za-z]{3})?$").doc("ISO 4217 code, e.g. EUR.");

/// The filters and order of transaction search and download (seed 004).
const SELECTION: [Field; 8] = [
    Field::one_of("source_type", SOURCE_TYPE_FILTERS),
    Field::one_of("settlement_status", &["settled", "unsettled"]),
    search::START_DATE,
    search::END_DATE,
    search::AMOUNT_MIN,
    search::AMOUNT_MAX,
    Field::one_of("sort_column", &["updated_at", "created_at", "amount"]).default("\"updated_at\""),
    search::SORT_DIRECTION,
];
const SEARCH: &[Field] = &[
    SELECTION[0],
    SELECTION[1],
    SELECTION[2],
    SELECTION[3],
    SELECTION[4],
    SELECTION[5],
    SELECTION[6],
    SELECTION[7],
    search::LIMIT,
    search::PAGE,
];

/// Who may not advance the clock (the document's 403).
const SANDBOX_ONLY: &str = "A public key, or a live key: the test clock exists only in the sandbox.";

pub const OPS: &[Op<Action>] = &[
    Op::get("balance", "balance", Action::Balance)
        .summary("Retrieve the balances")
        .fields(&[CURRENCY_FILTER])
        .answers("Balance"),
    Op::get("transactions", "transactions", Action::Transactions)
        .summary("List transactions")
        .list()
        .fields(&[
            // Seed 004 names it payout_id.
            Field::str("payout", 100).alias("payout_id"),
            Field::one_of("source_type", SOURCE_TYPE_FILTERS),
            Field::str("settlement", 100),
        ])
        .answers("TransactionList"),
    Op::post("transactions/search", "search", Action::Search)
        .summary("Search transactions")
        .fields(SEARCH)
        .answers("TransactionSearchResult"),
    Op::post("transactions/download", "download", Action::Download)
        .summary("Download transactions as CSV (at most 10,000 rows)")
        .fields(&SELECTION)
        .answers_raw(
            "text/csv",
            "A header line (id,created,updated,available_on,source_type,source_id,currency,amount,fee,net,status,settlement_status,settlement_id,settled_at,payout_id,description), then one line per transaction (RFC 4180).",
        ),
    Op::get("transactions/:id", "transaction", Action::Transaction)
        .summary("Retrieve a transaction")
        .answers("Transaction"),
    Op::get("settlements", "settlements", Action::Settlements)
        .summary("List settlements")
        .list()
        .fields(&[CURRENCY_FILTER])
        .answers("SettlementList"),
    Op::get("settlements/:id", "settlement", Action::Settlement)
        .summary("Retrieve a settlement")
        .answers("Settlement"),
    Op::get("settlements/:id/transactions", "settlement_transactions", Action::SettlementTransactions)
        .summary("List a settlement's transactions")
        .list()
        .answers("TransactionList"),
    Op::get("processing_plan", "plan", Action::Plan)
        .summary("Retrieve the processing plan")
        .answers("ProcessingPlan"),
    Op::get("partners/:id/processing_plan", "partner_plan", Action::PartnerPlan)
        .summary("Retrieve a partner's processing plan: your own account's id, or your platform's when acting as a connected account")
        .seed004()
        .answers("ProcessingPlan"),
    Op::get("business/payouts", "business_payouts", Action::Payouts(payouts::Action::Business))
        .summary("List the payouts of every account of a business (x-business-id), newest first")
        .list()
        .fields(&[payouts::BUSINESS])
        .seed004()
        .answers("BusinessPayoutList"),
    Op::post("payouts", "payout_create", Action::Payouts(payouts::Action::Create))
        .summary("Pay out available balance to the bank")
        .fields(payouts::CREATE)
        .answers("Payout"),
    Op::get("payouts", "payout_list", Action::Payouts(payouts::Action::List))
        .summary("List payouts")
        .list()
        .fields(&[Field::one_of("status", payouts::STATUSES)])
        .answers("PayoutList"),
    Op::get("payouts/schedule", "schedule", Action::Payouts(payouts::Action::Schedule))
        .summary("Retrieve the payout schedule")
        .answers("PayoutSchedule"),
    Op::post("payouts/schedule", "schedule_update", Action::Payouts(payouts::Action::ScheduleUpdate))
        .summary("Set the payout schedule")
        .fields(&[Field::one_of("interval", payouts::INTERVALS).required().doc("weekly: Mondays; monthly: the 1st.")])
        .answers("PayoutSchedule"),
    Op::get("payouts/:id", "payout", Action::Payouts(payouts::Action::Retrieve))
        .summary("Retrieve a payout")
        .answers("Payout"),
    Op::get("test_helpers/clock", "clock", Action::Clock(test_clock::Action::Clock))
        .summary("Retrieve the sandbox clock")
        .sandbox_only(test_clock::SANDBOX_ONLY)
        .forbidden(SANDBOX_ONLY)
        .answers("TestClock"),
    Op::post("test_helpers/clock/advance", "clock_advance", Action::Clock(test_clock::Action::Advance))
        .summary("Advance the sandbox clock and run every step that became due")
        .sandbox_only(test_clock::SANDBOX_ONLY)
        .forbidden(SANDBOX_ONLY)
        .fields(&[Field::int_in("seconds", 1, test_clock::MAX_ADVANCE_SECS).required()])
        .answers("TestClockAdvance"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Balance => balance(cx, p).await,
        Action::Transactions => transactions(cx, p).await,
        Action::Transaction => {
            let rows = cx
                .db
                .query(Stmt::new(format!("SELECT {TXN_COLUMNS} FROM balance_transactions WHERE id = ? AND account_id = ? AND livemode = ?"), sql_params![id, &cx.acct.id, cx.acct.livemode]))
                .await?;
            let row = rows
                .first()
                .ok_or_else(|| ApiError::not_found("id", "transaction", id))?;
            Ok(Outcome::read(txn_json(row)))
        }
        Action::Search => search(cx, p).await,
        Action::Download => download(cx, p).await,
        Action::Settlements => {
            let page = p.page()?;
            let (filter, filter_params) = match p.string("currency")? {
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
        Action::Settlement => Ok(Outcome::read(
            load_path::<Value, _, _>(cx, "settlements", "", "settlement", id)
                .await?
                .obj,
        )),
        Action::SettlementTransactions => {
            let page = p.page()?;
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
        Action::Plan => Ok(Outcome::read(crate::plan::plan_json(cx.acct.livemode))),
        Action::PartnerPlan => {
            // Every partner has the sandbox plan; the id must be one the caller may ask about.
            if id != cx.acct.id && cx.acct.platform_id.as_deref() != Some(id) {
                return Err(ApiError::not_found("id", "partner", id));
            }
            Ok(Outcome::read(crate::plan::plan_json(cx.acct.livemode)))
        }
        Action::Clock(action) => test_clock::run(cx, action, p).await,
        Action::Payouts(action) => payouts::run(cx, action, id, p).await,
    }
}

async fn balance<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let mut sql = "SELECT currency, pending, available FROM balances WHERE account_id = ? AND livemode = ?".to_string();
    let mut params = sql_params![&cx.acct.id, cx.acct.livemode];
    if let Some(c) = p.string("currency")? {
        sql.push_str(" AND currency = ?");
        params.push(parse_currency("currency", &c)?.into());
    }
    sql.push_str(" ORDER BY currency");
    let rows = cx.db.query(Stmt::new(sql, params)).await?;
    // Every column is NOT NULL.
    let balances = rows
        .iter()
        .map(|r| CurrencyBalance {
            currency: r[0].as_str().unwrap_or_default().to_string(),
            pending: r[1].as_i64().unwrap_or_default(),
            available: r[2].as_i64().unwrap_or_default(),
        })
        .collect();
    let balance = Balance {
        object: "balance",
        livemode: cx.acct.livemode,
        balances,
    };
    Ok(Outcome::read(serde_json::to_value(balance).unwrap_or(Value::Null)))
}

/// The merchant's balance: one entry per currency it has held.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Balance {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "balance")))]
    pub object: &'static str,
    pub livemode: bool,
    pub balances: Vec<CurrencyBalance>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct CurrencyBalance {
    pub currency: String,
    pub pending: i64,
    pub available: i64,
}

async fn transactions<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    let mut f = Filter::default();
    if let Some(po) = p.string("payout")? {
        f.add("payout_id = ?", po);
    }
    if let Some(t) = p.one_of("source_type")? {
        source_type_filter(&mut f, &t);
    }
    if let Some(s) = p.string("settlement")? {
        f.add("settlement_id = ?", s);
    }
    let (rows, has_more) = list::fetch_rows(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "balance_transactions",
            filter: f.sql,
            filter_params: f.params,
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

/// `source_type`: one of ours, or one of seed 004's (docs/money.md).
fn source_type_filter(f: &mut Filter, t: &str) {
    match SourceFilter::of(t).sql() {
        (condition, Some(value)) => f.add(condition, value),
        (condition, None) => f.raw(condition),
    }
}

/// The filters and order shared by search and download (seed 004).
struct Selection {
    filter: String,
    params: Vec<SqlValue>,
    order: String,
}

fn selection<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Selection> {
    let mut f = Filter::default();
    if let Some(t) = p.one_of("source_type")? {
        source_type_filter(&mut f, &t);
    }
    if let Some(s) = p.one_of("settlement_status")? {
        f.add("settlement_status = ?", s);
    }
    f.window(p)?;
    let column = match p.one_of("sort_column")?.as_deref() {
        Some("created_at") => "created",
        Some("amount") => "amount",
        _ => "updated",
    };
    let direction = search::direction(p)?;
    let mut params = sql_params![&cx.acct.id, cx.acct.livemode];
    params.extend(f.params);
    // `seq` breaks ties, so pages never overlap or skip.
    Ok(Selection {
        filter: format!(" WHERE account_id = ? AND livemode = ?{}", f.sql),
        params,
        order: format!(" ORDER BY {column} {direction}, seq {direction}"),
    })
}

async fn search<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let paging = Paging::of(p)?;
    let sel = selection(cx, p)?;
    let total = search::total(cx.db, "balance_transactions", &sel.filter, sel.params.clone()).await?;
    let (limit, limit_params) = paging.sql();
    let mut params = sel.params;
    params.extend(limit_params);
    let rows = cx
        .db
        .query(Stmt::new(
            format!(
                "SELECT {TXN_COLUMNS} FROM balance_transactions{}{}{limit}",
                sel.filter, sel.order
            ),
            params,
        ))
        .await?;
    let data: Vec<Value> = rows.iter().map(|r| txn_json(r)).collect();
    Ok(Outcome::read(search::result(
        "/v1/transactions/search",
        data,
        &paging,
        total,
    )))
}

/// Most rows one download returns; narrow the filters for more.
pub const MAX_DOWNLOAD_ROWS: i64 = 10_000;
const CSV_HEADER: &str = "id,created,updated,available_on,source_type,source_id,currency,amount,fee,net,status,settlement_status,settlement_id,settled_at,payout_id,description";

async fn download<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
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

/// RFC 4180: quote a field that holds a comma, quote or line break, doubling its quotes. A text
/// cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) gets a leading `'` (OWASP's CSV injection advice): a description such as
/// `=HYPERLINK(...)` stays text. Numbers are not text cells and keep their sign.
fn csv_field(s: &str) -> String {
    let neutral;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        neutral = format!("'{s}");
        &neutral
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_cells_that_read_as_formulas_stay_text() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for s in ["+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert!(csv_field(s).trim_start_matches('"').starts_with('\''), "{s:?}");
        }
        assert_eq!(csv_field("plain, text"), "\"plain, text\"");
        assert_eq!(csv_field("refund 1-2"), "refund 1-2");
    }
}
