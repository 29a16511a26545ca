//! A Snowflake result read row by row: the rows that came inline with the
//! answer, then each chunk, downloaded only when the rows before it are read.
//!
//! A chunk is a presigned URL on the account's cloud storage. It is fetched
//! without the session token, with `chunkHeaders` when the answer has them, else
//! the server-side-encryption headers built from `qrmk` (what the drivers do).
//! Its body may be gzip (the drivers check the magic bytes, not a header). A JSON
//! chunk is rows separated by commas without the enclosing brackets.

use std::collections::VecDeque;
use std::io::Read;

use arrow_array::RecordBatch;
use backflow_core::value::{Column, Value};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value as Json;

use super::arrow::{self, IpcStream};
use super::columns::SfColumn;
use super::json;
use super::query::{Chunk, QueryData};
use super::Session;
use crate::redact::Redactor;
use crate::Error;

/// Rows of a record batch converted to values at a time: a batch can hold
/// hundreds of thousands of rows (fakesnow's hold 122,880), whose values would
/// take several times the batch's own memory.
const ROWS_PER_SLICE: usize = 1024;

/// The largest chunk accepted once unzipped: far above what Snowflake makes
/// (tens of MB), far below what would hurt a Lambda.
const MAX_CHUNK_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Arrow,
    Json,
}

/// The rows of one Snowflake result.
pub(crate) struct Rows<'a> {
    session: &'a Session,
    model: String,
    format: Format,
    columns: Vec<SfColumn>,
    /// Decoded rows not yet returned (a slice of a record batch, or a JSON piece).
    ready: VecDeque<Vec<Value>>,
    /// The Arrow piece being read.
    arrow: Option<IpcStream>,
    /// The record batch being converted, and how many of its rows already were.
    batch: Option<(RecordBatch, usize)>,
    chunks: VecDeque<Chunk>,
    chunk_headers: HeaderMap,
}

impl<'a> Rows<'a> {
    /// The columns, and the rows positioned before the first.
    pub(super) fn start(
        session: &'a Session,
        model: &str,
        data: QueryData,
        redactor: &Redactor,
    ) -> Result<(Vec<Column>, Rows<'a>), Error> {
        let columns: Vec<SfColumn> = data.rowtype.iter().map(SfColumn::from_rowtype).collect();
        let format = match data
            .query_result_format
            .as_deref()
            .map(str::to_ascii_lowercase)
        {
            Some(f) if f == "arrow" => Format::Arrow,
            Some(f) if f == "json" => Format::Json,
            None if data.rowset_base64.is_some() => Format::Arrow,
            None => Format::Json,
            Some(other) => {
                return Err(redactor.query_error(model, &format!("unknown result format `{other}`")))
            }
        };
        let chunk_headers =
            chunk_headers(&data).map_err(|message| redactor.query_error(model, &message))?;
        let mut rows = Rows {
            session,
            model: model.to_string(),
            format,
            columns,
            ready: VecDeque::new(),
            arrow: None,
            batch: None,
            chunks: data.chunks.into(),
            chunk_headers,
        };
        match format {
            Format::Arrow => {
                rows.arrow = Some(IpcStream::new(data.inline_arrow));
            }
            Format::Json => {
                let inline = data.rowset.unwrap_or_default();
                rows.push_json(inline)?;
            }
        }
        let columns = rows.columns.iter().map(SfColumn::column).collect();
        Ok((columns, rows))
    }

