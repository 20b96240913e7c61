//! Engagement's objects as stored and returned (seed 002's third product): the environment's
//! loyalty program, loyalty accounts (`loy_`), points transactions (`ptx_`), rewards (`rwd_`)
//! and redemptions (`rdm_`). docs/engagement.md describes them; the rules are
//! [`crate::domain::loyalty`]'s.

use crate::fields::Metadata;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A rate or multiplier with at most four decimals, held exactly as ten-thousandths (so points
/// are floored without float error: 0.29 x 100 is 29, not 28.999...). JSON shows it as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(pub i64);

impl Rate {
    pub const SCALE: i64 = 10_000;
    pub const ONE: Rate = Rate(Rate::SCALE);

    /// `s` ("1", "1.5", "0.0025") as a rate: None for more than four decimals, a sign, or junk.
    pub fn parse(s: &str) -> Option<Rate> {
        let s = s.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 9 || frac.len() > 4 || !digits(whole) || !digits(frac) {
            return None;
        }
        let frac_scaled = format!("{frac:0<4}").parse::<i64>().ok()?;
        Some(Rate(whole.parse::<i64>().ok()? * Rate::SCALE + frac_scaled))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Rate::SCALE as f64
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % Rate::SCALE == 0 {
            s.serialize_i64(self.0 / Rate::SCALE)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        Rate::parse(&n.to_string()).ok_or_else(|| serde::de::Error::custom("a rate has at most four decimals"))
    }
}

#[cfg(feature = "openapi")]
impl schemars::JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "number", "minimum": 0, "multipleOf": 0.0001 })
    }
}

/// Points per major unit of a captured currency: one rate for every currency, or one per
/// currency (a currency left out earns nothing).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(untagged)]
pub enum EarnRate {
    Flat(Rate),
    PerCurrency(BTreeMap<String, Rate>),
}

impl EarnRate {
    /// The rate for `currency` (upper-case ISO 4217).
    pub fn for_currency(&self, currency: &str) -> Rate {
        match self {
            EarnRate::Flat(r) => *r,
            EarnRate::PerCurrency(m) => m.get(&currency.to_ascii_uppercase()).copied().unwrap_or(Rate(0)),
        }
    }
}

/// A tier: reached with `min_points` earned in the trailing 12 months; earning is multiplied by
/// `multiplier` while in it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct LoyaltyTier {
    pub name: String,
    pub min_points: i64,
    pub multiplier: Rate,
}

/// The environment's loyalty program (`GET/POST /v1/loyalty/program`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LoyaltyProgram {
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "loyalty_program")))]
    pub object: String,
    pub earn_rate: EarnRate,
    /// Points earned from a payment stay pending this many days.
    pub pending_days: i64,
    /// Active points expire this many months after they became active; 0: never.
    pub expiry_months: i64,
    /// By `min_points`, lowest first.
    pub tiers: Vec<LoyaltyTier>,
    /// A customer's first captured payment opens their loyalty account.
    pub auto_enroll: bool,
    pub livemode: bool,
}

impl LoyaltyProgram {
    /// The program of an environment that never set one: 1 point per major unit, no wait, no
    /// expiry, no tiers, no automatic enrolment.
    pub fn default_for(livemode: bool) -> LoyaltyProgram {
        LoyaltyProgram {
            object: "loyalty_program".into(),
            earn_rate: EarnRate::Flat(Rate::ONE),
            pending_days: 0,
            expiry_months: 0,
            tiers: Vec::new(),
            auto_enroll: false,
            livemode,
        }
    }
}

/// A customer's points (`loy_`). The balances are the account's points transactions summed by
/// status and type; the points ledger holds the same sums.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LoyaltyAccount {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^loy_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "loyalty_account")))]
    pub object: String,
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^cust_")))]
    pub customer: String,
    /// The same as `customer` (seed 002's handlers read `customerId`).
    #[serde(rename = "customerId")]
    pub customer_id: String,
    /// Active points: what can be spent. Negative after a reversal of points already spent;
    /// later earnings pay that first.
    pub points_balance: i64,
    /// Earned from payments and not yet active (`pending_days`).
    pub pending_points: i64,
    /// Burned and redeemed (less canceled redemptions).
    pub spent_points: i64,
    pub expired_points: i64,
    /// Every point earned, less reversals and negative adjustments: spent + balance + pending +
    /// expired.
    pub lifetime_points: i64,
    /// The tier's name; null below the lowest tier or without tiers.
    pub tier: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

