//! The end of a run, wherever it ends: the last `load`, `extract` (a dry run,
//! nothing to send, a failure), or `trigger` marking a stalled run failed. Each
//! ends it through [`RunEnd::end`], which finishes the record and then does what
//! follows an ending, once per run however often the ending is delivered:
//!
//! 1. a run that ended `succeeded` or `partial` (not a dry run) is recorded on
//!    its sync's meta item, for the syncs that run `after:` it;
//! 2. if the sync's `alerts:` thresholds are crossed, one message goes to the
//!    stack's SNS topic (`BACKFLOW_ALERTS_TOPIC_ARN`), claimed on the run record
//!    before it is published (and given back if publishing fails);
//! 3. `trigger` is invoked asynchronously with `{"run_ended": {run_id, sync}}`,
//!    so the syncs waiting for this one start now rather than at the next
//!    minute's tick (which also looks, in case this invoke is lost).

use backflow_core::alert;
use backflow_core::payload::RunEnded;
use backflow_core::run::{RunRecord, RunStatus};

use crate::error::context;
use crate::runs::now_ms;
use crate::{load_config, Aws, Error, Invoker, RunStore, Settings};

/// What follows the end of a run; built once per cold start.
#[derive(Debug, Clone)]
pub struct RunEnd {
    runs: RunStore,
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    invoker: Invoker,
    config_location: String,
    alerts_topic: Option<String>,
    /// The function told that a run ended; `None` in `trigger` itself, which
    /// starts the waiting syncs in-process.
    notify: Option<String>,
}

impl RunEnd {
    /// `notify_trigger`: whether to invoke `trigger` after an ending (every
    /// function but `trigger`).
    pub fn new(aws: &Aws, settings: &Settings, notify_trigger: bool) -> RunEnd {
        RunEnd {
            runs: RunStore::new(aws.dynamodb.clone(), settings.runs_table.clone()),
            s3: aws.s3.clone(),
            sns: aws.sns.clone(),
            invoker: Invoker::new(aws.lambda.clone(), settings.local_invoke_detach),
            config_location: settings.config_location.clone(),
            alerts_topic: settings.alerts_topic_arn.clone(),
            notify: settings.trigger_function.clone().filter(|_| notify_trigger),
        }
    }

    /// Finishes the run with `status` (see [`RunStore::finish`]) and does what
    /// follows ([`RunEnd::ended`]). `true` when this call ended it.
    pub async fn end(
        &self,
        run_id: &str,
        sync: &str,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<bool, Error> {
        let ended = self.runs.finish(run_id, sync, status, error).await?;
        // The template's metric filters count `run_finished` lines by status.
        if ended {
            let error = error.unwrap_or_default();
            if status == RunStatus::Failed {
                tracing::error!(event = "run_finished", status = status.as_str(), run_id = %run_id, sync = %sync, error = %error);
            } else {
                tracing::info!(event = "run_finished", status = status.as_str(), run_id = %run_id, sync = %sync);
            }
        }
        self.ended(run_id).await?;
        Ok(ended)
    }

    /// What follows the end of `run_id`, if it has ended. Idempotent: called
    /// again (a redelivered ending), it records nothing newer, publishes no
    /// second alert, and the `trigger` it notifies starts nothing twice.
    /// Returns the run as read.
    pub async fn ended(&self, run_id: &str) -> Result<Option<RunRecord>, Error> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(None);
        };
        if !run.status.is_finished() || run.dry_run {
            return Ok(Some(run));
        }
        if matches!(run.status, RunStatus::Succeeded | RunStatus::Partial) {
            self.runs
                .record_ended_ok(&run.sync, &run.run_id, now_ms())
                .await?;
        }
        self.alert(&run).await?;
        if let Some(function) = &self.notify {
            let payload = serde_json::json!({ "run_ended": RunEnded {
                run_id: run.run_id.clone(),
                sync: run.sync.clone(),
            }});
            self.invoker.invoke_async(function, &payload).await?;
        }
        Ok(Some(run))
    }

    /// Publishes the run's alert if its sync's `alerts:` say so, once.
    async fn alert(&self, run: &RunRecord) -> Result<(), Error> {
        let Some(topic) = &self.alerts_topic else {
            return Ok(());
        };
        // The config as it is now: the run record does not carry the sync's
        // spec, and a config that no longer loads cannot say what to alert on.
        let config = match load_config(&self.config_location, &self.s3).await {
            Ok(config) => config,
            Err(e) => {
                tracing::warn!(run_id = %run.run_id, sync = %run.sync, error = %e, "alerts: the config does not load; no alert can be decided");
                return Ok(());
            }
        };
        let Some(alerts) = config.sync(&run.sync).and_then(|s| s.alerts) else {
            return Ok(());
        };
        let why = alert::reasons(&alerts, run);
        if why.is_empty() || !self.runs.claim_alert(&run.run_id).await? {
            return Ok(());
        }
        let rows = self
            .runs
            .list_rows(&run.run_id, None, alert::FIRST_ROWS)
            .await?;
        let message = alert::message(run, &why, &rows);
        let sent = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(&message.subject)
            .message(&message.body)
            .send()
            .await;
        match sent {
            Ok(out) => {
                tracing::info!(event = "alert_published", run_id = %run.run_id, sync = %run.sync, message_id = out.message_id().unwrap_or_default(), why = ?why);
                Ok(())
            }
            Err(e) => {
                let error = Error::Publish {
                    topic: topic.clone(),
                    message: context(&e),
                };
                // Give the claim back so a retried ending publishes it.
                if let Err(release) = self.runs.release_alert(&run.run_id).await {
                    tracing::error!(run_id = %run.run_id, error = %release, "alerts: could not give back the claim of an unpublished alert");
                }
                Err(error)
            }
        }
    }
}
