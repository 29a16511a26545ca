//! Warehouse values and their coercion to what Intercom accepts.
//!
//! Warehouses disagree on types (SQLite has five storage classes, PostgreSQL has
//! `timestamptz`, MySQL has `DATETIME`), so the warehouse adapter turns every cell
//! into a [`Value`] and everything after that is warehouse-agnostic.

use serde::{Deserialize, Serialize};

/// One cell of a model row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A point in time, Unix seconds UTC (dates become midnight UTC).
    Timestamp(i64),
    /// An array (PostgreSQL `text[]`/`int[]`, Snowflake `ARRAY`, BigQuery
    /// `REPEATED`), its items as values. No Intercom field backflow maps takes a
    /// list yet, so every coercion refuses it and the row is invalid, naming the
    /// column — never silently flattened into text.
    List(Vec<Value>),
}

/// What the warehouse declared for a column; used to infer the data type of a custom
/// attribute that does not exist yet. `Unknown` when the driver cannot tell (SQLite
/// expressions): then the first non-null value decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Bool,
    Int,
    Float,
    Text,
    Timestamp,
    Date,
    /// An array type: its cells are [`Value::List`]s.
    List,
    Unknown,
}

/// A column of a model's result set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// Intercom's data-attribute types (`POST /data_attributes` `data_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    String,
    Integer,
    Float,
    Boolean,
    Date,
}

impl DataType {
    /// The config's and Intercom's spelling (`string`, `integer`, `float`,
    /// `boolean`, `date`).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Integer => "integer",
            DataType::Float => "float",
            DataType::Boolean => "boolean",
            DataType::Date => "date",
        }
    }
}

/// Why a value could not be coerced; the mapping adds the field and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoerceError(pub String);

impl std::fmt::Display for CoerceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CoerceError {}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a user would recognise it in an error message: text in single
    /// quotes (cut at 60 characters so a huge cell does not swamp the run record),
    /// anything else as written.
    pub fn quoted(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Text(s) => quote_text(s),
            Value::Timestamp(t) => rfc3339(*t).unwrap_or_else(|| format!("timestamp {t}")),
            Value::List(items) => quote_list(items),
        }
    }
}

/// A list as a user would read it: `the list ['a', 2, null]`, cut at 60
/// characters like text (items are written until the cut, so a huge list costs no
/// more than a short one).
fn quote_list(items: &[Value]) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    if write_list(items, &mut out, MAX) {
        out.push(']');
    } else {
        let cut: String = out.chars().take(MAX).collect();
        out = format!("{cut}…]");
    }
    format!("the list {out}")
}

/// Writes `[item, item, …` into `out` (without the closing bracket of the outer
/// list); false when `out` passed `max` characters and writing stopped.
fn write_list(items: &[Value], out: &mut String, max: usize) -> bool {
    // Checked before going deeper too, so nesting costs no more than length.
    if out.chars().count() > max {
        return false;
    }
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match item {
            Value::List(inner) => {
                if !write_list(inner, out, max) {
                    return false;
                }
                out.push(']');
            }
            other => out.push_str(&other.quoted()),
        }
        if out.chars().count() > max {
            return false;
        }
    }
    true
}

/// Epoch numbers at or above this magnitude are milliseconds: 10^11 seconds is the
/// year 5138, 10^11 milliseconds is March 1973, so no real date is ambiguous.
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Intercom keeps at most this many characters in a custom-attribute string.
pub const MAX_ATTRIBUTE_CHARS: usize = 255;

/// The earliest timestamp backflow sends: 0000-01-01T00:00:00Z.
pub const MIN_UNIX_SECONDS: i64 = -62_167_219_200;

/// The latest timestamp backflow sends: 9999-12-31T23:59:59Z. With
/// [`MIN_UNIX_SECONDS`], the years RFC 3339 (and every text form accepted here) can
/// write; an epoch number outside them is garbage, not a date (`i64::MAX`
/// milliseconds is the year 292 million).
pub const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

fn quote_text(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("'{cut}…'")
    } else {
        format!("'{s}'")
    }
}

fn err<T>(value: &Value, what: &str) -> Result<T, CoerceError> {
    Err(CoerceError(format!("{} is not {what}", value.quoted())))
}

