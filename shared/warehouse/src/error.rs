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

    /// The model's SQL failed: a syntax error, a missing table or column, a
    /// permission error, or a server or network error while its rows were read.
    #[error("model `{model}`: query failed: {message}")]
    Query { model: String, message: String },

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
