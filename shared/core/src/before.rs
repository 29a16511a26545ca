//! A dry run's "before": what Intercom holds now for the fields a sync writes,
//! picked from the record Intercom answers (`GET /contacts/{id}`, a search
//! hit, `GET /companies?company_id=`) and shaped like the sample's `after`
//! body (`{"name": …, "custom_attributes": {"ltv": …}}`), so the two line up
//! field by field (`name`, `custom_attributes.ltv`).
//!
//! Pure: `extract` reads the record through `backflow_intercom`, this picks
//! the values. Intercom answers a few fields in another shape than it takes
//! them (a company's `plan` comes back as `{type: "plan", id, name}`, a
//! contact's `avatar` as `{type: "avatar", image_url}`): those are read back
//! as the value a sync sends.

use serde_json::{Map, Value};

use crate::config::{KeyField, Object, SyncSpec};

/// The prefix of a custom attribute's path.
const CUSTOM: &str = "custom_attributes.";

/// The fields a request body writes, as paths: its top-level keys, and each
/// custom attribute as `custom_attributes.<name>`.
pub fn body_paths(body: &Map<String, Value>) -> Vec<String> {
    let mut paths = Vec::new();
    for (k, v) in body {
        match (k.as_str(), v) {
            ("custom_attributes", Value::Object(attrs)) => {
                paths.extend(attrs.keys().map(|name| format!("{CUSTOM}{name}")))
            }
            _ => paths.push(k.clone()),
        }
    }
    paths
}

/// The fields a sync writes, as paths, for a record no row describes (a
/// removal): the key's field when Intercom stores it, and every mapped field
/// that goes into a body (a contact's `company_id` is an attachment, not a
/// field of the contact).
pub fn spec_paths(spec: &SyncSpec) -> Vec<String> {
    let mut paths = Vec::new();
    if matches!(
        spec.key.field,
        KeyField::Email | KeyField::ExternalId | KeyField::CompanyId
    ) {
        paths.push(spec.key.field.as_str().to_string());
    }
    for field in spec.fields.keys() {
        let attachment = spec.object.is_contact() && field == "company_id";
        if !attachment && !paths.contains(field) {
            paths.push(field.clone());
        }
    }
    paths
}

/// A sample's "before" from the `record` Intercom answered: the current
/// values of the fields the sample's `after` would send (`{"body": {…}}`), or,
/// for a removal (no `after`), of every field the sync writes.
///
/// A contact's company (`after.company_id`) is what backflow `remembered`
/// attaching (`{"company_id": …}`, the sample's state): the contact record
/// names its companies by Intercom id only, and reading each back costs a
/// call more.
pub fn sample_before(
    spec: &SyncSpec,
    after: Option<&Value>,
    remembered: Option<&Value>,
    record: &Value,
) -> Value {
    let body = after.and_then(|a| a.get("body")).and_then(Value::as_object);
    let paths = body.map(body_paths).unwrap_or_else(|| spec_paths(spec));
    let mut before = current_values(spec.object, &paths, record);
    if after.is_some_and(|a| a.get("company_id").is_some()) {
        before["company_id"] = remembered
            .and_then(|r| r.get("company_id"))
            .cloned()
            .unwrap_or(Value::Null);
    }
    before
}

/// Intercom's current value of each of `paths` in `record`, nested as a
/// request body nests them; a field the record lacks is `null` (Intercom holds
/// nothing there).
pub fn current_values(object: Object, paths: &[String], record: &Value) -> Value {
    let mut out = Map::new();
    for path in paths {
        match path.strip_prefix(CUSTOM) {
            Some(name) => {
                let value = record
                    .get("custom_attributes")
                    .and_then(|c| c.get(name))
                    .cloned()
                    .unwrap_or(Value::Null);
                let attrs = out
                    .entry("custom_attributes")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(attrs) = attrs {
                    attrs.insert(name.to_string(), value);
                }
            }
            None => {
                out.insert(path.clone(), field_value(object, path, record));
            }
        }
    }
    Value::Object(out)
}

