//! Who a contact is: duplicates (409), leads, roles, deletion, merge.

use intercom_emulator::Options;
use reqwest::Method;
use serde_json::json;

use crate::common::{id_in_message, Env};

#[tokio::test]
async fn a_duplicate_user_email_or_external_id_is_409_with_the_id_in_the_message() {
    let env = Env::new().await;
    let id = env
        .contact(json!({"email": "ann@x.com", "external_id": "u1"}))
        .await;
    for body in [
        json!({"email": "ann@x.com"}),
        json!({"email": "ANN@X.com"}),
        json!({"external_id": "u1"}),
        json!({"external_id": "u1", "email": "other@x.com"}),
    ] {
        let a = env.post("/contacts", body.clone()).await;
        let msg = a.expect_error(409, "conflict");
        assert_eq!(
            msg,
            format!("A contact matching those details already exists with id={id}"),
            "{body}"
        );
        assert_eq!(id_in_message(&msg), id);
    }
    let dump = env.dump().await;
    assert_eq!(
        dump["contacts"].as_array().unwrap().len(),
        1,
        "exactly one contact per key"
    );
}

#[tokio::test]
async fn an_archived_match_says_so() {
    let env = Env::new().await;
    let id = env.contact(json!({"external_id": "u1"})).await;
    let archived = env
        .post(&format!("/contacts/{id}/archive"), json!({}))
        .await;
    assert_eq!(
        archived.body,
        json!({"type": "contact", "id": id, "external_id": "u1", "archived": true})
    );
    let msg = env
        .post("/contacts", json!({"external_id": "u1"}))
        .await
        .expect_error(409, "conflict");
    assert_eq!(
        msg,
        format!("An archived contact matching those details already exists with id={id}")
    );
    let un = env
        .post(&format!("/contacts/{id}/unarchive"), json!({}))
        .await;
    assert_eq!(un.body["archived"], false);
}

#[tokio::test]
async fn updating_a_user_onto_another_users_email_is_409() {
    let env = Env::new().await;
    let a = env.contact(json!({"email": "a@x.com"})).await;
    let b = env.contact(json!({"email": "b@x.com"})).await;
    let msg = env
        .put(&format!("/contacts/{b}"), json!({"email": "a@x.com"}))
        .await
        .expect_error(409, "conflict");
    assert_eq!(id_in_message(&msg), a);
    // Its own email is no conflict.
    assert!(env
        .put(&format!("/contacts/{b}"), json!({"email": "B@x.com"}))
        .await
        .status
        .is_success());
}

#[tokio::test]
async fn a_lead_ignores_external_id_on_create_and_update() {
    let env = Env::new().await;
    let lead = env
        .post(
            "/contacts",
            json!({"role": "lead", "external_id": "L1", "email": "l@x.com"}),
        )
        .await;
    assert_eq!(lead.body["role"], "lead");
    assert_eq!(lead.body["external_id"], serde_json::Value::Null);
    let id = lead.id();
    let upd = env
        .put(
            &format!("/contacts/{id}"),
            json!({"external_id": "L2", "name": "Lee"}),
        )
        .await;
    assert_eq!(upd.body["external_id"], serde_json::Value::Null);
    assert_eq!(upd.body["name"], "Lee");
    env.get("/contacts/find_by_external_id/L1")
        .await
        .expect_error(404, "not_found");
    env.get("/contacts/find_by_external_id/L2")
        .await
        .expect_error(404, "not_found");
    // A user may then take that external_id: the lead never held it.
    env.contact(json!({"external_id": "L1"})).await;
}

#[tokio::test]
async fn leads_may_share_an_email_and_by_default_a_users_email() {
    let env = Env::new().await;
    let a = env
        .contact(json!({"role": "lead", "email": "same@x.com"}))
        .await;
    let b = env
        .contact(json!({"role": "lead", "email": "same@x.com"}))
        .await;
    assert_ne!(a, b);
    env.contact(json!({"email": "same@x.com"})).await;
    env.contact(json!({"role": "lead", "email": "same@x.com"}))
        .await;
}

#[tokio::test]
async fn the_lead_user_email_switch_makes_them_conflict() {
    let env = Env::with(Options {
        rate_limit: 0,
        lead_email_conflicts_with_user: true,
        ..Options::default()
    })
    .await;
    let user = env.contact(json!({"email": "u@x.com"})).await;
    let msg = env
        .post("/contacts", json!({"role": "lead", "email": "u@x.com"}))
        .await
        .expect_error(409, "conflict");
    assert_eq!(id_in_message(&msg), user);
    let lead = env
        .contact(json!({"role": "lead", "email": "l@x.com"}))
        .await;
    let msg = env
        .post("/contacts", json!({"email": "l@x.com"}))
        .await
        .expect_error(409, "conflict");
    assert_eq!(id_in_message(&msg), lead);
}

