//! Cards: number checks, brands, the sandbox's documented test cards, and keyed fingerprints.
//! A card number or CVC is never stored or returned; only brand, last4, expiry and fingerprint.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What the sandbox does with a test card when it is charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestBehavior {
    Approve,
    Decline(&'static str),
    /// The issuer demands a 3-D Secure challenge before authorising.
    RequireThreeDs,
    /// Approves; refunds of the payment fail shortly after they are made (docs/money.md).
    RefundFails,
    /// Approves; the payment is disputed shortly after it is captured (docs/money.md).
    Disputed,
}

impl TestBehavior {
    /// The stored form (payment_methods keep it so a saved test card behaves the same later).
    pub fn code(self) -> &'static str {
        match self {
            TestBehavior::Approve => "approve",
            TestBehavior::Decline(c) => c,
            TestBehavior::RequireThreeDs => "three_d_secure",
            TestBehavior::RefundFails => "refund_fail",
            TestBehavior::Disputed => "dispute",
        }
    }

    pub fn from_code(s: &str) -> Option<TestBehavior> {
        TEST_CARDS.iter().map(|c| c.behavior).find(|b| b.code() == s)
    }
}

pub struct TestCard {
    pub number: &'static str,
    pub brand: &'static str,
    pub funding: &'static str,
    pub behavior: TestBehavior,
    /// The predefined payment method id that uses this card (`pm_card_visa`, ...).
    pub pm_id: &'static str,
}

/// The documented test cards (README "Test cards"). Any expiry in the future and any CVC work.
pub const TEST_CARDS: &[TestCard] = &[
    TestCard {
        number: "4242424242424242",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::Approve,
        pm_id: "pm_card_visa",
    },
    TestCard {
        number: "4000056655665556",
        brand: "visa",
        funding: "debit",
        behavior: TestBehavior::Approve,
        pm_id: "pm_card_visa_debit",
    },
    TestCard {
        number: "5555555555554444",
        brand: "mastercard",
        funding: "credit",
        behavior: TestBehavior::Approve,
        pm_id: "pm_card_mastercard",
    },
    TestCard {
        number: "378282246310005",
        brand: "amex",
        funding: "credit",
        behavior: TestBehavior::Approve,
        pm_id: "pm_card_amex",
    },
    TestCard {
        number: "4000000000000002",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::Decline("card_declined"),
        pm_id: "pm_card_declined",
    },
    TestCard {
        number: "4000000000009995",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::Decline("insufficient_funds"),
        pm_id: "pm_card_insufficient_funds",
    },
    TestCard {
        number: "4000000000000069",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::Decline("expired_card"),
        pm_id: "pm_card_expired",
    },
    TestCard {
        number: "4100000000000019",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::Decline("lost_or_stolen"),
        pm_id: "pm_card_lost_or_stolen",
    },
    TestCard {
        number: "4000002760003184",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::RequireThreeDs,
        pm_id: "pm_card_threeds",
    },
    TestCard {
        number: "4000000000005126",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::RefundFails,
        pm_id: "pm_card_refund_fail",
    },
    TestCard {
        number: "4000000000000259",
        brand: "visa",
        funding: "credit",
        behavior: TestBehavior::Disputed,
        pm_id: "pm_card_dispute",
    },
];

pub fn test_card_by_number(number: &str) -> Option<&'static TestCard> {
    TEST_CARDS.iter().find(|c| c.number == number)
}

pub fn test_card_by_pm(pm_id: &str) -> Option<&'static TestCard> {
    TEST_CARDS.iter().find(|c| c.pm_id == pm_id)
}

/// Expiry month and year given to the predefined test payment methods.
pub const TEST_CARD_EXP: (i64, i64) = (12, 2034);

pub fn luhn_ok(number: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in number.bytes().rev().enumerate() {
        let mut d = (c - b'0') as u32;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// The brand from the number's leading digits (IIN ranges of the major networks).
pub fn brand_of(number: &str) -> &'static str {
    let p2: u32 = number.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let p4: u32 = number.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    match () {
        _ if number.starts_with('4') => "visa",
        _ if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) => "mastercard",
        _ if p2 == 34 || p2 == 37 => "amex",
        _ if number.starts_with("6011") || number.starts_with("65") => "discover",
        _ if (3528..=3589).contains(&p4) => "jcb",
        _ if p2 == 36 || p2 == 38 || (3000..=3059).contains(&p4) => "diners",
        _ if number.starts_with("62") => "unionpay",
        _ => "unknown",
    }
}

/// A card security code's form: 3 or 4 digits (`card[cvc]`, seed 004's `cvv2`).
pub fn is_cvc(s: &str) -> bool {
    (3..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Normalises a card number: strips spaces and dashes; checks 12-19 digits and the Luhn sum.
pub fn normalize_number(raw: &str) -> Option<String> {
    let n: String = raw.chars().filter(|c| *c != ' ' && *c != '-').collect();
    ((12..=19).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()) && luhn_ok(&n)).then_some(n)
}

/// A keyed fingerprint: HMAC-SHA256(account key, number), base62. The same card gives the same
/// fingerprint within one account and an unrelated one in any other.
pub fn fingerprint(key: &str, number: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(number.as_bytes());
    let out = mac.finalize().into_bytes();
    crate::ids::base62(&out, 16)
}

/// Does this brand's network support lowering an authorisation in place? (Amex does not: the
/// original hold is kept and only the lower amount is captured.)
pub fn supports_decrease(brand: &str) -> bool {
    brand != "amex"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cvc_is_three_or_four_digits() {
        assert!(is_cvc("123") && is_cvc("1234"));
        assert!(!is_cvc("12") && !is_cvc("12345") && !is_cvc("12a") && !is_cvc(""));
    }

    #[test]
    fn test_cards_are_valid_numbers_with_right_brand() {
        for c in TEST_CARDS {
            assert!(luhn_ok(c.number), "{}", c.number);
            assert_eq!(brand_of(c.number), c.brand, "{}", c.number);
            assert_eq!(TestBehavior::from_code(c.behavior.code()), Some(c.behavior));
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(
            normalize_number("4242 4242 4242 4242").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(normalize_number("4242424242424241"), None);
        assert_eq!(normalize_number("42424242"), None);
        assert_eq!(normalize_number("4242x24242424242"), None);
        assert_eq!(brand_of("2221000000000009"), "mastercard");
    }

    #[test]
    fn fingerprints_are_keyed() {
        let a = fingerprint("k1", "4242424242424242");
        assert_eq!(a, fingerprint("k1", "4242424242424242"));
        assert_ne!(a, fingerprint("k2", "4242424242424242"));
        assert_eq!(a.len(), 16);
    }
}
