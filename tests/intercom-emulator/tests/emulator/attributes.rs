//! Data attributes: listing, creation rules, the 250 limit, updates.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::Env;

fn names(list: &Value, custom: bool) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["custom"] == custom)
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_has_standard_and_custom_attributes_per_model() {
    let env = Env::new().await;
    let created = env.attribute("Mithril Shirt", "company", "string").await;
    assert_eq!(created["type"], "data_attribute");
    assert_eq!(created["full_name"], "custom_attributes.Mithril Shirt");
    assert_eq!(created["custom"], true);
    assert_eq!(created["archived"], false);
    assert!(created["id"].is_i64());
    env.attribute("tier", "contact", "string").await;
    let company = env.get("/data_attributes?model=company").await.body;
    assert_eq!(company["type"], "list");
    assert!(names(&company, false).contains(&"company_id".to_string()));
    assert_eq!(names(&company, true), vec!["Mithril Shirt"]);
    let contact = env.get("/data_attributes?model=contact").await.body;
    assert!(names(&contact, false).contains(&"email".to_string()));
    assert_eq!(names(&contact, true), vec!["tier"]);
    env.get("/data_attributes?model=ticket")
        .await
        .expect_error(400, "parameter_invalid");
}

#[tokio::test]
async fn creation_rules() {
    let env = Env::new().await;
    let bad_name = env
        .post(
            "/data_attributes",
            json!({"name": "a.b", "model": "contact", "data_type": "string"}),
        )
        .await;
    assert_eq!(
        bad_name.expect_error(400, "parameter_invalid"),
        "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens"
    );
    let bad_type = env
        .post(
            "/data_attributes",
            json!({"name": "x", "model": "contact", "data_type": "money"}),
        )
        .await;
    assert_eq!(
        bad_type.expect_error(400, "parameter_invalid"),
        "Data Type isn't an option"
    );
    let bad_model = env
        .post(
            "/data_attributes",
            json!({"name": "x", "model": "ticket", "data_type": "string"}),
        )
        .await;
    assert_eq!(
        bad_model.expect_error(400, "parameter_invalid"),
        "The Data Attribute model field must be either contact or company"
    );
    let bad_options = env
        .post("/data_attributes", json!({"name": "x", "model": "contact", "data_type": "string", "options": {"value": "1"}}))
        .await;
    assert_eq!(
        bad_options.expect_error(400, "parameter_invalid"),
        "Options isn't an array"
    );
    let dated = env.attribute("renewal_date", "contact", "datetime").await;
    assert_eq!(dated["data_type"], "date");
}

#[tokio::test]
async fn conversation_model_is_empty_in_2_14_and_refused_in_2_16() {
    let env = Env::new().await;
    let old = env.get("/data_attributes?model=conversation").await;
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(old.body, json!({"type": "list", "data": []}));
    let v16 = env
        .send(
            reqwest::Method::GET,
            "/data_attributes?model=conversation",
            None,
            &[("Intercom-Version", "2.16")],
        )
        .await;
    assert_eq!(
        v16.expect_error(422, "parameter_invalid"),
        "model=conversation is no longer supported. Use GET /conversations/attributes instead"
    );
    // Contacts and companies are still listed under 2.16.
    let contact = env
        .send(
            reqwest::Method::GET,
            "/data_attributes?model=contact",
            None,
            &[("Intercom-Version", "2.16")],
        )
        .await;
    assert_eq!(contact.status, StatusCode::OK);
    assert!(names(&contact.body, false).contains(&"email".to_string()));
}

#[tokio::test]
async fn names_are_unique_across_models() {
    let env = Env::new().await;
    env.attribute("The One Ring", "company", "string").await;
    let clash = env
        .post(
            "/data_attributes",
            json!({"name": "The One Ring", "model": "contact", "data_type": "string"}),
        )
        .await;
    assert_eq!(
        clash.expect_error(400, "parameter_invalid"),
        "You already have 'The One Ring' in your company data. To save this as new people data, use a different name."
    );
    let same = env
        .post(
            "/data_attributes",
            json!({"name": "the one ring", "model": "company", "data_type": "string"}),
        )
        .await;
    assert_eq!(
        same.expect_error(400, "parameter_invalid"),
        "You already have 'The One Ring' in your company data. To save this as new company data, use a different name."
    );
    env.post(
        "/data_attributes",
        json!({"name": "email", "model": "contact", "data_type": "string"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
}

#[tokio::test]
async fn at_most_250_custom_attributes_and_archiving_frees_a_slot() {
    let env = Env::new().await;
    let mut first = Value::Null;
    for i in 0..250 {
        let model = if i % 2 == 0 { "contact" } else { "company" };
        let a = env.attribute(&format!("attr_{i}"), model, "string").await;
        if i == 0 {
            first = a;
        }
    }
    let over = env
        .post(
            "/data_attributes",
            json!({"name": "one_more", "model": "contact", "data_type": "string"}),
        )
        .await;
    let msg = over.expect_error(400, "parameter_invalid");
    assert!(msg.contains("250"), "{msg}");
    let id = first["id"].as_i64().unwrap();
    let archived = env
        .put(&format!("/data_attributes/{id}"), json!({"archived": true}))
        .await;
    assert_eq!(archived.body["archived"], true);
    env.attribute("one_more", "contact", "string").await;
    // Unarchiving would go over the limit again.
    env.put(
        &format!("/data_attributes/{id}"),
        json!({"archived": false}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    let listed = env.get("/data_attributes?model=contact").await.body;
    assert!(!names(&listed, true).contains(&"attr_0".to_string()));
    let with_archived = env
        .get("/data_attributes?model=contact&include_archived=true")
        .await
        .body;
    assert!(names(&with_archived, true).contains(&"attr_0".to_string()));
    // An archived attribute cannot be written.
    let msg = env
        .post(
            "/contacts",
            json!({"email": "a@x.com", "custom_attributes": {"attr_0": "x"}}),
        )
        .await
        .expect_error(400, "parameter_invalid");
    assert_eq!(msg, "Custom attribute 'attr_0' does not exist");
}

#[tokio::test]
async fn updates_keep_the_data_type() {
    let env = Env::new().await;
    let a = env.attribute("seats", "contact", "integer").await;
    let id = a["id"].as_i64().unwrap();
    let desc = env
        .put(
            &format!("/data_attributes/{id}"),
            json!({"description": "Seats bought"}),
        )
        .await;
    assert_eq!(desc.status, StatusCode::OK);
    assert_eq!(desc.body["description"], "Seats bought");
    env.put(
        &format!("/data_attributes/{id}"),
        json!({"data_type": "string"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    let missing = env
        .put("/data_attributes/999999", json!({"archived": true}))
        .await;
    assert_eq!(
        missing.expect_error(404, "field_not_found"),
        "We couldn't find that data attribute to update"
    );
}
