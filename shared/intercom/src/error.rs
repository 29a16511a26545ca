//! What can go wrong talking to Intercom, split the way the load function needs it:
//! [`Error`] stops the batch (the token is refused, the destination stays down),
//! [`Rejection`] is Intercom refusing one row (its `error.list` code and message),
//! and [`RowError`] is what a record writer returns: one or the other.
//!
//! No message here ever contains the access token: everything echoed from the
//! transport goes through [`backflow_core::secret::Secret::redact`] first.

use std::fmt;

/// A failure that stops the batch.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `401`: Intercom refused the access token. Not retried. `hint` says which
    /// region accepts it when [`crate::Client::check_token`] could tell.
    #[error("Intercom refused the access token (401 unauthorized){}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Unauthorized { hint: Option<String> },
    /// The destination kept failing (5xx, 429, timeouts) until the retry policy's
    /// attempts or time ran out. `reason` names the request and the last status.
    #[error("gave up on Intercom: {reason}")]
    GaveUp { reason: String },
    /// The HTTP client could not be built or a request could not be formed.
    #[error("HTTP transport: {0}")]
    Transport(String),
    /// A successful answer whose body is not the JSON expected.
    #[error("could not decode Intercom's answer: {0}")]
    Decode(String),
    /// The client configuration is unusable (bad base URL, bad header value).
    #[error("invalid Intercom client configuration: {0}")]
    Config(String),
    /// An answer that makes no sense for the request (e.g. `GET /me` answering 403,
    /// a created contact without an `id`).
    #[error("unexpected answer from Intercom: {0}")]
    Unexpected(String),
    /// Something the sync names does not exist in the workspace (a subscription
    /// type, a Custom Object type): the message names it and what to do.
    #[error("{0}")]
    NotInWorkspace(String),
    /// A record writer was asked for something it cannot do (e.g. a contact keyed
    /// by `company_id`): a bug in the caller, not a row problem.
    #[error("unsupported request: {0}")]
    Unsupported(String),
}

/// An Intercom refusal of one row (its `error.list` code and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status (400, 404, 409, 422, …).
    pub status: u16,
    /// `errors[0].code`, e.g. `parameter_invalid`; `http_<status>` when the body
    /// was not an `error.list`.
    pub code: String,
    /// `errors[0].message` (may be empty).
    pub message: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for Rejection {}

/// Why a record writer did not write its row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// Intercom refused this row; report it and go on with the next.
    #[error("rejected by Intercom: {0}")]
    Rejected(Rejection),
    /// Stop the batch (unauthorized, gave up, …).
    #[error(transparent)]
    Fatal(#[from] Error),
}

impl From<Rejection> for RowError {
    fn from(r: Rejection) -> Self {
        RowError::Rejected(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = Error::Unauthorized {
            hint: Some("the token is accepted in region eu; set region: eu".into()),
        };
        assert_eq!(
            e.to_string(),
            "Intercom refused the access token (401 unauthorized); the token is accepted in region eu; set region: eu"
        );
        assert_eq!(
            Error::Unauthorized { hint: None }.to_string(),
            "Intercom refused the access token (401 unauthorized)"
        );
        let r = Rejection {
            status: 400,
            code: "parameter_invalid".into(),
            message: "bad".into(),
        };
        assert_eq!(
            RowError::from(r).to_string(),
            "rejected by Intercom: 400 parameter_invalid: bad"
        );
    }
}
