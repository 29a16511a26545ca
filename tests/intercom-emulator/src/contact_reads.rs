//! Contact reads: get, find by external id, list, search.
//!
//! Archived contacts are left out of list and search (but still answer get and
//! `find_by_external_id`). Search also leaves out contacts created less than
//! `--search-lag` seconds ago (emulated time), like Intercom's slow index;
//! get, `find_by_external_id` and list see them at once.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{json, Value};

use crate::attributes::read_type;
use crate::errors::{ApiError, ApiResult};
use crate::input::{self, ApiVersion};
use crate::paging;
use crate::render;
use crate::search::{self, FieldType, Scalar};
use crate::state::{App, Contact, Model, Role, Store, ADMIN_ID_NUM};

/// `GET /contacts/{id}`
pub async fn get(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult {
    let store = app.store();
    match store.contacts.get(&id) {
        Some(c) => Ok(render::ok(&render::contact(c, version.v2_16))),
        None => Err(store.missing_contact(&id, version)),
    }
}

/// `GET /contacts/find_by_external_id/{external_id}`: users only.
pub async fn find_by_external_id(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(external_id): Path<String>,
) -> ApiResult {
    let store = app.store();
    let found = store
        .by_external_id
        .get(&external_id)
        .and_then(|id| store.contacts.get(id))
        .filter(|c| c.role == Role::User);
    match found {
        Some(c) => Ok(render::ok(&render::contact(c, version.v2_16))),
        None => Err(ApiError::UserNotFound),
    }
}

/// `GET /contacts?per_page=&starting_after=`: creation order, cursor paging.
/// The cursor holds the last contact's sequence number and the page number.
pub async fn list(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let per_page = paging::per_page_param(q.get("per_page"), paging::DEFAULT_PER_PAGE)?;
    let (after, page) = match q.get("starting_after").filter(|s| !s.is_empty()) {
        Some(cursor) => {
            let (seq, page) = paging::decode(cursor)?;
            (Bound::Excluded(seq), page as usize + 1)
        }
        None => (Bound::Unbounded, 1),
    };
    let store = app.store();
    let mut data: Vec<&Contact> = store
        .contact_order
        .range((after, Bound::Unbounded))
        .filter_map(|(_, id)| store.contacts.get(id))
        .filter(|c| !c.archived)
        .take(per_page + 1)
        .collect();
    let more = data.len() > per_page;
    data.truncate(per_page);
    let next = match (more, data.last()) {
        (true, Some(last)) => Some(paging::encode(last.seq, page as u64)),
        _ => None,
    };
    let total = store.contacts.len() - store.archived_count;
    let views: Vec<_> = data
        .iter()
        .map(|c| render::contact(c, version.v2_16))
        .collect();
    Ok(render::ok(&json!({
        "type": "list",
        "data": views,
        "total_count": total,
        "pages": render::pages(page, per_page, total, next),
    })))
}

/// Type of a searchable contact field.
pub fn field_type(store: &Store, field: &str) -> Option<FieldType> {
    if let Some(name) = field.strip_prefix("custom_attributes.") {
        let attr = store
            .attribute(Model::Contact, name)
            .filter(|a| !a.archived)?;
        return Some(match read_type(&attr.data_type) {
            "integer" => FieldType::Integer,
            "float" => FieldType::Float,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            _ => FieldType::String,
        });
    }
    Some(match field {
        "id" | "role" | "name" | "avatar" | "phone" | "external_id" | "os" | "location.country"
        | "location.region" | "location.city" | "formatted_phone" => FieldType::String,
        "email" | "email_domain" => FieldType::StringCi,
        "owner_id" => FieldType::Integer,
        "created_at" | "updated_at" | "signed_up_at" | "last_seen_at" => FieldType::Date,
        "unsubscribed_from_emails" | "marked_email_as_spam" | "has_hard_bounced" => {
            FieldType::Boolean
        }
        "tag_id" | "segment_id" => FieldType::Tag,
        _ => return None,
    })
}

fn text(v: &Option<String>) -> Scalar {
    v.as_ref().map_or(Scalar::Null, |s| Scalar::Str(s.clone()))
}

fn int(v: Option<i64>) -> Scalar {
    v.map_or(Scalar::Null, Scalar::Int)
}

/// Current value of a searchable field of `c`.
pub fn field_value(c: &Contact, field: &str) -> Scalar {
    if let Some(name) = field.strip_prefix("custom_attributes.") {
        return match c.custom_attributes.get(name) {
            Some(Value::String(s)) => Scalar::Str(s.clone()),
            Some(Value::Bool(b)) => Scalar::Bool(*b),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => n.as_f64().map_or(Scalar::Null, Scalar::Float),
            },
            _ => Scalar::Null,
        };
    }
    match field {
        "id" => Scalar::Str(c.id.clone()),
        "role" => Scalar::Str(c.role.as_str().to_string()),
        "name" => text(&c.name),
        "avatar" => text(&c.avatar),
        "phone" | "formatted_phone" => text(&c.phone),
        "external_id" => text(&c.external_id),
        "email" => text(&c.email),
        "email_domain" => text(&c.email.as_deref().and_then(render::email_domain)),
        "owner_id" => int(c.owner_id),
        "created_at" => Scalar::Int(c.created_at),
        "updated_at" => Scalar::Int(c.updated_at),
        "signed_up_at" => int(c.signed_up_at),
        "last_seen_at" => int(c.last_seen_at),
        "unsubscribed_from_emails" => Scalar::Bool(c.unsubscribed_from_emails),
        "marked_email_as_spam" | "has_hard_bounced" => Scalar::Bool(false),
        "tag_id" => Scalar::Set(c.tags.iter().map(|t| t.id.clone()).collect()),
        _ => Scalar::Null,
    }
}

