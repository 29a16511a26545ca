//! E-mail keys: users and leads by e-mail, a role column, and mixed-case
//! e-mails landing on the contacts Intercom already has.

use std::collections::BTreeMap;

use anyhow::Result;
use backflow_scenarios::warehouse::s;
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario};
use serde_json::{json, Value};

use super::{only, user_spec};

// 2. user by email; lead by email; contact with a role column

pub(super) async fn email_keys_leads_and_roles(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let cols = [
        ("email", Col::Text),
        ("full_name", Col::Text),
        ("plan", Col::Text),
    ];

    // Users keyed by email.
    let people = sc
        .table(
            "people",
            &cols,
            &[
                vec![s("ann@users.example"), s("Ann"), s("pro")],
                vec![s("bob@users.example"), s("Bob"), s("free")],
                vec![s("cem@users.example"), s("Cem Çelik"), s("pro")],
            ],
        )
        .await?;
    let users = sc.add_sync(
        "users_by_email",
        &format!("select email, full_name, plan from {people}"),
        user_spec(
            &dest,
            "email",
            "email",
            json!({"name": "full_name", "custom_attributes.plan": "plan"}),
        ),
    )?;
    let r = sc.api.run_to_end(&users, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "users by email\n{r}");
    check_eq!(r.count("created"), 3, "users created\n{r}");
    let all = ic.contacts().await?;
    for (email, name) in [
        ("ann@users.example", "Ann"),
        ("cem@users.example", "Cem Çelik"),
    ] {
        let c = only(&all, "email", email)?;
        check_eq!(c["role"], json!("user"), "role of {email}");
        check_eq!(c["name"], json!(name), "name of {email}");
    }
    check_eq!(
        only(&all, "email", "bob@users.example")?["custom_attributes"]["plan"],
        json!("free"),
        "plan of bob"
    );

    // Leads keyed by email: role lead, no external_id.
    let leads = sc
        .table(
            "leads",
            &cols,
            &[
                vec![s("lia@leads.example"), s("Lia"), s("trial")],
                vec![s("leo@leads.example"), s("Leo"), s("trial")],
            ],
        )
        .await?;
    let lsync = sc.add_sync(
        "leads",
        &format!("select email, full_name from {leads}"),
        json!({
            "destination": dest, "object": "lead", "behavior": "update_or_create",
            "key": {"column": "email", "field": "email"}, "fields": {"name": "full_name"},
        }),
    )?;
    let r = sc.api.run_to_end(&lsync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "leads\n{r}");
    check_eq!(r.count("created"), 2, "leads created\n{r}");
    let all = ic.contacts().await?;
    for (email, name) in [("lia@leads.example", "Lia"), ("leo@leads.example", "Leo")] {
        let c = only(&all, "email", email)?;
        check_eq!(c["role"], json!("lead"), "role of {email}");
        check_eq!(c["name"], json!(name), "name of {email}");
        check!(c["external_id"].is_null(), "a lead has no external_id: {c}");
    }
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&lsync, RunRequest::normal()).await?;
    let delta = ic.stats().await?.since(&before);
    check_eq!(r.count("unchanged"), 2, "leads re-run unchanged\n{r}");
    check!(
        delta.writes() == 0,
        "leads re-run wrote: {:?}",
        delta.write_routes()
    );
    check_eq!(ic.contacts().await?.len(), 5, "no duplicate leads");

    // Contacts with a role column: a mix of users and leads.
    let mixed = sc
        .table(
            "mixed",
            &[
                ("email", Col::Text),
                ("full_name", Col::Text),
                ("kind", Col::Text),
            ],
            &[
                vec![s("mu1@mixed.example"), s("Mixed User 1"), s("user")],
                vec![s("ml1@mixed.example"), s("Mixed Lead 1"), s("lead")],
                vec![s("mu2@mixed.example"), s("Mixed User 2"), s("user")],
            ],
        )
        .await?;
    let csync = sc.add_sync(
        "contacts",
        &format!("select email, full_name, kind from {mixed}"),
        json!({
            "destination": dest, "object": "contact", "behavior": "update_or_create",
            "key": {"column": "email", "field": "email"},
            "fields": {"name": "full_name", "role": "kind"},
        }),
    )?;
    let r = sc.api.run_to_end(&csync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "contacts with roles\n{r}");
    check_eq!(r.count("created"), 3, "contacts created\n{r}");
    let all = ic.contacts().await?;
    for (email, role) in [
        ("mu1@mixed.example", "user"),
        ("ml1@mixed.example", "lead"),
        ("mu2@mixed.example", "user"),
    ] {
        check_eq!(
            only(&all, "email", email)?["role"],
            json!(role),
            "role of {email}"
        );
    }
    mixed_case_emails_land_on_one_contact(&sc, &dest, &ic).await
}

/// Contacts (neither deleted nor merged) whose e-mail is `email`, whatever its case.
fn with_email(contacts: &[Value], email: &str) -> Vec<Value> {
    contacts
        .iter()
        .filter(|c| c["deleted"] != true && c["merged_into"].is_null())
        .filter(|c| c["email"].as_str().map(str::to_lowercase).as_deref() == Some(email))
        .cloned()
        .collect()
}

