//! Data event requests.

use reqwest::Method;
use serde_json::{Map, Value};

use super::Request;

/// `POST /events`: `event_name`, `created_at` (Unix seconds), one of
/// `user_id`/`email`/`id`, `metadata`, as mapped.
pub fn send_event(body: &Map<String, Value>) -> Request {
    Request::new(
        Method::POST,
        "/events".into(),
        Some(Value::Object(body.clone())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::tests::map;
    use serde_json::json;

    #[test]
    fn an_event_is_posted_as_mapped() {
        let ev = map(json!({"event_name": "signed-up", "created_at": 1700000000, "user_id": "u1"}));
        let r = send_event(&ev);
        assert_eq!(
            (r.method.clone(), r.path.as_str()),
            (Method::POST, "/events")
        );
        assert_eq!(r.body, Some(Value::Object(ev)));
    }
}
