//! Per-scenario warehouse tables in SQLite, PostgreSQL, MySQL/MariaDB,
//! Snowflake (fakesnow), BigQuery (crucible) or Redshift (the local PostgreSQL,
//! read by `type: redshift`: its wire protocol and dialect, not Redshift itself).
//!
//! Each stack owns one warehouse: an SQLite file in its temp dir, a fresh
//! database `bfscn_<pid>_<nanos>` on the local PostgreSQL / MariaDB server
//! (databases left by test processes that no longer run are dropped when a
//! stack starts), a fresh database on the fakesnow stand-in (its schema `MARTS`
//! is the session's), or a fresh dataset on the crucible stand-in (tables are
//! named `<dataset>.<table>`, [`Warehouse::table_name`]). The stand-ins run once
//! per test process ([`backflow_localstack::standin`]); they keep everything in
//! memory, so nothing is left to drop. Scenario tables are named
//! `<scenario>_<table>`, so scenarios never share a table.
//!
//! Columns use portable [`Col`] types mapped to each dialect, and rows are
//! written as SQL literals ([`Val`]), so one scenario body runs unchanged on
//! every warehouse. The cloud warehouses are seeded through the stand-in's own
//! SQL, with backflow's adapter (the same HTTPS protocol `extract` speaks).
//! Every operation opens its own connection: a pool would be tied to the tokio
//! runtime of the test that created it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use backflow_core::secret::Secret;
use backflow_core::value::Value as Cell;
use backflow_localstack::standin::{self, StandInKind};
use backflow_warehouse::{
    BigquerySource, SnowflakeAuth, SnowflakeSource, Source, DEFAULT_PAGE_ROWS,
};
use serde_json::json;

use crate::Kind;

/// The Snowflake account, user, role and virtual warehouse the scenarios'
/// configs name (fakesnow accepts any).
pub const SNOWFLAKE_ACCOUNT: &str = "backflow_scenarios";
pub const SNOWFLAKE_USER: &str = "BACKFLOW";
pub const SNOWFLAKE_SCHEMA: &str = "MARTS";
/// The BigQuery project the scenarios' configs name.
pub const BIGQUERY_PROJECT: &str = "backflow-scenarios";
/// The service account's private key (the warehouse crate's test key).
const SERVICE_ACCOUNT_KEY: &str = "shared/warehouse/tests/data/rsa_key.p8";
/// The access token the harness's token endpoint hands out.
pub const BIGQUERY_ACCESS_TOKEN: &str = "ya29.bfscn-access-Tk7Qv2";

/// The admin URLs of the local database servers (trust auth, no password).
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// A portable column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Text,
    Int,
    BigInt,
    Float,
    Bool,
    Date,
    /// A point in time: `timestamptz` in PostgreSQL, `DATETIME` (UTC) in MySQL,
    /// `TIMESTAMP` text in SQLite.
    Timestamp,
    /// The other timestamp type of each dialect: `timestamp` (without time
    /// zone) in PostgreSQL, `TIMESTAMP` in MySQL, `DATETIME` text in SQLite.
    /// The servers run in UTC, so a [`Val::Ts`] means the same instant.
    TimestampNoTz,
}

/// A cell value, written as a literal of the dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    S(String),
    I(i64),
    F(f64),
    B(bool),
    /// `YYYY-MM-DD`
    Date(String),
    /// `YYYY-MM-DD HH:MM:SS`, UTC
    Ts(String),
}

/// `Val::S`
pub fn s(v: impl Into<String>) -> Val {
    Val::S(v.into())
}
/// `Val::I`
pub fn i(v: i64) -> Val {
    Val::I(v)
}
/// `Val::F`
pub fn f(v: f64) -> Val {
    Val::F(v)
}
/// `Val::B`
pub fn b(v: bool) -> Val {
    Val::B(v)
}
/// `Val::Date`
pub fn date(v: &str) -> Val {
    Val::Date(v.into())
}
/// `Val::Ts`
pub fn ts(v: &str) -> Val {
    Val::Ts(v.into())
}
/// `Val::Null`
pub const NULL: Val = Val::Null;

