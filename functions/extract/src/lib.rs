//! The `extract` function: step 2 of a run. It streams the sync's model, plans
//! every row against the sync's state, writes the rows to send to S3 batches,
//! records the plan, and fans out one `load` invocation per batch.
//!
//! # Layout
//! - this file: the handler — which delivery of the invocation goes on, what the
//!   run used, and a failed run's error — and `Extract::extract`, the steps in
//!   the order a run takes them:
//!   - `prepare`: the config, the model's warehouse and its rows sorted by key,
//!     the mapper, and the destination's check;
//!   - `plan`: the rows walked alongside the state and planned; batches and
//!     invalid rows written as they come; the mirror's removals;
//!   - `before` (dry runs): each sample's record read from Intercom, so the
//!     sample shows what Intercom holds now → what the run would send;
//!   - `fan_out`: the plan recorded on the run, then one `load` per batch.
//! - [`planner`]: pure per-row planning (duplicates, invalid rows, diff, batching).
//! - [`merge`]: the model's rows and the sync's state, both sorted by key, walked
//!   side by side, so neither is held in memory; [`merge::plan_row`] takes one
//!   row through the merge and the planner, for the run and for the test that
//!   a shuffled model gives the same plan (`merge/order_tests.rs`).
//!
//! # What reaches Intercom from here
//! Reads only, before any row is planned: `GET /me`, to check the token, and,
//! when the sync maps custom attributes, `GET /data_attributes?model=contact|company`,
//! to coerce values to the types those attributes already have; when the sync
//! maps `subscriptions.<name>`, `GET /subscription_types` (their ids, once per
//! run); for a custom object, `GET /custom_object_instances/{type}?external_id=`
//! (does the type exist); all take their
//! turn from the app's shared call budget. When Intercom refuses the token and
//! the destination is one of Intercom's regions, `GET /me` also goes to the other
//! regions, to name the one that accepts it. A dry run also reads each sample
//! row's record (at most 3 per kind: `GET /contacts/{id}`,
//! `find_by_external_id`, an email search, `GET /companies?company_id=`),
//! counted in the run's `api_calls`. No record is written to
//! Intercom here, and no `load` is invoked before every batch is written and the
//! plan recorded: a run refused by the mirror guard, or one whose model has a
//! duplicate key, sends nothing wrong.

mod before;
mod fan_out;
pub mod merge;
mod plan;
pub mod planner;
mod prepare;

use std::time::Instant;

use serde_json::{json, Value};

use backflow_aws::{Aws, Batches, Invoker, RunEnd, RunStore, Settings, StateStore};
use backflow_core::run::{RunRecord, RunStatus, Usage};

use fan_out::Recorded;

/// The invocation payload (parsed by [`backflow_core::payload::extract_request`]).
pub use backflow_core::payload::ExtractRequest;

/// What every invocation needs, built once per cold start.
pub struct Extract {
    pub aws: Aws,
    pub settings: Settings,
    pub runs: RunStore,
    pub state: StateStore,
    pub batches: Batches,
    pub invoker: Invoker,
    /// How a run ends here (a dry run, nothing to send, a failure).
    pub end: RunEnd,
}

impl Extract {
    pub fn new(aws: Aws, settings: Settings) -> Self {
        Extract {
            runs: RunStore::new(aws.dynamodb.clone(), settings.runs_table.clone()),
            state: StateStore::new(aws.dynamodb.clone(), settings.state_table.clone()),
            batches: Batches::new(aws.s3.clone(), settings.bucket.clone()),
            invoker: Invoker::new(aws.lambda.clone(), settings.local_invoke_detach),
            end: RunEnd::new(&aws, &settings, true),
            aws,
            settings,
        }
    }

