//! The `load` function: one S3 batch → Intercom, outcomes → DynamoDB.
//!
//! # Layout
//! - [`apply`]: one batch item → the Intercom calls of its action (through
//!   `backflow-intercom`'s record writers) → its outcome.
//! - [`tagging`]: then the batch's tags, grouped by tag name into Intercom's
//!   bulk form; a record with tags is remembered only after its tags.
//! - this file: the invocation: idempotency, state writes after Intercom confirmed,
//!   row reports, run counters, and finishing the run after its last batch.
//!
//! Every Intercom call of the invocation (retries included) takes one call from
//! the app's shared budget in DynamoDB (`backflow_aws::budget`), shared with every
//! other `load` and `extract` calling the same app at the same time, so together
//! they use each 10-second rate-limit window to its last call and never past it;
//! the budget's DynamoDB writes are added to the run's usage. If DynamoDB cannot
//! serve the budget, the invocation paces from the rate-limit headers alone.
//!
//! At-least-once delivery: the first delivery of a batch claims it (a conditional
//! marker) and trusts the state extract put in the batch; a retried or duplicated
//! delivery finds the claim, re-reads the state of its keys and skips every row this
//! run already wrote (counting the outcome it recorded); the run's counters take a
//! batch once (another conditional marker).

pub mod apply;
mod preferences;
pub mod tagging;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use futures::StreamExt;
use serde_json::{json, Value};

use backflow_aws::{
    Aws, Batches, RunEnd, RunStore, RunTag, Secrets, Settings, StateItem, StateStore,
};
use backflow_core::batch::{Batch, BatchItem};
use backflow_core::run::{final_status, Counts, RowReport, RunStatus, Usage};
use backflow_intercom::Client;

use apply::{already_done, ItemResult};

/// Intercom requests in flight per invocation. The shared call budget keeps all
/// invocations together within each 10-second window.
pub const CONCURRENCY: usize = 16;

/// State items written per DynamoDB batch write.
const STATE_CHUNK: usize = 25;

pub struct Load {
    pub aws: Aws,
    pub settings: Settings,
    pub runs: RunStore,
    pub state: StateStore,
    pub batches: Batches,
    /// How a run ends here (its last batch, or a batch that failed).
    pub end: RunEnd,
}

impl Load {
    pub fn new(aws: Aws, settings: Settings) -> Self {
        Load {
            runs: RunStore::new(aws.dynamodb.clone(), settings.runs_table.clone()),
            state: StateStore::new(aws.dynamodb.clone(), settings.state_table.clone()),
            batches: Batches::new(aws.s3.clone(), settings.bucket.clone()),
            end: RunEnd::new(&aws, &settings, true),
            aws,
            settings,
        }
    }

    pub async fn handle(&self, event: Value) -> anyhow::Result<Value> {
        if event.get("warmup").is_some() {
            return Ok(json!({"ok": true}));
        }
        // Anything but `{"run_id", "seq", "key"}` is refused before any IO.
        let request = backflow_core::payload::load_request(&event)?;
        let started = Instant::now();
        let Some(run) = self.runs.get_run(&request.run_id).await? else {
            anyhow::bail!("load: no run `{}`", request.run_id);
        };
        if run.status.is_finished() {
            tracing::info!(run_id = %run.run_id, seq = request.seq, "load: run already finished");
            // A retry of the delivery that ended the run may find it ended
            // with what follows cut short by a crash: do that (idempotent).
            self.end.ended(&run.run_id).await?;
            return Ok(json!({"skipped": true}));
        }
        let batch = self.batches.get(&request).await?;
        let skip: HashSet<String> = match &request.skip_list {
            Some(key) => self.batches.get_json(key).await?.unwrap_or_default(),
            None => HashSet::new(),
        };
        let mut usage = Usage {
            s3_gets: 1 + u64::from(request.skip_list.is_some()),
            ..Usage::default()
        };
        let outcome = self.load(&batch, &skip, &mut usage).await;
        usage.lambda_invocations = 1;
        usage.lambda_gb_seconds =
            started.elapsed().as_secs_f64() * backflow_aws::env::memory_gb(512.0);
        let (counts, calls, retries, fatal) = match outcome {
            Ok(done) => (done.counts, done.calls, done.retries, done.fatal),
            Err(e) => (Counts::default(), 0, 0, Some(format!("{e:#}"))),
        };
        usage.intercom_calls = calls;
        let applied = self
            .runs
            .record_batch(
                &run.run_id,
                batch.seq,
                &counts,
                calls,
                retries,
                &usage,
                fatal.is_some(),
            )
            .await?;
        if let Some(message) = &fatal {
            self.end
                .end(&run.run_id, &run.sync, RunStatus::Failed, Some(message))
                .await?;
        } else {
            // Also when another delivery counted this batch: it may have died
            // before it could end the run.
            if !applied {
                tracing::info!(run_id = %run.run_id, seq = batch.seq, "load: batch counted by an earlier delivery");
            }
            self.finish_if_last(&run.run_id, &run.sync).await?;
        }
        Ok(json!({"run_id": run.run_id, "seq": batch.seq, "counts": counts}))
    }

