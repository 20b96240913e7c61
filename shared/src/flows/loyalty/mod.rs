//! Loyalty flows: load what [`crate::domain::loyalty`] decides on and return the writes of its
//! answer. Every movement of points is one [`record`]: the `ptx_` row, the account's counters
//! changed by a delta (so concurrent earnings never conflict; spending is guarded on the balance
//! instead), the points-ledger lines and the steps it makes due, in the caller's batch.
//!
//! - [`earning`]: points earned by captures and reversed by refunds and lost disputes, from the
//!   payment flows' own batches.
//! - [`timed`]: the scheduled steps (pending points activating, lots expiring, tiers reviewed).
//! - [`redemption`]: rewards exchanged for points, and canceled.

pub mod earning;
pub mod redemption;
pub mod timed;

use crate::context::Ctx;
use crate::domain::loyalty::{self as domain, Delta};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, EventType};
use crate::fields::Metadata;
use crate::objects::loyalty::{LoyaltyAccount, LoyaltyProgram, PointsTransaction, PtxStatus, PtxType, Rate};
use crate::port::{Db, Env, GUARD_ONE_SQL, SqlValue, Stmt};
use crate::sql_params;
use crate::steps::{self, Step};
use crate::store::to_json;

/// The columns [`AccountRow::from_row`] reads, in order.
pub const ACCOUNT_COLUMNS: &str =
    "data, pending_points, credited, consumed, spent_points, expired_points, lifetime_points, tier";

/// A loyalty account as stored: the object (balances from the columns) and the two counters
/// that number its lots.
#[derive(Clone, Debug)]
pub struct AccountRow {
    pub obj: LoyaltyAccount,
    pub credited: i64,
    pub consumed: i64,
}

impl AccountRow {
    /// A row selected with [`ACCOUNT_COLUMNS`] (at offset `at`).
    pub fn from_row(r: &[SqlValue], at: usize) -> ApiResult<AccountRow> {
        let mut obj: LoyaltyAccount = r[at]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| ApiError::internal("unreadable stored loyalty account"))?;
        let int = |i: usize| r[at + i].as_i64().unwrap_or(0);
        let (credited, consumed) = (int(2), int(3));
        obj.pending_points = int(1);
        obj.points_balance = credited - consumed;
        obj.spent_points = int(4);
        obj.expired_points = int(5);
        obj.lifetime_points = int(6);
        obj.tier = r[at + 7].as_str().map(str::to_string);
        Ok(AccountRow {
            obj,
            credited,
            consumed,
        })
    }

    /// The account as it stands after `d`.
    pub fn apply(&mut self, d: &Delta) {
        self.credited += d.credited;
        self.consumed += d.consumed;
        let o = &mut self.obj;
        o.pending_points += d.pending;
        o.points_balance = self.credited - self.consumed;
        o.spent_points += d.spent;
        o.expired_points += d.expired;
        o.lifetime_points += d.lifetime;
    }
}

/// Loads loyalty account `id` of the caller's environment.
pub async fn load_account<D: Db, E: Env>(cx: &Ctx<'_, D, E>, id: &str) -> ApiResult<Option<AccountRow>> {
    let rows = cx
        .db
        .query(Stmt::new(
            format!("SELECT {ACCOUNT_COLUMNS} FROM loyalty_accounts WHERE id = ? AND account_id = ? AND livemode = ?"),
            sql_params![id, &cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    rows.first().map(|r| AccountRow::from_row(r, 0)).transpose()
}

/// The points `account` earned in the tier window ending at `now` (earnings less reversals).
pub async fn window_points<D: Db, E: Env>(cx: &Ctx<'_, D, E>, account: &str) -> ApiResult<i64> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT COALESCE(SUM(tier_points), 0) FROM loyalty_transactions WHERE loyalty_account = ? AND created > ?",
            sql_params![account, domain::tier_window_start(cx.now)],
        ))
        .await?;
    Ok(rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0))
}

/// The environment's program as stored (None: never set, and no loyalty account yet).
pub async fn stored_program<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> ApiResult<Option<LoyaltyProgram>> {
    let rows = cx
        .db
        .query(Stmt::new(
            "SELECT loyalty_program FROM environment_settings WHERE account_id = ? AND livemode = ? AND loyalty_program IS NOT NULL",
            sql_params![&cx.acct.id, cx.acct.livemode],
        ))
        .await?;
    rows.first().map(|r| parse_program(&r[0])).transpose()
}

/// The environment's program, or the defaults.
pub async fn program<D: Db, E: Env>(cx: &Ctx<'_, D, E>) -> ApiResult<LoyaltyProgram> {
    Ok(stored_program(cx)
        .await?
        .unwrap_or_else(|| LoyaltyProgram::default_for(cx.acct.livemode)))
}

