//! A platform-neutral HTTP request/response pair. Adapters convert to and from their own types.

use crate::error::ApiError;

#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// Path without the query string, e.g. `/v1/payments/pay_1/capture`.
    pub path: String,
    /// Raw query string without the leading `?`.
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request headers the API reads. A value of one of them that is not text (below) is refused,
/// not dropped: without its Idempotency-Key a client's retry would run twice.
pub const READ_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "idempotency-key",
    "x-idempotency-key",
    "content-type",
    // A platform acting as a connected account: dropped, the request would act as the platform.
    "x-account-id",
    "x-business-id",
];

/// A header value as `http::HeaderValue::to_str` accepts it: visible ASCII, space and tab. The
/// domain only ever sees such values, so no header holds a character that byte slicing could cut.
pub fn header_text(value: &[u8]) -> Option<&str> {
    let text = value.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b));
    // All ASCII, so always UTF-8.
    std::str::from_utf8(value).ok().filter(|_| text)
}

/// An adapter's request headers as the domain sees them: names lower-cased, values that are text
/// ([`header_text`]). Any other value is dropped (a proxy's header the API never reads), or
/// refused with 400 `header_invalid` naming it if it is one of [`READ_HEADERS`].
pub fn request_headers<'a>(
    raw: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let name = name.to_ascii_lowercase();
        match header_text(value) {
            Some(v) => out.push((name, v.to_string())),
            None if READ_HEADERS.contains(&name.as_str()) => {
                return Err(ApiError::new(
                    400,
                    "invalid_request_error",
                    "header_invalid",
                    format!("The {name} header must be visible ASCII text."),
                )
                .with_param(name));
            }
            None => {}
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).expect("a JSON value always serializes"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_visible_ascii_or_nothing() {
        assert_eq!(header_text(b"Bearer sk_test_1\t x"), Some("Bearer sk_test_1\t x"));
        for odd in [
            &b"Bearer \xc3\xa9"[..],
            b"\xff",
            b"a\x00b",
            b"a\x7fb",
            b"a\rb",
            "€".as_bytes(),
        ] {
            assert_eq!(header_text(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn odd_headers_the_api_reads_are_refused_and_others_dropped() {
        let kept = request_headers([("User-Agent", &b"x\xffy"[..]), ("Idempotency-Key", &b"k1"[..])]).unwrap();
        assert_eq!(kept, vec![("idempotency-key".to_string(), "k1".to_string())]);
        for name in READ_HEADERS {
            let e = request_headers([(*name, "ké".as_bytes())]).unwrap_err();
            assert_eq!(
                (e.status, e.code, e.param.as_deref()),
                (400, "header_invalid", Some(*name))
            );
        }
    }
}
