//! Contact requests: create, update, read, look up (by `external_id`, by email
//! search), archive, unarchive, delete; and what a `409` or a search answer
//! says about the contact already there.

use reqwest::Method;
use serde_json::{json, Map, Value};

use backflow_core::config::KeyField;

use super::{encode, Request};
use crate::writers::contacts::Role;

/// `POST /contacts`. The body gets the `role` (unless it has one) and the key
/// field (unless it has it). A lead never carries `external_id`: Intercom ignores
/// it on leads ("can't be set for role type of lead"), so it is left out.
pub fn create_contact(
    body: &Map<String, Value>,
    key_field: KeyField,
    key: &str,
    role: Role,
) -> Request {
    let mut body = body.clone();
    body.entry("role").or_insert_with(|| json!(role.as_str()));
    match key_field {
        KeyField::Email => {
            body.entry("email").or_insert_with(|| json!(key));
        }
        KeyField::ExternalId if role == Role::User => {
            body.entry("external_id").or_insert_with(|| json!(key));
        }
        _ => {}
    }
    if role == Role::Lead {
        body.remove("external_id");
    }
    Request::new(Method::POST, "/contacts".into(), Some(Value::Object(body)))
}

/// `PUT /contacts/{id}`: the body as mapped (partial update). For a lead,
/// `external_id` is dropped as on create.
pub fn update_contact(id: &str, body: &Map<String, Value>, role: Role) -> Request {
    let mut body = body.clone();
    if role == Role::Lead {
        body.remove("external_id");
    }
    Request::new(
        Method::PUT,
        format!("/contacts/{}", encode(id)),
        Some(Value::Object(body)),
    )
}

/// `GET /contacts/{id}`
pub fn get_contact(id: &str) -> Request {
    Request::new(Method::GET, format!("/contacts/{}", encode(id)), None)
}

/// `GET /contacts/find_by_external_id/{external_id}` (users only).
pub fn find_contact_by_external_id(external_id: &str) -> Request {
    Request::new(
        Method::GET,
        format!("/contacts/find_by_external_id/{}", encode(external_id)),
        None,
    )
}

/// `POST /contacts/search` for an email, narrowed to one role when given (a user
/// keyed by email must not match a lead that happens to share the address).
pub fn search_contacts_by_email(email: &str, role: Option<Role>) -> Request {
    let by_email = json!({"field": "email", "operator": "=", "value": email});
    let query = match role {
        None => by_email,
        Some(role) => json!({"operator": "AND", "value": [
            by_email,
            {"field": "role", "operator": "=", "value": role.as_str()},
        ]}),
    };
    Request::new(
        Method::POST,
        "/contacts/search".into(),
        Some(json!({"query": query, "pagination": {"per_page": 50}})),
    )
}

/// `POST /contacts/{id}/archive`
pub fn archive_contact(id: &str) -> Request {
    Request::new(
        Method::POST,
        format!("/contacts/{}/archive", encode(id)),
        None,
    )
}

/// `POST /contacts/{id}/unarchive`
pub fn unarchive_contact(id: &str) -> Request {
    Request::new(
        Method::POST,
        format!("/contacts/{}/unarchive", encode(id)),
        None,
    )
}

/// `DELETE /contacts/{id}` (permanent: Intercom never re-creates that user).
pub fn delete_contact(id: &str) -> Request {
    Request::new(Method::DELETE, format!("/contacts/{}", encode(id)), None)
}

/// What a `409 conflict` on `POST /contacts` says about the existing contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The existing contact's Intercom id.
    pub id: String,
    /// "An archived contact matching those details already exists…"
    pub archived: bool,
}

/// Reads Intercom's 409 message: the existing id is only in the text, as
/// `id=(\w+)`; an archived match starts "An archived contact".
pub fn parse_conflict(message: &str) -> Option<Conflict> {
    let (_, after) = message.split_once("id=")?;
    let id: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if id.is_empty() {
        return None;
    }
    Some(Conflict {
        id,
        archived: message.to_ascii_lowercase().contains("archived contact"),
    })
}