/// One standard field of `record`, as a sync would send it.
fn field_value(object: Object, field: &str, record: &Value) -> Value {
    let value = record.get(field).cloned().unwrap_or(Value::Null);
    // Read back as an object, sent as its one meaningful member.
    let member = match (object, field) {
        (Object::Company, "plan") => Some("name"),
        (o, "avatar") if o.is_contact() => Some("image_url"),
        _ => None,
    };
    match (member, &value) {
        (Some(m), Value::Object(o)) => o.get(m).cloned().unwrap_or(Value::Null),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn body_paths_name_each_custom_attribute() {
        let body = map(json!({
            "external_id": "u1", "name": "Ann", "role": "user",
            "custom_attributes": {"ltv": 10, "trial.ends": 5}
        }));
        let mut got = body_paths(&body);
        got.sort();
        assert_eq!(
            got,
            vec![
                "custom_attributes.ltv",
                "custom_attributes.trial.ends",
                "external_id",
                "name",
                "role"
            ]
        );
        assert!(body_paths(&Map::new()).is_empty());
    }

    /// A sync as the config would give it (parsed, so fields added to
    /// `SyncSpec` later need no change here).
    fn spec(object: Object, key: KeyField, fields: &[&str]) -> SyncSpec {
        let fields: Map<String, Value> =
            fields.iter().map(|f| (f.to_string(), json!("c"))).collect();
        serde_json::from_value(json!({
            "model": "m", "destination": "d", "object": object.as_str(),
            "behavior": "mirror", "key": {"column": "k", "field": key.as_str()},
            "fields": fields,
        }))
        .expect("a sync spec")
    }

    #[test]
    fn spec_paths_are_the_fields_a_body_holds() {
        let s = spec(
            Object::User,
            KeyField::ExternalId,
            &["company_id", "custom_attributes.ltv", "email", "name"],
        );
        assert_eq!(
            spec_paths(&s),
            vec!["external_id", "custom_attributes.ltv", "email", "name"]
        );
        // Keyed by email and mapping it too: once.
        let s = spec(Object::Lead, KeyField::Email, &["email", "name"]);
        assert_eq!(spec_paths(&s), vec!["email", "name"]);
        // Intercom's id is the URL, not a field; a company's company_id is a field.
        let s = spec(Object::User, KeyField::Id, &["name"]);
        assert_eq!(spec_paths(&s), vec!["name"]);
        let s = spec(Object::Company, KeyField::CompanyId, &["name", "plan"]);
        assert_eq!(spec_paths(&s), vec!["company_id", "name", "plan"]);
    }

    #[test]
    fn a_sample_reads_the_fields_its_after_sends_or_for_a_removal_the_syncs() {
        let s = spec(
            Object::User,
            KeyField::ExternalId,
            &["custom_attributes.ltv", "name", "email"],
        );
        let record = json!({"id": "c1", "external_id": "u1", "name": "By hand",
                            "email": "u1@x.io", "custom_attributes": {"ltv": 7}});
        // A row whose null email is not sent (no sync_nulls): email is left out.
        let after = json!({"body": {"external_id": "u1", "name": "Model",
                                    "custom_attributes": {"ltv": 9}},
                           "company_id": null});
        assert_eq!(
            sample_before(&s, Some(&after), None, &record),
            json!({"external_id": "u1", "name": "By hand", "custom_attributes": {"ltv": 7},
                   "company_id": null})
        );
        // The attached company is the one backflow remembers.
        let remembered = json!({"intercom_id": "c1", "company_id": "acme"});
        assert_eq!(
            sample_before(&s, Some(&after), Some(&remembered), &record)["company_id"],
            json!("acme")
        );
        // No company in `after` (a sync that attaches none): none in before.
        let plain = json!({"body": {"name": "Model"}});
        assert_eq!(
            sample_before(&s, Some(&plain), Some(&remembered), &record),
            json!({"name": "By hand"})
        );
        assert_eq!(
            sample_before(&s, None, Some(&remembered), &record),
            json!({"external_id": "u1", "name": "By hand", "email": "u1@x.io",
                   "custom_attributes": {"ltv": 7}})
        );
    }

    /// (object, paths, record, expected): each row one rule.
    #[test]
    fn current_values_table() {
        let contact = json!({
            "type": "contact", "id": "c1", "role": "user", "external_id": "u1",
            "email": "ann@example.com", "name": "Ann by hand", "phone": null,
            "avatar": {"type": "avatar", "image_url": "https://x.io/a.png"},
            "signed_up_at": 1700000000, "unsubscribed_from_emails": false,
            "custom_attributes": {"ltv": 42.5, "plan": "pro", "vip": true}
        });
        let company = json!({
            "type": "company", "id": "co1", "company_id": "acme", "name": "Acme",
            "plan": {"type": "plan", "id": "p1", "name": "Enterprise"},
            "size": 50, "monthly_spend": 12.5, "custom_attributes": {"tier": "gold"}
        });
        let bare = json!({"type": "contact", "id": "l1"});
        let plan_text = json!({"plan": "Pro"});
        let cases: Vec<(Object, &[&str], &Value, Value)> = vec![
            // Standard fields as they are; custom attributes nested as in a body.
            (
                Object::User,
                &[
                    "name",
                    "external_id",
                    "custom_attributes.ltv",
                    "custom_attributes.vip",
                ],
                &contact,
                json!({"name": "Ann by hand", "external_id": "u1",
                       "custom_attributes": {"ltv": 42.5, "vip": true}}),
            ),
            // What the record lacks, or holds as null, is null.
            (
                Object::User,
                &["phone", "last_seen_at", "custom_attributes.gone"],
                &contact,
                json!({"phone": null, "last_seen_at": null,
                       "custom_attributes": {"gone": null}}),
            ),
            // A record without custom attributes at all.
            (
                Object::Lead,
                &["custom_attributes.ltv"],
                &bare,
                json!({"custom_attributes": {"ltv": null}}),
            ),
            // Read back as objects, sent as strings.
            (
                Object::Contact,
                &["avatar", "role", "signed_up_at", "unsubscribed_from_emails"],
                &contact,
                json!({"avatar": "https://x.io/a.png", "role": "user",
                       "signed_up_at": 1700000000, "unsubscribed_from_emails": false}),
            ),
            (
                Object::Company,
                &[
                    "company_id",
                    "plan",
                    "size",
                    "monthly_spend",
                    "custom_attributes.tier",
                ],
                &company,
                json!({"company_id": "acme", "plan": "Enterprise", "size": 50,
                       "monthly_spend": 12.5, "custom_attributes": {"tier": "gold"}}),
            ),
            // A plan already a string (an older API version) stays as it is.
            (
                Object::Company,
                &["plan"],
                &plan_text,
                json!({"plan": "Pro"}),
            ),
            // `plan` of a contact is no special field (it is not one of theirs).
            (
                Object::User,
                &["custom_attributes.plan"],
                &contact,
                json!({"custom_attributes": {"plan": "pro"}}),
            ),
            (Object::User, &[], &contact, json!({})),
        ];
        for (object, paths, record, expected) in cases {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            assert_eq!(
                current_values(object, &paths, record),
                expected,
                "{object:?} {paths:?}"
            );
        }
    }
}
