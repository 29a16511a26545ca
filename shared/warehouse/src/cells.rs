//! Cell conversions the HTTP warehouses (Snowflake, BigQuery) share: exact
//! decimal text to whole seconds, scaled integers to decimal text, times of day,
//! and binary values. Warehouses send numbers as text or scaled integers so that
//! nothing is lost on the wire; these keep it that way (no `f64` in between).

use backflow_core::value::Value;

use crate::decimal;
use crate::kind::printable_text;

/// The largest |exponent| accepted in a decimal: beyond it no number is a time.
const MAX_EXPONENT: i64 = 40;

/// `floor(x)` of a decimal written as text (`-12.5`, `1.7356896E9`, `1700000000`),
/// computed on the digits so that no float rounding moves a second. `None` when
/// the text is not a decimal or the result does not fit an `i64`.
pub(crate) fn floor_decimal(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exponent) {
        return None;
    }
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // All the digits, with the decimal point after `point` of them.
    let digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = i64::try_from(whole.len()).ok()? + exponent;
    let mut integer: i64 = 0;
    let mut dropped_nonzero = false;
    for (i, &digit) in digits.iter().enumerate() {
        if (i as i64) < point {
            integer = integer.checked_mul(10)?.checked_add(i64::from(digit))?;
        } else if digit != 0 {
            dropped_nonzero = true;
        }
    }
    // Zeros the exponent appends after the last digit (`1.5E3` = 1500).
    for _ in digits.len() as i64..point {
        integer = integer.checked_mul(10)?;
    }
    if negative {
        integer = -integer;
        if dropped_nonzero {
            integer = integer.checked_sub(1)?;
        }
    }
    Some(integer)
}

/// `value / 10^scale` as exact decimal text: `(12345, 2)` → `123.45`,
/// `(-5, 3)` → `-0.005`.
pub(crate) fn scaled_text(value: i128, scale: u32) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    let scale = scale as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// A scaled integer (`FIXED`/`NUMERIC`) as a value: an `Int` when it is whole and
/// fits, the exact digits when a whole number does not fit an `i64`, else what
/// [`decimal::value`] makes of the decimal (a `Float`, or exact `Text`).
pub(crate) fn scaled_value(value: i128, scale: u32) -> Value {
    if scale == 0 {
        return match i64::try_from(value) {
            Ok(n) => Value::Int(n),
            Err(_) => Value::Text(value.to_string()),
        };
    }
    decimal::value(&scaled_text(value, scale))
}

/// Whole-number text as an `Int`, or its digits as `Text` when it does not fit an
/// `i64`; `None` when it is not an integer.
pub(crate) fn integer_text(text: &str) -> Option<Value> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<i64>() {
        Ok(n) => Value::Int(n),
        Err(_) => Value::Text(text.to_string()),
    })
}

/// A time of day `value / 10^scale` seconds after midnight as
/// `HH:MM:SS[.fraction]`, the fraction with `scale` digits when not zero.
pub(crate) fn time_of_day(value: i64, scale: u32) -> Option<String> {
    let unit = 10i64.checked_pow(scale)?;
    let (seconds, fraction) = (value.div_euclid(unit), value.rem_euclid(unit));
    let text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction == 0 {
        return Some(text);
    }
    Some(format!(
        "{text}.{fraction:0>width$}",
        width = scale as usize
    ))
}

/// A JSON array (Snowflake's `ARRAY` text) as a [`Value::List`]: strings become
/// `Text`, whole numbers `Int` (beyond `i64`, their digits as `Text`), other
/// numbers `Float`, booleans `Bool`, nested arrays lists, objects their JSON
/// text. Anything but an array is an error for the user.
pub(crate) fn json_list(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json @ serde_json::Value::Array(_)) => Ok(json_value(json)),
        _ => Err(format!(
            "expected a JSON array, got '{}'",
            text.chars().take(60).collect::<String>()
        )),
    }
}

/// One JSON value as a [`Value`] (see [`json_list`]).
pub(crate) fn json_value(json: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, _) if n.is_u64() => Value::Text(n.to_string()),
            (None, Some(f)) => Value::Float(f),
            (None, None) => Value::Text(n.to_string()),
        },
        J::String(s) => Value::Text(s),
        J::Array(items) => Value::List(items.into_iter().map(json_value).collect()),
        object @ J::Object(_) => Value::Text(object.to_string()),
    }
}

/// Binary data as text when it is printable UTF-8; else a message for the user.
pub(crate) fn binary_value(bytes: &[u8]) -> Result<Value, String> {
    printable_text(bytes)
        .map(|text| Value::Text(text.to_string()))
        .ok_or_else(|| {
            "binary data that is not UTF-8 text; convert it in the model's SQL (to hex or base64)"
                .to_string()
        })
}