/// The contact to use among search results, as Intercom answered it (a search
/// answers whole contact objects): the only one, or, when several share the
/// address (leads may), users first and then the oldest, so repeated runs
/// always pick the same record.
pub fn pick_search_record(body: &Value) -> Option<&Value> {
    let data = body.get("data")?.as_array()?;
    data.iter()
        .filter(|c| c.get("id").and_then(Value::as_str).is_some())
        .min_by_key(|c| {
            let is_lead = c.get("role").and_then(Value::as_str) == Some("lead");
            let created = c
                .get("created_at")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MAX);
            let id = c
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (is_lead, created, id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::tests::map;

    #[test]
    fn create_contact_adds_role_and_key() {
        let r = create_contact(
            &map(json!({"name": "Ann"})),
            KeyField::ExternalId,
            "u1",
            Role::User,
        );
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path, "/contacts");
        assert_eq!(
            r.body,
            Some(json!({"name": "Ann", "role": "user", "external_id": "u1"}))
        );

        let r = create_contact(
            &map(json!({"email": "a@x.io"})),
            KeyField::Email,
            "a@x.io",
            Role::User,
        );
        assert_eq!(r.body, Some(json!({"email": "a@x.io", "role": "user"})));

        let r = create_contact(&map(json!({})), KeyField::Email, "l@x.io", Role::Lead);
        assert_eq!(r.body, Some(json!({"email": "l@x.io", "role": "lead"})));
    }

    #[test]
    fn create_contact_keeps_an_explicit_role_and_drops_external_id_of_leads() {
        let body = map(json!({"role": "lead", "external_id": "x", "name": "L"}));
        let r = create_contact(&body, KeyField::ExternalId, "x", Role::Lead);
        assert_eq!(r.body, Some(json!({"role": "lead", "name": "L"})));
    }

    #[test]
    fn update_contact_is_a_put_with_the_body() {
        let body = map(json!({"name": "Ann", "custom_attributes": {"ltv": 3}}));
        let r = update_contact("65f0a1", &body, Role::User);
        assert_eq!(r.method, Method::PUT);
        assert_eq!(r.path, "/contacts/65f0a1");
        assert_eq!(r.body, Some(Value::Object(body)));
        let r = update_contact(
            "l1",
            &map(json!({"external_id": "x", "name": "L"})),
            Role::Lead,
        );
        assert_eq!(r.body, Some(json!({"name": "L"})));
    }

    #[test]
    fn lookups_encode_their_keys() {
        let r = find_contact_by_external_id("user 1/2");
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.path, "/contacts/find_by_external_id/user%201%2F2");
        assert_eq!(r.body, None);
    }

    #[test]
    fn email_search() {
        let r = search_contacts_by_email("a@x.io", Some(Role::User));
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path, "/contacts/search");
        assert_eq!(
            r.body,
            Some(json!({
                "query": {"operator": "AND", "value": [
                    {"field": "email", "operator": "=", "value": "a@x.io"},
                    {"field": "role", "operator": "=", "value": "user"},
                ]},
                "pagination": {"per_page": 50},
            }))
        );
        let r = search_contacts_by_email("a@x.io", None);
        assert_eq!(
            r.body.unwrap()["query"],
            json!({"field": "email", "operator": "=", "value": "a@x.io"})
        );
    }

    #[test]
    fn reads_and_removals() {
        assert_eq!(
            (archive_contact("c1").method, archive_contact("c1").path),
            (Method::POST, "/contacts/c1/archive".to_string())
        );
        assert_eq!(unarchive_contact("c1").path, "/contacts/c1/unarchive");
        let g = get_contact("c 1");
        assert_eq!(
            (g.method, g.path, g.body),
            (Method::GET, "/contacts/c%201".into(), None)
        );
        let d = delete_contact("c1");
        assert_eq!(
            (d.method, d.path, d.body),
            (Method::DELETE, "/contacts/c1".into(), None)
        );
    }

    #[test]
    fn conflict_ids_are_parsed_from_both_messages() {
        assert_eq!(
            parse_conflict(
                "A contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83"
            ),
            Some(Conflict {
                id: "6762f0dd1bb69f9f2193bb83".into(),
                archived: false
            })
        );
        assert_eq!(
            parse_conflict(
                "An archived contact matching those details already exists with id=abc_12."
            ),
            Some(Conflict {
                id: "abc_12".into(),
                archived: true
            })
        );
        assert_eq!(
            parse_conflict("Multiple existing users match this email address"),
            None
        );
        assert_eq!(parse_conflict("id="), None);
    }

    #[test]
    fn search_match_prefers_users_then_the_oldest() {
        let body = json!({"type": "list", "data": [
            {"id": "l1", "role": "lead", "created_at": 1},
            {"id": "u2", "role": "user", "created_at": 20},
            {"id": "u1", "role": "user", "created_at": 10},
        ]});
        assert_eq!(
            pick_search_record(&body),
            Some(&json!({"id": "u1", "role": "user", "created_at": 10}))
        );
        assert_eq!(
            pick_search_record(&json!({"type": "list", "data": []})),
            None
        );
    }
}
