//! Data attributes (`/data_attributes`) and the checks every write of
//! `custom_attributes` goes through.
//!
//! Rules (Intercom's where known, see the README for the chosen ones):
//! - names may hold letters and digits (any script), currency symbols other
//!   than `$`, hyphens, spaces and underscores; `.` and `$` are refused (they
//!   would break `custom_attributes.<name>` paths);
//! - names are unique across the contact *and* company models, standard
//!   attributes included, compared case-insensitively, archived ones included;
//! - at most 250 custom attributes that are not archived;
//! - values must match the data type; strings are at most 255 characters;
//!   an unknown or archived attribute is refused ("Custom attribute 'x' does not
//!   exist") or silently dropped, per `Options::unknown_attributes`;
//! - `model=conversation` lists nothing before 2.16 and is `422` from 2.16 on.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::errors::{ApiError, ApiResult};
use crate::input::{self, ApiVersion};
use crate::state::{App, DataAttribute, Model, Store, ADMIN_ID};
use crate::UnknownAttributes;

/// Custom data attributes a workspace may hold (archived ones do not count).
pub const MAX_CUSTOM_ATTRIBUTES: usize = 250;
/// Longest string value a custom attribute takes.
pub const MAX_STRING_CHARS: usize = 255;

const DATA_TYPES: &[&str] = &[
    "string", "integer", "float", "boolean", "date", "datetime", "options",
];

/// (name, full_name, label, data_type, api_writable) of standard attributes.
type Standard = (&'static str, &'static str, &'static str, &'static str, bool);

const CONTACT_STANDARD: &[Standard] = &[
    ("id", "id", "ID", "string", false),
    ("role", "role", "Role", "string", true),
    ("external_id", "external_id", "User ID", "string", true),
    ("name", "name", "Name", "string", true),
    ("email", "email", "Email", "string", true),
    (
        "email_domain",
        "email_domain",
        "Email domain",
        "string",
        false,
    ),
    ("phone", "phone", "Phone", "string", true),
    ("avatar", "avatar", "Avatar", "string", true),
    ("owner_id", "owner_id", "Owner", "integer", true),
    (
        "unsubscribed_from_emails",
        "unsubscribed_from_emails",
        "Unsubscribed from emails",
        "boolean",
        true,
    ),
    ("created_at", "created_at", "Created at", "date", false),
    ("updated_at", "updated_at", "Updated at", "date", false),
    ("signed_up_at", "signed_up_at", "Signed up", "date", true),
    ("last_seen_at", "last_seen_at", "Last seen", "date", true),
];

const COMPANY_STANDARD: &[Standard] = &[
    ("name", "name", "Company name", "string", true),
    ("company_id", "company_id", "Company ID", "string", false),
    (
        "last_request_at",
        "last_request_at",
        "Company last seen",
        "date",
        false,
    ),
    (
        "remote_created_at",
        "remote_created_at",
        "Company created at",
        "date",
        true,
    ),
    ("user_count", "user_count", "People", "integer", false),
    (
        "session_count",
        "session_count",
        "Company web sessions",
        "integer",
        false,
    ),
    ("name", "plan.name", "Plan", "string", false),
    (
        "monthly_spend",
        "monthly_spend",
        "Monthly Spend",
        "float",
        true,
    ),
    ("size", "size", "Company size", "integer", true),
    ("industry", "industry", "Company industry", "string", true),
    ("website", "website", "Company website", "string", true),
    ("id", "id", "ID", "string", false),
    ("created_at", "created_at", "Created at", "date", false),
    ("updated_at", "updated_at", "Updated at", "date", false),
    ("id", "plan.id", "Plan ID", "string", false),
    ("app_id", "app_id", "App ID", "string", false),
];

fn standard(model: Model) -> &'static [Standard] {
    match model {
        Model::Contact => CONTACT_STANDARD,
        Model::Company => COMPANY_STANDARD,
    }
}

/// Whether Intercom would take `name` as an attribute name (see module docs).
pub fn valid_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ') || is_currency_symbol(c))
}

