//! `sorted_by_key` on every warehouse: rows in the byte order of the key as
//! backflow normalizes it.

use backflow_core::secret::Secret;
use backflow_core::value::Value;
use backflow_warehouse::{Source, Warehouse};

use super::{collect, mysql_exec, mysql_url, pg_exec, pg_url, sqlite_setup, unique, with_cleanup};
use Value::{Int, Text};

/// `extract` relies on `sorted_by_key` returning rows in the byte order of the key
/// as backflow normalizes it (e-mails lower-cased and trimmed), with equal keys
/// next to each other, on every warehouse.
pub(super) async fn check_sorted_by_key(warehouse: &Warehouse, table: &str) {
    let sql = format!("SELECT n, email FROM {table};");
    check_sorted_by_key_of(warehouse, &sql, "n", "email").await;
}

/// [`check_sorted_by_key`] for a model `sql` whose key columns are `n` and
/// `email` (Snowflake names them `N` and `EMAIL` unless quoted).
pub(super) async fn check_sorted_by_key_of(warehouse: &Warehouse, sql: &str, n: &str, email: &str) {
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

pub(super) const SORT_ROWS: &str = "(1, 'b@x.io'), (2, 'A@x.io'), (3, ' c@x.io '), (4, 'a@x.io'), \
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
