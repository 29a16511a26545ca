//! Tag requests: Intercom's bulk form (`POST /tags` naming many contacts or
//! companies), the per-contact forms, the workspace's tag list, and reading
//! the tags out of the answers.

use reqwest::Method;
use serde_json::{json, Value};

use super::{encode, Request};

/// Intercom recommends "no more than 50 users at a time" in one `POST /tags`
/// (larger requests may time out having applied part); companies the same.
pub const BULK_TAG_LIMIT: usize = 50;

/// `POST /tags` `{name, users: [{id}…]}`: tag contacts (Intercom ids); the
/// tag is created when missing.
pub fn tag_contacts(name: &str, contact_ids: &[&str]) -> Request {
    let users: Vec<Value> = contact_ids.iter().map(|id| json!({"id": id})).collect();
    Request::new(
        Method::POST,
        "/tags".into(),
        Some(json!({"name": name, "users": users})),
    )
}

/// `POST /tags` `{name, companies: [{id, untag?}…]}`: tag (or with `untag`
/// untag) companies by Intercom id; the tag is created when missing.
pub fn tag_companies(name: &str, companies: &[(&str, bool)]) -> Request {
    let items: Vec<Value> = companies
        .iter()
        .map(|(id, untag)| {
            if *untag {
                json!({"id": id, "untag": true})
            } else {
                json!({"id": id})
            }
        })
        .collect();
    Request::new(
        Method::POST,
        "/tags".into(),
        Some(json!({"name": name, "companies": items})),
    )
}

/// `POST /tags` `{name}`: create the tag, or answer the one with that name.
pub fn create_tag(name: &str) -> Request {
    Request::new(Method::POST, "/tags".into(), Some(json!({"name": name})))
}

/// `GET /tags`: every tag of the workspace.
pub fn list_tags() -> Request {
    Request::new(Method::GET, "/tags".into(), None)
}

/// `POST /contacts/{id}/tags` `{id: <tag id>}`.
pub fn tag_contact(contact_id: &str, tag_id: &str) -> Request {
    Request::new(
        Method::POST,
        format!("/contacts/{}/tags", encode(contact_id)),
        Some(json!({"id": tag_id})),
    )
}

/// `DELETE /contacts/{id}/tags/{tag_id}` (2.x has no bulk untag of contacts).
pub fn untag_contact(contact_id: &str, tag_id: &str) -> Request {
    Request::new(
        Method::DELETE,
        format!("/contacts/{}/tags/{}", encode(contact_id), encode(tag_id)),
        None,
    )
}

/// `GET /contacts/{id}/tags`.
pub fn contact_tags(contact_id: &str) -> Request {
    Request::new(
        Method::GET,
        format!("/contacts/{}/tags", encode(contact_id)),
        None,
    )
}

/// `GET /companies/{id}` (its `tags`).
pub fn get_company(company_id: &str) -> Request {
    Request::new(
        Method::GET,
        format!("/companies/{}", encode(company_id)),
        None,
    )
}

/// A tag: `(id, name)`.
pub type Tag = (String, String);

/// The tags of an answer: a `list` (`data`), a company's `tag.list`
/// (`tags.tags`), or a bare array. Ids may be numbers.
pub fn tags_of(body: &Value) -> Vec<Tag> {
    let items = body
        .get("data")
        .or_else(|| body.get("tags").and_then(|t| t.get("tags")))
        .or_else(|| body.get("tags"))
        .and_then(Value::as_array)
        .or_else(|| body.as_array());
    items
        .map(|items| items.iter().filter_map(tag_of).collect())
        .unwrap_or_default()
}

/// One tag object.
pub fn tag_of(v: &Value) -> Option<Tag> {
    let id = match v.get("id")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let name = v.get("name")?.as_str()?.to_string();
    Some((id, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_forms() {
        let r = tag_contacts("VIP", &["c1", "c2"]);
        assert_eq!((r.method.clone(), r.path.as_str()), (Method::POST, "/tags"));
        assert_eq!(
            r.body,
            Some(json!({"name": "VIP", "users": [{"id": "c1"}, {"id": "c2"}]}))
        );
        let r = tag_companies("VIP", &[("a", false), ("b", true)]);
        assert_eq!(
            r.body,
            Some(json!({"name": "VIP", "companies": [{"id": "a"}, {"id": "b", "untag": true}]}))
        );
        assert_eq!(create_tag("x").body, Some(json!({"name": "x"})));
    }

    #[test]
    fn per_contact_forms() {
        let r = tag_contact("c 1", "81");
        assert_eq!(
            (r.method, r.path.as_str(), r.body),
            (
                Method::POST,
                "/contacts/c%201/tags",
                Some(json!({"id": "81"}))
            )
        );
        let r = untag_contact("c1", "81");
        assert_eq!(
            (r.method, r.path.as_str()),
            (Method::DELETE, "/contacts/c1/tags/81")
        );
        assert_eq!(contact_tags("c1").path, "/contacts/c1/tags");
        assert_eq!(list_tags().path, "/tags");
        assert_eq!(get_company("co1").path, "/companies/co1");
    }

    #[test]
    fn tags_from_answers() {
        let list = json!({"type": "list", "data": [{"type": "tag", "id": "1", "name": "a"}, {"id": 2, "name": "b"}]});
        assert_eq!(
            tags_of(&list),
            vec![("1".into(), "a".into()), ("2".into(), "b".into())]
        );
        let company = json!({"type": "company", "id": "co", "tags": {"type": "tag.list", "tags": [{"id": "3", "name": "c"}]}});
        assert_eq!(tags_of(&company), vec![("3".into(), "c".into())]);
        assert!(tags_of(&json!({"type": "company"})).is_empty());
    }
}
