//! `POST /contacts/search`: grammar, limits, dates, sort, paging, index lag.

use intercom_emulator::Options;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{ids, Env};

fn f(field: &str, op: &str, value: Value) -> Value {
    json!({"field": field, "operator": op, "value": value})
}

#[tokio::test]
async fn filters_groups_and_custom_attributes() {
    let env = Env::new().await;
    env.attribute("seats", "contact", "integer").await;
    let ann = env
        .contact(json!({"email": "ann@acme.com", "name": "Ann", "custom_attributes": {"seats": 5}}))
        .await;
    let bob = env
        .contact(json!({"email": "bob@acme.com", "name": "Bob", "custom_attributes": {"seats": 1}}))
        .await;
    let cy = env
        .contact(json!({"role": "lead", "email": "cy@other.io", "name": "Cy"}))
        .await;

    assert_eq!(
        env.search_ids(f("email", "=", json!("ANN@acme.com"))).await,
        vec![ann.clone()]
    );
    assert_eq!(
        env.search_ids(f("email_domain", "=", json!("acme.com")))
            .await,
        vec![ann.clone(), bob.clone()]
    );
    assert_eq!(
        env.search_ids(f("custom_attributes.seats", ">", json!(2)))
            .await,
        vec![ann.clone()]
    );
    assert_eq!(
        env.search_ids(f("role", "=", json!("lead"))).await,
        vec![cy.clone()]
    );
    assert_eq!(
        env.search_ids(f("name", "IN", json!(["Bob", "Cy"]))).await,
        vec![bob.clone(), cy.clone()]
    );
    assert_eq!(
        env.search_ids(f("external_id", "=", Value::Null))
            .await
            .len(),
        3
    );
    let q = json!({"operator": "OR", "value": [
        f("name", "^", json!("A")),
        {"operator": "AND", "value": [f("email", "~", json!("other")), f("name", "$", json!("y"))]}
    ]});
    assert_eq!(env.search_ids(q).await, vec![ann, cy]);
}

