//! What the stand-ins cannot show, against the documented wire format served by
//! a small local server (answers shaped as Snowflake's and Google's, as their
//! official drivers read them): Snowflake's key-pair (JWT) login, a refused
//! password, result chunks (SSE-C headers, gzip, JSON and Arrow) fetched as
//! the rows are read, a long-running query polled and then timed out; BigQuery's
//! service-account token exchange, a refused key, a job that is not complete at
//! first, and one that never completes. These are untested against the real
//! services (see docs/warehouses.md).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backflow_core::secret::Secret;
use backflow_core::value::Value;
use backflow_warehouse::{Error, SnowflakeAuth, Source, Warehouse};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value as JsonValue};

use super::{collect, text};
use Value::{Int, Null, Timestamp};

const KEY: &str = include_str!("../data/rsa_key.p8");
const KEY_FINGERPRINT: &str = include_str!("../data/rsa_key.fp");
const PUBLIC_KEY: &str = include_str!("../data/rsa_key.pub");

/// Serves `app` on a free loopback port; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Checks an RS256 JWT with the test key's public half; its claims.
fn verified_claims(jwt: &str) -> JsonValue {
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    let der: String = PUBLIC_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let spki = STANDARD.decode(der).unwrap();
    // SubjectPublicKeyInfo → its RSAPublicKey: the BIT STRING at the end (a
    // 2048-bit key's is the last 270 bytes).
    let rsa_public_key = &spki[spki.len() - 270..];
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the JWT's signature verifies with the user's public key");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

// ---------------------------------------------------------------- Snowflake

#[derive(Default)]
struct Snowflake {
    /// The answer to the query request; `None` = "still running" forever.
    answer: Mutex<Option<JsonValue>>,
    /// Result polls answered "still running" before the answer.
    polls_running: AtomicUsize,
    polls: AtomicUsize,
    aborts: AtomicUsize,
    chunks: Mutex<Vec<(Vec<u8>, bool)>>,
    downloads: AtomicUsize,
    login: Mutex<Option<JsonValue>>,
}

fn running() -> JsonValue {
    json!({"data": {"getResultUrl": "/queries/01b0/result", "queryId": "01b0"},
           "code": "333333", "message": "Asynchronous execution in progress.", "success": true})
}

fn snowflake_app(state: Arc<Snowflake>) -> Router {
    async fn login(
        State(s): State<Arc<Snowflake>>,
        Json(body): Json<JsonValue>,
    ) -> Json<JsonValue> {
        *s.login.lock().unwrap() = Some(body.clone());
        let data = &body["data"];
        let refused = json!({"data": {"nextAction": "RETRY_LOGIN"}, "code": "390100",
            "message": "Incorrect username or password was specified.", "success": false});
        let ok = match data["AUTHENTICATOR"].as_str() {
            Some("SNOWFLAKE_JWT") => {
                let claims = verified_claims(data["TOKEN"].as_str().unwrap());
                claims["iss"] == format!("BACKFLOW_TEST.BACKFLOW.SHA256:{}", KEY_FINGERPRINT.trim())
                    && claims["sub"] == "BACKFLOW_TEST.BACKFLOW"
            }
            _ => data["PASSWORD"] == "right",
        };
        Json(if ok {
            json!({"data": {"token": "session-t0ken"}, "success": true})
        } else {
            refused
        })
    }
    async fn query(State(s): State<Arc<Snowflake>>, headers: HeaderMap) -> Json<JsonValue> {
        assert_eq!(
            headers["authorization"],
            "Snowflake Token=\"session-t0ken\""
        );
        match (
            s.polls_running.load(Ordering::SeqCst),
            s.answer.lock().unwrap().clone(),
        ) {
            (0, Some(answer)) => Json(answer),
            _ => Json(running()),
        }
    }
    async fn result(State(s): State<Arc<Snowflake>>, headers: HeaderMap) -> Json<JsonValue> {
        assert_eq!(
            headers["authorization"],
            "Snowflake Token=\"session-t0ken\""
        );
        let poll = s.polls.fetch_add(1, Ordering::SeqCst) + 1;
        match s.answer.lock().unwrap().clone() {
            Some(answer) if poll >= s.polls_running.load(Ordering::SeqCst) => Json(answer),
            _ => Json(running()),
        }
    }
    async fn abort(State(s): State<Arc<Snowflake>>) -> Json<JsonValue> {
        s.aborts.fetch_add(1, Ordering::SeqCst);
        Json(json!({"success": true}))
    }
    async fn chunk(
        State(s): State<Arc<Snowflake>>,
        Path(i): Path<usize>,
        headers: HeaderMap,
    ) -> Response {
        // No session token on a chunk; the SSE-C headers from `qrmk` instead.
        if headers.contains_key("authorization")
            || headers
                .get("x-amz-server-side-encryption-customer-key")
                .map(|v| v.as_bytes())
                != Some(b"cXJtaw==")
            || headers
                .get("x-amz-server-side-encryption-customer-algorithm")
                .map(|v| v.as_bytes())
                != Some(b"AES256")
        {
            return (
                StatusCode::FORBIDDEN,
                "<Error><Code>AccessDenied</Code></Error>",
            )
                .into_response();
        }
        s.downloads.fetch_add(1, Ordering::SeqCst);
        let (body, gzip) = s.chunks.lock().unwrap()[i].clone();
        let body = if gzip {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&body).unwrap();
            encoder.finish().unwrap()
        } else {
            body
        };
        Bytes::from(body).into_response()
    }
    Router::new()
        .route("/session/v1/login-request", post(login))
        .route("/queries/v1/query-request", post(query))
        .route("/queries/01b0/result", get(result))
        .route("/queries/v1/abort-request", post(abort))
        .route("/chunks/{i}", get(chunk))
        .with_state(state)
}

