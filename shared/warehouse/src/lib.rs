//! backflow's warehouse adapter: runs a model's SQL on SQLite, PostgreSQL or
//! MySQL/MariaDB and streams its rows as [`backflow_core::value::Value`]s.
//!
//! # Layout
//! - [`Source`]: which warehouse to open (a SQLite file, or a PostgreSQL / MySQL URL
//!   held in a [`Secret`]).
//! - [`Warehouse`]: a small connection pool (at most [`MAX_CONNECTIONS`]) opened by
//!   [`Warehouse::connect`]; [`Warehouse::stream`] runs one model.
//! - [`RowStream`]: the model's [`Column`]s (known even when the result is empty) and
//!   its rows, one at a time: memory is bounded by what the caller holds, not by the
//!   size of the result.
//! - [`kind`]: which decoder and which [`ColumnKind`] each driver type name gets —
//!   the table that says how every warehouse type becomes a [`Value`].
//! - `postgres`, `mysql`: the per-driver cell decoders; `sqlite`: SQLite's reader.
//! - `decimal`: `NUMERIC`/`DECIMAL` values (exact decimal text) to `Float` or `Text`.
//! - `redact`: keeps the URL's password out of every error message.
//! - [`Error`]: the crate's one error type.
//!
//! # Data flow
//! `stream` sends the SQL through sqlx's `fetch` (a lazily polled stream that holds
//! one pooled connection), waits for the first row and takes the column names and
//! driver types from it; only when the result is empty does it `prepare` the
//! statement to learn the columns (sqlx 0.9's `Executor::describe` is hidden behind
//! its `offline` feature; `prepare` + `Statement::columns` works on all three
//! drivers). Each later [`RowStream::next`] decodes one row.
//! PostgreSQL and MySQL rows arrive over the socket as they are read (TCP
//! back-pressure holds the rest on the server). SQLite is not read through sqlx:
//! `sqlite` steps the statement with rusqlite on a thread of its own and hands
//! rows over in blocks (sqlx's per-row hand-off was most of a large run's time). Streaming 1,000,000 rows keeps the process RSS flat at
//! about 13 MB with SQLite and 11 MB with PostgreSQL (the
//! `*_streams_a_million_rows_in_bounded_memory` tests fail if it grows by 32 MB).
//!
//! Timestamps: every point in time becomes [`Value::Timestamp`] in Unix seconds
//! (sub-second parts are floored); `TIMESTAMP`/`DATETIME` without a zone is read as
//! UTC; dates are midnight UTC. SQLite has no date type, so its dates stay as stored
//! (text or numbers) and the core crate coerces them (a `…_at`/`…_date` column
//! whose values are timestamps is a date there).
//!
//! Arrays — PostgreSQL's (`text[]`, `int4[]`, …, read from their binary form),
//! Snowflake's `ARRAY`, BigQuery's `REPEATED` fields — become
//! [`Value::List`] with [`ColumnKind::List`], each item read as its own type.
//! MySQL/MariaDB and SQLite have no array type: a JSON array there stays its
//! text.

mod athena;
mod aws;
mod bigquery;
mod cells;
mod decimal;
mod error;
mod http;
mod jwt;
pub mod kind;
mod mysql;
mod order;
mod paged;
mod pkcs8;
mod postgres;
mod redact;
mod redshift;
mod snowflake;
mod source;
mod sqlite;

use std::str::FromStr;
use std::time::Duration;

use backflow_core::value::{Column, ColumnKind, Value};
use futures::stream::BoxStream;
use futures::StreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Database, MySqlPool, PgPool};

pub use aws_config::SdkConfig;
pub use error::Error;
use redact::Redactor;
pub use source::{
    AthenaSource, BigquerySource, RedshiftAccess, RedshiftSource, SnowflakeAuth, SnowflakeSource,
    Source, ATHENA_PAGE_ROWS, DEFAULT_PAGE_ROWS, DEFAULT_QUERY_TIMEOUT,
};

/// Connections a [`Warehouse`] keeps at most: one streams a model, one is spare for
/// a describe or a second model. A Lambda invocation runs one model at a time.
pub const MAX_CONNECTIONS: u32 = 2;

