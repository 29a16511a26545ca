//! `backflow run SYNC [--full-resync] [--allow-mass-removal] [--no-wait]`: starts
//! a run (`POST /syncs/{sync}/runs`) and follows it to its end with a progress
//! bar, then prints what happened and the first rows that did not land.
//! Exit 0 succeeded, 2 partial, 1 failed; `--no-wait` exits 0 once it is queued.

use serde_json::{json, Value};

use crate::api::{encode, Api};
use crate::commands::record::{exit_code, headline, print_outcomes};
use crate::commands::rows;
use crate::follow::{follow, Finished, Followed};
use crate::output::{number, Out};
use crate::{Error, EXIT_OK};

/// Rows that did not land shown at the end of a run (all of them: `backflow rows`).
pub const PROBLEM_ROWS_SHOWN: usize = 10;

/// Exit status when following was interrupted (Ctrl-C): 128 + SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// How to start the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    pub full_resync: bool,
    pub allow_mass_removal: bool,
}

/// `POST /syncs/{sync}/runs` → the run id.
pub async fn start(api: &Api, sync: &str, options: Options) -> Result<(String, Value), Error> {
    let body = json!({
        "dry_run": options.dry_run,
        "full_resync": options.full_resync,
        "allow_mass_removal": options.allow_mass_removal,
    });
    let answer = api
        .post(&format!("/syncs/{}/runs", encode(sync)), &body)
        .await?;
    let run_id = answer
        .get("run_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Unexpected {
            url: api.base_url().to_string(),
            status: 202,
            detail: format!("no run_id in {answer}"),
        })?
        .to_string();
    Ok((run_id, answer))
}

/// Starts the run and follows it. `Err(exit status)` when there is nothing left
/// to show: following was interrupted (Ctrl-C), or `--json` printed the API's
/// final record.
pub async fn start_and_follow(
    api: &Api,
    out: &Out,
    sync: &str,
    options: Options,
) -> anyhow::Result<Result<Finished, u8>> {
    let (run_id, _) = start(api, sync, options).await?;
    let what = if options.dry_run { "dry run" } else { "run" };
    eprintln!("{what} {run_id} of {sync} started");
    // With --json, progress stays off stderr unless a person watches it.
    let show = !out.json || std::io::IsTerminal::is_terminal(&std::io::stderr());
    match follow(api, &run_id, out, show).await? {
        Followed::Finished(finished) if out.json => {
            out.print_json(&finished.answer);
            Ok(Err(exit_code(finished.record.status)))
        }
        Followed::Finished(finished) => Ok(Ok(*finished)),
        Followed::Interrupted => {
            eprintln!("stopped following; the {what} goes on: `backflow show {run_id}`");
            Ok(Err(EXIT_INTERRUPTED))
        }
    }
}

pub async fn run(
    api: &Api,
    out: &Out,
    sync: &str,
    options: Options,
    no_wait: bool,
) -> anyhow::Result<u8> {
    if no_wait {
        let (run_id, answer) = start(api, sync, options).await?;
        if out.json {
            out.print_json(&answer);
        } else {
            println!("run {run_id} of {sync} queued: `backflow show {run_id}` follows it");
        }
        return Ok(EXIT_OK);
    }
    let finished = match start_and_follow(api, out, sync, options).await? {
        Ok(finished) => finished,
        Err(code) => return Ok(code),
    };
    let r = &finished.record;
    println!("{}", headline(out, r));
    println!();
    print_outcomes(out, r);
    if let Some(error) = &r.error {
        println!();
        println!("error: {error}");
    }
    let problems = r.counts.problems();
    if problems > 0 {
        let shown = rows::fetch(api, &r.run_id, None, Some(PROBLEM_ROWS_SHOWN))
            .await?
            .items;
        println!();
        println!("rows that did not land:");
        rows::print_table(out, &shown);
        if problems > shown.len() as u64 {
            println!("… {} more", number(problems - shown.len() as u64));
        }
        println!("all of them: `backflow rows {}`", r.run_id);
    }
    Ok(exit_code(r.status))
}