/// One stack's warehouse.
#[derive(Debug, Clone)]
pub enum Warehouse {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        url: String,
    },
    /// A database on the local PostgreSQL that the config names as
    /// `type: redshift`.
    Redshift {
        url: String,
    },
    Mysql {
        url: String,
    },
    /// A database of the fakesnow stand-in; the password the config's secret
    /// holds (fakesnow accepts any, so it is a unique value a grep can find).
    Snowflake {
        base_url: String,
        database: String,
        secret: String,
        password: String,
    },
    /// A dataset of the crucible stand-in. crucible has no auth; the config
    /// still names a service account key file from Secrets Manager, whose
    /// `token_uri` is the harness's token endpoint ([`token_uri`]), so the
    /// functions fetch the key and exchange it as they would with Google.
    Bigquery {
        base_url: String,
        dataset: String,
        secret: String,
        key_file: String,
    },
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    Mysql(MySqlConnection),
}

impl Conn {
    async fn exec(&mut self, sql: &str) -> anyhow::Result<()> {
        let q = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        let res = match self {
            Conn::Sqlite(c) => q.execute(c).await.map(|_| ()),
            Conn::Postgres(c) => q.execute(c).await.map(|_| ()),
            Conn::Mysql(c) => q.execute(c).await.map(|_| ()),
        };
        res.with_context(|| format!("executing `{}`", abbreviate(sql)))
    }
}

fn abbreviate(sql: &str) -> String {
    if sql.len() > 300 {
        let mut end = 300;
        while !sql.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &sql[..end])
    } else {
        sql.to_string()
    }
}

fn unique_db_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("bfscn_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Whether a `bfscn_<pid>_…` name belongs to a process that is gone.
fn is_stale(name: &str) -> bool {
    let pid = name
        .strip_prefix("bfscn_")
        .and_then(|r| r.split('_').next());
    match pid.and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) => pid != std::process::id() && !PathBuf::from(format!("/proc/{pid}")).exists(),
        None => false,
    }
}

