//! The one error shape of the API: `{"error":{"type","code","message","param"?,"decline_code"?}}`
//! with the status codes of seed 000's table.

use serde_json::{Map, Value, json};

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// For a 405: the methods the path does allow (the response's `Allow` header, RFC 9110).
    pub allow: Option<String>,
    /// Card and terminal errors: the decline code (seed 003's table), also as `decline_code`.
    pub decline_code: Option<&'static str>,
    /// An object the error is about, shown as `error.<name>` (e.g. the terminal payment whose
    /// device dropped, so the caller sees where it stands).
    pub object: Option<(&'static str, Value)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The code of every 500 ([`ApiError::internal`]).
pub const INTERNAL: &str = "internal_error";

impl ApiError {
    pub fn new(status: u16, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            allow: None,
            decline_code: None,
            object: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_decline_code(mut self, code: &'static str) -> Self {
        self.decline_code = Some(code);
        self
    }

    pub fn with_object(mut self, name: &'static str, object: Value) -> Self {
        self.object = Some((name, object));
        self
    }

    /// 400 for a bad parameter, naming it.
    pub fn invalid(param: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", code, message).with_param(param)
    }

    pub fn missing(param: &str) -> Self {
        Self::invalid(param, "parameter_missing", format!("Missing required param: {param}."))
    }

    pub fn not_found(param: &str, what: &str, id: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            "resource_missing",
            format!("No such {what}: '{id}'"),
        )
        .with_param(param)
    }

    /// 400 for a transition the object's state does not allow; state stays untouched.
    pub fn invalid_state(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", code, message)
    }

    /// A 500. `message` is for the log: the pipeline answers the client a generic message with
    /// the request id instead.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "api_error", INTERNAL, message)
    }

    pub fn to_json(&self) -> Value {
        let mut e = Map::new();
        e.insert("type".into(), json!(self.kind));
        e.insert("code".into(), json!(self.code));
        e.insert("message".into(), json!(self.message));
        if let Some(p) = &self.param {
            e.insert("param".into(), json!(p));
        }
        if let Some(d) = self.decline_code {
            e.insert("decline_code".into(), json!(d));
        }
        if let Some((name, obj)) = &self.object {
            e.insert((*name).into(), obj.clone());
        }
        json!({ "error": e })
    }
}

impl From<crate::port::DbError> for ApiError {
    fn from(e: crate::port::DbError) -> Self {
        match e {
            crate::port::DbError::Conflict => ApiError::new(
                409,
                "invalid_request_error",
                "concurrent_modification",
                "The object was changed by another request at the same time; retry the request.",
            ),
            crate::port::DbError::Unique(m) | crate::port::DbError::Other(m) => {
                ApiError::internal(format!("storage error: {m}"))
            }
        }
    }
}
