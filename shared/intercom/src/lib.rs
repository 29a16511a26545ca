//! The Intercom REST client backflow's `load` function uses: regions, versions,
//! pacing, retries, and the identity rules that keep one key one record.
//!
//! # Layout
//! - [`client`]: the transport. [`Client`] holds one `reqwest` client (keep-alive,
//!   rustls), sends every call with the auth/version/JSON headers, paces calls by
//!   the last `X-RateLimit-*` headers and retries 429/5xx/connection errors by the
//!   pure decisions of `backflow_core::{pacing, retry}`. [`Client::check_token`]
//!   tells a refused token's right region.
//! - [`budget`]: the shared call budget ([`CallBudget`], [`Client::with_budget`]):
//!   every attempt takes one call from a per-app, per-window counter shared by
//!   all concurrent clients of the app (DynamoDB in `backflow-aws`), so together
//!   they use a window to its last call and never past it.
//! - [`requests`]: pure request building (method, URL-encoded path, JSON body) for
//!   every call, and the readers of Intercom's answers (ids, the 409's existing id,
//!   `error.list` → [`Rejection`]). Unit-tested without a server.
//! - [`identity`]: the record writers, one per behavior: [`Client::upsert_contact`],
//!   [`Client::update_contact_only`], [`Client::remove_contact`],
//!   [`Client::upsert_company`], [`Client::remove_company`],
//!   [`Client::attach_company`], [`Client::send_event`]. The module doc explains
//!   how a contact is found without ever creating a second one.
//! - [`attributes`]: [`Client::ensure_attributes`], creating missing custom data
//!   attributes once per model before rows are written.
//! - [`error`]: [`Error`] (stops the batch), [`Rejection`] (Intercom refused one
//!   row), [`RowError`] (what a writer returns: one or the other).
//!
//! # Data flow of one row
//! ```text
//! load → Client::upsert_contact(key, known_id, body)
//!          → requests::* builds the call → Client::call (pace → send → retry)
//!          → WriteResult { outcome, intercom_id }   remembered only now
//!          | RowError::Rejected(code, message)      reported on the row
//!          | RowError::Fatal(Error)                 the batch stops
//! ```
//!
//! The access token is only ever in the `Authorization` header (marked
//! sensitive); errors pass anything echoed through `Secret::redact`, and request
//! bodies are never logged.

pub mod attributes;
pub mod budget;
pub mod client;
pub mod error;
pub mod identity;
pub mod requests;

pub use attributes::AttributeProblem;
pub use budget::{BudgetError, BudgetFuture, CallBudget, MemoryBudget};
pub use client::{ApiResponse, CallStats, Client, ClientConfig};
pub use error::{Error, Rejection, RowError};
pub use identity::{Role, WriteResult};
