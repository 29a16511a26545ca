//! Custom object instances (`/custom_object_instances/{type}`), for the types
//! declared with `--custom-object-type` (see `custom_object_types`).
//!
//! - `POST /custom_object_instances/{type}` creates or updates by
//!   `external_id` (required here: `400 parameter_missing`, chosen); an update
//!   keeps the instance's `id` and `created_at`, merges `custom_attributes` per
//!   key (`null` removes one) and sets `external_created_at` /
//!   `external_updated_at` when sent;
//! - an unknown type is `404 not_found` "Custom object type \`X\` not found" (the
//!   spec's `TypeNotFound`) on every route; an unknown instance `404 not_found`
//!   "Custom object instance not found" (`ObjectNotFound`);
//! - an attribute the type does not have, or a value of the wrong type, is
//!   `400 parameter_invalid` naming the attribute, and nothing is written
//!   (chosen: the spec documents no error for it);
//! - `GET /custom_object_instances/{type}?external_id=` is one instance;
//!   without `external_id` it lists the type's instances, newest first, by
//!   `page`/`per_page` (the 2.16 `listCustomObjectInstances`; associations are
//!   not emulated, so `references_contact_id` lists nothing);
//! - `GET /custom_object_instances/{type}/{id}` takes the Intercom id or the
//!   `external_id`; `DELETE /custom_object_instances/{type}/{id}` only the
//!   Intercom id, `DELETE /custom_object_instances/{type}?external_id=` the
//!   external one; both answer `{id, object: <type>, deleted: true}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::attributes::{apply_values, check_value};
use crate::custom_object_types::CustomObjectTypeSpec;
use crate::errors::{ApiError, ApiResult};
use crate::input::{self, numeric_id, Patch};
use crate::paging;
use crate::render;
use crate::state::App;
use crate::UnknownAttributes;

/// The first instance id (numeric strings, a range of their own).
pub const FIRST_INSTANCE_ID: u64 = 16_032_025;

/// One custom object instance.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub external_id: String,
    pub external_created_at: Option<i64>,
    pub external_updated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub custom_attributes: Map<String, Value>,
}

/// A type's instances, by id (creation order) and by `external_id`.
#[derive(Debug, Default)]
struct Instances {
    by_id: BTreeMap<u64, Instance>,
    by_external_id: HashMap<String, u64>,
}

/// The declared types, their instances and the deleted instances.
#[derive(Debug, Default)]
pub struct CustomObjects {
    pub types: Vec<CustomObjectTypeSpec>,
    instances: HashMap<String, Instances>,
    /// (type, instance, deleted_at), for the dump.
    pub deleted: Vec<(String, Instance, i64)>,
    next_id: u64,
}

/// The fields of a create-or-update body.
#[derive(Debug)]
pub struct InstanceInput {
    pub external_id: String,
    pub external_created_at: Patch<i64>,
    pub external_updated_at: Patch<i64>,
    pub custom_attributes: Option<Map<String, Value>>,
}

/// Parse a body (`external_id` required, timestamps as integers).
pub fn parse_input(obj: &Map<String, Value>) -> ApiResult<InstanceInput> {
    let external_id = match input::string(obj, "external_id")? {
        Some(Some(x)) if !x.is_empty() => x,
        _ => {
            return Err(ApiError::ParameterMissing(
                "external_id is a required parameter".into(),
            ))
        }
    };
    Ok(InstanceInput {
        external_id,
        external_created_at: input::integer(obj, "external_created_at")?,
        external_updated_at: input::integer(obj, "external_updated_at")?,
        custom_attributes: input::object(obj, "custom_attributes")?,
    })
}

/// Check custom attribute values against the type; returns the writes
/// (`Value::Null` = remove).
fn check(
    kind: &CustomObjectTypeSpec,
    values: Map<String, Value>,
    policy: UnknownAttributes,
) -> ApiResult<Vec<(String, Value)>> {
    let mut writes = Vec::with_capacity(values.len());
    for (name, value) in values {
        let Some(ty) = kind.attribute(&name) else {
            match policy {
                UnknownAttributes::Error => {
                    return Err(ApiError::invalid(format!(
                        "Custom attribute '{name}' does not exist on custom object type '{}'",
                        kind.name
                    )))
                }
                UnknownAttributes::Drop => continue,
            }
        };
        check_value(&name, ty.as_str(), &value)?;
        writes.push((name, value));
    }
    Ok(writes)
}

fn set<T>(field: &mut Option<T>, patch: Patch<T>) {
    if let Some(v) = patch {
        *field = v;
    }
}

