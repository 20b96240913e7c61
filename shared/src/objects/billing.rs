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
