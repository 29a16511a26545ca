//! The API's paged listings against the local stack, as a client pages them:
//! a sync's run history newest first across pages of 2, and a run with more
//! than 10,000 invalid rows (no Intercom calls) paged with `limit`/`cursor`, each
//! row once, its CSV page read back with Python's `csv` module to the same rows.

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use backflow_scenarios::api::RunRequest;
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, Profile, Scenario, Val};
use serde_json::{json, Value};

use super::{user_spec, users_cols};

/// More than the old single-page cap of 10,000.
const INVALID: usize = 10_500;

/// `GET path?query` as JSON, asserting 200.
async fn get(sc: &Scenario, path: &str) -> Result<Value> {
    let a = sc.api.request("GET", path, None).await?;
    check_eq!(a.status, 200, "GET {path}: {}", a.text);
    Ok(a.body)
}

/// Every page of `path` (`?limit=…` included), following `next_cursor`: the
/// pages' items.
async fn pages(sc: &Scenario, path: &str, key: &str) -> Result<Vec<Vec<Value>>> {
    let mut all = Vec::new();
    let mut url = path.to_string();
    loop {
        let page = get(sc, &url).await?;
        all.push(page[key].as_array().context("a list")?.clone());
        let Some(cursor) = page["next_cursor"].as_str() else {
            check_eq!(page["next_cursor"], Value::Null, "the last page: {page}");
            return Ok(all);
        };
        url = format!("{path}&cursor={cursor}");
        check!(all.len() < 1_000, "the cursor never ends");
    }
}

/// The CSV page of `path` (through the function URL, with `Accept: text/csv`):
/// its body and `x-next-cursor`.
async fn csv_page(sc: &Scenario, path: &str) -> Result<(String, Option<String>)> {
    let url = format!("{}/lambda-url/trigger{path}", sc.stack.watch_url);
    let resp = reqwest::Client::new()
        .get(url)
        .header("accept", "text/csv")
        .send()
        .await?;
    check_eq!(resp.status().as_u16(), 200, "GET {path} as CSV");
    let kind = resp.headers().get("content-type").cloned();
    check!(
        kind.as_ref()
            .is_some_and(|k| k.as_bytes().starts_with(b"text/csv")),
        "content-type {kind:?}"
    );
    let next = resp
        .headers()
        .get("x-next-cursor")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((resp.text().await?, next))
}

/// CSV text → records, read by Python's `csv` module (a reader that is not ours).
fn python_csv(text: &str) -> Result<Vec<Vec<String>>> {
    let script = "import csv, io, json, sys\n\
        rows = list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding='utf-8', newline='')))\n\
        json.dump(rows, sys.stdout)";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("python3")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    check!(out.status.success(), "python's csv refused the CSV");
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A JSON row as the CSV writes it: text, `'` before what a spreadsheet would
/// read as a formula.
fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text
    }
}

