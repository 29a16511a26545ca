//! Starting runs, reading them back, and freeing syncs whose run stalled.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use backflow_aws::Error as AwsError;
use backflow_core::api::{RowsAfter, RunsAfter};
use backflow_core::config::Config;
use backflow_core::run::{
    BatchCounts, Counts, Outcome, RowReport, RunRecord, RunStatus, Trigger as RunTrigger, Usage,
};

use crate::Trigger;

/// Options of `POST /syncs/{sync}/runs` (or a scheduled start).
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    pub dry_run: bool,
    pub full_resync: bool,
    pub allow_mass_removal: bool,
    pub trigger: RunTrigger,
}

/// Why a run was not started.
#[derive(Debug)]
pub enum StartError {
    UnknownSync,
    /// The sync has a run in progress (its id).
    AlreadyRunning(String),
    /// The config cannot be loaded or is invalid (the message names what is wrong).
    Config(String),
    Internal(String),
}

pub async fn load_config(trigger: &Trigger) -> Result<Config, AwsError> {
    backflow_aws::load_config(&trigger.settings.config_location, &trigger.aws.s3).await
}

/// A new run id: sortable by start time, unique by its random tail.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    let tail = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &tail[..8])
}

/// A run is stalled when it is not finished and has shown no progress for
/// `deadline_secs` (its functions died, or an invocation was lost).
pub fn is_stalled(record: &RunRecord, now: i64, deadline_secs: u64) -> bool {
    if record.status.is_finished() {
        return false;
    }
    let last = record.updated_at.or_else(|| {
        DateTime::parse_from_rfc3339(&record.started_at)
            .ok()
            .map(|t| t.timestamp())
    });
    match last {
        Some(last) => now - last > deadline_secs as i64,
        None => false,
    }
}

fn new_record(run_id: &str, sync: &str, options: StartOptions, now: DateTime<Utc>) -> RunRecord {
    RunRecord {
        run_id: run_id.to_string(),
        sync: sync.to_string(),
        trigger: options.trigger,
        dry_run: options.dry_run,
        full_resync: options.full_resync,
        allow_mass_removal: options.allow_mass_removal,
        status: RunStatus::Queued,
        started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        finished_at: None,
        counts: Counts::default(),
        plan: None,
        api_calls: 0,
        retries: 0,
        batches: BatchCounts::default(),
        error: None,
        samples: Vec::new(),
        warnings: Vec::new(),
        usage: Usage::default(),
        updated_at: Some(now.timestamp()),
    }
}

/// Starts a run of `sync`: takes the sync's lock with the run record, then hands
/// off to `extract`. A stalled holder of the lock is marked failed first.
pub async fn start(
    trigger: &Trigger,
    sync: &str,
    options: StartOptions,
) -> Result<String, StartError> {
    let config = load_config(trigger)
        .await
        .map_err(|e| StartError::Config(e.to_string()))?;
    if config.sync(sync).is_none() {
        return Err(StartError::UnknownSync);
    }
    let now = Utc::now();
    let run_id = new_run_id(now);
    let record = new_record(&run_id, sync, options, now);
    match trigger.runs.start_run(&record).await {
        Ok(()) => {}
        Err(AwsError::AlreadyRunning { run_id: holder }) => {
            if !reclaim_if_stalled(trigger, sync, &holder)
                .await
                .map_err(|e| StartError::Internal(e.to_string()))?
            {
                return Err(StartError::AlreadyRunning(holder));
            }
            match trigger.runs.start_run(&record).await {
                Ok(()) => {}
                Err(AwsError::AlreadyRunning { run_id }) => {
                    return Err(StartError::AlreadyRunning(run_id))
                }
                Err(e) => return Err(StartError::Internal(e.to_string())),
            }
        }
        Err(e) => return Err(StartError::Internal(e.to_string())),
    }
    let payload = json!({ "run_id": run_id });
    if let Err(e) = trigger
        .invoker
        .invoke_async(&trigger.settings.extract_function, &payload)
        .await
    {
        let message = format!("could not start extract: {e}");
        let _ = trigger
            .end
            .end(&run_id, sync, RunStatus::Failed, Some(&message))
            .await;
        return Err(StartError::Internal(message));
    }
    tracing::info!(event = "run_started", run_id = %run_id, sync = %sync, dry_run = options.dry_run);
    Ok(run_id)
}

