//! The shared Intercom call budget, end to end: two syncs to one Intercom app
//! run at once, each fanned out to several concurrent `load` invocations, against
//! a tight rate limit (100 requests per 10-second window, `Profile::Tight`).
//! Every invocation takes its calls from the app's budget in DynamoDB, so
//! together they stay within each window: (almost) no call is answered 429,
//! every user lands exactly once, and a new user costs one call.
//!
//! Nothing sleeps and nothing is timed: runs are polled to their end (bounded).
//!
//! Run: `cargo test -p backflow-scenarios --test throughput -- sqlite::`

use std::collections::BTreeMap;

use anyhow::Result;
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario, Val};
use serde_json::json;

/// Users per sync.
const USERS: u64 = 150;
/// Rows per S3 batch (one `load` invocation each): 4 loads per sync.
const BATCH: u64 = 40;

async fn two_syncs_share_one_budget(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Tight).await?;
    let cols = [
        ("id", Col::Text),
        ("email", Col::Text),
        ("full_name", Col::Text),
    ];
    let mut syncs = Vec::new();
    for name in ["alpha", "beta"] {
        let rows: Vec<Vec<Val>> = (1..=USERS)
            .map(|n| {
                vec![
                    s(format!("{name}-{n}")),
                    s(format!("{name}{n}@example.com")),
                    s(format!("User {name} {n}")),
                ]
            })
            .collect();
        let table = sc.table(name, &cols, &rows).await?;
        let sync = sc.add_sync(
            name,
            &format!("select id, email, full_name from {table}"),
            json!({
                "destination": dest, "object": "user", "behavior": "update_or_create",
                "key": {"column": "id", "field": "external_id"},
                "fields": {"email": "email", "name": "full_name"},
                "batch_size": BATCH,
            }),
        )?;
        syncs.push(sync);
    }

    let before = ic.stats().await?;
    let (a, b) = tokio::join!(
        sc.api.run_to_end(&syncs[0], RunRequest::normal()),
        sc.api.run_to_end(&syncs[1], RunRequest::normal()),
    );
    let runs = [a?, b?];
    let delta = ic.stats().await?.since(&before);

    for r in &runs {
        check_eq!(r.status(), "succeeded", "run\n{r}");
        check_eq!(r.count("created"), USERS, "counts.created\n{r}");
        check_eq!(
            r.0["batches"]["total"],
            json!(USERS.div_ceil(BATCH)),
            "batches\n{r}"
        );
    }

    // Every user exactly once.
    let contacts = ic.contacts().await?;
    let mut per_key: BTreeMap<String, u32> = BTreeMap::new();
    for c in &contacts {
        if let Some(x) = c["external_id"].as_str() {
            *per_key.entry(x.to_string()).or_default() += 1;
        }
    }
    check_eq!(contacts.len() as u64, 2 * USERS, "contacts in Intercom");
    check_eq!(per_key.len() as u64, 2 * USERS, "distinct external ids");
    check!(
        per_key.values().all(|&n| n == 1),
        "a key landed twice: {:?}",
        per_key.iter().filter(|(_, &n)| n > 1).collect::<Vec<_>>()
    );

    // At most 1 % of all calls answered 429, across both syncs and all loads.
    let calls = delta.requests;
    let refused = delta.by_status.get("429").copied().unwrap_or(0);
    let budget_writes: f64 = runs
        .iter()
        .map(|r| r.0["usage"]["dynamodb_write_units"].as_f64().unwrap_or(0.0))
        .sum();
    eprintln!(
        "[{} two_syncs_share_one_budget] {calls} calls for {} new users ({:.4} per user), {refused} answered 429; routes {:?}; DynamoDB write units of both runs: {budget_writes}",
        sc.kind.name(),
        2 * USERS,
        calls as f64 / (2 * USERS) as f64,
        delta.by_route,
    );
    check!(
        refused * 100 <= calls,
        "{refused} of {calls} calls were answered 429 (more than 1 %): {:?}",
        delta.by_status
    );
    // The windows were really shared: the run needed several of them.
    check!(
        calls > 3 * u64::from(Profile::Tight.options().rate_limit),
        "{calls} calls fit in fewer than 4 windows: the test proves nothing"
    );

    // A new user costs one call: one create each (plus the retries of refused
    // ones), and — beyond each run's token check — at most 1 % more calls.
    check_eq!(
        delta.route("POST /contacts") - refused,
        2 * USERS,
        "creates not refused ({:?}, {:?})",
        delta.by_route,
        delta.by_status
    );
    let token_checks = delta.route("GET /me");
    check!(
        token_checks <= 2,
        "{token_checks} token checks for two runs"
    );
    check!(
        (calls - token_checks) * 100 <= 2 * USERS * 101,
        "{calls} calls for {} new users: more than 1.01 per user ({:?})",
        2 * USERS,
        delta.by_route
    );
    let api_calls: u64 = runs
        .iter()
        .map(|r| r.0["api_calls"].as_u64().unwrap_or(0))
        .sum();
    check!(
        api_calls <= calls,
        "the runs report {api_calls} calls, the emulator saw {calls}"
    );
    Ok(())
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_syncs_share_one_budget() {
        backflow_scenarios::run_scenario(
            backflow_scenarios::Kind::Sqlite,
            "two_syncs_share_one_budget",
            false,
            super::two_syncs_share_one_budget,
        )
        .await;
    }
}
