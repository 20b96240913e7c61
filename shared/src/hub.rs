//! What the API asks of a runtime's terminal hub (the per-terminal Durable Object on Cloudflare,
//! the host's per-terminal actor on `vinr dev`), and its answers. Carried as JSON, since the
//! Worker reaches its Durable Object and a Spin component reaches `vinr dev` by HTTP.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a Spin component sends hub calls; `vinr dev` answers it in-process.
pub const HUB_URL: &str = "http://terminal-hub.vinr.internal/call";
pub const HUB_AUTHORITY: &str = "terminal-hub.vinr.internal";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum HubCall {
    /// Send `payment` to the terminal's device as a `payment` frame. With `wait_ms`, answer only
    /// when a device message settles that payment ([`HubReply::Settled`]), a `cancel` call for it
    /// passes, the connection drops, or `wait_ms` runs out.
    Deliver {
        #[serde(rename = "terminalId")]
        terminal_id: String,
        payment: Value,
        #[serde(rename = "waitMs", default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// Tell the device to clear this payment's prompt (the cancel is already committed), and
    /// release anyone waiting for it.
    Cancel {
        #[serde(rename = "terminalId")]
        terminal_id: String,
        #[serde(rename = "paymentId")]
        payment_id: String,
    },
}

impl HubCall {
    pub fn terminal_id(&self) -> &str {
        match self {
            HubCall::Deliver { terminal_id, .. } | HubCall::Cancel { terminal_id, .. } => terminal_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum HubReply {
    /// Sent to the device (no wait asked).
    Delivered,
    /// The payment left pending/processing (or was cancelled) while we waited.
    Settled,
    /// No device connection for this terminal.
    NotConnected,
    /// The device's connection closed while we waited.
    Dropped,
    /// `wait_ms` ran out first.
    TimedOut,
    /// This runtime has no hub, or it failed.
    Unavailable { message: String },
}
