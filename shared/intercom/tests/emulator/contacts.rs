//! Contacts: one key, one contact — creates, 409s, search lag, archived matches, leads, updates only, removals.

use crate::*;

#[tokio::test]
async fn create_then_update_the_same_external_id_is_one_contact() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"external_id": "u1", "email": "u1@x.io", "name": "One"}));
    let first = client
        .upsert_contact(KeyField::ExternalId, "u1", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    let id = first.intercom_id.clone().unwrap();

    // Memory lost: the create is answered 409 with the id, then a PUT.
    let body2 = map(json!({"external_id": "u1", "name": "Uno"}));
    let second = client
        .upsert_contact(KeyField::ExternalId, "u1", None, &body2, Role::User)
        .await
        .unwrap();
    assert_eq!(
        second,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id.clone())
        }
    );

    // Remembered id: a single PUT.
    let before = client.stats().calls;
    let third = client
        .upsert_contact(KeyField::ExternalId, "u1", Some(&id), &body2, Role::User)
        .await
        .unwrap();
    assert_eq!(third.outcome, Outcome::Updated);
    assert_eq!(client.stats().calls - before, 1);

    // A stale remembered id is forgotten, the lookup finds the real one.
    let fourth = client
        .upsert_contact(
            KeyField::ExternalId,
            "u1",
            Some("gone0000"),
            &body2,
            Role::User,
        )
        .await
        .unwrap();
    assert_eq!(fourth.intercom_id.as_deref(), Some(id.as_str()));

    let d = dump(&emu).await;
    let found = live_contacts(&d, "external_id", "u1");
    assert_eq!(found.len(), 1, "{d}");
    assert_eq!(found[0]["name"], json!("Uno"));
    let s = stats(&emu).await;
    // One create, two creates answered 409 (memory lost, stale memory).
    assert_eq!(route_count(&s, "POST /contacts"), 3);
    assert_eq!(status_count(&s, "409"), 2);
    assert_eq!(
        route_count(&s, "GET /contacts/find_by_external_id/{external_id}"),
        0
    );
    assert_eq!(client.stats().calls, s["requests"].as_u64().unwrap());
}

#[tokio::test]
async fn a_new_user_costs_exactly_one_call() {
    let (emu, client) = start(plain()).await;
    let cases = [
        (
            KeyField::ExternalId,
            "new-1",
            json!({"external_id": "new-1", "email": "new1@x.io", "name": "N"}),
        ),
        (KeyField::ExternalId, "new-2", json!({"name": "No email"})),
        (KeyField::Email, "new3@x.io", json!({"name": "By email"})),
    ];
    for (field, key, body) in cases {
        let before = client.stats().calls;
        let r = client
            .upsert_contact(field, key, None, &map(body), Role::User)
            .await
            .unwrap();
        assert_eq!(r.outcome, Outcome::Created, "{key}");
        assert_eq!(client.stats().calls - before, 1, "{key}: one POST");
    }
    let s = stats(&emu).await;
    assert_eq!(s["requests"], json!(3), "{s}");
    assert_eq!(route_count(&s, "POST /contacts"), 3);
    let d = dump(&emu).await;
    assert_eq!(live_contacts(&d, "external_id", "new-2").len(), 1);
    assert_eq!(live_contacts(&d, "email", "new3@x.io").len(), 1);
}

