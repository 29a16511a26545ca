//! A small local server speaking an AWS service's documented protocol, for
//! what moto cannot show: the JSON protocols (awsJson 1.1, the operation in
//! `X-Amz-Target`: Athena, the Redshift Data API, Redshift Serverless) and the
//! query protocol (awsQuery: a form with `Action`, answered in XML: Redshift).
//! The SDK is pointed at it with [`aws_at`].

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_athena::config::Credentials;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use backflow_warehouse::SdkConfig;
use serde_json::{Map, Value as Json};

/// SDK configuration for a stand-in at `endpoint` (dummy credentials).
pub async fn aws_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await
}

/// What the fake service saw: `(operation, parameters)` of every call — the
/// `X-Amz-Target` and JSON body of the JSON protocols, the `Action` and the
/// form's fields (as a JSON object of strings) of the query protocol.
pub type Calls = Arc<Mutex<Vec<(String, Json)>>>;

/// One answer: status, content type, body.
type Answer = (u16, &'static str, String);

/// Serves `answer(operation, parameters, calls so far to that operation)` on a
/// free loopback port, recording every call; its URL.
async fn serve(
    answer: impl Fn(&str, &Json, usize) -> Answer + Send + Sync + 'static,
) -> (String, Calls) {
    let calls: Calls = Arc::default();
    let answer = Arc::new(answer);
    let handler = move |State(calls): State<Calls>, headers: HeaderMap, body: Bytes| {
        let answer = answer.clone();
        async move {
            let (operation, parameters) = match headers.get("x-amz-target") {
                Some(target) => (
                    target.to_str().unwrap_or_default().to_string(),
                    serde_json::from_slice(&body).unwrap_or(Json::Null),
                ),
                None => form(&body),
            };
            let seen = {
                let mut calls = calls.lock().unwrap();
                let seen = calls.iter().filter(|(o, _)| *o == operation).count();
                calls.push((operation.clone(), parameters.clone()));
                seen
            };
            let (status, content_type, text) = answer(&operation, &parameters, seen);
            let response: Response = (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", content_type)],
                text,
            )
                .into_response();
            response
        }
    };
    let app = Router::new()
        .route("/", post(handler))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

/// A query-protocol body: its `Action` and its other fields.
fn form(body: &[u8]) -> (String, Json) {
    let mut fields: Map<String, Json> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Json::String(v.into_owned())))
        .collect();
    let action = match fields.remove("Action") {
        Some(Json::String(action)) => action,
        _ => String::new(),
    };
    (action, Json::Object(fields))
}

/// An awsJson 1.1 service answering `answer(target, body, calls so far)`.
pub async fn json_service(
    answer: impl Fn(&str, &Json, usize) -> (u16, Json) + Send + Sync + 'static,
) -> (String, Calls) {
    serve(move |target, body, seen| {
        let (status, json) = answer(target, body, seen);
        (status, "application/x-amz-json-1.1", json.to_string())
    })
    .await
}

/// An awsQuery service answering `answer(action, fields, calls so far)` with
/// XML text.
pub async fn query_service(
    answer: impl Fn(&str, &Json, usize) -> (u16, String) + Send + Sync + 'static,
) -> (String, Calls) {
    serve(move |action, fields, seen| {
        let (status, xml) = answer(action, fields, seen);
        (status, "text/xml", xml)
    })
    .await
}

/// The operations called, in order.
pub fn operations(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(o, _)| o.clone())
        .collect()
}
