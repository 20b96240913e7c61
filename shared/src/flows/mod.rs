//! Flows: load what a decision needs, ask the domain ([`crate::domain`]), and return the writes
//! that make its answer true (one atomic batch, committed by the caller). HTTP handlers and
//! scheduled steps call the same flows, so a rule has one home whichever way it is reached.

pub mod dispute;
pub mod dunning;
pub mod intent;
pub mod invoice;
pub mod loyalty;
pub mod payment;
pub mod payment_method;
pub mod payout;
pub mod refund;
pub mod settlement;
pub mod subscription;
pub mod terminal_payment;
pub mod usage;

use crate::auth::Account;
use crate::ledger::{self, NewTxn};
use crate::port::Stmt;
use crate::steps;

/// Records balance transaction `t` and schedules what it makes due (its settlement, the payout
/// schedule).
pub fn post_txn(acct: &Account, t: &NewTxn) -> Vec<Stmt> {
    let mut writes = ledger::record_txn(acct, t);
    for (step, due) in crate::domain::settlement::steps_after(t) {
        writes.push(steps::schedule_once(acct, &step, due, t.created));
    }
    writes
}

/// Records a posting the domain decided on, as [`post_txn`].
pub fn post(acct: &Account, p: &crate::domain::Posting) -> Vec<Stmt> {
    post_txn(acct, &p.txn())
}
