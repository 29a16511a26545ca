//! SQLite (a temporary file): values and kinds, errors that name the
//! model, read-only opening, streaming in bounded memory, a dropped stream.

use std::time::Duration;

use backflow_core::value::{ColumnKind, Value};
use backflow_warehouse::{Error, Source, Warehouse};

use super::{assert_rows, assert_streams_in_bounded_memory, col, collect, sqlite_setup, text};
use ColumnKind as K;
use Value::{Float, Int, Null};

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
