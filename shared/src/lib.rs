//! VINR domain core. Sans-IO: storage, clock and randomness come in through the ports in
//! [`port`]; the platform adapters (Spin components, the Cloudflare Worker) supply them.

pub mod ids;
pub mod keys;
pub mod error;
pub mod fields;
pub mod http;
pub mod money;
pub mod params;
pub mod port;
pub mod auth;
pub mod cards;
pub mod events;
pub mod idempotency;
pub mod list;
pub mod processor;
pub mod objects;
pub mod payment_flow;
pub mod ledger;
pub mod plan;
pub mod jobs;
pub mod api;
pub mod terminal;
pub mod webhooks;
pub mod openapi;
#[cfg(feature = "sqlite")]
pub mod sqlite;
