//! The BigQuery adapter against crucible (BigQuery's REST API over DuckDB, no
//! auth). The service-account token exchange and a refused token are tested
//! against the wire format in `wire.rs`. Each test works in its own dataset.

use std::time::Duration;

use backflow_core::value::Value;
use backflow_warehouse::{BigquerySource, Error, Source, Warehouse};

use super::standin::{self, Kind};
use super::{col, collect, text, unique, K};
use Value::{Bool, Float, Int, Null, Text, Timestamp};

pub(crate) fn source(base_url: &str, page_rows: u32) -> BigquerySource {
    BigquerySource {
        project: "backflow-test".into(),
        location: Some("US".into()),
        credentials: None,
        base_url: Some(base_url.into()),
        query_timeout: Duration::from_secs(60),
        page_rows,
    }
}

/// A client of the crucible stand-in with a fresh dataset (its name), after
/// `setup` (`{ds}` in a statement is the dataset).
async fn crucible(page_rows: u32, setup: &[&str]) -> Option<(Warehouse, String)> {
    let stand_in = standin::get(Kind::Crucible)?;
    let dataset = unique("bq");
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/bigquery/v2/projects/backflow-test/datasets", stand_in.base_url))
        .json(&serde_json::json!({"datasetReference": {"projectId": "backflow-test", "datasetId": dataset}}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{:?}", created.text().await);
    let source = Source::Bigquery(source(&stand_in.base_url, page_rows));
    let warehouse = Warehouse::connect_named("bq", &source).await.unwrap();
    for statement in setup {
        let statement = statement.replace("{ds}", &dataset);
        let rows = warehouse.stream("setup", &statement).await;
        collect(rows.unwrap_or_else(|e| panic!("{statement}: {e}"))).await;
    }
    Some((warehouse, dataset))
}

#[tokio::test]
async fn bigquery_values_and_kinds() {
    let Some((warehouse, ds)) = crucible(100, &[
        "CREATE TABLE {ds}.t (id INT64, n NUMERIC, f FLOAT64, s STRING, b BOOL, d DATE, \
         dt DATETIME, ts TIMESTAMP, tm TIME, j JSON, st STRUCT<a INT64, b STRING>, \
         a ARRAY<INT64>, tags ARRAY<STRING>, by BYTES)",
        "INSERT INTO {ds}.t VALUES (1, NUMERIC '12.5', 0.1, 'Héllo 🎉', TRUE, DATE '2024-01-02', \
         DATETIME '2024-01-02 03:04:05.678', TIMESTAMP '2024-01-02 03:04:05.678+02:00', \
         TIME '13:45:30.25', JSON '{\"a\":1}', STRUCT(2 AS a, 'q' AS b), [1, 2], ['vip', 'beta'], \
         b'hello')",
        "INSERT INTO {ds}.t (id) VALUES (2)",
        "INSERT INTO {ds}.t (id, ts, d) VALUES (3, TIMESTAMP '1969-12-31 23:59:59.5+00:00', DATE '1969-12-31')",
    ])
    .await
    else {
        return;
    };
    let rows = warehouse
        .stream("types", &format!("SELECT * FROM {ds}.t ORDER BY id"))
        .await
        .unwrap();
    assert_eq!(
        rows.columns,
        vec![
            col("id", K::Int),
            col("n", K::Float),
            col("f", K::Float),
            col("s", K::Text),
            col("b", K::Bool),
            col("d", K::Date),
            col("dt", K::Timestamp),
            col("ts", K::Timestamp),
            col("tm", K::Text),
            col("j", K::Text),
            col("st", K::Text),
            col("a", K::List),
            col("tags", K::List),
            col("by", K::Text),
        ]
    );
    let rows = collect(rows).await;
    assert_eq!(rows.len(), 3);
    let first = &rows[0];
    assert_eq!(
        first[..9],
        [
            Int(1),
            Float(12.5),
            Float(0.1),
            text("Héllo 🎉"),
            Bool(true),
            Timestamp(1_704_153_600),
            Timestamp(1_704_164_645),
            Timestamp(1_704_157_445),
            text("13:45:30.250000"),
        ]
    );
    let json = |v: &Value| match v {
        Text(t) => serde_json::from_str::<serde_json::Value>(t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(json(&first[9]), serde_json::json!({"a": 1}));
    assert_eq!(json(&first[10]), serde_json::json!({"a": 2, "b": "q"}));
    assert_eq!(first[11], Value::List(vec![Int(1), Int(2)]));
    assert_eq!(first[12], Value::List(vec![text("vip"), text("beta")]));
    assert_eq!(first[13], text("hello"));
    // NULLs are Null; a NULL array is BigQuery's empty array.
    assert_eq!(rows[1][0], Int(2));
    for (i, value) in rows[1].iter().enumerate().skip(1) {
        match i {
            11 | 12 => assert_eq!(*value, Value::List(Vec::new()), "column {i}"),
            _ => assert_eq!(*value, Null, "column {i}"),
        }
    }
    assert_eq!(rows[2][7], Timestamp(-1));
    assert_eq!(rows[2][5], Timestamp(-86_400));
}

#[tokio::test]
async fn bigquery_pages_through_the_result_in_order() {
    let Some((warehouse, ds)) = crucible(2, &[
        "CREATE TABLE {ds}.t (id INT64, email STRING)",
        "INSERT INTO {ds}.t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e'), (6, 'f'), (7, 'g')",
    ])
    .await
    else {
        return;
    };
    let rows = collect(
        warehouse
            .stream("paged", &format!("SELECT id FROM {ds}.t ORDER BY id"))
            .await
            .unwrap(),
    )
    .await;
    let ids: Vec<Value> = rows.into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, (1..=7).map(Int).collect::<Vec<_>>());
}

#[tokio::test]
async fn bigquery_empty_result_still_has_columns() {
    let Some((warehouse, ds)) = crucible(
        100,
        &["CREATE TABLE {ds}.t (id INT64, email STRING, at TIMESTAMP)"],
    )
    .await
    else {
        return;
    };
    let mut rows = warehouse
        .stream("empty", &format!("SELECT id, email, at FROM {ds}.t"))
        .await
        .unwrap();
    assert_eq!(
        rows.columns,
        vec![
            col("id", K::Int),
            col("email", K::Text),
            col("at", K::Timestamp)
        ]
    );
    assert!(rows.next().await.is_none());
}

#[tokio::test]
async fn bigquery_errors_name_the_model_the_warehouse_and_the_engine_message() {
    let Some((warehouse, ds)) = crucible(100, &["CREATE TABLE {ds}.t (id INT64)"]).await else {
        return;
    };
    let cases = [
        (format!("SELECT * FROM {ds}.no_such_table"), "not found"),
        (
            format!("SELECT no_such_column FROM {ds}.t"),
            "no_such_column",
        ),
        ("SELEC 1".to_string(), "syntax error"),
    ];
    for (sql, engine) in cases {
        let err = warehouse.stream("users", &sql).await.unwrap_err();
        assert!(matches!(err, Error::Query { .. }), "{err:?}");
        let message = err.to_string();
        for part in [
            "model `users`",
            "`bq` (BigQuery project backflow-test)",
            "query failed",
        ] {
            assert!(message.contains(part), "{part} missing in {message}");
        }
        assert!(
            message.to_lowercase().contains(&engine.to_lowercase()),
            "{engine} missing in {message}"
        );
    }
}

#[tokio::test]
async fn bigquery_sorted_by_key_is_byte_order_of_the_normalized_key() {
    let Some((warehouse, ds)) = crucible(
        3,
        &[
            "CREATE TABLE {ds}.t (n INT64, email STRING)",
            &format!("INSERT INTO {{ds}}.t VALUES {}", super::sorted::SORT_ROWS),
        ],
    )
    .await
    else {
        return;
    };
    super::sorted::check_sorted_by_key_of(
        &warehouse,
        &format!("SELECT n, email FROM {ds}.t"),
        "n",
        "email",
    )
    .await;
}

/// Pages of 10,000 rows: memory holds one page, however many rows there are.
#[tokio::test]
async fn bigquery_streams_many_rows_in_bounded_memory() {
    let Some((warehouse, _)) = crucible(10_000, &[]).await else {
        return;
    };
    let rows = super::snowflake::standin_rows();
    let sql = format!(
        "SELECT id, CONCAT('user-', CAST(id AS STRING), '@example.com') AS email, id * 0.5 AS score \
         FROM UNNEST(GENERATE_ARRAY(1, {rows})) AS id ORDER BY id"
    );
    super::assert_streams_rows_in_bounded_memory(&warehouse, &sql, rows).await;
}