impl Warehouse {
    /// Create the warehouse of a new stack (`dir` is the stack's temp dir).
    pub async fn create(kind: Kind, dir: &std::path::Path) -> anyhow::Result<Warehouse> {
        match kind {
            Kind::Sqlite => {
                let path = dir.join("warehouse.db");
                let wh = Warehouse::Sqlite { path };
                // WAL: the tests write while `extract` reads.
                wh.connect().await?.exec("select 1").await?;
                Ok(wh)
            }
            Kind::Postgres | Kind::Redshift => {
                let mut admin = PgConnection::connect(POSTGRES_ADMIN_URL)
                    .await
                    .with_context(|| format!("connecting to {POSTGRES_ADMIN_URL}"))?;
                let names: Vec<String> = sqlx::query_scalar(
                    "select datname::text from pg_database where datname like 'bfscn\\_%'",
                )
                .fetch_all(&mut admin)
                .await?;
                for name in names.iter().filter(|n| is_stale(n)) {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                        "drop database if exists \"{name}\" with (force)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
                let db = unique_db_name();
                sqlx::raw_sql(AssertSqlSafe(format!("create database \"{db}\"")))
                    .execute(&mut admin)
                    .await?;
                let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
                Ok(match kind {
                    Kind::Redshift => Warehouse::Redshift { url },
                    _ => Warehouse::Postgres { url },
                })
            }
            Kind::Mysql => {
                let mut admin = MySqlConnection::connect(MYSQL_ADMIN_URL)
                    .await
                    .with_context(|| format!("connecting to {MYSQL_ADMIN_URL}"))?;
                let names: Vec<String> = sqlx::query_scalar(
                    "select cast(schema_name as char) from information_schema.schemata where schema_name like 'bfscn\\_%'",
                )
                .fetch_all(&mut admin)
                .await?;
                for name in names.iter().filter(|n| is_stale(n)) {
                    let _ =
                        sqlx::raw_sql(AssertSqlSafe(format!("drop database if exists `{name}`")))
                            .execute(&mut admin)
                            .await;
                }
                let db = unique_db_name();
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "create database `{db}` character set utf8mb4 collate utf8mb4_bin"
                )))
                .execute(&mut admin)
                .await?;
                Ok(Warehouse::Mysql {
                    url: format!("mysql://root@127.0.0.1:3306/{db}"),
                })
            }
            Kind::Snowflake => {
                let stand_in = stand_in(StandInKind::Fakesnow).await?;
                let database = unique_db_name().to_uppercase();
                let wh = Warehouse::Snowflake {
                    base_url: stand_in,
                    secret: format!("bfscn/{database}/snowflake"),
                    password: format!("sf-password-{database}"),
                    database,
                };
                // The first login creates the database and its schema.
                wh.exec(&["select 1".to_string()]).await?;
                Ok(wh)
            }
            Kind::Bigquery => {
                let base_url = stand_in(StandInKind::Crucible).await?;
                let dataset = unique_db_name();
                let created = reqwest::Client::new()
                    .post(format!(
                        "{base_url}/bigquery/v2/projects/{BIGQUERY_PROJECT}/datasets"
                    ))
                    .json(&json!({"datasetReference": {
                        "projectId": BIGQUERY_PROJECT, "datasetId": dataset,
                    }}))
                    .send()
                    .await
                    .context("creating the dataset on crucible")?;
                let status = created.status();
                anyhow::ensure!(
                    status.is_success(),
                    "creating the dataset {dataset} on crucible: {status} {}",
                    created.text().await.unwrap_or_default()
                );
                let key_file = json!({
                    "type": "service_account",
                    "project_id": BIGQUERY_PROJECT,
                    "private_key_id": "scenario-key",
                    "private_key": std::fs::read_to_string(
                        crate::stack::repo_root().join(SERVICE_ACCOUNT_KEY),
                    )
                    .with_context(|| format!("reading {SERVICE_ACCOUNT_KEY}"))?,
                    "client_email": format!("backflow@{BIGQUERY_PROJECT}.iam.gserviceaccount.com"),
                    "token_uri": token_uri().await?,
                })
                .to_string();
                Ok(Warehouse::Bigquery {
                    base_url,
                    secret: format!("bfscn/{dataset}/bigquery"),
                    dataset,
                    key_file,
                })
            }
        }
    }

    /// The Secrets Manager secrets the config section names: `(name, value)`.
    pub fn secrets(&self) -> Vec<(String, serde_json::Value)> {
        match self {
            Warehouse::Snowflake {
                secret, password, ..
            } => vec![(secret.clone(), json!({ "password": password }))],
            Warehouse::Bigquery {
                secret, key_file, ..
            } => vec![(secret.clone(), json!({ "service_account": key_file }))],
            _ => Vec::new(),
        }
    }

    /// What of the credentials must never be seen outside Secrets Manager and
    /// the functions' memory: the Snowflake password; a line of the BigQuery
    /// key's PEM body and the access token it is exchanged for.
    pub fn credential_needles(&self) -> Vec<String> {
        match self {
            Warehouse::Snowflake { password, .. } => vec![password.clone()],
            Warehouse::Bigquery { key_file, .. } => {
                let key: serde_json::Value = serde_json::from_str(key_file).unwrap_or_default();
                let pem = key["private_key"].as_str().unwrap_or("");
                let mut needles: Vec<String> = pem
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .take(1)
                    .map(str::to_string)
                    .collect();
                needles.push(BIGQUERY_ACCESS_TOKEN.to_string());
                needles
            }
            _ => Vec::new(),
        }
    }

    /// How a model names the table `name`: BigQuery qualifies it with the
    /// stack's dataset (a query job has no default dataset).
    pub fn table_name(&self, name: &str) -> String {
        match self {
            Warehouse::Bigquery { dataset, .. } => format!("{dataset}.{name}"),
            _ => name.to_string(),
        }
    }

    /// The adapter's source for a cloud warehouse (the harness seeds through it).
    fn cloud_source(&self) -> Option<Source> {
        match self {
            Warehouse::Snowflake {
                base_url,
                database,
                password,
                ..
            } => Some(Source::Snowflake(SnowflakeSource {
                account: SNOWFLAKE_ACCOUNT.into(),
                user: SNOWFLAKE_USER.into(),
                auth: SnowflakeAuth::Password(Secret::new(password.clone())),
                role: Some("BACKFLOW_READER".into()),
                warehouse: Some("COMPUTE_WH".into()),
                database: Some(database.clone()),
                schema: Some(SNOWFLAKE_SCHEMA.into()),
                base_url: Some(base_url.clone()),
                query_timeout: Duration::from_secs(120),
            })),
            Warehouse::Bigquery { base_url, .. } => Some(Source::Bigquery(BigquerySource {
                project: BIGQUERY_PROJECT.into(),
                location: Some("US".into()),
                credentials: None,
                base_url: Some(base_url.clone()),
                query_timeout: Duration::from_secs(120),
                page_rows: DEFAULT_PAGE_ROWS,
            })),
            _ => None,
        }
    }

    /// Run `sql` on a cloud warehouse and return its rows.
    async fn cloud_rows(&self, source: &Source, sql: &str) -> anyhow::Result<Vec<Vec<Cell>>> {
        let wh = backflow_warehouse::Warehouse::connect_named(self.kind().name(), source)
            .await
            .context("connecting to the stand-in")?;
        let mut stream = wh
            .stream("scenario_setup", sql)
            .await
            .with_context(|| format!("executing `{}`", abbreviate(sql)))?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await {
            rows.push(row.with_context(|| format!("reading `{}`", abbreviate(sql)))?);
        }
        Ok(rows)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Warehouse::Sqlite { .. } => Kind::Sqlite,
            Warehouse::Postgres { .. } => Kind::Postgres,
            Warehouse::Redshift { .. } => Kind::Redshift,
            Warehouse::Mysql { .. } => Kind::Mysql,
            Warehouse::Snowflake { .. } => Kind::Snowflake,
            Warehouse::Bigquery { .. } => Kind::Bigquery,
        }
    }

    /// The `warehouse:` section of the config (the config lives in the same
    /// directory as the SQLite file, so its path is relative).
    pub fn config_section(&self) -> serde_json::Value {
        match self {
            Warehouse::Sqlite { .. } => {
                serde_json::json!({"type": "sqlite", "path": "warehouse.db"})
            }
            Warehouse::Postgres { url } => serde_json::json!({"type": "postgres", "url": url}),
            Warehouse::Redshift { url } => serde_json::json!({"type": "redshift", "url": url}),
            Warehouse::Mysql { url } => serde_json::json!({"type": "mysql", "url": url}),
            Warehouse::Snowflake {
                base_url,
                database,
                secret,
                ..
            } => json!({
                "type": "snowflake",
                "account": SNOWFLAKE_ACCOUNT,
                "user": SNOWFLAKE_USER,
                "password": {"secret": secret, "key": "password"},
                "role": "BACKFLOW_READER",
                "warehouse": "COMPUTE_WH",
                "database": database,
                "schema": SNOWFLAKE_SCHEMA,
                "base_url": base_url,
            }),
            Warehouse::Bigquery {
                base_url, secret, ..
            } => json!({
                "type": "bigquery",
                "project": BIGQUERY_PROJECT,
                "location": "US",
                "credentials": {"secret": secret, "key": "service_account"},
                "base_url": base_url,
            }),
        }
    }

    async fn connect(&self) -> anyhow::Result<Conn> {
        Ok(match self {
            Warehouse::Sqlite { path } => {
                let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(30));
                Conn::Sqlite(opts.connect().await?)
            }
            Warehouse::Postgres { url } | Warehouse::Redshift { url } => {
                Conn::Postgres(PgConnection::connect(url).await?)
            }
            Warehouse::Mysql { url } => Conn::Mysql(MySqlConnection::connect(url).await?),
            Warehouse::Snowflake { .. } | Warehouse::Bigquery { .. } => {
                anyhow::bail!("the cloud warehouses are reached through backflow's adapter")
            }
        })
    }

    /// Run statements, in order, on one connection.
    pub async fn exec(&self, statements: &[String]) -> anyhow::Result<()> {
        if let Some(source) = self.cloud_source() {
            for sql in statements {
                let sql = match self.kind() {
                    Kind::Bigquery => bigquery_dml(sql)?,
                    _ => sql.clone(),
                };
                self.cloud_rows(&source, &sql).await?;
            }
            return Ok(());
        }
        let mut conn = self.connect().await?;
        for sql in statements {
            conn.exec(sql).await?;
        }
        Ok(())
    }

    /// The first column of `sql`'s rows, cast to text by the query itself
    /// (harness self-checks).
    pub async fn fetch_text(&self, sql: &str) -> anyhow::Result<Vec<Option<String>>> {
        if let Some(source) = self.cloud_source() {
            let rows = self.cloud_rows(&source, sql).await?;
            return Ok(rows
                .into_iter()
                .map(|row| match row.into_iter().next() {
                    None | Some(Cell::Null) => None,
                    Some(Cell::Text(t)) => Some(t),
                    Some(Cell::Int(n) | Cell::Timestamp(n)) => Some(n.to_string()),
                    Some(Cell::Float(x)) => Some(x.to_string()),
                    Some(Cell::Bool(b)) => Some(b.to_string()),
                    Some(list @ Cell::List(_)) => Some(list.quoted()),
                })
                .collect());
        }
        let sql = || AssertSqlSafe(sql.to_string());
        Ok(match self.connect().await? {
            Conn::Sqlite(mut c) => sqlx::query_scalar(sql()).fetch_all(&mut c).await?,
            Conn::Postgres(mut c) => sqlx::query_scalar(sql()).fetch_all(&mut c).await?,
            Conn::Mysql(mut c) => sqlx::query_scalar(sql()).fetch_all(&mut c).await?,
        })
    }

    /// The dialect's type for `col`.
    pub fn type_of(&self, col: Col) -> &'static str {
        match (self.kind(), col) {
            (Kind::Sqlite, Col::Text) => "TEXT",
            (Kind::Sqlite, Col::Int | Col::BigInt) => "INTEGER",
            (Kind::Sqlite, Col::Float) => "REAL",
            (Kind::Sqlite, Col::Bool) => "BOOLEAN",
            (Kind::Sqlite, Col::Date) => "DATE",
            (Kind::Sqlite, Col::Timestamp) => "TIMESTAMP",
            (Kind::Sqlite, Col::TimestampNoTz) => "DATETIME",
            (Kind::Postgres | Kind::Redshift, Col::Text) => "text",
            (Kind::Postgres | Kind::Redshift, Col::Int) => "integer",
            (Kind::Postgres | Kind::Redshift, Col::BigInt) => "bigint",
            (Kind::Postgres | Kind::Redshift, Col::Float) => "double precision",
            (Kind::Postgres | Kind::Redshift, Col::Bool) => "boolean",
            (Kind::Postgres | Kind::Redshift, Col::Date) => "date",
            (Kind::Postgres | Kind::Redshift, Col::Timestamp) => "timestamptz",
            (Kind::Postgres | Kind::Redshift, Col::TimestampNoTz) => "timestamp",
            (Kind::Mysql, Col::Text) => "TEXT",
            (Kind::Mysql, Col::Int) => "INT",
            (Kind::Mysql, Col::BigInt) => "BIGINT",
            (Kind::Mysql, Col::Float) => "DOUBLE",
            (Kind::Mysql, Col::Bool) => "BOOLEAN",
            (Kind::Mysql, Col::Date) => "DATE",
            (Kind::Mysql, Col::Timestamp) => "DATETIME",
            (Kind::Mysql, Col::TimestampNoTz) => "TIMESTAMP NULL",
            (Kind::Snowflake, Col::Text) => "VARCHAR",
            (Kind::Snowflake, Col::Int) => "INTEGER",
            (Kind::Snowflake, Col::BigInt) => "BIGINT",
            (Kind::Snowflake, Col::Float) => "FLOAT",
            (Kind::Snowflake, Col::Bool) => "BOOLEAN",
            (Kind::Snowflake, Col::Date) => "DATE",
            (Kind::Snowflake, Col::Timestamp) => "TIMESTAMP_TZ",
            (Kind::Snowflake, Col::TimestampNoTz) => "TIMESTAMP_NTZ",
            (Kind::Bigquery, Col::Text) => "STRING",
            (Kind::Bigquery, Col::Int | Col::BigInt) => "INT64",
            (Kind::Bigquery, Col::Float) => "FLOAT64",
            (Kind::Bigquery, Col::Bool) => "BOOL",
            (Kind::Bigquery, Col::Date) => "DATE",
            (Kind::Bigquery, Col::Timestamp) => "TIMESTAMP",
            (Kind::Bigquery, Col::TimestampNoTz) => "DATETIME",
        }
    }

    /// `v` as a literal of the dialect.
    pub fn literal(&self, v: &Val) -> String {
        self.literal_of(v, None)
    }

    /// `v` as a literal of the dialect for a column of type `col` (BigQuery
    /// types its NULLs and tells a `TIMESTAMP` from a `DATETIME` literal).
    pub fn literal_of(&self, v: &Val, col: Option<Col>) -> String {
        let kind = self.kind();
        let quote = |s: &str| match kind {
            // BigQuery escapes with a backslash; '' would end the string.
            Kind::Bigquery => format!(
                "'{}'",
                s.replace('\\', "\\\\")
                    .replace('\'', "\\'")
                    .replace('\n', "\\n")
            ),
            // MySQL and Snowflake read a backslash as an escape too.
            Kind::Mysql | Kind::Snowflake => {
                format!("'{}'", s.replace('\'', "''").replace('\\', "\\\\"))
            }
            Kind::Sqlite | Kind::Postgres | Kind::Redshift => {
                format!("'{}'", s.replace('\'', "''"))
            }
        };
        match v {
            Val::Null if kind == Kind::Bigquery => match col {
                Some(col) => format!("CAST(NULL AS {})", self.type_of(col)),
                None => "NULL".into(),
            },
            Val::Null => "NULL".into(),
            Val::S(s) => quote(s),
            Val::I(n) => n.to_string(),
            Val::F(x) => format!("{x:?}"),
            Val::B(b) => match kind {
                Kind::Sqlite => (if *b { "1" } else { "0" }).into(),
                _ => (if *b { "TRUE" } else { "FALSE" }).into(),
            },
            Val::Date(d) => match kind {
                Kind::Postgres | Kind::Redshift | Kind::Bigquery => format!("DATE {}", quote(d)),
                _ => quote(d),
            },
            Val::Ts(t) => match (kind, col) {
                (Kind::Postgres | Kind::Redshift, _) => {
                    format!("TIMESTAMPTZ {}", quote(&format!("{t}+00")))
                }
                (Kind::Bigquery, Some(Col::TimestampNoTz)) => format!("DATETIME {}", quote(t)),
                (Kind::Bigquery, _) => format!("TIMESTAMP {}", quote(&format!("{t}+00:00"))),
                _ => quote(t),
            },
        }
    }

    /// `CREATE TABLE` (dropping an older one) and insert `rows`.
    pub async fn create_table(
        &self,
        table: &str,
        cols: &[(&str, Col)],
        rows: &[Vec<Val>],
    ) -> anyhow::Result<()> {
        let defs: Vec<String> = cols
            .iter()
            .map(|(name, col)| format!("{name} {}", self.type_of(*col)))
            .collect();
        let mut stmts = vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!("CREATE TABLE {table} ({})", defs.join(", ")),
        ];
        stmts.extend(self.insert_statements(table, cols, rows)?);
        self.exec(&stmts).await
    }

    /// Insert more rows into an existing table.
    pub async fn insert(
        &self,
        table: &str,
        cols: &[(&str, Col)],
        rows: &[Vec<Val>],
    ) -> anyhow::Result<()> {
        let stmts = self.insert_statements(table, cols, rows)?;
        self.exec(&stmts).await
    }

    fn insert_statements(
        &self,
        table: &str,
        cols: &[(&str, Col)],
        rows: &[Vec<Val>],
    ) -> anyhow::Result<Vec<String>> {
        let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
        let mut stmts = Vec::new();
        for chunk in rows.chunks(250) {
            let mut values = Vec::with_capacity(chunk.len());
            for row in chunk {
                anyhow::ensure!(
                    row.len() == cols.len(),
                    "row has {} values for {} columns: {row:?}",
                    row.len(),
                    cols.len()
                );
                let lits: Vec<String> = row
                    .iter()
                    .zip(cols)
                    .map(|(v, (_, col))| self.literal_of(v, Some(*col)))
                    .collect();
                values.push(format!("({})", lits.join(", ")));
            }
            if !values.is_empty() {
                stmts.push(format!(
                    "INSERT INTO {table} ({}) VALUES {}",
                    names.join(", "),
                    values.join(", ")
                ));
            }
        }
        Ok(stmts)
    }
}

