//! API keys: their shape (`sk_test_`, `pk_live_`, `rk_test_`, ...), generation and at-rest hashing.

use sha2::{Digest, Sha256};

/// Secret keys call every server endpoint; restricted keys only what their permissions grant
/// (`crate::permissions`); public keys only initialise client-side UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Secret,
    Public,
    Restricted,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Public => "public",
            KeyKind::Restricted => "restricted",
        }
    }

    /// The stored `kind` column's value.
    pub fn parse(s: &str) -> Option<KeyKind> {
        [KeyKind::Secret, KeyKind::Public, KeyKind::Restricted]
            .into_iter()
            .find(|k| k.as_str() == s)
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
    } else if let Some(r) = key.strip_prefix("rk_") {
        (KeyKind::Restricted, r)
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
        (KeyKind::Restricted, false) => "rk_test_",
        (KeyKind::Restricted, true) => "rk_live_",
    }
}

/// The fewest characters after the prefix a key chosen by hand may have (`VINR_DEV_SECRET_KEY`,
/// `--secret-key`): 24 letters and digits are about 140 bits even if typed from a small set,
/// far beyond guessing, while `sk_test_local` is guessed by any page in the developer's
/// browser (security review L4). Generated keys have 32.
pub const MIN_CHOSEN_KEY_CHARS: usize = 24;

/// Why a key chosen by hand is refused as an environment's secret key, or None if it is fine.
pub fn chosen_secret_key_problem(key: &str, livemode: bool) -> Option<String> {
    let prefix = key_prefix(KeyKind::Secret, livemode);
    match key_shape(key) {
        Some(s) if s.kind == KeyKind::Secret && s.livemode == livemode => {
            let body = key.len() - prefix.len();
            (body < MIN_CHOSEN_KEY_CHARS).then(|| {
                format!(
                    "is too short: {body} characters after {prefix}, at least {MIN_CHOSEN_KEY_CHARS} needed (e.g. {prefix}{})",
                    "0123456789abcdefghijklmn"
                )
            })
        }
        _ => Some(format!(
            "is not a key of the form {prefix} followed by letters, digits and _"
        )),
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
        assert_eq!(
            key_shape("rk_live_abc"),
            Some(KeyShape {
                kind: KeyKind::Restricted,
                livemode: true
            })
        );
        assert_eq!(key_shape("rk_abc"), None);
        assert_eq!(key_shape("sk_prod_abc"), None);
        assert_eq!(key_shape("sk_test_"), None);
        assert_eq!(key_shape("sk_test_a-b"), None);
        assert_eq!(key_shape("whatever"), None);
    }

    #[test]
    fn chosen_keys_need_24_characters_after_the_prefix() {
        assert!(
            chosen_secret_key_problem("sk_test_local", false)
                .unwrap()
                .contains("too short: 5")
        );
        assert!(chosen_secret_key_problem(&format!("sk_test_{}", "a".repeat(23)), false).is_some());
        assert_eq!(
            chosen_secret_key_problem(&format!("sk_test_{}", "a".repeat(24)), false),
            None
        );
        // Of the wrong kind or environment: refused whatever the length.
        assert!(chosen_secret_key_problem(&format!("pk_test_{}", "a".repeat(30)), false).is_some());
        assert!(chosen_secret_key_problem(&format!("sk_live_{}", "a".repeat(30)), false).is_some());
        assert!(chosen_secret_key_problem("sk_test_\u{e9}", false).is_some());
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
