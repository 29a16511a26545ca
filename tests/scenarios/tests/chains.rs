//! `after:` chains and `alerts:` through the real functions (issue 15, items 4
//! and 5), on a SQLite stack:
//!
//! | scenario | what a user would notice if it broke |
//! |---|---|
//! | [`after_chain_runs_in_order_once`] | one Scheduled Event (delivered twice) runs companies → users → events, each once and in that order: users attach to companies that exist, events find their users; a duplicated `run_ended` or a later delivery of the same tick starts nothing |
//! | [`alert_published_once_to_sns`] | a run refusing more than `rejected_pct` of its rows publishes one message to the stack's SNS topic (read from an SQS queue subscribed to it in moto) naming the sync, the run, the counts and the first reasons, without the access token; the run's ending delivered again publishes nothing more |
//!
//! Run: `cargo test -p backflow-scenarios --test chains`

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use backflow_scenarios::api::{scheduled_event, started};
use backflow_scenarios::config::TOKEN;
use backflow_scenarios::stack::{aws_call, poll};
use backflow_scenarios::warehouse::{s, ts};
use backflow_scenarios::{check, check_eq, Col, Profile, RunRecord, RunRequest, Scenario};
use serde_json::{json, Value};

const RUN_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// companies → users → events from one tick

async fn after_chain_runs_in_order_once(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let companies = sc
        .table(
            "companies",
            &[("company_id", Col::Text), ("name", Col::Text)],
            &[vec![s("c-1"), s("Acme")], vec![s("c-2"), s("Beta")]],
        )
        .await?;
    let users = sc
        .table(
            "users",
            &[
                ("id", Col::Text),
                ("email", Col::Text),
                ("company_id", Col::Text),
            ],
            &[
                vec![s("u-1"), s("u1@acme.example"), s("c-1")],
                vec![s("u-2"), s("u2@beta.example"), s("c-2")],
                vec![s("u-3"), s("u3@acme.example"), s("c-1")],
            ],
        )
        .await?;
    let events = sc
        .table(
            "events",
            &[
                ("event_id", Col::Text),
                ("user_id", Col::Text),
                ("at", Col::Timestamp),
            ],
            &[
                vec![s("e-1"), s("u-1"), ts("2026-01-01 10:00:00")],
                vec![s("e-2"), s("u-2"), ts("2026-01-02 10:00:00")],
                vec![s("e-3"), s("u-3"), ts("2026-01-03 10:00:00")],
            ],
        )
        .await?;
    // Each registered once what it runs after exists (the config is
    // checked whole); the config lists them by name, not in the chain's order.
    let events_sync = sc.sync("events");
    let users_sync = sc.sync("users");
    let companies_sync = sc.sync("companies");
    sc.add_sync(
        "companies",
        &format!("select company_id, name from {companies}"),
        json!({
            "destination": dest, "object": "company", "behavior": "update_or_create",
            "key": {"column": "company_id", "field": "company_id"},
            "fields": {"name": "name"}, "schedule": "* * * * *",
        }),
    )?;
    sc.add_sync(
        "users",
        &format!("select id, email, company_id from {users}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_or_create",
            "key": {"column": "id", "field": "external_id"},
            "fields": {"email": "email", "company_id": "company_id"},
            "after": [companies_sync],
        }),
    )?;
    sc.add_sync(
        "events",
        &format!("select event_id, user_id, at from {events}"),
        json!({
            "destination": dest, "object": "event", "behavior": "send",
            "key": {"column": "event_id", "field": "event_id"}, "event_name": "chained",
            "fields": {"user_id": "user_id", "created_at": "at"}, "after": [users_sync],
        }),
    )?;
    let chain = [&companies_sync, &users_sync, &events_sync];

    // One tick, delivered twice: the companies sync starts once; the others
    // wait for it.
    let tick = scheduled_event("2026-12-06T04:17:00Z");
    let first = started(&sc.api.invoke_trigger(&tick).await?);
    let again = started(&sc.api.invoke_trigger(&tick).await?);
    check_eq!(first.len(), 1, "runs started by the tick: {first:?}");
    check_eq!(
        again,
        Vec::<String>::new(),
        "runs started by the tick again"
    );

    // The chain runs on its own: each sync's run ends, in order.
    let mut runs: Vec<RunRecord> = Vec::new();
    for sync in chain {
        let run_id = poll(
            &format!("a run of {sync}"),
            RUN_TIMEOUT,
            Duration::from_millis(400),
            || async { Ok(sc.run_ids_of(sync).await?.into_iter().next()) },
        )
        .await?;
        let r = sc.api.wait(&run_id, RUN_TIMEOUT).await?;
        check_eq!(r.status(), "succeeded", "{sync}\n{r}");
        runs.push(r);
    }
    check_eq!(
        runs[0].id(),
        first[0].as_str(),
        "the tick's run is the companies run"
    );
    check_eq!(
        [
            runs[0].0["trigger"].clone(),
            runs[1].0["trigger"].clone(),
            runs[2].0["trigger"].clone()
        ],
        [json!("schedule"), json!("after"), json!("after")],
        "how each run was started"
    );
    for pair in runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let ended = before.0["finished_at"].as_str().unwrap_or("~");
        let began = after.0["started_at"].as_str().unwrap_or("");
        check!(
            ended <= began,
            "{} started at {began}, before {} ended at {ended}",
            after.0["sync"],
            before.0["sync"]
        );
    }
    check_eq!(
        runs[0].count("created"),
        2,
        "companies created\n{}",
        runs[0]
    );
    check_eq!(runs[1].count("created"), 3, "users created\n{}", runs[1]);
    check_eq!(runs[2].count("sent"), 3, "events sent\n{}", runs[2]);

    // Delivered again once everything ended: the same tick, and the endings
    // `extract`/`load` told `trigger` about. Nothing starts.
    check_eq!(
        started(&sc.api.invoke_trigger(&tick).await?),
        Vec::<String>::new(),
        "the tick delivered a third time"
    );
    for r in &runs {
        let ended = json!({"run_ended": {"run_id": r.id(), "sync": r.0["sync"]}});
        check_eq!(
            started(&sc.api.invoke_trigger(&ended).await?),
            Vec::<String>::new(),
            "run_ended of {} delivered again",
            r.0["sync"]
        );
    }
    for sync in chain {
        check_eq!(sc.run_ids_of(sync).await?.len(), 1, "runs of {sync}");
    }

    // What Intercom holds says the order too: every user attached to a
    // company that existed, every event on a user that existed.
    check_eq!(ic.companies().await?.len(), 2, "companies in Intercom");
    let visible: BTreeSet<String> = ic
        .listed_companies()
        .await?
        .iter()
        .filter_map(|c| c["company_id"].as_str().map(str::to_string))
        .collect();
    check_eq!(
        visible,
        BTreeSet::from(["c-1".to_string(), "c-2".to_string()]),
        "companies with users attached"
    );
    check_eq!(ic.contacts().await?.len(), 3, "users in Intercom");
    check_eq!(ic.events().await?.len(), 3, "events in Intercom");

    // The next minute's tick starts the companies sync again; the others
    // follow that new run (not the old one) — a chain per tick.
    let next = started(
        &sc.api
            .invoke_trigger(&scheduled_event("2026-12-06T04:18:00Z"))
            .await?,
    );
    check_eq!(next.len(), 1, "runs started by the next tick: {next:?}");
    let last = poll(
        "the events sync's second run",
        RUN_TIMEOUT,
        Duration::from_millis(400),
        || async {
            let ids = sc.run_ids_of(&events_sync).await?;
            Ok((ids.len() == 2)
                .then(|| ids.into_iter().next_back())
                .flatten())
        },
    )
    .await?;
    let r = sc.api.wait(&last, RUN_TIMEOUT).await?;
    check_eq!(r.count("unchanged"), 3, "second events run\n{r}");
    for sync in chain {
        check_eq!(
            sc.run_ids_of(sync).await?.len(),
            2,
            "runs of {sync} after two ticks"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// alerts: one SNS message per run that crosses a threshold

async fn alert_published_once_to_sns(sc: Scenario) -> Result<()> {
    let moto = backflow_scenarios::moto().await?;
    let topic = sc
        .stack
        .env
        .iter()
        .find(|(k, _)| k == "BACKFLOW_ALERTS_TOPIC_ARN")
        .map(|(_, v)| v.clone())
        .context("the functions' environment names the alerts topic")?;
    // What a team would subscribe: a queue on the topic (moto delivers to it
    // as SNS does, in SNS's JSON envelope with Subject and Message).
    let queue = aws_call(
        moto,
        "sqs",
        "create_queue",
        &json!({"QueueName": format!("{}-alerts", sc.name)}),
    )
    .await?;
    let queue_url = queue["QueueUrl"].as_str().context("QueueUrl")?.to_string();
    let attrs = aws_call(
        moto,
        "sqs",
        "get_queue_attributes",
        &json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
    )
    .await?;
    let queue_arn = attrs["Attributes"]["QueueArn"]
        .as_str()
        .context("QueueArn")?;
    aws_call(
        moto,
        "sns",
        "subscribe",
        &json!({"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue_arn}),
    )
    .await?;

    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    // 10 users, 3 with an e-mail that is no e-mail: 30 % do not land.
    let rows: Vec<Vec<_>> = (1..=10)
        .map(|n| {
            let email = if n % 3 == 0 {
                format!("user{n}.at.example.com")
            } else {
                format!("user{n}@example.com")
            };
            vec![s(format!("a-{n:02}")), s(email)]
        })
        .collect();
    let table = sc
        .table("people", &[("id", Col::Text), ("email", Col::Text)], &rows)
        .await?;
    let sync = sc.add_sync(
        "people",
        &format!("select id, email from {table}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_or_create",
            "key": {"column": "id", "field": "external_id"}, "fields": {"email": "email"},
            "alerts": {"failed": true, "rejected_pct": 5, "max_minutes": 30},
        }),
    )?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "the run\n{r}");
    check_eq!(r.count("invalid"), 3, "invalid rows\n{r}");
    check_eq!(ic.contacts().await?.len(), 7, "the good rows landed");

    // The alert is published right after the run ends: poll the queue.
    let mut messages: Vec<Value> = poll(
        "the alert in the subscribed queue",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { Ok(Some(receive(moto, &queue_url).await?).filter(|m| !m.is_empty())) },
    )
    .await?;

    // The run's ending delivered again: its last batch to `load` (which finds
    // the run ended and does what follows an ending again) and the
    // `run_ended` to `trigger`. Each answers only once done, so what they
    // would publish is in the queue by then.
    let batch = json!({
        "run_id": r.id(), "seq": 0,
        "key": backflow_core::batch::batch_key(r.id(), 0),
    });
    let url = format!(
        "{}/2015-03-31/functions/load/invocations",
        sc.stack.watch_url
    );
    let answer = reqwest::Client::new()
        .post(&url)
        .json(&batch)
        .send()
        .await?;
    check!(
        answer.status().is_success(),
        "load answered {}",
        answer.status()
    );
    sc.api
        .invoke_trigger(&json!({"run_ended": {"run_id": r.id(), "sync": sync}}))
        .await?;
    messages.extend(receive(moto, &queue_url).await?);

    let ours: Vec<&Value> = messages
        .iter()
        .filter(|m| m["Message"].as_str().unwrap_or_default().contains(r.id()))
        .collect();
    check_eq!(ours.len(), 1, "alerts for run {}: {messages:?}", r.id());
    let subject = ours[0]["Subject"].as_str().unwrap_or_default();
    let body = ours[0]["Message"].as_str().unwrap_or_default();
    check!(
        subject.contains(&sync) && subject.contains(r.id()),
        "the subject names the sync and the run: {subject}"
    );
    for part in [
        format!("sync `{sync}`, run `{}` ended partial", r.id()),
        "3 of 10 rows did not land (30.0 %, more than rejected_pct 5 %)".to_string(),
        "created 7,".to_string(),
        "invalid 3,".to_string(),
        "- key a-03 (row 3): invalid: field `email` (column `email`): 'user3.at.example.com' is not a valid email".to_string(),
        "- key a-06 (row 6)".to_string(),
    ] {
        check!(body.contains(&part), "the message says {part:?}:\n{body}");
    }
    check!(
        !body.contains(TOKEN) && !subject.contains(TOKEN),
        "the access token is in the alert:\n{body}"
    );

    // A run that crosses no threshold publishes nothing.
    sc.sql(&[format!(
        "update {table} set email = replace(email, '.at.', '@')"
    )])
    .await?;
    let clean = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(
        clean.status(),
        "succeeded",
        "the run after the fix\n{clean}"
    );
    // The load that ended it has answered: anything it published is queued.
    let after: Vec<Value> = receive(moto, &queue_url).await?;
    check!(
        !after.iter().any(|m| m["Message"]
            .as_str()
            .unwrap_or_default()
            .contains(clean.id())),
        "no alert for a clean run: {after:?}"
    );
    Ok(())
}

/// The SNS envelopes waiting in the queue (received once each).
async fn receive(moto: &backflow_scenarios::stack::Moto, queue_url: &str) -> Result<Vec<Value>> {
    let out = aws_call(
        moto,
        "sqs",
        "receive_message",
        &json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}),
    )
    .await?;
    let mut envelopes = Vec::new();
    for m in out["Messages"].as_array().cloned().unwrap_or_default() {
        let body = m["Body"].as_str().unwrap_or_default();
        envelopes
            .push(serde_json::from_str(body).with_context(|| format!("an SNS envelope: {body}"))?);
        aws_call(
            moto,
            "sqs",
            "delete_message",
            &json!({"QueueUrl": queue_url, "ReceiptHandle": m["ReceiptHandle"]}),
        )
        .await?;
    }
    Ok(envelopes)
}

// ---------------------------------------------------------------------------

macro_rules! chains {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    backflow_scenarios::run_scenario(backflow_scenarios::Kind::Sqlite, stringify!($name), false, super::$name).await;
                }
            )*
        }
    };
}

chains! {
    after_chain_runs_in_order_once,
    alert_published_once_to_sns,
}
