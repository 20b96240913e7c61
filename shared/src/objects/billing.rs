//! Billing's objects as stored and returned (seed 002's second product): the catalogue,
//! products and their prices.

use crate::fields::Metadata;
use serde::{Deserialize, Serialize};

/// A thing a merchant sells (`prod_`); its prices say what it costs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Product {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^prod_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "product")))]
    pub object: String,
    pub name: String,
    pub description: Option<String>,
    /// Inactive products keep their prices and subscriptions; new prices may still be added.
    pub active: bool,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
    /// Unix seconds of the last change (`created` until the first update).
    pub updated: i64,
}

/// How often a recurring price bills, and how its quantity is counted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Recurring {
    pub interval: Interval,
    /// Intervals per billing period (`interval=month`, `interval_count=3`: quarterly); at most
    /// one year in all.
    pub interval_count: i64,
    pub usage_type: UsageType,
    /// For metered prices: how a period's usage records become its quantity; null for licensed.
    pub aggregate_usage: Option<AggregateUsage>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub const NAMES: &[&str] = &["day", "week", "month", "year"];

    pub fn parse(s: &str) -> Option<Interval> {
        Some(match s {
            "day" => Interval::Day,
            "week" => Interval::Week,
            "month" => Interval::Month,
            "year" => Interval::Year,
            _ => return None,
        })
    }

    /// The most intervals of this kind in one period: a period is at most a year.
    pub fn max_count(self) -> i64 {
        match self {
            Interval::Day => 365,
            Interval::Week => 52,
            Interval::Month => 12,
            Interval::Year => 1,
        }
    }
}

/// `licensed`: the subscription item's quantity is billed; `metered`: its usage records are.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum UsageType {
    Licensed,
    Metered,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum AggregateUsage {
    /// The sum of the period's records.
    Sum,
    /// The largest record of the period.
    Max,
    /// The last record of the period (by timestamp).
    LastDuringPeriod,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum BillingScheme {
    /// `unit_amount` per unit.
    PerUnit,
    /// By `tiers` and `tiers_mode`.
    Tiered,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum TiersMode {
    /// Each unit is priced by the tier it falls in (the first 10 at one price, the next at another).
    Graduated,
    /// Every unit is priced by the tier the total quantity falls in.
    Volume,
}

/// One tier: units up to `up_to` (inclusive; null for the last, unbounded tier).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Tier {
    pub up_to: Option<i64>,
    /// Per unit in this tier, minor units.
    pub unit_amount: i64,
    /// Once for reaching this tier (graduated) or for the quantity in it (volume), minor units.
    pub flat_amount: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum PriceType {
    OneTime,
    Recurring,
}

/// What a product costs (`price_`). Only `active`, `nickname` and `metadata` ever change: a new
/// amount is a new price, so every invoice keeps meaning what it said.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Price {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^price_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "price")))]
    pub object: String,
    /// The `prod_` this price belongs to.
    pub product: String,
    /// ISO 4217, upper case.
    pub currency: String,
    #[serde(rename = "type")]
    pub kind: PriceType,
    pub billing_scheme: BillingScheme,
    /// Per unit, minor units; null for tiered prices.
    pub unit_amount: Option<i64>,
    /// Null for per-unit prices.
    pub tiers_mode: Option<TiersMode>,
    /// Null for per-unit prices.
    pub tiers: Option<Vec<Tier>>,
    /// Null for one-time prices.
    pub recurring: Option<Recurring>,
    pub active: bool,
    pub nickname: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Editable, not yet owed.
    Draft,
    /// Finalized and owed: paid automatically or by the customer.
    Open,
    Paid,
    /// Cancelled after finalizing; nothing is owed.
    Void,
    /// Written off; it can still be paid.
    Uncollectible,
}

impl InvoiceStatus {
    pub const NAMES: &[&str] = &["draft", "open", "paid", "void", "uncollectible"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// Charged to a payment method when it is due.
    ChargeAutomatically,
    /// Sent to the customer, who pays by `days_until_due`.
    SendInvoice,
}

/// A span of time, unix seconds: `start` inclusive, `end` exclusive.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

/// One line of an invoice (`il_`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct InvoiceLine {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^il_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "line_item")))]
    pub object: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    /// The `price_` the line bills, or null for a line with its own amount.
    pub price: Option<String>,
    pub quantity: i64,
    pub period: Period,
    /// A proration of a subscription change.
    pub proration: bool,
    /// The `si_` it bills (null for a one-off line or a carried amount).
    #[serde(default)]
    pub subscription_item: Option<String>,
}

/// An invoice's lines, in Stripe's list shape.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct InvoiceLines {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "list")))]
    pub object: String,
    pub data: Vec<InvoiceLine>,
    pub has_more: bool,
}

/// Why the latest charge of an invoice failed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct InvoicePaymentError {
    /// The failed `pay_`; null when no charge could be tried (no payment method).
    pub payment: Option<String>,
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
}

