//! Where a dry run's seconds go in `extract`, without AWS around it: the scale
//! benchmark's generated users (`tests/scenarios/benches/scale.rs`) in a SQLite
//! file, read through `backflow_warehouse` sorted by key as a run reads them,
//! then mapped and fingerprinted, then merged with an empty state and planned
//! with batches cut — each stage timed on its own pass, including the stages
//! before it.
//!
//! ```text
//! cargo bench -p backflow-extract --bench plan_rows -- [ROWS]
//! cargo bench -p backflow-extract --bench plan_rows --profile profiling -- 1000000   # under perf
//! ```
//! Prints a markdown table (benchmarks/extract-profile.md keeps the measured ones).

use std::convert::Infallible;
use std::time::Instant;

use anyhow::{Context, Result};
use backflow_core::config::{parse, SyncSpec};
use backflow_core::mapping::Mapper;
use backflow_core::plan::Prior;
use backflow_extract::merge::{plan_row, Merge, StateSource};
use backflow_extract::planner::Planner;
use backflow_warehouse::{Source, Warehouse};

// As the `extract` function (its `main.rs`): what allocation costs is part of
// what is measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SQL: &str = "SELECT id, email, name, ltv, seats, plan, signup FROM users";

/// No state: the first run of a sync, as the scale benchmark's dry run.
struct Empty;

impl StateSource for Empty {
    type Error = Infallible;
    async fn next_page(&mut self) -> Result<Option<Vec<(String, Prior)>>, Infallible> {
        Ok(None)
    }
    async fn get(&mut self, _key: &str) -> Result<Option<Prior>, Infallible> {
        Ok(None)
    }
}

fn main() -> Result<()> {
    let rows: u64 = match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(n) => n.replace(['_', ','], "").parse().context("ROWS")?,
        None => 1_000_000,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("warehouse.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        fill(&path, rows).await?;
        let warehouse = Warehouse::connect(&Source::Sqlite { path: path.clone() }).await?;
        let sql = warehouse.sorted_by_key(SQL, "id", false);
        let spec = spec();
        println!("| stage (cumulative) | rows | seconds | rows/s |\n|---|---:|---:|---:|");
        // The reader backflow used before (sqlx's SQLite stream), on the same
        // query, for a before/after measured on the same machine at the same time.
        let started = Instant::now();
        let n = sqlx_pass(&path, &sql).await?;
        let secs = started.elapsed().as_secs_f64();
        anyhow::ensure!(n == rows, "sqlx: {n} rows read, {rows} expected");
        println!(
            "| before: sorted query + decode through sqlx | {n} | {secs:.2} | {:.0} |",
            n as f64 / secs
        );
        for stage in [Stage::Read, Stage::Map, Stage::Plan] {
            let started = Instant::now();
            let n = pass(&warehouse, &sql, &spec, stage).await?;
            let secs = started.elapsed().as_secs_f64();
            anyhow::ensure!(n == rows, "{stage:?}: {n} rows read, {rows} expected");
            println!(
                "| {} | {n} | {secs:.2} | {:.0} |",
                stage.label(),
                n as f64 / secs
            );
        }
        anyhow::Ok(())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Read,
    Map,
    Plan,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::Read => "sorted query + decode",
            Stage::Map => "+ map + fingerprint",
            Stage::Plan => "+ merge + plan + batches",
        }
    }
}

/// One pass over the model up to `stage`; returns the rows read. Each stage's
/// result is checked, so no stage can be optimised away or silently skipped.
async fn pass(warehouse: &Warehouse, sql: &str, spec: &SyncSpec, stage: Stage) -> Result<u64> {
    let mut stream = warehouse.stream("users", sql).await?;
    let mut mapper = Mapper::new("users", spec, &stream.columns)?;
    let mut planner = Planner::new(spec, false);
    let mut merge = Merge::new(Empty, false);
    let (mut n, mut mapped, mut batched) = (0u64, 0u64, 0u64);
    while let Some(row) = stream.next().await {
        let row = row?;
        n += 1;
        match stage {
            Stage::Read => {}
            Stage::Map => mapped += u64::from(mapper.map(n, &row).is_ok()),
            Stage::Plan => {
                let Ok(()) = plan_row(&mut merge, &mut planner, &mut mapper, n, &row).await;
                if let Some((_, items)) = planner.take_batch(false) {
                    batched += items.len() as u64;
                }
            }
        }
    }
    match stage {
        Stage::Read => {}
        Stage::Map => anyhow::ensure!(mapped == n, "{mapped} of {n} rows mapped"),
        Stage::Plan => {
            while let Some((_, items)) = planner.take_batch(true) {
                batched += items.len() as u64;
            }
            anyhow::ensure!(batched == n, "{batched} of {n} rows planned as creates");
        }
    }
    Ok(n)
}

/// The sorted query through sqlx's SQLite stream, each cell decoded by its
/// storage class into a backflow value — what `backflow_warehouse` did before it
/// read SQLite with rusqlite.
async fn sqlx_pass(path: &std::path::Path, sql: &str) -> Result<u64> {
    use backflow_core::value::Value;
    use futures::TryStreamExt;
    use sqlx::{Row, TypeInfo, ValueRef};
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .read_only(true),
    )
    .await?;
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&pool);
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await? {
        let mut values = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let raw = row.try_get_raw(i)?;
            values.push(if raw.is_null() {
                Value::Null
            } else {
                match raw.type_info().name() {
                    "INTEGER" => Value::Int(row.try_get(i)?),
                    "REAL" => Value::Float(row.try_get(i)?),
                    _ => Value::Text(row.try_get(i)?),
                }
            });
        }
        anyhow::ensure!(values.len() == 7, "row {n} has {} cells", values.len());
        n += 1;
    }
    Ok(n)
}

fn spec() -> SyncSpec {
    let text = "warehouse: {type: sqlite, path: w.db}\n\
         destinations:\n  ic: {type: intercom, access_token: {secret: s, key: k}}\n\
         models:\n  users: {sql: select 1}\n\
         syncs:\n  users:\n    model: users\n    destination: ic\n    object: user\n\
         \x20   behavior: update_or_create\n    key: {column: id, field: external_id}\n\
         \x20   fields:\n      email: email\n      name: name\n      signed_up_at: signup\n\
         \x20     custom_attributes.ltv: ltv\n      custom_attributes.seats: seats\n\
         \x20     custom_attributes.plan: plan\n";
    let config = parse(text, "bench.yaml", &|_| None).expect("the bench's config parses");
    config.syncs["users"].clone()
}

/// The scale benchmark's users, generated by SQLite itself.
async fn fill(path: &std::path::Path, rows: u64) -> Result<()> {
    use sqlx::{ConnectOptions, Executor};
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await?;
    db.execute(
        "CREATE TABLE users (id TEXT, email TEXT, name TEXT, ltv DOUBLE PRECISION, \
         seats INTEGER, plan TEXT, signup TEXT)",
    )
    .await?;
    db.execute(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) \
         INSERT INTO users SELECT 'u-' || x, 'user' || x || '@example.com', 'User ' || x, \
         x * 1.5, x % 50, CASE x % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'pro' ELSE 'team' END, \
         '2024-01-15T10:00:00Z' FROM c"
    )))
    .await?;
    Ok(())
}
