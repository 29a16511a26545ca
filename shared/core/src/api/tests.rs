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
        ("GET", "/syncs/users/runs", Route::SyncRuns("users".into())),
        (
            "GET",
            "/syncs/caf%C3%A9/runs/",
            Route::SyncRuns("café".into()),
        ),
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
        ("PUT", "/syncs/users/runs", 405),
        ("GET", "/syncs/%FF/runs", 400),
        ("GET", "/syncs/../runs", 400),
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
            outcome: Some(Outcome::Rejected),
            limit: ROWS_LIMIT.default,
            after: None,
            csv: false,
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

fn get(path: &str, query: &str) -> Value {
    let mut e = event("GET", path);
    e["rawQueryString"] = json!(query);
    e
}

const RUN: &str = "20261206T100000Z-abcd1234";

fn rows_after(outcome: Outcome, seq: u32, index: u32) -> RowsAfter {
    RowsAfter {
        outcome,
        seq,
        index,
    }
}

#[test]
fn limits_are_whole_numbers_in_range() {
    let cases = [
        (None, Ok(20)),
        (Some(""), Ok(20)),
        (Some("1"), Ok(1)),
        (Some("100"), Ok(100)),
        (Some("007"), Ok(7)),
        (Some("0"), Err(())),
        (Some("101"), Err(())),
        (Some("-1"), Err(())),
        (Some("+5"), Err(())),
        (Some("2.5"), Err(())),
        (Some("1e2"), Err(())),
        (Some("0x10"), Err(())),
        (Some("ten"), Err(())),
        (Some("99999999999999999999999999"), Err(())),
        (Some("１０"), Err(())),
    ];
    for (raw, want) in cases {
        let got = paging::limit(raw, RUNS_LIMIT);
        match (got, want) {
            (Ok(n), Ok(w)) => assert_eq!(n, w, "{raw:?}"),
            (Err(refusal), Err(())) => {
                assert_eq!(refusal.status, 400, "{raw:?}");
                assert!(refusal.message.contains("from 1 to 100"), "{refusal:?}");
            }
            (got, want) => panic!("{raw:?}: got {got:?}, want {want:?}"),
        }
    }
    assert_eq!(paging::limit(None, ROWS_LIMIT), Ok(1000));
    assert_eq!(paging::limit(Some("10000"), ROWS_LIMIT), Ok(10_000));
    assert_eq!(
        paging::limit(Some("10001"), ROWS_LIMIT).unwrap_err().status,
        400
    );
}

#[test]
fn cursors_round_trip_within_their_listing_only() {
    let after = RunsAfter {
        started_at: "2026-12-06T10:00:00Z".into(),
        run_id: RUN.into(),
    };
    let cursor = after.cursor("users");
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe without escaping: {cursor}"
    );
    assert_eq!(RunsAfter::from_cursor(&cursor, "users"), Ok(after.clone()));
    // Another sync's cursor never reads this one's runs.
    let refusal = RunsAfter::from_cursor(&cursor, "companies").unwrap_err();
    assert_eq!(refusal.status, 400);
    assert!(refusal.message.contains("another listing"), "{refusal:?}");
    // Nor a rows cursor, nor a run's cursor of another run.
    let rows = rows_after(Outcome::NotFound, 999_999, 10_499);
    let rows_cursor = rows.cursor(RUN);
    assert_eq!(RowsAfter::from_cursor(&rows_cursor, RUN, None), Ok(rows));
    assert_eq!(
        RowsAfter::from_cursor(&rows_cursor, RUN, Some(Outcome::NotFound)),
        Ok(rows)
    );
    for (cursor, run) in [
        (rows_cursor.as_str(), "20261206T100000Z-other"),
        (cursor.as_str(), RUN),
    ] {
        assert_eq!(
            RowsAfter::from_cursor(cursor, run, None)
                .unwrap_err()
                .status,
            400
        );
    }
    // A cursor of the not_found rows does not continue the invalid ones.
    let refusal = RowsAfter::from_cursor(&rows_cursor, RUN, Some(Outcome::Invalid)).unwrap_err();
    assert!(
        refusal.message.contains("not_found rows, not the invalid"),
        "{refusal:?}"
    );
}

