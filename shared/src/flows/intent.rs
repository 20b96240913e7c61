//! Payment intents (seed 004): create, pay by an attempt (a new `pay_` made by
//! [`crate::flows::payment::create`]), and follow an attempt's every later change
//! ([`follow_payment`], called by whatever changes a payment: capture, confirm, cancel, adjust,
//! reverse, refunds, disputes). The intent is written behind its version guard in the same batch
//! as the payment, so two concurrent attempts never both pay it. Rules: [`crate::domain::intent`].

use crate::auth::Account;
use crate::context::Ctx;
use crate::domain::intent::{self, payment_status};
use crate::domain::split::{self, Movement, SplitIn};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::ledger::{NewTxn, SourceType};
use crate::objects::Payment;
use crate::objects::intents::{PaymentIntent, PaymentSplit};
use crate::port::{Db, Env, Stmt};
use crate::sql_params;
use crate::store::{Loaded, guarded_update, load, load_path, to_json};

pub const TABLE: &str = "payment_intents";

/// Intent `id` of the caller's environment, or a 404 naming the path's id.
pub async fn load_intent<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Loaded<PaymentIntent>> {
    load_path::<PaymentIntent, _, _>(cx, TABLE, "", "payment_intent", id).await
}

/// The new intent's row and its `payment_intent.created` event.
pub fn insert<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pi: &PaymentIntent) -> Vec<Stmt> {
    let data = to_json(pi);
    let mut writes = vec![Stmt::new(
        "INSERT INTO payment_intents (id, account_id, livemode, status, amount, reference_id, created, updated, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            &pi.id,
            &cx.acct.id,
            cx.acct.livemode,
            pi.status.as_str(),
            pi.amount,
            pi.reference_id.clone(),
            cx.now,
            cx.now,
            data.to_string()
        ],
    )];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::PaymentIntentCreated,
        cx.now,
        &data,
    ));
    writes
}

/// `pi` stored over version `version` (the batch fails as a lost race if it moved), with
/// `events` about it.
pub fn save<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pi: &PaymentIntent, version: i64, events: &[EventType]) -> Vec<Stmt> {
    let data = to_json(pi);
    let pay_status = pi.latest_payment.as_deref().map(payment_status);
    let mut writes: Vec<Stmt> = guarded_update(
        TABLE,
        "status = ?, amount = ?, reference_id = ?, payment_status = ?, has_refund = ?, amount_captured = ?, amount_refunded = ?, updated = ?, data = ?",
        sql_params![
            pi.status.as_str(),
            pi.amount,
            pi.reference_id.clone(),
            pay_status,
            pi.amount_refunded > 0,
            pi.amount_captured,
            pi.amount_refunded,
            cx.now,
            data.to_string()
        ],
        &pi.id,
        version,
    )
    .into();
    for e in events {
        writes.extend(events::record(cx.env, &cx.acct, *e, cx.now, &data));
    }
    writes
}

/// The intent `pay` is an attempt at, as `pay` leaves it, and the writes that store it. Nothing
/// for a payment of no intent, or for an older attempt than the intent's latest (a declined one
/// never changes again).
pub async fn follow_payment<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    pay: &Payment,
) -> ApiResult<(Option<PaymentIntent>, Vec<Stmt>)> {
    follow_payment_with(cx, pay, None).await
}

/// As [`follow_payment`], for a capture that names its own `payment_splits` (`replace`).
pub async fn follow_payment_with<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    pay: &Payment,
    replace: Option<Vec<PaymentSplit>>,
) -> ApiResult<(Option<PaymentIntent>, Vec<Stmt>)> {
    let Some(pi_id) = &pay.payment_intent_id else {
        return Ok((None, Vec::new()));
    };
    let Some(Loaded { obj: pi, version }) = load::<PaymentIntent, _, _>(cx, TABLE, "", pi_id).await? else {
        return Ok((None, Vec::new()));
    };
    if pi.latest_payment.as_ref().is_some_and(|l| l.id != pay.id) {
        return Ok((Some(pi), Vec::new()));
    }
    let (next, writes) = follow(cx, &pi, version, pay, replace).await?;
    Ok((Some(next), writes))
}

/// Intent `pi` (read at `version`) as its attempt `pay` leaves it, with the split transfers that
/// change makes, and the writes of both: one batch, behind the intent's version guard.
pub async fn follow<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    pi: &PaymentIntent,
    version: i64,
    pay: &Payment,
    replace: Option<Vec<PaymentSplit>>,
) -> ApiResult<(PaymentIntent, Vec<Stmt>)> {
    let (mut next, events) = intent::follow(pi, pay, cx.now);
    let moves = split::follow(pi, &mut next, replace);
    let mut writes = save(cx, &next, version, &events);
    writes.extend(transfers(cx, &next, &moves).await?);
    Ok((next, writes))
}

/// The balance transactions of split movements: one on the intent's account and its opposite on
/// the connected account, each a balanced posting (`crate::ledger`, split money). The connected
/// account's half is dated by its own sandbox clock, so that its settlement comes two days later
/// in its own time, as its other money does.
async fn transfers<D: Db, E: Env>(cx: &Ctx<'_, D, E>, pi: &PaymentIntent, moves: &[Movement]) -> ApiResult<Vec<Stmt>> {
    let mut writes = Vec::new();
    let wall = cx.now - cx.acct.clock_offset;
    for m in moves {
        let offset = if cx.acct.livemode {
            0
        } else {
            let rows = cx
                .db
                .query(Stmt::new(
                    "SELECT clock_offset FROM accounts WHERE id = ?",
                    sql_params![&m.account_id],
                ))
                .await?;
            rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0)
        };
        let connected = Account {
            id: m.account_id.clone(),
            livemode: cx.acct.livemode,
            fingerprint_key: None,
            clock_offset: offset,
            permissions: None,
            platform_id: Some(cx.acct.id.clone()),
            business_id: None,
        };
        let (to_platform, to_connected) = match m.kind {
            SourceType::Transfer => (format!("Split to {}", m.account_id), format!("Split of {}", pi.id)),
            _ => (
                format!("Split refund from {}", m.account_id),
                format!("Split refund of {}", pi.id),
            ),
        };
        for (acct, amount, description) in [(&cx.acct, -m.amount, to_platform), (&connected, m.amount, to_connected)] {
            let created = acct.clock(wall);
            let id = cx.id("txn_");
            writes.extend(crate::flows::post_txn(
                acct,
                &NewTxn {
                    id: &id,
                    source_type: m.kind,
                    source_id: &pi.id,
                    currency: &pi.currency,
                    amount,
                    fee: 0,
                    description: &description,
                    payout_id: None,
                    created,
                },
            ));
        }
    }
    Ok(writes)
}

/// Splits' accounts must be connected accounts of the intent's account, in its environment: any
/// other id, existing or not, is the same 400, naming the split.
pub async fn check_split_accounts<D: Db, E: Env>(cx: &Ctx<'_, D, E>, splits: &[SplitIn], param: &str) -> ApiResult<()> {
    for (i, s) in splits.iter().enumerate() {
        let found = cx
            .db
            .query(Stmt::new(
                "SELECT 1 FROM accounts WHERE id = ? AND platform_id = ? AND (livemode IS NULL OR livemode = ?)",
                sql_params![&s.account_id, &cx.acct.id, cx.acct.livemode],
            ))
            .await?;
        if found.is_empty() {
            return Err(ApiError::invalid(
                &format!("{param}[{i}][account_id]"),
                "resource_missing",
                format!("No such connected account: '{}'.", s.account_id),
            ));
        }
    }
    Ok(())
}
