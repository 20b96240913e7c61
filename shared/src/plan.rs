//! The processing plan (seed 004 "Fetch Partner Processing Plan") and the fees it sets. Every
//! account has the sandbox plan; fees are taken in the payment's currency, in minor units.

use serde::Serialize;
use serde_json::Value;

/// Percentage fee on a captured amount, in basis points (2.9 %).
pub const PERCENTAGE_BPS: i64 = 290;
/// Fixed fee per captured payment, in minor units of its currency.
pub const AUTH_FEE: i64 = 30;
/// Fee for a dispute, in minor units; not returned when the dispute is won.
pub const DISPUTE_FEE: i64 = 1500;

/// The fee for capturing `amount`: round-half-up of the percentage, plus the fixed fee, at most
/// the amount itself (a tiny partial capture never costs more than it brings).
pub fn capture_fee(amount: i64) -> i64 {
    let pct = (amount.max(0) as i128 * PERCENTAGE_BPS as i128 + 5_000) / 10_000;
    (pct as i64 + AUTH_FEE).min(amount.max(0))
}

/// The account's processing plan (every account has the sandbox plan).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProcessingPlan {
    pub id: &'static str,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "processing_plan")))]
    pub object: &'static str,
    #[cfg_attr(feature = "openapi", schemars(extend("const" = "FLAT_RATE")))]
    pub plan_type: &'static str,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date")))]
    pub effective_date: &'static str,
    pub accepted_cards: &'static [&'static str],
    pub auth_fee: FeeAmount,
    pub fees: PercentageFee,
    pub dispute_fee: FeeAmount,
    pub fees_paid_by_partner: bool,
    pub partner_pays_chargeback_amount: bool,
    pub interchange_cost: &'static str,
    pub settlement: PlanSettlement,
    pub livemode: bool,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct FeeAmount {
    pub amount: i64,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct PercentageFee {
    pub percentage_bps: i64,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema), schemars(inline))]
pub struct PlanSettlement {
    pub delay_days: i64,
    pub batch_time_utc: &'static str,
}

pub fn plan_json(livemode: bool) -> Value {
    let plan = ProcessingPlan {
        id: "plan_sandbox_flat_rate",
        object: "processing_plan",
        plan_type: "FLAT_RATE",
        effective_date: "2026-01-01",
        accepted_cards: &["visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay"],
        auth_fee: FeeAmount { amount: AUTH_FEE },
        fees: PercentageFee {
            percentage_bps: PERCENTAGE_BPS,
        },
        dispute_fee: FeeAmount { amount: DISPUTE_FEE },
        fees_paid_by_partner: false,
        partner_pays_chargeback_amount: false,
        interchange_cost: "GROSS",
        settlement: PlanSettlement {
            delay_days: 1,
            batch_time_utc: "00:00",
        },
        livemode,
    };
    serde_json::to_value(plan).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan as `json!` built it before [`ProcessingPlan`].
    #[test]
    fn plan() {
        use serde_json::json;
        assert_eq!(
            plan_json(true),
            json!({
                "id": "plan_sandbox_flat_rate",
                "object": "processing_plan",
                "plan_type": "FLAT_RATE",
                "effective_date": "2026-01-01",
                "accepted_cards": ["visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay"],
                "auth_fee": { "amount": AUTH_FEE },
                "fees": { "percentage_bps": PERCENTAGE_BPS },
                "dispute_fee": { "amount": DISPUTE_FEE },
                "fees_paid_by_partner": false,
                "partner_pays_chargeback_amount": false,
                "interchange_cost": "GROSS",
                "settlement": { "delay_days": 1, "batch_time_utc": "00:00" },
                "livemode": true,
            })
        );
    }

    #[test]
    fn fees() {
        assert_eq!(capture_fee(5000), 145 + 30);
        assert_eq!(capture_fee(50), 1 + 30); // 1.45 rounds down
        assert_eq!(capture_fee(1000), 29 + 30);
        assert_eq!(capture_fee(1500), 44 + 30); // 43.5 rounds up
        assert_eq!(capture_fee(10), 10); // capped at the amount
        assert_eq!(capture_fee(99_999_999), 2_900_000 + 30);
    }
}
