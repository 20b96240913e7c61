//! API keys: their shape (`sk_test_`, `pk_live_`, ...), generation and at-rest hashing.

use sha2::{Digest, Sha256};

/// Secret keys call server endpoints; public keys only initialise client-side UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Secret,
    Public,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Public => "public",
        }
    }
}

/// What a key's prefix says about it, before any lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyShape {
    pub kind: KeyKind,
    pub livemode: bool,
}

/// Parses the prefix of a key; None for anything that is not a VINR key.
pub fn key_shape(key: &str) -> Option<KeyShape> {
    let (kind, rest) = if let Some(r) = key.strip_prefix("sk_") {
        (KeyKind::Secret, r)
    } else if let Some(r) = key.strip_prefix("pk_") {
        (KeyKind::Public, r)
    } else {
        return None;
    };
    let (livemode, body) = if let Some(b) = rest.strip_prefix("test_") {
        (false, b)
    } else if let Some(b) = rest.strip_prefix("live_") {
        (true, b)
    } else {
        return None;
    };
    if body.is_empty() || body.len() > 128 || !body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    Some(KeyShape { kind, livemode })
}

/// The prefix for a new key of this kind and environment.
pub fn key_prefix(kind: KeyKind, livemode: bool) -> &'static str {
    match (kind, livemode) {
        (KeyKind::Secret, false) => "sk_test_",
        (KeyKind::Secret, true) => "sk_live_",
        (KeyKind::Public, false) => "pk_test_",
        (KeyKind::Public, true) => "pk_live_",
    }
}

/// A new random key, e.g. `sk_test_` + 32 base62 chars (~190 bits).
pub fn new_key(kind: KeyKind, livemode: bool, fill: &mut dyn FnMut(&mut [u8])) -> String {
    let mut buf = [0u8; 64];
    fill(&mut buf);
    format!("{}{}", key_prefix(kind, livemode), crate::ids::base62(&buf, 32))
}

/// How keys are stored: hex(sha256(key)). Keys carry ~190 random bits, so a fast hash is
/// enough (no password stretching needed) and lookups stay a single indexed read.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// A display form that cannot authenticate: prefix + first 4 chars of the random part.
pub fn redact_key(key: &str) -> String {
    // By characters: a key read from the environment may hold any text.
    let shown: String = key.chars().take(12).collect();
    format!("{shown}…")
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacting_counts_characters() {
        assert_eq!(redact_key("sk_test_abcdefgh"), "sk_test_abcd…");
        assert_eq!(redact_key("sk_test_ééééééé"), "sk_test_éééé…");
    }

    #[test]
    fn shapes() {
        assert_eq!(
            key_shape("sk_test_abc"),
            Some(KeyShape {
                kind: KeyKind::Secret,
                livemode: false
            })
        );
        assert_eq!(
            key_shape("pk_live_abc"),
            Some(KeyShape {
                kind: KeyKind::Public,
                livemode: true
            })
        );
        assert_eq!(key_shape("sk_prod_abc"), None);
        assert_eq!(key_shape("sk_test_"), None);
        assert_eq!(key_shape("sk_test_a-b"), None);
        assert_eq!(key_shape("whatever"), None);
    }

    #[test]
    fn new_keys_round_trip() {
        let mut fill = |b: &mut [u8]| b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8);
        let k = new_key(KeyKind::Public, true, &mut fill);
        assert!(k.starts_with("pk_live_"));
        assert_eq!(
            key_shape(&k),
            Some(KeyShape {
                kind: KeyKind::Public,
                livemode: true
            })
        );
        assert_eq!(hash_key("sk_test_x").len(), 64);
        assert_ne!(hash_key("sk_test_x"), hash_key("sk_test_y"));
    }
}
