//! Contact shapes, updates, custom attributes, lists.

use intercom_emulator::{Options, UnknownAttributes};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{ids, Env};

#[tokio::test]
async fn a_created_contact_has_intercoms_shape() {
    let env = Env::new().await;
    let c = env
        .post(
            "/contacts",
            json!({"email": "Joe@Example.com", "name": "Joe", "signed_up_at": 1_700_000_000}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK);
    let b = &c.body;
    assert_eq!(b["type"], "contact");
    assert_eq!(b["role"], "user", "role defaults to user");
    assert_eq!(b["id"].as_str().unwrap().len(), 24);
    assert_eq!(b["workspace_id"], "ecahpwf5");
    assert_eq!(b["email_domain"], "example.com");
    assert_eq!(b["external_id"], Value::Null);
    assert_eq!(b["signed_up_at"], 1_700_000_000);
    assert!(
        b["created_at"].is_i64() && b["updated_at"].is_i64(),
        "Unix seconds"
    );
    assert_eq!(b["custom_attributes"], json!({}));
    assert_eq!(b["location"]["type"], "location");
    let id = b["id"].as_str().unwrap();
    assert_eq!(b["companies"]["url"], format!("/contacts/{id}/companies"));
    assert_eq!(b["companies"]["total_count"], 0);
    env.post("/contacts", json!({"name": "nobody"}))
        .await
        .expect_error(400, "parameter_invalid");
    env.post("/contacts", json!({"role": "admin"}))
        .await
        .expect_error(400, "parameter_invalid");
}

#[tokio::test]
async fn update_is_partial_and_custom_attributes_merge_per_key() {
    let env = Env::new().await;
    env.attribute("plan", "contact", "string").await;
    env.attribute("seats", "contact", "integer").await;
    let id = env.contact(json!({"email": "a@x.com", "name": "A", "phone": "1", "custom_attributes": {"plan": "pro", "seats": 3}})).await;
    let u = env
        .put(
            &format!("/contacts/{id}"),
            json!({"phone": null, "custom_attributes": {"seats": 4}}),
        )
        .await;
    assert_eq!(u.body["name"], "A", "absent fields stay");
    assert_eq!(u.body["phone"], Value::Null, "null clears");
    assert_eq!(
        u.body["custom_attributes"],
        json!({"plan": "pro", "seats": 4})
    );
    let u = env
        .put(
            &format!("/contacts/{id}"),
            json!({"custom_attributes": {"plan": null}}),
        )
        .await;
    assert_eq!(u.body["custom_attributes"], json!({"seats": 4}));
    env.put("/contacts/000000000000000000000000", json!({"name": "x"}))
        .await
        .expect_error(404, "not_found");

    let replace = Env::with(Options {
        rate_limit: 0,
        replace_custom_attributes: true,
        ..Options::default()
    })
    .await;
    replace.attribute("plan", "contact", "string").await;
    replace.attribute("seats", "contact", "integer").await;
    let id = replace
        .contact(json!({"email": "a@x.com", "custom_attributes": {"plan": "pro", "seats": 3}}))
        .await;
    let u = replace
        .put(
            &format!("/contacts/{id}"),
            json!({"custom_attributes": {"seats": 4}}),
        )
        .await;
    assert_eq!(u.body["custom_attributes"], json!({"seats": 4}));
}

#[tokio::test]
async fn an_unknown_custom_attribute_is_refused_by_name() {
    let env = Env::new().await;
    let a = env
        .post(
            "/contacts",
            json!({"email": "a@x.com", "custom_attributes": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(
        a.expect_error(400, "parameter_invalid"),
        "Custom attribute 'tier' does not exist"
    );
    assert!(
        env.dump().await["contacts"].as_array().unwrap().is_empty(),
        "nothing was written"
    );

    let drop = Env::with(Options {
        rate_limit: 0,
        unknown_attributes: UnknownAttributes::Drop,
        ..Options::default()
    })
    .await;
    let c = drop
        .post(
            "/contacts",
            json!({"email": "a@x.com", "custom_attributes": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["custom_attributes"], json!({}));
}

#[tokio::test]
async fn custom_attribute_values_must_match_their_type_and_length() {
    let env = Env::new().await;
    env.attribute("seats", "contact", "integer").await;
    env.attribute("note", "contact", "string").await;
    env.attribute("vip", "contact", "boolean").await;
    env.attribute("renews", "contact", "date").await;
    for (attr, value, ty) in [
        ("seats", json!("three"), "integer"),
        ("seats", json!(2.5), "integer"),
        ("vip", json!("yes"), "boolean"),
        ("renews", json!("2024-01-01"), "date"),
        ("note", json!({"nested": true}), "string"),
    ] {
        let msg = env
            .post(
                "/contacts",
                json!({"email": "a@x.com", "custom_attributes": {attr: value}}),
            )
            .await
            .expect_error(400, "parameter_invalid");
        assert!(
            msg.contains(&format!("'{attr}'")) && msg.contains(ty),
            "{msg}"
        );
    }
    let long = "x".repeat(256);
    let msg = env
        .post(
            "/contacts",
            json!({"email": "a@x.com", "custom_attributes": {"note": long}}),
        )
        .await
        .expect_error(400, "parameter_invalid");
    assert!(msg.contains("'note'") && msg.contains("255"), "{msg}");
    let ok = env
        .post("/contacts", json!({"email": "a@x.com", "custom_attributes": {"note": "x".repeat(255), "seats": 3, "vip": true, "renews": 1_700_000_000}}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn get_and_find_by_external_id() {
    let env = Env::new().await;
    let id = env
        .contact(json!({"external_id": "ext-1", "email": "e@x.com"}))
        .await;
    assert_eq!(
        env.get(&format!("/contacts/{id}")).await.body["external_id"],
        "ext-1"
    );
    assert_eq!(
        env.get("/contacts/find_by_external_id/ext-1").await.id(),
        id
    );
    let missing = env.get("/contacts/find_by_external_id/nope").await;
    assert_eq!(missing.expect_error(404, "not_found"), "User Not Found");
}

#[tokio::test]
async fn list_pages_with_a_cursor_and_leaves_out_archived_contacts() {
    let env = Env::new().await;
    let mut created = Vec::new();
    for i in 0..8 {
        created.push(env.contact(json!({"email": format!("c{i}@x.com")})).await);
    }
    env.post(&format!("/contacts/{}/archive", created[0]), json!({}))
        .await;
    let mut seen = Vec::new();
    let mut path = "/contacts?per_page=3".to_string();
    let mut pages = 0;
    loop {
        let page = env.get(&path).await.body;
        pages += 1;
        assert_eq!(page["type"], "list");
        assert_eq!(page["total_count"], 7);
        assert_eq!(page["pages"]["per_page"], 3);
        assert_eq!(page["pages"]["page"], pages);
        assert_eq!(page["pages"]["total_pages"], 3);
        seen.extend(ids(&page["data"]));
        match page["pages"].get("next") {
            Some(next) => {
                path = format!(
                    "/contacts?per_page=3&starting_after={}",
                    next["starting_after"].as_str().unwrap()
                )
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created[1..].to_vec());
    // Archived contacts still answer a get.
    assert_eq!(
        env.get(&format!("/contacts/{}", created[0])).await.status,
        StatusCode::OK
    );
    env.get("/contacts?per_page=151")
        .await
        .expect_error(400, "parameter_invalid");
    let default = env.get("/contacts").await.body;
    assert_eq!(default["pages"]["per_page"], 50);
    assert!(default["pages"].get("next").is_none());
}