/// E-mail keys compare case-insensitively: mixed-case e-mails in the model land
/// on the lower-case contacts Intercom already has (users through the create's
/// `409`, leads through the lookup), and a model whose case changes later is
/// still the same records: unchanged, nothing written.
async fn mixed_case_emails_land_on_one_contact(
    sc: &Scenario,
    dest: &str,
    ic: &backflow_scenarios::Intercom,
) -> Result<()> {
    let ana = ic
        .create_contact(json!({"role": "user", "email": "ana@case.example", "name": "Ana"}))
        .await?;
    let bea = ic
        .create_contact(json!({"role": "user", "email": "bea@case.example", "name": "Bea"}))
        .await?;
    let lou = ic
        .create_contact(json!({"role": "lead", "email": "lou@case.example", "name": "Lou"}))
        .await?;
    let cols = [("email", Col::Text), ("full_name", Col::Text)];
    let users_rows = |ana: &str, bea: &str, cai: &str| {
        vec![
            vec![s(ana), s("Ana Mixed")],
            vec![s(bea), s("Bea Mixed")],
            vec![s(cai), s("Cai Mixed")],
        ]
    };
    let people = sc
        .table(
            "case_people",
            &cols,
            &users_rows("Ana@Case.EXAMPLE", "BEA@case.example", "Cai@Case.Example"),
        )
        .await?;
    let users = sc.add_sync(
        "users_mixed_case",
        &format!("select email, full_name from {people}"),
        user_spec(dest, "email", "email", json!({"name": "full_name"})),
    )?;
    let leads_table = sc
        .table(
            "case_leads",
            &cols,
            &[vec![s("Lou@CASE.example"), s("Lou Mixed")]],
        )
        .await?;
    let leads = sc.add_sync(
        "leads_mixed_case",
        &format!("select email, full_name from {leads_table}"),
        json!({
            "destination": dest, "object": "lead", "behavior": "update_or_create",
            "key": {"column": "email", "field": "email"}, "fields": {"name": "full_name"},
        }),
    )?;
    let r = sc.api.run_to_end(&users, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "mixed-case user e-mails\n{r}");
    check_eq!(
        r.count("created") + r.count("updated"),
        3,
        "mixed-case users written\n{r}"
    );
    let r = sc.api.run_to_end(&leads, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "a mixed-case lead e-mail\n{r}");
    check_eq!(
        r.count("created") + r.count("updated"),
        1,
        "mixed-case lead written\n{r}"
    );
    let all = ic.contacts().await?;
    for (email, seeded, name) in [
        ("ana@case.example", Some(&ana), "Ana Mixed"),
        ("bea@case.example", Some(&bea), "Bea Mixed"),
        ("cai@case.example", None, "Cai Mixed"),
        ("lou@case.example", Some(&lou), "Lou Mixed"),
    ] {
        let found = with_email(&all, email);
        check_eq!(
            found.len(),
            1,
            "contacts with the e-mail {email} in any case: {}",
            serde_json::to_string(&found).unwrap_or_default()
        );
        if let Some(seeded) = seeded {
            check_eq!(
                found[0]["id"],
                seeded["id"],
                "{email}: the row landed on the contact Intercom had"
            );
        }
        check_eq!(found[0]["name"], json!(name), "name of {email}");
    }

    // A re-run of the same model: unchanged, nothing written.
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&users, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "users re-run\n{r}");
    check_eq!(r.count("unchanged"), 3, "users re-run unchanged\n{r}");
    let r = sc.api.run_to_end(&leads, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "lead re-run\n{r}");
    check_eq!(r.count("unchanged"), 1, "lead re-run unchanged\n{r}");
    let delta = ic.stats().await?.since(&before);
    check!(
        delta.writes() == 0,
        "a re-run wrote to Intercom: {:?}",
        delta.write_routes()
    );

    // The warehouse now spells the same e-mails in another case: the same
    // records, remembered under their e-mail in any case, so each is updated in
    // place (the new spelling is sent) with one PUT to the id backflow
    // remembers: no create, no lookup, no second contact.
    sc.sql(&[
        format!("DELETE FROM {people}"),
        format!("DELETE FROM {leads_table}"),
    ])
    .await?;
    sc.insert(
        "case_people",
        &cols,
        &users_rows("ana@case.example", "Bea@Case.Example", "CAI@CASE.EXAMPLE"),
    )
    .await?;
    sc.insert(
        "case_leads",
        &cols,
        &[vec![s("lou@case.EXAMPLE"), s("Lou Mixed")]],
    )
    .await?;
    let before = ic.stats().await?;
    let r = sc.api.run_to_end(&users, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "users after a case change\n{r}");
    check_eq!(
        (r.plan("create"), r.plan("update")),
        (0, 3),
        "users planned (create, update) after a case change\n{r}"
    );
    check_eq!(
        r.count("updated"),
        3,
        "users updated after a case change\n{r}"
    );
    let r = sc.api.run_to_end(&leads, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "lead after a case change\n{r}");
    check_eq!(
        (r.plan("create"), r.plan("update")),
        (0, 1),
        "lead planned (create, update) after a case change\n{r}"
    );
    let delta = ic.stats().await?.since(&before);
    check_eq!(
        delta.write_routes(),
        BTreeMap::from([("PUT /contacts/{id}".to_string(), 4)]),
        "writes after a case change"
    );
    check_eq!(
        delta.route("POST /contacts/search"),
        0,
        "searches after a case change"
    );
    let all = ic.contacts().await?;
    for email in [
        "ana@case.example",
        "bea@case.example",
        "cai@case.example",
        "lou@case.example",
    ] {
        check_eq!(
            with_email(&all, email).len(),
            1,
            "contacts with the e-mail {email} after the re-runs"
        );
    }
    Ok(())
}
