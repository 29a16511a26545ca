//! The config file: typed, strict, and explained when wrong.
//!
//! YAML, located by `BACKFLOW_CONFIG` (the IO layer reads it; this module only parses).
//! `${VAR}` is replaced from the environment before parsing; a missing variable is an
//! error naming it and its line. Unknown keys are errors naming the key and line.

mod env;
pub mod fields;
mod validate;
mod warehouse;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::batch::{AttributeSpec, DestinationSpec, LoadSpec};
use crate::value::DataType;
use crate::Error;

pub use validate::{MAX_BATCH_SIZE, MAX_METADATA_KEYS};
pub use warehouse::{
    Athena, Bigquery, Redshift, Snowflake, UrlSource, Warehouse, MAX_QUERY_TIMEOUT_SECS,
    SINGLE_WAREHOUSE,
};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The only warehouse (the older form; see [`Config::warehouse_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<Warehouse>,
    /// Several warehouses by name; a model names its own when there is more than one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warehouses: BTreeMap<String, Warehouse>,
    /// Intercom workspaces to write to, by name.
    pub destinations: BTreeMap<String, Destination>,
    /// Named SQL queries.
    pub models: BTreeMap<String, Model>,
    /// Model → Intercom object syncs, by name.
    pub syncs: BTreeMap<String, SyncSpec>,
    /// Where the config came from (a path or `s3://` URL); set by [`parse`], used in
    /// error messages and to resolve relative paths.
    #[serde(skip)]
    pub origin: String,
}

/// A value stored in AWS Secrets Manager: the secret's name and the JSON key inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub secret: String,
    pub key: String,
}

/// An Intercom workspace to write to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Always `intercom`.
    #[serde(rename = "type")]
    pub kind: DestinationKind,
    /// The access token, from Secrets Manager.
    pub access_token: SecretRef,
    /// The workspace's data-hosting region.
    #[serde(default)]
    pub region: Region,
    /// Overrides `region` (the emulator, a proxy).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The `Intercom-Version` header; default `2.14`.
    #[serde(default)]
    pub api_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    Intercom,
}

/// Intercom's data-hosting regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    #[default]
    Us,
    Eu,
    Au,
}

impl Region {
    pub const ALL: [Region; 3] = [Region::Us, Region::Eu, Region::Au];

    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.intercom.io",
            Region::Eu => "https://api.eu.intercom.io",
            Region::Au => "https://api.au.intercom.io",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Au => "au",
        }
    }
}

impl Destination {
    /// `base_url` if set, else the region's.
    pub fn effective_base_url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| self.region.base_url().to_string())
            .trim_end_matches('/')
            .to_string()
    }

    pub fn effective_api_version(&self) -> String {
        self.api_version
            .clone()
            .unwrap_or_else(|| "2.14".to_string())
    }

    /// What a batch carries about this destination (where the token is, not the token).
    pub fn spec(&self) -> DestinationSpec {
        DestinationSpec {
            base_url: self.effective_base_url(),
            api_version: self.effective_api_version(),
            access_token: self.access_token.clone(),
            region: match self.base_url {
                Some(_) => None,
                None => Some(self.region.name().to_string()),
            },
        }
    }
}

/// A named SQL query: inline `sql` or a `file` relative to the config's folder.
/// After loading, the IO layer puts the file's text into `sql`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    /// The warehouse that runs it (a key of `warehouses`); needed when there are
    /// several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
}

/// The Intercom object a sync writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    Company,
    /// A lead or a user, from a mapped `role` column (default user).
    Contact,
    Lead,
    User,
    Event,
    /// An instance of an Intercom Custom Object type (`custom_object:` names it).
    CustomObject,
}

impl Object {
    /// The config spelling (`company`, `contact`, `lead`, `user`, `event`).
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Company => "company",
            Object::Contact => "contact",
            Object::Lead => "lead",
            Object::User => "user",
            Object::Event => "event",
            Object::CustomObject => "custom_object",
        }
    }

    /// `contact`, `lead` or `user`: an Intercom contact.
    pub fn is_contact(self) -> bool {
        matches!(self, Object::Contact | Object::Lead | Object::User)
    }

    /// The `model` of the object's data attributes (`contact` or `company`); `None`
    /// for events, which have no custom attributes, and for custom objects, whose
    /// attributes are defined on their type in Intercom (never created by backflow).
    pub fn attribute_model(self) -> Option<&'static str> {
        match self {
            Object::Contact | Object::Lead | Object::User => Some("contact"),
            Object::Company => Some("company"),
            Object::Event | Object::CustomObject => None,
        }
    }
}

/// What a sync does with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    UpdateOrCreate,
    UpdateOnly,
    Delete,
    Mirror,
    Send,
}

impl Behavior {
    /// The config spelling (`update_or_create`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::UpdateOrCreate => "update_or_create",
            Behavior::UpdateOnly => "update_only",
            Behavior::Delete => "delete",
            Behavior::Mirror => "mirror",
            Behavior::Send => "send",
        }
    }
}

