//! Validation of a parsed config: everything serde cannot check. Each error names
//! the sync (or model, destination) and the key at fault.

use super::fields::{allowed_fields, field_kind, FieldKind, EVENT_IDENTITY_FIELDS};
use super::{find_key_line, warehouse, Behavior, Config, KeyField, Object, SyncSpec};
use crate::Error;

/// Intercom keeps at most this many metadata keys per event.
pub const MAX_METADATA_KEYS: usize = 10;

/// The largest `batch_size` (rows per S3 batch / `load` invocation).
pub const MAX_BATCH_SIZE: usize = 10_000;

/// Checks the whole config; the first problem found is returned. `text` is the
/// expanded config, to give the line of a model's `warehouse:` key.
pub(super) fn validate(config: &Config, file: &str, text: &str) -> Result<(), Error> {
    let invalid = |message: String| Error::Invalid {
        file: file.to_string(),
        message,
    };
    warehouse::validate(config).map_err(invalid)?;
    for (name, dest) in &config.destinations {
        if let Some(url) = &dest.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(format!(
                    "destination `{name}`: `base_url` must start with http:// or https:// (got `{url}`)"
                )));
            }
        }
    }
    for (name, model) in &config.models {
        match (&model.sql, &model.file) {
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "model `{name}`: set either `sql` or `file`, not both"
                )))
            }
            (None, None) => {
                return Err(invalid(format!(
                    "model `{name}`: set `sql` (a query) or `file` (a .sql file)"
                )))
            }
            (Some(text), None) | (None, Some(text)) if text.trim().is_empty() => {
                let key = if model.sql.is_some() { "sql" } else { "file" };
                return Err(invalid(format!("model `{name}`: `{key}` is empty")));
            }
            _ => {}
        }
        warehouse::check_model(config, model).map_err(|message| Error::Config {
            file: file.to_string(),
            line: model_warehouse_line(text, name),
            message: format!("model `{name}`: {message}"),
        })?;
    }
    for (name, spec) in &config.syncs {
        validate_sync(config, name, spec).map_err(|message| Error::Sync {
            file: file.to_string(),
            sync: name.clone(),
            message,
        })?;
    }
    if let Some(cycle) = crate::chain::find_cycle(&config.syncs) {
        return Err(Error::Sync {
            file: file.to_string(),
            sync: cycle[0].clone(),
            message: crate::chain::cycle_message(&cycle),
        });
    }
    Ok(())
}

/// The line of model `model`'s `warehouse:` key (else of the model itself).
fn model_warehouse_line(text: &str, model: &str) -> Option<usize> {
    let models = find_key_line(text, "models", 1)?;
    let at = find_key_line(text, model, models)?;
    match find_key_line(text, "warehouse", at) {
        // Only if it is before the next model or section (found by its indentation).
        Some(line) if line > at && indent_run(text, at, line) => Some(line),
        _ => Some(at),
    }
}

/// Whether every line after `from` up to `to` (1-based) is indented deeper than
/// line `from`, i.e. `to` is inside the mapping that starts at `from`.
fn indent_run(text: &str, from: usize, to: usize) -> bool {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let lines: Vec<&str> = text.lines().collect();
    let Some(base) = lines.get(from - 1).map(|l| indent(l)) else {
        return false;
    };
    lines
        .iter()
        .take(to)
        .skip(from)
        .filter(|l| !l.trim().is_empty())
        .all(|l| indent(l) > base)
}

fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The behaviors and key fields each object accepts.
fn allowed(object: Object) -> (&'static [Behavior], &'static [KeyField]) {
    use Behavior as B;
    match object {
        Object::Company => (
            &[B::UpdateOrCreate, B::Delete, B::Mirror],
            &[KeyField::CompanyId],
        ),
        Object::Contact | Object::Lead | Object::User => (
            &[B::UpdateOrCreate, B::UpdateOnly, B::Delete, B::Mirror],
            &[KeyField::Email, KeyField::ExternalId, KeyField::Id],
        ),
        Object::Event => (&[B::Send], &[KeyField::EventId]),
        Object::CustomObject => (
            &[B::UpdateOrCreate, B::Delete, B::Mirror],
            &[KeyField::ExternalId],
        ),
    }
}

