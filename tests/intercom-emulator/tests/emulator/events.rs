//! Data events: 202 with no body, lookups, de-duplication, metadata.

use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::common::Env;

#[tokio::test]
async fn an_event_is_accepted_with_an_empty_body() {
    let env = Env::new().await;
    env.contact(json!({"external_id": "u1", "email": "u1@x.com"}))
        .await;
    let resp = env
        .client
        .post(env.url("/events"))
        .bearer_auth(crate::common::TOKEN)
        .json(&json!({"event_name": "signed-up", "created_at": 1_700_000_000, "user_id": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.content_length(), Some(0));
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn events_need_a_name_a_time_and_a_known_contact() {
    let env = Env::new().await;
    let lead = env
        .contact(json!({"role": "lead", "email": "lead@x.com"}))
        .await;
    env.contact(json!({"external_id": "u1", "email": "u1@x.com"}))
        .await;
    env.post("/events", json!({"created_at": 1, "user_id": "u1"}))
        .await
        .expect_error(400, "parameter_missing");
    env.post("/events", json!({"event_name": "x", "user_id": "u1"}))
        .await
        .expect_error(400, "parameter_missing");
    env.post("/events", json!({"event_name": "x", "created_at": 1}))
        .await
        .expect_error(400, "parameter_missing");
    env.post(
        "/events",
        json!({"event_name": "x", "created_at": "yesterday", "user_id": "u1"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    let missing = env
        .post(
            "/events",
            json!({"event_name": "x", "created_at": 1, "user_id": "nobody"}),
        )
        .await;
    assert_eq!(missing.expect_error(404, "not_found"), "User Not Found");
    // A lead is found by its Intercom id only.
    let now = env.get("/_emulator/clock").await.body["now"]
        .as_i64()
        .unwrap();
    let by_id = env
        .post(
            "/events",
            json!({"event_name": "x", "created_at": now, "id": lead}),
        )
        .await;
    assert_eq!(by_id.status, StatusCode::ACCEPTED);
    env.post(
        "/events",
        json!({"event_name": "x", "created_at": now, "email": "lead@x.com"}),
    )
    .await
    .expect_error(404, "not_found");
    let by_email = env
        .post(
            "/events",
            json!({"event_name": "x", "created_at": now, "email": "U1@x.com"}),
        )
        .await;
    assert_eq!(by_email.status, StatusCode::ACCEPTED);
    let list = env
        .get(&format!("/events?type=user&intercom_user_id={lead}"))
        .await
        .body;
    assert_eq!(list["type"], "event.summary");
    assert_eq!(list["events"].as_array().unwrap().len(), 1);
    assert_eq!(list["intercom_user_id"], lead.as_str());
    assert_eq!(list["email"], "lead@x.com");
    assert!(
        list.get("user_id").is_none(),
        "a lead has no user_id, and the schema has no null: {list}"
    );
}

#[tokio::test]
async fn listing_events_answers_a_data_event_summary() {
    let env = Env::new().await;
    let user = env
        .contact(json!({"external_id": "u1", "email": "u1@x.com"}))
        .await;
    let now = env.get("/_emulator/clock").await.body["now"]
        .as_i64()
        .unwrap();
    let old = now - 100 * 86_400;
    for (name, at) in [
        ("ordered", old),
        ("Ordered", now - 10),
        ("ordered", now - 5),
        ("viewed", now - 20),
    ] {
        let a = env
            .post(
                "/events",
                json!({"event_name": name, "created_at": at, "user_id": "u1"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    // Without `summary`: the individual events of the last 90 days, under the spec's type.
    let list = env.get("/events?type=user&user_id=u1").await.body;
    assert_eq!(list["type"], "event.summary", "{list}");
    assert_eq!(list["user_id"], "u1");
    assert_eq!(list["email"], "u1@x.com");
    assert_eq!(list["intercom_user_id"], user.as_str());
    let names: Vec<&str> = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ordered", "Ordered", "viewed"], "{list}");
    // With `summary=true`: {name, first, last, count} per name, case-insensitively,
    // older than 90 days included, most recent first.
    let summary = env
        .get(&format!(
            "/events?type=user&intercom_user_id={user}&summary=true"
        ))
        .await
        .body;
    assert_eq!(summary["type"], "event.summary", "{summary}");
    assert_eq!(summary["user_id"], "u1");
    let iso = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            .to_string()
    };
    assert_eq!(
        summary["events"],
        json!([
            {"name": "ordered", "first": iso(old), "last": iso(now - 5), "count": 3},
            {"name": "viewed", "first": iso(now - 20), "last": iso(now - 20), "count": 1},
        ])
    );
    // Any other value of `summary` lists the events.
    let listed = env
        .get("/events?type=user&email=u1@x.com&summary=false")
        .await
        .body;
    assert_eq!(listed["events"][0]["event_name"], "ordered");
}

#[tokio::test]
async fn duplicates_are_dropped_but_still_accepted() {
    let env = Env::new().await;
    env.contact(json!({"external_id": "u1"})).await;
    let now = env.get("/_emulator/clock").await.body["now"]
        .as_i64()
        .unwrap();
    for name in ["ordered", "ordered", "Ordered"] {
        let a = env
            .post(
                "/events",
                json!({"event_name": name, "created_at": now, "user_id": "u1"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    env.post(
        "/events",
        json!({"event_name": "ordered", "created_at": now + 1, "user_id": "u1"}),
    )
    .await;
    let list = env.get("/events?type=user&user_id=u1").await.body;
    let events = list["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{list}");
    assert_eq!(events[0]["created_at"], now + 1, "newest first");
    assert_eq!(events[0]["user_id"], "u1");
    assert_eq!(
        env.stats().await["by_status"]["202"],
        4,
        "duplicates still count"
    );
}

#[tokio::test]
async fn only_the_first_ten_metadata_keys_in_sending_order_are_kept() {
    let env = Env::new().await;
    env.contact(json!({"external_id": "u1"})).await;
    let now = env.get("/_emulator/clock").await.body["now"]
        .as_i64()
        .unwrap();
    // Keys sent in reverse alphabetical order: a sorting parser would keep the wrong ten.
    let keys: Vec<String> = (0..12).rev().map(|i| format!("key_{i:02}")).collect();
    let mut body = String::from("{\"event_name\":\"meta\",\"created_at\":");
    body.push_str(&now.to_string());
    body.push_str(",\"user_id\":\"u1\",\"metadata\":{");
    let pairs: Vec<String> = keys.iter().map(|k| format!("\"{k}\":\"v\"")).collect();
    body.push_str(&pairs.join(","));
    body.push_str("}}");
    let resp = env
        .client
        .post(env.url("/events"))
        .bearer_auth(crate::common::TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let list = env.get("/events?type=user&user_id=u1").await.body;
    let metadata: &Map<String, Value> = list["events"][0]["metadata"].as_object().unwrap();
    let mut kept: Vec<&String> = metadata.keys().collect();
    kept.sort();
    let mut expected: Vec<&String> = keys[..10].iter().collect();
    expected.sort();
    assert_eq!(
        kept, expected,
        "key_00 and key_01 were sent last and must be dropped"
    );
}

#[tokio::test]
async fn nested_metadata_is_refused_except_links_and_money() {
    let env = Env::new().await;
    env.contact(json!({"external_id": "u1"})).await;
    let now = env.get("/_emulator/clock").await.body["now"]
        .as_i64()
        .unwrap();
    let ok = json!({"event_name": "paid", "created_at": now, "user_id": "u1", "metadata": {
        "price": {"amount": 34999, "currency": "eur"},
        "article": {"url": "https://example.org/a", "value": "the dude abides"},
        "load": 3.67, "source": "desktop"
    }});
    assert_eq!(env.post("/events", ok).await.status, StatusCode::ACCEPTED);
    let nested = json!({"event_name": "paid", "created_at": now + 1, "user_id": "u1", "metadata": {"deep": {"a": {"b": 1}}}});
    env.post("/events", nested)
        .await
        .expect_error(400, "parameter_invalid");
}
