//! A subscription's time and money, pure: where its periods end, what a period of its items
//! costs, and what each charge or cancellation does to its status.

use crate::domain::pricing;
use crate::error::{ApiError, ApiResult};
use crate::objects::billing::{
    BillingScheme, Interval, Price, Subscription, SubscriptionItem, SubscriptionStatus, UsageType,
};
use chrono::{DateTime, Months};

const DAY: i64 = 86_400;

/// `n` intervals after `anchor` (unix seconds). Months and years keep the anchor's day, or the
/// month's last day when it is shorter (Jan 31 -> Feb 28 -> Mar 31), as each boundary is counted
/// from the anchor, not from the previous one.
pub fn boundary(anchor: i64, interval: Interval, n: i64) -> i64 {
    let months = match interval {
        Interval::Day => return anchor + n * DAY,
        Interval::Week => return anchor + n * 7 * DAY,
        Interval::Month => n,
        Interval::Year => n * 12,
    };
    DateTime::from_timestamp(anchor, 0)
        .and_then(|t| t.checked_add_months(Months::new(u32::try_from(months).ok()?)))
        .map_or(i64::MAX, |t| t.timestamp())
}

/// The first period boundary after `t`: periods of `count` intervals from `anchor`.
pub fn period_end_after(anchor: i64, interval: Interval, count: i64, t: i64) -> i64 {
    // A first guess from the average length, then exact steps (at most a couple).
    let approx = match interval {
        Interval::Day => DAY,
        Interval::Week => 7 * DAY,
        Interval::Month => 2_629_746,
        Interval::Year => 31_556_952,
    } * count;
    let mut n = ((t - anchor) / approx).max(0);
    while n > 0 && boundary(anchor, interval, n * count) > t {
        n -= 1;
    }
    loop {
        n += 1;
        let end = boundary(anchor, interval, n * count);
        if end > t {
            return end;
        }
    }
}

/// The boundary before `end` (itself a boundary after `anchor`): where the period that ends
/// there began (`anchor` for the first period).
pub fn period_start_before(anchor: i64, interval: Interval, count: i64, end: i64) -> i64 {
    let mut start = anchor;
    let mut n = 0;
    loop {
        n += count;
        let b = boundary(anchor, interval, n);
        if b >= end {
            return start;
        }
        start = b;
    }
}

/// What `quantity` of `price` costs for one period; None if it overflows.
pub fn item_amount(price: &Price, quantity: i64) -> Option<i64> {
    match (price.billing_scheme, price.tiers_mode, &price.tiers) {
        (BillingScheme::Tiered, Some(mode), Some(tiers)) => pricing::tiered(mode, tiers, quantity),
        _ => pricing::per_unit(price.unit_amount.unwrap_or(0), quantity),
    }
}

/// Whether an item bills its usage records (in arrears) instead of its quantity (in advance).
pub fn is_metered(item: &SubscriptionItem) -> bool {
    item.price
        .recurring
        .as_ref()
        .is_some_and(|r| r.usage_type == UsageType::Metered)
}

/// What a period of `items` costs in advance: the licensed items; None if it overflows.
pub fn period_amount(items: &[SubscriptionItem]) -> Option<i64> {
    items
        .iter()
        .filter(|i| !is_metered(i))
        .try_fold(0_i64, |sum, i| sum.checked_add(item_amount(&i.price, i.quantity)?))
}

/// The share of a period's `amount` for the time left of it, `[now, end)` of `[start, end)`,
/// rounded to the nearest minor unit (halves up). `amount` is a period's price (not negative).
pub fn prorate(amount: i64, (start, end): (i64, i64), now: i64) -> i64 {
    if end <= start {
        return 0;
    }
    let left = i128::from(end - now.clamp(start, end));
    let length = i128::from(end - start);
    let share = (i128::from(amount) * left * 2 + length) / (length * 2);
    i64::try_from(share).unwrap_or(i64::MAX)
}

