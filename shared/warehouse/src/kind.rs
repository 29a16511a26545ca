//! How each warehouse type is read: the driver's type name (sqlx's
//! `TypeInfo::name()`) picks a decoder, and the decoder says the [`ColumnKind`].
//!
//! | warehouse | type (`TypeInfo::name()`) | value | `ColumnKind` |
//! |---|---|---|---|
//! | PostgreSQL | `BOOL` | `Bool` | `Bool` |
//! | PostgreSQL | `INT2`, `INT4`, `INT8`, `OID` | `Int` | `Int` |
//! | PostgreSQL | `FLOAT4`, `FLOAT8` | `Float` (`FLOAT4` through its shortest decimal, so `0.1` stays `0.1`) | `Float` |
//! | PostgreSQL | `NUMERIC` | `Float`, except `Text` of the exact digits when a float would change its whole part (more than 15 significant digits and more than 15 before the point, like a 20-digit ID) or it is not finite (`NaN`, `Infinity`) | `Float` |
//! | PostgreSQL | `TEXT`, `VARCHAR`, `CHAR` (bpchar, blank-padded as stored), `NAME`, `CITEXT`, `UNKNOWN`, enum types | `Text` | `Text` |
//! | PostgreSQL | `UUID` | `Text` (`8-4-4-4-12` lowercase hex) | `Text` |
//! | PostgreSQL | `JSON`, `JSONB` | `Text` of the JSON (`JSONB` as PostgreSQL normalised it) | `Text` |
//! | PostgreSQL | `TIME` | `Text` `HH:MM:SS[.ffffff]` | `Text` |
//! | PostgreSQL | `DATE` | `Timestamp` at midnight UTC; `±infinity` → `Null` | `Date` |
//! | PostgreSQL | `TIMESTAMP` (read as UTC), `TIMESTAMPTZ` | `Timestamp` (seconds, floored); `±infinity` → `Null` | `Timestamp` |
//! | PostgreSQL | arrays (`TEXT[]`, `INT4[]`, `TIMESTAMPTZ[]`, …) | `List`, each element read as its type above (`NULL` elements `Null`; several dimensions nest) | `List` |
//! | MySQL/MariaDB | `BOOLEAN` (= `TINYINT(1)`) | `Bool` (non-zero is true) | `Bool` |
//! | MySQL/MariaDB | `TINYINT`, `SMALLINT`, `MEDIUMINT`, `INT`, `BIGINT`, each also `UNSIGNED`; `YEAR`, `BIT` | `Int`; a `BIGINT UNSIGNED` above `i64::MAX` → `Text` of its digits | `Int` |
//! | MySQL/MariaDB | `FLOAT`, `DOUBLE` | `Float` (`FLOAT` through its shortest decimal) | `Float` |
//! | MySQL/MariaDB | `DECIMAL` | as PostgreSQL `NUMERIC` | `Float` |
//! | MySQL/MariaDB | `CHAR`, `VARCHAR`, `TINYTEXT`, `TEXT`, `MEDIUMTEXT`, `LONGTEXT`, `ENUM`, `SET`, `JSON` (MariaDB's `JSON` is a `LONGTEXT`; a JSON array stays its text: MySQL has no array type) | `Text` | `Text` |
//! | MySQL/MariaDB | `BINARY`, `VARBINARY`, `*BLOB` (also text columns with a binary collation) | `Text` when the bytes are UTF-8 text, else an error | `Text` |
//! | MySQL/MariaDB | `TIME` | `Text` `[-]HH:MM:SS[.ffffff]` (hours may exceed 24) | `Text` |
//! | MySQL/MariaDB | `DATE` | `Timestamp` at midnight UTC; the zero date `0000-00-00` → `Null` | `Date` |
//! | MySQL/MariaDB | `DATETIME` (read as UTC), `TIMESTAMP` (the session is UTC) | `Timestamp` (seconds, floored); zero → `Null` | `Timestamp` |
//! | SQLite | any (the *declared* type) | by each value's storage class: `NULL` → `Null`, `INTEGER` → `Int`, `REAL` → `Float`, `TEXT` → `Text`, `BLOB` → `Text` when UTF-8 text, else an error | see below |
//! | SQLite | declared `BOOLEAN`/`BOOL` | values as stored (usually `Int` 0/1) | `Bool` |
//! | SQLite | declared `…INT…` | | `Int` |
//! | SQLite | declared `REAL`, `FLOA…`, `DOUB…` | | `Float` |
//! | SQLite | declared `TEXT`, `…CHAR…`, `CLOB`, `TIME` | | `Text` |
//! | SQLite | declared `DATE` | values as stored (text or numbers; the core coerces them) | `Date` |
//! | SQLite | declared `DATETIME`, `TIMESTAMP` | values as stored | `Timestamp` |
//! | SQLite | declared `BLOB`, `NUMERIC`/`DECIMAL` or anything else; expressions (`count(*)`, `a + b`) | | `Unknown` |
//! | any | anything else (`INTERVAL`, `MONEY`, `GEOMETRY`, ...) | `Text` when the value's bytes are printable UTF-8, else an error naming the model, column and type (cast it to text in the SQL) | `Unknown` |
//!
//! `NULL` is `Value::Null` in every type. `Unknown` tells the core to infer the
//! column's type from its first non-null value.