/// The base URL of the stand-in of `kind` (started once per test process; the
/// start blocks, so it runs off the async workers).
async fn stand_in(kind: StandInKind) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        standin::shared(kind)
            .map(|s| s.base_url.clone())
            .map_err(anyhow::Error::msg)
    })
    .await?
}

/// The scenarios' `UPDATE t SET col = value WHERE …` and `DELETE FROM t WHERE
/// …`, as statements crucible runs: it runs no UPDATE or DELETE, so the table is
/// rewritten whole (`CREATE OR REPLACE TABLE … AS SELECT`), which leaves BigQuery
/// with the same rows as the DML would. Other statements pass unchanged; an
/// UPDATE of more than one column is refused (the scenarios change one at a
/// time).
fn bigquery_dml(sql: &str) -> anyhow::Result<String> {
    let trimmed = sql.trim();
    let upper = trimmed.to_ascii_uppercase();
    let where_at = |from: usize| {
        upper[from..]
            .find(" WHERE ")
            .map(|i| (from + i, &trimmed[from + i + " WHERE ".len()..]))
    };
    if let Some(rest) = upper.strip_prefix("DELETE FROM ") {
        let start = trimmed.len() - rest.len();
        let Some((end, cond)) = where_at(start) else {
            // Every row: the table kept with its columns and no rows.
            let table = trimmed[start..].trim();
            return Ok(format!(
                "CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} WHERE FALSE"
            ));
        };
        let table = trimmed[start..end].trim();
        return Ok(format!(
            "CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} \
             WHERE NOT COALESCE(({cond}), FALSE)"
        ));
    }
    if let Some(rest) = upper.strip_prefix("UPDATE ") {
        let start = trimmed.len() - rest.len();
        let set = upper[start..]
            .find(" SET ")
            .map(|i| start + i)
            .context("an UPDATE without SET")?;
        let table = trimmed[start..set].trim();
        // No WHERE: every row.
        let (end, cond) = where_at(set).unwrap_or((trimmed.len(), "TRUE"));
        let assignment = trimmed[set + " SET ".len()..end].trim();
        let (column, value) = assignment
            .split_once('=')
            .context("an UPDATE whose SET has no `=`")?;
        let (column, value) = (column.trim(), value.trim());
        anyhow::ensure!(
            !column.contains(','),
            "the BigQuery harness rewrites an UPDATE of one column only: {sql}"
        );
        return Ok(format!(
            "CREATE OR REPLACE TABLE {table} AS SELECT * REPLACE \
             (CASE WHEN COALESCE(({cond}), FALSE) THEN {value} ELSE {column} END AS {column}) \
             FROM {table}"
        ));
    }
    Ok(sql.to_string())
}

