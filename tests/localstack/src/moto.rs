//! moto for tests: `scripts/moto_server.py` (DynamoDB requests serialized, as
//! DynamoDB applies conditional writes atomically) run with the project's
//! Python, binding a port of its own choosing (`-p 0`) and writing it to a file
//! once it listens: no free-port probe that another process could race.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::process::{alive, kill_group, spawn_group, tail};
use crate::{python, repo_root};

/// How long moto may take to import and bind (a loaded 2-core machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server. Dropping it stops it; so does the end of the test
/// process (the watchdog of [`spawn_group`]), for one kept in a static.
#[derive(Debug)]
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Its process group.
    pub pgid: u32,
}

impl MotoServer {
    /// Start moto with its output appended to `log`; `<log>.port` receives the
    /// port. Blocks until it listens (at most [`START_TIMEOUT`]).
    pub fn start(log: &Path) -> anyhow::Result<MotoServer> {
        let port_file = log.with_extension("port");
        let _ = std::fs::remove_file(&port_file);
        let mut cmd = std::process::Command::new(python()?);
        cmd.arg(repo_root().join("scripts/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", "0", "--port-file"])
            .arg(&port_file);
        let pgid = spawn_group(cmd, log)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.trim().parse::<u16>().ok());
            if let Some(port) = port {
                return Ok(MotoServer {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    pgid,
                });
            }
            if !alive(pgid) {
                bail!(
                    "moto exited before listening; {}:\n{}",
                    log.display(),
                    tail(log, 30)
                );
            }
            if Instant::now() >= deadline {
                kill_group(pgid);
                bail!(
                    "moto did not listen within {START_TIMEOUT:?}; {}:\n{}",
                    log.display(),
                    tail(log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        kill_group(self.pgid);
    }
}
