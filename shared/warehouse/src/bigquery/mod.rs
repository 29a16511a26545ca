//! BigQuery, through its REST API (HTTPS; no VPC or NAT needed from Lambda).
//!
//! - `auth`: the service account key file → an access token (signed-JWT
//!   exchange), once per [`crate::Warehouse`].
//! - [`Client::query`]: `POST /bigquery/v2/projects/P/queries` (jobs.query) with
//!   `maxResults`, `timeoutMs` and `location`; while `jobComplete` is false,
//!   `GET …/queries/{jobId}` (jobs.getQueryResults) waits again, until the result
//!   or the warehouse's `query_timeout_secs` (then the job is cancelled).
//! - [`Rows`]: the result one page at a time (`pageToken`), so memory holds one
//!   page (`page_rows` rows), whatever the row count. A page is parsed from its
//!   body's bytes with each cell's text borrowed from them (`page`), not built
//!   into a `serde_json::Value` tree first: that tree took about three times the
//!   body's size for every page.
//! - `cells`: values (the type table is there).

mod auth;
mod cells;
mod page;

use std::collections::VecDeque;
use std::time::Duration;

use backflow_core::value::{Column, Value};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use crate::paged::{decode_row, Paged, Pages};
use crate::redact::Redactor;
use crate::{BigquerySource, Error};
use cells::Field;

/// The longest wait one jobs.query / getQueryResults call asks BigQuery for.
const WAIT_PER_CALL: Duration = Duration::from_secs(10);

/// A BigQuery project, with its access token.
pub(crate) struct Client {
    http: reqwest::Client,
    /// `…/bigquery/v2/projects/<project>`.
    project_url: String,
    location: Option<String>,
    headers: HeaderMap,
    query_timeout: Duration,
    page_rows: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("project_url", &self.project_url)
            .finish_non_exhaustive()
    }
}

/// A jobs.query or jobs.getQueryResults answer, but its rows (read by
/// `page::decode` from the same bytes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    #[serde(default)]
    job_reference: Option<JobReference>,
    #[serde(default)]
    job_complete: Option<bool>,
    #[serde(default)]
    schema: Option<Schema>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobReference {
    job_id: String,
    #[serde(default)]
    location: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Schema {
    #[serde(default)]
    fields: Vec<Field>,
}

/// Google's error envelope: `{"error": {"code", "message", "status"}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
}

/// BigQuery's message for a failed call: `Not found: Table p:d.t was not found
/// in location US (NOT_FOUND)`.
fn error_message(status: reqwest::StatusCode, body: &str) -> String {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => match error.status {
            Some(s) => format!("{} ({s})", error.message),
            None => error.message,
        },
        Err(_) => crate::http::unexpected_answer(status, body),
    }
}

