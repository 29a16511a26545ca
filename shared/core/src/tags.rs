//! List fields: a record's tags (`fields.tags`, contacts and companies) and a
//! contact's companies (`fields.company_id` / `fields.company_ids`).
//!
//! # What backflow remembers
//! Per key, which tags it applied and which companies it attached, as a
//! [`Memo`]: the sorted 4-byte hashes of the names (tags: trimmed, lower-cased,
//! as Intercom compares tag names; companies: the `company_id` as it is). State
//! items are read on every run, so 4 bytes per tag or company is what a list
//! adds to the cost of an unchanged run, whatever the names' length.
//!
//! A hash is enough to tell whether a list changed and which remembered entries
//! left it. To remove a tag that left, `load` finds its name and id among the
//! workspace's tags (`GET /tags`, once per invocation, only when something is to
//! be removed); to detach a company, among the contact's companies (`GET
//! /contacts/{id}/companies`, only for a contact losing one).
//!
//! # Unchanged
//! A row is unchanged when its fingerprint (the body) is and both memos equal
//! what the row lists now: the memo is the list's part of the fingerprint, and
//! comparing them makes no Intercom call. A row whose lists changed but whose
//! body did not is an update that skips the body write ([`ItemLists::body_unchanged`]).

use serde::{Deserialize, Serialize};

use crate::config::{Behavior, SyncSpec};
use crate::fingerprint::Fingerprint;
use crate::plan::{self, Action, Prior};
use crate::value::{to_text, CoerceError, Value};

/// `tags_mode` of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagsMode {
    /// Remove only tags backflow applied and that left the list (default):
    /// tags people applied in Intercom stay.
    #[default]
    Keep,
    /// The record carries exactly the listed tags: any other is removed.
    Exact,
}

/// Sorted, deduplicated 4-byte hashes of names (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Memo(pub Vec<u32>);

/// The hash a tag is remembered by: its name trimmed and lower-cased.
pub fn tag_hash(name: &str) -> u32 {
    short_hash(&tag_key(name))
}

/// The hash a company is remembered by: its `company_id`.
pub fn company_hash(company_id: &str) -> u32 {
    short_hash(company_id)
}

/// Tag names compare case-insensitively in Intercom.
pub fn tag_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn short_hash(text: &str) -> u32 {
    // The low 32 bits of xxh3-64: stable across releases (stored in state).
    xxhash_rust::xxh3::xxh3_64(text.as_bytes()) as u32
}

impl Memo {
    pub fn of_hashes(hashes: impl IntoIterator<Item = u32>) -> Memo {
        let mut v: Vec<u32> = hashes.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Memo(v)
    }

    pub fn of_tags<'a>(names: impl IntoIterator<Item = &'a String>) -> Memo {
        Memo::of_hashes(names.into_iter().map(|n| tag_hash(n)))
    }

    pub fn of_companies<'a>(ids: impl IntoIterator<Item = &'a String>) -> Memo {
        Memo::of_hashes(ids.into_iter().map(|c| company_hash(c)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, hash: u32) -> bool {
        self.0.binary_search(&hash).is_ok()
    }

    /// Big-endian, 4 bytes per entry (the state item's `tg` / `cs`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|h| h.to_be_bytes()).collect()
    }

    /// `None` when `bytes` is not a whole number of entries.
    pub fn from_bytes(bytes: &[u8]) -> Option<Memo> {
        if !bytes.len().is_multiple_of(4) {
            return None;
        }
        Some(Memo::of_hashes(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
        ))
    }

    /// Entries of `self` not in `other`.
    pub fn minus(&self, other: &Memo) -> Vec<u32> {
        self.0
            .iter()
            .copied()
            .filter(|h| !other.contains(*h))
            .collect()
    }
}

/// What a row lists: `None` when the sync maps no such field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowLists {
    /// Tag names, trimmed, without empties or case-insensitive repeats (the
    /// first spelling kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Contacts: the `company_id`s to be attached to (`company_id` and
    /// `company_ids` together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companies: Option<Vec<String>>,
}

