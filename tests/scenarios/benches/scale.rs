//! Scale benchmark (issue 5, target 4): a dry run over a model of N rows through
//! the local stack (moto + `cargo lambda watch --release` + the emulator), timed
//! from `POST /syncs/{sync}/runs` to the run's end, with the peak resident memory
//! (`VmHWM`) of the `extract` process.
//!
//! ```text
//! cargo bench -p backflow-scenarios --bench scale -- [ROWS] [sqlite,postgres,mysql,snowflake,bigquery]
//! ```
//! Defaults: 1,000,000 rows on SQLite and PostgreSQL. Each warehouse gets a stack
//! of its own, so the `extract` process has served nothing else. Results are
//! appended to `benchmarks/scale.md`.
// The run's futures nest deeper than the compiler's default limit allows.
#![recursion_limit = "256"]

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use backflow_scenarios::api::RunRequest;
use backflow_scenarios::intercom::Profile;
use backflow_scenarios::stack::repo_root;
use backflow_scenarios::{on_stack_runtime, runtime, Kind, Scenario};

fn main() -> Result<()> {
    // The benchmark measures the binaries Lambda would run.
    std::env::set_var("BACKFLOW_SCENARIO_RELEASE", "1");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rows: u64 = match args.first() {
        Some(n) => n.replace(['_', ','], "").parse().context("ROWS")?,
        None => 1_000_000,
    };
    let kinds: Vec<Kind> = match args.get(1) {
        Some(list) => list
            .split(',')
            .map(|k| match k {
                "sqlite" => Ok(Kind::Sqlite),
                "postgres" => Ok(Kind::Postgres),
                "mysql" => Ok(Kind::Mysql),
                "snowflake" => Ok(Kind::Snowflake),
                "bigquery" => Ok(Kind::Bigquery),
                "redshift" => Ok(Kind::Redshift),
                other => bail!("unknown warehouse {other:?}"),
            })
            .collect::<Result<_>>()?,
        None => vec![Kind::Sqlite, Kind::Postgres],
    };
    let mut lines = Vec::new();
    for kind in kinds {
        let line = runtime().block_on(on_stack_runtime(dry_run(kind, rows)))?;
        println!("{line}");
        lines.push(line);
    }
    let path = repo_root().join("benchmarks/scale.md");
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Scale: dry runs over large models\n\n\
         `cargo bench -p backflow-scenarios --bench scale -- ROWS WAREHOUSES` \
         (release build under `cargo lambda watch`, moto, emulator; 2-core machine).\n\n\
         | date | warehouse | rows | wall time (POST → end) | rows/s | extract invocations | extract peak RSS | status |\n\
         |---|---|---|---|---|---|---|---|\n"
            .to_string()
    });
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::create_dir_all(path.parent().expect("benchmarks/"))?;
    std::fs::write(&path, text)?;
    println!("appended to {}", path.display());
    Ok(())
}

/// Fill a table with `rows` users, run a dry run of an `update_or_create` sync
/// over it and report one markdown table row.
async fn dry_run(kind: Kind, rows: u64) -> Result<String> {
    let sc = Scenario::isolated(kind, &format!("scale{rows}")).await?;
    let (dest, _ic) = sc.emulator(Profile::Plain).await?;
    let table = sc.t("users");
    eprintln!("[{}] filling {table} with {rows} rows", kind.name());
    let filled = Instant::now();
    sc.sql(&fill(kind, &table, rows)).await?;
    eprintln!(
        "[{}] filled in {:.1} s",
        kind.name(),
        filled.elapsed().as_secs_f64()
    );
    let sync = sc.add_sync(
        "users",
        &format!("SELECT id, email, name, ltv, seats, plan, signup FROM {table}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_or_create",
            "key": {"column": "id", "field": "external_id"},
            "fields": {
                "email": "email", "name": "name", "signed_up_at": "signup",
                "custom_attributes.ltv": "ltv", "custom_attributes.seats": "seats",
                "custom_attributes.plan": "plan",
            },
        }),
    )?;
    let started = Instant::now();
    let id = sc.api.start_ok(&sync, RunRequest::dry()).await?;
    let run = sc.api.wait(&id, Duration::from_secs(3600)).await?;
    let wall = started.elapsed();
    eprintln!(
        "[{}] run {id} ended {} after {:.1} s",
        kind.name(),
        run.status(),
        wall.as_secs_f64()
    );
    let peak = extract_peak_rss_kb(&sc.stack.state_table)?;
    let planned = run.plan("create");
    if run.status() != "succeeded" || planned != rows {
        bail!(
            "[{}] dry run {id}: status {} with {planned} creates planned (expected {rows}): {}",
            kind.name(),
            run.status(),
            run.error()
        );
    }
    let invocations = run.0["usage"]["lambda_invocations"].as_u64().unwrap_or(0);
    Ok(format!(
        "| {} | {} | {rows} | {:.1} s | {:.0} | {invocations} | {:.0} MB | {} |",
        today(),
        kind.name(),
        wall.as_secs_f64(),
        rows as f64 / wall.as_secs_f64(),
        peak as f64 / 1024.0,
        run.status(),
    ))
}

