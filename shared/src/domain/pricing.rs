//! What a quantity of a price costs, and which tier tables are valid: pure functions.

use crate::objects::billing::{Tier, TiersMode};

/// The most tiers a price may have.
pub const MAX_TIERS: usize = 25;

/// The amount in minor units for `quantity` units at `unit_amount` each; None if it overflows.
pub fn per_unit(unit_amount: i64, quantity: i64) -> Option<i64> {
    unit_amount.checked_mul(quantity)
}

/// The amount for `quantity` units of a tiered price; None if it overflows. A quantity of 0
/// costs 0 in both modes (no tier is reached, so no flat amount is due either).
pub fn tiered(mode: TiersMode, tiers: &[Tier], quantity: i64) -> Option<i64> {
    if quantity <= 0 {
        return Some(0);
    }
    match mode {
        TiersMode::Volume => {
            let tier = tiers.iter().find(|t| t.up_to.is_none_or(|up| quantity <= up))?;
            tier.unit_amount.checked_mul(quantity)?.checked_add(tier.flat_amount)
        }
        TiersMode::Graduated => {
            let mut total: i64 = 0;
            let mut below = 0; // units priced by earlier tiers
            for t in tiers {
                let top = t.up_to.map_or(quantity, |up| up.min(quantity));
                let units = top - below;
                if units <= 0 {
                    break;
                }
                total = total
                    .checked_add(t.unit_amount.checked_mul(units)?)?
                    .checked_add(t.flat_amount)?;
                below = top;
                if below >= quantity {
                    break;
                }
            }
            Some(total)
        }
    }
}

/// Why a tier table is refused: the index of the tier at fault (None: the table as a whole)
/// and the message.
pub type TierError = (Option<usize>, String);

/// Checks a tier table: 1 to [`MAX_TIERS`] tiers, bounds strictly increasing and positive, only
/// the last one unbounded (`up_to=inf`), amounts not negative.
pub fn check_tiers(tiers: &[Tier]) -> Result<(), TierError> {
    if tiers.is_empty() || tiers.len() > MAX_TIERS {
        return Err((None, format!("A tiered price needs 1 to {MAX_TIERS} tiers.")));
    }
    let last = tiers.len() - 1;
    let mut previous = 0;
    for (i, t) in tiers.iter().enumerate() {
        match (t.up_to, i == last) {
            (None, false) => {
                return Err((Some(i), "Only the last tier may be unbounded (up_to=inf).".into()));
            }
            (Some(_), true) => {
                return Err((Some(i), "The last tier must be unbounded: up_to=inf.".into()));
            }
            (Some(up), false) if up <= previous => {
                return Err((
                    Some(i),
                    format!("up_to must be greater than the previous tier's ({previous})."),
                ));
            }
            (Some(up), false) => previous = up,
            (None, true) => {}
        }
        if t.unit_amount < 0 || t.flat_amount < 0 {
            return Err((Some(i), "Tier amounts cannot be negative.".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(up_to: Option<i64>, unit_amount: i64, flat_amount: i64) -> Tier {
        Tier {
            up_to,
            unit_amount,
            flat_amount,
        }
    }

    /// 1-10 at 500, 11-20 at 400 plus 100 flat, then 300.
    fn table() -> Vec<Tier> {
        vec![tier(Some(10), 500, 0), tier(Some(20), 400, 100), tier(None, 300, 0)]
    }

    #[test]
    fn graduated_prices_each_unit_by_its_tier() {
        let t = table();
        assert_eq!(tiered(TiersMode::Graduated, &t, 0), Some(0));
        assert_eq!(tiered(TiersMode::Graduated, &t, 1), Some(500));
        assert_eq!(tiered(TiersMode::Graduated, &t, 10), Some(5000));
        // The second tier's flat amount is due once a unit reaches it.
        assert_eq!(tiered(TiersMode::Graduated, &t, 11), Some(5000 + 400 + 100));
        assert_eq!(tiered(TiersMode::Graduated, &t, 20), Some(5000 + 4000 + 100));
        assert_eq!(tiered(TiersMode::Graduated, &t, 25), Some(5000 + 4100 + 1500));
    }

    #[test]
    fn volume_prices_every_unit_by_the_total_tier() {
        let t = table();
        assert_eq!(tiered(TiersMode::Volume, &t, 0), Some(0));
        assert_eq!(tiered(TiersMode::Volume, &t, 10), Some(5000));
        assert_eq!(tiered(TiersMode::Volume, &t, 11), Some(11 * 400 + 100));
        assert_eq!(tiered(TiersMode::Volume, &t, 25), Some(25 * 300));
    }

    #[test]
    fn overflow_is_none_not_a_wrap() {
        assert_eq!(per_unit(i64::MAX, 2), None);
        assert_eq!(tiered(TiersMode::Volume, &[tier(None, i64::MAX, 0)], 2), None);
        assert_eq!(tiered(TiersMode::Graduated, &[tier(None, i64::MAX / 2, 0)], 3), None);
        assert_eq!(per_unit(250, 4), Some(1000));
    }

    #[test]
    fn tier_tables_are_checked() {
        assert!(check_tiers(&table()).is_ok());
        assert!(check_tiers(&[tier(None, 100, 0)]).is_ok());
        assert_eq!(check_tiers(&[]).unwrap_err().0, None);
        assert_eq!(check_tiers(&[tier(Some(5), 1, 0)]).unwrap_err().0, Some(0));
        assert_eq!(
            check_tiers(&[tier(None, 1, 0), tier(None, 1, 0)]).unwrap_err().0,
            Some(0)
        );
        let falling = [tier(Some(5), 1, 0), tier(Some(5), 1, 0), tier(None, 1, 0)];
        assert_eq!(check_tiers(&falling).unwrap_err().0, Some(1));
        assert_eq!(
            check_tiers(&[tier(Some(0), 1, 0), tier(None, 1, 0)]).unwrap_err().0,
            Some(0)
        );
        assert_eq!(check_tiers(&[tier(None, -1, 0)]).unwrap_err().0, Some(0));
        let many: Vec<Tier> = (1..=MAX_TIERS as i64)
            .map(|i| tier(Some(i), 1, 0))
            .chain([tier(None, 1, 0)])
            .collect();
        assert!(check_tiers(&many).is_err());
    }
}