    pub async fn handle(&self, event: Value) -> anyhow::Result<Value> {
        if event.get("warmup").is_some() {
            return Ok(json!({"ok": true}));
        }
        // Anything but `{"run_id": "…"}` is refused before any IO, naming what
        // was expected; Lambda's retries of it are refused the same way.
        let request = backflow_core::payload::extract_request(&event)?;
        let started = Instant::now();
        let Some(run) = self.runs.get_run(&request.run_id).await? else {
            anyhow::bail!("extract: no run `{}`", request.run_id);
        };
        // Lambda delivers at least once: only the delivery that moves the run to
        // `extracting` (or re-enters an extraction that died) goes on.
        if run.status.is_finished()
            || !self
                .runs
                .transition(
                    &run.run_id,
                    &[RunStatus::Queued, RunStatus::Extracting],
                    RunStatus::Extracting,
                )
                .await?
        {
            tracing::info!(run_id = %run.run_id, status = run.status.as_str(), "extract: nothing to do");
            // A retry of the delivery that ended the run (a dry run, a
            // failure) may find what follows the ending cut short by a crash.
            if run.status.is_finished() {
                self.end.ended(&run.run_id).await?;
            }
            return Ok(json!({"run_id": run.run_id, "skipped": true}));
        }
        let mut usage = Usage::default();
        let result = self.extract(&run, &mut usage).await;
        usage.lambda_invocations += 1;
        usage.lambda_gb_seconds +=
            started.elapsed().as_secs_f64() * backflow_aws::env::memory_gb(1024.0);
        // The usage report is informative: failing to add to it must not change
        // the run's outcome, but it is said.
        if let Err(e) = self.runs.add_usage(&run.run_id, &usage).await {
            tracing::warn!(run_id = %run.run_id, error = %e, "extract: could not add this invocation's usage to the run record");
        }
        match result {
            Ok(status) => Ok(json!({"run_id": run.run_id, "status": status.as_str()})),
            Err(e) => {
                let message = format!("{e:#}");
                self.end
                    .end(&run.run_id, &run.sync, RunStatus::Failed, Some(&message))
                    .await?;
                Ok(json!({"run_id": run.run_id, "status": "failed"}))
            }
        }
    }

    /// Step 2 of a run, as the README's "How a run works" tells it: prepare,
    /// plan, record the plan, fan out. Returns the run's status after.
    async fn extract(&self, run: &RunRecord, usage: &mut Usage) -> anyhow::Result<RunStatus> {
        let mut steps = Steps::start();
        let (mut prepared, warehouse) = self.prepare(run).await?;
        steps.lap("prepare");
        let mut model = prepared.open_model(&warehouse, run).await?;
        steps.lap("query");
        self.check_destination(&mut prepared, &mut model.mapper, usage)
            .await?;
        steps.lap("check");
        let mut planned = self.plan(run, &prepared, model, usage).await?;
        steps.lap("plan");
        if run.dry_run {
            planned.calls = self
                .read_before(&prepared, &mut planned.samples, usage)
                .await?;
            steps.lap("before");
        }
        let recorded = self.record(run, &prepared.spec, &planned).await?;
        steps.lap("record");
        let status = match recorded {
            Recorded::Finished(status) => status,
            Recorded::ByAnotherDelivery => RunStatus::Loading,
            Recorded::ToLoad => {
                self.fan_out(run, &planned).await?;
                steps.lap("fan_out");
                RunStatus::Loading
            }
        };
        tracing::info!(run_id = %run.run_id, rows = planned.plan.total(), steps = %steps, "extract: done");
        Ok(status)
    }
}

/// How long each step of an extraction took, for the log: where a slow run
/// spends its time (`query` is the warehouse's time to the first row; `plan`
/// reads, maps and plans every row).
struct Steps {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Steps {
    fn start() -> Steps {
        Steps {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, step: &'static str) {
        let now = Instant::now();
        self.laps
            .push((step, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }
}

impl std::fmt::Display for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (step, secs)) in self.laps.iter().enumerate() {
            let sep = if i > 0 { " " } else { "" };
            write!(f, "{sep}{step}={secs:.3}s")?;
        }
        Ok(())
    }
}