/// Unicode currency symbols (category Sc) except `$`.
fn is_currency_symbol(c: char) -> bool {
    matches!(c,
        '\u{a2}'..='\u{a5}' | '\u{58f}' | '\u{60b}' | '\u{7fe}' | '\u{7ff}' | '\u{9f2}' | '\u{9f3}'
        | '\u{9fb}' | '\u{af1}' | '\u{bf9}' | '\u{e3f}' | '\u{17db}' | '\u{20a0}'..='\u{20c0}'
        | '\u{a838}' | '\u{fdfc}' | '\u{fe69}' | '\u{ff04}' | '\u{ffe0}' | '\u{ffe1}' | '\u{ffe5}' | '\u{ffe6}')
}

/// The data type searches and value checks use (`datetime` reads as `date`,
/// list attributes as `string`).
pub fn read_type(data_type: &str) -> &str {
    match data_type {
        "datetime" => "date",
        "options" => "string",
        other => other,
    }
}

/// Check `values` against the custom attributes of `model`. Returns the writes
/// to apply: `(name, value)` with `Value::Null` meaning "remove".
pub fn check_values(
    store: &Store,
    model: Model,
    values: Map<String, Value>,
    policy: UnknownAttributes,
) -> ApiResult<Vec<(String, Value)>> {
    let mut writes = Vec::with_capacity(values.len());
    for (name, value) in values {
        let attr = store.attribute(model, &name).filter(|a| !a.archived);
        let Some(attr) = attr else {
            match policy {
                UnknownAttributes::Error => {
                    return Err(ApiError::invalid(format!(
                        "Custom attribute '{name}' does not exist"
                    )))
                }
                UnknownAttributes::Drop => continue,
            }
        };
        check_value(&name, read_type(&attr.data_type), &value)?;
        writes.push((name, value));
    }
    Ok(writes)
}

/// Apply writes from [`check_values`] to an attribute map.
pub fn apply_values(target: &mut Map<String, Value>, writes: Vec<(String, Value)>) {
    for (name, value) in writes {
        if value.is_null() {
            target.remove(&name);
        } else {
            target.insert(name, value);
        }
    }
}

/// One value against one data type.
pub fn check_value(name: &str, data_type: &str, value: &Value) -> ApiResult<()> {
    let ok = match (data_type, value) {
        (_, Value::Null) => true,
        ("string", Value::String(s)) => {
            if s.chars().count() > MAX_STRING_CHARS {
                return Err(ApiError::invalid(format!(
                    "Custom attribute '{name}' is too long: strings are limited to {MAX_STRING_CHARS} characters"
                )));
            }
            true
        }
        ("integer" | "date", Value::Number(n)) => n.is_i64(),
        ("float", Value::Number(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Custom attribute '{name}' expects a value of type {data_type}, got {value}"
        )))
    }
}

fn render(a: &DataAttribute) -> Value {
    let mut v = json!({
        "id": a.id,
        "type": "data_attribute",
        "name": a.name,
        "full_name": format!("custom_attributes.{}", a.name),
        "label": a.name,
        "data_type": read_type(&a.data_type),
        "api_writable": true,
        "ui_writable": false,
        "messenger_writable": a.messenger_writable,
        "custom": true,
        "archived": a.archived,
        "admin_id": ADMIN_ID,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "model": a.model.as_str(),
    });
    if let Some(d) = &a.description {
        v["description"] = json!(d);
    }
    if !a.options.is_empty() {
        v["options"] = json!(a.options);
    }
    v
}

fn render_standard(model: Model, s: &Standard) -> Value {
    let (name, full_name, label, data_type, api_writable) = *s;
    json!({
        "type": "data_attribute", "name": name, "full_name": full_name, "label": label,
        "description": label, "data_type": data_type, "api_writable": api_writable,
        "ui_writable": false, "messenger_writable": true, "custom": false, "archived": false,
        "model": model.as_str(),
    })
}

/// All data attributes, for the dump.
pub fn dump(store: &Store) -> Vec<Value> {
    store.attributes.iter().map(render).collect()
}

