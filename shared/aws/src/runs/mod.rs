//! Run records and coordination (`BACKFLOW_RUNS_TABLE`).
//!
//! # Layout
//! Keys are `pk` (S) / `sk` (S). Items marked *TTL* carry `expires_at` (N, unix s,
//! 30 days after the run's last write; 7 days for schedule claims) and vanish
//! with DynamoDB TTL.
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | run (*TTL*) | `RUN#<id>` | `RUN` | `doc` (S, the [`RunRecord`](backflow_core::run::RunRecord) JSON as created), `sync` (S), `status` (S), `updated_at` (N, the progress heartbeat), counters below, `plan`/`samples`/`warnings` (S, JSON, set by [`RunStore::set_plan`]), `finished_at` (S, RFC 3339), `error` (S), `alerted_at` (N, set once its alert is published) |
//! | row report (*TTL*) | `RUN#<id>` | `ROW#<outcome>#<seq:06>#<idx:06>` | `doc` (S, [`RowReport`](backflow_core::run::RowReport) JSON) |
//! | batch marker (*TTL*) | `RUN#<id>` | `BATCH#<seq:06>` | `failed` (BOOL), `at` (N) |
//! | run index (*TTL*) | `SYNC#<sync>` | `RUNS#<started_at>#<run id>` | `run_id` (S), `started_at` (S): the sync's history, read newest first (`ScanIndexForward=false`) by [`RunStore::list_runs`] |
//! | sync lock | `SYNC#<sync>` | `LOCK` | `run_id` (S), `since` (N) |
//! | sync meta | `SYNC#<sync>` | `META` | `last_run_id` (S); `started_ms` (N, when its last run that was not a dry run started); `ok_run_id` (S) and `ok_at_ms` (N): its last run that ended `succeeded`/`partial` (`after:` chains) |
//! | schedule claim (*TTL*) | `SYNC#<sync>` | `SCHED#<minute, RFC 3339>` | `claimed_at` (N) |
//! | `after:` claim (*TTL*) | `SYNC#<sync>` | `AFTER#<run ids followed, +-joined>` | `claimed_at` (N) |
//!
//! Run counters (N), updated atomically with `ADD` so concurrent loaders never lose
//! an update: `c_created c_updated c_deleted c_archived c_sent c_unchanged c_invalid
//! c_rejected c_not_found api_calls retries b_total b_done b_failed` and usage
//! `u_gbs` (Lambda GB-s) `u_inv` (invocations) `u_rru` `u_wru` `u_s3put` `u_s3get`
//! `u_calls` (Intercom calls). [`RunStore::get_run`] reads the item with one strongly
//! consistent GetItem and overlays these attributes on `doc`.
//!
//! # Idempotency (async invokes and schedules deliver at least once)
//! - [`RunStore::start_run`] creates the run, its run index entry and takes the
//!   sync's lock in one transaction, so there is never a run without a lock nor
//!   two holders, nor a run its sync's history misses.
//! - [`RunStore::transition`], [`RunStore::set_plan`] and [`RunStore::finish`] are
//!   conditional on the current status: a duplicate delivery gets `false`.
//! - [`RunStore::record_batch`] puts the batch marker and adds the counters in one
//!   transaction conditional on the marker's absence: a retried `load` adds nothing.
//! - Row reports have deterministic sort keys: a retried `load` overwrites them.
//! - [`RunStore::claim_schedule`] is a conditional put per (sync, minute).
//! - [`RunStore::claim_after`] is a conditional put per (waiting sync, the runs
//!   it follows); [`RunStore::claim_alert`] a conditional `alerted_at` on the run.
//!
//! A run that stopped making progress (`updated_at` older than
//! `BACKFLOW_RUN_DEADLINE_SECS`) still holds its lock; the trigger reads the holder
//! ([`RunStore::lock_holder`], [`RunStore::get_run`]'s `updated_at`), marks it failed with
//! [`RunStore::finish`] (which releases the lock) and starts the new run.
//!
//! # Files
//! - `record`: the run item through its life (start, transitions, plan, batches
//!   done, finish, heartbeat, usage).
//! - `rows`: row reports, a page at a time.
//! - `history`: the run index: a sync's runs, newest first, a page at a time.
//! - `chain`: what `after:` and `alerts:` keep (meta marks, claims).
//! - `claims`: the sync's lock and the one-time claims (a schedule's minute, a
//!   batch's first delivery).
//! - `item`: the run item's encoding (keys, counters, UpdateExpressions, decoding).
//! - this file: the store and the few DynamoDB calls they share.

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{CancellationReason, ReturnValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use crate::ddb::{self, condition_failed, Item};
use crate::Error;
use item::{run_pk, Expr};

pub use chain::{now_ms, ChainMarks};

mod chain;
mod claims;
mod history;
mod item;
mod record;
mod rows;

/// How long run items are kept (DynamoDB TTL).
pub const RUN_TTL_SECS: u64 = 30 * 24 * 3600;
/// How long schedule claims are kept (a claim only has to outlive the event's retries).
pub const SCHEDULE_TTL_SECS: u64 = 7 * 24 * 3600;
/// The `seq` under which `extract` stores its invalid rows (loads use 0, 1, ...).
pub const EXTRACT_ROWS_SEQ: u32 = 999_999;

/// The runs table.
#[derive(Debug, Clone)]
pub struct RunStore {
    dynamodb: Client,
    table: String,
}

impl RunStore {
    pub fn new(dynamodb: Client, table: impl Into<String>) -> RunStore {
        RunStore {
            dynamodb,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    // ---- plumbing ----

    fn err(&self, op: &'static str, e: impl std::error::Error) -> Error {
        Error::dynamodb(op, &self.table, e)
    }

    /// A transaction item's builder result (it fails only when a required field is
    /// missing, i.e. never at runtime).
    fn built<T>(&self, r: Result<T, BuildError>) -> Result<T, Error> {
        r.map_err(|e| self.err("TransactWriteItems", e))
    }

    fn no_run(&self, run_id: &str) -> Error {
        Error::Run {
            run_id: run_id.to_string(),
            message: "no such run".into(),
        }
    }

    /// One item, strongly consistent; `projection` names a single attribute.
    async fn get(
        &self,
        pk: String,
        sk: &str,
        projection: Option<&str>,
    ) -> Result<Option<Item>, Error> {
        let mut request = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(pk, sk)))
            .consistent_read(true);
        if let Some(attr) = projection {
            request = request
                .projection_expression("#a")
                .expression_attribute_names("#a", attr);
        }
        let out = request.send().await.map_err(|e| self.err("GetItem", e))?;
        Ok(out.item)
    }

    /// UpdateItem on the run item under `condition`; `None` when the condition failed,
    /// else the returned attributes (empty unless `returned` asks for some).
    async fn update(
        &self,
        run_id: &str,
        e: Expr,
        condition: &str,
        returned: Option<ReturnValue>,
    ) -> Result<Option<Item>, Error> {
        let request = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(run_pk(run_id), "RUN")))
            .update_expression(e.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values))
            .set_return_values(returned);
        match request.send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }

    /// TransactWriteItems on the runs table (see [`ddb::transact`]).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<CancellationReason>>, Error> {
        ddb::transact(&self.dynamodb, &self.table, items).await
    }
}
