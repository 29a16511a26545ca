//! `backflow-intercom` against the in-process Intercom emulator (one binary, every
//! server on `127.0.0.1:0`). No test sleeps: waiting is only what the client does
//! (retries, pacing), with tiny retry policies where nothing needs a real window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backflow_core::batch::AttributeSpec;
use backflow_core::budget::{Answer, Ask, Window};
use backflow_core::config::{DeleteMode, KeyField};
use backflow_core::retry::RetryPolicy;
use backflow_core::run::Outcome;
use backflow_core::secret::Secret;
use backflow_core::value::DataType;
use backflow_intercom::{
    BudgetError, BudgetFuture, CallBudget, Client, ClientConfig, Error, MemoryBudget, Role,
    RowError, WriteResult,
};
use intercom_emulator::{Emulator, Options};
use serde_json::{json, Map, Value};

// ------------------------------------------------------------------ helpers

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base: Duration::from_millis(2),
        cap: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    }
}

async fn start(opts: Options) -> (Emulator, Client) {
    let emu = Emulator::start(opts, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");
    let client = client_for(&emu.base_url(), "tok_test", fast_policy());
    (emu, client)
}

fn client_for(base: &str, token: &str, retry: RetryPolicy) -> Client {
    Client::new(ClientConfig {
        retry,
        timeout: Duration::from_secs(5),
        ..ClientConfig::new(base, Secret::new(token))
    })
    .unwrap()
}

fn plain() -> Options {
    Options {
        rate_limit: 0,
        ..Options::default()
    }
}

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn dump(emu: &Emulator) -> Value {
    get_json(format!("{}/_emulator/dump", emu.base_url())).await
}

async fn stats(emu: &Emulator) -> Value {
    get_json(format!("{}/_emulator/stats", emu.base_url())).await
}

fn route_count(stats: &Value, route: &str) -> u64 {
    stats["by_route"][route].as_u64().unwrap_or(0)
}

fn status_count(stats: &Value, status: &str) -> u64 {
    stats["by_status"][status].as_u64().unwrap_or(0)
}

/// Contacts in the dump (not deleted or merged) whose `field` is `value`.
fn live_contacts<'a>(dump: &'a Value, field: &str, value: &str) -> Vec<&'a Value> {
    dump["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["deleted"] != json!(true) && c["merged_into"].is_null())
        .filter(|c| c[field].as_str() == Some(value))
        .collect()
}

/// A direct API call, bypassing the client under test.
async fn raw(emu: &Emulator, method: reqwest::Method, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .request(method, format!("{}{}", emu.base_url(), path))
        .bearer_auth("tok_test")
        .header("Intercom-Version", "2.14")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn outcome(r: &Result<WriteResult, RowError>) -> Outcome {
    match r {
        Ok(w) => w.outcome,
        Err(e) => panic!("write failed: {e}"),
    }
}

fn rejected_code(r: Result<WriteResult, RowError>) -> String {
    match r {
        Err(RowError::Rejected(rej)) => rej.code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ------------------------------------------------------------------ contacts

#[tokio::test]
async fn create_then_update_the_same_external_id_is_one_contact() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"external_id": "u1", "email": "u1@x.io", "name": "One"}));
    let first = client
        .upsert_contact(KeyField::ExternalId, "u1", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    let id = first.intercom_id.clone().unwrap();

    // Memory lost: the create is answered 409 with the id, then a PUT.
    let body2 = map(json!({"external_id": "u1", "name": "Uno"}));
    let second = client
        .upsert_contact(KeyField::ExternalId, "u1", None, &body2, Role::User)
        .await
        .unwrap();
    assert_eq!(
        second,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id.clone())
        }
    );

    // Remembered id: a single PUT.
    let before = client.stats().calls;
    let third = client
        .upsert_contact(KeyField::ExternalId, "u1", Some(&id), &body2, Role::User)
        .await
        .unwrap();
    assert_eq!(third.outcome, Outcome::Updated);
    assert_eq!(client.stats().calls - before, 1);

    // A stale remembered id is forgotten, the lookup finds the real one.
    let fourth = client
        .upsert_contact(
            KeyField::ExternalId,
            "u1",
            Some("gone0000"),
            &body2,
            Role::User,
        )
        .await
        .unwrap();
    assert_eq!(fourth.intercom_id.as_deref(), Some(id.as_str()));

    let d = dump(&emu).await;
    let found = live_contacts(&d, "external_id", "u1");
    assert_eq!(found.len(), 1, "{d}");
    assert_eq!(found[0]["name"], json!("Uno"));
    let s = stats(&emu).await;
    // One create, two creates answered 409 (memory lost, stale memory).
    assert_eq!(route_count(&s, "POST /contacts"), 3);
    assert_eq!(status_count(&s, "409"), 2);
    assert_eq!(
        route_count(&s, "GET /contacts/find_by_external_id/{external_id}"),
        0
    );
    assert_eq!(client.stats().calls, s["requests"].as_u64().unwrap());
}

