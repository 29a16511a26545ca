//! The warehouse adapter against real databases: SQLite (a temporary file),
//! PostgreSQL and MySQL/MariaDB on loopback.
//!
//! Server URLs come from `BACKFLOW_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `BACKFLOW_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`). Every test works in its own uniquely named
//! schema (PostgreSQL) or table (MySQL) and drops it at the end, even when an
//! assertion fails, so tests run in parallel and leave nothing behind.
//!
//! # Layout
//! This file holds the helpers (connections, unique names, cleanup, the
//! bounded-memory check); the tests are one file per engine ([`sqlite`],
//! [`postgres`], [`mysql`]) and per property every engine must have
//! ([`sorted`]: `sorted_by_key`; [`dates`]: dates kept as text, arrays), and
//! the cloud warehouses' under `../cloud/` (Athena, Redshift Data API,
//! Snowflake and BigQuery through stand-ins and their wire formats).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use backflow_core::value::{Column, ColumnKind, Value};
use backflow_warehouse::{Error, RowStream, Warehouse};
use futures::FutureExt;
use sqlx::{AssertSqlSafe, Connection};

use ColumnKind as K;

mod dates;
mod mysql;
mod postgres;
mod sorted;
mod sqlite;

#[path = "../cloud/aws.rs"]
mod aws;
#[path = "../cloud/aws_protocol.rs"]
mod aws_protocol;
#[path = "../cloud/bigquery.rs"]
mod bigquery;
#[path = "../cloud/redshift_iam.rs"]
mod redshift_iam;
#[path = "../cloud/snowflake.rs"]
mod snowflake;
#[path = "../cloud/standin.rs"]
mod standin;
#[path = "../cloud/wire.rs"]
mod wire;
use Value::{Int, Text};

// ---------------------------------------------------------------- helpers

fn pg_url() -> String {
    std::env::var("BACKFLOW_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn mysql_url() -> String {
    std::env::var("BACKFLOW_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_string())
}

/// A name no other test (or concurrent run) uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "bf_{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn text(s: &str) -> Value {
    Text(s.to_string())
}

fn col(name: &str, kind: ColumnKind) -> Column {
    Column {
        name: name.to_string(),
        kind,
    }
}

async fn collect(mut rows: RowStream<'_>) -> Vec<Vec<Value>> {
    let mut all = Vec::new();
    while let Some(row) = rows.next().await {
        all.push(row.expect("row"));
    }
    all
}

/// Runs `body`, then `cleanup` whatever happened, then re-raises a failure.
async fn with_cleanup(body: impl Future<Output = ()>, cleanup: impl Future<Output = ()>) {
    let outcome: Result<(), Box<dyn Any + Send>> = AssertUnwindSafe(body).catch_unwind().await;
    cleanup.await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn pg_exec(sql: &str) {
    let mut conn = sqlx::PgConnection::connect(&pg_url())
        .await
        .expect("connect to PostgreSQL (set BACKFLOW_TEST_POSTGRES_URL)");
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
}

/// Runs the statements one by one on one connection (session settings carry over).
async fn mysql_exec(statements: &[&str]) {
    let mut conn = sqlx::MySqlConnection::connect(&mysql_url())
        .await
        .expect("connect to MySQL (set BACKFLOW_TEST_MYSQL_URL)");
    for sql in statements {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.close().await.ok();
}

async fn sqlite_setup(path: &Path, sql: &str) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

fn assert_rows(actual: &[Vec<Value>], expected: &[Vec<Value>]) {
    assert_eq!(actual.len(), expected.len(), "row count: {actual:?}");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a.len(), e.len(), "row {i} width");
        for (j, (a, e)) in a.iter().zip(e).enumerate() {
            assert_eq!(a, e, "row {i}, column {j}");
        }
    }
}

fn assert_hides(error: &Error, secrets: &[&str]) {
    for shown in [error.to_string(), format!("{error:?}")] {
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret:?} leaked in {shown}");
        }
    }
}

/// Reads the process's resident set size, in KiB, from /proc.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Streams `sql` (1,000,000 rows whose first column counts from 1) and checks that
/// the process's RSS stays flat: the rows would take about 100 MB if held.
async fn assert_streams_in_bounded_memory(warehouse: &Warehouse, sql: &str) {
    assert_streams_rows_in_bounded_memory(warehouse, sql, 1_000_000).await;
}

/// [`assert_streams_in_bounded_memory`] for `expected` rows (a multiple of
/// 100,000), the RSS checked every 100,000 rows.
async fn assert_streams_rows_in_bounded_memory(warehouse: &Warehouse, sql: &str, expected: i64) {
    // RSS is the whole process's: two of these at once would count each
    // other's rows, so they take turns.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let before = rss_kib();
    let started = Instant::now();
    let mut rows = warehouse.stream("big", sql).await.unwrap();
    let (mut count, mut baseline, mut peak) = (0i64, 0u64, 0u64);
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        count += 1;
        if count % 100_000 == 0 {
            assert_eq!(row[0], Int(count));
            let rss = rss_kib();
            if count == 100_000 {
                baseline = rss;
            }
            peak = peak.max(rss);
        }
    }
    assert_eq!(count, expected);
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "streamed {count} rows in {:?}; RSS {before} KiB before, {baseline} KiB after 100k rows, \
         peak {peak} KiB: growth {growth} KiB",
        started.elapsed()
    );
    assert!(
        growth < 32 * 1024,
        "RSS grew by {growth} KiB while streaming"
    );
}
