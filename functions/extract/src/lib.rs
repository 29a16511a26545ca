//! The `extract` function: runs a sync's model, plans the run, writes S3 batches
//! and fans out one `load` invocation per batch.
//!
//! # Layout
//! - [`planner`]: pure per-row planning (duplicates, invalid rows, diff, batching).
//! - [`merge`]: the model's rows and the sync's state, both sorted by key, walked
//!   side by side, so neither is held in memory.
//! - this file: the IO around it (config, secrets, warehouse, state, S3, runs).
//!
//! Nothing is sent to Intercom here, and no `load` is invoked before every batch is
//! written and the plan recorded: a run refused by the mirror guard, or one whose
//! model has a duplicate key, writes nothing wrong.

pub mod merge;
pub mod planner;

use std::time::Instant;

use anyhow::{anyhow, Context};
use serde::Deserialize;
use serde_json::{json, Value};

use backflow_aws::runs::EXTRACT_ROWS_SEQ;
use backflow_aws::{Aws, Batches, Invoker, RunStore, Secrets, Settings, StateStore};
use backflow_core::batch::{Batch, LoadRequest, LoadSpec};
use backflow_core::config::{Config, UrlSource, Warehouse as WarehouseConfig};
use backflow_core::mapping::Mapper;
use backflow_core::run::{final_status, Counts, RunRecord, RunStatus, Usage};
use backflow_core::secret::Secret;
use backflow_warehouse::{Source, Warehouse};

use merge::Merge;
use planner::Planner;

/// The invocation payload.
#[derive(Debug, Deserialize)]
pub struct ExtractRequest {
    pub run_id: String,
}

/// What every invocation needs, built once per cold start.
pub struct Extract {
    pub aws: Aws,
    pub settings: Settings,
    pub runs: RunStore,
    pub state: StateStore,
    pub batches: Batches,
    pub invoker: Invoker,
}

/// The S3 key of a run's duplicate-key skip list.
pub fn skip_key(run_id: &str) -> String {
    format!("runs/{run_id}/skip.json")
}

impl Extract {
    pub fn new(aws: Aws, settings: Settings) -> Self {
        Extract {
            runs: RunStore::new(aws.dynamodb.clone(), settings.runs_table.clone()),
            state: StateStore::new(aws.dynamodb.clone(), settings.state_table.clone()),
            batches: Batches::new(aws.s3.clone(), settings.bucket.clone()),
            invoker: Invoker::new(aws.lambda.clone(), settings.local_invoke_detach),
            aws,
            settings,
        }
    }