impl CustomObjects {
    /// The declared types (a later duplicate name is dropped).
    pub fn new(types: &[CustomObjectTypeSpec]) -> CustomObjects {
        let mut declared: Vec<CustomObjectTypeSpec> = Vec::new();
        for t in types {
            if !declared.iter().any(|d| d.name == t.name) {
                declared.push(t.clone());
            }
        }
        CustomObjects {
            types: declared,
            ..CustomObjects::default()
        }
    }

    /// The type named `name`, or the spec's `TypeNotFound`.
    pub fn kind(&self, name: &str) -> ApiResult<&CustomObjectTypeSpec> {
        self.types
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ApiError::CustomObjectTypeNotFound(name.to_string()))
    }

    fn of(&self, name: &str) -> ApiResult<Option<&Instances>> {
        self.kind(name)?;
        Ok(self.instances.get(name))
    }

    /// Create or update the instance of `type_name` with this `external_id`.
    pub fn upsert(
        &mut self,
        type_name: &str,
        input: InstanceInput,
        policy: UnknownAttributes,
        now: i64,
    ) -> ApiResult<&Instance> {
        let writes = match input.custom_attributes {
            Some(values) => check(self.kind(type_name)?, values, policy)?,
            None => {
                self.kind(type_name)?;
                Vec::new()
            }
        };
        let next = FIRST_INSTANCE_ID + self.next_id;
        let set_of = self.instances.entry(type_name.to_string()).or_default();
        let key = match set_of.by_external_id.get(&input.external_id) {
            Some(key) => *key,
            None => {
                self.next_id += 1;
                set_of
                    .by_external_id
                    .insert(input.external_id.clone(), next);
                set_of.by_id.insert(
                    next,
                    Instance {
                        id: next.to_string(),
                        external_id: input.external_id,
                        external_created_at: None,
                        external_updated_at: None,
                        created_at: now,
                        updated_at: now,
                        custom_attributes: Map::new(),
                    },
                );
                next
            }
        };
        let instance = set_of
            .by_id
            .get_mut(&key)
            .ok_or(ApiError::CustomObjectNotFound)?;
        set(&mut instance.external_created_at, input.external_created_at);
        set(&mut instance.external_updated_at, input.external_updated_at);
        apply_values(&mut instance.custom_attributes, writes);
        instance.updated_at = now;
        Ok(instance)
    }

    /// The instance with this `external_id`.
    pub fn by_external_id(&self, type_name: &str, external_id: &str) -> ApiResult<&Instance> {
        let set_of = self.of(type_name)?.ok_or(ApiError::CustomObjectNotFound)?;
        set_of
            .by_external_id
            .get(external_id)
            .and_then(|key| set_of.by_id.get(key))
            .ok_or(ApiError::CustomObjectNotFound)
    }

    /// The instance with this Intercom id.
    pub fn by_id(&self, type_name: &str, id: &str) -> ApiResult<&Instance> {
        let set_of = self.of(type_name)?.ok_or(ApiError::CustomObjectNotFound)?;
        numeric_id(id)
            .and_then(|key| set_of.by_id.get(&key))
            .ok_or(ApiError::CustomObjectNotFound)
    }

    /// The type's instances, newest first.
    pub fn list(&self, type_name: &str) -> ApiResult<Vec<&Instance>> {
        Ok(self
            .of(type_name)?
            .map(|s| s.by_id.values().rev().collect())
            .unwrap_or_default())
    }

    /// Delete the instance with this Intercom id.
    pub fn delete(&mut self, type_name: &str, id: &str, now: i64) -> ApiResult<Instance> {
        self.by_id(type_name, id)?;
        let key = numeric_id(id).ok_or(ApiError::CustomObjectNotFound)?;
        let set_of = self
            .instances
            .get_mut(type_name)
            .ok_or(ApiError::CustomObjectNotFound)?;
        let instance = set_of
            .by_id
            .remove(&key)
            .ok_or(ApiError::CustomObjectNotFound)?;
        set_of.by_external_id.remove(&instance.external_id);
        self.deleted
            .push((type_name.to_string(), instance.clone(), now));
        Ok(instance)
    }

    /// Every live instance with its type, in creation order (for the dump).
    pub fn all(&self) -> Vec<(&str, &Instance)> {
        let mut all: Vec<(&str, &Instance)> = self
            .instances
            .iter()
            .flat_map(|(t, s)| s.by_id.values().map(move |i| (t.as_str(), i)))
            .collect();
        all.sort_by_key(|(_, i)| numeric_id(&i.id));
        all
    }
}

/// An instance as the spec's `custom_object_instance` describes it.
pub fn render_instance(type_name: &str, i: &Instance) -> Value {
    json!({
        "id": i.id,
        "type": type_name,
        "custom_attributes": i.custom_attributes,
        "external_id": i.external_id,
        "external_created_at": i.external_created_at,
        "external_updated_at": i.external_updated_at,
        "created_at": i.created_at,
        "updated_at": i.updated_at,
    })
}

