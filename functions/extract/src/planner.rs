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
use backflow_core::mapping::{MappedRow, Mapper};
use backflow_core::plan::{self, Action, PlanCounts, Prior, RecordStatus};
use backflow_core::run::{Outcome, RowReport, Sample};
use backflow_core::tags::{self, company_hash, ItemLists};
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
pub fn state_key(field: KeyField, key: String) -> String {
    match field {
        // Most e-mails already are lower-case ASCII with no spaces around: kept
        // as they came, not copied (any other character takes the full path).
        KeyField::Email if is_folded_ascii(&key) => key,
        KeyField::Email => key.trim().to_lowercase(),
        _ => key,
    }
}

/// ASCII with no upper-case letter and no white space at either end: what
/// `trim().to_lowercase()` returns unchanged.
fn is_folded_ascii(key: &str) -> bool {
    // `char::is_whitespace`, not `u8::is_ascii_whitespace`: `trim` also takes
    // the vertical tab, which the latter does not count.
    let spaced = |b: Option<&u8>| b.is_some_and(|&b| char::from(b).is_whitespace());
    let bytes = key.as_bytes();
    bytes
        .iter()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        && !spaced(bytes.first())
        && !spaced(bytes.last())
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
            .map(|k| state_key(self.spec.key.field, k))
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
        match (key, mapper.map(row_number, row)) {
            (Some(key), Ok(mapped)) => self.push_mapped(row_number, key, mapped, prior_entry),
            (key, Err(invalid)) => self.push_invalid(row_number, key, invalid.reasons.join("; ")),
            // The mapper refuses a row whose key is null, so this does not happen;
            // were the two to disagree, the row is reported, not sent without a key.
            (None, Ok(_)) => {
                let reason = format!("key column `{}` is null", mapper.key_column());
                self.push_invalid(row_number, None, reason)
            }
        }
    }

    /// A row the mapper refused: reported with its reasons, never sent.
    fn push_invalid(&mut self, row_number: u64, key: Option<String>, reason: String) {
        self.plan.invalid += 1;
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

    /// A mapped row: diffed against its state, and buffered for a batch unless
    /// it is unchanged.
    fn push_mapped(
        &mut self,
        row_number: u64,
        key: String,
        mapped: MappedRow,
        prior_entry: Option<Prior>,
    ) {
        let (action, body_unchanged) = tags::decide(
            self.spec,
            prior_entry.as_ref(),
            mapped.fingerprint,
            &mapped.lists,
            self.full_resync,
        );
        self.plan.add(action);
        let Some(action) = action else {
            self.remember(Some(&key), row_number, Seen::Unchanged);
            return;
        };
        // Built only while the kind still wants samples: cloning every row's
        // body for a sample that is then dropped costs a dry run dearly.
        if self.wants_sample(action_kind(action)) {
            self.sample_change(action, &key, prior_entry.as_ref(), &mapped);
        }
        let (known_id, remembered) = prior_entry
            .map(|p| (p.intercom_id, p.remembered))
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
            lists: ItemLists {
                row: mapped.lists,
                remembered,
                body_unchanged,
            },
            row: Some(row_number),
        }));
        self.live += 1;
        self.remember(
            Some(&key),
            row_number,
            Seen::Buffered(self.buffer.len() - 1, action),
        );
    }

    /// A create, update or removal sample: what backflow remembers of the key
    /// (`before`; a dry run replaces it with what Intercom holds) and what the
    /// row would send (`after`).
    fn sample_change(
        &mut self,
        action: Action,
        key: &str,
        prior: Option<&Prior>,
        mapped: &MappedRow,
    ) {
        let before = prior.map(|p| prior_json(p, mapped.company_id.as_deref()));
        let mut after = json!({"body": mapped.body});
        // Only a contact is attached to a company; a company's own `company_id`
        // is in its body.
        if self.spec.object.is_contact() && self.spec.fields.contains_key("company_id") {
            after["company_id"] = json!(mapped.company_id);
        }
        if let Some(tags) = &mapped.lists.tags {
            after["tags"] = json!(tags);
        }
        if let Some(companies) = &mapped.lists.companies {
            after["company_ids"] = json!(companies);
        }
        self.sample(
            action_kind(action),
            Some(key.to_string()),
            before,
            Some(after),
            None,
        );
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

    /// Whether samples of `kind` are still taken.
    fn wants_sample(&self, kind: &str) -> bool {
        self.samples.iter().filter(|s| s.kind == kind).count() < SAMPLES_PER_KIND
    }

    fn sample(
        &mut self,
        kind: &str,
        key: Option<String>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        reason: Option<String>,
    ) {
        if self.wants_sample(kind) {
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
                Some(prior_json(&prior, None)),
                None,
                None,
            );
            self.buffer.push(Some(BatchItem {
                key,
                action,
                fingerprint: None,
                intercom_id: prior.intercom_id,
                body: Default::default(),
                lists: Default::default(),
                row: None,
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

/// What backflow remembers of a key, as a sample's "before". State keeps the
/// attached companies as hashes only: the row's `company_id` is shown as
/// attached when backflow remembers attaching that very company.
fn prior_json(p: &Prior, row_company: Option<&str>) -> serde_json::Value {
    let attached = row_company.filter(|c| p.remembered.companies.contains(company_hash(c)));
    json!({
        "intercom_id": p.intercom_id,
        "fingerprint": p.fingerprint,
        "status": p.status,
        "company_id": attached,
    })
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
mod tests;
