//! `/v1/payouts` (served by the balance component): on-demand payouts and the payout schedule.
//! The rules are [`crate::domain::payout`]'s; the scheduled steps that make automatic payouts and
//! carry a payout to `paid` or `failed` are [`crate::flows::payout`]'s.
//!
//! ```text
//! created ─> pending ─ next round ─> in_transit ─ arrival_date ─┬─> paid
//!                                                               └─> failed (ba_test_failure; money back)
//! ```

use super::{Outcome, Route};
use crate::context::Ctx;
use crate::domain::payout::{CreatePayout, PayoutInterval};
use crate::error::{ApiError, ApiResult};
use crate::fields;
use crate::flows;
use crate::list::{self, ListSpec, Page};
use crate::money::parse_currency;
use crate::objects::*;
use crate::params::Params;
use crate::port::{Db, Env};
use crate::sql_params;
use crate::store::{load_path, to_json};
use serde_json::json;

pub const INTERVALS: &[&str] = PayoutInterval::NAMES;
pub use crate::domain::payout::DESTINATIONS;
const STATUSES: &[&str] = &["pending", "in_transit", "paid", "failed"];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, r: &Route, p: &Params) -> ApiResult<Outcome> {
    let id = r.id.as_deref().unwrap_or_default();
    match r.action {
        "payout_create" => create(cx, p).await,
        "payout_list" => {
            p.allow_only(&["limit", "starting_after", "ending_before", "status"])?;
            let page = Page::from_params(p)?;
            let (filter, filter_params) = match p.one_of("status", STATUSES)? {
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
        "payout" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(to_json(
                &load_path::<Payout, _, _>(cx, "payouts", "", "payout", id).await?.obj,
            )))
        }
        "schedule" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(schedule_json(flows::payout::interval(cx).await?)))
        }
        "schedule_update" => {
            p.allow_only(&["interval"])?;
            let interval = p
                .one_of("interval", INTERVALS)?
                .ok_or_else(|| ApiError::missing("interval"))?;
            // one_of admits only the names of INTERVALS.
            let interval =
                PayoutInterval::parse(&interval).ok_or_else(|| ApiError::internal("unknown payout interval"))?;
            let writes = flows::payout::set_interval(cx, interval);
            Ok(Outcome::write(schedule_json(interval), writes))
        }
        _ => unreachable!("every action in ROUTES is handled"),
    }
}

fn schedule_json(interval: PayoutInterval) -> serde_json::Value {
    json!({ "object": "payout_schedule", "interval": interval.as_str() })
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&["amount", "currency", "destination", "description", "metadata"])?;
    let currency = parse_currency("currency", &p.required_string("currency", 16)?)?;
    let amount = p.integer("amount")?;
    let destination = p
        .one_of("destination", DESTINATIONS)?
        .unwrap_or_else(|| DESTINATIONS[0].to_string());
    let description = p.string("description", 1000)?;
    let metadata = fields::new_metadata(p)?;
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