#[test]
fn forged_and_garbage_cursors_are_refused() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let forged = |text: &str| URL_SAFE_NO_PAD.encode(text);
    let runs = [
        "garbage".to_string(),
        "!!!".to_string(),
        "%".to_string(),
        forged(""),
        forged("v1\nruns:users"),
        forged("v2\nruns:users\n2026-12-06T10:00:00Z r1"),
        forged("v1\nruns:users\n2026-12-06T10:00:00Z"),
        forged("v1\nruns:users\nyesterday r1"),
        forged("v1\nruns:users\n2026-12-06T10:00:00Z ../x"),
        forged("v1\nruns:users\n2026-12-06T10:00:00Z a b"),
        forged("v1\nruns:users\n\n2026-12-06T10:00:00Z r1"),
        forged("v1\nruns:user\n2026-12-06T10:00:00Z r1"),
        URL_SAFE_NO_PAD.encode([0xff, 0xfe, b'\n']),
        // Standard base64 with `+` and `/`: not what this API gives.
        STANDARD.encode("v1\nruns:users\n2026-12-06T10:00:00Z r1???>>>"),
        "a".repeat(3000),
    ];
    for cursor in &runs {
        let refusal = RunsAfter::from_cursor(cursor, "users").expect_err(cursor);
        assert_eq!(refusal.status, 400, "{cursor}");
        assert!(refusal.message.contains("cursor"), "{refusal:?}");
        assert!(refusal.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
    for text in [
        "v1\nrows:r1\ninvalid 1",
        "v1\nrows:r1\ninvalid 1 2 3",
        "v1\nrows:r1\nbogus 1 2",
        "v1\nrows:r1\ninvalid -1 2",
        "v1\nrows:r1\ninvalid 1 1234567",
        "v1\nrows:r1\ninvalid 1 99999999999999999999",
        "v1\nrows:r1\ninvalid  1 2",
    ] {
        let refusal = RowsAfter::from_cursor(&forged(text), "r1", None).expect_err(text);
        assert_eq!(refusal.status, 400, "{text}");
    }
    assert!(RowsAfter::from_cursor(&forged("v1\nrows:r1\ninvalid 1 2"), "r1", None).is_ok());
}

#[test]
fn listing_requests() {
    let page = |sync: &str, limit, after| Request::SyncRuns {
        sync: sync.into(),
        limit,
        after,
    };
    let after = RunsAfter {
        started_at: "2026-12-06T10:00:00Z".into(),
        run_id: RUN.into(),
    };
    let cursor = after.cursor("users");
    let rows_cursor = rows_after(Outcome::Invalid, 999_999, 3).cursor(RUN);
    let rows_path = format!("/runs/{RUN}/rows");
    let ok = [
        (get("/syncs/users/runs", ""), page("users", 20, None)),
        (
            get("/syncs/users/runs", "limit=2&utm_source=x&cursor="),
            page("users", 2, None),
        ),
        (
            get("/syncs/users/runs", &format!("cursor={cursor}&limit=100")),
            page("users", 100, Some(after.clone())),
        ),
        (
            get(
                &rows_path,
                &format!("outcome=invalid&limit=10000&cursor={rows_cursor}"),
            ),
            Request::RunRows {
                run_id: RUN.into(),
                outcome: Some(Outcome::Invalid),
                limit: 10_000,
                after: Some(rows_after(Outcome::Invalid, 999_999, 3)),
                csv: false,
            },
        ),
    ];
    for (e, want) in ok {
        assert_eq!(parse(&e), Ok(want), "{e}");
    }
    let refused = [
        (get("/syncs/users/runs", "limit=0"), "limit"),
        (get("/syncs/users/runs", "limit=-3"), "limit"),
        (get("/syncs/users/runs", "limit=101"), "limit"),
        (get("/syncs/users/runs", "limit=lots"), "limit"),
        (
            get("/syncs/users/runs", "limit=1&limit=2"),
            "more than once",
        ),
        (get("/syncs/users/runs", "cursor=garbage"), "cursor"),
        (
            get("/syncs/companies/runs", &format!("cursor={cursor}")),
            "another listing",
        ),
        (
            get(&rows_path, &format!("cursor={cursor}")),
            "another listing",
        ),
        (get(&rows_path, "limit=10001"), "from 1 to 10000"),
        (
            get(
                &rows_path,
                &format!("outcome=rejected&cursor={rows_cursor}"),
            ),
            "invalid rows, not the rejected",
        ),
    ];
    for (e, says) in refused {
        let refusal = parse(&e).expect_err(says);
        assert_eq!(refusal.status, 400, "{e}");
        assert!(refusal.message.contains(says), "{says}: {refusal:?}");
    }
}

#[test]
fn csv_only_when_accept_asks_for_it() {
    let with_accept = |headers: Value| {
        let mut e = get(&format!("/runs/{RUN}/rows"), "");
        e["headers"] = headers;
        e
    };
    let csv = |e: &Value| match parse(e) {
        Ok(Request::RunRows { csv, .. }) => Ok(csv),
        Ok(other) => panic!("{other:?}"),
        Err(refusal) => Err(refusal.status),
    };
    let cases = [
        (json!(null), Ok(false)),
        (json!({}), Ok(false)),
        (json!({"accept": "application/json"}), Ok(false)),
        (json!({"accept": "*/*"}), Ok(false)),
        (json!({"accept": "text/csv"}), Ok(true)),
        (json!({"Accept": "TEXT/CSV; charset=utf-8"}), Ok(true)),
        (
            json!({"accept": "application/json, text/csv;q=0.5"}),
            Ok(true),
        ),
        (json!({"accept": "text/csv;q=0"}), Ok(false)),
        (
            json!({"accept": "text/csv;q=0.0, application/json"}),
            Ok(false),
        ),
        (json!({"accept": "text/csvx"}), Ok(false)),
        (json!({"accept": ["text/csv"]}), Err(400)),
        (json!("accept: text/csv"), Err(400)),
    ];
    for (headers, want) in cases {
        assert_eq!(csv(&with_accept(headers.clone())), want, "{headers}");
    }
}

#[test]
fn csv_quotes_rfc4180_and_defuses_formulas() {
    use crate::run::RowReport;
    let row = |key: Option<&str>, outcome, reason: &str, code: Option<&str>, n| RowReport {
        key: key.map(str::to_string),
        outcome,
        reason: reason.into(),
        code: code.map(str::to_string),
        row: n,
    };
    let text = csv::rows(&[
        row(
            Some("7"),
            Outcome::Invalid,
            "email `x` is not an email",
            None,
            Some(3),
        ),
        row(
            Some(r#"{"a":1,"b":"x"}"#),
            Outcome::Rejected,
            "Intercom said \"no\", twice\r\nthen stopped",
            Some("conflict"),
            None,
        ),
        row(
            Some("=HYPERLINK(\"x\")"),
            Outcome::NotFound,
            "+1",
            Some("@x"),
            None,
        ),
        row(None, Outcome::Invalid, "-", None, None),
    ]);
    let want = [
        "key,outcome,reason,code,row",
        "7,invalid,email `x` is not an email,,3",
        r#""{""a"":1,""b"":""x""}",rejected,"Intercom said ""no"", twice"#,
        r#"then stopped",conflict,"#,
        r#""'=HYPERLINK(""x"")",not_found,'+1,'@x,"#,
        ",invalid,'-,,",
        "",
    ]
    .join("\r\n");
    assert_eq!(text, want);
    assert_eq!(csv::record(&["\tx", "a\rb"]), "'\tx,\"a\rb\"\r\n");
    assert_eq!(csv::record(&["'=already"]), "'=already\r\n");
}
