//! The `trigger` function: the HTTP API and the every-minute schedule.
//!
//! # Layout
//! - [`http`]: the API Gateway (payload 2.0) / function-URL event → answer. What
//!   the client sent is parsed first, with no IO, by `backflow_core::api`: a
//!   refused request is a 4xx that starts nothing.
//! - [`runs`]: starting a run (lock, record, hand-off to `extract`), stalled runs.
//! - [`schedule`]: the Scheduled Event: which syncs are due, once per due minute.
//! - [`chain`]: `after:`: the syncs whose `after:` syncs have all ended well
//!   since their own last run, started once per set of endings — when a
//!   function tells `trigger` a run ended (`{"run_ended": …}`), and at every tick.
//!
//! One handler takes every event as JSON and dispatches on its shape, because one
//! Lambda function serves both the HTTP API and EventBridge.

pub mod chain;
pub mod http;
pub mod runs;
pub mod schedule;

use backflow_aws::{Aws, Invoker, RunEnd, RunStore, Settings};
use serde_json::Value;

/// What every invocation needs, built once per cold start.
pub struct Trigger {
    pub aws: Aws,
    pub settings: Settings,
    pub runs: RunStore,
    pub invoker: Invoker,
    /// How a run ends here (a stalled run, an extract that could not start);
    /// `trigger` starts the syncs waiting for it itself, so it does not notify.
    pub end: RunEnd,
}

impl Trigger {
    pub fn new(aws: Aws, settings: Settings) -> Self {
        let runs = RunStore::new(aws.dynamodb.clone(), settings.runs_table.clone());
        let invoker = Invoker::new(aws.lambda.clone(), settings.local_invoke_detach);
        let end = RunEnd::new(&aws, &settings, false);
        Trigger {
            end,
            aws,
            settings,
            runs,
            invoker,
        }
    }

    /// Dispatches one event: an HTTP request, a Scheduled Event, a run's ending
    /// told by `extract` or `load`, or a warm-up ping.
    pub async fn handle(&self, event: Value) -> anyhow::Result<Value> {
        tracing::debug!(event = %event, "trigger: event");
        if event.get("warmup").is_some() {
            return Ok(serde_json::json!({"ok": true}));
        }
        if event.get("requestContext").is_some() {
            return Ok(http::handle(self, &event).await);
        }
        if event.get("run_ended").is_some() {
            let started = chain::handle(self, &event).await?;
            return Ok(serde_json::json!({ "started": started }));
        }
        if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
            let started = schedule::handle(self, &event).await?;
            return Ok(serde_json::json!({ "started": started }));
        }
        anyhow::bail!("trigger: unrecognised event (neither an HTTP request, a Scheduled Event nor a run_ended)")
    }
}
