//! `POST /tags`: one endpoint, four request shapes (the spec's `oneOf`), each
//! answering the tag as `{type:"tag", id, name}`:
//!
//! | body | does |
//! |---|---|
//! | `{name}` | create the tag, or answer the one with that name (case-insensitively) |
//! | `{id, name}` | rename tag `id` (`404 not_found` "Resource Not Found" when unknown) |
//! | `{name, companies:[{id}\|{company_id}, untag?]}` | tag (or, with `untag: true`, untag) each company; the tag is created when missing |
//! | `{name, users:[{id}]}` | tag each contact (user or lead) by its Intercom id; the tag is created when missing |
//!
//! One such request is one call against the rate limit, however many records
//! it names. It is all or nothing (chosen): every company or contact is
//! resolved before anything changes, so an unknown one (`404 company_not_found`
//! "Company Not Found", `404 not_found` "User Not Found") leaves everything as
//! it was, the tag included.
//!
//! What is refused, `400 parameter_invalid`:
//! - an unknown key, or a missing or empty `name`: "invalid tag parameters"
//!   (the spec's own example);
//! - `companies` and `users` together, or `id` with either (Intercom's older
//!   docs: "a request will not process both company and user arrays");
//! - a `users` item that names its contact by `email` or `user_id` (only `id`
//!   is documented since 2.0) or carries `untag` (2.x documents no bulk untag
//!   of contacts: use `DELETE /contacts/{id}/tags/{tag_id}`) — chosen, so a
//!   client cannot come to rely on forms Intercom no longer documents;
//! - more items than `Options::bulk_tag_limit` (default 50; Intercom recommends
//!   "no more than 50 users at a time as larger amounts could result in a
//!   timeout") — chosen: a refusal instead of a timeout that may have applied part.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Map, Value};

use crate::errors::{ApiError, ApiResult};
use crate::input;
use crate::render;
use crate::state::{App, Store};
use crate::tags;

const INVALID: &str = "invalid tag parameters";
const KEYS: &[&str] = &["name", "id", "companies", "users"];

/// How a `companies` item names its company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyRef {
    /// The Intercom id.
    Id(String),
    /// The workspace's own `company_id`.
    CompanyId(String),
}

/// A parsed `POST /tags` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRequest {
    /// `{name}` or `{id, name}`.
    Upsert { name: String, id: Option<String> },
    /// `{name, companies}`: each company with `true` to untag it.
    Companies {
        name: String,
        items: Vec<(CompanyRef, bool)>,
    },
    /// `{name, users}`: Intercom contact ids.
    Users { name: String, ids: Vec<String> },
}

fn invalid(message: &str) -> ApiError {
    ApiError::invalid(message)
}

/// Parse a body; `limit` caps the items of one request (0 = no cap).
pub fn parse(obj: &Map<String, Value>, limit: usize) -> ApiResult<TagRequest> {
    if obj.keys().any(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(INVALID));
    }
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(invalid(INVALID)),
    };
    let id = tags::id_field(obj, "id")?;
    let items = |key: &str| -> ApiResult<Option<&Vec<Value>>> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) if limit > 0 && a.len() > limit => Err(invalid(&format!(
                "Too many {key} in one request: at most {limit} (Intercom recommends no more than 50 at a time)"
            ))),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(invalid(&format!("{key} must be an array"))),
        }
    };
    match (id, items("companies")?, items("users")?) {
        (id, None, None) => Ok(TagRequest::Upsert { name, id }),
        (None, Some(companies), None) => Ok(TagRequest::Companies {
            name,
            items: companies
                .iter()
                .map(company_item)
                .collect::<ApiResult<_>>()?,
        }),
        (None, None, Some(users)) => Ok(TagRequest::Users {
            name,
            ids: users.iter().map(user_item).collect::<ApiResult<_>>()?,
        }),
        _ => Err(invalid(
            "Tag companies or users in one request, not both, and without an id",
        )),
    }
}

fn company_item(item: &Value) -> ApiResult<(CompanyRef, bool)> {
    let Value::Object(obj) = item else {
        return Err(invalid("companies must hold objects"));
    };
    if let Some(bad) = obj
        .keys()
        .find(|k| !["id", "company_id", "untag"].contains(&k.as_str()))
    {
        return Err(invalid(&format!("bad '{bad}' parameter in companies")));
    }
    let untag = match obj.get("untag") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        // The spec's own example spells it as the string 'true'.
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(_) => return Err(invalid("untag must be true or false")),
    };
    let target = match (
        tags::id_field(obj, "id")?,
        tags::id_field(obj, "company_id")?,
    ) {
        (Some(id), _) => CompanyRef::Id(id),
        (None, Some(company_id)) => CompanyRef::CompanyId(company_id),
        (None, None) => return Err(invalid("each company needs an id or a company_id")),
    };
    Ok((target, untag))
}

fn user_item(item: &Value) -> ApiResult<String> {
    let Value::Object(obj) = item else {
        return Err(invalid("users must hold objects"));
    };
    if obj.contains_key("untag") {
        return Err(invalid(
            "users cannot be untagged in bulk: use DELETE /contacts/{id}/tags/{tag_id}",
        ));
    }
    if let Some(bad) = obj.keys().find(|k| k.as_str() != "id") {
        return Err(invalid(&format!(
            "users are named by their Intercom id only, not '{bad}'"
        )));
    }
    tags::id_field(obj, "id")?.ok_or_else(|| invalid("each user needs an id"))
}