fn sort_key_cmp(a: &Scalar, b: &Scalar) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Scalar::Null, Scalar::Null) => Equal,
        (Scalar::Null, _) => Greater,
        (_, Scalar::Null) => Less,
        (Scalar::Str(x), Scalar::Str(y)) => x.cmp(y),
        (Scalar::Bool(x), Scalar::Bool(y)) => x.cmp(y),
        (Scalar::Int(x), Scalar::Int(y)) => x.cmp(y),
        (x, y) => {
            let n = |s: &Scalar| match s {
                Scalar::Int(i) => *i as f64,
                Scalar::Float(f) => *f,
                _ => 0.0,
            };
            n(x).partial_cmp(&n(y)).unwrap_or(Equal)
        }
    }
}

/// `POST /contacts/search` `{query, sort?, pagination?}`
pub async fn search(State(app): State<Arc<App>>, version: ApiVersion, body: Bytes) -> ApiResult {
    let body = input::parse_object(&body)?;
    let query = body
        .get("query")
        .ok_or_else(|| ApiError::ParameterMissing("query is a required parameter".into()))?;
    let (sort_field, descending) = match body.get("sort") {
        None | Some(Value::Null) => (None, false),
        Some(sort) => {
            let order = sort
                .get("order")
                .and_then(Value::as_str)
                .unwrap_or("ascending");
            let descending = match order {
                "ascending" => false,
                "descending" => true,
                other => return Err(ApiError::InvalidSortOrder(other.to_string())),
            };
            let field = sort
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("sort.field must be a string"))?;
            (Some(field.to_string()), descending)
        }
    };
    let pagination = body.get("pagination").cloned().unwrap_or(Value::Null);
    let per_page = match pagination.get("per_page") {
        None | Some(Value::Null) => paging::DEFAULT_PER_PAGE,
        Some(v) => paging::per_page(
            Some(
                v.as_i64()
                    .ok_or_else(|| ApiError::invalid("per_page must be an integer"))?,
            ),
            paging::DEFAULT_PER_PAGE,
        )?,
    };
    let offset = match pagination.get("starting_after").and_then(Value::as_str) {
        Some(cursor) if !cursor.is_empty() => paging::decode(cursor)?.0 as usize,
        _ => 0,
    };

    let now = app.clock.now();
    let lag = app.opts.search_lag_secs as i64;
    let store = app.store();
    let types = |f: &str| field_type(&store, f);
    let parsed = search::parse(query, &types).map_err(ApiError::invalid)?;
    if let Some(f) = &sort_field {
        if types(f).is_none() {
            return Err(ApiError::invalid(format!("'{f}' is not a sortable field")));
        }
    }
    let mut hits: Vec<&Contact> = store
        .contact_order
        .values()
        .filter_map(|id| store.contacts.get(id))
        .filter(|c| !c.archived && now - c.created_at >= lag)
        .filter(|c| search::matches(&parsed, &|f| field_value(c, f)))
        .collect();
    if let Some(f) = &sort_field {
        hits.sort_by(|a, b| {
            let ord = sort_key_cmp(&field_value(a, f), &field_value(b, f));
            if descending {
                ord.reverse()
            } else {
                ord
            }
        });
    }
    let total = hits.len();
    let page_items: Vec<_> = hits
        .iter()
        .skip(offset)
        .take(per_page)
        .map(|c| render::contact(c, version.v2_16))
        .collect();
    let end = offset + page_items.len();
    let next = (end < total).then(|| paging::encode(end as u64, 0));
    Ok(render::ok(&json!({
        "type": "list",
        "data": page_items,
        "total_count": total,
        "pages": render::pages(offset / per_page + 1, per_page, total, next),
    })))
}

/// `GET /me`: the admin and its workspace.
pub async fn me() -> ApiResult {
    Ok(render::ok(&json!({
        "type": "admin",
        "id": ADMIN_ID_NUM.to_string(),
        "email": "admin@backflow.test",
        "name": "Emulator Admin",
        "email_verified": true,
        "app": {
            "type": "app",
            "id_code": crate::state::WORKSPACE_ID,
            "name": "backflow emulator",
            "created_at": 1_700_000_000,
            "secure": false,
            "identity_verification": false,
            "timezone": "Etc/UTC",
            "region": "US",
        },
        "avatar": {"type": "avatar", "image_url": null},
        "has_inbox_seat": true,
    })))
}
