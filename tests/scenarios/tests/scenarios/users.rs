//! User update_or_create by `external_id` (every field type, unchanged
//! runs write nothing) and `update_only` keyed by `external_id`, then by
//! Intercom's id.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use backflow_scenarios::warehouse::{b, date, f, i, s, ts};
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario, Val};
use serde_json::{json, Value};

use super::{
    by_key, num, only, row_numbers, user_spec, FEB_01_2024_10H, JAN_15_2024, MAR_04_2024_050607,
};

// 1. user update_or_create by external_id

pub(super) async fn user_update_or_create_external_id(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let cols = [
        ("id", Col::Text),
        ("email", Col::Text),
        ("full_name", Col::Text),
        ("ltv", Col::Float),
        ("score", Col::Float),
        ("signup_date", Col::Date),
        ("seen_iso", Col::Text),
        ("trial_ends", Col::Timestamp),
        ("plan", Col::Text),
        ("seats", Col::Int),
        ("active", Col::Bool),
    ];
    let mut rows = vec![vec![
        s("u-1"),
        s("zoe@example.com"),
        s("Zoë 山田"),
        f(1234.56),
        f(0.1),
        date("2024-01-15"),
        s("2024-02-01T10:00:00Z"),
        ts("2024-03-04 05:06:07"),
        s("pro"),
        i(5),
        b(true),
    ]];
    for n in 2..=6 {
        rows.push(vec![
            s(format!("u-{n}")),
            s(format!("user{n}@example.com")),
            s(format!("User {n}")),
            f(n as f64 * 10.5),
            f(0.5),
            date("2024-01-15"),
            s("2024-02-01T10:00:00Z"),
            ts("2024-03-04 05:06:07"),
            s("free"),
            i(n),
            b(false),
        ]);
    }
    let n = rows.len() as u64;
    let table = sc.table("users", &cols, &rows).await?;
    let sync = sc.add_sync(
        "users",
        &format!("select id, email, full_name, ltv, score, signup_date, seen_iso, trial_ends, plan, seats, active from {table}"),
        user_spec(&dest, "id", "external_id", json!({
            "email": "email", "name": "full_name",
            "signed_up_at": "signup_date", "last_seen_at": "seen_iso",
            "custom_attributes.ltv": "ltv", "custom_attributes.score": "score",
            "custom_attributes.trial_ends_at": "trial_ends", "custom_attributes.plan": "plan",
            "custom_attributes.seats": "seats", "custom_attributes.active": "active",
        })),
    )?;

    // First run: every row created, fields exact.
    let r1 = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r1.status(), "succeeded", "first run\n{r1}");
    check_eq!(r1.count("created"), n, "counts.created\n{r1}");
    check_eq!(r1.count("invalid"), 0, "counts.invalid\n{r1}");

    let all = ic.contacts().await?;
    check_eq!(
        all.len() as u64,
        n,
        "contacts in Intercom (no duplicates): {all:?}"
    );
    let ids: BTreeSet<&str> = all
        .iter()
        .filter_map(|c| c["external_id"].as_str())
        .collect();
    check_eq!(ids.len() as u64, n, "distinct external ids");
    let zoe = only(&all, "external_id", "u-1")?;
    check_eq!(zoe["role"], json!("user"), "role");
    check_eq!(zoe["email"], json!("zoe@example.com"), "email");
    check_eq!(zoe["name"], json!("Zoë 山田"), "unicode name");
    check_eq!(
        zoe["signed_up_at"],
        json!(JAN_15_2024),
        "signed_up_at from a DATE column"
    );
    check_eq!(
        zoe["last_seen_at"],
        json!(FEB_01_2024_10H),
        "last_seen_at from ISO-8601 text"
    );
    let ca = &zoe["custom_attributes"];
    check_eq!(
        num(&ca["ltv"]),
        Some(1234.56),
        "custom_attributes.ltv (float, exact)"
    );
    check_eq!(
        num(&ca["score"]),
        Some(0.1),
        "custom_attributes.score (0.1 exact)"
    );
    check_eq!(
        ca["trial_ends_at"],
        json!(MAR_04_2024_050607),
        "custom_attributes.trial_ends_at from a timestamp column"
    );
    check_eq!(ca["plan"], json!("pro"), "custom_attributes.plan");
    check_eq!(ca["seats"], json!(5), "custom_attributes.seats");
    check_eq!(ca["active"], json!(true), "custom_attributes.active");
    check!(zoe["archived"] == false, "not archived: {zoe}");

    // Custom attributes were created with types inferred from the columns.
    let attrs = ic.attributes().await?;
    for (name, ty) in [
        ("ltv", "float"),
        ("score", "float"),
        ("trial_ends_at", "date"),
        ("plan", "string"),
        ("seats", "integer"),
        ("active", "boolean"),
    ] {
        let a = only(&attrs, "name", name)?;
        check_eq!(
            a["data_type"],
            json!(ty),
            "data type of custom attribute {name}"
        );
        check_eq!(
            a["model"],
            json!("contact"),
            "model of custom attribute {name}"
        );
    }

    // GET /syncs lists the sync with its last run.
    let syncs = sc.api.syncs().await?;
    check_eq!(syncs.status, 200, "GET /syncs: {}", syncs.text);
    let listed = syncs.body["syncs"].as_array().cloned().unwrap_or_default();
    let me = only(&listed, "name", &sync)?;
    check_eq!(me["object"], json!("user"), "GET /syncs object");
    check_eq!(
        me["behavior"],
        json!("update_or_create"),
        "GET /syncs behavior"
    );
    check!(
        !me["last_run"].is_null(),
        "GET /syncs last_run after a run: {me}"
    );

    // Re-run with no change: zero Intercom writes.
    let before = ic.stats().await?;
    let r2 = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(r2.status(), "succeeded", "unchanged re-run\n{r2}");
    check_eq!(r2.count("unchanged"), n, "counts.unchanged\n{r2}");
    check_eq!(
        r2.count("created") + r2.count("updated"),
        0,
        "no writes counted\n{r2}"
    );
    check!(
        delta.writes() == 0,
        "an unchanged re-run wrote to Intercom: {:?}",
        delta.write_routes()
    );

    // Change K = 2 rows: exactly 2 updates.
    sc.sql(&[
        format!("UPDATE {table} SET full_name = 'Renamed Two' WHERE id = 'u-2'"),
        format!("UPDATE {table} SET ltv = 99.25 WHERE id = 'u-3'"),
    ])
    .await?;
    let before = ic.stats().await?;
    let r3 = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(r3.status(), "succeeded", "run after 2 changes\n{r3}");
    check_eq!(r3.count("updated"), 2, "counts.updated\n{r3}");
    check_eq!(r3.count("unchanged"), n - 2, "counts.unchanged\n{r3}");
    check_eq!(
        delta.route("PUT /contacts/{id}"),
        2,
        "PUT /contacts/{{id}} calls ({:?})",
        delta.write_routes()
    );
    check_eq!(
        delta.route("POST /contacts"),
        0,
        "POST /contacts calls ({:?})",
        delta.write_routes()
    );
    let all = ic.contacts().await?;
    check_eq!(all.len() as u64, n, "still no duplicates");
    check_eq!(
        only(&all, "external_id", "u-2")?["name"],
        json!("Renamed Two"),
        "u-2 renamed"
    );
    check_eq!(
        num(&only(&all, "external_id", "u-3")?["custom_attributes"]["ltv"]),
        Some(99.25),
        "u-3 ltv"
    );

    // Epoch seconds and milliseconds land as Unix seconds.
    let etable = sc
        .table(
            "epochs",
            &[
                ("id", Col::Text),
                ("email", Col::Text),
                ("es", Col::BigInt),
                ("ems", Col::BigInt),
            ],
            &[vec![
                s("e-1"),
                s("epoch@example.com"),
                i(1_700_000_000),
                i(1_700_000_000_123),
            ]],
        )
        .await?;
    let esync = sc.add_sync(
        "epochs",
        &format!("select id, email, es, ems from {etable}"),
        user_spec(
            &dest,
            "id",
            "external_id",
            json!({"email": "email", "signed_up_at": "es", "last_seen_at": "ems"}),
        ),
    )?;
    let r = sc.api.run_to_end(&esync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "epochs run\n{r}");
    let all = ic.contacts().await?;
    let e = only(&all, "external_id", "e-1")?;
    check_eq!(
        e["signed_up_at"],
        json!(1_700_000_000),
        "signed_up_at from epoch seconds"
    );
    check_eq!(
        e["last_seen_at"],
        json!(1_700_000_000),
        "last_seen_at from epoch milliseconds"
    );
    // The access token never leaves Secrets Manager: not in the run record the API
    // answers, not in the functions' logs.
    let token = backflow_scenarios::config::TOKEN;
    check!(
        !r.0.to_string().contains(token),
        "the run record does not contain the access token\n{r}"
    );
    let log = std::fs::read_to_string(&sc.stack.watch_log).unwrap_or_default();
    check!(
        !log.is_empty() && !log.contains(token),
        "the functions' log ({}) does not contain the access token",
        sc.stack.watch_log.display()
    );
    Ok(())
}

