//! Tags: the workspace's tags and their application to contacts and companies.
//!
//! - tag names are unique, compared case-insensitively: creating "vip" when
//!   "VIP" exists answers the existing tag, spelled as first created;
//! - `GET /tags` lists every tag in creation order as `{type, id, name}`;
//!   `GET /tags/{id}` is one; `DELETE /tags/{id}` answers `200` with an empty
//!   body and removes the tag from every contact and company;
//! - `POST /contacts/{id}/tags` `{id}` tags a contact (the tag id may be a
//!   string or a number); `DELETE /contacts/{id}/tags/{tag_id}` untags it;
//!   both answer the tag with `applied_at` and `applied_by` (the admin);
//!   `GET /contacts/{id}/tags` lists the contact's tags the same way;
//! - an unknown contact is `404 not_found` "User Not Found" (checked first), an
//!   unknown tag `404 not_found` "Resource Not Found"; untagging a tag that is
//!   not applied is also "Resource Not Found" (chosen);
//! - `POST /tags` (create, rename, bulk tag/untag) lives in `tag_bulk`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};

use crate::errors::{ApiError, ApiResult};
use crate::input::{self, numeric_id, ApiVersion};
use crate::render;
use crate::state::{App, Company, Contact, Store, ADMIN_ID};

/// The first tag id handed out (tag ids are numeric strings, as Intercom's are;
/// a range of their own keeps them from being mistaken for other ids in tests).
pub const FIRST_TAG_ID: u64 = 7_522_907;

/// A tag of the workspace.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// Ids of the contacts carrying it.
    pub contacts: HashSet<String>,
    /// Intercom ids of the companies carrying it.
    pub companies: HashSet<String>,
}

/// A tag on a contact, with the time it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedTag {
    pub id: String,
    pub applied_at: i64,
}

