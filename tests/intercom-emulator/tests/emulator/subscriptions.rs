//! Subscription types: declared types, opt-in / opt-out by attaching, 404s.

use intercom_emulator::{Consent, Options, SubscriptionTypeSpec};
use serde_json::{json, Value};

use crate::common::{ids, Env};

/// "Newsletters" (opt_out, Intercom's default kind) and "Product updates" (opt_in).
async fn env() -> Env {
    Env::with(Options {
        rate_limit: 0,
        subscription_types: vec![
            SubscriptionTypeSpec {
                name: "Newsletters".into(),
                consent: Consent::OptOut,
            },
            SubscriptionTypeSpec {
                name: "Product updates".into(),
                consent: Consent::OptIn,
            },
        ],
        ..Options::default()
    })
    .await
}

/// (id of Newsletters, id of Product updates)
async fn type_ids(env: &Env) -> (String, String) {
    let listed = env.get("/subscription_types").await.body;
    let found = ids(&listed["data"]);
    (found[0].clone(), found[1].clone())
}

fn stub_ids(contact: &Value, stub: &str) -> Vec<String> {
    ids(&contact[stub]["data"])
}

#[tokio::test]
async fn declared_types_are_listed_with_their_consent_type() {
    let env = env().await;
    let listed = env.get("/subscription_types").await.body;
    assert_eq!(listed["type"], "list");
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["type"], "subscription");
    assert_eq!(data[0]["state"], "live");
    assert_eq!(data[0]["consent_type"], "opt_out");
    assert_eq!(data[0]["default_translation"]["name"], "Newsletters");
    assert_eq!(data[0]["content_types"], json!(["email"]));
    assert_eq!(data[1]["consent_type"], "opt_in");
    assert_eq!(data[1]["translations"][0]["name"], "Product updates");
    assert_ne!(data[0]["id"], data[1]["id"]);
    // A reset clears data, not the workspace's settings.
    env.post("/_emulator/reset", json!({})).await;
    assert_eq!(env.get("/subscription_types").await.body, listed);
    assert_eq!(
        Env::new().await.get("/subscription_types").await.body["data"],
        json!([])
    );
}

