//! Webhooks: signing and verification, the retry schedule, and which endpoint URLs are allowed.
//! The delivery itself (an HTTP POST) is the runtime's job; what to send, when, and how to
//! judge the answer is decided here so that every runtime delivers the same way.

pub mod delivery;
pub mod fair;
pub mod retry;
pub mod runner;
pub mod signature;
pub mod url_policy;
