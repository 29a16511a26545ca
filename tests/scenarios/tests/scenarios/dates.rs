//! Dates kept as text (SQLite-style columns) become date attributes.

use anyhow::Result;
use backflow_scenarios::warehouse::{i, s, NULL};
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario};
use serde_json::json;

use super::{by_key, matching, only, user_spec};

// Dates kept as text become date attributes

/// 2026-01-01T12:00:00Z and midnight of that day (checked with Python's datetime).
const JAN_01_2026_NOON: i64 = 1_767_268_800;
const JAN_01_2026: i64 = 1_767_225_600;

/// A model that keeps its dates as text (as SQLite models do) or epoch numbers,
/// mapped to custom attributes that do not exist yet: the `…_at`/`…_date`
/// columns whose values are timestamps are created as `date` attributes and
/// land as Unix seconds; one whose first value is no timestamp stays a string;
/// the long form `{ column, type: date }` says it outright; a value that is no
/// timestamp in a date column makes its row invalid, naming the column.
pub(super) async fn text_dates_become_date_attributes(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    let cols = [
        ("id", Col::Text),
        ("trial_ends_at", Col::Text),
        ("renewal_date", Col::Text),
        ("seen_at", Col::BigInt),
        ("note_at", Col::Text),
        ("trial_text", Col::Text),
    ];
    let table = sc
        .table(
            "users",
            &cols,
            &[
                vec![
                    s("u-1"),
                    s("2026-01-01 12:00:00"),
                    s("2026-01-01"),
                    i(JAN_01_2026_NOON * 1000),
                    s("soon"),
                    s("2026-01-01T12:00:00Z"),
                ],
                vec![
                    s("u-2"),
                    s("2026-01-01T13:00:00+01:00"),
                    NULL,
                    i(JAN_01_2026_NOON),
                    s("2026-01-01"),
                    s("2026-01-01"),
                ],
                vec![
                    s("u-3"),
                    s("never"),
                    s("2026-01-01"),
                    NULL,
                    NULL,
                    s("never"),
                ],
            ],
        )
        .await?;
    let sync = sc.add_sync(
        "users",
        &format!(
            "select id, trial_ends_at, renewal_date, seen_at, note_at, trial_text from {table}"
        ),
        user_spec(
            &dest,
            "id",
            "external_id",
            json!({
                "custom_attributes.trial_ends_at": "trial_ends_at",
                "custom_attributes.renewal_date": "renewal_date",
                "custom_attributes.seen_at": "seen_at",
                "custom_attributes.note_at": "note_at",
                "custom_attributes.trial": {"column": "trial_text", "type": "date"},
            }),
        ),
    )?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "one row has no date\n{r}");
    check_eq!(r.count("created"), 2, "counts.created\n{r}");
    check_eq!(r.count("invalid"), 1, "counts.invalid\n{r}");

    let attrs = ic.attributes().await?;
    for (name, ty) in [
        ("trial_ends_at", "date"),
        ("renewal_date", "date"),
        ("seen_at", "date"),
        ("note_at", "string"),
        ("trial", "date"),
    ] {
        let a = only(&attrs, "name", name)?;
        check_eq!(
            a["data_type"],
            json!(ty),
            "data type of new attribute {name}"
        );
    }
    let all = ic.contacts().await?;
    let first = &only(&all, "external_id", "u-1")?["custom_attributes"];
    check_eq!(
        first["trial_ends_at"],
        json!(JAN_01_2026_NOON),
        "text '2026-01-01 12:00:00' as Unix seconds"
    );
    check_eq!(first["renewal_date"], json!(JAN_01_2026), "text date");
    check_eq!(
        first["seen_at"],
        json!(JAN_01_2026_NOON),
        "epoch milliseconds"
    );
    check_eq!(first["note_at"], json!("soon"), "not a date: stays text");
    check_eq!(first["trial"], json!(JAN_01_2026_NOON), "the long form");
    let second = &only(&all, "external_id", "u-2")?["custom_attributes"];
    check_eq!(
        second["trial_ends_at"],
        json!(JAN_01_2026_NOON),
        "offset text"
    );
    check_eq!(second["seen_at"], json!(JAN_01_2026_NOON), "epoch seconds");
    check_eq!(
        second["note_at"],
        json!("2026-01-01"),
        "a string attribute stays one"
    );
    check_eq!(second["trial"], json!(JAN_01_2026), "the long form, a date");
    check!(
        matching(&all, "external_id", "u-3").is_empty(),
        "the row without a date is not sent: {all:?}"
    );

    let invalid = sc.api.rows(r.id(), "invalid").await?;
    let keyed = by_key(&invalid);
    let bad = keyed.get("u-3").cloned().unwrap_or_default();
    check_eq!(bad.len(), 1, "u-3 reported invalid ({invalid:?})");
    let reason = bad[0]["reason"].as_str().unwrap_or_default();
    for column in [
        "(column `trial_ends_at`): 'never' is not a timestamp",
        "(column `trial_text`): 'never' is not a timestamp",
    ] {
        check!(
            reason.contains(column),
            "the reason names {column}: {reason}"
        );
    }
    Ok(())
}
