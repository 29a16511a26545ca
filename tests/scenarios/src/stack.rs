//! Starting a local stack: moto, the AWS resources, the warehouse, the config
//! and `cargo lambda watch` serving the three functions.
//!
//! What a stack is made of is defined once, for `make local-up` and for these
//! tests, in `scripts/local_resources.py` (from `infra/template.yaml`): the
//! tables, bucket and secrets (`apply`), the functions' environment (`env`), the
//! `cargo lambda watch` command (`watch`) and the warm-up (`warm`). This file
//! runs it with the project's Python ([`backflow_localstack::python`]) and adds
//! only what tests need: unique names, a warehouse and config per stack,
//! crashes and restarts.
//!
//! # Processes and cleanup
//!
//! Child processes (moto, `cargo lambda watch` and everything it spawns: cargo,
//! the function binaries) run in process groups of their own, each with a
//! watchdog that stops it once the test process is gone
//! ([`backflow_localstack::process`]). Nothing is killed by name.
//!
//! A crash test kills a stack's functions on purpose ([`Stack::kill_watch`]):
//! `cargo lambda watch` starts each function instance in a process group of
//! its own, so the whole tree is found through `/proc` (parent links), frozen
//! with `SIGSTOP` and killed with `SIGKILL`, by pid. [`Stack::restart_watch`]
//! brings the same command back on the same port.
//!
//! Temp dirs live under `$TMPDIR/backflow-scenarios/<pid>/`; dirs of processes
//! that are gone are removed when the next test binary starts (they hold the
//! functions' logs, worth reading after a failure).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::bail;
use backflow_localstack::MotoServer;
use serde_json::Value;

pub use backflow_localstack::process::{kill_group, spawn_group};
pub use crash::{crash_tree, process_tree};
pub use scripts::{aws_call, aws_contents, create_resources, dynamodb_call, put_secret};

mod crash;
mod scripts;

/// The project's Python (its tools venv), for anything a test or bench runs in Python.
pub use backflow_localstack::python;
use scripts::{functions_env, local_stack, resource_names, watch_argv, watch_command};

use crate::config::ConfigDoc;
use crate::warehouse::Warehouse;
use crate::Kind;

/// How long a cold `cargo lambda watch` may take to compile a function on its
/// first invocation (shared target dir, 2 cores, other builds holding the lock).
pub const COLD_COMPILE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// `cargo lambda watch --concurrency`: instances per function. Several
/// scenarios run at once on one stack, and `extract` fans out to `load`.
pub const WATCH_CONCURRENCY: u32 = 4;

/// `BACKFLOW_RUN_DEADLINE_SECS` given to the functions.
pub const RUN_DEADLINE_SECS: u64 = 600;

/// `BACKFLOW_SCENARIO_RELEASE=1`: the stacks run the functions built with the
/// release profile (what Lambda runs), for benchmarks; tests use debug builds.
pub fn release_build() -> bool {
    std::env::var("BACKFLOW_SCENARIO_RELEASE").is_ok_and(|v| v == "1")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    backflow_localstack::repo_root()
}

/// The shared cargo target dir the functions are built in.
pub fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "/work/cargo-target".to_string())
}

/// This test process's temp root, `$TMPDIR/backflow-scenarios/<pid>`; stale
/// siblings (their process is gone) are removed the first time.
pub fn temp_root() -> anyhow::Result<PathBuf> {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(p) = ROOT.get() {
        return Ok(p.clone());
    }
    let parent = std::env::temp_dir().join("backflow-scenarios");
    std::fs::create_dir_all(&parent)?;
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Ok(pid) = name.parse::<u32>() {
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let root = parent.join(std::process::id().to_string());
    std::fs::create_dir_all(&root)?;
    Ok(ROOT.get_or_init(|| root).clone())
}

/// A free TCP port on 127.0.0.1 (bound then released: a small race, fine here).
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Poll `f` until it returns `Ok(Some(_))`, at most `timeout`.
pub async fn poll<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut f: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            bail!("{what}: not ready within {timeout:?} (last error: {last})");
        }
        tokio::time::sleep(every).await;
    }
}

/// The shared moto server (S3, DynamoDB, Secrets Manager): `scripts/moto_server.py`
/// through [`MotoServer`], as everywhere else.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    pub pgid: u32,
    _server: MotoServer,
}

impl Moto {
    pub async fn start() -> anyhow::Result<Moto> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::SeqCst);
        let log = temp_root()?.join(format!("moto-{n}.log"));
        let server = tokio::task::spawn_blocking(move || MotoServer::start(&log)).await??;
        Ok(Moto {
            endpoint: server.endpoint.clone(),
            pgid: server.pgid,
            _server: server,
        })
    }
}

