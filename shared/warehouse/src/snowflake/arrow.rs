//! Snowflake's Arrow result format: an Arrow IPC stream per piece of the result
//! (`rowsetBase64`, each chunk), read one record batch at a time.
//!
//! The stream's messages are framed here and each batch is decoded by arrow-ipc
//! against the stream's schema with every field made nullable: a stand-in sends
//! timestamp structs whose non-nullable children hold nulls, which arrow-rs
//! (rightly) refuses under the declared schema; reading them as nullable lets
//! such a cell be a null instead of failing the stream or becoming 1970.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_buffer::Buffer;
use arrow_ipc::{convert::try_fb_to_schema, reader::read_record_batch, MessageHeader};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use backflow_core::value::Value;

use super::columns::{is_timestamp, SfColumn};
use crate::cells::{binary_value, floor_decimal, json_list, scaled_value, time_of_day};

/// An Arrow IPC stream in memory, read batch by batch.
pub(crate) struct IpcStream {
    bytes: Buffer,
    at: usize,
    schema: Option<SchemaRef>,
}

impl IpcStream {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        // Taken as they are, not copied: a buffer arrow finds misaligned for
        // its type is copied by arrow-ipc alone (`require_alignment` is off).
        IpcStream {
            bytes: Buffer::from_vec(bytes),
            at: 0,
            schema: None,
        }
    }

    /// The next record batch, `None` at the end of the stream.
    pub(crate) fn next_batch(&mut self) -> Result<Option<RecordBatch>, String> {
        loop {
            let Some((metadata, body)) = self.next_message()? else {
                return Ok(None);
            };
            let message = arrow_ipc::root_as_message(&metadata)
                .map_err(|e| format!("bad Arrow message: {e}"))?;
            match message.header_type() {
                MessageHeader::Schema => {
                    let schema = message
                        .header_as_schema()
                        .ok_or("bad Arrow schema message")?;
                    let schema =
                        try_fb_to_schema(schema).map_err(|e| format!("bad Arrow schema: {e}"))?;
                    self.schema = Some(Arc::new(nullable_schema(&schema)));
                }
                MessageHeader::RecordBatch => {
                    let batch = message
                        .header_as_record_batch()
                        .ok_or("bad Arrow record batch message")?;
                    let schema = self
                        .schema
                        .clone()
                        .ok_or("Arrow record batch before its schema")?;
                    let batch = read_record_batch(
                        &body,
                        batch,
                        schema,
                        &HashMap::new(),
                        None,
                        &message.version(),
                    )
                    .map_err(|e| format!("bad Arrow record batch: {e}"))?;
                    return Ok(Some(batch));
                }
                other => return Err(format!("unsupported Arrow message {other:?}")),
            }
        }
    }

    /// The next message's metadata and body; `None` at the end-of-stream marker
    /// or the end of the bytes.
    fn next_message(&mut self) -> Result<Option<(Vec<u8>, Buffer)>, String> {
        let word = |at: usize| -> Option<u32> {
            let bytes = self.bytes.get(at..at + 4)?;
            Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        };
        let Some(first) = word(self.at) else {
            return Ok(None);
        };
        // Since Arrow 0.15 a message starts with 0xFFFFFFFF, then its length.
        let (length, start) = if first == u32::MAX {
            (
                word(self.at + 4).ok_or("truncated Arrow stream")?,
                self.at + 8,
            )
        } else {
            (first, self.at + 4)
        };
        if length == 0 {
            return Ok(None);
        }
        let end = start
            .checked_add(length as usize)
            .filter(|end| *end <= self.bytes.len())
            .ok_or("truncated Arrow stream")?;
        let metadata = self.bytes[start..end].to_vec();
        let message =
            arrow_ipc::root_as_message(&metadata).map_err(|e| format!("bad Arrow message: {e}"))?;
        let body_length =
            usize::try_from(message.bodyLength()).map_err(|_| "bad Arrow body length")?;
        let body_end = end
            .checked_add(body_length)
            .filter(|e| *e <= self.bytes.len())
            .ok_or("truncated Arrow stream")?;
        let body = self.bytes.slice_with_length(end, body_length);
        self.at = body_end;
        Ok(Some((metadata, body)))
    }
}