async fn snowflake(
    state: &Arc<Snowflake>,
    auth: SnowflakeAuth,
    timeout: Duration,
) -> Result<Warehouse, Error> {
    let base = serve(snowflake_app(state.clone())).await;
    let mut source = super::snowflake::source(&base, "ANALYTICS");
    source.account = "backflow_test.eu-west-1".into();
    source.auth = auth;
    source.query_timeout = timeout;
    Warehouse::connect_named("snow", &Source::Snowflake(source)).await
}

fn password(p: &str) -> SnowflakeAuth {
    SnowflakeAuth::Password(Secret::new(p))
}

#[tokio::test]
async fn snowflake_key_pair_login_sends_a_jwt_the_users_public_key_verifies() {
    let state = Arc::new(Snowflake::default());
    *state.answer.lock().unwrap() = Some(
        json!({"data": {"rowtype": [{"name": "ONE", "type": "fixed", "scale": 0}],
        "rowset": [["1"]], "queryResultFormat": "json"}, "success": true}),
    );
    let auth = SnowflakeAuth::KeyPair {
        private_key: Secret::new(KEY),
        passphrase: None,
    };
    let warehouse = snowflake(&state, auth, Duration::from_secs(10))
        .await
        .unwrap();
    let login = state.login.lock().unwrap().clone().unwrap();
    assert_eq!(login["data"]["ACCOUNT_NAME"], "BACKFLOW_TEST");
    assert!(login["data"].get("PASSWORD").is_none());
    let rows = collect(warehouse.stream("m", "SELECT 1 AS one").await.unwrap()).await;
    assert_eq!(rows, vec![vec![Int(1)]]);
}

