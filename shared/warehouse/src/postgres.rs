//! PostgreSQL cells → values. sqlx runs `query()` through the extended protocol and
//! asks for every result column in the binary format, so the decoders read
//! PostgreSQL's `*_send` encodings (big-endian; dates and timestamps count from
//! 2000-01-01).

use backflow_core::value::{Column, Value};
use sqlx::postgres::{PgRow, PgTypeInfo, PgTypeKind, PgValueFormat, PgValueRef};
use sqlx::{Column as _, Executor, PgPool, Row, SqlSafeStr, Statement, TypeInfo, ValueRef};

use crate::kind::{printable_text, PgDecoder};
use crate::{column, decimal, decode_error, Error, Rows};

/// Unix seconds of PostgreSQL's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH: i64 = 946_684_800;

/// Starts the query; the columns come from the first row, or from the prepared
/// statement when there is none.
pub(crate) async fn open<'a>(
    pool: &'a PgPool,
    sql: &str,
) -> Result<(Vec<Column>, Vec<PgDecoder>, Rows<'a, PgRow>), sqlx::Error> {
    let rows = Rows::start(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(pool)).await?;
    let described: Vec<(String, PgDecoder)> = match &rows.first {
        Some(row) => row
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), decoder(c.type_info())))
            .collect(),
        None => pool
            .prepare(sqlx::AssertSqlSafe(sql).into_sql_str())
            .await?
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), decoder(c.type_info())))
            .collect(),
    };
    let columns = described
        .iter()
        .map(|(name, d)| column(name, d.kind()))
        .collect();
    let decoders = described.into_iter().map(|(_, d)| d).collect();
    Ok((columns, decoders, rows))
}

fn decoder(type_info: &PgTypeInfo) -> PgDecoder {
    match type_info.kind() {
        // An enum's binary form is its label.
        PgTypeKind::Enum(_) => PgDecoder::Text,
        _ => PgDecoder::for_type(type_info.name()),
    }
}

pub(crate) fn decode_row(
    row: &PgRow,
    decoders: &[PgDecoder],
    columns: &[Column],
    model: &str,
) -> Result<Vec<Value>, Error> {
    let mut values = Vec::with_capacity(columns.len());
    for (i, (decoder, column)) in decoders.iter().zip(columns).enumerate() {
        let raw = row
            .try_get_raw(i)
            .map_err(|e| decode_error(model, column, "?", e))?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            decode(*decoder, &raw)
                .map_err(|message| decode_error(model, column, raw.type_info().name(), message))?
        };
        values.push(value);
    }
    Ok(values)
}

fn decode(decoder: PgDecoder, raw: &PgValueRef<'_>) -> Result<Value, String> {
    if raw.format() != PgValueFormat::Binary {
        return Err("unexpected text-format value".to_string());
    }
    let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
    Ok(match decoder {
        PgDecoder::Bool => Value::Bool(fixed::<1>(bytes)?[0] != 0),
        PgDecoder::Int2 => Value::Int(i16::from_be_bytes(fixed(bytes)?).into()),
        PgDecoder::Int4 => Value::Int(i32::from_be_bytes(fixed(bytes)?).into()),
        PgDecoder::Int8 => Value::Int(i64::from_be_bytes(fixed(bytes)?)),
        PgDecoder::Oid => Value::Int(u32::from_be_bytes(fixed(bytes)?).into()),
        PgDecoder::Float4 => Value::Float(widen(f32::from_be_bytes(fixed(bytes)?))),
        PgDecoder::Float8 => Value::Float(f64::from_be_bytes(fixed(bytes)?)),
        PgDecoder::Numeric => decimal::value(&decimal::pg_numeric_text(bytes)?),
        PgDecoder::Text => Value::Text(utf8(bytes)?.to_string()),
        PgDecoder::Uuid => Value::Text(uuid(fixed(bytes)?)),
        PgDecoder::Json => Value::Text(utf8(bytes)?.to_string()),
        PgDecoder::Jsonb => match bytes.split_first() {
            Some((1, json)) => Value::Text(utf8(json)?.to_string()),
            _ => return Err("unsupported JSONB version".to_string()),
        },
        PgDecoder::Time => Value::Text(time_of_day(i64::from_be_bytes(fixed(bytes)?))),
        PgDecoder::Date => match i32::from_be_bytes(fixed(bytes)?) {
            // `infinity` / `-infinity`: no point in time Intercom could store.
            i32::MAX | i32::MIN => Value::Null,
            days => Value::Timestamp(PG_EPOCH + i64::from(days) * 86_400),
        },
        PgDecoder::Timestamp => match i64::from_be_bytes(fixed(bytes)?) {
            i64::MAX | i64::MIN => Value::Null,
            micros => Value::Timestamp(PG_EPOCH + micros.div_euclid(1_000_000)),
        },
        PgDecoder::Other => match printable_text(bytes) {
            Some(text) => Value::Text(text.to_string()),
            None => {
                return Err(
                    "backflow cannot read this type; cast the column to text in the model's SQL (`column::text`)"
                        .to_string(),
                )
            }
        },
    })
}

/// The bytes as an array of exactly `N` bytes.
fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", bytes.len()))
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8: {e}"))
}

/// An `f32` as the `f64` of its shortest decimal form: `0.1f32` → `0.1`, not
/// `0.10000000149011612`, which is what the warehouse shows the user.
pub(crate) fn widen(value: f32) -> f64 {
    if value.is_finite() {
        value.to_string().parse().unwrap_or(f64::from(value))
    } else {
        f64::from(value)
    }
}

fn uuid(bytes: [u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Microseconds since midnight → `HH:MM:SS[.ffffff]`.
pub(crate) fn time_of_day(micros: i64) -> String {
    crate::cells::time_of_day(micros, 6).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_uuids_and_times() {
        let bytes = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(uuid(bytes), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(time_of_day(0), "00:00:00");
        assert_eq!(
            time_of_day(((13 * 60 + 45) * 60 + 30) * 1_000_000 + 250),
            "13:45:30.000250"
        );
        assert_eq!(time_of_day(86_400 * 1_000_000), "24:00:00");
    }

    #[test]
    fn widens_f32_through_its_shortest_decimal() {
        assert_eq!(widen(0.1), 0.1);
        assert_eq!(widen(1e-7), 1e-7);
        assert_eq!(widen(-3.4e38), -3.4e38);
        assert!(widen(f32::NAN).is_nan());
        assert_eq!(widen(f32::INFINITY), f64::INFINITY);
    }
}