fn validate_sync(config: &Config, name: &str, spec: &SyncSpec) -> Result<(), String> {
    if !config.models.contains_key(&spec.model) {
        return Err(format!(
            "`model: {}` names no model (models: {})",
            spec.model,
            list(config.models.keys().map(String::as_str))
        ));
    }
    if !config.destinations.contains_key(&spec.destination) {
        return Err(format!(
            "`destination: {}` names no destination (destinations: {})",
            spec.destination,
            list(config.destinations.keys().map(String::as_str))
        ));
    }
    let object = spec.object.as_str();
    let (behaviors, keys) = allowed(spec.object);
    if !behaviors.contains(&spec.behavior) {
        return Err(format!(
            "`behavior: {}` is not allowed for object `{object}` (allowed: {})",
            spec.behavior.as_str(),
            list(behaviors.iter().map(|b| b.as_str()))
        ));
    }
    if !keys.contains(&spec.key.field) {
        return Err(format!(
            "`key.field: {}` is not allowed for object `{object}` (allowed: {})",
            spec.key.field.as_str(),
            list(keys.iter().map(|k| k.as_str()))
        ));
    }
    if spec.key.field == KeyField::Id
        && !matches!(spec.behavior, Behavior::UpdateOnly | Behavior::Delete)
    {
        return Err(format!(
            "`key.field: id` (the Intercom id) is allowed only with behavior update_only or delete, \
             not {}: backflow cannot create a record with a given Intercom id",
            spec.behavior.as_str()
        ));
    }
    if spec.key.column.trim().is_empty() {
        return Err("`key.column` is empty".into());
    }
    validate_fields(spec)?;
    if spec.object == Object::Event {
        validate_event(spec)?;
    } else if spec.event_name.is_some() {
        return Err(format!(
            "`event_name` is only for object `event`, not `{object}`"
        ));
    }
    validate_custom_object(spec)?;
    if spec.delete.is_some() && spec.behavior != Behavior::Delete {
        return Err(format!(
            "`delete` is only for behavior delete, not {}",
            spec.behavior.as_str()
        ));
    }
    if spec.max_removals.is_some() && spec.behavior != Behavior::Mirror {
        return Err(format!(
            "`max_removals` is only for behavior mirror, not {}",
            spec.behavior.as_str()
        ));
    }
    if spec.tags_mode.is_some() && !spec.fields.contains_key("tags") {
        return Err("`tags_mode` needs `fields.tags` (the column listing the tags)".into());
    }
    if let Some(cron) = &spec.schedule {
        crate::schedule::parse(cron).map_err(|e| format!("`schedule`: {e}"))?;
    }
    if let Some(size) = spec.batch_size {
        if !(1..=MAX_BATCH_SIZE).contains(&size) {
            return Err(format!(
                "`batch_size: {size}` is out of range (1 to {MAX_BATCH_SIZE})"
            ));
        }
    }
    validate_after(config, name, spec)?;
    if let Some(alerts) = &spec.alerts {
        crate::alert::validate(alerts).map_err(|e| format!("`alerts`: {e}"))?;
    }
    Ok(())
}

/// `after:` names other syncs, each once.
fn validate_after(config: &Config, name: &str, spec: &SyncSpec) -> Result<(), String> {
    for (i, other) in spec.after.iter().enumerate() {
        if other == name {
            return Err(format!("`after: {other}` names this sync itself"));
        }
        if !config.syncs.contains_key(other) {
            return Err(format!(
                "`after: {other}` names no sync (syncs: {})",
                list(config.syncs.keys().map(String::as_str))
            ));
        }
        if spec.after[..i].contains(other) {
            return Err(format!("`after` names `{other}` twice"));
        }
    }
    Ok(())
}

