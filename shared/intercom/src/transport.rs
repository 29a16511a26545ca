//! Sending one request, with its retries:
//!
//! ```text
//! wait for the turn (rate_limit::turn: header pacing, then one call of the shared budget)
//!   → send → remember X-RateLimit-* → retry::decide
//!   Done        → the response, whatever its 4xx status (the caller makes it a row outcome)
//!   Retry(after)→ sleep, send the same request again
//!   GiveUp      → Error::GaveUp naming the request, the host and the last answer
//!                 (status and Intercom's error code, or the transport error)
//! ```
//!
//! `401` is never retried: it becomes [`Error::Unauthorized`] at once. What the
//! loop decides is pure and tested in `backflow_core::retry`; this file only
//! sends, counts and sleeps (on tokio's clock, so paused time in tests).

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use backflow_core::retry::{self, Decision, RateHeaders};

use crate::client::{Client, Counters};
use crate::error::Error;
use crate::rate_limit::traffic::rate_headers;
use crate::requests::Request;

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

/// What one HTTP exchange produced: an answer, or a transport error.
pub(crate) type Exchange = Result<(u16, RateHeaders, Vec<u8>), String>;

impl Client {
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
        let url = format!("{}{}", self.config().base_url, path);
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.wait_turn().await;
            let sent = self.attempt(method.clone(), &url, body.clone()).await;
            let (status, headers) = match &sent {
                Ok((status, headers, _)) => (Some(*status), *headers),
                Err(_) => (None, RateHeaders::default()),
            };
            if let Some(status) = status {
                self.answered(&method, path, status, attempt)?;
            }
            let decision = retry::decide(
                &self.config().retry,
                status,
                &headers,
                attempt,
                started.elapsed(),
                self.clock().unix_secs(),
                rand::random::<f64>(),
            );
            let transport_error = sent.as_ref().err();
            match decision {
                Decision::Done => {
                    let (status, _, bytes) = sent.unwrap_or_default();
                    return Ok(ApiResponse {
                        status,
                        body: self.decode(status, &bytes)?,
                        attempts: attempt,
                    });
                }
                Decision::Retry { after } => {
                    self.before_retry(&method, path, status, transport_error, attempt, after);
                    tokio::time::sleep(after).await;
                }
                Decision::GiveUp { reason } => {
                    let detail = match &sent {
                        Ok((status, _, bytes)) => self.last_answer(*status, bytes),
                        Err(e) => format!(" ({e})"),
                    };
                    return Err(Error::GaveUp {
                        reason: format!("{method} {path} on {}: {reason}{detail}", self.host()),
                    });
                }
            }
        }
    }

    /// The destination's host (and port) as the error names it: which
    /// Intercom region, or which emulator, stayed down.
    fn host(&self) -> &str {
        let url = self.config().base_url.as_str();
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }

    /// `; last answer: 503 service_unavailable` — the status and Intercom's
    /// error code of the answer a caller gave up on (the status alone when the
    /// body names no code).
    fn last_answer(&self, status: u16, bytes: &[u8]) -> String {
        let code = serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_string))
            .map(|c| format!(" {}", self.config().token.redact(&c)))
            .unwrap_or_default();
        format!("; last answer: {status}{code}")
    }

    /// Send a prepared [`Request`].
    pub(crate) async fn send(&self, req: &Request) -> Result<ApiResponse, Error> {
        self.call(req.method.clone(), &req.path, req.body.as_ref())
            .await
    }

    /// One counted attempt: on the wire while it runs, its round trip measured,
    /// its rate-limit headers remembered, and the tasks waiting for an answer told.
    async fn attempt(&self, method: Method, url: &str, body: Option<Vec<u8>>) -> Exchange {
        Counters::add(&self.counters().calls);
        let traffic = self.traffic();
        let sent = {
            let _on_wire = traffic.on_wire();
            let sent_at = Instant::now();
            let sent = self.exchange(method, url, body).await;
            if sent.is_ok() {
                traffic.measure_rtt(sent_at.elapsed());
            }
            sent
        };
        traffic.came_back(sent.as_ref().ok().map(|(_, headers, _)| *headers));
        sent
    }

    /// Log and count an answer; `401` stops here: never retried.
    fn answered(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        attempt: u32,
    ) -> Result<(), Error> {
        tracing::debug!(%method, path, status, attempt, "intercom answered");
        match status {
            401 => Err(Error::Unauthorized { hint: None }),
            429 => {
                Counters::add(&self.counters().rate_limited);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn before_retry(
        &self,
        method: &Method,
        path: &str,
        status: Option<u16>,
        transport_error: Option<&String>,
        attempt: u32,
        after: Duration,
    ) {
        Counters::add(&self.counters().retries);
        tracing::warn!(
            %method,
            path,
            status = status.map(i64::from).unwrap_or(-1),
            error = transport_error.map_or("", String::as_str),
            attempt,
            wait_ms = after.as_millis() as u64,
            "retrying an Intercom call"
        );
    }

    /// One HTTP exchange, neither paced nor counted; the body is read fully so a
    /// connection dropped mid-body counts as no answer (and is retried).
    pub(crate) async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Exchange {
        let mut req = self.http().request(method, url);
        if let Some(body) = body {
            req = req.body(body);
        }
        let redact = |e: reqwest::Error| self.config().token.redact(&e.to_string());
        let resp = req.send().await.map_err(redact)?;
        let status = resp.status().as_u16();
        let headers = rate_headers(resp.headers());
        let bytes = resp.bytes().await.map_err(redact)?;
        Ok((status, headers, bytes.to_vec()))
    }

    /// The body as JSON; empty → `Null`; an error body that is not JSON → its
    /// (redacted, truncated) text. A success that is not JSON is an error.
    fn decode(&self, status: u16, bytes: &[u8]) -> Result<Value, Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        let token = &self.config().token;
        let text =
            |max: usize| token.redact(&String::from_utf8_lossy(&bytes[..bytes.len().min(max)]));
        match serde_json::from_slice(bytes) {
            Ok(v) => Ok(v),
            Err(e) if (200..300).contains(&status) => {
                Err(Error::Decode(format!("HTTP {status}: {e}: {}", text(200))))
            }
            Err(_) => Ok(Value::String(text(300))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientConfig;
    use backflow_core::secret::Secret;

    #[test]
    fn bodies_are_decoded_and_never_echo_the_token() {
        let c = Client::new(ClientConfig::new(
            "http://127.0.0.1:1",
            Secret::new("tok_s3cret"),
        ))
        .unwrap();
        assert_eq!(c.decode(200, b" \n").unwrap(), Value::Null);
        assert_eq!(c.decode(200, br#"{"id":"1"}"#).unwrap()["id"], "1");
        let err = c.decode(200, b"<html>tok_s3cret</html>").unwrap_err();
        assert!(
            matches!(&err, Error::Decode(m) if !m.contains("tok_s3cret")),
            "{err:?}"
        );
        let body = c.decode(502, b"bad gateway for tok_s3cret").unwrap();
        assert!(body
            .as_str()
            .is_some_and(|s| s.starts_with("bad gateway") && !s.contains("tok_s3cret")));
    }
}