/// One running stack: its warehouse, config and `cargo lambda watch`.
#[derive(Debug)]
pub struct Stack {
    pub kind: Kind,
    /// A label unique in this process (`sqlite`, `postgres-isolated-…`).
    pub label: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: Mutex<ConfigDoc>,
    pub warehouse: Warehouse,
    /// `http://127.0.0.1:<port>` of `cargo lambda watch`.
    pub watch_url: String,
    /// The functions' log (cargo lambda watch's stdout + stderr).
    pub watch_log: PathBuf,
    /// The process group of the first `cargo lambda watch` (see
    /// [`Stack::current_watch_pgid`] once it may have been restarted).
    pub watch_pgid: u32,
    /// The process group of the running `cargo lambda watch`.
    current_watch: AtomicU32,
    /// The port `cargo lambda watch` listens on (kept across restarts).
    pub watch_port: u16,
    /// The `cargo lambda watch` command (from `local_resources.py watch`).
    watch_argv: Vec<String>,
    /// The functions' environment (`local_resources.py env`, written to
    /// `functions.env`, which `cargo lambda watch` reads).
    pub env: Vec<(String, String)>,
    /// `BACKFLOW_RUN_DEADLINE_SECS` as given to the functions.
    pub run_deadline_secs: u64,
    /// Why `…/lambda-url/trigger/syncs` did not answer 200 once the functions
    /// were warm (then the API is reached by invoking `trigger` directly).
    pub function_url_problem: Option<String>,
    pub state_table: String,
    pub runs_table: String,
    pub bucket: String,
}

impl Stack {
    /// Start a stack for `kind` on `moto`. `label` names its resources.
    pub async fn start(kind: Kind, label: &str, moto: &Moto) -> anyhow::Result<Stack> {
        Stack::start_with_env(kind, label, moto, &[]).await
    }

