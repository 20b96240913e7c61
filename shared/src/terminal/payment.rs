//! The terminal payment (`tpay_`): the stored object, its status and the lifecycle's constants
//! (docs/terminals.md, "Lifecycle"). The transitions are decided in
//! [`crate::domain::terminal_payment`] and turned into writes by
//! [`crate::flows::terminal_payment`]; callers are the API (`api::terminals`), the device protocol
//! (`device`) and the scheduled steps (`jobs`).

use crate::fields::Metadata;
use serde::{Deserialize, Serialize};

/// Where a terminal payment stands; stored and shown as the snake_case name ([`Self::as_str`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TerminalPaymentStatus {
    /// Sent to the terminal, waiting for the card.
    Pending,
    /// A card was presented; its authorization is in flight.
    Processing,
    /// Approved with `captureMethod=manual`, waiting for the capture.
    Authorized,
    Completed,
    Failed,
    Cancelled,
}

impl TerminalPaymentStatus {
    pub const ALL: [TerminalPaymentStatus; 6] = [
        TerminalPaymentStatus::Pending,
        TerminalPaymentStatus::Processing,
        TerminalPaymentStatus::Authorized,
        TerminalPaymentStatus::Completed,
        TerminalPaymentStatus::Failed,
        TerminalPaymentStatus::Cancelled,
    ];

    /// The name in JSON and in the `status` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            TerminalPaymentStatus::Pending => "pending",
            TerminalPaymentStatus::Processing => "processing",
            TerminalPaymentStatus::Authorized => "authorized",
            TerminalPaymentStatus::Completed => "completed",
            TerminalPaymentStatus::Failed => "failed",
            TerminalPaymentStatus::Cancelled => "cancelled",
        }
    }
}

/// Every status name, in lifecycle order (the list filter and the OpenAPI document).
pub const STATUSES: &[&str] = &[
    TerminalPaymentStatus::Pending.as_str(),
    TerminalPaymentStatus::Processing.as_str(),
    TerminalPaymentStatus::Authorized.as_str(),
    TerminalPaymentStatus::Completed.as_str(),
    TerminalPaymentStatus::Failed.as_str(),
    TerminalPaymentStatus::Cancelled.as_str(),
];

/// A pending prompt nobody answers is cancelled after this long (seconds).
pub const PROMPT_TIMEOUT_SECS: i64 = 180;
/// A presented card whose authorization never arrives fails with `communication_error`.
pub const PROCESSING_TIMEOUT_SECS: i64 = 120;
/// Uncaptured authorizations expire (seed 003: 7 days).
pub const AUTH_EXPIRY_SECS: i64 = 7 * 86_400;
/// Capture may exceed the authorized amount by this many percent (tips).
pub const TIP_TOLERANCE_PERCENT: i64 = 20;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TerminalPayment {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^tpay_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "terminal_payment")))]
    pub object: String,
    pub terminal_id: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub currency: String,
    pub reference: Option<String>,
    /// The customer the payment is for (its loyalty points); null when none was given.
    #[serde(default)]
    pub customer: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(with = "String", extend("enum" = STATUSES)))]
    pub status: TerminalPaymentStatus,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = ["automatic", "manual"])))]
    pub capture_method: String,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = ["async", "sync"])))]
    pub response_mode: String,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::entry_method"))]
    pub entry_method: Option<String>,
    pub last4: Option<String>,
    pub brand: Option<String>,
    pub auth_code: Option<String>,
    pub decline_code: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = ["requested", "prompt_timeout", "expired", null])))]
    pub cancellation_reason: Option<String>,
    pub balance_transaction: Option<String>,
    /// Seconds of simulated interaction asked for (`?simulateDelay=N`); passed to the device.
    pub simulate_delay: i64,
    pub livemode: bool,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub presented_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub authorized_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub captured_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub completed_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub failed_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub cancelled_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub expires_at: Option<String>,
}

impl TerminalPayment {
    /// Is the terminal's session still running (the terminal busy with it)?
    pub fn active(&self) -> bool {
        matches!(
            self.status,
            TerminalPaymentStatus::Pending | TerminalPaymentStatus::Processing
        )
    }
}

/// The schemas of fields that are not plainly their type's (the `openapi` feature).
#[cfg(feature = "openapi")]
mod schema {
    use schemars::{Schema, SchemaGenerator};

    pub fn entry_method(_: &mut SchemaGenerator) -> Schema {
        crate::objects::schema::nullable_enum(crate::terminal::protocol::ENTRY_METHODS)
    }
}

/// RFC 3339 UTC, seconds precision: `2026-06-11T09:00:00Z`.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