#[tokio::test]
async fn a_new_user_costs_exactly_one_call() {
    let (emu, client) = start(plain()).await;
    let cases = [
        (
            KeyField::ExternalId,
            "new-1",
            json!({"external_id": "new-1", "email": "new1@x.io", "name": "N"}),
        ),
        (KeyField::ExternalId, "new-2", json!({"name": "No email"})),
        (KeyField::Email, "new3@x.io", json!({"name": "By email"})),
    ];
    for (field, key, body) in cases {
        let before = client.stats().calls;
        let r = client
            .upsert_contact(field, key, None, &map(body), Role::User)
            .await
            .unwrap();
        assert_eq!(r.outcome, Outcome::Created, "{key}");
        assert_eq!(client.stats().calls - before, 1, "{key}: one POST");
    }
    let s = stats(&emu).await;
    assert_eq!(s["requests"], json!(3), "{s}");
    assert_eq!(route_count(&s, "POST /contacts"), 3);
    let d = dump(&emu).await;
    assert_eq!(live_contacts(&d, "external_id", "new-2").len(), 1);
    assert_eq!(live_contacts(&d, "email", "new3@x.io").len(), 1);
}

#[tokio::test]
async fn an_existing_unknown_user_is_a_409_then_a_put() {
    let (emu, client) = start(plain()).await;
    let by_id = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"role": "user", "external_id": "old-1", "name": "Before"}),
    )
    .await;
    let by_email = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"role": "user", "email": "old2@x.io", "name": "Before"}),
    )
    .await;
    let before = stats(&emu).await["requests"].as_u64().unwrap();
    let cases = [
        (KeyField::ExternalId, "old-1", &by_id),
        (KeyField::Email, "OLD2@x.io", &by_email),
    ];
    for (field, key, existing) in cases {
        let calls = client.stats().calls;
        let r = client
            .upsert_contact(field, key, None, &map(json!({"name": "After"})), Role::User)
            .await
            .unwrap();
        assert_eq!(
            r,
            WriteResult {
                outcome: Outcome::Updated,
                intercom_id: existing["id"].as_str().map(String::from)
            },
            "{key}"
        );
        assert_eq!(
            client.stats().calls - calls,
            2,
            "{key}: the 409 and the PUT"
        );
    }
    let s = stats(&emu).await;
    assert_eq!(s["requests"].as_u64().unwrap() - before, 4, "{s}");
    assert_eq!(status_count(&s, "409"), 2, "{s}");
    assert_eq!(route_count(&s, "PUT /contacts/{id}"), 2, "{s}");
    let d = dump(&emu).await;
    let one = live_contacts(&d, "external_id", "old-1");
    assert_eq!(one.len(), 1, "{d}");
    assert_eq!(one[0]["name"], json!("After"));
    let two = live_contacts(&d, "email", "old2@x.io");
    assert_eq!(two.len(), 1, "{d}");
    assert_eq!(two[0]["name"], json!("After"));
    assert_eq!(d["contacts"].as_array().unwrap().len(), 2);

    // With an email in the body, the 409's contact is read before it is adopted
    // (the email could be another user's): 409, GET, PUT.
    let calls = client.stats().calls;
    let r = client
        .upsert_contact(
            KeyField::ExternalId,
            "old-1",
            None,
            &map(json!({"email": "old1@x.io"})),
            Role::User,
        )
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Updated);
    assert_eq!(client.stats().calls - calls, 3);
}

