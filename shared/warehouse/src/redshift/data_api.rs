//! The Redshift Data API: `ExecuteStatement` (a provisioned cluster as
//! `db_user` or the role's own database user, or a serverless workgroup as the
//! role), then
//! `DescribeStatement` until `FINISHED` (a `FAILED` statement's `Error` is the
//! message), or the warehouse's `query_timeout_secs` (then `CancelStatement`);
//! then `GetStatementResult` one page at a time (`NextToken`).
//!
//! Cells arrive typed (`longValue`, `doubleValue`, `booleanValue`,
//! `stringValue`, `isNull`); the column's `typeName` says what a string is:
//!
//! | Redshift type (`ColumnMetadata.typeName`) | cell | value | `ColumnKind` |
//! |---|---|---|---|
//! | `int2`, `int4`, `int8` | `longValue` | `Int` | `Int` |
//! | `float4`, `float8` | `doubleValue` | `Float` | `Float` |
//! | `numeric` | `stringValue` `12.50` | `Float`, or exact `Text` when a float would change its whole part | `Float` |
//! | `bool` | `booleanValue` | `Bool` | `Bool` |
//! | `varchar`, `bpchar`, `char`, `text`, `name` | `stringValue` | `Text` | `Text` |
//! | `date` | `stringValue` `2024-01-02` | `Timestamp` at midnight UTC | `Date` |
//! | `timestamp`, `timestamptz` | `stringValue` `2024-01-02 03:04:05[.f][+00]` | `Timestamp` (seconds, floored; without a zone read as UTC) | `Timestamp` |
//! | `super` | `stringValue` of the JSON | `Text` of the JSON | `Text` |
//! | `time`, `timetz` | `stringValue` | `Text` | `Text` |
//! | anything else (`varbyte`, `geometry`, `hllsketch`, …) | `stringValue` | `Text`; a `blobValue` when UTF-8 text, else an error | `Unknown` |

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_redshiftdata::operation::get_statement_result::GetStatementResultOutput;
use aws_sdk_redshiftdata::types::{ColumnMetadata, Field, StatusString};
use backflow_core::value::{Column, ColumnKind, Value};
use tokio::time::Instant;

use crate::aws::{poll_until, sdk_message, Polled};
use crate::cells::{binary_value, date_text, timestamp_text};
use crate::decimal;
use crate::paged::{decode_row, Named, Paged, Pages};
use crate::redact::Redactor;
use crate::{Error, RedshiftAccess, RedshiftSource};

/// Where the statements run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Cluster {
        cluster: String,
        db_user: Option<String>,
    },
    Workgroup(String),
}

/// A Redshift cluster or workgroup reached through the Data API.
#[derive(Debug)]
pub(crate) struct DataApi {
    client: aws_sdk_redshiftdata::Client,
    target: Target,
    database: String,
    query_timeout: Duration,
}

impl DataApi {
    /// `None` when `source` is not a Data API source.
    pub(crate) fn new(config: &aws_config::SdkConfig, source: &RedshiftSource) -> Option<DataApi> {
        let target = match &source.access {
            RedshiftAccess::DataApiCluster { cluster, db_user } => Target::Cluster {
                cluster: cluster.clone(),
                db_user: db_user.clone(),
            },
            RedshiftAccess::DataApiWorkgroup { workgroup } => Target::Workgroup(workgroup.clone()),
            RedshiftAccess::Url(_)
            | RedshiftAccess::IamCluster { .. }
            | RedshiftAccess::IamWorkgroup { .. } => return None,
        };
        Some(DataApi {
            client: aws_sdk_redshiftdata::Client::new(config),
            target,
            database: source.database.clone().unwrap_or_default(),
            query_timeout: source.query_timeout,
        })
    }

    /// What messages call the warehouse.
    pub(crate) fn target(&self) -> String {
        match &self.target {
            Target::Cluster { cluster, .. } => format!(
                "Redshift cluster {cluster}, database {} (Data API)",
                self.database
            ),
            Target::Workgroup(workgroup) => format!(
                "Redshift Serverless workgroup {workgroup}, database {} (Data API)",
                self.database
            ),
        }
    }

