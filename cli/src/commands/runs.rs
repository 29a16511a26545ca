//! `backflow runs [SYNC] [--limit N]`: run history, newest first.
//!
//! One sync: `GET /syncs/{sync}/runs` page by page up to N runs. Every sync: the
//! same for each sync of `GET /syncs`, merged newest first. An API older than the
//! history route answers `405`: then each sync's last run (from `GET /syncs`) is
//! shown, with a note saying so.

use backflow_core::run::RunRecord;
use comfy_table::Cell;
use serde_json::{json, Value};

use crate::api::{encode, Api};
use crate::commands::record::{counts_summary, took};
use crate::commands::syncs::list;
use crate::follow::record;
use crate::output::{duration, number, Out};
use crate::{Error, EXIT_OK};

/// The runs shown, and the cursor to continue from (one sync only).
struct History {
    runs: Vec<Value>,
    next_cursor: Option<String>,
    /// Whether the API paginates (then `--json` carries `next_cursor`).
    paginated: bool,
}

pub async fn run(api: &Api, out: &Out, sync: Option<&str>, limit: usize) -> anyhow::Result<u8> {
    let limit = limit.max(1);
    let history = match history(api, sync, limit).await {
        Ok(h) => h,
        Err(e) if e.status() == Some(405) => {
            eprintln!(
                "note: this stack's API has no run history (GET /syncs/{{sync}}/runs answered 405: it predates it); showing each sync's last run. Deploy a newer backflow for the history."
            );
            last_runs(api, sync).await?
        }
        Err(e) => return Err(e.into()),
    };
    if out.json {
        let mut answer = json!({ "runs": history.runs });
        if history.paginated {
            answer["next_cursor"] = json!(history.next_cursor);
        }
        out.print_json(&answer);
        return Ok(EXIT_OK);
    }
    let records: Vec<RunRecord> = history
        .runs
        .iter()
        .map(|v| record(v, api.base_url()))
        .collect::<Result<_, _>>()?;
    print(out, &records);
    if history.next_cursor.is_some() {
        eprintln!("(the newest {limit} runs; --limit N shows more)");
    }
    Ok(EXIT_OK)
}

async fn history(api: &Api, sync: Option<&str>, limit: usize) -> Result<History, Error> {
    // The page size: the API refuses more than its maximum; `pages` stops at `limit`.
    let page = limit.min(backflow_core::api::RUNS_LIMIT.max as usize);
    let query = [("limit", page.to_string())];
    if let Some(sync) = sync {
        let path = format!("/syncs/{}/runs", encode(sync));
        let pages = api.pages(&path, &query, "runs", Some(limit)).await?;
        return Ok(History {
            runs: pages.items,
            next_cursor: pages.next_cursor,
            paginated: pages.paginated,
        });
    }
    let answer = api.get("/syncs", &[]).await?;
    let mut runs = Vec::new();
    for s in list(&answer, "syncs", api)? {
        let Some(name) = s.get("name").and_then(Value::as_str) else {
            continue;
        };
        let path = format!("/syncs/{}/runs", encode(name));
        runs.extend(api.pages(&path, &query, "runs", Some(limit)).await?.items);
    }
    Ok(History {
        runs: newest_first(runs, limit),
        next_cursor: None,
        paginated: true,
    })
}

/// The last run of each sync (or of `sync`), from `GET /syncs`.
async fn last_runs(api: &Api, sync: Option<&str>) -> Result<History, Error> {
    let answer = api.get("/syncs", &[]).await?;
    let syncs = list(&answer, "syncs", api)?;
    if let Some(name) = sync {
        if !syncs.iter().any(|s| s["name"] == name) {
            return Err(Error::Api {
                status: 404,
                code: "not_found".into(),
                message: format!("no sync named `{name}`"),
                hint: Some("`backflow syncs` lists the syncs".into()),
            });
        }
    }
    let runs = syncs
        .iter()
        .filter(|s| sync.is_none_or(|name| s["name"] == name))
        .filter_map(|s| s.get("last_run").filter(|v| !v.is_null()).cloned())
        .collect();
    Ok(History {
        runs: newest_first(runs, usize::MAX),
        next_cursor: None,
        paginated: false,
    })
}

/// Sorted by start time, newest first (run ids start with their start time, so
/// they break ties), at most `limit`.
fn newest_first(mut runs: Vec<Value>, limit: usize) -> Vec<Value> {
    let key = |v: &Value| {
        (
            v["started_at"].as_str().unwrap_or("").to_string(),
            v["run_id"].as_str().unwrap_or("").to_string(),
        )
    };
    runs.sort_by_key(|v| std::cmp::Reverse(key(v)));
    runs.truncate(limit);
    runs
}

fn print(out: &Out, records: &[RunRecord]) {
    if records.is_empty() {
        println!("no runs yet");
        return;
    }
    let mut table = out.table(&[
        "RUN", "SYNC", "STATUS", "KIND", "STARTED", "TOOK", "CALLS", "ROWS",
    ]);
    for r in records {
        table.add_row(vec![
            Cell::new(&r.run_id),
            Cell::new(&r.sync),
            out.status_cell(r.status.as_str()),
            Cell::new(if r.dry_run { "dry run" } else { "run" }),
            Cell::new(&r.started_at),
            Cell::new(took(r).map(duration).unwrap_or_default()),
            Cell::new(number(r.api_calls)),
            Cell::new(if r.dry_run {
                "-".to_string()
            } else {
                counts_summary(&r.counts)
            }),
        ]);
    }
    out.print_table(&table);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_newest_first() {
        let runs = vec![
            json!({"run_id": "20260101T000000Z-a", "started_at": "2026-01-01T00:00:00Z"}),
            json!({"run_id": "20260301T000000Z-b", "started_at": "2026-03-01T00:00:00Z"}),
            json!({"run_id": "20260301T000000Z-c", "started_at": "2026-03-01T00:00:00Z"}),
            json!({"run_id": "20260201T000000Z-d", "started_at": "2026-02-01T00:00:00Z"}),
        ];
        let ids: Vec<String> = newest_first(runs, 3)
            .iter()
            .map(|v| v["run_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            ids,
            [
                "20260301T000000Z-c",
                "20260301T000000Z-b",
                "20260201T000000Z-d"
            ]
        );
    }
}
