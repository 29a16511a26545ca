//! Subscription types and contacts' explicit preferences for them.
//!
//! A subscription type is declared at start (`--subscription-type NAME` or
//! `NAME:opt_in`), as a workspace admin would in Intercom's settings; the API
//! cannot create one. Its `consent_type` says what a contact gets by default:
//! `opt_out` (the default kind) sends to everyone until they opt out, `opt_in`
//! sends only to contacts who opted in. So, as the spec describes it:
//!
//! - `POST /contacts/{id}/subscriptions` `{id, consent_type}` *attaches* the
//!   type: on an `opt_out` type that opts the contact out, on an `opt_in` type
//!   it opts the contact in. `consent_type` must be the type's own (otherwise
//!   `400 parameter_invalid`, chosen: Intercom documents no other meaning for it);
//! - `DELETE /contacts/{id}/subscriptions/{type_id}` detaches it: the contact is
//!   back to the type's default (opted in again for `opt_out`, out for `opt_in`);
//!   a type that is not attached is `404 not_found` "Resource Not Found" (chosen);
//! - `GET /contacts/{id}/subscriptions` lists only the attached types (the
//!   contact's explicit preferences), in attach order;
//! - an unknown contact is `404 not_found` "User Not Found" (checked first), an
//!   unknown type `404 not_found` "Resource Not Found".
//!
//! The contact's `opted_in_subscription_types` / `opted_out_subscription_types`
//! show the attached `opt_in` and `opt_out` types.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{json, Value};

use crate::errors::{ApiError, ApiResult};
use crate::input::{self, ApiVersion};
use crate::render;
use crate::state::{App, Store};
use crate::tags::required_id;

/// The first subscription type id (numeric strings, a range of their own).
pub const FIRST_SUBSCRIPTION_TYPE_ID: u64 = 37_846;

/// What a contact gets from a type before it states a preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Receives until it opts out (Intercom's default kind).
    OptOut,
    /// Receives only after it opts in.
    OptIn,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::OptOut => "opt_out",
            Consent::OptIn => "opt_in",
        }
    }

    fn parse(s: &str) -> Option<Consent> {
        match s {
            "opt_out" => Some(Consent::OptOut),
            "opt_in" => Some(Consent::OptIn),
            _ => None,
        }
    }
}

/// A subscription type as declared on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionTypeSpec {
    pub name: String,
    pub consent: Consent,
}

/// Parse `NAME`, `NAME:opt_out` or `NAME:opt_in` (the `--subscription-type` value).
pub fn parse_spec(value: &str) -> Result<SubscriptionTypeSpec, String> {
    let (name, consent) = match value.rsplit_once(':') {
        Some((name, suffix)) => match Consent::parse(suffix.trim()) {
            Some(consent) => (name, consent),
            None => (value, Consent::OptOut),
        },
        None => (value, Consent::OptOut),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err("a subscription type needs a name (NAME or NAME:opt_in)".into());
    }
    Ok(SubscriptionTypeSpec {
        name: name.to_string(),
        consent,
    })
}

/// A declared subscription type.
#[derive(Debug, Clone)]
pub struct SubscriptionType {
    pub id: String,
    pub name: String,
    pub consent: Consent,
}

/// A contact's explicit preference: the attached type and its consent type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub consent: Consent,
}

/// The types of `specs`, with ids; a later duplicate name (case-insensitively) is dropped.
pub fn declared(specs: &[SubscriptionTypeSpec]) -> Vec<SubscriptionType> {
    let mut out: Vec<SubscriptionType> = Vec::new();
    for spec in specs {
        if out.iter().any(|t| t.name.eq_ignore_ascii_case(&spec.name)) {
            continue;
        }
        out.push(SubscriptionType {
            id: (FIRST_SUBSCRIPTION_TYPE_ID + out.len() as u64).to_string(),
            name: spec.name.clone(),
            consent: spec.consent,
        });
    }
    out
}

/// A type as the spec's `subscription_type` schema describes it.
pub fn render_type(t: &SubscriptionType) -> Value {
    let translation = json!({"name": t.name, "description": "", "locale": "en"});
    json!({
        "type": "subscription",
        "id": t.id,
        "state": "live",
        "consent_type": t.consent.as_str(),
        "default_translation": translation,
        "translations": [translation],
        "content_types": ["email"],
    })
}

