//! A small typed client of backflow's HTTP API, as served locally by
//! `cargo lambda watch` at `http://127.0.0.1:<port>/lambda-url/trigger/…`
//! (or, when that function URL is broken, by invoking `trigger` with the
//! API Gateway event directly: [`Transport`]).
//!
//! Run records stay `serde_json::Value`s: the scenarios assert on the JSON a
//! user sees, and [`RunRecord`] adds only typed accessors.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// How long [`Api::wait`] polls by default before giving up on a run.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(300);
const POLL_EVERY: Duration = Duration::from_millis(400);

/// The terminal statuses of a run.
pub const TERMINAL: [&str; 3] = ["succeeded", "partial", "failed"];

/// The body of `POST /syncs/{sync}/runs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunRequest {
    pub dry_run: bool,
    pub full_resync: bool,
    pub allow_mass_removal: bool,
}

impl RunRequest {
    /// A normal run.
    pub fn normal() -> RunRequest {
        RunRequest::default()
    }
    pub fn dry() -> RunRequest {
        RunRequest {
            dry_run: true,
            ..RunRequest::default()
        }
    }
    pub fn full_resync() -> RunRequest {
        RunRequest {
            full_resync: true,
            ..RunRequest::default()
        }
    }
    pub fn allow_mass_removal() -> RunRequest {
        RunRequest {
            allow_mass_removal: true,
            ..RunRequest::default()
        }
    }
    pub fn body(&self) -> Value {
        json!({
            "dry_run": self.dry_run,
            "full_resync": self.full_resync,
            "allow_mass_removal": self.allow_mass_removal,
        })
    }
}

/// A run record (the JSON of `GET /runs/{id}`).
#[derive(Debug, Clone)]
pub struct RunRecord(pub Value);

impl RunRecord {
    pub fn id(&self) -> &str {
        self.0["run_id"].as_str().unwrap_or("")
    }
    pub fn status(&self) -> &str {
        self.0["status"].as_str().unwrap_or("")
    }
    /// `counts.<name>`; a missing counter reads as `u64::MAX` so that an
    /// equality assertion fails loudly instead of passing on 0.
    pub fn count(&self, name: &str) -> u64 {
        self.0["counts"][name].as_u64().unwrap_or(u64::MAX)
    }
    /// `plan.<name>` (same convention as [`RunRecord::count`]).
    pub fn plan(&self, name: &str) -> u64 {
        self.0["plan"][name].as_u64().unwrap_or(u64::MAX)
    }
    /// `error` as text (a string, or `error.message`, or the JSON).
    pub fn error(&self) -> String {
        match &self.0["error"] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| other.to_string()),
        }
    }
    pub fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.status())
    }
}

impl std::fmt::Display for RunRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}",
            serde_json::to_string_pretty(&self.0).unwrap_or_default()
        )
    }
}

/// How requests reach `trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `cargo lambda watch`'s function URL, `…/lambda-url/trigger/<path>`, as a user calls it.
    FunctionUrl,
    /// `POST …/2015-03-31/functions/trigger/invocations` with an API Gateway
    /// payload-2.0 event, unwrapping `{statusCode, body}` as API Gateway does.
    /// Used only when the function URL is broken (see `Stack::function_url_problem`).
    Invoke,
}

/// The API client. Cheap to clone; make one per test (a reqwest client is
/// tied to the tokio runtime that first used it).
#[derive(Debug, Clone)]
pub struct Api {
    /// `http://127.0.0.1:<port>` of cargo lambda watch.
    watch_url: String,
    transport: Transport,
    http: reqwest::Client,
    /// Run ids this client started (to pick their lines out of the functions' log).
    pub started: Arc<Mutex<Vec<String>>>,
}

/// An HTTP answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// `error.message` of an error answer.
    pub fn error_message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or(&self.text)
            .to_string()
    }
}

