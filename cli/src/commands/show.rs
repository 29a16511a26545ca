//! `backflow show RUN`: one run — status, counts against the plan, timings,
//! usage and its AWS cost (priced with `backflow_core::cost`), a dry run's samples.

use comfy_table::Cell;

use crate::api::{encode, Api};
use crate::commands::record::{headline, kind, print_outcomes, print_usage, rows_text, took};
use crate::commands::samples::print_samples;
use crate::follow::record;
use crate::output::{duration, number, Out};
use crate::EXIT_OK;

pub async fn run(api: &Api, out: &Out, run_id: &str) -> anyhow::Result<u8> {
    let answer = api.get(&format!("/runs/{}", encode(run_id)), &[]).await?;
    if out.json {
        out.print_json(&answer);
        return Ok(EXIT_OK);
    }
    let r = record(&answer, api.base_url())?;
    println!("{}", headline(out, &r));
    println!();
    let mut facts = out.table(&["", ""]);
    let trigger = serde_json::to_value(r.trigger)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let finished = match (&r.finished_at, took(&r)) {
        (Some(at), Some(secs)) => format!("{at} (took {})", duration(secs)),
        (Some(at), None) => at.clone(),
        (None, _) => "-".to_string(),
    };
    let lines = [
        ("run", r.run_id.clone()),
        ("sync", r.sync.clone()),
        ("status", String::new()),
        ("kind", kind(&r)),
        ("trigger", trigger),
        ("started", r.started_at.clone()),
        ("finished", finished),
        (
            "batches",
            format!(
                "{} of {} done, {} failed",
                number(r.batches.done),
                number(r.batches.total),
                number(r.batches.failed)
            ),
        ),
        (
            "Intercom",
            format!(
                "{} calls, {} retries",
                number(r.api_calls),
                number(r.retries)
            ),
        ),
    ];
    for (what, value) in lines {
        let value = if what == "status" {
            out.status_cell(r.status.as_str())
        } else {
            Cell::new(value)
        };
        facts.add_row(vec![Cell::new(what), value]);
    }
    if let Some(error) = &r.error {
        facts.add_row(vec![Cell::new("error"), Cell::new(error)]);
    }
    // The header row of this two-column table is empty: skip it.
    for line in crate::output::table_lines(&facts).into_iter().skip(1) {
        println!("{line}");
    }
    println!();
    print_outcomes(out, &r);
    for w in &r.warnings {
        println!("warning: {w}");
    }
    println!();
    print_usage(out, &r.usage);
    // Every run records samples; only a dry run's are its answer.
    if r.dry_run {
        print_samples(out, &r.samples);
    }
    let problems = r.counts.problems();
    if problems > 0 {
        println!();
        println!(
            "{} did not land: `backflow rows {}` lists them with their reasons",
            rows_text(problems),
            r.run_id
        );
    }
    Ok(EXIT_OK)
}
