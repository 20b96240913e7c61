//! `/v1/disputes` (served by the refunds component): routes, parameters and responses. The
//! dispute lifecycle is [`crate::domain::dispute`]'s, written by [`crate::flows::dispute`].

use super::Outcome;
use super::operation::{Args, Field};
use crate::context::Ctx;
use crate::domain::dispute::UpdateDispute;
use crate::error::ApiResult;
use crate::fields;
use crate::flows;
use crate::list::{self, ListSpec};
use crate::objects::*;
use crate::port::{Db, Env};
use crate::sql_params;
use crate::store::{load_path, to_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    List,
    Retrieve,
    Update,
    Close,
}

/// The `status` filter: seed 004's `new` is our `needs_response`.
pub const STATUSES: &[&str] = &["needs_response", "new", "under_review", "won", "lost"];

const EVIDENCE: &[Field] = &[
    Field::str("product_description", 20_000),
    Field::str("customer_communication", 20_000),
    Field::str("refund_policy", 20_000),
    Field::str("shipping_tracking_number", 20_000),
    Field::str("uncategorized_text", 20_000),
];

/// `POST /v1/disputes/:id` (declared in the refunds group's table).
pub const UPDATE: &[Field] = &[
    // Its errors come after the dispute's own (missing, closed): checked when read.
    Field::late_object("evidence", EVIDENCE),
    Field::bool("submit")
        .default("true")
        .doc("false saves the evidence and keeps the status."),
    Field::metadata(),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::List => list(cx, p).await,
        Action::Retrieve => Ok(Outcome::read(to_json(
            &load_path::<Dispute, _, _>(cx, "disputes", "", "dispute", id).await?.obj,
        ))),
        Action::Update => update(cx, id, p).await,
        Action::Close => {
            let (d, writes) = flows::dispute::close(cx, id).await?;
            Ok(Outcome::write(to_json(&d), writes))
        }
    }
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    let submit = p.boolean("submit")?.unwrap_or(true);
    let metadata = fields::metadata(p.params())?;
    let input = UpdateDispute {
        submit,
        // Its errors come after the dispute's own (missing, closed): the domain raises them.
        evidence: p
            .object("evidence")
            .and_then(|ev| ev.map(|ev| parse_evidence(&ev)).transpose()),
        metadata,
    };
    let (d, writes) = flows::dispute::update(cx, id, input).await?;
    Ok(Outcome::write(to_json(&d), writes))
}

/// The evidence fields given (checked against [`EVIDENCE`] when read).
fn parse_evidence(ev: &Args<'_>) -> ApiResult<Evidence> {
    let mut out = Evidence::default();
    for field in EVIDENCE.iter().map(|f| f.name) {
        if let Some(v) = ev.string(field)? {
            let slot = match field {
                "product_description" => &mut out.product_description,
                "customer_communication" => &mut out.customer_communication,
                "refund_policy" => &mut out.refund_policy,
                "shipping_tracking_number" => &mut out.shipping_tracking_number,
                _ => &mut out.uncategorized_text,
            };
            *slot = Some(v);
        }
    }
    Ok(out)
}

async fn list<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let page = p.page()?;
    let mut filter = String::new();
    let mut filter_params = Vec::new();
    if let Some(s) = p.one_of("status")? {
        filter.push_str(" AND status = ?");
        // Seed 004's `new` is our `needs_response`.
        filter_params.extend(sql_params![if s == "new" { "needs_response".to_string() } else { s }]);
    }
    if let Some(pay) = p.string("payment")? {
        filter.push_str(" AND payment_id = ?");
        filter_params.extend(sql_params![pay]);
    }
    let (data, has_more) = list::fetch(
        cx.db,
        &cx.acct,
        ListSpec {
            table: "disputes",
            filter,
            filter_params,
        },
        &page,
    )
    .await?;
    Ok(Outcome::read(list::envelope("/v1/disputes", data, has_more)))
}