#[tokio::test]
async fn search_lag_and_409_lead_to_the_existing_contact() {
    let (emu, client) = start(Options {
        search_lag_secs: 120,
        ..plain()
    })
    .await;
    let direct = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"email": "ann@x.io", "role": "user", "name": "Before"}),
    )
    .await;
    let direct_id = direct["id"].as_str().unwrap().to_string();

    let body = map(json!({"email": "ann@x.io", "name": "After"}));
    let r = client
        .upsert_contact(KeyField::Email, "ann@x.io", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(direct_id)
        }
    );

    let d = dump(&emu).await;
    let found = live_contacts(&d, "email", "ann@x.io");
    assert_eq!(found.len(), 1, "{d}");
    assert_eq!(found[0]["name"], json!("After"));
    let s = stats(&emu).await;
    // Users are created first: search (which lags) is not even asked.
    assert_eq!(route_count(&s, "POST /contacts/search"), 0);
    assert_eq!(status_count(&s, "409"), 1);
    assert_eq!(s["requests"], json!(3), "the seed, the 409, the PUT: {s}");
}

#[tokio::test]
async fn an_archived_conflict_is_unarchived_and_updated() {
    let (emu, client) = start(plain()).await;
    let direct = raw(
        &emu,
        reqwest::Method::POST,
        "/contacts",
        json!({"email": "old@x.io", "role": "user"}),
    )
    .await;
    let id = direct["id"].as_str().unwrap().to_string();
    raw(
        &emu,
        reqwest::Method::POST,
        &format!("/contacts/{id}/archive"),
        json!({}),
    )
    .await;

    let body = map(json!({"email": "old@x.io", "name": "Back"}));
    let r = client
        .upsert_contact(KeyField::Email, "old@x.io", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id)
        }
    );
    let d = dump(&emu).await;
    let found = live_contacts(&d, "email", "old@x.io");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["archived"], json!(false));
    assert_eq!(found[0]["name"], json!("Back"));
    assert_eq!(
        route_count(&stats(&emu).await, "POST /contacts/{id}/unarchive"),
        1
    );
}

#[tokio::test]
async fn an_email_held_by_another_external_id_is_rejected_not_merged() {
    let (emu, client) = start(plain()).await;
    let a = map(json!({"external_id": "a", "email": "shared@x.io"}));
    client
        .upsert_contact(KeyField::ExternalId, "a", None, &a, Role::User)
        .await
        .unwrap();
    let b = map(json!({"external_id": "b", "email": "shared@x.io"}));
    let r = client
        .upsert_contact(KeyField::ExternalId, "b", None, &b, Role::User)
        .await;
    assert_eq!(rejected_code(r), "conflict");
    let d = dump(&emu).await;
    assert_eq!(live_contacts(&d, "external_id", "a").len(), 1);
    assert!(live_contacts(&d, "external_id", "b").is_empty());
}

#[tokio::test]
async fn leads_are_remembered_by_id() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"external_id": "lead-1", "name": "Lee"}));
    let first = client
        .upsert_contact(KeyField::ExternalId, "lead-1", None, &body, Role::Lead)
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    let id = first.intercom_id.unwrap();
    let again = client
        .upsert_contact(KeyField::ExternalId, "lead-1", Some(&id), &body, Role::Lead)
        .await
        .unwrap();
    assert_eq!(
        again,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id)
        }
    );
    let d = dump(&emu).await;
    let leads: Vec<_> = d["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == json!("lead"))
        .collect();
    assert_eq!(leads.len(), 1);
    assert!(leads[0]["external_id"].is_null());
    // Never asked find_by_external_id about a lead.
    assert_eq!(
        route_count(
            &stats(&emu).await,
            "GET /contacts/find_by_external_id/{external_id}"
        ),
        0
    );
}

