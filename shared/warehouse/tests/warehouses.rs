//! The warehouse adapter against real databases: SQLite (a temporary file),
//! PostgreSQL and MySQL/MariaDB on loopback.
//!
//! Server URLs come from `BACKFLOW_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `BACKFLOW_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`). Every test works in its own uniquely named
//! schema (PostgreSQL) or table (MySQL) and drops it at the end, even when an
//! assertion fails, so tests run in parallel and leave nothing behind.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backflow_core::secret::Secret;
use backflow_core::value::{Column, ColumnKind, Value};
use backflow_warehouse::{Error, RowStream, Source, Warehouse};
use futures::FutureExt;
use sqlx::{AssertSqlSafe, Connection};

use ColumnKind as K;

#[path = "cloud/aws.rs"]
mod aws;
#[path = "cloud/aws_protocol.rs"]
mod aws_protocol;
#[path = "cloud/bigquery.rs"]
mod bigquery;
#[path = "cloud/redshift_iam.rs"]
mod redshift_iam;
#[path = "cloud/snowflake.rs"]
mod snowflake;
#[path = "cloud/standin.rs"]
mod standin;
#[path = "cloud/wire.rs"]
mod wire;
use Value::{Bool, Float, Int, Null, Text, Timestamp};

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

// ---------------------------------------------------------------- SQLite

const SQLITE_TABLE: &str = "
    CREATE TABLE t (
        id INTEGER, flag BOOLEAN, n INTEGER, r REAL, label TEXT, name VARCHAR(40),
        bytes BLOB, day DATE, at DATETIME, stamp TIMESTAMP, amount NUMERIC, anything
    );
    INSERT INTO t VALUES
        (1, 1, -5, 0.1, 'Héllo wörld 🎉', 'ça va', CAST('plain text' AS BLOB),
         '2024-02-29', 1709214330, '2024-02-29T13:45:30+02:00', 12.5, 1),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (3, 0, 1099511627776, 1e-7, '', 'x', NULL,
         19782, '2024-02-29 13:45:30', 1709214330000, 'n/a', 'text'),
        (4, 1, -9223372036854775808, 1.5e20, 'tab	and
newline', NULL, NULL,
         NULL, NULL, NULL, NULL, 2.5);
";

#[tokio::test]
async fn sqlite_values_and_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, SQLITE_TABLE).await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();

    let rows = warehouse
        .stream("users", "SELECT *, id * 2 AS twice FROM t ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows.columns,
        vec![
            col("id", K::Int),
            col("flag", K::Bool),
            col("n", K::Int),
            col("r", K::Float),
            col("label", K::Text),
            col("name", K::Text),
            col("bytes", K::Unknown),
            col("day", K::Date),
            col("at", K::Timestamp),
            col("stamp", K::Timestamp),
            col("amount", K::Unknown),
            col("anything", K::Unknown),
            col("twice", K::Unknown),
        ]
    );
    assert_rows(
        &collect(rows).await,
        &[
            vec![
                Int(1),
                Int(1),
                Int(-5),
                Float(0.1),
                text("Héllo wörld 🎉"),
                text("ça va"),
                text("plain text"),
                // Dates stay as stored: the core coerces them.
                text("2024-02-29"),
                Int(1_709_214_330),
                text("2024-02-29T13:45:30+02:00"),
                Float(12.5),
                Int(1),
                Int(2),
            ],
            vec![
                Int(2),
                Null,
                Null,
                Null,
                Null,
                Null,
                Null,
                Null,
                Null,
                Null,
                Null,
                Null,
                Int(4),
            ],
            vec![
                Int(3),
                Int(0),
                Int(1_099_511_627_776),
                Float(1e-7),
                text(""),
                text("x"),
                Null,
                Int(19782),
                text("2024-02-29 13:45:30"),
                Int(1_709_214_330_000),
                text("n/a"),
                text("text"),
                Int(6),
            ],
            vec![
                Int(4),
                Int(1),
                Int(i64::MIN),
                Float(1.5e20),
                text("tab\tand\nnewline"),
                Null,
                Null,
                Null,
                Null,
                Null,
                Null,
                Float(2.5),
                Int(8),
            ],
        ],
    );
}

#[tokio::test]
async fn sqlite_empty_result_still_has_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, SQLITE_TABLE).await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();

    let full = warehouse
        .stream("users", "SELECT id, flag, day, at FROM t")
        .await
        .unwrap()
        .columns;
    let mut rows = warehouse
        .stream("users", "SELECT id, flag, day, at FROM t WHERE id > 100")
        .await
        .unwrap();
    assert_eq!(rows.columns, full);
    assert_eq!(
        rows.columns,
        vec![
            col("id", K::Int),
            col("flag", K::Bool),
            col("day", K::Date),
            col("at", K::Timestamp)
        ]
    );
    assert!(rows.next().await.is_none());
    assert!(rows.next().await.is_none());
}