/// A billing statement (`inv_`), paid by a real payment (`pay_`) through the Payments product.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Invoice {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^inv_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "invoice")))]
    pub object: String,
    pub customer: String,
    /// The same as `customer`, as seed 002's sample webhook handler reads it.
    #[serde(rename = "customerId")]
    pub customer_id: String,
    /// The `sub_` that generated it; null for a one-off invoice.
    pub subscription: Option<String>,
    pub status: InvoiceStatus,
    pub collection_method: CollectionMethod,
    pub currency: String,
    pub lines: InvoiceLines,
    /// The sum of the lines, minor units.
    pub subtotal: i64,
    pub total: i64,
    /// What is owed once finalized (the total).
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_remaining: i64,
    /// Charges tried so far.
    pub attempt_count: i64,
    /// The `pay_` that paid it.
    pub payment: Option<String>,
    pub last_payment_error: Option<InvoicePaymentError>,
    /// Dunning: when the next automatic retry of a failed charge is scheduled (null: none).
    pub next_payment_attempt: Option<i64>,
    /// Charged when set; else the customer's default payment method at the time of the charge.
    pub default_payment_method: Option<String>,
    /// `send_invoice` only: days from finalizing to `due_date`.
    pub days_until_due: Option<i64>,
    pub due_date: Option<i64>,
    pub period_start: i64,
    pub period_end: i64,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub marked_uncollectible_at: Option<i64>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// In its free trial; the first invoice comes at `trial_end`.
    Trialing,
    Active,
    /// Its first invoice is not paid yet (a declined first charge).
    Incomplete,
    /// Its first invoice was not paid within 23 hours; the invoice is void.
    IncompleteExpired,
    /// A renewal's charge failed; the invoice is open.
    PastDue,
    /// Unpaid after the last retry, kept (the `after_final_failure=unpaid` setting).
    Unpaid,
    Canceled,
}

impl SubscriptionStatus {
    pub const NAMES: &[&str] = &[
        "trialing",
        "active",
        "incomplete",
        "incomplete_expired",
        "past_due",
        "unpaid",
        "canceled",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Over for good: nothing renews or charges again.
    pub fn ended(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
        )
    }
}

/// One price a subscription bills (`si_`), with the price as it was subscribed (a price's
/// amounts never change, so the copy is the price).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct SubscriptionItem {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^si_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "subscription_item")))]
    pub object: String,
    pub price: Price,
    pub quantity: i64,
    pub created: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct SubscriptionItems {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "list")))]
    pub object: String,
    pub data: Vec<SubscriptionItem>,
    pub has_more: bool,
}

/// A customer subscribed to recurring prices (`sub_`): it drives the invoice lifecycle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Subscription {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^sub_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "subscription")))]
    pub object: String,
    pub customer: String,
    /// The same as `customer` (seed 002's handlers read `data.customerId`).
    #[serde(rename = "customerId")]
    pub customer_id: String,
    pub status: SubscriptionStatus,
    pub items: SubscriptionItems,
    /// Every item's currency.
    pub currency: String,
    /// Every item's billing interval.
    pub interval: Interval,
    pub interval_count: i64,
    pub collection_method: CollectionMethod,
    pub days_until_due: Option<i64>,
    /// Charged when set; else the customer's default payment method at the time of each charge.
    pub default_payment_method: Option<String>,
    /// Periods are counted from here (a month from the 31st ends on the last day of shorter months).
    pub billing_cycle_anchor: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    /// Cancel when the current period ends instead of renewing.
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The newest `inv_` it generated.
    pub latest_invoice: Option<String>,
    /// Lines waiting for its next invoice: prorations of changes (`create_prorations`), usage
    /// of removed metered items, and amounts an earlier invoice could not collect (a credit, or
    /// less than the currency's minimum charge).
    #[serde(default)]
    pub pending_invoice_items: Vec<InvoiceLine>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

/// What dunning does once the last retry of a subscription invoice has failed.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum AfterFinalFailure {
    /// Cancel the subscription (`subscription.deleted`).
    Cancel,
    /// Keep it as `unpaid`: later periods are invoiced but not charged automatically.
    Unpaid,
    /// Leave it `past_due`: later periods are still charged; the invoice stays open.
    PastDue,
}

impl AfterFinalFailure {
    pub const NAMES: &[&str] = &["cancel", "unpaid", "past_due"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cancel" => Some(Self::Cancel),
            "unpaid" => Some(Self::Unpaid),
            "past_due" => Some(Self::PastDue),
            _ => None,
        }
    }
}

/// An environment's Billing settings: the dunning schedule (`GET/POST /v1/billing/settings`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct BillingSettings {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "billing_settings")))]
    pub object: String,
    /// Days between a failed automatic charge and its next retry, each counted from the attempt
    /// before (default 3, 5, 7: retried 3, 8 and 15 days after the first failure).
    pub retry_schedule_days: Vec<i64>,
    pub after_final_failure: AfterFinalFailure,
    pub livemode: bool,
}

/// How a usage record counts: added to the value at its timestamp, or replacing it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum UsageAction {
    Increment,
    Set,
}

impl UsageAction {
    pub const NAMES: &[&str] = &["increment", "set"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "increment" => Some(Self::Increment),
            "set" => Some(Self::Set),
            _ => None,
        }
    }
}

/// Usage of a metered subscription item at a moment (`mbu_`), billed at its period's end.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageRecord {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^mbu_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "usage_record")))]
    pub object: String,
    /// The `si_` it counts for.
    pub subscription_item: String,
    pub subscription: String,
    pub quantity: i64,
    /// Unix seconds the usage happened (default: when it was reported).
    pub timestamp: i64,
    pub action: UsageAction,
    /// The caller's key: a second record with it for the same item answers the first.
    pub identifier: Option<String>,
    pub livemode: bool,
    pub created: i64,
}

/// A batch of usage records, stored all or none.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageRecordBatch {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "list")))]
    pub object: String,
    pub data: Vec<UsageRecord>,
}

/// A metered item's usage over one of its billing periods.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageRecordSummary {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "usage_record_summary")))]
    pub object: String,
    pub subscription_item: String,
    pub period: Period,
    /// The period's quantity by the price's `aggregate_usage` (what its invoice bills).
    pub total_usage: i64,
    pub records: i64,
}
