//! The run's plan, row by row: duplicate keys, invalid rows, the diff against
//! state, samples, and cutting the rows to send into batches. Pure (no IO), so the
//! rules are tested without a warehouse or AWS.
//!
//! Memory: one small entry per distinct key seen (to find duplicates) plus one
//! batch of rows; never the whole model.

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
            plan: PlanCounts::default(),
            invalid: Vec::new(),
            skip: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// Plans one model row. `prior` holds the state of keys not seen yet in this
    /// run; a seen key's entry is removed, so what is left at the end is what left
    /// the model (mirror removals).
    pub fn push(
        &mut self,
        row_number: u64,
        row: &[Value],
        mapper: &mut Mapper,
        prior: &mut HashMap<String, Prior>,
    ) {
        let key = mapper
            .key_of(row)
            .map(|k| state_key(self.spec.key.field, &k));
        if let Some(k) = &key {
            let h = xxh3_64(k.as_bytes());
            if let Some(first) = self.seen.get(&h).copied() {
                self.duplicate(k, h, first, row_number);
                return;
            }
        }
        let prior_entry = key.as_ref().and_then(|k| prior.remove(k));
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
                let intercom_id = if self.spec.key.field == KeyField::Id {
                    Some(key.clone())
                } else {
                    prior_entry.and_then(|p| p.intercom_id)
                };
                self.buffer.push(Some(BatchItem {
                    key: key.clone(),
                    action,
                    fingerprint: Some(mapped.fingerprint),
                    intercom_id,
                    body: mapped.body,
                    company_id: mapped.company_id,
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

    /// Mirror: the records synced before that left the model, after the guard.
    /// `previously_active` is how many active records the sync had before the run.
    pub fn removals(
        &mut self,
        left: HashMap<String, Prior>,
        previously_active: u64,
        allow_mass_removal: bool,
    ) -> Result<(), String> {
        let action = plan::removal_action(self.spec);
        let mut gone: Vec<(String, Prior)> = left
            .into_iter()
            .filter(|(_, p)| p.status == RecordStatus::Active)
            .collect();
        plan::check_removals(
            gone.len() as u64,
            previously_active,
            self.spec.max_removals,
            allow_mass_removal,
        )?;
        gone.sort_by(|a, b| a.0.cmp(&b.0));
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
