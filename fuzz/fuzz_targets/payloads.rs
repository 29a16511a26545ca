//! Fuzz target: what the functions receive from each other
//! (`backflow_core::payload`): the `extract` and `load` invocation payloads and
//! the S3 batch `load` reads.
//!
//! Input: the bytes of one JSON document, read as all three. The batch is read
//! for the invocation the document itself names (its `run_id` and `seq` when it
//! has them), so a well-formed batch seed reaches the typed decoding.
//!
//! Must never panic. Anything that is not a JSON object is refused by all
//! three (serde would read a struct from an array by position). A payload that
//! parses carries a run id that is one, and reads back the same once written; a
//! batch that parses belongs to the invocation that names it and reads back
//! with the same items once written.
#![no_main]

use backflow_core::batch::LoadRequest;
use backflow_core::payload;
use backflow_core::run::is_run_id;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let document = serde_json::from_slice::<Value>(data).ok();
    let is_object = document.as_ref().is_some_and(Value::is_object);
    let opens_object = data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');

    if let Some(value) = &document {
        match payload::extract_request(value) {
            Ok(request) => {
                assert!(is_object);
                assert!(is_run_id(&request.run_id), "{:?}", request.run_id);
                let again = serde_json::to_value(&request).expect("a request serializes");
                assert_eq!(payload::extract_request(&again).as_ref(), Ok(&request));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        match payload::load_request(value) {
            Ok(request) => {
                assert!(is_object);
                assert!(is_run_id(&request.run_id), "{:?}", request.run_id);
                assert!(!request.key.is_empty());
                let again = serde_json::to_value(&request).expect("a request serializes");
                assert_eq!(payload::load_request(&again).as_ref(), Ok(&request));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }

    let field = |name: &str| document.as_ref().and_then(|d| d.get(name));
    let request = LoadRequest {
        run_id: field("run_id")
            .and_then(Value::as_str)
            .unwrap_or("r")
            .to_string(),
        seq: field("seq")
            .and_then(Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0),
        key: "runs/r/batch-000000.json".into(),
        skip_list: None,
    };
    match payload::batch(data, &request) {
        Ok(batch) => {
            assert!(opens_object, "a batch was read from something not an object");
            assert_eq!((batch.run_id.as_str(), batch.seq), (request.run_id.as_str(), request.seq));
            let bytes = serde_json::to_vec(&batch).expect("a batch serializes");
            let again = payload::batch(&bytes, &request).expect("a written batch reads back");
            let keys = |b: &backflow_core::batch::Batch| {
                b.items.iter().map(|i| (i.key.clone(), i.action)).collect::<Vec<_>>()
            };
            assert_eq!(keys(&again), keys(&batch));
            assert_eq!(again.spec, batch.spec);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
