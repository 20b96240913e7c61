//! The device protocol: JSON text frames over the terminal's one WebSocket (docs/terminals.md).
//! Plain data; what a message means is decided in `device`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The device's WebSocket endpoint (`GET`), answered by each runtime's terminal hub before
/// route matching.
pub const CONNECT_PATH: &str = "/v1/terminal/connect";

/// Server → device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToDevice {
    /// First frame of a connection: the terminal as the API shows it.
    Hello { terminal: Value },
    /// Show this payment (also re-sent on reconnect while its session is active).
    Payment { payment: Value },
    /// Clear the prompt of this payment.
    Cancel {
        #[serde(rename = "paymentId")]
        payment_id: String,
    },
    /// The outcome to display.
    Result { payment: Value },
    /// A frame the server could not use; the connection stays open.
    Error { message: String },
}

/// Device → server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromDevice {
    Heartbeat {},
    /// The cardholder presented a card: pending → processing.
    Presented {
        #[serde(rename = "paymentId")]
        payment_id: String,
        #[serde(rename = "entryMethod")]
        entry_method: String,
    },
    /// Authorize with this card number (never stored; brand and last4 are kept).
    Authorize {
        #[serde(rename = "paymentId")]
        payment_id: String,
        card: String,
    },
    /// The prompt timed out on the device: pending → cancelled.
    Timeout {
        #[serde(rename = "paymentId")]
        payment_id: String,
    },
}

impl ToDevice {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a protocol frame always serializes")
    }
}

impl FromDevice {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a protocol frame always serializes")
    }
}

/// The entry methods a device may report.
pub const ENTRY_METHODS: &[&str] = &["contactless", "chip", "swipe", "manual"];

/// How often a device says it is alive; the server calls it offline after [`OFFLINE_AFTER_SECS`].
pub const HEARTBEAT_SECS: u64 = 20;
pub const OFFLINE_AFTER_SECS: i64 = 60;
