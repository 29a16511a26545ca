//! SQLite cells → values. SQLite is dynamically typed: a column declared `DATE`
//! may hold text in one row and an integer in the next, and an expression has no
//! declared type at all. So each cell is decoded by its own storage class, and the
//! declared type only sets the column's kind (see `kind`).

use backflow_core::value::{Column, Value};
use sqlx::sqlite::{SqliteRow, SqliteValueRef};
use sqlx::{Column as _, Decode, Executor, Row, SqlSafeStr, Sqlite, SqlitePool, Statement};
use sqlx::{TypeInfo, ValueRef};

use crate::kind::sqlite_kind;
use crate::{column, decode_error, Error, Rows};

/// Starts the query; the columns come from the first row, or from the prepared
/// statement when there is none (both carry the declared types).
pub(crate) async fn open<'a>(
    pool: &'a SqlitePool,
    sql: &str,
) -> Result<(Vec<Column>, Rows<'a, SqliteRow>), sqlx::Error> {
    let rows = Rows::start(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(pool)).await?;
    let columns = match &rows.first {
        Some(row) => row
            .columns()
            .iter()
            .map(|c| column(c.name(), sqlite_kind(c.type_info().name())))
            .collect(),
        None => pool
            .prepare(sqlx::AssertSqlSafe(sql).into_sql_str())
            .await?
            .columns()
            .iter()
            .map(|c| column(c.name(), sqlite_kind(c.type_info().name())))
            .collect(),
    };
    Ok((columns, rows))
}

pub(crate) fn decode_row(
    row: &SqliteRow,
    columns: &[Column],
    model: &str,
) -> Result<Vec<Value>, Error> {
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let raw = row
            .try_get_raw(i)
            .map_err(|e| decode_error(model, column, "?", e))?;
        values.push(
            decode(raw)
                .map_err(|(storage, message)| decode_error(model, column, &storage, message))?,
        );
    }
    Ok(values)
}

/// One cell by its storage class. (Check for NULL first: sqlx reports a NULL
/// value's type as the column's declared type.)
fn decode(raw: SqliteValueRef<'_>) -> Result<Value, (String, String)> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let storage = raw.type_info().name().to_string();
    let fail = |message: String| (storage.clone(), message);
    fn get<'r, T: Decode<'r, Sqlite>>(raw: SqliteValueRef<'r>) -> Result<T, String> {
        T::decode(raw).map_err(|e| e.to_string())
    }
    match storage.as_str() {
        "INTEGER" => get::<i64>(raw).map(Value::Int).map_err(fail),
        "REAL" => get::<f64>(raw).map(Value::Float).map_err(fail),
        "TEXT" => get::<String>(raw).map(Value::Text).map_err(fail),
        _ => {
            let bytes = get::<Vec<u8>>(raw).map_err(fail)?;
            String::from_utf8(bytes).map(Value::Text).map_err(|_| {
                fail("binary data that is not UTF-8 text; convert it in the model's SQL (`hex(column)`)".to_string())
            })
        }
    }
}
