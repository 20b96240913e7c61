//! Retention (docs/security.md): idempotency keys are kept 24 h, events and finished webhook
//! deliveries [`Policy::events_days`] (30 by default); money objects and the ledger are never
//! purged. The runtimes' schedulers call [`purge_batch`] (vinr dev every minute, the Worker's
//! cron): each call deletes at most [`BATCH`] rows per table, so one purge never holds the
//! writer for long, and the caller repeats while [`Purged::more`] says rows are left.

use crate::idempotency::RETENTION_SECS;
use crate::port::{Db, DbError, Stmt};
use crate::sql_params;

/// Rows deleted per table and call.
pub const BATCH: i64 = 500;
pub const DEFAULT_EVENT_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Days an event, and a delivery that is no longer pending, are kept (`VINR_EVENT_RETENTION_DAYS`).
    pub events_days: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            events_days: DEFAULT_EVENT_DAYS,
        }
    }
}

impl Policy {
    /// From the setting's text (an environment variable or a Worker var); None or empty: the
    /// default. At least one day: a shorter window would cut into the 72 h of delivery retries.
    pub fn parse(days: Option<&str>) -> Result<Policy, String> {
        match days.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(Policy::default()),
            Some(s) => match s.parse::<i64>() {
                Ok(d) if (3..=36_500).contains(&d) => Ok(Policy { events_days: d }),
                _ => Err(format!(
                    "VINR_EVENT_RETENTION_DAYS={s:?}: expected whole days from 3 (the retry window) to 36500"
                )),
            },
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: usize,
    pub deliveries: usize,
    pub events: usize,
}

impl Purged {
    /// A table gave a full batch: more may be left.
    pub fn more(&self) -> bool {
        [self.idempotency_keys, self.deliveries, self.events]
            .iter()
            .any(|n| *n as i64 >= BATCH)
    }
}

/// The three bounded deletes, oldest first, for wall-clock time `now` (Unix seconds). An event
/// goes only once no delivery of it is pending (none can be after 72 h; this keeps it exact).
pub fn statements(now: i64, policy: Policy) -> [Stmt; 3] {
    let events_before = now - policy.events_days * 86_400;
    [
        Stmt::new(
            "DELETE FROM idempotency_keys WHERE (account_id, livemode, key) IN \
             (SELECT account_id, livemode, key FROM idempotency_keys WHERE created <= ? LIMIT ?) RETURNING 1",
            sql_params![now - RETENTION_SECS, BATCH],
        ),
        Stmt::new(
            "DELETE FROM webhook_deliveries WHERE seq IN \
             (SELECT seq FROM webhook_deliveries WHERE status <> 'pending' AND created < ? LIMIT ?) RETURNING 1",
            sql_params![events_before, BATCH],
        ),
        Stmt::new(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE created < ? AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending') LIMIT ?) RETURNING 1",
            sql_params![events_before, BATCH],
        ),
    ]
}

/// One bounded purge: each delete on its own (each is atomic; together they need not be).
pub async fn purge_batch(db: &impl Db, now: i64, policy: Policy) -> Result<Purged, DbError> {
    let [keys, deliveries, events] = statements(now, policy);
    Ok(Purged {
        idempotency_keys: db.query(keys).await?.len(),
        deliveries: db.query(deliveries).await?.len(),
        events: db.query(events).await?.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_whole_days_beyond_the_retry_window() {
        assert_eq!(Policy::parse(None), Ok(Policy::default()));
        assert_eq!(Policy::parse(Some(" ")), Ok(Policy::default()));
        assert_eq!(Policy::parse(Some("7")), Ok(Policy { events_days: 7 }));
        for bad in ["2", "0", "-1", "1.5", "x", "36501"] {
            assert!(Policy::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_full_batch_means_more() {
        assert!(!Purged::default().more());
        let full = Purged {
            events: BATCH as usize,
            ..Purged::default()
        };
        assert!(full.more());
    }
}
