//! When to try a delivery again: exponential backoff with jitter, for up to 72 hours.

/// Give up on a delivery this long after the event was committed.
pub const RETRY_WINDOW_MS: i64 = 72 * 3600 * 1000;
/// The wait before the second attempt; doubles after each failure...
const BASE_DELAY_MS: i64 = 5_000;
/// ...up to this ceiling (so late retries come hourly rather than days apart).
const MAX_DELAY_MS: i64 = 3600 * 1000;
/// How long a receiver has to answer one attempt.
pub const ATTEMPT_TIMEOUT_MS: u64 = 30_000;

/// Did the receiver acknowledge? Only a 2xx does.
pub fn acknowledged(status: Option<u16>) -> bool {
    status.is_some_and(|s| (200..300).contains(&s))
}

/// After `attempts` failed attempts (>= 1) of a delivery created at `created_ms`, when should the
/// next one run (unix ms), or None to give up. `jitter` in [0, 1) spreads retries of many
/// deliveries over ±20% of the delay; `scale` shrinks every delay (1.0 in production, e.g. 0.001
/// in tests through `VINR_RETRY_SCALE`) including the 72 h window, so tests can watch the whole
/// schedule.
pub fn next_attempt_at(attempts: u32, created_ms: i64, now_ms: i64, jitter: f64, scale: f64) -> Option<i64> {
    let exp = attempts.saturating_sub(1).min(20);
    let delay = (BASE_DELAY_MS.saturating_mul(1 << exp)).min(MAX_DELAY_MS) as f64;
    let jittered = delay * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)) * scale;
    let at = now_ms + jittered.max(1.0) as i64;
    let deadline = created_ms + (RETRY_WINDOW_MS as f64 * scale) as i64;
    (at <= deadline).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let d = |n| next_attempt_at(n, 0, 0, 0.5, 1.0).unwrap();
        assert_eq!(d(1), 5_000);
        assert_eq!(d(2), 10_000);
        assert_eq!(d(3), 20_000);
        assert_eq!(d(30), MAX_DELAY_MS);
        assert_eq!(next_attempt_at(1, 0, 0, 0.0, 1.0), Some(4_000));
        assert_eq!(next_attempt_at(1, 0, 0, 0.999_999, 1.0), Some(5_999));
    }

    #[test]
    fn gives_up_after_72_hours() {
        let created = 1_000;
        assert!(next_attempt_at(40, created, created + RETRY_WINDOW_MS - MAX_DELAY_MS * 2, 0.5, 1.0).is_some());
        assert_eq!(next_attempt_at(40, created, created + RETRY_WINDOW_MS, 0.5, 1.0), None);
        // Scaled: the same schedule in a thousandth of the time.
        assert_eq!(next_attempt_at(1, 0, 0, 0.5, 0.001), Some(5));
        assert_eq!(next_attempt_at(40, 0, 260_000, 0.5, 0.001), None);
    }

    #[test]
    fn acks() {
        assert!(acknowledged(Some(200)) && acknowledged(Some(204)));
        assert!(!acknowledged(Some(301)) && !acknowledged(Some(500)) && !acknowledged(None));
    }
}
