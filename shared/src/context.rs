//! The unit of work of one request or one scheduled step: the store, the environment (clock,
//! randomness), the account it acts for, and that account's time.

use crate::auth::Account;
use crate::error::{ApiError, ApiResult};
use crate::port::{Db, Env, Stmt, new_id};
use crate::sql_params;

pub struct Ctx<'a, D: Db, E: Env> {
    pub db: &'a D,
    pub env: &'a E,
    pub acct: Account,
    /// The account's clock (unix seconds): real time plus its sandbox offset. Every object and
    /// event of the account is stamped with it.
    pub now: i64,
    /// Real time (unix seconds), for what runs on the wall clock: webhook deliveries.
    pub wall: i64,
}

impl<'a, D: Db, E: Env> Ctx<'a, D, E> {
    /// The context of `acct` at real time `wall` (its clock adds the sandbox offset).
    pub fn new(db: &'a D, env: &'a E, acct: Account, wall: i64) -> Self {
        Ctx {
            db,
            env,
            now: acct.clock(wall),
            wall,
            acct,
        }
    }

    /// The same unit of work with the account's clock read as `now`: a scheduled step acts at
    /// its own due time, however late the scheduler runs it (a clock advance of a year runs each
    /// renewal on its own date).
    pub fn at(&self, now: i64) -> Self {
        Ctx {
            db: self.db,
            env: self.env,
            acct: self.acct.clone(),
            now,
            wall: self.wall,
        }
    }

    pub fn id(&self, prefix: &str) -> String {
        new_id(self.env, prefix)
    }

    /// The account's card-fingerprint key: as authentication read it, or else from the
    /// database (a cached live key does not carry it; `Account::fingerprint_key`).
    pub async fn fingerprint_key(&self) -> ApiResult<String> {
        if let Some(k) = &self.acct.fingerprint_key {
            return Ok(k.clone());
        }
        let rows = self
            .db
            .query(Stmt::new(
                "SELECT fingerprint_key FROM accounts WHERE id = ?",
                sql_params![&self.acct.id],
            ))
            .await?;
        rows.first()
            .and_then(|r| r[0].as_str())
            .map(str::to_string)
            .ok_or_else(|| ApiError::internal("the account has no fingerprint key"))
    }
}
