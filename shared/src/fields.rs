//! Validation of common fields: metadata, email, statement descriptors, URLs, free-form objects
//! and lists of choices.

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use serde_json::Value;
use std::collections::BTreeMap;

pub type Metadata = BTreeMap<String, String>;

const METADATA_MAX_KEYS: usize = 50;
const METADATA_KEY_MAX: usize = 40;
const METADATA_VALUE_MAX: usize = 500;

/// Reads `metadata` (string values only). In updates an empty string value removes the key,
/// which the caller applies with [`merge_metadata`].
pub fn metadata(p: &Params) -> ApiResult<Option<BTreeMap<String, Option<String>>>> {
    let m = match p.raw("metadata") {
        None => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) if s.is_empty() => return Ok(Some(BTreeMap::new())),
        Some(_) => {
            return Err(ApiError::invalid(
                "metadata",
                "parameter_invalid_object",
                "Invalid object: metadata must be an object of string values.",
            ));
        }
    };
    if m.len() > METADATA_MAX_KEYS {
        return Err(ApiError::invalid(
            "metadata",
            "metadata_too_many_keys",
            format!("metadata can have at most {METADATA_MAX_KEYS} keys."),
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let name = format!("metadata[{k}]");
        if k.is_empty() || k.chars().count() > METADATA_KEY_MAX {
            return Err(ApiError::invalid(
                &name,
                "metadata_key_invalid",
                format!("metadata keys must be 1 to {METADATA_KEY_MAX} characters."),
            ));
        }
        let val = match v {
            Value::String(s) if s.chars().count() > METADATA_VALUE_MAX => {
                return Err(ApiError::invalid(
                    &name,
                    "string_too_long",
                    format!("metadata values must be at most {METADATA_VALUE_MAX} characters."),
                ));
            }
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            _ => {
                return Err(ApiError::invalid(
                    &name,
                    "parameter_invalid_string",
                    format!("Invalid string: {name} must be a string."),
                ));
            }
        };
        out.insert(k.clone(), val);
    }
    Ok(Some(out))
}

/// Metadata for a new object: empty values are simply left out.
pub fn new_metadata(p: &Params) -> ApiResult<Metadata> {
    Ok(metadata(p)?
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// Applies an update: keys with a value are set, keys with an empty value are removed.
pub fn merge_metadata(current: &mut Metadata, update: BTreeMap<String, Option<String>>) -> ApiResult<()> {
    for (k, v) in update {
        match v {
            Some(v) => {
                current.insert(k, v);
            }
            None => {
                current.remove(&k);
            }
        }
    }
    if current.len() > METADATA_MAX_KEYS {
        return Err(ApiError::invalid(
            "metadata",
            "metadata_too_many_keys",
            format!("metadata can have at most {METADATA_MAX_KEYS} keys."),
        ));
    }
    Ok(())
}

pub fn email(param: &str, s: &str) -> ApiResult<String> {
    let ok = s.len() <= 512
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::invalid(
            param,
            "email_invalid",
            format!("Invalid email address: '{s}'."),
        ))
    }
}

/// Statement descriptors: 5 to 22 characters, at least one letter, none of `< > \ ' " *`.
pub fn statement_descriptor(param: &str, s: &str) -> ApiResult<String> {
    let n = s.chars().count();
    let ok = (5..=22).contains(&n)
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && !"<>\\'\"*".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::invalid(
            param,
            "statement_descriptor_invalid",
            "statement_descriptor must be 5-22 ASCII characters with at least one letter and none of < > \\ ' \" *.",
        ))
    }
}

/// An absolute http(s) URL (return_url and webhook endpoints). No backslash and no userinfo
/// (`user@`): URL parsers disagree on both (WHATWG reads `\` as `/`), so what a reader takes for
/// the host could differ from where a request goes.
pub fn url(param: &str, s: &str) -> ApiResult<String> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    let authority = rest.and_then(|r| r.split(['/', '?', '#']).next()).unwrap_or("");
    let ok = s.len() <= 2048
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !authority.contains('@')
        && !s.contains('\\')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::invalid(
            param,
            "url_invalid",
            format!("Invalid URL: {param} must be an absolute http(s) URL (no user name, no backslash)."),
        ))
    }
}

