//! Company requests: upsert (keyed on `company_id`), look up by `company_id`,
//! delete; and reading the lookup's answer.

use reqwest::Method;
use serde_json::{Map, Value};

use super::{encode, Request};

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

/// The Intercom id of the company with `company_id` in a `GET /companies?company_id=`
/// answer, which is a company or (per the spec's `company_list`) a list.
pub fn company_from_lookup(body: &Value, company_id: &str) -> Option<String> {
    company_in_lookup(body, company_id)
        .and_then(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
}

/// The company with `company_id` in a `GET /companies?company_id=` answer, as
/// Intercom answered it.
pub fn company_in_lookup<'a>(body: &'a Value, company_id: &str) -> Option<&'a Value> {
    let matches = |c: &Value| match c.get("company_id") {
        Some(Value::String(s)) => s == company_id,
        Some(Value::Number(n)) => n.to_string() == company_id,
        _ => true, // no company_id echoed: trust the filter
    };
    let found = if body.get("type").and_then(Value::as_str) == Some("list") {
        body.get("data")?.as_array()?.iter().find(|c| matches(c))
    } else {
        Some(body).filter(|c| matches(c))
    };
    found.filter(|c| c.get("id").and_then(Value::as_str).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::tests::map;
    use serde_json::json;

    #[test]
    fn upsert_lookup_and_delete() {
        let body = map(json!({"company_id": "acme", "name": "Acme"}));
        let r = upsert_company(&body);
        assert_eq!(
            (r.method.clone(), r.path.as_str()),
            (Method::POST, "/companies")
        );
        assert_eq!(r.body, Some(Value::Object(body)));
        let r = find_company("acme & co");
        assert_eq!(
            (r.method, r.path.as_str(), r.body),
            (Method::GET, "/companies?company_id=acme%20%26%20co", None)
        );
        let d = delete_company("co9");
        assert_eq!(
            (d.method, d.path),
            (Method::DELETE, "/companies/co9".into())
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
        assert_eq!(
            company_in_lookup(&list, "acme").map(|c| &c["company_id"]),
            Some(&json!("acme"))
        );
        assert_eq!(company_in_lookup(&list, "other"), None);
        let numeric = json!({"type": "company", "id": "co7", "company_id": 7});
        assert_eq!(company_from_lookup(&numeric, "7"), Some("co7".into()));
    }
}
