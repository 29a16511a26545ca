//! The HTTP API's requests, parsed before any IO: an API Gateway (payload 2.0) or
//! function-URL event → the route, its path segments percent-decoded, the query
//! and the run request body, or the 4xx answer that says what is wrong.
//!
//! Everything here comes from a client and is hostile until parsed: bytes are
//! decoded, never sliced at offsets taken from the input; a percent-escape that is
//! not `%` + two hex digits, or that decodes to bytes that are not UTF-8, is
//! refused rather than matched lossily against another name; bodies are read as
//! JSON objects only (serde would also read a struct from an array, by position);
//! sizes are capped. A refusal is always a 4xx: a client's mistake never looks
//! like a server fault, and never starts a run.
//!
//! Unknown query parameters are ignored (as a browser or a proxy may add some);
//! the known ones are checked: see [`paging`] for `limit` and `cursor`, [`csv`]
//! for `Accept: text/csv`.

use base64::Engine as _;
use percent_encoding::percent_decode;
use serde::Deserialize;
use serde_json::Value;

use crate::run::{is_run_id, Outcome};

pub mod csv;
pub mod paging;

pub use paging::{Limits, RowsAfter, RunsAfter, ROWS_LIMIT, RUNS_LIMIT};

/// Longest path accepted (the routes' own paths are a few dozen bytes; API
/// Gateway itself takes up to 8 KB).
pub const MAX_PATH_BYTES: usize = 2048;
/// Longest raw query string accepted.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Largest run request body accepted, once base64-decoded (a run request is a
/// few dozen bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How much of a client's input an error message echoes.
const ECHO_CHARS: usize = 120;

/// A request the API refuses, and the answer that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Always 4xx.
    pub status: u16,
    /// The `error.code` of the answer.
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            code: "bad_request",
            message: bounded(message.into()),
        }
    }

    fn not_found(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 404,
            code: "not_found",
            message: bounded(message.into()),
        }
    }
}

/// Longest refusal message, in characters: serde's messages quote what they
/// refuse (an unknown key of any length), and an answer need not echo it all.
pub const MAX_MESSAGE_CHARS: usize = 500;

fn bounded(message: String) -> String {
    if message.chars().nth(MAX_MESSAGE_CHARS).is_none() {
        return message;
    }
    let mut cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}

/// A parsed request, ready for the handler's IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `GET /syncs`.
    ListSyncs,
    /// `POST /syncs/{sync}/runs`.
    StartRun { sync: String, options: RunOptions },
    /// `GET /runs/{id}`.
    GetRun { run_id: String },
    /// `GET /runs/{id}/rows[?outcome=&limit=&cursor=]`, as CSV when the
    /// `Accept` header asks for it.
    RunRows {
        run_id: String,
        outcome: Option<Outcome>,
        limit: u32,
        after: Option<RowsAfter>,
        csv: bool,
    },
    /// `GET /syncs/{sync}/runs[?limit=&cursor=]`.
    SyncRuns {
        sync: String,
        limit: u32,
        after: Option<RunsAfter>,
    },
}

/// A route: the method and path matched, its segments decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ListSyncs,
    StartRun(String),
    GetRun(String),
    RunRows(String),
    SyncRuns(String),
}

/// The body of `POST /syncs/{sync}/runs`: a JSON object, every key optional,
/// unknown keys refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub full_resync: bool,
    #[serde(default)]
    pub allow_mass_removal: bool,
}

/// Parses one HTTP event. `Err` is the 4xx answer to give.
pub fn parse(event: &Value) -> Result<Request, Refusal> {
    let method = method(event)?;
    let path = string_field(event, "rawPath")?.unwrap_or("/");
    match route(&method, path)? {
        Route::ListSyncs => Ok(Request::ListSyncs),
        Route::StartRun(sync) => {
            let body = body_text(event)?;
            let options = run_options(&body)?;
            Ok(Request::StartRun { sync, options })
        }
        Route::GetRun(run_id) => Ok(Request::GetRun { run_id }),
        Route::SyncRuns(sync) => {
            let limit = paging::limit(query_param(event, "limit")?.as_deref(), RUNS_LIMIT)?;
            let after = match cursor(event)? {
                Some(c) => Some(RunsAfter::from_cursor(&c, &sync)?),
                None => None,
            };
            Ok(Request::SyncRuns { sync, limit, after })
        }
        Route::RunRows(run_id) => {
            let outcome = match query_param(event, "outcome")?.as_deref() {
                None | Some("") => None,
                Some("invalid") => Some(Outcome::Invalid),
                Some("rejected") => Some(Outcome::Rejected),
                Some("not_found") => Some(Outcome::NotFound),
                Some(other) => {
                    return Err(Refusal::bad_request(format!(
                        "outcome must be invalid, rejected or not_found, not `{}`",
                        echo(other)
                    )))
                }
            };
            let limit = paging::limit(query_param(event, "limit")?.as_deref(), ROWS_LIMIT)?;
            let after = match cursor(event)? {
                Some(c) => Some(RowsAfter::from_cursor(&c, &run_id, outcome)?),
                None => None,
            };
            Ok(Request::RunRows {
                run_id,
                outcome,
                limit,
                after,
                csv: csv::wants_csv(event)?,
            })
        }
    }
}

