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
//! | [`subscriptions`] | a contact's subscription preferences: [`Client::subscription_types`], [`Client::set_subscription`] |
//! | [`custom_objects`] | [`Client::upsert_custom_object`], [`Client::remove_custom_object`], [`Client::check_custom_object_type`] |
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
pub mod custom_objects;
pub mod events;
pub mod membership;
pub mod subscriptions;
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

/// A record upsert older than this (by its `created_at`) was an update: see
/// [`created_or_updated`].
pub const CREATED_SLACK_SECS: i64 = 5;

/// The outcome of an upsert Intercom answers alike for a create and an update
/// (companies, custom object instances): `Updated` when backflow remembered the
/// record (`known`) or its `created_at` is more than [`CREATED_SLACK_SECS`]
/// older than its `updated_at` (the write time, by Intercom's own clock; else
/// `requested_at`); else `Created`. A record created and upserted again within
/// seconds reads as created twice; the record is still one.
pub(crate) fn created_or_updated(
    known: bool,
    answer: &serde_json::Value,
    requested_at: i64,
) -> Outcome {
    use serde_json::Value;
    let created_at = answer.get("created_at").and_then(Value::as_i64);
    let written_at = answer
        .get("updated_at")
        .and_then(Value::as_i64)
        .unwrap_or(requested_at);
    if known || created_at.is_some_and(|c| c < written_at - CREATED_SLACK_SECS) {
        Outcome::Updated
    } else {
        Outcome::Created
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
