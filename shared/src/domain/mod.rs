//! Domain decisions, pure: state and input in, the new state plus what it causes (events, ledger
//! postings, scheduled steps) out, or a 4xx that changes nothing. No storage, no clock, no
//! randomness: the caller passes the time and the new ids. Unit-tested here; the flows
//! ([`crate::flows`]) load the state, call these, and turn the answer into writes.

pub mod dispute;
pub mod dunning;
pub mod intent;
pub mod invoice;
pub mod loyalty;
pub mod payment;
pub mod payout;
pub mod pricing;
pub mod refund;
pub mod settlement;
pub mod split;
pub mod subscription;
pub mod terminal_payment;
pub mod usage;

use crate::ledger::{NewTxn, SourceType};
use crate::steps::Step;

/// A balance transaction a decision makes (owned; [`Posting::txn`] lends it to the ledger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    pub id: String,
    pub source_type: SourceType,
    pub source_id: String,
    pub currency: String,
    /// Signed effect on the merchant's balance before the fee.
    pub amount: i64,
    pub fee: i64,
    pub description: String,
    pub payout_id: Option<String>,
    pub created: i64,
}

impl Posting {
    pub fn txn(&self) -> NewTxn<'_> {
        NewTxn {
            id: &self.id,
            source_type: self.source_type,
            source_id: &self.source_id,
            currency: &self.currency,
            amount: self.amount,
            fee: self.fee,
            description: &self.description,
            payout_id: self.payout_id.as_deref(),
            created: self.created,
        }
    }
}

/// A step a decision makes due, and when (account clock).
pub type Due = (Step, i64);