/// The `cursor` query parameter; empty is none (the first page).
fn cursor(event: &Value) -> Result<Option<String>, Refusal> {
    Ok(query_param(event, "cursor")?.filter(|c| !c.is_empty()))
}

/// The request's method, upper-cased.
fn method(event: &Value) -> Result<String, Refusal> {
    match event.pointer("/requestContext/http/method") {
        Some(Value::String(m)) if !m.is_empty() => Ok(m.to_ascii_uppercase()),
        _ => Err(Refusal::bad_request(
            "the request has no method (requestContext.http.method)",
        )),
    }
}

/// Maps method and path to a route. The path may carry the local Lambda emulator's
/// `/lambda-url/<function>` prefix; it is ignored, as are leading and trailing
/// slashes. Unknown paths are 404, known paths with another method 405.
pub fn route(method: &str, path: &str) -> Result<Route, Refusal> {
    if path.len() > MAX_PATH_BYTES {
        return Err(Refusal {
            status: 414,
            code: "uri_too_long",
            message: format!(
                "the path has {} bytes; at most {MAX_PATH_BYTES} are accepted",
                path.len()
            ),
        });
    }
    let inner = strip_prefix(path).trim_matches('/');
    let parts: Vec<&str> = inner.split('/').collect();
    let no_route = || Refusal::not_found(format!("no route for {} {}", echo(method), echo(path)));
    if parts.iter().any(|p| p.is_empty()) {
        return Err(no_route());
    }
    let (get, post) = (method == "GET", method == "POST");
    match parts.as_slice() {
        ["syncs"] if get => Ok(Route::ListSyncs),
        ["syncs", sync, "runs"] if post => Ok(Route::StartRun(segment(sync, "sync name")?)),
        ["syncs", sync, "runs"] if get => Ok(Route::SyncRuns(segment(sync, "sync name")?)),
        ["runs", id] if get => Ok(Route::GetRun(run_id(id)?)),
        ["runs", id, "rows"] if get => Ok(Route::RunRows(run_id(id)?)),
        ["syncs"] | ["syncs", _, "runs"] | ["runs", _] | ["runs", _, "rows"] => Err(Refusal {
            status: 405,
            code: "method_not_allowed",
            message: bounded(format!("{} is not allowed on {}", echo(method), echo(path))),
        }),
        _ => Err(no_route()),
    }
}

fn strip_prefix(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/lambda-url/") {
        // "/lambda-url/trigger/syncs" → "/syncs"; `find` gives a char boundary.
        return rest.find('/').map_or("/", |i| &rest[i..]);
    }
    path
}

/// A run id from the path: the shape `trigger` gives run ids, else 404 without
/// asking DynamoDB (whose keys have length limits a client must not reach).
fn run_id(raw: &str) -> Result<String, Refusal> {
    let id = segment(raw, "run id")?;
    if !is_run_id(&id) {
        return Err(Refusal::not_found(format!("no run `{}`", echo(&id))));
    }
    Ok(id)
}

/// One path segment, percent-decoded (RFC 3986): a `%` not followed by two hex
/// digits, bytes that are not UTF-8 once decoded, a control character, or a
/// `.`/`..` segment is refused.
pub fn segment(raw: &str, what: &str) -> Result<String, Refusal> {
    check_escapes(raw).map_err(|e| Refusal::bad_request(format!("{what}: {e}")))?;
    let decoded = percent_decode(raw.as_bytes())
        .decode_utf8()
        .map_err(|_| {
            Refusal::bad_request(format!(
                "{what} `{}` is not UTF-8 once percent-decoded",
                echo(raw)
            ))
        })?
        .into_owned();
    if decoded.chars().any(char::is_control) {
        return Err(Refusal::bad_request(format!(
            "{what} `{}` contains a control character",
            echo(&decoded)
        )));
    }
    if decoded == "." || decoded == ".." {
        return Err(Refusal::bad_request(format!(
            "{what} `{decoded}` is not allowed"
        )));
    }
    Ok(decoded)
}