/// The Intercom field a sync matches records on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyField {
    Email,
    ExternalId,
    /// Intercom's own id (only `update_only` and `delete`).
    Id,
    CompanyId,
    EventId,
}

impl KeyField {
    /// The config spelling, which is also the Intercom field name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyField::Email => "email",
            KeyField::ExternalId => "external_id",
            KeyField::Id => "id",
            KeyField::CompanyId => "company_id",
            KeyField::EventId => "event_id",
        }
    }
}

/// `key: { column, field }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// The model column holding the key.
    pub column: String,
    /// The Intercom field it matches.
    pub field: KeyField,
}

/// `delete: { mode }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteOptions {
    #[serde(default)]
    pub mode: DeleteMode,
}

/// Contacts are archived unless `permanent` is asked for (irreversible: Intercom
/// never re-creates a permanently deleted user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteMode {
    #[default]
    Archive,
    Permanent,
}

/// One sync: model → Intercom object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// The model whose rows are synced.
    pub model: String,
    /// The destination (a key of `destinations`).
    pub destination: String,
    pub object: Object,
    pub behavior: Behavior,
    pub key: KeySpec,
    /// Intercom field (left) ← model column (right): a column name, or for a
    /// custom attribute `{ column, type }`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSource>,
    /// Cron (5 fields, UTC); no schedule = on demand only.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Events: a constant event name (else `fields.event_name` names a column).
    #[serde(default)]
    pub event_name: Option<String>,
    /// Object `custom_object`: the Custom Object type's identifier in Intercom
    /// (`Order`), created there beforehand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_object: Option<String>,
    /// Create missing custom attributes with the inferred type (default true).
    #[serde(default = "default_true")]
    pub create_attributes: bool,
    /// Send nulls to clear fields (default: a null leaves the field as it is).
    #[serde(default)]
    pub sync_nulls: bool,
    /// Mirror: the most records one run may remove (default 10 % of those synced before).
    #[serde(default)]
    pub max_removals: Option<u64>,
    /// Delete: archive (default) or permanent.
    #[serde(default)]
    pub delete: Option<DeleteOptions>,
    /// Rows per S3 batch / load invocation (default 1000).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// With `fields.tags`: `keep` (default) removes only tags backflow applied
    /// and that left the list; `exact` removes every tag not in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_mode: Option<crate::tags::TagsMode>,
    /// Syncs this one runs after: it starts when a run of each has ended
    /// `succeeded` or `partial` since its own last run ([`crate::chain`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// When a run of this sync publishes to the stack's SNS topic ([`crate::alert`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
}

/// `alerts: { failed, rejected_pct, max_minutes }`: each set threshold is one
/// reason to publish when a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// A run that ends `failed`.
    #[serde(default)]
    pub failed: bool,
    /// A run whose rows that did not land (invalid, rejected, not found) are
    /// more than this percentage of its rows.
    #[serde(default)]
    pub rejected_pct: Option<f64>,
    /// A run that took longer than this many minutes.
    #[serde(default)]
    pub max_minutes: Option<u64>,
}

/// The right side of a `fields` entry: a column name (`ltv`), or the long form
/// `{ column: ltv, type: float }` that says a custom attribute's data type outright
/// instead of letting backflow infer it from the column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum FieldSource {
    Column(String),
    Typed(TypedColumn),
}

/// `{ column: C, type: T }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedColumn {
    /// The model column.
    pub column: String,
    /// The custom attribute's data type: `string`, `integer`, `float`, `boolean`
    /// or `date`.
    #[serde(rename = "type")]
    pub data_type: DataType,
}

impl FieldSource {
    /// The model column, in either form.
    pub fn column(&self) -> &str {
        match self {
            FieldSource::Column(column) => column,
            FieldSource::Typed(typed) => &typed.column,
        }
    }

    /// The data type the long form declares; `None` for the short form.
    pub fn data_type(&self) -> Option<DataType> {
        match self {
            FieldSource::Column(_) => None,
            FieldSource::Typed(typed) => Some(typed.data_type),
        }
    }
}

impl From<&str> for FieldSource {
    fn from(column: &str) -> Self {
        FieldSource::Column(column.to_string())
    }
}

impl PartialEq<&str> for FieldSource {
    fn eq(&self, other: &&str) -> bool {
        matches!(self, FieldSource::Column(c) if c == other)
    }
}