fn nullable_schema(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema.fields().iter().map(|f| nullable(f)).collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

fn nullable(field: &Field) -> Field {
    let data_type = match field.data_type() {
        DataType::Struct(children) => DataType::Struct(Fields::from(
            children.iter().map(|c| nullable(c)).collect::<Vec<_>>(),
        )),
        other => other.clone(),
    };
    field.clone().with_data_type(data_type).with_nullable(true)
}

/// The batch's rows, one value per column; an error names the column's index.
pub(crate) fn rows(
    batch: &RecordBatch,
    columns: &[SfColumn],
) -> Result<Vec<Vec<Value>>, (usize, String)> {
    if batch.num_columns() != columns.len() {
        return Err((
            0,
            format!(
                "the Arrow batch has {} columns, the result {}",
                batch.num_columns(),
                columns.len()
            ),
        ));
    }
    let mut rows: Vec<Vec<Value>> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(columns.len()))
        .collect();
    for (i, (array, column)) in batch.columns().iter().zip(columns).enumerate() {
        for (row, value) in rows
            .iter_mut()
            .zip(values(array, column).map_err(|e| (i, e))?)
        {
            row.push(value);
        }
    }
    Ok(rows)
}

/// Every cell of one column.
fn values(array: &ArrayRef, column: &SfColumn) -> Result<Vec<Value>, String> {
    let logical = column.logical.as_str();
    if is_timestamp(logical) {
        return timestamps(array, column);
    }
    let mut out = Vec::with_capacity(array.len());
    for i in 0..array.len() {
        out.push(if array.is_null(i) {
            Value::Null
        } else {
            cell(array, i, column)?
        });
    }
    Ok(out)
}

/// One non-null cell; an `ARRAY` (JSON text in Arrow too) becomes a list.
fn cell(array: &ArrayRef, i: usize, column: &SfColumn) -> Result<Value, String> {
    match scalar_cell(array, i, column)? {
        Value::Text(json) if column.logical == "ARRAY" => json_list(&json),
        value => Ok(value),
    }
}

/// One non-null cell as the Arrow array holds it.
fn scalar_cell(array: &ArrayRef, i: usize, column: &SfColumn) -> Result<Value, String> {
    let unsupported = || {
        format!(
            "backflow cannot read {} sent as Arrow {}; cast the column to text in the model's SQL (`column::varchar`)",
            column.logical,
            array.data_type()
        )
    };
    let scale = column.scale;
    Ok(match (column.logical.as_str(), array.data_type()) {
        ("FIXED", DataType::Decimal128(_, s)) => {
            let s = u32::try_from(*s).map_err(|_| unsupported())?;
            scaled_value(array.as_primitive::<Decimal128Type>().value(i), s)
        }
        ("FIXED", _) => scaled_value(integer(array, i).ok_or_else(unsupported)?, scale),
        ("REAL", DataType::Float64) => Value::Float(array.as_primitive::<Float64Type>().value(i)),
        ("REAL", DataType::Float32) => Value::Float(crate::postgres::widen(
            array.as_primitive::<Float32Type>().value(i),
        )),
        ("BOOLEAN", DataType::Boolean) => Value::Bool(array.as_boolean().value(i)),
        ("DATE", DataType::Date32) => {
            Value::Timestamp(i64::from(array.as_primitive::<Date32Type>().value(i)) * 86_400)
        }
        ("TIME", _) => {
            let scaled = integer(array, i)
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(unsupported)?;
            Value::Text(time_of_day(scaled, scale).ok_or_else(unsupported)?)
        }
        ("BINARY", DataType::Binary) => binary_value(array.as_binary::<i32>().value(i))?,
        ("BINARY", DataType::LargeBinary) => binary_value(array.as_binary::<i64>().value(i))?,
        (_, DataType::Utf8) => Value::Text(array.as_string::<i32>().value(i).to_string()),
        (_, DataType::LargeUtf8) => Value::Text(array.as_string::<i64>().value(i).to_string()),
        (_, DataType::Utf8View) => Value::Text(array.as_string_view().value(i).to_string()),
        _ => return Err(unsupported()),
    })
}