/// How long [`Warehouse::connect`] keeps trying (a refused connection is retried
/// with back-off until then, as a database that is restarting refuses for a while).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open warehouse: a pool of at most [`MAX_CONNECTIONS`] connections.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pool: Pool,
    redactor: Redactor,
}

#[derive(Debug, Clone)]
enum Pool {
    /// Each stream opens its own read-only connection (`sqlite`).
    Sqlite(sqlite::Database),
    Postgres(PgPool),
    Mysql(MySqlPool),
    Snowflake(std::sync::Arc<snowflake::Session>),
    Bigquery(std::sync::Arc<bigquery::Client>),
    /// Redshift over the PostgreSQL wire protocol (its own dialect).
    Redshift(PgPool),
    RedshiftData(std::sync::Arc<redshift::data_api::DataApi>),
    Athena(std::sync::Arc<athena::Client>),
}

impl Warehouse {
    /// Opens the warehouse and checks that one connection can be made, giving up
    /// after [`DEFAULT_CONNECT_TIMEOUT`].
    pub async fn connect(source: &Source) -> Result<Warehouse, Error> {
        Self::connect_with_timeout(source, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// [`Warehouse::connect`] for the config's warehouse `name`, which every
    /// error then names (`` `snow` (Snowflake account xy12345) ``).
    pub async fn connect_named(name: &str, source: &Source) -> Result<Warehouse, Error> {
        Self::open(Some(name), source, DEFAULT_CONNECT_TIMEOUT, None).await
    }

    /// [`Warehouse::connect_with_timeout`] with the AWS configuration Athena and
    /// Redshift's IAM and Data API access use (instead of the standard chain's:
    /// the environment, the function's role).
    pub async fn connect_with_aws(
        source: &Source,
        timeout: Duration,
        aws: &SdkConfig,
    ) -> Result<Warehouse, Error> {
        Self::open(None, source, timeout, Some(aws)).await
    }

    /// [`Warehouse::connect_with_aws`] for the config's warehouse `name`.
    pub async fn connect_named_with_aws(
        name: &str,
        source: &Source,
        timeout: Duration,
        aws: &SdkConfig,
    ) -> Result<Warehouse, Error> {
        Self::open(Some(name), source, timeout, Some(aws)).await
    }

    /// [`Warehouse::connect_named`] with another timeout.
    pub async fn connect_named_with_timeout(
        name: &str,
        source: &Source,
        timeout: Duration,
    ) -> Result<Warehouse, Error> {
        Self::open(Some(name), source, timeout, None).await
    }

    /// [`Warehouse::connect`] with another timeout.
    pub async fn connect_with_timeout(
        source: &Source,
        timeout: Duration,
    ) -> Result<Warehouse, Error> {
        Self::open(None, source, timeout, None).await
    }

    async fn open(
        name: Option<&str>,
        source: &Source,
        timeout: Duration,
        aws: Option<&SdkConfig>,
    ) -> Result<Warehouse, Error> {
        let aws = async || match aws {
            Some(config) => config.clone(),
            None => aws::from_env().await,
        };
        let named = |mut redactor: Redactor| {
            if let Some(name) = name {
                redactor.name(name);
            }
            redactor
        };
        match source {
            Source::Sqlite { path } => {
                let redactor = named(Redactor::none(path.display().to_string()));
                // sqlx would report SQLITE_CANTOPEN ("unable to open database file")
                // without the path; say which file is missing.
                if !path.exists() {
                    return Err(Error::SqliteNotFound { path: path.clone() });
                }
                let database = sqlite::Database::open(path, &redactor).await?;
                Ok(Warehouse {
                    pool: Pool::Sqlite(database),
                    redactor,
                })
            }
            Source::Postgres { url } => {
                let redactor = named(Redactor::for_url(url));
                let options = PgConnectOptions::from_str(url.expose())
                    .map_err(|e| redactor.connect_error(&redactor.describe(&e)))?;
                let pool = open(PgPoolOptions::new(), options, timeout, &redactor).await?;
                Ok(Warehouse {
                    pool: Pool::Postgres(pool),
                    redactor,
                })
            }
            Source::Redshift(source) => {
                let (url, issuer) = match &source.access {
                    RedshiftAccess::Url(url) => (url, None),
                    RedshiftAccess::IamCluster {
                        url,
                        cluster,
                        db_user,
                    } => (
                        url,
                        Some(redshift::Issuer::Cluster {
                            cluster,
                            db_user: db_user.as_deref(),
                        }),
                    ),
                    RedshiftAccess::IamWorkgroup { url, workgroup } => {
                        (url, Some(redshift::Issuer::Workgroup(workgroup)))
                    }
                    RedshiftAccess::DataApiCluster { .. }
                    | RedshiftAccess::DataApiWorkgroup { .. } => {
                        let api = redshift::data_api::DataApi::new(&aws().await, source)
                            .expect("a Data API source");
                        let redactor = named(Redactor::none(api.target()));
                        return Ok(Warehouse {
                            pool: Pool::RedshiftData(std::sync::Arc::new(api)),
                            redactor,
                        });
                    }
                };
                let mut redactor = named(Redactor::for_url(url));
                let mut options = PgConnectOptions::from_str(url.expose())
                    .map_err(|e| redactor.connect_error(&redactor.describe(&e)))?;
                if let Some(database) = &source.database {
                    options = options.database(database);
                }
                if let Some(issuer) = issuer {
                    let credentials =
                        redshift::iam_credentials(&aws().await, issuer, source.database.as_deref())
                            .await
                            .map_err(|m| redactor.connect_error(&m))?;
                    redactor.add_secret(credentials.password.clone());
                    options = options
                        .username(&credentials.user)
                        .password(credentials.password.expose());
                }
                let pool = open(PgPoolOptions::new(), options, timeout, &redactor).await?;
                Ok(Warehouse {
                    pool: Pool::Redshift(pool),
                    redactor,
                })
            }
            Source::Athena(source) => {
                let redactor = named(Redactor::none(athena::Client::target(source)));
                Ok(Warehouse {
                    pool: Pool::Athena(std::sync::Arc::new(athena::Client::new(
                        &aws().await,
                        source,
                    ))),
                    redactor,
                })
            }
            Source::Mysql { url } => {
                let redactor = named(Redactor::for_url(url));
                // sqlx sets the session `time_zone` to `+00:00`, so TIMESTAMP columns
                // come back in UTC whatever the server's zone.
                let options = MySqlConnectOptions::from_str(url.expose())
                    .map_err(|e| redactor.connect_error(&redactor.describe(&e)))?;
                let pool = open(MySqlPoolOptions::new(), options, timeout, &redactor).await?;
                Ok(Warehouse {
                    pool: Pool::Mysql(pool),
                    redactor,
                })
            }
            Source::Snowflake(source) => {
                let target = format!("Snowflake account {}", source.account);
                let mut redactor =
                    named(Redactor::with_secrets(target, snowflake::secrets(source)));
                let http = http::client(timeout).map_err(|e| redactor.connect_error(&e))?;
                let session = snowflake::Session::login(source, http, &mut redactor).await?;
                Ok(Warehouse {
                    pool: Pool::Snowflake(std::sync::Arc::new(session)),
                    redactor,
                })
            }
            Source::Bigquery(source) => {
                let target = format!("BigQuery project {}", source.project);
                let mut redactor = named(Redactor::with_secrets(
                    target,
                    source.credentials.iter().cloned().collect(),
                ));
                let http = http::client(timeout).map_err(|e| redactor.connect_error(&e))?;
                let client = bigquery::Client::connect(source, http, &mut redactor).await?;
                Ok(Warehouse {
                    pool: Pool::Bigquery(std::sync::Arc::new(client)),
                    redactor,
                })
            }
        }
    }

    /// Runs the model and streams its rows; memory is bounded by what the caller
    /// holds, not by the result size.
    ///
    /// `model` is only used in messages. A bad query fails here (with the model's
    /// name in the message), not at the first [`RowStream::next`]. The stream holds
    /// one pooled connection until it ends or is dropped, so at most
    /// [`MAX_CONNECTIONS`] streams can be open at once (a third waits for the
    /// connect timeout, then fails).
    pub async fn stream<'a>(&'a self, model: &str, sql: &str) -> Result<RowStream<'a>, Error> {
        let query_error = |e: sqlx::Error| {
            self.redactor
                .query_error(model, &self.redactor.describe(&e))
        };
        let (columns, inner) = match &self.pool {
            Pool::Sqlite(database) => {
                let (columns, rows) = database.query(model, sql, &self.redactor).await?;
                (columns, Inner::Sqlite(rows))
            }
            Pool::Postgres(pool) => {
                let (columns, decoders, rows) =
                    postgres::open(pool, sql).await.map_err(query_error)?;
                (columns, Inner::Postgres { rows, decoders })
            }
            Pool::Redshift(pool) => {
                let (columns, decoders, rows) = postgres::open(pool, sql).await.map_err(|e| {
                    let message = redshift::explain_wire_error(self.redactor.describe(&e));
                    self.redactor.query_error(model, &message)
                })?;
                (columns, Inner::Postgres { rows, decoders })
            }
            Pool::RedshiftData(api) => {
                let (columns, rows) = api.query(model, sql, &self.redactor).await?;
                (columns, Inner::RedshiftData(rows))
            }
            Pool::Athena(client) => {
                let (columns, rows) = client.query(model, sql, &self.redactor).await?;
                (columns, Inner::Athena(rows))
            }
            Pool::Mysql(pool) => {
                let (columns, decoders, rows) =
                    mysql::open(pool, sql).await.map_err(query_error)?;
                (columns, Inner::Mysql { rows, decoders })
            }
            Pool::Snowflake(session) => {
                let (columns, rows) = session.query(model, sql, &self.redactor).await?;
                (columns, Inner::Snowflake(rows))
            }
            Pool::Bigquery(client) => {
                let (columns, rows) = client.query(model, sql, &self.redactor).await?;
                (columns, Inner::Bigquery(rows))
            }
        };
        tracing::debug!(model, columns = columns.len(), "model query started");
        Ok(RowStream {
            columns,
            model: model.to_string(),
            redactor: &self.redactor,
            inner,
            read: 0,
        })
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(database) => database.close().await,
            Pool::Postgres(pool) | Pool::Redshift(pool) => pool.close().await,
            Pool::Mysql(pool) => pool.close().await,
            // Snowflake sessions expire on their own; the HTTPS APIs have none.
            Pool::Snowflake(_) | Pool::Bigquery(_) | Pool::RedshiftData(_) | Pool::Athena(_) => {}
        }
    }
}