#[tokio::test]
async fn new_contacts_show_in_search_only_after_the_lag() {
    let env = Env::with(Options {
        rate_limit: 0,
        search_lag_secs: 60,
        ..Options::default()
    })
    .await;
    let id = env
        .contact(json!({"external_id": "lagging", "email": "lag@x.com"}))
        .await;
    let q = f("external_id", "=", json!("lagging"));
    assert!(
        env.search_ids(q.clone()).await.is_empty(),
        "search must not see it yet"
    );
    // Everything else sees it at once.
    assert_eq!(
        env.get(&format!("/contacts/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        env.get("/contacts/find_by_external_id/lagging").await.id(),
        id
    );
    assert_eq!(
        ids(&env.get("/contacts").await.body["data"]),
        vec![id.clone()]
    );
    env.advance(59).await;
    assert!(env.search_ids(q.clone()).await.is_empty());
    env.advance(1).await;
    assert_eq!(env.search_ids(q).await, vec![id]);
}

#[tokio::test]
async fn archived_contacts_are_not_searchable() {
    let env = Env::new().await;
    let id = env.contact(json!({"email": "arch@x.com"})).await;
    env.post(&format!("/contacts/{id}/archive"), json!({}))
        .await;
    assert!(env
        .search_ids(f("email", "=", json!("arch@x.com")))
        .await
        .is_empty());
}

#[tokio::test]
async fn an_invalid_sort_order_is_refused_with_intercoms_message() {
    let env = Env::new().await;
    let a = env
        .post("/contacts/search", json!({"query": f("role", "=", json!("user")), "sort": {"field": "name", "order": "desc"}}))
        .await;
    assert_eq!(
        a.expect_error(400, "invalid_sort_order"),
        "Invalid sort order 'desc'. Must be one of: ascending, descending"
    );
}

#[tokio::test]
async fn sorting_both_ways() {
    let env = Env::new().await;
    let b = env
        .contact(json!({"email": "b@x.com", "name": "Bea"}))
        .await;
    let a = env
        .contact(json!({"email": "a@x.com", "name": "Abe"}))
        .await;
    let c = env
        .contact(json!({"email": "c@x.com", "name": "Cal"}))
        .await;
    for (order, expected) in [
        ("ascending", vec![&a, &b, &c]),
        ("descending", vec![&c, &b, &a]),
    ] {
        let r = env
            .post("/contacts/search", json!({"query": f("role", "=", json!("user")), "sort": {"field": "name", "order": order}}))
            .await;
        let got = ids(&r.body["data"]);
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{order}");
    }
}

#[tokio::test]
async fn dates_take_only_three_operators_and_match_by_day() {
    let env = Env::new().await;
    let id = env
        .contact(json!({"email": "d@x.com", "signed_up_at": 1_577_869_200}))
        .await; // 2020-01-01 09:00 UTC
    let midnight = 1_577_836_800;
    assert_eq!(
        env.search_ids(f("signed_up_at", "=", json!(midnight)))
            .await,
        vec![id.clone()]
    );
    assert!(
        env.search_ids(f("signed_up_at", ">", json!(midnight)))
            .await
            .is_empty(),
        "> starts the next day"
    );
    assert!(env
        .search_ids(f("signed_up_at", "<", json!(1_577_869_200 + 3600)))
        .await
        .is_empty());
    assert_eq!(
        env.search_ids(f("signed_up_at", "<", json!(midnight + 86_400)))
            .await,
        vec![id]
    );
    for op in ["!=", ">=", "<=", "IN", "NIN"] {
        let value = if op.contains("IN") {
            json!([midnight])
        } else {
            json!(midnight)
        };
        env.post(
            "/contacts/search",
            json!({"query": f("created_at", op, value)}),
        )
        .await
        .expect_error(400, "parameter_invalid");
    }
    env.post(
        "/contacts/search",
        json!({"query": f("created_at", ">", json!("foorbar"))}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    assert!(env
        .post(
            "/contacts/search",
            json!({"query": f("created_at", ">", json!("1306054154"))})
        )
        .await
        .status
        .is_success());
}

#[tokio::test]
async fn nesting_group_size_and_value_shapes_are_checked() {
    let env = Env::new().await;
    let leaf = f("name", "=", json!("x"));
    let deep = json!({"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf.clone()]}]}]});
    env.post("/contacts/search", json!({"query": deep}))
        .await
        .expect_error(400, "parameter_invalid");
    let sixteen: Vec<Value> = (0..16).map(|_| leaf.clone()).collect();
    env.post(
        "/contacts/search",
        json!({"query": {"operator": "OR", "value": sixteen}}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    let fifteen: Vec<Value> = (0..15).map(|_| leaf.clone()).collect();
    assert!(env
        .post(
            "/contacts/search",
            json!({"query": {"operator": "OR", "value": fifteen}})
        )
        .await
        .status
        .is_success());
    for bad in [
        f("name", "IN", json!("x")),
        f("name", "=", json!(["x"])),
        f("name", ">", json!("x")),
        f("owner_id", "=", json!("abc")),
        f("unsubscribed_from_emails", "=", json!("true")),
        f("no_such_field", "=", json!("x")),
        f("custom_attributes.unknown", "=", json!("x")),
    ] {
        env.post("/contacts/search", json!({"query": bad.clone()}))
            .await
            .expect_error(400, "parameter_invalid");
    }
}

#[tokio::test]
async fn pagination_is_in_the_body_and_the_last_page_has_no_next() {
    let env = Env::new().await;
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(env.contact(json!({"email": format!("p{i}@x.com")})).await);
    }
    let q = f("email_domain", "=", json!("x.com"));
    let first = env
        .post(
            "/contacts/search",
            json!({"query": q, "pagination": {"per_page": 2}}),
        )
        .await
        .body;
    assert_eq!(first["total_count"], 5);
    assert_eq!(first["pages"]["type"], "pages");
    assert_eq!(first["pages"]["page"], 1);
    assert_eq!(first["pages"]["per_page"], 2);
    assert_eq!(first["pages"]["total_pages"], 3);
    assert_eq!(first["pages"]["next"]["page"], 2);
    let cursor = first["pages"]["next"]["starting_after"]
        .as_str()
        .unwrap()
        .to_string();
    // A cursor in the query string is ignored, as by Intercom.
    let ignored = env
        .post(
            &format!("/contacts/search?starting_after={cursor}"),
            json!({"query": q, "pagination": {"per_page": 2}}),
        )
        .await
        .body;
    assert_eq!(ids(&ignored["data"]), ids(&first["data"]));
    let mut seen = ids(&first["data"]);
    let mut cursor = Some(cursor);
    while let Some(c) = cursor {
        let page = env
            .post(
                "/contacts/search",
                json!({"query": q, "pagination": {"per_page": 2, "starting_after": c}}),
            )
            .await
            .body;
        seen.extend(ids(&page["data"]));
        cursor = page["pages"]
            .get("next")
            .map(|n| n["starting_after"].as_str().unwrap().to_string());
        if cursor.is_none() {
            assert_eq!(page["pages"]["page"], 3);
        }
    }
    assert_eq!(seen, all);
    env.post(
        "/contacts/search",
        json!({"query": q, "pagination": {"per_page": 151}}),
    )
    .await
    .expect_error(400, "parameter_invalid");
}
