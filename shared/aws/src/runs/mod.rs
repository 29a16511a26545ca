//! Run records and coordination (`BACKFLOW_RUNS_TABLE`).
//!
//! # Layout
//! Keys are `pk` (S) / `sk` (S). Items marked *TTL* carry `expires_at` (N, unix s,
//! 30 days after the run's last write; 7 days for schedule claims) and vanish
//! with DynamoDB TTL.
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | run (*TTL*) | `RUN#<id>` | `RUN` | `doc` (S, the [`RunRecord`] JSON as created), `sync` (S), `status` (S), `updated_at` (N, the progress heartbeat), counters below, `plan`/`samples`/`warnings` (S, JSON, set by [`RunStore::set_plan`]), `finished_at` (S, RFC 3339), `error` (S) |
//! | row report (*TTL*) | `RUN#<id>` | `ROW#<outcome>#<seq:06>#<idx:06>` | `doc` (S, [`RowReport`] JSON) |
//! | batch marker (*TTL*) | `RUN#<id>` | `BATCH#<seq:06>` | `failed` (BOOL), `at` (N) |
//! | sync lock | `SYNC#<sync>` | `LOCK` | `run_id` (S), `since` (N) |
//! | sync meta | `SYNC#<sync>` | `META` | `last_run_id` (S) |
//! | schedule claim (*TTL*) | `SYNC#<sync>` | `SCHED#<minute, RFC 3339>` | `claimed_at` (N) |
//!
//! Run counters (N), updated atomically with `ADD` so concurrent loaders never lose
//! an update: `c_created c_updated c_deleted c_archived c_sent c_unchanged c_invalid
//! c_rejected c_not_found api_calls retries b_total b_done b_failed` and usage
//! `u_gbs` (Lambda GB-s) `u_inv` (invocations) `u_rru` `u_wru` `u_s3put` `u_s3get`
//! `u_calls` (Intercom calls). [`RunStore::get_run`] reads the item with one strongly
//! consistent GetItem and overlays these attributes on `doc`.
//!
//! # Idempotency (async invokes and schedules deliver at least once)
//! - [`RunStore::start_run`] creates the run and takes the sync's lock in one
//!   transaction, so there is never a run without a lock nor two holders.
//! - [`RunStore::transition`], [`RunStore::set_plan`] and [`RunStore::finish`] are
//!   conditional on the current status: a duplicate delivery gets `false`.
//! - [`RunStore::record_batch`] puts the batch marker and adds the counters in one
//!   transaction conditional on the marker's absence: a retried `load` adds nothing.
//! - Row reports have deterministic sort keys: a retried `load` overwrites them.
//! - [`RunStore::claim_schedule`] is a conditional put per (sync, minute).
//!
//! A run that stopped making progress (`updated_at` older than
//! `BACKFLOW_RUN_DEADLINE_SECS`) still holds its lock; the trigger reads the holder
//! ([`RunStore::lock_holder`], [`RunStore::get_run`]'s `updated_at`), marks it failed with
//! [`RunStore::finish`] (which releases the lock) and starts the new run.

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, PutRequest, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use backflow_core::plan::PlanCounts;
use backflow_core::run::{Counts, Outcome, RowReport, RunRecord, RunStatus, Sample, Usage};

use crate::ddb::{self, condition_failed, get_s, n, now_secs, s, Item, MAX_ATTEMPTS};
use crate::Error;
use item::{decode_run, json, rfc3339_now, run_pk, sync_pk, Expr};

