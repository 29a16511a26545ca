//! Companies: upsert, lookups, visibility, attachments, scroll, delete.

use intercom_emulator::Options;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{ids, Env};

#[tokio::test]
async fn upsert_on_company_id_truncates_spend_and_shapes_the_plan() {
    let env = Env::new().await;
    let a = env
        .post(
            "/companies",
            json!({"company_id": "c1", "name": "Acme", "monthly_spend": 155.98, "plan": "Pro"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["type"], "company");
    assert_eq!(a.body["monthly_spend"], 155);
    assert_eq!(a.body["plan"]["type"], "plan");
    assert_eq!(a.body["plan"]["name"], "Pro");
    assert!(a.body["plan"]["id"].is_string());
    assert_eq!(a.body["user_count"], 0);
    let b = env
        .post("/companies", json!({"company_id": "c1", "size": 12}))
        .await;
    assert_eq!(b.id(), a.id(), "same company_id, same company");
    assert_eq!(b.body["name"], "Acme");
    assert_eq!(b.body["size"], 12);
    let bad = env
        .post("/companies", json!({"company_id": "c2", "test": "invalid"}))
        .await;
    assert_eq!(bad.expect_error(400, "bad_request"), "bad 'test' parameter");
    env.post(
        "/companies",
        json!({"company_id": "c3", "monthly_spend": 3_000_000_000u64}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    assert_eq!(env.dump().await["companies"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn lookups_by_id_and_company_id() {
    let env = Env::new().await;
    let id = env
        .post("/companies", json!({"company_id": "c1", "name": "Acme"}))
        .await
        .id();
    let found = env.get("/companies?company_id=c1").await;
    assert_eq!(
        found.body["type"], "company",
        "a single company, not a list"
    );
    assert_eq!(found.id(), id);
    let missing = env.get("/companies?company_id=nope").await;
    assert_eq!(
        missing.expect_error(404, "company_not_found"),
        "Company Not Found"
    );
    assert_eq!(env.get(&format!("/companies/{id}")).await.id(), id);
    env.get("/companies/000000000000000000000000")
        .await
        .expect_error(404, "company_not_found");
    let upd = env
        .put(
            &format!("/companies/{id}"),
            json!({"name": "Acme 2", "monthly_spend": 9.9}),
        )
        .await;
    assert_eq!(upd.body["name"], "Acme 2");
    assert_eq!(upd.body["monthly_spend"], 9);
    let msg = env
        .put(&format!("/companies/{id}"), json!({"company_id": "c9"}))
        .await
        .expect_error(400, "bad_request");
    assert_eq!(msg, "bad 'company_id' parameter");
}

#[tokio::test]
async fn companies_without_contacts_are_left_out_of_the_list() {
    let env = Env::new().await;
    let lonely = env
        .post("/companies", json!({"company_id": "lonely"}))
        .await
        .id();
    let busy = env
        .post("/companies", json!({"company_id": "busy"}))
        .await
        .id();
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let attached = env
        .post(
            &format!("/contacts/{contact}/companies"),
            json!({"id": busy}),
        )
        .await;
    assert_eq!(attached.body["user_count"], 1);
    let list = env.post("/companies/list", json!({})).await.body;
    assert_eq!(ids(&list["data"]), vec![busy.clone()]);
    assert_eq!(list["total_count"], 1);
    assert_eq!(
        ids(&env.get("/companies").await.body["data"]),
        vec![busy.clone()]
    );
    // Attachments read both ways.
    let of_contact = env
        .get(&format!("/contacts/{contact}/companies"))
        .await
        .body;
    assert_eq!(ids(&of_contact["data"]), vec![busy.clone()]);
    // The schema (and python-intercom) read `companies`; the spec's example `data`.
    assert_eq!(ids(&of_contact["companies"]), vec![busy.clone()]);
    let members = env.get(&format!("/companies/{busy}/contacts")).await.body;
    assert_eq!(ids(&members["data"]), vec![contact.clone()]);
    assert_eq!(
        env.get(&format!("/contacts/{contact}")).await.body["companies"]["data"][0]["id"],
        busy
    );
    let detached = env
        .delete(&format!("/contacts/{contact}/companies/{busy}"))
        .await;
    assert_eq!(detached.body["user_count"], 0);
    assert!(ids(&env.post("/companies/list", json!({})).await.body["data"]).is_empty());
    env.delete(&format!("/contacts/{contact}/companies/{lonely}"))
        .await
        .expect_error(404, "company_not_found");
}

#[tokio::test]
async fn attach_errors() {
    let env = Env::new().await;
    let company = env
        .post("/companies", json!({"company_id": "c1"}))
        .await
        .id();
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let none = env
        .post(&format!("/contacts/{contact}/companies"), json!({}))
        .await;
    assert_eq!(
        none.expect_error(400, "parameter_not_found"),
        "company not specified"
    );
    env.post(
        &format!("/contacts/{contact}/companies"),
        json!({"id": "123"}),
    )
    .await
    .expect_error(404, "company_not_found");
    let msg = env
        .post(
            "/contacts/000000000000000000000000/companies",
            json!({"id": company}),
        )
        .await
        .expect_error(404, "not_found");
    assert_eq!(msg, "User Not Found");
}

#[tokio::test]
async fn deleting_a_company_detaches_its_contacts() {
    let env = Env::new().await;
    let company = env
        .post("/companies", json!({"company_id": "c1"}))
        .await
        .id();
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    env.post(
        &format!("/contacts/{contact}/companies"),
        json!({"id": company}),
    )
    .await;
    let del = env.delete(&format!("/companies/{company}")).await;
    assert_eq!(
        del.body,
        json!({"id": company, "object": "company", "deleted": true})
    );
    env.get(&format!("/companies/{company}"))
        .await
        .expect_error(404, "company_not_found");
    assert_eq!(
        env.get(&format!("/contacts/{contact}")).await.body["companies"]["total_count"],
        0
    );
    let again = env
        .post("/companies", json!({"company_id": "c1"}))
        .await
        .id();
    assert_ne!(again, company, "the company_id makes a new company");
    let dump = env.dump().await;
    let deleted: Vec<_> = dump["companies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["deleted"] == true)
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["contact_ids"], json!([contact]));
}

#[tokio::test]
async fn one_scroll_at_a_time_and_empty_data_ends_it() {
    let env = Env::new().await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let mut all = Vec::new();
    for i in 0..60 {
        let id = env
            .post("/companies", json!({"company_id": format!("c{i}")}))
            .await
            .id();
        env.post(&format!("/contacts/{contact}/companies"), json!({"id": id}))
            .await;
        all.push(id);
    }
    env.post("/companies", json!({"company_id": "empty"})).await;
    let first = env.get("/companies/scroll").await;
    assert_eq!(first.status, StatusCode::OK);
    let param = first.body["scroll_param"].as_str().unwrap().to_string();
    let msg = env
        .get("/companies/scroll")
        .await
        .expect_error(400, "scroll_exists");
    assert!(msg.contains("scroll"), "{msg}");
    let mut seen = ids(&first.body["data"]);
    loop {
        let page = env
            .get(&format!("/companies/scroll?scroll_param={param}"))
            .await
            .body;
        let batch = ids(&page["data"]);
        if batch.is_empty() {
            break;
        }
        seen.extend(batch);
    }
    assert_eq!(seen, all, "every company with contacts, once");
    env.get(&format!("/companies/scroll?scroll_param={param}"))
        .await
        .expect_error(404, "not_found");
    // The scroll ended, so a new one may start; an idle one expires after 60 s.
    assert_eq!(env.get("/companies/scroll").await.status, StatusCode::OK);
    env.get("/companies/scroll")
        .await
        .expect_error(400, "scroll_exists");
    env.advance(60).await;
    assert_eq!(env.get("/companies/scroll").await.status, StatusCode::OK);
}

#[tokio::test]
async fn scroll_can_include_empty_companies() {
    let env = Env::with(Options {
        rate_limit: 0,
        scroll_hides_empty_companies: false,
        ..Options::default()
    })
    .await;
    let id = env
        .post("/companies", json!({"company_id": "empty"}))
        .await
        .id();
    assert_eq!(
        ids(&env.get("/companies/scroll").await.body["data"]),
        vec![id]
    );
}

#[tokio::test]
async fn companies_of_a_contact_come_under_companies_and_data_page_by_page() {
    let env = Env::new().await;
    let contact = env.contact(json!({"email": "many@x.com"})).await;
    let mut attached = Vec::new();
    for i in 0..3 {
        let id = env
            .post("/companies", json!({"company_id": format!("c{i}")}))
            .await
            .id();
        env.post(&format!("/contacts/{contact}/companies"), json!({"id": id}))
            .await;
        attached.push(id);
    }
    let first = env
        .get(&format!("/contacts/{contact}/companies?per_page=2"))
        .await
        .body;
    assert_eq!(ids(&first["companies"]), attached[..2].to_vec(), "{first}");
    assert_eq!(first["companies"], first["data"]);
    assert_eq!(first["total_count"], 3);
    assert_eq!(first["pages"]["total_pages"], 2);
    let next = first["pages"]["next"].as_str().unwrap();
    assert!(
        next.ends_with(&format!("/contacts/{contact}/companies?page=2&per_page=2")),
        "{next}"
    );
    let second = env
        .get(&format!("/contacts/{contact}/companies?page=2&per_page=2"))
        .await
        .body;
    assert_eq!(ids(&second["companies"]), attached[2..].to_vec());
    assert!(second["pages"]["next"].is_null());
    // Past the end: an empty page, which is how python-intercom's pager stops.
    let past = env
        .get(&format!("/contacts/{contact}/companies?page=3&per_page=2"))
        .await
        .body;
    assert_eq!(past["companies"], json!([]));
    assert_eq!(past["total_count"], 3);
}