fn validate_fields(spec: &SyncSpec) -> Result<(), String> {
    let object = spec.object.as_str();
    for (field, source) in &spec.fields {
        let column = source.column();
        let Some(kind) = field_kind(spec.object, field) else {
            return Err(format!(
                "`fields.{field}` is not a field of object `{object}` (allowed: {})",
                list(allowed_fields(spec.object))
            ));
        };
        if column.trim().is_empty() {
            return Err(format!("`fields.{field}` names no column"));
        }
        if let (Some(data_type), false) = (
            source.data_type(),
            matches!(kind, FieldKind::CustomAttribute(_)),
        ) {
            return Err(format!(
                "`fields.{field}: {{ column: {column}, type: {} }}`: only custom attributes \
                 (`custom_attributes.<name>`) take a type; `{field}` has Intercom's own \
                 (write `fields.{field}: {column}`)",
                data_type.as_str()
            ));
        }
        match kind {
            FieldKind::CustomAttribute(name) => check_attribute_name(field, &name)?,
            FieldKind::Subscription(name) if name.trim().is_empty() => {
                return Err(format!(
                    "`fields.{field}`: the subscription type name is empty"
                ))
            }
            FieldKind::MetadataKey(key) if key.is_empty() => {
                return Err(format!("`fields.{field}`: the metadata key is empty"))
            }
            _ => {}
        }
    }
    // The key is sent under its field; mapping that field to another column would
    // make the body disagree with the key backflow matches on.
    if let Some(column) = spec.fields.get(spec.key.field.as_str()) {
        let column = column.column();
        if spec.object != Object::Event && column != spec.key.column {
            return Err(format!(
                "`fields.{}: {column}` contradicts `key: {{ column: {}, field: {} }}`: \
                 the key field must map the key column (or be left out of `fields`)",
                spec.key.field.as_str(),
                spec.key.column,
                spec.key.field.as_str()
            ));
        }
    }
    Ok(())
}

/// `custom_object:` names the type exactly when the object is `custom_object`;
/// its instances are deleted for good (Intercom does not archive them).
fn validate_custom_object(spec: &SyncSpec) -> Result<(), String> {
    match (&spec.custom_object, spec.object) {
        (None, Object::CustomObject) => Err(
            "object `custom_object` needs `custom_object: <type>` naming the Custom Object \
             type as Intercom knows it (e.g. `custom_object: Order`)"
                .into(),
        ),
        (Some(name), Object::CustomObject) if name.trim().is_empty() => {
            Err("`custom_object` is empty".into())
        }
        (Some(_), object) if object != Object::CustomObject => Err(format!(
            "`custom_object` is only for object `custom_object`, not `{}`",
            object.as_str()
        )),
        _ if spec.object == Object::CustomObject && spec.delete.is_some() => Err(
            "`delete` options are not for custom objects: Intercom deletes an instance \
             for good (it cannot archive one)"
                .into(),
        ),
        _ => Ok(()),
    }
}

fn check_attribute_name(field: &str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!(
            "`fields.{field}`: the custom attribute name is empty"
        ));
    }
    if name.contains('.') || name.contains('$') {
        return Err(format!(
            "`fields.{field}`: custom attribute names cannot contain `.` or `$` (Intercom's rule)"
        ));
    }
    Ok(())
}

fn validate_event(spec: &SyncSpec) -> Result<(), String> {
    let fields = &spec.fields;
    match (&spec.event_name, fields.contains_key("event_name")) {
        (Some(_), true) => {
            return Err(
                "set the event name either as a constant (`event_name:`) or from a column \
                 (`fields.event_name`), not both"
                    .into(),
            )
        }
        (None, false) => return Err(
            "an event needs a name: a constant `event_name:` or a column in `fields.event_name`"
                .into(),
        ),
        (Some(name), false) if name.trim().is_empty() => return Err("`event_name` is empty".into()),
        _ => {}
    }
    if !fields.contains_key("created_at") {
        return Err("an event needs `fields.created_at` (when it happened)".into());
    }
    let identities: Vec<&str> = EVENT_IDENTITY_FIELDS
        .iter()
        .copied()
        .filter(|f| fields.contains_key(*f))
        .collect();
    if identities.len() != 1 {
        return Err(format!(
            "an event needs exactly one of `fields.user_id`, `fields.email`, `fields.id` \
             (the contact it belongs to); found {}",
            if identities.is_empty() {
                "none".to_string()
            } else {
                identities
                    .iter()
                    .map(|f| format!("`fields.{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    // More than MAX_METADATA_KEYS `metadata.<key>` mappings are allowed: sparse
    // metadata is common, and Intercom's limit is per event. The mapping counts the
    // non-null keys of each row and reports a row over the limit as invalid.
    Ok(())
}