#[tokio::test]
async fn sqlite_bad_sql_names_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, SQLITE_TABLE).await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();

    let err = warehouse
        .stream("signups", "SELEC id FROM t")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("model `signups`"), "{err}");
    assert!(err.to_string().contains("syntax error"), "{err}");

    let err = warehouse
        .stream("signups", "SELECT id FROM missing_table")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("model `signups`"), "{err}");
    assert!(err.to_string().contains("missing_table"), "{err}");
}

#[tokio::test]
async fn sqlite_is_opened_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, SQLITE_TABLE).await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path: path.clone() })
        .await
        .unwrap();

    let err = warehouse
        .stream("oops", "DELETE FROM t RETURNING id")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    let rows = warehouse
        .stream("count", "SELECT count(*) AS n FROM t")
        .await
        .unwrap();
    assert_eq!(collect(rows).await, vec![vec![Int(4)]]);
}

#[tokio::test]
async fn sqlite_missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join("warehouse.db");
    let err = Warehouse::connect(&Source::Sqlite { path: path.clone() })
        .await
        .unwrap_err();
    assert_eq!(err, Error::SqliteNotFound { path: path.clone() });
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists(), "connect must not create the file");
}

#[tokio::test]
async fn sqlite_binary_blob_error_names_model_column_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, SQLITE_TABLE).await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();

    let mut rows = warehouse
        .stream("avatars", "SELECT 1 AS id, x'ff00fe' AS picture")
        .await
        .unwrap();
    let err = rows.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    let message = err.to_string();
    for part in ["avatars", "picture", "BLOB"] {
        assert!(message.contains(part), "{part} missing in {message}");
    }
    assert!(rows.next().await.is_none(), "an error ends the stream");
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

/// SQLite's reader hands rows over in blocks through a bounded channel and
/// `RowStream` holds one block, so a million generated rows stream in flat memory.
#[tokio::test]
async fn sqlite_streams_a_million_rows_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, "CREATE TABLE unused (x INTEGER);").await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();
    assert_streams_in_bounded_memory(
        &warehouse,
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000000) \
         SELECT n AS id, 'user-' || n || '@example.com' AS email, n * 0.5 AS score FROM seq",
    )
    .await;
}

/// Rows come in order across the reader's blocks, and a cell that cannot be
/// read far into the result ends the stream after every row before it — never
/// a row lost or a quiet end.
#[tokio::test]
async fn sqlite_error_after_many_rows_comes_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, "CREATE TABLE unused (x INTEGER);").await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();
    let sql = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 3000) \
               SELECT n AS id, CASE WHEN n = 2500 THEN x'ff00' ELSE 'ok' END AS note FROM seq";
    let mut rows = warehouse.stream("notes", sql).await.unwrap();
    let mut read = 0i64;
    let err = loop {
        match rows.next().await {
            Some(Ok(row)) => {
                read += 1;
                assert_eq!(row[0], Int(read), "rows in order");
            }
            Some(Err(e)) => break e,
            None => panic!("the stream ended after {read} rows without the error"),
        }
    };
    assert_eq!(read, 2499, "every row before the bad cell");
    assert!(err.to_string().contains("note"), "{err}");
    assert!(rows.next().await.is_none(), "an error ends the stream");
}

/// A stream dropped early (a failed run) stops its statement: SQLite's reader is
/// interrupted instead of reading on, so closing the warehouse (which waits for
/// its readers) returns at once.
#[test]
fn sqlite_dropped_stream_stops_reading() {
    // A runtime of its own, left without waiting for its blocking threads: were
    // a reader not interrupted, the test fails instead of waiting on it forever.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(dropped_stream_stops_reading());
    runtime.shutdown_background();
    outcome.expect("a dropped stream's reader is still running");
}

async fn dropped_stream_stops_reading() -> Result<(), tokio::time::error::Elapsed> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    sqlite_setup(&path, "CREATE TABLE unused (x INTEGER);").await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();
    // Billions of rows, sorted: only an interrupt ends these within the test.
    let endless =
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 4000000000) \
                   SELECT n AS id FROM seq";
    let mut reading = warehouse.stream("endless", endless).await.unwrap();
    assert_eq!(reading.next().await.unwrap().unwrap()[0], Int(1));
    drop(reading);
    let sorting = format!("SELECT * FROM ({endless}) ORDER BY id DESC");
    let started = warehouse.stream("sorting", &sorting);
    // The sort needs every row before the first: the stream is dropped while
    // SQLite is still inside it.
    assert!(tokio::time::timeout(Duration::from_millis(300), started)
        .await
        .is_err());
    tokio::time::timeout(Duration::from_secs(20), warehouse.close()).await
}

// ---------------------------------------------------------------- PostgreSQL

