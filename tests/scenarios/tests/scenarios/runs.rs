//! Runs through the API: reachable at the function URL, one run per sync at
//! a time, one run per Scheduled Event however often it is delivered, and dry
//! runs (a plan, samples, nothing written).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario, Val};
use serde_json::{json, Value};

use super::{only, user_spec};

// 0. The API is reachable where the docs say: the function URL of `trigger`

pub(super) async fn api_through_function_url(sc: Scenario) -> Result<()> {
    if let Some(problem) = &sc.stack.function_url_problem {
        anyhow::bail!(
            "`cargo lambda watch` cannot serve the API at /lambda-url/trigger/… ({problem}); \
             the other scenarios fall back to invoking `trigger` directly"
        );
    }
    let api = backflow_scenarios::Api::new(
        sc.stack.watch_url.clone(),
        backflow_scenarios::api::Transport::FunctionUrl,
    );
    let ans = api.syncs().await?;
    check_eq!(ans.status, 200, "GET /syncs: {}", ans.text);
    check!(
        ans.body["syncs"].is_array(),
        "GET /syncs body: {}",
        ans.text
    );
    let ans = api
        .start(&sc.sync("no_such_sync"), RunRequest::normal())
        .await?;
    check_eq!(ans.status, 404, "POST /syncs/<unknown>/runs: {}", ans.text);
    Ok(())
}

// 11. one run per sync at a time

pub(super) async fn concurrent_run_conflict(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Slow).await?;
    let rows: Vec<Vec<Val>> = (1..=200)
        .map(|n| vec![s(format!("k-{n:03}")), s(format!("k{n}@example.com"))])
        .collect();
    let table = sc
        .table("people", &[("id", Col::Text), ("email", Col::Text)], &rows)
        .await?;
    let sync = sc.add_sync(
        "people",
        &format!("select id, email from {table}"),
        user_spec(&dest, "id", "external_id", json!({"email": "email"})),
    )?;
    let first = sc.api.start_ok(&sync, RunRequest::normal()).await?;
    let second = sc.api.start(&sync, RunRequest::normal()).await?;
    let still_running = !sc.api.run(&first).await?.is_terminal();
    check!(
        still_running,
        "the first run was expected to still be in progress (200 rows, 150 ms per call)"
    );
    check_eq!(
        second.status,
        409,
        "a second run while the first is in progress: {}",
        second.text
    );
    check!(
        second.body["error"]["message"].is_string(),
        "409 error envelope: {}",
        second.text
    );
    let r = sc.api.wait(&first, Duration::from_secs(600)).await?;
    check_eq!(r.status(), "succeeded", "the first run\n{r}");
    check_eq!(r.count("created"), 200, "counts.created\n{r}");
    // The lock is released at the end.
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "a run after the first ended\n{r}");
    check_eq!(r.count("unchanged"), 200, "counts.unchanged\n{r}");
    check_eq!(ic.contacts().await?.len(), 200, "one contact per row");
    Ok(())
}

// ---------------------------------------------------------------------------
// 11b. the same Scheduled Event delivered twice to `trigger` starts one run

pub(super) async fn schedule_delivered_twice_starts_one_run(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let rows: Vec<Vec<Val>> = (1..=3)
        .map(|n| vec![s(format!("t-{n}")), s(format!("tick{n}@example.com"))])
        .collect();
    let table = sc
        .table("people", &[("id", Col::Text), ("email", Col::Text)], &rows)
        .await?;
    let mut spec = user_spec(&dest, "id", "external_id", json!({"email": "email"}));
    spec["schedule"] = json!("* * * * *");
    let sync = sc.add_sync("people", &format!("select id, email from {table}"), spec)?;
    let started_of = backflow_scenarios::api::started;

    // First delivery: this sync (the only one on the stack with a schedule) starts.
    let event = backflow_scenarios::api::scheduled_event("2026-11-29T10:30:00Z");
    let first = sc.api.invoke_trigger(&event).await?;
    let started = started_of(&first);
    check_eq!(
        started.len(),
        1,
        "runs started by the first delivery: {first}"
    );
    let r = sc.api.wait(&started[0], Duration::from_secs(300)).await?;
    check_eq!(r.status(), "succeeded", "the scheduled run\n{r}");
    check_eq!(
        r.0["trigger"],
        json!("schedule"),
        "the run says it was scheduled\n{r}"
    );
    check_eq!(r.count("created"), 3, "counts.created\n{r}");

    // The same event again, once that run has ended (so the sync is free and
    // only the claim on that minute can hold it back): nothing starts.
    let before = ic.stats().await?;
    let again = sc.api.invoke_trigger(&event).await?;
    check_eq!(
        started_of(&again),
        Vec::<String>::new(),
        "runs started by the same Scheduled Event delivered again: {again}"
    );
    check_eq!(
        sc.run_ids_of(&sync).await?,
        BTreeSet::from([started[0].clone()]),
        "run records of the sync after the event came twice"
    );
    check_eq!(
        ic.stats().await?.since(&before).requests,
        0,
        "Intercom calls after the second delivery"
    );

    // The next minute's event is a new tick: it starts a run (the claim is per minute).
    let next = sc
        .api
        .invoke_trigger(&backflow_scenarios::api::scheduled_event(
            "2026-11-29T10:31:00Z",
        ))
        .await?;
    let next_started = started_of(&next);
    check_eq!(
        next_started.len(),
        1,
        "runs started by the next minute's event: {next}"
    );
    let r = sc
        .api
        .wait(&next_started[0], Duration::from_secs(300))
        .await?;
    check_eq!(r.status(), "succeeded", "the next minute's run\n{r}");
    check_eq!(r.count("unchanged"), 3, "counts.unchanged\n{r}");
    check_eq!(
        sc.run_ids_of(&sync).await?.len(),
        2,
        "run records: one per minute"
    );
    check_eq!(ic.contacts().await?.len(), 3, "one contact per row");
    Ok(())
}

