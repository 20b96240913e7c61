//! The unit of work of one request or one scheduled step: the store, the environment (clock,
//! randomness), the account it acts for, and that account's time.

use crate::auth::Account;
use crate::port::{Db, Env, new_id};

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

    pub fn id(&self, prefix: &str) -> String {
        new_id(self.env, prefix)
    }
}