#[tokio::test]
async fn update_only_never_creates() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"name": "X"}));
    for (field, key) in [
        (KeyField::ExternalId, "nobody"),
        (KeyField::Email, "nobody@x.io"),
        (KeyField::Id, "000000000000000000000000"),
    ] {
        let r = client
            .update_contact_only(field, key, None, &body, Role::User)
            .await
            .unwrap();
        assert_eq!(
            r,
            WriteResult {
                outcome: Outcome::NotFound,
                intercom_id: None
            },
            "{field:?}"
        );
    }
    let made = client
        .upsert_contact(
            KeyField::Email,
            "some@x.io",
            None,
            &map(json!({})),
            Role::User,
        )
        .await
        .unwrap();
    let id = made.intercom_id.unwrap();
    let r = client
        .update_contact_only(KeyField::Email, "some@x.io", None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Updated);
    let r = client
        .update_contact_only(KeyField::Id, &id, None, &body, Role::User)
        .await
        .unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(id)
        }
    );
    assert_eq!(route_count(&stats(&emu).await, "POST /contacts"), 1);
    assert_eq!(dump(&emu).await["contacts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn archive_and_permanent_delete() {
    let (emu, client) = start(plain()).await;
    let mut ids = Vec::new();
    for k in ["a1", "d1"] {
        let body = map(json!({"external_id": k, "email": format!("{k}@x.io")}));
        let r = client
            .upsert_contact(KeyField::ExternalId, k, None, &body, Role::User)
            .await
            .unwrap();
        ids.push(r.intercom_id.unwrap());
    }
    let r = client
        .remove_contact(KeyField::ExternalId, "a1", None, DeleteMode::Archive)
        .await;
    assert_eq!(outcome(&r), Outcome::Archived);
    // Already archived still counts as archived.
    let r = client
        .remove_contact(
            KeyField::ExternalId,
            "a1",
            Some(&ids[0]),
            DeleteMode::Archive,
        )
        .await;
    assert_eq!(outcome(&r), Outcome::Archived);

    let r = client
        .remove_contact(KeyField::Email, "d1@x.io", None, DeleteMode::Permanent)
        .await;
    assert_eq!(
        r.unwrap(),
        WriteResult {
            outcome: Outcome::Deleted,
            intercom_id: Some(ids[1].clone())
        }
    );
    let r = client
        .remove_contact(
            KeyField::Email,
            "d1@x.io",
            Some(&ids[1]),
            DeleteMode::Permanent,
        )
        .await;
    assert_eq!(outcome(&r), Outcome::NotFound);
    let r = client
        .remove_contact(
            KeyField::Id,
            "ffffffffffffffffffffffff",
            None,
            DeleteMode::Archive,
        )
        .await;
    assert_eq!(outcome(&r), Outcome::NotFound);

    let d = dump(&emu).await;
    let a = live_contacts(&d, "external_id", "a1");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["archived"], json!(true));
    let deleted: Vec<_> = d["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["deleted"] == json!(true))
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["id"], json!(ids[1]));
}

// ------------------------------------------------------------------ companies, events

#[tokio::test]
async fn company_upsert_and_attach_make_it_listed() {
    let (emu, client) = start(plain()).await;
    let body = map(json!({"company_id": "acme", "name": "Acme"}));
    let r = client.upsert_company(&body, None).await.unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    let company = r.intercom_id.unwrap();
    let listed = |v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["company_id"] == json!("acme"))
    };
    let list = raw(&emu, reqwest::Method::POST, "/companies/list", json!({})).await;
    assert!(!listed(&list), "{list}");

    let contact = client
        .upsert_contact(
            KeyField::ExternalId,
            "u1",
            None,
            &map(json!({})),
            Role::User,
        )
        .await
        .unwrap()
        .intercom_id
        .unwrap();
    let r = client.attach_company(&contact, "acme").await.unwrap();
    assert_eq!(
        r,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(company.clone())
        }
    );
    let list = raw(&emu, reqwest::Method::POST, "/companies/list", json!({})).await;
    assert!(listed(&list), "{list}");
    // The company id came from the upsert: no lookup was needed.
    assert_eq!(route_count(&stats(&emu).await, "GET /companies"), 0);

    let code = rejected_code(client.attach_company(&contact, "no-such-co").await);
    assert_eq!(code, "company_not_found");

    // Written again a minute later (emulated clock): an update of the same company.
    raw(
        &emu,
        reqwest::Method::POST,
        "/_emulator/clock/advance",
        json!({"secs": 60}),
    )
    .await;
    let again = client
        .upsert_company(&map(json!({"company_id": "acme", "plan": "pro"})), None)
        .await
        .unwrap();
    assert_eq!(
        again,
        WriteResult {
            outcome: Outcome::Updated,
            intercom_id: Some(company.clone())
        }
    );

    // Delete: by remembered id, then nothing left.
    let r = client.remove_company("acme", Some(&company)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Deleted);
    let r = client.remove_company("acme", None).await.unwrap();
    assert_eq!(r.outcome, Outcome::NotFound);
    let d = dump(&emu).await;
    assert_eq!(d["companies"].as_array().unwrap().len(), 1);
    assert_eq!(d["companies"][0]["deleted"], json!(true));
}