fn parse_model(value: Option<&str>) -> ApiResult<Option<Model>> {
    match value {
        None => Ok(None),
        Some("contact") => Ok(Some(Model::Contact)),
        Some("company") => Ok(Some(Model::Company)),
        Some(_) => Err(ApiError::invalid(
            "The Data Attribute model field must be either contact or company",
        )),
    }
}

/// `GET /data_attributes?model=contact|company[&include_archived=true]`;
/// `model=conversation` is an empty list before 2.16 and `422` from 2.16 on.
pub async fn list(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let include_archived = q.get("include_archived").is_some_and(|v| v == "true");
    let models = match q.get("model").map(String::as_str) {
        // 2.16 moved conversation attributes to `GET /conversations/attributes`;
        // before, the emulator (which has none) answers an empty list.
        Some("conversation") if version.v2_16 => return Err(ApiError::ConversationModelGone),
        Some("conversation") => vec![],
        other => match parse_model(other)? {
            Some(m) => vec![m],
            None => vec![Model::Contact, Model::Company],
        },
    };
    let store = app.store();
    let mut data = Vec::new();
    for model in models {
        data.extend(standard(model).iter().map(|s| render_standard(model, s)));
        data.extend(
            store
                .attributes
                .iter()
                .filter(|a| a.model == model && (include_archived || !a.archived))
                .map(render),
        );
    }
    Ok(Json(json!({"type": "list", "data": data})).into_response())
}

/// Names already taken in either model, with the model that holds them.
fn taken(store: &Store, name: &str) -> Option<(String, Model)> {
    let lower = name.to_lowercase();
    for model in [Model::Contact, Model::Company] {
        if let Some(s) = standard(model).iter().find(|s| s.0.to_lowercase() == lower) {
            return Some((s.0.to_string(), model));
        }
    }
    store
        .attributes
        .iter()
        .find(|a| a.name.to_lowercase() == lower)
        .map(|a| (a.name.clone(), a.model))
}

fn active_custom(store: &Store) -> usize {
    store.attributes.iter().filter(|a| !a.archived).count()
}

fn limit_error() -> ApiError {
    ApiError::invalid(format!(
        "You have reached the limit of {MAX_CUSTOM_ATTRIBUTES} custom data attributes. Archive attributes you no longer need to create new ones."
    ))
}

fn parse_options(body: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    let Some(raw) = body.get("options") else {
        return Ok(None);
    };
    let Value::Array(items) = raw else {
        return Err(ApiError::invalid("Options isn't an array"));
    };
    let mut options = Vec::with_capacity(items.len());
    for item in items {
        match item.get("value").and_then(Value::as_str) {
            Some(v) => options.push(v.to_string()),
            None => {
                return Err(ApiError::invalid(
                    "Each option must be an object with a string value",
                ))
            }
        }
    }
    if options.len() < 2 {
        return Err(ApiError::invalid(
            "A list attribute needs at least two options",
        ));
    }
    Ok(Some(options))
}

