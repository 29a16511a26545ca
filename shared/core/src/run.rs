//! Run records: what a user reads from `GET /runs/{id}`.

use serde::{Deserialize, Serialize};

use crate::plan::PlanCounts;

/// Where a run is. `queued → extracting → loading → succeeded | partial | failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Extracting,
    Loading,
    /// Every row done.
    Succeeded,
    /// Some rows invalid, rejected or not found.
    Partial,
    /// The run stopped; `error` says why.
    Failed,
}

impl RunStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Partial | RunStatus::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Extracting => "extracting",
            RunStatus::Loading => "loading",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

/// How the run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Api,
    Schedule,
    /// Started by `after:`: the syncs it waits for ended.
    After,
}

/// What happened, per row outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub archived: u64,
    pub sent: u64,
    pub unchanged: u64,
    pub invalid: u64,
    pub rejected: u64,
    pub not_found: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.archived += other.archived;
        self.sent += other.sent;
        self.unchanged += other.unchanged;
        self.invalid += other.invalid;
        self.rejected += other.rejected;
        self.not_found += other.not_found;
    }

    pub fn bump(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Deleted => self.deleted += 1,
            Outcome::Archived => self.archived += 1,
            Outcome::Sent => self.sent += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Invalid => self.invalid += 1,
            Outcome::Rejected => self.rejected += 1,
            Outcome::NotFound => self.not_found += 1,
        }
    }

    /// Rows counted, whatever their outcome.
    pub fn total(&self) -> u64 {
        self.created
            + self.updated
            + self.deleted
            + self.archived
            + self.sent
            + self.unchanged
            + self.invalid
            + self.rejected
            + self.not_found
    }

    /// Rows that did not land.
    pub fn problems(&self) -> u64 {
        self.invalid + self.rejected + self.not_found
    }
}

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Deleted,
    Archived,
    Sent,
    Unchanged,
    Invalid,
    Rejected,
    NotFound,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Deleted => "deleted",
            Outcome::Archived => "archived",
            Outcome::Sent => "sent",
            Outcome::Unchanged => "unchanged",
            Outcome::Invalid => "invalid",
            Outcome::Rejected => "rejected",
            Outcome::NotFound => "not_found",
        }
    }

    /// Outcomes reported row by row (`GET /runs/{id}/rows`).
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            Outcome::Invalid | Outcome::Rejected | Outcome::NotFound
        )
    }
}

/// One reported row (`GET /runs/{id}/rows`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowReport {
    /// The key value; `None` when the key itself is null.
    pub key: Option<String>,
    pub outcome: Outcome,
    /// Human-readable; names the field and column for invalid rows.
    pub reason: String,
    /// Intercom's error code for rejected rows (`conflict`, `parameter_invalid`, ...).
    pub code: Option<String>,
    /// 1-based row number in the model's result set (invalid rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
}

/// Batch progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    pub total: u64,
    pub done: u64,
    pub failed: u64,
}

/// A before/after sample row of a dry run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub key: Option<String>,
    /// `create`, `update`, `delete`, `archive`, `send`, `invalid`.
    pub kind: String,
    /// A dry run's sample: the record's current values of the fields `after`
    /// sends, read from Intercom (`backflow_core::before`); `None` when Intercom
    /// has no such record; what backflow remembers (Intercom id, fingerprint)
    /// when the read failed (`reason` says why) or was not made.
    pub before: Option<serde_json::Value>,
    /// What would be sent.
    pub after: Option<serde_json::Value>,
    /// Why the row is invalid; for a read `before`: "not in Intercom", "could
    /// not read from Intercom: …", or that a create finds the record there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the run consumed, for the cost report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Lambda GB-seconds over all invocations of the run.
    pub lambda_gb_seconds: f64,
    pub lambda_invocations: u64,
    pub dynamodb_read_units: f64,
    pub dynamodb_write_units: f64,
    pub s3_puts: u64,
    pub s3_gets: u64,
    pub intercom_calls: u64,
}

/// The run record (`GET /runs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub sync: String,
    pub trigger: Trigger,
    pub dry_run: bool,
    #[serde(default)]
    pub full_resync: bool,
    #[serde(default)]
    pub allow_mass_removal: bool,
    pub status: RunStatus,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub counts: Counts,
    pub plan: Option<PlanCounts>,
    pub api_calls: u64,
    pub retries: u64,
    pub batches: BatchCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Dry runs: a few rows before/after per kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    /// Dry runs of a permanent delete say so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub usage: Usage,
    /// Unix seconds of the last progress (the heartbeat); a run whose heartbeat is
    /// older than `BACKFLOW_RUN_DEADLINE_SECS` is stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// The final status from the counts: `partial` when any row did not land.
pub fn final_status(counts: &Counts) -> RunStatus {
    if counts.problems() > 0 {
        RunStatus::Partial
    } else {
        RunStatus::Succeeded
    }
}

/// The most often a long step (the extract's planning) renews its run's heartbeat:
/// a DynamoDB write each time, so not once per batch (1,000 writes for a
/// million-row dry run), yet often enough that the run is never taken for stalled.
pub const HEARTBEAT_EVERY_SECS: u64 = 30;

/// Whether a step that last renewed its heartbeat `since_last_secs` ago must renew
/// it now, when runs without progress for `deadline_secs` count as stalled: every
/// [`HEARTBEAT_EVERY_SECS`], or every fifth of a shorter deadline.
pub fn heartbeat_due(since_last_secs: f64, deadline_secs: u64) -> bool {
    let every = HEARTBEAT_EVERY_SECS.min(deadline_secs / 5).max(1);
    since_last_secs >= every as f64
}

/// Longest run id accepted from outside (`trigger` makes 25-character ids).
pub const MAX_RUN_ID_BYTES: usize = 128;

/// Whether `id` can be a run id: 1 to [`MAX_RUN_ID_BYTES`] ASCII letters, digits,
/// `-` or `_` (`trigger` makes `20261129T111444Z-606c45ac`). Ids from a request
/// or a payload are checked before they become DynamoDB or S3 keys, whose length
/// and character limits a client must not reach.
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_RUN_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod heartbeat_tests {
    use super::*;

    #[test]
    fn heartbeat_is_renewed_well_inside_the_deadline() {
        // (seconds since the last heartbeat, deadline, due)
        let table = [
            (0.0, 900, false),
            (29.9, 900, false),
            (30.0, 900, true),
            (31.0, 900, true),
            // A short deadline (tests, impatient operators): a fifth of it.
            (3.9, 20, false),
            (4.0, 20, true),
            // Never less than a second apart, even with a tiny deadline.
            (0.5, 2, false),
            (1.0, 2, true),
            (1.0, 0, true),
        ];
        for (since, deadline, due) in table {
            assert_eq!(
                heartbeat_due(since, deadline),
                due,
                "{since} s, deadline {deadline} s"
            );
            // Whatever the deadline, a due heartbeat comes before the run looks stalled.
            if deadline >= 5 {
                assert!(heartbeat_due(deadline as f64 / 2.0, deadline));
            }
        }
    }
}
