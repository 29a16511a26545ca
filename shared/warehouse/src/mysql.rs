//! MySQL/MariaDB cells → values. sqlx prepares `query()` statements, so rows come
//! in the binary protocol: integers little-endian and sized by their type, decimals
//! as text, dates and times as a length byte followed by their fields.

use backflow_core::value::{Column, Value};
use sqlx::mysql::{MySqlRow, MySqlValueRef};
use sqlx::{Column as _, Decode, Executor, MySql, MySqlPool, Row, SqlSafeStr, Statement};
use sqlx::{TypeInfo, ValueRef};

use crate::kind::{printable_text, MySqlDecoder};
use crate::postgres::widen;
use crate::{column, decimal, decode_error, Error, Rows};

/// Starts the query; the columns come from the first row, or from the prepared
/// statement when there is none.
pub(crate) async fn open<'a>(
    pool: &'a MySqlPool,
    sql: &str,
) -> Result<(Vec<Column>, Vec<MySqlDecoder>, Rows<'a, MySqlRow>), sqlx::Error> {
    let rows = Rows::start(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(pool)).await?;
    let described: Vec<(String, MySqlDecoder)> = match &rows.first {
        Some(row) => row
            .columns()
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    MySqlDecoder::for_type(c.type_info().name()),
                )
            })
            .collect(),
        None => pool
            .prepare(sqlx::AssertSqlSafe(sql).into_sql_str())
            .await?
            .columns()
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    MySqlDecoder::for_type(c.type_info().name()),
                )
            })
            .collect(),
    };
    let columns = described
        .iter()
        .map(|(name, d)| column(name, d.kind()))
        .collect();
    let decoders = described.into_iter().map(|(_, d)| d).collect();
    Ok((columns, decoders, rows))
}

pub(crate) fn decode_row(
    row: &MySqlRow,
    decoders: &[MySqlDecoder],
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
            let type_name = raw.type_info().name().to_string();
            decode(*decoder, raw)
                .map_err(|message| decode_error(model, column, &type_name, message))?
        };
        values.push(value);
    }
    Ok(values)
}

fn decode(decoder: MySqlDecoder, raw: MySqlValueRef<'_>) -> Result<Value, String> {
    fn get<'r, T: Decode<'r, MySql>>(raw: MySqlValueRef<'r>) -> Result<T, String> {
        T::decode(raw).map_err(|e| e.to_string())
    }
    Ok(match decoder {
        MySqlDecoder::Bool => Value::Bool(get::<i64>(raw)? != 0),
        MySqlDecoder::Int => Value::Int(get::<i64>(raw)?),
        MySqlDecoder::Unsigned => {
            let unsigned = get::<u64>(raw)?;
            match i64::try_from(unsigned) {
                Ok(int) => Value::Int(int),
                // Above i64::MAX: keep every digit rather than round to a float.
                Err(_) => Value::Text(unsigned.to_string()),
            }
        }
        MySqlDecoder::Float => Value::Float(widen(get::<f32>(raw)?)),
        MySqlDecoder::Double => Value::Float(get::<f64>(raw)?),
        MySqlDecoder::Decimal => decimal::value(get::<&str>(raw)?),
        MySqlDecoder::Text => Value::Text(get::<&str>(raw)?.to_string()),
        MySqlDecoder::Bytes => match std::str::from_utf8(get::<&[u8]>(raw)?) {
            Ok(text) => Value::Text(text.to_string()),
            Err(_) => {
                return Err(
                    "binary data that is not UTF-8 text; convert it in the model's SQL (`HEX(column)`)"
                        .to_string(),
                )
            }
        },
        MySqlDecoder::Time => Value::Text(time(get::<&[u8]>(raw)?)?),
        MySqlDecoder::Date | MySqlDecoder::DateTime => match date_time(get::<&[u8]>(raw)?)? {
            Some(seconds) => Value::Timestamp(seconds),
            None => Value::Null,
        },
        MySqlDecoder::Other => match printable_text(get::<&[u8]>(raw)?) {
            Some(text) => Value::Text(text.to_string()),
            None => {
                return Err(
                    "backflow cannot read this type; cast the column to text in the model's SQL (`CAST(column AS CHAR)`)"
                        .to_string(),
                )
            }
        },
    })
}