impl Store {
    /// The declared type with this id.
    pub fn subscription_type(&self, id: &str) -> Option<&SubscriptionType> {
        self.subscription_types.iter().find(|t| t.id == id)
    }
}

fn list_of(types: Vec<&SubscriptionType>) -> Value {
    let data: Vec<Value> = types.into_iter().map(render_type).collect();
    json!({"type": "list", "data": data})
}

/// `GET /subscription_types`
pub async fn list(State(app): State<Arc<App>>) -> ApiResult {
    let store = app.store();
    Ok(render::ok(&list_of(
        store.subscription_types.iter().collect(),
    )))
}

/// `GET /contacts/{id}/subscriptions`
pub async fn of_contact(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(contact_id): Path<String>,
) -> ApiResult {
    let store = app.store();
    let contact = store.live_contact(&contact_id, version)?;
    let types = contact
        .subscriptions
        .iter()
        .filter_map(|s| store.subscription_type(&s.id))
        .collect();
    Ok(render::ok(&list_of(types)))
}

/// `POST /contacts/{id}/subscriptions` `{id, consent_type}`
pub async fn attach(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let type_id = required_id(&obj, "id")?;
    let consent = match obj.get("consent_type") {
        None | Some(Value::Null) => {
            return Err(ApiError::ParameterMissing(
                "consent_type is a required parameter".into(),
            ))
        }
        Some(Value::String(s)) => Consent::parse(s)
            .ok_or_else(|| ApiError::invalid("consent_type must be opt_in or opt_out"))?,
        Some(_) => return Err(ApiError::invalid("consent_type must be opt_in or opt_out")),
    };
    let mut store = app.store();
    store.live_contact(&contact_id, version)?;
    let kind = store
        .subscription_type(&type_id)
        .cloned()
        .ok_or(ApiError::ResourceNotFound)?;
    if kind.consent != consent {
        return Err(ApiError::invalid(format!(
            "consent_type {} does not match subscription type '{}', which is {}",
            consent.as_str(),
            kind.name,
            kind.consent.as_str()
        )));
    }
    let contact = store
        .contacts
        .get_mut(&contact_id)
        .ok_or(ApiError::UserNotFound)?;
    if !contact.subscriptions.iter().any(|s| s.id == kind.id) {
        contact.subscriptions.push(Subscription {
            id: kind.id.clone(),
            consent: kind.consent,
        });
    }
    Ok(render::ok(&render_type(&kind)))
}

/// `DELETE /contacts/{id}/subscriptions/{subscription_id}`
pub async fn detach(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path((contact_id, type_id)): Path<(String, String)>,
) -> ApiResult {
    let mut store = app.store();
    let kind = store.subscription_type(&type_id).cloned();
    let Some(contact) = store.contacts.get_mut(&contact_id) else {
        return Err(store.missing_contact(&contact_id, version));
    };
    let kind = kind.ok_or(ApiError::ResourceNotFound)?;
    let before = contact.subscriptions.len();
    contact.subscriptions.retain(|s| s.id != kind.id);
    if contact.subscriptions.len() == before {
        return Err(ApiError::ResourceNotFound);
    }
    Ok(render::ok(&render_type(&kind)))
}

/// The `subscription_types` section of `GET /_emulator/dump`.
pub fn dump(store: &Store) -> Vec<Value> {
    store.subscription_types.iter().map(render_type).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_on_the_command_line() {
        let s = |v| parse_spec(v).unwrap();
        assert_eq!(s("Newsletters").consent, Consent::OptOut);
        assert_eq!(s("Newsletters:opt_in").consent, Consent::OptIn);
        assert_eq!(s("Newsletters:opt_in").name, "Newsletters");
        assert_eq!(
            s("Product: news").name,
            "Product: news",
            "a colon inside a name"
        );
        assert!(parse_spec("").is_err());
        assert!(parse_spec(":opt_in").is_err());
        let types = declared(&[s("A"), s("B:opt_in"), s("a")]);
        assert_eq!(types.len(), 2, "a duplicate name is dropped");
        assert_eq!(types[0].id, FIRST_SUBSCRIPTION_TYPE_ID.to_string());
        assert_eq!(types[1].consent, Consent::OptIn);
    }
}
