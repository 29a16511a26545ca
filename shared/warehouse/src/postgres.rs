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
    decode_bytes(decoder, bytes)
}

/// One value in PostgreSQL's binary format (an array's elements too).
fn decode_bytes(decoder: PgDecoder, bytes: &[u8]) -> Result<Value, String> {
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
        PgDecoder::Array => decode_array(bytes)?,
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

/// An array in PostgreSQL's binary format (`array_send`): the number of
/// dimensions, a has-nulls flag, the element type's OID, each dimension's length
/// and lower bound, then each element as a length (-1 for NULL) and its bytes,
/// the last dimension varying fastest. One dimension is a list; more nest.
fn decode_array(bytes: &[u8]) -> Result<Value, String> {
    let mut reader = Reader(bytes);
    let dimensions = reader.i32()?;
    let _has_nulls = reader.i32()?;
    let element = PgDecoder::for_element_oid(reader.i32()? as u32);
    if dimensions == 0 {
        return Ok(Value::List(Vec::new()));
    }
    // PostgreSQL allows at most 6 dimensions (MAXDIM).
    if !(1..=6).contains(&dimensions) {
        return Err(format!("an array of {dimensions} dimensions"));
    }
    let mut lengths = Vec::with_capacity(dimensions as usize);
    for _ in 0..dimensions {
        let length = usize::try_from(reader.i32()?).map_err(|_| "a negative array length")?;
        let _lower_bound = reader.i32()?;
        lengths.push(length);
    }
    // Every element takes at least its 4-byte length: a count beyond that is a
    // corrupt header, refused before anything is allocated for it.
    let count = lengths
        .iter()
        .try_fold(1usize, |n, l| n.checked_mul(*l))
        .filter(|n| *n <= reader.0.len() / 4)
        .ok_or("array dimensions larger than the data")?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(match reader.i32()? {
            -1 => Value::Null,
            length => {
                let length = usize::try_from(length).map_err(|_| "a negative element length")?;
                decode_bytes(element, reader.take(length)?)?
            }
        });
    }
    // Group the flat elements by the dimensions, innermost first.
    for &length in lengths[1..].iter().rev() {
        if length == 0 {
            break;
        }
        let mut grouped = Vec::with_capacity(items.len() / length);
        let mut rest = items.into_iter();
        loop {
            let chunk: Vec<Value> = rest.by_ref().take(length).collect();
            if chunk.is_empty() {
                break;
            }
            grouped.push(Value::List(chunk));
        }
        items = grouped;
    }
    Ok(Value::List(items))
}

/// Reads big-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("a truncated array".to_string());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(fixed(self.take(4)?)?))
    }
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

    /// `array_send` bytes: dimensions, element OID, then each element (`None`
    /// is NULL).
    fn array(dims: &[i32], oid: i32, elements: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((dims.len() as i32).to_be_bytes());
        out.extend(i32::from(elements.iter().any(Option::is_none)).to_be_bytes());
        out.extend(oid.to_be_bytes());
        for d in dims {
            out.extend(d.to_be_bytes());
            out.extend(1i32.to_be_bytes());
        }
        for e in elements {
            match e {
                None => out.extend((-1i32).to_be_bytes()),
                Some(bytes) => {
                    out.extend((bytes.len() as i32).to_be_bytes());
                    out.extend(*bytes);
                }
            }
        }
        out
    }

    #[test]
    fn arrays_become_lists() {
        let text = |s: &str| Value::Text(s.to_string());
        assert_eq!(
            decode_array(&array(&[3], 25, &[Some(b"vip"), None, Some(b"beta")])),
            Ok(Value::List(vec![text("vip"), Value::Null, text("beta")]))
        );
        let one = 1i32.to_be_bytes();
        let two = 2i32.to_be_bytes();
        assert_eq!(
            decode_array(&array(
                &[2, 2],
                23,
                &[Some(&one), Some(&two), Some(&two), Some(&one)]
            )),
            Ok(Value::List(vec![
                Value::List(vec![Value::Int(1), Value::Int(2)]),
                Value::List(vec![Value::Int(2), Value::Int(1)]),
            ]))
        );
        // A timestamptz element: microseconds since 2000-01-01.
        let micros = ((1_704_164_645 - PG_EPOCH) * 1_000_000).to_be_bytes();
        assert_eq!(
            decode_array(&array(&[1], 1184, &[Some(&micros)])),
            Ok(Value::List(vec![Value::Timestamp(1_704_164_645)]))
        );
        assert_eq!(
            decode_array(&array(&[], 25, &[])),
            Ok(Value::List(Vec::new()))
        );
        // Corrupt headers are errors, never panics or huge allocations.
        let mut huge = array(&[1], 25, &[Some(b"a")]);
        huge[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_array(&huge).is_err());
        let whole = array(&[2], 25, &[Some(b"a"), Some(b"b")]);
        for cut in 0..whole.len() {
            assert!(decode_array(&whole[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_array(&array(&[1, 1, 1, 1, 1, 1, 1], 25, &[Some(b"a")])).is_err());
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
