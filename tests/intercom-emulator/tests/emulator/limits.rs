//! Rate limits, random faults and added latency.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use intercom_emulator::Options;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{answer, Answer, Env, TOKEN};

fn reset_of(a: &Answer) -> Option<String> {
    a.header("x-ratelimit-reset")
}

/// The answers of the window that produced the first 429 (requests may
/// straddle a window boundary, so group by `X-RateLimit-Reset`).
fn window_of_first_429(answers: &[Answer]) -> (&Answer, Vec<&Answer>) {
    let at = answers
        .iter()
        .position(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .expect("a 429");
    let limited = &answers[at];
    let before = answers[..at]
        .iter()
        .filter(|a| reset_of(a) == reset_of(limited))
        .collect();
    (limited, before)
}

#[tokio::test]
async fn the_budget_per_window_is_enforced_with_headers_and_a_429() {
    let env = Env::with(Options {
        rate_limit: 5,
        ..Options::default()
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(env.get("/me").await);
    }
    let (limited, window) = window_of_first_429(&answers);
    assert_eq!(
        window.len(),
        5,
        "exactly the budget went through in that window"
    );
    let remaining: Vec<String> = window
        .iter()
        .map(|a| a.header("x-ratelimit-remaining").unwrap())
        .collect();
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    assert!(window
        .iter()
        .all(|a| a.header("x-ratelimit-limit").as_deref() == Some("5")));
    let msg = limited.expect_error(429, "rate_limit_exceeded");
    assert_eq!(msg, "Exceeded rate limit of 5 in 10_seconds");
    assert_eq!(
        limited.header("x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(limited.header("x-ratelimit-limit").as_deref(), Some("5"));
    let reset: i64 = reset_of(limited).unwrap().parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(reset % 10, 0, "windows align to multiples of 10 s");
    assert!(
        reset > now - 1 && reset <= now + 10,
        "reset {reset} now {now}"
    );
    // A bad token while limited: still 401 and no headers.
    let env_tok = Env::with(Options {
        rate_limit: 1,
        tokens: vec![TOKEN.into()],
        ..Options::default()
    })
    .await;
    env_tok.get("/me").await;
    env_tok.get("/me").await;
    let bad = answer(
        env_tok
            .client
            .get(env_tok.url("/me"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    bad.expect_error(401, "unauthorized");
    assert_eq!(bad.header("x-ratelimit-remaining"), None);
}

#[tokio::test]
async fn every_token_shares_one_budget() {
    let env = Env::with(Options {
        rate_limit: 3,
        tokens: vec!["a".into(), "b".into()],
        ..Options::default()
    })
    .await;
    let mut answers = Vec::new();
    for i in 0..10 {
        let token = if i % 2 == 0 { "a" } else { "b" };
        let resp = env
            .client
            .get(env.url("/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        answers.push(answer(resp).await);
    }
    let (_, window) = window_of_first_429(&answers);
    assert_eq!(window.len(), 3);
}

#[tokio::test]
async fn unlimited_still_sends_the_rate_limit_headers() {
    // Intercom answers every authenticated request with its budget; unlimited
    // says so with a budget no client can spend, counted for real.
    let env = Env::new().await;
    let mut seen = Vec::new();
    for path in ["/me"; 20].into_iter().chain(["/no-such-route"]) {
        let a = env.get(path).await;
        assert_eq!(a.header("x-ratelimit-limit").as_deref(), Some("4294967295"));
        let reset: i64 = reset_of(&a).expect("X-RateLimit-Reset").parse().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(reset % 10, 0, "windows end on multiples of 10 s");
        assert!((now..=now + 10).contains(&reset), "{reset} vs now {now}");
        let remaining: u32 = a
            .header("x-ratelimit-remaining")
            .expect("X-RateLimit-Remaining")
            .parse()
            .unwrap();
        seen.push((reset, remaining));
    }
    for pair in seen.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert_eq!(pair[1].1, pair[0].1 - 1, "one request, one call: {seen:?}");
        }
    }
}

/// Outcome of one request under faults: a status code, or 0 for a dropped connection.
async fn outcomes(seed: u64, n: usize) -> Vec<u16> {
    let env = Env::with(Options {
        rate_limit: 0,
        fault_rate: 0.3,
        seed: Some(seed),
        ..Options::default()
    })
    .await;
    let mut out = Vec::new();
    for _ in 0..n {
        match env
            .client
            .get(env.url("/me"))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            Ok(resp) => {
                let a = answer(resp).await;
                match a.status.as_u16() {
                    500 => assert_eq!(a.error().0, "server_error"),
                    503 => assert_eq!(a.error().0, "service_unavailable"),
                    _ => {}
                }
                out.push(a.status.as_u16());
            }
            Err(_) => out.push(0),
        }
    }
    let stats = env.stats().await;
    let count = |code: u16| out.iter().filter(|c| **c == code).count() as u64;
    assert_eq!(stats["by_status"]["500"].as_u64().unwrap_or(0), count(500));
    assert_eq!(stats["by_status"]["503"].as_u64().unwrap_or(0), count(503));
    assert_eq!(
        stats["by_status"]["dropped"].as_u64().unwrap_or(0),
        count(0)
    );
    out
}

#[tokio::test]
async fn faults_hit_about_the_given_fraction_and_repeat_with_a_seed() {
    let first = outcomes(42, 400).await;
    let failed = first.iter().filter(|c| **c != 200).count();
    assert!(
        (80..=160).contains(&failed),
        "{failed} of 400 failed at rate 0.3"
    );
    for kind in [0, 500, 503] {
        assert!(first.contains(&kind), "kind {kind} never happened");
    }
    assert_eq!(outcomes(42, 400).await, first, "same seed, same faults");
}

#[tokio::test]
async fn faults_happen_before_any_change_unless_told_otherwise() {
    let before = Env::with(Options {
        rate_limit: 0,
        fault_rate: 1.0,
        seed: Some(1),
        ..Options::default()
    })
    .await;
    let after = Env::with(Options {
        rate_limit: 0,
        fault_rate: 1.0,
        seed: Some(1),
        fault_after_apply: true,
        ..Options::default()
    })
    .await;
    for env in [&before, &after] {
        for i in 0..10 {
            let sent = env
                .client
                .post(env.url("/contacts"))
                .bearer_auth(TOKEN)
                .json(&json!({"email": format!("f{i}@x.com")}))
                .send()
                .await;
            if let Ok(resp) = sent {
                assert!(resp.status().is_server_error());
            }
        }
    }
    assert_eq!(before.dump().await["contacts"].as_array().unwrap().len(), 0);
    assert_eq!(
        after.dump().await["contacts"].as_array().unwrap().len(),
        10,
        "applied, then failed"
    );
}

#[tokio::test]
async fn latency_is_added_without_serializing_requests() {
    let env = Env::with(Options {
        rate_limit: 0,
        latency_ms: 200,
        ..Options::default()
    })
    .await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, url) = (env.client.clone(), env.url("/me"));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            t.elapsed()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap() >= Duration::from_millis(200));
    }
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "{:?}: requests were serialized",
        start.elapsed()
    );
}
