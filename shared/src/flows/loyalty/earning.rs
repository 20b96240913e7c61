//! Points from payments, with no integration code: a capture earns points for its customer's
//! loyalty account in the capture's own batch; a refund or a lost dispute takes back the
//! proportional points in its own. The payment flows call these and add the writes to theirs.

use super::{AccountRow, Movement, load_account, open_account, parse_program, record, retier, window_points};
use crate::context::Ctx;
use crate::domain::loyalty::{self as domain, Delta};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::fields::Metadata;
use crate::objects::loyalty::{PointsTransaction, PtxStatus, PtxType};
use crate::port::{Db, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::to_json;

/// A capture that may earn points: the payment, its customer and the amount captured.
pub struct Capture<'a> {
    pub payment: &'a str,
    pub customer: Option<&'a str>,
    pub amount: i64,
    pub currency: &'a str,
}

/// The program and the customer's account, in one statement: one primary-key probe where no
/// program is stored (an environment that never used loyalty), one index probe more for a
/// customer without an account.
const PROBE_SQL: &str = "SELECT s.loyalty_program, a.data, a.pending_points, a.credited, a.consumed, a.spent_points, a.expired_points, a.lifetime_points, a.tier \
     FROM environment_settings s LEFT JOIN loyalty_accounts a ON a.account_id = s.account_id AND a.livemode = s.livemode AND a.customer_id = ? \
     WHERE s.account_id = ? AND s.livemode = ? AND s.loyalty_program IS NOT NULL";

/// The writes of the points capture `c` earns (none without a customer, a program or an
/// account, unless the program enrols automatically).
pub async fn on_capture<D: Db, E: Env>(cx: &Ctx<'_, D, E>, c: Capture<'_>) -> ApiResult<Vec<Stmt>> {
    let Some(customer) = c.customer else {
        return Ok(Vec::new());
    };
    if c.amount <= 0 {
        return Ok(Vec::new());
    }
    let rows = cx
        .db
        .query(Stmt::new(
            PROBE_SQL,
            sql_params![customer, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let Some(row) = rows.first() else {
        return Ok(Vec::new());
    };
    let program = parse_program(&row[0])?;
    let mut writes = Vec::new();
    let (mut account, window) = if row[1].as_str().is_some() {
        let account = AccountRow::from_row(row, 1)?;
        // Only tiers need the window's sum (a range of the account's rows).
        let window = if program.tiers.is_empty() {
            0
        } else {
            window_points(cx, &account.obj.id).await?
        };
        (account, window)
    } else if program.auto_enroll {
        let (account, w) = open_account(cx, customer, Metadata::new(), &program);
        writes.extend(w);
        (account, 0)
    } else {
        return Ok(Vec::new());
    };
    let multiplier = domain::multiplier(&program, account.obj.tier.as_deref());
    let rate = program.earn_rate.for_currency(c.currency);
    let points = domain::points_for(c.amount, c.currency, rate, multiplier);
    if points == 0 {
        return Ok(writes);
    }
    let available_at = domain::available_at(cx.now, program.pending_days);
    let mut m = Movement::new(
        PtxType::EarnPayment,
        points,
        match available_at {
            Some(_) => Delta::earn_pending(points),
            None => Delta::earn_active(points),
        },
    );
    m.status = if available_at.is_some() {
        PtxStatus::Pending
    } else {
        PtxStatus::Active
    };
    m.available_at = available_at;
    m.payment = Some(c.payment);
    m.multiplier = (multiplier != crate::objects::loyalty::Rate::ONE).then_some(multiplier);
    m.description = Some(format!("Payment {}", c.payment));
    let (ptx, w) = record(cx, &mut account, m, Some(&program));
    writes.extend(w);
    if let Some(due) = available_at {
        writes.push(steps::schedule_once(
            &cx.acct,
            &Step::LoyaltyActivate(ptx.id.clone()),
            due,
            cx.now,
        ));
    }
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::LoyaltyPointsEarned,
        cx.now,
        &to_json(&ptx),
    ));
    writes.extend(retier(cx, &mut account, &program, window + points));
    Ok(writes)
}

/// The writes that take back payment `payment`'s points once `taken_back` of its `received`
/// amount was refunded or lost in disputes (cumulative; `source` is the refund or dispute that
/// moved it). None when the payment earned nothing. The earning is guarded on its
/// `points_reversed` and status, so two refunds at once never reverse the same points twice.
pub async fn on_reversal<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    payment: &str,
    taken_back: i64,
    received: i64,
    source: &str,
) -> ApiResult<Vec<Stmt>> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT data FROM loyalty_transactions WHERE payment_id = ? AND type = 'earn_payment' AND account_id = ? AND livemode = ?",
            sql_params![payment, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let Some(row) = rows.first() else {
        return Ok(Vec::new());
    };
    let e: PointsTransaction = row[0]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::internal("unreadable stored points transaction"))?;
    let r = domain::reversal_points(e.points, e.points_reversed, taken_back, received);
    if r == 0 {
        return Ok(Vec::new());
    }
    let mut account = load_account(cx, &e.account)
        .await?
        .ok_or_else(|| ApiError::internal("points transaction without its loyalty account"))?;
    let program = super::program(cx).await?;
    let window = if program.tiers.is_empty() {
        0
    } else {
        window_points(cx, &e.account).await?
    };
    let mut updated = e.clone();
    updated.points_reversed += r;
    let mut writes = vec![
        Stmt::new(
            "UPDATE loyalty_transactions SET points_reversed = ?, data = ? WHERE id = ? AND points_reversed = ? AND status = ?",
            sql_params![
                updated.points_reversed,
                to_json(&updated).to_string(),
                &e.id,
                e.points_reversed,
                e.status.as_str()
            ],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
    ];
    let pending = e.status == PtxStatus::Pending;
    let mut m = Movement::new(PtxType::Reversal, -r, Delta::take_back(r, pending));
    // A reversal of pending points is pending with them, and becomes active when they do.
    m.status = e.status;
    m.available_at = e.available_at;
    m.payment = Some(payment);
    m.source = Some(source);
    m.reverses = Some(&e.id);
    m.description = Some(format!("Reversal for {source}"));
    let (ptx, w) = record(cx, &mut account, m, Some(&program));
    writes.extend(w);
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::LoyaltyPointsReversed,
        cx.now,
        &to_json(&ptx),
    ));
    writes.extend(retier(cx, &mut account, &program, window - r));
    Ok(writes)
}
