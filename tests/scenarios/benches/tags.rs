//! Tag benchmark (issue 16): what a tag change costs in Intercom calls, through
//! the local stack (moto + `cargo lambda watch --release` + the emulator, no
//! rate limit) on SQLite.
//!
//! ```text
//! cargo bench -p backflow-scenarios --bench tags -- [CONTACTS] [COMPANIES]
//! ```
//! Defaults: 10,000 contacts and 1,000 companies, created first (not
//! measured). Then, nothing else changing: each gains one tag; then loses it.
//! The calls are the emulator's own counts (`/_emulator/stats`). Results are
//! appended to `benchmarks/tags.md`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use backflow_scenarios::api::RunRequest;
use backflow_scenarios::intercom::{Intercom, Profile, Stats};
use backflow_scenarios::stack::repo_root;
use backflow_scenarios::{on_stack_runtime, runtime, Kind, Scenario};

fn main() -> Result<()> {
    // Release functions unless told otherwise (`BACKFLOW_SCENARIO_RELEASE=0`
    // reuses the debug build the scenarios made: the call counts are the same,
    // only the wall times differ).
    if std::env::var_os("BACKFLOW_SCENARIO_RELEASE").is_none() {
        std::env::set_var("BACKFLOW_SCENARIO_RELEASE", "1");
    }
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.replace(['_', ','], "").parse().context("a count"))
        .collect::<Result<_>>()?;
    let contacts = args.first().copied().unwrap_or(10_000);
    let companies = args.get(1).copied().unwrap_or(1_000);
    let lines = runtime().block_on(on_stack_runtime(bench(contacts, companies)))?;
    let path = repo_root().join("benchmarks/tags.md");
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Tags: Intercom calls per tag change\n\n\
         `cargo bench -p backflow-scenarios --bench tags -- CONTACTS COMPANIES` \
         (functions under `cargo lambda watch`, release unless `BACKFLOW_SCENARIO_RELEASE=0`, \
         moto, emulator without rate limit, SQLite; \
         calls counted by the emulator; the records exist already and nothing else changes).\n\n\
         | date | change | records | Intercom calls | calls by route | calls per record | wall time | status |\n\
         |---|---|---|---|---|---|---|---|\n"
            .to_string()
    });
    for line in &lines {
        println!("{line}");
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    println!("appended to {}", path.display());
    Ok(())
}

async fn bench(contacts: u64, companies: u64) -> Result<Vec<String>> {
    let sc = Scenario::isolated(Kind::Sqlite, &format!("tags{contacts}")).await?;
    let (dest, ic) = sc.emulator(Profile::Unlimited).await?;
    let (people, orgs) = (sc.t("people"), sc.t("orgs"));
    let series = |n: u64| {
        format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})")
    };
    sc.sql(&[
        format!("CREATE TABLE {people} (id TEXT, email TEXT, tags TEXT)"),
        format!(
            "{} INSERT INTO {people} SELECT 'p-' || x, 'p' || x || '@example.com', '' FROM c",
            series(contacts)
        ),
        format!("CREATE TABLE {orgs} (company_id TEXT, name TEXT, tags TEXT)"),
        format!(
            "{} INSERT INTO {orgs} SELECT 'c-' || x, 'Company ' || x, '' FROM c",
            series(companies)
        ),
    ])
    .await?;
    let psync = sc.add_sync(
        "people",
        &format!("SELECT id, email, tags FROM {people}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_or_create",
            "key": {"column": "id", "field": "external_id"},
            "fields": {"email": "email", "tags": "tags"},
        }),
    )?;
    let csync = sc.add_sync(
        "orgs",
        &format!("SELECT company_id, name, tags FROM {orgs}"),
        json!({
            "destination": dest, "object": "company", "behavior": "update_or_create",
            "key": {"column": "company_id", "field": "company_id"},
            "fields": {"name": "name", "tags": "tags"},
        }),
    )?;
    eprintln!("[tags] creating {contacts} contacts and {companies} companies");
    run(&sc, &ic, &psync).await?;
    run(&sc, &ic, &csync).await?;

    let mut lines = Vec::new();
    for (what, tags) in [("gains one tag", "newsletter"), ("loses it", "")] {
        sc.sql(&[
            format!("UPDATE {people} SET tags = '{tags}'"),
            format!("UPDATE {orgs} SET tags = '{tags}'"),
        ])
        .await?;
        for (sync, records, kind) in [
            (&psync, contacts, "contact"),
            (&csync, companies, "company"),
        ] {
            let (calls, wall, status) = run(&sc, &ic, sync).await?;
            let mut routes: Vec<String> = calls
                .by_route
                .iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect();
            routes.sort();
            lines.push(format!(
                "| {} | each {kind} {what} | {records} | {} | {} | {:.3} | {:.1} s | {status} |",
                today(),
                calls.requests,
                routes.join(", "),
                calls.requests as f64 / records as f64,
                wall.as_secs_f64(),
            ));
        }
    }
    // Nothing changed: no call but the run's token check (`GET /me`).
    let (calls, _, _) = run(&sc, &ic, &psync).await?;
    if calls.requests != calls.route("GET /me") {
        bail!("an unchanged run made {} calls: {calls:?}", calls.requests);
    }
    Ok(lines)
}

/// One run to its end: the Intercom calls it made, its wall time and status.
async fn run(sc: &Scenario, ic: &Intercom, sync: &str) -> Result<(Stats, Duration, String)> {
    let before = ic.stats().await?;
    let started = Instant::now();
    let id = sc.api.start_ok(sync, RunRequest::normal()).await?;
    let record = sc.api.wait(&id, Duration::from_secs(3600)).await?;
    let wall = started.elapsed();
    if record.status() != "succeeded" {
        bail!(
            "run {id} of {sync} ended {}: {}",
            record.status(),
            record.error()
        );
    }
    let calls = ic.stats().await?.since(&before);
    eprintln!(
        "[tags] {sync}: {} calls in {:.1} s",
        calls.requests,
        wall.as_secs_f64()
    );
    Ok((calls, wall, record.status().to_string()))
}

fn today() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    out.unwrap_or_default()
}
