//! VINR domain core. Sans-IO: storage, clock and randomness come in through the ports in
//! [`port`]; the platform adapters (Spin components, the Cloudflare Worker) supply them.

pub mod api;
pub mod auth;
pub mod cards;
pub mod context;
pub mod device;
pub mod domain;
pub mod error;
pub mod events;
pub mod fields;
pub mod flows;
pub mod http;
pub mod hub;
pub mod idempotency;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod ledger;
pub mod list;
pub mod money;
pub mod objects;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod params;
pub mod permissions;
pub mod plan;
pub mod port;
pub mod processor;
pub mod rate_limit;
pub mod retention;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod steps;
pub mod store;
pub mod terminal;
pub mod webhooks;