#[tokio::test]
async fn attaching_an_opt_out_type_opts_the_contact_out() {
    let env = env().await;
    let (news, _) = type_ids(&env).await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let path = format!("/contacts/{contact}/subscriptions");
    assert_eq!(
        env.get(&path).await.body["data"],
        json!([]),
        "no preference yet"
    );
    let attached = env
        .post(&path, json!({"id": news, "consent_type": "opt_out"}))
        .await;
    assert_eq!(attached.id(), news);
    assert_eq!(attached.body["consent_type"], "opt_out");
    assert_eq!(ids(&env.get(&path).await.body["data"]), vec![news.clone()]);
    let shown = env.get(&format!("/contacts/{contact}")).await.body;
    assert_eq!(
        stub_ids(&shown, "opted_out_subscription_types"),
        vec![news.clone()]
    );
    assert!(stub_ids(&shown, "opted_in_subscription_types").is_empty());
    // Detaching is the way back to the default (subscribed).
    let detached = env.delete(&format!("{path}/{news}")).await;
    assert_eq!(detached.id(), news);
    assert_eq!(env.get(&path).await.body["data"], json!([]));
    let msg = env
        .delete(&format!("{path}/{news}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(msg, "Resource Not Found", "detaching what is not attached");
}

#[tokio::test]
async fn attaching_an_opt_in_type_opts_the_contact_in() {
    let env = env().await;
    let (_, updates) = type_ids(&env).await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let path = format!("/contacts/{contact}/subscriptions");
    // The spec's own example sends the type id as a number.
    let numeric: u64 = updates.parse().unwrap();
    env.post(&path, json!({"id": numeric, "consent_type": "opt_in"}))
        .await
        .id();
    env.post(&path, json!({"id": updates, "consent_type": "opt_in"}))
        .await
        .id();
    assert_eq!(
        ids(&env.get(&path).await.body["data"]),
        vec![updates.clone()],
        "once"
    );
    let shown = env.get(&format!("/contacts/{contact}")).await.body;
    assert_eq!(
        stub_ids(&shown, "opted_in_subscription_types"),
        vec![updates.clone()]
    );
    assert!(stub_ids(&shown, "opted_out_subscription_types").is_empty());
    let dump = env.dump().await;
    assert_eq!(
        dump["contacts"][0]["subscriptions"],
        json!([{"id": updates, "name": "Product updates", "consent_type": "opt_in"}])
    );
    assert_eq!(dump["subscription_types"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn consent_type_must_be_the_types_own() {
    let env = env().await;
    let (news, updates) = type_ids(&env).await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let path = format!("/contacts/{contact}/subscriptions");
    let msg = env
        .post(&path, json!({"id": news, "consent_type": "opt_in"}))
        .await
        .expect_error(400, "parameter_invalid");
    assert!(
        msg.contains("Newsletters") && msg.contains("opt_out"),
        "{msg}"
    );
    env.post(&path, json!({"id": updates, "consent_type": "opt_out"}))
        .await
        .expect_error(400, "parameter_invalid");
    env.post(&path, json!({"id": updates, "consent_type": "maybe"}))
        .await
        .expect_error(400, "parameter_invalid");
    env.post(&path, json!({"id": updates}))
        .await
        .expect_error(400, "parameter_missing");
    env.post(&path, json!({"consent_type": "opt_in"}))
        .await
        .expect_error(400, "parameter_missing");
    assert_eq!(
        env.get(&path).await.body["data"],
        json!([]),
        "nothing attached"
    );
}

#[tokio::test]
async fn unknown_types_and_contacts_are_404() {
    let env = env().await;
    let (news, _) = type_ids(&env).await;
    let contact = env.contact(json!({"email": "a@x.com"})).await;
    let nobody = "5f4d3c1c7b1b4d7da97e6096";
    for a in [
        env.post(
            &format!("/contacts/{nobody}/subscriptions"),
            json!({"id": news, "consent_type": "opt_out"}),
        )
        .await,
        env.get(&format!("/contacts/{nobody}/subscriptions")).await,
        env.delete(&format!("/contacts/{nobody}/subscriptions/{news}"))
            .await,
    ] {
        assert_eq!(a.expect_error(404, "not_found"), "User Not Found");
    }
    for a in [
        env.post(
            &format!("/contacts/{contact}/subscriptions"),
            json!({"id": "invalid_id", "consent_type": "opt_in"}),
        )
        .await,
        env.delete(&format!("/contacts/{contact}/subscriptions/1"))
            .await,
    ] {
        assert_eq!(a.expect_error(404, "not_found"), "Resource Not Found");
    }
}

#[tokio::test]
async fn merging_a_lead_keeps_the_users_preferences_and_adds_the_leads() {
    let env = env().await;
    let (news, updates) = type_ids(&env).await;
    let lead = env
        .contact(json!({"role": "lead", "email": "same@x.com"}))
        .await;
    let user = env
        .contact(json!({"external_id": "u1", "email": "same@x.com"}))
        .await;
    for (who, id, consent) in [
        (&lead, &news, "opt_out"),
        (&lead, &updates, "opt_in"),
        (&user, &updates, "opt_in"),
    ] {
        env.post(
            &format!("/contacts/{who}/subscriptions"),
            json!({"id": id, "consent_type": consent}),
        )
        .await
        .id();
    }
    env.post("/contacts/merge", json!({"from": lead, "into": user}))
        .await
        .id();
    let listed = env
        .get(&format!("/contacts/{user}/subscriptions"))
        .await
        .body;
    assert_eq!(ids(&listed["data"]), vec![updates, news]);
}
