//! The adapters against a real moto server (S3, DynamoDB, Secrets Manager, Lambda).
//!
//! Each test starts its own moto the one way every test and the local stack do
//! ([`backflow_localstack::MotoServer`]: `scripts/moto_server.py` with the
//! project's Python, on a port it picks itself), creates uniquely named tables
//! and a bucket with the SDK, and stops the server on drop. A moto that cannot
//! be started fails the test: nothing is skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use backflow_aws::{
    load_config, sqlite_path, Aws, Batches, Error, Invoker, RunStore, RunTag, Secrets, StateItem,
    StateStore,
};
use backflow_core::batch::{Batch, BatchItem, DestinationSpec, LoadRequest, LoadSpec};
use backflow_core::config::{Behavior, DeleteMode, KeyField, Object, SecretRef};
use backflow_core::fingerprint::Fingerprint;
use backflow_core::plan::{Action, PlanCounts, Prior, RecordStatus};
use backflow_core::run::{
    BatchCounts, Counts, Outcome, RowReport, RunRecord, RunStatus, Sample, Trigger, Usage,
};
use backflow_core::tags::{Memo, Remembered};
use backflow_localstack::MotoServer;

mod budget;
mod config;
mod objects;
mod runs;
mod secrets;
mod state;

// ---------------------------------------------------------------- fixture

struct Fixture {
    aws: Aws,
    state_table: String,
    runs_table: String,
    bucket: String,
    _moto: MotoServer,
    _logs: tempfile::TempDir,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A moto server of its own with fresh tables and bucket.
async fn fixture() -> Fixture {
    let logs = tempfile::tempdir().expect("a temp dir for moto's log");
    let log = logs.path().join("moto.log");
    let moto = tokio::task::spawn_blocking(move || MotoServer::start(&log))
        .await
        .expect("the moto start task")
        .unwrap_or_else(|e| panic!("moto could not be started: {e:#}"));
    let aws = Aws::for_endpoint(&moto.endpoint).await;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let f = Fixture {
        state_table: format!("state-{n}"),
        runs_table: format!("runs-{n}"),
        bucket: format!("backflow-test-{n}"),
        aws,
        _moto: moto,
        _logs: logs,
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
    f
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
