//! An independent SigV4 verifier, written from AWS's description of the algorithm
//! (canonical request → string to sign → signing key → HMAC-SHA256), sharing no
//! code with `aws-sigv4`. It is itself checked against AWS's test-suite vectors
//! ([`super::sigv4`]), then serves as the API in front of which the CLI's signed
//! requests must pass: a local axum server that answers `403` as API Gateway does
//! when the signature does not match.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a request must be signed with.
#[derive(Debug, Clone)]
pub struct Expect {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub service: String,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// (lower-case name, value) as received.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding, upper-case hex, unreserved characters kept.
fn uri_encode(s: &[u8]) -> String {
    let mut out = String::new();
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let pair = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = pair.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Services other than S3 encode the (already encoded) path once more, segment by
/// segment, after normalizing `.`/`..` and empty segments.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut uri = String::new();
    for s in &segments {
        uri.push('/');
        uri.push_str(&uri_encode(s.as_bytes()));
    }
    if uri.is_empty() || (path.ends_with('/') && !segments.is_empty()) {
        uri.push('/');
    }
    uri
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut fields = BTreeMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        fields.insert(k, v);
    }
    let scope: Vec<&str> = fields.get("Credential")?.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return None;
    };
    Some(Authorization {
        access_key: access_key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: fields
            .get("SignedHeaders")?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: fields.get("Signature")?.to_string(),
    })
}

/// The signature AWS computes for `r`, signed at `amz_date` over `signed_headers`.
pub fn signature(
    r: &Received<'_>,
    signed_headers: &[String],
    amz_date: &str,
    secret_key: &str,
    region: &str,
    service: &str,
) -> String {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = r
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method,
        canonical_uri(r.path),
        canonical_query(r.query),
        canonical_headers,
        signed_headers.join(";"),
        hex(&sha256(r.body)),
    );
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&sha256(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret_key}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    let k_signing = hmac(&k_service, "aws4_request");
    hex(&hmac(&k_signing, &string_to_sign))
}

/// Checks `r` against `expect`: `Err` says why it is refused.
pub fn verify(r: &Received<'_>, expect: &Expect) -> Result<(), String> {
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let auth = header("authorization").ok_or("no Authorization header")?;
    let auth = parse_authorization(auth).ok_or("malformed Authorization header")?;
    let amz_date = header("x-amz-date").ok_or("no X-Amz-Date header")?;
    if auth.access_key != expect.access_key {
        return Err(format!("unknown access key {}", auth.access_key));
    }
    if auth.region != expect.region || auth.service != expect.service {
        return Err(format!(
            "credential scope {}/{} is not {}/{}",
            auth.region, auth.service, expect.region, expect.service
        ));
    }
    if !amz_date.starts_with(&auth.date) {
        return Err("X-Amz-Date is not the credential's date".into());
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err("host is not signed".into());
    }
    let want = signature(
        r,
        &auth.signed_headers,
        amz_date,
        &expect.secret_key,
        &expect.region,
        &expect.service,
    );
    if want != auth.signature {
        return Err(
            "The request signature we calculated does not match the signature you provided".into(),
        );
    }
    Ok(())
}

/// What the verifying server saw: every request's path and whether it passed.
#[derive(Debug, Default)]
pub struct Log {
    pub requests: Vec<(String, String, bool)>,
}

#[derive(Clone)]
struct AppState {
    expect: Expect,
    log: Arc<Mutex<Log>>,
    /// path (with query) → answer
    answers: Arc<BTreeMap<String, Value>>,
}

/// Starts the verifying server on 127.0.0.1:0; `answers` maps `METHOD /path?query`
/// (the query as sent) to a JSON answer. Returns its base URL and its log.
pub async fn serve(expect: Expect, answers: BTreeMap<String, Value>) -> (String, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let state = AppState {
        expect,
        log: log.clone(),
        answers: Arc::new(answers),
    };
    let app = axum::Router::new().fallback(handle).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), log)
}

async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let received = Received {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let verdict = verify(&received, &state.expect);
    let target = match uri.query() {
        Some(q) => format!("{} {}?{q}", method, uri.path()),
        None => format!("{} {}", method, uri.path()),
    };
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .push((
            target.clone(),
            verdict.clone().err().unwrap_or_default(),
            verdict.is_ok(),
        ));
    if let Err(why) = verdict {
        // API Gateway's answer to a bad signature.
        return (StatusCode::FORBIDDEN, axum::Json(json!({"message": why})));
    }
    match state.answers.get(&target) {
        Some(answer) => (StatusCode::OK, axum::Json(answer.clone())),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(
                json!({"error": {"code": "not_found", "message": format!("no route for {target}")}}),
            ),
        ),
    }
}
