//! Custom object instances: TypeNotFound, upsert by external_id, typed
//! attributes, reads by id or external_id, deletes.

use intercom_emulator::{parse_custom_object_type, Options};
use serde_json::{json, Value};

use crate::common::{ids, Env};

const ORDERS: &str = "/custom_object_instances/Order";

/// An emulator with `Order:amount=float,status=string,placed_at=date,paid=boolean,items=integer`.
async fn env() -> Env {
    Env::with(Options {
        rate_limit: 0,
        custom_object_types: vec![parse_custom_object_type(
            "Order:amount=float,status=string,placed_at=date,paid=boolean,items=integer",
        )
        .unwrap()],
        ..Options::default()
    })
    .await
}

async fn order(env: &Env, body: Value) -> Value {
    let a = env.post(ORDERS, body).await;
    a.id();
    a.body
}

#[tokio::test]
async fn an_unknown_type_is_type_not_found() {
    let env = env().await;
    let invoices = "/custom_object_instances/Invoice";
    for a in [
        env.post(invoices, json!({"external_id": "i1"})).await,
        env.get(&format!("{invoices}?external_id=i1")).await,
        env.get(invoices).await,
        env.get(&format!("{invoices}/1")).await,
        env.delete(&format!("{invoices}?external_id=i1")).await,
        env.delete(&format!("{invoices}/1")).await,
        // Type identifiers are case-sensitive.
        env.post(
            "/custom_object_instances/order",
            json!({"external_id": "o1"}),
        )
        .await,
    ] {
        let msg = a.expect_error(404, "not_found");
        assert!(
            msg.starts_with("Custom object type `") && msg.ends_with("` not found"),
            "{msg}"
        );
    }
    let msg = env
        .post(invoices, json!({"external_id": "i1"}))
        .await
        .expect_error(404, "not_found");
    assert_eq!(msg, "Custom object type `Invoice` not found");
}

#[tokio::test]
async fn upsert_by_external_id_keeps_the_id() {
    let env = env().await;
    let created = order(
        &env,
        json!({"external_id": "o-1", "external_created_at": 1_700_000_000,
               "custom_attributes": {"amount": 99.5, "status": "placed", "placed_at": 1_700_000_000, "items": 3}}),
    )
    .await;
    assert_eq!(created["type"], "Order");
    assert_eq!(created["external_id"], "o-1");
    assert_eq!(created["external_created_at"], 1_700_000_000);
    assert_eq!(created["external_updated_at"], Value::Null);
    let id = created["id"].as_str().unwrap().to_string();
    env.advance(60).await;
    let updated = order(
        &env,
        json!({"external_id": "o-1", "external_updated_at": 1_700_000_600,
               "custom_attributes": {"status": "shipped", "items": null, "paid": true}}),
    )
    .await;
    assert_eq!(updated["id"], id, "same external_id, same instance");
    assert_eq!(updated["created_at"], created["created_at"]);
    assert!(updated["updated_at"].as_i64() >= Some(created["created_at"].as_i64().unwrap() + 60));
    assert_eq!(
        updated["external_created_at"], 1_700_000_000,
        "kept when not sent"
    );
    assert_eq!(updated["external_updated_at"], 1_700_000_600);
    assert_eq!(
        updated["custom_attributes"],
        json!({"amount": 99.5, "status": "shipped", "placed_at": 1_700_000_000, "paid": true}),
        "merged per key; null removes"
    );
    let other = order(&env, json!({"external_id": "o-2"})).await;
    assert_ne!(other["id"], id);
    let dump = env.dump().await;
    assert_eq!(dump["custom_object_instances"].as_array().unwrap().len(), 2);
    assert_eq!(
        dump["custom_object_types"],
        json!([{"name": "Order", "attributes": {
            "amount": "float", "status": "string", "placed_at": "date", "paid": "boolean", "items": "integer"
        }}])
    );
}