impl Client {
    /// Gets an access token from the key file (a refused or malformed one is an
    /// error naming the project); an emulator without credentials gets none.
    pub(crate) async fn connect(
        source: &BigquerySource,
        http: reqwest::Client,
        redactor: &mut Redactor,
    ) -> Result<Client, Error> {
        let base = source
            .base_url
            .as_deref()
            .unwrap_or("https://bigquery.googleapis.com")
            .trim_end_matches('/');
        let mut headers = HeaderMap::new();
        if let Some(credentials) = &source.credentials {
            let key =
                auth::KeyFile::parse(credentials).map_err(|m| redactor.credentials_error(&m))?;
            redactor.add_secret(backflow_core::secret::Secret::new(key.private_key.clone()));
            let token = auth::access_token(&http, &key).await.map_err(|m| {
                redactor.connect_error(&format!("the service account's token was refused: {m}"))
            })?;
            redactor.add_secret(token.clone());
            let value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| redactor.connect_error("the access token is not a valid header"))?;
            headers.insert(AUTHORIZATION, value);
        }
        Ok(Client {
            http,
            project_url: format!("{base}/bigquery/v2/projects/{}", source.project),
            location: source.location.clone(),
            headers,
            query_timeout: source.query_timeout,
            page_rows: source.page_rows.max(1),
        })
    }

    /// Runs `sql` (standard SQL) and returns its columns and rows.
    pub(crate) async fn query<'a>(
        &'a self,
        model: &str,
        sql: &str,
        redactor: &Redactor,
    ) -> Result<(Vec<Column>, Rows<'a>), Error> {
        let deadline = Instant::now() + self.query_timeout;
        let failed = |message: String| redactor.query_error(model, &message);
        let mut body = json!({
            "query": sql,
            "useLegacySql": false,
            "maxResults": self.page_rows,
            "timeoutMs": WAIT_PER_CALL.as_millis() as u64,
        });
        if let Some(location) = &self.location {
            body["location"] = json!(location);
        }
        let request = self
            .http
            .post(format!("{}/queries", self.project_url))
            .headers(self.headers.clone())
            .json(&body);
        let (mut answer, mut first_page) =
            match tokio::time::timeout_at(deadline, self.call(request)).await {
                Ok(answer) => answer.map_err(failed)?,
                Err(_) => return Err(redactor.timeout_error(model, self.query_timeout)),
            };
        let job = answer
            .job_reference
            .clone()
            .ok_or_else(|| failed("the answer names no job".into()))?;
        while answer.job_complete != Some(true) {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(WAIT_PER_CALL);
            if wait.is_zero() {
                self.cancel(&job).await;
                return Err(redactor.timeout_error(model, self.query_timeout));
            }
            let poll = self.results(&job, None, Some(wait));
            (answer, first_page) = match tokio::time::timeout_at(deadline, poll).await {
                Ok(answer) => answer.map_err(failed)?,
                Err(_) => {
                    self.cancel(&job).await;
                    return Err(redactor.timeout_error(model, self.query_timeout));
                }
            };
        }
        let fields = answer.schema.take().map(|s| s.fields).unwrap_or_default();
        let columns = fields.iter().map(Field::column).collect();
        let results = Results {
            client: self,
            job,
            fields,
            redactor: redactor.clone(),
        };
        Ok((columns, Paged::new(results, model, first_page)?))
    }

    /// jobs.getQueryResults: a page of `job` (the first when `page_token` is
    /// `None`), waiting up to `wait` for the job to finish; the answer and its
    /// body.
    async fn results(
        &self,
        job: &JobReference,
        page_token: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<(QueryResponse, Vec<u8>), String> {
        let mut query: Vec<(&str, String)> = vec![("maxResults", self.page_rows.to_string())];
        if let Some(location) = job.location.as_ref().or(self.location.as_ref()) {
            query.push(("location", location.clone()));
        }
        if let Some(token) = page_token {
            query.push(("pageToken", token.to_string()));
        }
        if let Some(wait) = wait {
            query.push(("timeoutMs", wait.as_millis().to_string()));
        }
        let url = crate::http::with_query(
            &format!("{}/queries/{}", self.project_url, job.job_id),
            &query,
        )?;
        let request = self.http.get(url).headers(self.headers.clone());
        self.call(request).await
    }

    /// Sends `request`: the answer (without its rows) and its body.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(QueryResponse, Vec<u8>), String> {
        let response = request
            .send()
            .await
            .map_err(|e| crate::http::describe(&e))?;
        let status = response.status();
        let body = crate::http::body(response).await?;
        let text = || String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(error_message(status, &text()));
        }
        match serde_json::from_slice(&body) {
            Ok(answer) => Ok((answer, body)),
            Err(_) => Err(crate::http::unexpected_answer(status, &text())),
        }
    }

    /// Asks BigQuery to stop the job (best effort: the run fails either way).
    async fn cancel(&self, job: &JobReference) {
        let location: Vec<(&str, String)> = job
            .location
            .as_ref()
            .or(self.location.as_ref())
            .map(|l| ("location", l.clone()))
            .into_iter()
            .collect();
        let url = format!("{}/jobs/{}/cancel", self.project_url, job.job_id);
        let Ok(url) = crate::http::with_query(&url, &location) else {
            return;
        };
        let result = self
            .http
            .post(url)
            .headers(self.headers.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %crate::http::describe(&e), "could not cancel the BigQuery job");
        }
    }
}

/// The rows of one BigQuery result, read a page at a time.
pub(crate) type Rows<'a> = Paged<Results<'a>>;

/// How the pages of one job's result are fetched and read.
pub(crate) struct Results<'a> {
    client: &'a Client,
    job: JobReference,
    fields: Vec<Field>,
    /// For a page that is not one (the answer was parsed once already, as a
    /// [`QueryResponse`], so this is a server's bug).
    redactor: Redactor,
}

impl Pages for Results<'_> {
    /// The answer's body.
    type Page = Vec<u8>;

    async fn fetch(&self, token: String) -> Result<Vec<u8>, String> {
        let (_, body) = self.client.results(&self.job, Some(&token), None).await?;
        Ok(body)
    }

    fn decode(
        &mut self,
        model: &str,
        body: Vec<u8>,
        out: &mut VecDeque<Vec<Value>>,
    ) -> Result<Option<String>, Error> {
        let page =
            page::parse(&body).map_err(|message| self.redactor.query_error(model, &message))?;
        for row in page.rows {
            out.push_back(decode_row(model, &row.f, &self.fields, |c, field| {
                c.value(field)
            })?);
        }
        Ok(page.page_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_bigquery_wrote_them() {
        let body = r#"{"error":{"code":404,"message":"Not found: Table p1:ds.t was not found in location US","errors":[{"message":"Not found: Table p1:ds.t was not found in location US","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}"#;
        assert_eq!(
            error_message(reqwest::StatusCode::NOT_FOUND, body),
            "Not found: Table p1:ds.t was not found in location US (NOT_FOUND)"
        );
        assert_eq!(
            error_message(reqwest::StatusCode::BAD_GATEWAY, "<html>oops"),
            "unexpected answer 502 Bad Gateway: <html>oops"
        );
    }
}
