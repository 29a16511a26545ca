//! Tokens, unknown routes, malformed bodies, `GET /me`, API versions.

use intercom_emulator::Options;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{answer, Env, TOKEN};

#[tokio::test]
async fn an_unknown_token_is_401_without_rate_limit_headers() {
    let env = Env::with(Options {
        tokens: vec![TOKEN.into()],
        ..Options::default()
    })
    .await;
    let resp = env
        .client
        .get(env.url("/me"))
        .bearer_auth("someone-else")
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    assert_eq!(a.expect_error(401, "unauthorized"), "Access Token Invalid");
    assert_eq!(a.header("x-ratelimit-limit"), None);
    assert_eq!(a.header("x-ratelimit-remaining"), None);
    // The right token works and carries the headers.
    let ok = env.get("/me").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("x-ratelimit-limit").as_deref(), Some("1667"));
}

#[tokio::test]
async fn a_missing_authorization_header_is_401_even_when_any_token_goes() {
    let env = Env::new().await;
    let a = answer(env.client.get(env.url("/me")).send().await.unwrap()).await;
    assert_eq!(a.expect_error(401, "unauthorized"), "Access Token Invalid");
    let basic = env
        .client
        .get(env.url("/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // No tokens configured: any bearer token is accepted.
    let any = env
        .client
        .get(env.url("/me"))
        .bearer_auth("whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(any.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_404_error_lists() {
    let env = Env::new().await;
    env.get("/tickets/1").await.expect_error(404, "not_found");
    // A known path with a method Intercom does not take: 404, not 405.
    env.send(Method::PATCH, "/contacts", None, &[])
        .await
        .expect_error(404, "not_found");
    let stats = env.stats().await;
    assert_eq!(stats["by_route"]["GET (unmatched)"], 1);
}

#[tokio::test]
async fn malformed_json_is_a_400_error_list() {
    let env = Env::new().await;
    let resp = env
        .client
        .post(env.url("/contacts"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    a.expect_error(400, "parameter_invalid");
    assert!(env.dump().await["contacts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn me_returns_the_admin_and_its_workspace() {
    let env = Env::new().await;
    let me = env.get("/me").await.body;
    assert_eq!(me["type"], "admin");
    assert_eq!(me["id"], "991267459");
    assert_eq!(me["app"]["type"], "app");
    assert_eq!(me["app"]["id_code"], "ecahpwf5");
}

#[tokio::test]
async fn owner_id_must_be_the_admin_and_its_type_follows_the_version() {
    let env = Env::new().await;
    let admin = env.get("/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = env
        .post("/contacts", json!({"email": "o@x.com", "owner_id": 123}))
        .await;
    assert_eq!(
        bad.expect_error(400, "parameter_invalid"),
        "The owner specified is not a member of the workspace"
    );
    let admin_num: i64 = admin.parse().unwrap();
    let c = env
        .post(
            "/contacts",
            json!({"email": "o@x.com", "owner_id": admin_num}),
        )
        .await;
    assert_eq!(c.body["owner_id"], admin_num, "2.14 returns an integer");
    let id = c.id();
    let v16 = env
        .send(
            Method::GET,
            &format!("/contacts/{id}"),
            None,
            &[("Intercom-Version", "2.16")],
        )
        .await;
    assert_eq!(v16.body["owner_id"], admin, "2.16 returns a string");
    let put = env
        .send(
            Method::PUT,
            &format!("/contacts/{id}"),
            Some(json!({"owner_id": "42"})),
            &[("Intercom-Version", "2.16")],
        )
        .await;
    put.expect_error(400, "parameter_invalid");
}

#[tokio::test]
async fn the_router_works_without_a_socket() {
    use axum::body::Body;
    use tower_service::Service;
    let mut app = intercom_emulator::app(Options::default());
    let req = axum::http::Request::get("/me")
        .header("authorization", "Bearer x")
        .body(Body::empty())
        .unwrap();
    let resp = app.call(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let me: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(me["type"], "admin");
}
