//! Test harness: a real emulator on 127.0.0.1:0 and a reqwest client.

use intercom_emulator::{Emulator, Options};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token";

/// One answer, with the body parsed (`Value::Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// `(code, message)` of the first error of an `error.list`.
    pub fn error(&self) -> (String, String) {
        assert_eq!(
            self.body["type"], "error.list",
            "not an error list: {}",
            self.body
        );
        assert!(self.body["request_id"].is_string(), "{}", self.body);
        let e = &self.body["errors"][0];
        (
            e["code"].as_str().unwrap_or_default().to_string(),
            e["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Assert the status and the error code; returns the message.
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        let (c, m) = self.error();
        assert_eq!(c, code, "{m}");
        m
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn id(&self) -> String {
        assert!(self.status.is_success(), "{} {}", self.status, self.body);
        self.body["id"].as_str().expect("id").to_string()
    }
}

pub struct Env {
    pub emu: Emulator,
    pub client: reqwest::Client,
}

impl Env {
    /// An emulator with `opts`.
    pub async fn with(opts: Options) -> Env {
        let emu = Emulator::start(opts, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("start emulator");
        Env {
            emu,
            client: reqwest::Client::new(),
        }
    }

    /// Defaults, but no rate limit (most tests are not about it).
    pub async fn new() -> Env {
        Env::with(Options {
            rate_limit: 0,
            ..Options::default()
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url(), path)
    }

    /// A request with the test token and optional extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(TOKEN);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        answer(resp).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Create a contact; panics unless it succeeds.
    pub async fn contact(&self, body: Value) -> String {
        self.post("/contacts", body).await.id()
    }

    /// Create a custom data attribute.
    pub async fn attribute(&self, name: &str, model: &str, data_type: &str) -> Value {
        let a = self
            .post(
                "/data_attributes",
                json!({"name": name, "model": model, "data_type": data_type}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }

    /// Move emulated time forward.
    pub async fn advance(&self, secs: i64) {
        let a = self
            .post("/_emulator/clock/advance", json!({"secs": secs}))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }

    pub async fn dump(&self) -> Value {
        self.get("/_emulator/dump").await.body
    }

    pub async fn stats(&self) -> Value {
        self.get("/_emulator/stats").await.body
    }

    /// Search with a single query, returning the ids found.
    pub async fn search_ids(&self, query: Value) -> Vec<String> {
        let a = self.post("/contacts/search", json!({"query": query})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        ids(&a.body["data"])
    }
}

/// Read a response.
pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// The `id`s of a `data` array.
pub fn ids(data: &Value) -> Vec<String> {
    data.as_array()
        .expect("array")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

/// The id Intercom puts only inside a 409 message.
pub fn id_in_message(message: &str) -> String {
    message
        .rsplit_once("id=")
        .expect("id= in message")
        .1
        .to_string()
}
