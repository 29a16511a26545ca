//! The transport: one `reqwest` client (keep-alive, rustls) per [`Client`], the
//! headers every Intercom call carries, and the loop around each call:
//!
//! ```text
//! pace (pacing) → take one call of the shared budget (if any) → send
//!   → remember X-RateLimit-* → retry::decide
//!   Done        → the response, whatever its 4xx status (the caller makes it a row outcome)
//!   Retry(after)→ sleep, send the same request again
//!   GiveUp      → Error::GaveUp naming the request and the last status
//! ```
//!
//! `401` is never retried: it becomes [`Error::Unauthorized`] at once. What the
//! loop decides is pure and tested in `backflow_core::{retry, pacing, budget}`;
//! this file only sleeps, sends and counts. With a shared call budget
//! ([`Client::with_budget`], see [`crate::budget`]) every attempt, retries
//! included, first takes one call from it, and the header pacing only waits when
//! the headers say the window is spent (other clients of the app).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;

use backflow_core::batch::DestinationSpec;
use backflow_core::config::Region;
use backflow_core::pacing;
use backflow_core::retry::{self, Decision, RateHeaders, RetryPolicy};
use backflow_core::secret::Secret;

use crate::attributes::KnownAttribute;
use crate::budget::{Budgeted, Taken, View};
use crate::error::Error;
use crate::requests::{self, Request};

/// How to reach one Intercom workspace.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.intercom.io` (or the EU/AU one, or the emulator); no trailing `/`
    /// needed.
    pub base_url: String,
    /// The `Intercom-Version` header, e.g. `2.14`.
    pub api_version: String,
    /// The access token (sent as `Authorization: Bearer …`, never logged).
    pub token: Secret,
    /// The configured region (`us`/`eu`/`au`), for messages; `None` with a custom URL.
    pub region: Option<String>,
    /// How hard to retry 429, 5xx and connection errors.
    pub retry: RetryPolicy,
    /// Per-request timeout (each attempt), e.g. 30 s.
    pub timeout: Duration,
}

impl ClientConfig {
    /// Defaults for everything but the URL and token: version `2.14`, no region,
    /// the default retry policy, a 30 s timeout.
    pub fn new(base_url: impl Into<String>, token: Secret) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            api_version: "2.14".to_string(),
            token,
            region: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of one [`Client`] (shared by its clones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Every HTTP attempt, retries included (what Intercom counts against the budget).
    pub calls: u64,
    /// Attempts that were repeats of an earlier one.
    pub retries: u64,
    /// `429` answers received.
    pub rate_limited: u64,
    /// Requests to the shared call budget's store (with DynamoDB, one write
    /// unit each).
    pub budget_writes: u64,
}

/// A final Intercom answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    /// The JSON body; `Null` when empty. A non-JSON error body is kept as a string.
    pub body: Value,
    /// How many attempts it took (1 = no retry). A `404` to a `DELETE` that needed
    /// retries probably means an earlier, unanswered attempt did the work.
    pub attempts: u32,
}

impl ApiResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An Intercom REST client. Cheap to clone (an `Arc` inside); clones share the
/// connection pool, the pacing state, the counters and the caches.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.cfg.base_url)
            .field("api_version", &self.inner.cfg.api_version)
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    cfg: ClientConfig,
    /// The last rate-limit headers seen (the newest window wins).
    last_seen: Mutex<RateHeaders>,
    in_flight: AtomicU32,
    /// Tasks waiting for a call of the shared budget.
    waiting: AtomicU32,
    /// Attempts that came back (with an answer or a transport error).
    completed: AtomicU64,
    /// Notified whenever an attempt comes back.
    answered: tokio::sync::Notify,
    /// Round trip of the answered attempts (moving average), microseconds; 0 = none yet.
    rtt_micros: AtomicU64,
    /// The shared call budget, when the client has one.
    budget: OnceLock<Budgeted>,
    /// Calls the caller still expects after those waiting or in flight
    /// ([`Client::expect_calls`]); `u64::MAX` = not said.
    expected_calls: AtomicU64,
    calls: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    /// `company_id` → Intercom company id.
    pub(crate) companies: Mutex<HashMap<String, String>>,
    /// model → attribute name → what Intercom has.
    pub(crate) attributes: Mutex<HashMap<String, HashMap<String, KnownAttribute>>>,
}

