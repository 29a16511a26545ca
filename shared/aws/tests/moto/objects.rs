//! S3 batches and artifacts; Lambda invokes.

use super::*;

#[tokio::test]
async fn batches_round_trip_as_json() {
    let f = fixture().await;
    let batches = Batches::new(f.aws.s3.clone(), &f.bucket);
    let mut body = serde_json::Map::new();
    body.insert("email".into(), "a@example.com".into());
    let batch = Batch {
        run_id: "r1".into(),
        seq: 3,
        spec: LoadSpec {
            sync: "users".into(),
            object: Object::User,
            behavior: Behavior::UpdateOrCreate,
            key_field: KeyField::ExternalId,
            delete_mode: DeleteMode::Archive,
            create_attributes: true,
            tags_mode: Default::default(),
            attributes: vec![],
            destination: DestinationSpec {
                base_url: "http://127.0.0.1:4010".into(),
                api_version: "2.14".into(),
                access_token: SecretRef {
                    secret: "backflow/intercom".into(),
                    key: "access_token".into(),
                },
                region: None,
            },
            custom_object: None,
            subscription_types: vec![],
        },
        items: vec![BatchItem {
            key: "u1".into(),
            action: Action::Create,
            fingerprint: Some(Fingerprint(42)),
            intercom_id: None,
            body,
            lists: Default::default(),
            row: Some(7),
        }],
    };
    let key = batches.put(&batch).await.unwrap();
    assert_eq!(key, "runs/r1/batch-000003.json");
    let request = |seq: u32, key: &str| LoadRequest {
        run_id: "r1".into(),
        seq,
        key: key.into(),
        skip_list: None,
    };
    assert_eq!(batches.get(&request(3, &key)).await.unwrap(), batch);
    let head = f
        .aws
        .s3
        .head_object()
        .bucket(&f.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));

    let err = batches
        .get(&request(99, "runs/r1/batch-000099.json"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::S3NotFound { .. }), "{err:?}");

    // What S3 holds is read as a batch only when it is a JSON object holding
    // the batch the invocation names.
    let err = batches.get(&request(4, &key)).await.unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { .. }) && err.to_string().contains("holds batch 3"),
        "{err}"
    );
    batches
        .put_json("runs/r1/batch-000005.json", &serde_json::json!(["r1", 5]))
        .await
        .unwrap();
    let err = batches
        .get(&request(5, "runs/r1/batch-000005.json"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a JSON object, found an array"),
        "{err}"
    );

    let skip = serde_json::json!({"keys": ["a", "b"]});
    batches.put_json("runs/r1/skip.json", &skip).await.unwrap();
    let back: Option<serde_json::Value> = batches.get_json("runs/r1/skip.json").await.unwrap();
    assert_eq!(back, Some(skip));
    let none: Option<serde_json::Value> = batches.get_json("runs/r2/skip.json").await.unwrap();
    assert_eq!(none, None);
}

// ---------------------------------------------------------------- invoke

#[tokio::test]
async fn invoke_errors_name_the_function_and_detach_returns_at_once() {
    let f = fixture().await;
    let payload = serde_json::json!({"run_id": "r1"});
    let err = Invoker::new(f.aws.lambda.clone(), false)
        .invoke_async("backflow-missing", &payload)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invoke { function, .. } if function == "backflow-missing"),
        "{err:?}"
    );
    Invoker::new(f.aws.lambda.clone(), true)
        .invoke_async("backflow-missing", &payload)
        .await
        .unwrap();
}