#[tokio::test]
async fn postgres_values_and_kinds() {
    let schema = unique("pg");
    let setup = format!(
        r#"
        CREATE SCHEMA {schema};
        CREATE TYPE {schema}.mood AS ENUM ('sad', 'happy');
        CREATE TABLE {schema}.t (
            id int4, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
            n numeric, n_big numeric(40, 5), t text, vc varchar(20), bp char(5), nm name,
            u uuid, d date, ts timestamp, tstz timestamptz, j json, jb jsonb,
            e {schema}.mood, tm time
        );
        INSERT INTO {schema}.t VALUES
            (1, true, 32767, 2147483647, 3000000000, 0.1, 0.1,
             0.1, 123456789012345678901234567890.12345, 'Héllo wörld 🎉', 'ça va', 'ab', 'pg_name',
             'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2024-02-29', '2024-02-29 13:45:30.75',
             '2024-02-29 13:45:30+02:00', '{{"b": 1, "a": [1, 2]}}', '{{"b": 1, "a": [1, 2]}}',
             'happy', '13:45:30'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, false, -32768, -2147483648, -9007199254740993, 1e-7, 1e-7,
             -0.000001, -0.5, '', 'x', '', 'n',
             '00000000-0000-0000-0000-000000000000', '1900-01-01', '1969-12-31 23:59:59.5',
             '1969-12-31 23:59:59.5+00', '[]', 'null', 'sad', '00:00:00.25'),
            (4, true, 0, 0, 9223372036854775807, 3.4e38, 1.5e300,
             'NaN', 1e20, 'line1
line2', NULL, NULL, NULL,
             NULL, 'infinity', '-infinity', '2038-01-19 03:14:08Z', '"s"', '{{}}', NULL, NULL);
        "#
    );
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let body = async {
        pg_exec(&setup).await;
        // Timestamps are read in PostgreSQL's binary format (UTC microseconds), so
        // the session's time zone plays no part (sqlx sets it to UTC anyway).
        let warehouse = Warehouse::connect(&Source::Postgres {
            url: Secret::new(pg_url()),
        })
        .await
        .unwrap();
        let rows = warehouse
            .stream("users", &format!("SELECT * FROM {schema}.t ORDER BY id"))
            .await
            .unwrap();
        assert_eq!(
            rows.columns,
            vec![
                col("id", K::Int),
                col("b", K::Bool),
                col("i2", K::Int),
                col("i4", K::Int),
                col("i8", K::Int),
                col("f4", K::Float),
                col("f8", K::Float),
                col("n", K::Float),
                col("n_big", K::Float),
                col("t", K::Text),
                col("vc", K::Text),
                col("bp", K::Text),
                col("nm", K::Text),
                col("u", K::Text),
                col("d", K::Date),
                col("ts", K::Timestamp),
                col("tstz", K::Timestamp),
                col("j", K::Text),
                col("jb", K::Text),
                col("e", K::Text),
                col("tm", K::Text),
            ]
        );
        let rows = collect(rows).await;
        assert_rows(
            &rows,
            &[
                vec![
                    Int(1),
                    Bool(true),
                    Int(32767),
                    Int(2_147_483_647),
                    Int(3_000_000_000),
                    Float(0.1),
                    Float(0.1),
                    Float(0.1),
                    text("123456789012345678901234567890.12345"),
                    text("Héllo wörld 🎉"),
                    text("ça va"),
                    text("ab   "),
                    text("pg_name"),
                    text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                    Timestamp(1_709_164_800),
                    Timestamp(1_709_214_330),
                    Timestamp(1_709_207_130),
                    text(r#"{"b": 1, "a": [1, 2]}"#),
                    text(r#"{"a": [1, 2], "b": 1}"#),
                    text("happy"),
                    text("13:45:30"),
                ],
                std::iter::once(Int(2))
                    .chain(std::iter::repeat_n(Null, 20))
                    .collect(),
                vec![
                    Int(3),
                    Bool(false),
                    Int(-32768),
                    Int(-2_147_483_648),
                    Int(-9_007_199_254_740_993),
                    Float(1e-7),
                    Float(1e-7),
                    Float(-0.000001),
                    Float(-0.5),
                    text(""),
                    text("x"),
                    text("     "),
                    text("n"),
                    text("00000000-0000-0000-0000-000000000000"),
                    Timestamp(-2_208_988_800),
                    Timestamp(-1),
                    Timestamp(-1),
                    text("[]"),
                    text("null"),
                    text("sad"),
                    text("00:00:00.250000"),
                ],
                vec![
                    Int(4),
                    Bool(true),
                    Int(0),
                    Int(0),
                    Int(i64::MAX),
                    Float(3.4e38),
                    Float(1.5e300),
                    text("NaN"),
                    Float(1e20),
                    text("line1\nline2"),
                    Null,
                    Null,
                    Null,
                    Null,
                    Null,
                    Null,
                    Timestamp(2_147_483_648),
                    text(r#""s""#),
                    text("{}"),
                    Null,
                    Null,
                ],
            ],
        );
        warehouse.close().await;
    };
    with_cleanup(body, pg_exec(&drop)).await;
}

/// PostgreSQL sends every row at once; sqlx reads them off the socket as they are
/// polled, and TCP back-pressure keeps the rest on the server.
#[tokio::test]
async fn postgres_streams_a_million_rows_in_bounded_memory() {
    let warehouse = Warehouse::connect(&Source::Postgres {
        url: Secret::new(pg_url()),
    })
    .await
    .unwrap();
    assert_streams_in_bounded_memory(
        &warehouse,
        "SELECT n AS id, 'user-' || n || '@example.com' AS email, n * 0.5 AS score \
         FROM generate_series(1::int8, 1000000) AS n",
    )
    .await;
}

#[tokio::test]
async fn postgres_empty_result_still_has_columns() {
    let schema = unique("pg_empty");
    let setup = format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.t (id int8, active bool, ltv numeric(10, 2), email varchar(100),
                                  signed_up date, seen timestamptz, meta jsonb);"
    );
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let body = async {
        pg_exec(&setup).await;
        let warehouse = Warehouse::connect(&Source::Postgres {
            url: Secret::new(pg_url()),
        })
        .await
        .unwrap();
        let mut rows = warehouse
            .stream(
                "users",
                &format!("SELECT *, 1.5::float8 AS score FROM {schema}.t"),
            )
            .await
            .unwrap();
        assert_eq!(
            rows.columns,
            vec![
                col("id", K::Int),
                col("active", K::Bool),
                col("ltv", K::Float),
                col("email", K::Text),
                col("signed_up", K::Date),
                col("seen", K::Timestamp),
                col("meta", K::Text),
                col("score", K::Float),
            ]
        );
        assert!(rows.next().await.is_none());
    };
    with_cleanup(body, pg_exec(&drop)).await;
}

#[tokio::test]
async fn postgres_errors_name_the_model_column_and_type() {
    let warehouse = Warehouse::connect(&Source::Postgres {
        url: Secret::new(pg_url()),
    })
    .await
    .unwrap();

    let err = warehouse.stream("companies", "SELEC 1").await.unwrap_err();
    assert!(matches!(err, Error::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("model `companies`"), "{err}");
    assert!(err.to_string().contains("syntax error"), "{err}");

    let err = warehouse
        .stream("companies", "SELECT * FROM bf_no_such_table")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bf_no_such_table"), "{err}");

    let mut rows = warehouse
        .stream(
            "companies",
            "SELECT 1 AS id, interval '1 day' AS trial_length",
        )
        .await
        .unwrap();
    assert_eq!(rows.columns[1], col("trial_length", K::Unknown));
    let err = rows.next().await.unwrap().unwrap_err();
    let message = err.to_string();
    for part in ["companies", "trial_length", "INTERVAL", "::text"] {
        assert!(message.contains(part), "{part} missing in {message}");
    }

    // Unknown but textual: the value comes through as text.
    let rows = warehouse
        .stream(
            "companies",
            "SELECT 'x'::\"char\" AS c, NULL::interval AS nothing",
        )
        .await
        .unwrap();
    assert_eq!(collect(rows).await, vec![vec![text("x"), Null]]);
}

#[tokio::test]
async fn postgres_connection_error_hides_the_password() {
    let password = "Sup3r-S3cret!";
    let url = "postgres://backflow:Sup3r-S3cret%21@127.0.0.1:1/test";
    let started = Instant::now();
    let err = Warehouse::connect_with_timeout(
        &Source::Postgres {
            url: Secret::new(url),
        },
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.contains("refused"), "{message}");
    assert_hides(&err, &[password, "Sup3r-S3cret%21"]);
}

// ---------------------------------------------------------------- MySQL / MariaDB

#[tokio::test]
async fn mysql_values_and_kinds() {
    let table = unique("my");
    let create = format!(
        "CREATE TABLE {table} (
            id INT, b BOOLEAN, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT,
            i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, f FLOAT, d DOUBLE,
            de DECIMAL(10, 2), de_big DECIMAL(40, 5), vc VARCHAR(50), tx TEXT, ch CHAR(5),
            en ENUM('small', 'large'), dt DATE, dtm DATETIME(6), ts TIMESTAMP NULL DEFAULT NULL,
            j JSON, tm TIME, y YEAR
        ) CHARACTER SET utf8mb4"
    );
    let insert = format!(
        r#"INSERT INTO {table} VALUES
            (1, true, -128, 255, -32768, -8388608, -2147483648, 4294967295, 3000000000,
             18446744073709551615, 0.1, 0.1, 12.50, 123456789012345678901234567890.12345,
             'Héllo wörld 🎉', 'ça va', 'ab', 'large', '2024-02-29', '2024-02-29 13:45:30.750000',
             '2024-02-29 13:45:30', '{{"b": 1, "a": [1, 2]}}', '-838:59:59', 2024),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, false, 127, 0, 32767, 8388607, 2147483647, 0, -9007199254740993,
             3000000000, -1e-7, 1e-7, -0.01, -0.5, '', 'line1
line2', '', 'small', '0000-00-00', '1969-12-31 23:59:59', '2038-01-19 05:14:07',
             '[]', '00:00:00', 1901),
            (4, true, 0, 0, 0, 0, 0, 0, 9223372036854775807, 9223372036854775808, 3.4e38, 1.5e300,
             0, 0, NULL, NULL, NULL, NULL, '1900-01-01', '2038-01-19 03:14:08', NULL,
             NULL, '12:34:56', NULL)"#
    );
    let drop = format!("DROP TABLE IF EXISTS {table}");
    let body = async {
        mysql_exec(&[
            &create,
            // The TIMESTAMP literals are in UTC+2; the zero date needs a lax mode.
            "SET time_zone = '+02:00'",
            "SET sql_mode = ''",
            &insert,
        ])
        .await;
        let warehouse = Warehouse::connect(&Source::Mysql {
            url: Secret::new(mysql_url()),
        })
        .await
        .unwrap();
        let rows = warehouse
            .stream("users", &format!("SELECT * FROM {table} ORDER BY id"))
            .await
            .unwrap();
        assert_eq!(
            rows.columns,
            vec![
                col("id", K::Int),
                col("b", K::Bool),
                col("ti", K::Int),
                col("tiu", K::Int),
                col("si", K::Int),
                col("mi", K::Int),
                col("i", K::Int),
                col("iu", K::Int),
                col("bi", K::Int),
                col("biu", K::Int),
                col("f", K::Float),
                col("d", K::Float),
                col("de", K::Float),
                col("de_big", K::Float),
                col("vc", K::Text),
                col("tx", K::Text),
                col("ch", K::Text),
                col("en", K::Text),
                col("dt", K::Date),
                col("dtm", K::Timestamp),
                col("ts", K::Timestamp),
                col("j", K::Text),
                col("tm", K::Text),
                col("y", K::Int),
            ]
        );
        let rows = collect(rows).await;
        assert_rows(
            &rows,
            &[
                vec![
                    Int(1),
                    Bool(true),
                    Int(-128),
                    Int(255),
                    Int(-32768),
                    Int(-8_388_608),
                    Int(-2_147_483_648),
                    Int(4_294_967_295),
                    Int(3_000_000_000),
                    text("18446744073709551615"),
                    Float(0.1),
                    Float(0.1),
                    Float(12.5),
                    text("123456789012345678901234567890.12345"),
                    text("Héllo wörld 🎉"),
                    text("ça va"),
                    text("ab"),
                    text("large"),
                    Timestamp(1_709_164_800),
                    Timestamp(1_709_214_330),
                    Timestamp(1_709_207_130),
                    text(r#"{"b": 1, "a": [1, 2]}"#),
                    text("-838:59:59"),
                    Int(2024),
                ],
                std::iter::once(Int(2))
                    .chain(std::iter::repeat_n(Null, 23))
                    .collect(),
                vec![
                    Int(3),
                    Bool(false),
                    Int(127),
                    Int(0),
                    Int(32767),
                    Int(8_388_607),
                    Int(2_147_483_647),
                    Int(0),
                    Int(-9_007_199_254_740_993),
                    Int(3_000_000_000),
                    Float(-1e-7),
                    Float(1e-7),
                    Float(-0.01),
                    Float(-0.5),
                    text(""),
                    text("line1\nline2"),
                    text(""),
                    text("small"),
                    Null,
                    Timestamp(-1),
                    Timestamp(2_147_483_647),
                    text("[]"),
                    text("00:00:00"),
                    Int(1901),
                ],
                vec![
                    Int(4),
                    Bool(true),
                    Int(0),
                    Int(0),
                    Int(0),
                    Int(0),
                    Int(0),
                    Int(0),
                    Int(i64::MAX),
                    text("9223372036854775808"),
                    Float(3.4e38),
                    Float(1.5e300),
                    Float(0.0),
                    Float(0.0),
                    Null,
                    Null,
                    Null,
                    Null,
                    Timestamp(-2_208_988_800),
                    Timestamp(2_147_483_648),
                    Null,
                    Null,
                    text("12:34:56"),
                    Null,
                ],
            ],
        );
        warehouse.close().await;
    };
    with_cleanup(body, mysql_exec(&[&drop])).await;
}

#[tokio::test]
async fn mysql_empty_result_still_has_columns() {
    let table = unique("my_empty");
    let create = format!(
        "CREATE TABLE {table} (id BIGINT UNSIGNED, active BOOLEAN, ltv DECIMAL(10, 2),
                               email VARCHAR(100), signed_up DATE, seen TIMESTAMP NULL,
                               score DOUBLE) CHARACTER SET utf8mb4"
    );
    let drop = format!("DROP TABLE IF EXISTS {table}");
    let body = async {
        mysql_exec(&[&create]).await;
        let warehouse = Warehouse::connect(&Source::Mysql {
            url: Secret::new(mysql_url()),
        })
        .await
        .unwrap();
        let mut rows = warehouse
            .stream("users", &format!("SELECT * FROM {table}"))
            .await
            .unwrap();
        assert_eq!(
            rows.columns,
            vec![
                col("id", K::Int),
                col("active", K::Bool),
                col("ltv", K::Float),
                col("email", K::Text),
                col("signed_up", K::Date),
                col("seen", K::Timestamp),
                col("score", K::Float),
            ]
        );
        assert!(rows.next().await.is_none());
    };
    with_cleanup(body, mysql_exec(&[&drop])).await;
}

#[tokio::test]
async fn mysql_errors_name_the_model() {
    let warehouse = Warehouse::connect(&Source::Mysql {
        url: Secret::new(mysql_url()),
    })
    .await
    .unwrap();
    let err = warehouse.stream("companies", "SELEC 1").await.unwrap_err();
    assert!(matches!(err, Error::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("model `companies`"), "{err}");
    assert!(err.to_string().contains("SQL syntax"), "{err}");

    let err = warehouse
        .stream("companies", "SELECT * FROM bf_no_such_table")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bf_no_such_table"), "{err}");
}

#[tokio::test]
async fn mysql_connection_errors_hide_the_password() {
    let password = "Wr0ng-Pa55word";

    // Nothing listens on port 1.
    let err = Warehouse::connect_with_timeout(
        &Source::Mysql {
            url: Secret::new(format!("mysql://root:{password}@127.0.0.1:1/test")),
        },
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert_hides(&err, &[password]);

    // The server is there, the password is wrong.
    let wrong = mysql_url().replacen("://root@", &format!("://root:{password}@"), 1);
    if wrong != mysql_url() {
        let err = Warehouse::connect(&Source::Mysql {
            url: Secret::new(wrong),
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains("Access denied"), "{err}");
        assert_hides(&err, &[password]);
    }
}

// ---------------------------------------------------------------- sorted by key

/// `extract` relies on `sorted_by_key` returning rows in the byte order of the key
/// as backflow normalizes it (e-mails lower-cased and trimmed), with equal keys
/// next to each other, on every warehouse.
async fn check_sorted_by_key(warehouse: &Warehouse, table: &str) {
    let sql = format!("SELECT n, email FROM {table};");
    check_sorted_by_key_of(warehouse, &sql, "n", "email").await;
}

/// [`check_sorted_by_key`] for a model `sql` whose key columns are `n` and
/// `email` (Snowflake names them `N` and `EMAIL` unless quoted).
async fn check_sorted_by_key_of(warehouse: &Warehouse, sql: &str, n: &str, email: &str) {
    let normalized = |v: &Value| match v {
        Text(s) => s.trim().to_lowercase(),
        Int(i) => i.to_string(),
        other => panic!("unexpected key {other:?}"),
    };
    let rows = collect(
        warehouse
            .stream("users", &warehouse.sorted_by_key(sql, email, true))
            .await
            .unwrap(),
    )
    .await;
    let emails: Vec<String> = rows.iter().map(|r| normalized(&r[1])).collect();
    assert_eq!(
        emails,
        ["10@x.io", "9@x.io", "_u@x.io", "a@x.io", "a@x.io", "b@x.io", "c@x.io", "z@x.io"],
        "e-mail order"
    );
    let rows = collect(
        warehouse
            .stream("users", &warehouse.sorted_by_key(sql, n, false))
            .await
            .unwrap(),
    )
    .await;
    let ns: Vec<String> = rows.iter().map(|r| normalized(&r[0])).collect();
    assert_eq!(
        ns,
        ["1", "10", "100", "2", "3", "30", "4", "5"],
        "integer keys sort as text"
    );
}

const SORT_ROWS: &str = "(1, 'b@x.io'), (2, 'A@x.io'), (3, ' c@x.io '), (4, 'a@x.io'), \
                         (5, 'Z@x.io'), (10, '10@x.io'), (30, '9@x.io'), (100, '_u@x.io')";

#[tokio::test]
async fn sqlite_sorted_by_key_is_byte_order_of_the_normalized_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    sqlite_setup(
        &path,
        &format!("CREATE TABLE t (n INTEGER, email TEXT); INSERT INTO t VALUES {SORT_ROWS};"),
    )
    .await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();
    check_sorted_by_key(&warehouse, "t").await;
}

#[tokio::test]
async fn postgres_sorted_by_key_is_byte_order_of_the_normalized_key() {
    let table = unique("pg_sorted");
    let body = async {
        pg_exec(&format!(
            "CREATE TABLE {table} (n INTEGER, email TEXT); INSERT INTO {table} VALUES {SORT_ROWS};"
        ))
        .await;
        let warehouse = Warehouse::connect(&Source::Postgres {
            url: Secret::new(pg_url()),
        })
        .await
        .unwrap();
        check_sorted_by_key(&warehouse, &table).await;
    };
    with_cleanup(body, pg_exec(&format!("DROP TABLE IF EXISTS {table}"))).await;
}

#[tokio::test]
async fn mysql_sorted_by_key_is_byte_order_of_the_normalized_key() {
    let table = unique("my_sorted");
    let create =
        format!("CREATE TABLE {table} (n INTEGER, email VARCHAR(100)) CHARACTER SET utf8mb4");
    let insert = format!("INSERT INTO {table} VALUES {SORT_ROWS}");
    let drop = format!("DROP TABLE IF EXISTS {table}");
    let body = async {
        mysql_exec(&[&create, &insert]).await;
        let warehouse = Warehouse::connect(&Source::Mysql {
            url: Secret::new(mysql_url()),
        })
        .await
        .unwrap();
        check_sorted_by_key(&warehouse, &table).await;
    };
    with_cleanup(body, mysql_exec(&[&drop])).await;
}

// ------------------------------------------ dates kept as text, arrays as lists

/// Every date-named column of the `dated` model to a custom attribute that does
/// not exist yet, and `tags` to one more.
const DATED_SYNC: &str = "warehouse: { type: sqlite, path: w.db }
destinations:
  ic: { type: intercom, access_token: { secret: s, key: k } }
models:
  dated: { sql: select 1 }
syncs:
  s:
    model: dated
    destination: ic
    object: user
    behavior: update_or_create
    key: { column: id, field: external_id }
    fields:
      custom_attributes.trial_ends_at: trial_ends_at
      custom_attributes.renewal_date: renewal_date
      custom_attributes.seen_at: seen_at
      custom_attributes.note_at: note_at
      custom_attributes.trial: { column: trial_text, type: date }
      custom_attributes.tags: tags
";

/// 2026-01-01T12:00:00Z and midnight of that day.
const NOON: i64 = 1_767_268_800;
const MIDNIGHT: i64 = 1_767_225_600;

/// What every warehouse's `dated` model must become through the mapping: text
/// `…_at`/`…_date` columns holding timestamps are `date` attributes sent as Unix
/// seconds, a date-named column whose first value is no timestamp stays a
/// string, the long form's `date` is a date, and a later value that is no
/// timestamp makes its row invalid, naming the column. Rows: (1, the dates, tags);
/// (2, 'never' where a date was settled).
async fn assert_dated_model(warehouse: &Warehouse, sql: &str, tags: serde_json::Value) {
    use backflow_core::mapping::Mapper;
    use backflow_core::value::DataType;

    let config = backflow_core::config::parse(DATED_SYNC, "dated.yaml", &|_| None).unwrap();
    let rows = warehouse.stream("dated", sql).await.unwrap();
    let mut mapper = Mapper::new("s", &config.syncs["s"], &rows.columns).unwrap();
    let rows = collect(rows).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let mapped = mapper.map(1, &rows[0]).unwrap();
    assert_eq!(
        mapped.body["custom_attributes"],
        serde_json::json!({
            "trial_ends_at": NOON,
            "renewal_date": MIDNIGHT,
            "seen_at": NOON,
            "note_at": "soon",
            "trial": NOON,
            "tags": tags,
        })
    );
    let types: Vec<(String, DataType)> = mapper
        .attributes()
        .into_iter()
        .map(|a| (a.name, a.data_type))
        .collect();
    let expected = [
        ("note_at", DataType::String),
        ("renewal_date", DataType::Date),
        ("seen_at", DataType::Date),
        ("tags", DataType::String),
        ("trial", DataType::Date),
        ("trial_ends_at", DataType::Date),
    ];
    assert_eq!(
        types,
        expected
            .iter()
            .map(|(n, t)| (n.to_string(), *t))
            .collect::<Vec<_>>()
    );
    let invalid = mapper.map(2, &rows[1]).unwrap_err();
    assert_eq!(invalid.key.as_deref(), Some("2"));
    let reasons: Vec<&str> = invalid
        .reasons
        .iter()
        .map(|r| r.split(" (expected").next().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "field `custom_attributes.trial` (column `trial_text`): 'never' is not a timestamp",
            "field `custom_attributes.trial_ends_at` (column `trial_ends_at`): 'never' is not a timestamp",
        ]
    );
}

#[tokio::test]
async fn sqlite_text_dates_become_date_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    // SQLite keeps dates as text (or numbers), declared or not; its JSON arrays
    // are text too.
    sqlite_setup(
        &path,
        "CREATE TABLE u (id TEXT, trial_ends_at TEXT, renewal_date, seen_at INTEGER,
                         note_at TEXT, trial_text VARCHAR(30), tags TEXT);
         INSERT INTO u VALUES
           ('1', '2026-01-01 12:00:00', '2026-01-01', 1767268800000, 'soon',
            '2026-01-01T12:00:00Z', '[\"vip\",\"beta\"]'),
           ('2', 'never', NULL, 1767268800, 'later', 'never', NULL);",
    )
    .await;
    let warehouse = Warehouse::connect(&Source::Sqlite { path }).await.unwrap();
    assert_dated_model(
        &warehouse,
        "SELECT * FROM u ORDER BY id",
        serde_json::json!(r#"["vip","beta"]"#),
    )
    .await;
    // Through an expression the columns have no declared type at all.
    assert_dated_model(
        &warehouse,
        "SELECT id, trial_ends_at || '' AS trial_ends_at, renewal_date, seen_at + 0 AS seen_at,
                note_at, trial_text, tags FROM u ORDER BY id",
        serde_json::json!(r#"["vip","beta"]"#),
    )
    .await;
}

#[tokio::test]
async fn postgres_text_dates_and_arrays() {
    let schema = unique("pgd");
    let setup = format!(
        r#"
        CREATE SCHEMA {schema};
        CREATE TABLE {schema}.u (id text, trial_ends_at text, renewal_date varchar(10),
            seen_at int8, note_at text, trial_text text, tags text);
        INSERT INTO {schema}.u VALUES
            ('1', '2026-01-01 12:00:00', '2026-01-01', 1767268800000, 'soon',
             '2026-01-01 13:00:00+01', 'vip,beta'),
            ('2', 'never', NULL, 1767268800, 'later', 'never', NULL);
        "#
    );
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let body = async {
        pg_exec(&setup).await;
        let warehouse = Warehouse::connect(&Source::Postgres {
            url: Secret::new(pg_url()),
        })
        .await
        .unwrap();
        assert_dated_model(
            &warehouse,
            &format!("SELECT * FROM {schema}.u ORDER BY id"),
            serde_json::json!("vip,beta"),
        )
        .await;

        // Arrays are lists, each element read as its type; NULL elements stay.
        let rows = warehouse
            .stream(
                "arrays",
                "SELECT string_to_array('vip,beta', ',') AS tags,
                        '{{1,2},{3,NULL}}'::int4[] AS grid,
                        ARRAY['2024-02-29 13:45:30+02'::timestamptz, NULL] AS times,
                        ARRAY[0.5::numeric, 2] AS amounts,
                        '{}'::text[] AS empty,
                        NULL::int8[] AS nothing",
            )
            .await
            .unwrap();
        assert_eq!(
            rows.columns,
            ["tags", "grid", "times", "amounts", "empty", "nothing"]
                .iter()
                .map(|name| col(name, K::List))
                .collect::<Vec<_>>()
        );
        let list = Value::List;
        assert_rows(
            &collect(rows).await,
            &[vec![
                list(vec![text("vip"), text("beta")]),
                list(vec![list(vec![Int(1), Int(2)]), list(vec![Int(3), Null])]),
                list(vec![Timestamp(1_709_207_130), Null]),
                list(vec![Float(0.5), Float(2.0)]),
                list(vec![]),
                Null,
            ]],
        );

        // A list mapped to a custom attribute: that row is invalid, naming the
        // column; Intercom's data attributes hold no lists.
        let config = backflow_core::config::parse(DATED_SYNC, "dated.yaml", &|_| None).unwrap();
        let rows = warehouse
            .stream(
                "dated",
                "SELECT '1' AS id, NULL AS trial_ends_at, NULL AS renewal_date,
                        NULL AS seen_at, NULL AS note_at, NULL AS trial_text,
                        ARRAY['vip', 'beta'] AS tags",
            )
            .await
            .unwrap();
        let mut mapper =
            backflow_core::mapping::Mapper::new("s", &config.syncs["s"], &rows.columns).unwrap();
        let rows = collect(rows).await;
        let invalid = mapper.map(1, &rows[0]).unwrap_err();
        assert_eq!(
            invalid.reasons,
            vec![
                "field `custom_attributes.tags` (column `tags`): the list ['vip', 'beta'] \
                 cannot be a custom attribute: Intercom's custom attributes hold no lists \
                 (join it into text in the model's SQL)"
            ]
        );
    };
    with_cleanup(body, pg_exec(&drop)).await;
}

#[tokio::test]
async fn mysql_text_dates_become_date_attributes() {
    let table = unique("myd");
    let create = format!(
        "CREATE TABLE {table} (id VARCHAR(5), trial_ends_at VARCHAR(30), renewal_date TEXT,
            seen_at BIGINT, note_at VARCHAR(10), trial_text VARCHAR(30), tags JSON)"
    );
    let insert = format!(
        r#"INSERT INTO {table} VALUES
            ('1', '2026-01-01 12:00:00', '2026-01-01', 1767268800000, 'soon',
             '2026-01-01T12:00:00.250Z', '["vip", "beta"]'),
            ('2', 'never', NULL, 1767268800, 'later', 'never', NULL)"#
    );
    let drop = format!("DROP TABLE IF EXISTS {table}");
    let body = async {
        mysql_exec(&[&create, &insert]).await;
        let warehouse = Warehouse::connect(&Source::Mysql {
            url: Secret::new(mysql_url()),
        })
        .await
        .unwrap();
        // MySQL has no array type: a JSON array is its text, sent as a string.
        assert_dated_model(
            &warehouse,
            &format!("SELECT * FROM {table} ORDER BY id"),
            serde_json::json!(r#"["vip", "beta"]"#),
        )
        .await;
    };
    with_cleanup(body, mysql_exec(&[&drop])).await;
}