#[tokio::test]
async fn a_refused_value_names_the_attribute_and_writes_nothing() {
    let env = env().await;
    order(
        &env,
        json!({"external_id": "o-1", "custom_attributes": {"amount": 10}}),
    )
    .await;
    for (attrs, name) in [
        (json!({"amount": "12.50"}), "amount"),
        (json!({"placed_at": "2024-01-01"}), "placed_at"),
        (json!({"items": 2.5}), "items"),
        (json!({"paid": "yes"}), "paid"),
        (json!({"status": "x".repeat(256)}), "status"),
        (json!({"status": "ok", "colour": "red"}), "colour"),
    ] {
        for external_id in ["o-1", "o-new"] {
            let msg = env
                .post(
                    ORDERS,
                    json!({"external_id": external_id, "custom_attributes": attrs}),
                )
                .await
                .expect_error(400, "parameter_invalid");
            assert!(msg.contains(&format!("'{name}'")), "{msg}");
        }
    }
    assert_eq!(
        env.get(&format!("{ORDERS}?external_id=o-1")).await.body["custom_attributes"],
        json!({"amount": 10})
    );
    env.get(&format!("{ORDERS}?external_id=o-new"))
        .await
        .expect_error(404, "not_found");
    env.post(ORDERS, json!({"custom_attributes": {"amount": 1}}))
        .await
        .expect_error(400, "parameter_missing");
    env.post(
        ORDERS,
        json!({"external_id": "o-3", "external_created_at": "yesterday"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
}

#[tokio::test]
async fn reads_by_id_or_external_id_and_the_list() {
    let env = env().await;
    let first = order(&env, json!({"external_id": "o-1"})).await;
    let second = order(&env, json!({"external_id": "o-2"})).await;
    let id = first["id"].as_str().unwrap();
    assert_eq!(env.get(&format!("{ORDERS}?external_id=o-1")).await.id(), id);
    assert_eq!(env.get(&format!("{ORDERS}/{id}")).await.id(), id);
    assert_eq!(
        env.get(&format!("{ORDERS}/o-1")).await.id(),
        id,
        "the path takes an external_id too"
    );
    let msg = env
        .get(&format!("{ORDERS}?external_id=nope"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(msg, "Custom object instance not found");
    let page = env.get(&format!("{ORDERS}?per_page=1")).await.body;
    assert_eq!(page["type"], "list");
    assert_eq!(page["total_count"], 2);
    assert_eq!(
        ids(&page["data"]),
        vec![second["id"].as_str().unwrap()],
        "newest first"
    );
    let next = page["pages"]["next"].as_str().expect("a next page");
    assert!(
        next.ends_with("/custom_object_instances/Order?page=2&per_page=1"),
        "{next}"
    );
    let last = env.get(&format!("{ORDERS}?per_page=1&page=2")).await.body;
    assert_eq!(ids(&last["data"]), vec![id]);
    assert_eq!(last["pages"]["next"], Value::Null);
}

#[tokio::test]
async fn deletes_by_external_id_and_by_id() {
    let env = env().await;
    let first = order(&env, json!({"external_id": "o-1"})).await;
    let second = order(&env, json!({"external_id": "o-2"})).await;
    let gone = env.delete(&format!("{ORDERS}?external_id=o-1")).await;
    assert_eq!(
        gone.body,
        json!({"id": first["id"], "object": "Order", "deleted": true})
    );
    env.get(&format!("{ORDERS}?external_id=o-1"))
        .await
        .expect_error(404, "not_found");
    env.delete(&format!("{ORDERS}?external_id=o-1"))
        .await
        .expect_error(404, "not_found");
    env.delete(ORDERS)
        .await
        .expect_error(400, "parameter_missing");
    // By path only the Intercom id deletes.
    env.delete(&format!("{ORDERS}/o-2"))
        .await
        .expect_error(404, "not_found");
    let second_id = second["id"].as_str().unwrap();
    let gone = env.delete(&format!("{ORDERS}/{second_id}")).await;
    assert_eq!(gone.body["deleted"], true);
    // The external_id may be used again, for a new instance.
    let again = order(&env, json!({"external_id": "o-1"})).await;
    assert_ne!(again["id"], first["id"]);
    let dump = env.dump().await;
    let deleted: Vec<&Value> = dump["custom_object_instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["deleted"] == true)
        .collect();
    assert_eq!(deleted.len(), 2);
    assert!(deleted.iter().all(|i| i["deleted_at"].is_i64()));
}
