//! Request parameters: JSON bodies, form bodies with bracket nesting (`metadata[order]=1`,
//! `expand[]=customer`), and query strings, all read through one typed accessor that names the
//! offending parameter on every error.

use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// Bodies larger than this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Nesting deeper than this is refused (bounded recursion on hostile input).
const MAX_DEPTH: usize = 5;

/// Parsed parameters. `form` is true when values came from a form body or query string, where
/// every scalar is a string and "5000" is a valid integer; in JSON the types must be right.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pub root: Map<String, Value>,
    pub form: bool,
    /// A form's plain keys given more than once, with all their values (`root` has the last).
    pub repeated: Map<String, Value>,
}

/// 413: the body is over [`MAX_BODY_BYTES`].
pub fn body_too_large() -> ApiError {
    ApiError::new(
        413,
        "invalid_request_error",
        "body_too_large",
        format!("The request body exceeds {MAX_BODY_BYTES} bytes."),
    )
}

/// 400: the transport failed while the body was read. Never an empty body instead: `{}` would
/// capture the whole amount of a request that asked for part of it.
pub fn body_unreadable() -> ApiError {
    ApiError::new(
        400,
        "invalid_request_error",
        "body_unreadable",
        "The request body could not be read.",
    )
}

/// An adapter's check before it reads the body: a `content-length` over [`MAX_BODY_BYTES`] is
/// refused at once, without buffering what the client sends.
pub fn check_declared_length(content_length: Option<&str>) -> ApiResult<()> {
    let v = content_length.map_or("", str::trim);
    // All digits but beyond u64 is over the limit too; anything else is the transport's to judge.
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    if digits && !v.parse::<u64>().is_ok_and(|n| n <= MAX_BODY_BYTES as u64) {
        return Err(body_too_large());
    }
    Ok(())
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
                out.push(v);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Splits `a[b][]` into ["a", "b", ""].
fn split_key(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut parts = vec![head.to_string()];
    while !rest.is_empty() {
        let close = rest.find(']')?;
        if !rest.starts_with('[') {
            return None;
        }
        parts.push(rest[1..close].to_string());
        rest = &rest[close + 1..];
    }
    (parts.len() <= MAX_DEPTH).then_some(parts)
}

fn insert_path(target: &mut Map<String, Value>, parts: &[String], value: String, full_key: &str) -> ApiResult<()> {
    let bad = || {
        ApiError::invalid(
            full_key,
            "parameter_invalid",
            format!("Invalid nesting in parameter '{full_key}'."),
        )
    };
    let (first, rest) = parts.split_first().ok_or_else(bad)?;
    if rest.is_empty() {
        target.insert(first.clone(), Value::String(value));
        return Ok(());
    }
    // `[]` appends to an array; `[0]` and named keys nest maps (numeric keys become arrays at the end).
    if rest.len() == 1 && rest[0].is_empty() {
        let slot = target.entry(first.clone()).or_insert_with(|| Value::Array(vec![]));
        return match slot {
            Value::Array(a) => {
                if a.len() >= 100 {
                    return Err(bad());
                }
                a.push(Value::String(value));
                Ok(())
            }
            _ => Err(bad()),
        };
    }
    // `items[][price]=a&items[][quantity]=1&items[][price]=b`: each `[]` object takes fields
    // until a field repeats, which starts the next one (the convention of Rack and PHP clients).
    if rest[0].is_empty() {
        let slot = target.entry(first.clone()).or_insert_with(|| Value::Array(vec![]));
        let Value::Array(a) = slot else { return Err(bad()) };
        let starts_next = match a.last() {
            Some(Value::Object(m)) => rest.len() == 2 && m.contains_key(&rest[1]),
            _ => true,
        };
        if starts_next {
            if a.len() >= 100 {
                return Err(bad());
            }
            a.push(Value::Object(Map::new()));
        }
        return match a.last_mut() {
            Some(Value::Object(m)) => insert_path(m, &rest[1..], value, full_key),
            _ => Err(bad()),
        };
    }
    let slot = target.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
    match slot {
        Value::Object(m) => insert_path(m, rest, value, full_key),
        _ => Err(bad()),
    }
}

/// Turns maps whose keys are all 0..n into arrays (`items[0][price]` style).
fn normalize_indexed(v: &mut Value) {
    if let Value::Object(m) = v {
        for child in m.values_mut() {
            normalize_indexed(child);
        }
        let n = m.len();
        if n > 0 && (0..n).all(|i| m.contains_key(&i.to_string())) {
            let arr = (0..n)
                .map(|i| m.remove(&i.to_string()).unwrap_or(Value::Null))
                .collect();
            *v = Value::Array(arr);
        }
    }
}

/// Parses `a=1&b[c]=2` into a nested map.
pub fn parse_form(s: &str) -> ApiResult<Map<String, Value>> {
    parse_form_repeats(s).map(|(root, _)| root)
}

/// As [`parse_form`], also returning every value of each plain key given more than once
/// (`a=1&a=2`, as form encoders write lists), in order: the parameters keep the last one, a list
/// parameter reads them all ([`Params::list_raw`]).
pub fn parse_form_repeats(s: &str) -> ApiResult<(Map<String, Value>, Map<String, Value>)> {
    let mut root = Map::new();
    let mut repeated = Map::new();
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k).ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_request_error",
                "parameter_invalid",
                "A parameter name is not valid percent-encoded UTF-8.",
            )
        })?;
        let val = percent_decode(v).ok_or_else(|| {
            ApiError::invalid(
                &key,
                "parameter_invalid",
                format!("The value of '{key}' is not valid percent-encoded UTF-8."),
            )
        })?;
        let parts = split_key(&key)
            .ok_or_else(|| ApiError::invalid(&key, "parameter_invalid", format!("Invalid parameter name '{key}'.")))?;
        if let (1, Some(Value::String(before))) = (parts.len(), root.get(&key)) {
            let all = repeated
                .entry(key.clone())
                .or_insert_with(|| Value::Array(vec![Value::String(before.clone())]));
            if let Value::Array(a) = all {
                a.push(Value::String(val.clone()));
            }
        }
        insert_path(&mut root, &parts, val, &key)?;
    }
    let mut v = Value::Object(root);
    for child in v.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
        normalize_indexed(child);
    }
    match v {
        Value::Object(m) => Ok((m, repeated)),
        _ => unreachable!("the root stays an object"),
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Params {
    /// Parses a request body by its content type. An empty body is an empty parameter set.
    pub fn from_body(content_type: Option<&str>, body: &[u8]) -> ApiResult<Params> {
        if body.len() > MAX_BODY_BYTES {
            return Err(body_too_large());
        }
        let ct = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let trimmed = body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|i| &body[i..])
            .unwrap_or(&[]);
        if trimmed.is_empty() {
            return Ok(Params {
                form: ct.as_deref() != Some("application/json"),
                ..Params::default()
            });
        }
        let is_json = match ct.as_deref() {
            Some("application/json") => true,
            Some("application/x-www-form-urlencoded") => false,
            None | Some("") => trimmed.first() == Some(&b'{'),
            Some(other) => {
                return Err(ApiError::new(
                    415,
                    "invalid_request_error",
                    "unsupported_content_type",
                    format!(
                        "Content type '{other}' is not supported; send application/json or application/x-www-form-urlencoded."
                    ),
                ));
            }
        };
        if is_json {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    400,
                    "invalid_request_error",
                    "invalid_json",
                    format!("The request body is not valid JSON: {e}."),
                )
            })?;
            if depth(&v) > MAX_DEPTH + 1 {
                return Err(ApiError::new(
                    400,
                    "invalid_request_error",
                    "invalid_json",
                    "The request body nests too deeply.",
                ));
            }
            match v {
                Value::Object(root) => Ok(Params {
                    root,
                    ..Params::default()
                }),
                _ => Err(ApiError::new(
                    400,
                    "invalid_request_error",
                    "invalid_json",
                    "The request body must be a JSON object.",
                )),
            }
        } else {
            let s = std::str::from_utf8(body).map_err(|_| {
                ApiError::new(
                    400,
                    "invalid_request_error",
                    "parameter_invalid",
                    "The form body is not UTF-8.",
                )
            })?;
            let (root, repeated) = parse_form_repeats(s)?;
            Ok(Params {
                root,
                form: true,
                repeated,
            })
        }
    }

    pub fn from_query(query: &str) -> ApiResult<Params> {
        let (root, repeated) = parse_form_repeats(query)?;
        Ok(Params {
            root,
            form: true,
            repeated,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.root.contains_key(name)
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.root.get(name).filter(|v| !v.is_null())
    }

    /// As [`Params::raw`] for a list parameter: a key given more than once is the list of its
    /// values (every other reader keeps the last one).
    pub fn list_raw(&self, name: &str) -> Option<&Value> {
        self.repeated.get(name).or_else(|| self.raw(name))
    }

    /// A nested object parameter (e.g. `routing`, `card`) as its own `Params`, named `parent[...]`.
    pub fn object(&self, name: &str) -> ApiResult<Option<Params>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Params {
                root: m.clone(),
                form: self.form,
                ..Params::default()
            })),
            Some(Value::String(s)) if s.is_empty() && self.form => Ok(None),
            Some(_) => Err(ApiError::invalid(
                name,
                "parameter_invalid_object",
                format!("Invalid object: {name} must be an object."),
            )),
        }
    }

    /// A string parameter no longer than `max` chars. Empty strings count as absent in forms.
    pub fn string(&self, name: &str, max: usize) -> ApiResult<Option<String>> {
        self.string_named(name, name, max)
    }

    /// As `string`, reporting errors under `display` (e.g. `routing[preferred_acquirer]`).
    pub fn string_named(&self, name: &str, display: &str, max: usize) -> ApiResult<Option<String>> {
        Ok(self.str_named(name, display, max)?.map(str::to_string))
    }

    /// As [`Params::string_named`], borrowed: for checks that only need to know it is valid.
    pub fn str_named(&self, name: &str, display: &str, max: usize) -> ApiResult<Option<&str>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                if s.chars().count() > max {
                    return Err(ApiError::invalid(
                        display,
                        "string_too_long",
                        format!("Invalid string: {display} must be at most {max} characters."),
                    ));
                }
                if s.is_empty() && self.form {
                    Ok(None)
                } else {
                    Ok(Some(s))
                }
            }
            Some(_) => Err(ApiError::invalid(
                display,
                "parameter_invalid_string",
                format!("Invalid string: {display} must be a string."),
            )),
        }
    }

    /// A string that must be one of `allowed`. Unlike free text, an empty value is not
    /// "absent": `status=` is an invalid status (400), not a missing filter.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> ApiResult<Option<String>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(
                name,
                "parameter_invalid",
                format!("{name} must be one of: {}.", allowed.join(", ")),
            )),
        }
    }

    /// An integer parameter. JSON needs a number without fraction; forms need decimal digits.
    pub fn integer(&self, name: &str) -> ApiResult<Option<i64>> {
        self.integer_named(name, name)
    }

    pub fn integer_named(&self, name: &str, display: &str) -> ApiResult<Option<i64>> {
        let bad = || {
            ApiError::invalid(
                display,
                "parameter_invalid_integer",
                format!("Invalid integer: {display} must be an integer."),
            )
        };
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            // An empty value (`limit=`) is not an integer: 400 rather than silently "absent".
            Some(Value::String(s)) if self.form => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                s.parse().map(Some).map_err(|_| bad())
            }
            Some(_) => Err(bad()),
        }
    }

    pub fn boolean(&self, name: &str) -> ApiResult<Option<bool>> {
        let bad = || {
            ApiError::invalid(
                name,
                "parameter_invalid_boolean",
                format!("Invalid boolean: {name} must be true or false."),
            )
        };
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if self.form => match s.as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                "" => Ok(None),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    /// `expand[]` as a list of field paths, checked against `allowed`.
    pub fn expand(&self, allowed: &[&str]) -> ApiResult<Vec<String>> {
        let items: Vec<Value> = match self.raw("expand") {
            None => return Ok(vec![]),
            Some(Value::Array(a)) => a.clone(),
            Some(Value::String(s)) if self.form => vec![Value::String(s.clone())],
            Some(_) => {
                return Err(ApiError::invalid(
                    "expand",
                    "parameter_invalid",
                    "Invalid array: expand must be a list of field names.",
                ));
            }
        };
        items
            .into_iter()
            .map(|v| match v {
                Value::String(s) if allowed.contains(&s.as_str()) => Ok(s),
                Value::String(s) => Err(ApiError::invalid(
                    "expand",
                    "parameter_invalid",
                    format!(
                        "This property cannot be expanded ({s}); expandable: {}.",
                        allowed.join(", ")
                    ),
                )),
                _ => Err(ApiError::invalid(
                    "expand",
                    "parameter_invalid",
                    "Invalid array: expand must be a list of field names.",
                )),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let limit = MAX_BODY_BYTES.to_string();
        let over = (MAX_BODY_BYTES + 1).to_string();
        for ok in [None, Some("0"), Some(limit.as_str()), Some("not a number"), Some("-1")] {
            assert!(check_declared_length(ok).is_ok(), "{ok:?}");
        }
        for big in [over.as_str(), " 99999999999999999999 ", "18446744073709551615"] {
            let e = check_declared_length(Some(big)).unwrap_err();
            assert_eq!((e.status, e.code), (413, "body_too_large"), "{big:?}");
        }
    }

    #[test]
    fn odd_bytes_in_forms_and_bodies_are_errors_not_panics() {
        // Multi-byte characters and bytes that are not UTF-8, raw and percent-encoded, in every
        // position of a form: each is parsed as text or refused with a 400.
        for q in [
            "%FF=1",
            "a=%FF",
            "a=%C3",
            "%E2%82=1",
            "a[%FF]=1",
            "a[€]=1",
            "€[b]=1",
            "a=€&b[€][]=€",
            "%",
            "a=%",
            "a=%€",
            "a=%€€",
            "a=%%",
            "[€]=1",
            "a[b]€=1",
            "a[b€=1",
            "a]€[=1",
            "a=\u{0}\u{7f}\u{1b}",
        ] {
            if let Err(e) = parse_form(q) {
                assert_eq!(e.status, 400, "{q:?}");
            }
        }
        for body in [
            &b"\xff\xfe"[..],
            b"a=\xff",
            b"{\"a\":\"\xff\"}",
            b"{\xff}",
            "{\"€\":\"€\"}".as_bytes(),
        ] {
            for ct in [
                None,
                Some("application/json"),
                Some("application/x-www-form-urlencoded"),
            ] {
                if let Err(e) = Params::from_body(ct, body) {
                    assert_eq!(e.status, 400, "{ct:?} {body:?}");
                }
            }
        }
        assert!(parse_form("a=%FF").is_err(), "a byte that is not UTF-8 is refused");
        assert_eq!(parse_form("a=%E2%82%AC").unwrap()["a"], "€");
    }

    #[test]
    fn form_nesting_and_arrays() {
        let m = parse_form("amount=5000&metadata[order]=A%201&routing[preferred_acquirer]=acq_eu_1&expand[]=customer&expand[]=latest_charge&items[0][p]=x&items[1][p]=y&d=a+b").unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"amount":"5000","metadata":{"order":"A 1"},"routing":{"preferred_acquirer":"acq_eu_1"},
                   "expand":["customer","latest_charge"],"items":[{"p":"x"},{"p":"y"}],"d":"a b"})
        );
    }

    #[test]
    fn a_key_given_twice_keeps_its_last_value_and_lists_them_all() {
        let p = Params::from_query("days=3&days=5&days=7&one=x").unwrap();
        assert_eq!(Value::Object(p.root.clone()), json!({"days": "7", "one": "x"}));
        assert_eq!(p.list_raw("days"), Some(&json!(["3", "5", "7"])));
        assert_eq!(p.list_raw("one"), Some(&json!("x")));
        assert_eq!(p.raw("days"), Some(&json!("7")));
    }

    #[test]
    fn form_lists_of_objects_with_empty_brackets() {
        let m = parse_form(
            "items[][price]=a&items[][quantity]=2&items[][price]=b&items[][metadata][k]=1&items[][metadata][j]=2",
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"items":[{"price":"a","quantity":"2"},{"price":"b","metadata":{"k":"1","j":"2"}}]})
        );
    }

    #[test]
    fn form_rejects_bad_keys() {
        assert!(parse_form("a]=1").is_ok()); // a literal key name "a]" is just unknown later
        assert!(parse_form("[x]=1").is_err());
        assert!(parse_form("a[b=1").is_err());
        assert!(parse_form("a=1&a[b]=2").is_err());
        assert!(parse_form("a=%zz").is_err());
        assert!(parse_form("a[b][c][d][e][f]=1").is_err());
    }

    #[test]
    fn typed_getters() {
        let p = Params::from_body(
            Some("application/x-www-form-urlencoded"),
            b"amount=5000&neg=-3&bad=5e3&b=true",
        )
        .unwrap();
        assert_eq!(p.integer("amount").unwrap(), Some(5000));
        assert_eq!(p.integer("neg").unwrap(), Some(-3));
        assert_eq!(p.integer("bad").unwrap_err().param.as_deref(), Some("bad"));
        assert_eq!(p.boolean("b").unwrap(), Some(true));
        let j = Params::from_body(Some("application/json"), br#"{"amount":"5000","n":50.5,"s":"abcd"}"#).unwrap();
        assert_eq!(j.integer("amount").unwrap_err().code, "parameter_invalid_integer");
        assert!(j.integer("n").is_err());
        assert_eq!(j.string("s", 3).unwrap_err().code, "string_too_long");
    }

    #[test]
    fn body_errors() {
        assert_eq!(
            Params::from_body(Some("application/json"), b"{nope").unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(
            Params::from_body(Some("application/json"), b"[1]").unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(Params::from_body(Some("text/plain"), b"x").unwrap_err().status, 415);
        assert_eq!(
            Params::from_body(None, &vec![b'a'; MAX_BODY_BYTES + 1])
                .unwrap_err()
                .status,
            413
        );
        assert!(Params::from_body(None, b"").unwrap().root.is_empty());
        assert!(!Params::from_body(None, b"{\"a\":1}").unwrap().form);
        let deep = br#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}"#;
        assert!(Params::from_body(Some("application/json"), deep).is_err());
    }
}