/// Builds the pool and makes its first connection. sqlx retries a refused
/// connection until the timeout and then only says "pool timed out"; in that case
/// one more direct attempt tells the user why (refused, unknown host, ...).
async fn open<DB: Database>(
    pool_options: PoolOptions<DB>,
    options: <DB::Connection as Connection>::Options,
    timeout: Duration,
    redactor: &Redactor,
) -> Result<sqlx::Pool<DB>, Error> {
    // sqlx times a statement until its stream is dropped, so every model that
    // streams for more than a second (the caller's own work included) would be
    // logged as a "slow statement" with its whole SQL. `stream` logs instead.
    let options = options.disable_statement_logging();
    let result = pool_options
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .acquire_timeout(timeout)
        .connect_with(options.clone())
        .await;
    match result {
        Ok(pool) => Ok(pool),
        Err(sqlx::Error::PoolTimedOut) => {
            let probe = tokio::time::timeout(Duration::from_secs(2), options.connect()).await;
            let cause = match probe {
                Ok(Err(cause)) => format!("{}; ", redactor.describe(&cause)),
                _ => String::new(),
            };
            Err(redactor.connect_error(&format!(
                "{cause}no connection within {:.1}s",
                timeout.as_secs_f64()
            )))
        }
        Err(e) => Err(redactor.connect_error(&redactor.describe(&e))),
    }
}