/// The status after a period's invoice was charged: paid makes it active; a failed first
/// invoice leaves it incomplete, a failed renewal past due.
pub fn after_charge(status: SubscriptionStatus, first: bool, paid: bool) -> SubscriptionStatus {
    match (paid, first) {
        (true, _) => SubscriptionStatus::Active,
        (false, true) => SubscriptionStatus::Incomplete,
        (false, false) if status == SubscriptionStatus::Unpaid => SubscriptionStatus::Unpaid,
        (false, false) => SubscriptionStatus::PastDue,
    }
}

/// The status once one of its invoices is paid (by a retry or a manual pay).
pub fn invoice_paid(status: SubscriptionStatus) -> SubscriptionStatus {
    match status {
        SubscriptionStatus::Incomplete | SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
            SubscriptionStatus::Active
        }
        s => s,
    }
}

fn ended(sub: &Subscription) -> ApiError {
    ApiError::invalid_state(
        "subscription_canceled",
        format!("Subscription {} is {}; it cannot change.", sub.id, sub.status.as_str()),
    )
}

/// Refuses any change to a subscription that is over.
pub fn check_changeable(sub: &Subscription) -> ApiResult<()> {
    if sub.status.ended() { Err(ended(sub)) } else { Ok(()) }
}

/// Cancels now: nothing renews, the current period is not refunded.
pub fn cancel_now(sub: &Subscription, now: i64) -> ApiResult<Subscription> {
    check_changeable(sub)?;
    let mut next = sub.clone();
    next.status = SubscriptionStatus::Canceled;
    next.canceled_at = Some(now);
    next.ended_at = Some(now);
    next.cancel_at_period_end = false;
    Ok(next)
}

/// The subscription once dunning has given up on one of its invoices (`status` from the
/// settings' `after_final_failure`): canceled now, unpaid, or left past due.
pub fn after_dunning(sub: &Subscription, status: SubscriptionStatus, now: i64) -> Subscription {
    if sub.status.ended() {
        return sub.clone();
    }
    let mut next = sub.clone();
    next.status = status;
    if status == SubscriptionStatus::Canceled {
        next.canceled_at = Some(now);
        next.ended_at = Some(now);
        next.cancel_at_period_end = false;
    }
    next
}

