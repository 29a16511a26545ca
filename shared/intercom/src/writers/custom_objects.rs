//! Custom object instances: upsert and delete by `external_id` (Intercom keys
//! instances on it, so one key is one instance without any lookup), and the
//! check that the type exists before a run writes anything.
//!
//! A `404` whose message is the spec's `TypeNotFound` stops the batch (every
//! row of the sync would fail the same way); any other refusal is the row's.

use serde_json::{Map, Value};

use backflow_core::run::Outcome;

use super::{created_or_updated, id_of, not_found_status, WriteResult};
use crate::client::Client;
use crate::error::{Error, RowError};
use crate::requests::{self, custom_objects};
use crate::transport::ApiResponse;

/// The `external_id` the type check asks for (no instance is expected to have
/// it; found or not, the answer says the type exists).
const PROBE_EXTERNAL_ID: &str = "backflow-type-check";

/// The error for a type Intercom does not have.
fn unknown_type(type_name: &str, message: &str) -> Error {
    Error::NotInWorkspace(format!(
        "Intercom has no Custom Object type `{type_name}` ({message}); create it in \
         Intercom's settings (Data → Objects) or fix `custom_object:` in the sync"
    ))
}

/// Intercom's refusal of one row, or the whole batch's when the type is gone.
fn refusal(type_name: &str, r: &ApiResponse) -> RowError {
    let rejection = requests::rejection(r.status, &r.body);
    if r.status == 404 && custom_objects::is_type_not_found(&rejection.message) {
        return RowError::Fatal(unknown_type(type_name, &rejection.message));
    }
    RowError::Rejected(rejection)
}

impl Client {
    /// `update_or_create` (and `mirror`) for custom objects:
    /// `POST /custom_object_instances/{type}` upserts on the body's
    /// `external_id`. The outcome is told as for companies
    /// ([`super::created_or_updated`]).
    pub async fn upsert_custom_object(
        &self,
        type_name: &str,
        body: &Map<String, Value>,
        known_id: Option<&str>,
    ) -> Result<WriteResult, RowError> {
        let requested_at = self.clock().unix_secs();
        let r = self.req(&custom_objects::upsert(type_name, body)).await?;
        if !r.is_success() {
            return Err(refusal(type_name, &r));
        }
        let id = id_of(&r, "POST /custom_object_instances")?;
        let outcome = created_or_updated(known_id.is_some(), &r.body, requested_at);
        Ok(WriteResult::new(outcome, Some(id)))
    }

    /// `delete` (and `mirror` removals) for custom objects:
    /// `DELETE /custom_object_instances/{type}?external_id=`. An instance that
    /// is not there is `NotFound` — unless the delete needed retries, when an
    /// earlier, unanswered attempt probably deleted it.
    pub async fn remove_custom_object(
        &self,
        type_name: &str,
        external_id: &str,
        known_id: Option<&str>,
    ) -> Result<WriteResult, RowError> {
        let r = self
            .req(&custom_objects::delete(type_name, external_id))
            .await?;
        let id = requests::object_id(&r.body).or_else(|| known_id.map(str::to_string));
        if r.is_success() {
            return Ok(WriteResult::new(Outcome::Deleted, id));
        }
        match refusal(type_name, &r) {
            RowError::Rejected(_) if not_found_status(r.status) && r.attempts > 1 => Ok(
                WriteResult::new(Outcome::Deleted, known_id.map(str::to_string)),
            ),
            RowError::Rejected(_) if not_found_status(r.status) => Ok(WriteResult::not_found()),
            other => Err(other),
        }
    }

    /// Whether the workspace has the Custom Object type `type_name`: one read
    /// (`GET /custom_object_instances/{type}?external_id=`), before any write.
    pub async fn check_custom_object_type(&self, type_name: &str) -> Result<(), Error> {
        let r = self
            .send(&custom_objects::find(type_name, PROBE_EXTERNAL_ID))
            .await?;
        if r.is_success() {
            return Ok(());
        }
        let rejection = requests::rejection(r.status, &r.body);
        match r.status {
            404 if custom_objects::is_type_not_found(&rejection.message) => {
                Err(unknown_type(type_name, &rejection.message))
            }
            404 => Ok(()),
            _ => Err(Error::Unexpected(format!(
                "GET /custom_object_instances/{type_name} answered {rejection}"
            ))),
        }
    }
}
