//! Rate limiting on paused time: the waits after 429s, header pacing, the
//! shared call budget. Each test starts 3 s into a window ([`PAUSED_START_MS`])
//! with the production retry policy; the windows it waits out take no real time.

use crate::*;

#[tokio::test(start_paused = true)]
async fn rate_limited_writes_all_land_and_pacing_avoids_further_429s() {
    let p = Paused::start(Options {
        rate_limit: 5,
        ..Options::default()
    })
    .await;
    let client = p.client(RetryPolicy::default());
    // A burst with nothing to pace by yet: 8 calls against a budget of 5.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                c.upsert_company(&map(json!({"company_id": format!("co{i}")})), None)
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().outcome, Outcome::Created);
    }
    // The 3 refused waited for the reset (7 s away, plus margin and jitter)
    // and landed in the next window: no second 429.
    let after_burst = client.stats();
    assert_eq!(after_burst.rate_limited, 3, "{after_burst:?}");
    assert!((8.0..10.0).contains(&p.elapsed()), "{}", p.elapsed());

    // Now the headers are known: sequential calls are paced, never refused.
    // The window has 2 calls left: the last waits for the window after.
    for i in 8..11 {
        client
            .upsert_company(&map(json!({"company_id": format!("co{i}")})), None)
            .await
            .unwrap();
    }
    assert!(p.elapsed() >= 17.0, "{}", p.elapsed());
    let s = stats(&p.emu).await;
    assert_eq!(client.stats().rate_limited, after_burst.rate_limited);
    assert_eq!(status_count(&s, "429"), after_burst.rate_limited);
    assert_eq!(status_count(&s, "200"), 11);
    assert_eq!(client.stats().calls, s["requests"].as_u64().unwrap());
    assert_eq!(
        dump(&p.emu).await["companies"].as_array().unwrap().len(),
        11
    );
}

// ------------------------------------------------------------------ shared budget

/// Two clients (two `load` invocations) sharing one budget against a small
/// rate limit, each with a burst of concurrent calls: the budget hands out the
/// windows so that no call is refused, and every write lands once.
#[tokio::test(start_paused = true)]
async fn two_clients_sharing_a_budget_never_get_a_429() {
    const LIMIT: u32 = 10;
    let p = Paused::start(Options {
        rate_limit: LIMIT,
        ..Options::default()
    })
    .await;
    let store = Arc::new(MemoryBudget::new());
    let clients: Vec<Client> = (0..2)
        .map(|_| p.client(RetryPolicy::default()).with_budget(store.clone()))
        .collect();
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..8 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                client
                    .upsert_company(&map(json!({"company_id": format!("c{c}-{i}")})), None)
                    .await
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().outcome, Outcome::Created);
    }
    for client in &clients {
        client.release_budget().await;
    }
    let s = stats(&p.emu).await;
    assert_eq!(status_count(&s, "429"), 0, "{s}");
    assert_eq!(status_count(&s, "200"), 16, "{s}");
    let calls: u64 = clients.iter().map(|c| c.stats().calls).sum();
    assert_eq!(calls, 16);
    // 16 calls at 10 a window: the budget waited for the next window.
    let windows = store.windows();
    assert!(windows.len() >= 2, "{windows:?}");
    assert!(
        windows.iter().all(|&(_, used)| used <= LIMIT),
        "{windows:?}"
    );
    assert!(windows.iter().map(|&(_, used)| used).sum::<u32>() >= 16);
    assert!(p.elapsed() >= 7.0, "{}", p.elapsed());
    for client in &clients {
        let st = client.stats();
        assert_eq!(st.rate_limited, 0);
        assert!(st.budget_writes >= 2, "{st:?}");
    }
    assert_eq!(
        dump(&p.emu).await["companies"].as_array().unwrap().len(),
        16
    );
}

#[tokio::test(start_paused = true)]
async fn unused_calls_are_given_back_and_a_server_without_limits_is_not_budgeted() {
    let p = Paused::start(Options::default()).await;
    let store = Arc::new(MemoryBudget::new());
    let client = p.client(RetryPolicy::default()).with_budget(store.clone());
    for i in 0..3 {
        client
            .upsert_company(&map(json!({"company_id": format!("g{i}")})), None)
            .await
            .unwrap();
    }
    // The first call alone (it learns the limit), then a small block — a few
    // rounds of the caller's concurrency (1) —: a lone sequential caller does
    // not sit on a large share of the window.
    let block = backflow_core::budget::ROUNDS_AHEAD;
    assert_eq!(store.windows(), vec![(PAUSED_RESET, 1 + block)]);
    client.release_budget().await;
    assert_eq!(
        store.windows(),
        vec![(PAUSED_RESET, 3)],
        "only what was sent stays counted"
    );
    assert_eq!(client.stats().budget_writes, 3, "{:?}", client.stats());
    assert_eq!(stats(&p.emu).await["requests"], json!(3));

    // No X-RateLimit-* headers (the emulator always sends them, as Intercom
    // does, so a bare server here): after the first answer, calls are not
    // budgeted. The client keeps the paused clock and its long timeout.
    let base = headerless_companies().await;
    let store = Arc::new(MemoryBudget::new());
    let client = Client::new(ClientConfig {
        retry: RetryPolicy::default(),
        timeout: Duration::from_secs(600),
        clock: Arc::new(p.clock),
        ..ClientConfig::new(&base, Secret::new("tok_test"))
    })
    .unwrap()
    .with_budget(store.clone());
    for i in 0..5 {
        client
            .upsert_company(&map(json!({"company_id": format!("u{i}")})), None)
            .await
            .unwrap();
    }
    assert_eq!(client.stats().budget_writes, 1);
    assert_eq!(store.windows().iter().map(|w| w.1).sum::<u32>(), 1);
}

/// A server that answers `POST /companies` like Intercom but without any
/// `X-RateLimit-*` header; its base URL.
async fn headerless_companies() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/companies",
        post(|axum::Json(body): axum::Json<Value>| async move {
            axum::Json(json!({
                "type": "company",
                "id": format!("id-{}", body["company_id"].as_str().unwrap_or("?")),
                "company_id": body["company_id"],
                "created_at": 1_700_000_000,
                "updated_at": 1_700_000_000,
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A store that is down.
struct Down;

impl CallBudget for Down {
    fn take(&self, _: Ask) -> BudgetFuture<'_, Answer> {
        Box::pin(async { Err(BudgetError("connection refused".into())) })
    }
    fn give_back(&self, _: Window, _: u32) -> BudgetFuture<'_, ()> {
        Box::pin(async { Err(BudgetError("connection refused".into())) })
    }
    fn describe(&self) -> String {
        "a store that is down".into()
    }
}

#[tokio::test(start_paused = true)]
async fn a_budget_store_that_is_down_falls_back_to_header_pacing() {
    let p = Paused::start(Options {
        rate_limit: 3,
        ..Options::default()
    })
    .await;
    let client = p.client(RetryPolicy::default()).with_budget(Arc::new(Down));
    for i in 0..4 {
        client
            .upsert_company(&map(json!({"company_id": format!("d{i}")})), None)
            .await
            .unwrap();
    }
    client.release_budget().await;
    assert_eq!(client.stats().budget_writes, 1, "asked once, then gave up");
    // The headers alone paced the 4th call into the next window: no 429.
    assert_eq!(client.stats().rate_limited, 0);
    assert!(p.elapsed() >= 7.0, "{}", p.elapsed());
    assert_eq!(dump(&p.emu).await["companies"].as_array().unwrap().len(), 4);
}