#[tokio::test]
async fn a_user_never_becomes_a_lead() {
    let env = Env::new().await;
    let id = env.contact(json!({"email": "u@x.com"})).await;
    let msg = env
        .put(&format!("/contacts/{id}"), json!({"role": "lead"}))
        .await
        .expect_error(400, "role_conversion_not_allowed");
    assert_eq!(msg, "A user can't be converted to a lead");
    assert_eq!(
        env.get(&format!("/contacts/{id}")).await.body["role"],
        "user"
    );
}

#[tokio::test]
async fn a_lead_becomes_a_user_by_merge_not_by_update_unless_switched_on() {
    let env = Env::new().await;
    let lead = env
        .contact(json!({"role": "lead", "email": "l@x.com"}))
        .await;
    env.put(&format!("/contacts/{lead}"), json!({"role": "user"}))
        .await
        .expect_error(400, "role_conversion_not_allowed");

    let on = Env::with(Options {
        rate_limit: 0,
        lead_to_user_on_update: true,
        ..Options::default()
    })
    .await;
    let lead = on
        .contact(json!({"role": "lead", "email": "l@x.com"}))
        .await;
    let user = on
        .put(
            &format!("/contacts/{lead}"),
            json!({"role": "user", "external_id": "u9"}),
        )
        .await;
    assert_eq!(user.body["role"], "user");
    assert_eq!(user.body["external_id"], "u9");
    assert!(on
        .get("/contacts/find_by_external_id/u9")
        .await
        .status
        .is_success());
}

#[tokio::test]
async fn merge_moves_a_lead_into_a_user_and_the_lead_is_gone() {
    let env = Env::new().await;
    env.attribute("score", "contact", "integer").await;
    let lead = env.contact(json!({"role": "lead", "email": "p@x.com", "name": "Pat", "custom_attributes": {"score": 3}})).await;
    let user = env
        .contact(json!({"external_id": "u1", "email": "p@x.com"}))
        .await;
    let merged = env
        .post("/contacts/merge", json!({"from": lead, "into": user}))
        .await;
    assert_eq!(merged.id(), user);
    assert_eq!(merged.body["role"], "user");
    assert_eq!(merged.body["name"], "Pat", "the user gains what it lacked");
    assert_eq!(merged.body["custom_attributes"]["score"], 3);
    // 2.14: 404; 2.16: 410 with a Link to the canonical contact.
    env.get(&format!("/contacts/{lead}"))
        .await
        .expect_error(404, "not_found");
    let gone = env
        .send(
            Method::GET,
            &format!("/contacts/{lead}"),
            None,
            &[("Intercom-Version", "2.16")],
        )
        .await;
    gone.expect_error(410, "contact_merged");
    assert_eq!(
        gone.header("link"),
        Some(format!("</contacts/{user}>; rel=\"canonical\""))
    );
    // Users cannot be merged into users.
    let other = env.contact(json!({"external_id": "u2"})).await;
    env.post("/contacts/merge", json!({"from": other, "into": user}))
        .await
        .expect_error(400, "parameter_invalid");
}

#[tokio::test]
async fn merge_under_2_16_needs_duplicates_unless_told_to_skip() {
    let env = Env::new().await;
    let lead = env
        .contact(json!({"role": "lead", "email": "a@x.com"}))
        .await;
    let user = env
        .contact(json!({"external_id": "u1", "email": "b@x.com"}))
        .await;
    let v16 = [("Intercom-Version", "2.16")];
    let body = json!({"from": lead, "into": user});
    env.send(Method::POST, "/contacts/merge", Some(body), &v16)
        .await
        .expect_error(400, "invalid_merge");
    let body = json!({"from": lead, "into": user, "skip_duplicate_validation": true});
    assert!(env
        .send(Method::POST, "/contacts/merge", Some(body), &v16)
        .await
        .status
        .is_success());
}

#[tokio::test]
async fn a_permanently_deleted_user_can_never_be_created_again() {
    let env = Env::new().await;
    let id = env
        .contact(json!({"external_id": "gone", "email": "gone@x.com"}))
        .await;
    let del = env.delete(&format!("/contacts/{id}")).await;
    assert_eq!(
        del.body,
        json!({"type": "contact", "id": id, "external_id": "gone", "deleted": true})
    );
    env.get(&format!("/contacts/{id}"))
        .await
        .expect_error(404, "not_found");
    env.get("/contacts/find_by_external_id/gone")
        .await
        .expect_error(404, "not_found");
    for body in [
        json!({"external_id": "gone"}),
        json!({"email": "GONE@x.com"}),
    ] {
        let msg = env
            .post("/contacts", body)
            .await
            .expect_error(400, "contact_deleted");
        assert!(msg.contains(&id), "{msg}");
    }
    let other = env.contact(json!({"external_id": "fresh"})).await;
    env.put(
        &format!("/contacts/{other}"),
        json!({"external_id": "gone"}),
    )
    .await
    .expect_error(400, "contact_deleted");
    let dump = env.dump().await;
    let deleted: Vec<_> = dump["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["deleted"] == true)
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["id"], id);
}
