//! Athena's result cells → values. Every cell arrives as text
//! (`VarCharValue`, absent for `NULL`); the column's type comes from the
//! result metadata (`ColumnInfo.Type`).
//!
//! | Athena type | text | value | `ColumnKind` |
//! |---|---|---|---|
//! | `tinyint`, `smallint`, `integer`/`int`, `bigint` | `42` | `Int` | `Int` |
//! | `double`, `float`, `real` | `0.1`, `NaN`, `Infinity` | `Float` | `Float` |
//! | `decimal` | `12.50` | `Float`, or exact `Text` when a float would change its whole part | `Float` |
//! | `boolean` | `true` | `Bool` | `Bool` |
//! | `varchar`, `char`, `string` | text | `Text` | `Text` |
//! | `date` | `2024-01-02` | `Timestamp` at midnight UTC | `Date` |
//! | `timestamp` | `2024-01-02 03:04:05.678` | `Timestamp` read as UTC (seconds, floored) | `Timestamp` |
//! | `timestamp with time zone` | `2024-01-02 03:04:05.678 UTC` (or an offset) | `Timestamp`; a named zone other than UTC is an error (write `col AT TIME ZONE 'UTC'`) | `Timestamp` |
//! | `json` | JSON text | `Text` of the JSON | `Text` |
//! | `array` | `[a, b]` (Trino's text) | `List`: a JSON array (`[1, 2]`, or after `CAST(col AS JSON)`) item by item, else the text split at `, ` into `Text` items (an item that itself contains `, ` is split too: cast such arrays to JSON) | `List` |
//! | `map`, `row`/`struct` | `{a=1, b=2}` (Trino's text) | `Text` as Athena wrote it (`CAST(col AS JSON)` gives JSON) | `Text` |
//! | anything else (`time`, `varbinary`, `interval …`, `uuid`, `ipaddress`) | text | `Text` | `Unknown` |

use aws_sdk_athena::types::ColumnInfo;
use backflow_core::value::{Column, ColumnKind, Value};

use crate::cells::{date_text, integer_text, json_value, timestamp_text};
use crate::decimal;

/// A column of the result metadata.
#[derive(Debug, Clone)]
pub(crate) struct AthenaColumn {
    pub(crate) name: String,
    /// `ColumnInfo.Type` as Athena wrote it (`varchar`, `decimal`, …).
    pub(crate) type_name: String,
}

impl crate::paged::Named for AthenaColumn {
    fn name(&self) -> &str {
        &self.name
    }
    fn type_name(&self) -> &str {
        &self.type_name
    }
}

impl AthenaColumn {
    pub(crate) fn new(info: &ColumnInfo) -> Self {
        AthenaColumn {
            name: info.name().to_string(),
            type_name: info.r#type().to_string(),
        }
    }

    /// The type without its parameters or element types, lower-cased
    /// (`decimal(10,2)` → `decimal`, `array(varchar)` → `array`).
    fn base(&self) -> String {
        let name = self.type_name.trim().to_ascii_lowercase();
        match name.find(['(', '<']) {
            Some(at) => name[..at].trim().to_string(),
            None => name,
        }
    }

    pub(crate) fn column(&self) -> Column {
        let kind = match self.base().as_str() {
            "tinyint" | "smallint" | "integer" | "int" | "bigint" => ColumnKind::Int,
            "double" | "float" | "real" | "decimal" => ColumnKind::Float,
            "boolean" => ColumnKind::Bool,
            "varchar" | "char" | "string" | "json" | "map" | "row" | "struct" => ColumnKind::Text,
            "date" => ColumnKind::Date,
            "timestamp" | "timestamp with time zone" => ColumnKind::Timestamp,
            "array" => ColumnKind::List,
            _ => ColumnKind::Unknown,
        };
        Column {
            name: self.name.clone(),
            kind,
        }
    }
}

/// One cell: `text` is its `VarCharValue` (`None` for `NULL`).
pub(crate) fn cell(text: Option<&str>, column: &AthenaColumn) -> Result<Value, String> {
    let Some(text) = text else {
        return Ok(Value::Null);
    };
    let bad = || format!("unexpected value '{}'", excerpt(text));
    Ok(match column.base().as_str() {
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => {
            integer_text(text).ok_or_else(bad)?
        }
        "double" | "float" | "real" => Value::Float(text.trim().parse::<f64>().map_err(|_| bad())?),
        "decimal" => {
            text.trim().parse::<f64>().map_err(|_| bad())?;
            decimal::value(text.trim())
        }
        "boolean" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        "date" => Value::Timestamp(date_text(text).ok_or_else(bad)?),
        "timestamp" | "timestamp with time zone" => {
            Value::Timestamp(timestamp_text(text).ok_or_else(|| {
                format!(
                    "{}: write the column in UTC (`col AT TIME ZONE 'UTC'`) or as text",
                    bad()
                )
            })?)
        }
        "array" => array(text)?,
        _ => Value::Text(text.to_string()),
    })
}

