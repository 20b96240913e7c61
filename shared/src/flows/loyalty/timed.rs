//! The loyalty steps on the sandbox clock ([`crate::jobs`] runs them, each at its own due time):
//! pending points becoming active, an active lot expiring, a tier reviewed once an earning
//! leaves the tier window. Each does nothing when there is nothing left to do.

use super::{Guard, Movement, load_account, move_points, program, record, retier, window_points};
use crate::context::Ctx;
use crate::domain::loyalty::{self as domain, Delta};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::objects::loyalty::{PointsTransaction, PtxStatus, PtxType};
use crate::port::{Db, Env, GUARD_ONE_SQL, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::to_json;

/// A stored points transaction with its lot columns.
struct Stored {
    ptx: PointsTransaction,
    credit_start: Option<i64>,
    lot_points: Option<i64>,
}

async fn load_ptx<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Option<Stored>> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT data, credit_start, lot_points FROM loyalty_transactions WHERE id = ? AND account_id = ? AND livemode = ?",
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    let Some(r) = rows.first() else { return Ok(None) };
    let ptx = r[0]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::internal("unreadable stored points transaction"))?;
    Ok(Some(Stored {
        ptx,
        credit_start: r[1].as_i64(),
        lot_points: r[2].as_i64(),
    }))
}

/// Pending points of earning `id` become active: what is left of them after reversals forms a
/// lot, and the reversals (pending with them) become active too. Guarded on the earning's
/// status and reversals, so a refund committed meanwhile makes it decide again.
pub async fn activate<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, due: i64) -> ApiResult<Vec<Stmt>> {
    let cx = &cx.at(due);
    let Some(s) = load_ptx(cx, id).await? else {
        return Ok(Vec::new());
    };
    let e = s.ptx;
    if e.status != PtxStatus::Pending {
        return Ok(Vec::new());
    }
    let Some(account) = load_account(cx, &e.account).await? else {
        return Ok(Vec::new());
    };
    let program = program(cx).await?;
    let lot = e.points - e.points_reversed;
    let mut active = e.clone();
    active.status = PtxStatus::Active;
    active.available_at = None;
    let mut writes = vec![
        Stmt::new(
            "UPDATE loyalty_transactions SET status = 'active', credit_start = (SELECT credited FROM loyalty_accounts WHERE id = ?), lot_points = ?, data = ? \
             WHERE id = ? AND status = 'pending' AND points_reversed = ?",
            sql_params![&e.account, lot, to_json(&active).to_string(), &e.id, e.points_reversed],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
        Stmt::new(
            "UPDATE loyalty_transactions SET status = 'active', data = json_set(data, '$.status', 'active', '$.available_at', NULL) \
             WHERE reverses = ? AND status = 'pending'",
            sql_params![&e.id],
        ),
    ];
    writes.extend(move_points(
        cx,
        &account.obj.id,
        &e.id,
        &Delta::activate(lot),
        Guard::None,
    ));
    if let (true, Some(at)) = (lot > 0, domain::expires_at(cx.now, program.expiry_months)) {
        writes.push(steps::schedule_once(
            &cx.acct,
            &Step::LoyaltyExpire(e.id.clone()),
            at,
            cx.now,
        ));
    }
    Ok(writes)
}

/// Lot `id` reaches its expiry: what is left of it (points are spent oldest first) expires,
/// with an `expire` transaction and `loyalty.points.expired`. Guarded on the account's
/// `consumed`, so spending committed meanwhile makes it decide again.
pub async fn expire<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, due: i64) -> ApiResult<Vec<Stmt>> {
    let cx = &cx.at(due);
    let Some(s) = load_ptx(cx, id).await? else {
        return Ok(Vec::new());
    };
    let (Some(start), Some(size)) = (s.credit_start, s.lot_points) else {
        return Ok(Vec::new());
    };
    let Some(mut account) = load_account(cx, &s.ptx.account).await? else {
        return Ok(Vec::new());
    };
    let left = domain::lot_remaining(start, size, account.consumed);
    if left == 0 {
        return Ok(Vec::new());
    }
    let mut m = Movement::new(PtxType::Expire, -left, Delta::expire(left));
    m.guard = Guard::Consumed(account.consumed);
    m.source = Some(&s.ptx.id);
    m.description = Some(format!("Expiry of points from {}", s.ptx.id));
    let (ptx, mut writes) = record(cx, &mut account, m, None);
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::LoyaltyPointsExpired,
        cx.now,
        &to_json(&ptx),
    ));
    Ok(writes)
}

/// The oldest earning in account `id`'s tier window left it: its tier is evaluated again, and
/// the next review is due when the next-oldest leaves.
pub async fn review_tier<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str, due: i64) -> ApiResult<Vec<Stmt>> {
    let cx = &cx.at(due);
    let Some(mut account) = load_account(cx, id).await? else {
        return Ok(Vec::new());
    };
    let program = program(cx).await?;
    let window = window_points(cx, id).await?;
    let mut writes = retier(cx, &mut account, &program, window);
    let next = cx
        .db
        .query(Stmt::new(
            "SELECT MIN(created) FROM loyalty_transactions WHERE loyalty_account = ? AND created > ? AND tier_points != 0",
            sql_params![id, domain::tier_window_start(cx.now)],
        ))
        .await?;
    if let Some(oldest) = next.first().and_then(|r| r[0].as_i64()) {
        writes.push(steps::schedule_once(
            &cx.acct,
            &Step::LoyaltyTierReview(id.to_string()),
            domain::leaves_tier_window(oldest).max(cx.now + 1),
            cx.now,
        ));
    }
    Ok(writes)
}
