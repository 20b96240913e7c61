//! `/v1/payouts` (served by the balance component): on-demand payouts and the payout schedule.
//! The rules are [`crate::domain::payout`]'s; the scheduled steps that make automatic payouts and
//! carry a payout to `paid` or `failed` are [`crate::flows::payout`]'s.
//!
//! ```text
//! created ─> pending ─ next round ─> in_transit ─ arrival_date ─┬─> paid
//!                                                               └─> failed (ba_test_failure; money back)
//! ```

use super::Outcome;
use super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::payout::{CreatePayout, PayoutInterval};
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::flows;
use crate::list::{self, ListSpec};
use crate::money::parse_currency;
use crate::objects::*;
use crate::port::{Db, Env};
use crate::sql_params;
use crate::store::{load_path, to_json};
use serde::Serialize;

pub const INTERVALS: &[&str] = PayoutInterval::NAMES;
pub use crate::domain::payout::DESTINATIONS;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Retrieve,
    Schedule,
    ScheduleUpdate,
    /// Seed 004's business payouts.
    Business,
}

/// `GET /v1/business/payouts`: whose payouts.
pub const BUSINESS: Field = Field::str("x-business-id", 100)
    .header()
    .required()
    .doc("The business whose accounts' payouts to list (the business_id given to POST /v1/accounts).");

pub const STATUSES: &[&str] = &["pending", "in_transit", "paid", "failed"];

/// `POST /v1/payouts` (declared in the balance group's table).
pub const CREATE: &[Field] = &[
    Field::pattern("currency", 16, "^[A-Za-z]{3}$")
        .required()
        .doc("ISO 4217 code, e.g. EUR."),
    Field::int_min("amount", 1).doc("Minor units; at most the available balance, which is the default."),
    Field::one_of("destination", DESTINATIONS).default("\"ba_test_success\""),
    Field::str("description", 1000),
    Field::metadata(),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let page = p.page()?;
            let (filter, filter_params) = match p.one_of("status")? {
                Some(s) => (" AND status = ?".to_string(), sql_params![s]),
                None => (String::new(), vec![]),
            };
            let (data, has_more) = list::fetch(
                cx.db,
                &cx.acct,
                ListSpec {
                    table: "payouts",
                    filter,
                    filter_params,
                },
                &page,
            )
            .await?;
            Ok(Outcome::read(list::envelope("/v1/payouts", data, has_more)))
        }
        Action::Business => {
            let page = p.page()?;
            let business = p.required_string("x-business-id")?;
            let spec = ListSpec {
                table: "payouts",
                filter: String::new(),
                filter_params: Vec::new(),
            };
            let (data, has_more) =
                list::fetch_in(cx.db, list::Scope::business(&cx.acct, &business), spec, &page).await?;
            Ok(Outcome::read(list::seed004_envelope(
                "/v1/business/payouts",
                data,
                has_more,
                page.limit,
            )))
        }
        Action::Retrieve => Ok(Outcome::read(to_json(
            &load_path::<Payout, _, _>(cx, "payouts", "", "payout", id).await?.obj,
        ))),
        Action::Schedule => Ok(Outcome::read(schedule_json(flows::payout::interval(cx).await?))),
        Action::ScheduleUpdate => {
            let interval = p.one_of("interval")?.ok_or_else(|| ApiError::missing("interval"))?;
            // one_of admits only the names of INTERVALS.
            let interval =
                PayoutInterval::parse(&interval).ok_or_else(|| ApiError::internal("unknown payout interval"))?;
            let writes = flows::payout::set_interval(cx, interval);
            Ok(Outcome::write(schedule_json(interval), writes))
        }
    }
}

fn schedule_json(interval: PayoutInterval) -> serde_json::Value {
    let schedule = PayoutSchedule {
        object: "payout_schedule",
        interval: interval.as_str(),
    };
    serde_json::to_value(schedule).unwrap_or_default()
}

/// How often automatic payouts are made.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PayoutSchedule {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "payout_schedule")))]
    pub object: &'static str,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = INTERVALS)))]
    pub interval: &'static str,
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let currency = parse_currency("currency", &p.required_string("currency")?)?;
    let amount = p.integer("amount")?;
    let destination = p.one_of("destination")?.unwrap_or_else(|| DESTINATIONS[0].to_string());
    let description = p.string("description")?;
    let metadata = fields::new_metadata(p.params())?;
    let input = CreatePayout {
        currency,
        amount,
        destination,
        description,
        metadata,
    };
    let (po, writes) = flows::payout::create(cx, input).await?;
    Ok(Outcome::write(to_json(&po), writes))
}