#[tokio::test]
async fn a_fresh_client_finds_the_company_to_attach() {
    let (emu, client) = start(plain()).await;
    client
        .upsert_company(&map(json!({"company_id": "globex"})), None)
        .await
        .unwrap();
    let contact = client
        .upsert_contact(KeyField::Email, "g@x.io", None, &map(json!({})), Role::User)
        .await
        .unwrap()
        .intercom_id
        .unwrap();
    let other = client_for(&emu.base_url(), "tok_test", fast_policy());
    for _ in 0..3 {
        other.attach_company(&contact, "globex").await.unwrap();
    }
    // Looked up once, then cached.
    assert_eq!(route_count(&stats(&emu).await, "GET /companies"), 1);
}

#[tokio::test]
async fn events_are_sent_once_per_user_name_and_time() {
    let (emu, client) = start(plain()).await;
    client
        .upsert_contact(
            KeyField::ExternalId,
            "u1",
            None,
            &map(json!({})),
            Role::User,
        )
        .await
        .unwrap();
    let ev = map(
        json!({"event_name": "signed-up", "created_at": 1_700_000_000, "user_id": "u1",
                        "metadata": {"plan": "pro"}}),
    );
    for _ in 0..2 {
        let r = client.send_event(&ev).await.unwrap();
        assert_eq!(
            r,
            WriteResult {
                outcome: Outcome::Sent,
                intercom_id: None
            }
        );
    }
    let later =
        map(json!({"event_name": "signed-up", "created_at": 1_700_000_001, "user_id": "u1"}));
    client.send_event(&later).await.unwrap();
    let d = dump(&emu).await;
    assert_eq!(d["events"].as_array().unwrap().len(), 2, "{d}");

    let unknown =
        map(json!({"event_name": "signed-up", "created_at": 1_700_000_000, "user_id": "ghost"}));
    let r = client.send_event(&unknown).await;
    match r {
        Err(RowError::Rejected(rej)) => {
            assert_eq!((rej.status, rej.code.as_str()), (404, "not_found"));
        }
        other => panic!("{other:?}"),
    }
    let ms = map(json!({"event_name": "x", "created_at": 1_700_000_000_000i64, "user_id": "u1"}));
    assert!(matches!(
        client.send_event(&ms).await,
        Err(RowError::Fatal(Error::Unsupported(_)))
    ));
}

// ------------------------------------------------------------------ attributes

#[tokio::test]
async fn attributes_are_listed_once_per_model_and_created_when_missing() {
    let (emu, client) = start(plain()).await;
    let spec = |name: &str, model: &str, data_type| AttributeSpec {
        name: name.into(),
        model: model.into(),
        data_type,
    };
    let specs = vec![
        spec("ltv", "contact", DataType::Float),
        spec("trial_ends_at", "contact", DataType::Date),
        spec("seats", "company", DataType::Integer),
    ];
    assert_eq!(
        client.ensure_attributes(&specs, true).await.unwrap(),
        vec![]
    );
    // Again: cached, nothing to create.
    assert_eq!(
        client.ensure_attributes(&specs, true).await.unwrap(),
        vec![]
    );
    let s = stats(&emu).await;
    assert_eq!(route_count(&s, "GET /data_attributes"), 2);
    assert_eq!(route_count(&s, "POST /data_attributes"), 3);

    // The attribute is usable at once.
    let body = map(json!({"custom_attributes": {"ltv": 12.5}}));
    client
        .upsert_contact(KeyField::ExternalId, "u1", None, &body, Role::User)
        .await
        .unwrap();

    // A fresh client (new invocation): problems instead of creates.
    let other = client_for(&emu.base_url(), "tok_test", fast_policy());
    let problems = other
        .ensure_attributes(
            &[
                spec("ltv", "contact", DataType::String),
                spec("brand_new", "contact", DataType::Boolean),
                spec("ltv", "contact", DataType::Float),
                spec("email", "contact", DataType::String),
            ],
            false,
        )
        .await
        .unwrap();
    let codes: Vec<_> = problems
        .iter()
        .map(|p| (p.name.as_str(), p.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("ltv", "attribute_type_mismatch"),
            ("brand_new", "attribute_missing"),
            ("email", "attribute_not_custom"),
        ]
    );
    // A name taken by the other model: Intercom's refusal is the problem.
    let problems = other
        .ensure_attributes(&[spec("seats", "contact", DataType::Integer)], true)
        .await
        .unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code, "parameter_invalid");
}