    pub async fn handle(&self, event: Value) -> anyhow::Result<Value> {
        if event.get("warmup").is_some() {
            return Ok(json!({"ok": true}));
        }
        let request: ExtractRequest =
            serde_json::from_value(event).context("extract: bad payload")?;
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
            return Ok(json!({"run_id": run.run_id, "skipped": true}));
        }
        let mut usage = Usage::default();
        let result = self.extract(&run, &mut usage).await;
        usage.lambda_invocations += 1;
        usage.lambda_gb_seconds +=
            started.elapsed().as_secs_f64() * backflow_aws::env::memory_gb(1024.0);
        let _ = self.runs.add_usage(&run.run_id, &usage).await;
        match result {
            Ok(status) => Ok(json!({"run_id": run.run_id, "status": status.as_str()})),
            Err(e) => {
                let message = format!("{e:#}");
                if self
                    .runs
                    .finish(&run.run_id, &run.sync, RunStatus::Failed, Some(&message))
                    .await?
                {
                    tracing::error!(event = "run_finished", status = "failed", run_id = %run.run_id, sync = %run.sync, error = %message);
                }
                Ok(json!({"run_id": run.run_id, "status": "failed"}))
            }
        }
    }

    /// Plans the run and hands the batches to `load`. Returns the run's status after.
    async fn extract(&self, run: &RunRecord, usage: &mut Usage) -> anyhow::Result<RunStatus> {
        let config =
            backflow_aws::load_config(&self.settings.config_location, &self.aws.s3).await?;
        let spec = config
            .sync(&run.sync)
            .ok_or_else(|| anyhow!("sync `{}` is no longer in {}", run.sync, config.origin))?;
        let sql = config
            .model_sql(&spec.model)
            .ok_or_else(|| anyhow!("model `{}` has no SQL", spec.model))?;
        // What every batch carries; only the attributes grow as rows are mapped.
        let load_spec = config
            .load_spec(&run.sync, Vec::new())
            .ok_or_else(|| anyhow!("destination `{}` is not in the config", spec.destination))?;
        let secrets = Secrets::new(self.aws.secrets.clone());
        let source = warehouse_source(&config, &spec.model, &secrets).await?;
        let warehouse = Warehouse::connect(&source).await?;
        // Sorted by key, so the state is walked alongside (see `merge`).
        let sorted = warehouse.sorted_by_key(
            sql,
            &spec.key.column,
            spec.key.field == backflow_core::config::KeyField::Email,
        );
        let mut rows = warehouse.stream(&spec.model, &sorted).await?;
        let mut mapper = Mapper::new(&run.sync, spec, &rows.columns)?;
        // Check the token before anything is planned (a refused token fails the
        // run with the region that accepts it), and learn the types of the custom
        // attributes that already exist, so values are coerced to them and an
        // uncoercible value is reported as invalid instead of refused row by row.
        let token = secrets.get(&load_spec.destination.access_token).await?;
        let intercom = backflow_intercom::Client::for_destination(&load_spec.destination, token)?;
        // Even these two calls count against the app's shared budget (see `load`).
        let intercom =
            backflow_aws::share_budget(intercom, &self.aws.dynamodb, &self.settings.runs_table);
        intercom.check_token().await?;
        if let Some(model) = spec.object.attribute_model() {
            if !mapper.attributes().is_empty() {
                for (name, data_type) in intercom.existing_attribute_types(model).await? {
                    mapper.set_attribute_type(&name, data_type);
                }
            }
        }
        intercom.release_budget().await;
        usage.intercom_calls += intercom.stats().calls;
        usage.dynamodb_write_units += intercom.stats().budget_writes as f64;

        let mirror = spec.behavior == backflow_core::config::Behavior::Mirror;
        let mut merge = Merge::new(self.state.pages(&run.sync), mirror);
        let mut planner = Planner::new(spec, run.full_resync);
        let mut written = 0u32;
        let mut row_number = 0u64;
        // Invalid rows are written in pieces; their report keys continue from here.
        let mut reported = 0usize;
        while let Some(row) = rows.next().await {
            let row = row?;
            row_number += 1;
            let key = planner.key_of(&mapper, &row);
            let (prior, in_order) = match &key {
                Some(k) => {
                    let regular = planner.regular(k);
                    let in_order = merge.in_order(k, regular);
                    (merge.prior(k, regular).await?, in_order)
                }
                None => (None, false),
            };
            planner.push(row_number, &row, key, prior, in_order, &mut mapper);
            if let Some((seq, items)) = planner.take_batch(false) {
                self.write_batch(
                    run,
                    LoadSpec {
                        attributes: mapper.attributes(),
                        ..load_spec.clone()
                    },
                    seq,
                    items,
                    usage,
                )
                .await?;
                written += 1;
                self.flush_invalid(run, &mut planner, &mut reported).await?;
                self.runs.heartbeat(&run.run_id).await?;
            }
        }
        drop(rows);
        let walked = merge.finish().await?;
        usage.dynamodb_read_units += walked.source.stats.consumed_read_units;
        if walked.lookups > 0 {
            tracing::info!(run_id = %run.run_id, rows = walked.lookups, "rows met out of key order were looked up one by one");
        }
        if mirror {
            planner
                .removals(
                    walked.removals,
                    walked.previously_active,
                    run.allow_mass_removal,
                )
                .map_err(|e| anyhow!("sync `{}`: {e}", run.sync))?;
        }
        while let Some((seq, items)) = planner.take_batch(true) {
            self.write_batch(
                run,
                LoadSpec {
                    attributes: mapper.attributes(),
                    ..load_spec.clone()
                },
                seq,
                items,
                usage,
            )
            .await?;
            written += 1;
        }
        self.flush_invalid(run, &mut planner, &mut reported).await?;
        if !planner.skip.is_empty() && !run.dry_run {
            self.batches
                .put_json(&skip_key(&run.run_id), &json!(planner.skip))
                .await?;
            usage.s3_puts += 1;
        }

        let plan = planner.plan;
        let counts = Counts {
            unchanged: plan.unchanged,
            invalid: plan.invalid,
            ..Counts::default()
        };
        let mut warnings = Vec::new();
        if spec.delete_mode() == backflow_core::config::DeleteMode::Permanent && plan.delete > 0 {
            warnings.push(format!(
                "{} contact(s) would be deleted permanently: this is irreversible, and Intercom never re-creates a permanently deleted user",
                plan.delete
            ));
        }
        if run.dry_run {
            // A dry run reports the plan with zero counts and writes nothing.
            self.runs
                .set_plan(
                    &run.run_id,
                    &plan,
                    &Counts::default(),
                    0,
                    &planner.samples,
                    &warnings,
                    RunStatus::Loading,
                )
                .await?;
            self.finish(run, RunStatus::Succeeded).await?;
            return Ok(RunStatus::Succeeded);
        }
        if !self
            .runs
            .set_plan(
                &run.run_id,
                &plan,
                &counts,
                u64::from(written),
                &planner.samples,
                &warnings,
                RunStatus::Loading,
            )
            .await?
        {
            // Another delivery of this extract got there first; it fans out.
            return Ok(RunStatus::Loading);
        }
        if written == 0 {
            let status = final_status(&counts);
            self.finish(run, status).await?;
            return Ok(status);
        }
        for seq in 0..written {
            let request = LoadRequest {
                run_id: run.run_id.clone(),
                seq,
                key: backflow_core::batch::batch_key(&run.run_id, seq),
                skip_list: (!planner.skip.is_empty()).then(|| skip_key(&run.run_id)),
            };
            self.invoker
                .invoke_async(
                    &self.settings.load_function,
                    &serde_json::to_value(&request)?,
                )
                .await?;
        }
        Ok(RunStatus::Loading)
    }

    async fn write_batch(
        &self,
        run: &RunRecord,
        spec: LoadSpec,
        seq: u32,
        items: Vec<backflow_core::batch::BatchItem>,
        usage: &mut Usage,
    ) -> anyhow::Result<()> {
        if run.dry_run {
            return Ok(());
        }
        let batch = Batch {
            run_id: run.run_id.clone(),
            seq,
            spec,
            items,
        };
        self.batches.put(&batch).await?;
        usage.s3_puts += 1;
        Ok(())
    }

    async fn flush_invalid(
        &self,
        run: &RunRecord,
        planner: &mut Planner<'_>,
        reported: &mut usize,
    ) -> anyhow::Result<()> {
        let invalid = planner.take_invalid();
        if !invalid.is_empty() {
            self.runs
                .put_rows_from(&run.run_id, EXTRACT_ROWS_SEQ, *reported, &invalid)
                .await?;
            *reported += invalid.len();
        }
        Ok(())
    }

    async fn finish(&self, run: &RunRecord, status: RunStatus) -> anyhow::Result<()> {
        if self
            .runs
            .finish(&run.run_id, &run.sync, status, None)
            .await?
        {
            tracing::info!(event = "run_finished", status = status.as_str(), run_id = %run.run_id, sync = %run.sync);
        }
        Ok(())
    }
}

/// Where model `model`'s warehouse is, with its URL fetched from Secrets Manager
/// when it is one.
async fn warehouse_source(
    config: &Config,
    model: &str,
    secrets: &Secrets,
) -> anyhow::Result<Source> {
    let url = |u: &UrlSource| {
        let u = u.clone();
        async move {
            Ok::<Secret, anyhow::Error>(match u {
                UrlSource::Literal(s) => Secret::new(s),
                UrlSource::Secret(r) => secrets.get(&r).await?,
            })
        }
    };
    let (name, warehouse) = config
        .warehouse_for(model)
        .ok_or_else(|| anyhow!("model `{model}` has no warehouse"))?;
    Ok(match warehouse {
        WarehouseConfig::Sqlite { path } => Source::Sqlite {
            path: backflow_aws::sqlite_path(config, path),
        },
        WarehouseConfig::Postgres { url: u } => Source::Postgres { url: url(u).await? },
        WarehouseConfig::Mysql { url: u } => Source::Mysql { url: url(u).await? },
        other => anyhow::bail!(
            "warehouse `{name}`: type {} is not run by extract yet",
            other.type_name()
        ),
    })
}