/// `POST /data_attributes`
pub async fn create(State(app): State<Arc<App>>, body: axum::body::Bytes) -> ApiResult {
    let body = input::parse_object(&body)?;
    let model = parse_model(body.get("model").and_then(Value::as_str))?.ok_or_else(|| {
        ApiError::invalid("The Data Attribute model field must be either contact or company")
    })?;
    let name = match body.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::ParameterMissing(
                "name is a required parameter".into(),
            ))
        }
    };
    if !valid_name(&name) {
        return Err(ApiError::invalid(
            "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens",
        ));
    }
    let data_type = body.get("data_type").and_then(Value::as_str).unwrap_or("");
    if !DATA_TYPES.contains(&data_type) {
        return Err(ApiError::invalid("Data Type isn't an option"));
    }
    let options = parse_options(&body)?;
    if data_type == "options" && options.is_none() {
        return Err(ApiError::invalid(
            "A list attribute needs at least two options",
        ));
    }
    let description = input::string(&body, "description")?.flatten();
    let messenger_writable = input::boolean(&body, "messenger_writable")?
        .flatten()
        .unwrap_or(false);
    let now = app.clock.now();
    let mut store = app.store();
    if let Some((existing, held_by)) = taken(&store, &name) {
        return Err(ApiError::invalid(format!(
            "You already have '{existing}' in your {} data. To save this as new {} data, use a different name.",
            held_by.data_noun(),
            model.data_noun()
        )));
    }
    if active_custom(&store) >= MAX_CUSTOM_ATTRIBUTES {
        return Err(limit_error());
    }
    let attr = DataAttribute {
        id: 1000 + store.attributes.len() as i64,
        model,
        name: name.clone(),
        data_type: data_type.to_string(),
        description,
        options: options.unwrap_or_default(),
        messenger_writable,
        archived: false,
        created_at: now,
        updated_at: now,
    };
    let rendered = render(&attr);
    let index = store.attributes.len();
    store.attributes.push(attr);
    store
        .attribute_index
        .entry(model)
        .or_default()
        .insert(name, index);
    Ok(Json(rendered).into_response())
}

/// `PUT /data_attributes/{id}`: archive / unarchive, description, options,
/// messenger_writable. The data type (and name) cannot change.
pub async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let body = input::parse_object(&body)?;
    let archived = input::boolean(&body, "archived")?.flatten();
    let description = input::string(&body, "description")?;
    let messenger_writable = input::boolean(&body, "messenger_writable")?.flatten();
    let options = parse_options(&body)?;
    let now = app.clock.now();
    let mut store = app.store();
    let index = id
        .parse::<i64>()
        .ok()
        .and_then(|id| store.attributes.iter().position(|a| a.id == id))
        .ok_or(ApiError::FieldNotFound)?;
    let current = &store.attributes[index];
    if let Some(t) = body.get("data_type") {
        if t.as_str() != Some(current.data_type.as_str()) {
            return Err(ApiError::invalid(
                "The data type of an attribute can't be changed through the API",
            ));
        }
    }
    if let Some(n) = body.get("name") {
        if n.as_str() != Some(current.name.as_str()) {
            return Err(ApiError::invalid(
                "The name of an attribute can't be changed",
            ));
        }
    }
    if archived == Some(false) && current.archived && active_custom(&store) >= MAX_CUSTOM_ATTRIBUTES
    {
        return Err(limit_error());
    }
    let attr = &mut store.attributes[index];
    if let Some(a) = archived {
        attr.archived = a;
    }
    if let Some(d) = description {
        attr.description = d;
    }
    if let Some(m) = messenger_writable {
        attr.messenger_writable = m;
    }
    if let Some(o) = options {
        attr.options = o;
    }
    attr.updated_at = now;
    Ok(Json(render(attr)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names() {
        for ok in [
            "paid_subscriber",
            "Mithril Shirt",
            "plan-tier",
            "price€",
            "größe",
            "x1",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "  ", "a.b", "cost$", "a/b", "emoji😀", "q?"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn values_must_match_the_type() {
        assert!(check_value("n", "integer", &json!(3)).is_ok());
        assert!(check_value("n", "integer", &json!(3.5)).is_err());
        assert!(check_value("n", "integer", &json!("3")).is_err());
        assert!(check_value("f", "float", &json!(3)).is_ok());
        assert!(check_value("b", "boolean", &json!("true")).is_err());
        assert!(check_value("d", "date", &json!(1_700_000_000)).is_ok());
        assert!(check_value("s", "string", &json!({"a": 1})).is_err());
        assert!(check_value("s", "string", &json!(null)).is_ok());
        assert!(check_value("s", "string", &json!("x".repeat(255))).is_ok());
        let long = check_value("s", "string", &json!("x".repeat(256))).unwrap_err();
        assert!(long.to_string().contains("'s'"));
        let e = check_value("plan", "integer", &json!("pro")).unwrap_err();
        assert!(e.to_string().contains("'plan'") && e.to_string().contains("integer"));
    }
}
