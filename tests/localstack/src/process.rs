//! Children in a process group of their own, stopped with the test process.
//!
//! Rust never drops statics and libtest ends with `exit()`, and `unsafe` (an
//! `atexit` hook) is forbidden in this workspace, so each group gets a
//! **watchdog**: a tiny `sh` loop, itself in its own group, that waits until the
//! test process is gone (`kill -0 <pid>`) and then sends TERM, then KILL, to the
//! group. This also cleans up after a panic, an abort or a SIGKILL of the test
//! binary. A group of its own also keeps a Ctrl-C sent to the terminal's
//! foreground group from reaching the children half-way. Nothing is killed by
//! name.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

/// Spawn `cmd` in its own process group with stdout+stderr appended to `log`,
/// plus a watchdog that kills the group once this test process is gone.
/// Returns the group id (= the child's pid).
pub fn spawn_group(mut cmd: Command, log: &Path) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    let pgid = child.id();
    // The child is reaped by the watchdog's kill; dropping `Child` does not kill it.
    drop(child);
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
         kill -TERM -{pgid} 2>/dev/null; sleep 3; kill -KILL -{pgid} 2>/dev/null; exit 0"
    );
    let mut dog = Command::new("sh");
    dog.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    dog.spawn().context("spawning the watchdog")?;
    Ok(pgid)
}

/// Stop a process group we started (TERM to the whole group).
pub fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether process `pid` still runs. A child that exited but was never waited
/// for (as [`spawn_group`] leaves them) is a zombie: that counts as gone.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`; comm may hold spaces and parens.
    let state = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .and_then(|rest| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// The last `n` lines of `path` (for an error message).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_alive_until_killed() {
        let dir = std::env::temp_dir().join(format!("localstack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("sleep.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 60"]);
        let pgid = spawn_group(cmd, &log).unwrap();
        assert!(alive(pgid));
        kill_group(pgid);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(pgid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            !alive(pgid),
            "TERM to the group stops it (a zombie counts as gone)"
        );
        assert!(!alive(u32::MAX), "no such process");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
