//! Custom object instance requests: upsert and delete by `external_id`, and
//! the read that tells whether a type exists.

use reqwest::Method;
use serde_json::{Map, Value};

use super::{encode, Request};

/// `POST /custom_object_instances/{type}`: create or update by the body's
/// `external_id`.
pub fn upsert(type_name: &str, body: &Map<String, Value>) -> Request {
    Request::new(
        Method::POST,
        format!("/custom_object_instances/{}", encode(type_name)),
        Some(Value::Object(body.clone())),
    )
}

/// `DELETE /custom_object_instances/{type}?external_id=…`
pub fn delete(type_name: &str, external_id: &str) -> Request {
    Request::new(
        Method::DELETE,
        format!(
            "/custom_object_instances/{}?external_id={}",
            encode(type_name),
            encode(external_id)
        ),
        None,
    )
}

/// `GET /custom_object_instances/{type}?external_id=…`: one instance; used with
/// an id no instance has to learn whether the type exists (its `404` says
/// which is missing, the type or the instance).
pub fn find(type_name: &str, external_id: &str) -> Request {
    Request::new(
        Method::GET,
        format!(
            "/custom_object_instances/{}?external_id={}",
            encode(type_name),
            encode(external_id)
        ),
        None,
    )
}

/// Whether a `404` message is the spec's `TypeNotFound` ("Custom object type
/// \`X\` not found") rather than a missing instance ("Custom object instance
/// not found", "Object not found").
pub fn is_type_not_found(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.starts_with("custom object type") && m.contains("not found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::tests::map;
    use serde_json::json;

    #[test]
    fn upsert_delete_and_find_by_external_id() {
        let body = map(json!({"external_id": "o-1", "custom_attributes": {"amount": 9.5}}));
        let u = upsert("Order", &body);
        assert_eq!(
            (u.method, u.path.as_str()),
            (Method::POST, "/custom_object_instances/Order")
        );
        assert_eq!(u.body, Some(Value::Object(body)));
        let d = delete("Order", "o 1&x");
        assert_eq!(
            (d.method, d.path.as_str(), d.body),
            (
                Method::DELETE,
                "/custom_object_instances/Order?external_id=o%201%26x",
                None
            )
        );
        let f = find("Or der", "x");
        assert_eq!(f.path, "/custom_object_instances/Or%20der?external_id=x");
        assert!(is_type_not_found("Custom object type `Nope` not found"));
        assert!(!is_type_not_found("Custom object instance not found"));
        assert!(!is_type_not_found("Object not found"));
    }
}