    /// Runs `sql` and returns its columns and rows.
    pub(crate) async fn query<'a>(
        &'a self,
        model: &str,
        sql: &str,
        redactor: &Redactor,
    ) -> Result<(Vec<Column>, Rows<'a>), Error> {
        let deadline = Instant::now() + self.query_timeout;
        let failed = |message: String| redactor.query_error(model, &message);
        let mut execute = self
            .client
            .execute_statement()
            .sql(sql)
            .database(&self.database)
            .statement_name(format!("backflow {model}"));
        execute = match &self.target {
            Target::Cluster { cluster, db_user } => {
                // Without a user the Data API logs in as the role's own
                // database user (GetClusterCredentialsWithIAM).
                execute
                    .cluster_identifier(cluster)
                    .set_db_user(db_user.clone())
            }
            Target::Workgroup(workgroup) => execute.workgroup_name(workgroup),
        };
        let executed = execute.send().await.map_err(|e| failed(sdk_message(&e)))?;
        let id = executed
            .id
            .ok_or_else(|| failed("the Data API answered without a statement id".into()))?;
        let polled = poll_until(deadline, || async {
            let statement = self
                .client
                .describe_statement()
                .id(&id)
                .send()
                .await
                .map_err(|e| failed(sdk_message(&e)))?;
            match statement.status() {
                Some(StatusString::Finished) if statement.has_result_set() == Some(false) => Err(
                    failed("the statement returned no rows (a model is a SELECT)".into()),
                ),
                Some(StatusString::Finished) => Ok(Polled::Done(())),
                Some(StatusString::Failed) => {
                    let reason = statement.error().unwrap_or("no reason given");
                    Err(failed(format!("the statement failed: {reason}")))
                }
                Some(StatusString::Aborted) => {
                    Err(failed("the statement was cancelled in Redshift".into()))
                }
                // SUBMITTED, PICKED, STARTED.
                _ => Ok(Polled::Running),
            }
        })
        .await?;
        if polled.is_none() {
            self.cancel(&id).await;
            return Err(redactor.timeout_error(model, self.query_timeout));
        }
        let mut results = Results {
            api: self,
            id,
            columns: Vec::new(),
        };
        let first = results.page(None).await.map_err(failed)?;
        results.columns = first
            .column_metadata()
            .iter()
            .map(DataColumn::new)
            .collect();
        let columns = results.columns.iter().map(DataColumn::column).collect();
        Ok((columns, Paged::new(results, model, first)?))
    }

    /// Asks Redshift to stop the statement (best effort: the run fails either
    /// way).
    async fn cancel(&self, id: &str) {
        if let Err(e) = self.client.cancel_statement().id(id).send().await {
            tracing::warn!(error = %sdk_message(&e), "could not cancel the Redshift statement");
        }
    }
}

/// The rows of one statement's result, read a page at a time.
pub(crate) type Rows<'a> = Paged<Results<'a>>;

/// How the pages of one statement's result are fetched and read.
pub(crate) struct Results<'a> {
    api: &'a DataApi,
    id: String,
    columns: Vec<DataColumn>,
}

impl Results<'_> {
    async fn page(&self, token: Option<String>) -> Result<GetStatementResultOutput, String> {
        self.api
            .client
            .get_statement_result()
            .id(&self.id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_message(&e))
    }
}

impl Pages for Results<'_> {
    type Page = GetStatementResultOutput;

    async fn fetch(&self, token: String) -> Result<GetStatementResultOutput, String> {
        self.page(Some(token)).await
    }

    fn decode(
        &mut self,
        model: &str,
        page: GetStatementResultOutput,
        out: &mut VecDeque<Vec<Value>>,
    ) -> Result<Option<String>, Error> {
        for record in page.records() {
            out.push_back(decode_row(model, record, &self.columns, cell)?);
        }
        Ok(page.next_token)
    }
}

/// A column of the result.
#[derive(Debug, Clone)]
struct DataColumn {
    name: String,
    /// `typeName`, lower-cased (`int4`, `varchar`, `super`, …).
    type_name: String,
}

impl Named for DataColumn {
    fn name(&self) -> &str {
        &self.name
    }
    fn type_name(&self) -> &str {
        &self.type_name
    }
}

impl DataColumn {
    fn new(meta: &ColumnMetadata) -> Self {
        DataColumn {
            name: meta.name().or(meta.label()).unwrap_or_default().to_string(),
            type_name: meta.type_name().unwrap_or_default().to_ascii_lowercase(),
        }
    }

    fn column(&self) -> Column {
        let kind = match self.type_name.as_str() {
            "int2" | "int4" | "int8" | "smallint" | "integer" | "bigint" => ColumnKind::Int,
            "float4" | "float8" | "real" | "double precision" | "float" | "numeric" | "decimal" => {
                ColumnKind::Float
            }
            "bool" | "boolean" => ColumnKind::Bool,
            "varchar" | "bpchar" | "char" | "character" | "character varying" | "text" | "name"
            | "super" | "time" | "timetz" => ColumnKind::Text,
            "date" => ColumnKind::Date,
            "timestamp" | "timestamptz" => ColumnKind::Timestamp,
            _ => ColumnKind::Unknown,
        };
        Column {
            name: self.name.clone(),
            kind,
        }
    }
}

