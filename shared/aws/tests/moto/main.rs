//! The adapters against a real moto server (S3, DynamoDB, Secrets Manager, Lambda).
//!
//! Each test starts its own `moto_server -H 127.0.0.1 -p <free port>` (falling back
//! to `python3 -m moto.server`; `BACKFLOW_MOTO_SERVER` overrides the command), waits
//! for the port with a bounded poll, creates uniquely named tables and a bucket with
//! the SDK, and kills the server on drop. Install with `pip install 'moto[server]'`.
//! Without moto the tests are skipped with a message, except when `CI` is set:
//! then they fail.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use backflow_aws::{
    load_config, sqlite_path, Aws, Batches, Error, Invoker, RunStore, RunTag, Secrets, StateItem,
    StateStore,
};
use backflow_core::batch::{Batch, BatchItem, DestinationSpec, LoadSpec};
use backflow_core::config::{Behavior, DeleteMode, KeyField, Object, SecretRef};
use backflow_core::fingerprint::Fingerprint;
use backflow_core::plan::{Action, PlanCounts, Prior, RecordStatus};
use backflow_core::run::{
    BatchCounts, Counts, Outcome, RowReport, RunRecord, RunStatus, Sample, Trigger, Usage,
};

mod budget;
mod config;
mod objects;
mod runs;
mod secrets;
mod state;

// ---------------------------------------------------------------- moto process

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_commands() -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    if let Ok(custom) = std::env::var("BACKFLOW_MOTO_SERVER") {
        commands.push(custom.split_whitespace().map(String::from).collect());
    }
    // moto with DynamoDB's per-item atomic conditional writes (see the script).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/moto_server.py");
    commands.push(vec!["python3".into(), script.into()]);
    commands.push(vec!["moto_server".into()]);
    commands.push(vec!["python3".into(), "-m".into(), "moto.server".into()]);
    commands
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().unwrap().port()
}

/// Starts moto on a free port; `None` when no command works.
fn start_moto() -> Option<Moto> {
    for command in moto_commands() {
        // A port taken between `free_port` and moto's bind makes moto exit: try again.
        for _ in 0..3 {
            let port = free_port();
            let spawned = Command::new(&command[0])
                .args(&command[1..])
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let Ok(child) = spawned else { break };
            let mut moto = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Some(moto);
                }
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // exited: not installed properly, or the port was taken
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    None
}

// ---------------------------------------------------------------- fixture

struct Fixture {
    aws: Aws,
    state_table: String,
    runs_table: String,
    bucket: String,
    _moto: Moto,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A moto server with fresh tables and bucket; `None` (skip) when moto is missing.
async fn fixture() -> Option<Fixture> {
    let Some(moto) = start_moto() else {
        if std::env::var_os("CI").is_some() {
            panic!("moto could not be started and CI is set: pip install 'moto[server]' (or set BACKFLOW_MOTO_SERVER)");
        }
        // Straight to stderr: `eprintln!` would be captured and hidden by the harness.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: moto could not be started (pip install 'moto[server]', or set BACKFLOW_MOTO_SERVER)"
        );
        return None;
    };
    let aws = Aws::for_endpoint(&moto.url).await;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let f = Fixture {
        state_table: format!("state-{n}"),
        runs_table: format!("runs-{n}"),
        bucket: format!("backflow-test-{n}"),
        aws,
        _moto: moto,
    };
    for table in [&f.state_table, &f.runs_table] {
        f.aws
            .dynamodb
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .send()
            .await
            .expect("create table");
    }
    f.aws
        .s3
        .create_bucket()
        .bucket(&f.bucket)
        .send()
        .await
        .expect("create bucket");
    Some(f)
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

impl Fixture {
    fn state(&self) -> StateStore {
        StateStore::new(self.aws.dynamodb.clone(), &self.state_table)
    }

    fn runs(&self) -> RunStore {
        RunStore::new(self.aws.dynamodb.clone(), &self.runs_table)
    }
}

fn record(run_id: &str, sync: &str) -> RunRecord {
    RunRecord {
        run_id: run_id.into(),
        sync: sync.into(),
        trigger: Trigger::Api,
        dry_run: false,
        full_resync: false,
        allow_mass_removal: false,
        status: RunStatus::Queued,
        started_at: "2026-08-22T10:00:00Z".into(),
        finished_at: None,
        counts: Counts::default(),
        plan: None,
        api_calls: 0,
        retries: 0,
        batches: BatchCounts::default(),
        error: None,
        samples: vec![],
        warnings: vec![],
        usage: Usage::default(),
        updated_at: None,
    }
}

fn row(key: &str, outcome: Outcome) -> RowReport {
    RowReport {
        key: Some(key.into()),
        outcome,
        reason: format!("{key} was {}", outcome.as_str()),
        code: (outcome == Outcome::Rejected).then(|| "parameter_invalid".into()),
        row: None,
    }
}
