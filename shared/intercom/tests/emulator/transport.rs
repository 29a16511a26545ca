//! The transport: retries (on paused time, with the production policy), a
//! destination that stays down, a refused token, the headers of every call.

use crate::*;

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
    let contact = new_user(client, "user-0").await;
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

/// Every retry test runs the production policy (8 attempts, waits from 1 s
/// doubling to 60 s, 5 minutes at most) on paused time.
#[tokio::test(start_paused = true)]
async fn random_faults_are_retried_and_every_write_lands_once() {
    let p = Paused::start(Options {
        fault_rate: 0.3,
        seed: Some(42),
        ..plain()
    })
    .await;
    let client = p.client(RetryPolicy::default());
    write_everything(&client).await;
    assert_everything_once(&p.emu).await;
    let s = stats(&p.emu).await;
    let faults = status_count(&s, "500") + status_count(&s, "503") + status_count(&s, "dropped");
    assert!(faults > 0, "{s}");
    assert_eq!(client.stats().retries, faults);
    assert_eq!(client.stats().calls, s["requests"].as_u64().unwrap());
    // Each retry waited at least the policy's first backoff, on paused time.
    assert!(
        p.elapsed() >= faults as f64,
        "{} s for {faults} retries",
        p.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn faults_after_the_write_was_applied_still_leave_one_record() {
    let p = Paused::start(Options {
        fault_rate: 0.3,
        seed: Some(7),
        fault_after_apply: true,
        ..plain()
    })
    .await;
    write_everything(&p.client(RetryPolicy::default())).await;
    assert_everything_once(&p.emu).await;
}

/// What a call that keeps failing ends with, and after how long (paused time).
async fn give_up(client: &Client) -> (String, Duration) {
    let started = tokio::time::Instant::now();
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
    match err {
        RowError::Fatal(Error::GaveUp { reason }) => (reason, started.elapsed()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_destination_that_stays_down_gives_up_in_bounded_time() {
    // A port nobody listens on: 8 attempts, then the error names the request.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!("http://127.0.0.1:{port}");
    let client = client_for(&down, "tok_secret_123", RetryPolicy::default());
    let (reason, took) = give_up(&client).await;
    assert!(reason.contains("no response"), "{reason}");
    assert!(reason.contains("after 8 attempts"), "{reason}");
    assert!(
        reason.contains(&format!("POST /contacts on 127.0.0.1:{port}: ")),
        "{reason}"
    );
    assert!(!reason.contains("tok_secret_123"));
    assert_eq!(client.stats().calls, 8);
    // Waits of 1, 2, 4, 8, 16, 32 and 60 s, each stretched by 10–20 % jitter.
    assert!((135..=148).contains(&took.as_secs()), "{took:?}");

    // However many attempts are allowed, no retry is scheduled past 5 minutes.
    let patient = RetryPolicy {
        max_attempts: 1000,
        ..RetryPolicy::default()
    };
    let client = client_for(&down, "tok_secret_123", patient);
    let (reason, took) = give_up(&client).await;
    assert!(
        reason.contains("retry budget of 300s exhausted"),
        "{reason}"
    );
    assert!(took <= Duration::from_secs(300), "{took:?}");
    // It stops only when the next wait (at most 60 s + 20 %) would cross it.
    assert!(took >= Duration::from_secs(300 - 72), "{took:?}");

    // Every answer a 5xx: gives up after max_attempts, naming the status.
    let p = Paused::start(Options {
        fault_rate: 1.0,
        seed: Some(1),
        ..plain()
    })
    .await;
    let client = p.client(RetryPolicy::default());
    let (reason, _) = give_up(&client).await;
    assert!(reason.contains("after 8 attempts"), "{reason}");
    assert!(
        reason.contains("HTTP 500")
            || reason.contains("HTTP 503")
            || reason.contains("no response"),
        "{reason}"
    );
    assert_eq!(client.stats().calls, 8);
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

#[tokio::test(start_paused = true)]
async fn giving_up_names_the_host_and_intercoms_last_answer() {
    let p = Paused::start(Options {
        fault_rate: 1.0,
        ..plain()
    })
    .await;
    // Every fault a 503, so the last answer is known.
    let set = reqwest::Client::new()
        .post(format!("{}/_emulator/faults", p.emu.base_url()))
        .json(&json!({"fault_kind": "service_unavailable"}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let (reason, _) = give_up(&p.client(RetryPolicy::default())).await;
    let host = p.emu.base_url().trim_start_matches("http://").to_string();
    assert!(
        reason.starts_with(&format!(
            "POST /contacts on {host}: HTTP 503 after 8 attempts"
        )),
        "{reason}"
    );
    assert!(
        reason.ends_with("; last answer: 503 service_unavailable"),
        "{reason}"
    );
}