/// At most this much JSON in a free-form object (`user_fields`, `order_details`, a gateway's
/// response): stored as given, so bounded.
pub const FREE_OBJECT_MAX_BYTES: usize = 8192;

/// A free-form object stored as given (seed 004's `user_fields`, `order_details`): None when
/// absent or null, a 400 naming `param` when it is not an object or is over
/// [`FREE_OBJECT_MAX_BYTES`] as JSON.
pub fn free_object(param: &str, v: Option<&Value>) -> ApiResult<Option<serde_json::Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            let len = serde_json::to_vec(o).map(|b| b.len()).unwrap_or(usize::MAX);
            if len > FREE_OBJECT_MAX_BYTES {
                return Err(ApiError::invalid(
                    param,
                    "parameter_too_large",
                    format!("{param} is {len} bytes of JSON; at most {FREE_OBJECT_MAX_BYTES}."),
                ));
            }
            Ok(Some(o.clone()))
        }
        Some(_) => Err(ApiError::invalid(
            param,
            "parameter_invalid",
            format!("{param} must be an object."),
        )),
    }
}

/// A list parameter whose items are each one of `allowed` (`payment_method_types[]=card`): None
/// when absent; duplicates are dropped; empty or unknown items are a 400 naming `name`.
pub fn choices(p: &Params, name: &str, allowed: &[&str]) -> ApiResult<Option<Vec<String>>> {
    let items = match p.list_raw(name) {
        None => return Ok(None),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) if p.form => vec![Value::String(s.clone())],
        Some(_) => {
            return Err(ApiError::invalid(
                name,
                "parameter_invalid",
                format!("{name} must be a list."),
            ));
        }
    };
    let mut out: Vec<String> = Vec::new();
    for v in items {
        match v {
            Value::String(s) if allowed.contains(&s.as_str()) => {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            _ => {
                return Err(ApiError::invalid(
                    name,
                    "parameter_invalid",
                    format!("{name} items must be one of: {}.", allowed.join(", ")),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid(
            name,
            "parameter_invalid",
            format!("{name} must list at least one of: {}.", allowed.join(", ")),
        ));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> Params {
        Params::from_body(None, s.as_bytes()).unwrap()
    }

    #[test]
    fn metadata_rules() {
        assert_eq!(new_metadata(&form("metadata[order]=1&metadata[x]=")).unwrap().len(), 1);
        let long_key = format!("metadata[{}]=1", "k".repeat(41));
        assert_eq!(metadata(&form(&long_key)).unwrap_err().code, "metadata_key_invalid");
        let j = Params::from_body(Some("application/json"), br#"{"metadata":{"a":5}}"#).unwrap();
        assert_eq!(metadata(&j).unwrap_err().param.as_deref(), Some("metadata[a]"));
        let mut cur = Metadata::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        merge_metadata(
            &mut cur,
            metadata(&form("metadata[a]=&metadata[c]=3")).unwrap().unwrap(),
        )
        .unwrap();
        assert_eq!(
            cur,
            Metadata::from([("b".into(), "2".into()), ("c".into(), "3".into())])
        );
    }

    #[test]
    fn field_rules() {
        assert!(email("email", "a@b.co").is_ok());
        assert!(email("email", "a@b").is_err());
        assert!(email("email", "a b@c.de").is_err());
        assert!(statement_descriptor("s", "VINR SHOP").is_ok());
        assert!(statement_descriptor("s", "1234").is_err());
        assert!(statement_descriptor("s", "12345").is_err());
        assert!(statement_descriptor("s", "SHOP <b>").is_err());
        assert!(statement_descriptor("s", &"A".repeat(23)).is_err());
        assert!(url("return_url", "https://shop.example/return").is_ok());
        assert!(url("return_url", "javascript:alert(1)").is_err());
        assert!(url("return_url", "https:///x").is_err());
        assert!(url("return_url", "https://127.0.0.1\\@shop.example/").is_err());
        assert!(url("return_url", "https://user:pw@shop.example/").is_err());
        assert!(url("return_url", "https://shop.example/a@b?c=d@e").is_ok());
    }
}
