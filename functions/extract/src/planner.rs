//! The run's plan, row by row: duplicate keys, invalid rows, the diff against
//! state, samples, and cutting the rows to send into batches. Pure (no IO), so the
//! rules are tested without a warehouse or AWS.
//!
//! Memory: one batch of rows, the previous key, and the keys met out of order;
//! never the whole model. The rows come sorted by key (see `merge`), so a key
//! that appears twice appears in two neighbouring rows; only keys met out of
//! order (and non-ASCII e-mails, which SQLite's ASCII-only `lower` may sort
//! elsewhere) are remembered for the whole run. (Two keys equal to backflow that
//! the warehouse sorts apart, the first in order — exotic case folding such as
//! the Kelvin sign — are not caught: both rows go to the one contact of that
//! key, the later row winning.)

use std::collections::HashMap;

use serde_json::json;
use xxhash_rust::xxh3::xxh3_64;

use backflow_core::batch::BatchItem;
use backflow_core::config::{KeyField, SyncSpec};
use backflow_core::mapping::Mapper;
use backflow_core::plan::{self, Action, PlanCounts, Prior, RecordStatus};
use backflow_core::run::{Outcome, RowReport, Sample};
use backflow_core::value::Value;

const SAMPLES_PER_KIND: usize = 3;

/// Where the first row with a given key went.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// In the current (unwritten) batch, at this index.
    Buffered(usize, Action),
    /// In a batch already written.
    Flushed(Action),
    Unchanged,
    Invalid,
    /// Already reported as a duplicate.
    Duplicate,
}

#[derive(Debug, Clone, Copy)]
struct SeenKey {
    row: u64,
    state: Seen,
}

/// The key under which state is remembered: emails compare case-insensitively in
/// Intercom, so `A@x.com` and `a@x.com` are one record.
pub fn state_key(field: KeyField, key: &str) -> String {
    match field {
        KeyField::Email => key.trim().to_lowercase(),
        _ => key.to_string(),
    }
}

pub struct Planner<'a> {
    spec: &'a SyncSpec,
    full_resync: bool,
    batch_size: usize,
    next_seq: u32,
    buffer: Vec<Option<BatchItem>>,
    live: usize,
    seen: HashMap<u64, SeenKey>,
    /// The hash of the last key met in order: its `seen` entry is dropped once a
    /// larger key comes.
    last_in_order: Option<u64>,
    /// Plan counts so far.
    pub plan: PlanCounts,
    /// Invalid rows not yet handed to the caller.
    invalid: Vec<RowReport>,
    /// Keys of rows already written to a batch that turned out to be duplicates;
    /// `load` skips them.
    pub skip: Vec<String>,
    pub samples: Vec<Sample>,
}

