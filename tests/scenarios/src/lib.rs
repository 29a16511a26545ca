//! End-to-end scenarios for backflow: a real local stack (moto, `cargo lambda
//! watch` serving `trigger`, `extract` and `load`, a real warehouse) driven
//! through the HTTP API, with the results read back from in-process Intercom
//! emulators.
//!
//! # Layout
//!
//! | module | what it does |
//! |---|---|
//! | [`stack`] | starts moto (once per test binary) and one stack per warehouse kind: AWS resources via `scripts/local_resources.py`, the generated config, `cargo lambda watch`; process groups + watchdogs for cleanup; crashing and restarting the functions ([`Stack::kill_watch`], [`Stack::restart_watch`]); secrets and a dump of the bucket and tables (boto3) |
//! | [`config`] | the generated `backflow.yaml`, rewritten as scenarios register their destinations, models and syncs |
//! | [`warehouse`] | per-scenario tables in SQLite / PostgreSQL / MySQL / Snowflake (fakesnow) / BigQuery (crucible) from portable column types and literals |
//! | [`api`] | typed client of the HTTP API; [`api::Api::run_to_end`] polls `GET /runs/{id}` (bounded) |
//! | [`intercom`] | emulator profiles and a client of `/_emulator/dump`, `/_emulator/stats` and the Intercom API for seeding |
//!
//! # Runtime and isolation
//!
//! `#[tokio::test]` gives each test its own runtime, which dies with the test.
//! Everything that outlives a test — the stacks, and the in-process emulators
//! (their server tasks) — therefore runs on one process-wide runtime
//! ([`runtime`]); tests only await handles to it. Child processes are plain
//! `std::process` children (see [`stack`] for cleanup).
//!
//! Stacks are started lazily, once per warehouse kind per test binary
//! ([`shared_stack`]). A scenario gets its own emulator(s) (a destination
//! named `<scenario>_<profile>`), its own tables (`<scenario>_<table>`) and its
//! own syncs (`<scenario>_<sync>`), so scenarios run in parallel and every
//! stats delta or dump assertion only sees the scenario's own traffic.
//! Scenarios that need a deliberately broken config, killed functions or an
//! environment of their own use an isolated stack ([`Scenario::isolated`],
//! [`Setup`]) so that they cannot break their neighbours.

pub mod api;
pub mod config;
pub mod intercom;
pub mod stack;
pub mod warehouse;

use std::future::Future;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

pub use api::{Api, RunRecord, RunRequest};
pub use intercom::{Intercom, Profile, Stats};
pub use stack::Stack;
pub use warehouse::{Col, Val};

/// The warehouse a stack runs its models on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
    /// Snowflake, as the fakesnow stand-in answers its connector protocol.
    Snowflake,
    /// BigQuery, as the crucible stand-in answers its REST API.
    Bigquery,
    /// `type: redshift` (the wire protocol and Redshift's dialect), on the
    /// local PostgreSQL.
    Redshift,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
            Kind::Snowflake => "snowflake",
            Kind::Bigquery => "bigquery",
            Kind::Redshift => "redshift",
        }
    }
}

/// The process-wide runtime that owns stacks and emulators.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("scenario-stack")
            .enable_all()
            .build()
            .expect("the scenario runtime")
    })
}

/// Run `fut` on [`runtime`] and await it from any runtime.
pub async fn on_stack_runtime<T, F>(fut: F) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    runtime()
        .spawn(fut)
        .await
        .context("a stack task panicked")?
}

/// The shared moto server (started once).
pub async fn moto() -> anyhow::Result<&'static stack::Moto> {
    static MOTO: OnceCell<Result<stack::Moto, String>> = OnceCell::const_new();
    let r = MOTO
        .get_or_init(|| async {
            on_stack_runtime(stack::Moto::start())
                .await
                .map_err(|e| format!("{e:#}"))
        })
        .await;
    r.as_ref()
        .map_err(|e| anyhow::anyhow!("moto did not start: {e}"))
}

