//! The every-minute Scheduled Event: start each sync whose cron is due, once per
//! due minute even when EventBridge delivers the event twice.

use chrono::{DateTime, Utc};
use serde_json::Value;

use backflow_core::run::Trigger as RunTrigger;
use backflow_core::schedule::{due_minute, is_due};

use crate::runs::{self, StartError, StartOptions};
use crate::Trigger;

/// The minute the event stands for: its `time`, else now.
pub fn event_minute(event: &Value) -> DateTime<Utc> {
    let t = event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    due_minute(t)
}

/// Returns the run ids started.
pub async fn handle(trigger: &Trigger, event: &Value) -> anyhow::Result<Vec<String>> {
    let minute = event_minute(event);
    let stamp = minute.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let config = runs::load_config(trigger).await?;
    let mut started = Vec::new();
    for (name, spec) in &config.syncs {
        // Free syncs whose run stalled, so a schedule never stays blocked.
        if let Some(holder) = trigger.runs.lock_holder(name).await? {
            runs::reclaim_if_stalled(trigger, name, &holder).await?;
        }
        let Some(cron) = &spec.schedule else { continue };
        if !is_due(cron, minute)? {
            continue;
        }
        // The claim makes a second delivery of the same event a no-op.
        if !trigger.runs.claim_schedule(name, &stamp).await? {
            tracing::info!(sync = %name, minute = %stamp, "scheduled start already claimed");
            continue;
        }
        let options = StartOptions {
            dry_run: false,
            full_resync: false,
            allow_mass_removal: false,
            trigger: RunTrigger::Schedule,
        };
        match runs::start(trigger, name, options).await {
            Ok(run_id) => started.push(run_id),
            Err(StartError::AlreadyRunning(holder)) => {
                tracing::info!(sync = %name, holder = %holder, "scheduled start skipped: a run is in progress")
            }
            Err(e) => tracing::error!(sync = %name, error = ?e, "scheduled start failed"),
        }
    }
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_comes_from_the_event_time() {
        let e =
            serde_json::json!({"detail-type": "Scheduled Event", "time": "2026-11-29T10:30:42Z"});
        assert_eq!(event_minute(&e).to_rfc3339(), "2026-11-29T10:30:00+00:00");
    }
}