/// One field of a record.
fn cell(field: &Field, column: &DataColumn) -> Result<Value, String> {
    Ok(match field {
        Field::IsNull(true) => Value::Null,
        Field::LongValue(n) => Value::Int(*n),
        Field::DoubleValue(x) => Value::Float(*x),
        Field::BooleanValue(b) => Value::Bool(*b),
        Field::BlobValue(bytes) => binary_value(bytes.as_ref())?,
        Field::StringValue(text) => {
            let bad = || {
                format!(
                    "unexpected value '{}'",
                    text.chars().take(60).collect::<String>()
                )
            };
            match column.type_name.as_str() {
                "numeric" | "decimal" => {
                    text.trim().parse::<f64>().map_err(|_| bad())?;
                    decimal::value(text.trim())
                }
                "date" => Value::Timestamp(date_text(text).ok_or_else(bad)?),
                "timestamp" | "timestamptz" => {
                    Value::Timestamp(timestamp_text(text).ok_or_else(bad)?)
                }
                _ => Value::Text(text.clone()),
            }
        }
        // `isNull: false` alone, or a kind of field this SDK does not know.
        _ => return Err("a field without a value".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(type_name: &str) -> DataColumn {
        DataColumn {
            name: "c".into(),
            type_name: type_name.into(),
        }
    }

    #[test]
    fn each_redshift_type_reads_as_documented() {
        let s = |t: &str| Field::StringValue(t.into());
        let cases: Vec<(&str, Field, Value, ColumnKind)> = vec![
            (
                "int4",
                Field::LongValue(42),
                Value::Int(42),
                ColumnKind::Int,
            ),
            (
                "int8",
                Field::LongValue(i64::MAX),
                Value::Int(i64::MAX),
                ColumnKind::Int,
            ),
            (
                "float8",
                Field::DoubleValue(0.1),
                Value::Float(0.1),
                ColumnKind::Float,
            ),
            ("numeric", s("12.50"), Value::Float(12.5), ColumnKind::Float),
            (
                "numeric",
                s("123456789012345678901"),
                Value::Text("123456789012345678901".into()),
                ColumnKind::Float,
            ),
            (
                "bool",
                Field::BooleanValue(true),
                Value::Bool(true),
                ColumnKind::Bool,
            ),
            (
                "varchar",
                s("héllo"),
                Value::Text("héllo".into()),
                ColumnKind::Text,
            ),
            (
                "bpchar",
                s("ab  "),
                Value::Text("ab  ".into()),
                ColumnKind::Text,
            ),
            (
                "date",
                s("2024-01-02"),
                Value::Timestamp(1_704_153_600),
                ColumnKind::Date,
            ),
            (
                "timestamp",
                s("2024-01-02 03:04:05.678"),
                Value::Timestamp(1_704_164_645),
                ColumnKind::Timestamp,
            ),
            (
                "timestamptz",
                s("2024-01-02 04:04:05+01"),
                Value::Timestamp(1_704_164_645),
                ColumnKind::Timestamp,
            ),
            (
                "super",
                s("{\"plan\":\"pro\",\"seats\":[1,2]}"),
                Value::Text("{\"plan\":\"pro\",\"seats\":[1,2]}".into()),
                ColumnKind::Text,
            ),
            (
                "time",
                s("13:45:30"),
                Value::Text("13:45:30".into()),
                ColumnKind::Text,
            ),
            (
                "geometry",
                s("0101000000"),
                Value::Text("0101000000".into()),
                ColumnKind::Unknown,
            ),
            (
                "varchar",
                Field::IsNull(true),
                Value::Null,
                ColumnKind::Text,
            ),
        ];
        for (type_name, field, value, kind) in cases {
            let column = col(type_name);
            assert_eq!(cell(&field, &column), Ok(value), "{type_name} {field:?}");
            assert_eq!(column.column().kind, kind, "{type_name}");
        }
        assert_eq!(
            cell(&s("soon"), &col("timestamp")),
            Err("unexpected value 'soon'".into())
        );
        assert!(cell(
            &Field::BlobValue(aws_sdk_redshiftdata::primitives::Blob::new(vec![0xff, 0])),
            &col("varbyte")
        )
        .is_err());
    }
}
