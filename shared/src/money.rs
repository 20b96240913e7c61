//! Money: integer minor units (i64) and ISO-4217 currencies with their exponents.

use crate::error::{ApiError, ApiResult};

/// Largest amount accepted in one payment, in minor units (8 digits, as the major processors).
pub const MAX_AMOUNT: i64 = 99_999_999;

/// ISO-4217 active codes with their minor-unit exponent (the number of decimals).
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// The ISO-4217 exponent of a currency code (any case); None if the code is unknown.
pub fn exponent(code: &str) -> Option<u8> {
    let up = code.to_ascii_uppercase();
    CURRENCIES
        .binary_search_by(|(c, _)| c.cmp(&up.as_str()))
        .ok()
        .map(|i| CURRENCIES[i].1)
}

/// Validates and canonicalises (upper-case) a currency parameter.
pub fn parse_currency(param: &str, code: &str) -> ApiResult<String> {
    if code.len() == 3 && exponent(code).is_some() {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(ApiError::invalid(
            param,
            "currency_invalid",
            format!("Invalid currency: '{code}' is not a supported ISO-4217 code."),
        ))
    }
}

/// The smallest chargeable amount. A single cent does not cover network fees, so like the card
/// processors we require about half a major unit: 50 minor units for 2-decimal currencies
/// (0.50 EUR), 500 for 3-decimal ones (0.500 KWD), and 50 units for zero-decimal ones (50 JPY).
pub fn min_amount(currency: &str) -> i64 {
    match exponent(currency) {
        Some(0) => 50,
        Some(3) => 500,
        _ => 50,
    }
}

/// Checks a payment amount in minor units: at least `min_amount(currency)`, at most `MAX_AMOUNT`,
/// and for 3-decimal currencies a multiple of 10 (card networks settle those in 2 decimals).
pub fn check_amount(param: &str, amount: i64, currency: &str) -> ApiResult<i64> {
    let min = min_amount(currency);
    if amount < min {
        return Err(ApiError::invalid(
            param,
            "amount_too_small",
            format!("Amount must be at least {min} (in the smallest unit of {currency})."),
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(ApiError::invalid(
            param,
            "amount_too_large",
            format!("Amount must be at most {MAX_AMOUNT}."),
        ));
    }
    if exponent(currency) == Some(3) && amount % 10 != 0 {
        return Err(ApiError::invalid(
            param,
            "amount_invalid",
            format!(
                "Amounts in {currency} must be a multiple of 10 (card networks settle 3-decimal currencies in 2 decimals)."
            ),
        ));
    }
    Ok(amount)
}

/// Checks a positive amount for a later step (capture, reverse, adjust): 1..=ceiling.
pub fn check_partial(param: &str, amount: i64, ceiling: i64) -> ApiResult<i64> {
    if amount < 1 {
        return Err(ApiError::invalid(
            param,
            "amount_too_small",
            format!("{param} must be a positive integer."),
        ));
    }
    if amount > ceiling {
        return Err(ApiError::invalid(
            param,
            "amount_too_large",
            format!("{param} ({amount}) exceeds the amount available ({ceiling})."),
        ));
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn exponents() {
        assert_eq!(exponent("eur"), Some(2));
        assert_eq!(exponent("JPY"), Some(0));
        assert_eq!(exponent("KWD"), Some(3));
        assert_eq!(exponent("XXX"), None);
        assert_eq!(parse_currency("currency", "eur").unwrap(), "EUR");
        assert_eq!(parse_currency("currency", "EURO").unwrap_err().code, "currency_invalid");
    }

    #[test]
    fn amounts() {
        assert!(check_amount("amount", 5000, "EUR").is_ok());
        assert_eq!(check_amount("amount", 0, "EUR").unwrap_err().code, "amount_too_small");
        assert_eq!(check_amount("amount", -5, "EUR").unwrap_err().code, "amount_too_small");
        assert_eq!(
            check_amount("amount", MAX_AMOUNT + 1, "EUR").unwrap_err().code,
            "amount_too_large"
        );
        assert_eq!(
            check_amount("amount", i64::MAX, "JPY").unwrap_err().code,
            "amount_too_large"
        );
        assert_eq!(check_amount("amount", 1005, "KWD").unwrap_err().code, "amount_invalid");
        assert!(check_amount("amount", 1000, "KWD").is_ok());
        assert!(check_amount("amount", 50, "JPY").is_ok());
        assert_eq!(
            check_partial("amount_to_capture", 6000, 5000).unwrap_err().code,
            "amount_too_large"
        );
        assert_eq!(
            check_partial("amount_to_capture", 0, 5000).unwrap_err().code,
            "amount_too_small"
        );
    }
}
