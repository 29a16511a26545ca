//! `backflow rows RUN [--outcome O] [--csv]`: every row a run reported (invalid,
//! rejected, not found) with its reason, every page.
//!
//! The CSV is written from the JSON pages by the API's own CSV writer
//! (`backflow_core::api::csv`: RFC 4180, a header line `key,outcome,reason,code,row`,
//! formula-like cells prefixed with `'`), so `--csv` is every page of what
//! `Accept: text/csv` answers, under one header. An API older than pagination
//! answers one page of at most 10,000 rows and no `next_cursor`; when that page
//! is full, a note says rows may be missing.

use comfy_table::{Cell, Color};
use serde_json::{json, Value};

use crate::api::{encode, Api, Pages, OLD_ROWS_CAP, ROWS_PAGE};
use backflow_core::run::RowReport;

use crate::output::{cell_text, Out};
use crate::EXIT_OK;

/// Which rows (`--outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeFilter {
    Invalid,
    Rejected,
    NotFound,
}

impl OutcomeFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeFilter::Invalid => "invalid",
            OutcomeFilter::Rejected => "rejected",
            OutcomeFilter::NotFound => "not_found",
        }
    }
}

/// Every reported row of `run_id` (of one outcome when given).
pub async fn fetch(
    api: &Api,
    run_id: &str,
    outcome: Option<OutcomeFilter>,
    max: Option<usize>,
) -> anyhow::Result<Pages> {
    let mut query = vec![("limit", ROWS_PAGE.to_string())];
    if let Some(o) = outcome {
        query.push(("outcome", o.as_str().to_string()));
    }
    let path = format!("/runs/{}/rows", encode(run_id));
    let pages = api.pages(&path, &query, "rows", max).await?;
    if !pages.paginated && pages.items.len() >= OLD_ROWS_CAP {
        eprintln!(
            "note: this stack's API answers at most {OLD_ROWS_CAP} rows and no cursor (it predates pagination): rows past those may be missing. Deploy a newer backflow for every row."
        );
    }
    Ok(pages)
}

pub async fn run(
    api: &Api,
    out: &Out,
    run_id: &str,
    outcome: Option<OutcomeFilter>,
    csv: bool,
) -> anyhow::Result<u8> {
    let pages = fetch(api, run_id, outcome, None).await?;
    let rows = pages.items;
    if out.json {
        // The API's answer, every page in one: `next_cursor` only where the API has it.
        let mut answer = json!({ "rows": rows });
        if pages.paginated {
            answer["next_cursor"] = Value::Null;
        }
        out.print_json(&answer);
    } else if csv {
        print_csv(&rows)?;
    } else if rows.is_empty() {
        let what = outcome
            .map(OutcomeFilter::as_str)
            .unwrap_or("invalid, rejected or not found");
        println!("run {run_id} reported no rows {what}");
    } else {
        print_table(out, &rows);
    }
    Ok(EXIT_OK)
}

fn print_csv(rows: &[Value]) -> anyhow::Result<()> {
    let reports = rows
        .iter()
        .map(|r| serde_json::from_value::<RowReport>(r.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("the API answered a row this backflow cannot read: {e}"))?;
    print!("{}", backflow_core::api::csv::rows(&reports));
    Ok(())
}

/// KEY / OUTCOME / CODE / ROW / REASON.
pub fn print_table(out: &Out, rows: &[Value]) {
    let mut table = out.table(&["KEY", "OUTCOME", "CODE", "ROW", "REASON"]);
    for r in rows {
        let outcome = cell_text(&r["outcome"]);
        let color = if outcome == "rejected" {
            Color::Red
        } else {
            Color::Yellow
        };
        table.add_row(vec![
            Cell::new(cell_text(&r["key"])),
            Cell::new(outcome).fg(color),
            Cell::new(cell_text(&r["code"])),
            Cell::new(cell_text(&r["row"])),
            Cell::new(cell_text(&r["reason"])),
        ]);
    }
    out.print_table(&table);
}
