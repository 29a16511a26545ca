//! The paged listings through the trigger's entry point, on the same stack as
//! the hostile cases: a sync's run history newest first across pages, a run's
//! rows across pages (JSON and CSV), each item once.

use std::collections::HashSet;

use backflow_core::run::{Outcome, RowReport, RunStatus};
use serde_json::{json, Value};

use super::{request, stack, Stack};

/// Answers `event`: (status, headers, body text).
async fn call(stack: &Stack, event: Value) -> (u64, Value, String) {
    let answer = stack.trigger.handle(event).await.expect("an answer");
    (
        answer["statusCode"].as_u64().unwrap_or_default(),
        answer["headers"].clone(),
        answer["body"].as_str().unwrap_or_default().to_string(),
    )
}

async fn get_json(stack: &Stack, path: &str, query: &str) -> Value {
    let mut e = request("GET", path);
    e["rawQueryString"] = json!(query);
    let (status, _, body) = call(stack, e).await;
    assert_eq!(status, 200, "GET {path}?{query}: {body}");
    serde_json::from_str(&body).expect("a JSON body")
}

/// Starts a run of `sync` (path-encoded) through the API and finishes it, so
/// the next may start.
async fn run_once(stack: &Stack, sync: &str, name: &str) -> String {
    let (status, _, body) = call(stack, request("POST", &format!("/syncs/{sync}/runs"))).await;
    assert_eq!(status, 202, "{body}");
    let run_id = serde_json::from_str::<Value>(&body).expect("JSON")["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    stack
        .trigger
        .runs
        .finish(&run_id, name, RunStatus::Succeeded, None)
        .await
        .expect("finish the run");
    run_id
}

/// Follows `next_cursor` from the first page; every page's ids.
async fn pages(stack: &Stack, path: &str, query: &str, key: &str, id: &str) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_string(),
        };
        let page = get_json(stack, path, &q).await;
        let ids = page[key]
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item[id].to_string())
            .collect();
        all.push(ids);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert_eq!(page["next_cursor"], Value::Null, "{page}");
                return all;
            }
        }
        assert!(all.len() < 100, "the cursor never ends");
    }
}

#[tokio::test]
async fn run_history_is_newest_first_across_pages() {
    let stack = stack().await;
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(run_once(&stack, "users", "users").await);
    }
    let other = run_once(&stack, "caf%C3%A9", "café").await;
    // Newest first: by start time, then run id (runs started in the same
    // second are ordered by their id).
    let mut want: Vec<(String, String)> = Vec::new();
    for id in &started {
        let run = stack.trigger.runs.get_run(id).await.unwrap().unwrap();
        want.push((run.started_at, format!("{id:?}")));
    }
    want.sort();
    want.reverse();
    let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();

    let got = pages(&stack, "/syncs/users/runs", "limit=2", "runs", "run_id").await;
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(got.concat(), want);
    // The default limit (20) holds them all: one page.
    let all = pages(&stack, "/syncs/users/runs", "", "runs", "run_id").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0], want);
    let cafe = pages(&stack, "/syncs/caf%C3%A9/runs", "limit=1", "runs", "run_id").await;
    assert_eq!(cafe, [vec![format!("{other:?}")]]);

    // A page's records are the run records `GET /runs/{id}` gives.
    let first = get_json(&stack, "/syncs/users/runs", "limit=1").await;
    let newest = first["runs"][0]["run_id"].as_str().expect("a run id");
    assert_eq!(format!("{newest:?}"), want[0]);
    let record = get_json(&stack, &format!("/runs/{newest}"), "").await;
    assert_eq!(first["runs"][0], record);

    // `users`' cursor does not page `café`'s runs.
    let cursor = first["next_cursor"].as_str().expect("a cursor");
    let mut e = request("GET", "/syncs/caf%C3%A9/runs");
    e["rawQueryString"] = json!(format!("cursor={cursor}"));
    let (status, _, body) = call(&stack, e).await;
    assert_eq!(status, 400, "{body}");
}

fn report(outcome: Outcome, i: usize) -> RowReport {
    RowReport {
        key: Some(format!("k{i}")),
        outcome,
        reason: format!("reason {i}, \"quoted\""),
        code: (outcome == Outcome::Rejected).then(|| "conflict".to_string()),
        row: (outcome == Outcome::Invalid).then_some(i as u64),
    }
}

#[tokio::test]
async fn rows_page_through_json_and_csv() {
    let stack = stack().await;
    let run_id = run_once(&stack, "users", "users").await;
    let invalid: Vec<RowReport> = (0..12).map(|i| report(Outcome::Invalid, i)).collect();
    let rejected: Vec<RowReport> = (12..17).map(|i| report(Outcome::Rejected, i)).collect();
    let runs = &stack.trigger.runs;
    runs.put_rows(&run_id, 999_999, &invalid).await.unwrap();
    runs.put_rows(&run_id, 0, &rejected).await.unwrap();
    let path = format!("/runs/{run_id}/rows");

    let got = pages(&stack, &path, "limit=5", "rows", "key").await;
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 5, 2]);
    let keys = got.concat();
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 17, "{keys:?}");
    let got = pages(&stack, &path, "limit=2&outcome=rejected", "rows", "key").await;
    let want: Vec<String> = (12..17).map(|i| format!("\"k{i}\"")).collect();
    assert_eq!(got.concat(), want);
    assert_eq!(got.len(), 3);

    // CSV: the same rows, the cursor in `x-next-cursor`, absent on the last page.
    let mut lines = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let mut e = request("GET", &path);
        e["headers"] = json!({"accept": "text/csv"});
        e["rawQueryString"] = json!(match &cursor {
            Some(c) => format!("outcome=invalid&limit=5&cursor={c}"),
            None => "outcome=invalid&limit=5".into(),
        });
        let (status, headers, body) = call(&stack, e).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        let mut page_lines: Vec<&str> = body.split("\r\n").collect();
        assert_eq!(page_lines.pop(), Some(""), "CRLF-terminated: {body:?}");
        assert_eq!(page_lines[0], "key,outcome,reason,code,row");
        lines.extend(page_lines[1..].iter().map(|l| l.to_string()));
        match headers["x-next-cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert_eq!(page, 2, "12 rows in pages of 5");
                break;
            }
        }
    }
    let want: Vec<String> = (0..12)
        .map(|i| format!("k{i},invalid,\"reason {i}, \"\"quoted\"\"\",,{i}"))
        .collect();
    assert_eq!(lines, want);
}
