//! A dry run's sample rows, field by field: before → after.
//!
//! A sample carries `before` and `after` as JSON: `after` is `{"body": <what
//! would be sent>, "company_id": …}`, `before` the record's current values of
//! those fields, read from Intercom during the dry run (`null` when Intercom
//! has no such record; what backflow remembers — Intercom id, fingerprint —
//! when the read failed, with the reason). Both are flattened to dotted paths
//! (`custom_attributes.ltv`), `after`'s `body.` prefix dropped so its fields
//! line up with the record's, and shown side by side; changed fields are
//! marked. The sample's `reason` (not in Intercom, could not read, invalid)
//! is printed above its fields.

use std::collections::BTreeMap;

use backflow_core::run::Sample;
use comfy_table::{Cell, Color};
use serde_json::Value;

use crate::output::{cell_text, Out};

/// One field of a sample: its path, the value before and the value after
/// (`None` where that side does not have it).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl FieldChange {
    /// A missing value and `null` read the same ("-"): only a real difference counts.
    pub fn changed(&self) -> bool {
        self.before.as_ref().unwrap_or(&Value::Null) != self.after.as_ref().unwrap_or(&Value::Null)
    }
}

/// `before` and `after` side by side, by dotted path, sorted.
pub fn field_changes(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let mut fields: BTreeMap<String, FieldChange> = BTreeMap::new();
    let mut add = |value: Option<&Value>, is_after: bool| {
        let mut flat = Vec::new();
        if let Some(v) = value {
            flatten("", v, &mut flat);
        }
        for (path, v) in flat {
            let path = path
                .strip_prefix("body.")
                .map(str::to_string)
                .unwrap_or(path);
            let entry = fields.entry(path.clone()).or_insert(FieldChange {
                field: path,
                before: None,
                after: None,
            });
            if is_after {
                entry.after = Some(v);
            } else {
                entry.before = Some(v);
            }
        }
    };
    add(before, false);
    add(after, true);
    fields.into_values().collect()
}

/// Objects become dotted paths; arrays and scalars are leaves. A JSON `null`
/// leaf is kept (it says "cleared").
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, child, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Prints each sample: a title line (`update  key 7`) then its fields, or its
/// reason when it is invalid.
pub fn print_samples(out: &Out, samples: &[Sample]) {
    if samples.is_empty() {
        return;
    }
    println!();
    println!("sample rows (before: Intercom now → after: what the run sends):");
    for s in samples {
        let key = s.key.as_deref().unwrap_or("(null key)");
        println!();
        println!("{}  key {key}", out.paint(&s.kind, kind_color(&s.kind)));
        if let Some(reason) = &s.reason {
            println!("  {reason}");
        }
        let changes = field_changes(s.before.as_ref(), s.after.as_ref());
        if changes.is_empty() {
            continue;
        }
        let side = |v: &Option<Value>| v.as_ref().map(cell_text).unwrap_or_else(|| "-".into());
        // A `before` with a fingerprint is what backflow remembers of the record
        // (its Intercom id; the read from Intercom failed, or an older API),
        // not its fields: one line, then the fields sent.
        let remembered = s.before.as_ref().is_some_and(is_remembered);
        if remembered && s.after.is_some() {
            let state: Vec<String> = changes
                .iter()
                .filter(|c| c.before.is_some())
                .map(|c| format!("{} {}", c.field, side(&c.before)))
                .collect();
            println!("  backflow remembers: {}", state.join(", "));
        }
        let mut table = out.table(&["", "FIELD", "BEFORE", "AFTER"]);
        for c in changes
            .iter()
            .filter(|c| !remembered || c.after.is_some() || s.after.is_none())
        {
            let (mark, after) = if c.changed() {
                ("*", Cell::new(side(&c.after)).fg(Color::Green))
            } else {
                ("", Cell::new(side(&c.after)))
            };
            table.add_row(vec![
                Cell::new(mark),
                Cell::new(&c.field),
                Cell::new(side(&c.before)),
                after,
            ]);
        }
        out.print_table(&table);
    }
}

/// A `before` in the shape of backflow's state (Intercom id, fingerprint,
/// status), which no Intercom record has.
fn is_remembered(before: &Value) -> bool {
    before.get("fingerprint").is_some()
}

fn kind_color(kind: &str) -> Color {
    match kind {
        "create" | "send" => Color::Green,
        "update" => Color::Cyan,
        "delete" | "archive" => Color::Red,
        _ => Color::Yellow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_line_up_by_path_and_changes_are_marked() {
        let before = json!({"email": "a@x.io", "name": "Ann", "custom_attributes": {"ltv": 10, "plan": "pro"}});
        let after = json!({
            "body": {"email": "a@x.io", "custom_attributes": {"ltv": 12.5, "plan": "pro"}, "name": null},
            "company_id": "c1"
        });
        let got = field_changes(Some(&before), Some(&after));
        let view: Vec<(&str, bool)> = got
            .iter()
            .map(|c| (c.field.as_str(), c.changed()))
            .collect();
        assert_eq!(
            view,
            vec![
                ("company_id", true),
                ("custom_attributes.ltv", true),
                ("custom_attributes.plan", false),
                ("email", false),
                ("name", true),
            ]
        );
        assert_eq!(got[1].before, Some(json!(10)));
        assert_eq!(got[1].after, Some(json!(12.5)));
        assert_eq!(got[4].after, Some(Value::Null));
        // Missing on one side and null on the other: the same to a reader.
        let same = field_changes(None, Some(&json!({"body": {"x": null}})));
        assert!(!same[0].changed());
    }

    #[test]
    fn a_remembered_before_is_told_from_a_record_read_from_intercom() {
        let state = json!({"intercom_id": "c1", "fingerprint": null, "status": "active"});
        assert!(is_remembered(&state));
        let read = json!({"name": "By hand", "custom_attributes": {"fingerprint": "x"}});
        assert!(!is_remembered(&read));
    }

    #[test]
    fn one_side_may_be_missing() {
        let after = json!({"body": {"email": "n@x.io"}, "company_id": null});
        let got = field_changes(None, Some(&after));
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|c| c.before.is_none()));
        let before = json!({"intercom_id": "abc", "fingerprint": "f", "status": "active"});
        let got = field_changes(Some(&before), None);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|c| c.after.is_none() && c.changed()));
        assert!(field_changes(None, None).is_empty());
    }
}
