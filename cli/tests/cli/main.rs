//! The `backflow` binary's integration tests (one test binary, see Cargo.toml).
//!
//! - [`sigv4`]: signing against AWS's SigV4 test-suite vectors; an independent
//!   verifier ([`verifier`]) checked against the same vectors; the binary's signed
//!   requests (GET with a cursor, POST with a body, a session token) through a
//!   local server that verifies them, and the refusals it prints.
//! - [`stack`]: `--stack` resolution against moto's CloudFormation (a stack whose
//!   `ApiUrl` output is the verifying server; a missing stack; a stack without the
//!   output).
//! - [`validate`]: `backflow validate` on `after:` chains (a cycle names its syncs).
//!
//! The commands against a real local stack are in `tests/scenarios/tests/cli.rs`.

mod sigv4;
mod stack;
mod validate;
mod verifier;

use std::process::{Command, Output};

/// Runs the `backflow` binary with `args` and `env`, none of the caller's AWS or
/// backflow settings, and no instance-metadata lookups.
pub fn backflow(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backflow"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BACKFLOW_") || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/backflow-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/backflow-test/credentials",
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the backflow binary")
}

/// [`backflow`] from async code (the servers it talks to run on the test's runtime).
pub async fn backflow_async(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        backflow(&args, &env)
    })
    .await
    .expect("the backflow binary's task")
}

/// stdout, stderr and the exit code, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stdout_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", show(o)))
}
