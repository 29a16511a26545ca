//! Companies: upserts, attaching contacts, the company id cache.

use crate::*;

#[tokio::test]
async fn company_upsert_and_attach_make_it_listed() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"company_id": "acme", "name": "Acme"}));
    let r = client.upsert_company(&body, None).await.unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    let company = r.intercom_id.unwrap();
    let listed = |v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["company_id"] == json!("acme"))
    };
    let list = raw(&emu, reqwest::Method::POST, "/companies/list", json!({})).await;
    assert!(!listed(&list), "{list}");

    let contact = new_user(&client, "u1").await;
    let r = client.attach_company(&contact, "acme").await.unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(company.clone())
        }
    );
    let list = raw(&emu, reqwest::Method::POST, "/companies/list", json!({})).await;
    assert!(listed(&list), "{list}");
    // The company id came from the upsert: no lookup was needed.
    assert_eq!(route_count(&stats(&emu).await, "GET /companies"), 0);

    let code = rejected_code(client.attach_company(&contact, "no-such-co").await);
    assert_eq!(code, "company_not_found");

    // Written again a minute later (emulated clock): an update of the same company.
    raw(
        &emu,
        reqwest::Method::POST,
        "/_emulator/clock/advance",
        json!({"secs": 60}),
    )
    .await;
    let again = client
        .upsert_company(&map(json!({"company_id": "acme", "plan": "pro"})), None)
        .await
        .unwrap();
    assert_eq!(
        again,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(company.clone())
        }
    );

    // Delete: by remembered id, then nothing left.
    let r = client.remove_company("acme", Some(&company)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Deleted);
    let r = client.remove_company("acme", None).await.unwrap();
    assert_eq!(r.outcome, Outcome::NotFound);
    let d = dump(&emu).await;
    assert_eq!(d["companies"].as_array().unwrap().len(), 1);
    assert_eq!(d["companies"][0]["deleted"], json!(true));
}

#[tokio::test]
async fn a_fresh_client_finds_the_company_to_attach() {
    let (emu, client) = start(plain()).await;
    client
        .upsert_company(&map(json!({"company_id": "globex"})), None)
        .await
        .unwrap();
    let contact = client
        .upsert_contact(KeyField::Email, "g@x.io", None, &map(json!({})), Role::User)
        .await
        .unwrap()
        .intercom_id
        .unwrap();
    let other = client_for(&emu.base_url(), "tok_test", fast_policy());
    for _ in 0..3 {
        other.attach_company(&contact, "globex").await.unwrap();
    }
    // Looked up once, then cached.
    assert_eq!(route_count(&stats(&emu).await, "GET /companies"), 1);
}
