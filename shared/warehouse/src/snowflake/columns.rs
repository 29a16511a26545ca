//! How each Snowflake type is read. The result's `rowtype` names each column's
//! type; the cells arrive as Arrow (`arrow`) or text (`json`).
//!
//! | Snowflake type (`rowtype.type`) | Arrow | JSON text | value | `ColumnKind` |
//! |---|---|---|---|---|
//! | `FIXED` (NUMBER, INT, DECIMAL) scale 0 | int8–64, decimal128 | `123` | `Int`; beyond `i64` the exact digits as `Text` | `Int` |
//! | `FIXED` scale > 0 | int8–64 scaled by `scale`, decimal128 | `12.50` | `Float`, or exact `Text` when a float would change its whole part | `Float` |
//! | `REAL` (FLOAT, DOUBLE) | float64 | `0.1` | `Float` | `Float` |
//! | `TEXT` (VARCHAR, STRING, CHAR) | utf8 | text | `Text` | `Text` |
//! | `BOOLEAN` | bool | `1`/`0` (or `TRUE`/`FALSE`) | `Bool` | `Bool` |
//! | `DATE` | date32 (days) | days since 1970-01-01 | `Timestamp` at midnight UTC | `Date` |
//! | `TIMESTAMP_NTZ` (read as UTC), `TIMESTAMP_LTZ` | int64 scaled by `scale`, or struct {epoch s, fraction ns} | `1700000000.123456789` | `Timestamp` (seconds, floored) | `Timestamp` |
//! | `TIMESTAMP_TZ` | struct {epoch (scaled), timezone} or {epoch s, fraction, timezone} | `1700000000.123 1560` | `Timestamp` of the instant | `Timestamp` |
//! | `TIME` | int32/int64 scaled by `scale` | seconds since midnight | `Text` `HH:MM:SS[.fff]` | `Text` |
//! | `VARIANT`, `OBJECT` | utf8 (JSON) | JSON text | `Text` of the JSON | `Text` |
//! | `ARRAY` | utf8 (JSON) | JSON text | `List` of the items (strings `Text`, numbers `Int`/`Float`, objects their JSON text) | `List` |
//! | `BINARY` | binary | hex | `Text` when UTF-8 text, else an error naming the column | `Text` |
//! | anything else (`GEOGRAPHY`, `DECFLOAT`, `VECTOR`, ...) | utf8 | text | `Text`; a non-text Arrow array is an error naming the column (cast it in the SQL) | `Unknown` |
//!
//! NULL is `Value::Null` in every type: an Arrow cell is null when its array
//! marks it so — for a timestamp struct, the struct *or* its `epoch` (a stand-in
//! was seen leaving the struct valid and only its children null, which a reader
//! of the struct alone turns into 1970-01-01).

use backflow_core::value::{Column, ColumnKind};

use super::query::RowType;

/// A result column and what its cells are.
#[derive(Debug, Clone)]
pub(crate) struct SfColumn {
    pub name: String,
    /// The upper-cased Snowflake type (`FIXED`, `TIMESTAMP_NTZ`, ...).
    pub logical: String,
    /// Digits after the point (`FIXED`) or of the fraction (`TIME`, timestamps).
    pub scale: u32,
}

impl SfColumn {
    pub(crate) fn from_rowtype(row_type: &RowType) -> Self {
        let logical = row_type.type_name.to_uppercase();
        let default_scale = match logical.as_str() {
            "TIME" | "TIMESTAMP" | "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_TZ" => 9,
            _ => 0,
        };
        let scale = row_type
            .scale
            .and_then(|s| u32::try_from(s).ok())
            .filter(|s| *s <= 38)
            .unwrap_or(default_scale);
        SfColumn {
            name: row_type.name.clone(),
            logical,
            scale,
        }
    }

    pub(crate) fn kind(&self) -> ColumnKind {
        match self.logical.as_str() {
            "FIXED" if self.scale == 0 => ColumnKind::Int,
            "FIXED" | "REAL" => ColumnKind::Float,
            "TEXT" | "VARIANT" | "OBJECT" | "BINARY" | "TIME" => ColumnKind::Text,
            "ARRAY" => ColumnKind::List,
            "BOOLEAN" => ColumnKind::Bool,
            "DATE" => ColumnKind::Date,
            t if is_timestamp(t) => ColumnKind::Timestamp,
            _ => ColumnKind::Unknown,
        }
    }

    pub(crate) fn column(&self) -> Column {
        Column {
            name: self.name.clone(),
            kind: self.kind(),
        }
    }
}

pub(crate) fn is_timestamp(logical: &str) -> bool {
    matches!(
        logical,
        "TIMESTAMP" | "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_TZ"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_rowtype() {
        let cases = [
            ("fixed", Some(0), ColumnKind::Int),
            ("fixed", Some(2), ColumnKind::Float),
            ("real", None, ColumnKind::Float),
            ("text", None, ColumnKind::Text),
            ("boolean", None, ColumnKind::Bool),
            ("date", None, ColumnKind::Date),
            ("timestamp_ntz", Some(9), ColumnKind::Timestamp),
            ("timestamp_ltz", Some(3), ColumnKind::Timestamp),
            ("timestamp_tz", Some(9), ColumnKind::Timestamp),
            ("time", Some(9), ColumnKind::Text),
            ("variant", None, ColumnKind::Text),
            ("object", None, ColumnKind::Text),
            ("array", None, ColumnKind::List),
            ("binary", None, ColumnKind::Text),
            ("geography", None, ColumnKind::Unknown),
        ];
        for (type_name, scale, kind) in cases {
            let column = SfColumn::from_rowtype(&RowType {
                name: "C".into(),
                type_name: type_name.into(),
                scale,
            });
            assert_eq!(column.kind(), kind, "{type_name}");
        }
        let time = SfColumn::from_rowtype(&RowType {
            name: "T".into(),
            type_name: "time".into(),
            scale: None,
        });
        assert_eq!(time.scale, 9);
    }
}