/// Rows that may start with one already read (the row that told us the columns).
struct Rows<'a, R> {
    first: Option<R>,
    rest: BoxStream<'a, Result<R, sqlx::Error>>,
}

impl<'a, R> Rows<'a, R> {
    async fn next(&mut self) -> Option<Result<R, sqlx::Error>> {
        match self.first.take() {
            Some(row) => Some(Ok(row)),
            None => self.rest.next().await,
        }
    }

    /// Polls the stream for its first row, so that a failing query fails now.
    async fn start(mut rest: BoxStream<'a, Result<R, sqlx::Error>>) -> Result<Self, sqlx::Error> {
        let first = rest.next().await.transpose()?;
        Ok(Rows { first, rest })
    }
}

enum Inner<'a> {
    Sqlite(sqlite::Rows),
    Postgres {
        rows: Rows<'a, PgRow>,
        decoders: Vec<kind::PgDecoder>,
    },
    Mysql {
        rows: Rows<'a, MySqlRow>,
        decoders: Vec<kind::MySqlDecoder>,
    },
    Snowflake(snowflake::Rows<'a>),
    Bigquery(bigquery::Rows<'a>),
    RedshiftData(redshift::data_api::Rows<'a>),
    Athena(athena::Rows<'a>),
    /// The rows are exhausted, or an error ended them.
    Done,
}

/// The rows of one model run, read one at a time with [`RowStream::next`].
pub struct RowStream<'a> {
    /// The result's columns, in order; each row has one value per column.
    pub columns: Vec<Column>,
    model: String,
    redactor: &'a Redactor,
    inner: Inner<'a>,
    /// Rows returned so far, for the log line at the end.
    read: u64,
}

impl std::fmt::Debug for RowStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("model", &self.model)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl RowStream<'_> {
    /// The next row (one [`Value`] per column), `None` at the end. After an error
    /// the stream is over: the next call returns `None`.
    pub async fn next(&mut self) -> Option<Result<Vec<Value>, Error>> {
        let RowStream {
            columns,
            model,
            redactor,
            inner,
            read,
        } = self;
        let query_error = |e: sqlx::Error| redactor.query_error(model, &redactor.describe(&e));
        let row = match inner {
            Inner::Done => return None,
            Inner::Sqlite(rows) => rows.next(model, redactor).await,
            Inner::Postgres { rows, decoders } => rows.next().await.map(|row| {
                row.map_err(query_error)
                    .and_then(|row| postgres::decode_row(&row, decoders, columns, model))
            }),
            Inner::Mysql { rows, decoders } => rows.next().await.map(|row| {
                row.map_err(query_error)
                    .and_then(|row| mysql::decode_row(&row, decoders, columns, model))
            }),
            Inner::Snowflake(rows) => rows.next(redactor).await,
            Inner::Bigquery(rows) => rows.next(redactor).await,
            Inner::RedshiftData(rows) => rows.next(redactor).await,
            Inner::Athena(rows) => rows.next(redactor).await,
        };
        match &row {
            Some(Ok(_)) => *read += 1,
            Some(Err(error)) => {
                tracing::debug!(model = %model, rows = *read, %error, "model rows failed");
                // Dropping the sqlx stream hands its connection back to the pool.
                *inner = Inner::Done;
            }
            None => {
                tracing::debug!(model = %model, rows = *read, "model rows read");
                *inner = Inner::Done;
            }
        }
        row
    }
}

/// A column of the result: its name and the kind its driver type maps to.
fn column(name: &str, kind: ColumnKind) -> Column {
    Column {
        name: name.to_string(),
        kind,
    }
}

/// The error for a cell that could not be decoded.
fn decode_error(model: &str, column: &Column, type_name: &str, message: impl ToString) -> Error {
    cell_error(model, Some(&column.name), Some(type_name), message)
}

/// [`decode_error`] where the column may be unknown (a row of the wrong width).
fn cell_error(
    model: &str,
    column: Option<&str>,
    type_name: Option<&str>,
    message: impl ToString,
) -> Error {
    Error::Decode {
        model: model.to_string(),
        column: column.unwrap_or("?").to_string(),
        type_name: type_name.unwrap_or("?").to_string(),
        message: message.to_string(),
    }
}

/// Compile-time checks: a Lambda handler runs on tokio's multi-threaded runtime,
/// so the warehouse, the stream and every future must be `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(warehouse: &Warehouse, source: &Source) {
    fn is_send<T: Send>(_: T) {}
    fn is_sync<T: Sync>() {}
    is_sync::<Warehouse>();
    is_send(Warehouse::connect(source));
    is_send(warehouse.stream("model", "SELECT 1"));
    is_send(async {
        let mut rows = warehouse.stream("model", "SELECT 1").await?;
        rows.next().await.transpose()
    });
}
