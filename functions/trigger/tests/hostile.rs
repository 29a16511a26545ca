//! Hostile input through the trigger's entry point (`Trigger::handle`, what
//! `main.rs` hands to the Lambda runtime), with its real dependencies: moto's
//! DynamoDB for run records and locks (started the one way every test does,
//! `backflow_localstack::MotoServer`), a config file with a sync that is due
//! every minute, and a stand-in for Lambda's Invoke API on 127.0.0.1:0 that
//! records every invocation of `extract`.
//!
//! Every case is a client's mistake: it must be answered 4xx (an HTTP request)
//! or refused with an error (any other event), and start nothing — no item in
//! the runs table, no `extract` invoked. The last step starts real runs through
//! the same stack, so the two checks are seen to see a run when there is one.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use backflow_aws::{Aws, Settings};
use backflow_localstack::MotoServer;
use backflow_trigger::Trigger;
use base64::Engine as _;
use serde_json::{json, Value};

#[path = "hostile/pages.rs"]
mod pages;

/// A run id as `trigger` makes them.
const RUN: &str = "20261206T100000Z-abcd1234";

/// Invocations the Lambda stand-in received: (request path, payload).
type Invokes = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

struct Stack {
    trigger: Trigger,
    invokes: Invokes,
    runs_table: String,
    _moto: MotoServer,
    _dir: tempfile::TempDir,
}

const CONFIG: &str = r#"
warehouse:
  type: sqlite
  path: warehouse.db
destinations:
  intercom:
    type: intercom
    access_token: { secret: backflow/intercom, key: access_token }
    base_url: http://127.0.0.1:9
models:
  users:
    sql: select id, email from users
syncs:
  users:
    model: users
    destination: intercom
    object: user
    behavior: update_or_create
    key: { column: id, field: external_id }
    fields:
      email: email
    schedule: "* * * * *"
  café:
    model: users
    destination: intercom
    object: user
    behavior: update_or_create
    key: { column: id, field: external_id }
    fields:
      email: email
    after: [users]
"#;

