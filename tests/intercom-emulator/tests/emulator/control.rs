//! `/_emulator/*`: stats, reset, dump, clock.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::Env;

#[tokio::test]
async fn stats_count_api_requests_by_status_and_route_template() {
    let env = Env::new().await;
    let id = env.contact(json!({"email": "a@x.com"})).await;
    env.post("/contacts", json!({"email": "a@x.com"})).await; // 409
    env.put(&format!("/contacts/{id}"), json!({"name": "A"}))
        .await;
    env.get(&format!("/contacts/{id}")).await;
    let stats = env.stats().await;
    let again = env.stats().await;
    assert_eq!(stats, again, "_emulator calls are not counted");
    assert_eq!(stats["requests"], 4);
    assert_eq!(stats["by_status"], json!({"200": 3, "409": 1}));
    assert_eq!(
        stats["by_route"],
        json!({"POST /contacts": 2, "PUT /contacts/{id}": 1, "GET /contacts/{id}": 1})
    );
}

#[tokio::test]
async fn control_endpoints_need_no_token() {
    let env = Env::new().await;
    let resp = env
        .client
        .get(env.url("/_emulator/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_dump_holds_archived_deleted_and_merged_contacts() {
    let env = Env::new().await;
    let active = env.contact(json!({"external_id": "a"})).await;
    let archived = env.contact(json!({"external_id": "b"})).await;
    let deleted = env.contact(json!({"external_id": "c"})).await;
    let lead = env
        .contact(json!({"role": "lead", "email": "l@x.com"}))
        .await;
    env.post(&format!("/contacts/{archived}/archive"), json!({}))
        .await;
    env.delete(&format!("/contacts/{deleted}")).await;
    env.post("/contacts/merge", json!({"from": lead, "into": active}))
        .await;
    let dump = env.dump().await;
    let contacts = dump["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 4);
    let find = |id: &str| contacts.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(find(&active)["archived"], false);
    assert_eq!(find(&archived)["archived"], true);
    assert_eq!(find(&deleted)["deleted"], true);
    assert_eq!(find(&lead)["merged_into"], active);
    for key in ["companies", "events", "data_attributes"] {
        assert!(dump[key].is_array(), "{key}");
    }
}

#[tokio::test]
async fn reset_clears_data_stats_and_clock() {
    let env = Env::new().await;
    env.contact(json!({"email": "a@x.com"})).await;
    env.attribute("tier", "contact", "string").await;
    env.advance(3600).await;
    assert_eq!(
        env.post("/_emulator/reset", json!({})).await.status,
        StatusCode::OK
    );
    let dump = env.dump().await;
    assert!(dump["contacts"].as_array().unwrap().is_empty());
    assert!(dump["data_attributes"].as_array().unwrap().is_empty());
    assert_eq!(env.stats().await["requests"], 0);
    assert_eq!(env.get("/_emulator/clock").await.body["offset_secs"], 0);
    env.contact(json!({"email": "a@x.com"})).await;
}

#[tokio::test]
async fn the_clock_moves_timestamps_forward() {
    let env = Env::new().await;
    let before = env.get("/_emulator/clock").await.body["now"]
        .as_i64()
        .unwrap();
    env.advance(86_400).await;
    let c = env.post("/contacts", json!({"email": "a@x.com"})).await;
    let created = c.body["created_at"].as_i64().unwrap();
    assert!(
        created >= before + 86_400 && created < before + 86_400 + 60,
        "{created} vs {before}"
    );
    env.post("/_emulator/clock/advance", json!({"secs": -5}))
        .await
        .expect_error(400, "parameter_invalid");
}

#[tokio::test]
async fn faults_and_latency_change_while_running() {
    let env = Env::new().await;
    let now = env.get("/_emulator/faults").await;
    assert_eq!(
        now.body,
        json!({"fault_rate": 0.0, "fault_kind": "any", "latency_ms": 0})
    );

    // The destination goes down: every API call fails, the control API still answers.
    let set = env
        .post("/_emulator/faults", json!({"fault_rate": 1.0}))
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(
        set.body,
        json!({"fault_rate": 1.0, "fault_kind": "any", "latency_ms": 0})
    );
    for _ in 0..10 {
        let resp = env
            .client
            .get(env.url("/me"))
            .bearer_auth(crate::common::TOKEN)
            .send()
            .await;
        if let Ok(r) = resp {
            assert!(r.status().is_server_error(), "{}", r.status());
        }
    }
    assert_eq!(env.stats().await["by_route"]["GET /me"], 10);

    // Bad values change nothing.
    env.post(
        "/_emulator/faults",
        json!({"fault_rate": 0.0, "latency_ms": -1}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    env.post("/_emulator/faults", json!({"fault_rate": 2}))
        .await
        .expect_error(400, "parameter_invalid");
    env.post(
        "/_emulator/faults",
        json!({"fault_rate": 0.0, "fault_kind": "teapot"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    assert_eq!(env.get("/_emulator/faults").await.body["fault_rate"], 1.0);

    // Every fault one kind: what a destination that stays down answers last is known.
    let set = env
        .post(
            "/_emulator/faults",
            json!({"fault_kind": "service_unavailable"}),
        )
        .await;
    assert_eq!(set.body["fault_kind"], "service_unavailable");
    for _ in 0..5 {
        env.get("/me")
            .await
            .expect_error(503, "service_unavailable");
    }
    let set = env
        .post("/_emulator/faults", json!({"fault_kind": "any"}))
        .await;
    assert_eq!(set.body["fault_kind"], "any");

    // Back up, and slower.
    let set = env
        .post(
            "/_emulator/faults",
            json!({"fault_rate": 0, "latency_ms": 200}),
        )
        .await;
    assert_eq!(
        set.body,
        json!({"fault_rate": 0.0, "fault_kind": "any", "latency_ms": 200})
    );
    let started = std::time::Instant::now();
    assert_eq!(env.get("/me").await.status, StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}