/// Unix seconds → `2024-01-02T03:04:05Z`; `None` outside chrono's range.
fn rfc3339(secs: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn epoch_int(n: i64) -> i64 {
    if n.unsigned_abs() >= MILLIS_THRESHOLD as u64 {
        // Floor, not truncate: -1500 ms is 1.5 s before the epoch, i.e. second -2.
        n.div_euclid(1000)
    } else {
        n
    }
}

/// Any accepted timestamp form → Unix seconds (UTC, sub-second part dropped),
/// within years 0000 to 9999 ([`MIN_UNIX_SECONDS`]..=[`MAX_UNIX_SECONDS`]).
///
/// - `Timestamp`: as is.
/// - `Int`/`Float`: epoch seconds, or milliseconds when |n| ≥ 100,000,000,000.
/// - `Text`: RFC 3339 (`2024-01-02T03:04:05Z`, `…+05:30`, `t`/`z`/space allowed),
///   PostgreSQL's `timestamptz` text (`2024-01-02 03:04:05.123+00`),
///   `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DD HH:MM:SS[.fff]` and
///   `YYYY-MM-DDTHH:MM:SS[.fff]` without an offset (taken as UTC), or a digit
///   string (epoch seconds or milliseconds as above).
pub fn to_unix_seconds(value: &Value) -> Result<i64, CoerceError> {
    let secs = unix_seconds(value)?;
    if (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&secs) {
        Ok(secs)
    } else {
        err(value, "a timestamp within the years 0000 to 9999")
    }
}

fn unix_seconds(value: &Value) -> Result<i64, CoerceError> {
    match value {
        Value::Timestamp(t) => Ok(*t),
        Value::Int(n) => Ok(epoch_int(*n)),
        Value::Float(f) => {
            if !f.is_finite() {
                return err(value, "a timestamp");
            }
            let secs = if f.abs() >= MILLIS_THRESHOLD as f64 {
                f / 1000.0
            } else {
                *f
            }
            .floor();
            // i64::MAX as f64 rounds up to 2^63, so compare with `<` against it.
            if secs < i64::MIN as f64 || secs >= i64::MAX as f64 {
                return err(value, "a timestamp");
            }
            Ok(secs as i64)
        }
        Value::Text(s) => parse_timestamp_text(s.trim()).ok_or_else(|| {
            CoerceError(format!(
                "{} is not a timestamp (expected RFC 3339, YYYY-MM-DD, \
                 YYYY-MM-DD HH:MM:SS or epoch seconds/milliseconds)",
                value.quoted()
            ))
        }),
        Value::Null | Value::Bool(_) | Value::List(_) => err(value, "a timestamp"),
    }
}

fn parse_timestamp_text(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};

    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().map(epoch_int);
    }
    // Every accepted form starts with a four-digit year and a dash; checking that
    // first keeps chrono's lenient `%Y` (which takes `+2024` or `12345`) out of it.
    let b = s.as_bytes();
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for format in [
        // PostgreSQL `timestamptz` text: `+00`, `+0530` or `+05:30` offsets.
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.timestamp());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp())
}

/// An integer: `Int`; a `Float` with no fractional part; text holding one.
/// Booleans and timestamps are not integers.
pub fn to_int(value: &Value) -> Result<i64, CoerceError> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Float(f) => float_to_int(*f).ok_or_else(|| not_integer(value)),
        Value::Text(s) => {
            let t = s.trim();
            t.parse::<i64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(float_to_int))
                .ok_or_else(|| not_integer(value))
        }
        Value::Null | Value::Bool(_) | Value::Timestamp(_) | Value::List(_) => {
            Err(not_integer(value))
        }
    }
}

fn not_integer(value: &Value) -> CoerceError {
    CoerceError(format!("{} is not an integer", value.quoted()))
}

fn float_to_int(f: f64) -> Option<i64> {
    // `i64::MAX as f64` is 2^63, itself out of range, hence `<`.
    (f.is_finite() && f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64)
        .then_some(f as i64)
}

/// A finite number: `Int`, `Float`, or text holding one (`NaN` and infinities are
/// refused: JSON cannot carry them).
pub fn to_float(value: &Value) -> Result<f64, CoerceError> {
    let f = match value {
        Value::Int(n) => Some(*n as f64),
        Value::Float(f) => Some(*f),
        Value::Text(s) => s.trim().parse::<f64>().ok(),
        Value::Null | Value::Bool(_) | Value::Timestamp(_) | Value::List(_) => None,
    };
    match f {
        Some(f) if f.is_finite() => Ok(f),
        _ => err(value, "a number"),
    }
}

/// A boolean: `Bool`; `Int`/`Float` 0 or 1; text `true/false/t/f/yes/no/1/0`
/// (any case, surrounding spaces ignored).
pub fn to_bool(value: &Value) -> Result<bool, CoerceError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Float(f) if *f == 0.0 => Ok(false),
        Value::Float(f) if *f == 1.0 => Ok(true),
        Value::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "1" => Ok(true),
            "false" | "f" | "no" | "0" => Ok(false),
            _ => err(value, "a boolean"),
        },
        _ => err(value, "a boolean"),
    }
}