/// A binary-protocol `DATE`/`DATETIME`/`TIMESTAMP` (length byte; year as 2 bytes
/// little-endian, month, day; then hour, minute, second; then microseconds as 4
/// bytes) → Unix seconds, read as UTC. The zero date (`0000-00-00`, sent with
/// length 0 or as zeros) → `None`.
fn date_time(bytes: &[u8]) -> Result<Option<i64>, String> {
    let (&len, fields) = bytes.split_first().ok_or("empty date value")?;
    if usize::from(len) != fields.len() || !matches!(len, 0 | 4 | 7 | 11) {
        return Err(format!("malformed date value ({} bytes)", bytes.len()));
    }
    if len == 0 {
        return Ok(None);
    }
    let year = i32::from(u16::from_le_bytes([fields[0], fields[1]]));
    let (month, day) = (u32::from(fields[2]), u32::from(fields[3]));
    if year == 0 && month == 0 && day == 0 {
        return Ok(None);
    }
    let (hour, minute, second) = match len {
        4 => (0, 0, 0),
        _ => (
            u32::from(fields[4]),
            u32::from(fields[5]),
            u32::from(fields[6]),
        ),
    };
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| format!("invalid date {year:04}-{month:02}-{day:02}"))?;
    let time = chrono::NaiveTime::from_hms_opt(hour, minute, second)
        .ok_or_else(|| format!("invalid time {hour:02}:{minute:02}:{second:02}"))?;
    // Microseconds (len 11) are dropped: values are whole seconds, floored.
    Ok(Some(date.and_time(time).and_utc().timestamp()))
}

/// A binary-protocol `TIME` (length byte; sign, days as 4 bytes little-endian,
/// hour, minute, second; then microseconds as 4 bytes) → `[-]HH:MM:SS[.ffffff]`.
fn time(bytes: &[u8]) -> Result<String, String> {
    let (&len, fields) = bytes.split_first().ok_or("empty time value")?;
    if usize::from(len) != fields.len() || !matches!(len, 0 | 8 | 12) {
        return Err(format!("malformed time value ({} bytes)", bytes.len()));
    }
    if len == 0 {
        return Ok("00:00:00".to_string());
    }
    let negative = fields[0] != 0;
    let days = u32::from_le_bytes([fields[1], fields[2], fields[3], fields[4]]);
    let hours = u64::from(days) * 24 + u64::from(fields[5]);
    let mut text = format!(
        "{}{hours:02}:{:02}:{:02}",
        if negative { "-" } else { "" },
        fields[6],
        fields[7]
    );
    if len == 12 {
        let micros = u32::from_le_bytes([fields[8], fields[9], fields[10], fields[11]]);
        if micros != 0 {
            text.push_str(&format!(".{micros:06}"));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_binary_dates() {
        assert_eq!(date_time(&[4, 0xe8, 0x07, 2, 29]), Ok(Some(1_709_164_800)));
        assert_eq!(
            date_time(&[7, 0xe8, 0x07, 2, 29, 13, 45, 30]),
            Ok(Some(1_709_214_330))
        );
        assert_eq!(
            date_time(&[11, 0xe8, 0x07, 2, 29, 13, 45, 30, 0x20, 0xa1, 0x07, 0]),
            Ok(Some(1_709_214_330))
        );
        assert_eq!(date_time(&[0]), Ok(None));
        assert_eq!(date_time(&[4, 0, 0, 0, 0]), Ok(None));
        assert!(date_time(&[4, 0xe8, 0x07, 2, 30]).is_err());
        assert!(date_time(&[5, 0xe8, 0x07, 2, 29]).is_err());
        assert!(date_time(&[]).is_err());
    }

    #[test]
    fn decodes_binary_times() {
        assert_eq!(time(&[0]).unwrap(), "00:00:00");
        assert_eq!(time(&[8, 0, 0, 0, 0, 0, 12, 34, 56]).unwrap(), "12:34:56");
        assert_eq!(
            time(&[8, 1, 34, 0, 0, 0, 22, 59, 59]).unwrap(),
            "-838:59:59"
        );
        assert_eq!(
            time(&[12, 0, 0, 0, 0, 0, 1, 2, 3, 0x40, 0xe2, 0x01, 0]).unwrap(),
            "01:02:03.123456"
        );
        assert!(time(&[3, 0, 0, 0]).is_err());
    }
}
