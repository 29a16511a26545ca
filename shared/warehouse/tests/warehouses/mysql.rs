//! MySQL/MariaDB on loopback: values and kinds, errors that name the model
//! and hide the password.

use std::time::Duration;

use backflow_core::secret::Secret;
use backflow_core::value::{ColumnKind, Value};
use backflow_warehouse::{Error, Source, Warehouse};

use super::{
    assert_hides, assert_rows, col, collect, mysql_exec, mysql_url, text, unique, with_cleanup,
};
use ColumnKind as K;
use Value::{Bool, Float, Int, Null, Timestamp};

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
