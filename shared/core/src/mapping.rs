//! One model row + one sync → the Intercom request body, or why the row is invalid.
//!
//! A [`Mapper`] is built once per sync run from the sync's spec and the model's
//! result-set columns (so a missing column fails the run before any row is read),
//! then maps rows one by one. It remembers the data type it settled on for each
//! custom attribute, so every row of a run is coerced the same way and
//! [`Mapper::attributes`] can tell `load` which attributes to create.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::batch::AttributeSpec;
use crate::config::fields::{field_kind, FieldKind};
use crate::config::{Behavior, KeyField, Object, SyncSpec, MAX_METADATA_KEYS};
use crate::fingerprint::{Fingerprint, Part};
use crate::tags::RowLists;
use crate::value::{
    check_email, infer_data_type, infer_date_named_type, is_date_name, kind_may_hold_dates,
    to_bool, to_text, CoerceError, Column, ColumnKind, DataType, Value,
};
use crate::Error;

mod coerce;
use coerce::{attribute_json, metadata_json, metadata_value, parse_role, standard_json};

/// A row ready to diff and send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappedRow {
    /// The key value as text (emails trimmed; not lower-cased — Intercom compares
    /// emails case-insensitively, and so does the duplicate check).
    pub key: String,
    /// The Intercom request body: standard fields, `custom_attributes` object,
    /// events' `event_name`/`created_at`/`user_id|email|id`/`metadata`. Key order
    /// is irrelevant (the fingerprint is canonical).
    pub body: serde_json::Map<String, serde_json::Value>,
    /// Contacts: the `company_id` to attach to (not part of the contact body).
    pub company_id: Option<String>,
    /// Tags and (contacts) companies the row lists, when the sync maps them
    /// (not part of the body; not in the fingerprint: see [`crate::tags`]).
    #[serde(default, skip_serializing_if = "RowLists::is_empty")]
    pub lists: RowLists,
    /// What `load` would send, hashed (body + company_id + object/behavior that
    /// change the meaning of the body).
    pub fingerprint: Fingerprint,
}

/// Why a row is invalid; never sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRow {
    /// The key value, `None` when null.
    pub key: Option<String>,
    /// 1-based row number in the model.
    pub row: u64,
    /// Each reason names the Intercom field and the model column, e.g.
    /// "field `custom_attributes.ltv` (column `ltv`): 'abc' is not a number".
    pub reasons: Vec<String>,
}

/// Maps the rows of one sync's model to Intercom request bodies.
#[derive(Debug, Clone)]
pub struct Mapper {
    object: Object,
    behavior: Behavior,
    key_field: KeyField,
    /// The key column as the sync names it (for messages).
    key_column: String,
    key_index: usize,
    sync_nulls: bool,
    /// Events: the constant `event_name`, if the sync sets one.
    event_name: Option<String>,
    targets: Vec<Target>,
    attributes: Vec<Attribute>,
}

/// One `fields` entry, resolved against the result set.
#[derive(Debug, Clone)]
struct Target {
    /// The Intercom field (left side), e.g. `custom_attributes.ltv`.
    field: String,
    /// The column as the sync names it.
    column: String,
    index: usize,
    kind: FieldKind,
    /// `CustomAttribute`: its slot in `Mapper::attributes`.
    attribute: Option<usize>,
}

/// A custom attribute and the data type settled for it.
#[derive(Debug, Clone)]
struct Attribute {
    name: String,
    kind: ColumnKind,
    /// How the type is chosen while it is not settled yet.
    rule: TypeRule,
    /// Declared by the long form, decided from the column kind at once, or from
    /// the first non-null value (`Unknown` kinds, date-named columns), or pinned
    /// by [`Mapper::set_attribute_type`].
    data_type: Option<DataType>,
}

/// Where a custom attribute's data type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeRule {
    /// The long form `{ column, type }` said it: kept even when the attribute
    /// exists in Intercom with another type (then `load` reports the mismatch
    /// rather than backflow sending values the sync did not ask for).
    Declared,
    /// A text or number column named `…_at` / `…_date`: a `date` when its first
    /// non-null value is a timestamp, else as the column's kind says.
    DateName,
    /// The column's kind, or the first non-null value for `Unknown` kinds.
    Kind,
}

/// Finds `name` among `columns`: exactly first, then ignoring case (PostgreSQL folds
/// unquoted identifiers to lower case, so `select fullName` yields `fullname`).
fn find_column(columns: &[Column], name: &str) -> Option<usize> {
    columns.iter().position(|c| c.name == name).or_else(|| {
        columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    })
}

