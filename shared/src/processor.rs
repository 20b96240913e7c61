//! The sandbox processor: simulated acquirers and card networks. Test cards (see [`crate::cards`])
//! decide the outcome; nothing here ever touches real money. The live environment has no acquirer
//! connection and refuses before reaching this module.

use crate::cards::TestBehavior;
use crate::error::{ApiError, ApiResult};

#[derive(Debug)]
pub struct Acquirer {
    pub id: &'static str,
    pub name: &'static str,
    /// Settlement currencies; empty means every currency.
    pub currencies: &'static [&'static str],
}

const EUROPE: &[&str] = &[
    "EUR", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "HUF", "RON", "BGN", "ISK",
];

/// The sandbox's acquirer connections. Default routing picks the first that settles the currency.
pub const ACQUIRERS: &[Acquirer] = &[
    Acquirer {
        id: "acq_eu_1",
        name: "Sandbox Acquiring Europe 1",
        currencies: EUROPE,
    },
    Acquirer {
        id: "acq_eu_2",
        name: "Sandbox Acquiring Europe 2",
        currencies: EUROPE,
    },
    Acquirer {
        id: "acq_uk_1",
        name: "Sandbox Acquiring UK",
        currencies: &["GBP", "EUR"],
    },
    Acquirer {
        id: "acq_us_1",
        name: "Sandbox Acquiring US",
        currencies: &["USD", "CAD", "MXN"],
    },
    Acquirer {
        id: "acq_global_1",
        name: "Sandbox Acquiring Global",
        currencies: &[],
    },
];

impl Acquirer {
    pub fn settles(&self, currency: &str) -> bool {
        self.currencies.is_empty() || self.currencies.contains(&currency)
    }
}

/// Picks the acquirer: the preferred one if given (it must exist and settle the currency), else
/// the first that settles the currency.
pub fn route(preferred: Option<&str>, currency: &str) -> ApiResult<&'static Acquirer> {
    const PARAM: &str = "routing[preferred_acquirer]";
    match preferred {
        Some(id) => {
            let acq = ACQUIRERS.iter().find(|a| a.id == id).ok_or_else(|| {
                let known: Vec<_> = ACQUIRERS.iter().map(|a| a.id).collect();
                ApiError::invalid(
                    PARAM,
                    "acquirer_unknown",
                    format!("No such acquirer: '{id}'. Sandbox acquirers: {}.", known.join(", ")),
                )
            })?;
            if !acq.settles(currency) {
                return Err(ApiError::invalid(
                    PARAM,
                    "acquirer_currency_unsupported",
                    format!("Acquirer {id} does not settle {currency}."),
                ));
            }
            Ok(acq)
        }
        None => Ok(ACQUIRERS
            .iter()
            .find(|a| a.settles(currency))
            .expect("acq_global_1 settles everything")),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    Approved { authorization_code: String },
    Declined { decline_code: &'static str },
    ChallengeRequired,
}

/// The issuer's answer to an authorisation request for a test card. `authenticated` is true once
/// the cardholder passed a 3-D Secure challenge.
pub fn authorize(behavior: TestBehavior, authenticated: bool, random: &[u8; 6]) -> AuthOutcome {
    match behavior {
        TestBehavior::Decline(code) => AuthOutcome::Declined { decline_code: code },
        TestBehavior::RequireThreeDs if !authenticated => AuthOutcome::ChallengeRequired,
        TestBehavior::Approve | TestBehavior::RequireThreeDs | TestBehavior::RefundFails | TestBehavior::Disputed => {
            const DIGITS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
            let code = random
                .iter()
                .map(|b| DIGITS[*b as usize % DIGITS.len()] as char)
                .collect();
            AuthOutcome::Approved {
                authorization_code: code,
            }
        }
    }
}

/// The cardholder-facing message for a decline code.
pub fn decline_message(code: &str) -> &'static str {
    match code {
        "insufficient_funds" => "The card has insufficient funds to complete the purchase.",
        "expired_card" => "The card has expired.",
        "lost_or_stolen" => "The card was reported lost or stolen.",
        "authentication_failed" => "The cardholder failed 3-D Secure authentication.",
        "authentication_required" => {
            "The card requires 3-D Secure authentication, which a charge without the cardholder cannot ask for."
        }
        _ => "The card was declined.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing() {
        assert_eq!(route(None, "EUR").unwrap().id, "acq_eu_1");
        assert_eq!(route(None, "USD").unwrap().id, "acq_us_1");
        assert_eq!(route(None, "JPY").unwrap().id, "acq_global_1");
        assert_eq!(route(Some("acq_uk_1"), "GBP").unwrap().id, "acq_uk_1");
        assert_eq!(route(Some("acq_nope"), "EUR").unwrap_err().code, "acquirer_unknown");
        assert_eq!(
            route(Some("acq_us_1"), "EUR").unwrap_err().param.as_deref(),
            Some("routing[preferred_acquirer]")
        );
    }

    #[test]
    fn outcomes() {
        let r = [1, 2, 3, 4, 5, 6];
        assert!(matches!(
            authorize(TestBehavior::Approve, false, &r),
            AuthOutcome::Approved { .. }
        ));
        assert_eq!(
            authorize(TestBehavior::Decline("insufficient_funds"), false, &r),
            AuthOutcome::Declined {
                decline_code: "insufficient_funds"
            }
        );
        assert_eq!(
            authorize(TestBehavior::RequireThreeDs, false, &r),
            AuthOutcome::ChallengeRequired
        );
        assert!(matches!(
            authorize(TestBehavior::RequireThreeDs, true, &r),
            AuthOutcome::Approved { .. }
        ));
    }
}
