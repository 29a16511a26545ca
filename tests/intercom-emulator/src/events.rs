//! Data events (`POST /events`, `GET /events`).
//!
//! - `POST` answers `202` with an empty body; it needs `event_name`,
//!   `created_at` and one of `id` (any contact), `user_id` (a user's
//!   external_id) or `email` (a user), looked up in that order; an unknown
//!   contact is `404`;
//! - an event equal to a stored one on (contact, event name case-insensitively,
//!   `created_at`) is dropped, still with `202`;
//! - only the first 10 metadata keys, in the order sent, are kept (the body is
//!   parsed order-preservingly); nested values other than rich links
//!   `{url, value}` and money `{amount, currency}` are refused;
//! - at most 120 distinct event names per workspace;
//! - `GET` answers the spec's `data_event_summary` (`type: event.summary`):
//!   a contact's events of the last 90 days, newest first, or with
//!   `summary=true` the counts per event name (all time) `{name, first, last, count}`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::{ApiError, ApiResult};
use crate::render;
use crate::state::{email_key, App, Event, Store};

/// Metadata keys kept per event.
pub const MAX_METADATA_KEYS: usize = 10;
/// Distinct event names a workspace may use.
pub const MAX_EVENT_NAMES: usize = 120;
const LIST_WINDOW_SECS: i64 = 90 * 86_400;

/// A JSON object read with its keys in the order sent.
#[derive(Debug, Default)]
pub struct Ordered(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Serializes pairs as a JSON object in their order.
struct OrderedView<'a>(&'a [(String, Value)]);

impl Serialize for OrderedView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Deserialize)]
struct EventBody {
    event_name: Option<Value>,
    created_at: Option<Value>,
    user_id: Option<Value>,
    email: Option<Value>,
    id: Option<Value>,
    metadata: Option<Ordered>,
}

fn metadata_value_ok(v: &Value) -> bool {
    match v {
        Value::Object(o) => {
            let rich_link = o.len() == 2 && o.contains_key("url") && o.contains_key("value");
            let money = o.len() == 2
                && o.get("amount").is_some_and(Value::is_i64)
                && o.contains_key("currency");
            rich_link || money
        }
        Value::Array(_) => false,
        _ => true,
    }
}

impl Store {
    /// The contact an event or event list names, by id, then user_id, then email.
    fn event_contact(
        &self,
        id: Option<&str>,
        user_id: Option<&str>,
        email: Option<&str>,
    ) -> Option<String> {
        if let Some(id) = id {
            return self.contacts.contains_key(id).then(|| id.to_string());
        }
        if let Some(x) = user_id {
            return self.by_external_id.get(x).cloned();
        }
        email.and_then(|e| self.user_by_email.get(&email_key(e)).cloned())
    }

    /// Move `from`'s events to `into` (merge), dropping ones `into` already has.
    pub fn move_events(&mut self, from: &str, into: &str) {
        let mut keys = std::mem::take(&mut self.event_keys);
        self.events.retain_mut(|e| {
            if e.contact_id != from {
                return true;
            }
            let name = e.event_name.to_lowercase();
            keys.remove(&(from.to_string(), name.clone(), e.created_at));
            e.contact_id = into.to_string();
            keys.insert((into.to_string(), name, e.created_at))
        });
        self.event_keys = keys;
    }
}

fn text(v: &Option<Value>, key: &str) -> ApiResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!(
            "{key} must be a non-empty string"
        ))),
    }
}

/// `POST /events`
pub async fn create(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let body: EventBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "There was a problem in the JSON you submitted: {e}"
        ))
    })?;
    let event_name = text(&body.event_name, "event_name")?
        .ok_or_else(|| ApiError::ParameterMissing("event_name is a required parameter".into()))?;
    let created_at = match &body.created_at {
        None | Some(Value::Null) => {
            return Err(ApiError::ParameterMissing(
                "created_at is a required parameter".into(),
            ))
        }
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::invalid("created_at must be a Unix timestamp in seconds"))?,
    };
    let id = text(&body.id, "id")?;
    let user_id = text(&body.user_id, "user_id")?;
    let email = text(&body.email, "email")?;
    if id.is_none() && user_id.is_none() && email.is_none() {
        return Err(ApiError::ParameterMissing(
            "one of id, user_id or email is required".into(),
        ));
    }
    let mut metadata = body.metadata.unwrap_or_default().0;
    metadata.truncate(MAX_METADATA_KEYS);
    if let Some((k, _)) = metadata.iter().find(|(_, v)| !metadata_value_ok(v)) {
        return Err(ApiError::invalid(format!(
            "metadata '{k}' must be a string, a number, a rich link {{url, value}} or an amount {{amount, currency}}: nested JSON is not supported"
        )));
    }
    let mut store = app.store();
    let contact_id = store
        .event_contact(id.as_deref(), user_id.as_deref(), email.as_deref())
        .ok_or(ApiError::UserNotFound)?;
    let name_key = event_name.to_lowercase();
    if !store.event_names.contains(&name_key) {
        if store.event_names.len() >= MAX_EVENT_NAMES {
            return Err(ApiError::invalid(format!(
                "This workspace already has {MAX_EVENT_NAMES} event names; '{event_name}' was not stored"
            )));
        }
        store.event_names.insert(name_key.clone());
    }
    if store
        .event_keys
        .insert((contact_id.clone(), name_key, created_at))
    {
        let id = format!("{}", store.next_seq());
        store.events.push(Event {
            id,
            contact_id,
            event_name,
            created_at,
            metadata,
        });
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Serialize)]
struct EventView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    event_name: &'a str,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    intercom_user_id: &'a str,
    metadata: OrderedView<'a>,
}

