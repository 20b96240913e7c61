//! Harness of the VINR conformance suite. Tests talk HTTP only, to a runtime started by
//! [`runtime::start`] (or shared per test binary by [`runtime::shared`]).
//!
//! - `runtime`: starting a runtime (`VINR_TEST_RUNTIME`, default `vinr` = `vinr dev`).
//! - `http`: a tiny HTTP/1.1 client over `std::net::TcpStream` (exact bytes on the wire, so tests
//!   can send bodies without a content type, oversized bodies, odd methods) and assertions.
//! - `receiver`: a webhook receiver on loopback that records requests and answers scripted statuses.
//! - `fixtures`: helpers that create fresh objects, so that tests never share data.
//! - `billing`: helpers of the Billing tests (customers, prices, default payment methods).
//! - `loyalty`: helpers of the Engagement tests (program, members, rewards, invariants).
//! - `platforms`: helpers of the platform tests (connected accounts, x-account-id).
//! - `terminals`: helpers of the terminal tests (docs/terminals.md).
//! - `webhooks`: helpers of the webhook tests (endpoints, events, deliveries).

pub mod billing;
pub mod fixtures;
pub mod http;
pub mod loyalty;
pub mod money;
pub mod platforms;
pub mod receiver;
pub mod runtime;
pub mod terminals;
pub mod webhooks;

pub use fixtures::*;
pub use http::{Req, Resp};
pub use money::*;
pub use receiver::{Answer, Hit, Receiver};
pub use runtime::{Runtime, shared, start, start_with_env};
pub use serde_json::{Value, json};
