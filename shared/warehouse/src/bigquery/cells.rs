//! BigQuery's REST rows (`{"f": [{"v": …}, …]}`) → values. Every scalar arrives
//! as text; records as `{"f": [...]}`; repeated fields as `[{"v": …}, …]`.
//!
//! | BigQuery type (`schema.fields[].type`) | REST text | value | `ColumnKind` |
//! |---|---|---|---|
//! | `INTEGER` / `INT64` | `"42"` | `Int` (beyond `i64`: impossible in BigQuery) | `Int` |
//! | `FLOAT` / `FLOAT64` | `"0.1"`, `"NaN"`, `"Infinity"` | `Float` | `Float` |
//! | `NUMERIC`, `BIGNUMERIC` | `"12.5"` | `Float`, or exact `Text` when a float would change its whole part | `Float` |
//! | `BOOLEAN` / `BOOL` | `"true"` | `Bool` | `Bool` |
//! | `STRING` | text | `Text` | `Text` |
//! | `BYTES` | base64 | `Text` when UTF-8 text, else an error naming the column | `Text` |
//! | `DATE` | `"2024-01-02"` | `Timestamp` at midnight UTC | `Date` |
//! | `DATETIME` | `"2024-01-02T03:04:05.678"` | `Timestamp` read as UTC (seconds, floored) | `Timestamp` |
//! | `TIMESTAMP` | float seconds `"1.704157445678E9"` (or integer microseconds with `useInt64Timestamp`) | `Timestamp` (floored, computed on the digits) | `Timestamp` |
//! | `TIME` | `"13:45:30.250000"` | `Text` | `Text` |
//! | `JSON` | JSON text | `Text` of the JSON | `Text` |
//! | `RECORD` / `STRUCT` | `{"f": [...]}` | `Text` of a JSON object keyed by the field names | `Text` |
//! | mode `REPEATED` (arrays) | `[{"v": …}]` | `List` of the items, each read as its type says (a `NULL` array is BigQuery's empty one) | `List` |
//! | anything else (`GEOGRAPHY`, `INTERVAL`, `RANGE`) | text | `Text` | `Unknown` |
//!
//! Inside records and arrays, numbers and booleans become JSON numbers and
//! booleans, `JSON` cells their JSON, everything else JSON strings.

use backflow_core::value::{Column, ColumnKind, Value};
use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::cells::{binary_value, floor_decimal, integer_text};
use crate::decimal;

/// A field of the result's schema.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl crate::paged::Named for Field {
    fn name(&self) -> &str {
        &self.name
    }
    fn type_name(&self) -> &str {
        &self.type_name
    }
}

impl Field {
    fn repeated(&self) -> bool {
        self.mode.as_deref() == Some("REPEATED")
    }

    fn base(&self) -> &str {
        match self.type_name.as_str() {
            "INT64" => "INTEGER",
            "FLOAT64" => "FLOAT",
            "BOOL" => "BOOLEAN",
            "STRUCT" => "RECORD",
            "BIGDECIMAL" => "BIGNUMERIC",
            "DECIMAL" => "NUMERIC",
            other => other,
        }
    }

    pub(crate) fn column(&self) -> Column {
        let kind = match (self.repeated(), self.base()) {
            (true, _) => ColumnKind::List,
            (_, "INTEGER") => ColumnKind::Int,
            (_, "FLOAT" | "NUMERIC" | "BIGNUMERIC") => ColumnKind::Float,
            (_, "BOOLEAN") => ColumnKind::Bool,
            (_, "STRING" | "BYTES" | "TIME" | "JSON" | "RECORD") => ColumnKind::Text,
            (_, "DATE") => ColumnKind::Date,
            (_, "DATETIME" | "TIMESTAMP") => ColumnKind::Timestamp,
            _ => ColumnKind::Unknown,
        };
        Column {
            name: self.name.clone(),
            kind,
        }
    }
}

/// One cell (`v`) of a row.
pub(crate) fn cell(v: &Json, field: &Field) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if field.repeated() {
        let items = v
            .as_array()
            .ok_or_else(|| format!("expected an array, got {}", excerpt(&v.to_string())))?;
        let item = Field {
            mode: None,
            ..field.clone()
        };
        return items
            .iter()
            .map(|wrapped| cell(wrapped.get("v").unwrap_or(&Json::Null), &item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List);
    }
    if field.base() == "RECORD" {
        return Ok(Value::Text(json(v, field)?.to_string()));
    }
    let text = v
        .as_str()
        .ok_or_else(|| format!("expected text, got {}", excerpt(&v.to_string())))?;
    scalar(text, field)
}

