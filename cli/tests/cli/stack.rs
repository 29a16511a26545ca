//! `--stack NAME`: the API URL from the stack's `ApiUrl` output, through moto's
//! CloudFormation, and requests signed for the stack's region.
//!
//! moto is started the way the AWS adapters' tests start it
//! (`scripts/moto_server.py`, falling back to `moto_server`); without moto the
//! test is skipped with a message, except when `CI` is set. moto's
//! CloudFormation needs none of the `cloudformation` extra's packages to create
//! a stack from a JSON template and describe its outputs.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use serde_json::json;

use crate::sigv4::{answers, expect, TEST_KEY, TEST_SECRET};
use crate::verifier;
use crate::{backflow_async, show, stdout_json};

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

fn start_moto() -> Option<Moto> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto_server.py");
    let commands: [&[&str]; 2] = [&["python3", script], &["moto_server"]];
    for command in commands {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let Ok(child) = Command::new(command[0])
            .args(&command[1..])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
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
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    None
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
    let Some(moto) = start_moto() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "moto is required in CI (scripts/venv.sh tools tests/python/requirements.txt)"
        );
        eprintln!("SKIPPED: moto_server is not installed");
        return;
    };
    let region = "eu-west-1";
    let (base, log) = verifier::serve(expect(region), answers()).await;
    let cf = cloudformation(&moto.url, region).await;
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
            moto.url.clone(),
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
            &moto.url,
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