pub async fn api_pages_run_history_and_rows(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;

    // History: three runs of a one-row sync, paged 2 at a time.
    let one = sc
        .table(
            "one",
            &users_cols(),
            &[vec![s("1"), s("not-an-email"), s("A")]],
        )
        .await?;
    let small = sc.add_sync(
        "small",
        &format!("select id, email, full_name from {one}"),
        user_spec(&dest),
    )?;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let end = sc.api.run_to_end(&small, RunRequest::normal()).await?;
        check_eq!(end.status(), "partial", "{end}");
        runs.push(end.id().to_string());
    }
    let got = pages(&sc, &format!("/syncs/{small}/runs?limit=2"), "runs").await?;
    check_eq!(
        got.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 1],
        "pages of 2"
    );
    let ids: Vec<&str> = got
        .iter()
        .flatten()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    // Newest first: started_at, then run id (ids start with their start time).
    let mut want = runs.clone();
    want.sort_by(|a, b| b.cmp(a));
    check_eq!(ids, want, "newest first, each run once");
    check_eq!(got[0][0]["sync"], json!(small), "the sync's runs");

    // Errors: an unknown sync, a garbage cursor, another sync's cursor, a bad limit.
    let a = sc
        .api
        .request("GET", "/syncs/no_such_sync/runs", None)
        .await?;
    check_eq!(a.status, 404, "{}", a.text);
    for path in [
        format!("/syncs/{small}/runs?cursor=garbage"),
        format!("/syncs/{small}/runs?limit=0"),
    ] {
        let a = sc.api.request("GET", &path, None).await?;
        check_eq!(a.status, 400, "{path}: {}", a.text);
        check!(!a.error_message().is_empty(), "{}", a.text);
    }

    // Rows: 10,500 invalid rows (malformed emails: no Intercom call), some keys
    // that need quoting or a formula guard.
    let mut ids: Vec<String> = (1..=INVALID).map(|i| format!("u{i:05}")).collect();
    ids[0] = "=1+2".into();
    ids[1] = "a,\"b\"".into();
    ids[2] = "-7".into();
    let rows: Vec<Vec<Val>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| vec![s(id.as_str()), s(format!("u{i}.at.example.com")), s("N")])
        .collect();
    let big = sc.table("big", &users_cols(), &rows).await?;
    let sync = sc.add_sync(
        "big",
        &format!("select id, email, full_name from {big}"),
        user_spec(&dest),
    )?;
    let end = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(end.status(), "partial", "{end}");
    check_eq!(end.count("invalid"), INVALID as u64, "{end}");
    check_eq!(ic.stats().await?.writes(), 0, "no Intercom write");
    let run = end.id().to_string();

    let got = pages(
        &sc,
        &format!("/runs/{run}/rows?outcome=invalid&limit=4000"),
        "rows",
    )
    .await?;
    check_eq!(
        got.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![4000, 4000, 2500],
        "pages of 4000"
    );
    let keys: Vec<&str> = got
        .iter()
        .flatten()
        .filter_map(|r| r["key"].as_str())
        .collect();
    let unique: HashSet<&str> = keys.iter().copied().collect();
    let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
    check_eq!(unique.len(), INVALID, "no row twice");
    check!(unique == want, "none missing");
    // The default page (1000) with the outcome left out says there is more.
    let page = get(&sc, &format!("/runs/{run}/rows")).await?;
    check_eq!(
        page["rows"].as_array().map(Vec::len),
        Some(1000),
        "the default limit"
    );
    check!(page["next_cursor"].is_string(), "{}", page["next_cursor"]);

    // CSV: a page of 2000 reads back (Python's csv) as the JSON page's rows,
    // its cursor the JSON's.
    let path = format!("/runs/{run}/rows?outcome=invalid&limit=2000");
    let json_page = get(&sc, &path).await?;
    let (text, next) = csv_page(&sc, &path).await?;
    check_eq!(
        next.as_deref(),
        json_page["next_cursor"].as_str(),
        "x-next-cursor"
    );
    let records = python_csv(&text)?;
    check_eq!(
        records.first().cloned(),
        Some(
            vec!["key", "outcome", "reason", "code", "row"]
                .into_iter()
                .map(String::from)
                .collect()
        ),
        "the header"
    );
    let want: Vec<Vec<String>> = json_page["rows"]
        .as_array()
        .context("rows")?
        .iter()
        .map(|r| {
            ["key", "outcome", "reason", "code", "row"]
                .iter()
                .map(|k| cell(&r[*k]))
                .collect()
        })
        .collect();
    check_eq!(records.len(), want.len() + 1, "one record per row");
    check_eq!(records[1..].to_vec(), want, "CSV = JSON");
    check!(
        records.iter().any(|r| r[0] == "'=1+2") && records.iter().any(|r| r[0] == "a,\"b\""),
        "the formula guard and quoting are in this page"
    );
    Ok(())
}
