//! Snowflake's JSON result format: every cell is text (or null), written as the
//! official drivers read it back (see the table in `columns`).

use backflow_core::value::Value;
use serde_json::Value as Json;

use super::columns::{is_timestamp, SfColumn};
use crate::cells::{binary_value, floor_decimal, integer_text, json_list, time_of_day};
use crate::decimal;

/// One cell. Snowflake sends text; a number or object (seen from stand-ins) is
/// read through its JSON text.
pub(crate) fn cell(raw: &Json, column: &SfColumn) -> Result<Value, String> {
    let text = match raw {
        Json::Null => return Ok(Value::Null),
        Json::String(text) => text.clone(),
        other => other.to_string(),
    };
    let bad = || format!("unexpected value '{}'", excerpt(&text));
    Ok(match column.logical.as_str() {
        "FIXED" if column.scale == 0 => integer_text(&text).ok_or_else(bad)?,
        "FIXED" => {
            if text.trim().parse::<f64>().is_err() {
                return Err(bad());
            }
            decimal::value(&text)
        }
        "REAL" => Value::Float(text.trim().parse::<f64>().map_err(|_| bad())?),
        "BOOLEAN" => match text.as_str() {
            "1" | "TRUE" | "true" => Value::Bool(true),
            "0" | "FALSE" | "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        "DATE" => {
            let days: i64 = text.trim().parse().map_err(|_| bad())?;
            Value::Timestamp(days.checked_mul(86_400).ok_or_else(bad)?)
        }
        "TIME" => {
            let scaled = scaled_integer(&text, column.scale).ok_or_else(bad)?;
            Value::Text(time_of_day(scaled, column.scale).ok_or_else(bad)?)
        }
        // `TIMESTAMP_TZ` carries its zone after a space; the instant is before it.
        t if is_timestamp(t) => {
            let instant = text.split_whitespace().next().unwrap_or_default();
            Value::Timestamp(floor_decimal(instant).ok_or_else(bad)?)
        }
        "BINARY" => binary_value(&hex(&text).ok_or_else(bad)?)?,
        "ARRAY" => json_list(&text)?,
        _ => Value::Text(text),
    })
}

/// `12.5` with scale 3 → 12500: a decimal's digits as an integer in units of
/// `10^-scale` (extra digits are cut, as the drivers do).
fn scaled_integer(text: &str, scale: u32) -> Option<i64> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let mut digits: String = fraction.chars().take(scale as usize).collect();
    while digits.len() < scale as usize {
        digits.push('0');
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    whole
        .checked_mul(10i64.checked_pow(scale)?)?
        .checked_add(fraction)
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(logical: &str, scale: u32) -> SfColumn {
        SfColumn {
            name: "C".into(),
            logical: logical.into(),
            scale,
        }
    }

    #[test]
    fn cells_as_the_drivers_read_them() {
        let cases = [
            (json!("42"), col("FIXED", 0), Value::Int(42)),
            (
                json!("12345678901234567890"),
                col("FIXED", 0),
                Value::Text("12345678901234567890".into()),
            ),
            (json!("12.50"), col("FIXED", 2), Value::Float(12.5)),
            (json!("0.1"), col("REAL", 0), Value::Float(0.1)),
            (json!("NaN"), col("REAL", 0), Value::Float(f64::NAN)),
            (json!("x"), col("TEXT", 0), Value::Text("x".into())),
            (json!("1"), col("BOOLEAN", 0), Value::Bool(true)),
            (json!("FALSE"), col("BOOLEAN", 0), Value::Bool(false)),
            (
                json!("19724"),
                col("DATE", 0),
                Value::Timestamp(1_704_153_600),
            ),
            (json!("-1"), col("DATE", 0), Value::Timestamp(-86_400)),
            (
                json!("1704164645.678000000"),
                col("TIMESTAMP_NTZ", 9),
                Value::Timestamp(1_704_164_645),
            ),
            (
                json!("-0.500"),
                col("TIMESTAMP_LTZ", 3),
                Value::Timestamp(-1),
            ),
            (
                json!("1704157445.678 1560"),
                col("TIMESTAMP_TZ", 3),
                Value::Timestamp(1_704_157_445),
            ),
            (
                json!("49530.250000000"),
                col("TIME", 9),
                Value::Text("13:45:30.250000000".into()),
            ),
            (
                json!("{\n  \"a\": 1\n}"),
                col("VARIANT", 0),
                Value::Text("{\n  \"a\": 1\n}".into()),
            ),
            // Snowflake writes an ARRAY as indented JSON text.
            (
                json!("[\n  \"vip\",\n  2,\n  null\n]"),
                col("ARRAY", 0),
                Value::List(vec![Value::Text("vip".into()), Value::Int(2), Value::Null]),
            ),
            (
                json!("68656C6C6F"),
                col("BINARY", 0),
                Value::Text("hello".into()),
            ),
            (json!(null), col("TIMESTAMP_NTZ", 9), Value::Null),
            (json!(7), col("FIXED", 0), Value::Int(7)),
        ];
        for (raw, column, expected) in cases {
            let got = cell(&raw, &column).unwrap();
            match (&got, &expected) {
                (Value::Float(a), Value::Float(b)) if a.is_nan() && b.is_nan() => {}
                _ => assert_eq!(got, expected, "{raw} as {}", column.logical),
            }
        }
    }

    #[test]
    fn malformed_cells_are_errors() {
        let cases = [
            (json!("4.5"), col("FIXED", 0)),
            (json!("abc"), col("FIXED", 2)),
            (json!("yes"), col("BOOLEAN", 0)),
            (json!("2024-01-01"), col("DATE", 0)),
            (json!("99999999999999999"), col("DATE", 0)),
            (json!("soon"), col("TIMESTAMP_NTZ", 9)),
            (json!("ZZ"), col("BINARY", 0)),
            (json!("00FF"), col("BINARY", 0)),
            (json!("x"), col("TIME", 9)),
            (json!("{\"a\": 1}"), col("ARRAY", 0)),
        ];
        for (raw, column) in cases {
            assert!(cell(&raw, &column).is_err(), "{raw} as {}", column.logical);
        }
    }
}
