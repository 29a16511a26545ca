//! SigV4: `backflow_cli::sign` against AWS's test-suite vectors, the independent
//! verifier against the same vectors, then the binary's requests through the
//! verifying server.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use backflow_cli::sign::{signature_headers, Request, Signing};
use serde_json::{json, Value};

use crate::verifier::{self, Expect, Received};
use crate::{backflow_async, show, stdout_json};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A vector of AWS's SigV4 test suite (`aws-signing-test-suite/v4/<name>`, as
/// shipped with the aws-sigv4 crate): region `us-east-1`, service `service`,
/// signed at 2015-08-30T12:36:00Z, body not signed in a header.
struct Vector {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    token: Option<&'static str>,
    signed_headers: &'static str,
    signature: &'static str,
}

const VECTORS: [Vector; 6] = [
    Vector {
        name: "get-vanilla",
        method: "GET",
        path: "/",
        query: "",
        token: None,
        signed_headers: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-vanilla-query-order-key-case",
        method: "GET",
        path: "/",
        query: "Param2=value2&Param1=value1",
        token: None,
        signed_headers: "host;x-amz-date",
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    Vector {
        name: "get-vanilla-query-order-encoded",
        method: "GET",
        path: "/",
        query: "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
        token: None,
        signed_headers: "host;x-amz-date",
        signature: "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
    },
    Vector {
        name: "get-vanilla-with-session-token",
        method: "GET",
        path: "/",
        query: "",
        token: Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
        signed_headers: "host;x-amz-date;x-amz-security-token",
        signature: "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    },
    Vector {
        name: "post-vanilla",
        method: "POST",
        path: "/",
        query: "",
        token: None,
        signed_headers: "host;x-amz-date",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    Vector {
        name: "post-vanilla-query",
        method: "POST",
        path: "/",
        query: "Param1=value1",
        token: None,
        signed_headers: "host;x-amz-date",
        signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    },
];

fn vector_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

#[test]
fn the_cli_signs_as_the_aws_test_suite_says() {
    for v in &VECTORS {
        let credentials = Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            v.token.map(str::to_string),
            None,
            "test-suite",
        );
        let url = if v.query.is_empty() {
            format!("https://example.amazonaws.com{}", v.path)
        } else {
            format!("https://example.amazonaws.com{}?{}", v.path, v.query)
        };
        let request = Request {
            method: v.method,
            url: &url,
            headers: &[],
            body: b"",
        };
        let signing = Signing {
            credentials: &credentials,
            region: "us-east-1",
            service: "service",
            time: vector_time(),
        };
        let headers: BTreeMap<String, String> = signature_headers(request, &signing)
            .expect(v.name)
            .into_iter()
            .collect();
        let want = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={}, Signature={}",
            v.signed_headers, v.signature
        );
        assert_eq!(headers.get("authorization"), Some(&want), "{}", v.name);
        assert_eq!(
            headers.get("x-amz-date").map(String::as_str),
            Some("20150830T123600Z"),
            "{}",
            v.name
        );
        assert_eq!(
            headers.get("x-amz-security-token").map(String::as_str),
            v.token,
            "{}",
            v.name
        );
    }
}

#[test]
fn the_verifier_computes_the_aws_test_suite_signatures() {
    for v in &VECTORS {
        let mut headers = vec![
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        if let Some(t) = v.token {
            headers.push(("x-amz-security-token".to_string(), t.to_string()));
        }
        let received = Received {
            method: v.method,
            path: v.path,
            query: v.query,
            headers: &headers,
            body: b"",
        };
        let signed: Vec<String> = v.signed_headers.split(';').map(str::to_string).collect();
        let got = verifier::signature(
            &received,
            &signed,
            "20150830T123600Z",
            SECRET_KEY,
            "us-east-1",
            "service",
        );
        assert_eq!(got, v.signature, "{}", v.name);
        // One byte of the secret or the body off, and the signature changes.
        let wrong = verifier::signature(
            &received,
            &signed,
            "20150830T123600Z",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
            "us-east-1",
            "service",
        );
        assert_ne!(wrong, v.signature, "{}", v.name);
    }
}

pub const TEST_KEY: &str = "AKIDBACKFLOWTEST";
pub const TEST_SECRET: &str = "backflow/test/secret+key";

pub fn expect(region: &str) -> Expect {
    Expect {
        access_key: TEST_KEY.into(),
        secret_key: TEST_SECRET.into(),
        region: region.into(),
        service: "execute-api".into(),
    }
}

/// The answers of the verifying server, under `/api`.
pub fn answers() -> BTreeMap<String, Value> {
    let mut a = BTreeMap::new();
    a.insert(
        "GET /api/syncs".to_string(),
        json!({"syncs": [{"name": "users", "object": "user", "behavior": "update_or_create", "schedule": null, "last_run": null}]}),
    );
    a.insert(
        "POST /api/syncs/users/runs".to_string(),
        json!({"run_id": "20260101T000000Z-0000abcd", "status": "queued"}),
    );
    // Two pages; the cursor holds characters that must be encoded, and the run id a space.
    a.insert(
        "GET /api/runs/r%201/rows?limit=1000".to_string(),
        json!({"rows": [{"key": "1", "outcome": "invalid", "reason": "bad email", "code": null, "row": 1}], "next_cursor": "c+/=1"}),
    );
    a.insert(
        "GET /api/runs/r%201/rows?limit=1000&cursor=c%2B%2F%3D1".to_string(),
        json!({"rows": [{"key": "2", "outcome": "rejected", "reason": "Intercom answered 404", "code": "not_found"}], "next_cursor": null}),
    );
    a
}

fn creds(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", TEST_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
    ]
}

fn env_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, val)| (*k, val.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_pass_an_independent_verifier() {
    let (base, log) = verifier::serve(expect("eu-west-1"), answers()).await;
    let api = format!("{base}/api");
    let env = creds(TEST_SECRET);
    let env = env_refs(&env);
    let signed = [
        "--api",
        api.as_str(),
        "--sign",
        "--region",
        "eu-west-1",
        "--json",
    ];

    let o = backflow_async(&[&signed[..], &["syncs"]].concat(), &env).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(stdout_json(&o), answers()["GET /api/syncs"], "{}", show(&o));

    // A POST: the body is covered by the signature.
    let o = backflow_async(
        &[&signed[..], &["run", "users", "--no-wait"]].concat(),
        &env,
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(stdout_json(&o)["run_id"], "20260101T000000Z-0000abcd");

    // Every page, with an encoded run id and cursor in the signed URL.
    let o = backflow_async(&[&signed[..], &["rows", "r 1"]].concat(), &env).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let rows = stdout_json(&o)["rows"].clone();
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{}", show(&o));
    assert_eq!(rows[1]["code"], "not_found");

    // Temporary credentials: the session token is sent and signed.
    let mut with_token = creds(TEST_SECRET);
    with_token.push(("AWS_SESSION_TOKEN", "session-token-123".into()));
    let o = backflow_async(&[&signed[..], &["syncs"]].concat(), &env_refs(&with_token)).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    let log = log.lock().unwrap();
    assert_eq!(log.requests.len(), 5, "{:?}", log.requests);
    assert!(
        log.requests.iter().all(|(_, _, ok)| *ok),
        "{:?}",
        log.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_say_what_to_do() {
    let (base, _log) = verifier::serve(expect("eu-west-1"), answers()).await;
    let api = format!("{base}/api");

    // A wrong secret: API Gateway's 403, explained.
    let env = creds("not-the-secret");
    let o = backflow_async(
        &["--api", &api, "--sign", "--region", "eu-west-1", "syncs"],
        &env_refs(&env),
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "the API refused the request: The request signature we calculated does not match"
        ),
        "{}",
        show(&o)
    );
    assert!(err.contains("aws sts get-caller-identity"), "{}", show(&o));

    // The wrong region: the credential scope is refused.
    let env = creds(TEST_SECRET);
    let o = backflow_async(
        &["--api", &api, "--sign", "--region", "us-east-1", "syncs"],
        &env_refs(&env),
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("execute-api:Invoke"),
        "{}",
        show(&o)
    );

    // Not signed at all.
    let o = backflow_async(&["--api", &api, "syncs"], &[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("use --stack NAME"),
        "{}",
        show(&o)
    );

    // No credentials anywhere.
    let o = backflow_async(
        &["--api", &api, "--sign", "--region", "eu-west-1", "syncs"],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no AWS credentials to sign the request with"),
        "{}",
        show(&o)
    );
}