impl RowLists {
    pub fn is_empty(&self) -> bool {
        self.tags.is_none() && self.companies.is_none()
    }

    /// Adds tag names from a cell (a list, or text separated by commas); a
    /// null adds none. Repeats (case-insensitive) are dropped.
    pub fn add_tags(&mut self, value: &Value) -> Result<(), CoerceError> {
        let tags = self.tags.get_or_insert_with(Vec::new);
        for name in list_items(value)? {
            if name.chars().count() > MAX_TAG_CHARS {
                return Err(CoerceError(format!(
                    "tag '{}…' is longer than {MAX_TAG_CHARS} characters",
                    name.chars().take(20).collect::<String>()
                )));
            }
            if !tags.iter().any(|t| tag_key(t) == tag_key(&name)) {
                tags.push(name);
            }
        }
        Ok(())
    }

    /// Adds `company_id`s from a cell (one id, a list, or — for `company_ids`
    /// — text separated by commas); a null adds none.
    pub fn add_companies(&mut self, value: &Value, split: bool) -> Result<(), CoerceError> {
        let companies = self.companies.get_or_insert_with(Vec::new);
        let items = if split || matches!(value, Value::List(_)) {
            list_items(value)?
        } else if value.is_null() {
            Vec::new()
        } else {
            vec![to_text(value)?.trim().to_string()]
        };
        for id in items {
            if !id.is_empty() && !companies.contains(&id) {
                companies.push(id);
            }
        }
        Ok(())
    }

    /// The memos this row would leave behind once Intercom confirmed it.
    pub fn memos(&self) -> (Option<Memo>, Option<Memo>) {
        (
            self.tags.as_ref().map(Memo::of_tags),
            self.companies.as_ref().map(Memo::of_companies),
        )
    }
}

/// Intercom keeps tag names short; a longer one is almost always a column
/// holding something else.
pub const MAX_TAG_CHARS: usize = 255;

/// The items of a list cell: a list's items as text, text holding a JSON
/// array item by item, or other text split on commas; each trimmed, empties
/// dropped. A null is the empty list.
///
/// JSON text is how an array reaches backflow where the column is not typed
/// as one: Snowflake's `VARIANT` (`payload:tags`, and how fakesnow describes
/// every `ARRAY`), BigQuery's `JSON`, PostgreSQL's `jsonb`, MySQL's
/// `JSON_ARRAYAGG`. Split on commas it would become tags like `["vip"`.
pub fn list_items(value: &Value) -> Result<Vec<String>, CoerceError> {
    let items: Vec<String> = match value {
        Value::Null => Vec::new(),
        Value::List(items) => list_item_texts(items)?,
        Value::Text(s) => match json_array(s) {
            Some(items) => list_item_texts(&items?)?,
            None => s.split(',').map(str::to_string).collect(),
        },
        other => vec![to_text(other)?],
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

fn list_item_texts(items: &[Value]) -> Result<Vec<String>, CoerceError> {
    items
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::List(_) => Err(CoerceError(format!(
                "{} is a list inside a list",
                v.quoted()
            ))),
            v => to_text(v),
        })
        .collect()
}

/// `text` as the items of a JSON array, when it is one (`None`: not JSON, or
/// JSON of another shape, read as comma-separated text). Items are strings,
/// numbers and booleans; a nested array or an object is an error, as in a list.
fn json_array(text: &str) -> Option<Result<Vec<Value>, CoerceError>> {
    let trimmed = text.trim();
    if !(trimmed.starts_with('[') && trimmed.ends_with(']')) {
        return None;
    }
    let serde_json::Value::Array(items) = serde_json::from_str(trimmed).ok()? else {
        return None;
    };
    Some(
        items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::Null => Ok(Value::Null),
                serde_json::Value::String(s) => Ok(Value::Text(s)),
                serde_json::Value::Bool(b) => Ok(Value::Bool(b)),
                // A number's own digits: `7`, not `7.0`; 20-digit ids stay exact.
                serde_json::Value::Number(n) => Ok(Value::Text(n.to_string())),
                nested => Err(CoerceError(format!("{nested} is not a name inside a list"))),
            })
            .collect(),
    )
}