// ------------------------------------------------------------------ transport

#[tokio::test]
async fn rate_limited_writes_all_land_and_pacing_avoids_further_429s() {
    let (emu, _) = start(Options {
        rate_limit: 5,
        ..Options::default()
    })
    .await;
    let client = client_for(
        &emu.base_url(),
        "tok_test",
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(15),
            max_elapsed: Duration::from_secs(40),
        },
    );
    // A burst with nothing to pace by yet: 8 calls against a budget of 5.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                c.upsert_company(&map(json!({"company_id": format!("co{i}")})), None)
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().outcome, Outcome::Created);
    }
    let after_burst = client.stats();
    assert!(after_burst.rate_limited > 0, "{after_burst:?}");
    // Each 429 was followed by a wait until the reset, not by another 429.
    assert!(after_burst.rate_limited <= 3, "{after_burst:?}");

    // Now the headers are known: sequential calls are paced, never refused.
    for i in 8..11 {
        client
            .upsert_company(&map(json!({"company_id": format!("co{i}")})), None)
            .await
            .unwrap();
    }
    let s = stats(&emu).await;
    assert_eq!(client.stats().rate_limited, after_burst.rate_limited);
    assert_eq!(status_count(&s, "429"), after_burst.rate_limited);
    assert_eq!(status_count(&s, "200"), 11);
    assert_eq!(client.stats().calls, s["requests"].as_u64().unwrap());
    assert_eq!(dump(&emu).await["companies"].as_array().unwrap().len(), 11);
}

// ------------------------------------------------------------------ shared budget

/// Two clients (two `load` invocations) sharing one budget against a small
/// rate limit, each with a burst of concurrent calls: the budget hands out the
/// windows so that no call is refused, and every write lands once.
#[tokio::test]
async fn two_clients_sharing_a_budget_never_get_a_429() {
    const LIMIT: u32 = 10;
    let (emu, _) = start(Options {
        rate_limit: LIMIT,
        ..Options::default()
    })
    .await;
    let store = Arc::new(MemoryBudget::new());
    let policy = RetryPolicy {
        max_attempts: 10,
        base: Duration::from_millis(50),
        cap: Duration::from_secs(15),
        max_elapsed: Duration::from_secs(60),
    };
    let clients: Vec<Client> = (0..2)
        .map(|_| client_for(&emu.base_url(), "tok_test", policy).with_budget(store.clone()))
        .collect();
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..8 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                client
                    .upsert_company(&map(json!({"company_id": format!("c{c}-{i}")})), None)
                    .await
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().outcome, Outcome::Created);
    }
    for client in &clients {
        client.release_budget().await;
    }
    let s = stats(&emu).await;
    assert_eq!(status_count(&s, "429"), 0, "{s}");
    assert_eq!(status_count(&s, "200"), 16, "{s}");
    let calls: u64 = clients.iter().map(|c| c.stats().calls).sum();
    assert_eq!(calls, 16);
    let windows = store.windows();
    assert!(
        windows.iter().all(|&(_, used)| used <= LIMIT),
        "{windows:?}"
    );
    assert!(
        windows
            .iter()
            .map(|&(_, used)| u64::from(used))
            .sum::<u64>()
            >= 16
    );
    for client in &clients {
        let st = client.stats();
        assert_eq!(st.rate_limited, 0);
        assert!(st.budget_writes >= 2, "{st:?}");
    }
    assert_eq!(dump(&emu).await["companies"].as_array().unwrap().len(), 16);
}