#[tokio::test]
async fn an_existing_unknown_user_is_a_409_then_a_put() {
    let (emu, client) = start(plain()).await;
    let by_id = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"role": "user", "external_id": "old-1", "name": "Before"}),
    )
    .await;
    let by_email = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"role": "user", "email": "old2@x.io", "name": "Before"}),
    )
    .await;
    let before = stats(&emu).await["requests"].as_u64().unwrap();
    let cases = [
        (KeyField::ExternalId, "old-1", &by_id),
        (KeyField::Email, "OLD2@x.io", &by_email),
    ];
    for (field, key, existing) in cases {
        let calls = client.stats().calls;
        let r = client
            .upsert_contact(field, key, None, &map(json!({"name": "After"})), Role::User)
            .await
            .unwrap();
        assert_eq!(
            r,
            WriteResult {
                outcome: Outcome::Updated,
                intercom_id: existing["id"].as_str().map(String::from)
            },
            "{key}"
        );
        assert_eq!(
            client.stats().calls - calls,
            2,
            "{key}: the 409 and the PUT"
        );
    }
    let s = stats(&emu).await;
    assert_eq!(s["requests"].as_u64().unwrap() - before, 4, "{s}");
    assert_eq!(status_count(&s, "409"), 2, "{s}");
    assert_eq!(route_count(&s, "PUT /contacts/{id}"), 2, "{s}");
    let d = dump(&emu).await;
    let one = live_contacts(&d, "external_id", "old-1");
    assert_eq!(one.len(), 1, "{d}");
    assert_eq!(one[0]["name"], json!("After"));
    let two = live_contacts(&d, "email", "old2@x.io");
    assert_eq!(two.len(), 1, "{d}");
    assert_eq!(two[0]["name"], json!("After"));
    assert_eq!(d["contacts"].as_array().unwrap().len(), 2);

    // With an email in the body, the 409's contact is read before it is adopted
    // (the email could be another user's): 409, GET, PUT.
    let calls = client.stats().calls;
    let r = client
        .upsert_contact(
            KeyField::ExternalId,
            "old-1",
            None,
            &map(json!({"email": "old1@x.io"})),
            Role::User,
        )
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Updated);
    assert_eq!(client.stats().calls - calls, 3);
}

#[tokio::test]
async fn search_lag_and_409_lead_to_the_existing_contact() {
    let (emu, client) = start(Options {
        search_lag_secs: 120,
        ..plain()
    })
    .await;
    let direct = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"email": "ann@x.io", "role": "user", "name": "Before"}),
    )
    .await;
    let direct_id = direct["id"].as_str().unwrap().to_string();

    let body = map(json!({"email": "ann@x.io", "name": "After"}));
    let r = client
        .upsert_contact(KeyField::Email, "ann@x.io", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(direct_id)
        }
    );

    let d = dump(&emu).await;
    let found = live_contacts(&d, "email", "ann@x.io");
    assert_eq!(found.len(), 1, "{d}");
    assert_eq!(found[0]["name"], json!("After"));
    let s = stats(&emu).await;
    // Users are created first: search (which lags) is not even asked.
    assert_eq!(route_count(&s, "POST /contacts/search"), 0);
    assert_eq!(status_count(&s, "409"), 1);
    assert_eq!(s["requests"], json!(3), "the seed, the 409, the PUT: {s}");
}

#[tokio::test]
async fn an_archived_conflict_is_unarchived_and_updated() {
    let (emu, client) = start(plain()).await;
    let direct = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"email": "old@x.io", "role": "user"}),
    )
    .await;
    let id = direct["id"].as_str().unwrap().to_string();
    raw(
        &emu,
        reqwest::Method::POST,
        &format!("/contacts/{id}/archive"),
        json!({}),
    )
    .await;

    let body = map(json!({"email": "old@x.io", "name": "Back"}));
    let r = client
        .upsert_contact(KeyField::Email, "old@x.io", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id)
        }
    );
    let d = dump(&emu).await;
    let found = live_contacts(&d, "email", "old@x.io");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["archived"], json!(false));
    assert_eq!(found[0]["name"], json!("Back"));
    assert_eq!(
        route_count(&stats(&emu).await, "POST /contacts/{id}/unarchive"),
        1
    );
}

#[tokio::test]
async fn an_email_held_by_another_external_id_is_rejected_not_merged() {
    let (emu, client) = start(plain()).await;
    let a = map(json!({"external_id": "a", "email": "shared@x.io"}));
    client
        .upsert_contact(KeyField::ExternalId, "a", None, &a, Role::User)
        .await
        .unwrap();
    let b = map(json!({"external_id": "b", "email": "shared@x.io"}));
    let r = client
        .upsert_contact(KeyField::ExternalId, "b", None, &b, Role::User)
        .await;
    assert_eq!(rejected_code(r), "conflict");
    let d = dump(&emu).await;
    assert_eq!(live_contacts(&d, "external_id", "a").len(), 1);
    assert!(live_contacts(&d, "external_id", "b").is_empty());
}

