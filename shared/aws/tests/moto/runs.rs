//! Run records, the sync lock, batch idempotency, row reports, schedule claims.

use super::*;

#[tokio::test]
async fn start_run_takes_the_sync_lock() {
    let f = fixture().await;
    let runs = f.runs();
    runs.start_run(&record("r1", "users")).await.unwrap();
    assert_eq!(
        runs.lock_holder("users").await.unwrap().as_deref(),
        Some("r1")
    );
    assert_eq!(
        runs.last_run_id("users").await.unwrap().as_deref(),
        Some("r1")
    );
    let stored = runs.get_run("r1").await.unwrap().unwrap();
    assert!(stored.updated_at.is_some_and(|t| t > 1_700_000_000));
    assert_eq!(
        stored,
        RunRecord {
            updated_at: stored.updated_at,
            ..record("r1", "users")
        }
    );

    match runs.start_run(&record("r2", "users")).await {
        Err(Error::AlreadyRunning { run_id }) => assert_eq!(run_id, "r1"),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    // All or nothing: the refused run does not exist and is not the last run.
    assert_eq!(runs.get_run("r2").await.unwrap(), None);
    assert_eq!(
        runs.last_run_id("users").await.unwrap().as_deref(),
        Some("r1")
    );

    // Other syncs are independent; a run id is used once.
    runs.start_run(&record("r3", "companies")).await.unwrap();
    let err = runs.start_run(&record("r3", "events")).await.unwrap_err();
    assert!(matches!(err, Error::Run { .. }), "{err:?}");
    assert_eq!(runs.lock_holder("events").await.unwrap(), None);

    // Only the holder releases the lock.
    runs.release_lock("users", "r2").await.unwrap();
    assert_eq!(
        runs.lock_holder("users").await.unwrap().as_deref(),
        Some("r1")
    );

    assert!(runs
        .finish("r1", "users", RunStatus::Failed, Some("stalled"))
        .await
        .unwrap());
    assert_eq!(runs.lock_holder("users").await.unwrap(), None);
    assert!(!runs
        .finish("r1", "users", RunStatus::Succeeded, None)
        .await
        .unwrap());
    let r1 = runs.get_run("r1").await.unwrap().unwrap();
    assert_eq!(r1.status, RunStatus::Failed);
    assert_eq!(r1.error.as_deref(), Some("stalled"));
    assert!(r1.finished_at.is_some());

    runs.start_run(&record("r2", "users")).await.unwrap();
    assert_eq!(
        runs.last_run_id("users").await.unwrap().as_deref(),
        Some("r2")
    );
    assert_eq!(runs.get_run("nope").await.unwrap(), None);
}

#[tokio::test]
async fn a_run_from_plan_to_finish_counts_each_batch_once() {
    let f = fixture().await;
    let runs = f.runs();
    runs.start_run(&record("r1", "users")).await.unwrap();

    // Transitions are conditional: a duplicate delivery gets false.
    assert!(runs
        .transition("r1", &[RunStatus::Queued], RunStatus::Extracting)
        .await
        .unwrap());
    assert!(!runs
        .transition("r1", &[RunStatus::Queued], RunStatus::Extracting)
        .await
        .unwrap());
    assert!(!runs
        .transition("missing", &[RunStatus::Queued], RunStatus::Extracting)
        .await
        .unwrap());

    let plan = PlanCounts {
        create: 3,
        update: 1,
        unchanged: 5,
        invalid: 1,
        ..PlanCounts::default()
    };
    let known = Counts {
        unchanged: 5,
        invalid: 1,
        ..Counts::default()
    };
    let samples = vec![Sample {
        key: Some("u1".into()),
        kind: "create".into(),
        before: None,
        after: Some(serde_json::json!({"email": "a@example.com"})),
        reason: None,
    }];
    let warnings = vec!["careful".to_string()];
    let set = |next| runs.set_plan("r1", &plan, &known, 2, (0, 0), &samples, &warnings, next);
    assert!(set(RunStatus::Loading).await.unwrap());
    assert!(
        !set(RunStatus::Loading).await.unwrap(),
        "not extracting any more"
    );

    let counts = Counts {
        created: 3,
        rejected: 1,
        ..Counts::default()
    };
    let usage = Usage {
        lambda_gb_seconds: 0.25,
        lambda_invocations: 1,
        dynamodb_read_units: 1.5,
        dynamodb_write_units: 4.0,
        s3_puts: 0,
        s3_gets: 1,
        intercom_calls: 4,
    };
    assert!(runs
        .record_batch("r1", 0, &counts, 4, 1, &usage, false)
        .await
        .unwrap());
    assert!(
        !runs
            .record_batch("r1", 0, &counts, 4, 1, &usage, false)
            .await
            .unwrap(),
        "a retried load adds nothing"
    );
    assert!(runs
        .record_batch("r1", 1, &Counts::default(), 0, 0, &Usage::default(), true)
        .await
        .unwrap());
    let err = runs
        .record_batch("missing", 0, &counts, 1, 0, &usage, false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Run { .. }), "{err:?}");

    runs.heartbeat("r1").await.unwrap();
    assert!(runs.heartbeat("missing").await.is_err());
    runs.add_usage(
        "r1",
        &Usage {
            lambda_gb_seconds: 0.5,
            lambda_invocations: 1,
            ..Usage::default()
        },
    )
    .await
    .unwrap();

    let r = runs.get_run("r1").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Loading);
    assert_eq!(
        r.counts,
        Counts {
            created: 3,
            rejected: 1,
            unchanged: 5,
            invalid: 1,
            ..Counts::default()
        }
    );
    assert_eq!((r.api_calls, r.retries), (4, 1));
    assert_eq!(
        r.batches,
        BatchCounts {
            total: 2,
            done: 1,
            failed: 1
        }
    );
    assert_eq!(r.plan, Some(plan));
    assert_eq!(r.samples, samples);
    assert_eq!(r.warnings, warnings);
    assert_eq!(r.usage.lambda_gb_seconds, 0.75);
    assert_eq!(r.usage.lambda_invocations, 2);
    assert_eq!(r.usage.dynamodb_read_units, 1.5);
    assert_eq!(r.usage.s3_gets, 1);
    assert_eq!(r.usage.intercom_calls, 4);

    assert!(runs
        .finish("r1", "users", RunStatus::Partial, None)
        .await
        .unwrap());
    assert!(!runs
        .finish("r1", "users", RunStatus::Failed, Some("late"))
        .await
        .unwrap());
    let r = runs.get_run("r1").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Partial);
    assert_eq!(r.error, None);
    assert_eq!(runs.lock_holder("users").await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_batches_all_count() {
    let f = fixture().await;
    let runs = f.runs();
    runs.start_run(&record("r1", "users")).await.unwrap();
    let one = Counts {
        updated: 1,
        ..Counts::default()
    };
    let results = futures::future::join_all((0..12).map(|seq| {
        let runs = runs.clone();
        async move {
            runs.record_batch("r1", seq, &one, 1, 0, &Usage::default(), false)
                .await
        }
    }))
    .await;
    for r in results {
        assert!(r.unwrap());
    }
    let r = runs.get_run("r1").await.unwrap().unwrap();
    assert_eq!(r.counts.updated, 12);
    assert_eq!(r.batches.done, 12);
}

#[tokio::test]
async fn a_finished_plan_releases_the_lock() {
    let f = fixture().await;
    let runs = f.runs();
    let mut dry = record("dry", "users");
    dry.dry_run = true;
    runs.start_run(&dry).await.unwrap();
    assert!(runs
        .transition("dry", &[RunStatus::Queued], RunStatus::Extracting)
        .await
        .unwrap());
    let plan = PlanCounts {
        create: 2,
        ..PlanCounts::default()
    };
    assert!(runs
        .set_plan(
            "dry",
            &plan,
            &Counts::default(),
            0,
            (3, 1),
            &[],
            &[],
            RunStatus::Succeeded
        )
        .await
        .unwrap());
    let r = runs.get_run("dry").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    assert!(r.finished_at.is_some());
    assert_eq!(r.counts, Counts::default());
    // A dry run's reads of its samples' records are its calls.
    assert_eq!((r.api_calls, r.retries), (3, 1));
    assert_eq!(runs.lock_holder("users").await.unwrap(), None);
}

#[tokio::test]
async fn row_reports_are_listed_by_outcome_without_duplicates() {
    let f = fixture().await;
    let runs = f.runs();
    let batch0 = vec![
        row("a", Outcome::Rejected),
        row("b", Outcome::NotFound),
        row("c", Outcome::Rejected),
    ];
    runs.put_rows("r1", 0, &batch0).await.unwrap();
    runs.put_rows("r1", 0, &batch0).await.unwrap(); // a retried load
    let invalid: Vec<RowReport> = (0..60)
        .map(|i| row(&format!("x{i:02}"), Outcome::Invalid))
        .collect();
    runs.put_rows("r1", backflow_aws::runs::EXTRACT_ROWS_SEQ, &invalid[..40])
        .await
        .unwrap();
    runs.put_rows_from(
        "r1",
        backflow_aws::runs::EXTRACT_ROWS_SEQ,
        40,
        &invalid[40..],
    )
    .await
    .unwrap();
    runs.put_rows("other", 0, &[row("z", Outcome::Rejected)])
        .await
        .unwrap();

    assert_eq!(runs.list_rows("r1", None, 1000).await.unwrap().len(), 63);
    let rejected = runs
        .list_rows("r1", Some(Outcome::Rejected), 100)
        .await
        .unwrap();
    assert_eq!(rejected, vec![batch0[0].clone(), batch0[2].clone()]);
    let not_found = runs
        .list_rows("r1", Some(Outcome::NotFound), 100)
        .await
        .unwrap();
    assert_eq!(not_found, vec![batch0[1].clone()]);
    assert_eq!(
        runs.list_rows("r1", Some(Outcome::Invalid), 1000)
            .await
            .unwrap(),
        invalid
    );
    assert_eq!(
        runs.list_rows("r1", Some(Outcome::Invalid), 7)
            .await
            .unwrap(),
        invalid[..7].to_vec()
    );
    assert!(runs
        .list_rows("r1", Some(Outcome::Created), 10)
        .await
        .unwrap()
        .is_empty());
}

/// A page of rows is read one item past its end, over several Query calls when
/// it is larger than one call reads (1,000 items): the cursor is there exactly
/// when rows follow, a last page that is exactly full says it is the last (no
/// empty page after it), and the next page starts right after the cursor.
#[tokio::test]
async fn row_pages_end_exactly_across_query_calls() {
    let f = fixture().await;
    let runs = f.runs();
    let rows: Vec<RowReport> = (0..1200)
        .map(|i| row(&format!("k{i:04}"), Outcome::Invalid))
        .collect();
    runs.put_rows("r1", 0, &rows).await.unwrap();
    let invalid = Some(Outcome::Invalid);

    let (first, cursor) = runs.rows_page("r1", invalid, 1100, None).await.unwrap();
    assert_eq!(first, rows[..1100].to_vec());
    let cursor = cursor.expect("100 rows follow: a cursor");
    assert_eq!((cursor.seq, cursor.index), (0, 1099), "the page's last row");
    let (second, end) = runs
        .rows_page("r1", invalid, 100, Some(&cursor))
        .await
        .unwrap();
    assert_eq!(second, rows[1100..].to_vec());
    assert_eq!(end, None, "an exactly full last page is the last");

    let (all, end) = runs.rows_page("r1", invalid, 1200, None).await.unwrap();
    assert_eq!((all.len(), end), (1200, None), "every row in one page");
    let (_, cursor) = runs.rows_page("r1", invalid, 1199, None).await.unwrap();
    assert!(cursor.is_some(), "one row past 1,199 follows");
}

#[tokio::test]
async fn schedules_are_claimed_once_per_minute() {
    let f = fixture().await;
    let runs = f.runs();
    assert!(runs
        .claim_schedule("users", "2026-08-22T10:30:00Z")
        .await
        .unwrap());
    assert!(!runs
        .claim_schedule("users", "2026-08-22T10:30:00Z")
        .await
        .unwrap());
    assert!(runs
        .claim_schedule("users", "2026-08-22T11:00:00Z")
        .await
        .unwrap());
    assert!(runs
        .claim_schedule("companies", "2026-08-22T10:30:00Z")
        .await
        .unwrap());
}

#[tokio::test]
async fn a_batch_delivery_is_claimed_once() {
    let f = fixture().await;
    let runs = f.runs();
    assert!(
        runs.claim_delivery("run-1", 0).await.unwrap(),
        "first delivery"
    );
    assert!(
        !runs.claim_delivery("run-1", 0).await.unwrap(),
        "a second delivery of batch 0 must re-read its state"
    );
    assert!(
        runs.claim_delivery("run-1", 1).await.unwrap(),
        "another batch"
    );
    assert!(
        runs.claim_delivery("run-2", 0).await.unwrap(),
        "another run"
    );
}

#[tokio::test]
async fn after_claims_and_chain_marks() {
    let f = fixture().await;
    let runs = f.runs();
    // Nothing known: never started, never ended well.
    assert_eq!(
        runs.chain_marks("users").await.unwrap(),
        backflow_aws::runs::ChainMarks::default()
    );
    // A start records when (a dry run does not: it writes nothing).
    let mut dry = record("d1", "users");
    dry.dry_run = true;
    runs.start_run(&dry).await.unwrap();
    assert_eq!(runs.chain_marks("users").await.unwrap().started_ms, None);
    runs.finish("d1", "users", RunStatus::Succeeded, None)
        .await
        .unwrap();
    runs.start_run(&record("r1", "users")).await.unwrap();
    let started = runs.chain_marks("users").await.unwrap().started_ms;
    assert!(
        started.is_some_and(|ms| ms > 1_700_000_000_000),
        "{started:?}"
    );

    // A good ending is kept; the same run again does not move it; an older
    // time does not replace a newer one.
    runs.record_ended_ok("companies", "c1", 2_000)
        .await
        .unwrap();
    runs.record_ended_ok("companies", "c1", 3_000)
        .await
        .unwrap();
    runs.record_ended_ok("companies", "c0", 1_000)
        .await
        .unwrap();
    let ended = runs.chain_marks("companies").await.unwrap().ended_ok;
    assert_eq!(
        ended,
        Some(backflow_core::chain::Ended {
            run_id: "c1".into(),
            at_ms: 2_000
        })
    );
    runs.record_ended_ok("companies", "c2", 4_000)
        .await
        .unwrap();
    let ended = runs.chain_marks("companies").await.unwrap().ended_ok;
    assert_eq!(ended.map(|e| e.run_id).as_deref(), Some("c2"));

    // The start after a set of endings is claimed once; given back, once more.
    assert!(runs.claim_after("users", "AFTER#c2").await.unwrap());
    assert!(!runs.claim_after("users", "AFTER#c2").await.unwrap());
    assert!(runs.claim_after("users", "AFTER#c3").await.unwrap());
    runs.release_after("users", "AFTER#c2").await.unwrap();
    assert!(runs.claim_after("users", "AFTER#c2").await.unwrap());

    // A run's alert is claimed once; given back when SNS refused it.
    assert!(runs.claim_alert("r1").await.unwrap());
    assert!(!runs.claim_alert("r1").await.unwrap());
    runs.release_alert("r1").await.unwrap();
    assert!(runs.claim_alert("r1").await.unwrap());
    assert!(!runs.claim_alert("no-such-run").await.unwrap());
    // The mark does not disturb the record.
    assert_eq!(runs.get_run("r1").await.unwrap().unwrap().run_id, "r1");
}