/// Statements that create `table` with `rows` generated users, in the
/// warehouse's own row generator (no round trip per row).
fn fill(kind: Kind, table: &str, rows: u64) -> Vec<String> {
    let columns = "id TEXT, email TEXT, name TEXT, ltv DOUBLE PRECISION, seats INTEGER, plan TEXT, signup TEXT";
    let select = |x: &str, cat: &dyn Fn(&[&str]) -> String| {
        format!(
            "{}, {}, {}, {x} * 1.5, {x} % 50, CASE {x} % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'pro' ELSE 'team' END, '2024-01-15T10:00:00Z'",
            cat(&["'u-'", x]),
            cat(&["'user'", x, "'@example.com'"]),
            cat(&["'User '", x]),
        )
    };
    let pipes = |parts: &[&str]| parts.join(" || ");
    let concat = |parts: &[&str]| format!("CONCAT({})", parts.join(", "));
    match kind {
        Kind::Sqlite => vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!("CREATE TABLE {table} ({columns})"),
            format!(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) \
                 INSERT INTO {table} SELECT {} FROM c",
                select("x", &pipes)
            ),
        ],
        Kind::Postgres | Kind::Redshift => vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!("CREATE TABLE {table} ({columns})"),
            format!(
                "INSERT INTO {table} SELECT {} FROM generate_series(1, {rows}) AS g(x)",
                select("x", &pipes)
            ),
        ],
        Kind::Mysql => vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!("CREATE TABLE {table} ({columns})"),
            format!(
                "INSERT INTO {table} SELECT {} FROM seq_1_to_{rows}",
                select("seq", &concat)
            ),
        ],
        // fakesnow: Snowflake's row generator; SEQ4() counts from 0.
        Kind::Snowflake => vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!(
                "CREATE TABLE {table} (id VARCHAR, email VARCHAR, name VARCHAR, ltv FLOAT, \
                 seats INTEGER, plan VARCHAR, signup VARCHAR)"
            ),
            format!(
                "INSERT INTO {table} SELECT {} FROM \
                 (SELECT SEQ4() + 1 AS x FROM TABLE(GENERATOR(ROWCOUNT => {rows})))",
                select("x", &concat)
            ),
        ],
        // crucible: BigQuery's GENERATE_ARRAY (CONCAT takes strings, MOD for %).
        Kind::Bigquery => vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!(
                "CREATE TABLE {table} (id STRING, email STRING, name STRING, ltv FLOAT64, \
                 seats INT64, plan STRING, signup STRING)"
            ),
            format!(
                "INSERT INTO {table} SELECT CONCAT('u-', CAST(n AS STRING)), \
                 CONCAT('user', CAST(n AS STRING), '@example.com'), CONCAT('User ', CAST(n AS STRING)), \
                 n * 1.5, MOD(n, 50), CASE MOD(n, 3) WHEN 0 THEN 'free' WHEN 1 THEN 'pro' ELSE 'team' END, \
                 '2024-01-15T10:00:00Z' FROM UNNEST(GENERATE_ARRAY(1, {rows})) AS n"
            ),
        ],
    }
}

/// The largest `VmHWM` (peak resident set, kB) among the `extract` processes of
/// the stack (cargo lambda watch starts them in groups of their own, so they are
/// found by the state table in their environment).
fn extract_peak_rss_kb(state_table: &str) -> Result<u64> {
    let marker = format!("BACKFLOW_STATE_TABLE={state_table}");
    let mut peak = None;
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let pid = entry.file_name();
        let Some(pid) = pid
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "extract" {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if !environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        peak = peak.max(hwm);
    }
    peak.context("no `extract` process of this stack is running")
}

fn today() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    out.unwrap_or_default()
}