use backflow_core::value::ColumnKind;

/// How a PostgreSQL column is read (sqlx asks for the binary result format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgDecoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Uuid,
    Json,
    Jsonb,
    Time,
    Date,
    Timestamp,
    /// A one- or more-dimensional array (`TEXT[]`, `INT4[]`, …): a list whose
    /// items are read by the element type the array names.
    Array,
    /// Printable UTF-8 text, else an error.
    Other,
}

impl PgDecoder {
    /// `name` is sqlx's `TypeInfo::name()`; enum types (whose name is the user's)
    /// are recognised by the caller from the type's kind.
    pub(crate) fn for_type(name: &str) -> Self {
        match name {
            "BOOL" => Self::Bool,
            "INT2" => Self::Int2,
            "INT4" => Self::Int4,
            "INT8" => Self::Int8,
            "OID" => Self::Oid,
            "FLOAT4" => Self::Float4,
            "FLOAT8" => Self::Float8,
            "NUMERIC" => Self::Numeric,
            // sqlx names bpchar `CHAR`; the single-byte `"char"` is `"CHAR"`.
            "TEXT" | "VARCHAR" | "CHAR" | "BPCHAR" | "NAME" | "UNKNOWN" => Self::Text,
            _ if name.eq_ignore_ascii_case("citext") => Self::Text,
            "UUID" => Self::Uuid,
            "JSON" => Self::Json,
            "JSONB" => Self::Jsonb,
            "TIME" => Self::Time,
            "DATE" => Self::Date,
            "TIMESTAMP" | "TIMESTAMPTZ" => Self::Timestamp,
            _ if name.ends_with("[]") => Self::Array,
            _ => Self::Other,
        }
    }

    /// The decoder of an array's elements, from the element type's OID in the
    /// array's binary header (PostgreSQL's fixed OIDs of the built-in types).
    pub(crate) fn for_element_oid(oid: u32) -> Self {
        match oid {
            16 => Self::Bool,
            21 => Self::Int2,
            23 => Self::Int4,
            20 => Self::Int8,
            26 => Self::Oid,
            700 => Self::Float4,
            701 => Self::Float8,
            1700 => Self::Numeric,
            25 | 1043 | 1042 | 19 => Self::Text,
            2950 => Self::Uuid,
            114 => Self::Json,
            3802 => Self::Jsonb,
            1083 => Self::Time,
            1082 => Self::Date,
            1114 | 1184 => Self::Timestamp,
            // Enums (their binary form is the label), citext, domains: text when
            // printable.
            _ => Self::Other,
        }
    }

