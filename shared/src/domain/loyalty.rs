//! Loyalty points, pure: how many points a capture earns, what a refund takes back, which tier
//! an account is in, how much of an active lot is left to expire, and the points-ledger lines of
//! every movement.
//!
//! Points move between five places, as money does between ledger accounts: the program's
//! `points_issued` and each customer's `points_pending`, `points_active`, `points_spent` and
//! `points_expired`. A [`Delta`] is one movement: the changes of a loyalty account's counters,
//! whose lines always sum to zero, so `spent + active + pending + expired = lifetime` holds after
//! every movement and the points outstanding are one sum.
//!
//! Active points are spent oldest first without touching the lots: every point that becomes
//! active is numbered in order (`credited`), every point that leaves counts in `consumed`, and a
//! lot [start, start + size) still holds what of it lies above `consumed` ([`lot_remaining`]).

use crate::error::ApiError;
use crate::objects::billing::Interval;
use crate::objects::loyalty::{LoyaltyProgram, LoyaltyTier, PtxType, Rate};
use chrono::{DateTime, Months};

/// The points ledger's accounts (the `ledger_account` column of `points_entries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointsAccount {
    /// The program's side: minus every point ever issued and not reversed.
    Issued,
    Pending,
    Active,
    Spent,
    Expired,
}

impl PointsAccount {
    pub const fn as_str(self) -> &'static str {
        match self {
            PointsAccount::Issued => "points_issued",
            PointsAccount::Pending => "points_pending",
            PointsAccount::Active => "points_active",
            PointsAccount::Spent => "points_spent",
            PointsAccount::Expired => "points_expired",
        }
    }
}

/// One movement's change of a loyalty account's counters (the columns of `loyalty_accounts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub pending: i64,
    /// Points that became active (numbered in order: the lots).
    pub credited: i64,
    /// Active points that left.
    pub consumed: i64,
    pub spent: i64,
    pub expired: i64,
    pub lifetime: i64,
}

impl Delta {
    /// Earned, pending until `pending_days` passed.
    pub fn earn_pending(p: i64) -> Delta {
        Delta {
            pending: p,
            lifetime: p,
            ..Delta::default()
        }
    }
    /// Earned (or adjusted up), active at once.
    pub fn earn_active(p: i64) -> Delta {
        Delta {
            credited: p,
            lifetime: p,
            ..Delta::default()
        }
    }
    /// Pending points become active.
    pub fn activate(p: i64) -> Delta {
        Delta {
            pending: -p,
            credited: p,
            ..Delta::default()
        }
    }
    /// Burned or redeemed.
    pub fn spend(p: i64) -> Delta {
        Delta {
            consumed: p,
            spent: p,
            ..Delta::default()
        }
    }
    /// A canceled redemption's points come back (as a new lot).
    pub fn unspend(p: i64) -> Delta {
        Delta {
            credited: p,
            spent: -p,
            ..Delta::default()
        }
    }
    pub fn expire(p: i64) -> Delta {
        Delta {
            consumed: p,
            expired: p,
            ..Delta::default()
        }
    }
    /// Points taken back (a reversal, an adjustment down), from pending or active points.
    pub fn take_back(p: i64, pending: bool) -> Delta {
        if pending {
            Delta {
                pending: -p,
                lifetime: -p,
                ..Delta::default()
            }
        } else {
            Delta {
                consumed: p,
                lifetime: -p,
                ..Delta::default()
            }
        }
    }

    /// The points ledger's lines of this movement (those that are not zero). They sum to zero.
    pub fn lines(&self) -> Vec<(PointsAccount, i64)> {
        let all = [
            (PointsAccount::Issued, -self.lifetime),
            (PointsAccount::Pending, self.pending),
            (PointsAccount::Active, self.credited - self.consumed),
            (PointsAccount::Spent, self.spent),
            (PointsAccount::Expired, self.expired),
        ];
        debug_assert_eq!(all.iter().map(|l| l.1).sum::<i64>(), 0, "unbalanced {self:?}");
        all.into_iter().filter(|l| l.1 != 0).collect()
    }
}

