//! `/v1/disputes` (served by the refunds component): routes, parameters and responses. The
//! dispute lifecycle is [`crate::domain::dispute`]'s, written by [`crate::flows::dispute`].

use super::{Outcome, Route};
use crate::context::Ctx;
use crate::domain::dispute::UpdateDispute;
use crate::error::ApiResult;
use crate::fields;
use crate::flows;
use crate::list::{self, ListSpec, Page};
use crate::objects::*;
use crate::params::Params;
use crate::port::{Db, Env};
use crate::sql_params;
use crate::store::{load_path, to_json};

const EVIDENCE_FIELDS: &[&str] = &[
    "product_description",
    "customer_communication",
    "refund_policy",
    "shipping_tracking_number",
    "uncategorized_text",
];
const STATUSES: &[&str] = &["needs_response", "new", "under_review", "won", "lost"];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, r: &Route, p: &Params) -> ApiResult<Outcome> {
    let id = r.id.as_deref().unwrap_or_default();
    match r.action {
        "dispute_list" => list(cx, p).await,
        "dispute_retrieve" => {
            p.allow_only(&[])?;
            Ok(Outcome::read(to_json(
                &load_path::<Dispute, _, _>(cx, "disputes", "", "dispute", id).await?.obj,
            )))
        }
        "dispute_update" => update(cx, id, p).await,
        "dispute_close" => {
            p.allow_only(&[])?;
            let (d, writes) = flows::dispute::close(cx, id).await?;
            Ok(Outcome::write(to_json(&d), writes))
        }
        _ => unreachable!("every action in ROUTES is handled"),
    }
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&["evidence", "submit", "metadata"])?;
    let submit = p.boolean("submit")?.unwrap_or(true);
    let evidence = p.object("evidence")?;
    let metadata = fields::metadata(p)?;
    let input = UpdateDispute {
        submit,
        // Its errors come after the dispute's own (missing, closed): the domain raises them.
        evidence: evidence.map(|ev| parse_evidence(&ev)).transpose(),
        metadata,
    };
    let (d, writes) = flows::dispute::update(cx, id, input).await?;
    Ok(Outcome::write(to_json(&d), writes))
}

/// The evidence fields given, each `evidence[<field>]` a string of at most 20 000 characters.
fn parse_evidence(ev: &Params) -> ApiResult<Evidence> {
    ev.allow_only_in("evidence", EVIDENCE_FIELDS)?;
    let mut out = Evidence::default();
    for field in EVIDENCE_FIELDS {
        if let Some(v) = ev.string_named(field, &format!("evidence[{field}]"), 20_000)? {
            let slot = match *field {
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

async fn list<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&["limit", "starting_after", "ending_before", "status", "payment"])?;
    let page = Page::from_params(p)?;
    let mut filter = String::new();
    let mut filter_params = Vec::new();
    if let Some(s) = p.one_of("status", STATUSES)? {
        filter.push_str(" AND status = ?");
        // Seed 004's `new` is our `needs_response`.
        filter_params.extend(sql_params![if s == "new" { "needs_response".to_string() } else { s }]);
    }
    if let Some(pay) = p.string("payment", 100)? {
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
