//! A run's rows as CSV: the one writer behind `GET /runs/{id}/rows` with
//! `Accept: text/csv` and `backflow rows --csv`.
//!
//! RFC 4180: records end with CRLF; a field holding a comma, a quote, CR or LF
//! is quoted and its quotes doubled (reasons quote Intercom's messages; a
//! composite key is a JSON object). A field a spreadsheet would read as a
//! formula (starting with `=`, `+`, `-`, `@`, a tab or CR) is prefixed with `'`
//! (OWASP's advice on CSV injection): a key such as `-5` reads back as `'-5`.

use serde_json::Value;

use super::Refusal;
use crate::run::RowReport;

/// The header line's fields: the JSON row's keys, then `row` (the 1-based row
/// number in the model's result, for invalid rows; empty otherwise).
pub const ROWS_HEADER: [&str; 5] = ["key", "outcome", "reason", "code", "row"];

/// The header line and one record per row.
pub fn rows(rows: &[RowReport]) -> String {
    let mut text = record(&ROWS_HEADER);
    for r in rows {
        let row = r.row.map(|n| n.to_string()).unwrap_or_default();
        text.push_str(&record(&[
            r.key.as_deref().unwrap_or_default(),
            r.outcome.as_str(),
            &r.reason,
            r.code.as_deref().unwrap_or_default(),
            &row,
        ]));
    }
    text
}

/// One CSV record, CRLF-terminated.
pub fn record(fields: &[&str]) -> String {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let guarded;
        let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            guarded = format!("'{field}");
            guarded.as_str()
        } else {
            field
        };
        if field.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
    line
}

/// Whether the request's `Accept` header asks for CSV: one of its media ranges
/// is `text/csv` (any case, parameters ignored) with a quality above 0. Header
/// names are matched in any case (API Gateway lowercases them; a function URL
/// may not). No header, or another type, is JSON.
pub fn wants_csv(event: &Value) -> Result<bool, Refusal> {
    let headers = match event.get("headers") {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(Refusal::bad_request(format!(
                "malformed request: `headers` is {}, not an object",
                super::kind(other)
            )))
        }
    };
    let mut csv = false;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("accept") {
            continue;
        }
        let Value::String(value) = value else {
            return Err(Refusal::bad_request(format!(
                "malformed request: the `{name}` header is {}, not a string",
                super::kind(value)
            )));
        };
        csv |= value.split(',').any(media_range_is_csv);
    }
    Ok(csv)
}

fn media_range_is_csv(range: &str) -> bool {
    let mut parts = range.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case("text/csv"))
    {
        return false;
    }
    // `q=0` means "not acceptable".
    !parts.any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f64>().is_ok_and(|q| q <= 0.0)
        })
    })
}