/// A cell that arrived as text (`v` a JSON string).
pub(crate) fn text_cell(text: &str, field: &Field) -> Result<Value, String> {
    if field.repeated() || field.base() == "RECORD" {
        // Not what BigQuery sends for these: the same error as the JSON path.
        return cell(&Json::from(text), field);
    }
    scalar(text, field)
}

/// A scalar cell's text as its type says.
fn scalar(text: &str, field: &Field) -> Result<Value, String> {
    let bad = || format!("unexpected value '{}'", excerpt(text));
    Ok(match field.base() {
        "INTEGER" => integer_text(text).ok_or_else(bad)?,
        "FLOAT" => Value::Float(text.trim().parse::<f64>().map_err(|_| bad())?),
        "NUMERIC" | "BIGNUMERIC" => {
            text.trim().parse::<f64>().map_err(|_| bad())?;
            decimal::value(text)
        }
        "BOOLEAN" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        "BYTES" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| bad())?;
            binary_value(&bytes)?
        }
        "DATE" => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
            Value::Timestamp(
                date.and_hms_opt(0, 0, 0)
                    .ok_or_else(bad)?
                    .and_utc()
                    .timestamp(),
            )
        }
        "DATETIME" => Value::Timestamp(datetime(text).ok_or_else(bad)?),
        "TIMESTAMP" => Value::Timestamp(timestamp(text).ok_or_else(bad)?),
        _ => Value::Text(text.to_string()),
    })
}

/// `2024-01-02T03:04:05[.ffffff]` (or with a space) as UTC seconds.
fn datetime(text: &str) -> Option<i64> {
    let text = text.replacen(' ', "T", 1);
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Float seconds (`1.704157445678E9`), or integer microseconds when the request
/// asked for `useInt64Timestamp`: an integer of more than 12 digits cannot be
/// seconds of a real date (10^12 s is the year 33658), so it is microseconds.
fn timestamp(text: &str) -> Option<i64> {
    let digits = text.trim().trim_start_matches('-');
    if digits.len() > 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .trim()
            .parse::<i64>()
            .ok()
            .map(|micros| micros.div_euclid(1_000_000));
    }
    floor_decimal(text)
}

/// A cell of a record or array as a JSON value.
fn json(v: &Json, field: &Field) -> Result<Json, String> {
    if v.is_null() {
        return Ok(Json::Null);
    }
    if field.repeated() {
        let items = v.as_array().ok_or("expected an array")?;
        let item = Field {
            mode: None,
            ..field.clone()
        };
        return items
            .iter()
            .map(|wrapped| json(wrapped.get("v").unwrap_or(&Json::Null), &item))
            .collect::<Result<Vec<_>, _>>()
            .map(Json::Array);
    }
    if field.base() == "RECORD" {
        let cells = v
            .get("f")
            .and_then(Json::as_array)
            .ok_or("expected a record")?;
        let mut object = Map::new();
        for (sub, wrapped) in field.fields.iter().zip(cells) {
            object.insert(
                sub.name.clone(),
                json(wrapped.get("v").unwrap_or(&Json::Null), sub)?,
            );
        }
        return Ok(Json::Object(object));
    }
    let text = v.as_str().ok_or("expected text")?;
    Ok(match field.base() {
        "INTEGER" => text
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::from(text)),
        "FLOAT" | "NUMERIC" | "BIGNUMERIC" => match text.parse::<f64>() {
            Ok(f)
                if f.is_finite()
                    && (field.base() == "FLOAT" || decimal::value(text) == Value::Float(f)) =>
            {
                Json::from(f)
            }
            _ => Json::from(text),
        },
        "BOOLEAN" => Json::Bool(text == "true"),
        "JSON" => serde_json::from_str(text).unwrap_or_else(|_| Json::from(text)),
        _ => Json::from(text),
    })
}

fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(type_name: &str) -> Field {
        Field {
            name: "c".into(),
            type_name: type_name.into(),
            mode: None,
            fields: Vec::new(),
        }
    }

    #[test]
    fn scalars_as_the_rest_api_writes_them() {
        let cases = [
            (json!("42"), "INTEGER", Value::Int(42)),
            (json!("0.1"), "FLOAT", Value::Float(0.1)),
            (json!("Infinity"), "FLOAT64", Value::Float(f64::INFINITY)),
            (json!("12.5"), "NUMERIC", Value::Float(12.5)),
            (
                json!("123456789012345678901234567890.5"),
                "BIGNUMERIC",
                Value::Text("123456789012345678901234567890.5".into()),
            ),
            (json!("true"), "BOOLEAN", Value::Bool(true)),
            (json!("x"), "STRING", Value::Text("x".into())),
            (json!("aGVsbG8="), "BYTES", Value::Text("hello".into())),
            (json!("2024-01-02"), "DATE", Value::Timestamp(1_704_153_600)),
            (
                json!("2024-01-02T03:04:05.678000"),
                "DATETIME",
                Value::Timestamp(1_704_164_645),
            ),
            (
                json!("2024-01-02 03:04:05"),
                "DATETIME",
                Value::Timestamp(1_704_164_645),
            ),
            (
                json!("1.704157445678E9"),
                "TIMESTAMP",
                Value::Timestamp(1_704_157_445),
            ),
            (
                json!("1.7356896E9"),
                "TIMESTAMP",
                Value::Timestamp(1_735_689_600),
            ),
            (json!("-1.5E0"), "TIMESTAMP", Value::Timestamp(-2)),
            (
                json!("1704157445678000"),
                "TIMESTAMP",
                Value::Timestamp(1_704_157_445),
            ),
            (
                json!("13:45:30.250000"),
                "TIME",
                Value::Text("13:45:30.250000".into()),
            ),
            (json!("{\"a\":1}"), "JSON", Value::Text("{\"a\":1}".into())),
            (
                json!("POINT(1 2)"),
                "GEOGRAPHY",
                Value::Text("POINT(1 2)".into()),
            ),
            (json!(null), "TIMESTAMP", Value::Null),
        ];
        for (raw, type_name, expected) in cases {
            assert_eq!(
                cell(&raw, &field(type_name)).unwrap(),
                expected,
                "{raw} as {type_name}"
            );
        }
    }

    #[test]
    fn records_become_json_and_arrays_lists() {
        let record = Field {
            fields: vec![
                field("INTEGER"),
                Field {
                    name: "b".into(),
                    ..field("STRING")
                },
            ],
            ..field("RECORD")
        };
        let record = Field {
            fields: vec![
                Field {
                    name: "a".into(),
                    ..record.fields[0].clone()
                },
                record.fields[1].clone(),
            ],
            ..record
        };
        assert_eq!(
            cell(&json!({"f": [{"v": "2"}, {"v": "q"}]}), &record).unwrap(),
            Value::Text(r#"{"a":2,"b":"q"}"#.into())
        );
        let array = Field {
            mode: Some("REPEATED".into()),
            ..field("INTEGER")
        };
        assert_eq!(
            cell(&json!([{"v": "1"}, {"v": "2"}]), &array).unwrap(),
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(array.column().kind, ColumnKind::List);
        assert_eq!(cell(&json!([]), &array).unwrap(), Value::List(Vec::new()));
        let tags = Field {
            mode: Some("REPEATED".into()),
            ..field("STRING")
        };
        assert_eq!(
            cell(&json!([{"v": "vip"}, {"v": "beta"}]), &tags).unwrap(),
            Value::List(vec![Value::Text("vip".into()), Value::Text("beta".into())])
        );
        // Items are read as their type says: timestamps, records.
        let times = Field {
            mode: Some("REPEATED".into()),
            ..field("TIMESTAMP")
        };
        assert_eq!(
            cell(&json!([{"v": "1.704157445678E9"}]), &times).unwrap(),
            Value::List(vec![Value::Timestamp(1_704_157_445)])
        );
        let records = Field {
            mode: Some("REPEATED".into()),
            ..record
        };
        assert_eq!(
            cell(&json!([{"v": {"f": [{"v": "2"}, {"v": "q"}]}}]), &records).unwrap(),
            Value::List(vec![Value::Text(r#"{"a":2,"b":"q"}"#.into())])
        );
        assert!(cell(&json!("[1]"), &array).is_err(), "not an array");
    }

    #[test]
    fn malformed_cells_are_errors() {
        let cases = [
            (json!("4.5"), "INTEGER"),
            (json!("x"), "FLOAT"),
            (json!("yes"), "BOOLEAN"),
            (json!("2024-13-01"), "DATE"),
            (json!("tomorrow"), "TIMESTAMP"),
            (json!("not base64!"), "BYTES"),
            (json!("AJ+Slg=="), "BYTES"),
            (json!(5), "STRING"),
            (json!({"f": 1}), "RECORD"),
        ];
        for (raw, type_name) in cases {
            assert!(
                cell(&raw, &field(type_name)).is_err(),
                "{raw} as {type_name}"
            );
        }
    }
}
