use serde_json::json;

use super::*;

fn event(method: &str, path: &str) -> Value {
    json!({"requestContext": {"http": {"method": method}}, "rawPath": path})
}

fn post(path: &str, body: &str) -> Value {
    let mut e = event("POST", path);
    e["body"] = json!(body);
    e
}

#[test]
fn routes() {
    let cases = [
        ("GET", "/syncs", Route::ListSyncs),
        ("GET", "/syncs/", Route::ListSyncs),
        ("GET", "/lambda-url/trigger/syncs", Route::ListSyncs),
        ("POST", "/syncs/users/runs", Route::StartRun("users".into())),
        ("POST", "/syncs/a%20b/runs", Route::StartRun("a b".into())),
        (
            "POST",
            "/syncs/caf%C3%A9/runs",
            Route::StartRun("café".into()),
        ),
        ("POST", "/syncs/café/runs", Route::StartRun("café".into())),
        ("GET", "/runs/r1", Route::GetRun("r1".into())),
        (
            "GET",
            "/lambda-url/trigger/runs/20261129T111444Z-606c45ac/rows",
            Route::RunRows("20261129T111444Z-606c45ac".into()),
        ),
    ];
    for (method, path, want) in cases {
        assert_eq!(route(method, path), Ok(want), "{method} {path}");
    }
}

#[test]
fn refused_routes_say_why_with_a_4xx() {
    let cases = [
        ("DELETE", "/syncs", 405),
        ("GET", "/syncs/users/runs", 405),
        ("BREW", "/runs/r1", 405),
        ("GET", "/nope", 404),
        ("GET", "/", 404),
        ("GET", "", 404),
        ("POST", "/syncs//runs", 404),
        ("GET", "/runs//rows", 404),
        // Multi-byte characters right after `%`: once a panic (byte slicing).
        ("GET", "/runs/%aé", 400),
        ("GET", "/runs/%é", 400),
        ("POST", "/syncs/%aé/runs", 400),
        ("GET", "/runs/%", 400),
        ("GET", "/runs/%4", 400),
        ("GET", "/runs/%zz", 400),
        ("POST", "/syncs/%zz/runs", 400),
        // Not UTF-8 once decoded: never matched lossily against another name.
        ("POST", "/syncs/%FF/runs", 400),
        ("POST", "/syncs/users%C3/runs", 400),
        ("POST", "/syncs/%00/runs", 400),
        ("POST", "/syncs/a%0Ab/runs", 400),
        ("POST", "/syncs/../runs", 400),
        ("POST", "/syncs/%2E%2E/runs", 400),
        ("POST", "/syncs/./runs", 400),
        // Not a run id: no DynamoDB key is built from it.
        ("GET", "/runs/a%20b", 404),
        ("GET", "/runs/%2F", 404),
    ];
    for (method, path, status) in cases {
        let refusal = route(method, path).expect_err(path);
        assert_eq!(refusal.status, status, "{method} {path}: {refusal:?}");
        assert!(!refusal.message.is_empty());
    }
    let long = format!("/runs/{}", "a".repeat(MAX_PATH_BYTES));
    assert_eq!(route("GET", &long).unwrap_err().status, 414);
    let long_id = format!("/runs/{}", "a".repeat(200));
    assert_eq!(route("GET", &long_id).unwrap_err().status, 404);
}

#[test]
fn messages_echo_a_bounded_escaped_excerpt() {
    let path = format!("/{}\u{7}", "x".repeat(10_000));
    let refusal = route("GET", &path).unwrap_err();
    assert_eq!(refusal.status, 414);
    let refusal = route("GET", &format!("/{}", "é".repeat(1_000))).unwrap_err();
    assert!(refusal.message.chars().count() < 400, "{}", refusal.message);
    assert!(refusal.message.ends_with('…'), "{}", refusal.message);
    let refusal = route("GET", "/a\u{1b}[31m").unwrap_err();
    assert!(!refusal.message.contains('\u{1b}'), "{}", refusal.message);
    // Found by the http_request fuzz target: escaped control characters (up to
    // 10 characters each) made a 405 message of 503 characters.
    let method = format!("{}GEZ", "\u{fffd}".repeat(26));
    let path = format!("/runs/20261129T1{}", "\u{19}".repeat(60));
    let refusal = route(&method, &path).unwrap_err();
    assert_eq!(refusal.status, 405);
    assert!(
        refusal.message.chars().count() <= MAX_MESSAGE_CHARS + 1,
        "{} chars",
        refusal.message.chars().count()
    );
}

