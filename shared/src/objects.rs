//! The API objects as stored and returned. Field order is the order clients see.
//!
//! With the `openapi` feature they derive `JsonSchema`: their doc comments and `schemars`
//! attributes are the schemas of the OpenAPI document (`openapi.rs`), so write doc comments of
//! fields for API clients.

pub mod accounts;
pub mod billing;
pub mod intents;
pub mod loyalty;

use crate::fields::Metadata;
use serde::{Deserialize, Serialize};

/// The card snapshot kept on payment methods and charges (never the number or CVC).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub fingerprint: String,
    pub funding: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct BillingDetails {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PaymentMethod {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^pm_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "payment_method")))]
    pub object: String,
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "card")))]
    pub kind: String,
    pub card: Card,
    pub billing_details: BillingDetails,
    pub customer: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Customer {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^cust_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "customer")))]
    pub object: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub default_payment_method: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    Automatic,
    Manual,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Routing {
    pub preferred_acquirer: Option<String>,
    /// The acquirer the sandbox routed the payment to.
    pub acquirer: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct NextAction {
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "three_d_secure")))]
    pub kind: String,
    pub three_d_secure: ThreeDsChallenge,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct ThreeDsChallenge {
    pub version: String,
    /// Where the cardholder returns after the challenge, when the payment had a return_url.
    pub return_url: Option<String>,
    /// How to finish: POST /v1/payments/{id}/confirm with details[result]=authenticated|failed.
    pub confirm_url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct PaymentError {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Adjustment {
    pub previous_amount: i64,
    pub adjusted_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Reversal {
    pub id: String,
    pub amount: i64,
    pub reversed_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Payment {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^pay_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "payment")))]
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
    /// Refunded and not failed.
    // What counts: docs/money.md.
    #[serde(default)]
    pub amount_refunded: i64,
    /// Withdrawn by a dispute.
    #[serde(default)]
    pub amount_disputed: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub capture_method: CaptureMethod,
    /// A customer id; the customer when expanded (`expand[]=customer`), `{id, object, deleted}` once deleted.
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::customer"))]
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    /// A charge id; the charge when expanded (`expand[]=latest_charge`).
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::charge"))]
    pub latest_charge: Option<String>,
    /// The ids of its refunds (re_), oldest first.
    #[serde(default)]
    pub refunds: Vec<String>,
    /// The id of its dispute (dp_).
    #[serde(default)]
    pub dispute: Option<String>,
    /// The transaction (txn_) of its capture.
    #[serde(default)]
    pub balance_transaction: Option<String>,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::metadata"))]
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
    /// The payment intent (pi_) this payment is an attempt at paying (seed 004); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<String>,
    /// Seed 004: the merchant's reference of an intent's attempt; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// Seed 004: free-form fields of an intent's attempt, stored as given; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seed 004: free-form order details of an intent's attempt, stored as given; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_details: Option<serde_json::Map<String, serde_json::Value>>,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct ThreeDsResult {
    pub version: String,
    pub result: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct CardDetails {
    #[serde(flatten)]
    pub card: Card,
    pub three_d_secure: Option<ThreeDsResult>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct PaymentMethodDetails {
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "card")))]
    pub kind: String,
    pub card: CardDetails,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Outcome {
    pub network_status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub decline_code: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Charge {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^ch_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "charge")))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
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

/// Why a refund was made (its `reason`).
pub const REFUND_REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer"];

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Refund {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^re_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "refund")))]
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub payment: String,
    pub status: RefundStatus,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::refund_reason"))]
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    /// The refund transaction (txn_).
    pub balance_transaction: Option<String>,
    /// The refund_failure transaction (txn_) that returned the money, once failed.
    pub failure_balance_transaction: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Evidence {
    pub product_description: Option<String>,
    pub customer_communication: Option<String>,
    pub refund_policy: Option<String>,
    pub shipping_tracking_number: Option<String>,
    pub uncategorized_text: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct EvidenceDetails {
    pub due_by: i64,
    pub submission_count: i64,
    pub submitted_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Dispute {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^dp_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "dispute")))]
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub payment: String,
    pub status: DisputeStatus,
    pub reason: String,
    pub evidence: Evidence,
    pub evidence_details: EvidenceDetails,
    pub fee: i64,
    /// Its transactions (txn_): the withdrawal, and the reversal once won.
    pub balance_transactions: Vec<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::metadata"))]
    pub metadata: Metadata,
    pub closed_at: Option<i64>,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
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

/// The sandbox's test bank accounts (a payout's `destination`): payouts to the first arrive, to
/// the second fail.
pub const DESTINATIONS: &[&str] = &[TEST_SUCCESS, TEST_FAILURE];
/// The default destination (and every automatic payout's).
pub const TEST_SUCCESS: &str = "ba_test_success";
/// The bank refuses payouts to it on arrival (`account_closed`).
pub const TEST_FAILURE: &str = "ba_test_failure";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Payout {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^po_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "payout")))]
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub status: PayoutStatus,
    pub automatic: bool,
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = DESTINATIONS)))]
    pub destination: String,
    pub arrival_date: i64,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The payout transaction (txn_).
    pub balance_transaction: Option<String>,
    /// The payout_failure transaction (txn_) that returned the money, once failed.
    pub failure_balance_transaction: Option<String>,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

/// What the OpenAPI document says of fields whose Rust type says less: the components written by
/// hand in `openapi.rs` (`Metadata`, `Deleted`), expandable ids and closed sets of strings.
#[cfg(feature = "openapi")]
pub(crate) mod schema {
    use schemars::{Schema, SchemaGenerator, json_schema};
    use serde_json::Value;

    /// A `$ref` to a component of the document that is not derived.
    fn component(g: &SchemaGenerator, name: &str) -> Schema {
        json_schema!({ "$ref": format!("#{}/{name}", g.settings().definitions_path) })
    }

    pub fn metadata(g: &mut SchemaGenerator) -> Schema {
        component(g, "Metadata")
    }

    /// An id, or the object when expanded (or the deleted marker).
    pub fn customer(g: &mut SchemaGenerator) -> Schema {
        let (customer, deleted) = (g.subschema_for::<super::Customer>(), component(g, "Deleted"));
        json_schema!({ "anyOf": [{ "type": "null" }, { "type": "string" }, customer, deleted] })
    }

    pub fn charge(g: &mut SchemaGenerator) -> Schema {
        let charge = g.subschema_for::<super::Charge>();
        json_schema!({ "anyOf": [{ "type": "null" }, { "type": "string" }, charge] })
    }

    /// A string from `values`, or null.
    pub fn nullable_enum(values: &[&str]) -> Schema {
        let mut values: Vec<Value> = values.iter().map(|r| Value::from(*r)).collect();
        values.push(Value::Null);
        json_schema!({ "type": ["string", "null"], "enum": values })
    }

    pub fn refund_reason(_: &mut SchemaGenerator) -> Schema {
        nullable_enum(super::REFUND_REASONS)
    }
}
