//! `backflow plan SYNC`: a dry run. Starts a run with `dry_run: true`, follows it,
//! then prints the plan (rows per action) and the sample rows field by field,
//! before (read from Intercom by the dry run) → after. Nothing is written to
//! Intercom. Exit 0, or 1 when the dry run failed (a broken query, a refused
//! token, …).

use crate::api::Api;
use crate::commands::record::{exit_code, headline, print_outcomes};
use crate::commands::run::{start_and_follow, Options};
use crate::commands::samples::print_samples;
use crate::output::Out;

pub async fn run(api: &Api, out: &Out, sync: &str) -> anyhow::Result<u8> {
    let options = Options {
        dry_run: true,
        ..Options::default()
    };
    let finished = match start_and_follow(api, out, sync, options).await? {
        Ok(finished) => finished,
        Err(code) => return Ok(code),
    };
    let r = &finished.record;
    println!("{}", headline(out, r));
    if let Some(error) = &r.error {
        println!("error: {error}");
        return Ok(exit_code(r.status));
    }
    println!();
    print_outcomes(out, r);
    for w in &r.warnings {
        println!("warning: {w}");
    }
    print_samples(out, &r.samples);
    if r.api_calls > 0 {
        println!();
        println!(
            "{} Intercom call(s) read the sample rows' records; nothing was written.",
            r.api_calls
        );
    }
    Ok(exit_code(r.status))
}
