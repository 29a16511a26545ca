//! Athena (tables of a Glue database over S3), through its API with the
//! function's IAM role: no password, no VPC.
//!
//! - [`Client::query`]: `StartQueryExecution` (workgroup, database, catalog,
//!   output location), then `GetQueryExecution` until the state is
//!   `SUCCEEDED` (a `FAILED` query's reason is the error), or the warehouse's
//!   `query_timeout_secs` (then `StopQueryExecution`).
//! - [`Rows`]: `GetQueryResults` one page at a time (`NextToken`, at most
//!   `page_rows` rows), so memory holds one page whatever the row count. Athena
//!   puts the column names as the first row of the first page of a `SELECT`'s
//!   answer: that row is skipped.
//! - `cells`: values, typed by the result metadata (`ColumnInfo.Type`; the type
//!   table is there).

mod cells;

use std::collections::VecDeque;

use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row};
use backflow_core::value::{Column, Value};
use tokio::time::Instant;

use crate::aws::{poll_until, sdk_message, Polled};
use crate::paged::{decode_row, Paged, Pages};
use crate::redact::Redactor;
use crate::{AthenaSource, Error};
use cells::AthenaColumn;

/// An Athena workgroup and database.
#[derive(Debug)]
pub(crate) struct Client {
    athena: aws_sdk_athena::Client,
    source: AthenaSource,
}

impl Client {
    pub(crate) fn new(config: &aws_config::SdkConfig, source: &AthenaSource) -> Client {
        Client {
            athena: aws_sdk_athena::Client::new(config),
            source: source.clone(),
        }
    }

    /// What messages call the warehouse.
    pub(crate) fn target(source: &AthenaSource) -> String {
        format!(
            "Athena workgroup {}, database {}",
            source.workgroup, source.database
        )
    }

    /// Runs `sql` and returns its columns and rows.
    pub(crate) async fn query<'a>(
        &'a self,
        model: &str,
        sql: &str,
        redactor: &Redactor,
    ) -> Result<(Vec<Column>, Rows<'a>), Error> {
        let deadline = Instant::now() + self.source.query_timeout;
        let failed = |message: String| redactor.query_error(model, &message);
        let context = QueryExecutionContext::builder()
            .database(&self.source.database)
            .set_catalog(self.source.catalog.clone())
            .build();
        let mut start = self
            .athena
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.source.workgroup)
            .query_execution_context(context);
        if let Some(location) = &self.source.output_location {
            start = start.result_configuration(
                ResultConfiguration::builder()
                    .output_location(location)
                    .build(),
            );
        }
        let started = start.send().await.map_err(|e| failed(sdk_message(&e)))?;
        let id = started
            .query_execution_id
            .ok_or_else(|| failed("Athena answered without a query execution id".into()))?;
        let polled = poll_until(deadline, || async {
            let execution = self
                .athena
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| failed(sdk_message(&e)))?;
            let status = execution.query_execution().and_then(|q| q.status());
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => Ok(Polled::Done(())),
                Some(QueryExecutionState::Failed) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .or_else(|| {
                            status
                                .and_then(|s| s.athena_error())
                                .and_then(|e| e.error_message())
                        })
                        .unwrap_or("no reason given");
                    Err(failed(format!("the query failed: {reason}")))
                }
                Some(QueryExecutionState::Cancelled) => {
                    Err(failed("the query was cancelled in Athena".into()))
                }
                // QUEUED, RUNNING (or a state this SDK does not know yet).
                _ => Ok(Polled::Running),
            }
        })
        .await?;
        if polled.is_none() {
            self.stop(&id).await;
            return Err(redactor.timeout_error(model, self.source.query_timeout));
        }
        let mut results = Results {
            client: self,
            id,
            columns: Vec::new(),
            first: true,
        };
        let first = results.page(None).await.map_err(failed)?;
        results.columns = first
            .result_set()
            .and_then(|r| r.result_set_metadata())
            .map(|m| m.column_info().iter().map(AthenaColumn::new).collect())
            .unwrap_or_default();
        let columns = results.columns.iter().map(AthenaColumn::column).collect();
        Ok((columns, Paged::new(results, model, first)?))
    }

    /// Asks Athena to stop the query (best effort: the run fails either way).
    async fn stop(&self, id: &str) {
        let result = self
            .athena
            .stop_query_execution()
            .query_execution_id(id)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %sdk_message(&e), "could not stop the Athena query");
        }
    }
}

/// The rows of one Athena result, read a page at a time.
pub(crate) type Rows<'a> = Paged<Results<'a>>;

/// How the pages of one query's result are fetched and read.
pub(crate) struct Results<'a> {
    client: &'a Client,
    id: String,
    columns: Vec<AthenaColumn>,
    /// Whether the next page is the first (the one with the header row).
    first: bool,
}

impl Results<'_> {
    async fn page(&self, token: Option<String>) -> Result<GetQueryResultsOutput, String> {
        self.client
            .athena
            .get_query_results()
            .query_execution_id(&self.id)
            .max_results(self.client.source.page_rows.clamp(1, 1_000))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_message(&e))
    }

    /// Whether `row` is the header Athena puts first in a `SELECT`'s answer:
    /// the column names as values. Compared rather than assumed, so that an
    /// answer without it (a statement that is not a `SELECT`) loses no row.
    fn is_header(&self, row: &Row) -> bool {
        row.data().len() == self.columns.len()
            && row
                .data()
                .iter()
                .zip(&self.columns)
                .all(|(datum, column)| datum.var_char_value() == Some(column.name.as_str()))
    }
}

impl Pages for Results<'_> {
    type Page = GetQueryResultsOutput;

    async fn fetch(&self, token: String) -> Result<GetQueryResultsOutput, String> {
        self.page(Some(token)).await
    }

    fn decode(
        &mut self,
        model: &str,
        page: GetQueryResultsOutput,
        out: &mut VecDeque<Vec<Value>>,
    ) -> Result<Option<String>, Error> {
        let rows = page.result_set().map(|r| r.rows()).unwrap_or_default();
        let mut rows = rows.iter().peekable();
        if std::mem::take(&mut self.first) && rows.peek().is_some_and(|row| self.is_header(row)) {
            rows.next();
        }
        for row in rows {
            out.push_back(decode_row(
                model,
                row.data(),
                &self.columns,
                |datum, column| cells::cell(datum.var_char_value(), column),
            )?);
        }
        Ok(page.next_token)
    }
}