pub fn parse_program(v: &SqlValue) -> ApiResult<LoyaltyProgram> {
    v.as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::internal("unreadable stored loyalty program"))
}

/// Stores the environment's program; with `keep`, only if none is stored (a first loyalty
/// account stores the defaults, so that captures know to look for accounts).
pub fn save_program<D: Db, E: Env>(cx: &Ctx<'_, D, E>, p: &LoyaltyProgram, keep: bool) -> Stmt {
    let set = if keep {
        "COALESCE(loyalty_program, excluded.loyalty_program)"
    } else {
        "excluded.loyalty_program"
    };
    Stmt::new(
        format!(
            "INSERT INTO environment_settings (account_id, livemode, loyalty_program) VALUES (?, ?, ?) \
             ON CONFLICT (account_id, livemode) DO UPDATE SET loyalty_program = {set}"
        ),
        sql_params![&cx.acct.id, cx.acct.livemode, to_json(p).to_string()],
    )
}

/// A new loyalty account for `customer` (checked by the caller), and its writes: the row (a
/// second account for the customer aborts the batch as a lost race, whose retry finds the
/// first), the default program if none is stored, `loyalty.account.created`.
pub fn open_account<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    customer: &str,
    metadata: Metadata,
    program: &LoyaltyProgram,
) -> (AccountRow, Vec<Stmt>) {
    let obj = LoyaltyAccount {
        id: cx.id("loy_"),
        object: "loyalty_account".into(),
        customer: customer.into(),
        customer_id: customer.into(),
        points_balance: 0,
        pending_points: 0,
        spent_points: 0,
        expired_points: 0,
        lifetime_points: 0,
        tier: None,
        metadata,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    let data = to_json(&obj);
    let mut writes = vec![
        Stmt::new(
            "INSERT OR IGNORE INTO loyalty_accounts (id, account_id, livemode, customer_id, created, data) VALUES (?, ?, ?, ?, ?, ?)",
            sql_params![
                &obj.id,
                &cx.acct.id,
                cx.acct.livemode,
                customer,
                cx.now,
                data.to_string()
            ],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
        save_program(cx, program, true),
    ];
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::LoyaltyAccountCreated,
        cx.now,
        &data,
    ));
    (
        AccountRow {
            obj,
            credited: 0,
            consumed: 0,
        },
        writes,
    )
}

/// What else a movement's account update must find, or the batch aborts as a lost race.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    None,
    /// At least this many active points (spending).
    Balance(i64),
    /// `consumed` unchanged since read (an expiry, which computed what is left of a lot).
    Consumed(i64),
}

/// One movement of points, decided by the caller.
pub struct Movement<'a> {
    pub kind: PtxType,
    /// Signed, as the transaction shows it.
    pub points: i64,
    pub delta: Delta,
    pub status: PtxStatus,
    pub guard: Guard,
    pub available_at: Option<i64>,
    pub payment: Option<&'a str>,
    pub source: Option<&'a str>,
    pub reverses: Option<&'a str>,
    pub redemption: Option<&'a str>,
    pub multiplier: Option<Rate>,
    pub description: Option<String>,
    pub metadata: Metadata,
}

impl<'a> Movement<'a> {
    pub fn new(kind: PtxType, points: i64, delta: Delta) -> Movement<'a> {
        Movement {
            kind,
            points,
            delta,
            status: PtxStatus::Active,
            guard: Guard::None,
            available_at: None,
            payment: None,
            source: None,
            reverses: None,
            redemption: None,
            multiplier: None,
            description: None,
            metadata: Metadata::new(),
        }
    }
}