mod item;

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

    /// Creates the run (as given, normally `queued`) and takes the sync's lock in one
    /// TransactWriteItems; also records it as the sync's last run. When another run
    /// holds the lock: [`Error::AlreadyRunning`] with the holder's id.
    pub async fn start_run(&self, record: &RunRecord) -> Result<(), Error> {
        let now = now_secs();
        let mut run = ddb::key(run_pk(&record.run_id), "RUN");
        run.insert("doc".into(), json(record));
        run.insert("sync".into(), s(&record.sync));
        run.insert("status".into(), s(record.status.as_str()));
        run.insert("updated_at".into(), n(now));
        run.insert("expires_at".into(), n(now + RUN_TTL_SECS));
        let put_run = Put::builder()
            .table_name(&self.table)
            .set_item(Some(run))
            .condition_expression("attribute_not_exists(pk)");

        let mut lock = ddb::key(sync_pk(&record.sync), "LOCK");
        lock.insert("run_id".into(), s(&record.run_id));
        lock.insert("since".into(), n(now));
        let put_lock = Put::builder()
            .table_name(&self.table)
            .set_item(Some(lock))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);

        let meta = Update::builder()
            .table_name(&self.table)
            .set_key(Some(ddb::key(sync_pk(&record.sync), "META")))
            .update_expression("SET #last = :id")
            .expression_attribute_names("#last", "last_run_id")
            .expression_attribute_values(":id", s(&record.run_id));

        let items = vec![
            TransactWriteItem::builder()
                .put(self.built(put_run.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(self.built(put_lock.build())?)
                .build(),
            TransactWriteItem::builder()
                .update(self.built(meta.build())?)
                .build(),
        ];
        let Some(reasons) = self.transact(items).await? else {
            return Ok(());
        };
        if failed_condition(&reasons, 0) {
            return Err(Error::Run {
                run_id: record.run_id.clone(),
                message: "a run with this id already exists".into(),
            });
        }
        // The lock is held (or the server gave no reasons): name the holder.
        let holder = reasons
            .get(1)
            .and_then(|r| r.item())
            .and_then(|item| get_s(item, "run_id"))
            .map(str::to_string);
        let holder = match holder {
            Some(h) => Some(h),
            None => self.lock_holder(&record.sync).await?,
        };
        match holder {
            Some(run_id) => Err(Error::AlreadyRunning { run_id }),
            // Released between the transaction and the read: the caller may retry.
            None => Err(Error::DynamoDb {
                op: "TransactWriteItems",
                table: self.table.clone(),
                message: format!(
                    "starting run `{}` was cancelled: {}",
                    record.run_id,
                    describe(&reasons)
                ),
            }),
        }
    }

    /// The run holding the sync's lock, if any.
    pub async fn lock_holder(&self, sync: &str) -> Result<Option<String>, Error> {
        let item = self.get(sync_pk(sync), "LOCK", Some("run_id")).await?;
        Ok(item.and_then(|i| get_s(&i, "run_id").map(str::to_string)))
    }

    /// Releases the sync's lock if (and only if) `run_id` holds it.
    pub async fn release_lock(&self, sync: &str, run_id: &str) -> Result<(), Error> {
        let result = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(sync_pk(sync), "LOCK")))
            .condition_expression("#run_id = :id")
            .expression_attribute_names("#run_id", "run_id")
            .expression_attribute_values(":id", s(run_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(self.err("DeleteItem", e)),
        }
    }

    /// The run record (strongly consistent), counters and heartbeat (`updated_at`)
    /// included.
    pub async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>, Error> {
        match self.get(run_pk(run_id), "RUN", None).await? {
            Some(item) => decode_run(run_id, &item).map(Some),
            None => Ok(None),
        }
    }

    /// The id of the sync's most recent run.
    pub async fn last_run_id(&self, sync: &str) -> Result<Option<String>, Error> {
        let item = self.get(sync_pk(sync), "META", Some("last_run_id")).await?;
        Ok(item.and_then(|i| get_s(&i, "last_run_id").map(str::to_string)))
    }

    /// Moves the run to `to` if its status is one of `from`; `false` when it is not
    /// (someone else moved it, or no such run): a duplicate delivery stops there.
    /// Finishing a run goes through [`RunStore::finish`], which releases the lock.
    pub async fn transition(
        &self,
        run_id: &str,
        from: &[RunStatus],
        to: RunStatus,
    ) -> Result<bool, Error> {
        if from.is_empty() {
            return Ok(false);
        }
        let mut e = Expr::default();
        e.set("status", s(to.as_str()));
        e.set("updated_at", n(now_secs()));
        if to.is_finished() {
            e.set("finished_at", s(rfc3339_now()));
        }
        let condition = e.status_in(from);
        self.update(run_id, e, &condition, None)
            .await
            .map(|r| r.is_some())
    }

    /// After extract: the plan, dry-run samples and warnings, the batch total and the
    /// counts already known (unchanged, invalid), and the next status, in one
    /// UpdateItem conditional on `extracting`. A finished `next` (a dry run, nothing
    /// to send) also sets `finished_at` and releases the lock. `false`: not extracting.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_plan(
        &self,
        run_id: &str,
        plan: &PlanCounts,
        counts: &Counts,
        batches_total: u64,
        samples: &[Sample],
        warnings: &[String],
        next: RunStatus,
    ) -> Result<bool, Error> {
        let mut e = Expr::default();
        e.set("plan", json(plan));
        e.set("samples", json(samples));
        e.set("warnings", json(warnings));
        e.set("b_total", n(batches_total));
        e.set("status", s(next.as_str()));
        e.set("updated_at", n(now_secs()));
        if next.is_finished() {
            e.set("finished_at", s(rfc3339_now()));
        }
        e.add_counts(counts);
        let condition = e.status_in(&[RunStatus::Extracting]);
        let returned = next.is_finished().then_some(ReturnValue::AllNew);
        let Some(new) = self.update(run_id, e, &condition, returned).await? else {
            return Ok(false);
        };
        if next.is_finished() {
            if let Some(sync) = get_s(&new, "sync") {
                self.release_lock(sync, run_id).await?;
            }
        }
        Ok(true)
    }

    /// One batch done: the marker `BATCH#<seq>` and the counters in one transaction.
    /// `Ok(false)` when the marker exists (a duplicate or retried `load`): nothing is
    /// added. `usage.intercom_calls` goes to the usage report; `api_calls` is the
    /// record's `api_calls`.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_batch(
        &self,
        run_id: &str,
        seq: u32,
        counts: &Counts,
        api_calls: u64,
        retries: u64,
        usage: &Usage,
        failed: bool,
    ) -> Result<bool, Error> {
        let now = now_secs();
        let mut marker = ddb::key(run_pk(run_id), format!("BATCH#{seq:06}"));
        marker.insert("failed".into(), AttributeValue::Bool(failed));
        marker.insert("at".into(), n(now));
        marker.insert("expires_at".into(), n(now + RUN_TTL_SECS));
        let put_marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(pk)");

        let mut e = Expr::default();
        e.set("updated_at", n(now));
        e.add_counts(counts);
        e.add("api_calls", api_calls);
        e.add("retries", retries);
        e.add(if failed { "b_failed" } else { "b_done" }, 1);
        e.add_usage(usage);
        let update_run = e
            .apply_update(Update::builder())
            .table_name(&self.table)
            .set_key(Some(ddb::key(run_pk(run_id), "RUN")))
            .condition_expression("attribute_exists(pk)");

        let items = vec![
            TransactWriteItem::builder()
                .put(self.built(put_marker.build())?)
                .build(),
            TransactWriteItem::builder()
                .update(self.built(update_run.build())?)
                .build(),
        ];
        let Some(reasons) = self.transact(items).await? else {
            return Ok(true);
        };
        if failed_condition(&reasons, 1) {
            return Err(self.no_run(run_id));
        }
        if failed_condition(&reasons, 0) {
            return Ok(false);
        }
        // No usable reasons: decide from what is stored.
        if self
            .get(run_pk(run_id), &format!("BATCH#{seq:06}"), Some("sk"))
            .await?
            .is_some()
        {
            return Ok(false);
        }
        Err(Error::DynamoDb {
            op: "TransactWriteItems",
            table: self.table.clone(),
            message: format!(
                "recording batch {seq} of run `{run_id}` was cancelled: {}",
                describe(&reasons)
            ),
        })
    }

    /// Finishes the run (status, `finished_at`, `error`) unless it is finished
    /// already, then releases the sync's lock if the run still holds it (also when it
    /// was finished before: a crash between the two steps heals on the next call).
    /// `false` when the run was already finished (or does not exist).
    pub async fn finish(
        &self,
        run_id: &str,
        sync: &str,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<bool, Error> {
        debug_assert!(status.is_finished(), "finish with {status:?}");
        let mut e = Expr::default();
        e.set("status", s(status.as_str()));
        e.set("finished_at", s(rfc3339_now()));
        e.set("updated_at", n(now_secs()));
        if let Some(error) = error {
            e.set("error", s(error));
        }
        let condition =
            e.status_in(&[RunStatus::Queued, RunStatus::Extracting, RunStatus::Loading]);
        let applied = self.update(run_id, e, &condition, None).await?.is_some();
        self.release_lock(sync, run_id).await?;
        Ok(applied)
    }

    /// Records progress (`updated_at = now`) so the run is not taken for stalled.
    pub async fn heartbeat(&self, run_id: &str) -> Result<(), Error> {
        let mut e = Expr::default();
        e.set("updated_at", n(now_secs()));
        match self.update(run_id, e, "attribute_exists(pk)", None).await? {
            Some(_) => Ok(()),
            None => Err(self.no_run(run_id)),
        }
    }

    /// Adds to the run's usage report (trigger and extract; loads use
    /// [`RunStore::record_batch`]).
    pub async fn add_usage(&self, run_id: &str, usage: &Usage) -> Result<(), Error> {
        let mut e = Expr::default();
        e.add_usage(usage);
        if e.is_empty() {
            return Ok(());
        }
        match self.update(run_id, e, "attribute_exists(pk)", None).await? {
            Some(_) => Ok(()),
            None => Err(self.no_run(run_id)),
        }
    }

    /// Stores row reports under `ROW#<outcome>#<seq>#<index in rows>`, so writing the
    /// same batch's rows again overwrites them. Extract's rows use [`EXTRACT_ROWS_SEQ`].
    pub async fn put_rows(&self, run_id: &str, seq: u32, rows: &[RowReport]) -> Result<(), Error> {
        self.put_rows_from(run_id, seq, 0, rows).await
    }

    /// [`RunStore::put_rows`] for a slice starting at `first_index` of a longer list
    /// (rows written in several calls under one `seq`).
    pub async fn put_rows_from(
        &self,
        run_id: &str,
        seq: u32,
        first_index: usize,
        rows: &[RowReport],
    ) -> Result<(), Error> {
        let expires_at = n(now_secs() + RUN_TTL_SECS);
        let mut requests = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let sk = format!(
                "ROW#{}#{seq:06}#{:06}",
                row.outcome.as_str(),
                first_index + i
            );
            let mut item = ddb::key(run_pk(run_id), sk);
            item.insert("doc".into(), json(row));
            item.insert("expires_at".into(), expires_at.clone());
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| self.err("BatchWriteItem", e))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        ddb::batch_write(&self.dynamodb, &self.table, requests).await?;
        Ok(())
    }

    /// Up to `limit` row reports, all outcomes or one, ordered by outcome, batch and
    /// position.
    pub async fn list_rows(
        &self,
        run_id: &str,
        outcome: Option<Outcome>,
        limit: usize,
    ) -> Result<Vec<RowReport>, Error> {
        let prefix = match outcome {
            Some(o) => format!("ROW#{}#", o.as_str()),
            None => "ROW#".to_string(),
        };
        let mut rows = Vec::new();
        let mut start: Option<Item> = None;
        while rows.len() < limit {
            let page = i32::try_from(limit - rows.len())
                .unwrap_or(i32::MAX)
                .min(1000);
            let out = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_names("#doc", "doc")
                .expression_attribute_values(":pk", s(run_pk(run_id)))
                .expression_attribute_values(":prefix", s(&prefix))
                .projection_expression("#doc")
                .consistent_read(true)
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.err("Query", e))?;
            for item in out.items() {
                let doc = get_s(item, "doc").unwrap_or_default();
                let row = serde_json::from_str(doc)
                    .map_err(|e| Error::corrupt(format!("row report of run `{run_id}`"), e))?;
                rows.push(row);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        rows.truncate(limit);
        Ok(rows)
    }

    /// Claims the scheduled start of `sync` at `minute` (RFC 3339); `false` when it
    /// was claimed already (the same Scheduled Event delivered twice).
    pub async fn claim_schedule(&self, sync: &str, minute: &str) -> Result<bool, Error> {
        let now = now_secs();
        let mut item = ddb::key(sync_pk(sync), format!("SCHED#{minute}"));
        item.insert("claimed_at".into(), n(now));
        item.insert("expires_at".into(), n(now + SCHEDULE_TTL_SECS));
        self.put_if_absent(item).await
    }

    /// Claims the first delivery of batch `seq` of the run (`DELIVERY#<seq>`, 1 WRU):
    /// `false` when an earlier delivery of the batch began (Lambda retried it, or
    /// delivered it twice), which may have written state for some of its keys.
    pub async fn claim_delivery(&self, run_id: &str, seq: u32) -> Result<bool, Error> {
        let now = now_secs();
        let mut item = ddb::key(run_pk(run_id), format!("DELIVERY#{seq:06}"));
        item.insert("at".into(), n(now));
        item.insert("expires_at".into(), n(now + RUN_TTL_SECS));
        self.put_if_absent(item).await
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

    /// Puts `item` unless its key exists; `false` when it did.
    async fn put_if_absent(&self, item: Item) -> Result<bool, Error> {
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(self.err("PutItem", e)),
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

    /// TransactWriteItems, retried while DynamoDB cancels it for a conflict with a
    /// concurrent transaction (loaders finishing at once all update the run item).
    /// `Some(reasons)` when it was cancelled for any other reason (a condition).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<CancellationReason>>, Error> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                ddb::backoff(attempt).await;
            }
            let result = self
                .dynamodb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let e = match result {
                Ok(_) => return Ok(None),
                Err(e) => e,
            };
            match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons().to_vec();
                    let conflict = reasons.iter().any(|r| {
                        matches!(
                            r.code(),
                            Some(
                                "TransactionConflict"
                                    | "ThrottlingError"
                                    | "ProvisionedThroughputExceeded"
                            )
                        )
                    });
                    let condition = reasons
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed"));
                    if conflict && !condition {
                        continue;
                    }
                    return Ok(Some(reasons));
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => continue,
                _ => return Err(self.err("TransactWriteItems", e)),
            }
        }
        Err(Error::DynamoDb {
            op: "TransactWriteItems",
            table: self.table.clone(),
            message: format!(
                "still conflicting with concurrent transactions after {MAX_ATTEMPTS} attempts"
            ),
        })
    }
}

fn failed_condition(reasons: &[CancellationReason], index: usize) -> bool {
    reasons.get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}

fn describe(reasons: &[CancellationReason]) -> String {
    if reasons.is_empty() {
        return "no cancellation reasons given".into();
    }
    reasons
        .iter()
        .map(|r| r.code().unwrap_or("?"))
        .collect::<Vec<_>>()
        .join(", ")
}