impl<'a> Planner<'a> {
    pub fn new(spec: &'a SyncSpec, full_resync: bool) -> Self {
        Planner {
            spec,
            full_resync,
            batch_size: spec.batch_size(),
            next_seq: 0,
            buffer: Vec::new(),
            live: 0,
            seen: HashMap::new(),
            last_in_order: None,
            plan: PlanCounts::default(),
            invalid: Vec::new(),
            skip: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// The row's key as state remembers it (`None` for a null key).
    pub fn key_of(&self, mapper: &Mapper, row: &[Value]) -> Option<String> {
        mapper
            .key_of(row)
            .map(|k| state_key(self.spec.key.field, &k))
    }

    /// Whether every warehouse sorts `key` the way backflow compares keys: not so
    /// for e-mails with non-ASCII letters (SQLite's `lower` is ASCII-only).
    pub fn regular(&self, key: &str) -> bool {
        self.spec.key.field != KeyField::Email || key.is_ascii()
    }

    /// Plans one model row: `key` from [`Planner::key_of`], `prior_entry` the
    /// state of that key, `in_order` whether the key came in sorted order (see
    /// `merge`).
    pub fn push(
        &mut self,
        row_number: u64,
        row: &[Value],
        key: Option<String>,
        prior_entry: Option<Prior>,
        in_order: bool,
        mapper: &mut Mapper,
    ) {
        if let Some(k) = &key {
            let h = xxh3_64(k.as_bytes());
            if let Some(first) = self.seen.get(&h).copied() {
                self.duplicate(k, h, first, row_number);
                return;
            }
            if in_order {
                // Sorted rows: a larger key means the previous one is done.
                if let Some(previous) = self.last_in_order.replace(h) {
                    self.seen.remove(&previous);
                }
            }
        }
        match mapper.map(row_number, row) {
            Err(invalid) => {
                self.plan.invalid += 1;
                let reason = invalid.reasons.join("; ");
                self.sample("invalid", key.clone(), None, None, Some(reason.clone()));
                self.invalid.push(RowReport {
                    key: key.clone(),
                    outcome: Outcome::Invalid,
                    reason,
                    code: None,
                    row: Some(row_number),
                });
                self.remember(key.as_deref(), row_number, Seen::Invalid);
            }
            Ok(mapped) => {
                let key = key.expect("a mapped row has a key");
                let action = plan::decide(
                    self.spec,
                    prior_entry.as_ref(),
                    mapped.fingerprint,
                    self.full_resync,
                );
                self.plan.add(action);
                let Some(action) = action else {
                    self.remember(Some(&key), row_number, Seen::Unchanged);
                    return;
                };
                let before = prior_entry.as_ref().map(prior_json);
                let after = json!({"body": mapped.body, "company_id": mapped.company_id});
                self.sample(
                    action_kind(action),
                    Some(key.clone()),
                    before,
                    Some(after),
                    None,
                );
                let (known_id, attached_company) = prior_entry
                    .map(|p| (p.intercom_id, p.company_id))
                    .unwrap_or_default();
                let intercom_id = if self.spec.key.field == KeyField::Id {
                    Some(key.clone())
                } else {
                    known_id
                };
                self.buffer.push(Some(BatchItem {
                    key: key.clone(),
                    action,
                    fingerprint: Some(mapped.fingerprint),
                    intercom_id,
                    body: mapped.body,
                    company_id: mapped.company_id,
                    attached_company,
                }));
                self.live += 1;
                self.remember(
                    Some(&key),
                    row_number,
                    Seen::Buffered(self.buffer.len() - 1, action),
                );
            }
        }
    }

    fn remember(&mut self, key: Option<&str>, row: u64, state: Seen) {
        if let Some(k) = key {
            self.seen
                .insert(xxh3_64(k.as_bytes()), SeenKey { row, state });
        }
    }

    /// A key seen before: both rows are invalid (which one is right is unknowable).
    fn duplicate(&mut self, key: &str, h: u64, first: SeenKey, row_number: u64) {
        let reason = format!(
            "key `{key}` appears more than once in the model (rows {} and {row_number}); none of its rows is sent",
            first.row
        );
        let first_now_invalid = match first.state {
            Seen::Buffered(i, action) => {
                self.buffer[i] = None;
                self.live -= 1;
                self.uncount(Some(action));
                true
            }
            Seen::Flushed(action) => {
                self.skip.push(key.to_string());
                self.uncount(Some(action));
                true
            }
            Seen::Unchanged => {
                self.uncount(None);
                true
            }
            Seen::Invalid | Seen::Duplicate => false,
        };
        if first_now_invalid {
            self.plan.invalid += 1;
            self.invalid.push(RowReport {
                key: Some(key.to_string()),
                outcome: Outcome::Invalid,
                reason: reason.clone(),
                code: None,
                row: Some(first.row),
            });
        }
        self.plan.invalid += 1;
        self.sample(
            "invalid",
            Some(key.to_string()),
            None,
            None,
            Some(reason.clone()),
        );
        self.invalid.push(RowReport {
            key: Some(key.to_string()),
            outcome: Outcome::Invalid,
            reason,
            code: None,
            row: Some(row_number),
        });
        self.seen.insert(
            h,
            SeenKey {
                row: first.row,
                state: Seen::Duplicate,
            },
        );
    }

    fn uncount(&mut self, action: Option<Action>) {
        let p = &mut self.plan;
        let slot = match action {
            None => &mut p.unchanged,
            Some(Action::Create) => &mut p.create,
            Some(Action::Update) => &mut p.update,
            Some(Action::Delete) => &mut p.delete,
            Some(Action::Archive) => &mut p.archive,
            Some(Action::Send) => &mut p.send,
        };
        *slot = slot.saturating_sub(1);
    }

    fn sample(
        &mut self,
        kind: &str,
        key: Option<String>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        reason: Option<String>,
    ) {
        if self.samples.iter().filter(|s| s.kind == kind).count() < SAMPLES_PER_KIND {
            self.samples.push(Sample {
                key,
                kind: kind.to_string(),
                before,
                after,
                reason,
            });
        }
    }

    /// The next full batch, or with `force` whatever is buffered. Returns its
    /// sequence number and rows.
    pub fn take_batch(&mut self, force: bool) -> Option<(u32, Vec<BatchItem>)> {
        if self.live == 0 || (!force && self.live < self.batch_size) {
            return None;
        }
        let items: Vec<BatchItem> = self.buffer.drain(..).flatten().collect();
        self.live = 0;
        for item in &items {
            if let Some(seen) = self.seen.get_mut(&xxh3_64(item.key.as_bytes())) {
                seen.state = Seen::Flushed(item.action);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        Some((seq, items))
    }

    /// Invalid rows found so far (handed over once).
    pub fn take_invalid(&mut self) -> Vec<RowReport> {
        std::mem::take(&mut self.invalid)
    }

    /// Mirror: the records synced before that left the model (in key order), after
    /// the guard. `previously_active` is how many active records the sync had
    /// before the run.
    pub fn removals(
        &mut self,
        left: Vec<(String, Prior)>,
        previously_active: u64,
        allow_mass_removal: bool,
    ) -> Result<(), String> {
        let action = plan::removal_action(self.spec);
        let gone: Vec<(String, Prior)> = left
            .into_iter()
            .filter(|(_, p)| p.status == RecordStatus::Active)
            .collect();
        plan::check_removals(
            gone.len() as u64,
            previously_active,
            self.spec.max_removals,
            allow_mass_removal,
        )?;
        for (key, prior) in gone {
            self.plan.add(Some(action));
            self.sample(
                action_kind(action),
                Some(key.clone()),
                Some(prior_json(&prior)),
                None,
                None,
            );
            self.buffer.push(Some(BatchItem {
                key,
                action,
                fingerprint: None,
                intercom_id: prior.intercom_id,
                body: Default::default(),
                company_id: None,
                attached_company: None,
            }));
            self.live += 1;
        }
        Ok(())
    }

    /// Rows buffered and not yet in a batch.
    pub fn buffered(&self) -> usize {
        self.live
    }
}

fn prior_json(p: &Prior) -> serde_json::Value {
    json!({"intercom_id": p.intercom_id, "fingerprint": p.fingerprint, "status": p.status})
}

fn action_kind(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Archive => "archive",
        Action::Send => "send",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backflow_core::config::parse;
    use backflow_core::value::{Column, ColumnKind};

    fn spec(sync_yaml: &str) -> SyncSpec {
        let text = format!(
            "warehouse: {{type: sqlite, path: w.db}}\n\
             destinations:\n  ic: {{type: intercom, access_token: {{secret: s, key: k}}}}\n\
             models:\n  m: {{sql: select 1}}\n\
             syncs:\n  s:\n{sync_yaml}"
        );
        let config = parse(&text, "test.yaml", &|_| None).expect("config parses");
        config.syncs["s"].clone()
    }

    fn users() -> SyncSpec {
        spec(
            "    model: m\n    destination: ic\n    object: user\n    behavior: mirror\n\
             \x20   key: {column: id, field: external_id}\n    batch_size: 2\n\
             \x20   fields: {email: email}\n",
        )
    }

    fn columns() -> Vec<Column> {
        vec![
            Column {
                name: "id".into(),
                kind: ColumnKind::Text,
            },
            Column {
                name: "email".into(),
                kind: ColumnKind::Text,
            },
        ]
    }

    fn row(id: Option<&str>, email: &str) -> Vec<Value> {
        vec![
            id.map_or(Value::Null, |i| Value::Text(i.into())),
            Value::Text(email.into()),
        ]
    }

    type Planned<'a> = (
        Planner<'a>,
        Vec<(u32, Vec<BatchItem>)>,
        Vec<(String, Prior)>,
    );

    /// Plans `rows` as `extract` does: the state of each key from `prior`, a row
    /// in order when its key is ≥ the largest key before it. Returns the planner,
    /// the batches cut on the way, and the keys of `prior` no row claimed.
    fn run<'a>(
        spec: &'a SyncSpec,
        rows: &[Vec<Value>],
        prior: &HashMap<String, Prior>,
    ) -> Planned<'a> {
        let mut mapper = Mapper::new("s", spec, &columns()).unwrap();
        let mut planner = Planner::new(spec, false);
        let mut batches = Vec::new();
        let mut last: Option<String> = None;
        let mut claimed = std::collections::HashSet::new();
        for (i, r) in rows.iter().enumerate() {
            let key = planner.key_of(&mapper, r);
            let in_order = key
                .as_ref()
                .is_some_and(|k| planner.regular(k) && last.as_ref().is_none_or(|l| k >= l));
            if in_order {
                last.clone_from(&key);
            }
            let entry = key.as_ref().and_then(|k| prior.get(k).cloned());
            claimed.extend(key.clone());
            planner.push(i as u64 + 1, r, key, entry, in_order, &mut mapper);
            batches.extend(planner.take_batch(false));
        }
        let mut left: Vec<(String, Prior)> = prior
            .iter()
            .filter(|(k, _)| !claimed.contains(*k))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect();
        left.sort_by(|a, b| a.0.cmp(&b.0));
        (planner, batches, left)
    }

    #[test]
    fn batches_are_cut_at_batch_size() {
        let spec = users();
        let rows: Vec<_> = (0..5)
            .map(|i| row(Some(&format!("u{i}")), &format!("u{i}@x.io")))
            .collect();
        let (mut planner, mut batches, _) = run(&spec, &rows, &HashMap::new());
        batches.extend(planner.take_batch(true));
        let sizes: Vec<(u32, usize)> = batches.iter().map(|(s, b)| (*s, b.len())).collect();
        assert_eq!(sizes, vec![(0, 2), (1, 2), (2, 1)]);
        assert_eq!(planner.plan.create, 5);
    }

    #[test]
    fn a_duplicate_key_makes_both_rows_invalid_even_after_the_first_was_written() {
        let spec = users();
        // Sorted by key, as the warehouse returns them.
        let rows = vec![
            row(None, "n@x.io"),
            row(Some("a"), "a@x.io"),
            row(Some("b"), "b@x.io"),  // batch 0 = [a, b] is written here
            row(Some("b"), "b2@x.io"), // b was written: goes to the skip list
            row(Some("c"), "c@x.io"),
            row(Some("c"), "c2@x.io"), // c is still buffered: dropped from the batch
        ];
        let (mut planner, mut batches, _) = run(&spec, &rows, &HashMap::new());
        batches.extend(planner.take_batch(true));
        let keys: Vec<Vec<String>> = batches
            .iter()
            .map(|(_, b)| b.iter().map(|i| i.key.clone()).collect())
            .collect();
        assert_eq!(keys, vec![vec!["a".to_string(), "b".to_string()]]);
        assert_eq!(planner.skip, vec!["b".to_string()]);
        let invalid = planner.take_invalid();
        let mut rows: Vec<(Option<String>, Option<u64>)> =
            invalid.iter().map(|r| (r.key.clone(), r.row)).collect();
        rows.sort();
        assert_eq!(
            rows,
            vec![
                (None, Some(1)),
                (Some("b".into()), Some(3)),
                (Some("b".into()), Some(4)),
                (Some("c".into()), Some(5)),
                (Some("c".into()), Some(6)),
            ]
        );
        assert!(invalid
            .iter()
            .any(|r| r.reason.contains("appears more than once")));
        assert_eq!(
            (planner.plan.create, planner.plan.invalid),
            (1, 5),
            "{:?}",
            planner.plan
        );
    }

    #[test]
    fn sorted_rows_keep_one_key_in_memory_and_keys_out_of_order_are_remembered() {
        let spec = users();
        let mut rows: Vec<_> = (0..1000)
            .map(|i| row(Some(&format!("k{i:04}")), &format!("u{i}@x.io")))
            .collect();
        // Out of order: "a" comes after "k…", and again in a later row.
        rows.push(row(Some("a"), "a@x.io"));
        rows.push(row(Some("z"), "z@x.io"));
        rows.push(row(Some("a"), "a2@x.io"));
        let (planner, _, _) = run(&spec, &rows, &HashMap::new());
        assert!(
            planner.seen.len() <= 2,
            "remembered {} keys for 1,003 sorted rows",
            planner.seen.len()
        );
        let mut invalid: Vec<_> = planner.invalid.iter().map(|r| r.row).collect();
        invalid.sort();
        assert_eq!(invalid, vec![Some(1001), Some(1003)]);
    }

    #[test]
    fn unchanged_rows_are_not_batched_and_mirror_removes_what_left() {
        let spec = users();
        let mut mapper = Mapper::new("s", &spec, &columns()).unwrap();
        let same = mapper
            .map(1, &row(Some("a"), "a@x.io"))
            .unwrap()
            .fingerprint;
        let active = |fp| Prior {
            intercom_id: Some("ic".into()),
            fingerprint: fp,
            status: RecordStatus::Active,
            company_id: None,
        };
        let mut prior: HashMap<String, Prior> = (0..20)
            .map(|i| (format!("gone{i}"), active(None)))
            .collect();
        prior.insert("a".into(), active(Some(same)));
        let (mut planner, batches, left) = run(&spec, &[row(Some("a"), "a@x.io")], &prior);
        assert!(batches.is_empty());
        assert_eq!(planner.plan.unchanged, 1);
        // 20 of 21 would go: more than 10 %, refused before anything is batched.
        let err = planner.removals(left.clone(), 21, false).unwrap_err();
        assert!(err.contains("allow_mass_removal"), "{err}");
        assert_eq!(planner.buffered(), 0);
        planner.removals(left, 21, true).unwrap();
        let (_, items) = planner.take_batch(true).unwrap();
        assert_eq!(items.len(), 20);
        assert!(items
            .iter()
            .all(|i| i.action == Action::Archive && i.intercom_id.as_deref() == Some("ic")));
    }

    #[test]
    fn email_keys_are_remembered_case_insensitively() {
        assert_eq!(state_key(KeyField::Email, " Ada@X.io "), "ada@x.io");
        assert_eq!(state_key(KeyField::ExternalId, "Ada"), "Ada");
    }
}
