//! The terminal payment (`tpay_`) and its transitions (docs/terminals.md, "Lifecycle"). Each
//! transition returns the writes that make it true: the payment behind its version guard, the
//! terminal's session released when the payment leaves pending/processing, the money, the event
//! and the time-driven steps, all for one batch. Callers are the API (`api::terminals`), the
//! device protocol (`device`) and the scheduled steps (`jobs`).

use crate::cards::{self, TestBehavior};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::events::EventType;
use crate::fields::Metadata;
use crate::ledger::{NewTxn, SourceType};
use crate::plan;
use crate::port::{Db, Env, Stmt};
use crate::processor::{self, AuthOutcome};
use crate::sql_params;
use crate::steps::{self, Step, TerminalStep};
use crate::store::{Loaded, guarded_update, load};
use serde::{Deserialize, Serialize};

pub const PENDING: &str = "pending";
pub const PROCESSING: &str = "processing";
pub const AUTHORIZED: &str = "authorized";
pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";
pub const STATUSES: &[&str] = &[PENDING, PROCESSING, AUTHORIZED, COMPLETED, FAILED, CANCELLED];

/// A pending prompt nobody answers is cancelled after this long (seconds).
pub const PROMPT_TIMEOUT_SECS: i64 = 180;
/// A presented card whose authorization never arrives fails with `communication_error`.
pub const PROCESSING_TIMEOUT_SECS: i64 = 120;
/// Uncaptured authorizations expire (seed 003: 7 days).
pub const AUTH_EXPIRY_SECS: i64 = 7 * 86_400;
/// Capture may exceed the authorized amount by this many percent (tips).
pub const TIP_TOLERANCE_PERCENT: i64 = 20;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TerminalPayment {
    pub id: String,
    pub object: String,
    pub terminal_id: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub status: String,
    pub capture_method: String,
    pub response_mode: String,
    pub entry_method: Option<String>,
    pub last4: Option<String>,
    pub brand: Option<String>,
    pub auth_code: Option<String>,
    pub decline_code: Option<String>,
    pub cancellation_reason: Option<String>,
    pub balance_transaction: Option<String>,
    /// Seconds of simulated interaction asked for (`?simulateDelay=N`); passed to the device.
    pub simulate_delay: i64,
    pub livemode: bool,
    pub metadata: Metadata,
    pub created_at: String,
    pub presented_at: Option<String>,
    pub authorized_at: Option<String>,
    pub captured_at: Option<String>,
    pub completed_at: Option<String>,
    pub failed_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub expires_at: Option<String>,
}

impl TerminalPayment {
    /// Is the terminal's session still running (the terminal busy with it)?
    pub fn active(&self) -> bool {
        self.status == PENDING || self.status == PROCESSING
    }
}

/// RFC 3339 UTC, seconds precision: `2026-06-11T09:00:00Z`.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

pub async fn load_payment<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Option<Loaded<TerminalPayment>>> {
    load(cx, "terminal_payments", "", id).await
}

/// The writes of a new payment: the row, and the prompt timeout step.
pub fn insert(cx: &Ctx<'_, impl Db, impl Env>, p: &TerminalPayment, sim_card: Option<&str>) -> Vec<Stmt> {
    vec![
        Stmt::new(
            "INSERT INTO terminal_payments (id, account_id, livemode, terminal_id, status, created, sim_card, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            sql_params![
                &p.id,
                &cx.acct.id,
                cx.acct.livemode,
                &p.terminal_id,
                &p.status,
                cx.now,
                sim_card,
                serde_json::to_string(p).expect("serializes")
            ],
        ),
        steps::schedule_once(
            &cx.acct,
            &Step::Terminal(TerminalStep::PromptTimeout, p.id.clone()),
            cx.now + PROMPT_TIMEOUT_SECS,
            cx.now,
        ),
    ]
}

/// Saves `p` (loaded at `version`), and what follows from its new status: the terminal released
/// once the session is over, the event of a settled status.
fn save(cx: &Ctx<'_, impl Db, impl Env>, p: &TerminalPayment, version: i64, event: Option<EventType>) -> Vec<Stmt> {
    let mut w: Vec<Stmt> = guarded_update(
        "terminal_payments",
        "status = ?, data = ?",
        sql_params![&p.status, serde_json::to_string(p).expect("serializes")],
        &p.id,
        version,
    )
    .into();
    if !p.active() {
        w.push(Stmt::new(
            "UPDATE terminals SET active_payment = NULL WHERE account_id = ? AND livemode = ? AND id = ? AND active_payment = ?",
            sql_params![&cx.acct.id, cx.acct.livemode, &p.terminal_id, &p.id],
        ));
    }
    if let Some(kind) = event {
        w.extend(events::record(
            cx.env,
            &cx.acct,
            kind,
            cx.now,
            &serde_json::to_value(p).expect("serializes"),
        ));
    }
    w
}