#[tokio::test]
async fn unused_calls_are_given_back_and_a_server_without_limits_is_not_budgeted() {
    let (emu, client) = start(Options::default()).await;
    let store = Arc::new(MemoryBudget::new());
    let client = client.with_budget(store.clone());
    for i in 0..3 {
        client
            .upsert_company(&map(json!({"company_id": format!("g{i}")})), None)
            .await
            .unwrap();
    }
    // The first call alone (it learns the limit), then a small block: a lone
    // sequential caller does not sit on a large share of the window.
    let taken: u32 = store.windows().iter().map(|w| w.1).sum();
    assert!((3..=5).contains(&taken), "{:?}", store.windows());
    client.release_budget().await;
    let windows = store.windows();
    if windows.len() == 1 {
        assert_eq!(windows[0].1, 3, "only what was sent stays counted");
    }
    assert_eq!(client.stats().budget_writes, 3, "{:?}", client.stats());
    let limit = stats(&emu).await;
    assert_eq!(limit["requests"], json!(3));

    // No X-RateLimit-* headers (the emulator always sends them, as Intercom
    // does, so a bare server here): after the first answer, calls are not
    // budgeted.
    let base = headerless_companies().await;
    let store = Arc::new(MemoryBudget::new());
    let client = client_for(&base, "tok_test", fast_policy()).with_budget(store.clone());
    for i in 0..5 {
        client
            .upsert_company(&map(json!({"company_id": format!("u{i}")})), None)
            .await
            .unwrap();
    }
    assert_eq!(client.stats().budget_writes, 1);
    assert_eq!(store.windows().iter().map(|w| w.1).sum::<u32>(), 1);
}