// 3. update_only (external_id, then the Intercom id)

pub(super) async fn update_only_not_found(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let mut intercom_ids = Vec::new();
    for n in 1..=3 {
        let c = ic
            .create_contact(json!({"role": "user", "external_id": format!("x-{n}"), "email": format!("x{n}@example.com"), "name": format!("Old {n}")}))
            .await?;
        intercom_ids.push(c["id"].as_str().context("seeded contact id")?.to_string());
    }
    let cols = [("id", Col::Text), ("full_name", Col::Text)];
    let mut rows: Vec<Vec<Val>> = (1..=3)
        .map(|n| vec![s(format!("x-{n}")), s(format!("New {n}"))])
        .collect();
    rows.push(vec![s("x-8"), s("Nobody 8")]);
    rows.push(vec![s("x-9"), s("Nobody 9")]);
    let table = sc.table("people", &cols, &rows).await?;
    let sync = sc.add_sync(
        "by_external_id",
        &format!("select id, full_name from {table}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_only",
            "key": {"column": "id", "field": "external_id"}, "fields": {"name": "full_name"},
        }),
    )?;
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(
        r.status(),
        "partial",
        "rows not found make the run partial\n{r}"
    );
    check_eq!(r.count("updated"), 3, "counts.updated\n{r}");
    check_eq!(r.count("not_found"), 2, "counts.not_found\n{r}");
    check_eq!(r.count("created"), 0, "counts.created\n{r}");
    check_eq!(
        delta.route("POST /contacts"),
        0,
        "update_only never creates"
    );
    let nf = sc.api.rows(r.id(), "not_found").await?;
    let keys: BTreeSet<String> = by_key(&nf).into_keys().collect();
    check_eq!(
        keys,
        BTreeSet::from(["x-8".to_string(), "x-9".to_string()]),
        "not_found rows: {nf:?}"
    );
    for row in &nf {
        check_eq!(row["outcome"], json!("not_found"), "outcome of {row}");
    }
    // Run again: the three updated rows are unchanged, the two not found are
    // tried again, alone in a smaller batch, and still reported at their rows
    // in the model (the user finds them there), not at their place in the batch.
    let first_rows = row_numbers(&nf);
    check!(
        first_rows.values().all(Value::is_u64),
        "not_found rows carry their model row: {nf:?}"
    );
    let again = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(again.count("unchanged"), 3, "counts.unchanged\n{again}");
    check_eq!(again.count("not_found"), 2, "counts.not_found\n{again}");
    let nf_again = sc.api.rows(again.id(), "not_found").await?;
    let again_rows = row_numbers(&nf_again);
    check_eq!(
        again_rows,
        first_rows,
        "a row not found again is reported at its model row: {nf_again:?}"
    );
    let all = ic.contacts().await?;
    check_eq!(all.len(), 3, "nothing created");
    for n in 1..=3 {
        check_eq!(
            only(&all, "external_id", &format!("x-{n}"))?["name"],
            json!(format!("New {n}")),
            "x-{n} updated"
        );
    }

    // The `id` key (Intercom's id), update_only.
    let bogus = "000000000000000000000000";
    let byid = sc
        .table(
            "by_id",
            &[("intercom_id", Col::Text), ("full_name", Col::Text)],
            &[
                vec![s(&intercom_ids[0]), s("By Id 1")],
                vec![s(&intercom_ids[1]), s("By Id 2")],
                vec![s(bogus), s("Ghost")],
            ],
        )
        .await?;
    let isync = sc.add_sync(
        "by_intercom_id",
        &format!("select intercom_id, full_name from {byid}"),
        json!({
            "destination": dest, "object": "user", "behavior": "update_only",
            "key": {"column": "intercom_id", "field": "id"}, "fields": {"name": "full_name"},
        }),
    )?;
    let r = sc.api.run_to_end(&isync, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "id key run\n{r}");
    check_eq!(r.count("updated"), 2, "counts.updated\n{r}");
    check_eq!(r.count("not_found"), 1, "counts.not_found\n{r}");
    let nf = sc.api.rows(r.id(), "not_found").await?;
    check_eq!(
        by_key(&nf).into_keys().collect::<Vec<_>>(),
        vec![bogus.to_string()],
        "not_found rows: {nf:?}"
    );
    let all = ic.contacts().await?;
    check_eq!(all.len(), 3, "nothing created by the id key");
    check_eq!(
        only(&all, "id", &intercom_ids[0])?["name"],
        json!("By Id 1"),
        "updated by id"
    );
    check_eq!(
        only(&all, "id", &intercom_ids[2])?["name"],
        json!("New 3"),
        "untouched"
    );
    Ok(())
}