/// Points for capturing `amount` (minor units of `currency`): floor(major units x rate x
/// multiplier), exactly.
pub fn points_for(amount: i64, currency: &str, rate: Rate, multiplier: Rate) -> i64 {
    let exp = crate::money::exponent(currency).unwrap_or(2) as u32;
    let num = amount.max(0) as i128 * rate.0 as i128 * multiplier.0 as i128;
    let den = 10_i128.pow(exp) * (Rate::SCALE as i128) * (Rate::SCALE as i128);
    i64::try_from(num / den).unwrap_or(i64::MAX)
}

/// The tier for `tier_points` earned in the window: the highest whose `min_points` it reaches.
pub fn tier_for(tiers: &[LoyaltyTier], tier_points: i64) -> Option<&LoyaltyTier> {
    tiers
        .iter()
        .filter(|t| t.min_points <= tier_points)
        .max_by_key(|t| t.min_points)
}

/// The multiplier of tier `name` (1 when it is none, or no longer in the program).
pub fn multiplier(program: &LoyaltyProgram, tier: Option<&str>) -> Rate {
    tier.and_then(|n| program.tiers.iter().find(|t| t.name == n))
        .map_or(Rate::ONE, |t| t.multiplier)
}

/// What a payment's earning of `earned` points gives back once `taken_back` of its `received`
/// amount was refunded or lost in disputes, when `reversed` points were already: the
/// proportional points (floored, so a full refund reverses all of them) less what was reversed.
pub fn reversal_points(earned: i64, reversed: i64, taken_back: i64, received: i64) -> i64 {
    if received <= 0 || earned <= 0 {
        return 0;
    }
    let target = (earned as i128 * taken_back.clamp(0, received) as i128 / received as i128) as i64;
    (target - reversed).max(0)
}

/// What is left of the active lot [`start`, `start + size`) once `consumed` points were spent,
/// expired or reversed, oldest first.
pub fn lot_remaining(start: i64, size: i64, consumed: i64) -> i64 {
    (start + size - consumed).clamp(0, size.max(0))
}

/// When points that became active at `active_at` expire (None: never).
pub fn expires_at(active_at: i64, expiry_months: i64) -> Option<i64> {
    (expiry_months > 0).then(|| crate::domain::subscription::boundary(active_at, Interval::Month, expiry_months))
}

/// When points earned at `created` become active (None: at once).
pub fn available_at(created: i64, pending_days: i64) -> Option<i64> {
    (pending_days > 0).then(|| created + pending_days * 86_400)
}

/// The start of the tier window ending at `now`: the trailing 12 months.
pub fn tier_window_start(now: i64) -> i64 {
    DateTime::from_timestamp(now, 0)
        .and_then(|t| t.checked_sub_months(Months::new(12)))
        .map_or(i64::MIN, |t| t.timestamp())
}

/// When an earning made at `created` leaves the tier window.
pub fn leaves_tier_window(created: i64) -> i64 {
    crate::domain::subscription::boundary(created, Interval::Month, 12)
}

/// What a row of `kind` and signed `points` counts toward a tier: earnings and their
/// reversals and adjustments; spending and expiry do not lower a tier.
pub fn tier_points(kind: PtxType, points: i64) -> i64 {
    match kind {
        PtxType::Earn | PtxType::EarnPayment | PtxType::Reversal | PtxType::Adjust => points,
        PtxType::Burn | PtxType::Expire | PtxType::Redeem | PtxType::RedeemCancel => 0,
    }
}

/// A manual transaction (`earn`, `burn`, `adjust`) of `points` (positive, except an adjustment,
/// which is signed and not 0) against an account with `balance` active points: its movement and
/// signed points. A burn beyond the balance is `insufficient_points`; an adjustment down may
/// leave the balance negative (it corrects points that may be spent already).
pub fn manual(kind: PtxType, points: i64, balance: i64) -> Result<(Delta, i64), ApiError> {
    match kind {
        PtxType::Earn if points > 0 => Ok((Delta::earn_active(points), points)),
        PtxType::Burn if points > 0 => {
            if points > balance {
                return Err(insufficient(points, balance));
            }
            Ok((Delta::spend(points), -points))
        }
        PtxType::Adjust if points > 0 => Ok((Delta::earn_active(points), points)),
        PtxType::Adjust if points < 0 => Ok((Delta::take_back(-points, false), points)),
        PtxType::Adjust => Err(ApiError::invalid(
            "points",
            "parameter_invalid",
            "An adjustment's points are not 0 (negative takes points away).",
        )),
        PtxType::Earn | PtxType::Burn => Err(ApiError::invalid(
            "points",
            "parameter_invalid",
            "points must be a positive whole number (use type=adjust for a negative correction).",
        )),
        _ => Err(ApiError::invalid(
            "type",
            "parameter_invalid",
            "type must be earn, burn or adjust.",
        )),
    }
}