/// A server that answers `POST /companies` like Intercom but without any
/// `X-RateLimit-*` header; its base URL.
async fn headerless_companies() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/companies",
        post(|axum::Json(body): axum::Json<Value>| async move {
            axum::Json(json!({
                "type": "company",
                "id": format!("id-{}", body["company_id"].as_str().unwrap_or("?")),
                "company_id": body["company_id"],
                "created_at": 1_700_000_000,
                "updated_at": 1_700_000_000,
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A store that is down.
struct Down;

impl CallBudget for Down {
    fn take(&self, _: Ask) -> BudgetFuture<'_, Answer> {
        Box::pin(async { Err(BudgetError("connection refused".into())) })
    }
    fn give_back(&self, _: Window, _: u32) -> BudgetFuture<'_, ()> {
        Box::pin(async { Err(BudgetError("connection refused".into())) })
    }
    fn describe(&self) -> String {
        "a store that is down".into()
    }
}

#[tokio::test]
async fn a_budget_store_that_is_down_falls_back_to_header_pacing() {
    let (emu, client) = start(Options::default()).await;
    let client = client.with_budget(Arc::new(Down));
    for i in 0..4 {
        client
            .upsert_company(&map(json!({"company_id": format!("d{i}")})), None)
            .await
            .unwrap();
    }
    client.release_budget().await;
    assert_eq!(client.stats().budget_writes, 1, "asked once, then gave up");
    assert_eq!(dump(&emu).await["companies"].as_array().unwrap().len(), 4);
}

async fn write_everything(client: &Client) {
    for i in 0..10 {
        let key = format!("user-{i}");
        let body = map(json!({"external_id": key, "name": format!("User {i}")}));
        let r = client
            .upsert_contact(KeyField::ExternalId, &key, None, &body, Role::User)
            .await;
        assert!(matches!(outcome(&r), Outcome::Created | Outcome::Updated));
    }
    for i in 0..5 {
        let email = format!("e{i}@x.io");
        let r = client
            .upsert_contact(
                KeyField::Email,
                &email,
                None,
                &map(json!({"name": "E"})),
                Role::User,
            )
            .await;
        assert!(matches!(outcome(&r), Outcome::Created | Outcome::Updated));
    }
    for i in 0..3 {
        let r = client
            .upsert_company(&map(json!({"company_id": format!("c{i}")})), None)
            .await;
        outcome(&r);
    }
    let contact = client
        .upsert_contact(
            KeyField::ExternalId,
            "user-0",
            None,
            &map(json!({})),
            Role::User,
        )
        .await
        .unwrap()
        .intercom_id
        .unwrap();
    outcome(&client.attach_company(&contact, "c0").await);
    for i in 0..5 {
        let ev = map(
            json!({"event_name": "did-it", "created_at": 1_700_000_000 + i, "user_id": "user-1"}),
        );
        assert_eq!(outcome(&client.send_event(&ev).await), Outcome::Sent);
    }
}

async fn assert_everything_once(emu: &Emulator) {
    let d = dump(emu).await;
    for i in 0..10 {
        assert_eq!(
            live_contacts(&d, "external_id", &format!("user-{i}")).len(),
            1,
            "{d}"
        );
    }
    for i in 0..5 {
        assert_eq!(
            live_contacts(&d, "email", &format!("e{i}@x.io")).len(),
            1,
            "{d}"
        );
    }
    assert_eq!(d["contacts"].as_array().unwrap().len(), 15);
    assert_eq!(d["companies"].as_array().unwrap().len(), 3);
    assert_eq!(d["events"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn random_faults_are_retried_and_every_write_lands_once() {
    let (emu, client) = start(Options {
        fault_rate: 0.3,
        seed: Some(42),
        ..plain()
    })
    .await;
    write_everything(&client).await;
    assert_everything_once(&emu).await;
    let s = stats(&emu).await;
    let faults = status_count(&s, "500") + status_count(&s, "503") + status_count(&s, "dropped");
    assert!(faults > 0, "{s}");
    assert_eq!(client.stats().retries, faults);
    assert_eq!(client.stats().calls, s["requests"].as_u64().unwrap());
}

#[tokio::test]
async fn faults_after_the_write_was_applied_still_leave_one_record() {
    let (emu, client) = start(Options {
        fault_rate: 0.3,
        seed: Some(7),
        fault_after_apply: true,
        ..plain()
    })
    .await;
    write_everything(&client).await;
    assert_everything_once(&emu).await;
}

#[tokio::test]
async fn a_destination_that_stays_down_gives_up_in_bounded_time() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let policy = RetryPolicy {
        max_attempts: 1000,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
        max_elapsed: Duration::from_millis(400),
    };
    let client = client_for(
        &format!("http://127.0.0.1:{port}"),
        "tok_secret_123",
        policy,
    );
    let started = Instant::now();
    let err = client
        .upsert_contact(
            KeyField::ExternalId,
            "u1",
            None,
            &map(json!({})),
            Role::User,
        )
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    match &err {
        RowError::Fatal(Error::GaveUp { reason }) => {
            assert!(reason.contains("no response"), "{reason}");
            assert!(reason.contains("POST /contacts"), "{reason}");
            assert!(!reason.contains("tok_secret_123"));
        }
        other => panic!("{other:?}"),
    }
    assert!(client.stats().retries > 0);

    // Every answer a 5xx: gives up after max_attempts, naming the status.
    let (emu, _) = start(Options {
        fault_rate: 1.0,
        seed: Some(1),
        ..plain()
    })
    .await;
    let policy = RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(2),
    };
    let client = client_for(&emu.base_url(), "tok", policy);
    let started = Instant::now();
    let err = client
        .upsert_company(&map(json!({"company_id": "x"})), None)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    match err {
        RowError::Fatal(Error::GaveUp { reason }) => {
            assert!(reason.contains("after 4 attempts"), "{reason}");
            assert!(
                reason.contains("HTTP 500")
                    || reason.contains("HTTP 503")
                    || reason.contains("no response"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.stats().calls, 4);
}

#[tokio::test]
async fn a_refused_token_stops_the_batch_and_is_never_echoed() {
    let (emu, _) = start(Options {
        tokens: vec!["good".into()],
        ..plain()
    })
    .await;
    let client = client_for(&emu.base_url(), "bad_token_value", fast_policy());
    let err = client
        .upsert_contact(KeyField::Email, "a@x.io", None, &map(json!({})), Role::User)
        .await
        .unwrap_err();
    assert_eq!(err, RowError::Fatal(Error::Unauthorized { hint: None }));
    assert!(!err.to_string().contains("bad_token_value"));
    assert_eq!(client.stats().calls, 1, "401 is not retried");
    assert!(matches!(
        client.check_token().await,
        Err(Error::Unauthorized { hint: None })
    ));
    let good = client_for(&emu.base_url(), "good", fast_policy());
    good.check_token().await.unwrap();
}

#[tokio::test]
async fn every_request_carries_the_version_and_json_headers() {
    // The emulator honours Intercom-Version: 2.16 returns owner_id as a string.
    let (emu, _) = start(plain()).await;
    let client = Client::new(ClientConfig {
        api_version: "2.16".into(),
        retry: fast_policy(),
        ..ClientConfig::new(emu.base_url(), Secret::new("t"))
    })
    .unwrap();
    let r = client
        .call(
            reqwest::Method::POST,
            "/contacts",
            Some(&json!({"email": "v@x.io", "owner_id": "991267459"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["owner_id"], json!("991267459"));
    // A 4xx comes back as a response, not an error.
    let r = client
        .call(reqwest::Method::GET, "/contacts/nope", None)
        .await
        .unwrap();
    assert_eq!((r.status, r.attempts), (404, 1));
    assert_eq!(r.body["errors"][0]["code"], json!("not_found"));
}
