//! Rows that leave the model: `delete` (archive by default, permanent on
//! request) and `mirror` (removals, the mass-removal guard, companies).

use anyhow::Result;
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario, Val};
use serde_json::json;

use super::{lower, matching, only};

// 4. delete: archive by default, permanent on request (and the preview warns)

pub(super) async fn delete_archive_and_permanent(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    for n in 1..=6 {
        ic.create_contact(json!({"role": "user", "external_id": format!("d-{n}"), "email": format!("d{n}@example.com")}))
            .await?;
    }
    let gone = sc
        .table(
            "gone",
            &[("ext", Col::Text)],
            &[vec![s("d-1")], vec![s("d-2")]],
        )
        .await?;
    let archive = sc.add_sync(
        "archive",
        &format!("select ext from {gone}"),
        json!({
            "destination": dest, "object": "user", "behavior": "delete",
            "key": {"column": "ext", "field": "external_id"},
        }),
    )?;
    let r = sc.api.run_to_end(&archive, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "archive run\n{r}");
    check_eq!(r.count("archived"), 2, "counts.archived\n{r}");
    check_eq!(r.count("deleted"), 0, "counts.deleted\n{r}");
    let all = ic.contacts().await?;
    for n in 1..=2 {
        let c = only(&all, "external_id", &format!("d-{n}"))?;
        check!(
            c["archived"] == true && c["deleted"] == false,
            "d-{n} archived, not deleted: {c}"
        );
    }
    for n in 3..=6 {
        let c = only(&all, "external_id", &format!("d-{n}"))?;
        check!(
            c["archived"] == false && c["deleted"] == false,
            "d-{n} untouched: {c}"
        );
    }

    let purge = sc
        .table(
            "purge",
            &[("email", Col::Text)],
            &[vec![s("d3@example.com")], vec![s("d4@example.com")]],
        )
        .await?;
    let permanent = sc.add_sync(
        "permanent",
        &format!("select email from {purge}"),
        json!({
            "destination": dest, "object": "user", "behavior": "delete",
            "key": {"column": "email", "field": "email"}, "delete": {"mode": "permanent"},
        }),
    )?;
    // The preview says it is irreversible and deletes nothing.
    let before = ic.stats().await?;
    let dry = sc.api.run_to_end(&permanent, RunRequest::dry()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(
        dry.status(),
        "succeeded",
        "dry run of a permanent delete\n{dry}"
    );
    check_eq!(dry.plan("delete"), 2, "plan.delete\n{dry}");
    let text = lower(&dry.0);
    check!(
        ["irreversib", "cannot be undone", "can never", "permanently"]
            .iter()
            .any(|w| text.contains(w)),
        "the preview of a permanent delete warns that it is irreversible\n{dry}"
    );
    check!(
        delta.writes() == 0,
        "a dry run wrote: {:?}",
        delta.write_routes()
    );

    let r = sc.api.run_to_end(&permanent, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "permanent delete\n{r}");
    check_eq!(r.count("deleted"), 2, "counts.deleted\n{r}");
    let all = ic.contacts().await?;
    for n in 3..=4 {
        let c = matching(&all, "external_id", &format!("d-{n}"));
        check!(
            c.iter().all(|c| c["deleted"] == true),
            "d-{n} permanently deleted: {c:?}"
        );
    }
    for n in 5..=6 {
        let c = only(&all, "external_id", &format!("d-{n}"))?;
        check!(
            c["archived"] == false && c["deleted"] == false,
            "d-{n} untouched: {c}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 5. mirror: removals, the mass-removal guard, companies

pub(super) async fn mirror_removals_and_guard(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let cols = [
        ("id", Col::Text),
        ("email", Col::Text),
        ("full_name", Col::Text),
    ];
    let rows: Vec<Vec<Val>> = (1..=20)
        .map(|n| {
            vec![
                s(format!("m-{n:02}")),
                s(format!("m{n}@example.com")),
                s(format!("Member {n}")),
            ]
        })
        .collect();
    let table = sc.table("members", &cols, &rows).await?;
    let sync = sc.add_sync(
        "members",
        &format!("select id, email, full_name from {table}"),
        json!({
            "destination": dest, "object": "user", "behavior": "mirror",
            "key": {"column": "id", "field": "external_id"}, "fields": {"email": "email", "name": "full_name"},
        }),
    )?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "mirror first run\n{r}");
    check_eq!(r.count("created"), 20, "counts.created\n{r}");

    // One row leaves the model: archived.
    sc.sql(&[format!("DELETE FROM {table} WHERE id = 'm-20'")])
        .await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "mirror after one removal\n{r}");
    check_eq!(r.count("archived"), 1, "counts.archived\n{r}");
    check_eq!(r.count("unchanged"), 19, "counts.unchanged\n{r}");
    let all = ic.contacts().await?;
    check!(
        only(&all, "external_id", "m-20")?["archived"] == true,
        "m-20 archived"
    );
    check!(
        only(&all, "external_id", "m-19")?["archived"] == false,
        "m-19 kept"
    );

    // Five of 19 (> 10 %) leave: the run fails and removes nothing.
    sc.sql(&[format!(
        "DELETE FROM {table} WHERE id IN ('m-15', 'm-16', 'm-17', 'm-18', 'm-19')"
    )])
    .await?;
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(
        r.status(),
        "failed",
        "mass removal without allow_mass_removal\n{r}"
    );
    check_guard_message(
        &r.error(),
        &sync,
        "mirror would remove 5 of the 19 records synced before, \
         more than the limit of 1 (the default max_removals, 10 % of them)",
    )?;
    let removals: u64 = delta
        .write_routes()
        .iter()
        .filter(|(route, _)| route.contains("/archive") || route.starts_with("DELETE "))
        .map(|(_, n)| n)
        .sum();
    check_eq!(
        removals,
        0,
        "removal calls made by a stopped run ({:?})",
        delta.write_routes()
    );
    let all = ic.contacts().await?;
    for n in 15..=19 {
        check!(
            only(&all, "external_id", &format!("m-{n}"))?["archived"] == false,
            "m-{n} not removed yet"
        );
    }

    // With allow_mass_removal it proceeds.
    let r = sc
        .api
        .run_to_end(&sync, RunRequest::allow_mass_removal())
        .await?;
    check_eq!(r.status(), "succeeded", "mass removal allowed\n{r}");
    check_eq!(r.count("archived"), 5, "counts.archived\n{r}");
    let all = ic.contacts().await?;
    for n in 15..=19 {
        check!(
            only(&all, "external_id", &format!("m-{n}"))?["archived"] == true,
            "m-{n} archived"
        );
    }
    check!(
        only(&all, "external_id", "m-14")?["archived"] == false,
        "m-14 kept"
    );

    // Companies: a removed row is deleted.
    let orgs = sc
        .table(
            "orgs",
            &[("company_id", Col::Text), ("name", Col::Text)],
            &(1..=10)
                .map(|n| vec![s(format!("c-{n:02}")), s(format!("Org {n}"))])
                .collect::<Vec<_>>(),
        )
        .await?;
    let csync = sc.add_sync(
        "orgs",
        &format!("select company_id, name from {orgs}"),
        json!({
            "destination": dest, "object": "company", "behavior": "mirror",
            "key": {"column": "company_id", "field": "company_id"}, "fields": {"name": "name"},
        }),
    )?;
    let r = sc.api.run_to_end(&csync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "company mirror first run\n{r}");
    check_eq!(r.count("created"), 10, "companies created\n{r}");
    sc.sql(&[format!("DELETE FROM {orgs} WHERE company_id = 'c-10'")])
        .await?;
    let r = sc.api.run_to_end(&csync, RunRequest::normal()).await?;
    check_eq!(
        r.status(),
        "succeeded",
        "company mirror after a removal\n{r}"
    );
    check_eq!(r.count("deleted"), 1, "companies deleted\n{r}");
    let companies = ic.companies().await?;
    check!(
        only(&companies, "company_id", "c-10")?["deleted"] == true,
        "c-10 deleted"
    );
    check!(
        only(&companies, "company_id", "c-09")?["deleted"] == false,
        "c-09 kept"
    );

    // The guard's other arm: a model that became empty would remove every
    // record synced before. The limit (max_removals: 100) would let 3 go, but
    // "everything" is refused all the same, and nothing is removed.
    let few = sc
        .table(
            "few",
            &cols,
            &(1..=3)
                .map(|n| {
                    vec![
                        s(format!("e-{n}")),
                        s(format!("e{n}@example.com")),
                        s(format!("Every {n}")),
                    ]
                })
                .collect::<Vec<_>>(),
        )
        .await?;
    let esync = sc.add_sync(
        "few",
        &format!("select id, email, full_name from {few}"),
        json!({
            "destination": dest, "object": "user", "behavior": "mirror", "max_removals": 100,
            "key": {"column": "id", "field": "external_id"}, "fields": {"email": "email", "name": "full_name"},
        }),
    )?;
    let r = sc.api.run_to_end(&esync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "mirror of 3 users\n{r}");
    check_eq!(r.count("created"), 3, "counts.created\n{r}");
    sc.sql(&[format!("DELETE FROM {few}")]).await?;
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&esync, RunRequest::normal()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(r.status(), "failed", "mirror of an emptied model\n{r}");
    check_guard_message(
        &r.error(),
        &esync,
        "mirror would remove 3 of the 3 records synced before, \
         that is every record synced before (is the model empty?)",
    )?;
    check!(
        delta.writes() == 0,
        "writes by the refused run: {:?}",
        delta.write_routes()
    );
    let all = ic.contacts().await?;
    for n in 1..=3 {
        check!(
            only(&all, "external_id", &format!("e-{n}"))?["archived"] == false,
            "e-{n} not removed by the refused run"
        );
    }
    let r = sc
        .api
        .run_to_end(&esync, RunRequest::allow_mass_removal())
        .await?;
    check_eq!(
        r.status(),
        "succeeded",
        "emptied model, removal allowed\n{r}"
    );
    check_eq!(r.count("archived"), 3, "counts.archived\n{r}");
    Ok(())
}

/// The mass-removal guard's error as a user reads it: the sync, the counts and
/// why (`why`), that nothing was removed, and how to override.
fn check_guard_message(error: &str, sync: &str, why: &str) -> Result<()> {
    for part in [
        format!("sync `{sync}`: "),
        format!("{why}; nothing was removed."),
        "If this is intended, run again with \"allow_mass_removal\": true \
         (or raise max_removals in the sync)."
            .to_string(),
    ] {
        check!(
            error.contains(&part),
            "the guard's message should contain {part:?}; it is {error:?}"
        );
    }
    Ok(())
}