/// Lock a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Decrements the in-flight counter however the attempt ends (including when the
/// future is dropped).
struct InFlight<'a>(&'a AtomicU32);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Client {
    /// Build the client (and its one `reqwest` client) from `cfg`.
    pub fn new(mut cfg: ClientConfig) -> Result<Client, Error> {
        cfg.base_url = cfg.base_url.trim().trim_end_matches('/').to_string();
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "base_url must start with http:// or https://, got {:?}",
                cfg.base_url
            )));
        }
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", cfg.token.expose()))
            .map_err(|_| Error::Config("the access token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            "Intercom-Version",
            HeaderValue::from_str(&cfg.api_version)
                .map_err(|_| Error::Config(format!("bad api_version {:?}", cfg.api_version)))?,
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("backflow/", env!("CARGO_PKG_VERSION")))
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Transport(cfg.token.redact(&e.to_string())))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                cfg,
                last_seen: Mutex::new(RateHeaders::default()),
                in_flight: AtomicU32::new(0),
                waiting: AtomicU32::new(0),
                completed: AtomicU64::new(0),
                answered: tokio::sync::Notify::new(),
                rtt_micros: AtomicU64::new(0),
                budget: OnceLock::new(),
                expected_calls: AtomicU64::new(u64::MAX),
                calls: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                companies: Mutex::new(HashMap::new()),
                attributes: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A client for a batch's destination, with the default retry policy and a
    /// 30 s timeout.
    pub fn for_destination(dest: &DestinationSpec, token: Secret) -> Result<Client, Error> {
        Client::new(ClientConfig {
            base_url: dest.base_url.clone(),
            api_version: dest.api_version.clone(),
            token,
            region: dest.region.clone(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
        })
    }

    /// The configuration (base URL without a trailing `/`).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// Calls, retries and 429s so far (all clones together).
    pub fn stats(&self) -> CallStats {
        CallStats {
            calls: self.inner.calls.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
            rate_limited: self.inner.rate_limited.load(Ordering::Relaxed),
            budget_writes: self
                .budget()
                .map_or(0, |b| b.writes.load(Ordering::Relaxed)),
        }
    }

    /// Send one request through the pacing and retry loop. Returns the final
    /// response whatever its 4xx status; `401` → [`Error::Unauthorized`];
    /// persistent 429/5xx/connection failures → [`Error::GaveUp`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, Error> {
        let body = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| Error::Decode(e.to_string()))?),
            None => None,
        };
        let url = format!("{}{}", self.inner.cfg.base_url, path);
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.pace().await;
            self.take_budget().await;
            self.inner.calls.fetch_add(1, Ordering::Relaxed);
            let sent = {
                let _guard = InFlight::enter(&self.inner.in_flight);
                let sent_at = Instant::now();
                let sent = self.send_once(method.clone(), &url, body.clone()).await;
                if sent.is_ok() {
                    self.measure_rtt(sent_at.elapsed());
                }
                sent
            };
            let (status, headers, transport_error, bytes) = match sent {
                Ok((status, headers, bytes)) => (Some(status), headers, None, bytes),
                Err(e) => (None, RateHeaders::default(), Some(e), Vec::new()),
            };
            if status.is_some() {
                self.remember(headers);
            }
            // After `remember`: a task waiting for the first answer reads its headers.
            self.inner.completed.fetch_add(1, Ordering::Relaxed);
            self.inner.answered.notify_waiters();
            if let Some(status) = status {
                tracing::debug!(%method, path, status, attempt, "intercom answered");
                if status == 401 {
                    return Err(Error::Unauthorized { hint: None });
                }
                if status == 429 {
                    self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
            }
            let decision = retry::decide(
                &self.inner.cfg.retry,
                status,
                &headers,
                attempt,
                started.elapsed(),
                unix_secs(),
                rand::random::<f64>(),
            );
            match decision {
                Decision::Done => {
                    let status = status.unwrap_or_default();
                    return Ok(ApiResponse {
                        status,
                        body: self.decode(status, &bytes)?,
                        attempts: attempt,
                    });
                }
                Decision::Retry { after } => {
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        %method,
                        path,
                        status = status.map(i64::from).unwrap_or(-1),
                        error = transport_error.as_deref().unwrap_or(""),
                        attempt,
                        wait_ms = after.as_millis() as u64,
                        "retrying an Intercom call"
                    );
                    tokio::time::sleep(after).await;
                }
                Decision::GiveUp { reason } => {
                    let detail = transport_error
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default();
                    return Err(Error::GaveUp {
                        reason: format!("{method} {path}: {reason}{detail}"),
                    });
                }
            }
        }
    }

    /// Send a prepared [`Request`].
    pub(crate) async fn send(&self, req: &Request) -> Result<ApiResponse, Error> {
        self.call(req.method.clone(), &req.path, req.body.as_ref())
            .await
    }

    /// `GET /me`. On `401`, when `base_url` is one of Intercom's region URLs, ask
    /// the other regions whether they accept the token, and say which one does
    /// (a workspace's data, and its tokens, live in one region only). The region
    /// URLs are [`region_urls`] (Intercom's, unless overridden for tests).
    pub async fn check_token(&self) -> Result<(), Error> {
        let regions = region_urls();
        let others = other_regions(&regions, &self.inner.cfg.base_url);
        self.check_token_against(&others).await
    }

    /// [`Client::check_token`] with the regions to probe given (name, base URL).
    pub(crate) async fn check_token_against(&self, others: &[(&str, String)]) -> Result<(), Error> {
        let me = requests::me();
        match self.send(&me).await {
            Ok(r) if r.is_success() => Ok(()),
            Ok(r) => Err(Error::Unexpected(format!(
                "GET /me answered {}: {}",
                r.status,
                requests::rejection(r.status, &r.body)
            ))),
            Err(Error::Unauthorized { .. }) => {
                for (name, base) in others {
                    let url = format!("{}{}", base.trim_end_matches('/'), me.path);
                    self.inner.calls.fetch_add(1, Ordering::Relaxed);
                    if let Ok((status, _, _)) = self.send_once(Method::GET, &url, None).await {
                        if (200..300).contains(&status) {
                            return Err(Error::Unauthorized {
                                hint: Some(format!(
                                    "the token is accepted in region {name}; set region: {name}"
                                )),
                            });
                        }
                    }
                }
                Err(Error::Unauthorized { hint: None })
            }
            Err(e) => Err(e),
        }
    }

    /// One HTTP exchange; the body is read fully so a connection dropped mid-body
    /// counts as no answer (and is retried).
    async fn send_once(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, RateHeaders, Vec<u8>), String> {
        let mut req = self.inner.http.request(method, url);
        if let Some(body) = body {
            req = req.body(body);
        }
        let redact = |e: reqwest::Error| self.inner.cfg.token.redact(&e.to_string());
        let resp = req.send().await.map_err(redact)?;
        let status = resp.status().as_u16();
        let headers = rate_headers(resp.headers());
        let bytes = resp.bytes().await.map_err(redact)?;
        Ok((status, headers, bytes.to_vec()))
    }

    /// Wait as long as the last rate-limit headers say (see `backflow_core::pacing`).
    async fn pace(&self) {
        let seen = *lock(&self.inner.last_seen);
        let in_flight = self.inner.in_flight.load(Ordering::Relaxed);
        let delay = if self.budget().is_some_and(Budgeted::active) {
            pacing::delay_when_budgeted(&seen, unix_millis(), in_flight)
        } else {
            pacing::delay_before_next(&seen, unix_millis(), in_flight)
        };
        if !delay.is_zero() {
            tracing::debug!(
                delay_ms = delay.as_millis() as u64,
                remaining = seen.remaining,
                in_flight,
                "pacing Intercom calls"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Take one call of the shared budget for the attempt about to be sent (no-op
    /// without a budget).
    async fn take_budget(&self) {
        let Some(budget) = self.budget() else {
            return;
        };
        let _waiting = InFlight::enter(&self.inner.waiting);
        loop {
            // Created before asking, so the first call's answer cannot be missed.
            let answered = self.inner.answered.notified();
            match budget.take(|| self.budget_view()).await {
                Taken::AwaitFirstAnswer => {
                    let _ = tokio::time::timeout(Duration::from_millis(250), answered).await;
                }
                Taken::Spent | Taken::Unbudgeted => return,
            }
        }
    }

    fn budget_view(&self) -> View {
        let waiting = self.inner.waiting.load(Ordering::Relaxed);
        let expected = self.inner.expected_calls.load(Ordering::Relaxed);
        View {
            seen: *lock(&self.inner.last_seen),
            concurrency: self
                .inner
                .in_flight
                .load(Ordering::Relaxed)
                .saturating_add(waiting),
            calls_to_come: (expected != u64::MAX)
                .then(|| expected.saturating_add(u64::from(waiting))),
            completed: self.inner.completed.load(Ordering::Relaxed),
            rtt: self.rtt(),
        }
    }

    pub(crate) fn budget(&self) -> Option<&Budgeted> {
        self.inner.budget.get()
    }

    pub(crate) fn set_budget(&self, budget: Budgeted) {
        let _ = self.inner.budget.set(budget);
    }

    pub(crate) fn set_expected_calls(&self, calls: u64) {
        self.inner
            .expected_calls
            .store(calls.min(u64::MAX - 1), Ordering::Relaxed);
    }

    /// The moving average of the answered attempts' round trips.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self.inner.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    fn measure_rtt(&self, took: Duration) {
        let sample = (took.as_micros() as u64).max(1);
        let old = self.inner.rtt_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old.saturating_mul(3) / 4)
                .saturating_add(sample / 4)
                .max(1)
        };
        self.inner.rtt_micros.store(new, Ordering::Relaxed);
    }

    /// Keep the newest rate-limit picture: a later window replaces an older one;
    /// within one window the lowest `remaining` wins (answers arrive out of order
    /// when calls run concurrently).
    fn remember(&self, h: RateHeaders) {
        if h.remaining.is_none() || h.reset.is_none() {
            return;
        }
        let mut seen = lock(&self.inner.last_seen);
        let newer = h.reset > seen.reset;
        let same = h.reset == seen.reset;
        if newer || (same && h.remaining < seen.remaining) || seen.remaining.is_none() {
            *seen = RateHeaders {
                retry_after: None,
                ..h
            };
        }
    }

    fn decode(&self, status: u16, bytes: &[u8]) -> Result<Value, Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        match serde_json::from_slice(bytes) {
            Ok(v) => Ok(v),
            Err(e) if (200..300).contains(&status) => Err(Error::Decode(format!(
                "HTTP {status}: {e}: {}",
                self.inner
                    .cfg
                    .token
                    .redact(&String::from_utf8_lossy(&bytes[..bytes.len().min(200)]))
            ))),
            Err(_) => {
                Ok(Value::String(self.inner.cfg.token.redact(
                    &String::from_utf8_lossy(&bytes[..bytes.len().min(300)]),
                )))
            }
        }
    }

    pub(crate) fn inner_companies(&self) -> &Mutex<HashMap<String, String>> {
        &self.inner.companies
    }

    pub(crate) fn inner_attributes(
        &self,
    ) -> &Mutex<HashMap<String, HashMap<String, KnownAttribute>>> {
        &self.inner.attributes
    }
}

