//! Redemptions: points exchanged for a reward in one batch (the points burned behind a balance
//! guard, one taken from stock behind a stock guard, the `rdm_`, the event), and canceled
//! (points and stock given back). A guard that fails aborts the batch as a lost race; the retry
//! reads again and answers `insufficient_points` or `reward_out_of_stock` when that is why.

use super::{ACCOUNT_COLUMNS, AccountRow, Guard, Movement, program, record};
use crate::context::Ctx;
use crate::domain::loyalty::{self as domain, Delta};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::fields::Metadata;
use crate::objects::loyalty::{PtxType, Redemption, RedemptionStatus, Reward};
use crate::port::{Db, Env, GUARD_ONE_SQL, SqlValue, Stmt};
use crate::sql_params;
use crate::store::{Loaded, guarded_update, load_path, to_json};

/// The columns [`reward_from_row`] reads.
pub const REWARD_COLUMNS: &str = "data, stock, version";

/// A reward row (selected with [`REWARD_COLUMNS`]): its stock is the column's.
pub fn reward_from_row(r: &[SqlValue]) -> ApiResult<Loaded<Reward>> {
    let mut obj: Reward = r[0]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::internal("unreadable stored reward"))?;
    obj.stock = r[1].as_i64();
    Ok(Loaded {
        obj,
        version: r[2].as_i64().unwrap_or(0),
    })
}

/// Loads reward `id`; None when there is none in the caller's environment.
pub async fn load_reward<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Option<Loaded<Reward>>> {
    let rows = cx
        .db
        .query(Stmt::new(
            format!("SELECT {REWARD_COLUMNS} FROM loyalty_rewards WHERE id = ? AND account_id = ? AND livemode = ?"),
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    rows.first().map(|r| reward_from_row(r)).transpose()
}

/// Loyalty account `account` and reward `reward`, in one statement (a redemption's reads).
async fn load_both<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    account: &str,
    reward: &str,
) -> ApiResult<(Option<AccountRow>, Option<Loaded<Reward>>)> {
    let account_columns: Vec<String> = ACCOUNT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect();
    let reward_columns: Vec<String> = REWARD_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect();
    let rows = cx
        .db
        .query(Stmt::new(
            format!(
                "SELECT {}, {} FROM (SELECT 1) \
                 LEFT JOIN loyalty_accounts a ON a.id = ? AND a.account_id = ? AND a.livemode = ? \
                 LEFT JOIN loyalty_rewards r ON r.id = ? AND r.account_id = ? AND r.livemode = ?",
                account_columns.join(", "),
                reward_columns.join(", ")
            ),
            sql_params![
                account,
                &cx.acct.id,
                cx.acct.livemode,
                reward,
                &cx.acct.id,
                cx.acct.livemode
            ],
        ))
        .await?;
    let Some(r) = rows.first() else {
        return Ok((None, None));
    };
    let n = account_columns.len();
    let acct = r[0]
        .as_str()
        .is_some()
        .then(|| AccountRow::from_row(r, 0))
        .transpose()?;
    let rwd = r[n].as_str().is_some().then(|| reward_from_row(&r[n..])).transpose()?;
    Ok((acct, rwd))
}

/// Account `account` redeems reward `reward`: the redemption and the writes.
pub async fn redeem<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    account: &str,
    reward: &str,
    metadata: Metadata,
) -> ApiResult<(Redemption, Vec<Stmt>)> {
    let (acct, rwd) = load_both(cx, account, reward).await?;
    let mut acct = acct.ok_or_else(|| {
        ApiError::invalid(
            "account",
            "resource_missing",
            format!("No such loyalty account: '{account}'."),
        )
    })?;
    let rwd = rwd
        .ok_or_else(|| ApiError::invalid("reward", "resource_missing", format!("No such reward: '{reward}'.")))?
        .obj;
    if !rwd.active {
        return Err(ApiError::invalid(
            "reward",
            "reward_inactive",
            format!("Reward {reward} is not active."),
        ));
    }
    if rwd.stock == Some(0) {
        return Err(ApiError::invalid(
            "reward",
            "reward_out_of_stock",
            format!("Reward {reward} is out of stock."),
        ));
    }
    let cost = rwd.points_cost;
    if acct.obj.points_balance < cost {
        let mut e = domain::insufficient(cost, acct.obj.points_balance);
        e.param = Some("account".into());
        return Err(e);
    }
    let id = cx.id("rdm_");
    let mut m = Movement::new(PtxType::Redeem, -cost, Delta::spend(cost));
    m.guard = Guard::Balance(cost);
    m.redemption = Some(&id);
    m.description = Some(rwd.name.clone());
    let (ptx, mut writes) = record(cx, &mut acct, m, None);
    if rwd.stock.is_some() {
        writes.push(Stmt::new(
            "UPDATE loyalty_rewards SET stock = stock - 1 WHERE id = ? AND stock > 0",
            sql_params![reward],
        ));
        writes.push(Stmt::new(GUARD_ONE_SQL, vec![]));
    }
    let r = Redemption {
        id,
        object: "loyalty_redemption".into(),
        account: acct.obj.id.clone(),
        customer: acct.obj.customer.clone(),
        customer_id: acct.obj.customer.clone(),
        reward: rwd.id.clone(),
        points: cost,
        amount: cost,
        status: RedemptionStatus::Completed,
        transaction: ptx.id,
        cancel_transaction: None,
        metadata,
        livemode: cx.acct.livemode,
        created: cx.now,
        canceled_at: None,
    };
    let data = to_json(&r);
    writes.push(Stmt::new(
        "INSERT INTO loyalty_redemptions (id, account_id, livemode, loyalty_account, status, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        sql_params![&r.id, &cx.acct.id, cx.acct.livemode, &r.account, r.status.as_str(), cx.now, data.to_string()],
    ));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::LoyaltyPointsRedeemed,
        cx.now,
        &data,
    ));
    Ok((r, writes))
}

/// Cancels redemption `id` (a 404 when there is none): its points come back as newly active
/// points, and its reward's stock (when the reward counts stock) gets one back.
pub async fn cancel<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<(Redemption, Vec<Stmt>)> {
    let Loaded { obj: r, version } =
        load_path::<Redemption, _, _>(cx, "loyalty_redemptions", "", "redemption", id).await?;
    if r.status == RedemptionStatus::Canceled {
        return Err(ApiError::invalid_state(
            "redemption_canceled",
            format!("Redemption {id} is already canceled."),
        ));
    }
    let mut acct = super::load_account(cx, &r.account)
        .await?
        .ok_or_else(|| ApiError::internal("redemption without its loyalty account"))?;
    let program = program(cx).await?;
    let mut m = Movement::new(PtxType::RedeemCancel, r.points, Delta::unspend(r.points));
    m.redemption = Some(&r.id);
    m.description = Some(format!("Cancel of {}", r.id));
    let (ptx, mut writes) = record(cx, &mut acct, m, Some(&program));
    let mut c = r.clone();
    c.status = RedemptionStatus::Canceled;
    c.cancel_transaction = Some(ptx.id);
    c.canceled_at = Some(cx.now);
    let data = to_json(&c);
    writes.extend(guarded_update(
        "loyalty_redemptions",
        "status = ?, data = ?",
        sql_params![c.status.as_str(), data.to_string()],
        id,
        version,
    ));
    writes.push(Stmt::new(
        "UPDATE loyalty_rewards SET stock = stock + 1 WHERE id = ? AND stock IS NOT NULL",
        sql_params![&r.reward],
    ));
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::LoyaltyRedemptionCanceled,
        cx.now,
        &data,
    ));
    Ok((c, writes))
}