/// pending → processing: the cardholder presented a card.
pub fn present(
    cx: &Ctx<'_, impl Db, impl Env>,
    l: &Loaded<TerminalPayment>,
    entry_method: &str,
) -> ApiResult<(TerminalPayment, Vec<Stmt>)> {
    let mut p = l.obj.clone();
    if p.status != PENDING {
        return Err(not_active(&p));
    }
    p.status = PROCESSING.into();
    p.entry_method = Some(entry_method.into());
    p.presented_at = Some(rfc3339(cx.now));
    let mut w = save(cx, &p, l.version, None);
    w.push(steps::schedule(
        &cx.acct,
        &Step::Terminal(TerminalStep::ProcessingTimeout, p.id.clone()),
        cx.now + PROCESSING_TIMEOUT_SECS,
        cx.now,
    ));
    Ok((p, w))
}

/// pending|processing → completed | authorized | failed: the issuer's answer for `number`.
pub fn authorize(
    cx: &Ctx<'_, impl Db, impl Env>,
    l: &Loaded<TerminalPayment>,
    number: &str,
    entry_method: &str,
) -> ApiResult<(TerminalPayment, Vec<Stmt>)> {
    let mut p = l.obj.clone();
    if !p.active() {
        return Err(not_active(&p));
    }
    if p.entry_method.is_none() {
        p.entry_method = Some(entry_method.into());
        p.presented_at = Some(rfc3339(cx.now));
    }
    let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    // A number that is not a card at all is a generic decline, as an issuer would answer it.
    let behavior = match cards::normalize_number(&digits) {
        Some(n) => cards::test_card_by_number(&n)
            .map(|c| c.behavior)
            .unwrap_or(TestBehavior::Approve),
        None => TestBehavior::Decline("card_declined"),
    };
    if digits.len() >= 4 {
        p.last4 = Some(digits[digits.len() - 4..].to_string());
        p.brand = Some(cards::brand_of(&digits).to_string());
    }
    let mut random = [0u8; 6];
    cx.env.fill_random(&mut random);
    // Card present: the PIN or the tap is the cardholder's verification, no 3-D Secure.
    let now = rfc3339(cx.now);
    let (event, mut extra) = match processor::authorize(behavior, true, &random) {
        AuthOutcome::Approved { authorization_code } => {
            p.auth_code = Some(authorization_code);
            p.authorized_at = Some(now.clone());
            if p.capture_method == "manual" {
                p.status = AUTHORIZED.into();
                p.expires_at = Some(rfc3339(cx.now + AUTH_EXPIRY_SECS));
                (
                    Some(EventType::TerminalPaymentAuthorized),
                    vec![steps::schedule(
                        &cx.acct,
                        &Step::Terminal(TerminalStep::AuthExpiry, p.id.clone()),
                        cx.now + AUTH_EXPIRY_SECS,
                        cx.now,
                    )],
                )
            } else {
                let amount = p.amount;
                (Some(EventType::TerminalPaymentCompleted), complete(cx, &mut p, amount))
            }
        }
        AuthOutcome::Declined { decline_code } => {
            p.status = FAILED.into();
            p.decline_code = Some(decline_code.into());
            p.failed_at = Some(now);
            (Some(EventType::TerminalPaymentFailed), Vec::new())
        }
        AuthOutcome::ChallengeRequired => {
            return Err(ApiError::internal("a card-present authorization asked for 3-D Secure"));
        }
    };
    let mut w = save(cx, &p, l.version, event);
    w.append(&mut extra);
    Ok((p, w))
}

/// Captures `amount` now: status completed and the money recorded.
fn complete(cx: &Ctx<'_, impl Db, impl Env>, p: &mut TerminalPayment, amount: i64) -> Vec<Stmt> {
    let now = rfc3339(cx.now);
    p.status = COMPLETED.into();
    p.amount_captured = amount;
    p.captured_at = Some(now.clone());
    p.completed_at = Some(now);
    p.expires_at = None;
    let txn = crate::port::new_id(cx.env, "txn_");
    p.balance_transaction = Some(txn.clone());
    let description = p.reference.clone().unwrap_or_else(|| "Terminal payment".into());
    crate::flows::post_txn(
        &cx.acct,
        &NewTxn {
            id: &txn,
            source_type: SourceType::Payment,
            source_id: &p.id,
            currency: &p.currency,
            amount,
            fee: plan::capture_fee(amount),
            description: &description,
            payout_id: None,
            created: cx.now,
        },
    )
}