/// What backflow remembers of a record's lists (part of [`Prior`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    #[serde(default, skip_serializing_if = "Memo::is_empty")]
    pub tags: Memo,
    #[serde(default, skip_serializing_if = "Memo::is_empty")]
    pub companies: Memo,
}

/// A batch item's list work: what the row lists, what backflow remembers, and
/// whether the body needs no write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemLists {
    #[serde(default, skip_serializing_if = "RowLists::is_empty")]
    pub row: RowLists,
    #[serde(default)]
    pub remembered: Remembered,
    /// The body's fingerprint is what Intercom confirmed: only the lists
    /// changed, so the record is not written again (a tag change on N records
    /// costs the bulk tag calls, not N writes too).
    #[serde(default)]
    pub body_unchanged: bool,
}

impl ItemLists {
    pub fn is_empty(&self) -> bool {
        self.row.is_empty() && self.remembered == Remembered::default() && !self.body_unchanged
    }
}

/// Whether the row's lists differ from what backflow remembers. A list the
/// sync does not map never counts as changed.
pub fn lists_changed(row: &RowLists, remembered: &Remembered) -> bool {
    let (tags, companies) = row.memos();
    tags.is_some_and(|t| t != remembered.tags)
        || companies.is_some_and(|c| c != remembered.companies)
}

/// [`plan::decide`] with the lists: a row whose body is unchanged but whose
/// lists changed is an `Update` with `body_unchanged` set. Returns the action
/// and that flag.
pub fn decide(
    spec: &SyncSpec,
    prior: Option<&Prior>,
    fingerprint: Fingerprint,
    row: &RowLists,
    full_resync: bool,
) -> (Option<Action>, bool) {
    let action = plan::decide(spec, prior, fingerprint, full_resync);
    let listing = matches!(
        spec.behavior,
        Behavior::UpdateOrCreate | Behavior::Mirror | Behavior::UpdateOnly
    );
    match (action, prior) {
        (None, Some(p)) if listing && lists_changed(row, &p.remembered) => {
            // Only the lists changed; the record is known (else decide had
            // planned a create), so the body need not be sent again.
            (Some(Action::Update), p.intercom_id.is_some())
        }
        (action, _) => (action, false),
    }
}

/// The tag work of one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChanges {
    /// Names to apply.
    pub add: Vec<String>,
    /// Hashes of remembered tags that left the list (mode `keep`); resolved to
    /// names through the workspace's tags.
    pub remove: Vec<u32>,
}

