//! Step "plan": the model's rows, in key order, walked alongside the sync's
//! state (`merge`) and planned one by one (`planner`: duplicate keys, invalid
//! rows, the diff). What comes out is written as it comes, so memory holds one
//! batch: rows to send go to S3 batches (none in a dry run), invalid rows to
//! the run's row reports. After the last row, the state items no row claimed are
//! the mirror's removals, refused here when there are too many.

use anyhow::anyhow;
use serde_json::json;

use backflow_aws::runs::EXTRACT_ROWS_SEQ;
use backflow_aws::StatePages;
use backflow_core::batch::{Batch, BatchItem, LoadSpec};
use backflow_core::config::Behavior;
use backflow_core::mapping::Mapper;
use backflow_core::plan::PlanCounts;
use backflow_core::run::{heartbeat_due, RunRecord, Sample, Usage};
use backflow_intercom::CallStats;
use backflow_warehouse::RowStream;

use crate::merge::{plan_row, Merge};
use crate::planner::Planner;
use crate::prepare::{Model, Prepared};
use crate::Extract;

/// What planning the run produced, for the record and the fan-out.
pub(crate) struct Planned {
    pub(crate) plan: PlanCounts,
    pub(crate) samples: Vec<Sample>,
    /// Batches cut, numbered `0..batches` (written unless the run is dry).
    pub(crate) batches: u32,
    /// The S3 key of the keys `load` must skip, when there are any.
    pub(crate) skip_list: Option<String>,
    /// The Intercom calls made for the plan itself (a dry run's reads of its
    /// samples' records), for the run's `api_calls`.
    pub(crate) calls: CallStats,
}

/// The S3 key of a run's duplicate-key skip list.
fn skip_key(run_id: &str) -> String {
    format!("runs/{run_id}/skip.json")
}

/// The planner and where its output goes, while the rows come.
struct Planning<'a> {
    extract: &'a Extract,
    run: &'a RunRecord,
    load_spec: &'a LoadSpec,
    mapper: Mapper,
    planner: Planner<'a>,
    /// Batches written so far.
    batches: u32,
    /// Invalid rows reported so far: they are written in pieces, and each
    /// piece's report keys continue from here.
    reported: usize,
}

impl Extract {
    /// Plans every row of the model against the sync's state, writing batches
    /// and invalid rows as they come, then the mirror's removals.
    pub(crate) async fn plan(
        &self,
        run: &RunRecord,
        prepared: &Prepared,
        model: Model<'_>,
        usage: &mut Usage,
    ) -> anyhow::Result<Planned> {
        let Model { rows, mapper } = model;
        let mirror = prepared.spec.behavior == Behavior::Mirror;
        let mut merge = Merge::new(self.state.pages(&run.sync), mirror);
        let mut planning = Planning {
            extract: self,
            run,
            load_spec: &prepared.load_spec,
            mapper,
            planner: Planner::new(&prepared.spec, run.full_resync),
            batches: 0,
            reported: 0,
        };
        planning.rows(rows, &mut merge, usage).await?;
        let walked = merge.finish().await?;
        usage.dynamodb_read_units += walked.source.stats.consumed_read_units;
        if walked.lookups > 0 {
            tracing::info!(run_id = %run.run_id, rows = walked.lookups, "rows met out of key order were looked up one by one");
        }
        if mirror {
            planning
                .planner
                .removals(
                    walked.removals,
                    walked.previously_active,
                    run.allow_mass_removal,
                )
                .map_err(|e| anyhow!("sync `{}`: {e}", run.sync))?;
        }
        planning.rest(usage).await?;
        let skip_list = self
            .put_skip_list(run, &planning.planner.skip, usage)
            .await?;
        Ok(Planned {
            batches: planning.batches,
            plan: planning.planner.plan,
            samples: planning.planner.samples,
            skip_list,
            calls: CallStats::default(),
        })
    }

    /// Writes the keys `load` must skip: rows already in a batch when a later
    /// row showed their key twice. Returns its S3 key; `None` when there are none.
    async fn put_skip_list(
        &self,
        run: &RunRecord,
        skip: &[String],
        usage: &mut Usage,
    ) -> anyhow::Result<Option<String>> {
        if skip.is_empty() {
            return Ok(None);
        }
        let key = skip_key(&run.run_id);
        if !run.dry_run {
            self.batches.put_json(&key, &json!(skip)).await?;
            usage.s3_puts += 1;
        }
        Ok(Some(key))
    }
}

impl Planning<'_> {
    /// Plans the rows in the order they come. Each full batch is written with
    /// the invalid rows found so far, and the run's heartbeat is renewed when it
    /// is due (`heartbeat_due`: a write every 30 s, not one per batch). The row
    /// stream (and its warehouse connection) ends here.
    async fn rows(
        &mut self,
        mut rows: RowStream<'_>,
        merge: &mut Merge<StatePages>,
        usage: &mut Usage,
    ) -> anyhow::Result<()> {
        let mut row_number = 0u64;
        let mut last_heartbeat = std::time::Instant::now();
        while let Some(row) = rows.next().await {
            let row = row?;
            row_number += 1;
            plan_row(merge, &mut self.planner, &mut self.mapper, row_number, &row).await?;
            if let Some((seq, items)) = self.planner.take_batch(false) {
                self.write_batch(seq, items, usage).await?;
                self.report_invalid().await?;
                let since = last_heartbeat.elapsed().as_secs_f64();
                if heartbeat_due(since, self.extract.settings.run_deadline_secs) {
                    self.extract.runs.heartbeat(&self.run.run_id).await?;
                    last_heartbeat = std::time::Instant::now();
                }
            }
        }
        Ok(())
    }

    /// After the last row: what is still buffered (rows and removals) and the
    /// invalid rows not reported yet.
    async fn rest(&mut self, usage: &mut Usage) -> anyhow::Result<()> {
        while let Some((seq, items)) = self.planner.take_batch(true) {
            self.write_batch(seq, items, usage).await?;
        }
        self.report_invalid().await
    }

    /// Writes batch `seq` to S3 with the custom attributes settled so far (a dry
    /// run only counts it).
    async fn write_batch(
        &mut self,
        seq: u32,
        items: Vec<BatchItem>,
        usage: &mut Usage,
    ) -> anyhow::Result<()> {
        if !self.run.dry_run {
            let batch = Batch {
                run_id: self.run.run_id.clone(),
                seq,
                spec: LoadSpec {
                    attributes: self.mapper.attributes(),
                    ..self.load_spec.clone()
                },
                items,
            };
            self.extract.batches.put(&batch).await?;
            usage.s3_puts += 1;
        }
        self.batches += 1;
        Ok(())
    }

    /// Reports the invalid rows found since the last call.
    async fn report_invalid(&mut self) -> anyhow::Result<()> {
        let invalid = self.planner.take_invalid();
        if !invalid.is_empty() {
            self.extract
                .runs
                .put_rows_from(&self.run.run_id, EXTRACT_ROWS_SEQ, self.reported, &invalid)
                .await?;
            self.reported += invalid.len();
        }
        Ok(())
    }
}