/// Cancels when the current period ends (the renewal step then ends it instead).
pub fn cancel_at_period_end(sub: &Subscription, now: i64) -> ApiResult<Subscription> {
    check_changeable(sub)?;
    let mut next = sub.clone();
    next.cancel_at_period_end = true;
    next.canceled_at = Some(now);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::billing::{PriceType, Tier, TiersMode};

    // 2026-01-31T10:00:00Z
    const JAN31: i64 = 1_769_853_600;

    fn ymd(t: i64) -> String {
        DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    #[test]
    fn months_keep_the_anchor_day_or_the_last_day() {
        let ends: Vec<String> = (1..=4).map(|n| ymd(boundary(JAN31, Interval::Month, n))).collect();
        assert_eq!(
            ends,
            [
                "2026-02-28 10:00",
                "2026-03-31 10:00",
                "2026-04-30 10:00",
                "2026-05-31 10:00"
            ]
        );
        assert_eq!(ymd(boundary(JAN31, Interval::Year, 1)), "2027-01-31 10:00");
        assert_eq!(boundary(JAN31, Interval::Week, 2), JAN31 + 14 * DAY);
        assert_eq!(boundary(JAN31, Interval::Day, 3), JAN31 + 3 * DAY);
    }

    #[test]
    fn the_next_period_end_is_the_first_boundary_after() {
        assert_eq!(
            ymd(period_end_after(JAN31, Interval::Month, 1, JAN31)),
            "2026-02-28 10:00"
        );
        let feb28 = boundary(JAN31, Interval::Month, 1);
        assert_eq!(
            ymd(period_end_after(JAN31, Interval::Month, 1, feb28)),
            "2026-03-31 10:00"
        );
        assert_eq!(
            ymd(period_end_after(JAN31, Interval::Month, 3, JAN31 + 100 * DAY)),
            "2026-07-31 10:00"
        );
        // Far from the anchor the guess is corrected, not trusted.
        let later = period_end_after(JAN31, Interval::Month, 1, JAN31 + 3650 * DAY);
        assert_eq!(ymd(later), "2036-01-31 10:00");
        assert_eq!(
            period_end_after(JAN31, Interval::Day, 7, JAN31 + 7 * DAY),
            JAN31 + 14 * DAY
        );
    }

    #[test]
    fn a_period_starts_at_the_boundary_before_its_end() {
        let feb28 = boundary(JAN31, Interval::Month, 1);
        let mar31 = boundary(JAN31, Interval::Month, 2);
        assert_eq!(period_start_before(JAN31, Interval::Month, 1, feb28), JAN31);
        assert_eq!(period_start_before(JAN31, Interval::Month, 1, mar31), feb28);
        assert_eq!(
            period_start_before(JAN31, Interval::Week, 2, JAN31 + 42 * DAY),
            JAN31 + 28 * DAY
        );
    }

    fn price(tiered: bool) -> Price {
        Price {
            id: "price_1".into(),
            object: "price".into(),
            product: "prod_1".into(),
            currency: "EUR".into(),
            kind: PriceType::Recurring,
            billing_scheme: if tiered {
                BillingScheme::Tiered
            } else {
                BillingScheme::PerUnit
            },
            unit_amount: (!tiered).then_some(1500),
            tiers_mode: tiered.then_some(TiersMode::Volume),
            tiers: tiered.then(|| {
                vec![
                    Tier {
                        up_to: Some(5),
                        unit_amount: 1000,
                        flat_amount: 0,
                    },
                    Tier {
                        up_to: None,
                        unit_amount: 800,
                        flat_amount: 0,
                    },
                ]
            }),
            recurring: None,
            active: true,
            nickname: None,
            metadata: Default::default(),
            livemode: false,
            created: 0,
        }
    }

    #[test]
    fn a_period_costs_each_item_by_its_scheme() {
        let item = |tiered, quantity| SubscriptionItem {
            id: "si_1".into(),
            object: "subscription_item".into(),
            price: price(tiered),
            quantity,
            created: 0,
        };
        assert_eq!(item_amount(&price(false), 3), Some(4500));
        assert_eq!(item_amount(&price(true), 6), Some(4800));
        assert_eq!(period_amount(&[item(false, 2), item(true, 5)]), Some(3000 + 5000));
    }

    #[test]
    fn prorations_bill_the_time_left() {
        assert_eq!(prorate(3000, (0, 30 * DAY), 10 * DAY), 2000);
        assert_eq!(prorate(3000, (0, 30 * DAY), 0), 3000, "all of it at the start");
        assert_eq!(prorate(3000, (0, 30 * DAY), 30 * DAY), 0, "nothing at the end");
        assert_eq!(prorate(3000, (0, 30 * DAY), -5), 3000, "clamped to the period");
        assert_eq!(prorate(1, (0, 2), 1), 1, "a half rounds up");
        assert_eq!(prorate(1000, (0, 3), 1), 667);
        assert_eq!(prorate(5, (7, 7), 7), 0, "an empty period");
        assert_eq!(prorate(i64::MAX, (0, 10), 0), i64::MAX, "no overflow");
    }

    #[test]
    fn charges_move_the_status() {
        use SubscriptionStatus::*;
        assert_eq!(after_charge(Active, true, true), Active);
        assert_eq!(after_charge(Active, true, false), Incomplete);
        assert_eq!(after_charge(Active, false, false), PastDue);
        assert_eq!(after_charge(Trialing, false, false), PastDue);
        assert_eq!(after_charge(Unpaid, false, false), Unpaid);
        assert_eq!(invoice_paid(Incomplete), Active);
        assert_eq!(invoice_paid(PastDue), Active);
        assert_eq!(invoice_paid(Canceled), Canceled);
    }
}
