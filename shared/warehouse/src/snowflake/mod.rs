//! Snowflake, through the connector protocol its official drivers speak over
//! HTTPS (no VPC or NAT needed from Lambda).
//!
//! - `login`: `POST /session/v1/login-request` (password or key-pair JWT) → a
//!   session token.
//! - `query`: `POST /queries/v1/query-request`; a query still running after
//!   Snowflake's own wait answers `333333`/`333334` with a `getResultUrl`, polled
//!   until the result or the warehouse's `query_timeout_secs` (then the query is
//!   aborted and the run fails with [`crate::Error::Timeout`]).
//! - `rows`: the result — its first rows inline (`rowsetBase64` as an Arrow IPC
//!   stream, or `rowset` as JSON), the rest in `chunks[]` downloaded one at a time
//!   as the stream is read, so memory holds one chunk, whatever the row count.
//!   An answer without chunks holds its whole result, once (`inline`).
//! - `arrow` / `json`: cells → values (see the table in `columns`).

mod arrow;
mod columns;
mod inline;
mod json;
mod login;
mod query;
mod rows;

use std::time::Duration;

use backflow_core::secret::Secret;
use backflow_core::value::Column;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use crate::redact::Redactor;
use crate::{Error, SnowflakeAuth, SnowflakeSource};

pub(crate) use rows::Rows;

/// Snowflake's media type for its JSON answers.
const SNOWFLAKE_JSON: &str = "application/snowflake";

/// Every answer of Snowflake's connector protocol: `success`, and on failure
/// `code` and `message`; `data` is the login's or the query's.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Answer<D> {
    #[serde(default = "Option::default")]
    pub data: Option<D>,
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub success: bool,
}

/// An open Snowflake session.
pub(crate) struct Session {
    http: reqwest::Client,
    base_url: String,
    /// `Snowflake Token="…"`, the header of every request after the login.
    authorization: HeaderValue,
    query_timeout: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The secrets a Snowflake source holds, for the redactor.
pub(crate) fn secrets(source: &SnowflakeSource) -> Vec<Secret> {
    match &source.auth {
        SnowflakeAuth::Password(password) => vec![password.clone()],
        SnowflakeAuth::KeyPair {
            private_key,
            passphrase,
        } => std::iter::once(private_key.clone())
            .chain(passphrase.clone())
            .collect(),
    }
}

/// `base_url`, else `https://<account>.snowflakecomputing.com`.
pub(crate) fn base_url(source: &SnowflakeSource) -> String {
    match &source.base_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!(
            "https://{}.snowflakecomputing.com",
            source.account.to_lowercase()
        ),
    }
}

impl Session {
    /// Logs in. A refused credential is [`Error::Connect`] with Snowflake's
    /// reason; `redactor` learns the session token.
    pub(crate) async fn login(
        source: &SnowflakeSource,
        http: reqwest::Client,
        redactor: &mut Redactor,
    ) -> Result<Session, Error> {
        let base_url = base_url(source);
        let body = login::login_body(source, crate::http::unix_now())
            .map_err(|message| redactor.credentials_error(&message))?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let url = crate::http::with_query(
            &format!("{base_url}/session/v1/login-request"),
            &login::login_query(source, &request_id),
        )
        .map_err(|e| redactor.connect_error(&e))?;
        let response = http
            .post(url)
            .header(ACCEPT, SNOWFLAKE_JSON)
            .json(&body)
            .send()
            .await
            .map_err(|e| redactor.connect_error(&crate::http::describe(&e)))?;
        let (status, text) = crate::http::text(response)
            .await
            .map_err(|e| redactor.connect_error(&e))?;
        let answer: login::LoginResponse = serde_json::from_str(&text)
            .map_err(|_| redactor.connect_error(&crate::http::unexpected_answer(status, &text)))?;
        let token = answer
            .into_token()
            .map_err(|message| redactor.connect_error(&message))?;
        redactor.add_secret(token.clone());
        let authorization =
            HeaderValue::from_str(&format!("Snowflake Token=\"{}\"", token.expose()))
                .map_err(|_| redactor.connect_error("the session token is not a valid header"))?;
        Ok(Session {
            http,
            base_url,
            authorization,
            query_timeout: source.query_timeout,
        })
    }

    /// Headers of the session's own requests (not of chunk downloads).
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(ACCEPT, HeaderValue::from_static(SNOWFLAKE_JSON));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers
    }

    /// Runs `sql` and returns its columns and rows.
    pub(crate) async fn query<'a>(
        &'a self,
        model: &str,
        sql: &str,
        redactor: &Redactor,
    ) -> Result<(Vec<Column>, Rows<'a>), Error> {
        let result = query::run(self, model, sql, redactor).await?;
        Rows::start(self, model, result, redactor)
    }
}
