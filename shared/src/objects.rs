//! The API objects as stored and returned. Field order is the order clients see.

use crate::fields::Metadata;
use serde::{Deserialize, Serialize};

/// The card snapshot kept on payment methods and charges (never the number or CVC).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub fingerprint: String,
    pub funding: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct BillingDetails {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PaymentMethod {
    pub id: String,
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub card: Card,
    pub billing_details: BillingDetails,
    pub customer: Option<String>,
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Customer {
    pub id: String,
    pub object: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub default_payment_method: Option<String>,
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    RequiresAction,
    RequiresCapture,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::RequiresCapture => "requires_capture",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    Automatic,
    Manual,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Routing {
    pub preferred_acquirer: Option<String>,
    /// The acquirer the sandbox routed the payment to.
    pub acquirer: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NextAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub three_d_secure: ThreeDsChallenge,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ThreeDsChallenge {
    pub version: String,
    /// Where the cardholder returns after the challenge, when the payment had a return_url.
    pub return_url: Option<String>,
    /// How to finish: POST /v1/payments/{id}/confirm with details[result]=authenticated|failed.
    pub confirm_url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PaymentError {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Adjustment {
    pub previous_amount: i64,
    pub adjusted_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Reversal {
    pub id: String,
    pub amount: i64,
    pub reversed_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Payment {
    pub id: String,
    pub object: String,
    /// Amount intended to be collected (the authorised ceiling after adjustments).
    pub amount: i64,
    /// The hold currently on the card.
    pub amount_authorized: i64,
    /// What a capture can still take.
    pub amount_capturable: i64,
    /// What was captured.
    pub amount_received: i64,
    /// Released by reversals.
    pub amount_reversed: i64,
    /// Refunded and not failed (docs/money.md).
    #[serde(default)]
    pub amount_refunded: i64,
    /// Withdrawn by a dispute.
    #[serde(default)]
    pub amount_disputed: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub capture_method: CaptureMethod,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub latest_charge: Option<String>,
    /// The `re_` ids of its refunds, oldest first.
    #[serde(default)]
    pub refunds: Vec<String>,
    #[serde(default)]
    pub dispute: Option<String>,
    /// The `txn_` of its capture.
    #[serde(default)]
    pub balance_transaction: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub return_url: Option<String>,
    pub routing: Routing,
    pub on_behalf_of: Option<String>,
    pub statement_descriptor: Option<String>,
    pub next_action: Option<NextAction>,
    pub last_payment_error: Option<PaymentError>,
    pub adjustment: Option<Adjustment>,
    pub reversal: Option<Reversal>,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ThreeDsResult {
    pub version: String,
    pub result: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CardDetails {
    #[serde(flatten)]
    pub card: Card,
    pub three_d_secure: Option<ThreeDsResult>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PaymentMethodDetails {
    #[serde(rename = "type")]
    pub kind: String,
    pub card: CardDetails,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub network_status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub decline_code: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Charge {
    pub id: String,
    pub object: String,
    pub payment: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub currency: String,
    pub status: ChargeStatus,
    pub captured: bool,
    pub authorization_code: Option<String>,
    pub acquirer: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub outcome: Outcome,
    pub payment_method: Option<String>,
    pub payment_method_details: PaymentMethodDetails,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Refund {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub payment: String,
    pub status: RefundStatus,
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    pub balance_transaction: Option<String>,
    pub failure_balance_transaction: Option<String>,
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Evidence {
    pub product_description: Option<String>,
    pub customer_communication: Option<String>,
    pub refund_policy: Option<String>,
    pub shipping_tracking_number: Option<String>,
    pub uncategorized_text: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvidenceDetails {
    pub due_by: i64,
    pub submission_count: i64,
    pub submitted_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Dispute {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub payment: String,
    pub status: DisputeStatus,
    pub reason: String,
    pub evidence: Evidence,
    pub evidence_details: EvidenceDetails,
    pub fee: i64,
    pub balance_transactions: Vec<String>,
    pub metadata: Metadata,
    pub closed_at: Option<i64>,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    InTransit,
    Paid,
    Failed,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::InTransit => "in_transit",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Payout {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub status: PayoutStatus,
    pub automatic: bool,
    pub destination: String,
    pub arrival_date: i64,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub balance_transaction: Option<String>,
    pub failure_balance_transaction: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}
