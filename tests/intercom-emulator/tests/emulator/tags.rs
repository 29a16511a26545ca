//! Tags: unique names, tagging contacts one by one, bulk tagging of companies
//! and contacts through `POST /tags`, 404s.

use intercom_emulator::Options;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{ids, Env};

/// Create `n` companies `co-0`…, each with one contact (so company lists show
/// them); returns their Intercom ids.
async fn companies(env: &Env, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = env
            .post("/companies", json!({"company_id": format!("co-{i}")}))
            .await
            .id();
        let contact = env
            .contact(json!({"email": format!("member{i}@x.com")}))
            .await;
        env.post(&format!("/contacts/{contact}/companies"), json!({"id": id}))
            .await
            .id();
        out.push(id);
    }
    out
}

/// The tag names a company shows.
fn company_tags(company: &Value) -> Vec<String> {
    assert_eq!(company["tags"]["type"], "tag.list", "{company}");
    company["tags"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn tag_names_are_unique_case_insensitively() {
    let env = Env::new().await;
    let vip = env.post("/tags", json!({"name": "VIP"})).await;
    assert_eq!(vip.status, StatusCode::OK, "{}", vip.body);
    assert_eq!(vip.body["type"], "tag");
    assert_eq!(vip.body["name"], "VIP");
    let again = env.post("/tags", json!({"name": "vip"})).await;
    assert_eq!(again.id(), vip.id(), "same name in other case, same tag");
    assert_eq!(again.body["name"], "VIP", "spelled as first created");
    let churn = env.post("/tags", json!({"name": "Churn risk"})).await.id();
    let listed = env.get("/tags").await.body;
    assert_eq!(listed["type"], "list");
    assert_eq!(ids(&listed["data"]), vec![vip.id(), churn.clone()]);
    // Renaming onto another tag's name is refused; renaming itself is not.
    env.post("/tags", json!({"id": churn, "name": "VIP"}))
        .await
        .expect_error(400, "parameter_invalid");
    let renamed = env
        .post("/tags", json!({"id": churn, "name": "Churn watch"}))
        .await;
    assert_eq!(renamed.id(), churn);
    assert_eq!(
        env.get(&format!("/tags/{churn}")).await.body["name"],
        "Churn watch"
    );
    let missing = env
        .post("/tags", json!({"id": "999", "name": "Ghost"}))
        .await
        .expect_error(404, "not_found");
    assert_eq!(missing, "Resource Not Found");
    let bad = env.post("/tags", json!({"test": "invalid"})).await;
    assert_eq!(
        bad.expect_error(400, "parameter_invalid"),
        "invalid tag parameters"
    );
}

#[tokio::test]
async fn tagging_a_contact_one_by_one() {
    let env = Env::new().await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let tag = env
        .post("/tags", json!({"name": "Trial ending"}))
        .await
        .id();
    let numeric: u64 = tag.parse().expect("tag ids are numeric strings");
    // The spec's own example sends the tag id as a number.
    let applied = env
        .post(&format!("/contacts/{contact}/tags"), json!({"id": numeric}))
        .await;
    assert_eq!(applied.id(), tag);
    assert_eq!(applied.body["name"], "Trial ending");
    assert_eq!(applied.body["applied_by"]["type"], "admin");
    let applied_at = applied.body["applied_at"].as_i64().expect("applied_at");
    env.advance(60).await;
    let twice = env
        .post(&format!("/contacts/{contact}/tags"), json!({"id": tag}))
        .await;
    assert_eq!(
        twice.body["applied_at"], applied_at,
        "tagging twice changes nothing"
    );
    let listed = env.get(&format!("/contacts/{contact}/tags")).await.body;
    assert_eq!(ids(&listed["data"]), vec![tag.clone()]);
    assert_eq!(listed["data"][0]["applied_at"], applied_at);
    let shown = env.get(&format!("/contacts/{contact}")).await.body;
    assert_eq!(shown["tags"]["total_count"], 1);
    assert_eq!(
        shown["tags"]["data"][0],
        json!({"type": "tag", "id": tag, "url": format!("/tags/{tag}")})
    );
    let removed = env.delete(&format!("/contacts/{contact}/tags/{tag}")).await;
    assert_eq!(removed.id(), tag);
    assert!(
        env.get(&format!("/contacts/{contact}/tags")).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let msg = env
        .delete(&format!("/contacts/{contact}/tags/{tag}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(msg, "Resource Not Found", "untagging what is not applied");
    assert_eq!(env.dump().await["contacts"][0]["tag_names"], json!([]));
}

#[tokio::test]
async fn unknown_contacts_and_tags_are_404() {
    let env = Env::new().await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let tag = env.post("/tags", json!({"name": "VIP"})).await.id();
    let nobody = "5f4d3c1c7b1b4d7da97e6096";
    for a in [
        env.post(&format!("/contacts/{nobody}/tags"), json!({"id": tag}))
            .await,
        env.get(&format!("/contacts/{nobody}/tags")).await,
        env.delete(&format!("/contacts/{nobody}/tags/{tag}")).await,
    ] {
        assert_eq!(a.expect_error(404, "not_found"), "User Not Found");
    }
    for a in [
        env.post(&format!("/contacts/{contact}/tags"), json!({"id": "12345"}))
            .await,
        env.get("/tags/12345").await,
        env.get("/tags/nope").await,
        env.delete("/tags/12345").await,
        env.delete(&format!("/contacts/{contact}/tags/12345")).await,
    ] {
        assert_eq!(a.expect_error(404, "not_found"), "Resource Not Found");
    }
    // A tag id is numeric: another spelling of the same number is another id.
    env.get(&format!("/tags/0{tag}"))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn deleting_a_tag_takes_it_off_every_record() {
    let env = Env::new().await;
    let co = companies(&env, 1).await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let tag = env
        .post(
            "/tags",
            json!({"name": "Gone", "companies": [{"id": co[0]}]}),
        )
        .await
        .id();
    env.post(&format!("/contacts/{contact}/tags"), json!({"id": tag}))
        .await
        .id();
    let deleted = env.delete(&format!("/tags/{tag}")).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body, Value::Null, "the spec documents no body");
    env.get(&format!("/tags/{tag}"))
        .await
        .expect_error(404, "not_found");
    assert!(company_tags(&env.get(&format!("/companies/{}", co[0])).await.body).is_empty());
    assert_eq!(
        env.get(&format!("/contacts/{contact}")).await.body["tags"]["total_count"],
        0
    );
    // The name is free again.
    assert_ne!(env.post("/tags", json!({"name": "gone"})).await.id(), tag);
}

#[tokio::test]
async fn bulk_tagging_companies_by_id_or_company_id_in_one_call() {
    let env = Env::new().await;
    let co = companies(&env, 3).await;
    let tag = env
        .post(
            "/tags",
            json!({"name": "Enterprise", "companies": [
                {"id": co[0]}, {"company_id": "co-1"}, {"company_id": "co-2"}
            ]}),
        )
        .await;
    assert_eq!(tag.status, StatusCode::OK, "{}", tag.body);
    assert_eq!(
        tag.body,
        json!({"type": "tag", "id": tag.id(), "name": "Enterprise"})
    );
    assert_eq!(env.stats().await["by_route"]["POST /tags"], 1);
    for id in &co {
        let company = env.get(&format!("/companies/{id}")).await.body;
        assert_eq!(company_tags(&company), vec!["Enterprise"]);
    }
    let listed = env
        .get(&format!("/companies?tag_id={}", tag.id()))
        .await
        .body;
    let mut found = ids(&listed["data"]);
    found.sort();
    let mut want = co.clone();
    want.sort();
    assert_eq!(
        found, want,
        "GET /companies?tag_id= lists the tagged companies"
    );
}

#[tokio::test]
async fn bulk_untagging_companies() {
    let env = Env::new().await;
    let co = companies(&env, 3).await;
    let all: Vec<Value> = co.iter().map(|id| json!({"id": id})).collect();
    env.post("/tags", json!({"name": "Churn risk", "companies": all}))
        .await
        .id();
    // `untag` as a boolean, and as the string the spec's example sends.
    let untagged = env
        .post(
            "/tags",
            json!({"name": "churn risk", "companies": [
                {"id": co[0], "untag": true}, {"company_id": "co-1", "untag": "true"}
            ]}),
        )
        .await;
    assert_eq!(untagged.body["name"], "Churn risk");
    let tags_of = |v: &Value| company_tags(v);
    assert!(tags_of(&env.get(&format!("/companies/{}", co[0])).await.body).is_empty());
    assert!(tags_of(&env.get(&format!("/companies/{}", co[1])).await.body).is_empty());
    assert_eq!(
        tags_of(&env.get(&format!("/companies/{}", co[2])).await.body),
        vec!["Churn risk"]
    );
    // Untagging with a tag that does not exist.
    env.post(
        "/tags",
        json!({"name": "Never made", "companies": [{"id": co[2], "untag": true}]}),
    )
    .await
    .expect_error(404, "not_found");
    assert_eq!(
        env.get("/tags").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bulk_tagging_is_all_or_nothing() {
    let env = Env::new().await;
    let co = companies(&env, 2).await;
    let msg = env
        .post(
            "/tags",
            json!({"name": "Partial", "companies": [{"id": co[0]}, {"company_id": "nope"}]}),
        )
        .await
        .expect_error(404, "company_not_found");
    assert_eq!(msg, "Company Not Found");
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let msg = env
        .post(
            "/tags",
            json!({"name": "Partial", "users": [{"id": contact}, {"id": "5f4d3c1c7b1b4d7da97e6096"}]}),
        )
        .await
        .expect_error(404, "not_found");
    assert_eq!(msg, "User Not Found");
    let dump = env.dump().await;
    assert_eq!(dump["tags"], json!([]), "no tag was created");
    assert!(company_tags(&dump["companies"][0]).is_empty());
    assert_eq!(
        env.get(&format!("/contacts/{contact}")).await.body["tags"]["total_count"],
        0
    );
}

#[tokio::test]
async fn bulk_tagging_users_by_id_only() {
    let env = Env::new().await;
    let user = env.contact(json!({"email": "u@x.com"})).await;
    let lead = env
        .contact(json!({"role": "lead", "email": "l@x.com"}))
        .await;
    let tag = env
        .post(
            "/tags",
            json!({"name": "Beta", "users": [{"id": user}, {"id": lead}]}),
        )
        .await
        .id();
    for id in [&user, &lead] {
        let listed = env.get(&format!("/contacts/{id}/tags")).await.body;
        assert_eq!(
            ids(&listed["data"]),
            vec![tag.clone()],
            "users and leads alike"
        );
    }
    let found = env
        .search_ids(json!({"field": "tag_id", "operator": "=", "value": tag}))
        .await;
    assert_eq!(found, vec![user.clone(), lead.clone()], "search by tag_id");
    for body in [
        json!({"name": "Beta", "users": [{"email": "u@x.com"}]}),
        json!({"name": "Beta", "users": [{"user_id": "7"}]}),
        json!({"name": "Beta", "users": [{"id": user, "untag": true}]}),
        json!({"name": "Beta", "users": [{"id": user}], "companies": []}),
    ] {
        env.post("/tags", body.clone())
            .await
            .expect_error(400, "parameter_invalid");
    }
    let dump = env.dump().await;
    assert_eq!(dump["tags"][0]["contact_ids"].as_array().unwrap().len(), 2);
    assert_eq!(dump["contacts"][0]["tag_names"], json!(["Beta"]));
}

#[tokio::test]
async fn one_bulk_request_is_one_call_and_at_most_the_cap() {
    let env = Env::with(Options {
        rate_limit: 1000,
        ..Options::default()
    })
    .await;
    let mut items = Vec::new();
    for i in 0..51 {
        let id = env
            .post("/companies", json!({"company_id": format!("c{i}")}))
            .await
            .id();
        items.push(json!({"id": id}));
    }
    let fifty = json!({"name": "Wave", "companies": items[..50]});
    // Two requests in the same window: `X-RateLimit-Remaining` drops by one
    // for fifty companies (a window boundary between them just means retry).
    let mut measured = false;
    for _ in 0..3 {
        let a = env.post("/tags", fifty.clone()).await;
        let b = env.post("/tags", fifty.clone()).await;
        assert_eq!(b.status, StatusCode::OK, "{}", b.body);
        if a.header("x-ratelimit-reset") != b.header("x-ratelimit-reset") {
            continue;
        }
        let left = |x: &crate::common::Answer| -> i64 {
            x.header("x-ratelimit-remaining").unwrap().parse().unwrap()
        };
        assert_eq!(left(&a) - left(&b), 1);
        measured = true;
        break;
    }
    assert!(measured, "no two requests fell in one window");
    let msg = env
        .post("/tags", json!({"name": "Wave", "companies": items}))
        .await
        .expect_error(400, "parameter_invalid");
    assert!(msg.contains("at most 50"), "{msg}");
    let uncapped = Env::with(Options {
        rate_limit: 0,
        bulk_tag_limit: 0,
        ..Options::default()
    })
    .await;
    let many: Vec<Value> = (0..60)
        .map(|i| json!({"company_id": format!("c{i}")}))
        .collect();
    for c in &many {
        uncapped.post("/companies", c.clone()).await.id();
    }
    uncapped
        .post("/tags", json!({"name": "Wave", "companies": many}))
        .await
        .id();
}

#[tokio::test]
async fn merging_a_lead_moves_its_tags_to_the_user() {
    let env = Env::new().await;
    let lead = env
        .contact(json!({"role": "lead", "email": "same@x.com"}))
        .await;
    let user = env
        .contact(json!({"external_id": "u1", "email": "same@x.com"}))
        .await;
    let (a, b) = (
        env.post("/tags", json!({"name": "A"})).await.id(),
        env.post("/tags", json!({"name": "B"})).await.id(),
    );
    env.post(&format!("/contacts/{lead}/tags"), json!({"id": a}))
        .await
        .id();
    env.post(&format!("/contacts/{lead}/tags"), json!({"id": b}))
        .await
        .id();
    env.post(&format!("/contacts/{user}/tags"), json!({"id": b}))
        .await
        .id();
    env.post("/contacts/merge", json!({"from": lead, "into": user}))
        .await
        .id();
    let mut on_user = ids(&env.get(&format!("/contacts/{user}/tags")).await.body["data"]);
    on_user.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(on_user, want);
    for tag in env.dump().await["tags"].as_array().unwrap() {
        assert_eq!(tag["contact_ids"], json!([user]), "{tag}");
    }
}

#[tokio::test]
async fn deleted_contacts_and_companies_leave_their_tags() {
    let env = Env::new().await;
    let co = companies(&env, 1).await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let tag = env
        .post("/tags", json!({"name": "T", "companies": [{"id": co[0]}]}))
        .await
        .id();
    env.post(&format!("/contacts/{contact}/tags"), json!({"id": tag}))
        .await
        .id();
    env.delete(&format!("/contacts/{contact}")).await.id();
    env.delete(&format!("/companies/{}", co[0])).await;
    let dump = env.dump().await;
    assert_eq!(dump["tags"][0]["contact_ids"], json!([]));
    assert_eq!(dump["tags"][0]["company_ids"], json!([]));
    let listed = env.get(&format!("/companies?tag_id={tag}")).await.body;
    assert_eq!(listed["total_count"], 0);
}