/// `BACKFLOW_INTERCOM_REGION_URLS`: replaces Intercom's region base URLs (for
/// tests against emulators standing in for the three regions).
pub const REGION_URLS_ENV: &str = "BACKFLOW_INTERCOM_REGION_URLS";

/// The base URL of each Intercom region, as `(name, url)`: Intercom's own
/// ([`Region::base_url`]), or, when [`REGION_URLS_ENV`] is set, the ones it names.
pub fn region_urls() -> Vec<(&'static str, String)> {
    parse_region_urls(std::env::var(REGION_URLS_ENV).ok().as_deref())
}

/// `us=http://127.0.0.1:4011,eu=http://127.0.0.1:4012,au=…` → the regions it
/// names (unknown names and entries without `=` are ignored, a region named
/// twice keeps its last URL); unset or naming no region → Intercom's URLs.
pub(crate) fn parse_region_urls(spec: Option<&str>) -> Vec<(&'static str, String)> {
    let named: Vec<(&'static str, String)> = spec
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let (name, url) = entry.split_once('=')?;
            let region = Region::ALL.iter().find(|r| r.name() == name.trim())?;
            let url = url.trim().trim_end_matches('/');
            (!url.is_empty()).then(|| (region.name(), url.to_string()))
        })
        .collect();
    if named.is_empty() {
        return Region::ALL
            .iter()
            .map(|r| (r.name(), r.base_url().to_string()))
            .collect();
    }
    Region::ALL
        .iter()
        .filter_map(|r| named.iter().rev().find(|(n, _)| *n == r.name()).cloned())
        .collect()
}

