//! PostgreSQL on loopback: values and kinds, streaming in bounded memory,
//! errors that name the model, column and type, and hide the password.

use std::time::{Duration, Instant};

use backflow_core::secret::Secret;
use backflow_core::value::{ColumnKind, Value};
use backflow_warehouse::{Error, Source, Warehouse};

use super::{
    assert_hides, assert_rows, assert_streams_in_bounded_memory, col, collect, pg_exec, pg_url,
    text, unique, with_cleanup,
};
use ColumnKind as K;
use Value::{Bool, Float, Int, Null, Timestamp};

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