    pub(crate) fn kind(self) -> ColumnKind {
        match self {
            Self::Bool => ColumnKind::Bool,
            Self::Int2 | Self::Int4 | Self::Int8 | Self::Oid => ColumnKind::Int,
            Self::Float4 | Self::Float8 | Self::Numeric => ColumnKind::Float,
            Self::Text | Self::Uuid | Self::Json | Self::Jsonb | Self::Time => ColumnKind::Text,
            Self::Date => ColumnKind::Date,
            Self::Timestamp => ColumnKind::Timestamp,
            Self::Array => ColumnKind::List,
            Self::Other => ColumnKind::Unknown,
        }
    }
}

/// How a MySQL/MariaDB column is read (sqlx uses the binary protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MySqlDecoder {
    Bool,
    Int,
    Unsigned,
    Float,
    Double,
    Decimal,
    Text,
    /// Binary strings: UTF-8 text, else an error.
    Bytes,
    Time,
    Date,
    DateTime,
    /// Printable UTF-8 text, else an error.
    Other,
}

impl MySqlDecoder {
    pub(crate) fn for_type(name: &str) -> Self {
        match name {
            "BOOLEAN" => Self::Bool,
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => Self::Int,
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" | "YEAR" | "BIT" => Self::Unsigned,
            "FLOAT" => Self::Float,
            "DOUBLE" => Self::Double,
            "DECIMAL" => Self::Decimal,
            "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
            | "SET" | "JSON" => Self::Text,
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Self::Bytes,
            "TIME" => Self::Time,
            "DATE" => Self::Date,
            "DATETIME" | "TIMESTAMP" => Self::DateTime,
            _ => Self::Other,
        }
    }

    pub(crate) fn kind(self) -> ColumnKind {
        match self {
            Self::Bool => ColumnKind::Bool,
            Self::Int | Self::Unsigned => ColumnKind::Int,
            Self::Float | Self::Double | Self::Decimal => ColumnKind::Float,
            Self::Text | Self::Bytes | Self::Time => ColumnKind::Text,
            Self::Date => ColumnKind::Date,
            Self::DateTime => ColumnKind::Timestamp,
            Self::Other => ColumnKind::Unknown,
        }
    }
}

/// A SQLite column's kind from its declared type (`None` for an expression).
/// The declaration is read as SQLite's own affinity rules read it (`VARCHAR(20)`
/// is text, `BIGINT` an integer, `DOUBLE PRECISION` a float), plus the dates,
/// times and booleans SQLite leaves to the application. What it does not name
/// (`NUMERIC`, `DECIMAL`, `JSON`, none) is `Unknown`: the cells' own storage
/// classes decide. (The same reading as sqlx's, which backflow used before.)
pub(crate) fn sqlite_declared_kind(declared: Option<&str>) -> ColumnKind {
    let Some(declared) = declared else {
        return ColumnKind::Unknown;
    };
    let d = declared.to_ascii_lowercase();
    match d.as_str() {
        "int4" | "int8" => ColumnKind::Int,
        "boolean" | "bool" => ColumnKind::Bool,
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Text,
        "datetime" | "timestamp" => ColumnKind::Timestamp,
        _ if d.contains("int") => ColumnKind::Int,
        _ if d.contains("char") || d.contains("clob") || d.contains("text") => ColumnKind::Text,
        _ if d.contains("real") || d.contains("floa") || d.contains("doub") => ColumnKind::Float,
        _ => ColumnKind::Unknown,
    }
}