impl Mapper {
    /// Resolves every column the sync names (`key.column` and the right sides of
    /// `fields`) against the model's `columns`; a missing one is
    /// [`Error::UnknownColumn`] listing the columns there are.
    pub fn new(sync_name: &str, spec: &SyncSpec, columns: &[Column]) -> Result<Mapper, Error> {
        let resolve = |column: &str| {
            find_column(columns, column).ok_or_else(|| Error::UnknownColumn {
                sync: sync_name.to_string(),
                model: spec.model.clone(),
                column: column.to_string(),
                available: columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        };
        let key_index = resolve(&spec.key.column)?;
        let mut targets = Vec::new();
        let mut attributes = Vec::new();
        for (field, source) in &spec.fields {
            let column = source.column();
            let kind = field_kind(spec.object, field).ok_or_else(|| Error::Sync {
                file: "config".to_string(),
                sync: sync_name.to_string(),
                message: format!(
                    "`fields.{field}` is not a field of object `{}`",
                    spec.object.as_str()
                ),
            })?;
            let index = resolve(column)?;
            // The key fills its own field; validation made sure a mapping of the same
            // field names the same column, so it would only repeat the work.
            if spec.object != Object::Event && field == spec.key.field.as_str() {
                continue;
            }
            let attribute = match &kind {
                FieldKind::CustomAttribute(name) => {
                    attributes.push(Attribute::new(name, &columns[index], source.data_type()));
                    Some(attributes.len() - 1)
                }
                _ => None,
            };
            targets.push(Target {
                field: field.clone(),
                column: column.to_string(),
                index,
                kind,
                attribute,
            });
        }
        Ok(Mapper {
            object: spec.object,
            behavior: spec.behavior,
            key_field: spec.key.field,
            key_column: spec.key.column.clone(),
            key_index,
            sync_nulls: spec.sync_nulls,
            event_name: spec.event_name.clone(),
            targets,
            attributes,
        })
    }

    /// The key column, as the sync names it.
    pub fn key_column(&self) -> &str {
        &self.key_column
    }

    /// The key of `row` as text (emails trimmed), `None` when the key cell is null —
    /// for duplicate detection and reports, whether or not the row is valid.
    pub fn key_of(&self, row: &[Value]) -> Option<String> {
        let value = cell(row, self.key_index);
        if value.is_null() {
            return None;
        }
        let text = to_text(value).unwrap_or_else(|_| value.quoted());
        Some(match self.key_field {
            KeyField::Email => text.trim().to_string(),
            _ => text,
        })
    }

    /// One custom attribute per `custom_attributes.<name>` mapping (none for events):
    /// its name, `contact` or `company`, and the data type settled so far — the
    /// long form's type; `date` for a date or timestamp column; for a text or
    /// number column named `…_at`/`…_date`, `date` when its first non-null value
    /// was a timestamp; the column's kind; or for `Unknown` kinds the type of the
    /// first non-null value mapped (`string` while every value seen was null).
    /// Call it after mapping the rows.
    pub fn attributes(&self) -> Vec<AttributeSpec> {
        let Some(model) = self.object.attribute_model() else {
            return Vec::new();
        };
        self.attributes
            .iter()
            .map(|a| AttributeSpec {
                name: a.name.clone(),
                model: model.to_string(),
                data_type: a.data_type.unwrap_or_else(|| infer_data_type(a.kind, None)),
            })
            .collect()
    }

    /// Pins the data type of custom attribute `name` before mapping — for an
    /// attribute that already exists in Intercom, whose type cannot change. A type
    /// the sync declares (`{ column, type }`) is kept: the sync asked for it, and
    /// `load` refuses the rows with Intercom's type named if the two disagree.
    /// Returns false when the sync maps no such attribute or declares its type.
    pub fn set_attribute_type(&mut self, name: &str, data_type: DataType) -> bool {
        match self.attributes.iter_mut().find(|a| a.name == name) {
            Some(a) if a.rule != TypeRule::Declared => {
                a.data_type = Some(data_type);
                true
            }
            _ => false,
        }
    }

    /// Maps one row (`row_number` is 1-based, for reports). Every problem of the row
    /// is collected, each naming the Intercom field and the column.
    pub fn map(&mut self, row_number: u64, row: &[Value]) -> Result<MappedRow, InvalidRow> {
        let mut out = Output::default();
        let key = self.map_key(row, &mut out);
        let mut role = match self.object {
            Object::Lead => Some("lead"),
            Object::User | Object::Contact => Some("user"),
            Object::Company | Object::Event | Object::CustomObject => None,
        };
        let mut metadata = Metadata::default();
        for i in 0..self.targets.len() {
            let value = cell(row, self.targets[i].index);
            if let Err(e) = self.map_field(i, value, &mut out, &mut role, &mut metadata) {
                let target = &self.targets[i];
                out.reasons.push(format!(
                    "field `{}` (column `{}`): {e}",
                    target.field, target.column
                ));
            }
        }
        if let Some(role) = role {
            out.body.insert("role".into(), Json::from(role));
        }
        if self.object == Object::Event {
            metadata.finish(self.event_name.as_deref(), &mut out);
        }
        match key {
            Some(key) if out.reasons.is_empty() => {
                let fingerprint = Fingerprint::of_entries(&[
                    ("object", Part::Str(self.object.as_str())),
                    ("behavior", Part::Str(self.behavior.as_str())),
                    ("body", Part::Map(&out.body)),
                    ("company_id", Part::OptStr(out.company_id.as_deref())),
                ]);
                Ok(MappedRow {
                    key,
                    body: out.body,
                    company_id: out.company_id,
                    lists: out.lists,
                    fingerprint,
                })
            }
            _ => Err(InvalidRow {
                key: self.key_of(row),
                row: row_number,
                reasons: out.reasons,
            }),
        }
    }

    /// Maps the cell of `fields` entry `i` into `out` (the role and an event's
    /// metadata aside, as they are settled after every field).
    fn map_field(
        &mut self,
        i: usize,
        value: &Value,
        out: &mut Output,
        role: &mut Option<&'static str>,
        metadata: &mut Metadata,
    ) -> Result<(), CoerceError> {
        let target = &self.targets[i];
        // A list field is mapped even when null (the record then carries
        // none of them): a tag or company that left the row is removed.
        match &target.kind {
            FieldKind::Tags => out.lists.add_tags(value)?,
            FieldKind::CompanyIds => out.lists.add_companies(value, true)?,
            FieldKind::CompanyId => out.lists.add_companies(value, false)?,
            _ => {}
        }
        if value.is_null() {
            self.map_null(i, out);
            return Ok(());
        }
        match &target.kind {
            FieldKind::Role => *role = Some(parse_role(value)?),
            FieldKind::CompanyId => out.company_id = Some(to_text(value)?),
            FieldKind::Tags | FieldKind::CompanyIds => {}
            FieldKind::CustomAttribute(_) => {
                let slot = target.attribute.expect("custom attributes have a slot");
                let json = attribute_json(&mut self.attributes[slot], value)?;
                out.attribute(&target.field, json);
            }
            FieldKind::MetadataKey(key) => {
                metadata
                    .explicit
                    .insert(key.clone(), metadata_value(key, value)?);
            }
            FieldKind::MetadataObject => metadata.object = Some(metadata_json(value)?),
            FieldKind::Subscription(name) => out.subscription(name, to_bool(value)?),
            kind => {
                out.body
                    .insert(target.field.clone(), standard_json(kind, value)?);
            }
        }
        Ok(())
    }

    /// The key as text, put into the body under its field when Intercom matches on
    /// it there (`email`, `external_id`, `company_id`). `id` is the caller's URL
    /// path and `event_id` is backflow's own dedup key: neither is sent.
    fn map_key(&self, row: &[Value], out: &mut Output) -> Option<String> {
        let value = cell(row, self.key_index);
        let column = &self.key_column;
        if value.is_null() {
            out.reasons.push(format!("key column `{column}` is null"));
            return None;
        }
        let field = self.key_field.as_str();
        let key = match self.key_field {
            KeyField::Email => to_text(value).and_then(|t| check_email(&t)),
            _ => to_text(value),
        };
        match key {
            Ok(key) if key.trim().is_empty() => {
                out.reasons.push(format!("key column `{column}` is empty"));
                None
            }
            Ok(key) => {
                if matches!(
                    self.key_field,
                    KeyField::Email | KeyField::ExternalId | KeyField::CompanyId
                ) {
                    out.body.insert(field.to_string(), Json::from(key.clone()));
                }
                Some(key)
            }
            Err(e) => {
                out.reasons
                    .push(format!("key `{field}` (column `{column}`): {e}"));
                None
            }
        }
    }

    /// A null cell: required event fields make the row invalid; metadata nulls are
    /// dropped; otherwise the field is left out, or sent as `null` with `sync_nulls`
    /// to clear it in Intercom.
    fn map_null(&self, i: usize, out: &mut Output) {
        let target = &self.targets[i];
        let required = self.object == Object::Event
            && matches!(
                target.field.as_str(),
                "event_name" | "created_at" | "user_id" | "email" | "id"
            );
        if required {
            out.reasons.push(format!(
                "field `{}` (column `{}`) is null; an event needs it",
                target.field, target.column
            ));
            return;
        }
        if !self.sync_nulls {
            return;
        }
        match &target.kind {
            // A null role means the default; list fields (`company_id`,
            // `company_ids`, `tags`) were handled as lists above: a null lists
            // nothing, so what backflow attached or applied before is removed;
            // a null subscription leaves the contact's own preference alone.
            FieldKind::Role
            | FieldKind::CompanyId
            | FieldKind::CompanyIds
            | FieldKind::Tags
            | FieldKind::Subscription(_)
            | FieldKind::MetadataKey(_)
            | FieldKind::MetadataObject => {}
            FieldKind::CustomAttribute(_) => out.attribute(&target.field, Json::Null),
            _ => {
                out.body.insert(target.field.clone(), Json::Null);
            }
        }
    }
}

/// The body key under which contacts carry their `subscriptions.<name>` values
/// (`{"<name>": true|false}`): part of the fingerprint, so a changed preference
/// is a changed row, and taken out of the contact body by `load`, which opts
/// the contact in or out with calls of their own.
pub const SUBSCRIPTIONS_KEY: &str = "subscriptions";

/// What a row mapping accumulates.
#[derive(Default)]
struct Output {
    body: Map<String, Json>,
    company_id: Option<String>,
    lists: RowLists,
    reasons: Vec<String>,
}

impl Output {
    /// Sets the row's preference for subscription type `name`.
    fn subscription(&mut self, name: &str, opted_in: bool) {
        let all = self
            .body
            .entry(SUBSCRIPTIONS_KEY)
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(map) = all {
            map.insert(name.to_string(), Json::from(opted_in));
        }
    }

    /// Sets `custom_attributes.<name>` (`field` is the full left side).
    fn attribute(&mut self, field: &str, json: Json) {
        let name = field.strip_prefix("custom_attributes.").unwrap_or(field);
        let attributes = self
            .body
            .entry("custom_attributes")
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(map) = attributes {
            map.insert(name.to_string(), json);
        }
    }
}

/// An event's metadata while its row is mapped: `metadata.<key>` mappings and
/// the `metadata` object column.
#[derive(Default)]
struct Metadata {
    explicit: Map<String, Json>,
    object: Option<Map<String, Json>>,
}

impl Metadata {
    /// Puts the event's name and metadata into the body, or why the row is refused.
    fn finish(self, event_name: Option<&str>, out: &mut Output) {
        if let Some(name) = event_name {
            out.body.insert("event_name".into(), Json::from(name));
        }
        // Explicit `metadata.<key>` mappings win over the same key in the
        // `metadata` object column; nulls are never sent.
        let mut metadata = self.explicit;
        for (k, v) in self.object.unwrap_or_default() {
            if !v.is_null() && !metadata.contains_key(&k) {
                metadata.insert(k, v);
            }
        }
        if metadata.len() > MAX_METADATA_KEYS {
            out.reasons.push(format!(
                "event metadata has {} keys; Intercom keeps at most {MAX_METADATA_KEYS}",
                metadata.len()
            ));
        }
        if !metadata.is_empty() {
            out.body.insert("metadata".into(), Json::Object(metadata));
        }
    }
}

fn cell(row: &[Value], index: usize) -> &Value {
    // A short row (a driver quirk) reads as nulls rather than panicking.
    row.get(index).unwrap_or(&Value::Null)
}

impl Attribute {
    fn new(name: &str, column: &Column, declared: Option<DataType>) -> Attribute {
        let kind = column.kind;
        let (rule, data_type) = match declared {
            Some(data_type) => (TypeRule::Declared, Some(data_type)),
            None if is_date_name(&column.name) && kind_may_hold_dates(kind) => {
                (TypeRule::DateName, None)
            }
            None => (
                TypeRule::Kind,
                (kind != ColumnKind::Unknown).then(|| infer_data_type(kind, None)),
            ),
        };
        Attribute {
            name: name.to_string(),
            kind,
            rule,
            data_type,
        }
    }

    /// The data type, settled by `value` (the first non-null one) if it was not.
    fn settle(&mut self, value: &Value) -> DataType {
        let (kind, rule) = (self.kind, self.rule);
        *self.data_type.get_or_insert_with(|| match rule {
            TypeRule::DateName => infer_date_named_type(kind, value),
            TypeRule::Declared | TypeRule::Kind => infer_data_type(kind, Some(value)),
        })
    }
}

#[cfg(test)]
mod tests;
