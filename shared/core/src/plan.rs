//! The diff: a mapped row against what Intercom confirmed before, decided per row,
//! plus the plan counts and the mirror mass-removal guard.

use serde::{Deserialize, Serialize};

use crate::config::{Behavior, DeleteMode, Object, SyncSpec};
use crate::fingerprint::Fingerprint;

/// What `load` must do with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// No record known: find it (409 body, find_by_external_id, ...) or create it.
    Create,
    /// A record is known (or, for `update_only`, must be found): update it.
    Update,
    /// Delete for good (companies; contacts with `mode: permanent`).
    Delete,
    /// Archive (contacts, by default).
    Archive,
    /// Send an event.
    Send,
}

/// What backflow remembers of a record per sync and key (the state item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Written and present in Intercom.
    Active,
    /// Archived by backflow (delete / mirror).
    Archived,
    /// Deleted by backflow (delete / mirror).
    Deleted,
    /// An event that Intercom accepted (never re-sent).
    Sent,
}

/// The state of one key before this run, as far as the diff needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prior {
    pub intercom_id: Option<String>,
    /// The fingerprint Intercom confirmed; `None` when the last write was refused,
    /// so the row is retried even if its data did not change.
    pub fingerprint: Option<Fingerprint>,
    pub status: RecordStatus,
    /// The tags backflow applied and the companies it attached (contacts), as
    /// hashes ([`crate::tags`]), so an update that leaves them as they were costs
    /// no tag or attach call.
    #[serde(default)]
    pub remembered: crate::tags::Remembered,
}

/// The per-run plan counts (the run record's `plan`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCounts {
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    pub archive: u64,
    pub send: u64,
    pub unchanged: u64,
    pub invalid: u64,
}

impl PlanCounts {
    /// Rows planned, whatever their action.
    pub fn total(&self) -> u64 {
        self.create
            + self.update
            + self.delete
            + self.archive
            + self.send
            + self.unchanged
            + self.invalid
    }

    pub fn add(&mut self, action: Option<Action>) {
        match action {
            None => self.unchanged += 1,
            Some(Action::Create) => self.create += 1,
            Some(Action::Update) => self.update += 1,
            Some(Action::Delete) => self.delete += 1,
            Some(Action::Archive) => self.archive += 1,
            Some(Action::Send) => self.send += 1,
        }
    }

    /// Rows that need an Intercom call.
    pub fn to_send(&self) -> u64 {
        self.create + self.update + self.delete + self.archive + self.send
    }
}

/// What to do with one model row, given what backflow remembers of its key
/// (`prior`), the fingerprint of what would be sent now, and whether this run
/// ignores the memory (`full_resync`). `None` = unchanged: no Intercom call.
///
/// - `update_or_create` / `mirror`: no usable memory (no prior, or no Intercom id) →
///   `Create`; archived or deleted by backflow before → `Create` (`load` unarchives
///   or re-creates); a different or unconfirmed fingerprint, or `full_resync` →
///   `Update`; else unchanged.
/// - `update_only`: unchanged only when the record is `Active` with the same
///   fingerprint and no `full_resync`; else `Update` (`load` reports "not found"
///   when there is no record).
/// - `delete`: `Archive` (contacts, default mode) or `Delete` (companies, and
///   contacts with `mode: permanent`); unchanged when backflow already archived
///   (archive mode) or deleted it — unless `full_resync`, which ignores that memory
///   and removes again (a record restored by hand is removed again).
/// - `send`: `Send` once per key; a key with any memory is never re-sent, not even
///   with `full_resync` (Intercom events cannot be updated or de-duplicated safely).
pub fn decide(
    spec: &SyncSpec,
    prior: Option<&Prior>,
    fingerprint: Fingerprint,
    full_resync: bool,
) -> Option<Action> {
    match spec.behavior {
        Behavior::UpdateOrCreate | Behavior::Mirror => {
            let Some(prior) = prior.filter(|p| p.intercom_id.is_some()) else {
                return Some(Action::Create);
            };
            match prior.status {
                RecordStatus::Archived | RecordStatus::Deleted => Some(Action::Create),
                _ if full_resync || prior.fingerprint != Some(fingerprint) => Some(Action::Update),
                _ => None,
            }
        }
        Behavior::UpdateOnly => match prior {
            Some(p)
                if p.status == RecordStatus::Active
                    && p.fingerprint == Some(fingerprint)
                    && !full_resync =>
            {
                None
            }
            _ => Some(Action::Update),
        },
        Behavior::Delete => {
            let action = removal(spec.object, spec.delete_mode());
            let done = prior.is_some_and(|p| match p.status {
                RecordStatus::Deleted => true,
                RecordStatus::Archived => action == Action::Archive,
                RecordStatus::Active | RecordStatus::Sent => false,
            });
            (full_resync || !done).then_some(action)
        }
        Behavior::Send => prior.is_none().then_some(Action::Send),
    }
}

/// Archive for contacts (unless `mode: permanent`), delete for companies. Events
/// are never removed; `Delete` is returned for them only to keep this total.
fn removal(object: Object, mode: DeleteMode) -> Action {
    if object.is_contact() && mode == DeleteMode::Archive {
        Action::Archive
    } else {
        Action::Delete
    }
}

/// What `mirror` does to a record synced before that has left the model: contacts
/// are archived, companies deleted (Intercom archives them and detaches their
/// contacts).
pub fn removal_action(spec: &SyncSpec) -> Action {
    removal(spec.object, spec.delete_mode())
}

/// The default `max_removals`: 10 % of the records synced before, rounded down —
/// so "more than 10 %" is exactly "more than the limit" — but at least 1 when any
/// were synced, so a small model can lose a record without an override.
pub fn default_max_removals(previously_active: u64) -> u64 {
    if previously_active == 0 {
        0
    } else {
        (previously_active / 10).max(1)
    }
}

/// The mirror mass-removal guard: `Err(message)` when this run must stop before
/// removing anything.
///
/// A run stops when it would remove more than `max_removals` (default
/// [`default_max_removals`]) records, or — whatever the limit — every record synced
/// before (an empty model is far more often a broken query than a real wish),
/// unless the run request says `"allow_mass_removal": true`. The message says how
/// many, the limit, and how to override.
pub fn check_removals(
    removals: u64,
    previously_active: u64,
    max_removals: Option<u64>,
    allow_mass_removal: bool,
) -> Result<(), String> {
    if allow_mass_removal || removals == 0 {
        return Ok(());
    }
    let (limit, source) = match max_removals {
        Some(max) => (max, "max_removals".to_string()),
        None => (
            default_max_removals(previously_active),
            "the default max_removals, 10 % of them".to_string(),
        ),
    };
    let everything = previously_active > 0 && removals >= previously_active;
    if removals <= limit && !everything {
        return Ok(());
    }
    let why = if everything && removals <= limit {
        "that is every record synced before (is the model empty?)".to_string()
    } else {
        format!("more than the limit of {limit} ({source})")
    };
    Err(format!(
        "mirror would remove {removals} of the {previously_active} records synced before, {why}; \
         nothing was removed. If this is intended, run again with \"allow_mass_removal\": true \
         (or raise max_removals in the sync)."
    ))
}

#[cfg(test)]
mod tests;
