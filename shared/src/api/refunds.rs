//! `/v1/refunds` (and the `/v1/disputes` routes, served by the same component; see
//! [`super::disputes`]). A refund moves money at once: a `refund` transaction and the payment's
//! `amount_refunded`, in one batch guarded by the payment's version, so concurrent refunds never
//! exceed what was captured.

use super::disputes;
use super::payment_methods::resolve;
use super::{Outcome, Route, match_route};
use crate::cards::TestBehavior;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::events::EventType;
use crate::fields;
use crate::ledger::{NewTxn, SourceType};
use crate::list::{self, ListSpec, Page};
use crate::money::check_partial;
use crate::objects::*;
use crate::params::Params;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, guarded_update, load, load_param, load_path, to_json};

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
    let payment_id = p.required_string("payment", 100)?;
    let amount = p.integer("amount")?;
    let reason = p.one_of("reason", REASONS)?;
    let metadata = fields::new_metadata(p)?;
    let Loaded { obj: mut pay, version } =
        load_param::<Payment, _, _>(cx, "payments", "", "payment", "payment", &payment_id).await?;
    if pay.status != PaymentStatus::Succeeded {
        return Err(ApiError::invalid_state(
            "payment_invalid_state",
            format!(
                "This payment's status is {}; only a captured (succeeded) payment can be refunded.",
                pay.status.as_str()
            ),
        )
        .with_param("payment"));
    }
    if let Some(dp) = &pay.dispute {
        let open = match load::<Dispute, _, _>(cx, "disputes", "", dp).await? {
            Some(d) => d.obj.status != DisputeStatus::Won,
            None => false,
        };
        if open {
            return Err(ApiError::invalid(
                "payment",
                "payment_disputed",
                format!(
                    "Payment {} has a dispute ({dp}) that was not won; it cannot be refunded.",
                    pay.id
                ),
            ));
        }
    }
    let refundable = pay.amount_received - pay.amount_refunded;
    if refundable <= 0 {
        return Err(ApiError::invalid(
            "payment",
            "payment_fully_refunded",
            format!("Payment {} is already fully refunded.", pay.id),
        ));
    }
    let amount = match amount {
        Some(a) => check_partial("amount", a, refundable)?,
        None => refundable,
    };
    let fails = match &pay.payment_method {
        Some(pm) => {
            resolve(cx, "payment_method", pm).await.ok().and_then(|r| r.behavior) == Some(TestBehavior::RefundFails)
        }
        None => false,
    };
    let txn = cx.id("txn_");
    let refund = Refund {
        id: cx.id("re_"),
        object: "refund".into(),
        amount,
        currency: pay.currency.clone(),
        payment: pay.id.clone(),
        status: if fails {
            RefundStatus::Pending
        } else {
            RefundStatus::Succeeded
        },
        reason,
        failure_reason: None,
        balance_transaction: Some(txn.clone()),
        failure_balance_transaction: None,
        metadata,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    pay.amount_refunded += amount;
    pay.refunds.push(refund.id.clone());
    let pay_data = to_json(&pay);
    let data = to_json(&refund);
    let mut writes: Vec<Stmt> = guarded_update(
        "payments",
        "status = ?, data = ?",
        sql_params![pay.status.as_str(), pay_data.to_string()],
        &pay.id,
        version,
    )
    .into();
    writes.push(Stmt::new(
        "INSERT INTO refunds (id, account_id, livemode, payment_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![&refund.id, &cx.acct.id, cx.acct.livemode, &pay.id, refund.status.as_str(), cx.now, data.to_string()],
    ));
    writes.extend(crate::flows::post_txn(
        &cx.acct,
        &NewTxn {
            id: &txn,
            source_type: SourceType::Refund,
            source_id: &refund.id,
            currency: &pay.currency,
            amount: -amount,
            fee: 0,
            description: "Refund",
            payout_id: None,
            created: cx.now,
        },
    ));
    if fails {
        writes.push(steps::schedule_once(
            &cx.acct,
            &Step::RefundFail(refund.id.clone()),
            cx.now,
            cx.now,
        ));
    }
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::RefundCreated,
        cx.now,
        &data,
    ));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::PaymentRefunded,
        cx.now,
        &pay_data,
    ));
    Ok(Outcome::write(data, writes))
}

/// Scheduled step: a sandbox refund of the refund-failure card fails; its money comes back.
pub async fn fail<D: Db, E: Env>(cx: &Ctx<'_, D, E>, refund_id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded {
        obj: mut refund,
        version,
    }) = load::<Refund, _, _>(cx, "refunds", "", refund_id).await?
    else {
        return Ok(vec![]);
    };
    if refund.status != RefundStatus::Pending {
        return Ok(vec![]);
    }
    let Loaded {
        obj: mut pay,
        version: pay_version,
    } = load::<Payment, _, _>(cx, "payments", "", &refund.payment)
        .await?
        .ok_or_else(|| ApiError::internal("refund without its payment"))?;
    let txn = cx.id("txn_");
    refund.status = RefundStatus::Failed;
    refund.failure_reason = Some("expired_or_canceled_card".into());
    refund.failure_balance_transaction = Some(txn.clone());
    pay.amount_refunded -= refund.amount;
    let data = to_json(&refund);
    let pay_data = to_json(&pay);
    let mut writes: Vec<Stmt> = guarded_update(
        "refunds",
        "status = ?, data = ?",
        sql_params![refund.status.as_str(), data.to_string()],
        &refund.id,
        version,
    )
    .into();
    writes.extend(guarded_update(
        "payments",
        "status = ?, data = ?",
        sql_params![pay.status.as_str(), pay_data.to_string()],
        &pay.id,
        pay_version,
    ));
    writes.extend(crate::flows::post_txn(
        &cx.acct,
        &NewTxn {
            id: &txn,
            source_type: SourceType::RefundFailure,
            source_id: &refund.id,
            currency: &refund.currency,
            amount: refund.amount,
            fee: 0,
            description: "Refund failure",
            payout_id: None,
            created: cx.now,
        },
    ));
    writes.extend(events::record(cx.env, &cx.acct, EventType::RefundFailed, cx.now, &data));
    Ok(writes)
}
