//! Metered usage, pure: how a period's usage records become the quantity it bills, and which
//! timestamps a record may still carry.

use crate::objects::billing::{AggregateUsage, SubscriptionItem, UsageAction};

/// How far ahead of the clock a record's timestamp may be (clocks of reporting servers drift).
pub const FUTURE_SLACK_SECS: i64 = 300;

/// How long a metered subscription's renewal invoice stays a draft after its period ended:
/// usage timestamped in that period is still accepted until it is finalized (then charged).
pub const GRACE_SECS: i64 = 3600;

/// One stored record: its timestamp, action and quantity, in the order they were received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub timestamp: i64,
    pub action: UsageAction,
    pub quantity: i64,
}

/// A period's quantity from its records (given in the order they were received). Records are
/// grouped by timestamp: `increment` adds to the value at its timestamp, `set` replaces it (as
/// a meter reading that was sent again). Then `sum` adds the values, `max` takes the largest,
/// `last_during_period` the value at the latest timestamp. None if the sum overflows.
pub fn aggregate(mode: AggregateUsage, records: &[Record]) -> Option<i64> {
    let mut sorted: Vec<(usize, &Record)> = records.iter().enumerate().collect();
    sorted.sort_by_key(|(i, r)| (r.timestamp, *i));
    let mut values: Vec<(i64, i64)> = Vec::new(); // (timestamp, value), by timestamp
    for (_, r) in sorted {
        match (values.last_mut(), r.action) {
            (Some((t, v)), UsageAction::Increment) if *t == r.timestamp => *v = v.checked_add(r.quantity)?,
            (Some((t, v)), UsageAction::Set) if *t == r.timestamp => *v = r.quantity,
            _ => values.push((r.timestamp, r.quantity)),
        }
    }
    let mut vals = values.iter().map(|(_, v)| *v);
    match mode {
        AggregateUsage::Sum => vals.try_fold(0_i64, i64::checked_add),
        AggregateUsage::Max => Some(vals.max().unwrap_or(0)),
        AggregateUsage::LastDuringPeriod => Some(values.last().map_or(0, |(_, v)| *v)),
    }
}

/// How a metered item's records become its quantity: its price's `aggregate_usage` (`sum`
/// when the price says nothing).
pub fn mode(item: &SubscriptionItem) -> AggregateUsage {
    item.price
        .recurring
        .as_ref()
        .and_then(|r| r.aggregate_usage)
        .unwrap_or(AggregateUsage::Sum)
}

/// Why a timestamp is refused: its code and message.
pub type Refusal = (&'static str, String);

/// Whether usage at `timestamp` may still be recorded at `now`: in the current period (which
/// began at `current_start`), or in the closed period `grace` whose invoice is still a draft.
/// Not before the item existed, nor more than [`FUTURE_SLACK_SECS`] ahead of the clock.
pub fn check_timestamp(
    timestamp: i64,
    now: i64,
    item_created: i64,
    current_start: i64,
    grace: Option<(i64, i64)>,
) -> Result<(), Refusal> {
    if timestamp > now + FUTURE_SLACK_SECS {
        return Err((
            "timestamp_in_future",
            format!("timestamp {timestamp} is more than {FUTURE_SLACK_SECS} s after the clock ({now})."),
        ));
    }
    if timestamp < item_created {
        return Err((
            "timestamp_before_item",
            format!("timestamp {timestamp} is before the subscription item was created ({item_created})."),
        ));
    }
    if timestamp >= current_start || grace.is_some_and(|(s, e)| (s..e).contains(&timestamp)) {
        return Ok(());
    }
    Err((
        "usage_period_closed",
        format!(
            "timestamp {timestamp} falls in a period whose invoice is finalized; usage is accepted from {current_start}, or for a closed period until its invoice is finalized ({} s after it ends).",
            GRACE_SECS
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use AggregateUsage::*;
    use UsageAction::*;

    fn r(timestamp: i64, action: UsageAction, quantity: i64) -> Record {
        Record {
            timestamp,
            action,
            quantity,
        }
    }

    #[test]
    fn increments_add_and_a_set_replaces_its_timestamp() {
        let records = [
            r(10, Increment, 5),
            r(20, Increment, 3),
            r(10, Increment, 2),
            r(20, Set, 4),
            r(30, Increment, 1),
            r(30, Set, 9),
            r(30, Increment, 1),
        ];
        // Values by timestamp: 10 -> 7, 20 -> 4, 30 -> 10.
        assert_eq!(aggregate(Sum, &records), Some(21));
        assert_eq!(aggregate(Max, &records), Some(10));
        assert_eq!(aggregate(LastDuringPeriod, &records), Some(10));
        assert_eq!(aggregate(LastDuringPeriod, &[r(50, Set, 3), r(40, Set, 8)]), Some(3));
        assert_eq!(aggregate(Sum, &[]), Some(0));
        assert_eq!(aggregate(Max, &[]), Some(0));
        assert_eq!(aggregate(Sum, &[r(1, Set, i64::MAX), r(2, Set, 1)]), None);
    }

    #[test]
    fn timestamps_fit_the_open_period_or_the_grace_window() {
        let check = |t, grace| check_timestamp(t, 1000, 100, 500, grace).map_err(|e| e.0);
        assert_eq!(check(500, None), Ok(()));
        assert_eq!(check(1000 + FUTURE_SLACK_SECS, None), Ok(()));
        assert_eq!(check(1001 + FUTURE_SLACK_SECS, None), Err("timestamp_in_future"));
        assert_eq!(check(499, None), Err("usage_period_closed"));
        assert_eq!(check(499, Some((200, 500))), Ok(()));
        assert_eq!(check(199, Some((200, 500))), Err("usage_period_closed"));
        assert_eq!(check(99, Some((50, 500))), Err("timestamp_before_item"));
    }
}
