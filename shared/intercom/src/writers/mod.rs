//! The record writers: one async method of [`Client`] per behavior, one file
//! per kind of Intercom object, each built so that one key never becomes two
//! Intercom records.
//!
//! | file | writes |
//! |---|---|
//! | [`contacts`] | users and leads: [`Client::upsert_contact`], [`Client::update_contact_only`], [`Client::remove_contact`], [`Client::unarchive_contact`] |
//! | [`companies`] | [`Client::upsert_company`], [`Client::remove_company`] |
//! | [`membership`] | a contact's companies: [`Client::attach_company`], [`Client::detach_companies`] |
//! | [`tags`] | bulk tagging of contacts and companies, untagging, the workspace's tags |
//! | [`events`] | [`Client::send_event`] |
//!
//! A writer builds its calls with the pure functions of the same name in
//! [`crate::requests`], sends them with `Client::send` (pacing, budget and
//! retries included), and answers a [`WriteResult`] (what to remember) or a
//! [`RowError`]: the row's [`crate::Rejection`] or a failure that stops the
//! batch. A new kind of object gets a file here and one in `requests/`.

use backflow_core::run::Outcome;

use crate::client::Client;
use crate::error::{Error, RowError};
use crate::requests::{self, Request};
use crate::transport::ApiResponse;

pub mod companies;
pub mod contacts;
pub mod events;
pub mod membership;
pub mod tags;

/// What a writer did with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResult {
    /// `Created`, `Updated`, `Deleted`, `Archived`, `Sent` or `NotFound`.
    pub outcome: Outcome,
    /// The Intercom id of the record written (to remember), when there is one.
    pub intercom_id: Option<String>,
}

impl WriteResult {
    pub(crate) fn new(outcome: Outcome, id: Option<String>) -> Self {
        WriteResult {
            outcome,
            intercom_id: id,
        }
    }

    pub(crate) fn not_found() -> Self {
        WriteResult::new(Outcome::NotFound, None)
    }
}

/// `404` or `410`: the record is not there (deleted, merged away).
pub(crate) fn not_found_status(status: u16) -> bool {
    status == 404 || status == 410
}

/// Intercom's refusal of the row, from its answer.
pub(crate) fn reject(r: &ApiResponse) -> RowError {
    RowError::Rejected(requests::rejection(r.status, &r.body))
}

/// The id of the record a successful answer describes; an answer without one
/// makes no sense and stops the batch.
pub(crate) fn id_of(r: &ApiResponse, what: &str) -> Result<String, RowError> {
    requests::object_id(&r.body).ok_or_else(|| {
        RowError::Fatal(Error::Unexpected(format!(
            "{what} answered {} without an id",
            r.status
        )))
    })
}

impl Client {
    /// [`Client::send`] with a failure as the row's error.
    pub(crate) async fn req(&self, r: &Request) -> Result<ApiResponse, RowError> {
        Ok(self.send(r).await?)
    }
}