#[test]
fn run_requests_are_objects_only() {
    assert_eq!(run_options(""), Ok(RunOptions::default()));
    assert_eq!(run_options("  \n"), Ok(RunOptions::default()));
    assert_eq!(run_options("{}"), Ok(RunOptions::default()));
    assert_eq!(
        run_options(r#"{"dry_run":true,"allow_mass_removal":true}"#),
        Ok(RunOptions {
            dry_run: true,
            full_resync: false,
            allow_mass_removal: true
        })
    );
    for (body, says) in [
        ("[]", "must be a JSON object"),
        ("[true]", "not an array"),
        ("\"x\"", "not a string"),
        ("null", "not null"),
        ("1", "not a number"),
        ("true", "not a boolean"),
        (r#"{"dry_run":"yes"}"#, "expected a boolean"),
        (r#"{"dry_run":1}"#, "expected a boolean"),
        (r#"{"dryrun":true}"#, "unknown field `dryrun`"),
        (r#"{"dry_run":true"#, "not valid JSON"),
        (r#"{"dry_run":true}{}"#, "not valid JSON"),
        (r#"{"dry_run":true,"dry_run":false}"#, "duplicate field"),
    ] {
        let refusal = run_options(body).expect_err(body);
        assert_eq!(refusal.status, 400, "{body}");
        assert!(
            refusal.message.contains(says),
            "{body}: {}",
            refusal.message
        );
    }
    let deep = "[".repeat(100_000);
    assert_eq!(run_options(&deep).unwrap_err().status, 400);
    let deep = format!("{{\"a\":{}", "[".repeat(100_000));
    assert_eq!(run_options(&deep).unwrap_err().status, 400);
}

#[test]
fn bodies_are_decoded_bounded_and_utf8() {
    let e = json!({"body": "eyJkcnlfcnVuIjp0cnVlfQ==", "isBase64Encoded": true});
    assert_eq!(body_text(&e).unwrap(), r#"{"dry_run":true}"#);
    assert_eq!(body_text(&json!({})).unwrap(), "");
    assert_eq!(body_text(&json!({"body": null})).unwrap(), "");
    let cases = [
        (
            json!({"body": "!!!", "isBase64Encoded": true}),
            400,
            "base64",
        ),
        (
            json!({"body": "/w==", "isBase64Encoded": true}),
            400,
            "not UTF-8",
        ),
        (
            json!({"body": "e30=", "isBase64Encoded": "yes"}),
            400,
            "isBase64Encoded",
        ),
        (json!({"body": 12}), 400, "`body` is a number"),
        (
            json!({"body": {"dry_run": true}}),
            400,
            "`body` is an object",
        ),
        (
            json!({"body": "x".repeat(MAX_BODY_BYTES + 1)}),
            413,
            "at most",
        ),
        (
            json!({"body": "QUFB".repeat(MAX_BODY_BYTES / 3 + 2), "isBase64Encoded": true}),
            413,
            "at most",
        ),
    ];
    for (e, status, says) in cases {
        let refusal = body_text(&e).expect_err(says);
        assert_eq!(refusal.status, status, "{says}: {refusal:?}");
        assert!(refusal.message.contains(says), "{}", refusal.message);
    }
}

#[test]
fn queries_from_raw_or_map() {
    let e = json!({"rawQueryString": "a=1&outcome=not_found"});
    assert_eq!(
        query_param(&e, "outcome").unwrap().as_deref(),
        Some("not_found")
    );
    let e = json!({"rawQueryString": "outcome=not%5Ffound&limit=5"});
    assert_eq!(
        query_param(&e, "outcome").unwrap().as_deref(),
        Some("not_found")
    );
    let e = json!({"rawQueryString": "&&outcome&x=%C3%A9+b"});
    assert_eq!(query_param(&e, "outcome").unwrap().as_deref(), Some(""));
    assert_eq!(query_param(&e, "x").unwrap().as_deref(), Some("é b"));
    let e = json!({"queryStringParameters": {"outcome": "invalid"}});
    assert_eq!(
        query_param(&e, "outcome").unwrap().as_deref(),
        Some("invalid")
    );
    assert_eq!(query_param(&json!({}), "outcome").unwrap(), None);
    for e in [
        json!({"rawQueryString": "outcome=%aé"}),
        json!({"rawQueryString": "outcome=%FF"}),
        json!({"rawQueryString": "outcome=a&outcome=b"}),
        json!({"rawQueryString": "%zz=1"}),
        json!({"rawQueryString": 5}),
        json!({"queryStringParameters": {"outcome": ["invalid"]}}),
        json!({"queryStringParameters": "outcome=invalid"}),
    ] {
        assert_eq!(query_param(&e, "outcome").unwrap_err().status, 400, "{e}");
    }
    let e = json!({"rawQueryString": "a".repeat(MAX_QUERY_BYTES + 1)});
    assert_eq!(query_param(&e, "outcome").unwrap_err().status, 414);
}

#[test]
fn whole_requests() {
    assert_eq!(parse(&event("GET", "/syncs")), Ok(Request::ListSyncs));
    assert_eq!(
        parse(&post("/syncs/users/runs", r#"{"full_resync":true}"#)),
        Ok(Request::StartRun {
            sync: "users".into(),
            options: RunOptions {
                full_resync: true,
                ..RunOptions::default()
            }
        })
    );
    let mut e = event("GET", "/runs/r1/rows");
    e["rawQueryString"] = json!("outcome=rejected");
    assert_eq!(
        parse(&e),
        Ok(Request::RunRows {
            run_id: "r1".into(),
            outcome: Some(Outcome::Rejected)
        })
    );
    e["rawQueryString"] = json!("outcome=created");
    assert_eq!(parse(&e).unwrap_err().status, 400);
    // A GET's body is not read.
    let mut e = event("GET", "/runs/r1");
    e["body"] = json!("[]");
    assert_eq!(
        parse(&e),
        Ok(Request::GetRun {
            run_id: "r1".into()
        })
    );
    for e in [
        post("/syncs/users/runs", "[]"),
        post("/syncs/users/runs", "[true]"),
        json!({"requestContext": {}, "rawPath": "/syncs"}),
        json!({"requestContext": {"http": {"method": 1}}, "rawPath": "/syncs"}),
        json!({"requestContext": {"http": {"method": "GET"}}, "rawPath": ["/syncs"]}),
    ] {
        assert_eq!(parse(&e).unwrap_err().status, 400, "{e}");
    }
}
