//! `/_emulator/*`: endpoints for tests, not part of Intercom. They need no
//! token, are not rate limited, never fault and are not counted in the stats.
//!
//! | endpoint | what it does |
//! |---|---|
//! | `GET /_emulator/stats` | `{"requests":N,"by_status":{…},"by_route":{"POST /contacts":…}}` |
//! | `POST /_emulator/reset` | drop all data, stats, the rate-limit window and the clock offset (declared subscription and custom object types stay) |
//! | `GET /_emulator/dump` | everything, including archived, deleted and merged contacts, deleted companies and custom object instances |
//! | `GET /_emulator/clock` | `{"now":…,"offset_secs":…}` |
//! | `POST /_emulator/clock/advance` `{"secs":N}` | move emulated time forward |
//! | `GET /_emulator/faults` | `{"fault_rate":F,"fault_kind":K,"latency_ms":N}` now in force |
//! | `POST /_emulator/faults` `{"fault_rate":F,"fault_kind":K,"latency_ms":N}` (each optional) | change them while running (take the destination down mid-run, slow it down, make every fault one kind) |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{json, Value};

use crate::errors::{ApiError, ApiResult};
use crate::input;
use crate::render;
use crate::state::{App, Contact, Removal, Store};
use crate::{attributes, custom_objects, events, subscriptions, tags};

/// `GET /_emulator/stats`
pub async fn stats(State(app): State<Arc<App>>) -> ApiResult {
    Ok(render::ok(&app.stats.snapshot()))
}

/// `POST /_emulator/reset`
pub async fn reset(State(app): State<Arc<App>>) -> ApiResult {
    *app.store() = Store::new(&app.opts);
    app.stats.reset();
    app.limiter.reset();
    app.clock.reset();
    Ok(render::ok(&json!({"reset": true})))
}

fn clock_body(app: &App) -> Value {
    json!({"now": app.clock.now(), "offset_secs": app.clock.offset()})
}

/// `GET /_emulator/clock`
pub async fn clock(State(app): State<Arc<App>>) -> ApiResult {
    Ok(render::ok(&clock_body(&app)))
}

/// `POST /_emulator/clock/advance` `{"secs": N}` (N ≥ 0)
pub async fn advance(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let secs = input::integer(&obj, "secs")?
        .flatten()
        .filter(|s| *s >= 0)
        .ok_or_else(|| ApiError::invalid("secs must be a non-negative integer"))?;
    app.clock.advance(secs);
    Ok(render::ok(&clock_body(&app)))
}

fn faults_body(app: &App) -> Value {
    let kind = app.faults.kind().map_or("any", crate::faults::Fault::name);
    json!({"fault_rate": app.faults.rate(), "fault_kind": kind, "latency_ms": app.latency_ms()})
}

/// `GET /_emulator/faults`
pub async fn faults(State(app): State<Arc<App>>) -> ApiResult {
    Ok(render::ok(&faults_body(&app)))
}

/// `POST /_emulator/faults` `{"fault_rate": F, "fault_kind": K, "latency_ms": N}`,
/// each optional: F in 0.0–1.0, K `server_error`, `service_unavailable`,
/// `dropped` or `any` (one third each), N ≥ 0. Validated as a whole before
/// anything changes.
pub async fn set_faults(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let rate = match obj.get("fault_rate") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| ApiError::invalid("fault_rate must be a number from 0 to 1"))?,
        ),
    };
    let latency = match obj.get("latency_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| ApiError::invalid("latency_ms must be a non-negative integer"))?,
        ),
    };
    let kind = match obj.get("fault_kind") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if k == "any" => Some(None),
        Some(v) => Some(Some(
            v.as_str()
                .and_then(crate::faults::Fault::from_name)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "fault_kind must be server_error, service_unavailable, dropped or any",
                    )
                })?,
        )),
    };
    if let Some(rate) = rate {
        app.faults.set_rate(rate);
    }
    if let Some(kind) = kind {
        app.faults.set_kind(kind);
    }
    if let Some(ms) = latency {
        app.latency_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(render::ok(&faults_body(&app)))
}

fn contact_entry(store: &Store, c: &Contact, removal: Option<&Removal>) -> Value {
    let mut v = serde_json::to_value(render::contact(c, false)).unwrap_or(Value::Null);
    v["company_ids"] = json!(c.companies);
    v["tag_names"] = json!(store.contact_tag_names(c));
    v["subscriptions"] = c
        .subscriptions
        .iter()
        .filter_map(|s| store.subscription_type(&s.id))
        .map(|t| json!({"id": t.id, "name": t.name, "consent_type": t.consent.as_str()}))
        .collect();
    v["archived"] = json!(c.archived);
    v["deleted"] = json!(matches!(removal, Some(Removal::Deleted { .. })));
    v["merged_into"] = match removal {
        Some(Removal::Merged { into, .. }) => json!(into),
        _ => Value::Null,
    };
    v["removed_at"] = match removal {
        Some(Removal::Deleted { at } | Removal::Merged { at, .. }) => json!(at),
        None => Value::Null,
    };
    v
}

/// `GET /_emulator/dump`
pub async fn dump(State(app): State<Arc<App>>) -> ApiResult {
    let store = app.store();
    let mut contacts: Vec<(u64, Value)> = store
        .contacts
        .values()
        .map(|c| (c.seq, contact_entry(&store, c, None)))
        .chain(
            store
                .removed
                .values()
                .map(|(c, r)| (c.seq, contact_entry(&store, c, Some(r)))),
        )
        .collect();
    contacts.sort_by_key(|(seq, _)| *seq);
    let company_entry = |c: &crate::state::Company, deleted_at: Option<i64>| {
        let mut v = serde_json::to_value(render::company(&store, c)).unwrap_or(Value::Null);
        let mut ids: Vec<_> = c.contacts.iter().cloned().collect();
        ids.sort();
        v["contact_ids"] = json!(ids);
        let mut tag_names: Vec<&str> = c
            .tags
            .iter()
            .filter_map(|id| store.tag(id))
            .map(|t| t.name.as_str())
            .collect();
        tag_names.sort_unstable();
        v["tag_names"] = json!(tag_names);
        v["deleted"] = json!(deleted_at.is_some());
        v["deleted_at"] = json!(deleted_at);
        (c.seq, v)
    };
    let mut companies: Vec<(u64, Value)> = store
        .companies
        .values()
        .map(|c| company_entry(c, None))
        .chain(
            store
                .deleted_companies
                .iter()
                .map(|(c, at)| company_entry(c, Some(*at))),
        )
        .collect();
    companies.sort_by_key(|(seq, _)| *seq);
    let (custom_object_types, custom_object_instances) =
        custom_objects::dump(&store.custom_objects);
    Ok(render::ok(&json!({
        "contacts": contacts.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "companies": companies.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "events": events::dump(&store),
        "data_attributes": attributes::dump(&store),
        "tags": tags::dump(&store),
        "subscription_types": subscriptions::dump(&store),
        "custom_object_types": custom_object_types,
        "custom_object_instances": custom_object_instances,
        "clock": clock_body(&app),
    })))
}
