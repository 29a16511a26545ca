//! Company membership: a contact in several companies, detaching one of them.

use serde_json::json;

use crate::common::{ids, Env};

async fn company(env: &Env, company_id: &str) -> String {
    env.post("/companies", json!({"company_id": company_id}))
        .await
        .id()
}

#[tokio::test]
async fn a_contact_belongs_to_several_companies_in_attach_order() {
    let env = Env::new().await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let (a, b, c) = (
        company(&env, "a").await,
        company(&env, "b").await,
        company(&env, "c").await,
    );
    for id in [&b, &a, &c, &b] {
        let attached = env
            .post(&format!("/contacts/{contact}/companies"), json!({"id": id}))
            .await;
        assert_eq!(attached.id(), *id);
        assert_eq!(
            attached.body["user_count"], 1,
            "attaching twice counts once"
        );
    }
    let listed = env
        .get(&format!("/contacts/{contact}/companies"))
        .await
        .body;
    assert_eq!(
        ids(&listed["companies"]),
        vec![b.clone(), a.clone(), c.clone()]
    );
    assert_eq!(listed["total_count"], 3);
    let shown = env.get(&format!("/contacts/{contact}")).await.body;
    assert_eq!(shown["companies"]["total_count"], 3);
    assert_eq!(ids(&shown["companies"]["data"]), vec![b, a, c]);
}

#[tokio::test]
async fn detaching_one_company_leaves_the_others() {
    let env = Env::new().await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let other = env.contact(json!({"email": "b@x.com"})).await;
    let (old, new) = (company(&env, "old").await, company(&env, "new").await);
    for (who, id) in [(&contact, &old), (&contact, &new), (&other, &old)] {
        env.post(&format!("/contacts/{who}/companies"), json!({"id": id}))
            .await
            .id();
    }
    let detached = env
        .delete(&format!("/contacts/{contact}/companies/{old}"))
        .await;
    assert_eq!(detached.id(), old);
    assert_eq!(detached.body["user_count"], 1, "the other member stays");
    let listed = env
        .get(&format!("/contacts/{contact}/companies"))
        .await
        .body;
    assert_eq!(ids(&listed["companies"]), vec![new.clone()]);
    let members = env.get(&format!("/companies/{old}/contacts")).await.body;
    assert_eq!(ids(&members["data"]), vec![other.clone()]);
    let dump = env.dump().await;
    assert_eq!(dump["contacts"][0]["company_ids"], json!([new]));
    // Detaching again, or something that was never there.
    let msg = env
        .delete(&format!("/contacts/{contact}/companies/{old}"))
        .await
        .expect_error(404, "company_not_found");
    assert_eq!(msg, "Company Not Found");
    env.delete(&format!(
        "/contacts/{contact}/companies/5f4d3c1c7b1b4d7da97e6095"
    ))
    .await
    .expect_error(404, "company_not_found");
    let msg = env
        .delete(&format!(
            "/contacts/5f4d3c1c7b1b4d7da97e6096/companies/{new}"
        ))
        .await
        .expect_error(404, "not_found");
    assert_eq!(msg, "User Not Found");
}

#[tokio::test]
async fn list_stubs_show_ten_and_say_there_is_more() {
    let env = Env::new().await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    for i in 0..12 {
        let id = company(&env, &format!("c{i}")).await;
        env.post(&format!("/contacts/{contact}/companies"), json!({"id": id}))
            .await
            .id();
        let tag = env
            .post("/tags", json!({"name": format!("t{i}")}))
            .await
            .id();
        env.post(&format!("/contacts/{contact}/tags"), json!({"id": tag}))
            .await
            .id();
    }
    let shown = env.get(&format!("/contacts/{contact}")).await.body;
    for stub in ["companies", "tags"] {
        assert_eq!(shown[stub]["data"].as_array().unwrap().len(), 10, "{stub}");
        assert_eq!(shown[stub]["total_count"], 12, "{stub}");
        assert_eq!(shown[stub]["has_more"], true, "{stub}");
    }
    let all = env.get(&format!("/contacts/{contact}/tags")).await.body;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        12,
        "the full list has all"
    );
}