#[tokio::test]
async fn snowflake_refused_password_names_the_warehouse_and_snowflakes_reason() {
    let state = Arc::new(Snowflake::default());
    let err = snowflake(&state, password("wr0ng-pass"), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let message = err.to_string();
    assert_eq!(
        message,
        "could not connect to the warehouse `snow` (Snowflake account backflow_test.eu-west-1): \
         Incorrect username or password was specified. (390100)"
    );
    super::assert_hides(&err, &["wr0ng-pass"]);
}

/// Three JSON chunks after two inline rows: the first gzip, the second plain,
/// fetched one at a time as the rows are read.
#[tokio::test]
async fn snowflake_json_chunks_are_fetched_as_the_rows_are_read() {
    let state = Arc::new(Snowflake::default());
    *state.chunks.lock().unwrap() = vec![
        (
            br#"["3", "1704164645.678000000"], ["4", null]"#.to_vec(),
            true,
        ),
        (br#"["5", "-0.5"]"#.to_vec(), false),
    ];
    let base_chunks = |base: &str| json!([{"url": format!("{base}/chunks/0"), "rowCount": 2}, {"url": format!("{base}/chunks/1"), "rowCount": 1}]);
    let base = serve(snowflake_app(state.clone())).await;
    *state.answer.lock().unwrap() = Some(json!({"data": {
        "rowtype": [{"name": "ID", "type": "fixed", "scale": 0}, {"name": "AT", "type": "timestamp_ntz", "scale": 9}],
        "rowset": [["1", "0"], ["2", null]], "queryResultFormat": "json",
        "chunks": base_chunks(&base), "qrmk": "cXJtaw=="}, "success": true}));
    let mut source = super::snowflake::source(&base, "ANALYTICS");
    source.auth = password("right");
    let warehouse = Warehouse::connect(&Source::Snowflake(source))
        .await
        .unwrap();
    let mut rows = warehouse.stream("m", "SELECT id, at FROM t").await.unwrap();
    let mut seen = Vec::new();
    let mut downloads_before = Vec::new();
    while let Some(row) = rows.next().await {
        downloads_before.push(state.downloads.load(Ordering::SeqCst));
        seen.push(row.unwrap());
    }
    assert_eq!(
        seen,
        vec![
            vec![Int(1), Timestamp(0)],
            vec![Int(2), Null],
            vec![Int(3), Timestamp(1_704_164_645)],
            vec![Int(4), Null],
            vec![Int(5), Timestamp(-1)],
        ]
    );
    // No chunk before the inline rows are read; each when its first row is.
    assert_eq!(downloads_before, vec![0, 0, 1, 1, 2]);
}

/// An Arrow IPC stream of one batch: (id int64, at timestamp struct, s utf8).
fn arrow_piece(ids: std::ops::Range<i64>) -> Vec<u8> {
    use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, StructArray};
    use arrow_schema::{DataType, Field, Fields, Schema};
    use std::collections::HashMap;
    let meta = |t: &str, scale: &str| -> HashMap<String, String> {
        [
            ("logicalType".to_string(), t.to_string()),
            ("scale".to_string(), scale.to_string()),
        ]
        .into()
    };
    let ts_fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, true),
        Field::new("fraction", DataType::Int32, true),
    ]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("ID", DataType::Int64, true).with_metadata(meta("FIXED", "0")),
        Field::new("AT", DataType::Struct(ts_fields.clone()), true)
            .with_metadata(meta("TIMESTAMP_NTZ", "9")),
        Field::new("S", DataType::Utf8, true).with_metadata(meta("TEXT", "0")),
    ]));
    let n = ids.clone().count();
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(ids.clone()));
    let at: ArrayRef = Arc::new(StructArray::new(
        ts_fields,
        vec![
            Arc::new(Int64Array::from_iter_values(
                ids.clone().map(|i| 1_700_000_000 + i),
            )),
            Arc::new(Int32Array::from_iter_values(std::iter::repeat_n(
                500_000_000,
                n,
            ))),
        ],
        None,
    ));
    let s: ArrayRef = Arc::new(StringArray::from_iter_values(
        ids.map(|i| format!("user-{i}")),
    ));
    let batch = RecordBatch::try_new(schema.clone(), vec![id, at, s]).unwrap();
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

#[tokio::test]
async fn snowflake_arrow_result_and_chunks() {
    let state = Arc::new(Snowflake::default());
    *state.chunks.lock().unwrap() = vec![(arrow_piece(3..5), true), (arrow_piece(5..6), false)];
    let base = serve(snowflake_app(state.clone())).await;
    let rowtype = json!([{"name": "ID", "type": "fixed", "scale": 0},
        {"name": "AT", "type": "timestamp_ntz", "scale": 9}, {"name": "S", "type": "text"}]);
    *state.answer.lock().unwrap() = Some(json!({"data": {"rowtype": rowtype,
        "rowsetBase64": STANDARD.encode(arrow_piece(1..3)), "queryResultFormat": "arrow",
        "chunks": [{"url": format!("{base}/chunks/0"), "rowCount": 2}, {"url": format!("{base}/chunks/1"), "rowCount": 1}],
        "qrmk": "cXJtaw=="}, "success": true}));
    let mut source = super::snowflake::source(&base, "ANALYTICS");
    source.auth = password("right");
    let warehouse = Warehouse::connect(&Source::Snowflake(source))
        .await
        .unwrap();
    let rows = collect(warehouse.stream("m", "SELECT * FROM t").await.unwrap()).await;
    let expected: Vec<Vec<Value>> = (1..6)
        .map(|i| {
            vec![
                Int(i),
                Timestamp(1_700_000_000 + i),
                text(&format!("user-{i}")),
            ]
        })
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(state.downloads.load(Ordering::SeqCst), 2);
}