/// `insufficient_points`: spending `needed` with `balance` active points.
pub fn insufficient(needed: i64, balance: i64) -> ApiError {
    ApiError::invalid(
        "points",
        "insufficient_points",
        format!("This needs {needed} points; the account has {balance} active points."),
    )
}

/// A program's rules that its parameters' declarations do not check: tier names and thresholds
/// distinct. Returns the tiers sorted by `min_points`.
pub fn check_tiers(mut tiers: Vec<LoyaltyTier>) -> Result<Vec<LoyaltyTier>, ApiError> {
    tiers.sort_by_key(|t| t.min_points);
    for (i, t) in tiers.iter().enumerate() {
        if tiers[..i].iter().any(|o| o.name == t.name) {
            return Err(ApiError::invalid(
                "tiers",
                "parameter_invalid",
                format!("Two tiers are named '{}'.", t.name),
            ));
        }
        if tiers[..i].iter().any(|o| o.min_points == t.min_points) {
            return Err(ApiError::invalid(
                "tiers",
                "parameter_invalid",
                format!("Two tiers start at {} points.", t.min_points),
            ));
        }
    }
    Ok(tiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(name: &str, min: i64, mult: &str) -> LoyaltyTier {
        LoyaltyTier {
            name: name.into(),
            min_points: min,
            multiplier: Rate::parse(mult).unwrap(),
        }
    }

    #[test]
    fn rates_are_exact_to_four_decimals() {
        assert_eq!(Rate::parse("1"), Some(Rate(10_000)));
        assert_eq!(Rate::parse("0.29"), Some(Rate(2_900)));
        assert_eq!(Rate::parse("1.0005"), Some(Rate(10_005)));
        assert_eq!(Rate::parse("1.00001"), None);
        assert_eq!(Rate::parse("-1"), None);
        assert_eq!(Rate::parse("1e3"), None);
        assert_eq!(Rate::parse(""), None);
        assert_eq!(serde_json::to_string(&Rate(15_000)).unwrap(), "1.5");
        assert_eq!(serde_json::to_string(&Rate(20_000)).unwrap(), "2");
        assert_eq!(serde_json::from_str::<Rate>("0.29").unwrap(), Rate(2_900));
    }

    #[test]
    fn points_are_floored_per_payment_in_major_units() {
        let one = Rate::ONE;
        assert_eq!(points_for(1999, "EUR", one, one), 19);
        // 0.29 per euro on 100 euros is 29 exactly (a float would say 28.999...).
        assert_eq!(points_for(10_000, "EUR", Rate(2_900), one), 29);
        assert_eq!(points_for(5_000, "JPY", one, one), 5_000);
        assert_eq!(points_for(1_000, "KWD", one, one), 1);
        assert_eq!(points_for(10_000, "EUR", Rate(15_000), Rate(12_500)), 187); // 100 x 1.5 x 1.25 = 187.5
        assert_eq!(points_for(-5, "EUR", one, one), 0);
    }

    #[test]
    fn the_highest_tier_reached_applies() {
        let tiers = [tier("silver", 1_000, "1.25"), tier("gold", 5_000, "1.5")];
        assert_eq!(tier_for(&tiers, 999), None);
        assert_eq!(tier_for(&tiers, 1_000).map(|t| t.name.as_str()), Some("silver"));
        assert_eq!(tier_for(&tiers, 80_000).map(|t| t.name.as_str()), Some("gold"));
        let mut p = LoyaltyProgram::default_for(false);
        p.tiers = tiers.to_vec();
        assert_eq!(multiplier(&p, Some("gold")), Rate(15_000));
        assert_eq!(multiplier(&p, Some("removed")), Rate::ONE);
        assert_eq!(multiplier(&p, None), Rate::ONE);
    }

    #[test]
    fn reversals_are_proportional_and_add_up_to_the_earning() {
        // 100 points on 50.00; refunds of 10.00, 15.00 and the rest.
        assert_eq!(reversal_points(100, 0, 1_000, 5_000), 20);
        assert_eq!(reversal_points(100, 20, 2_500, 5_000), 30);
        assert_eq!(reversal_points(100, 50, 5_000, 5_000), 50);
        assert_eq!(reversal_points(100, 100, 5_000, 5_000), 0);
        // Floored: a third of 10 points is 3, the rest comes with the last refund.
        assert_eq!(reversal_points(10, 0, 1, 3), 3);
        assert_eq!(reversal_points(10, 3, 3, 3), 7);
        assert_eq!(reversal_points(0, 0, 3, 3), 0);
        assert_eq!(reversal_points(10, 0, 9, 3), 10); // never more than earned
    }

    #[test]
    fn lots_are_spent_oldest_first() {
        // Lots of 100 (0..100) and 50 (100..150).
        assert_eq!(lot_remaining(0, 100, 0), 100);
        assert_eq!(lot_remaining(0, 100, 30), 70);
        assert_eq!(lot_remaining(100, 50, 30), 50);
        assert_eq!(lot_remaining(0, 100, 120), 0);
        assert_eq!(lot_remaining(100, 50, 120), 30);
        // A debt (consumed beyond everything credited) is paid by later lots first.
        assert_eq!(lot_remaining(150, 40, 170), 20);
    }

    #[test]
    fn every_movement_balances_and_keeps_the_identity() {
        let all = [
            Delta::earn_pending(7),
            Delta::earn_active(7),
            Delta::activate(7),
            Delta::spend(7),
            Delta::unspend(7),
            Delta::expire(7),
            Delta::take_back(7, true),
            Delta::take_back(7, false),
        ];
        for d in all {
            assert_eq!(d.lines().iter().map(|l| l.1).sum::<i64>(), 0, "{d:?}");
            assert_eq!(
                d.spent + (d.credited - d.consumed) + d.pending + d.expired,
                d.lifetime,
                "{d:?}"
            );
        }
        assert_eq!(
            Delta::earn_pending(7).lines(),
            vec![(PointsAccount::Issued, -7), (PointsAccount::Pending, 7)]
        );
    }

    #[test]
    fn manual_transactions() {
        assert_eq!(manual(PtxType::Earn, 5, 0).unwrap(), (Delta::earn_active(5), 5));
        assert_eq!(manual(PtxType::Burn, 5, 5).unwrap(), (Delta::spend(5), -5));
        assert_eq!(manual(PtxType::Burn, 6, 5).unwrap_err().code, "insufficient_points");
        assert_eq!(
            manual(PtxType::Adjust, -9, 5).unwrap(),
            (Delta::take_back(9, false), -9)
        );
        assert!(manual(PtxType::Adjust, 0, 5).is_err());
        assert!(manual(PtxType::Earn, -1, 5).is_err());
        assert!(manual(PtxType::Redeem, 1, 5).is_err());
    }

    #[test]
    fn tiers_are_sorted_and_distinct() {
        let t = check_tiers(vec![tier("gold", 5_000, "1.5"), tier("silver", 1_000, "1.2")]).unwrap();
        assert_eq!(t[0].name, "silver");
        assert!(check_tiers(vec![tier("a", 1, "1"), tier("a", 2, "1")]).is_err());
        assert!(check_tiers(vec![tier("a", 1, "1"), tier("b", 1, "1")]).is_err());
    }

    #[test]
    fn time() {
        // 2026-01-31 + 1 month: the last day of February.
        let jan31 = 1_769_817_600;
        assert_eq!(expires_at(jan31, 1), Some(1_772_236_800));
        assert_eq!(expires_at(jan31, 0), None);
        assert_eq!(available_at(100, 0), None);
        assert_eq!(available_at(100, 2), Some(100 + 2 * 86_400));
        assert_eq!(
            leaves_tier_window(tier_window_start(jan31 + 86_400 * 40)),
            jan31 + 86_400 * 40
        );
    }
}