/// Every `%` starts an escape of two hex digits (the crate leaves a malformed
/// escape as written, which would make `%zz` a name).
fn check_escapes(raw: &str) -> Result<(), String> {
    let bytes = raw.as_bytes();
    for (i, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'%') {
        let hex = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_hexdigit);
        if !(hex(i + 1) && hex(i + 2)) {
            return Err(format!(
                "`{}` has a `%` not followed by two hex digits",
                echo(raw)
            ));
        }
    }
    Ok(())
}

/// A top-level string field of the event: `None` when absent or null, refused
/// when of another type (API Gateway always sends strings).
fn string_field<'a>(event: &'a Value, name: &str) -> Result<Option<&'a str>, Refusal> {
    match event.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Refusal::bad_request(format!(
            "malformed request: `{name}` is {}, not a string",
            kind(other)
        ))),
    }
}

/// The body as text: base64-decoded when `isBase64Encoded`, capped at
/// [`MAX_BODY_BYTES`], UTF-8.
pub fn body_text(event: &Value) -> Result<String, Refusal> {
    let Some(body) = string_field(event, "body")? else {
        return Ok(String::new());
    };
    let encoded = match event.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Refusal::bad_request(format!(
                "malformed request: `isBase64Encoded` is {}, not a boolean",
                kind(other)
            )))
        }
    };
    // Base64 is 4/3 of its bytes: a body over this is too large either way.
    let too_large = |bytes: usize| Refusal {
        status: 413,
        code: "payload_too_large",
        message: format!("the body has {bytes} bytes; at most {MAX_BODY_BYTES} are accepted"),
    };
    if !encoded {
        if body.len() > MAX_BODY_BYTES {
            return Err(too_large(body.len()));
        }
        return Ok(body.to_string());
    }
    if body.len() > MAX_BODY_BYTES / 3 * 4 + 4 {
        return Err(too_large(body.len() / 4 * 3));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| Refusal::bad_request(format!("the body is not valid base64: {e}")))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large(bytes.len()));
    }
    String::from_utf8(bytes).map_err(|e| {
        Refusal::bad_request(format!(
            "the body is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The run request: an empty body is every default; otherwise a JSON object with
/// only the known keys, each a boolean.
pub fn run_options(body: &str) -> Result<RunOptions, Refusal> {
    if body.trim().is_empty() {
        return Ok(RunOptions::default());
    }
    let value: Value = serde_json::from_str(body)
        .map_err(|e| Refusal::bad_request(format!("run request is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Refusal::bad_request(format!(
            "run request must be a JSON object such as {{\"dry_run\": true}} (or an empty body), not {}",
            kind(&value)
        )));
    }
    // Read again from the text, not from `value`: a key given twice is refused
    // there, where the map would silently keep the last one.
    serde_json::from_str(body).map_err(|e| Refusal::bad_request(format!("run request: {e}")))
}

/// A query parameter, percent-decoded (`+` is a space): from `rawQueryString`
/// when the event has one, else from `queryStringParameters`. Given twice in
/// the raw query, it is refused (which one was meant is unknowable).
pub fn query_param(event: &Value, name: &str) -> Result<Option<String>, Refusal> {
    if let Some(raw) = string_field(event, "rawQueryString")? {
        if raw.len() > MAX_QUERY_BYTES {
            return Err(Refusal {
                status: 414,
                code: "uri_too_long",
                message: format!(
                    "the query string has {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                    raw.len()
                ),
            });
        }
        let mut found = None;
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if query_part(k)? != name {
                continue;
            }
            if found.is_some() {
                return Err(Refusal::bad_request(format!(
                    "query parameter `{name}` is given more than once"
                )));
            }
            found = Some(query_part(v)?);
        }
        return Ok(found);
    }
    match event.get("queryStringParameters") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(other) => Err(Refusal::bad_request(format!(
                "malformed request: query parameter `{name}` is {}, not a string",
                kind(other)
            ))),
        },
        Some(other) => Err(Refusal::bad_request(format!(
            "malformed request: `queryStringParameters` is {}, not an object",
            kind(other)
        ))),
    }
}

fn query_part(raw: &str) -> Result<String, Refusal> {
    let spaced = raw.replace('+', " ");
    check_escapes(&spaced).map_err(|e| Refusal::bad_request(format!("query string: {e}")))?;
    percent_decode(spaced.as_bytes())
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            Refusal::bad_request(format!(
                "query string: `{}` is not UTF-8 once percent-decoded",
                echo(raw)
            ))
        })
}

/// What a JSON value is, for a message.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A client's text as an error message shows it: control characters escaped,
/// at most [`ECHO_CHARS`] characters once escaped (an escape is up to 10).
fn echo(text: &str) -> String {
    let mut shown = String::new();
    for c in text.chars() {
        let before = shown.len();
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
        if shown.chars().count() > ECHO_CHARS {
            shown.truncate(before);
            shown.push('…');
            break;
        }
    }
    shown
}

#[cfg(test)]
mod tests;
