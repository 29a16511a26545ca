//! Data events: each sent once, never again.

use anyhow::{Context, Result};
use backflow_scenarios::warehouse::{f, s, ts};
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario};
use serde_json::json;

use super::{num, FEB_01_2024_10H, JAN_15_2024, JUN_30_2023, MAR_04_2024_050607};

// 7. events: sent once, never again

pub(super) async fn events_sent_once(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    for u in ["ev-u1", "ev-u2"] {
        ic.create_contact(
            json!({"role": "user", "external_id": u, "email": format!("{u}@example.com")}),
        )
        .await?;
    }
    let cols = [
        ("event_id", Col::Text),
        ("user_id", Col::Text),
        ("occurred_at", Col::Timestamp),
        ("plan", Col::Text),
        ("amount", Col::Float),
    ];
    let table = sc
        .table(
            "signups",
            &cols,
            &[
                vec![
                    s("e1"),
                    s("ev-u1"),
                    ts("2024-03-04 05:06:07"),
                    s("pro"),
                    f(12.5),
                ],
                vec![
                    s("e2"),
                    s("ev-u2"),
                    ts("2024-01-15 00:00:00"),
                    s("free"),
                    f(0.0),
                ],
                vec![
                    s("e3"),
                    s("ev-u1"),
                    ts("2023-06-30 00:00:00"),
                    s("pro"),
                    f(3.0),
                ],
            ],
        )
        .await?;
    let sync = sc.add_sync(
        "signups",
        &format!("select event_id, user_id, occurred_at, plan, amount from {table}"),
        json!({
            "destination": dest, "object": "event", "behavior": "send",
            "key": {"column": "event_id", "field": "event_id"}, "event_name": "signed-up",
            "fields": {"user_id": "user_id", "created_at": "occurred_at", "metadata.plan": "plan", "metadata.amount": "amount"},
        }),
    )?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "events\n{r}");
    check_eq!(r.count("sent"), 3, "counts.sent\n{r}");
    let events = ic.events().await?;
    check_eq!(events.len(), 3, "events in Intercom: {events:?}");
    let expect = [
        ("ev-u1", MAR_04_2024_050607, "pro", 12.5),
        ("ev-u2", JAN_15_2024, "free", 0.0),
        ("ev-u1", JUN_30_2023, "pro", 3.0),
    ];
    for (user, at, plan, amount) in expect {
        let e = events
            .iter()
            .find(|e| e["user_id"] == user && e["created_at"] == at)
            .with_context(|| format!("an event of {user} at {at} (seconds) in {events:?}"))?;
        check_eq!(e["event_name"], json!("signed-up"), "event_name");
        check_eq!(e["metadata"]["plan"], json!(plan), "metadata.plan");
        check_eq!(
            num(&e["metadata"]["amount"]),
            Some(amount),
            "metadata.amount"
        );
    }

    for req in [RunRequest::normal(), RunRequest::full_resync()] {
        let before = ic.stats().await?;
        let r = sc.api.run_to_end(&sync, req).await?;
        let delta = ic.stats().await?.since(&before);
        check_eq!(r.status(), "succeeded", "re-run {req:?}\n{r}");
        check_eq!(r.count("sent"), 0, "counts.sent on re-run {req:?}\n{r}");
        check_eq!(
            delta.route("POST /events"),
            0,
            "POST /events on re-run {req:?}"
        );
    }

    sc.insert(
        "signups",
        &cols,
        &[vec![
            s("e4"),
            s("ev-u2"),
            ts("2024-02-01 10:00:00"),
            s("free"),
            f(1.0),
        ]],
    )
    .await?;
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(r.count("sent"), 1, "only the new event is sent\n{r}");
    check_eq!(
        delta.route("POST /events"),
        1,
        "POST /events for one new row"
    );
    let events = ic.events().await?;
    check!(
        events
            .iter()
            .any(|e| e["user_id"] == "ev-u2" && e["created_at"] == FEB_01_2024_10H),
        "the new event landed: {events:?}"
    );
    Ok(())
}
