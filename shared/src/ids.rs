//! Prefixed object ids (`pay_`, `cust_`, ...) and random secrets, from caller-supplied randomness
//! so that this crate stays sans-IO.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of the random part of an object id: 24 base62 chars ~ 142 bits.
pub const ID_RANDOM_LEN: usize = 24;

/// Encodes random bytes as base62 characters (rejection sampling, so no modulo bias).
/// `random` must hold at least `len * 2` bytes; surplus bytes are ignored.
pub fn base62(random: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    for &b in random {
        if out.len() == len {
            break;
        }
        // 248 = 62 * 4: values at or above it would bias the distribution.
        if b < 248 {
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    // Astronomically unlikely with 2x bytes, but never return a short id.
    while out.len() < len {
        out.push('0');
    }
    out
}

/// A new id such as `pay_3Nx8a2Lk...` from `fill`, a source of random bytes.
pub fn new_id(prefix: &str, fill: &mut dyn FnMut(&mut [u8])) -> String {
    let mut buf = [0u8; ID_RANDOM_LEN * 2];
    fill(&mut buf);
    let mut id = String::with_capacity(prefix.len() + ID_RANDOM_LEN);
    id.push_str(prefix);
    id.push_str(&base62(&buf, ID_RANDOM_LEN));
    id
}

/// Does `s` look like an id with this prefix (prefix + 1..=64 base62 chars)?
pub fn has_prefix(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_length() {
        let mut n = 0u8;
        let mut fill = |b: &mut [u8]| {
            for x in b {
                *x = n;
                n = n.wrapping_add(37);
            }
        };
        let id = new_id("pay_", &mut fill);
        assert!(id.starts_with("pay_"));
        assert_eq!(id.len(), 4 + ID_RANDOM_LEN);
        assert!(has_prefix(&id, "pay_"));
        assert!(!has_prefix(&id, "cust_"));
        assert!(!has_prefix("pay_", "pay_"));
        assert!(!has_prefix("pay_a b", "pay_"));
    }

    #[test]
    fn base62_rejects_biased_bytes() {
        assert_eq!(base62(&[248, 255, 0, 61, 62], 3), "0z0");
    }
}
