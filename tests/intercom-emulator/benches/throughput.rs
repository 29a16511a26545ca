//! Throughput of the emulator's hot path: `POST /contacts` then
//! `PUT /contacts/{id}` over 64 concurrent keep-alive connections, in-process,
//! rate limit off, no latency. Prints requests per second.
//!
//! `cargo bench -p intercom-emulator` (release). `BENCH_CONTACTS` sets how many
//! contacts are created and updated (default 20,000); each phase also stops
//! after 30 s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intercom_emulator::{Emulator, Options};
use serde_json::json;

const CONNECTIONS: usize = 64;

/// Only the id of a created contact is read (the client shares the 2 cores).
#[derive(serde::Deserialize)]
struct Created {
    id: String,
}
const PHASE_LIMIT: Duration = Duration::from_secs(30);

async fn phase<F, Fut>(name: &str, n: usize, work: F) -> (usize, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (work, next, done) = (work.clone(), next.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || start.elapsed() > PHASE_LIMIT {
                    break;
                }
                if work(i).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("bench task");
    }
    let elapsed = start.elapsed();
    let ok = done.load(Ordering::Relaxed);
    println!(
        "{name:>8}: {ok} requests in {:.2}s = {:.0} req/s",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64()
    );
    (ok, elapsed)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let opts = Options {
        rate_limit: 0,
        ..Options::default()
    };
    let emu = Emulator::start(opts, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("start emulator");
    let base = emu.base_url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("client");
    client
        .post(format!("{base}/data_attributes"))
        .bearer_auth("bench")
        .json(&json!({"name": "plan", "model": "contact", "data_type": "string"}))
        .send()
        .await
        .expect("create attribute");

    let ids = Arc::new(Mutex::new(vec![String::new(); n]));
    let (c, b, store) = (client.clone(), base.clone(), ids.clone());
    let (created, t_create) = phase("create", n, move |i| {
        let (c, b, store) = (c.clone(), b.clone(), store.clone());
        async move {
            let body = json!({"email": format!("user{i}@bench.test"), "external_id": format!("u{i}"), "name": "Bench"});
            let Ok(r) = c.post(format!("{b}/contacts")).bearer_auth("bench").json(&body).send().await else {
                return false;
            };
            match r.json::<Created>().await {
                Ok(created) => {
                    store.lock().unwrap()[i] = created.id;
                    true
                }
                Err(_) => false,
            }
        }
    })
    .await;

    let ids: Arc<Vec<String>> = Arc::new(std::mem::take(&mut *ids.lock().unwrap()));
    let (c, b) = (client.clone(), base.clone());
    let (updated, t_update) = phase("update", created, move |i| {
        let (c, b, ids) = (c.clone(), b.clone(), ids.clone());
        async move {
            let body = json!({"name": format!("Bench {i}"), "custom_attributes": {"plan": "pro"}});
            match c
                .put(format!("{b}/contacts/{}", ids[i]))
                .bearer_auth("bench")
                .json(&body)
                .send()
                .await
            {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;

    let total = (created + updated) as f64;
    let secs = (t_create + t_update).as_secs_f64();
    println!(
        "   total: {} requests in {secs:.2}s = {:.0} req/s (POST /contacts + PUT /contacts/{{id}}, {CONNECTIONS} connections)",
        created + updated,
        total / secs
    );
    emu.shutdown().await;
}