#[tokio::test]
async fn leads_are_remembered_by_id() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"external_id": "lead-1", "name": "Lee"}));
    let first = client
        .upsert_contact(KeyField::ExternalId, "lead-1", None, &body, Role::Lead)
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    let id = first.intercom_id.unwrap();
    let again = client
        .upsert_contact(KeyField::ExternalId, "lead-1", Some(&id), &body, Role::Lead)
        .await
        .unwrap();
    assert_eq!(
        again,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id)
        }
    );
    let d = dump(&emu).await;
    let leads: Vec<_> = d["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == json!("lead"))
        .collect();
    assert_eq!(leads.len(), 1);
    assert!(leads[0]["external_id"].is_null());
    // Never asked find_by_external_id about a lead.
    assert_eq!(
        route_count(
            &stats(&emu).await,
            "GET /contacts/find_by_external_id/{external_id}"
        ),
        0
    );
}

#[tokio::test]
async fn update_only_never_creates() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"name": "X"}));
    for (field, key) in [
        (KeyField::ExternalId, "nobody"),
        (KeyField::Email, "nobody@x.io"),
        (KeyField::Id, "000000000000000000000000"),
    ] {
        let r = client
            .update_contact_only(field, key, None, &body, Role::User)
            .await
            .unwrap();
        assert_eq!(
            r,
            WriteResult {
                outcome: Outcome::NotFound,
                intercom_id: None
            },
            "{field:?}"
        );
    }
    let made = client
        .upsert_contact(
            KeyField::Email,
            "some@x.io",
            None,
            &map(json!({})),
            Role::User,
        )
        .await
        .unwrap();
    let id = made.intercom_id.unwrap();
    let r = client
        .update_contact_only(KeyField::Email, "some@x.io", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Updated);
    let r = client
        .update_contact_only(KeyField::Id, &id, None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id)
        }
    );
    assert_eq!(route_count(&stats(&emu).await, "POST /contacts"), 1);
    assert_eq!(dump(&emu).await["contacts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn archive_and_permanent_delete() {
    let (emu, client) = start(plain()).await;
    let mut ids = Vec::new();
    for k in ["a1", "d1"] {
        let body = map(json!({"external_id": k, "email": format!("{k}@x.io")}));
        let r = client
            .upsert_contact(KeyField::ExternalId, k, None, &body, Role::User)
            .await
            .unwrap();
        ids.push(r.intercom_id.unwrap());
    }
    let r = client
        .remove_contact(KeyField::ExternalId, "a1", None, DeleteMode::Archive)
        .await;
    assert_eq!(outcome(&r), Outcome::Archived);
    // Already archived still counts as archived.
    let r = client
        .remove_contact(
            KeyField::ExternalId,
            "a1",
            Some(&ids[0]),
            DeleteMode::Archive,
        )
        .await;
    assert_eq!(outcome(&r), Outcome::Archived);

    let r = client
        .remove_contact(KeyField::Email, "d1@x.io", None, DeleteMode::Permanent)
        .await;
    assert_eq!(
        r.unwrap(),
        WriteResult {
            outcome: Outcome::Deleted,
            intercom_id: Some(ids[1].clone())
        }
    );
    let r = client
        .remove_contact(
            KeyField::Email,
            "d1@x.io",
            Some(&ids[1]),
            DeleteMode::Permanent,
        )
        .await;
    assert_eq!(outcome(&r), Outcome::NotFound);
    let r = client
        .remove_contact(
            KeyField::Id,
            "ffffffffffffffffffffffff",
            None,
            DeleteMode::Archive,
        )
        .await;
    assert_eq!(outcome(&r), Outcome::NotFound);

    let d = dump(&emu).await;
    let a = live_contacts(&d, "external_id", "a1");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["archived"], json!(true));
    let deleted: Vec<_> = d["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["deleted"] == json!(true))
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["id"], json!(ids[1]));
}
