//! Seed 004's payment intents (`pi_`) as stored and returned: what a customer is asked to pay,
//! paid by one or more attempts, each a `pay_` with `payment_intent_id`. Seed 004's names
//! (`entity`, `created_at`, `account_id`, ...) beside the API's (`object`, `created`);
//! docs/intents.md describes them and the rules are [`crate::domain::intent`]'s.

use crate::objects::Payment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Seed 004's statuses of a payment intent.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// Not paid yet: no attempt, or none that went anywhere.
    Created,
    /// An attempt waits for the customer (3-D Secure).
    Pending,
    /// An attempt was authorized; the intent waits for its capture.
    Uncaptured,
    Captured,
    Cancelled,
    /// The latest attempt was declined. Another attempt may still pay the intent.
    Failed,
}

impl IntentStatus {
    pub const ALL: &'static [&'static str] = &["created", "pending", "uncaptured", "captured", "cancelled", "failed"];

    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Created => "created",
            IntentStatus::Pending => "pending",
            IntentStatus::Uncaptured => "uncaptured",
            IntentStatus::Captured => "captured",
            IntentStatus::Cancelled => "cancelled",
            IntentStatus::Failed => "failed",
        }
    }
}

/// Seed 004's reasons for cancelling an intent.
pub const CANCELLATION_REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer", "abandoned"];

/// One of an intent's `payment_splits`: what one connected account is given of the capture.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct PaymentSplit {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^acct_")))]
    pub account_id: String,
    /// Minor units moved to the account when the intent is captured (a partial capture shrinks it
    /// in proportion, unless the capture names its own splits).
    pub amount: i64,
    pub description: Option<String>,
    /// Moved to the account so far: a `transfer` transaction on both balances.
    pub amount_transferred: i64,
    /// Given back to the platform by refunds so far: `transfer_refund` transactions.
    pub amount_reversed: i64,
}

/// A payment intent (`pi_`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PaymentIntent {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^pi_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "payment_intent")))]
    pub object: String,
    /// Seed 004's name for `object`.
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "payment_intent")))]
    pub entity: String,
    /// What a browser or the JS SDK presents instead of a key to pay this intent (the hosted page).
    pub client_secret: String,
    pub status: IntentStatus,
    /// Minor units to pay.
    pub amount: i64,
    /// What the merchant keeps of `amount` (seed 004); `amount` when not given.
    pub merchant_amount: i64,
    pub amount_authorized: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    /// Authorized and then released (cancelled, or the rest of a partial capture).
    pub amount_voided: i64,
    pub amount_disputed: i64,
    pub amount_reversed: i64,
    /// What connected accounts are given of the capture (docs/platforms.md). Rows stored before
    /// splits existed have none.
    #[serde(default)]
    pub payment_splits: Vec<PaymentSplit>,
    /// Free-form order lines and totals, stored as given.
    pub order_details: Option<Map<String, Value>>,
    /// Whether an approved attempt is captured at once (true) or waits for a capture.
    pub capture: bool,
    /// ISO 4217, upper case (seed 004 writes "USD").
    pub currency: String,
    /// The latest attempt, as it was when it last changed.
    pub latest_payment: Option<Box<Payment>>,
    pub disputed: bool,
    pub dispute_id: Option<String>,
    pub reversed: bool,
    pub reversal_id: Option<String>,
    /// Processed by an outside gateway and recorded here (`/v1/external/...`).
    pub external: bool,
    pub partner_id: Option<String>,
    pub business_id: Option<String>,
    /// The account the intent belongs to (seed 004).
    pub account_id: String,
    /// Which payment methods may pay it: `card`, `bank`.
    pub payment_method_types: Vec<String>,
    pub reference_id: Option<String>,
    /// Free-form fields the merchant keeps with the intent, stored as given.
    pub user_fields: Option<Map<String, Value>>,
    pub cancellation_reason: Option<String>,
    pub description: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    pub cancelled_at: Option<String>,
    pub captured_at: Option<String>,
    /// `settled` once the captured funds are in a settlement (docs/intents.md).
    pub settlement_status: String,
    pub settled_at: Option<String>,
    pub livemode: bool,
    /// Unix seconds (the API's name).
    pub created: i64,
}
