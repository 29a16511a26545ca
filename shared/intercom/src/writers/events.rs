//! Data events: sent once, never updated.

use serde_json::{Map, Value};

use backflow_core::run::Outcome;

use super::WriteResult;
use crate::client::Client;
use crate::error::{Error, RowError};
use crate::requests::{self, events};

/// Largest plausible `created_at` in seconds (year 5138): above it, milliseconds.
const MAX_EVENT_SECS: i64 = 99_999_999_999;

impl Client {
    /// `send` for events: `POST /events` → `202` = `Sent`. Intercom de-duplicates on
    /// (contact, `event_name`, `created_at`), so a retried send is harmless.
    /// `created_at` must already be Unix seconds (a value that can only be
    /// milliseconds is refused as a caller bug). An unknown user is `Rejected`
    /// (`404 not_found`).
    pub async fn send_event(&self, body: &Map<String, Value>) -> Result<WriteResult, RowError> {
        if let Some(t) = body.get("created_at").and_then(Value::as_i64) {
            if t > MAX_EVENT_SECS {
                return Err(RowError::Fatal(Error::Unsupported(format!(
                    "event created_at {t} is not in seconds"
                ))));
            }
        }
        let r = self.req(&events::send_event(body)).await?;
        if r.is_success() {
            return Ok(WriteResult::new(Outcome::Sent, None));
        }
        let mut rejection = requests::rejection(r.status, &r.body);
        if r.status == 404 && rejection.code.starts_with("http_") {
            rejection.code = "not_found".into();
            rejection.message = "user not found".into();
        }
        Err(RowError::Rejected(rejection))
    }
}
