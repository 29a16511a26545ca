//! `--stack NAME`: the API URL from the stack's `ApiUrl` output, through moto's
//! CloudFormation, and requests signed for the stack's region.
//!
//! moto is started as every test starts it (`backflow_localstack::MotoServer`,
//! the project's venv); it is required, never skipped. moto's
//! CloudFormation needs none of the `cloudformation` extra's packages to create
//! a stack from a JSON template and describe its outputs.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use backflow_localstack::MotoServer;
use serde_json::json;

use crate::sigv4::{answers, expect, TEST_KEY, TEST_SECRET};
use crate::verifier;
use crate::{backflow_async, show, stdout_json};

/// moto the one way every test starts it (`backflow_localstack::MotoServer`:
/// the project's venv, `scripts/moto_server.py`); its log in `dir`.
fn start_moto(dir: &std::path::Path) -> MotoServer {
    MotoServer::start(&dir.join("moto.log")).unwrap_or_else(|e| panic!("moto: {e:#}"))
}

async fn cloudformation(endpoint: &str, region: &str) -> aws_sdk_cloudformation::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    aws_sdk_cloudformation::Client::new(&config)
}

/// A stack with one placeholder resource and `outputs`.
async fn create_stack(cf: &aws_sdk_cloudformation::Client, name: &str, outputs: serde_json::Value) {
    let template = json!({
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    });
    cf.create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create_stack {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(&e)
            )
        });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_outputs_name_the_api_and_requests_are_signed_for_its_region() {
    let dir = tempfile::tempdir().expect("temp dir");
    let moto = start_moto(dir.path());
    let region = "eu-west-1";
    let (base, log) = verifier::serve(expect(region), answers()).await;
    let cf = cloudformation(&moto.endpoint, region).await;
    let stack = format!("backflow-cli-{}", std::process::id());
    create_stack(
        &cf,
        &stack,
        json!({
            "ApiUrl": {"Value": format!("{base}/api/")},
            "BucketName": {"Value": "bucket"},
        }),
    )
    .await;
    let bare = format!("{stack}-bare");
    create_stack(&cf, &bare, json!({"BucketName": {"Value": "bucket"}})).await;

    let env = [
        ("AWS_ACCESS_KEY_ID", TEST_KEY),
        ("AWS_SECRET_ACCESS_KEY", TEST_SECRET),
    ];
    let with = |name: &str| {
        vec![
            "--stack".to_string(),
            name.to_string(),
            "--region".into(),
            region.into(),
            "--aws-endpoint".into(),
            moto.endpoint.clone(),
        ]
    };
    let run = |mut args: Vec<String>, extra: &[&str]| {
        args.extend(extra.iter().map(|s| s.to_string()));
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            backflow_async(&refs, &env).await
        }
    };

    // The output's URL (its trailing `/` dropped), signed for eu-west-1.
    let o = run(with(&stack), &["--json", "syncs"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(stdout_json(&o), answers()["GET /api/syncs"]);
    assert_eq!(log.lock().unwrap().requests.len(), 1);
    assert!(
        log.lock().unwrap().requests[0].2,
        "{:?}",
        log.lock().unwrap().requests
    );

    // BACKFLOW_STACK works as --stack, and wins over --api.
    let o = backflow_async(
        &[
            "--api",
            "http://127.0.0.1:1/x",
            "--region",
            region,
            "--aws-endpoint",
            &moto.endpoint,
            "syncs",
        ],
        &[env[0], env[1], ("BACKFLOW_STACK", stack.as_str())],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("users"),
        "{}",
        show(&o)
    );

    // No such stack.
    let o = run(with("no-such-stack"), &["syncs"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no stack named `no-such-stack` in eu-west-1"),
        "{}",
        show(&o)
    );

    // A stack without the output.
    let o = run(with(&bare), &["syncs"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "stack `{bare}` in eu-west-1 has no `ApiUrl` output (outputs: BucketName)"
        )),
        "{}",
        show(&o)
    );
}
