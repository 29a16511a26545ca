//! `backflow-intercom` against the in-process Intercom emulator (one binary, every
//! server on `127.0.0.1:0`). No test sleeps: waiting is only what the client does
//! (retries, pacing, the shared budget), and the tests that wait run on tokio's
//! paused time, the emulator following the same clock ([`paused`]).

use std::sync::Arc;
use std::time::Duration;

use backflow_core::batch::AttributeSpec;
use backflow_core::budget::{Answer, Ask, Window};
use backflow_core::config::{DeleteMode, KeyField};
use backflow_core::retry::RetryPolicy;
use backflow_core::run::Outcome;
use backflow_core::secret::Secret;
use backflow_core::value::DataType;
use backflow_intercom::{
    BudgetError, BudgetFuture, CallBudget, Client, ClientConfig, Clock, Error, MemoryBudget, Role,
    RowError, TokioClock, WriteResult,
};
use intercom_emulator::{Emulator, Options};
use serde_json::{json, Map, Value};

mod attributes;
mod companies;
mod contacts;
mod events;
mod objects;
mod rate_limit;
mod transport;

// ------------------------------------------------------------------ helpers

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base: Duration::from_millis(2),
        cap: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    }
}

async fn start(opts: Options) -> (Emulator, Client) {
    let emu = Emulator::start(opts, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");
    let client = client_for(&emu.base_url(), "tok_test", fast_policy());
    (emu, client)
}

fn client_for(base: &str, token: &str, retry: RetryPolicy) -> Client {
    Client::new(ClientConfig {
        retry,
        timeout: Duration::from_secs(5),
        ..ClientConfig::new(base, Secret::new(token))
    })
    .unwrap()
}

fn plain() -> Options {
    Options {
        rate_limit: 0,
        ..Options::default()
    }
}

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn dump(emu: &Emulator) -> Value {
    get_json(format!("{}/_emulator/dump", emu.base_url())).await
}

async fn stats(emu: &Emulator) -> Value {
    get_json(format!("{}/_emulator/stats", emu.base_url())).await
}

/// A new user with `external_id` and nothing else; its Intercom id.
async fn new_user(client: &Client, external_id: &str) -> String {
    client
        .upsert_contact(
            KeyField::ExternalId,
            external_id,
            None,
            &map(json!({})),
            Role::User,
        )
        .await
        .unwrap()
        .intercom_id
        .unwrap()
}

fn route_count(stats: &Value, route: &str) -> u64 {
    stats["by_route"][route].as_u64().unwrap_or(0)
}

fn status_count(stats: &Value, status: &str) -> u64 {
    stats["by_status"][status].as_u64().unwrap_or(0)
}

/// Contacts in the dump (not deleted or merged) whose `field` is `value`.
fn live_contacts<'a>(dump: &'a Value, field: &str, value: &str) -> Vec<&'a Value> {
    dump["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["deleted"] != json!(true) && c["merged_into"].is_null())
        .filter(|c| c[field].as_str() == Some(value))
        .collect()
}

/// A direct API call, bypassing the client under test.
async fn raw(emu: &Emulator, method: reqwest::Method, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .request(method, format!("{}{}", emu.base_url(), path))
        .bearer_auth("tok_test")
        .header("Intercom-Version", "2.14")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn outcome(r: &Result<WriteResult, RowError>) -> Outcome {
    match r {
        Ok(w) => w.outcome,
        Err(e) => panic!("write failed: {e}"),
    }
}

fn rejected_code(r: Result<WriteResult, RowError>) -> String {
    match r {
        Err(RowError::Rejected(rej)) => rej.code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ------------------------------------------------------------------ paused time

/// Where a paused test's clock starts: 3 s into a rate-limit window (windows
/// end on Unix multiples of 10 s, so this one ends at [`PAUSED_RESET`]).
const PAUSED_START_MS: i64 = 1_700_000_003_000;
const PAUSED_RESET: i64 = 1_700_000_010;

/// An emulator and a way to make clients, on one clock that follows tokio's
/// paused time (`#[tokio::test(start_paused = true)]`): the emulator's
/// rate-limit windows and the clients' waits turn together, and waiting out a
/// window takes no real time.
struct Paused {
    emu: Emulator,
    clock: TokioClock,
}

impl Paused {
    async fn start(opts: Options) -> Paused {
        let clock = TokioClock::starting_at(PAUSED_START_MS);
        let source = Arc::new(move || clock.unix_millis());
        let emu = Emulator::start_with_clock(
            opts,
            "127.0.0.1:0".parse().unwrap(),
            intercom_emulator::state::Clock::following(source),
        )
        .await
        .expect("emulator starts");
        Paused { emu, clock }
    }

    /// A client of the emulator on the shared clock. The timeout is long: on
    /// paused time, tokio jumps to the next timer whenever every task waits,
    /// and a request on the wire must not be the one that times out.
    fn client(&self, retry: RetryPolicy) -> Client {
        Client::new(ClientConfig {
            retry,
            timeout: Duration::from_secs(600),
            clock: Arc::new(self.clock),
            ..ClientConfig::new(self.emu.base_url(), Secret::new("tok_test"))
        })
        .unwrap()
    }

    /// Seconds of (paused) time since the start.
    fn elapsed(&self) -> f64 {
        (self.clock.unix_millis() - PAUSED_START_MS) as f64 / 1000.0
    }
}
