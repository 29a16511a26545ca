//! The Intercom side of a scenario: emulator profiles, and a client that reads
//! back what Intercom (the emulator) holds — `/_emulator/dump`, `/_emulator/stats`
//! — and seeds records directly through the Intercom API.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use intercom_emulator::Options;

use crate::config::TOKEN;

/// How a scenario's emulator behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `Options::default()` (the token required).
    Plain,
    /// A new contact shows up in search only after 120 s.
    Laggy,
    /// 15 % of requests fail (500 / 503 / dropped), 300 requests per 10 s.
    Faulty,
    /// 150 ms added to every response (keeps a run in progress for a while).
    Slow,
    /// Issue 5's rate-limit benchmark: 1,000 requests per 10-second window,
    /// 100 ms added to every response.
    Throughput,
    /// No rate limit and no latency (the 100k-row calls benchmark).
    Unlimited,
    /// A tight rate limit, 100 requests per 10-second window, and 50 ms added
    /// to every response: concurrent loads (and syncs) must share each window.
    Tight,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Plain => "plain",
            Profile::Laggy => "laggy",
            Profile::Faulty => "faulty",
            Profile::Slow => "slow",
            Profile::Throughput => "throughput",
            Profile::Unlimited => "unlimited",
            Profile::Tight => "tight",
        }
    }

    pub fn options(self) -> Options {
        let base = Options {
            tokens: vec![TOKEN.to_string()],
            ..Options::default()
        };
        match self {
            Profile::Plain => base,
            Profile::Laggy => Options {
                search_lag_secs: 120,
                ..base
            },
            Profile::Faulty => Options {
                fault_rate: 0.15,
                seed: Some(20_260_829),
                rate_limit: 300,
                ..base
            },
            Profile::Slow => Options {
                latency_ms: 150,
                ..base
            },
            Profile::Throughput => Options {
                rate_limit: 1000,
                latency_ms: 100,
                ..base
            },
            Profile::Unlimited => Options {
                rate_limit: 0,
                ..base
            },
            Profile::Tight => Options {
                rate_limit: 100,
                latency_ms: 50,
                ..base
            },
        }
    }
}

/// Request counters of the emulator (`GET /_emulator/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub by_route: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests to `route` ("PUT /contacts/{id}").
    pub fn route(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }

    /// Requests that write: every POST/PUT/DELETE except the read-only
    /// `POST /contacts/search` and `POST /companies/list`.
    pub fn writes(&self) -> u64 {
        self.by_route
            .iter()
            .filter(|(r, _)| is_write(r))
            .map(|(_, n)| n)
            .sum()
    }

    /// `self - before`, per route (routes that did not move are left out).
    pub fn since(&self, before: &Stats) -> Stats {
        let diff = |now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>| {
            now.iter()
                .filter_map(|(k, n)| {
                    let d = n.saturating_sub(then.get(k).copied().unwrap_or(0));
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        };
        Stats {
            requests: self.requests.saturating_sub(before.requests),
            by_route: diff(&self.by_route, &before.by_route),
            by_status: diff(&self.by_status, &before.by_status),
        }
    }

    /// The write routes and their counts, for messages.
    pub fn write_routes(&self) -> BTreeMap<String, u64> {
        self.by_route
            .iter()
            .filter(|(r, _)| is_write(r))
            .map(|(r, n)| (r.clone(), *n))
            .collect()
    }
}

fn is_write(route: &str) -> bool {
    let write_method = ["POST ", "PUT ", "DELETE "]
        .iter()
        .any(|m| route.starts_with(m));
    write_method && route != "POST /contacts/search" && route != "POST /companies/list"
}

/// Reads and seeds one emulator over HTTP.
#[derive(Debug, Clone)]
pub struct Intercom {
    base: String,
    http: reqwest::Client,
}

impl Intercom {
    pub fn new(base: impl Into<String>) -> Intercom {
        Intercom {
            base: base.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("reqwest client"),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("Accept", "application/json")
            .header("Intercom-Version", "2.14");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Call the Intercom API and expect a 2xx.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, v) = self.call(method.clone(), path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path} answered {status}: {v}");
        }
        Ok(v)
    }

    /// `GET /_emulator/dump`
    pub async fn dump(&self) -> anyhow::Result<Value> {
        self.ok(reqwest::Method::GET, "/_emulator/dump", None).await
    }

    /// Every contact of the dump (archived, deleted and merged included).
    pub async fn contacts(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.dump().await?["contacts"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Contacts neither deleted nor merged (archived ones included).
    pub async fn live_contacts(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .contacts()
            .await?
            .into_iter()
            .filter(|c| c["deleted"] != true && c["merged_into"].is_null())
            .collect())
    }

    /// Every company of the dump (deleted included).
    pub async fn companies(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.dump().await?["companies"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Every data event of the dump.
    pub async fn events(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.dump().await?["events"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Every custom data attribute of the dump.
    pub async fn attributes(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.dump().await?["data_attributes"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `GET /_emulator/stats`
    pub async fn stats(&self) -> anyhow::Result<Stats> {
        let v = self
            .ok(reqwest::Method::GET, "/_emulator/stats", None)
            .await?;
        let map = |v: &Value| -> BTreeMap<String, u64> {
            v.as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Stats {
            requests: v["requests"].as_u64().unwrap_or(0),
            by_route: map(&v["by_route"]),
            by_status: map(&v["by_status"]),
        })
    }

    /// `POST /contacts` directly (seeding); the created contact.
    pub async fn create_contact(&self, body: Value) -> anyhow::Result<Value> {
        self.ok(reqwest::Method::POST, "/contacts", Some(body))
            .await
    }

    /// `POST /contacts/{id}/archive`
    pub async fn archive_contact(&self, id: &str) -> anyhow::Result<Value> {
        self.ok(
            reqwest::Method::POST,
            &format!("/contacts/{id}/archive"),
            None,
        )
        .await
    }

    /// `POST /data_attributes`
    pub async fn create_attribute(
        &self,
        name: &str,
        model: &str,
        data_type: &str,
    ) -> anyhow::Result<Value> {
        self.ok(
            reqwest::Method::POST,
            "/data_attributes",
            Some(json!({"name": name, "model": model, "data_type": data_type})),
        )
        .await
    }

    /// `POST /companies/list` (every page): the companies Intercom shows.
    pub async fn listed_companies(&self) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        for page in 1..=100 {
            let v = self
                .ok(
                    reqwest::Method::POST,
                    &format!("/companies/list?page={page}&per_page=50"),
                    None,
                )
                .await?;
            let data = v["data"].as_array().cloned().unwrap_or_default();
            let total_pages = v["pages"]["total_pages"].as_u64().unwrap_or(1);
            out.extend(data);
            if page as u64 >= total_pages {
                break;
            }
        }
        Ok(out)
    }
}