/// Real Snowflake sends a large result as an inline first piece and then
/// chunks: each Arrow chunk (here of more rows than are converted at a time) is
/// downloaded only when its first row is read, so one chunk is in memory at a
/// time, however many there are.
#[tokio::test]
async fn snowflake_arrow_chunks_are_downloaded_one_at_a_time() {
    let (inline, per_chunk, count) = (3i64, 2_500i64, 6i64);
    let state = Arc::new(Snowflake::default());
    *state.chunks.lock().unwrap() = (0..count)
        .map(|c| {
            let first = 1 + inline + c * per_chunk;
            (arrow_piece(first..first + per_chunk), c % 2 == 0)
        })
        .collect();
    let base = serve(snowflake_app(state.clone())).await;
    let chunks: Vec<JsonValue> = (0..count)
        .map(|c| json!({"url": format!("{base}/chunks/{c}"), "rowCount": per_chunk}))
        .collect();
    *state.answer.lock().unwrap() = Some(json!({"data": {
        "rowtype": [{"name": "ID", "type": "fixed", "scale": 0},
            {"name": "AT", "type": "timestamp_ntz", "scale": 9}, {"name": "S", "type": "text"}],
        "rowsetBase64": STANDARD.encode(arrow_piece(1..1 + inline)), "queryResultFormat": "arrow",
        "chunks": chunks, "qrmk": "cXJtaw=="}, "success": true}));
    let mut source = super::snowflake::source(&base, "ANALYTICS");
    source.auth = password("right");
    let warehouse = Warehouse::connect(&Source::Snowflake(source))
        .await
        .unwrap();
    let mut rows = warehouse.stream("m", "SELECT * FROM t").await.unwrap();
    let mut id = 0;
    while let Some(row) = rows.next().await {
        id += 1;
        assert_eq!(row.unwrap()[0], Int(id));
        // Row `id` is in chunk `(id - inline - 1) / per_chunk`: that chunk and
        // those before it are downloaded, none after it.
        let chunks_needed = if id <= inline {
            0
        } else {
            (id - inline - 1) / per_chunk + 1
        };
        assert_eq!(
            state.downloads.load(Ordering::SeqCst) as i64,
            chunks_needed,
            "chunks downloaded when row {id} is read"
        );
    }
    assert_eq!(id, inline + count * per_chunk);
}

#[tokio::test]
async fn snowflake_polls_a_long_query_then_times_out_and_aborts_it() {
    let state = Arc::new(Snowflake::default());
    state.polls_running.store(2, Ordering::SeqCst);
    *state.answer.lock().unwrap() = Some(
        json!({"data": {"rowtype": [{"name": "N", "type": "fixed", "scale": 0}],
        "rowset": [["7"]], "queryResultFormat": "json"}, "success": true}),
    );
    let warehouse = snowflake(&state, password("right"), Duration::from_secs(20))
        .await
        .unwrap();
    let rows = collect(warehouse.stream("m", "SELECT 7").await.unwrap()).await;
    assert_eq!(rows, vec![vec![Int(7)]]);
    assert_eq!(
        state.polls.load(Ordering::SeqCst),
        2,
        "polled until the result"
    );

    let state = Arc::new(Snowflake::default());
    let warehouse = snowflake(&state, password("right"), Duration::from_secs(1))
        .await
        .unwrap();
    let err = warehouse
        .stream("slow", "SELECT SYSTEM$WAIT(3600)")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { seconds: 1, .. }), "{err:?}");
    assert!(
        err.to_string().contains("model `slow` on warehouse `snow`"),
        "{err}"
    );
    assert_eq!(
        state.aborts.load(Ordering::SeqCst),
        1,
        "the query is aborted"
    );
}