/// Tag names compare case-insensitively.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Store {
    /// The tag with this id.
    pub fn tag(&self, id: &str) -> Option<&Tag> {
        self.tags.get(&numeric_id(id)?)
    }

    fn tag_mut(&mut self, id: &str) -> Option<&mut Tag> {
        self.tags.get_mut(&numeric_id(id)?)
    }

    /// The tag with this name, compared case-insensitively.
    pub fn tag_named(&self, name: &str) -> Option<&Tag> {
        self.tags.get(self.tag_names.get(&name_key(name))?)
    }

    /// The id of the tag named `name`, created when there is none.
    pub fn tag_for_name(&mut self, name: &str, now: i64) -> String {
        if let Some(tag) = self.tag_named(name) {
            return tag.id.clone();
        }
        let key = FIRST_TAG_ID + self.next_tag;
        self.next_tag += 1;
        let tag = Tag {
            id: key.to_string(),
            name: name.trim().to_string(),
            created_at: now,
            contacts: HashSet::new(),
            companies: HashSet::new(),
        };
        let id = tag.id.clone();
        self.tag_names.insert(name_key(name), key);
        self.tags.insert(key, tag);
        id
    }

    /// Rename tag `id`; another tag holding the name (case-insensitively) is a
    /// `400` (chosen: Intercom documents unique names but not this error).
    pub fn rename_tag(&mut self, id: &str, name: &str) -> ApiResult<()> {
        let key = numeric_id(id).ok_or(ApiError::ResourceNotFound)?;
        if !self.tags.contains_key(&key) {
            return Err(ApiError::ResourceNotFound);
        }
        match self.tag_names.get(&name_key(name)) {
            Some(other) if *other != key => {
                return Err(ApiError::invalid(format!(
                    "A tag named '{}' already exists",
                    name.trim()
                )))
            }
            _ => {}
        }
        let tag = self.tags.get_mut(&key).ok_or(ApiError::ResourceNotFound)?;
        let old = name_key(&tag.name);
        tag.name = name.trim().to_string();
        self.tag_names.remove(&old);
        self.tag_names.insert(name_key(name), key);
        Ok(())
    }

    /// Delete tag `id` and take it off every contact and company.
    pub fn delete_tag(&mut self, id: &str) -> ApiResult<()> {
        let key = numeric_id(id).ok_or(ApiError::ResourceNotFound)?;
        let tag = self.tags.remove(&key).ok_or(ApiError::ResourceNotFound)?;
        self.tag_names.remove(&name_key(&tag.name));
        for contact_id in &tag.contacts {
            if let Some(c) = self.contacts.get_mut(contact_id) {
                c.tags.retain(|t| t.id != tag.id);
            }
        }
        for company_id in &tag.companies {
            if let Some(c) = self.companies.get_mut(company_id) {
                c.tags.retain(|t| *t != tag.id);
            }
        }
        Ok(())
    }

    /// Put tag `tag_id` on contact `contact_id` (both exist); tagging twice
    /// keeps the first `applied_at`. Returns when it was applied.
    pub fn tag_contact(&mut self, contact_id: &str, tag_id: &str, now: i64) -> i64 {
        let Some(contact) = self.contacts.get_mut(contact_id) else {
            return now;
        };
        let applied_at = match contact.tags.iter().find(|t| t.id == tag_id) {
            Some(t) => t.applied_at,
            None => {
                contact.tags.push(AppliedTag {
                    id: tag_id.to_string(),
                    applied_at: now,
                });
                now
            }
        };
        if let Some(tag) = self.tag_mut(tag_id) {
            tag.contacts.insert(contact_id.to_string());
        }
        applied_at
    }

    /// Take tag `tag_id` off contact `contact_id`; `None` when it was not applied.
    pub fn untag_contact(&mut self, contact_id: &str, tag_id: &str) -> Option<AppliedTag> {
        let contact = self.contacts.get_mut(contact_id)?;
        let at = contact.tags.iter().position(|t| t.id == tag_id)?;
        let applied = contact.tags.remove(at);
        if let Some(tag) = self.tag_mut(tag_id) {
            tag.contacts.remove(contact_id);
        }
        Some(applied)
    }

    /// Put tag `tag_id` on company `company_id` (both exist), or take it off.
    pub fn set_company_tag(&mut self, company_id: &str, tag_id: &str, on: bool) {
        let Some(company) = self.companies.get_mut(company_id) else {
            return;
        };
        let has = company.tags.iter().any(|t| t == tag_id);
        match (on, has) {
            (true, false) => company.tags.push(tag_id.to_string()),
            (false, true) => company.tags.retain(|t| t != tag_id),
            _ => {}
        }
        if let Some(tag) = self.tag_mut(tag_id) {
            if on {
                tag.companies.insert(company_id.to_string());
            } else {
                tag.companies.remove(company_id);
            }
        }
    }

    /// A contact is leaving the workspace (deleted or merged away).
    pub fn forget_contact_tags(&mut self, c: &Contact) {
        for applied in &c.tags {
            if let Some(tag) = self.tag_mut(&applied.id) {
                tag.contacts.remove(&c.id);
            }
        }
    }

    /// A company was deleted.
    pub fn forget_company_tags(&mut self, c: &Company) {
        for id in &c.tags {
            if let Some(tag) = self.tag_mut(id) {
                tag.companies.remove(&c.id);
            }
        }
    }

    /// Names of the tags on a contact, sorted (for the dump).
    pub fn contact_tag_names(&self, c: &Contact) -> Vec<String> {
        let mut names: Vec<String> = c
            .tags
            .iter()
            .filter_map(|t| self.tag(&t.id))
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        names
    }
}

/// `{type:"tag", id, name}` (the spec's `tag_basic`).
pub fn basic(t: &Tag) -> Value {
    json!({"type": "tag", "id": t.id, "name": t.name})
}

/// A tag as a tagging operation on a contact answers it, with `applied_at`
/// and `applied_by`.
pub fn applied(t: &Tag, applied_at: i64) -> Value {
    json!({
        "type": "tag", "id": t.id, "name": t.name, "applied_at": applied_at,
        "applied_by": {"type": "admin", "id": ADMIN_ID},
    })
}

