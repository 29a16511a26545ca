//! The functions' environment (`BACKFLOW_*`, set by `infra/template.yaml` in AWS and by
//! the local stack). Secrets are never here: only where to find things.

use crate::Error;

/// Lambda's maximum duration; a run without progress for this long is stalled.
pub const DEFAULT_RUN_DEADLINE_SECS: u64 = 900;

/// Where everything is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `BACKFLOW_CONFIG`: a local path or `s3://bucket/key`.
    pub config_location: String,
    /// `BACKFLOW_STATE_TABLE`: what Intercom confirmed per sync and key.
    pub state_table: String,
    /// `BACKFLOW_RUNS_TABLE`: run records, row reports, locks, schedule claims.
    pub runs_table: String,
    /// `BACKFLOW_BUCKET`: batches and run artifacts.
    pub bucket: String,
    /// `BACKFLOW_EXTRACT_FUNCTION`: the name `trigger` invokes.
    pub extract_function: String,
    /// `BACKFLOW_LOAD_FUNCTION`: the name `extract` fans out to.
    pub load_function: String,
    /// `BACKFLOW_RUN_DEADLINE_SECS` (default 900): a run with no progress for this
    /// long is marked failed ("stalled") and releases its sync.
    pub run_deadline_secs: u64,
    /// `BACKFLOW_LOCAL_INVOKE=detach`: local stack only, see [`crate::Invoker`].
    pub local_invoke_detach: bool,
    /// `BACKFLOW_TRIGGER_FUNCTION`: the name `extract` and `load` tell that a run
    /// ended, so the syncs waiting for it (`after:`) start; unset, they start at
    /// the next minute's tick.
    pub trigger_function: Option<String>,
    /// `BACKFLOW_ALERTS_TOPIC_ARN`: the SNS topic a sync's `alerts:` publish to;
    /// unset, no alert is published.
    pub alerts_topic_arn: Option<String>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (tests pass a map instead of mutating the
    /// process environment). An empty value counts as missing.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(Error::MissingEnv(name));
        let run_deadline_secs = match get("BACKFLOW_RUN_DEADLINE_SECS") {
            None => DEFAULT_RUN_DEADLINE_SECS,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(secs) if secs > 0 => secs,
                _ => {
                    return Err(Error::BadEnv {
                        name: "BACKFLOW_RUN_DEADLINE_SECS",
                        message: format!("expected a positive number of seconds, got `{v}`"),
                    })
                }
            },
        };
        let local_invoke_detach = match get("BACKFLOW_LOCAL_INVOKE").as_deref().map(str::trim) {
            None => false,
            Some("detach") => true,
            Some(other) => {
                return Err(Error::BadEnv {
                    name: "BACKFLOW_LOCAL_INVOKE",
                    message: format!("the only accepted value is `detach`, got `{other}`"),
                })
            }
        };
        Ok(Settings {
            config_location: required("BACKFLOW_CONFIG")?,
            state_table: required("BACKFLOW_STATE_TABLE")?,
            runs_table: required("BACKFLOW_RUNS_TABLE")?,
            bucket: required("BACKFLOW_BUCKET")?,
            extract_function: required("BACKFLOW_EXTRACT_FUNCTION")?,
            load_function: required("BACKFLOW_LOAD_FUNCTION")?,
            run_deadline_secs,
            local_invoke_detach,
            trigger_function: get("BACKFLOW_TRIGGER_FUNCTION"),
            alerts_topic_arn: get("BACKFLOW_ALERTS_TOPIC_ARN"),
        })
    }
}

/// The running function's memory in GB (Lambda's `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`),
/// for the run's usage report; `default_mb` where the variable is absent (locally).
pub fn memory_gb(default_mb: f64) -> f64 {
    std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|m| m.parse::<f64>().ok())
        .unwrap_or(default_mb)
        / 1024.0
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn full() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("BACKFLOW_CONFIG", "s3://b/config/backflow.yaml"),
            ("BACKFLOW_STATE_TABLE", "st"),
            ("BACKFLOW_RUNS_TABLE", "rt"),
            ("BACKFLOW_BUCKET", "b"),
            ("BACKFLOW_EXTRACT_FUNCTION", "x"),
            ("BACKFLOW_LOAD_FUNCTION", "l"),
        ])
    }

    fn settings(env: &HashMap<&'static str, &'static str>) -> Result<Settings, Error> {
        Settings::from_lookup(|k| env.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn defaults() {
        let s = settings(&full()).unwrap();
        assert_eq!(s.state_table, "st");
        assert_eq!(s.run_deadline_secs, 900);
        assert!(!s.local_invoke_detach);
    }

    #[test]
    fn missing_variable_is_named() {
        let mut env = full();
        env.remove("BACKFLOW_STATE_TABLE");
        let err = settings(&env).unwrap_err();
        assert!(matches!(err, Error::MissingEnv("BACKFLOW_STATE_TABLE")));
        assert_eq!(
            err.to_string(),
            "environment variable `BACKFLOW_STATE_TABLE` is not set"
        );
        env.insert("BACKFLOW_STATE_TABLE", " ");
        assert!(matches!(
            settings(&env),
            Err(Error::MissingEnv("BACKFLOW_STATE_TABLE"))
        ));
    }

    #[test]
    fn optional_variables() {
        let mut env = full();
        env.insert("BACKFLOW_RUN_DEADLINE_SECS", "60");
        env.insert("BACKFLOW_LOCAL_INVOKE", "detach");
        let s = settings(&env).unwrap();
        assert_eq!(s.run_deadline_secs, 60);
        assert!(s.local_invoke_detach);

        env.insert("BACKFLOW_RUN_DEADLINE_SECS", "soon");
        let err = settings(&env).unwrap_err().to_string();
        assert!(
            err.contains("BACKFLOW_RUN_DEADLINE_SECS") && err.contains("soon"),
            "{err}"
        );

        env.insert("BACKFLOW_RUN_DEADLINE_SECS", "60");
        env.insert("BACKFLOW_LOCAL_INVOKE", "yes");
        let err = settings(&env).unwrap_err().to_string();
        assert!(err.contains("BACKFLOW_LOCAL_INVOKE"), "{err}");
    }
}
