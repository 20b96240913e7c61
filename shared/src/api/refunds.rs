//! `/v1/refunds` (and the `/v1/disputes` routes, served by the same component; see
//! [`super::disputes`]): routes, parameters and responses. What a refund may do and what it
//! changes are [`crate::domain::refund`]'s, written by [`crate::flows::refund`].

use super::disputes;
use super::{Outcome, Route, match_route};
use crate::context::Ctx;
use crate::domain::refund::CreateRefund;
use crate::error::ApiResult;
use crate::fields;
use crate::flows;
use crate::list::{self, ListSpec, Page};
use crate::objects::*;
use crate::params::Params;
use crate::port::{Db, Env};
use crate::sql_params;
use crate::store::{load_path, to_json};

pub const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "refunds", "create"),
    ("GET", "refunds", "list"),
    ("GET", "refunds/:id", "retrieve"),
    ("GET", "disputes", "dispute_list"),
    ("GET", "disputes/:id", "dispute_retrieve"),
    ("POST", "disputes/:id", "dispute_update"),
    ("POST", "disputes/:id/close", "dispute_close"),
];

pub const REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer"];

pub fn route(method: &str, segs: &[&str]) -> ApiResult<Route> {
    match_route(ROUTES, method, segs)
}

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, r: &Route, p: &Params) -> ApiResult<Outcome> {
    let id = r.id.as_deref().unwrap_or_default();
    match r.action {
        "create" => create(cx, p).await,
        "list" => {
            p.allow_only(&["limit", "starting_after", "ending_before", "payment"])?;
            let page = Page::from_params(p)?;
            let (filter, filter_params) = match p.string("payment", 100)? {
                Some(pay) => (" AND payment_id = ?".to_string(), sql_params![pay]),
                None => (String::new(), vec![]),
            };
            let (data, has_more) = list::fetch(
                cx.db,
                &cx.acct,
                ListSpec {
                    table: "refunds",
                    filter,
                    filter_params,
                },
                &page,
            )
            .await?;
            Ok(Outcome::read(list::envelope("/v1/refunds", data, has_more)))
        }
        "retrieve" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(to_json(
                &load_path::<Refund, _, _>(cx, "refunds", "", "refund", id).await?.obj,
            )))
        }
        _ => disputes::run(cx, r, p).await,
    }
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&["payment", "amount", "reason", "metadata"])?;
    let input = CreateRefund {
        payment: p.required_string("payment", 100)?,
        amount: p.integer("amount")?,
        reason: p.one_of("reason", REASONS)?,
        metadata: fields::new_metadata(p)?,
    };
    let (refund, writes) = flows::refund::create(cx, input).await?;
    Ok(Outcome::write(to_json(&refund), writes))
}