/// Which tags to apply and remove, `desired` against `remembered` (mode
/// `keep`). A new record, or `full_resync`, applies every listed tag (one bulk
/// call per tag name covers many records); else only the new ones. Under
/// `exact` the caller compares with the record's current tags instead.
pub fn tag_changes(desired: &[String], remembered: &Memo, apply_all: bool) -> TagChanges {
    let wanted = Memo::of_tags(desired);
    TagChanges {
        add: desired
            .iter()
            .filter(|t| apply_all || !remembered.contains(tag_hash(t)))
            .cloned()
            .collect(),
        remove: remembered.minus(&wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn list_cells_become_trimmed_names() {
        assert_eq!(
            list_items(&t(" vip, trial ,,beta ")).unwrap(),
            ["vip", "trial", "beta"]
        );
        assert_eq!(
            list_items(&Value::List(vec![t("a b"), Value::Null, Value::Int(7)])).unwrap(),
            ["a b", "7"]
        );
        assert!(list_items(&Value::Null).unwrap().is_empty());
        assert!(list_items(&Value::List(vec![Value::List(vec![])])).is_err());
        // JSON arrays in text (a VARIANT, a JSON column) item by item.
        assert_eq!(
            list_items(&t(
                r#" ["vip", "trial, EU", null, 7, 12345678901234567890, true] "#
            ))
            .unwrap(),
            ["vip", "trial, EU", "7", "12345678901234567890", "true"]
        );
        assert!(list_items(&t("[]")).unwrap().is_empty());
        assert!(list_items(&t(r#"[["a"]]"#)).is_err());
        assert!(list_items(&t(r#"[{"v": "a"}]"#)).is_err());
        // Not JSON: comma text, brackets and all.
        assert_eq!(list_items(&t("[beta], vip")).unwrap(), ["[beta]", "vip"]);
        assert_eq!(list_items(&t("[a, b]")).unwrap(), ["[a", "b]"]);
        let mut lists = RowLists::default();
        lists.add_tags(&t("VIP,vip, Trial")).unwrap();
        assert_eq!(lists.tags.as_deref().unwrap(), ["VIP", "Trial"]);
        lists.add_tags(&Value::Null).unwrap();
        assert_eq!(lists.tags.as_ref().unwrap().len(), 2);
        assert!(lists.add_tags(&t(&"x".repeat(300))).is_err());
    }

    #[test]
    fn companies_from_one_id_or_a_list() {
        let mut lists = RowLists::default();
        lists.add_companies(&t("acme, inc"), false).unwrap();
        assert_eq!(lists.companies.as_deref().unwrap(), ["acme, inc"]);
        lists.add_companies(&t("b,c, acme, inc"), true).unwrap();
        assert_eq!(
            lists.companies.as_deref().unwrap(),
            ["acme, inc", "b", "c", "acme", "inc"]
        );
        let mut null = RowLists::default();
        null.add_companies(&Value::Null, false).unwrap();
        assert_eq!(null.companies, Some(vec![]), "mapped, none listed");
    }

    #[test]
    fn memos_are_order_free_case_free_for_tags_and_round_trip() {
        let a = Memo::of_tags(&["VIP".to_string(), "trial".to_string()]);
        let b = Memo::of_tags(&[" trial".to_string(), "vip".to_string()]);
        assert_eq!(a, b);
        assert_ne!(
            Memo::of_companies(&["Acme".to_string()]),
            Memo::of_companies(&["acme".to_string()]),
            "company ids are compared as they are"
        );
        assert_eq!(Memo::from_bytes(&a.to_bytes()), Some(a.clone()));
        assert_eq!(a.to_bytes().len(), 8);
        assert_eq!(Memo::from_bytes(&[1, 2, 3]), None);
        // Stored in DynamoDB: a change here makes every remembered tag unknown.
        assert_eq!(tag_hash("VIP"), tag_hash("vip"));
        assert_eq!(tag_hash("vip"), 0xd923_bd48, "{:#x}", tag_hash("vip"));
    }

    #[test]
    fn tag_changes_add_the_new_and_remove_what_left() {
        let remembered = Memo::of_tags(&["old".to_string(), "keep".to_string()]);
        let desired = vec!["keep".to_string(), "new".to_string()];
        let c = tag_changes(&desired, &remembered, false);
        assert_eq!(c.add, ["new"]);
        assert_eq!(c.remove, vec![tag_hash("old")]);
        let all = tag_changes(&desired, &remembered, true);
        assert_eq!(all.add, ["keep", "new"]);
    }

    #[test]
    fn lists_changed_only_for_mapped_lists() {
        let remembered = Remembered {
            tags: Memo::of_tags(&["a".to_string()]),
            companies: Memo::default(),
        };
        let same = RowLists {
            tags: Some(vec!["A".into()]),
            companies: None,
        };
        assert!(!lists_changed(&same, &remembered));
        let other = RowLists {
            tags: Some(vec!["b".into()]),
            companies: None,
        };
        assert!(lists_changed(&other, &remembered));
        let none = RowLists {
            tags: Some(vec![]),
            companies: Some(vec![]),
        };
        assert!(lists_changed(&none, &remembered), "a tag left");
        assert!(!lists_changed(&RowLists::default(), &remembered));
    }
}
