//! Intercom misbehaving: search lag and `409`s (never two contacts for one
//! key), and 500s, 503s, dropped connections and 429s after the write was
//! applied (every row exactly once).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario, Val};
use serde_json::{json, Value};

use super::{matching, only, user_spec};

// 8. search lag and 409s: never two contacts for one key

pub(super) async fn search_lag_conflicts_one_contact_per_key(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Laggy).await?;
    for n in 1..=3 {
        ic.create_contact(json!({"role": "user", "email": format!("lag{n}@example.com"), "name": format!("Old {n}")})).await?;
    }
    let archived = ic
        .create_contact(json!({"role": "user", "email": "lag4@example.com", "name": "Old 4"}))
        .await?;
    ic.archive_contact(archived["id"].as_str().context("id")?)
        .await?;

    let cols = [("email", Col::Text), ("full_name", Col::Text)];
    let rows: Vec<Vec<Val>> = (1..=6)
        .map(|n| vec![s(format!("lag{n}@example.com")), s(format!("Fresh {n}"))])
        .collect();
    let table = sc.table("people", &cols, &rows).await?;
    let sync = sc.add_sync(
        "people",
        &format!("select email, full_name from {table}"),
        user_spec(&dest, "email", "email", json!({"name": "full_name"})),
    )?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "laggy search run\n{r}");
    check_eq!(
        r.count("updated"),
        4,
        "pre-existing contacts updated (not duplicated)\n{r}"
    );
    check_eq!(r.count("created"), 2, "new contacts created\n{r}");

    let check_one_each = |all: &[Value], names: &dyn Fn(u32) -> String| -> Result<()> {
        for n in 1..=6u32 {
            let email = format!("lag{n}@example.com");
            let live: Vec<&Value> = matching(all, "email", &email)
                .into_iter()
                .filter(|c| c["deleted"] != true)
                .collect();
            check!(
                live.len() == 1,
                "exactly one contact for {email}, found {}: {live:?}",
                live.len()
            );
            check_eq!(live[0]["name"], json!(names(n)), "name of {email}");
            check!(
                live[0]["archived"] == false,
                "{email} is not archived: {}",
                live[0]
            );
        }
        Ok(())
    };
    let all = ic.contacts().await?;
    check_one_each(&all, &|n| format!("Fresh {n}"))?;
    check_eq!(
        only(&all, "email", "lag4@example.com")?["id"],
        archived["id"],
        "the archived contact was unarchived, not replaced"
    );

    // Search still lags (120 s): a change to a contact created by the last run
    // must update it, not create another.
    sc.sql(&[format!(
        "UPDATE {table} SET full_name = 'Changed 5' WHERE email = 'lag5@example.com'"
    )])
    .await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "second laggy run\n{r}");
    check_eq!(r.count("updated"), 1, "counts.updated\n{r}");
    check_eq!(r.count("created"), 0, "counts.created\n{r}");
    let all = ic.contacts().await?;
    check_one_each(&all, &|n| {
        if n == 5 {
            "Changed 5".into()
        } else {
            format!("Fresh {n}")
        }
    })?;
    Ok(())
}

// 13. faults: 1,000 users through 500s, 503s, dropped connections and 429s,
// each fault striking after Intercom applied the write

/// Per value of `field`, how many live contacts (neither deleted nor merged)
/// hold it (e-mails compared in lower case, as Intercom does).
fn contacts_per(contacts: &[Value], field: &str) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    for c in contacts {
        if c["deleted"] == true || !c["merged_into"].is_null() {
            continue;
        }
        if let Some(v) = c[field].as_str() {
            *out.entry(v.to_lowercase()).or_default() += 1;
        }
    }
    out
}

pub(super) async fn faults_every_row_once(sc: Scenario) -> Result<()> {
    // --fault-rate 0.15 --rate-limit 300 --search-lag 120, and every fault
    // after the write was applied: the request reached Intercom and changed
    // it, then the answer was lost (500, 503 or a dropped connection). A
    // retried create then meets its own contact (409).
    let (dest, ic) = sc
        .emulator_with(
            "faulty",
            intercom_emulator::Options {
                search_lag_secs: 120,
                fault_after_apply: true,
                ..Profile::Faulty.options()
            },
        )
        .await?;
    let rows: Vec<Vec<Val>> = (1..=1000)
        .map(|n| {
            vec![
                s(format!("f-{n:04}")),
                s(format!("f{n}@example.com")),
                s(format!("Faulty {n}")),
            ]
        })
        .collect();
    let table = sc
        .table(
            "people",
            &[
                ("id", Col::Text),
                ("email", Col::Text),
                ("full_name", Col::Text),
            ],
            &rows,
        )
        .await?;
    let sync = sc.add_sync(
        "people",
        &format!("select id, email, full_name from {table}"),
        user_spec(
            &dest,
            "id",
            "external_id",
            json!({"email": "email", "name": "full_name"}),
        ),
    )?;
    let r = sc
        .api
        .run_to_end_within(&sync, RunRequest::normal(), Duration::from_secs(900))
        .await?;
    check_eq!(r.status(), "succeeded", "1,000 users through faults\n{r}");
    check_eq!(r.plan("create"), 1000, "plan.create\n{r}");
    check_eq!(
        r.count("created") + r.count("updated"),
        1000,
        "created + updated\n{r}"
    );
    check_eq!(r.count("rejected"), 0, "counts.rejected\n{r}");
    check_eq!(r.0["batches"]["done"], json!(1), "batches done\n{r}");
    let all = ic.contacts().await?;
    for field in ["external_id", "email"] {
        let per = contacts_per(&all, field);
        let dupes: Vec<_> = per.iter().filter(|(_, n)| **n > 1).collect();
        check!(
            dupes.is_empty(),
            "contacts sharing one {field} (a row in Intercom more than once): {dupes:?}"
        );
        check_eq!(per.len(), 1000, "every row in Intercom, by {field}");
    }
    check_eq!(all.len(), 1000, "no stray contacts");
    let stats = ic.stats().await?;
    let faults: u64 = stats
        .by_status
        .iter()
        .filter(|(s, _)| s.starts_with('5') || *s == "dropped")
        .map(|(_, n)| n)
        .sum();
    check!(
        faults >= 100,
        "the faulty emulator injected faults (about 15 % of calls): {:?}",
        stats.by_status
    );
    // Nothing was in Intercom before: a 409 is a create that Intercom applied
    // and whose answer was lost, retried.
    check!(
        stats.by_status.get("409").copied().unwrap_or(0) > 0,
        "creates applied before their fault were retried and met their contact (409): {:?}",
        stats.by_status
    );
    check_eq!(
        only(&all, "external_id", "f-0777")?["name"],
        json!("Faulty 777"),
        "fields of a row"
    );

    // Every confirmed write was remembered, whatever answer was lost on the
    // way: a second run (faults still on) sends nothing.
    let before = ic.stats().await?;
    let r = sc
        .api
        .run_to_end_within(&sync, RunRequest::normal(), Duration::from_secs(600))
        .await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(r.status(), "succeeded", "the second run\n{r}");
    check_eq!(r.count("unchanged"), 1000, "counts.unchanged\n{r}");
    check_eq!(
        r.plan("create") + r.plan("update"),
        0,
        "planned writes\n{r}"
    );
    check!(
        delta.writes() == 0,
        "the second run wrote to Intercom: {:?}",
        delta.write_routes()
    );
    check_eq!(
        ic.contacts().await?.len(),
        1000,
        "contacts after the second run"
    );
    Ok(())
}
