//! What the functions receive from each other, parsed before any IO: the
//! `extract` and `load` invocation payloads and the S3 batch `load` reads.
//!
//! Each arrives as bytes from outside the process and is read the one way:
//! a JSON object (serde also reads a struct from an array, by position, so an
//! array is refused before serde sees it), its fields typed, its ids checked
//! before they become DynamoDB or S3 keys. Every refusal is an
//! [`Error::Payload`] naming what was expected; nothing here panics.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::kind;
use crate::batch::{Batch, LoadRequest};
use crate::run::is_run_id;
use crate::Error;

/// The payload of an `extract` invocation (what `trigger` sends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractRequest {
    pub run_id: String,
}

/// An `extract` invocation's payload.
pub fn extract_request(event: &Value) -> Result<ExtractRequest, Error> {
    const WHAT: &str = "extract payload";
    let request: ExtractRequest = object(WHAT, event, "{\"run_id\": \"…\"}")?;
    check_run_id(WHAT, &request.run_id)?;
    Ok(request)
}

/// What a function that ended a run tells `trigger`, so it starts the syncs
/// waiting for this one (`after:`): `{"run_ended": {"run_id", "sync"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEnded {
    pub run_id: String,
    pub sync: String,
}

/// The longest sync name a `run_ended` payload may carry (a DynamoDB key part).
pub const MAX_SYNC_NAME_BYTES: usize = 256;

/// A `trigger` invocation's `run_ended` member.
pub fn run_ended(event: &Value) -> Result<RunEnded, Error> {
    const WHAT: &str = "run_ended payload";
    let inner = event.get("run_ended").unwrap_or(&Value::Null);
    let request: RunEnded = object(WHAT, inner, "{\"run_id\", \"sync\"}")?;
    check_run_id(WHAT, &request.run_id)?;
    if request.sync.is_empty()
        || request.sync.len() > MAX_SYNC_NAME_BYTES
        || request.sync.chars().any(char::is_control)
    {
        let shown: String = request
            .sync
            .chars()
            .take(80)
            .flat_map(char::escape_default)
            .collect();
        return Err(payload(
            WHAT,
            format!("`sync` `{shown}` is not a sync name (1 to {MAX_SYNC_NAME_BYTES} bytes, no control characters)"),
        ));
    }
    Ok(request)
}

/// A `load` invocation's payload.
pub fn load_request(event: &Value) -> Result<LoadRequest, Error> {
    const WHAT: &str = "load payload";
    let request: LoadRequest = object(WHAT, event, "{\"run_id\", \"seq\", \"key\"}")?;
    check_run_id(WHAT, &request.run_id)?;
    if request.key.is_empty() {
        return Err(payload(WHAT, "`key` (the batch's S3 key) is empty"));
    }
    Ok(request)
}

/// The batch at `key`, as `load` reads it from S3: a JSON object, its run and
/// sequence number those of the invocation that names it (a batch of another
/// run would count its rows on the wrong run).
pub fn batch(bytes: &[u8], request: &LoadRequest) -> Result<Batch, Error> {
    let what = format!("batch `{}`", request.key);
    let batch: Batch = object_bytes(&what, bytes)?;
    if batch.run_id != request.run_id || batch.seq != request.seq {
        return Err(payload(
            &what,
            format!(
                "holds batch {} of run `{}`, but the invocation is for batch {} of run `{}`",
                batch.seq, batch.run_id, request.seq, request.run_id
            ),
        ));
    }
    Ok(batch)
}

/// A JSON document that must be an object, read from bytes: the first
/// non-blank byte must open an object; then serde reads it (with its nesting
/// limit, so a deeply nested document is an error, not a stack overflow).
pub fn object_bytes<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(payload(what, "empty, expected a JSON object")),
        Some(_) => {
            // Say what it is when it parses; the bytes may not be JSON at all.
            let found = serde_json::from_slice::<Value>(bytes)
                .map(|v| kind(&v).to_string())
                .unwrap_or_else(|_| "not JSON".into());
            return Err(payload(
                what,
                format!("expected a JSON object, found {found}"),
            ));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| payload(what, e.to_string()))
}

/// `value` read as `T`, refused unless it is a JSON object; `shape` is what a
/// good one looks like, for the message.
fn object<T: DeserializeOwned>(what: &str, value: &Value, shape: &str) -> Result<T, Error> {
    if !value.is_object() {
        return Err(payload(
            what,
            format!("expected a JSON object {shape}, found {}", kind(value)),
        ));
    }
    T::deserialize(value).map_err(|e| payload(what, e.to_string()))
}

fn check_run_id(what: &str, id: &str) -> Result<(), Error> {
    if is_run_id(id) {
        return Ok(());
    }
    let shown: String = id.chars().take(80).flat_map(char::escape_default).collect();
    Err(payload(
        what,
        format!("`run_id` `{shown}` is not a run id (1 to 128 letters, digits, `-` or `_`)"),
    ))
}

fn payload(what: &str, message: impl Into<String>) -> Error {
    Error::Payload {
        what: what.to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests;