/// Frees the sync's lock when its holder is finished, gone or stalled (marking a
/// stalled run failed). Returns whether the lock is now free.
pub async fn reclaim_if_stalled(
    trigger: &Trigger,
    sync: &str,
    holder: &str,
) -> Result<bool, AwsError> {
    match trigger.runs.get_run(holder).await? {
        None => {
            trigger.runs.release_lock(sync, holder).await?;
            Ok(true)
        }
        Some(run) if run.status.is_finished() => {
            trigger.runs.release_lock(sync, holder).await?;
            Ok(true)
        }
        Some(run)
            if is_stalled(
                &run,
                Utc::now().timestamp(),
                trigger.settings.run_deadline_secs,
            ) =>
        {
            mark_stalled(trigger, &run).await?;
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

async fn mark_stalled(trigger: &Trigger, run: &RunRecord) -> Result<(), AwsError> {
    let message = format!(
        "stalled: no progress for more than {} s (BACKFLOW_RUN_DEADLINE_SECS)",
        trigger.settings.run_deadline_secs
    );
    trigger
        .end
        .end(&run.run_id, &run.sync, RunStatus::Failed, Some(&message))
        .await?;
    Ok(())
}

/// `GET /runs/{id}`; a stalled run is marked failed on the way.
pub async fn get(trigger: &Trigger, run_id: &str) -> Result<Option<RunRecord>, AwsError> {
    let Some(run) = trigger.runs.get_run(run_id).await? else {
        return Ok(None);
    };
    if is_stalled(
        &run,
        Utc::now().timestamp(),
        trigger.settings.run_deadline_secs,
    ) {
        mark_stalled(trigger, &run).await?;
        return trigger.runs.get_run(run_id).await;
    }
    Ok(Some(run))
}

/// A page of a listing, and the cursor of the next page (`None`: the last).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `GET /runs/{id}/rows`: one page; `None` when the run does not exist.
pub async fn rows(
    trigger: &Trigger,
    run_id: &str,
    outcome: Option<Outcome>,
    limit: u32,
    after: Option<&RowsAfter>,
) -> Result<Option<Page<RowReport>>, AwsError> {
    if trigger.runs.get_run(run_id).await?.is_none() {
        return Ok(None);
    }
    let (items, next) = trigger
        .runs
        .rows_page(run_id, outcome, limit as usize, after)
        .await?;
    Ok(Some(Page {
        items,
        next_cursor: next.map(|n| n.cursor(run_id)),
    }))
}

/// `GET /syncs/{sync}/runs`: one page, newest first (a stalled run is marked
/// failed on the way, as `GET /runs/{id}` does); `None` when the config has no
/// such sync (as `POST /syncs/{sync}/runs` decides).
pub async fn history(
    trigger: &Trigger,
    sync: &str,
    limit: u32,
    after: Option<&RunsAfter>,
) -> Result<Option<Page<RunRecord>>, AwsError> {
    let config = load_config(trigger).await?;
    if config.sync(sync).is_none() {
        return Ok(None);
    }
    let (runs, next) = trigger.runs.list_runs(sync, limit as usize, after).await?;
    let now = Utc::now().timestamp();
    let mut items = Vec::with_capacity(runs.len());
    for run in runs {
        if is_stalled(&run, now, trigger.settings.run_deadline_secs) {
            if let Some(marked) = get(trigger, &run.run_id).await? {
                items.push(marked);
            }
            continue;
        }
        items.push(run);
    }
    Ok(Some(Page {
        items,
        next_cursor: next.map(|n| n.cursor(sync)),
    }))
}

/// Syncs whose last run `GET /syncs` reads at the same time.
const LIST_CONCURRENCY: usize = 8;

/// `GET /syncs`. Each sync's last run is two DynamoDB reads: read one sync
/// after another, a config of a hundred syncs took seconds, so they are read
/// [`LIST_CONCURRENCY`] at a time (in the config's order).
pub async fn list_syncs(trigger: &Trigger) -> Result<Value, AwsError> {
    use futures::{StreamExt, TryStreamExt};
    let config = load_config(trigger).await?;
    let syncs: Vec<Value> = futures::stream::iter(&config.syncs)
        .map(|(name, spec)| async move {
            let last_run = match trigger.runs.last_run_id(name).await? {
                Some(id) => get(trigger, &id)
                    .await?
                    .map(|r| serde_json::to_value(r).unwrap_or_default()),
                None => None,
            };
            Ok::<_, AwsError>(json!({
                "name": name,
                "object": spec.object,
                "behavior": spec.behavior,
                "schedule": spec.schedule,
                "last_run": last_run,
            }))
        })
        .buffered(LIST_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(json!({ "syncs": syncs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: RunStatus, updated_at: Option<i64>) -> RunRecord {
        let options = StartOptions {
            dry_run: false,
            full_resync: false,
            allow_mass_removal: false,
            trigger: RunTrigger::Api,
        };
        let mut r = new_record(
            "r",
            "s",
            options,
            DateTime::from_timestamp(1_000, 0).unwrap(),
        );
        r.status = status;
        r.updated_at = updated_at;
        r
    }

    #[test]
    fn stalled_only_when_unfinished_and_silent_past_the_deadline() {
        assert!(is_stalled(
            &run(RunStatus::Loading, Some(1_000)),
            1_901,
            900
        ));
        assert!(!is_stalled(
            &run(RunStatus::Loading, Some(1_000)),
            1_900,
            900
        ));
        assert!(!is_stalled(
            &run(RunStatus::Succeeded, Some(0)),
            10_000,
            900
        ));
        // No heartbeat yet: the start time counts.
        assert!(is_stalled(&run(RunStatus::Queued, None), 1_901, 900));
    }

    #[test]
    fn run_ids_sort_by_start_time() {
        let a = new_run_id(DateTime::from_timestamp(1_000, 0).unwrap());
        let b = new_run_id(DateTime::from_timestamp(2_000, 0).unwrap());
        assert!(a < b, "{a} < {b}");
    }
}