/// Rows in JSON chunks of 10,000, generated as they are downloaded: memory stays
/// flat because one chunk is held at a time.
#[tokio::test]
async fn snowflake_chunks_stream_in_bounded_memory() {
    let total = super::snowflake::standin_rows();
    let per_chunk = 10_000;
    let state = Arc::new(Snowflake::default());
    let chunks: Vec<(Vec<u8>, bool)> = (0..total / per_chunk)
        .map(|c| {
            let rows: Vec<String> = (c * per_chunk + 1..=(c + 1) * per_chunk)
                .map(|i| format!(r#"["{i}", "user-{i}@example.com", "{}.5"]"#, i / 2))
                .collect();
            (rows.join(",").into_bytes(), true)
        })
        .collect();
    let count = chunks.len();
    *state.chunks.lock().unwrap() = chunks;
    let base = serve(snowflake_app(state.clone())).await;
    let chunk_list: Vec<JsonValue> = (0..count)
        .map(|i| json!({"url": format!("{base}/chunks/{i}"), "rowCount": per_chunk}))
        .collect();
    *state.answer.lock().unwrap() = Some(
        json!({"data": {"rowtype": [{"name": "ID", "type": "fixed", "scale": 0},
        {"name": "EMAIL", "type": "text"}, {"name": "SCORE", "type": "fixed", "scale": 1}],
        "rowset": [], "queryResultFormat": "json", "chunks": chunk_list, "qrmk": "cXJtaw=="}, "success": true}),
    );
    let mut source = super::snowflake::source(&base, "ANALYTICS");
    source.auth = password("right");
    let warehouse = Warehouse::connect(&Source::Snowflake(source))
        .await
        .unwrap();
    super::assert_streams_rows_in_bounded_memory(&warehouse, "SELECT * FROM big", total).await;
}

// ---------------------------------------------------------------- BigQuery

#[derive(Default)]
struct Google {
    /// Calls of getQueryResults answered `jobComplete: false`; `usize::MAX` = never.
    incomplete: AtomicUsize,
    polls: AtomicUsize,
    cancels: AtomicUsize,
    refuse_token: std::sync::atomic::AtomicBool,
    token_uri: Mutex<String>,
}

fn google_app(state: Arc<Google>) -> Router {
    async fn token(State(s): State<Arc<Google>>, body: String) -> Response {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert!(
            form.contains(&(
                "grant_type".into(),
                "urn:ietf:params:oauth:grant-type:jwt-bearer".into()
            )),
            "{body}"
        );
        let assertion = &form.iter().find(|(k, _)| k == "assertion").unwrap().1;
        let claims = verified_claims(assertion);
        assert_eq!(claims["iss"], "backflow@acme.iam.gserviceaccount.com");
        assert_eq!(claims["scope"], "https://www.googleapis.com/auth/bigquery");
        assert_eq!(claims["aud"], *s.token_uri.lock().unwrap());
        if s.refuse_token.load(Ordering::SeqCst) {
            let refused =
                json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."});
            return (StatusCode::BAD_REQUEST, Json(refused)).into_response();
        }
        Json(json!({"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}))
            .into_response()
    }
    fn authorized(headers: &HeaderMap) {
        assert_eq!(headers["authorization"], "Bearer ya29.test-token");
    }
    fn page(complete: bool, token: Option<&str>, ids: &[i64]) -> JsonValue {
        let rows: Vec<JsonValue> = ids
            .iter()
            .map(|i| json!({"f": [{"v": i.to_string()}]}))
            .collect();
        let mut page = json!({"jobReference": {"projectId": "acme", "jobId": "job_1", "location": "EU"},
            "jobComplete": complete});
        if complete {
            page["schema"] =
                json!({"fields": [{"name": "id", "type": "INTEGER", "mode": "NULLABLE"}]});
            page["rows"] = json!(rows);
            page["totalRows"] = json!("3");
        }
        if let Some(token) = token {
            page["pageToken"] = json!(token);
        }
        page
    }
    async fn query(headers: HeaderMap, Json(body): Json<JsonValue>) -> Json<JsonValue> {
        authorized(&headers);
        assert_eq!(body["useLegacySql"], false);
        assert_eq!(body["location"], "EU");
        Json(page(false, None, &[]))
    }
    async fn results(
        State(s): State<Arc<Google>>,
        headers: HeaderMap,
        uri: axum::http::Uri,
    ) -> Json<JsonValue> {
        authorized(&headers);
        let query = uri.query().unwrap_or_default();
        assert!(query.contains("location=EU"), "{query}");
        if query.contains("pageToken=p2") {
            return Json(page(true, None, &[3]));
        }
        let poll = s.polls.fetch_add(1, Ordering::SeqCst);
        Json(if poll < s.incomplete.load(Ordering::SeqCst) {
            page(false, None, &[])
        } else {
            page(true, Some("p2"), &[1, 2])
        })
    }
    async fn cancel(State(s): State<Arc<Google>>) -> Json<JsonValue> {
        s.cancels.fetch_add(1, Ordering::SeqCst);
        Json(json!({"kind": "bigquery#jobCancelResponse"}))
    }
    Router::new()
        .route("/token", post(token))
        .route("/bigquery/v2/projects/acme/queries", post(query))
        .route("/bigquery/v2/projects/acme/queries/job_1", get(results))
        .route("/bigquery/v2/projects/acme/jobs/job_1/cancel", post(cancel))
        .with_state(state)
}

fn key_file(token_uri: &str) -> String {
    json!({"type": "service_account", "project_id": "acme", "private_key_id": "kid-1",
           "private_key": KEY, "client_email": "backflow@acme.iam.gserviceaccount.com",
           "token_uri": token_uri})
    .to_string()
}

async fn bigquery(state: &Arc<Google>, timeout: Duration) -> Result<Warehouse, Error> {
    let base = serve(google_app(state.clone())).await;
    *state.token_uri.lock().unwrap() = format!("{base}/token");
    let mut source = super::bigquery::source(&base, 2);
    source.project = "acme".into();
    source.location = Some("EU".into());
    source.credentials = Some(Secret::new(key_file(&format!("{base}/token"))));
    source.query_timeout = timeout;
    Warehouse::connect_named("bq", &Source::Bigquery(source)).await
}

#[tokio::test]
async fn bigquery_exchanges_the_service_account_key_then_waits_for_the_job_and_pages() {
    let state = Arc::new(Google::default());
    state.incomplete.store(1, Ordering::SeqCst);
    let warehouse = bigquery(&state, Duration::from_secs(20)).await.unwrap();
    let rows = collect(warehouse.stream("m", "SELECT id FROM t").await.unwrap()).await;
    assert_eq!(rows, vec![vec![Int(1)], vec![Int(2)], vec![Int(3)]]);
    assert_eq!(
        state.polls.load(Ordering::SeqCst),
        2,
        "one incomplete answer, then the result"
    );
}

#[tokio::test]
async fn bigquery_refused_key_names_the_warehouse_and_googles_reason() {
    let state = Arc::new(Google::default());
    state.refuse_token.store(true, Ordering::SeqCst);
    let err = bigquery(&state, Duration::from_secs(20)).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "could not connect to the warehouse `bq` (BigQuery project acme): the service account's \
         token was refused: invalid_grant: Invalid JWT Signature."
    );
    let body: String = KEY.lines().nth(1).unwrap().to_string();
    super::assert_hides(&err, &[&body, "ya29.test-token"]);
}

#[tokio::test]
async fn bigquery_job_past_its_time_is_cancelled() {
    let state = Arc::new(Google::default());
    state.incomplete.store(usize::MAX, Ordering::SeqCst);
    let warehouse = bigquery(&state, Duration::from_secs(1)).await.unwrap();
    let err = warehouse.stream("slow", "SELECT 1").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { seconds: 1, .. }), "{err:?}");
    assert_eq!(
        state.cancels.load(Ordering::SeqCst),
        1,
        "the job is cancelled"
    );
}
