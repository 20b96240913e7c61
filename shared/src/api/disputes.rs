//! `/v1/disputes` (served by the refunds component) and the dispute lifecycle:
//!
//! ```text
//! captured (dispute card) ─ dispute_open ─> needs_response ─ evidence, submit ─> under_review ─┬─> won
//!                                              │                                                └─> lost
//!                                              └─ close, or due_by passes ─> lost
//! ```
//! Opening withdraws the disputed amount and the plan's dispute fee; winning returns the amount.

use super::{Outcome, Route};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::events::EventType;
use crate::fields;
use crate::ledger::{DAY, NewTxn, SourceType};
use crate::list::{self, ListSpec, Page};
use crate::objects::*;
use crate::params::Params;
use crate::plan::DISPUTE_FEE;
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::{Loaded, guarded_update, load, load_path, to_json};

/// How long the merchant has to answer.
pub const RESPONSE_SECS: i64 = 7 * DAY;
/// How long the issuer reviews evidence that is not one of the sandbox's decisive values.
pub const REVIEW_SECS: i64 = 14 * DAY;
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
            let Loaded { obj: mut d, version } = load_path::<Dispute, _, _>(cx, "disputes", "", "dispute", id).await?;
            require_open(&d, "closed")?;
            d.status = DisputeStatus::Lost;
            d.closed_at = Some(cx.now);
            let data = to_json(&d);
            let mut writes = save(&d, version);
            writes.extend(events::record(
                cx.env,
                &cx.acct,
                EventType::DisputeClosed,
                cx.now,
                &data,
            ));
            Ok(Outcome::write(data, writes))
        }
        _ => unreachable!("every action in ROUTES is handled"),
    }
}

fn require_open(d: &Dispute, action: &str) -> ApiResult<()> {
    if d.status != DisputeStatus::NeedsResponse {
        return Err(ApiError::invalid_state(
            "dispute_invalid_state",
            format!(
                "This dispute's status is {}; it can no longer be {action}.",
                d.status.as_str()
            ),
        ));
    }
    Ok(())
}

fn save(d: &Dispute, version: i64) -> Vec<Stmt> {
    guarded_update(
        "disputes",
        "status = ?, data = ?",
        sql_params![d.status.as_str(), to_json(d).to_string()],
        &d.id,
        version,
    )
    .into()
}

async fn update<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, p: &Params) -> ApiResult<Outcome> {
    p.allow_only(&["evidence", "submit", "metadata"])?;
    let submit = p.boolean("submit")?.unwrap_or(true);
    let evidence = p.object("evidence")?;
    let metadata = fields::metadata(p)?;
    let Loaded { obj: mut d, version } = load_path::<Dispute, _, _>(cx, "disputes", "", "dispute", id).await?;
    require_open(&d, "updated")?;
    if let Some(ev) = evidence {
        ev.allow_only_in("evidence", EVIDENCE_FIELDS)?;
        for field in EVIDENCE_FIELDS {
            if let Some(v) = ev.string_named(field, &format!("evidence[{field}]"), 20_000)? {
                let slot = match *field {
                    "product_description" => &mut d.evidence.product_description,
                    "customer_communication" => &mut d.evidence.customer_communication,
                    "refund_policy" => &mut d.evidence.refund_policy,
                    "shipping_tracking_number" => &mut d.evidence.shipping_tracking_number,
                    _ => &mut d.evidence.uncategorized_text,
                };
                *slot = Some(v);
            }
        }
    }
    if let Some(m) = metadata {
        fields::merge_metadata(&mut d.metadata, m)?;
    }
    let mut writes = Vec::new();
    if submit {
        d.status = DisputeStatus::UnderReview;
        d.evidence_details.submission_count += 1;
        d.evidence_details.submitted_at = Some(cx.now);
        // The sandbox issuer answers at its next round (see `step`).
        writes.push(steps::schedule(
            &cx.acct,
            &Step::DisputeStep(d.id.clone()),
            cx.now,
            cx.now,
        ));
    }
    let data = to_json(&d);
    writes.extend(save(&d, version));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::DisputeUpdated,
        cx.now,
        &data,
    ));
    Ok(Outcome::write(data, writes))
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

