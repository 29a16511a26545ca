//! Steps "record" and "fan out": the plan goes on the run record, a dry run (or
//! a run with nothing to send) finishes there, and only then is one `load`
//! invoked per batch — so no `load` starts before every batch is written.

use backflow_core::batch::{batch_key, LoadRequest};
use backflow_core::config::{DeleteMode, SyncSpec};
use backflow_core::plan::PlanCounts;
use backflow_core::run::{final_status, Counts, RunRecord, RunStatus};

use crate::plan::Planned;
use crate::Extract;

/// What is left to do once the plan is recorded.
pub(crate) enum Recorded {
    /// The run is over, with this status: a dry run, or nothing to send.
    Finished(RunStatus),
    /// Another delivery of this extract recorded the plan first; it fans out.
    ByAnotherDelivery,
    /// The batches wait for their `load`.
    ToLoad,
}

impl Extract {
    /// Records the plan, its samples and warnings on the run (a dry run with
    /// zero counts, no batches, and the calls that read its samples' records),
    /// and finishes the run when nothing is left
    /// to load.
    pub(crate) async fn record(
        &self,
        run: &RunRecord,
        spec: &SyncSpec,
        planned: &Planned,
    ) -> anyhow::Result<Recorded> {
        let warnings = warnings(spec, &planned.plan);
        if run.dry_run {
            self.runs
                .set_plan(
                    &run.run_id,
                    &planned.plan,
                    &Counts::default(),
                    0,
                    (planned.calls.calls, planned.calls.retries),
                    &planned.samples,
                    &warnings,
                    RunStatus::Loading,
                )
                .await?;
            self.finish(run, RunStatus::Succeeded).await?;
            return Ok(Recorded::Finished(RunStatus::Succeeded));
        }
        // What is known before any load: the rows left alone.
        let counts = Counts {
            unchanged: planned.plan.unchanged,
            invalid: planned.plan.invalid,
            ..Counts::default()
        };
        let recorded = self
            .runs
            .set_plan(
                &run.run_id,
                &planned.plan,
                &counts,
                u64::from(planned.batches),
                (0, 0),
                &planned.samples,
                &warnings,
                RunStatus::Loading,
            )
            .await?;
        if !recorded {
            return Ok(Recorded::ByAnotherDelivery);
        }
        if planned.batches == 0 {
            let status = final_status(&counts);
            self.finish(run, status).await?;
            return Ok(Recorded::Finished(status));
        }
        Ok(Recorded::ToLoad)
    }

    /// Invokes one `load` per batch, asynchronously.
    pub(crate) async fn fan_out(&self, run: &RunRecord, planned: &Planned) -> anyhow::Result<()> {
        for seq in 0..planned.batches {
            let request = LoadRequest {
                run_id: run.run_id.clone(),
                seq,
                key: batch_key(&run.run_id, seq),
                skip_list: planned.skip_list.clone(),
            };
            self.invoker
                .invoke_async(
                    &self.settings.load_function,
                    &serde_json::to_value(&request)?,
                )
                .await?;
        }
        Ok(())
    }

    async fn finish(&self, run: &RunRecord, status: RunStatus) -> anyhow::Result<()> {
        self.end.end(&run.run_id, &run.sync, status, None).await?;
        Ok(())
    }
}

/// What the run's reader must know before it loads: a permanent delete.
fn warnings(spec: &SyncSpec, plan: &PlanCounts) -> Vec<String> {
    let mut warnings = Vec::new();
    if spec.delete_mode() == DeleteMode::Permanent && plan.delete > 0 {
        warnings.push(format!(
            "{} contact(s) would be deleted permanently: this is irreversible, and Intercom never re-creates a permanently deleted user",
            plan.delete
        ));
    }
    if let (Some(type_name), true) = (&spec.custom_object, plan.delete > 0) {
        warnings.push(format!(
            "{} `{type_name}` custom object instance(s) would be deleted: Intercom cannot archive or restore an instance",
            plan.delete
        ));
    }
    warnings
}
