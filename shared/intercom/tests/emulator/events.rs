//! Data events: sent once per user, name and time.

use crate::*;

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