/// Scheduled step after a dispute-card payment was captured: the cardholder's bank disputes it.
pub async fn open<D: Db, E: Env>(cx: &Ctx<'_, D, E>, payment_id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: mut pay, version }) = load::<Payment, _, _>(cx, "payments", "", payment_id).await? else {
        return Ok(vec![]);
    };
    let amount = pay.amount_received - pay.amount_refunded;
    if pay.dispute.is_some() || pay.status != PaymentStatus::Succeeded || amount <= 0 {
        return Ok(vec![]);
    }
    let txn = cx.id("txn_");
    let d = Dispute {
        id: cx.id("dp_"),
        object: "dispute".into(),
        amount,
        currency: pay.currency.clone(),
        payment: pay.id.clone(),
        status: DisputeStatus::NeedsResponse,
        reason: "fraudulent".into(),
        evidence: Evidence::default(),
        evidence_details: EvidenceDetails {
            due_by: cx.now + RESPONSE_SECS,
            submission_count: 0,
            submitted_at: None,
        },
        fee: DISPUTE_FEE,
        balance_transactions: vec![txn.clone()],
        metadata: Default::default(),
        closed_at: None,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    pay.amount_disputed = amount;
    pay.dispute = Some(d.id.clone());
    let data = to_json(&d);
    let mut writes: Vec<Stmt> = guarded_update(
        "payments",
        "status = ?, data = ?",
        sql_params![pay.status.as_str(), to_json(&pay).to_string()],
        &pay.id,
        version,
    )
    .into();
    writes.push(Stmt::new(
        "INSERT INTO disputes (id, account_id, livemode, payment_id, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![&d.id, &cx.acct.id, cx.acct.livemode, &pay.id, d.status.as_str(), cx.now, data.to_string()],
    ));
    writes.extend(crate::flows::post_txn(
        &cx.acct,
        &NewTxn {
            id: &txn,
            source_type: SourceType::Dispute,
            source_id: &d.id,
            currency: &d.currency,
            amount: -amount,
            fee: DISPUTE_FEE,
            description: "Dispute",
            payout_id: None,
            created: cx.now,
        },
    ));
    writes.push(steps::schedule(
        &cx.acct,
        &Step::DisputeStep(d.id.clone()),
        d.evidence_details.due_by,
        cx.now,
    ));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::DisputeCreated,
        cx.now,
        &data,
    ));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::DisputeFundsWithdrawn,
        cx.now,
        &data,
    ));
    Ok(writes)
}

/// Scheduled step: the response deadline passed, or the issuer decides on submitted evidence.
pub async fn step<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(Loaded { obj: mut d, version }) = load::<Dispute, _, _>(cx, "disputes", "", id).await? else {
        return Ok(vec![]);
    };
    let won = match d.status {
        DisputeStatus::NeedsResponse if cx.now >= d.evidence_details.due_by => false,
        DisputeStatus::NeedsResponse => {
            return Ok(vec![steps::schedule(
                &cx.acct,
                &Step::DisputeStep(d.id.clone()),
                d.evidence_details.due_by,
                cx.now,
            )]);
        }
        DisputeStatus::UnderReview => {
            let submitted = d.evidence_details.submitted_at.unwrap_or(d.created);
            match d.evidence.uncategorized_text.as_deref() {
                Some("winning_evidence") => true,
                Some("losing_evidence") => false,
                _ if cx.now >= submitted + REVIEW_SECS => false,
                _ => {
                    return Ok(vec![steps::schedule(
                        &cx.acct,
                        &Step::DisputeStep(d.id.clone()),
                        submitted + REVIEW_SECS,
                        cx.now,
                    )]);
                }
            }
        }
        DisputeStatus::Won | DisputeStatus::Lost => return Ok(vec![]),
    };
    d.status = if won { DisputeStatus::Won } else { DisputeStatus::Lost };
    d.closed_at = Some(cx.now);
    let mut writes = Vec::new();
    if won {
        let txn = cx.id("txn_");
        d.balance_transactions.push(txn.clone());
        writes.extend(crate::flows::post_txn(
            &cx.acct,
            &NewTxn {
                id: &txn,
                source_type: SourceType::DisputeReversal,
                source_id: &d.id,
                currency: &d.currency,
                amount: d.amount,
                fee: 0,
                description: "Dispute won",
                payout_id: None,
                created: cx.now,
            },
        ));
    }
    let data = to_json(&d);
    writes.extend(save(&d, version));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::DisputeClosed,
        cx.now,
        &data,
    ));
    if won {
        writes.extend(events::record(
            cx.env,
            &cx.acct,
            EventType::DisputeFundsReinstated,
            cx.now,
            &data,
        ));
    }
    Ok(writes)
}