/// The regions other than the one `base_url` points at; none when `base_url`
/// is not a region URL (a custom URL is never probed against the regions).
pub(crate) fn other_regions(
    regions: &[(&'static str, String)],
    base_url: &str,
) -> Vec<(&'static str, String)> {
    let own = base_url.trim_end_matches('/');
    if !regions.iter().any(|(_, url)| url == own) {
        return Vec::new();
    }
    regions
        .iter()
        .filter(|(_, url)| url != own)
        .cloned()
        .collect()
}

/// `X-RateLimit-Limit/Remaining/Reset` and `Retry-After` (seconds form; the
/// HTTP-date form is ignored, the reset header then decides).
pub(crate) fn rate_headers(h: &HeaderMap) -> RateHeaders {
    fn num<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
        h.get(name)?.to_str().ok()?.trim().parse().ok()
    }
    RateHeaders {
        limit: num(h, "x-ratelimit-limit"),
        remaining: num(h, "x-ratelimit-remaining"),
        reset: num(h, "x-ratelimit-reset"),
        retry_after: num(h, "retry-after"),
    }
}

pub(crate) fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn unix_secs() -> i64 {
    unix_millis().div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-trick HTTP server: `200 {}` when the bearer token is `accepted`,
    /// `401` otherwise. Returns its base URL.
    async fn token_server(accepted: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    let ok = text.contains(&format!("authorization: bearer {accepted}\r\n"));
                    let (status, body) = if ok {
                        ("200 OK", r#"{"type":"admin","id":"1"}"#)
                    } else {
                        (
                            "401 Unauthorized",
                            r#"{"type":"error.list","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#,
                        )
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn unauthorized_names_the_region_that_accepts_the_token() {
        let us = token_server("other-token").await;
        let eu = token_server("tok_eu").await;
        let au = token_server("nobody").await;
        let client = Client::new(ClientConfig::new(us.clone(), Secret::new("tok_eu"))).unwrap();
        let err = client
            .check_token_against(&[("au", au.clone()), ("eu", eu.clone())])
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::Unauthorized {
                hint: Some("the token is accepted in region eu; set region: eu".into())
            }
        );
        assert!(!err.to_string().contains("tok_eu"));
        // 401 is never retried: one call to /me, one probe each to au and eu.
        assert_eq!(client.stats().calls, 3);
        assert_eq!(client.stats().retries, 0);

        // No region accepts it: no hint.
        let err = client.check_token_against(&[("au", au)]).await.unwrap_err();
        assert_eq!(err, Error::Unauthorized { hint: None });

        // Accepted where configured.
        let ok = Client::new(ClientConfig::new(eu, Secret::new("tok_eu"))).unwrap();
        ok.check_token().await.unwrap();
    }

    #[tokio::test]
    async fn a_custom_base_url_is_never_probed_against_regions() {
        let base = token_server("good").await;
        let client = Client::new(ClientConfig::new(base, Secret::new("bad"))).unwrap();
        assert_eq!(
            client.check_token().await.unwrap_err(),
            Error::Unauthorized { hint: None }
        );
        assert_eq!(client.stats().calls, 1);
    }

    #[test]
    fn region_urls_are_intercoms_unless_overridden() {
        let intercom = vec![
            ("us", "https://api.intercom.io".to_string()),
            ("eu", "https://api.eu.intercom.io".to_string()),
            ("au", "https://api.au.intercom.io".to_string()),
        ];
        assert_eq!(parse_region_urls(None), intercom);
        assert_eq!(parse_region_urls(Some("")), intercom);
        assert_eq!(parse_region_urls(Some("mars=http://x")), intercom);
        assert_eq!(
            parse_region_urls(Some(
                " au = http://127.0.0.1:3/ ,us=http://127.0.0.1:1,bogus,eu=http://127.0.0.1:2"
            )),
            vec![
                ("us", "http://127.0.0.1:1".to_string()),
                ("eu", "http://127.0.0.1:2".to_string()),
                ("au", "http://127.0.0.1:3".to_string()),
            ]
        );
        // A region URL probes the others; a custom URL probes none.
        assert_eq!(
            other_regions(&intercom, "https://api.eu.intercom.io/"),
            vec![intercom[0].clone(), intercom[2].clone()]
        );
        assert!(other_regions(&intercom, "http://127.0.0.1:4010").is_empty());
    }

    #[test]
    fn config_is_checked() {
        let err = Client::new(ClientConfig::new("api.intercom.io", Secret::new("t"))).unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        let err =
            Client::new(ClientConfig::new("https://x", Secret::new("bad\ntoken"))).unwrap_err();
        assert!(!err.to_string().contains("bad\ntoken"));
        let c = Client::new(ClientConfig::new(
            "https://api.intercom.io/",
            Secret::new("t"),
        ))
        .unwrap();
        assert_eq!(c.config().base_url, "https://api.intercom.io");
        assert!(!format!("{c:?}").contains("Bearer"));
    }

    #[test]
    fn rate_headers_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("167"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static(" 12 "));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000010"));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            rate_headers(&h),
            RateHeaders {
                limit: Some(167),
                remaining: Some(12),
                reset: Some(1_700_000_010),
                retry_after: None
            }
        );
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(rate_headers(&h).retry_after, Some(3));
        assert_eq!(rate_headers(&HeaderMap::new()), RateHeaders::default());
    }

    #[test]
    fn the_newest_window_and_lowest_remaining_are_remembered() {
        let c = Client::new(ClientConfig::new("http://127.0.0.1:1", Secret::new("t"))).unwrap();
        let h = |remaining, reset| RateHeaders {
            limit: Some(10),
            remaining: Some(remaining),
            reset: Some(reset),
            retry_after: Some(9),
        };
        c.remember(h(5, 100));
        c.remember(h(7, 100)); // an older answer of the same window arriving late
        assert_eq!(lock(&c.inner.last_seen).remaining, Some(5));
        c.remember(h(9, 90)); // an answer from the previous window
        assert_eq!(lock(&c.inner.last_seen).reset, Some(100));
        c.remember(h(9, 110)); // a new window
        assert_eq!(
            *lock(&c.inner.last_seen),
            RateHeaders {
                retry_after: None,
                ..h(9, 110)
            }
        );
        c.remember(RateHeaders::default()); // no headers (401, unlimited): ignored
        assert_eq!(lock(&c.inner.last_seen).remaining, Some(9));
    }
}