/// Token requests the harness's token endpoint answered (a BigQuery model run
/// by the functions makes one: proof the key from the secret was used).
pub fn token_requests() -> u64 {
    TOKEN_REQUESTS.load(std::sync::atomic::Ordering::SeqCst)
}

static TOKEN_REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The `token_uri` of the scenarios' service account: a loopback endpoint that
/// answers every token request with [`BIGQUERY_ACCESS_TOKEN`], as Google's
/// answers a signed assertion (crucible checks no token, and the exchange's
/// wire format is unit-tested in the warehouse crate). One per test process,
/// on the stack runtime.
async fn token_uri() -> anyhow::Result<String> {
    static URI: tokio::sync::OnceCell<Result<String, String>> = tokio::sync::OnceCell::const_new();
    URI.get_or_init(|| async {
        crate::on_stack_runtime(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        if answer_token(&mut socket).await.is_ok() {
                            TOKEN_REQUESTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    });
                }
            });
            Ok(format!("http://{addr}/token"))
        })
        .await
        .map_err(|e| format!("{e:#}"))
    })
    .await
    .clone()
    .map_err(anyhow::Error::msg)
}

/// Read one HTTP request (head and `content-length` body) and answer it with a
/// token.
async fn answer_token(socket: &mut tokio::net::TcpStream) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    let body = json!({
        "access_token": BIGQUERY_ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer",
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(answer.as_bytes()).await?;
    socket.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigquery_dml_becomes_a_table_rewrite() {
        assert_eq!(
            bigquery_dml("DELETE FROM ds.t WHERE id IN ('a', 'b')").unwrap(),
            "CREATE OR REPLACE TABLE ds.t AS SELECT * FROM ds.t \
             WHERE NOT COALESCE((id IN ('a', 'b')), FALSE)"
        );
        assert_eq!(
            bigquery_dml("UPDATE ds.t SET full_name = 'Renamed = Two' WHERE id = 'u-2'").unwrap(),
            "CREATE OR REPLACE TABLE ds.t AS SELECT * REPLACE \
             (CASE WHEN COALESCE((id = 'u-2'), FALSE) THEN 'Renamed = Two' ELSE full_name END AS full_name) \
             FROM ds.t"
        );
        assert_eq!(
            bigquery_dml("UPDATE ds.t SET tags = 'a,b'").unwrap(),
            "CREATE OR REPLACE TABLE ds.t AS SELECT * REPLACE \
             (CASE WHEN COALESCE((TRUE), FALSE) THEN 'a,b' ELSE tags END AS tags) \
             FROM ds.t"
        );
        let insert = "INSERT INTO ds.t (id) VALUES ('x')";
        assert_eq!(bigquery_dml(insert).unwrap(), insert);
        assert_eq!(
            bigquery_dml("DELETE FROM ds.t").unwrap(),
            "CREATE OR REPLACE TABLE ds.t AS SELECT * FROM ds.t WHERE FALSE"
        );
    }
}