/// `YYYY-MM-DD` as midnight UTC in Unix seconds (Athena's and the Redshift
/// Data API's date text).
pub(crate) fn date_text(text: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// A timestamp written as text — `YYYY-MM-DD HH:MM:SS[.fraction]` (or with a
/// `T`), optionally followed by a zone: `Z`, ` UTC`, `+HH`, `+HH:MM`, `+HHMM` —
/// as Unix seconds (floored). Without a zone it is read as UTC. `None` for any
/// other text (a named zone such as `Europe/Berlin` included).
pub(crate) fn timestamp_text(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text
        .strip_suffix(" UTC")
        .or_else(|| text.strip_suffix('Z'))
        .unwrap_or(text);
    // The zone's sign comes after the time (the date's own `-`s are before 10).
    let (local, offset) = match text.get(10..).and_then(|t| t.rfind(['+', '-'])) {
        Some(at) => {
            let (local, zone) = text.split_at(10 + at);
            (local.trim_end(), zone_offset(zone)?)
        }
        None => (text, 0),
    };
    let local = local.replacen(' ', "T", 1);
    let time = chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    time.and_utc().timestamp().checked_sub(offset)
}

/// `+HH`, `+HH:MM` or `+HHMM` (or `-`) in seconds east of UTC.
fn zone_offset(zone: &str) -> Option<i64> {
    let (sign, digits) = match zone.split_at(1) {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let digits = digits.replace(':', "");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    Some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dates_and_timestamps_written_as_text() {
        let cases = [
            ("2024-01-02 03:04:05", Some(1_704_164_645)),
            ("2024-01-02T03:04:05.999", Some(1_704_164_645)),
            ("2024-01-02 03:04:05.123 UTC", Some(1_704_164_645)),
            ("2024-01-02 03:04:05Z", Some(1_704_164_645)),
            ("2024-01-02 03:04:05+00", Some(1_704_164_645)),
            ("2024-01-02 04:04:05+01", Some(1_704_164_645)),
            ("2024-01-02 04:34:05.5+01:30", Some(1_704_164_645)),
            ("2024-01-01 22:04:05-0500", Some(1_704_164_645)),
            ("1969-12-31 23:59:59.5", Some(-1)),
            ("2024-01-02 03:04:05 Europe/Berlin", None),
            ("2024-01-02", None),
            ("yesterday", None),
        ];
        for (text, expected) in cases {
            assert_eq!(timestamp_text(text), expected, "{text}");
        }
        assert_eq!(date_text("2024-01-02"), Some(1_704_153_600));
        assert_eq!(date_text("2024-13-02"), None);
    }

    #[test]
    fn floors_decimals_exactly() {
        let cases = [
            ("1.7356896E9", Some(1_735_689_600)),
            ("1.704157445678E9", Some(1_704_157_445)),
            ("1700000000.999999999", Some(1_700_000_000)),
            ("1700000000", Some(1_700_000_000)),
            ("-1.5", Some(-2)),
            ("-2", Some(-2)),
            ("-0.000000001", Some(-1)),
            ("0.0", Some(0)),
            ("1.5E3", Some(1500)),
            ("15E-1", Some(1)),
            ("-15E-1", Some(-2)),
            (".5", Some(0)),
            ("5.", Some(5)),
            ("+7", Some(7)),
            ("1e400", None),
            ("9223372036854775808", None),
            ("", None),
            (".", None),
            ("1.2.3", None),
            ("abc", None),
            ("1e", None),
            ("١٢", None),
        ];
        for (text, expected) in cases {
            assert_eq!(floor_decimal(text), expected, "{text}");
        }
    }

    #[test]
    fn scales_integers_to_exact_decimals() {
        assert_eq!(scaled_text(12345, 2), "123.45");
        assert_eq!(scaled_text(-5, 3), "-0.005");
        assert_eq!(scaled_text(0, 2), "0.00");
        assert_eq!(scaled_text(i128::MIN, 0), i128::MIN.to_string());
        assert_eq!(scaled_value(125, 1), Value::Float(12.5));
        assert_eq!(scaled_value(7, 0), Value::Int(7));
        assert_eq!(
            scaled_value(12_345_678_901_234_567_890, 0),
            Value::Text("12345678901234567890".into())
        );
        assert_eq!(
            scaled_value(123_456_789_012_345_678_901_234, 4),
            Value::Text("12345678901234567890.1234".into())
        );
        assert_eq!(integer_text("-42"), Some(Value::Int(-42)));
        assert_eq!(
            integer_text("99999999999999999999"),
            Some(Value::Text("99999999999999999999".into()))
        );
        assert_eq!(integer_text("4.2"), None);
        assert_eq!(integer_text("-"), None);
    }

    #[test]
    fn formats_times_of_day() {
        assert_eq!(time_of_day(0, 9).as_deref(), Some("00:00:00"));
        assert_eq!(
            time_of_day(49_530_250_000_000, 9).as_deref(),
            Some("13:45:30.250000000")
        );
        assert_eq!(time_of_day(3723, 0).as_deref(), Some("01:02:03"));
        assert_eq!(time_of_day(1, 40), None);
    }

    #[test]
    fn json_arrays_become_lists() {
        let text = |s: &str| Value::Text(s.to_string());
        assert_eq!(
            json_list(r#"["a", 1, 2.5, true, null, [3], {"k": "v"}, 18446744073709551615]"#),
            Ok(Value::List(vec![
                text("a"),
                Value::Int(1),
                Value::Float(2.5),
                Value::Bool(true),
                Value::Null,
                Value::List(vec![Value::Int(3)]),
                text(r#"{"k":"v"}"#),
                text("18446744073709551615"),
            ]))
        );
        assert_eq!(json_list("[]"), Ok(Value::List(Vec::new())));
        assert!(json_list(r#"{"a": 1}"#).is_err());
        assert!(json_list("[1,").is_err());
    }

    #[test]
    fn binary_is_text_only_when_printable() {
        assert_eq!(binary_value(b"hello"), Ok(Value::Text("hello".into())));
        assert!(binary_value(&[0, 159, 146, 150]).is_err());
    }
}
