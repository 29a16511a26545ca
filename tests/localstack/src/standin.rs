//! The stand-ins for the cloud warehouses, each a server from PyPI run from its
//! own project-local virtual environment (their DuckDB pins conflict):
//! - Snowflake: `fakesnow -s` (`tests/python/requirements-fakesnow.txt`);
//! - BigQuery: `crucible serve --dialect bigquery`
//!   (`tests/python/requirements-crucible.txt`).
//!
//! The one starter for every harness that needs them (the warehouse crate's
//! tests, the scenario stacks). The venv is `BACKFLOW_FAKESNOW_VENV` /
//! `BACKFLOW_CRUCIBLE_VENV` when set (`scripts/stand-ins.sh` prints them), else
//! what `scripts/venv.sh` prints (it creates the venv on first use). One server
//! per test process ([`shared`]), on a free loopback port; it runs under `sh`,
//! which kills it when the test process's stdin pipe to it closes — when the
//! test binary exits, however it exits.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::repo_root;

/// How long a stand-in may take to import and listen (a loaded 2-core machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running stand-in.
#[derive(Debug)]
pub struct StandIn {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    _child: Mutex<Child>,
    /// Held open until the process exits; its end stops the server.
    _stdin: Mutex<ChildStdin>,
}

/// Which stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandInKind {
    /// Snowflake's connector protocol over DuckDB.
    Fakesnow,
    /// BigQuery's REST API over DuckDB.
    Crucible,
}

impl StandInKind {
    pub fn name(self) -> &'static str {
        match self {
            StandInKind::Fakesnow => "fakesnow",
            StandInKind::Crucible => "crucible",
        }
    }

    fn venv_var(self) -> &'static str {
        match self {
            StandInKind::Fakesnow => "BACKFLOW_FAKESNOW_VENV",
            StandInKind::Crucible => "BACKFLOW_CRUCIBLE_VENV",
        }
    }

    fn command(self, venv: &Path, port: u16) -> String {
        let bin = venv.join("bin");
        match self {
            StandInKind::Fakesnow => format!(
                "'{}' -s --host 127.0.0.1 -p {port}",
                bin.join("fakesnow").display()
            ),
            StandInKind::Crucible => format!(
                "'{}' serve --dialect bigquery --host 127.0.0.1 --port {port}",
                bin.join("crucible").display()
            ),
        }
    }
}

/// The stand-in of `kind` for this process, started on first use (blocking: a
/// few seconds, more when its venv is created). A start failure is remembered,
/// so every later caller gets the same message at once.
pub fn shared(kind: StandInKind) -> Result<&'static StandIn, String> {
    static FAKESNOW: OnceLock<Result<StandIn, String>> = OnceLock::new();
    static CRUCIBLE: OnceLock<Result<StandIn, String>> = OnceLock::new();
    let cell = match kind {
        StandInKind::Fakesnow => &FAKESNOW,
        StandInKind::Crucible => &CRUCIBLE,
    };
    cell.get_or_init(|| start(kind))
        .as_ref()
        .map_err(|e| format!("the {} stand-in did not start: {e}", kind.name()))
}

fn venv(kind: StandInKind) -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var(kind.venv_var()) {
        return Ok(PathBuf::from(dir));
    }
    let requirements = format!("tests/python/requirements-{}.txt", kind.name());
    let output = Command::new("bash")
        .arg("scripts/venv.sh")
        .arg(kind.name())
        .arg(&requirements)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("scripts/venv.sh: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "scripts/venv.sh {} {requirements} failed",
            kind.name()
        ));
    }
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Ok(PathBuf::from(dir))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start(kind: StandInKind) -> Result<StandIn, String> {
    let venv = venv(kind)?;
    let mut last = String::new();
    // A port found free can be taken before the server binds it: try again.
    for _ in 0..3 {
        let port = free_port()?;
        let script = format!(
            "{} & server=$!; cat >/dev/null; kill $server",
            kind.command(&venv, port)
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{script}: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin pipe")?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        // Keep its log flowing (a full pipe would block it); show it on failure.
        let log = std::sync::Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut log) = sink.lock() {
                    if log.len() < 20_000 {
                        log.push_str(&line);
                        log.push('\n');
                    }
                }
            }
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(StandIn {
                    base_url: format!("http://127.0.0.1:{port}"),
                    _child: Mutex::new(child),
                    _stdin: Mutex::new(stdin),
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                last = format!(
                    "exited ({status}): {}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(stdin);
        let _ = child.wait();
        if last.is_empty() {
            last = format!("did not listen within {START_TIMEOUT:?}");
        }
    }
    Err(last)
}