impl Api {
    /// `watch_url` is `http://127.0.0.1:<port>` of `cargo lambda watch`.
    pub fn new(watch_url: impl Into<String>, transport: Transport) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("reqwest client");
        Api {
            watch_url: watch_url.into(),
            transport,
            http,
            started: Arc::default(),
        }
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// One API request; `path` is `/syncs`, `/runs/x/rows?outcome=invalid`, ….
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        match self.transport {
            Transport::FunctionUrl => {
                let url = format!("{}/lambda-url/trigger{path}", self.watch_url);
                let mut req = self.http.request(method.parse()?, url);
                if let Some(b) = body {
                    req = req.json(b);
                }
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let text = resp.text().await?;
                let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                Ok(Answer { status, body, text })
            }
            Transport::Invoke => {
                let (raw_path, raw_query) = path.split_once('?').unwrap_or((path, ""));
                let event = json!({
                    "version": "2.0", "routeKey": "$default",
                    "rawPath": raw_path, "rawQueryString": raw_query,
                    "headers": {"content-type": "application/json"},
                    "requestContext": {"http": {"method": method, "path": raw_path}, "stage": "$default"},
                    "body": body.map(|b| b.to_string()),
                    "isBase64Encoded": false,
                });
                let url = format!(
                    "{}/2015-03-31/functions/trigger/invocations",
                    self.watch_url
                );
                let resp = self.http.post(url).json(&event).send().await?;
                let status = resp.status().as_u16();
                let text = resp.text().await?;
                if status != 200 {
                    bail!("invoking trigger for {method} {path} answered {status}: {text}");
                }
                let v: Value = serde_json::from_str(&text)
                    .with_context(|| format!("trigger answered {text}"))?;
                let status = v["statusCode"]
                    .as_u64()
                    .with_context(|| format!("no statusCode in {text}"))?
                    as u16;
                let text = v["body"].as_str().unwrap_or_default().to_string();
                let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                Ok(Answer { status, body, text })
            }
        }
    }

    /// Invoke `trigger` itself with `event` (e.g. a Scheduled Event, as
    /// EventBridge delivers it), whatever the transport; its JSON answer.
    pub async fn invoke_trigger(&self, event: &Value) -> anyhow::Result<Value> {
        let url = format!(
            "{}/2015-03-31/functions/trigger/invocations",
            self.watch_url
        );
        let resp = self.http.post(url).json(event).send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        if status != 200 {
            bail!("invoking trigger with {event} answered {status}: {text}");
        }
        let answer: Value =
            serde_json::from_str(&text).with_context(|| format!("trigger answered {text}"))?;
        if let Some(ids) = answer["started"].as_array() {
            let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
            started.extend(ids.iter().filter_map(Value::as_str).map(str::to_string));
        }
        Ok(answer)
    }

    /// `GET /syncs`
    pub async fn syncs(&self) -> anyhow::Result<Answer> {
        self.request("GET", "/syncs", None).await
    }

    /// `POST /syncs/{sync}/runs`, whatever the answer.
    pub async fn start(&self, sync: &str, req: RunRequest) -> anyhow::Result<Answer> {
        let ans = self
            .request("POST", &format!("/syncs/{sync}/runs"), Some(&req.body()))
            .await
            .with_context(|| format!("POST /syncs/{sync}/runs"))?;
        if let Some(id) = ans.body["run_id"].as_str() {
            self.started
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(id.to_string());
        }
        Ok(ans)
    }

    /// `POST /syncs/{sync}/runs`, expecting `202 {"run_id","status":"queued"}`; the run id.
    pub async fn start_ok(&self, sync: &str, req: RunRequest) -> anyhow::Result<String> {
        let ans = self.start(sync, req).await?;
        if ans.status != 202 {
            bail!(
                "POST /syncs/{sync}/runs answered {} {}",
                ans.status,
                ans.text
            );
        }
        if ans.body["status"] != "queued" {
            bail!(
                "POST /syncs/{sync}/runs: expected status queued, got {}",
                ans.text
            );
        }
        ans.body["run_id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no run_id in {}", ans.text))
    }

    /// `GET /runs/{id}`
    pub async fn get_run(&self, id: &str) -> anyhow::Result<Answer> {
        self.request("GET", &format!("/runs/{id}"), None).await
    }

    /// `GET /runs/{id}` expecting 200.
    pub async fn run(&self, id: &str) -> anyhow::Result<RunRecord> {
        let ans = self.get_run(id).await?;
        if ans.status != 200 {
            bail!("GET /runs/{id} answered {} {}", ans.status, ans.text);
        }
        Ok(RunRecord(ans.body))
    }

    /// Poll `GET /runs/{id}` until the run is `succeeded`, `partial` or `failed`
    /// (bounded by `timeout`).
    pub async fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<RunRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.run(id).await {
                Ok(rec) if rec.is_terminal() => return Ok(rec),
                Ok(rec) => rec.to_string(),
                // A trigger instance may be busy or restarting: keep polling.
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!("run {id} did not finish within {timeout:?}; last answer: {last}");
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Start a run and wait for its end ([`DEFAULT_RUN_TIMEOUT`]).
    pub async fn run_to_end(&self, sync: &str, req: RunRequest) -> anyhow::Result<RunRecord> {
        self.run_to_end_within(sync, req, DEFAULT_RUN_TIMEOUT).await
    }

    /// Start a run and wait for its end.
    pub async fn run_to_end_within(
        &self,
        sync: &str,
        req: RunRequest,
        timeout: Duration,
    ) -> anyhow::Result<RunRecord> {
        let id = self.start_ok(sync, req).await?;
        self.wait(&id, timeout).await
    }

    /// `GET /runs/{id}/rows?outcome=…` → the `rows` array.
    pub async fn rows(&self, id: &str, outcome: &str) -> anyhow::Result<Vec<Value>> {
        let ans = self
            .request("GET", &format!("/runs/{id}/rows?outcome={outcome}"), None)
            .await?;
        if ans.status != 200 {
            bail!(
                "GET /runs/{id}/rows?outcome={outcome} answered {} {}",
                ans.status,
                ans.text
            );
        }
        ans.body["rows"]
            .as_array()
            .cloned()
            .with_context(|| format!("no rows array in {}", ans.text))
    }
}

/// An EventBridge Scheduled Event for `time` (the every-minute rule's shape,
/// as `scripts/ticker.py` sends it on the local stack).
pub fn scheduled_event(time: &str) -> Value {
    json!({
        "version": "0", "id": format!("tick-{time}"), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": time,
        "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/backflow-tick"],
        "detail": {},
    })
}

/// The run ids `trigger` answered a Scheduled Event (or a `run_ended`) with.
pub fn started(answer: &Value) -> Vec<String> {
    answer["started"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
