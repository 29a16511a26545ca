use serde_json::json;

use super::*;
use crate::batch::{batch_key, DestinationSpec, LoadSpec};
use crate::config::{Behavior, DeleteMode, KeyField, Object, SecretRef};

const RUN: &str = "20261129T111444Z-606c45ac";

fn message(e: Error) -> String {
    assert!(matches!(e, Error::Payload { .. }), "{e:?}");
    e.to_string()
}

#[test]
fn extract_payloads_are_objects_with_a_run_id() {
    assert_eq!(
        extract_request(&json!({"run_id": RUN})).unwrap(),
        ExtractRequest { run_id: RUN.into() }
    );
    for (payload, says) in [
        (
            json!([RUN]),
            "expected a JSON object {\"run_id\": \"…\"}, found an array",
        ),
        (json!(RUN), "found a string"),
        (json!(null), "found null"),
        (json!(7), "found a number"),
        (json!({}), "missing field `run_id`"),
        (
            json!({"run_id": 7}),
            "invalid type: integer `7`, expected a string",
        ),
        (json!({"run_id": ""}), "is not a run id"),
        (json!({"run_id": "../x"}), "is not a run id"),
        (json!({"run_id": "a".repeat(129)}), "is not a run id"),
    ] {
        let m = message(extract_request(&payload).expect_err(says));
        assert!(m.starts_with("extract payload: "), "{m}");
        assert!(m.contains(says), "{payload}: {m}");
    }
}

#[test]
fn load_payloads_are_objects_with_ids_and_a_key() {
    let key = batch_key(RUN, 3);
    let good = json!({"run_id": RUN, "seq": 3, "key": key});
    let request = load_request(&good).unwrap();
    assert_eq!((request.seq, request.key.as_str()), (3, key.as_str()));
    assert_eq!(request.skip_list, None);
    for (payload, says) in [
        (json!([RUN, 3, key]), "found an array"),
        (json!(true), "found a boolean"),
        (json!({"run_id": RUN, "key": key}), "missing field `seq`"),
        (
            json!({"run_id": RUN, "seq": -1, "key": key}),
            "invalid value",
        ),
        (
            json!({"run_id": RUN, "seq": 4_294_967_296_u64, "key": key}),
            "invalid value",
        ),
        (
            json!({"run_id": RUN, "seq": "3", "key": key}),
            "invalid type",
        ),
        (json!({"run_id": RUN, "seq": 3, "key": ""}), "`key`"),
        (
            json!({"run_id": "r 1", "seq": 3, "key": key}),
            "is not a run id",
        ),
        (
            json!({"run_id": RUN, "seq": 3, "key": key, "skip_list": 1}),
            "invalid type",
        ),
    ] {
        let m = message(load_request(&payload).expect_err(says));
        assert!(m.starts_with("load payload: "), "{m}");
        assert!(m.contains(says), "{payload}: {m}");
    }
}

fn sample_batch(run_id: &str, seq: u32) -> Batch {
    Batch {
        run_id: run_id.into(),
        seq,
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
                    secret: "s".into(),
                    key: "k".into(),
                },
                region: None,
            },
            custom_object: None,
            subscription_types: vec![],
        },
        items: vec![],
    }
}

#[test]
fn batches_are_objects_of_the_invocation_that_names_them() {
    let request =
        load_request(&json!({"run_id": RUN, "seq": 0, "key": batch_key(RUN, 0)})).unwrap();
    let bytes = serde_json::to_vec(&sample_batch(RUN, 0)).unwrap();
    assert_eq!(batch(&bytes, &request).unwrap(), sample_batch(RUN, 0));

    // The same batch as a JSON array (serde would read it by position).
    let as_array = match serde_json::to_value(sample_batch(RUN, 0)).unwrap() {
        Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
        other => other,
    };
    let deep = format!("{{\"items\":[{{\"body\":{{\"a\":{}", "[".repeat(100_000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            serde_json::to_vec(&as_array).unwrap(),
            "expected a JSON object, found an array",
        ),
        (b"".to_vec(), "empty, expected a JSON object"),
        (b"  \n".to_vec(), "empty"),
        (b"\xff\xfe{".to_vec(), "found not JSON"),
        (b"null".to_vec(), "found null"),
        (b"{\"run_id\":".to_vec(), "EOF"),
        (b"{\"run_id\":\"\xff\"}".to_vec(), "invalid unicode"),
        (deep.into_bytes(), "recursion limit"),
        (
            serde_json::to_vec(&sample_batch(RUN, 1)).unwrap(),
            "holds batch 1 of run",
        ),
        (
            serde_json::to_vec(&sample_batch("other", 0)).unwrap(),
            "of run `other`, but the invocation is for batch 0",
        ),
    ];
    for (bytes, says) in cases {
        let m = message(batch(&bytes, &request).expect_err(says));
        assert!(m.starts_with(&format!("batch `{}`: ", request.key)), "{m}");
        assert!(m.contains(says), "{says}: {m}");
    }
}

#[test]
fn run_ended_payloads_are_objects_with_a_run_id_and_a_sync() {
    assert_eq!(
        run_ended(&json!({"run_ended": {"run_id": RUN, "sync": "companies"}})).unwrap(),
        RunEnded {
            run_id: RUN.into(),
            sync: "companies".into()
        }
    );
    for (payload, says) in [
        (
            json!({"run_ended": [RUN, "companies"]}),
            "expected a JSON object",
        ),
        (json!({"run_ended": null}), "found null"),
        (json!({"run_ended": "companies"}), "found a string"),
        (
            json!({"run_ended": {"run_id": RUN}}),
            "missing field `sync`",
        ),
        (
            json!({"run_ended": {"run_id": RUN, "sync": "c", "extra": 1}}),
            "unknown field `extra`",
        ),
        (
            json!({"run_ended": {"run_id": "../x", "sync": "c"}}),
            "is not a run id",
        ),
        (
            json!({"run_ended": {"run_id": RUN, "sync": ""}}),
            "is not a sync name",
        ),
        (
            json!({"run_ended": {"run_id": RUN, "sync": "a\u{0}b"}}),
            "is not a sync name",
        ),
        (
            json!({"run_ended": {"run_id": RUN, "sync": "s".repeat(257)}}),
            "is not a sync name",
        ),
        (
            json!({"run_ended": {"run_id": RUN, "sync": 7}}),
            "invalid type",
        ),
    ] {
        let m = message(run_ended(&payload).expect_err(says));
        assert!(m.starts_with("run_ended payload: "), "{m}");
        assert!(m.contains(says), "{payload}: {m}");
    }
}
