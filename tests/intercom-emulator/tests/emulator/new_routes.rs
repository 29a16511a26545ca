//! The tag, subscription and custom object routes go through the same gate as
//! every other route: counted by route template, rate limited, faulted.

use intercom_emulator::{parse_custom_object_type, parse_subscription_type, Options};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::Env;

fn declared(opts: Options) -> Options {
    Options {
        subscription_types: vec![parse_subscription_type("Newsletters").unwrap()],
        custom_object_types: vec![parse_custom_object_type("Order:amount=float").unwrap()],
        ..opts
    }
}

#[tokio::test]
async fn every_new_route_counts_under_its_template() {
    let env = Env::with(declared(Options {
        rate_limit: 0,
        ..Options::default()
    }))
    .await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let tag = env.post("/tags", json!({"name": "VIP"})).await.id();
    env.get("/tags").await;
    env.get(&format!("/tags/{tag}")).await;
    env.post(&format!("/contacts/{contact}/tags"), json!({"id": tag}))
        .await;
    env.get(&format!("/contacts/{contact}/tags")).await;
    env.delete(&format!("/contacts/{contact}/tags/{tag}")).await;
    env.delete(&format!("/tags/{tag}")).await;
    let sub = env.get("/subscription_types").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/contacts/{contact}/subscriptions");
    env.post(&path, json!({"id": sub, "consent_type": "opt_out"}))
        .await;
    env.get(&path).await;
    env.delete(&format!("{path}/{sub}")).await;
    let order = env
        .post(
            "/custom_object_instances/Order",
            json!({"external_id": "o1"}),
        )
        .await
        .id();
    env.get("/custom_object_instances/Order?external_id=o1")
        .await;
    env.get(&format!("/custom_object_instances/Order/{order}"))
        .await;
    env.delete(&format!("/custom_object_instances/Order/{order}"))
        .await;
    env.post(
        "/custom_object_instances/Order",
        json!({"external_id": "o2"}),
    )
    .await;
    env.delete("/custom_object_instances/Order?external_id=o2")
        .await;
    let stats = env.stats().await;
    assert_eq!(stats["by_status"], json!({"200": 18}), "{stats}");
    let routes = &stats["by_route"];
    for (route, n) in [
        ("POST /tags", 1),
        ("GET /tags", 1),
        ("GET /tags/{id}", 1),
        ("DELETE /tags/{id}", 1),
        ("POST /contacts/{id}/tags", 1),
        ("GET /contacts/{id}/tags", 1),
        ("DELETE /contacts/{id}/tags/{tag_id}", 1),
        ("GET /subscription_types", 1),
        ("POST /contacts/{id}/subscriptions", 1),
        ("GET /contacts/{id}/subscriptions", 1),
        ("DELETE /contacts/{id}/subscriptions/{subscription_id}", 1),
        ("POST /custom_object_instances/{type}", 2),
        ("GET /custom_object_instances/{type}", 1),
        ("DELETE /custom_object_instances/{type}", 1),
        ("GET /custom_object_instances/{type}/{id}", 1),
        ("DELETE /custom_object_instances/{type}/{id}", 1),
    ] {
        assert_eq!(routes[route], n, "{route} in {routes}");
    }
}

#[tokio::test]
async fn new_routes_are_rate_limited_and_need_a_token() {
    let env = Env::with(declared(Options {
        rate_limit: 2,
        ..Options::default()
    }))
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let a = env.get("/subscription_types").await;
        assert!(a.header("x-ratelimit-limit").is_some());
        statuses.push(a.status);
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            a.expect_error(429, "rate_limit_exceeded");
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let anonymous = env
        .client
        .post(env.url("/tags"))
        .json(&json!({"name": "VIP"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// A POST that may fail at the transport (a dropped connection is one of the
/// faults): the status when there was an answer.
async fn faulty_post(env: &Env, path: &str, body: serde_json::Value) -> Option<StatusCode> {
    let sent = env
        .client
        .post(env.url(path))
        .bearer_auth(crate::common::TOKEN)
        .json(&body)
        .send()
        .await;
    sent.ok().map(|r| r.status())
}

#[tokio::test]
async fn a_fault_before_apply_writes_nothing_and_after_apply_writes() {
    let faulty = |after_apply| {
        declared(Options {
            rate_limit: 0,
            fault_rate: 1.0,
            fault_after_apply: after_apply,
            seed: Some(7),
            ..Options::default()
        })
    };
    let before = Env::with(faulty(false)).await;
    for _ in 0..3 {
        for (path, body) in [
            ("/tags", json!({"name": "VIP"})),
            (
                "/custom_object_instances/Order",
                json!({"external_id": "o1"}),
            ),
        ] {
            if let Some(status) = faulty_post(&before, path, body).await {
                assert!(status.is_server_error(), "{status}");
            }
        }
    }
    let dump = before.dump().await;
    assert_eq!(dump["tags"], json!([]));
    assert_eq!(dump["custom_object_instances"], json!([]));
    let after = Env::with(faulty(true)).await;
    faulty_post(&after, "/tags", json!({"name": "VIP"})).await;
    assert_eq!(after.dump().await["tags"][0]["name"], "VIP");
}
