//! A model's SQL wrapped so that its rows come back sorted by their key, in the
//! byte order of the key's text (how DynamoDB sorts the state items of a sync).
//!
//! Why: `extract` walks the model and the sync's state side by side, both sorted
//! by key, so it never holds either in memory — a 10,000,000-row model plans in
//! the same memory as a 1,000-row one — and rows with the same key arrive next to
//! each other, so a duplicate key is seen without remembering every key.
//!
//! Each dialect sorts the key's text with a binary collation (`COLLATE "C"` on
//! PostgreSQL, `CAST(… AS BINARY)` on MySQL/MariaDB; SQLite's default `BINARY`),
//! e-mail keys lower-cased and trimmed the way backflow compares them. Where the
//! database's `lower`/`trim` differ from backflow's (non-ASCII letters on SQLite,
//! say) a row arrives out of order; `extract` notices and looks such rows up one
//! by one, so the order is a speed-up, never a correctness assumption.

use crate::{Pool, Warehouse};

impl Warehouse {
    /// `sql`, wrapped to return its rows sorted by the text of `key_column`
    /// (lower-cased and trimmed when `email`). The columns are the model's own.
    pub fn sorted_by_key(&self, sql: &str, key_column: &str, email: bool) -> String {
        let dialect = match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::Mysql(_) => Dialect::Mysql,
            Pool::Snowflake(_) => Dialect::Snowflake,
            Pool::Bigquery(_) => Dialect::Bigquery,
            Pool::Redshift(_) | Pool::RedshiftData(_) => Dialect::Redshift,
            Pool::Athena(_) => Dialect::Athena,
        };
        sorted_by_key(dialect, sql, key_column, email)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
    Snowflake,
    Bigquery,
    Redshift,
    Athena,
}