fn view<'a>(store: &'a Store, e: &'a Event) -> EventView<'a> {
    let contact = store
        .contacts
        .get(&e.contact_id)
        .or_else(|| store.removed.get(&e.contact_id).map(|(c, _)| c));
    EventView {
        kind: "event",
        id: &e.id,
        event_name: &e.event_name,
        created_at: e.created_at,
        user_id: contact.and_then(|c| c.external_id.as_deref()),
        email: contact.and_then(|c| c.email.as_deref()),
        intercom_user_id: &e.contact_id,
        metadata: OrderedView(&e.metadata),
    }
}

/// Every stored event, for the dump.
pub fn dump(store: &Store) -> Vec<Value> {
    store
        .events
        .iter()
        .filter_map(|e| serde_json::to_value(view(store, e)).ok())
        .collect()
}

/// One `data_event_summary_item`: `{name, first, last, count}` of one event
/// name (compared case-insensitively, spelled as first stored).
#[derive(Serialize)]
struct SummaryItem {
    name: String,
    first: String,
    last: String,
    count: u64,
}

/// Unix seconds as the spec's example writes them: `2014-01-16T23:12:21.000+00:00`.
fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// Counts per event name of all of a contact's events (older than 90 days
/// included, as Intercom's summaries do), most recently sent first.
fn summaries(store: &Store, contact_id: &str) -> Vec<SummaryItem> {
    let mut by_name: Vec<(String, String, i64, i64, u64)> = Vec::new();
    for e in store.events.iter().filter(|e| e.contact_id == contact_id) {
        let key = e.event_name.to_lowercase();
        match by_name.iter_mut().find(|s| s.0 == key) {
            Some(s) => {
                s.2 = s.2.min(e.created_at);
                s.3 = s.3.max(e.created_at);
                s.4 += 1;
            }
            None => by_name.push((key, e.event_name.clone(), e.created_at, e.created_at, 1)),
        }
    }
    by_name.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
    by_name
        .into_iter()
        .map(|(_, name, first, last, count)| SummaryItem {
            name,
            first: iso(first),
            last: iso(last),
            count,
        })
        .collect()
}

/// `GET /events?type=user&user_id=|email=|intercom_user_id=[&summary=true]`
///
/// Both answers are the spec's `data_event_summary` (`type: event.summary`,
/// the contact's `email`, `intercom_user_id`, `user_id`): with `summary=true`
/// `events` holds `{name, first, last, count}` per event name; without it, the
/// individual events of the last 90 days, newest first, plus `pages: {}`.
pub async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    if q.get("type").map(String::as_str) != Some("user") {
        return Err(ApiError::invalid("type must be user"));
    }
    let get = |k: &str| q.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let (id, user_id, email) = (get("intercom_user_id"), get("user_id"), get("email"));
    if id.is_none() && user_id.is_none() && email.is_none() {
        return Err(ApiError::ParameterMissing(
            "one of intercom_user_id, user_id or email is required".into(),
        ));
    }
    let summary = get("summary").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let since = app.clock.now() - LIST_WINDOW_SECS;
    let store = app.store();
    let contact_id = store
        .event_contact(id, user_id, email)
        .ok_or(ApiError::UserNotFound)?;
    let mut body = serde_json::Map::new();
    body.insert("type".into(), "event.summary".into());
    // The schema types these as plain strings: absent ones are left out.
    if let Some(contact) = store.contacts.get(&contact_id) {
        if let Some(email) = &contact.email {
            body.insert("email".into(), email.as_str().into());
        }
        if let Some(external_id) = &contact.external_id {
            body.insert("user_id".into(), external_id.as_str().into());
        }
    }
    body.insert("intercom_user_id".into(), contact_id.as_str().into());
    if summary {
        body.insert("events".into(), json(summaries(&store, &contact_id))?);
    } else {
        let mut events: Vec<_> = store
            .events
            .iter()
            .filter(|e| e.contact_id == contact_id && e.created_at >= since)
            .map(|e| view(&store, e))
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.created_at));
        body.insert("events".into(), json(events)?);
        body.insert("pages".into(), Value::Object(serde_json::Map::new()));
    }
    Ok(render::ok(&body))
}

fn json<T: Serialize>(value: T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|_| ApiError::ServerError)
}