/// The writes of movement `m` on `account` (which it updates to the state after): the `ptx_`
/// (numbered as a lot when its points become active now), the counters, the points ledger, and
/// the steps `program` makes due (the lot's expiry, the tier review when it counts toward a
/// tier). A movement that credits nothing and counts toward no tier (a burn, a redemption, an
/// expiry) needs no program: None spares reading it.
pub fn record<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    account: &mut AccountRow,
    m: Movement<'_>,
    program: Option<&LoyaltyProgram>,
) -> (PointsTransaction, Vec<Stmt>) {
    let ptx = PointsTransaction {
        id: cx.id("ptx_"),
        object: "loyalty_transaction".into(),
        account: account.obj.id.clone(),
        customer: account.obj.customer.clone(),
        customer_id: account.obj.customer.clone(),
        kind: m.kind,
        points: m.points,
        amount: m.points,
        status: m.status,
        available_at: m.available_at,
        payment: m.payment.map(str::to_string),
        source: m.source.map(str::to_string),
        reverses: m.reverses.map(str::to_string),
        points_reversed: 0,
        redemption: m.redemption.map(str::to_string),
        multiplier: m.multiplier,
        description: m.description,
        metadata: m.metadata,
        livemode: cx.acct.livemode,
        created: cx.now,
    };
    // Points that become active now form a lot, numbered after every point credited before.
    let lot = (m.delta.credited > 0).then_some(m.delta.credited);
    let tier_points = domain::tier_points(m.kind, m.points);
    debug_assert!(
        program.is_some() || (lot.is_none() && tier_points == 0),
        "a movement that credits points or counts toward a tier needs the program: {:?}",
        m.kind
    );
    let loy = account.obj.id.clone();
    let mut writes = vec![Stmt::new(
        "INSERT INTO loyalty_transactions (id, account_id, livemode, loyalty_account, type, status, points, tier_points, payment_id, reverses, credit_start, lot_points, created, data) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? IS NULL THEN NULL ELSE (SELECT credited FROM loyalty_accounts WHERE id = ?) END, ?, ?, ?)",
        sql_params![
            &ptx.id,
            &cx.acct.id,
            cx.acct.livemode,
            &loy,
            m.kind.as_str(),
            m.status.as_str(),
            m.points,
            tier_points,
            m.payment,
            m.reverses,
            lot,
            &loy,
            lot,
            cx.now,
            to_json(&ptx).to_string()
        ],
    )];
    writes.extend(move_points(cx, &loy, &ptx.id, &m.delta, m.guard));
    account.apply(&m.delta);
    let Some(program) = program else {
        return (ptx, writes);
    };
    if let (Some(_), Some(due)) = (lot, domain::expires_at(cx.now, program.expiry_months)) {
        writes.push(steps::schedule_once(
            &cx.acct,
            &Step::LoyaltyExpire(ptx.id.clone()),
            due,
            cx.now,
        ));
    }
    if tier_points != 0 && !program.tiers.is_empty() {
        writes.push(steps::schedule_once(
            &cx.acct,
            &Step::LoyaltyTierReview(loy),
            domain::leaves_tier_window(cx.now),
            cx.now,
        ));
    }
    (ptx, writes)
}

/// The counters' update of movement `d` on account `loy` (guarded as `guard` says) and its
/// points-ledger lines under `posting`.
pub fn move_points<D: Db, E: Env>(cx: &Ctx<'_, D, E>, loy: &str, posting: &str, d: &Delta, guard: Guard) -> Vec<Stmt> {
    let mut sql = String::from(
        "UPDATE loyalty_accounts SET pending_points = pending_points + ?, credited = credited + ?, consumed = consumed + ?, \
         spent_points = spent_points + ?, expired_points = expired_points + ?, lifetime_points = lifetime_points + ? WHERE id = ?",
    );
    let mut params = sql_params![d.pending, d.credited, d.consumed, d.spent, d.expired, d.lifetime, loy];
    match guard {
        Guard::None => {}
        Guard::Balance(n) => {
            sql.push_str(" AND credited - consumed >= ?");
            params.push(n.into());
        }
        Guard::Consumed(n) => {
            sql.push_str(" AND consumed = ?");
            params.push(n.into());
        }
    }
    let mut writes = vec![Stmt::new(sql, params)];
    if guard != Guard::None {
        writes.push(Stmt::new(GUARD_ONE_SQL, vec![]));
    }
    let lines = d.lines();
    if !lines.is_empty() {
        let mut sql = String::from(
            "INSERT INTO points_entries (account_id, livemode, posting_id, loyalty_account, ledger_account, points, created) VALUES ",
        );
        let mut params = Vec::with_capacity(lines.len() * 7);
        for (i, (name, points)) in lines.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, ?, ?)"
            });
            params.extend(sql_params![
                &cx.acct.id,
                cx.acct.livemode,
                posting,
                loy,
                name.as_str(),
                *points,
                cx.now
            ]);
        }
        writes.push(Stmt::new(sql, params));
    }
    writes
}

/// The writes that move `account` to the tier `window` points reach, if that is another tier:
/// the column (guarded on the tier read, so two concurrent changes cannot both apply) and
/// `loyalty.tier.changed` with the account as it will stand.
pub fn retier<D: Db, E: Env>(
    cx: &Ctx<'_, D, E>,
    account: &mut AccountRow,
    program: &LoyaltyProgram,
    window: i64,
) -> Vec<Stmt> {
    let next = domain::tier_for(&program.tiers, window).map(|t| t.name.clone());
    if next == account.obj.tier {
        return Vec::new();
    }
    let mut writes = vec![
        Stmt::new(
            "UPDATE loyalty_accounts SET tier = ? WHERE id = ? AND tier IS ?",
            sql_params![next.clone(), &account.obj.id, account.obj.tier.clone()],
        ),
        Stmt::new(GUARD_ONE_SQL, vec![]),
    ];
    account.obj.tier = next;
    writes.extend(events::record(
        cx.env,
        &cx.acct,
        EventType::LoyaltyTierChanged,
        cx.now,
        &to_json(&account.obj),
    ));
    writes
}
