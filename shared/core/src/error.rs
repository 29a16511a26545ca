//! The core crate's one error type.

use thiserror::Error;

/// What can go wrong before any IO: a bad config, a bad cron expression, a model
/// whose columns do not match its syncs. Every message names the file, line, sync,
/// key or column at fault, because a user reads it in a run record or a CLI.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The YAML could not be parsed or has an unknown/missing/mistyped key.
    /// `line` is 1-based when known.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// `${VAR}` names an environment variable that is not set.
    #[error("{file}:{line}: environment variable `{var}` is not set")]
    MissingEnv {
        file: String,
        line: usize,
        var: String,
    },
    /// The config parsed but is inconsistent (unknown model, bad key field for the
    /// object, field not allowed for the object, bad cron, ...).
    #[error("{file}: sync `{sync}`: {message}")]
    Sync {
        file: String,
        sync: String,
        message: String,
    },
    /// A config-level error not tied to one sync (unknown destination type, ...).
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// A `schedule` is not a valid 5-field cron expression.
    #[error("schedule `{schedule}`: {message}")]
    Schedule { schedule: String, message: String },
    /// The model's result set lacks a column a sync maps.
    #[error("sync `{sync}`: model `{model}` has no column `{column}` (columns: {available})")]
    UnknownColumn {
        sync: String,
        model: String,
        column: String,
        available: String,
    },
    /// An invocation payload or an S3 batch that cannot be read: not a JSON
    /// object, a missing or mistyped field, an id that is not one.
    #[error("{what}: {message}")]
    Payload { what: String, message: String },
}
