//! The [`Client`] handle: its configuration, the one `reqwest` client (keep-alive,
//! rustls) with the headers every Intercom call carries, and the state its
//! clones share. What the client *does* lives elsewhere, one job a file:
//! sending ([`crate::transport`]), rate limiting ([`crate::rate_limit`]), region
//! probing ([`crate::regions`]), the caches ([`crate::cache`]) and the writers
//! ([`crate::writers`], [`crate::attributes`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use backflow_core::batch::DestinationSpec;
use backflow_core::retry::RetryPolicy;
use backflow_core::secret::Secret;

use crate::cache::Cache;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::rate_limit::share::BudgetShare;
use crate::rate_limit::traffic::Traffic;

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
    /// Where rate-limit windows are read from: the system clock, or in tests a
    /// [`crate::TokioClock`] that follows tokio's paused time.
    pub clock: Arc<dyn Clock>,
}

impl ClientConfig {
    /// Defaults for everything but the URL and token: version `2.14`, no region,
    /// the default retry policy, a 30 s timeout, the system clock.
    pub fn new(base_url: impl Into<String>, token: Secret) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            api_version: "2.14".to_string(),
            token,
            region: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
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

/// An Intercom REST client. Cheap to clone (an `Arc` inside); clones share the
/// connection pool, the rate-limit state, the counters and the caches.
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
    /// What the rate-limit headers said and what is on the wire.
    traffic: Traffic,
    /// The client's share of the app's call budget, when it has one.
    share: OnceLock<BudgetShare>,
    counters: Counters,
    cache: Cache,
}

/// The counters behind [`CallStats`] (the budget's writes are counted by the share).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub calls: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Lock a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        let http = reqwest::Client::builder()
            .default_headers(default_headers(&cfg)?)
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
                traffic: Traffic::default(),
                share: OnceLock::new(),
                counters: Counters::default(),
                cache: Cache::default(),
            }),
        })
    }

    /// A client for a batch's destination, with the default retry policy and a
    /// 30 s timeout.
    pub fn for_destination(dest: &DestinationSpec, token: Secret) -> Result<Client, Error> {
        Client::new(ClientConfig {
            api_version: dest.api_version.clone(),
            region: dest.region.clone(),
            ..ClientConfig::new(dest.base_url.clone(), token)
        })
    }

    /// The configuration (base URL without a trailing `/`).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// Calls, retries and 429s so far (all clones together).
    pub fn stats(&self) -> CallStats {
        let c = &self.inner.counters;
        CallStats {
            calls: c.calls.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            budget_writes: self.share().map_or(0, BudgetShare::writes),
        }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        self.inner.cfg.clock.as_ref()
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(crate) fn traffic(&self) -> &Traffic {
        &self.inner.traffic
    }

    pub(crate) fn share(&self) -> Option<&BudgetShare> {
        self.inner.share.get()
    }

    /// Give the client its share of a budget; a second one is ignored.
    pub(crate) fn set_share(&self, share: BudgetShare) {
        let _ = self.inner.share.set(share);
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.inner.cache
    }
}

/// `Authorization` (marked sensitive, so it is never printed), `Intercom-Version`
/// and the JSON content headers.
fn default_headers(cfg: &ClientConfig) -> Result<HeaderMap, Error> {
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
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_destination_keeps_its_version_and_region() {
        let dest = DestinationSpec {
            base_url: "https://api.eu.intercom.io/".into(),
            api_version: "2.16".into(),
            access_token: backflow_core::config::SecretRef {
                secret: "s".into(),
                key: "k".into(),
            },
            region: Some("eu".into()),
        };
        let c = Client::for_destination(&dest, Secret::new("t")).unwrap();
        let cfg = c.config();
        assert_eq!(cfg.base_url, "https://api.eu.intercom.io");
        assert_eq!(
            (cfg.api_version.as_str(), cfg.region.as_deref()),
            ("2.16", Some("eu"))
        );
        assert_eq!(
            (cfg.retry, cfg.timeout),
            (RetryPolicy::default(), Duration::from_secs(30))
        );
    }
}
