//! Per-scenario warehouse tables in SQLite, PostgreSQL or MySQL/MariaDB.
//!
//! Each stack owns one warehouse: an SQLite file in its temp dir, or a fresh
//! database `bfscn_<pid>_<nanos>` on the local PostgreSQL / MariaDB server
//! (databases left by test processes that no longer run are dropped when a
//! stack starts). Scenario tables are named `<scenario>_<table>`, so scenarios
//! never share a table.
//!
//! Columns use portable [`Col`] types mapped to each dialect, and rows are
//! written as SQL literals ([`Val`]), so one scenario body runs unchanged on all
//! three warehouses. Every operation opens its own connection: a pool would be
//! tied to the tokio runtime of the test that created it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::Kind;

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
    Sqlite { path: PathBuf },
    Postgres { url: String },
    Mysql { url: String },
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
            Kind::Postgres => {
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
                Ok(Warehouse::Postgres {
                    url: format!("postgres://postgres@127.0.0.1:5432/{db}"),
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
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Warehouse::Sqlite { .. } => Kind::Sqlite,
            Warehouse::Postgres { .. } => Kind::Postgres,
            Warehouse::Mysql { .. } => Kind::Mysql,
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
            Warehouse::Mysql { url } => serde_json::json!({"type": "mysql", "url": url}),
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
            Warehouse::Postgres { url } => Conn::Postgres(PgConnection::connect(url).await?),
            Warehouse::Mysql { url } => Conn::Mysql(MySqlConnection::connect(url).await?),
        })
    }

    /// Run statements, in order, on one connection.
    pub async fn exec(&self, statements: &[String]) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        for sql in statements {
            conn.exec(sql).await?;
        }
        Ok(())
    }

    /// The first column of `sql`'s rows, cast to text by the query itself
    /// (harness self-checks).
    pub async fn fetch_text(&self, sql: &str) -> anyhow::Result<Vec<Option<String>>> {
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
            (Kind::Postgres, Col::Text) => "text",
            (Kind::Postgres, Col::Int) => "integer",
            (Kind::Postgres, Col::BigInt) => "bigint",
            (Kind::Postgres, Col::Float) => "double precision",
            (Kind::Postgres, Col::Bool) => "boolean",
            (Kind::Postgres, Col::Date) => "date",
            (Kind::Postgres, Col::Timestamp) => "timestamptz",
            (Kind::Postgres, Col::TimestampNoTz) => "timestamp",
            (Kind::Mysql, Col::Text) => "TEXT",
            (Kind::Mysql, Col::Int) => "INT",
            (Kind::Mysql, Col::BigInt) => "BIGINT",
            (Kind::Mysql, Col::Float) => "DOUBLE",
            (Kind::Mysql, Col::Bool) => "BOOLEAN",
            (Kind::Mysql, Col::Date) => "DATE",
            (Kind::Mysql, Col::Timestamp) => "DATETIME",
            (Kind::Mysql, Col::TimestampNoTz) => "TIMESTAMP NULL",
        }
    }

    /// `v` as a literal of the dialect.
    pub fn literal(&self, v: &Val) -> String {
        let kind = self.kind();
        let quote = |s: &str| {
            let s = s.replace('\'', "''");
            let s = if kind == Kind::Mysql {
                s.replace('\\', "\\\\")
            } else {
                s
            };
            format!("'{s}'")
        };
        match v {
            Val::Null => "NULL".into(),
            Val::S(s) => quote(s),
            Val::I(n) => n.to_string(),
            Val::F(x) => format!("{x:?}"),
            Val::B(b) => match kind {
                Kind::Sqlite => (if *b { "1" } else { "0" }).into(),
                _ => (if *b { "TRUE" } else { "FALSE" }).into(),
            },
            Val::Date(d) => match kind {
                Kind::Postgres => format!("DATE {}", quote(d)),
                _ => quote(d),
            },
            Val::Ts(t) => match kind {
                Kind::Postgres => format!("TIMESTAMPTZ {}", quote(&format!("{t}+00"))),
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
                let lits: Vec<String> = row.iter().map(|v| self.literal(v)).collect();
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
