//! The warehouse crate's one error type.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong reading a warehouse. Messages are read by users in run records,
/// so they name the model, column, type or file at fault — and never contain the
/// connection URL's password (driver messages pass through `Secret::redact`, and the
/// URL is shown with its password replaced by `***`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite database file does not exist (backflow opens it read-only and never
    /// creates it).
    #[error("SQLite database {} does not exist", path.display())]
    SqliteNotFound { path: PathBuf },

    /// The warehouse could not be opened: bad URL, unreachable host, refused or
    /// timed-out connection, failed authentication or TLS. `target` is the SQLite
    /// path or the URL with its password masked.
    #[error("could not connect to the warehouse {target}: {message}")]
    Connect { target: String, message: String },

    /// A credential from Secrets Manager cannot be used as it is: a private key
    /// that is not PEM or not RSA, a wrong passphrase, a key file that is not a
    /// service account's. The message never quotes the credential.
    #[error("warehouse {target}: {message}")]
    Credentials { target: String, message: String },

    /// The model's SQL failed: a syntax error, a missing table or column, a
    /// permission error, or a server or network error while its rows were read.
    /// `warehouse` is the target of [`Error::Connect`]; `message` the engine's.
    #[error("model `{model}` on warehouse {warehouse}: query failed: {message}")]
    Query {
        warehouse: String,
        model: String,
        message: String,
    },

    /// The model's query ran longer than the warehouse's `query_timeout_secs`
    /// (it was cancelled).
    #[error("model `{model}` on warehouse {warehouse}: the query did not finish within {seconds} s (`query_timeout_secs`); it was cancelled")]
    Timeout {
        warehouse: String,
        model: String,
        seconds: u64,
    },

    /// A value of the result could not be read as a backflow value (an unsupported
    /// type, binary data that is not text, a malformed value). Casting the column to
    /// text in the model's SQL is the usual fix.
    #[error("model `{model}`: column `{column}` of type {type_name}: {message}")]
    Decode {
        model: String,
        column: String,
        type_name: String,
        message: String,
    },
}
