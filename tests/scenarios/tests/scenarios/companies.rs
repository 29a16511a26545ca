//! Companies: their fields, their visibility through attached contacts,
//! and their deletion.

use std::collections::BTreeSet;

use anyhow::Result;
use backflow_scenarios::warehouse::{f, i, s, ts};
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario};
use serde_json::json;

use super::{only, user_spec, DEC_31_2022_235959, JUN_30_2023};

// 6. companies: fields, visibility through attached contacts, delete

pub(super) async fn company_fields_contacts_and_delete(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let cols = [
        ("company_id", Col::Text),
        ("name", Col::Text),
        ("plan", Col::Text),
        ("employees", Col::Int),
        ("website", Col::Text),
        ("industry", Col::Text),
        ("mrr", Col::Float),
        ("created", Col::Timestamp),
        ("tier", Col::Text),
    ];
    let table = sc
        .table(
            "accounts",
            &cols,
            &[
                vec![
                    s("c-1"),
                    s("Acme Ünïcode GmbH"),
                    s("enterprise"),
                    i(250),
                    s("https://acme.example"),
                    s("Manufacturing"),
                    f(155.98),
                    ts("2022-12-31 23:59:59"),
                    s("gold"),
                ],
                vec![
                    s("c-2"),
                    s("Beta"),
                    s("pro"),
                    i(10),
                    s("https://beta.example"),
                    s("Software"),
                    f(99.5),
                    ts("2023-06-30 00:00:00"),
                    s("silver"),
                ],
                vec![
                    s("c-3"),
                    s("Gamma"),
                    s("free"),
                    i(1),
                    s("https://gamma.example"),
                    s("Retail"),
                    f(0.0),
                    ts("2023-06-30 00:00:00"),
                    s("bronze"),
                ],
            ],
        )
        .await?;
    let sync = sc.add_sync(
        "companies",
        &format!("select company_id, name, plan, employees, website, industry, mrr, created, tier from {table}"),
        json!({
            "destination": dest, "object": "company", "behavior": "update_or_create",
            "key": {"column": "company_id", "field": "company_id"},
            "fields": {
                "name": "name", "plan": "plan", "size": "employees", "website": "website",
                "industry": "industry", "monthly_spend": "mrr", "remote_created_at": "created",
                "custom_attributes.tier": "tier",
            },
        }),
    )?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "companies\n{r}");
    check_eq!(r.count("created"), 3, "companies created\n{r}");
    let companies = ic.companies().await?;
    check_eq!(companies.len(), 3, "three companies");
    let acme = only(&companies, "company_id", "c-1")?;
    check_eq!(acme["name"], json!("Acme Ünïcode GmbH"), "name");
    check_eq!(acme["plan"]["name"], json!("enterprise"), "plan");
    check_eq!(acme["size"], json!(250), "size");
    check_eq!(acme["website"], json!("https://acme.example"), "website");
    check_eq!(acme["industry"], json!("Manufacturing"), "industry");
    check_eq!(
        acme["monthly_spend"],
        json!(155),
        "monthly_spend (Intercom truncates 155.98)"
    );
    check_eq!(
        acme["remote_created_at"],
        json!(DEC_31_2022_235959),
        "remote_created_at"
    );
    check_eq!(
        acme["custom_attributes"]["tier"],
        json!("gold"),
        "custom_attributes.tier"
    );
    check_eq!(
        only(&companies, "company_id", "c-2")?["remote_created_at"],
        json!(JUN_30_2023),
        "c-2 remote_created_at"
    );
    let attrs = ic.attributes().await?;
    let tier = only(&attrs, "name", "tier")?;
    check_eq!(
        tier["model"],
        json!("company"),
        "tier is a company attribute"
    );
    check!(
        ic.listed_companies().await?.is_empty(),
        "companies without contacts are hidden from /companies/list"
    );

    // Contacts attached via company_id make their companies visible.
    let staff = sc
        .table(
            "staff",
            &[
                ("id", Col::Text),
                ("email", Col::Text),
                ("company_id", Col::Text),
            ],
            &[
                vec![s("s-1"), s("s1@acme.example"), s("c-1")],
                vec![s("s-2"), s("s2@beta.example"), s("c-2")],
                vec![s("s-3"), s("s3@acme.example"), s("c-1")],
            ],
        )
        .await?;
    let ssync = sc.add_sync(
        "staff",
        &format!("select id, email, company_id from {staff}"),
        user_spec(
            &dest,
            "id",
            "external_id",
            json!({"email": "email", "company_id": "company_id"}),
        ),
    )?;
    let r = sc.api.run_to_end(&ssync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "staff\n{r}");
    let listed = ic.listed_companies().await?;
    let visible: BTreeSet<&str> = listed
        .iter()
        .filter_map(|c| c["company_id"].as_str())
        .collect();
    check_eq!(
        visible,
        BTreeSet::from(["c-1", "c-2"]),
        "companies visible in /companies/list"
    );
    let companies = ic.companies().await?;
    check_eq!(
        only(&companies, "company_id", "c-1")?["user_count"],
        json!(2),
        "c-1 has two contacts"
    );

    // Company delete.
    let closed = sc
        .table("closed", &[("company_id", Col::Text)], &[vec![s("c-2")]])
        .await?;
    let dsync = sc.add_sync(
        "closed",
        &format!("select company_id from {closed}"),
        json!({
            "destination": dest, "object": "company", "behavior": "delete",
            "key": {"column": "company_id", "field": "company_id"},
        }),
    )?;
    let r = sc.api.run_to_end(&dsync, RunRequest::normal()).await?;
    check_eq!(r.status(), "succeeded", "company delete\n{r}");
    check_eq!(r.count("deleted"), 1, "counts.deleted\n{r}");
    let companies = ic.companies().await?;
    check!(
        only(&companies, "company_id", "c-2")?["deleted"] == true,
        "c-2 deleted"
    );
    let listed = ic.listed_companies().await?;
    check!(
        listed.iter().all(|c| c["company_id"] != "c-2"),
        "c-2 no longer listed"
    );
    let contacts = ic.contacts().await?;
    check!(
        only(&contacts, "external_id", "s-2")?["deleted"] == false,
        "its contact is kept"
    );
    Ok(())
}
