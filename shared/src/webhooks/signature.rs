//! `x-vinr-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! Verifying, in words (for any language): split the header on `,`; take `t` and every `v1`
//! value; refuse if `t` is further than the tolerance (default 300 s) from now, which stops
//! replays; compute HMAC-SHA256 with the endpoint's secret over the bytes `t`, `.`, and the raw
//! request body exactly as received; hex-encode it; accept if it equals any `v1` value, comparing
//! in constant time. During a secret roll the header carries one `v1` per valid secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-vinr-signature";
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value for `body` signed at `t` with each of `secrets` (the current one first).
pub fn sign(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let mut h = format!("t={t}");
    for s in secrets {
        h.push_str(",v1=");
        h.push_str(&crate::keys::hex(&mac(s, t, body).finalize().into_bytes()));
    }
    h
}

#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// No `t=` or no `v1=` in the header, or an unparsable timestamp.
    Malformed,
    /// The timestamp is outside the tolerance: a replay, or a badly wrong clock.
    Stale,
    /// No signature matches: wrong secret or a modified body.
    Mismatch,
}

/// Checks a signature header against the raw body, the endpoint secret and the current time.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if sigs.is_empty() {
        return Err(VerifyError::Malformed);
    }
    // A timestamp so far off that the difference overflows is as stale as any other.
    let off = now.checked_sub(t).map(i64::unsigned_abs);
    if off.is_none_or(|d| d > tolerance_secs.max(0).unsigned_abs()) {
        return Err(VerifyError::Stale);
    }
    for sig in sigs {
        let Some(bytes) = unhex(sig) else { continue };
        // `verify_slice` compares in constant time.
        if mac(secret, t, body).verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::Mismatch)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(&["whsec_a"], 1000, body);
        assert!(h.starts_with("t=1000,v1="));
        assert_eq!(verify("whsec_a", &h, body, 1100, 300), Ok(()));
        assert_eq!(verify("whsec_b", &h, body, 1100, 300), Err(VerifyError::Mismatch));
        assert_eq!(
            verify("whsec_a", &h, br#"{"id":"evt_2"}"#, 1100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(verify("whsec_a", &h, body, 1301, 300), Err(VerifyError::Stale));
        assert_eq!(verify("whsec_a", "v1=00", body, 1000, 300), Err(VerifyError::Malformed));
        assert_eq!(
            verify("whsec_a", "t=1000", body, 1000, 300),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn rolled_secrets_both_verify() {
        let h = sign(&["whsec_new", "whsec_old"], 5, b"x");
        assert_eq!(verify("whsec_new", &h, b"x", 5, 300), Ok(()));
        assert_eq!(verify("whsec_old", &h, b"x", 5, 300), Ok(()));
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let body = b"{}";
        for (t, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, -1),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
        ] {
            let header = sign(&["whsec_x"], t, body);
            assert_eq!(
                verify("whsec_x", &header, body, now, 300),
                Err(VerifyError::Stale),
                "t={t} now={now}"
            );
        }
        let header = sign(&["whsec_x"], i64::MIN, body);
        assert_eq!(verify("whsec_x", &header, body, i64::MIN, 300), Ok(()));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("whsec_test", "1700000000.{}") computed independently (Python hmac).
        assert_eq!(
            sign(&["whsec_test"], 1_700_000_000, b"{}"),
            format!("t=1700000000,v1={}", KNOWN)
        );
    }
    const KNOWN: &str = "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91";
}
