//! Fuzz target: the trigger's request handling before any IO
//! (`backflow_core::api::parse`: routing, percent-decoded path segments, the
//! query, base64 bodies, the run request as a JSON object only).
//!
//! Input: when it is a JSON object, it is the whole event as API Gateway or a
//! function URL would send it. Otherwise lines, so seeds stay readable: the
//! method, the path, the raw query string, flags (`b64`: the rest is sent
//! base64-encoded, so it may be any bytes; `raw64`: the rest is sent as it is
//! but marked base64-encoded; `map`: the query goes in `queryStringParameters`
//! as `outcome`), then the body (the rest, newlines included). Lines that are
//! not UTF-8 arrive as API Gateway would hand them over: lossily decoded.
//!
//! Must never panic. A refusal is a client's mistake: always 4xx, never 5xx,
//! with a bounded message. A request that parses is sane: a run id is one, a
//! sync name is non-empty, has no control character, is not `.` or `..`, and
//! percent-encoding it again routes to the same name; a limit is in range; a
//! cursor that parsed is the one this API gives for that position and listing;
//! parsing is deterministic.
#![no_main]

use backflow_core::api::{self, Request, Route, MAX_MESSAGE_CHARS};
use backflow_core::run::is_run_id;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let event = match serde_json::from_slice::<Value>(data) {
        Ok(event @ Value::Object(_)) => event,
        _ => lines_event(data),
    };
    check(&event);
});

fn lines_event(data: &[u8]) -> Value {
    let mut parts = data.splitn(5, |b| *b == b'\n');
    let mut line = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (method, path, query, flags) = (line(), line(), line(), line());
    let body = parts.next().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "requestContext": {"http": {"method": method}},
        "rawPath": path,
        "headers": {"content-type": "application/json"},
    });
    if flags.contains("map") {
        event["queryStringParameters"] = json!({ "outcome": query });
    } else {
        event["rawQueryString"] = json!(query);
    }
    if flags.contains("b64") {
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        event["isBase64Encoded"] = json!(true);
    } else {
        event["body"] = json!(String::from_utf8_lossy(body));
        event["isBase64Encoded"] = json!(flags.contains("raw64"));
    }
    event
}

fn check(event: &Value) {
    let parsed = api::parse(event);
    assert_eq!(parsed, api::parse(event), "parsing is deterministic");
    match parsed {
        Err(refusal) => {
            assert!(
                (400..500).contains(&refusal.status),
                "a client's mistake must be 4xx: {refusal:?}"
            );
            assert!(!refusal.message.is_empty(), "{refusal:?}");
            assert!(
                refusal.message.chars().count() <= MAX_MESSAGE_CHARS + 1,
                "unbounded message: {} chars",
                refusal.message.chars().count()
            );
        }
        Ok(Request::ListSyncs) => {}
        Ok(Request::GetRun { run_id }) => assert!(is_run_id(&run_id), "{run_id:?}"),
        Ok(Request::RunRows {
            run_id,
            limit,
            after,
            ..
        }) => {
            assert!(is_run_id(&run_id), "{run_id:?}");
            assert!((1..=api::ROWS_LIMIT.max).contains(&limit), "{limit}");
            // A cursor that parsed is one this API would give for this run.
            if let Some(after) = after {
                assert_eq!(
                    api::RowsAfter::from_cursor(&after.cursor(&run_id), &run_id, None),
                    Ok(after)
                );
            }
        }
        Ok(Request::SyncRuns { sync, limit, after }) => {
            check_sync(&sync, "GET");
            assert!((1..=api::RUNS_LIMIT.max).contains(&limit), "{limit}");
            if let Some(after) = after {
                assert_eq!(
                    api::RunsAfter::from_cursor(&after.cursor(&sync), &sync),
                    Ok(after.clone())
                );
            }
        }
        Ok(Request::StartRun { sync, .. }) => check_sync(&sync, "POST"),
    }
}

/// A sync name from the path is sane, and routes back to itself once encoded.
fn check_sync(sync: &str, method: &str) {
    assert!(!sync.is_empty());
    assert!(!sync.chars().any(char::is_control), "{sync:?}");
    assert!(sync != "." && sync != "..", "{sync:?}");
    let path = format!(
        "/syncs/{}/runs",
        utf8_percent_encode(sync, NON_ALPHANUMERIC)
    );
    if path.len() <= api::MAX_PATH_BYTES {
        let want = if method == "GET" {
            Route::SyncRuns(sync.to_string())
        } else {
            Route::StartRun(sync.to_string())
        };
        assert_eq!(api::route(method, &path), Ok(want), "{path}");
    }
}