    /// The next row; `None` at the end.
    pub(crate) async fn next(&mut self, redactor: &Redactor) -> Option<Result<Vec<Value>, Error>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Some(Ok(row));
            }
            if let Some((batch, done)) = &mut self.batch {
                let slice = batch.slice(*done, ROWS_PER_SLICE.min(batch.num_rows() - *done));
                *done += slice.num_rows();
                if *done == batch.num_rows() {
                    self.batch = None;
                }
                match arrow::rows(&slice, &self.columns) {
                    Ok(rows) => self.ready.extend(rows),
                    Err((i, message)) => return Some(Err(self.decode_error(i, message))),
                }
                continue;
            }
            if let Some(stream) = &mut self.arrow {
                match stream.next_batch() {
                    Ok(Some(batch)) => {
                        if batch.num_rows() > 0 {
                            self.batch = Some((batch, 0));
                        }
                        continue;
                    }
                    Ok(None) => self.arrow = None,
                    Err(message) => return Some(Err(redactor.query_error(&self.model, &message))),
                }
            }
            let chunk = self.chunks.pop_front()?;
            if let Err(e) = self.load(&chunk, redactor).await {
                return Some(Err(e));
            }
        }
    }

    /// Downloads one chunk and queues its rows.
    async fn load(&mut self, chunk: &Chunk, redactor: &Redactor) -> Result<(), Error> {
        let failed = |message: String| {
            redactor.query_error(&self.model, &format!("result chunk: {message}"))
        };
        tracing::debug!(model = %self.model, rows = chunk.row_count, "Snowflake result chunk");
        let (status, body) =
            crate::http::get(&self.session.http, &chunk.url, self.chunk_headers.clone())
                .await
                .map_err(failed)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(failed(crate::http::unexpected_answer(status, &text)));
        }
        let body = gunzip(body).map_err(failed)?;
        match self.format {
            Format::Arrow => self.arrow = Some(IpcStream::new(body)),
            Format::Json => {
                let mut wrapped = Vec::with_capacity(body.len() + 2);
                wrapped.push(b'[');
                wrapped.extend_from_slice(&body);
                wrapped.push(b']');
                let rows: Vec<Vec<Json>> = serde_json::from_slice(&wrapped)
                    .map_err(|e| failed(format!("not JSON rows: {e}")))?;
                self.push_json(rows)?;
            }
        }
        Ok(())
    }

    fn push_json(&mut self, rows: Vec<Vec<Json>>) -> Result<(), Error> {
        for raw in rows {
            if raw.len() != self.columns.len() {
                return Err(self.decode_error(
                    0,
                    format!(
                        "a row has {} cells, the result {} columns",
                        raw.len(),
                        self.columns.len()
                    ),
                ));
            }
            let mut row = Vec::with_capacity(raw.len());
            for (i, (cell, column)) in raw.iter().zip(&self.columns).enumerate() {
                row.push(json::cell(cell, column).map_err(|e| self.decode_error(i, e))?);
            }
            self.ready.push_back(row);
        }
        Ok(())
    }

    fn decode_error(&self, column: usize, message: String) -> Error {
        let column = self.columns.get(column);
        crate::cell_error(
            &self.model,
            column.map(|c| c.name.as_str()),
            column.map(|c| c.logical.as_str()),
            message,
        )
    }
}

/// The headers of every chunk download.
fn chunk_headers(data: &QueryData) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let mut insert = |name: &str, value: &str| -> Result<(), String> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad chunk header name `{name}`"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("bad value for chunk header `{name}`"))?;
        headers.insert(name, value);
        Ok(())
    };
    match (&data.chunk_headers, &data.qrmk) {
        (Some(given), _) if !given.is_empty() => {
            for (name, value) in given {
                insert(name, value)?;
            }
        }
        (_, Some(qrmk)) if !data.chunks.is_empty() => {
            insert("x-amz-server-side-encryption-customer-algorithm", "AES256")?;
            insert("x-amz-server-side-encryption-customer-key", qrmk)?;
        }
        _ => {}
    }
    Ok(headers)
}

/// The bytes, unzipped when they start with gzip's magic number.
fn gunzip(body: Vec<u8>) -> Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .take(MAX_CHUNK_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip: {e}"))?;
    if out.len() as u64 > MAX_CHUNK_BYTES {
        return Err(format!("larger than {MAX_CHUNK_BYTES} bytes unzipped"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_headers_are_the_given_ones_or_the_sse_c_ones() {
        let mut data = QueryData {
            qrmk: Some("a2V5".into()),
            chunks: vec![Chunk {
                url: "https://s3/c0".into(),
                row_count: 1,
            }],
            ..QueryData::default()
        };
        let headers = chunk_headers(&data).unwrap();
        assert_eq!(
            headers["x-amz-server-side-encryption-customer-algorithm"],
            "AES256"
        );
        assert_eq!(headers["x-amz-server-side-encryption-customer-key"], "a2V5");
        data.chunk_headers = Some([("x-custom".to_string(), "v".to_string())].into());
        let headers = chunk_headers(&data).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["x-custom"], "v");
        data.chunk_headers = Some([("bad header".to_string(), "v".to_string())].into());
        assert!(chunk_headers(&data).is_err());
    }

    #[test]
    fn gzip_is_detected_by_its_magic_bytes() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"[\"1\"]").unwrap();
        let zipped = encoder.finish().unwrap();
        assert_eq!(gunzip(zipped).unwrap(), b"[\"1\"]");
        assert_eq!(gunzip(b"plain".to_vec()).unwrap(), b"plain");
        assert!(gunzip(vec![0x1f, 0x8b, 0, 0]).is_err());
    }
}
