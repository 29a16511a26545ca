//! What a stack runs in Python, with the project's Python
//! ([`backflow_localstack::python`]): `scripts/local_resources.py` (the one
//! definition of the local stack: resources, the functions' environment, the
//! `cargo lambda watch` command, the warm-up) and the boto3 helpers tests use
//! to read and edit what moto holds.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use backflow_localstack::python;
use serde_json::Value;

use super::{release_build, repo_root, target_dir, Moto, Stack, WATCH_CONCURRENCY};
use crate::config::TOKEN;

/// The `cargo lambda watch` command `argv` (from `local_resources.py watch`,
/// which builds the functions in `<target dir>/lambda-watch`), run from the
/// repository root.
pub(super) fn watch_command(argv: &[String]) -> anyhow::Result<Command> {
    let Some((program, args)) = argv.split_first() else {
        bail!("local_resources.py watch printed an empty command");
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(repo_root())
        .env("CARGO_TARGET_DIR", target_dir());
    Ok(cmd)
}

/// The functions' environment of a stack: `local_resources.py env` (the
/// template's, with this stack's resources, moto and `cargo lambda watch`),
/// then `overrides`; also written to `env_file` for `cargo lambda watch`.
pub(super) async fn functions_env(
    moto: &Moto,
    watch_url: &str,
    config_path: &Path,
    env_file: &Path,
    names: Vec<String>,
    overrides: &[(String, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut args = vec![
        "env".to_string(),
        "--endpoint".into(),
        moto.endpoint.clone(),
        "--lambda-url".into(),
        watch_url.to_string(),
        "--config".into(),
        config_path.display().to_string(),
        "--env-file".into(),
        env_file.display().to_string(),
        "--json".into(),
    ];
    args.extend(names);
    for (k, v) in overrides {
        args.extend(["--set".to_string(), format!("{k}={v}")]);
    }
    serde_json::from_value(local_stack(args).await?)
        .context("local_resources.py env: not a list of pairs")
}

/// The `cargo lambda watch` command of a stack: `local_resources.py watch`.
pub(super) async fn watch_argv(port: u16, env_file: &Path) -> anyhow::Result<Vec<String>> {
    let mut args = vec![
        "watch".to_string(),
        "--port".into(),
        port.to_string(),
        "--env-file".into(),
        env_file.display().to_string(),
        "--concurrency".into(),
        WATCH_CONCURRENCY.to_string(),
        "--json".into(),
        "--target-dir".into(),
        target_dir(),
    ];
    // Benchmarks measure the binaries as deployed (release profile).
    if release_build() {
        args.push("--release".into());
    }
    serde_json::from_value(local_stack(args).await?)
        .context("local_resources.py watch: not a command")
}

/// The arguments that name a stack's resources for `local_resources.py`.
pub(super) fn resource_names(
    slug: &str,
    state_table: &str,
    runs_table: &str,
    bucket: &str,
) -> Vec<String> {
    [
        ("--stack-name", slug),
        ("--state-table", state_table),
        ("--runs-table", runs_table),
        ("--bucket", bucket),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value.to_string()])
    .collect()
}

/// Runs `scripts/local_resources.py ARGS` with the project's Python; its
/// standard output.
pub(super) async fn local_resources(args: Vec<String>) -> anyhow::Result<Vec<u8>> {
    run_python(args, |cmd| {
        cmd.arg(repo_root().join("scripts/local_resources.py"));
    })
    .await
}

/// [`local_resources`] for a command that prints JSON.
pub(super) async fn local_stack(args: Vec<String>) -> anyhow::Result<Value> {
    let command = args.first().cloned().unwrap_or_default();
    let out = local_resources(args).await?;
    serde_json::from_slice(&out)
        .with_context(|| format!("local_resources.py {command} printed no JSON"))
}

/// Runs the project's Python with `prepare` adding the program (a script or
/// `-c CODE`) before `args`; its standard output, or an error with its
/// standard error.
pub(super) async fn run_python(
    args: Vec<String>,
    prepare: impl FnOnce(&mut Command) + Send + 'static,
) -> anyhow::Result<Vec<u8>> {
    let python = python()?;
    let mut cmd = Command::new(&python);
    prepare(&mut cmd);
    cmd.args(&args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            python.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// The Python (boto3, which comes with moto) behind [`put_secret`],
/// [`aws_contents`] and [`dynamodb_call`]: `put-secret NAME JSON`, `dump BUCKET
/// TABLE…` printing `{"s3":[{"key","body"}],"dynamodb":{"<table>":[<item>…]}}`
/// (bodies as text, gunzipped when compressed; items in DynamoDB's JSON), or
/// `call SERVICE METHOD JSON` calling a client's METHOD with JSON's keywords.
const AWS_PY: &str = r#"
import gzip, json, sys, boto3
kw = {"endpoint_url": sys.argv[1], "region_name": "us-east-1"}
cmd = sys.argv[2]
if cmd == "put-secret":
    sm = boto3.client("secretsmanager", **kw)
    name, value = sys.argv[3], sys.argv[4]
    try:
        sm.create_secret(Name=name, SecretString=value)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=value)
    print(json.dumps({"ok": True}))
elif cmd == "dump":
    s3 = boto3.client("s3", **kw)
    ddb = boto3.client("dynamodb", **kw)
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[3]):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=sys.argv[3], Key=o["Key"])["Body"].read()
            if body[:2] == bytes([0x1F, 0x8B]):
                body = gzip.decompress(body)
            objects.append({"key": o["Key"], "body": body.decode("utf-8", "replace")})
    tables = {}
    for table in sys.argv[4:]:
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(page.get("Items", []))
        tables[table] = items
    print(json.dumps({"s3": objects, "dynamodb": tables}, default=str))
elif cmd == "call":
    client = boto3.client(sys.argv[3], **kw)
    out = getattr(client, sys.argv[4])(**json.loads(sys.argv[5]))
    out.pop("ResponseMetadata", None)
    print(json.dumps(out, default=str))
"#;

pub(super) async fn aws_py(moto: &Moto, args: Vec<String>) -> anyhow::Result<Value> {
    let endpoint = moto.endpoint.clone();
    let out = run_python(args, move |cmd| {
        cmd.arg("-c").arg(AWS_PY).arg(endpoint);
    })
    .await?;
    serde_json::from_slice(&out).context("the boto3 helper printed no JSON")
}

/// Create (or overwrite) a Secrets Manager secret on moto whose value is `value`'s JSON.
pub async fn put_secret(moto: &Moto, name: &str, value: &Value) -> anyhow::Result<()> {
    aws_py(
        moto,
        vec!["put-secret".into(), name.into(), value.to_string()],
    )
    .await
    .map(|_| ())
}

/// Calls DynamoDB on moto as boto3 would (`method` as `update_item`, `args` its
/// keywords): tests that simulate what a crash leaves behind edit items directly.
pub async fn dynamodb_call(moto: &Moto, method: &str, args: &Value) -> anyhow::Result<Value> {
    aws_call(moto, "dynamodb", method, args).await
}

/// Calls any AWS service on moto as boto3 would (`service` as `sns`, `method`
/// as `subscribe`, `args` its keywords): its answer without `ResponseMetadata`.
pub async fn aws_call(
    moto: &Moto,
    service: &str,
    method: &str,
    args: &Value,
) -> anyhow::Result<Value> {
    aws_py(
        moto,
        vec![
            "call".into(),
            service.into(),
            method.into(),
            args.to_string(),
        ],
    )
    .await
}

/// Every object of the stack's bucket (key and body) and every item of its two
/// DynamoDB tables: `{"s3":[{"key","body"}],"dynamodb":{"<table>":[…]}}`.
pub async fn aws_contents(moto: &Moto, stack: &Stack) -> anyhow::Result<Value> {
    aws_py(
        moto,
        vec![
            "dump".into(),
            stack.bucket.clone(),
            stack.state_table.clone(),
            stack.runs_table.clone(),
        ],
    )
    .await
}

/// Create the tables, bucket and secrets of a stack on moto with
/// `scripts/local_resources.py` (from `infra/template.yaml`); its output goes
/// to `<dir>/resources.log`.
pub async fn create_resources(
    moto: &Moto,
    slug: &str,
    state_table: &str,
    runs_table: &str,
    bucket: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    // moto is "not designed for multithreaded access": one stack at a time.
    static RESOURCES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = RESOURCES.lock().await;
    let mut args = vec![
        "apply".to_string(),
        "--endpoint".into(),
        moto.endpoint.clone(),
        "--intercom-token".into(),
        TOKEN.into(),
    ];
    args.extend(resource_names(slug, state_table, runs_table, bucket));
    let out = local_resources(args)
        .await
        .context("scripts/local_resources.py apply")?;
    std::fs::write(dir.join("resources.log"), out)?;
    Ok(())
}
