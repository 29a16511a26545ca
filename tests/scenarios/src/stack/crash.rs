//! Crashing a stack's functions on purpose: the whole process tree of `cargo
//! lambda watch` (it starts each function instance in a process group of its
//! own, so the tree is found through `/proc` parent links), frozen with
//! `SIGSTOP` and killed with `SIGKILL`, by pid.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::poll;

/// The processes of the tree rooted at `root`: `root`, its descendants, and the
/// members of process group `root` (a child that moved to a group of its own is
/// still found through its parent). Zombies count as gone. From `/proc`.
pub fn process_tree(root: u32) -> BTreeSet<u32> {
    // (pid, ppid, pgrp) of every live process.
    let mut procs = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parens.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() < 3 || f[0] == "Z" || f[0] == "X" {
                continue;
            }
            if let (Ok(ppid), Ok(pgrp)) = (f[1].parse::<u32>(), f[2].parse::<u32>()) {
                procs.push((pid, ppid, pgrp));
            }
        }
    }
    let mut tree: BTreeSet<u32> = procs
        .iter()
        .filter(|(pid, _, pgrp)| *pid == root || *pgrp == root)
        .map(|(pid, _, _)| *pid)
        .collect();
    loop {
        let before = tree.len();
        for (pid, ppid, _) in &procs {
            if tree.contains(ppid) {
                tree.insert(*pid);
            }
        }
        if tree.len() == before {
            return tree;
        }
    }
}

/// Send `signal` (`STOP`, `KILL`, …) to each of `pids` (that we started).
fn signal(signal: &str, pids: &BTreeSet<u32>) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kill the whole tree of `root` at once, as a crash would: freeze it (so that
/// nothing forks or reaps half-way), then `SIGKILL` every process; wait until
/// they are gone. Returns how many processes were killed.
pub async fn crash_tree(root: u32) -> anyhow::Result<usize> {
    let mut frozen = BTreeSet::new();
    for _ in 0..20 {
        let tree = process_tree(root);
        let new: BTreeSet<u32> = tree.difference(&frozen).copied().collect();
        if new.is_empty() {
            break;
        }
        signal("STOP", &new);
        frozen.extend(new);
    }
    signal("KILL", &frozen);
    let n = frozen.len();
    poll(
        &format!("the processes of group {root} to die"),
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            let alive = process_tree(root);
            async move {
                if alive.is_empty() {
                    Ok(Some(()))
                } else {
                    signal("KILL", &alive);
                    anyhow::bail!("still alive: {alive:?}")
                }
            }
        },
    )
    .await?;
    Ok(n)
}