/// An integer cell of any width.
fn integer(array: &ArrayRef, i: usize) -> Option<i128> {
    Some(match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        DataType::Decimal128(_, 0) => array.as_primitive::<Decimal128Type>().value(i),
        _ => return None,
    })
}

/// A timestamp column: one scaled int64, or a struct whose `epoch` is seconds
/// (with a `fraction` child) or scaled (`epoch` + `timezone` only).
fn timestamps(array: &ArrayRef, column: &SfColumn) -> Result<Vec<Value>, String> {
    let unit = 10i64
        .checked_pow(column.scale)
        .ok_or_else(|| format!("scale {} is out of range", column.scale))?;
    match array.data_type() {
        DataType::Int64 => {
            let ints = array.as_primitive::<Int64Type>();
            Ok((0..ints.len())
                .map(|i| match ints.is_null(i) {
                    true => Value::Null,
                    false => Value::Timestamp(ints.value(i).div_euclid(unit)),
                })
                .collect())
        }
        DataType::Struct(_) => {
            let parts: &StructArray = array.as_struct();
            let epoch = parts
                .column_by_name("epoch")
                .and_then(|e| e.as_primitive_opt::<Int64Type>())
                .ok_or("a timestamp struct without an int64 `epoch`")?;
            let epoch_unit = if parts.column_by_name("fraction").is_some() {
                1
            } else {
                unit
            };
            Ok((0..parts.len())
                .map(|i| match parts.is_null(i) || epoch.is_null(i) {
                    true => Value::Null,
                    false => Value::Timestamp(epoch.value(i).div_euclid(epoch_unit)),
                })
                .collect())
        }
        DataType::Utf8 => (0..array.len())
            .map(|i| match array.is_null(i) {
                true => Ok(Value::Null),
                false => {
                    let text = array.as_string::<i32>().value(i);
                    floor_decimal(text.split_whitespace().next().unwrap_or(""))
                        .map(Value::Timestamp)
                        .ok_or_else(|| format!("unexpected timestamp '{text}'"))
                }
            })
            .collect(),
        other => Err(format!(
            "backflow cannot read {} sent as Arrow {other}",
            column.logical
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    /// Snowflake sends an `ARRAY` as JSON text in Arrow too; the rowtype says
    /// it is a list (fakesnow says `variant`, so no stand-in sends this).
    #[test]
    fn array_columns_become_lists_and_variants_stay_text() {
        let json: ArrayRef = Arc::new(StringArray::from(vec![
            Some("[\n  \"vip\",\n  \"beta\"\n]"),
            None,
            Some("[]"),
        ]));
        let batch = RecordBatch::try_from_iter([("A", json.clone()), ("V", json)]).unwrap();
        let column = |logical: &str| SfColumn {
            name: logical.into(),
            logical: logical.into(),
            scale: 0,
        };
        let got = rows(&batch, &[column("ARRAY"), column("VARIANT")]).unwrap();
        let text = |s: &str| Value::Text(s.into());
        assert_eq!(
            got[0],
            [
                Value::List(vec![text("vip"), text("beta")]),
                text("[\n  \"vip\",\n  \"beta\"\n]")
            ]
        );
        assert_eq!(got[1], [Value::Null, Value::Null]);
        assert_eq!(got[2], [Value::List(Vec::new()), text("[]")]);
    }
}
