//! Subscription requests: the workspace's subscription types, and attaching or
//! detaching one on a contact (see `backflow_core::subscriptions` for what
//! each means).

use reqwest::Method;
use serde_json::{json, Value};

use backflow_core::subscriptions::SubscriptionType;

use super::{encode, Request};

/// `GET /subscription_types`: every type of the workspace (not paged).
pub fn list_types() -> Request {
    Request::new(Method::GET, "/subscription_types".into(), None)
}

/// `POST /contacts/{contact_id}/subscriptions` `{id, consent_type}`.
pub fn attach(contact_id: &str, kind: &SubscriptionType) -> Request {
    Request::new(
        Method::POST,
        format!("/contacts/{}/subscriptions", encode(contact_id)),
        Some(json!({"id": kind.id, "consent_type": kind.consent_type})),
    )
}

/// `DELETE /contacts/{contact_id}/subscriptions/{type id}`.
pub fn detach(contact_id: &str, kind: &SubscriptionType) -> Request {
    Request::new(
        Method::DELETE,
        format!(
            "/contacts/{}/subscriptions/{}",
            encode(contact_id),
            encode(&kind.id)
        ),
        None,
    )
}

/// The types of a `GET /subscription_types` answer: each one's name (its
/// default translation's), id and consent type. Entries without them are
/// skipped.
pub fn types_from_list(body: &Value) -> Vec<SubscriptionType> {
    let Some(data) = body.get("data").and_then(Value::as_array) else {
        return Vec::new();
    };
    data.iter()
        .filter_map(|t| {
            let id = match t.get("id")? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let name = t
                .get("default_translation")
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)?;
            let consent = t
                .get("consent_type")
                .and_then(Value::as_str)
                .unwrap_or("opt_out");
            Some(SubscriptionType {
                name: name.to_string(),
                id,
                consent_type: consent.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_detach_and_the_type_list() {
        let kind = SubscriptionType {
            name: "News".into(),
            id: "37846".into(),
            consent_type: "opt_in".into(),
        };
        let a = attach("c 1", &kind);
        assert_eq!(
            (a.method, a.path.as_str()),
            (Method::POST, "/contacts/c%201/subscriptions")
        );
        assert_eq!(
            a.body,
            Some(json!({"id": "37846", "consent_type": "opt_in"}))
        );
        let d = detach("c1", &kind);
        assert_eq!(
            (d.method, d.path.as_str(), d.body),
            (Method::DELETE, "/contacts/c1/subscriptions/37846", None)
        );
        assert_eq!(list_types().path, "/subscription_types");
        // The spec's `subscription_type` example.
        let body = json!({"type": "list", "data": [
            {"type": "subscription", "id": "1", "state": "live", "consent_type": "opt_out",
             "default_translation": {"name": "Newsletters", "description": "", "locale": "en"}},
            {"type": "subscription", "id": 2, "consent_type": "opt_in",
             "default_translation": {"name": "Beta"}},
            {"type": "subscription", "id": "3"},
        ]});
        let types = types_from_list(&body);
        assert_eq!(types.len(), 2, "the nameless one is skipped");
        assert_eq!(
            (
                types[0].name.as_str(),
                types[0].id.as_str(),
                types[0].consent_type.as_str()
            ),
            ("Newsletters", "1", "opt_out")
        );
        assert_eq!(
            (types[1].id.as_str(), types[1].consent_type.as_str()),
            ("2", "opt_in")
        );
    }
}
