//! Tags and company membership: the lists backflow applies, and what it
//! leaves alone.

use std::collections::BTreeMap;

use anyhow::Result;
use backflow_scenarios::warehouse::{s, NULL};
use backflow_scenarios::{check_eq, Col, Profile, RunRequest, Scenario};
use serde_json::json;

use super::{only, user_spec};

// 17. tags and company membership (lists)

/// Each contact's (by `external_id`) or company's (by `company_id`) tag names.
async fn tag_names(ic: &backflow_scenarios::Intercom) -> Result<BTreeMap<String, Vec<String>>> {
    let dump = ic.dump().await?;
    let mut out = BTreeMap::new();
    for (list, key) in [("contacts", "external_id"), ("companies", "company_id")] {
        for record in dump[list].as_array().cloned().unwrap_or_default() {
            let names: Vec<String> = record["tag_names"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(k) = record[key].as_str() {
                out.insert(k.to_string(), names);
            }
        }
    }
    Ok(out)
}

/// Each contact's companies, by `company_id`, sorted.
async fn memberships(ic: &backflow_scenarios::Intercom) -> Result<BTreeMap<String, Vec<String>>> {
    let dump = ic.dump().await?;
    let by_id: BTreeMap<String, String> = dump["companies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            Some((
                c["id"].as_str()?.to_string(),
                c["company_id"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut out = BTreeMap::new();
    for c in dump["contacts"].as_array().cloned().unwrap_or_default() {
        let mut companies: Vec<String> = c["company_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|id| by_id.get(id.as_str()?).cloned())
                    .collect()
            })
            .unwrap_or_default();
        companies.sort();
        if let Some(k) = c["external_id"].as_str() {
            out.insert(k.to_string(), companies);
        }
    }
    Ok(out)
}

fn names(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Runs `syncs` once more with nothing changed: each run updates nothing and
/// its only Intercom call is the token check (`GET /me`, extract's one read).
async fn unchanged_runs(
    sc: &Scenario,
    ic: &backflow_scenarios::Intercom,
    syncs: &[&str],
    what: &str,
) -> Result<()> {
    let before = ic.stats().await?;
    for sync in syncs {
        let r = sc.api.run_to_end(sync, RunRequest::normal()).await?;
        check_eq!(r.status(), "succeeded", "{what}: {sync}\n{r}");
        check_eq!(r.count("updated"), 0, "{what}: {sync}\n{r}");
    }
    let calls = ic.stats().await?.since(&before);
    let runs = syncs.len() as u64;
    check_eq!(
        (calls.requests, calls.route("GET /me")),
        (runs, runs),
        "{what} calls Intercom: {calls:?}"
    );
    Ok(())
}

pub(super) async fn tags_and_company_membership(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    // The lists as each engine's own array where it has one — PostgreSQL
    // `text[]`, Snowflake `ARRAY`, BigQuery `ARRAY<STRING>` (a REPEATED field)
    // — and as text separated by commas where it has none (SQLite, MariaDB;
    // Redshift has no array column type): every form is what `fields.tags` and
    // `company_ids` take. The tables hold text, so the same UPDATEs change
    // them everywhere. fakesnow describes every array as `variant` (it keeps
    // arrays as DuckDB JSON), so on Snowflake's stand-in the ARRAY arrives as
    // its JSON text — read item by item, as a real VARIANT holding an array
    // is; real Snowflake's `array` column type is read by the adapter's
    // wire-format tests.
    let list = |col: &str| match sc.kind {
        backflow_scenarios::Kind::Postgres => format!("string_to_array({col}, ',') as {col}"),
        backflow_scenarios::Kind::Snowflake | backflow_scenarios::Kind::Bigquery => {
            format!("split({col}, ',') as {col}")
        }
        _ => col.to_string(),
    };
    let orgs = sc
        .table(
            "orgs",
            &[
                ("company_id", Col::Text),
                ("name", Col::Text),
                ("tags", Col::Text),
            ],
            &[
                vec![s("c-1"), s("Acme"), s("gold,eu")],
                vec![s("c-2"), s("Beta"), s("silver")],
                vec![s("c-3"), s("Gamma"), NULL],
            ],
        )
        .await?;
    let company_spec = json!({
        "destination": dest, "object": "company", "behavior": "update_or_create",
        "key": {"column": "company_id", "field": "company_id"},
        "fields": {"name": "name", "tags": "tags"},
    });
    let company_sql = format!("select company_id, name, {} from {orgs}", list("tags"));
    let csync = sc.add_sync("orgs", &company_sql, company_spec.clone())?;
    // 60 people: one tag on all of them spans two bulk requests (50 + 10).
    let people_rows: Vec<Vec<backflow_scenarios::Val>> = (1..=60)
        .map(|n| {
            let (company, companies, tags) = match n {
                1 => (s("c-1"), s("c-2,c-3"), s("all,vip,beta")),
                2 => (s("c-2"), NULL, s("all,beta")),
                3 => (NULL, s("c-1"), s("all")),
                _ => (NULL, NULL, s("all")),
            };
            vec![
                s(format!("p-{n:02}")),
                s(format!("p{n}@example.com")),
                company,
                companies,
                tags,
            ]
        })
        .collect();
    let people = sc
        .table(
            "people",
            &[
                ("id", Col::Text),
                ("email", Col::Text),
                ("company_id", Col::Text),
                ("company_ids", Col::Text),
                ("tags", Col::Text),
            ],
            &people_rows,
        )
        .await?;
    let people_sql = format!(
        "select id, email, company_id, {}, {} from {people}",
        list("company_ids"),
        list("tags")
    );
    let people_spec = user_spec(
        &dest,
        "id",
        "external_id",
        json!({"email": "email", "company_id": "company_id", "company_ids": "company_ids", "tags": "tags"}),
    );
    let psync = sc.add_sync("people", &people_sql, people_spec.clone())?;

    // First runs: every record carries its tags; contacts their companies.
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&csync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "companies\n{r}");
    let r = sc.api.run_to_end(&psync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "people\n{r}");
    check_eq!(r.count("created"), 60, "people created\n{r}");
    let calls = ic.stats().await?.since(&before);
    // Companies: gold, eu, silver (one bulk call each). People: `all` for 60
    // (two calls of ≤ 50), vip, beta: 4 — not one call per record.
    check_eq!(
        calls.route("POST /tags"),
        3 + 4,
        "bulk tag calls: {calls:?}"
    );
    check_eq!(
        calls.route("POST /contacts/{id}/tags"),
        0,
        "no per-contact tagging: {calls:?}"
    );
    let tags = tag_names(&ic).await?;
    check_eq!(tags["c-1"], names(&["gold", "eu"]), "c-1 tags");
    check_eq!(tags["c-2"], names(&["silver"]), "c-2 tags");
    check_eq!(tags["c-3"], names(&[]), "c-3 tags");
    check_eq!(tags["p-01"], names(&["all", "vip", "beta"]), "p-01 tags");
    check_eq!(tags["p-02"], names(&["all", "beta"]), "p-02 tags");
    check_eq!(tags["p-60"], names(&["all"]), "p-60 tags");
    let members = memberships(&ic).await?;
    check_eq!(
        members["p-01"],
        names(&["c-1", "c-2", "c-3"]),
        "p-01 companies"
    );
    check_eq!(members["p-02"], names(&["c-2"]), "p-02 companies");
    check_eq!(members["p-03"], names(&["c-1"]), "p-03 companies");
    check_eq!(members["p-04"], names(&[]), "p-04 companies");

    // Tags applied by hand in Intercom.
    let hand = ic
        .ok(
            reqwest::Method::POST,
            "/tags",
            Some(json!({"name": "hand"})),
        )
        .await?;
    let p01 = only(&ic.contacts().await?, "external_id", "p-01")?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ic.ok(
        reqwest::Method::POST,
        &format!("/contacts/{p01}/tags"),
        Some(json!({"id": hand["id"]})),
    )
    .await?;
    ic.ok(
        reqwest::Method::POST,
        "/tags",
        Some(json!({"name": "hand", "companies": [{"company_id": "c-1"}]})),
    )
    .await?;

    // Nothing changed: no Intercom call but each run's token check.
    unchanged_runs(&sc, &ic, &[&csync, &psync], "an unchanged re-run").await?;

    // The lists change: a tag added, one removed, one renamed (`all` → `everyone`
    // on all 60), a company changed and one left.
    sc.sql(&[
        format!("UPDATE {orgs} SET tags = 'gold' WHERE company_id = 'c-1'"),
        format!("UPDATE {orgs} SET tags = 'platinum' WHERE company_id = 'c-2'"),
        format!("UPDATE {people} SET tags = 'everyone'"),
        format!("UPDATE {people} SET tags = 'everyone,vip,gamma' WHERE id = 'p-01'"),
        format!("UPDATE {people} SET company_ids = 'c-3' WHERE id = 'p-01'"),
        format!("UPDATE {people} SET company_id = 'c-3' WHERE id = 'p-02'"),
    ])
    .await?;
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&csync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "companies again\n{r}");
    check_eq!(r.count("updated"), 2, "c-1, c-2 updated\n{r}");
    let r = sc.api.run_to_end(&psync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "people again\n{r}");
    check_eq!(r.count("updated"), 60, "people updated\n{r}");
    let calls = ic.stats().await?.since(&before);
    // Only the lists changed: no record is written again — but p-02, whose
    // `company_id` is part of its fingerprint (kept so that fingerprints stored
    // before lists existed stay valid).
    check_eq!(
        calls.route("POST /companies"),
        0,
        "companies written: {calls:?}"
    );
    check_eq!(
        calls.route("PUT /contacts/{id}"),
        1,
        "contacts written: {calls:?}"
    );
    // Companies: `eu` off c-1 and `silver` off c-2 (bulk untag, one call each),
    // `platinum` on c-2. People: `everyone` (2 calls), `gamma` (1); `all` off
    // 60 contacts and `beta` off two: one call per contact and tag.
    check_eq!(calls.route("POST /tags"), 3 + 3, "bulk calls: {calls:?}");
    check_eq!(
        calls.route("DELETE /contacts/{id}/tags/{tag_id}"),
        60 + 2,
        "untag calls: {calls:?}"
    );
    check_eq!(
        calls.route("GET /tags"),
        2,
        "the workspace's tags, once per load: {calls:?}"
    );
    let tags = tag_names(&ic).await?;
    check_eq!(
        tags["c-1"],
        names(&["gold", "hand"]),
        "c-1: eu removed, hand kept"
    );
    check_eq!(tags["c-2"], names(&["platinum"]), "c-2 renamed");
    check_eq!(
        tags["p-01"],
        names(&["everyone", "vip", "gamma", "hand"]),
        "p-01: beta removed, gamma added, hand kept"
    );
    check_eq!(tags["p-02"], names(&["everyone"]), "p-02");
    check_eq!(tags["p-33"], names(&["everyone"]), "p-33");
    let members = memberships(&ic).await?;
    check_eq!(members["p-01"], names(&["c-1", "c-3"]), "p-01 left c-2");
    check_eq!(
        members["p-02"],
        names(&["c-3"]),
        "p-02 moved from c-2 to c-3 only"
    );
    check_eq!(members["p-03"], names(&["c-1"]), "p-03 unchanged");
    let companies = ic.companies().await?;
    check_eq!(companies.len(), 3, "no company created by membership");

    // Unchanged again: no call but the token checks.
    unchanged_runs(&sc, &ic, &[&csync, &psync], "unchanged again").await?;

    // `tags_mode: exact` (with a full resync, which reads each record's
    // tags): the hand-applied tags go, the listed ones stay.
    let mut exact = company_spec;
    exact["tags_mode"] = json!("exact");
    sc.add_sync("orgs", &company_sql, exact)?;
    let mut exact = people_spec;
    exact["tags_mode"] = json!("exact");
    sc.add_sync("people", &people_sql, exact)?;
    for sync in [&csync, &psync] {
        let r = sc.api.run_to_end(sync, RunRequest::full_resync()).await?;
        check_eq!(r.status(), "succeeded", "exact {sync}\n{r}");
    }
    let tags = tag_names(&ic).await?;
    check_eq!(tags["c-1"], names(&["gold"]), "c-1 exact");
    check_eq!(
        tags["p-01"],
        names(&["everyone", "vip", "gamma"]),
        "p-01 exact"
    );
    check_eq!(tags["p-60"], names(&["everyone"]), "p-60 exact");
    unchanged_runs(&sc, &ic, &[&csync, &psync], "unchanged under exact").await?;
    Ok(())
}
