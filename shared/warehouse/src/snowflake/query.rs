//! Submitting a query and waiting for its result.
//!
//! `POST /queries/v1/query-request` answers with the result, or — when the query
//! runs longer than Snowflake waits (about 45 s) — with code `333333` (or
//! `333334`) and a `getResultUrl` (`/queries/<id>/result`) to GET until the
//! result is there. Past the warehouse's `query_timeout_secs` the query is
//! aborted (`POST /queries/v1/abort-request`) and the run fails.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value as Json};
use tokio::time::Instant;

use super::inline::Split;
use super::login::engine_message;
use super::Session;
use crate::http::poll_pause;
use crate::redact::Redactor;
use crate::Error;

/// Codes of "the query is still running; ask again at `getResultUrl`".
const IN_PROGRESS: [&str; 2] = ["333333", "333334"];

/// The answer to a query request or a result poll.
pub(super) type QueryResponse = super::Answer<QueryData>;

/// A result (or the pointer to one still being computed).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryData {
    #[serde(default)]
    pub rowtype: Vec<RowType>,
    /// JSON rows: one cell per column, each text or null.
    #[serde(default)]
    pub rowset: Option<Vec<Vec<Json>>>,
    /// An Arrow IPC stream, base64: always empty here, as [`read`] decodes it
    /// into `inline_arrow` while the answer arrives.
    #[serde(default, alias = "rowsetbase64")]
    pub rowset_base64: Option<String>,
    /// The decoded `rowsetBase64`.
    #[serde(skip)]
    pub inline_arrow: Vec<u8>,
    /// `arrow` or `json`.
    #[serde(default)]
    pub query_result_format: Option<String>,
    /// The rest of the result, to download in order.
    #[serde(default)]
    pub chunks: Vec<Chunk>,
    /// The key for the chunks' server-side encryption headers.
    #[serde(default)]
    pub qrmk: Option<String>,
    /// Headers to send with every chunk download (instead of the qrmk ones).
    #[serde(default)]
    pub chunk_headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub query_id: Option<String>,
    #[serde(default)]
    pub get_result_url: Option<String>,
}

/// A result column.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RowType {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub scale: Option<i64>,
}

/// A piece of the result stored beside Snowflake (a presigned URL).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Chunk {
    pub url: String,
    #[serde(default)]
    pub row_count: u64,
}

/// What an answer means.
#[derive(Debug)]
pub(super) enum Outcome {
    Done(Box<QueryData>),
    Running { result_url: String },
    Failed(String),
}

impl QueryResponse {
    pub(super) fn outcome(self) -> Outcome {
        let code = match &self.code {
            Some(Json::String(code)) => code.as_str(),
            _ => "",
        };
        if IN_PROGRESS.contains(&code) {
            return match self.data.and_then(|d| d.get_result_url) {
                Some(result_url) => Outcome::Running { result_url },
                None => {
                    Outcome::Failed("the query is running but Snowflake gave no result URL".into())
                }
            };
        }
        match (self.success, self.data) {
            (true, Some(data)) => Outcome::Done(Box::new(data)),
            (true, None) => Outcome::Failed("the answer has no result".into()),
            (false, _) => {
                Outcome::Failed(engine_message(self.message.as_deref(), self.code.as_ref()))
            }
        }
    }
}

/// Runs `sql` until Snowflake has its result (the first rows and the chunk list).
pub(super) async fn run(
    session: &Session,
    model: &str,
    sql: &str,
    redactor: &Redactor,
) -> Result<QueryData, Error> {
    let deadline = Instant::now() + session.query_timeout;
    let failed = |message: String| redactor.query_error(model, &message);
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "sqlText": sql,
        "asyncExec": false,
        "sequenceId": 1,
        "querySubmissionTime": crate::http::unix_now() * 1000,
    });
    let url = crate::http::with_query(
        &format!("{}/queries/v1/query-request", session.base_url),
        &[("requestId", request_id.clone())],
    )
    .map_err(failed)?;
    let send = session
        .http
        .post(url)
        .headers(session.headers())
        .json(&body)
        .send();
    let response = within(deadline, send)
        .await
        .ok_or_else(|| timed_out(session, redactor, model))?
        .map_err(|e| failed(crate::http::describe(&e)))?;
    let mut answer = read(response).await.map_err(failed)?;
    let mut poll = 0;
    loop {
        match answer.outcome() {
            Outcome::Done(data) => {
                tracing::debug!(model, query_id = ?data.query_id, chunks = data.chunks.len(), "Snowflake query done");
                return Ok(*data);
            }
            Outcome::Failed(message) => return Err(failed(message)),
            Outcome::Running { result_url } => {
                if Instant::now() + poll_pause(poll) >= deadline {
                    abort(session, sql, &request_id).await;
                    return Err(timed_out(session, redactor, model));
                }
                tokio::time::sleep(poll_pause(poll)).await;
                poll += 1;
                let url = format!("{}{}", session.base_url, result_url);
                let get = session.http.get(url).headers(session.headers()).send();
                let Some(response) = within(deadline, get).await else {
                    abort(session, sql, &request_id).await;
                    return Err(timed_out(session, redactor, model));
                };
                answer = read(response.map_err(|e| failed(crate::http::describe(&e)))?)
                    .await
                    .map_err(failed)?;
            }
        }
    }
}