/// An array's text: JSON when it parses as a JSON array (numbers, booleans,
/// a `CAST(… AS JSON)`), else Trino's `[a, b]` split into text items.
fn array(text: &str) -> Result<Value, String> {
    if let Ok(json @ serde_json::Value::Array(_)) = serde_json::from_str(text) {
        return Ok(json_value(json));
    }
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("expected an array, got '{}'", excerpt(text)))?;
    if inner.is_empty() {
        return Ok(Value::List(Vec::new()));
    }
    Ok(Value::List(
        inner
            .split(", ")
            .map(|item| Value::Text(item.to_string()))
            .collect(),
    ))
}

fn excerpt(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(type_name: &str) -> AthenaColumn {
        AthenaColumn {
            name: "c".into(),
            type_name: type_name.into(),
        }
    }

    #[test]
    fn each_athena_type_reads_as_documented() {
        let cases: Vec<(&str, &str, Value, ColumnKind)> = vec![
            (
                "varchar",
                "héllo",
                Value::Text("héllo".into()),
                ColumnKind::Text,
            ),
            ("char", "ab", Value::Text("ab".into()), ColumnKind::Text),
            (
                "bigint",
                "9007199254740993",
                Value::Int(9_007_199_254_740_993),
                ColumnKind::Int,
            ),
            ("integer", "-7", Value::Int(-7), ColumnKind::Int),
            ("double", "0.1", Value::Float(0.1), ColumnKind::Float),
            ("decimal", "12.50", Value::Float(12.5), ColumnKind::Float),
            (
                "decimal(38,0)",
                "123456789012345678901",
                Value::Text("123456789012345678901".into()),
                ColumnKind::Float,
            ),
            ("boolean", "true", Value::Bool(true), ColumnKind::Bool),
            (
                "date",
                "2024-01-02",
                Value::Timestamp(1_704_153_600),
                ColumnKind::Date,
            ),
            (
                "timestamp",
                "2024-01-02 03:04:05.678",
                Value::Timestamp(1_704_164_645),
                ColumnKind::Timestamp,
            ),
            (
                "timestamp with time zone",
                "2024-01-02 03:04:05.678 UTC",
                Value::Timestamp(1_704_164_645),
                ColumnKind::Timestamp,
            ),
            (
                "array",
                "[vip, beta]",
                Value::List(vec![Value::Text("vip".into()), Value::Text("beta".into())]),
                ColumnKind::List,
            ),
            (
                "array",
                "[1, 2]",
                Value::List(vec![Value::Int(1), Value::Int(2)]),
                ColumnKind::List,
            ),
            ("array", "[]", Value::List(vec![]), ColumnKind::List),
            (
                "map",
                "{a=1, b=2}",
                Value::Text("{a=1, b=2}".into()),
                ColumnKind::Text,
            ),
            (
                "row",
                "{x=1, y=2}",
                Value::Text("{x=1, y=2}".into()),
                ColumnKind::Text,
            ),
            (
                "json",
                "{\"a\":1}",
                Value::Text("{\"a\":1}".into()),
                ColumnKind::Text,
            ),
            (
                "time",
                "13:45:30.250",
                Value::Text("13:45:30.250".into()),
                ColumnKind::Unknown,
            ),
        ];
        for (type_name, text, value, kind) in cases {
            let column = col(type_name);
            assert_eq!(cell(Some(text), &column), Ok(value), "{type_name} {text}");
            assert_eq!(column.column().kind, kind, "{type_name}");
        }
        assert_eq!(cell(None, &col("bigint")), Ok(Value::Null));
    }

    #[test]
    fn malformed_cells_are_errors_that_say_what_to_do() {
        assert_eq!(
            cell(Some("x1"), &col("integer")),
            Err("unexpected value 'x1'".into())
        );
        let zoned = cell(
            Some("2024-01-02 03:04:05.678 Europe/Berlin"),
            &col("timestamp with time zone"),
        )
        .unwrap_err();
        assert!(zoned.contains("AT TIME ZONE 'UTC'"), "{zoned}");
        assert!(cell(Some("yes"), &col("boolean")).is_err());
    }
}