/// An id field that may be sent as a string or a number (the spec's own
/// examples send `{"id": 81}`).
pub fn id_field(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::invalid(format!(
            "{key} must be a string or an integer"
        ))),
    }
}

/// A required id field (string or number): `400 parameter_missing` without it.
pub fn required_id(obj: &Map<String, Value>, key: &str) -> ApiResult<String> {
    id_field(obj, key)?
        .ok_or_else(|| ApiError::ParameterMissing(format!("{key} is a required parameter")))
}

/// `GET /tags`
pub async fn list(State(app): State<Arc<App>>) -> ApiResult {
    let store = app.store();
    let data: Vec<Value> = store.tags.values().map(basic).collect();
    Ok(render::ok(&json!({"type": "list", "data": data})))
}

/// `GET /tags/{id}`
pub async fn find(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let store = app.store();
    let tag = store.tag(&id).ok_or(ApiError::ResourceNotFound)?;
    Ok(render::ok(&basic(tag)))
}

/// `DELETE /tags/{id}`: `200` with an empty body, as the spec documents.
pub async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    app.store().delete_tag(&id)?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /contacts/{id}/tags`
pub async fn of_contact(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(contact_id): Path<String>,
) -> ApiResult {
    let store = app.store();
    let contact = store.live_contact(&contact_id, version)?;
    let data: Vec<Value> = contact
        .tags
        .iter()
        .filter_map(|t| store.tag(&t.id).map(|tag| applied(tag, t.applied_at)))
        .collect();
    Ok(render::ok(&json!({"type": "list", "data": data})))
}

/// `POST /contacts/{id}/tags` `{id: <tag id>}`
pub async fn tag_contact(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let tag_id = required_id(&obj, "id")?;
    let now = app.clock.now();
    let mut store = app.store();
    store.live_contact(&contact_id, version)?;
    if store.tag(&tag_id).is_none() {
        return Err(ApiError::ResourceNotFound);
    }
    let applied_at = store.tag_contact(&contact_id, &tag_id, now);
    let tag = store.tag(&tag_id).ok_or(ApiError::ResourceNotFound)?;
    Ok(render::ok(&applied(tag, applied_at)))
}

/// `DELETE /contacts/{id}/tags/{tag_id}`
pub async fn untag_contact(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path((contact_id, tag_id)): Path<(String, String)>,
) -> ApiResult {
    let mut store = app.store();
    store.live_contact(&contact_id, version)?;
    let applied_tag = store
        .untag_contact(&contact_id, &tag_id)
        .ok_or(ApiError::ResourceNotFound)?;
    let tag = store.tag(&tag_id).ok_or(ApiError::ResourceNotFound)?;
    Ok(render::ok(&applied(tag, applied_tag.applied_at)))
}

/// The `tags` section of `GET /_emulator/dump`: every tag with the contacts and
/// companies carrying it (ids sorted).
pub fn dump(store: &Store) -> Vec<Value> {
    store
        .tags
        .values()
        .map(|t| {
            let mut contacts: Vec<&String> = t.contacts.iter().collect();
            contacts.sort();
            let mut companies: Vec<&String> = t.companies.iter().collect();
            companies.sort();
            json!({
                "id": t.id, "name": t.name, "created_at": t.created_at,
                "contact_ids": contacts, "company_ids": companies,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_case_insensitively() {
        let mut store = Store::default();
        let a = store.tag_for_name("VIP", 1);
        assert_eq!(store.tag_for_name(" vip ", 2), a);
        assert_eq!(store.tag(&a).map(|t| t.name.as_str()), Some("VIP"));
        let b = store.tag_for_name("Churn risk", 3);
        assert_ne!(a, b);
        assert!(store.rename_tag(&b, "vip").is_err());
        assert!(
            store.rename_tag(&a, "Vip").is_ok(),
            "a new spelling of its own name"
        );
        assert_eq!(store.tag_named("VIP").map(|t| t.id.clone()), Some(a));
    }
}