impl Store {
    /// Resolve every company of the request before anything changes.
    fn resolve_companies(&self, items: &[(CompanyRef, bool)]) -> ApiResult<Vec<(String, bool)>> {
        items
            .iter()
            .map(|(target, untag)| {
                let id = match target {
                    CompanyRef::Id(id) => self.companies.contains_key(id).then(|| id.clone()),
                    CompanyRef::CompanyId(cid) => self.by_company_id.get(cid).cloned(),
                };
                id.map(|id| (id, *untag)).ok_or(ApiError::CompanyNotFound)
            })
            .collect()
    }

    /// Apply a parsed request; returns the tag's id.
    pub fn apply_tag_request(&mut self, request: TagRequest, now: i64) -> ApiResult<String> {
        match request {
            TagRequest::Upsert { name, id: None } => Ok(self.tag_for_name(&name, now)),
            TagRequest::Upsert { name, id: Some(id) } => {
                self.rename_tag(&id, &name)?;
                Ok(id)
            }
            TagRequest::Companies { name, items } => {
                let companies = self.resolve_companies(&items)?;
                let tag_id = match self.tag_named(&name) {
                    Some(tag) => tag.id.clone(),
                    // Untagging only: there is nothing to untag with a tag that does not exist.
                    None if !companies.is_empty() && companies.iter().all(|(_, untag)| *untag) => {
                        return Err(ApiError::ResourceNotFound)
                    }
                    None => self.tag_for_name(&name, now),
                };
                for (company_id, untag) in companies {
                    self.set_company_tag(&company_id, &tag_id, !untag);
                }
                Ok(tag_id)
            }
            TagRequest::Users { name, ids } => {
                if ids.iter().any(|id| !self.contacts.contains_key(id)) {
                    return Err(ApiError::UserNotFound);
                }
                let tag_id = self.tag_for_name(&name, now);
                for id in ids {
                    self.tag_contact(&id, &tag_id, now);
                }
                Ok(tag_id)
            }
        }
    }
}

/// `POST /tags`
pub async fn create(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let request = parse(&obj, app.opts.bulk_tag_limit)?;
    let now = app.clock.now();
    let mut store = app.store();
    let id = store.apply_tag_request(request, now)?;
    let tag = store.tag(&id).ok_or(ApiError::ResourceNotFound)?;
    Ok(render::ok(&tags::basic(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> ApiResult<TagRequest> {
        parse(v.as_object().unwrap(), 50)
    }

    #[test]
    fn the_four_shapes() {
        assert_eq!(
            p(json!({"name": "VIP"})).unwrap(),
            TagRequest::Upsert {
                name: "VIP".into(),
                id: None
            }
        );
        assert_eq!(
            p(json!({"name": "VIP", "id": 7})).unwrap(),
            TagRequest::Upsert {
                name: "VIP".into(),
                id: Some("7".into())
            }
        );
        assert_eq!(
            p(json!({"name": "VIP", "companies": [{"id": "a"}, {"company_id": "c9", "untag": "true"}]}))
                .unwrap(),
            TagRequest::Companies {
                name: "VIP".into(),
                items: vec![
                    (CompanyRef::Id("a".into()), false),
                    (CompanyRef::CompanyId("c9".into()), true)
                ],
            }
        );
        assert_eq!(
            p(json!({"name": "VIP", "users": [{"id": "u1"}]})).unwrap(),
            TagRequest::Users {
                name: "VIP".into(),
                ids: vec!["u1".into()]
            }
        );
    }

    #[test]
    fn what_is_refused() {
        for body in [
            json!({"test": "invalid"}),
            json!({"name": ""}),
            json!({"name": 5}),
            json!({"name": "x", "companies": [{"id": "a"}], "users": [{"id": "u"}]}),
            json!({"name": "x", "id": "1", "users": [{"id": "u"}]}),
            json!({"name": "x", "companies": {"id": "a"}}),
            json!({"name": "x", "companies": [{}]}),
            json!({"name": "x", "companies": [{"id": "a", "untag": 1}]}),
            json!({"name": "x", "users": [{"email": "a@b.c"}]}),
            json!({"name": "x", "users": [{"user_id": "7"}]}),
            json!({"name": "x", "users": [{"id": "u", "untag": true}]}),
            json!({"name": "x", "users": ["u"]}),
        ] {
            let err = p(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.code(), "parameter_invalid", "{body}");
        }
        assert_eq!(
            p(json!({"test": "invalid"})).unwrap_err().to_string(),
            INVALID
        );
    }

    #[test]
    fn the_item_limit() {
        let many: Vec<Value> = (0..51).map(|i| json!({"id": format!("c{i}")})).collect();
        let body = json!({"name": "x", "companies": many});
        assert!(parse(body.as_object().unwrap(), 50).is_err());
        assert!(parse(body.as_object().unwrap(), 51).is_ok());
        assert!(parse(body.as_object().unwrap(), 0).is_ok(), "0 = no cap");
    }
}