// ---------------------------------------------------------------------------
// 12. dry run: a plan, samples, and nothing written

pub(super) async fn dry_run_plans_and_writes_nothing(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let cols = [
        ("id", Col::Text),
        ("email", Col::Text),
        ("full_name", Col::Text),
        ("plan", Col::Text),
    ];
    let mut rows: Vec<Vec<Val>> = (1..=9)
        .map(|n| {
            vec![
                s(format!("p-{n}")),
                s(format!("p{n}@example.com")),
                s(format!("Person {n}")),
                s("pro"),
            ]
        })
        .collect();
    rows.push(vec![s("p-bad"), s("not-an-email"), s("Bad"), s("pro")]);
    let table = sc.table("people", &cols, &rows).await?;
    let sync = sc.add_sync(
        "people",
        &format!("select id, email, full_name, plan from {table}"),
        user_spec(
            &dest,
            "id",
            "external_id",
            json!({"email": "email", "name": "full_name", "custom_attributes.plan": "plan"}),
        ),
    )?;
    let check_dry = |r: &backflow_scenarios::RunRecord| -> Result<()> {
        check_eq!(r.status(), "succeeded", "a dry run ends succeeded\n{r}");
        check_eq!(r.0["dry_run"], json!(true), "dry_run flag\n{r}");
        for c in [
            "created", "updated", "deleted", "archived", "sent", "rejected",
        ] {
            check_eq!(r.count(c), 0, "counts.{c} of a dry run\n{r}");
        }
        let samples = &r.0["samples"];
        let present = match samples {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => o
                .values()
                .any(|v| v.as_array().is_some_and(|a| !a.is_empty()) || v.is_object()),
            _ => false,
        };
        check!(present, "a dry run has samples\n{r}");
        Ok(())
    };

    let before = ic.stats().await?;
    let dry = sc.api.run_to_end(&sync, RunRequest::dry()).await?;
    let delta = ic.stats().await?.since(&before);
    check_dry(&dry)?;
    check_eq!(dry.plan("create"), 9, "plan.create\n{dry}");
    check_eq!(dry.plan("invalid"), 1, "plan.invalid\n{dry}");
    check_eq!(dry.plan("update"), 0, "plan.update\n{dry}");
    check!(
        delta.writes() == 0,
        "a dry run wrote to Intercom: {:?}",
        delta.write_routes()
    );
    check!(
        ic.contacts().await?.is_empty(),
        "no contacts after a dry run"
    );
    check!(
        ic.attributes().await?.is_empty(),
        "no attributes created by a dry run"
    );

    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "the real run (one invalid row)\n{r}");
    check_eq!(r.count("created"), 9, "counts.created\n{r}");

    sc.sql(&[
        format!("UPDATE {table} SET full_name = 'Changed 1' WHERE id = 'p-1'"),
        format!("UPDATE {table} SET plan = 'free' WHERE id = 'p-2'"),
        format!("INSERT INTO {table} (id, email, full_name, plan) VALUES ('p-10', 'p10@example.com', 'Person 10', 'pro')"),
    ])
    .await?;
    let before = ic.stats().await?;
    let dry = sc.api.run_to_end(&sync, RunRequest::dry()).await?;
    let delta = ic.stats().await?.since(&before);
    check_dry(&dry)?;
    check_eq!(dry.plan("update"), 2, "plan.update\n{dry}");
    check_eq!(dry.plan("create"), 1, "plan.create\n{dry}");
    check_eq!(dry.plan("unchanged"), 7, "plan.unchanged\n{dry}");
    check_eq!(dry.plan("invalid"), 1, "plan.invalid\n{dry}");
    check!(
        delta.writes() == 0,
        "a dry run wrote to Intercom: {:?}",
        delta.write_routes()
    );
    let all = ic.contacts().await?;
    check_eq!(all.len(), 9, "the dry run created nothing");
    check_eq!(
        only(&all, "external_id", "p-1")?["name"],
        json!("Person 1"),
        "the dry run updated nothing"
    );
    Ok(())
}