/// `future`, unless the deadline passes first.
async fn within<F: std::future::Future>(deadline: Instant, future: F) -> Option<F::Output> {
    tokio::time::timeout_at(deadline, future).await.ok()
}

fn timed_out(session: &Session, redactor: &Redactor, model: &str) -> Error {
    redactor.timeout_error(model, session.query_timeout)
}

/// An answer as a [`QueryResponse`], read piece by piece so that inline Arrow
/// rows are held once, decoded (see `inline`); an HTTP error status or a body
/// that is not one is a message with the status and the body's start.
async fn read(mut response: reqwest::Response) -> Result<QueryResponse, String> {
    let status = response.status();
    let mut split = Split::new(response.content_length());
    while let Some(piece) = response
        .chunk()
        .await
        .map_err(|e| crate::http::describe(&e))?
    {
        split.push(&piece)?;
    }
    let (json, arrow) = split.finish()?;
    match serde_json::from_slice::<QueryResponse>(&json) {
        Ok(mut answer) if status.is_success() || answer.message.is_some() => {
            if let Some(data) = &mut answer.data {
                data.inline_arrow = arrow;
            }
            Ok(answer)
        }
        _ => Err(crate::http::unexpected_answer(
            status,
            &String::from_utf8_lossy(&json),
        )),
    }
}

/// Asks Snowflake to stop the query (best effort: the run fails either way).
async fn abort(session: &Session, sql: &str, request_id: &str) {
    let result = session
        .http
        .post(format!("{}/queries/v1/abort-request", session.base_url))
        .headers(session.headers())
        .json(&json!({ "sqlText": sql, "requestId": request_id }))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %crate::http::describe(&e), "could not abort the Snowflake query");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(answer: Json) -> Outcome {
        serde_json::from_value::<QueryResponse>(answer)
            .unwrap()
            .outcome()
    }

    #[test]
    fn answers_mean_done_running_or_failed() {
        let done = outcome(json!({
            "data": {"rowtype": [{"name": "ID", "type": "fixed", "scale": 0}],
                     "rowsetBase64": "", "queryResultFormat": "arrow",
                     "chunks": [{"url": "https://s3/c0", "rowCount": 10}], "qrmk": "k"},
            "success": true
        }));
        let Outcome::Done(data) = done else {
            panic!("{done:?}")
        };
        assert_eq!(data.rowtype[0].name, "ID");
        assert_eq!(data.chunks[0].row_count, 10);
        assert_eq!(data.qrmk.as_deref(), Some("k"));

        for code in ["333333", "333334"] {
            let running = outcome(json!({
                "data": {"getResultUrl": "/queries/01a/result", "queryId": "01a"},
                "code": code, "message": "Asynchronous execution in progress.", "success": true
            }));
            assert!(
                matches!(&running, Outcome::Running { result_url } if result_url == "/queries/01a/result"),
                "{running:?}"
            );
        }

        let failed = outcome(json!({
            "data": {"errorCode": "002003", "sqlState": "42S02"},
            "code": "002003",
            "message": "SQL compilation error:\nObject 'NOPE' does not exist or not authorized.",
            "success": false
        }));
        assert!(
            matches!(&failed, Outcome::Failed(m) if m == "SQL compilation error:\nObject 'NOPE' does not exist or not authorized. (002003)"),
            "{failed:?}"
        );
    }
}
