//! The stand-ins for the cloud warehouses, each a server from PyPI run from its
//! own project-local virtual environment (their DuckDB pins conflict):
//! - Snowflake: `fakesnow -s` (`tests/python/requirements-fakesnow.txt`);
//! - BigQuery: `crucible serve --dialect bigquery`
//!   (`tests/python/requirements-crucible.txt`).
//!
//! The venv is `BACKFLOW_FAKESNOW_VENV` / `BACKFLOW_CRUCIBLE_VENV` when set (the
//! test script builds them first), else what `scripts/venv.sh` prints (it creates
//! the venv on first use). One server per test binary, on a free loopback port;
//! it runs under `sh`, which kills it when the test process's stdin pipe to it
//! closes — when the test binary exits, however it exits. A stand-in that cannot
//! start skips its tests, except under `CI=1`, where that is a failure.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running stand-in.
pub struct StandIn {
    pub base_url: String,
    _child: Mutex<Child>,
    /// Held open until the process exits; its end stops the server.
    _stdin: Mutex<ChildStdin>,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Fakesnow,
    Crucible,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Fakesnow => "fakesnow",
            Kind::Crucible => "crucible",
        }
    }

    fn venv_var(self) -> &'static str {
        match self {
            Kind::Fakesnow => "BACKFLOW_FAKESNOW_VENV",
            Kind::Crucible => "BACKFLOW_CRUCIBLE_VENV",
        }
    }

    fn command(self, venv: &Path, port: u16) -> String {
        let bin = venv.join("bin");
        match self {
            Kind::Fakesnow => format!(
                "'{}' -s --host 127.0.0.1 -p {port}",
                bin.join("fakesnow").display()
            ),
            Kind::Crucible => format!(
                "'{}' serve --dialect bigquery --host 127.0.0.1 --port {port}",
                bin.join("crucible").display()
            ),
        }
    }
}

/// The stand-in of `kind`, started on first use; `None` (the test should
/// return) when it cannot start outside CI.
pub fn get(kind: Kind) -> Option<&'static StandIn> {
    static FAKESNOW: OnceLock<Result<StandIn, String>> = OnceLock::new();
    static CRUCIBLE: OnceLock<Result<StandIn, String>> = OnceLock::new();
    let cell = match kind {
        Kind::Fakesnow => &FAKESNOW,
        Kind::Crucible => &CRUCIBLE,
    };
    match cell.get_or_init(|| start(kind)) {
        Ok(stand_in) => Some(stand_in),
        Err(message)
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") =>
        {
            panic!("{} stand-in: {message}", kind.name())
        }
        Err(message) => {
            eprintln!(
                "skipped: the {} stand-in is not available: {message}",
                kind.name()
            );
            None
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv(kind: Kind) -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var(kind.venv_var()) {
        return Ok(PathBuf::from(dir));
    }
    let requirements = format!("tests/python/requirements-{}.txt", kind.name());
    let output = Command::new("bash")
        .arg("scripts/venv.sh")
        .arg(kind.name())
        .arg(&requirements)
        .current_dir(repo_root())
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

fn start(kind: Kind) -> Result<StandIn, String> {
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
        while started.elapsed() < Duration::from_secs(90) {
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
            last = "did not listen within 90 s".to_string();
        }
    }
    Err(last)
}