/// The shared stack of `kind`, started on first use. A start failure is
/// remembered, so every scenario of that kind fails fast with the same message.
pub async fn shared_stack(kind: Kind) -> anyhow::Result<&'static Stack> {
    static SQLITE: OnceCell<Result<Stack, String>> = OnceCell::const_new();
    static POSTGRES: OnceCell<Result<Stack, String>> = OnceCell::const_new();
    static MYSQL: OnceCell<Result<Stack, String>> = OnceCell::const_new();
    static SNOWFLAKE: OnceCell<Result<Stack, String>> = OnceCell::const_new();
    static BIGQUERY: OnceCell<Result<Stack, String>> = OnceCell::const_new();
    static REDSHIFT: OnceCell<Result<Stack, String>> = OnceCell::const_new();
    let cell = match kind {
        Kind::Sqlite => &SQLITE,
        Kind::Postgres => &POSTGRES,
        Kind::Mysql => &MYSQL,
        Kind::Snowflake => &SNOWFLAKE,
        Kind::Bigquery => &BIGQUERY,
        Kind::Redshift => &REDSHIFT,
    };
    let r = cell
        .get_or_init(|| async move {
            let moto = match moto().await {
                Ok(m) => m,
                Err(e) => return Err(format!("{e:#}")),
            };
            on_stack_runtime(async move { Stack::start(kind, kind.name(), moto).await })
                .await
                .map_err(|e| format!("{e:#}"))
        })
        .await;
    r.as_ref()
        .map_err(|e| anyhow::anyhow!("the {} stack did not start: {e}", kind.name()))
}

/// Where a failing scenario's diagnostics come from.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub watch_log: std::path::PathBuf,
    pub config_path: std::path::PathBuf,
    pub run_ids: Arc<Mutex<Vec<String>>>,
    pub syncs: Arc<Mutex<Vec<String>>>,
}

impl Diagnostics {
    /// The functions' log lines about this scenario's runs and syncs, then the
    /// log's last lines.
    pub fn report(&self) -> String {
        let mut needles: Vec<String> = self
            .run_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        needles.extend(
            self.syncs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        format!(
            "---- functions' log ({}) lines about this scenario's runs/syncs ----\n{}\n---- last 30 lines of the log ----\n{}\n---- config: {} ----",
            self.watch_log.display(),
            stack::tail(&self.watch_log, 80, Some(&needles)),
            stack::tail(&self.watch_log, 30, None),
            self.config_path.display(),
        )
    }
}

/// Which stack a scenario runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setup {
    /// The shared stack of its warehouse kind.
    Shared,
    /// A stack of its own (deliberately wrong configs, killed functions).
    Isolated,
    /// A stack of its own whose functions get these extra (or replaced)
    /// environment variables, e.g. a short `BACKFLOW_RUN_DEADLINE_SECS`.
    IsolatedEnv(Vec<(String, String)>),
}

/// One scenario on one stack: its emulators, tables and syncs.
#[derive(Debug)]
pub struct Scenario {
    pub kind: Kind,
    /// Unique per stack; prefixes tables, syncs and destinations.
    pub name: String,
    pub stack: &'static Stack,
    pub api: Api,
    emulators: Mutex<Vec<intercom_emulator::Emulator>>,
    diagnostics: Diagnostics,
}

