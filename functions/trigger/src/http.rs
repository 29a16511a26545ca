//! The HTTP API: `GET /syncs`, `POST /syncs/{sync}/runs`, `GET /runs/{id}`,
//! `GET /runs/{id}/rows`. Errors are `{"error":{"code","message"}}`.

use serde::Deserialize;
use serde_json::{json, Value};

use backflow_core::run::Outcome;

use crate::runs::{StartError, StartOptions};
use crate::Trigger;

/// A parsed route; pure so it is tested without AWS.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    ListSyncs,
    StartRun(String),
    GetRun(String),
    RunRows(String),
    NotFound,
    MethodNotAllowed,
}

/// Maps method and path to a route. The path may carry the local Lambda emulator's
/// `/lambda-url/<function>` prefix or an API Gateway stage; both are ignored.
pub fn route(method: &str, path: &str) -> Route {
    let path = strip_prefix(path);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (get, post) = (method == "GET", method == "POST");
    match parts.as_slice() {
        ["syncs"] if get => Route::ListSyncs,
        ["syncs", sync, "runs"] if post => Route::StartRun(decode(sync)),
        ["runs", id] if get => Route::GetRun(decode(id)),
        ["runs", id, "rows"] if get => Route::RunRows(decode(id)),
        ["syncs"] | ["syncs", _, "runs"] | ["runs", _] | ["runs", _, "rows"] => {
            Route::MethodNotAllowed
        }
        _ => Route::NotFound,
    }
}

fn strip_prefix(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/lambda-url/") {
        // "/lambda-url/trigger/syncs" → "/syncs"
        return rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    }
    path
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&segment[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of `POST /syncs/{sync}/runs` (all optional; unknown keys refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    full_resync: bool,
    #[serde(default)]
    allow_mass_removal: bool,
}

/// An HTTP answer in the shape API Gateway (payload 2.0) and function URLs accept.
/// `cookies` and `multiValueHeaders` are there although empty: `cargo lambda watch`
/// parses the answer with a struct that requires them.
pub fn response(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "cookies": [],
        "isBase64Encoded": false,
        "body": body.to_string(),
    })
}

pub fn error(status: u16, code: &str, message: &str) -> Value {
    response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn body_text(event: &Value) -> Result<String, String> {
    let Some(body) = event.get("body").and_then(Value::as_str) else {
        return Ok(String::new());
    };
    if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("body is not valid base64: {e}"))?;
        return String::from_utf8(bytes).map_err(|_| "body is not UTF-8".to_string());
    }
    Ok(body.to_string())
}

fn query_param(event: &Value, name: &str) -> Option<String> {
    if let Some(v) = event
        .get("queryStringParameters")
        .and_then(|q| q.get(name))
        .and_then(Value::as_str)
    {
        return Some(v.to_string());
    }
    let raw = event.get("rawQueryString").and_then(Value::as_str)?;
    raw.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| decode(v))
    })
}

/// Answers one HTTP request.
pub async fn handle(trigger: &Trigger, event: &Value) -> Value {
    let method = event
        .pointer("/requestContext/http/method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let path = event
        .get("rawPath")
        .and_then(Value::as_str)
        .unwrap_or("/")
        .to_string();
    match route(&method, &path) {
        Route::ListSyncs => match crate::runs::list_syncs(trigger).await {
            Ok(body) => response(200, &body),
            Err(e) => error(500, "config_invalid", &e.to_string()),
        },
        Route::StartRun(sync) => {
            let text = match body_text(event) {
                Ok(t) => t,
                Err(e) => return error(400, "bad_request", &e),
            };
            let request: RunRequest = if text.trim().is_empty() {
                RunRequest::default()
            } else {
                match serde_json::from_str(&text) {
                    Ok(r) => r,
                    Err(e) => return error(400, "bad_request", &format!("run request: {e}")),
                }
            };
            let options = StartOptions {
                dry_run: request.dry_run,
                full_resync: request.full_resync,
                allow_mass_removal: request.allow_mass_removal,
                trigger: backflow_core::run::Trigger::Api,
            };
            match crate::runs::start(trigger, &sync, options).await {
                Ok(run_id) => response(202, &json!({"run_id": run_id, "status": "queued"})),
                Err(StartError::UnknownSync) => {
                    error(404, "not_found", &format!("no sync named `{sync}`"))
                }
                Err(StartError::AlreadyRunning(run_id)) => error(
                    409,
                    "run_in_progress",
                    &format!("sync `{sync}` already has a run in progress: {run_id}"),
                ),
                Err(StartError::Config(msg)) => error(422, "config_invalid", &msg),
                Err(StartError::Internal(msg)) => error(500, "internal", &msg),
            }
        }
        Route::GetRun(id) => match crate::runs::get(trigger, &id).await {
            Ok(Some(record)) => response(200, &serde_json::to_value(record).unwrap_or_default()),
            Ok(None) => error(404, "not_found", &format!("no run `{id}`")),
            Err(e) => error(500, "internal", &e.to_string()),
        },
        Route::RunRows(id) => {
            let outcome = match query_param(event, "outcome").as_deref() {
                None | Some("") => None,
                Some("invalid") => Some(Outcome::Invalid),
                Some("rejected") => Some(Outcome::Rejected),
                Some("not_found") => Some(Outcome::NotFound),
                Some(other) => {
                    return error(
                        400,
                        "bad_request",
                        &format!("outcome must be invalid, rejected or not_found, not `{other}`"),
                    )
                }
            };
            match crate::runs::rows(trigger, &id, outcome).await {
                Ok(Some(rows)) => response(200, &json!({ "rows": rows })),
                Ok(None) => error(404, "not_found", &format!("no run `{id}`")),
                Err(e) => error(500, "internal", &e.to_string()),
            }
        }
        Route::MethodNotAllowed => error(405, "method_not_allowed", &format!("{method} {path}")),
        Route::NotFound => error(404, "not_found", &format!("no route for {method} {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            ("GET", "/syncs", Route::ListSyncs),
            ("GET", "/lambda-url/trigger/syncs", Route::ListSyncs),
            ("POST", "/syncs/users/runs", Route::StartRun("users".into())),
            ("POST", "/syncs/a%20b/runs", Route::StartRun("a b".into())),
            ("GET", "/runs/r1", Route::GetRun("r1".into())),
            (
                "GET",
                "/lambda-url/trigger/runs/r1/rows",
                Route::RunRows("r1".into()),
            ),
            ("DELETE", "/syncs", Route::MethodNotAllowed),
            ("GET", "/syncs/users/runs", Route::MethodNotAllowed),
            ("GET", "/nope", Route::NotFound),
            ("GET", "/", Route::NotFound),
        ];
        for (method, path, want) in cases {
            assert_eq!(route(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn query_from_raw_or_map() {
        let e = json!({"rawQueryString": "a=1&outcome=not_found"});
        assert_eq!(query_param(&e, "outcome").as_deref(), Some("not_found"));
        let e = json!({"queryStringParameters": {"outcome": "invalid"}});
        assert_eq!(query_param(&e, "outcome").as_deref(), Some("invalid"));
        assert_eq!(query_param(&json!({}), "outcome"), None);
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let e = json!({"body": "eyJkcnlfcnVuIjp0cnVlfQ==", "isBase64Encoded": true});
        assert_eq!(body_text(&e).unwrap(), r#"{"dry_run":true}"#);
    }
}