/// The text of bytes that are UTF-8 without control characters (tabs and line
/// breaks allowed) — the test for "can this unknown value be read as text?". A
/// binary encoding (integers, floats, intervals) nearly always has a zero or
/// non-UTF-8 byte and is refused rather than shown as garbage.
pub(crate) fn printable_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnKind::*;

    #[test]
    fn postgres_type_names() {
        let cases = [
            ("BOOL", Bool),
            ("INT2", Int),
            ("INT4", Int),
            ("INT8", Int),
            ("OID", Int),
            ("FLOAT4", Float),
            ("FLOAT8", Float),
            ("NUMERIC", Float),
            ("TEXT", Text),
            ("VARCHAR", Text),
            ("CHAR", Text),
            ("BPCHAR", Text),
            ("NAME", Text),
            ("citext", Text),
            ("UUID", Text),
            ("JSON", Text),
            ("JSONB", Text),
            ("TIME", Text),
            ("DATE", Date),
            ("TIMESTAMP", Timestamp),
            ("TIMESTAMPTZ", Timestamp),
            ("INTERVAL", Unknown),
            ("INT4[]", List),
            ("TEXT[]", List),
            ("TIMESTAMPTZ[]", List),
            ("MONEY", Unknown),
            ("\"CHAR\"", Unknown),
            ("mood", Unknown),
        ];
        for (name, kind) in cases {
            assert_eq!(PgDecoder::for_type(name).kind(), kind, "{name}");
        }
        assert_eq!(PgDecoder::for_type("TIMESTAMPTZ"), PgDecoder::Timestamp);
        assert_eq!(PgDecoder::for_type("BPCHAR"), PgDecoder::Text);
    }

    #[test]
    fn mysql_type_names() {
        let cases = [
            ("BOOLEAN", Bool),
            ("TINYINT", Int),
            ("TINYINT UNSIGNED", Int),
            ("SMALLINT", Int),
            ("SMALLINT UNSIGNED", Int),
            ("MEDIUMINT", Int),
            ("MEDIUMINT UNSIGNED", Int),
            ("INT", Int),
            ("INT UNSIGNED", Int),
            ("BIGINT", Int),
            ("BIGINT UNSIGNED", Int),
            ("YEAR", Int),
            ("BIT", Int),
            ("FLOAT", Float),
            ("DOUBLE", Float),
            ("DECIMAL", Float),
            ("CHAR", Text),
            ("VARCHAR", Text),
            ("TINYTEXT", Text),
            ("TEXT", Text),
            ("MEDIUMTEXT", Text),
            ("LONGTEXT", Text),
            ("ENUM", Text),
            ("SET", Text),
            ("JSON", Text),
            ("BINARY", Text),
            ("VARBINARY", Text),
            ("BLOB", Text),
            ("LONGBLOB", Text),
            ("TIME", Text),
            ("DATE", Date),
            ("DATETIME", Timestamp),
            ("TIMESTAMP", Timestamp),
            ("GEOMETRY", Unknown),
            ("NULL", Unknown),
        ];
        for (name, kind) in cases {
            assert_eq!(MySqlDecoder::for_type(name).kind(), kind, "{name}");
        }
        assert_eq!(
            MySqlDecoder::for_type("BIGINT UNSIGNED"),
            MySqlDecoder::Unsigned
        );
        assert_eq!(MySqlDecoder::for_type("BIGINT"), MySqlDecoder::Int);
    }

    #[test]
    fn sqlite_declared_types() {
        let cases = [
            (Some("BOOLEAN"), Bool),
            (Some("bool"), Bool),
            (Some("INTEGER"), Int),
            (Some("BIGINT"), Int),
            (Some("int4"), Int),
            (Some("REAL"), Float),
            (Some("DOUBLE PRECISION"), Float),
            (Some("float"), Float),
            (Some("TEXT"), Text),
            (Some("VARCHAR(20)"), Text),
            (Some("clob"), Text),
            (Some("TIME"), Text),
            (Some("DATE"), Date),
            (Some("DATETIME"), Timestamp),
            (Some("timestamp"), Timestamp),
            (Some("BLOB"), Unknown),
            (Some("NUMERIC"), Unknown),
            (Some("DECIMAL(10,2)"), Unknown),
            (Some("JSON"), Unknown),
            (Some(""), Unknown),
            (None, Unknown),
        ];
        for (declared, kind) in cases {
            assert_eq!(sqlite_declared_kind(declared), kind, "{declared:?}");
        }
    }

    #[test]
    fn printable_text_refuses_binary() {
        assert_eq!(
            printable_text("héllo\tworld 🎉\n".as_bytes()),
            Some("héllo\tworld 🎉\n")
        );
        assert_eq!(printable_text(&[0, 0, 0, 1]), None);
        assert_eq!(printable_text(&[0xff, 0xfe]), None);
        assert_eq!(printable_text(&0.1f64.to_be_bytes()), None);
        assert_eq!(printable_text(b""), Some(""));
    }
}
