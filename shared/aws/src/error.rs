//! The crate's one error type.
//!
//! SDK errors are flattened into readable strings with `DisplayErrorContext` (the
//! whole cause chain: "dispatch failure: io error: connection refused", not "service
//! error"). No variant ever carries a secret's value: secret errors name the secret
//! and the key only.

use std::fmt::Display;

use thiserror::Error;

/// What can go wrong talking to AWS (or reading the config from disk).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A required environment variable is not set.
    #[error("environment variable `{0}` is not set")]
    MissingEnv(&'static str),
    /// An environment variable is set to something unusable.
    #[error("environment variable `{name}`: {message}")]
    BadEnv { name: &'static str, message: String },
    /// A DynamoDB call failed.
    #[error("DynamoDB {op} on table `{table}` failed: {message}")]
    DynamoDb {
        op: &'static str,
        table: String,
        message: String,
    },
    /// A batch call left items unprocessed even after bounded retries (throttling).
    #[error("DynamoDB {op} on table `{table}`: {remaining} item(s) still unprocessed after {attempts} attempts")]
    Unprocessed {
        op: &'static str,
        table: String,
        remaining: usize,
        attempts: u32,
    },
    /// An item read back from DynamoDB or S3 does not decode (written by another
    /// version, or edited by hand).
    #[error("corrupt {what}: {message}")]
    Corrupt { what: String, message: String },
    /// An S3 call failed.
    #[error("S3 {op} of `s3://{bucket}/{key}` failed: {message}")]
    S3 {
        op: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    /// The S3 object does not exist.
    #[error("`s3://{bucket}/{key}` does not exist")]
    S3NotFound { bucket: String, key: String },
    /// The secret does not exist in Secrets Manager.
    #[error("secret `{secret}` not found")]
    SecretNotFound { secret: String },
    /// The secret exists but its JSON object lacks the key.
    #[error("secret `{secret}` has no key `{key}`")]
    SecretKeyMissing { secret: String, key: String },
    /// The secret is not a JSON object of strings (binary, not JSON, a number under
    /// the key, ...). The message describes the shape, never the value.
    #[error("secret `{secret}`: {message}")]
    SecretInvalid { secret: String, message: String },
    /// A Secrets Manager call failed (access denied, network, ...).
    #[error("reading secret `{secret}` failed: {message}")]
    SecretsManager { secret: String, message: String },
    /// The config file could not be read (missing file or object, bad location).
    #[error("cannot read config `{location}`: {message}")]
    ConfigRead { location: String, message: String },
    /// The config file was read but is invalid (the core's message names file and line).
    #[error(transparent)]
    Config(#[from] backflow_core::Error),
    /// A model's `file:` could not be read.
    #[error("config `{config}`: model `{model}`: cannot read file `{file}`: {message}")]
    ModelFile {
        config: String,
        model: String,
        file: String,
        message: String,
    },
    /// A run of the sync already holds the sync's lock.
    #[error("a run of this sync is already in progress (run `{run_id}`)")]
    AlreadyRunning { run_id: String },
    /// A run id that does not exist (or a second run created with the same id).
    #[error("run `{run_id}`: {message}")]
    Run { run_id: String, message: String },
    /// A Lambda invocation was refused or failed.
    #[error("invoking Lambda function `{function}` failed: {message}")]
    Invoke { function: String, message: String },
    /// Publishing an alert to the SNS topic failed.
    #[error("publishing to SNS topic `{topic}` failed: {message}")]
    Publish { topic: String, message: String },
}

impl Error {
    pub(crate) fn dynamodb(op: &'static str, table: &str, err: impl std::error::Error) -> Self {
        Error::DynamoDb {
            op,
            table: table.to_string(),
            message: context(err),
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, message: impl Display) -> Self {
        Error::Corrupt {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// The error and all its sources, on one line.
pub(crate) fn context(err: impl std::error::Error) -> String {
    // All SDK crates re-export the same `aws_smithy_types::error::display::DisplayErrorContext`.
    aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string()
}
