//! Reading requests: JSON bodies (parsed by hand so malformed JSON gets
//! Intercom's `400` error list instead of axum's plain-text rejection), typed
//! fields with absent / null / value kept apart, and the `Intercom-Version` header.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::errors::{ApiError, ApiResult};
use crate::state::App;

/// A field of a partial update: `None` absent, `Some(None)` explicit `null`.
pub type Patch<T> = Option<Option<T>>;

/// Parse a body that must be a JSON object; an empty body counts as `{}`.
pub fn parse_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("The request body must be a JSON object")),
        Err(e) => Err(ApiError::invalid(format!(
            "There was a problem in the JSON you submitted: {e}"
        ))),
    }
}

/// A string field.
pub fn string(obj: &Map<String, Value>, key: &str) -> ApiResult<Patch<String>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(ApiError::invalid(format!("{key} must be a string"))),
    }
}

/// An integer field (Unix timestamps, counts). Floats are refused.
pub fn integer(obj: &Map<String, Value>, key: &str) -> ApiResult<Patch<i64>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) if n.is_i64() => Ok(Some(n.as_i64())),
        Some(_) => Err(ApiError::invalid(format!("{key} must be an integer"))),
    }
}

/// A boolean field.
pub fn boolean(obj: &Map<String, Value>, key: &str) -> ApiResult<Patch<bool>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Bool(b)) => Ok(Some(Some(*b))),
        Some(_) => Err(ApiError::invalid(format!("{key} must be a boolean"))),
    }
}

/// A `custom_attributes` object.
pub fn object(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<Map<String, Value>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(ApiError::invalid(format!("{key} must be an object"))),
    }
}

/// The numeric key of an id Intercom writes as a number in a string (tags,
/// custom object instances). Only the canonical spelling counts: "007" is not 7.
pub fn numeric_id(id: &str) -> Option<u64> {
    id.parse::<u64>().ok().filter(|n| n.to_string() == id)
}

/// The API version a request asks for (`Intercom-Version`, else the app
/// default). Only the 2.16 changes matter to the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    /// 2.16 or newer (`owner_id` as a string, `410` for merged contacts,
    /// duplicate check on merge).
    pub v2_16: bool,
}

impl ApiVersion {
    /// Interpret a version string: `"2.16"`, `"2.14"`, `"Unstable"`, …
    pub fn parse(value: &str) -> Option<ApiVersion> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("unstable") || value.eq_ignore_ascii_case("preview") {
            return Some(ApiVersion { v2_16: true });
        }
        let (major, minor) = value.split_once('.')?;
        let major: u32 = major.parse().ok()?;
        let minor: u32 = minor.parse().ok()?;
        Some(ApiVersion {
            v2_16: (major, minor) >= (2, 16),
        })
    }
}

impl FromRequestParts<Arc<App>> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let asked = parts
            .headers
            .get("intercom-version")
            .and_then(|v| v.to_str().ok())
            .and_then(ApiVersion::parse);
        Ok(asked
            .or_else(|| ApiVersion::parse(&app.opts.default_version))
            .unwrap_or(ApiVersion { v2_16: false }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions() {
        assert_eq!(ApiVersion::parse("2.16"), Some(ApiVersion { v2_16: true }));
        assert_eq!(ApiVersion::parse("2.14"), Some(ApiVersion { v2_16: false }));
        assert_eq!(ApiVersion::parse("2.9"), Some(ApiVersion { v2_16: false }));
        assert_eq!(
            ApiVersion::parse("Unstable"),
            Some(ApiVersion { v2_16: true })
        );
        assert_eq!(ApiVersion::parse("banana"), None);
    }

    #[test]
    fn fields_keep_absent_null_and_value_apart() {
        let obj = json!({"a": "x", "b": null, "n": 3, "f": 1.5})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(string(&obj, "a").unwrap(), Some(Some("x".into())));
        assert_eq!(string(&obj, "b").unwrap(), Some(None));
        assert_eq!(string(&obj, "zz").unwrap(), None);
        assert!(string(&obj, "n").is_err());
        assert_eq!(integer(&obj, "n").unwrap(), Some(Some(3)));
        assert!(integer(&obj, "f").is_err());
    }

    #[test]
    fn numeric_ids_only_match_their_canonical_spelling() {
        assert_eq!(numeric_id("7522907"), Some(7_522_907));
        assert_eq!(numeric_id("07522907"), None);
        assert_eq!(numeric_id("+7522907"), None);
        assert_eq!(numeric_id("abc"), None);
        assert_eq!(numeric_id(""), None);
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(parse_object(b"").unwrap().is_empty());
        assert!(parse_object(b"{\"a\":1}").is_ok());
        assert_eq!(
            parse_object(b"{nope").unwrap_err().code(),
            "parameter_invalid"
        );
        assert!(parse_object(b"[1]").is_err());
    }
}
