//! The Snowflake adapter against fakesnow (Snowflake's connector protocol over
//! DuckDB). fakesnow accepts any user and password and answers a SELECT in one
//! piece (Arrow): chunks, key-pair login and refused credentials are tested
//! against the wire format in `wire.rs`. Each test works in its own database.

use std::time::Duration;

use backflow_core::secret::Secret;
use backflow_core::value::Value;
use backflow_warehouse::{Error, SnowflakeAuth, SnowflakeSource, Source, Warehouse};

use super::standin::{self, Kind};
use super::{col, collect, text, unique, K};
use Value::{Bool, Float, Int, Null, Text, Timestamp};

pub(crate) fn source(base_url: &str, database: &str) -> SnowflakeSource {
    SnowflakeSource {
        account: "backflow_test".into(),
        user: "backflow".into(),
        auth: SnowflakeAuth::Password(Secret::new("fakesnow-accepts-any")),
        role: Some("BACKFLOW_READER".into()),
        warehouse: Some("COMPUTE_WH".into()),
        database: Some(database.into()),
        schema: Some("MARTS".into()),
        base_url: Some(base_url.into()),
        query_timeout: Duration::from_secs(60),
    }
}

/// A session on a fresh database of the fakesnow stand-in, after `setup`.
async fn fakesnow(setup: &[&str]) -> Option<Warehouse> {
    let stand_in = standin::get(Kind::Fakesnow)?;
    let database = unique("sf").to_uppercase();
    let source = Source::Snowflake(source(&stand_in.base_url, &database));
    let warehouse = Warehouse::connect_named("snow", &source).await.unwrap();
    for statement in setup {
        let rows = warehouse.stream("setup", statement).await;
        collect(rows.unwrap_or_else(|e| panic!("{statement}: {e}"))).await;
    }
    Some(warehouse)
}