fn sorted_by_key(dialect: Dialect, sql: &str, key_column: &str, email: bool) -> String {
    // A trailing `;` is not allowed inside a subquery; a trailing `-- comment`
    // would swallow the closing parenthesis without the newline.
    let inner = sql.trim().trim_end_matches(';').trim_end();
    let (column, text) = match dialect {
        Dialect::Mysql => (
            format!("`{}`", key_column.replace('`', "``")),
            "CAST({} AS CHAR)",
        ),
        Dialect::Sqlite | Dialect::Postgres => (
            format!("\"{}\"", key_column.replace('"', "\"\"")),
            "CAST({} AS TEXT)",
        ),
        // Snowflake keeps a quoted name's case: the key column must be written as
        // the result names it (unquoted names come back upper-cased).
        Dialect::Snowflake => (
            format!("\"{}\"", key_column.replace('"', "\"\"")),
            "TO_VARCHAR({})",
        ),
        Dialect::Bigquery => (
            format!("`{}`", key_column.replace('`', "\\`")),
            "CAST({} AS STRING)",
        ),
        // Redshift's `VARCHAR` alone is `VARCHAR(256)`: the longest one keeps a
        // long key whole (PostgreSQL takes the same spelling).
        Dialect::Redshift => (
            format!("\"{}\"", key_column.replace('"', "\"\"")),
            "CAST({} AS VARCHAR(65535))",
        ),
        Dialect::Athena => (
            format!("\"{}\"", key_column.replace('"', "\"\"")),
            "CAST({} AS VARCHAR)",
        ),
    };
    let mut key = text.replace("{}", &format!("backflow_model.{column}"));
    if email {
        key = match dialect {
            Dialect::Postgres | Dialect::Redshift => format!("lower(btrim({key}))"),
            Dialect::Sqlite
            | Dialect::Mysql
            | Dialect::Snowflake
            | Dialect::Bigquery
            | Dialect::Athena => {
                format!("lower(trim({key}))")
            }
        };
    }
    let order = match dialect {
        Dialect::Sqlite => key,
        Dialect::Postgres => format!("{key} COLLATE \"C\""),
        Dialect::Mysql => format!("CAST({key} AS BINARY)"),
        // Snowflake compares by UTF-8 bytes without a collation; the empty one
        // drops any the column was declared with (`en-ci`, say).
        Dialect::Snowflake => format!("COLLATE({key}, '')"),
        // BigQuery compares strings by code point: the order of their UTF-8 bytes.
        Dialect::Bigquery => key,
        // Redshift refuses `COLLATE "C"`; its default (`case_sensitive`)
        // collation compares the bytes. Written without a collation, the same
        // SQL runs on PostgreSQL (the local stand-in), whose database collation
        // may not be byte order: `extract` then meets rows out of order and
        // looks them up one by one (correct, slower).
        // Athena (Trino) compares varchars by code point: UTF-8 byte order.
        Dialect::Redshift | Dialect::Athena => key,
    };
    format!("SELECT * FROM (\n{inner}\n) AS backflow_model ORDER BY {order}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_sorts_the_key_text_with_a_binary_collation() {
        let sql = "SELECT id, email FROM users; ";
        assert_eq!(
            sorted_by_key(Dialect::Sqlite, sql, "id", false),
            "SELECT * FROM (\nSELECT id, email FROM users\n) AS backflow_model \
             ORDER BY CAST(backflow_model.\"id\" AS TEXT)"
        );
        assert_eq!(
            sorted_by_key(Dialect::Postgres, sql, "email", true),
            "SELECT * FROM (\nSELECT id, email FROM users\n) AS backflow_model \
             ORDER BY lower(btrim(CAST(backflow_model.\"email\" AS TEXT))) COLLATE \"C\""
        );
        assert_eq!(
            sorted_by_key(Dialect::Mysql, sql, "email", true),
            "SELECT * FROM (\nSELECT id, email FROM users\n) AS backflow_model \
             ORDER BY CAST(lower(trim(CAST(backflow_model.`email` AS CHAR))) AS BINARY)"
        );
    }

    #[test]
    fn snowflake_and_bigquery_sort_the_text_of_the_key() {
        let sql = "select id, email from users";
        assert_eq!(
            sorted_by_key(Dialect::Snowflake, sql, "EMAIL", true),
            "SELECT * FROM (\nselect id, email from users\n) AS backflow_model \
             ORDER BY COLLATE(lower(trim(TO_VARCHAR(backflow_model.\"EMAIL\"))), '')"
        );
        assert_eq!(
            sorted_by_key(Dialect::Bigquery, sql, "id", false),
            "SELECT * FROM (\nselect id, email from users\n) AS backflow_model \
             ORDER BY CAST(backflow_model.`id` AS STRING)"
        );
        let wrapped = sorted_by_key(Dialect::Bigquery, "SELECT 1", "a`b", false);
        assert!(wrapped.contains("backflow_model.`a\\`b`"), "{wrapped}");
    }

    #[test]
    fn redshift_and_athena_sort_without_a_collation_clause() {
        let sql = "select id, email from users";
        assert_eq!(
            sorted_by_key(Dialect::Redshift, sql, "email", true),
            "SELECT * FROM (\nselect id, email from users\n) AS backflow_model \
             ORDER BY lower(btrim(CAST(backflow_model.\"email\" AS VARCHAR(65535))))"
        );
        assert_eq!(
            sorted_by_key(Dialect::Athena, sql, "id", false),
            "SELECT * FROM (\nselect id, email from users\n) AS backflow_model \
             ORDER BY CAST(backflow_model.\"id\" AS VARCHAR)"
        );
    }

    #[test]
    fn quotes_in_the_column_name_are_escaped_and_a_trailing_comment_is_closed() {
        let sql = "SELECT 1 AS \"a\"\"b\" -- the model";
        let wrapped = sorted_by_key(Dialect::Postgres, sql, "a\"b", false);
        assert!(
            wrapped.contains("-- the model\n) AS backflow_model"),
            "{wrapped}"
        );
        assert!(wrapped.contains("backflow_model.\"a\"\"b\""), "{wrapped}");
        let wrapped = sorted_by_key(Dialect::Mysql, "SELECT 1", "a`b", false);
        assert!(wrapped.contains("backflow_model.`a``b`"), "{wrapped}");
    }
}
