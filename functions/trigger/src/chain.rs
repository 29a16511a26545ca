//! `after:` chains: start each sync whose `after:` syncs have all ended
//! `succeeded` or `partial` since its own last run, once per set of endings.
//!
//! Looked at when `extract` or `load` tells `trigger` that a run ended
//! (`{"run_ended": {"run_id", "sync"}}`, see `backflow_aws::ended`) and at every
//! minute's tick. Whether a sync is due is `backflow_core::chain::due`; the
//! start is claimed with a conditional put keyed by the sync and the runs it
//! follows, so a duplicated `run_ended`, or a tick that looks at the same
//! endings again, starts nothing twice.

use backflow_core::chain::{dependents_of, due, Due, Ended};
use backflow_core::config::Config;
use backflow_core::run::Trigger as RunTrigger;
use serde_json::Value;

use crate::runs::{self, StartError, StartOptions};
use crate::Trigger;

/// `{"run_ended": …}`: the syncs waiting for the sync whose run ended, and
/// that sync itself (it may have been busy when its own `after:` syncs ended).
/// Returns the run ids started.
pub async fn handle(trigger: &Trigger, event: &Value) -> anyhow::Result<Vec<String>> {
    let ended = backflow_core::payload::run_ended(event)?;
    let config = runs::load_config(trigger).await?;
    let mut names = dependents_of(&config.syncs, &ended.sync);
    if config
        .sync(&ended.sync)
        .is_some_and(|spec| !spec.after.is_empty())
    {
        names.push(&ended.sync);
    }
    start_waiting(trigger, &config, &names).await
}

/// Starts each of `names` (syncs with `after:`) that is due; the run ids started.
pub async fn start_waiting(
    trigger: &Trigger,
    config: &Config,
    names: &[&str],
) -> anyhow::Result<Vec<String>> {
    let mut started = Vec::new();
    for &name in names {
        if let Some(run_id) = start_if_due(trigger, config, name).await? {
            started.push(run_id);
        }
    }
    Ok(started)
}

async fn start_if_due(
    trigger: &Trigger,
    config: &Config,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let Some(spec) = config.sync(name).filter(|s| !s.after.is_empty()) else {
        return Ok(None);
    };
    // A sync that is running is looked at again when that run ends; claiming
    // now would spend the claim on a start that cannot happen.
    if let Some(holder) = trigger.runs.lock_holder(name).await? {
        tracing::info!(sync = %name, holder = %holder, "after: waiting sync is running");
        return Ok(None);
    }
    let own = trigger.runs.chain_marks(name).await?;
    let mut endings: Vec<Option<Ended>> = Vec::with_capacity(spec.after.len());
    for dep in &spec.after {
        endings.push(trigger.runs.chain_marks(dep).await?.ended_ok);
    }
    let deps: Vec<(&str, Option<&Ended>)> = spec
        .after
        .iter()
        .map(String::as_str)
        .zip(endings.iter().map(Option::as_ref))
        .collect();
    let claim = match due(own.started_ms, &deps) {
        Due::Wait(why) => {
            tracing::debug!(sync = %name, why = %why, "after: not due");
            return Ok(None);
        }
        Due::Start { claim } => claim,
    };
    if !trigger.runs.claim_after(name, &claim).await? {
        tracing::info!(sync = %name, claim = %claim, "after: start already claimed");
        return Ok(None);
    }
    let options = StartOptions {
        dry_run: false,
        full_resync: false,
        allow_mass_removal: false,
        trigger: RunTrigger::After,
    };
    match runs::start(trigger, name, options).await {
        Ok(run_id) => {
            tracing::info!(sync = %name, run_id = %run_id, after = ?spec.after, "after: started");
            Ok(Some(run_id))
        }
        Err(e) => {
            // Not started: give the claim back, so the next look starts it.
            trigger.runs.release_after(name, &claim).await?;
            match e {
                StartError::AlreadyRunning(holder) => {
                    tracing::info!(sync = %name, holder = %holder, "after: start skipped, a run is in progress")
                }
                e => tracing::error!(sync = %name, error = ?e, "after: start failed"),
            }
            Ok(None)
        }
    }
}