/// Text: `Text` as is; numbers and booleans formatted (`42`, `1.5`, `true`; an
/// integral float prints without `.0`, so a `NUMERIC` id reads `42`); timestamps
/// as RFC 3339 UTC (`2024-01-02T03:04:05Z`).
pub fn to_text(value: &Value) -> Result<String, CoerceError> {
    match value {
        Value::Text(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Float(f) if f.is_finite() => Ok(f.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Timestamp(t) => {
            rfc3339(*t).ok_or_else(|| CoerceError(format!("timestamp {t} is out of range")))
        }
        Value::Float(_) | Value::Null | Value::List(_) => err(value, "text"),
    }
}

/// A JSON number from a float: integral values within ±2^53 print as integers
/// (`155`, not `155.0`), so the same amount always encodes — and fingerprints —
/// the same way whatever the warehouse type.
pub fn number_json(f: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.fract() == 0.0 && f.abs() <= EXACT {
        serde_json::Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

/// The JSON Intercom expects for a custom attribute of `data_type`: a string, an
/// integer, a number, a boolean, or a date as Unix seconds. `Null` stays `null`.
pub fn to_json(value: &Value, data_type: DataType) -> Result<serde_json::Value, CoerceError> {
    use serde_json::Value as J;
    if value.is_null() {
        return Ok(J::Null);
    }
    Ok(match data_type {
        DataType::String => J::String(to_text(value)?),
        DataType::Integer => J::from(to_int(value)?),
        DataType::Float => number_json(to_float(value)?),
        DataType::Boolean => J::Bool(to_bool(value)?),
        DataType::Date => J::from(to_unix_seconds(value)?),
    })
}

/// A plausible email, trimmed (case kept: Intercom compares emails
/// case-insensitively). One `@`, a non-empty local part, a domain with a dot
/// that neither starts nor ends it, no whitespace. Deliberately loose: Intercom
/// is the judge of deliverability; this only stops obvious garbage from being sent.
pub fn check_email(raw: &str) -> Result<String, CoerceError> {
    let email = raw.trim();
    let bad = || CoerceError(format!("{} is not a valid email", quote_text(raw)));
    if email.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || domain.contains('@') || !domain_ok {
        return Err(bad());
    }
    Ok(email.to_string())
}

/// The data type of a custom attribute that does not exist yet: from the column's
/// declared kind, or — when the driver cannot tell (`Unknown`) — from the first
/// non-null value (`String` when there is none yet).
pub fn infer_data_type(kind: ColumnKind, first_non_null: Option<&Value>) -> DataType {
    match kind {
        ColumnKind::Bool => DataType::Boolean,
        ColumnKind::Int => DataType::Integer,
        ColumnKind::Float => DataType::Float,
        ColumnKind::Timestamp | ColumnKind::Date => DataType::Date,
        // Intercom has no list attribute; every list value is refused by the
        // mapping, so the type is never used to create one.
        ColumnKind::Text | ColumnKind::List => DataType::String,
        ColumnKind::Unknown => match first_non_null {
            Some(Value::Bool(_)) => DataType::Boolean,
            Some(Value::Int(_)) => DataType::Integer,
            Some(Value::Float(_)) => DataType::Float,
            Some(Value::Timestamp(_)) => DataType::Date,
            Some(Value::Text(_)) | Some(Value::List(_)) | Some(Value::Null) | None => {
                DataType::String
            }
        },
    }
}

/// Does a column's name mark it as a date? Intercom's own convention names dates
/// `…_at`, and warehouses that keep dates as text or epoch numbers (SQLite above
/// all) leave the name as the only hint. Any case (`TRIAL_ENDS_AT` from
/// Snowflake).
pub fn is_date_name(column: &str) -> bool {
    let lower = column.to_ascii_lowercase();
    lower.ends_with("_at") || lower.ends_with("_date")
}

/// Whether a date-named column ([`is_date_name`]) of this kind is a `date`
/// attribute when its values are timestamps: text and number columns (and
/// columns the driver cannot type). Booleans and lists never are; date and
/// timestamp columns already are.
pub fn kind_may_hold_dates(kind: ColumnKind) -> bool {
    matches!(
        kind,
        ColumnKind::Text | ColumnKind::Int | ColumnKind::Float | ColumnKind::Unknown
    )
}

/// The data type of a new custom attribute mapped from a date-named text or
/// number column, settled by its first non-null value: `Date` when that value is
/// a timestamp (ISO-8601 text, `YYYY-MM-DD[ HH:MM:SS]`, epoch seconds or
/// milliseconds), otherwise what [`infer_data_type`] says (the attribute stays a
/// string for text).
pub fn infer_date_named_type(kind: ColumnKind, first_non_null: &Value) -> DataType {
    if to_unix_seconds(first_non_null).is_ok() {
        DataType::Date
    } else {
        infer_data_type(kind, Some(first_non_null))
    }
}

#[cfg(test)]
mod tests;