fn deleted(type_name: &str, i: &Instance) -> Value {
    json!({"id": i.id, "object": type_name, "deleted": true})
}

/// `POST /custom_object_instances/{type}`
pub async fn upsert(
    State(app): State<Arc<App>>,
    Path(type_name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let now = app.clock.now();
    let mut store = app.store();
    // An unknown type is refused before the body is judged.
    store.custom_objects.kind(&type_name)?;
    let parsed = parse_input(&obj)?;
    let policy = app.opts.unknown_attributes;
    let instance = store
        .custom_objects
        .upsert(&type_name, parsed, policy, now)?;
    Ok(render::ok(&render_instance(&type_name, instance)))
}

/// `GET /custom_object_instances/{type}?external_id=` (one instance), or the
/// type's instances without `external_id`.
pub async fn find_or_list(
    State(app): State<Arc<App>>,
    Path(type_name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let store = app.store();
    let objects = &store.custom_objects;
    if let Some(external_id) = q.get("external_id") {
        let instance = objects.by_external_id(&type_name, external_id)?;
        return Ok(render::ok(&render_instance(&type_name, instance)));
    }
    let mut all = objects.list(&type_name)?;
    if q.contains_key("references_contact_id") || q.contains_key("references_conversation_id") {
        all.clear();
    }
    let per_page = paging::per_page_param(q.get("per_page"), paging::DEFAULT_PER_PAGE)?;
    let page = paging::page_param(q.get("page"))?;
    let total = all.len();
    let total_pages = total.div_ceil(per_page);
    let data: Vec<Value> = all
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|i| render_instance(&type_name, i))
        .collect();
    let path = format!("/custom_object_instances/{type_name}");
    let next = (page < total_pages).then(|| paging::page_url(&headers, &path, page + 1, per_page));
    Ok(render::ok(&json!({
        "type": "list",
        "pages": {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages, "next": next},
        "total_count": total,
        "data": data,
    })))
}

/// `GET /custom_object_instances/{type}/{id}`: the Intercom id or the `external_id`.
pub async fn get(
    State(app): State<Arc<App>>,
    Path((type_name, id)): Path<(String, String)>,
) -> ApiResult {
    let store = app.store();
    let objects = &store.custom_objects;
    let instance = match objects.by_id(&type_name, &id) {
        Err(ApiError::CustomObjectNotFound) => objects.by_external_id(&type_name, &id)?,
        other => other?,
    };
    Ok(render::ok(&render_instance(&type_name, instance)))
}

/// `DELETE /custom_object_instances/{type}?external_id=`
pub async fn delete_by_external_id(
    State(app): State<Arc<App>>,
    Path(type_name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let now = app.clock.now();
    let mut store = app.store();
    store.custom_objects.kind(&type_name)?;
    let external_id = q
        .get("external_id")
        .filter(|x| !x.is_empty())
        .ok_or_else(|| ApiError::ParameterMissing("external_id is a required parameter".into()))?;
    let id = store
        .custom_objects
        .by_external_id(&type_name, external_id)?
        .id
        .clone();
    let instance = store.custom_objects.delete(&type_name, &id, now)?;
    Ok(render::ok(&deleted(&type_name, &instance)))
}

/// `DELETE /custom_object_instances/{type}/{id}`: the Intercom id only.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path((type_name, id)): Path<(String, String)>,
) -> ApiResult {
    let now = app.clock.now();
    let instance = app.store().custom_objects.delete(&type_name, &id, now)?;
    Ok(render::ok(&deleted(&type_name, &instance)))
}

/// The `custom_object_types` and `custom_object_instances` sections of
/// `GET /_emulator/dump` (deleted instances included, with `deleted_at`).
pub fn dump(objects: &CustomObjects) -> (Vec<Value>, Vec<Value>) {
    let types = objects
        .types
        .iter()
        .map(|t| {
            let attributes: Map<String, Value> = t
                .attributes
                .iter()
                .map(|(n, ty)| (n.clone(), json!(ty.as_str())))
                .collect();
            json!({"name": t.name, "attributes": attributes})
        })
        .collect();
    let mut instances: Vec<(Option<u64>, Value)> = objects
        .all()
        .into_iter()
        .map(|(t, i)| {
            let mut v = render_instance(t, i);
            v["deleted"] = json!(false);
            v["deleted_at"] = Value::Null;
            (numeric_id(&i.id), v)
        })
        .chain(objects.deleted.iter().map(|(t, i, at)| {
            let mut v = render_instance(t, i);
            v["deleted"] = json!(true);
            v["deleted_at"] = json!(at);
            (numeric_id(&i.id), v)
        }))
        .collect();
    instances.sort_by_key(|(key, _)| *key);
    (types, instances.into_iter().map(|(_, v)| v).collect())
}
