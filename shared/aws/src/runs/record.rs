//! The run item through its life: started with the sync's lock, moved from
//! status to status, given its plan, counted batch by batch, finished; its
//! heartbeat and usage. Every write is conditional on the run's status or on a
//! marker, so a duplicate delivery changes nothing (see [`super`]).

use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use backflow_core::plan::PlanCounts;
use backflow_core::run::{Counts, RunRecord, RunStatus, Sample, Usage};

use super::item::{decode_run, json, rfc3339_now, run_pk, sync_pk, Expr};
use super::{RunStore, RUN_TTL_SECS};
use crate::ddb::{self, describe, failed_condition, get_s, n, now_secs, s};
use crate::Error;

impl RunStore {
    /// Creates the run (as given, normally `queued`) and takes the sync's lock in one
    /// TransactWriteItems; also records it as the sync's last run. When another run
    /// holds the lock: [`Error::AlreadyRunning`] with the holder's id.
    pub async fn start_run(&self, record: &RunRecord) -> Result<(), Error> {
        let items = self.start_items(record)?;
        let Some(reasons) = self.transact(items).await? else {
            return Ok(());
        };
        if failed_condition(&reasons, 0) {
            return Err(Error::Run {
                run_id: record.run_id.clone(),
                message: "a run with this id already exists".into(),
            });
        }
        Err(self.start_refused(record, &reasons).await?)
    }

    /// [`RunStore::start_run`]'s transaction: the run (item 0), the lock (item 1,
    /// returning the holder when it is taken), the sync's last run, the run's
    /// entry in the sync's history.
    fn start_items(&self, record: &RunRecord) -> Result<Vec<TransactWriteItem>, Error> {
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

        let mut meta = Update::builder()
            .table_name(&self.table)
            .set_key(Some(ddb::key(sync_pk(&record.sync), "META")))
            .update_expression("SET #last = :id")
            .expression_attribute_names("#last", "last_run_id")
            .expression_attribute_values(":id", s(&record.run_id));
        // A dry run writes nothing, so it is not a run `after:` chains count.
        if !record.dry_run {
            meta = meta
                .update_expression("SET #last = :id, #started = :started")
                .expression_attribute_names("#started", "started_ms")
                .expression_attribute_values(":started", n(super::chain::now_ms()));
        }

        // The sync's run history lists this item: written with the run, so
        // there is no run the history misses nor an entry without its run.
        let put_index = Put::builder()
            .table_name(&self.table)
            .set_item(Some(super::history::index_item(record, now)));

        Ok(vec![
            TransactWriteItem::builder()
                .put(self.built(put_run.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(self.built(put_lock.build())?)
                .build(),
            TransactWriteItem::builder()
                .update(self.built(meta.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(self.built(put_index.build())?)
                .build(),
        ])
    }

    /// Why starting `record` was cancelled, the run id being new: the lock is
    /// held (or the server gave no reasons), so name the holder.
    async fn start_refused(
        &self,
        record: &RunRecord,
        reasons: &[CancellationReason],
    ) -> Result<Error, Error> {
        let holder = reasons
            .get(1)
            .and_then(|r| r.item())
            .and_then(|item| get_s(item, "run_id"))
            .map(str::to_string);
        let holder = match holder {
            Some(h) => Some(h),
            None => self.lock_holder(&record.sync).await?,
        };
        Ok(match holder {
            Some(run_id) => Error::AlreadyRunning { run_id },
            // Released between the transaction and the read: the caller may retry.
            None => Error::DynamoDb {
                op: "TransactWriteItems",
                table: self.table.clone(),
                message: format!(
                    "starting run `{}` was cancelled: {}",
                    record.run_id,
                    describe(reasons)
                ),
            },
        })
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
    /// counts already known (unchanged, invalid), the Intercom calls made for the
    /// plan (`(api_calls, retries)`: a dry run's reads), and the next status, in one
    /// UpdateItem conditional on `extracting`. A finished `next` (a dry run, nothing
    /// to send) also sets `finished_at` and releases the lock. `false`: not extracting.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_plan(
        &self,
        run_id: &str,
        plan: &PlanCounts,
        counts: &Counts,
        batches_total: u64,
        (api_calls, retries): (u64, u64),
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
        if api_calls > 0 {
            e.add("api_calls", api_calls);
            e.add("retries", retries);
        }
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
        let put_marker = self.batch_marker(run_id, seq, failed, now);
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

    /// The marker of batch `seq` done, put only if absent.
    fn batch_marker(&self, run_id: &str, seq: u32, failed: bool, now: u64) -> PutBuilder {
        let mut marker = ddb::key(run_pk(run_id), format!("BATCH#{seq:06}"));
        marker.insert("failed".into(), AttributeValue::Bool(failed));
        marker.insert("at".into(), n(now));
        marker.insert("expires_at".into(), n(now + RUN_TTL_SECS));
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(pk)")
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
}