/// What a points transaction records.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum PtxType {
    /// Points granted by the merchant (`POST .../transactions`).
    Earn,
    /// Points taken by the merchant; at most the active balance.
    Burn,
    /// A correction, either sign: changes the balance and lifetime points.
    Adjust,
    /// Points earned by a captured payment.
    EarnPayment,
    /// A payment's points taken back by a refund or a lost dispute.
    Reversal,
    /// Active points that reached `expiry_months`.
    Expire,
    /// Points exchanged for a reward.
    Redeem,
    /// A canceled redemption's points, given back.
    RedeemCancel,
}

impl PtxType {
    pub const NAMES: &[&str] = &[
        "earn",
        "burn",
        "adjust",
        "earn_payment",
        "reversal",
        "expire",
        "redeem",
        "redeem_cancel",
    ];
    /// The types a merchant creates by hand.
    pub const MANUAL: &[&str] = &["earn", "burn", "adjust"];

    pub fn as_str(self) -> &'static str {
        match self {
            PtxType::Earn => "earn",
            PtxType::Burn => "burn",
            PtxType::Adjust => "adjust",
            PtxType::EarnPayment => "earn_payment",
            PtxType::Reversal => "reversal",
            PtxType::Expire => "expire",
            PtxType::Redeem => "redeem",
            PtxType::RedeemCancel => "redeem_cancel",
        }
    }

    pub fn parse(s: &str) -> Option<PtxType> {
        Some(match s {
            "earn" => PtxType::Earn,
            "burn" => PtxType::Burn,
            "adjust" => PtxType::Adjust,
            "earn_payment" => PtxType::EarnPayment,
            "reversal" => PtxType::Reversal,
            "expire" => PtxType::Expire,
            "redeem" => PtxType::Redeem,
            "redeem_cancel" => PtxType::RedeemCancel,
            _ => return None,
        })
    }
}

/// Pending points count in `pending_points`; active ones in `points_balance`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum PtxStatus {
    Pending,
    Active,
}

impl PtxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PtxStatus::Pending => "pending",
            PtxStatus::Active => "active",
        }
    }
}

/// One movement of points (`ptx_`). `points` is signed (earnings positive, burns, redemptions,
/// expiries and reversals negative); `amount` repeats it for seed 002's handlers, which read
/// `event.data.amount` and `event.data.customerId` on `loyalty.points.earned`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PointsTransaction {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^ptx_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "loyalty_transaction")))]
    pub object: String,
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^loy_")))]
    pub account: String,
    pub customer: String,
    #[serde(rename = "customerId")]
    pub customer_id: String,
    #[serde(rename = "type")]
    pub kind: PtxType,
    pub points: i64,
    pub amount: i64,
    pub status: PtxStatus,
    /// When pending points become active (null once they are, or for points active at once).
    pub available_at: Option<i64>,
    /// The payment that earned (or, for a reversal, had earned) these points.
    pub payment: Option<String>,
    /// A reversal's refund (`re_`) or dispute (`dp_`); an expiry's lot (the `ptx_` whose points
    /// expired).
    pub source: Option<String>,
    /// A reversal's earning (`ptx_`).
    pub reverses: Option<String>,
    /// An earning from a payment: how many of its points were reversed so far.
    pub points_reversed: i64,
    /// A redemption's or redemption cancel's `rdm_`.
    pub redemption: Option<String>,
    /// A tier's multiplier applied to an earning from a payment.
    pub multiplier: Option<Rate>,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}

/// A redeemable item of the loyalty catalog (`rwd_`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Reward {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^rwd_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "loyalty_reward")))]
    pub object: String,
    pub name: String,
    pub points_cost: i64,
    /// How many are left; null: unlimited.
    pub stock: Option<i64>,
    pub active: bool,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
    pub updated: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
#[serde(rename_all = "snake_case")]
pub enum RedemptionStatus {
    Completed,
    Canceled,
}

impl RedemptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RedemptionStatus::Completed => "completed",
            RedemptionStatus::Canceled => "canceled",
        }
    }
}

/// A customer's points exchanged for a reward (`rdm_`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Redemption {
    #[cfg_attr(feature = "openapi", schemars(extend("pattern" = "^rdm_")))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "loyalty_redemption")))]
    pub object: String,
    pub account: String,
    pub customer: String,
    #[serde(rename = "customerId")]
    pub customer_id: String,
    pub reward: String,
    /// The points it cost (the reward's `points_cost` then); `amount` repeats it.
    pub points: i64,
    pub amount: i64,
    pub status: RedemptionStatus,
    /// The `redeem` transaction.
    pub transaction: String,
    /// The `redeem_cancel` transaction once canceled.
    pub cancel_transaction: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "crate::objects::schema::metadata"))]
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
    pub canceled_at: Option<i64>,
}
