//! Sync state: batch limits, pagination, partitions.

use super::*;

#[tokio::test]
async fn state_round_trip_across_batch_limits() {
    let f = fixture().await;
    let state = f.state();
    // 300 keys: 12 BatchWriteItem calls, 3 BatchGetItem calls; ~4 KB each, so the
    // partition (~1.2 MB) is more than one Query page.
    let long_id = "i".repeat(4000);
    let items: Vec<StateItem> = (0..300)
        .map(|i| StateItem {
            key: format!("user-{i:03}"),
            intercom_id: (i % 7 != 0).then(|| format!("{long_id}{i}")),
            fingerprint: (i % 5 != 0).then_some(Fingerprint(i as u128 * 7919)),
            status: if i % 3 == 0 {
                RecordStatus::Archived
            } else {
                RecordStatus::Active
            },
            run: RunTag::of("run-1"),
            remembered: Remembered {
                tags: Memo::of_tags(&vec![format!("t{}", i % 4); i % 3]),
                companies: Memo::of_companies(&vec![format!("co-{i}"); i % 2]),
            },
            outcome: if i % 5 == 0 {
                Outcome::Rejected
            } else {
                Outcome::Created
            },
        })
        .collect();
    let written = state.put_many("users", &items).await.unwrap();
    assert_eq!(written.items, 300);
    // Another sync's partition must not leak into this one.
    state.put_many("companies", &items[..3]).await.unwrap();

    let mut keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
    keys.push("nobody".into());
    keys.push("user-001".into()); // duplicates are read once
    let found = state.get_many("users", &keys).await.unwrap();
    assert_eq!(found.len(), 300);
    for item in &items {
        assert_eq!(found[&item.key], *item);
    }

    let mut seen: HashMap<String, Prior> = HashMap::new();
    let stats = state
        .scan_sync("users", |k, p| {
            seen.insert(k, p);
        })
        .await
        .unwrap();
    assert_eq!(stats.items, 300);
    assert_eq!(seen.len(), 300);
    for item in &items {
        assert_eq!(seen[&item.key], item.prior());
    }

    // A later write replaces the item (the refused write drops the fingerprint).
    let mut refused = items[1].clone();
    refused.fingerprint = None;
    refused.outcome = Outcome::Rejected;
    refused.run = RunTag::of("run-2");
    state
        .put_many("users", &[items[1].clone(), refused.clone()])
        .await
        .unwrap();
    let again = state
        .get_many("users", &["user-001".to_string()])
        .await
        .unwrap();
    assert_eq!(again["user-001"], refused);

    state.delete_sync("users").await.unwrap();
    let stats = state.scan_sync("users", |_, _| {}).await.unwrap();
    assert_eq!(stats.items, 0);
    let mut left = 0;
    state
        .scan_sync("companies", |_, _| left += 1)
        .await
        .unwrap();
    assert_eq!(left, 3);
}

/// A state item of the earlier layout (hex fingerprint, spelled-out status, run
/// id and outcome) still reads, also through `load`'s BatchGetItem projection.
#[tokio::test]
async fn items_of_the_earlier_layout_read_back() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let f = fixture().await;
    let s = |v: &str| AttributeValue::S(v.to_string());
    f.aws
        .dynamodb
        .put_item()
        .table_name(&f.state_table)
        .item("pk", s("SYNC#users"))
        .item("sk", s("KEY#old-1"))
        .item("iid", s("6650a"))
        .item("fp", s(&Fingerprint(0xabc).to_hex()))
        .item("st", s("active"))
        .item("run", s("run-1"))
        .item("out", s("updated"))
        .send()
        .await
        .unwrap();
    let state = f.state();
    let found = state
        .get_many("users", &["old-1".to_string()])
        .await
        .unwrap();
    assert_eq!(
        found["old-1"],
        StateItem {
            key: "old-1".into(),
            intercom_id: Some("6650a".into()),
            fingerprint: Some(Fingerprint(0xabc)),
            status: RecordStatus::Active,
            run: RunTag::of("run-1"),
            outcome: Outcome::Updated,
            remembered: Remembered::default(),
        }
    );
    let mut seen = Vec::new();
    state
        .scan_sync("users", |k, p| seen.push((k, p)))
        .await
        .unwrap();
    assert_eq!(seen, vec![("old-1".to_string(), found["old-1"].prior())]);
}

/// The size of a state item as DynamoDB bills a Query (the sum of attribute
/// names and values), measured on what moto stores: 64 B plus the sync's name
/// and the key for a user with an Intercom id, no tag and no company. The
/// throughput bench's items (sync `tp_calls_users`, keys such as `calls-10001`)
/// are 89 B, the figure the README's cost estimates use. A tag backflow applied
/// adds 6 B (`tg` and a 4-byte hash), each further tag 4 B; companies the same
/// (`cs`), whatever the length of the names.
#[tokio::test]
async fn a_state_item_is_64_bytes_plus_the_sync_and_the_key() {
    let f = fixture().await;
    let sync = "tp_calls_users";
    let item = StateItem {
        key: "calls-10001".into(),
        // Intercom's ids are 24 hex digits.
        intercom_id: Some("6650a1b2c3d4e5f601234567".into()),
        fingerprint: Some(Fingerprint(u128::MAX)),
        status: RecordStatus::Active,
        run: RunTag::of("20261129T111444Z-606c45ac"),
        outcome: Outcome::Updated,
        remembered: Remembered::default(),
    };
    let size = stored_size(&f, sync, &item).await;
    assert_eq!(size, 64 + sync.len() + item.key.len());
    assert_eq!(size, 89);
    let one_tag = StateItem {
        key: "calls-10002".into(),
        remembered: Remembered {
            tags: Memo::of_tags(&["a rather long tag name: enterprise trial".to_string()]),
            companies: Memo::default(),
        },
        ..item.clone()
    };
    assert_eq!(stored_size(&f, sync, &one_tag).await, 89 + 6);
    let three_tags_two_companies = StateItem {
        key: "calls-10003".into(),
        remembered: Remembered {
            tags: Memo::of_tags(&["vip".to_string(), "beta".to_string(), "eu".to_string()]),
            companies: Memo::of_companies(&["acme".to_string(), "globex-holdings".to_string()]),
        },
        ..item.clone()
    };
    assert_eq!(
        stored_size(&f, sync, &three_tags_two_companies).await,
        89 + (2 + 12) + (2 + 8)
    );
}

/// The bytes of `item` as moto stores it (attribute names plus values).
async fn stored_size(f: &Fixture, sync: &str, item: &StateItem) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    f.state()
        .put_many(sync, std::slice::from_ref(item))
        .await
        .unwrap();
    let stored = f
        .aws
        .dynamodb
        .get_item()
        .table_name(&f.state_table)
        .key("pk", AttributeValue::S(format!("SYNC#{sync}")))
        .key("sk", AttributeValue::S(format!("KEY#{}", item.key)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the item was written");
    stored
        .iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::B(b) => b.as_ref().len(),
                    other => panic!("unexpected attribute {name}: {other:?}"),
                }
        })
        .sum()
}
