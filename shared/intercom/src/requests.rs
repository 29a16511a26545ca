//! Pure request building and response reading: every Intercom call backflow makes,
//! as a method, a path (URL-encoded) and a JSON body, and the few facts it reads
//! back from the answers (an id, a 409's existing id, an `error.list`).
//!
//! Nothing here does IO, so every request shape is unit-tested below; the
//! transport ([`crate::client`]) only sends what these functions build.

use reqwest::Method;
use serde_json::{json, Map, Value};

use backflow_core::config::KeyField;
use backflow_core::value::DataType;

use crate::error::Rejection;
use crate::identity::Role;

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

/// Percent-encode one path segment or query value: everything but RFC 3986's
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX` of its UTF-8 bytes.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /me`: who the token belongs to (the cheapest authenticated call).
pub fn me() -> Request {
    Request::new(Method::GET, "/me".into(), None)
}

// ---------------------------------------------------------------- contacts

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

/// `POST /contacts/{contact_id}/companies` `{"id": <Intercom company id>}`.
pub fn attach_company(contact_id: &str, company_intercom_id: &str) -> Request {
    Request::new(
        Method::POST,
        format!("/contacts/{}/companies", encode(contact_id)),
        Some(json!({"id": company_intercom_id})),
    )
}

// ---------------------------------------------------------------- companies

/// `POST /companies`: create or update, keyed on the body's `company_id`.
pub fn upsert_company(body: &Map<String, Value>) -> Request {
    Request::new(
        Method::POST,
        "/companies".into(),
        Some(Value::Object(body.clone())),
    )
}

/// `GET /companies?company_id=…`
pub fn find_company(company_id: &str) -> Request {
    Request::new(
        Method::GET,
        format!("/companies?company_id={}", encode(company_id)),
        None,
    )
}

/// `DELETE /companies/{id}` (Intercom's id).
pub fn delete_company(id: &str) -> Request {
    Request::new(Method::DELETE, format!("/companies/{}", encode(id)), None)
}

// ---------------------------------------------------------------- events

/// `POST /events`: `event_name`, `created_at` (Unix seconds), one of
/// `user_id`/`email`/`id`, `metadata`, as mapped.
pub fn send_event(body: &Map<String, Value>) -> Request {
    Request::new(
        Method::POST,
        "/events".into(),
        Some(Value::Object(body.clone())),
    )
}

// ---------------------------------------------------------------- data attributes

/// `GET /data_attributes?model=contact|company`
pub fn list_data_attributes(model: &str) -> Request {
    Request::new(
        Method::GET,
        format!("/data_attributes?model={}", encode(model)),
        None,
    )
}

/// `POST /data_attributes` `{name, model, data_type}`
pub fn create_data_attribute(name: &str, model: &str, data_type: DataType) -> Request {
    Request::new(
        Method::POST,
        "/data_attributes".into(),
        Some(json!({"name": name, "model": model, "data_type": data_type_name(data_type)})),
    )
}

/// Intercom's name for a data type (`POST /data_attributes` and the list's `data_type`).
pub fn data_type_name(t: DataType) -> &'static str {
    match t {
        DataType::String => "string",
        DataType::Integer => "integer",
        DataType::Float => "float",
        DataType::Boolean => "boolean",
        DataType::Date => "date",
    }
}

// ---------------------------------------------------------------- reading answers

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
    let start = message.find("id=")? + 3;
    let id: String = message[start..]
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

/// The contact to use among search results: the only one, or, when several share
/// the address (leads may), users first and then the oldest, so repeated runs
/// always pick the same record.
pub fn pick_search_match(body: &Value) -> Option<String> {
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
        .and_then(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
}

/// The Intercom id of the company with `company_id` in a `GET /companies?company_id=`
/// answer, which is a company or (per the spec's `company_list`) a list.
pub fn company_from_lookup(body: &Value, company_id: &str) -> Option<String> {
    let matches = |c: &Value| match c.get("company_id") {
        Some(Value::String(s)) => s == company_id,
        Some(Value::Number(n)) => n.to_string() == company_id,
        _ => true, // no company_id echoed: trust the filter
    };
    let id_of = |c: &Value| c.get("id").and_then(Value::as_str).map(str::to_string);
    if body.get("type").and_then(Value::as_str) == Some("list") {
        body.get("data")?
            .as_array()?
            .iter()
            .find(|c| matches(c))
            .and_then(id_of)
    } else if matches(body) {
        id_of(body)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
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
        let r = find_company("acme & co");
        assert_eq!(r.path, "/companies?company_id=acme%20%26%20co");
        assert_eq!(
            list_data_attributes("company").path,
            "/data_attributes?model=company"
        );
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
    fn removals_and_attachments() {
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
        let a = attach_company("c1", "co9");
        assert_eq!(a.path, "/contacts/c1/companies");
        assert_eq!(a.body, Some(json!({"id": "co9"})));
        let d = delete_company("co9");
        assert_eq!(
            (d.method, d.path),
            (Method::DELETE, "/companies/co9".into())
        );
    }

    #[test]
    fn companies_events_attributes() {
        let body = map(json!({"company_id": "acme", "name": "Acme"}));
        let r = upsert_company(&body);
        assert_eq!(
            (r.method.clone(), r.path.as_str()),
            (Method::POST, "/companies")
        );
        assert_eq!(r.body, Some(Value::Object(body)));
        let ev = map(json!({"event_name": "signed-up", "created_at": 1700000000, "user_id": "u1"}));
        let r = send_event(&ev);
        assert_eq!(
            (r.method.clone(), r.path.as_str()),
            (Method::POST, "/events")
        );
        assert_eq!(r.body, Some(Value::Object(ev)));
        let r = create_data_attribute("ltv", "contact", DataType::Float);
        assert_eq!(
            r.body,
            Some(json!({"name": "ltv", "model": "contact", "data_type": "float"}))
        );
        assert_eq!(me().path, "/me");
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
    fn search_match_prefers_users_then_the_oldest() {
        let body = json!({"type": "list", "data": [
            {"id": "l1", "role": "lead", "created_at": 1},
            {"id": "u2", "role": "user", "created_at": 20},
            {"id": "u1", "role": "user", "created_at": 10},
        ]});
        assert_eq!(pick_search_match(&body), Some("u1".into()));
        assert_eq!(
            pick_search_match(&json!({"type": "list", "data": []})),
            None
        );
    }

    #[test]
    fn company_lookup_accepts_an_object_or_a_list() {
        let one = json!({"type": "company", "id": "co1", "company_id": "acme"});
        assert_eq!(company_from_lookup(&one, "acme"), Some("co1".into()));
        assert_eq!(company_from_lookup(&one, "other"), None);
        let list = json!({"type": "list", "data": [
            {"type": "company", "id": "co0", "company_id": "nope"},
            {"type": "company", "id": "co1", "company_id": "acme"},
        ]});
        assert_eq!(company_from_lookup(&list, "acme"), Some("co1".into()));
        let numeric = json!({"type": "company", "id": "co7", "company_id": 7});
        assert_eq!(company_from_lookup(&numeric, "7"), Some("co7".into()));
    }
}
