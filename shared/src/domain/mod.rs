//! Domain decisions, pure: state and input in, the new state plus what it causes (events, ledger
//! postings, scheduled steps) out, or a 4xx that changes nothing. No storage, no clock, no
//! randomness: the caller passes the time and the new ids. Unit-tested here; the flows
//! ([`crate::flows`]) load the state, call these, and turn the answer into writes.

pub mod settlement;
