//! What `extract` writes to S3 and `load` reads back: one batch per `load` invocation.
//!
//! A batch is self-contained: it carries the sync's load spec, so a config edit
//! between extract and load cannot change what a run sends.

use serde::{Deserialize, Serialize};

use crate::config::{Behavior, DeleteMode, KeyField, Object, SecretRef};
use crate::fingerprint::Fingerprint;
use crate::plan::Action;
use crate::subscriptions::SubscriptionType;
use crate::tags::ItemLists;
use crate::value::DataType;

/// A custom attribute the sync writes, with the type inferred from its column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSpec {
    /// The attribute's name (without `custom_attributes.`).
    pub name: String,
    /// `contact` or `company`.
    pub model: String,
    pub data_type: DataType,
}

/// How to reach the Intercom workspace (no secret values, only where they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationSpec {
    pub base_url: String,
    pub api_version: String,
    pub access_token: SecretRef,
    /// The configured region name (`us`/`eu`/`au`), for "wrong region" hints; `None`
    /// when `base_url` overrides it.
    pub region: Option<String>,
}

/// Everything `load` needs to know about the sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadSpec {
    pub sync: String,
    pub object: Object,
    pub behavior: Behavior,
    pub key_field: KeyField,
    pub delete_mode: DeleteMode,
    pub create_attributes: bool,
    /// How tags not in a row's list are treated (`fields.tags`).
    #[serde(default)]
    pub tags_mode: crate::tags::TagsMode,
    pub attributes: Vec<AttributeSpec>,
    pub destination: DestinationSpec,
    /// Object `custom_object`: the type's identifier in Intercom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_object: Option<String>,
    /// The subscription types the sync maps (`subscriptions.<name>`), resolved by
    /// `extract` once per run, so `load` looks none up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscription_types: Vec<SubscriptionType>,
}

/// One row to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    /// The key value (as text).
    pub key: String,
    pub action: Action,
    /// The fingerprint to remember once Intercom confirmed (`None` for removals).
    pub fingerprint: Option<Fingerprint>,
    /// The Intercom id backflow remembers for this key, if any.
    pub intercom_id: Option<String>,
    /// The request body (contact/company/event fields, `custom_attributes`,
    /// `metadata`), already coerced. Empty for removals.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// Tags and (contacts) companies: what the row lists and what backflow
    /// remembers applying, so `load` applies and removes only the difference.
    #[serde(default, skip_serializing_if = "ItemLists::is_empty")]
    pub lists: ItemLists,
    /// The row's number in the model (0-based), so a row Intercom refuses is
    /// reported at the same place as the extract's own reports; `None` for
    /// removals (the key left the model) and in batches written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
}

/// One batch (one S3 object, one `load` invocation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub run_id: String,
    /// 0-based batch number within the run.
    pub seq: u32,
    pub spec: LoadSpec,
    pub items: Vec<BatchItem>,
}

/// The payload of a `load` invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequest {
    pub run_id: String,
    pub seq: u32,
    /// The S3 key of the batch.
    pub key: String,
    /// The S3 key of the run's duplicate-key skip list, when the model had
    /// duplicate keys whose first row was already written to a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_list: Option<String>,
}

/// The S3 key of a run's batch.
pub fn batch_key(run_id: &str, seq: u32) -> String {
    format!("runs/{run_id}/batch-{seq:06}.json")
}
