//! Subscriptions and custom object instances against the emulator: what each
//! writer call leaves in Intercom, and the type checks.

use backflow_core::subscriptions::{self, Change};

use crate::*;

fn with_types() -> Options {
    Options {
        subscription_types: vec![
            intercom_emulator::parse_subscription_type("Newsletter").unwrap(),
            intercom_emulator::parse_subscription_type("Beta:opt_in").unwrap(),
        ],
        custom_object_types: vec![intercom_emulator::parse_custom_object_type(
            "Order:amount=float,status=string",
        )
        .unwrap()],
        ..plain()
    }
}

async fn attached(emu: &Emulator, contact: &str) -> Vec<String> {
    let path = format!("/contacts/{contact}/subscriptions");
    let list = raw(emu, reqwest::Method::GET, &path, Value::Null).await;
    list["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    t["default_translation"]["name"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn preferences_attach_and_detach_the_types() {
    let (emu, client) = start(with_types()).await;
    let types = client.subscription_types().await.unwrap();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Newsletter", "Beta"]);
    let resolved = subscriptions::resolve(&["newsletter", "Beta"], &types).unwrap();
    let contact = new_user(&client, "u1").await;
    // Out of the newsletter, into the beta.
    let prefs = map(json!({"newsletter": false, "Beta": true}));
    for change in subscriptions::changes(&prefs, &resolved) {
        client
            .set_subscription(&contact, &change.unwrap().0)
            .await
            .unwrap();
    }
    let mut got = attached(&emu, &contact).await;
    got.sort();
    assert_eq!(got, ["Beta", "Newsletter"]);
    // Back to the defaults; detaching twice is still done (404: not attached).
    for _ in 0..2 {
        for kind in &resolved {
            let change = subscriptions::change(kind, kind.consent_type == "opt_out");
            assert!(matches!(change, Change::Detach(_)));
            client.set_subscription(&contact, &change).await.unwrap();
        }
    }
    assert!(attached(&emu, &contact).await.is_empty());
    // A type id Intercom does not know is the row's rejection.
    let ghost = backflow_core::subscriptions::SubscriptionType {
        name: "Ghost".into(),
        id: "999".into(),
        consent_type: "opt_in".into(),
    };
    match client
        .set_subscription(&contact, &Change::Attach(&ghost))
        .await
    {
        Err(RowError::Rejected(r)) => assert_eq!((r.status, r.code.as_str()), (404, "not_found")),
        other => panic!("expected the row's rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn instances_by_external_id_and_the_type_check() {
    let (emu, client) = start(with_types()).await;
    client.check_custom_object_type("Order").await.unwrap();
    let e = client
        .check_custom_object_type("Invoice")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Intercom has no Custom Object type `Invoice`"),
        "{e}"
    );
    let body = map(json!({"external_id": "o-1", "custom_attributes": {"amount": 9.5}}));
    let first = client
        .upsert_custom_object("Order", &body, None)
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    let again = client
        .upsert_custom_object("Order", &body, first.intercom_id.as_deref())
        .await
        .unwrap();
    assert_eq!(
        again,
        WriteResult {
            outcome: Outcome::Updated,
            ..first.clone()
        }
    );
    let bad = map(json!({"external_id": "o-2", "custom_attributes": {"amount": "lots"}}));
    let code = rejected_code(client.upsert_custom_object("Order", &bad, None).await);
    assert_eq!(code, "parameter_invalid");
    match client.upsert_custom_object("Invoice", &body, None).await {
        Err(RowError::Fatal(Error::NotInWorkspace(m))) => assert!(m.contains("`Invoice`"), "{m}"),
        other => panic!("a missing type stops the batch: {other:?}"),
    }
    let gone = client
        .remove_custom_object("Order", "o-1", None)
        .await
        .unwrap();
    assert_eq!(
        gone,
        WriteResult {
            outcome: Outcome::Deleted,
            ..first
        }
    );
    let missing = client
        .remove_custom_object("Order", "o-1", None)
        .await
        .unwrap();
    assert_eq!(missing.outcome, Outcome::NotFound);
    let instances = dump(&emu).await["custom_object_instances"].clone();
    assert_eq!(instances.as_array().unwrap().len(), 1, "{instances}");
    assert_eq!(instances[0]["deleted"], json!(true), "{instances}");
    assert_eq!(route_count(&stats(&emu).await, "POST /data_attributes"), 0);
}
