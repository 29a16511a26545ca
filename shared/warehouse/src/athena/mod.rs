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

use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row,
};
use backflow_core::value::{Column, Value};
use tokio::time::Instant;

use crate::aws::sdk_message;
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
        let mut poll = 0;
        loop {
            let execution = self
                .athena
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| failed(sdk_message(&e)))?;
            let status = execution.query_execution().and_then(|q| q.status());
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => break,
                Some(QueryExecutionState::Failed) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .or_else(|| {
                            status
                                .and_then(|s| s.athena_error())
                                .and_then(|e| e.error_message())
                        })
                        .unwrap_or("no reason given");
                    return Err(failed(format!("the query failed: {reason}")));
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(failed("the query was cancelled in Athena".into()))
                }
                // QUEUED, RUNNING (or a state this SDK does not know yet).
                _ => {}
            }
            let pause = crate::http::poll_pause(poll);
            if Instant::now() + pause >= deadline {
                self.stop(&id).await;
                return Err(redactor.timeout_error(model, self.source.query_timeout));
            }
            tokio::time::sleep(pause).await;
            poll += 1;
        }
        let mut rows = Rows {
            client: self,
            model: model.to_string(),
            id,
            columns: Vec::new(),
            ready: VecDeque::new(),
            next_token: None,
        };
        let first = rows.page(None).await.map_err(failed)?;
        rows.columns = first
            .result_set()
            .and_then(|r| r.result_set_metadata())
            .map(|m| m.column_info().iter().map(AthenaColumn::new).collect())
            .unwrap_or_default();
        let columns = rows.columns.iter().map(AthenaColumn::column).collect();
        rows.push_page(first, true)?;
        Ok((columns, rows))
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

/// The rows of one Athena result, a page at a time.
pub(crate) struct Rows<'a> {
    client: &'a Client,
    model: String,
    id: String,
    columns: Vec<AthenaColumn>,
    ready: VecDeque<Vec<Value>>,
    next_token: Option<String>,
}

impl Rows<'_> {
    /// The next row; `None` at the end.
    pub(crate) async fn next(&mut self, redactor: &Redactor) -> Option<Result<Vec<Value>, Error>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Some(Ok(row));
            }
            let token = self.next_token.take()?;
            match self.page(Some(token)).await {
                Ok(page) => {
                    if let Err(e) = self.push_page(page, false) {
                        return Some(Err(e));
                    }
                }
                Err(message) => return Some(Err(redactor.query_error(&self.model, &message))),
            }
        }
    }

    async fn page(
        &self,
        token: Option<String>,
    ) -> Result<aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput, String> {
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

    fn push_page(
        &mut self,
        page: aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput,
        first: bool,
    ) -> Result<(), Error> {
        let rows = page.result_set().map(|r| r.rows()).unwrap_or_default();
        let mut rows = rows.iter().peekable();
        if first && rows.peek().is_some_and(|row| self.is_header(row)) {
            rows.next();
        }
        for row in rows {
            let data = row.data();
            if data.len() != self.columns.len() {
                return Err(self.decode_error(
                    0,
                    format!(
                        "a row has {} cells, the result metadata {} columns",
                        data.len(),
                        self.columns.len()
                    ),
                ));
            }
            let mut values = Vec::with_capacity(data.len());
            for (i, (datum, column)) in data.iter().zip(&self.columns).enumerate() {
                let value = cells::cell(datum.var_char_value(), column)
                    .map_err(|e| self.decode_error(i, e))?;
                values.push(value);
            }
            self.ready.push_back(values);
        }
        self.next_token = page.next_token.filter(|t| !t.is_empty());
        Ok(())
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

    fn decode_error(&self, column: usize, message: String) -> Error {
        let field = self.columns.get(column);
        crate::cell_error(
            &self.model,
            field.map(|f| f.name.as_str()),
            field.map(|f| f.type_name.as_str()),
            message,
        )
    }
}