impl Drop for Scenario {
    fn drop(&mut self) {
        // Stopping an emulator only sends on a watch channel: fine from any thread.
        self.emulators
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Scenario {
    /// A scenario on the shared stack of `kind`.
    pub async fn new(kind: Kind, name: &str) -> anyhow::Result<Scenario> {
        let stack = shared_stack(kind).await?;
        Ok(Scenario::on(kind, name, stack))
    }

    /// A scenario on a stack of its own (for deliberately wrong configs).
    /// The stack lives until the test binary exits.
    pub async fn isolated(kind: Kind, name: &str) -> anyhow::Result<Scenario> {
        Scenario::isolated_with_env(kind, name, Vec::new()).await
    }

    /// [`Scenario::isolated`] with extra environment for the functions.
    pub async fn isolated_with_env(
        kind: Kind,
        name: &str,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Scenario> {
        let moto = moto().await?;
        let label = format!("{}-{}", kind.name(), name.replace('_', "-"));
        let stack =
            on_stack_runtime(async move { Stack::start_with_env(kind, &label, moto, &env).await })
                .await?;
        let stack: &'static Stack = Box::leak(Box::new(stack));
        Ok(Scenario::on(kind, name, stack))
    }

    fn on(kind: Kind, name: &str, stack: &'static Stack) -> Scenario {
        let api = Api::new(stack.watch_url.clone(), stack.transport());
        let diagnostics = Diagnostics {
            watch_log: stack.watch_log.clone(),
            config_path: stack.config_path.clone(),
            run_ids: api.started.clone(),
            syncs: Arc::default(),
        };
        Scenario {
            kind,
            name: name.to_string(),
            stack,
            api,
            emulators: Mutex::default(),
            diagnostics,
        }
    }

    pub fn diagnostics(&self) -> Diagnostics {
        self.diagnostics.clone()
    }

    /// The warehouse table `<scenario>_<table>`, as a model names it (on
    /// BigQuery, in the stack's dataset).
    pub fn t(&self, table: &str) -> String {
        self.stack
            .warehouse
            .table_name(&format!("{}_{table}", self.name))
    }

    /// The sync (and model) name `<scenario>_<sync>`.
    pub fn sync(&self, sync: &str) -> String {
        format!("{}_{sync}", self.name)
    }

    /// Start an emulator of `profile` (in-process, on 127.0.0.1:0) and register
    /// it as the destination `<scenario>_<profile>`; returns (destination, client).
    pub async fn emulator(&self, profile: Profile) -> anyhow::Result<(String, Intercom)> {
        self.emulator_with(profile.name(), profile.options()).await
    }

    /// Start an emulator with `opts` and register it as the destination
    /// `<scenario>_<name>`; returns (destination, client).
    pub async fn emulator_with(
        &self,
        name: &str,
        opts: intercom_emulator::Options,
    ) -> anyhow::Result<(String, Intercom)> {
        self.emulator_at(name, opts, "127.0.0.1:0".parse()?).await
    }

    /// [`Scenario::emulator_with`] on a given address (a port chosen before
    /// the stack started, e.g. named in the functions' environment).
    pub async fn emulator_at(
        &self,
        name: &str,
        opts: intercom_emulator::Options,
        bind: std::net::SocketAddr,
    ) -> anyhow::Result<(String, Intercom)> {
        let emu =
            on_stack_runtime(
                async move { Ok(intercom_emulator::Emulator::start(opts, bind).await?) },
            )
            .await?;
        let base = emu.base_url();
        self.emulators
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(emu);
        let dest = format!("{}_{name}", self.name);
        self.stack
            .register(&[(dest.clone(), config::destination(&base))], &[], &[])?;
        Ok((dest, Intercom::new(base)))
    }

    /// Register the model `<scenario>_<sync>` (`sql`) and the sync of the same
    /// name (`spec` without `model`, which is filled in). Returns the sync name.
    pub fn add_sync(&self, sync: &str, sql: &str, mut spec: Value) -> anyhow::Result<String> {
        let name = self.sync(sync);
        spec["model"] = json!(name);
        self.stack.register(
            &[],
            &[(name.clone(), json!({"sql": sql}))],
            &[(name.clone(), spec)],
        )?;
        self.diagnostics
            .syncs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        Ok(name)
    }

    /// [`Scenario::add_sync`] whose model runs on the named `warehouse` (a
    /// config with `warehouses:`).
    pub fn add_sync_on(
        &self,
        warehouse: &str,
        sync: &str,
        sql: &str,
        mut spec: Value,
    ) -> anyhow::Result<String> {
        let name = self.sync(sync);
        spec["model"] = json!(name);
        self.stack.register(
            &[],
            &[(name.clone(), json!({"sql": sql, "warehouse": warehouse}))],
            &[(name.clone(), spec)],
        )?;
        self.diagnostics
            .syncs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        Ok(name)
    }

    /// `CREATE TABLE <scenario>_<table>` with `rows`; returns the table name.
    pub async fn table(
        &self,
        table: &str,
        cols: &[(&str, Col)],
        rows: &[Vec<Val>],
    ) -> anyhow::Result<String> {
        let name = self.t(table);
        self.stack.warehouse.create_table(&name, cols, rows).await?;
        Ok(name)
    }

    /// Insert more rows into `<scenario>_<table>`.
    pub async fn insert(
        &self,
        table: &str,
        cols: &[(&str, Col)],
        rows: &[Vec<Val>],
    ) -> anyhow::Result<()> {
        self.stack
            .warehouse
            .insert(&self.t(table), cols, rows)
            .await
    }

    /// The ids of `sync`'s run records in the stack's runs table (`sk = RUN`).
    pub async fn run_ids_of(
        &self,
        sync: &str,
    ) -> anyhow::Result<std::collections::BTreeSet<String>> {
        let moto = moto().await?;
        let mut ids = std::collections::BTreeSet::new();
        let mut start: Option<Value> = None;
        loop {
            let mut args = json!({
                "TableName": self.stack.runs_table, "ConsistentRead": true,
                "FilterExpression": "sk = :run AND #sync = :sync",
                "ExpressionAttributeNames": {"#sync": "sync"},
                "ExpressionAttributeValues": {":run": {"S": "RUN"}, ":sync": {"S": sync}},
            });
            if let Some(k) = start.take() {
                args["ExclusiveStartKey"] = k;
            }
            let page = stack::dynamodb_call(moto, "scan", &args).await?;
            for item in page["Items"].as_array().cloned().unwrap_or_default() {
                if let Some(pk) = item["pk"]["S"].as_str() {
                    ids.insert(pk.trim_start_matches("RUN#").to_string());
                }
            }
            match page.get("LastEvaluatedKey") {
                Some(k) if !k.is_null() => start = Some(k.clone()),
                _ => return Ok(ids),
            }
        }
    }

    /// Run SQL statements on the warehouse.
    pub async fn sql(&self, statements: &[String]) -> anyhow::Result<()> {
        self.stack.warehouse.exec(statements).await
    }
}

/// Run one scenario body: set up the [`Scenario`], run `body` as a task (so a
/// panic is caught too), and on failure print the functions' log about it.
pub async fn run_scenario<F, Fut>(kind: Kind, name: &str, isolated: bool, body: F)
where
    F: FnOnce(Scenario) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let setup = if isolated {
        Setup::Isolated
    } else {
        Setup::Shared
    };
    run_scenario_with(kind, name, setup, body).await
}

/// [`run_scenario`] on the stack `setup` asks for.
pub async fn run_scenario_with<F, Fut>(kind: Kind, name: &str, setup: Setup, body: F)
where
    F: FnOnce(Scenario) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let scenario = match setup {
        Setup::Shared => Scenario::new(kind, name).await,
        Setup::Isolated => Scenario::isolated(kind, name).await,
        Setup::IsolatedEnv(env) => Scenario::isolated_with_env(kind, name, env).await,
    };
    let scenario = match scenario {
        Ok(s) => s,
        Err(e) => panic!("[{} {name}] setup failed: {e:#}", kind.name()),
    };
    let diag = scenario.diagnostics();
    match tokio::spawn(body(scenario)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("{}", diag.report());
            panic!("[{} {name}] {e:#}", kind.name());
        }
        Err(join) => {
            eprintln!("{}", diag.report());
            match join.try_into_panic() {
                Ok(p) => std::panic::resume_unwind(p),
                Err(e) => panic!("[{} {name}] task failed: {e}", kind.name()),
            }
        }
    }
}

/// `anyhow::ensure!` with the scenario-friendly name.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => { anyhow::ensure!($cond, $($arg)+) };
}

/// Fail unless `left == right`, showing both and a message.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr, $($arg:tt)+) => {{
        let (l, r) = (&$left, &$right);
        anyhow::ensure!(l == r, "{}: expected {:?}, got {:?}", format!($($arg)+), r, l);
    }};
}
