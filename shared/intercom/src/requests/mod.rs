//! Pure request building and response reading: every Intercom call backflow
//! makes, as a method, a path (URL-encoded) and a JSON body, and the few facts it
//! reads back from the answers (an id, a 409's existing id, an `error.list`).
//!
//! Nothing here does IO, so every request shape is unit-tested; the transport
//! ([`crate::transport`]) only sends what these functions build. One file per
//! kind of Intercom object, beside its writer in [`crate::writers`]; this file
//! holds what every kind shares.

use reqwest::Method;
use serde_json::Value;

use crate::error::Rejection;

pub mod attributes;
pub mod companies;
pub mod contacts;
pub mod custom_objects;
pub mod events;
pub mod membership;
pub mod subscriptions;
pub mod tags;

/// One Intercom request, before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path and query, starting with `/`, already URL-encoded.
    pub path: String,
    pub body: Option<Value>,
}

impl Request {
    fn new(method: Method, path: String, body: Option<Value>) -> Request {
        Request { method, path, body }
    }
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode one path segment or query value: everything but RFC 3986's
/// unreserved characters becomes `%XX` of its UTF-8 bytes.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// `GET /me`: who the token belongs to (the cheapest authenticated call).
pub fn me() -> Request {
    Request::new(Method::GET, "/me".into(), None)
}

/// The `error.list` of a 4xx as a [`Rejection`] (`errors[0].code` / `.message`).
/// A body that is not an error list still gives a rejection: code `http_<status>`,
/// the body's text (truncated) as the message.
pub fn rejection(status: u16, body: &Value) -> Rejection {
    let first = body.get("errors").and_then(|e| e.get(0));
    let code = first
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = first
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match code {
        Some(code) => Rejection {
            status,
            code,
            message: message.unwrap_or_default(),
        },
        None => {
            let text = match body {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Rejection {
                status,
                code: format!("http_{status}"),
                message: text.chars().take(300).collect(),
            }
        }
    }
}

/// The `id` of an object answer, or of the first item of a `list` answer.
pub fn object_id(body: &Value) -> Option<String> {
    let obj = if body.get("type").and_then(Value::as_str) == Some("list") {
        body.get("data")?.get(0)?
    } else {
        body
    };
    match obj.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::{json, Map};

    /// A JSON object literal as a body map.
    pub(in crate::requests) fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }
    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode("abc-123_x.y~"), "abc-123_x.y~");
        assert_eq!(encode("a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
        assert_eq!(encode("ü+@"), "%C3%BC%2B%40");
        assert_eq!(encode(""), "");
    }

    #[test]
    fn rejections_come_from_the_error_list() {
        let body = json!({"type": "error.list", "request_id": "r", "errors": [
            {"code": "parameter_invalid", "message": "The owner specified is not a member of the workspace"}
        ]});
        assert_eq!(
            rejection(400, &body),
            Rejection {
                status: 400,
                code: "parameter_invalid".into(),
                message: "The owner specified is not a member of the workspace".into()
            }
        );
        let r = rejection(404, &json!({"errors": [{"code": "not_found"}]}));
        assert_eq!((r.code.as_str(), r.message.as_str()), ("not_found", ""));
        let r = rejection(502, &Value::String("<html>bad gateway</html>".into()));
        assert_eq!(r.code, "http_502");
        assert_eq!(r.message, "<html>bad gateway</html>");
        assert_eq!(rejection(418, &Value::Null).message, "");
    }

    #[test]
    fn ids_from_answers() {
        assert_eq!(
            object_id(&json!({"type": "contact", "id": "c1"})),
            Some("c1".into())
        );
        assert_eq!(
            object_id(&json!({"type": "data_attribute", "id": 42})),
            Some("42".into())
        );
        assert_eq!(
            object_id(&json!({"type": "list", "data": [{"id": "c2"}]})),
            Some("c2".into())
        );
        assert_eq!(object_id(&json!({"type": "list", "data": []})), None);
        assert_eq!(object_id(&Value::Null), None);
    }

    #[test]
    fn me_is_the_cheapest_authenticated_call() {
        let me = me();
        assert_eq!(
            (me.method, me.path, me.body),
            (Method::GET, "/me".into(), None)
        );
    }
}