// By hand rather than `#[serde(untagged)]`: an untagged enum replaces every inner
// error ("unknown variant `datetime`", "unknown field `colum`") with "did not match
// any variant", and the user needs to know which part of the long form is wrong.
impl<'de> Deserialize<'de> for FieldSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FieldSource;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a column name or { column: <column>, type: string|integer|float|boolean|date }",
                )
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FieldSource, E> {
                Ok(FieldSource::Column(v.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<FieldSource, A::Error> {
                TypedColumn::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(FieldSource::Typed)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

fn default_true() -> bool {
    true
}

impl SyncSpec {
    pub fn delete_mode(&self) -> DeleteMode {
        self.delete.map(|d| d.mode).unwrap_or_default()
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(1000).max(1)
    }
}

impl Config {
    /// The sync named `name`.
    pub fn sync(&self, name: &str) -> Option<&SyncSpec> {
        self.syncs.get(name)
    }

    /// The SQL of model `model`: its inline `sql`, or the text of its `file` once the
    /// IO layer has read it into `sql`. `None` for an unknown model or an unread file.
    pub fn model_sql(&self, model: &str) -> Option<&str> {
        self.models.get(model)?.sql.as_deref()
    }

    /// The load spec of sync `sync` (`None` if there is no such sync or destination),
    /// with the custom attributes the mapping inferred.
    pub fn load_spec(&self, sync: &str, attributes: Vec<AttributeSpec>) -> Option<LoadSpec> {
        let spec = self.sync(sync)?;
        let destination = self.destinations.get(&spec.destination)?;
        Some(LoadSpec {
            sync: sync.to_string(),
            object: spec.object,
            behavior: spec.behavior,
            key_field: spec.key.field,
            delete_mode: spec.delete_mode(),
            create_attributes: spec.create_attributes,
            tags_mode: spec.tags_mode.unwrap_or_default(),
            attributes,
            destination: destination.spec(),
            custom_object: spec.custom_object.clone(),
            subscription_types: Vec::new(),
        })
    }
}

/// Parses and validates a config file.
///
/// `text` is the file's content, `origin` where it came from (a path or `s3://` URL;
/// used in every error and kept in [`Config::origin`]), `env` looks up environment
/// variables (`&|v| std::env::var(v).ok()` in the functions, a table in tests).
///
/// Steps: `${VAR}` expansion line by line (a missing variable is
/// [`Error::MissingEnv`] with its line), YAML deserialization (an unknown, missing or
/// mistyped key is [`Error::Config`] naming it and its 1-based line), then
/// validation ([`Error::Sync`] / [`Error::Invalid`] naming the sync and key).
pub fn parse(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Error> {
    let expanded = env::expand(text, origin, env)?;
    let mut config: Config =
        serde_yaml_ng::from_str(&expanded).map_err(|e| yaml_error(&e, &expanded, origin))?;
    config.origin = origin.to_string();
    validate::validate(&config, origin, &expanded)?;
    Ok(config)
}

/// serde_yaml_ng's error → [`Error::Config`] with a 1-based line and a message
/// without the location suffix (the line is printed once, as `file:line`).
fn yaml_error(e: &serde_yaml_ng::Error, text: &str, file: &str) -> Error {
    let location = e.location();
    let mut message = e.to_string();
    if let Some(loc) = &location {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    if message.contains("untagged enum UrlSource") {
        message = message.replace(
            "data did not match any variant of untagged enum UrlSource",
            "expected a URL string or { secret: <name>, key: <json key> }",
        );
    }
    if message.contains("expected struct SecretRef") {
        message = message.replace(
            "expected struct SecretRef",
            "expected { secret: <name>, key: <json key> } (credentials come from Secrets \
             Manager, never from the config)",
        );
    }
    let mut line = location.map(|l| l.line());
    // serde reports an unknown key at the start of the mapping holding it, or — for
    // the internally tagged `warehouse` — at the start of the document; the user
    // wants the key's own line, so find it.
    if let Some(key) = unknown_field(&message) {
        if let Some(found) = find_key_line(text, key, line.unwrap_or(1)) {
            line = Some(found);
        }
    }
    Error::Config {
        file: file.to_string(),
        line,
        message,
    }
}

/// `x` from serde's "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    Some(&rest[..rest.find('`')?])
}

/// The 1-based line at or after `from` (else anywhere) where `key` is written as a
/// mapping key: at the start of the line (after indentation or `- `), or after `{`
/// or `,` in a flow mapping, optionally quoted, followed by `:`.
pub(super) fn find_key_line(text: &str, key: &str, from: usize) -> Option<usize> {
    // An empty key (`"": 1`) would be found at every position without the search
    // ever moving on; serde's own line is kept for it.
    if key.is_empty() {
        return None;
    }
    let is_key_at = |line: &str| {
        let mut search = 0;
        while let Some(pos) = line[search..].find(key) {
            let start = search + pos;
            let end = start + key.len();
            search = end;
            let (before, after) = (&line[..start], &line[end..]);
            let (before, after) = match (before.chars().last(), after.chars().next()) {
                (Some(q @ ('"' | '\'')), Some(q2)) if q == q2 => {
                    (&before[..before.len() - 1], &after[1..])
                }
                _ => (before, after),
            };
            let before = before.trim_end();
            let before_ok = before.is_empty() || before == "-" || before.ends_with(['{', ',']);
            if before_ok && after.trim_start().starts_with(':') {
                return true;
            }
        }
        false
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = from.saturating_sub(1).min(lines.len());
    (start..lines.len())
        .chain(0..start)
        .find(|&i| is_key_at(lines[i]))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests;