/// authorized → completed with the final amount (tips within the tolerance).
pub fn capture(
    cx: &Ctx<'_, impl Db, impl Env>,
    l: &Loaded<TerminalPayment>,
    amount: Option<i64>,
) -> ApiResult<(TerminalPayment, Vec<Stmt>)> {
    let mut p = l.obj.clone();
    if p.status != AUTHORIZED {
        return Err(ApiError::invalid_state(
            "payment_invalid_state",
            format!(
                "Terminal payment {} is {}; only an authorized payment (captureMethod manual) can be captured.",
                p.id, p.status
            ),
        ));
    }
    let ceiling = p.amount + p.amount * TIP_TOLERANCE_PERCENT / 100;
    let amount = amount.unwrap_or(p.amount);
    if amount < 1 {
        return Err(ApiError::invalid(
            "amount",
            "amount_too_small",
            "amount must be at least 1.",
        ));
    }
    if amount > ceiling {
        return Err(ApiError::invalid(
            "amount",
            "amount_too_large",
            format!(
                "amount {amount} exceeds the authorized {} plus the {TIP_TOLERANCE_PERCENT} % tip tolerance ({ceiling}).",
                p.amount
            ),
        ));
    }
    let mut extra = complete(cx, &mut p, amount);
    let mut w = save(cx, &p, l.version, Some(EventType::TerminalPaymentCompleted));
    w.append(&mut extra);
    w.push(steps::unschedule(
        &cx.acct,
        &Step::Terminal(TerminalStep::AuthExpiry, p.id.clone()),
    ));
    Ok((p, w))
}

/// pending → cancelled (`requested`, `prompt_timeout`), or authorized → cancelled (`expired`).
pub fn cancel(
    cx: &Ctx<'_, impl Db, impl Env>,
    l: &Loaded<TerminalPayment>,
    reason: &str,
) -> ApiResult<(TerminalPayment, Vec<Stmt>)> {
    let mut p = l.obj.clone();
    let allowed = match reason {
        "expired" => p.status == AUTHORIZED,
        _ => p.status == PENDING,
    };
    if !allowed {
        return Err(not_active(&p));
    }
    p.status = CANCELLED.into();
    p.cancellation_reason = Some(reason.into());
    p.cancelled_at = Some(rfc3339(cx.now));
    p.expires_at = None;
    Ok((
        p.clone(),
        save(cx, &p, l.version, Some(EventType::TerminalPaymentCancelled)),
    ))
}

/// pending|processing → failed with `code` (the device went silent; it vanished after the
/// create).
pub fn fail(
    cx: &Ctx<'_, impl Db, impl Env>,
    l: &Loaded<TerminalPayment>,
    code: &str,
) -> ApiResult<(TerminalPayment, Vec<Stmt>)> {
    let mut p = l.obj.clone();
    if !p.active() {
        return Err(not_active(&p));
    }
    p.status = FAILED.into();
    p.decline_code = Some(code.into());
    p.failed_at = Some(rfc3339(cx.now));
    Ok((
        p.clone(),
        save(cx, &p, l.version, Some(EventType::TerminalPaymentFailed)),
    ))
}

/// The refusal of a transition the payment's status does not allow.
pub fn not_active(p: &TerminalPayment) -> ApiError {
    let why = match p.status.as_str() {
        PROCESSING => {
            "the card was presented and its authorization is in flight; wait for the result and refund it if needed"
        }
        PENDING => "it is waiting for the card",
        _ => "its session is over",
    };
    ApiError::invalid_state(
        "payment_invalid_state",
        format!("Terminal payment {} is {}: {why}.", p.id, p.status),
    )
}

/// A scheduled step of a terminal payment: decides on fresh state, or does nothing (no writes)
/// when the payment moved on meanwhile.
pub async fn step<D: Db, E: Env>(cx: &Ctx<'_, D, E>, kind: TerminalStep, id: &str) -> ApiResult<Vec<Stmt>> {
    let Some(l) = load_payment(cx, id).await? else {
        return Ok(Vec::new());
    };
    let result = match kind {
        TerminalStep::Simulate => {
            let rows = cx
                .db
                .query(Stmt::new(
                    "SELECT sim_card FROM terminal_payments WHERE id = ?",
                    sql_params![id],
                ))
                .await?;
            let pm = rows
                .first()
                .and_then(|r| r[0].as_str().map(str::to_string))
                .unwrap_or_default();
            let number = cards::test_card_by_pm(&pm)
                .map(|c| c.number)
                .unwrap_or("4242424242424242");
            authorize(cx, &l, number, "contactless")
        }
        TerminalStep::PromptTimeout => cancel(cx, &l, "prompt_timeout"),
        TerminalStep::ProcessingTimeout if l.obj.status == PROCESSING => fail(cx, &l, "communication_error"),
        TerminalStep::ProcessingTimeout => return Ok(Vec::new()),
        TerminalStep::AuthExpiry => cancel(cx, &l, "expired"),
    };
    // A step that finds the payment already past it has nothing to do.
    Ok(result.map(|(_, w)| w).unwrap_or_default())
}