    /// [`Stack::start`] with extra (or replaced) variables in the functions'
    /// environment, e.g. a short `BACKFLOW_RUN_DEADLINE_SECS`.
    pub async fn start_with_env(
        kind: Kind,
        label: &str,
        moto: &Moto,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Stack> {
        let dir = temp_root()?.join(label);
        std::fs::create_dir_all(&dir)?;
        let slug = format!("bfscn-{}-{}", label.replace('_', "-"), std::process::id());
        let (state_table, runs_table, bucket) = (
            format!("{slug}-state"),
            format!("{slug}-runs"),
            slug.clone(),
        );

        create_resources(moto, &slug, &state_table, &runs_table, &bucket, &dir).await?;

        let warehouse = Warehouse::create(kind, &dir).await?;
        for (name, value) in warehouse.secrets() {
            put_secret(moto, &name, &value).await?;
        }
        let config_path = dir.join("backflow.yaml");
        let config = ConfigDoc::new(warehouse.config_section());
        config.write(&config_path)?;

        let port = free_port()?;
        let watch_url = format!("http://127.0.0.1:{port}");
        let mut overrides = vec![(
            "BACKFLOW_RUN_DEADLINE_SECS".to_string(),
            RUN_DEADLINE_SECS.to_string(),
        )];
        overrides.extend(extra_env.iter().cloned());
        let env_file = dir.join("functions.env");
        let names = resource_names(&slug, &state_table, &runs_table, &bucket);
        let env =
            functions_env(moto, &watch_url, &config_path, &env_file, names, &overrides).await?;
        let run_deadline_secs = env
            .iter()
            .find(|(k, _)| k == "BACKFLOW_RUN_DEADLINE_SECS")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(RUN_DEADLINE_SECS);
        let watch_argv = watch_argv(port, &env_file).await?;

        let watch_log = dir.join("watch.log");
        let watch_pgid = spawn_group(watch_command(&watch_argv)?, &watch_log)?;

        let mut stack = Stack {
            kind,
            label: label.to_string(),
            dir,
            config_path,
            config: Mutex::new(config),
            warehouse,
            watch_url,
            watch_log,
            watch_pgid,
            current_watch: AtomicU32::new(watch_pgid),
            watch_port: port,
            watch_argv,
            env,
            run_deadline_secs,
            function_url_problem: None,
            state_table,
            runs_table,
            bucket,
        };
        if let Err(e) = stack
            .warm()
            .await
            .map(|problem| stack.function_url_problem = problem)
        {
            kill_group(stack.watch_pgid);
            return Err(e.context(format!(
                "warming the functions; last lines of {}:\n{}",
                stack.watch_log.display(),
                tail(&stack.watch_log, 40, None)
            )));
        }
        Ok(stack)
    }

    /// The process group of the running `cargo lambda watch`.
    pub fn current_watch_pgid(&self) -> u32 {
        self.current_watch.load(Ordering::SeqCst)
    }

    /// Crash the functions: kill `cargo lambda watch` and everything it started
    /// (cargo, the function binaries) with `SIGKILL`, mid-whatever they were
    /// doing; returns once the processes are gone and the port is closed.
    pub async fn kill_watch(&self) -> anyhow::Result<usize> {
        let killed = crash_tree(self.current_watch_pgid()).await?;
        append_log(
            &self.watch_log,
            &format!(
                "---- scenario harness: killed the functions ({killed} processes, SIGKILL) ----"
            ),
        );
        let addr = format!("127.0.0.1:{}", self.watch_port);
        poll(
            &format!("port {} to close", self.watch_port),
            Duration::from_secs(30),
            Duration::from_millis(50),
            || {
                let addr = addr.clone();
                async move {
                    match tokio::net::TcpStream::connect(&addr).await {
                        Ok(_) => anyhow::bail!("{addr} still accepts connections"),
                        Err(_) => Ok(Some(())),
                    }
                }
            },
        )
        .await?;
        Ok(killed)
    }

    /// Bring the functions back after [`Stack::kill_watch`]: the same
    /// `cargo lambda watch` command on the same port with the same environment,
    /// warmed up before returning.
    pub async fn restart_watch(&self) -> anyhow::Result<()> {
        append_log(
            &self.watch_log,
            "---- scenario harness: restarting cargo lambda watch ----",
        );
        let pgid = spawn_group(watch_command(&self.watch_argv)?, &self.watch_log)?;
        self.current_watch.store(pgid, Ordering::SeqCst);
        self.warm().await.map(|_| ()).map_err(|e| {
            e.context(format!(
                "warming the restarted functions; last lines of {}:\n{}",
                self.watch_log.display(),
                tail(&self.watch_log, 40, None)
            ))
        })
    }

    /// Replace the `warehouse:` section of the config (e.g. a URL from a secret).
    pub fn set_warehouse(&self, section: Value) -> anyhow::Result<()> {
        let mut doc = self.config.lock().unwrap_or_else(|e| e.into_inner());
        doc.warehouse = section;
        doc.write(&self.config_path)
    }

    /// The API transport of this stack: the function URL unless it is broken.
    pub fn transport(&self) -> crate::api::Transport {
        if self.function_url_problem.is_some() {
            crate::api::Transport::Invoke
        } else {
            crate::api::Transport::FunctionUrl
        }
    }

    /// Wait until each function answers (`cargo lambda watch` compiles and
    /// starts it on its first invoke; a build error or the watch exiting fails
    /// at once), then probe the function URL; returns what is wrong with it,
    /// if anything. `local_resources.py warm`, as `make local-up` does.
    async fn warm(&self) -> anyhow::Result<Option<String>> {
        let answer = local_stack(vec![
            "warm".into(),
            "--lambda-url".into(),
            self.watch_url.clone(),
            "--log".into(),
            self.watch_log.display().to_string(),
            "--pid".into(),
            self.current_watch_pgid().to_string(),
            "--timeout".into(),
            COLD_COMPILE_TIMEOUT.as_secs().to_string(),
        ])
        .await?;
        let problem = answer["function_url_problem"].as_str().map(str::to_string);
        if let Some(p) = &problem {
            eprintln!(
                "WARNING [{}] the function URL does not work ({p}); the scenarios reach the API by invoking `trigger` directly",
                self.label
            );
        }
        Ok(problem)
    }

    /// Register (or replace) entries in the config and rewrite the file.
    pub fn register(
        &self,
        destinations: &[(String, Value)],
        models: &[(String, Value)],
        syncs: &[(String, Value)],
    ) -> anyhow::Result<()> {
        let mut doc = self.config.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in destinations {
            doc.destinations.insert(k.clone(), v.clone());
        }
        for (k, v) in models {
            doc.models.insert(k.clone(), v.clone());
        }
        for (k, v) in syncs {
            doc.syncs.insert(k.clone(), v.clone());
        }
        doc.write(&self.config_path)
    }

    /// Add a raw top-level key (isolated stacks only: deliberately wrong configs).
    pub fn set_extra(&self, key: &str, value: Value) -> anyhow::Result<()> {
        let mut doc = self.config.lock().unwrap_or_else(|e| e.into_inner());
        doc.extra.insert(key.to_string(), value);
        doc.write(&self.config_path)
    }

    /// Replace a sync's entry verbatim (isolated stacks: unknown keys inside a sync).
    pub fn patch_sync(&self, sync: &str, f: impl FnOnce(&mut Value)) -> anyhow::Result<()> {
        let mut doc = self.config.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = doc.syncs.get_mut(sync) {
            f(v);
        }
        doc.write(&self.config_path)
    }
}

/// The last `n` lines of `path`, keeping only lines containing one of
/// `filter` when given (and non-empty).
pub fn tail(path: &Path, n: usize, filter: Option<&[String]>) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| match filter {
            Some(f) if !f.is_empty() => f.iter().any(|needle| l.contains(needle.as_str())),
            _ => true,
        })
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn append_log(log: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = writeln!(f, "{line}");
    }
}