#[tokio::test]
async fn snowflake_values_and_kinds() {
    let Some(warehouse) = fakesnow(&[
        "CREATE TABLE t (id INT, n NUMBER(20, 4), big NUMBER(18, 0), f FLOAT, s VARCHAR, \
         b BOOLEAN, d DATE, ts TIMESTAMP_NTZ, tz TIMESTAMP_TZ, tm TIME, v VARIANT, \
         o OBJECT, a ARRAY, bin BINARY)",
        "INSERT INTO t SELECT 1, 12.5, 123456789012345678, 0.1, 'Héllo 🎉', TRUE, \
         '2024-01-02', '2024-01-02 03:04:05.678', '2024-01-02 03:04:05.678', '13:45:30.25', \
         PARSE_JSON('{\"a\": 1}'), OBJECT_CONSTRUCT('k', 2), ARRAY_CONSTRUCT(1, 2), \
         TO_BINARY('68656c6c6f', 'HEX')",
        "INSERT INTO t (id) VALUES (2)",
        "INSERT INTO t (id, n, ts, d) VALUES (3, -0.0001, '1969-12-31 23:59:59.5', '1969-12-31')",
    ])
    .await
    else {
        return;
    };
    let rows = warehouse
        .stream("types", "SELECT * FROM t ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows.columns,
        vec![
            col("ID", K::Int),
            col("N", K::Float),
            col("BIG", K::Int),
            col("F", K::Float),
            col("S", K::Text),
            col("B", K::Bool),
            col("D", K::Date),
            col("TS", K::Timestamp),
            col("TZ", K::Timestamp),
            col("TM", K::Text),
            col("V", K::Text),
            col("O", K::Text),
            // fakesnow describes an ARRAY as `variant` (DuckDB keeps it as
            // JSON), so it arrives as JSON text here; Snowflake's own `array`
            // rowtype becomes a list (the `snowflake::json` unit tests, on the
            // documented wire format).
            col("A", K::Text),
            col("BIN", K::Text),
        ]
    );
    let rows = collect(rows).await;
    assert_eq!(rows.len(), 3);
    let first = &rows[0];
    assert_eq!(first[0], Int(1));
    assert_eq!(first[1], Float(12.5));
    assert_eq!(first[2], Int(123_456_789_012_345_678));
    assert_eq!(first[3], Float(0.1));
    assert_eq!(first[4], text("Héllo 🎉"));
    assert_eq!(first[5], Bool(true));
    assert_eq!(first[6], Timestamp(1_704_153_600));
    assert_eq!(first[7], Timestamp(1_704_164_645));
    assert_eq!(first[8], Timestamp(1_704_164_645));
    assert_eq!(first[9], text("13:45:30.250000000"));
    let json = |v: &Value| match v {
        Text(t) => serde_json::from_str::<serde_json::Value>(t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(json(&first[10]), serde_json::json!({"a": 1}));
    assert_eq!(json(&first[11]), serde_json::json!({"k": 2}));
    assert_eq!(json(&first[12]), serde_json::json!([1, 2]));
    assert_eq!(first[13], text("hello"));
    // A row of NULLs: every type is Null — timestamps too, which fakesnow sends
    // as a valid struct whose children are null (the official connector reads
    // 1970-01-01 there).
    assert_eq!(rows[1][0], Int(2));
    assert!(rows[1][1..].iter().all(|v| *v == Null), "{:?}", rows[1]);
    // Before 1970: floored, not truncated toward zero.
    assert_eq!(rows[2][1], Float(-0.0001));
    assert_eq!(rows[2][7], Timestamp(-1));
    assert_eq!(rows[2][6], Timestamp(-86_400));
}

#[tokio::test]
async fn snowflake_empty_result_still_has_columns() {
    let Some(warehouse) =
        fakesnow(&["CREATE TABLE t (id INT, email VARCHAR, seen_at TIMESTAMP_NTZ)"]).await
    else {
        return;
    };
    let mut rows = warehouse
        .stream("empty", "SELECT id, email, seen_at FROM t WHERE id > 1")
        .await
        .unwrap();
    assert_eq!(
        rows.columns,
        vec![
            col("ID", K::Int),
            col("EMAIL", K::Text),
            col("SEEN_AT", K::Timestamp)
        ]
    );
    assert!(rows.next().await.is_none());
}

#[tokio::test]
async fn snowflake_errors_name_the_model_the_warehouse_and_the_engine_message() {
    let Some(warehouse) = fakesnow(&["CREATE TABLE t (id INT)"]).await else {
        return;
    };
    let cases = [
        ("SELECT * FROM no_such_table", "NO_SUCH_TABLE"),
        ("SELECT no_such_column FROM t", "NO_SUCH_COLUMN"),
        ("SELEC 1", "SELEC"),
    ];
    for (sql, engine) in cases {
        let err = warehouse.stream("users", sql).await.unwrap_err();
        assert!(matches!(err, Error::Query { .. }), "{err:?}");
        let message = err.to_string();
        for part in [
            "model `users`",
            "`snow` (Snowflake account backflow_test)",
            "query failed",
        ] {
            assert!(message.contains(part), "{part} missing in {message}");
        }
        assert!(
            message.to_uppercase().contains(engine),
            "{engine} missing in {message}"
        );
        assert!(!message.contains("fakesnow-accepts-any"), "{message}");
    }
}

#[tokio::test]
async fn snowflake_sorted_by_key_is_byte_order_of_the_normalized_key() {
    let Some(warehouse) = fakesnow(&[
        "CREATE TABLE t (n INT, email VARCHAR)",
        &format!("INSERT INTO t VALUES {}", super::sorted::SORT_ROWS),
    ])
    .await
    else {
        return;
    };
    // Unquoted names come back upper-cased: the sync's key column says `N`.
    super::sorted::check_sorted_by_key_of(&warehouse, "SELECT n, email FROM t", "N", "EMAIL").await;
}

/// Rows a stand-in streams in the memory test: `BACKFLOW_STANDIN_ROWS`, else
/// 200,000 (enough to see growth; 1,000,000 is the README's measurement).
pub(crate) fn standin_rows() -> i64 {
    std::env::var("BACKFLOW_STANDIN_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// fakesnow answers a query in one piece, so the whole result is in memory
/// once (real Snowflake chunks it: see `wire.rs`); what is checked here is that
/// decoding and reading it row by row does not grow memory further.
#[tokio::test]
async fn snowflake_streams_many_rows_in_bounded_memory() {
    let Some(warehouse) = fakesnow(&[]).await else {
        return;
    };
    let rows = standin_rows();
    let sql = format!(
        "SELECT SEQ4() + 1 AS id, 'user-' || (SEQ4() + 1) || '@example.com' AS email, \
         (SEQ4() + 1) * 0.5 AS score FROM TABLE(GENERATOR(ROWCOUNT => {rows})) ORDER BY id"
    );
    super::assert_streams_rows_in_bounded_memory(&warehouse, &sql, rows).await;
}