async fn stack() -> Stack {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("backflow.yaml");
    std::fs::write(&config, CONFIG).expect("write the config");
    let log = dir.path().join("moto.log");
    let moto = tokio::task::spawn_blocking(move || MotoServer::start(&log))
        .await
        .expect("the moto start task")
        .unwrap_or_else(|e| panic!("moto could not be started: {e:#}"));
    let mut aws = Aws::for_endpoint(&moto.endpoint).await;
    let (lambda_url, invokes) = lambda_stand_in().await;
    aws.lambda = Aws::for_endpoint(&lambda_url).await.lambda;
    for table in ["state", "runs"] {
        aws.dynamodb
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
    let settings = Settings {
        config_location: config.to_string_lossy().into_owned(),
        state_table: "state".into(),
        runs_table: "runs".into(),
        bucket: "backflow-unused".into(),
        extract_function: "backflow-extract".into(),
        load_function: "backflow-load".into(),
        run_deadline_secs: 900,
        local_invoke_detach: false,
        trigger_function: None,
        alerts_topic_arn: None,
    };
    Stack {
        trigger: Trigger::new(aws, settings),
        invokes,
        runs_table: "runs".into(),
        _moto: moto,
        _dir: dir,
    }
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema element")
}

/// Lambda's Invoke API as far as an `Event` invocation goes: 202, recorded.
async fn lambda_stand_in() -> (String, Invokes) {
    let invokes: Invokes = Arc::default();
    let recorded = invokes.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
        let recorded = recorded.clone();
        async move {
            recorded
                .lock()
                .expect("the invokes lock")
                .push((uri.path().to_string(), body.to_vec()));
            axum::http::StatusCode::ACCEPTED
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the Lambda stand-in");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, invokes)
}

impl Stack {
    /// Every item of the runs table: run records, locks, claims.
    async fn run_items(&self) -> Vec<String> {
        let out = self
            .trigger
            .aws
            .dynamodb
            .scan()
            .table_name(&self.runs_table)
            .consistent_read(true)
            .send()
            .await
            .expect("scan the runs table");
        out.items().iter().map(|item| format!("{item:?}")).collect()
    }

    fn invokes(&self) -> Vec<(String, Vec<u8>)> {
        self.invokes.lock().expect("the invokes lock").clone()
    }
}

// ---------------------------------------------------------------- requests

fn request(method: &str, path: &str) -> Value {
    json!({
        "version": "2.0",
        "requestContext": {"http": {"method": method, "path": path}},
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "isBase64Encoded": false,
    })
}

fn post(body: &str) -> Value {
    let mut e = request("POST", "/syncs/users/runs");
    e["body"] = json!(body);
    e
}

fn post_base64(bytes: &[u8]) -> Value {
    let mut e = request("POST", "/syncs/users/runs");
    e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    e["isBase64Encoded"] = json!(true);
    e
}

fn rows_query(query: &str) -> Value {
    let mut e = request("GET", "/runs/20261129T111444Z-606c45ac/rows");
    e["rawQueryString"] = json!(query);
    e
}

fn runs_query(sync: &str, query: &str) -> Value {
    let mut e = request("GET", &format!("/syncs/{sync}/runs"));
    e["rawQueryString"] = json!(query);
    e
}

/// A cursor of `users`' runs, well formed.
fn users_cursor() -> String {
    backflow_core::api::RunsAfter {
        started_at: "2026-12-06T10:00:00Z".into(),
        run_id: RUN.into(),
    }
    .cursor("users")
}

fn with(mut e: Value, pointer: &str, value: Value) -> Value {
    *e.pointer_mut(pointer).expect("a field of the request") = value;
    e
}

/// The table: (what it is, the event, the status it must get).
fn hostile() -> Vec<(&'static str, Value, u16)> {
    let long = "a".repeat(3_000);
    vec![
        // Paths: escapes, bytes that are not UTF-8, dot segments, sizes, slashes.
        (
            "%aé in a run id (once a panic)",
            request("GET", "/runs/%aé"),
            400,
        ),
        (
            "%aé in a sync name",
            request("POST", "/syncs/%aé/runs"),
            400,
        ),
        (
            "%é in a run id's rows",
            request("GET", "/runs/%é/rows"),
            400,
        ),
        ("lone % in a run id", request("GET", "/runs/%"), 400),
        (
            "lone % in a sync name",
            request("POST", "/syncs/%/runs"),
            400,
        ),
        ("%zz in a run id", request("GET", "/runs/%zz"), 400),
        (
            "%zz in a sync name",
            request("POST", "/syncs/%zz/runs"),
            400,
        ),
        (
            "truncated escape",
            request("POST", "/syncs/users%4/runs"),
            400,
        ),
        (
            "%00 as a sync name",
            request("POST", "/syncs/%00/runs"),
            400,
        ),
        (
            "%00 after a sync name",
            request("POST", "/syncs/users%00/runs"),
            400,
        ),
        (
            "newline in a sync name",
            request("POST", "/syncs/us%0Aers/runs"),
            400,
        ),
        ("%FF: not UTF-8", request("POST", "/syncs/%FF/runs"), 400),
        (
            "half a UTF-8 character",
            request("POST", "/syncs/caf%C3/runs"),
            400,
        ),
        ("overlong UTF-8 for /", request("GET", "/runs/%C0%AF"), 400),
        ("..", request("POST", "/syncs/../runs"), 400),
        ("encoded ..", request("POST", "/syncs/%2E%2E/runs"), 400),
        (".", request("POST", "/syncs/./runs"), 400),
        (
            "overlong path",
            request("GET", &format!("/runs/{long}")),
            414,
        ),
        (
            "overlong sync name",
            request("POST", &format!("/syncs/{long}/runs")),
            414,
        ),
        (
            "run id longer than any",
            request("GET", &format!("/runs/{}", "a".repeat(300))),
            404,
        ),
        ("run id with a space", request("GET", "/runs/a%20b"), 404),
        ("run id with a slash", request("GET", "/runs/%2F/rows"), 404),
        ("empty sync segment", request("POST", "/syncs//runs"), 404),
        (
            "double slash inside",
            request("POST", "/syncs/users//runs"),
            404,
        ),
        (
            "unknown route",
            request("POST", "/syncs/users/runs/now"),
            404,
        ),
        ("unknown sync", request("POST", "/syncs/nope/runs"), 404),
        (
            "sync name in another case",
            request("POST", "/syncs/USERS/runs"),
            404,
        ),
        (
            "lossy match of café",
            request("POST", "/syncs/caf%E9/runs"),
            400,
        ),
        // Methods.
        (
            "DELETE a run list",
            request("DELETE", "/syncs/users/runs"),
            405,
        ),
        ("PUT a run list", request("PUT", "/syncs/users/runs"), 405),
        (
            "an unknown method",
            request("BREW", "/syncs/users/runs"),
            405,
        ),
        (
            "the run history of an unknown sync",
            request("GET", "/syncs/nope/runs"),
            404,
        ),
        ("HEAD a run list", request("HEAD", "/syncs/users/runs"), 405),
        (
            "no method",
            with(
                request("POST", "/syncs/users/runs"),
                "/requestContext",
                json!({}),
            ),
            400,
        ),
        (
            "a method that is a number",
            with(
                request("POST", "/syncs/users/runs"),
                "/requestContext/http/method",
                json!(7),
            ),
            400,
        ),
        (
            "a path that is not a string",
            with(
                request("POST", "/syncs/users/runs"),
                "/rawPath",
                json!(["/syncs"]),
            ),
            400,
        ),
        // Run request bodies: only a JSON object (or nothing).
        ("[] (once a started run)", post("[]"), 400),
        ("[true] (once dry_run by position)", post("[true]"), 400),
        ("[false, true, true]", post("[false, true, true]"), 400),
        ("a string", post("\"x\""), 400),
        ("null", post("null"), 400),
        ("a number", post("1"), 400),
        ("true", post("true"), 400),
        ("dry_run as a string", post(r#"{"dry_run":"yes"}"#), 400),
        ("dry_run as a number", post(r#"{"dry_run":1}"#), 400),
        ("dry_run as null", post(r#"{"dry_run":null}"#), 400),
        ("an unknown key", post(r#"{"dryrun":true}"#), 400),
        (
            "a known and an unknown key",
            post(r#"{"dry_run":true,"now":1}"#),
            400,
        ),
        (
            "a key twice",
            post(r#"{"dry_run":true,"dry_run":false}"#),
            400,
        ),
        ("invalid JSON", post(r#"{"dry_run":"#), 400),
        ("trailing garbage", post("{} x"), 400),
        ("two objects", post("{}{}"), 400),
        ("form-encoded", post("dry_run=true"), 400),
        (
            "deep nesting [[[ (100k, over the size cap)",
            post(&"[".repeat(100_000)),
            413,
        ),
        (
            "deep nesting [[[ (60k, under the size cap)",
            post(&"[".repeat(60_000)),
            400,
        ),
        (
            "deep nesting in an object",
            post(&format!("{{\"dry_run\":{}", "[".repeat(60_000))),
            400,
        ),
        (
            "huge body",
            post(&format!(
                "{{\"dry_run\":true,\"pad\":\"{}\"}}",
                "x".repeat(1 << 20)
            )),
            413,
        ),
        ("huge base64 body", post_base64(&vec![b' '; 1 << 20]), 413),
        (
            "invalid UTF-8 body",
            post_base64(b"{\"dry_run\":\xff}"),
            400,
        ),
        (
            "bad base64",
            with(post("!!not base64!!"), "/isBase64Encoded", json!(true)),
            400,
        ),
        ("base64 of []", post_base64(b"[]"), 400),
        (
            "isBase64Encoded as a string",
            with(post("e30="), "/isBase64Encoded", json!("true")),
            400,
        ),
        (
            "a body that is not a string",
            with(post("{}"), "/body", json!({"dry_run": true})),
            400,
        ),
        (
            "[] sent as text/plain",
            with(
                post("[]"),
                "/headers",
                json!({"content-type": "text/plain"}),
            ),
            400,
        ),
        // Query strings of the rows route.
        ("outcome=%aé", rows_query("outcome=%aé"), 400),
        ("outcome=%FF", rows_query("outcome=%FF"), 400),
        ("outcome=%", rows_query("outcome=%"), 400),
        ("an unknown outcome", rows_query("outcome=created"), 400),
        (
            "outcome twice",
            rows_query("outcome=invalid&outcome=rejected"),
            400,
        ),
        (
            "a bad escape in a name",
            rows_query("%zz=1&outcome=invalid"),
            400,
        ),
        (
            "overlong query",
            rows_query(&format!("outcome=invalid&pad={}", "x".repeat(5_000))),
            414,
        ),
        (
            "query parameters not strings",
            json!({"requestContext": {"http": {"method": "GET"}}, "rawPath": "/runs/r1/rows", "queryStringParameters": {"outcome": ["invalid"]}}),
            400,
        ),
        (
            "raw query not a string",
            with(rows_query(""), "/rawQueryString", json!(5)),
            400,
        ),
        // Pages: limits and cursors.
        ("rows limit=0", rows_query("limit=0"), 400),
        ("rows limit=-1", rows_query("limit=-1"), 400),
        ("rows limit past the max", rows_query("limit=10001"), 400),
        ("rows limit=1e3", rows_query("limit=1e3"), 400),
        ("rows limit twice", rows_query("limit=1&limit=2"), 400),
        ("rows garbage cursor", rows_query("cursor=garbage"), 400),
        (
            "rows cursor of a sync's runs",
            rows_query(&format!("cursor={}", users_cursor())),
            400,
        ),
        ("runs limit=0", runs_query("users", "limit=0"), 400),
        ("runs limit=101", runs_query("users", "limit=101"), 400),
        ("runs limit=ten", runs_query("users", "limit=ten"), 400),
        (
            "runs garbage cursor",
            runs_query("users", "cursor=%00"),
            400,
        ),
        (
            "runs cursor of another sync",
            runs_query("caf%C3%A9", &format!("cursor={}", users_cursor())),
            400,
        ),
        (
            "Accept that is not a string",
            with(rows_query(""), "/headers", json!({"accept": ["text/csv"]})),
            400,
        ),
    ]
}

#[tokio::test]
async fn hostile_requests_answer_4xx_and_start_nothing() {
    let stack = stack().await;
    let cases = hostile();
    assert!(cases.len() >= 40, "the table has {} cases", cases.len());
    for (what, event, want) in cases {
        let answer =
            stack.trigger.handle(event).await.unwrap_or_else(|e| {
                panic!("{what}: an HTTP request must get an answer, got {e:#}")
            });
        let status = answer["statusCode"].as_u64();
        assert_eq!(status, Some(u64::from(want)), "{what}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {answer}"));
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{what}: no error message: {body}");
        assert!(
            message.chars().count() < 600,
            "{what}: {} chars",
            message.len()
        );
    }

    // Events that are not HTTP requests: refused, nothing started (the sync
    // `users` is due every minute, so a Scheduled Event read as "now" would
    // start it).
    for (what, event) in [
        ("an array", json!([])),
        ("a string", json!("x")),
        ("an empty object", json!({})),
        (
            "a Scheduled Event without a time",
            json!({"detail-type": "Scheduled Event"}),
        ),
        (
            "a Scheduled Event with a bad time",
            json!({"detail-type": "Scheduled Event", "time": "soon"}),
        ),
        (
            "a Scheduled Event with a number time",
            json!({"detail-type": "Scheduled Event", "time": 0}),
        ),
        // What `extract` and `load` send when a run ended (`after:` chains).
        (
            "run_ended as an array",
            json!({"run_ended": [RUN, "users"]}),
        ),
        ("run_ended as null", json!({"run_ended": null})),
        ("run_ended as a string", json!({"run_ended": "users"})),
        (
            "run_ended without a sync",
            json!({"run_ended": {"run_id": RUN}}),
        ),
        (
            "run_ended with a path for a run id",
            json!({"run_ended": {"run_id": "../x", "sync": "users"}}),
        ),
        (
            "run_ended with an unknown key",
            json!({"run_ended": {"run_id": RUN, "sync": "users", "start": true}}),
        ),
        (
            "run_ended with an empty sync",
            json!({"run_ended": {"run_id": RUN, "sync": ""}}),
        ),
        (
            "run_ended with a control character in the sync",
            json!({"run_ended": {"run_id": RUN, "sync": "us\u{0}ers"}}),
        ),
        (
            "run_ended with a nested array for a sync",
            json!({"run_ended": {"run_id": RUN, "sync": [[["users"]]]}}),
        ),
    ] {
        let result = stack.trigger.handle(event).await;
        assert!(result.is_err(), "{what}: {result:?}");
    }

    // Well-formed, but no run of `users` ended well: `café` (after: [users])
    // is not due, and a sync nobody waits for starts nothing.
    for sync in ["users", "nobody-waits-for-me"] {
        let answer = stack
            .trigger
            .handle(json!({"run_ended": {"run_id": RUN, "sync": sync}}))
            .await
            .expect("a well-formed run_ended");
        assert_eq!(answer, json!({"started": []}), "{sync}");
    }

    assert_eq!(
        stack.run_items().await,
        Vec::<String>::new(),
        "no run record, lock or claim"
    );
    assert_eq!(stack.invokes(), vec![], "no extract invoked");

    // The same stack sees a run when one starts: a good request, and a sync
    // name whose UTF-8 is percent-encoded.
    for (path, body) in [
        ("/syncs/users/runs", r#"{"dry_run":true}"#),
        ("/lambda-url/trigger/syncs/caf%C3%A9/runs", ""),
    ] {
        let mut e = request("POST", path);
        e["body"] = json!(body);
        let answer = stack.trigger.handle(e).await.expect("an answer");
        assert_eq!(answer["statusCode"], 202, "{path}: {answer}");
    }
    let items = stack.run_items().await;
    assert!(
        items.iter().any(|i| i.contains("users")) && items.iter().any(|i| i.contains("café")),
        "{items:?}"
    );
    let invokes = stack.invokes();
    assert_eq!(invokes.len(), 2, "{invokes:?}");
    assert!(invokes[0].0.contains("backflow-extract"), "{invokes:?}");
}

/// `café` runs `after: [users]`: once a run of `users` ended well, the
/// `run_ended` that says so starts `café` once, however often it is delivered,
/// and the minute's tick (which also looks) does not start it again.
#[tokio::test]
async fn run_ended_delivered_twice_starts_the_waiting_sync_once() {
    let stack = stack().await;
    let ended = json!({"run_ended": {"run_id": RUN, "sync": "users"}});
    stack
        .trigger
        .runs
        .record_ended_ok("users", RUN, backflow_aws::runs::now_ms())
        .await
        .expect("record the ending");
    let first = stack.trigger.handle(ended.clone()).await.expect("first");
    let started = first["started"].as_array().cloned().unwrap_or_default();
    assert_eq!(started.len(), 1, "{first}");
    let again = stack.trigger.handle(ended).await.expect("again");
    assert_eq!(
        again,
        json!({"started": []}),
        "the same ending delivered again"
    );
    // The tick starts `users` (due every minute), not `café` a second time.
    let tick = stack
        .trigger
        .handle(json!({"detail-type": "Scheduled Event", "time": "2026-12-06T10:01:00Z"}))
        .await
        .expect("tick");
    assert_eq!(tick["started"].as_array().map(Vec::len), Some(1), "{tick}");
    let run = stack
        .trigger
        .runs
        .get_run(started[0].as_str().unwrap_or_default())
        .await
        .expect("read the run")
        .expect("the run exists");
    assert_eq!(run.sync, "café");
    assert_eq!(run.trigger, backflow_core::run::Trigger::After);
    let extracts = stack.invokes();
    assert_eq!(extracts.len(), 2, "café once, users once: {extracts:?}");
}