    /// The last batch to finish closes the run. A run found ended already (a
    /// redelivered last batch) gets what follows its ending again, which is
    /// idempotent and heals an ending cut short by a crash.
    async fn finish_if_last(&self, run_id: &str, sync: &str) -> anyhow::Result<()> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(());
        };
        if run.status.is_finished() {
            self.end.ended(run_id).await?;
            return Ok(());
        }
        if run.batches.done + run.batches.failed < run.batches.total {
            return Ok(());
        }
        let status = if run.batches.failed > 0 {
            RunStatus::Failed
        } else {
            final_status(&run.counts)
        };
        let error =
            (run.batches.failed > 0).then(|| format!("{} batch(es) failed", run.batches.failed));
        self.end.end(run_id, sync, status, error.as_deref()).await?;
        Ok(())
    }

    async fn load(
        &self,
        batch: &Batch,
        skip: &HashSet<String>,
        usage: &mut Usage,
    ) -> anyhow::Result<Loaded> {
        let spec = &batch.spec;
        let secrets = Secrets::new(self.aws.secrets.clone());
        let token = secrets.get(&spec.destination.access_token).await?;
        let client = Client::for_destination(&spec.destination, token)?;
        let client =
            backflow_aws::share_budget(client, &self.aws.dynamodb, &self.settings.runs_table);
        let known = self.known_state(batch, usage).await?;
        let this_run = RunTag::of(&batch.run_id);
        let mut results = Results::default();
        let mut todo = Vec::new();
        for item in &batch.items {
            if skip.contains(&item.key) {
                continue; // a duplicate key: extract reported both rows invalid
            }
            match already_done(this_run, item, known.get(&item.key)) {
                Some(outcome) => results.counts.bump(outcome),
                None => todo.push(item),
            }
        }
        let blocked = apply::attribute_problems(&client, spec, &batch.items).await?;
        let tag_work = self
            .apply_all(
                &client,
                batch,
                this_run,
                todo,
                &blocked,
                &mut results,
                usage,
            )
            .await?;
        if !tag_work.is_empty() {
            let (tagged, failed) = tagging::apply_tags(&client, spec, tag_work).await;
            for result in tagged {
                results.take(result);
            }
            if let Some(message) = failed {
                results.fatal.get_or_insert(message);
            }
        }
        // Calls taken from the shared budget and not spent go back to the others.
        client.release_budget().await;
        self.write_state(&spec.sync, &mut results.pending, usage)
            .await?;
        let Results {
            counts,
            mut reports,
            fatal,
            ..
        } = results;
        if !reports.is_empty() {
            reports.sort_by_key(|r| r.row);
            self.runs
                .put_rows(&batch.run_id, batch.seq, &reports)
                .await?;
            usage.dynamodb_write_units += reports.len() as f64;
        }
        let stats = client.stats();
        // One write unit per request to the shared budget.
        usage.dynamodb_write_units += stats.budget_writes as f64;
        Ok(Loaded {
            counts,
            calls: stats.calls,
            retries: stats.retries,
            fatal,
        })
    }

    /// The batch carries the state extract read. Only when an earlier delivery
    /// of this batch began can a key have newer state: then (and only then) the
    /// keys are read back, strongly consistent (1 RRU each, as BatchGetItem bills
    /// items under 4 KB), rather than paying that read on every batch.
    async fn known_state(
        &self,
        batch: &Batch,
        usage: &mut Usage,
    ) -> anyhow::Result<HashMap<String, StateItem>> {
        let first = self.runs.claim_delivery(&batch.run_id, batch.seq).await?;
        usage.dynamodb_write_units += 1.0;
        if first {
            return Ok(HashMap::new());
        }
        let keys: Vec<String> = batch.items.iter().map(|i| i.key.clone()).collect();
        tracing::info!(run_id = %batch.run_id, seq = batch.seq, "load: batch delivered again; reading its state back");
        usage.dynamodb_read_units += keys.len() as f64;
        Ok(self.state.get_many(&batch.spec.sync, &keys).await?)
    }

    /// Applies the items, [`CONCURRENCY`] at a time, writing state as it is
    /// confirmed. A fatal result stops the items not started yet. Items with
    /// tags come back, their tags still to apply (`tagging`).
    #[allow(clippy::too_many_arguments)]
    async fn apply_all<'b>(
        &self,
        client: &Client,
        batch: &'b Batch,
        this_run: RunTag,
        todo: Vec<&'b BatchItem>,
        blocked: &HashMap<String, String>,
        results: &mut Results,
        usage: &mut Usage,
    ) -> anyhow::Result<Vec<tagging::Pending<'b>>> {
        let spec = &batch.spec;
        // Rows not started yet: the shared budget takes no more calls than are
        // still to come (at least one per row), so the end of a batch leaves the
        // window's last calls to the other invocations.
        let not_started = AtomicUsize::new(todo.len());
        client.expect_calls(todo.len() as u64);
        let stop = AtomicBool::new(false);
        let mut tag_work = Vec::new();
        let mut applied = futures::stream::iter(todo)
            .map(|item| {
                let stop = &stop;
                let left = not_started
                    .fetch_sub(1, Ordering::Relaxed)
                    .saturating_sub(1);
                client.expect_calls(left as u64);
                async move {
                    if stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    let result = apply::apply(client, spec, this_run, item, blocked).await;
                    Some((item, result))
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some(result) = applied.next().await {
            match result {
                None => {}
                Some((
                    item,
                    ItemResult::Done {
                        outcome,
                        state: Some(state),
                    },
                )) if tagging::has_tags(item) => {
                    tag_work.push(tagging::Pending {
                        item,
                        outcome,
                        state,
                    });
                }
                Some((_, result)) => {
                    // A failure that stops the batch stops the items not started.
                    stop.fetch_or(results.take(result), Ordering::Relaxed);
                }
            }
            if results.pending.len() >= STATE_CHUNK {
                self.write_state(&spec.sync, &mut results.pending, usage)
                    .await?;
            }
        }
        Ok(tag_work)
    }

    async fn write_state(
        &self,
        sync: &str,
        pending: &mut Vec<StateItem>,
        usage: &mut Usage,
    ) -> anyhow::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        self.state.put_many(sync, pending).await?;
        usage.dynamodb_write_units += pending.len() as f64;
        pending.clear();
        Ok(())
    }
}

/// What a batch's items came to so far.
#[derive(Default)]
struct Results {
    counts: Counts,
    /// Confirmed state not written yet.
    pending: Vec<StateItem>,
    reports: Vec<RowReport>,
    /// The first failure that stopped the batch.
    fatal: Option<String>,
}

impl Results {
    /// Counts one item's result and keeps its state and report; true when it is
    /// a failure that stops the batch.
    fn take(&mut self, result: ItemResult) -> bool {
        match result {
            ItemResult::Done { outcome, state } => {
                self.counts.bump(outcome);
                self.pending.extend(state);
            }
            ItemResult::Problem(report, state) => {
                self.counts.bump(report.outcome);
                self.reports.push(report);
                self.pending.extend(state);
            }
            ItemResult::Fatal(message) => {
                self.fatal.get_or_insert(message);
                return true;
            }
        }
        false
    }
}

struct Loaded {
    counts: Counts,
    calls: u64,
    retries: u64,
    fatal: Option<String>,
}
