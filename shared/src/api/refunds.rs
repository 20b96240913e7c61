//! `/v1/refunds` (and the `/v1/disputes` routes, served by the same component; see
//! [`super::disputes`]): routes, parameters and responses. What a refund may do and what it
//! changes are [`crate::domain::refund`]'s, written by [`crate::flows::refund`].

use super::Outcome;
use super::disputes;
use super::operation::{Args, Field, Op};
use crate::context::Ctx;
use crate::domain::refund::CreateRefund;
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
    Create,
    List,
    Retrieve,
    Disputes(disputes::Action),
}

pub use crate::objects::REFUND_REASONS as REASONS;

pub const OPS: &[Op<Action>] = &[
    Op::post("refunds", "create", Action::Create)
        .summary("Refund all or part of a captured payment")
        .fields(&[
            Field::str("payment", 100).required(),
            Field::int_min("amount", 1).doc(
                "Minor units; at most what is left to refund (amount_received - amount_refunded), which is the default.",
            ),
            Field::one_of("reason", REASONS),
            Field::metadata(),
        ])
        .answers("Refund"),
    Op::get("refunds", "list", Action::List)
        .summary("List refunds")
        .list()
        .fields(&[Field::str("payment", 100)])
        .answers("RefundList"),
    Op::get("refunds/:id", "retrieve", Action::Retrieve).summary("Retrieve a refund").answers("Refund"),
    Op::get("disputes", "dispute_list", Action::Disputes(disputes::Action::List))
        .summary("List disputes")
        .list()
        .fields(&[
            Field::one_of("status", disputes::STATUSES).doc("`new` is the same as `needs_response`."),
            Field::str("payment", 100),
        ])
        .answers("DisputeList"),
    Op::get("disputes/:id", "dispute_retrieve", Action::Disputes(disputes::Action::Retrieve))
        .summary("Retrieve a dispute")
        .answers("Dispute"),
    Op::post("disputes/:id", "dispute_update", Action::Disputes(disputes::Action::Update))
        .summary("Save or submit evidence for a dispute (only in needs_response)")
        .fields(disputes::UPDATE)
        .answers("Dispute"),
    Op::post("disputes/:id/close", "dispute_close", Action::Disputes(disputes::Action::Close))
        .summary("Accept a dispute (lost at once; only in needs_response)")
        .answers("Dispute"),
];

pub async fn run<D: Db, E: Env>(cx: &Ctx<'_, D, E>, action: Action, id: &str, p: &Args<'_>) -> ApiResult<Outcome> {
    match action {
        Action::Create => create(cx, p).await,
        Action::List => {
            let page = p.page()?;
            let (filter, filter_params) = match p.string("payment")? {
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
        Action::Retrieve => Ok(Outcome::read(to_json(
            &load_path::<Refund, _, _>(cx, "refunds", "", "refund", id).await?.obj,
        ))),
        Action::Disputes(action) => disputes::run(cx, action, id, p).await,
    }
}

async fn create<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &Args<'_>) -> ApiResult<Outcome> {
    let input = CreateRefund {
        payment: p.required_string("payment")?,
        amount: p.integer("amount")?,
        reason: p.one_of("reason")?,
        metadata: fields::new_metadata(p.params())?,
    };
    let (refund, writes) = flows::refund::create(cx, input).await?;
    Ok(Outcome::write(to_json(&refund), writes))
}
