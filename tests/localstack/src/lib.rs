//! The local stack's processes, for test harnesses: the one way the Rust tests
//! (the scenario stacks of `backflow-scenarios`, the moto tests of
//! `backflow-aws`) run the project's Python and start moto.
//!
//! # Layout
//!
//! - [`python`]: the interpreter of the project's tools venv
//!   (`.local/venv/tools`, pinned in `tests/python/requirements.txt`):
//!   `$BACKFLOW_PYTHON` when set (`scripts/test.sh` sets it), else what
//!   `scripts/venv.sh` creates once. Never the `python3` first on `PATH`, so an
//!   unrelated active virtualenv changes nothing.
//! - [`process`]: children in their own process group, with a watchdog that
//!   stops the group once the test process is gone (statics are never dropped).
//! - [`moto`]: `scripts/moto_server.py` on a port it picks itself, the same
//!   launcher as `make local-up` and the Python infra tests.
//! - [`standin`]: the Snowflake and BigQuery stand-ins (fakesnow, crucible),
//!   each from its own venv, once per test process: the warehouse crate's
//!   tests and the scenario stacks start them the same way.
//!
//! What the stack is made of (its resources, the functions' environment, the
//! `cargo lambda watch` command, the warm-up) is not here: it is defined once in
//! `scripts/local_resources.py`, which the harnesses run with [`python`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{bail, Context};

pub mod moto;
pub mod process;
pub mod standin;

pub use moto::MotoServer;

/// The repository root, found when the test runs: the first ancestor of the
/// running test's package (`CARGO_MANIFEST_DIR`, which cargo sets when it runs
/// a test or bench) or else of the current directory, that holds
/// `scripts/venv.sh`. Not `env!("CARGO_MANIFEST_DIR")`: one target directory
/// serves several checkouts (a fresh clone, a worktree), and cargo reuses this
/// crate's build across them, so a path fixed when it was compiled could name
/// another checkout and run that checkout's scripts and functions.
pub fn repo_root() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    let root = start
        .and_then(|dir| {
            dir.ancestors()
                .find(|d| d.join("scripts/venv.sh").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or(compiled);
    root.canonicalize().unwrap_or(root)
}

/// The Python of the project's tools venv (moto, boto3, cargo-lambda, the
/// official Intercom SDK): `$BACKFLOW_PYTHON`, else `scripts/venv.sh tools
/// tests/python/requirements.txt`, which creates the venv the first time (a few
/// minutes) and waits for a concurrent creation on a lock. Resolved once per
/// process.
pub fn python() -> anyhow::Result<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| resolve_python().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn resolve_python() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("BACKFLOW_PYTHON") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("BACKFLOW_PYTHON={} is not a file", path.display());
        }
        return Ok(path);
    }
    let root = repo_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/venv.sh"))
        .arg("tools")
        .arg(root.join("tests/python/requirements.txt"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running scripts/venv.sh")?;
    if !out.status.success() {
        bail!(
            "scripts/venv.sh tools tests/python/requirements.txt failed ({})",
            out.status
        );
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let python = Path::new(&dir).join("bin/python3");
    if !python.is_file() {
        bail!("scripts/venv.sh printed {dir:?}, which has no bin/python3");
    }
    Ok(python)
}
