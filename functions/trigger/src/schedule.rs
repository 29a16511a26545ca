//! The every-minute Scheduled Event: start each sync whose cron is due, once per
//! due minute even when EventBridge delivers the event twice.

use chrono::{DateTime, Utc};
use serde_json::Value;

use backflow_core::run::Trigger as RunTrigger;
use backflow_core::schedule::{due_minute, is_due};

use crate::runs::{self, StartError, StartOptions};
use crate::Trigger;

/// The minute the event stands for: its `time`. A missing or unreadable `time`
/// is an error, not "now": the minute is what makes a second delivery of the
/// same event a no-op, and "now" would differ between two deliveries.
pub fn event_minute(event: &Value) -> anyhow::Result<DateTime<Utc>> {
    let time = match event.get("time") {
        Some(Value::String(time)) => time,
        Some(other) => anyhow::bail!(
            "Scheduled Event: `time` is {}, not an RFC 3339 string",
            backflow_core::api::kind(other)
        ),
        None => anyhow::bail!("Scheduled Event: no `time`"),
    };
    let t = DateTime::parse_from_rfc3339(time).map_err(|e| {
        let shown: String = time
            .chars()
            .take(80)
            .flat_map(char::escape_default)
            .collect();
        anyhow::anyhow!("Scheduled Event: `time` `{shown}` is not an RFC 3339 time: {e}")
    })?;
    Ok(due_minute(t.with_timezone(&Utc)))
}

/// Returns the run ids started.
pub async fn handle(trigger: &Trigger, event: &Value) -> anyhow::Result<Vec<String>> {
    let minute = event_minute(event)?;
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
    // Catch-up for `after:`: a sync whose `after:` syncs ended while it was
    // busy, or whose `run_ended` invoke was lost, starts here.
    let waiting: Vec<&str> = config
        .syncs
        .iter()
        .filter(|(_, spec)| !spec.after.is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    started.extend(crate::chain::start_waiting(trigger, &config, &waiting).await?);
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_comes_from_the_event_time() {
        let e =
            serde_json::json!({"detail-type": "Scheduled Event", "time": "2026-11-29T10:30:42Z"});
        assert_eq!(
            event_minute(&e).unwrap().to_rfc3339(),
            "2026-11-29T10:30:00+00:00"
        );
    }

    #[test]
    fn odd_event_times_are_errors_that_name_the_field() {
        for (time, says) in [
            (None, "no `time`"),
            (Some(serde_json::json!(1_700_000_000)), "`time` is a number"),
            (Some(serde_json::json!(null)), "`time` is null"),
            (
                Some(serde_json::json!("yesterday")),
                "`yesterday` is not an RFC 3339 time",
            ),
            (
                Some(serde_json::json!("2026-13-29T10:30:42Z")),
                "not an RFC 3339 time",
            ),
            (
                Some(serde_json::json!("+999999-01-01T00:00:00Z")),
                "not an RFC 3339 time",
            ),
        ] {
            let mut e = serde_json::json!({"detail-type": "Scheduled Event"});
            if let Some(t) = time {
                e["time"] = t;
            }
            let message = format!("{:#}", event_minute(&e).unwrap_err());
            assert!(message.contains(says), "{e}: {message}");
        }
    }
}
