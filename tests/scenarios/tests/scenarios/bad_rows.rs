//! Bad input rows: each refused on its own, with a reason, while the
//! others go through.

use std::collections::BTreeSet;

use anyhow::Result;
use backflow_scenarios::warehouse::{date, i, s, ts, NULL};
use backflow_scenarios::{check, check_eq, Col, Profile, RunRequest, Scenario, Val};
use serde_json::json;

use super::{by_key, lower, matching, only, user_spec, JAN_15_2024, MAR_04_2024_050607};

// 9. bad input rows (isolated: an over-long metadata mapping must not be able
//    to break other scenarios' config)

pub(super) async fn bad_input_rows(sc: Scenario) -> Result<()> {
    let (dest, ic) = sc.emulator(Profile::Plain).await?;
    ic.create_attribute("seats", "contact", "integer").await?;
    let cols = [
        ("id", Col::Text),
        ("email", Col::Text),
        ("full_name", Col::Text),
        ("seats", Col::Text),
        ("signup", Col::Text),
    ];
    let good_ts = "2024-01-15T00:00:00Z";
    let table = sc
        .table(
            "users",
            &cols,
            &[
                vec![
                    s("g-1"),
                    s("g1@example.com"),
                    s("Good 1"),
                    s("5"),
                    s(good_ts),
                ],
                vec![
                    s("g-2"),
                    s("g2@example.com"),
                    s("Good 2"),
                    s("7"),
                    s(good_ts),
                ],
                vec![s("g-3"), s("g3@example.com"), s("Good 3"), NULL, s(good_ts)],
                vec![
                    NULL,
                    s("nokey@example.com"),
                    s("No Key"),
                    s("1"),
                    s(good_ts),
                ],
                vec![
                    s("dup"),
                    s("dup1@example.com"),
                    s("Dup 1"),
                    s("1"),
                    s(good_ts),
                ],
                vec![
                    s("dup"),
                    s("dup2@example.com"),
                    s("Dup 2"),
                    s("1"),
                    s(good_ts),
                ],
                vec![
                    s("be"),
                    s("not-an-email"),
                    s("Bad Email"),
                    s("1"),
                    s(good_ts),
                ],
                vec![
                    s("uc"),
                    s("uc@example.com"),
                    s("Uncoercible"),
                    s("lots"),
                    s(good_ts),
                ],
                vec![
                    s("gt"),
                    s("gt@example.com"),
                    s("Garbage Time"),
                    s("1"),
                    s("not a date"),
                ],
            ],
        )
        .await?;
    let sync = sc.add_sync(
        "users",
        &format!("select id, email, full_name, seats, signup from {table}"),
        user_spec(&dest, "id", "external_id", json!({
            "email": "email", "name": "full_name", "custom_attributes.seats": "seats", "signed_up_at": "signup",
        })),
    )?;
    let r = sc.api.run_to_end(&sync, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "bad rows make the run partial\n{r}");
    check_eq!(r.count("created"), 3, "good rows land\n{r}");
    check_eq!(r.count("invalid"), 6, "counts.invalid\n{r}");
    let invalid = sc.api.rows(r.id(), "invalid").await?;
    let keyed = by_key(&invalid);
    let expect: [(&str, usize, &[&str]); 5] = [
        ("null", 1, &["null", "missing", "empty", "key"]),
        ("dup", 2, &["duplicate", "twice", "more than once"]),
        ("be", 1, &["email"]),
        ("uc", 1, &["seats", "integer"]),
        ("gt", 1, &["signed_up_at", "timestamp", "date", "time"]),
    ];
    for (key, count, hints) in expect {
        let rows = keyed.get(key).cloned().unwrap_or_default();
        check_eq!(
            rows.len(),
            count,
            "invalid rows reported for key {key} (all invalid rows: {invalid:?})"
        );
        for row in rows {
            check_eq!(row["outcome"], json!("invalid"), "outcome of {row}");
            let reason = row["reason"].as_str().unwrap_or("").to_lowercase();
            check!(
                hints.iter().any(|h| reason.contains(h)),
                "the reason for key {key} says why (one of {hints:?}): {row}"
            );
        }
    }
    let all = ic.contacts().await?;
    let ext: BTreeSet<&str> = all
        .iter()
        .filter_map(|c| c["external_id"].as_str())
        .collect();
    check_eq!(
        ext,
        BTreeSet::from(["g-1", "g-2", "g-3"]),
        "only the good rows are in Intercom"
    );
    check_eq!(
        only(&all, "external_id", "g-1")?["custom_attributes"]["seats"],
        json!(5),
        "text '5' coerced to the integer attribute"
    );

    // Events with more than 10 metadata keys.
    let mut ecols: Vec<(String, Col)> = vec![
        ("event_id".into(), Col::Text),
        ("user_id".into(), Col::Text),
        // Not `at`: a keyword of DuckDB, under fakesnow.
        ("happened_at".into(), Col::Timestamp),
    ];
    for k in 1..=11 {
        ecols.push((format!("k{k}"), Col::Text));
    }
    let ecols_ref: Vec<(&str, Col)> = ecols.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let mut ok_row = vec![s("ev-ok"), s("g-1"), ts("2024-03-04 05:06:07")];
    let mut bad_row = vec![s("ev-bad"), s("g-2"), ts("2024-03-04 05:06:07")];
    for k in 1..=11 {
        ok_row.push(if k == 11 { NULL } else { s(format!("v{k}")) });
        bad_row.push(s(format!("v{k}")));
    }
    let etable = sc.table("events", &ecols_ref, &[ok_row, bad_row]).await?;
    let mut fields = serde_json::Map::new();
    fields.insert("user_id".into(), json!("user_id"));
    fields.insert("created_at".into(), json!("happened_at"));
    for k in 1..=11 {
        fields.insert(format!("metadata.k{k}"), json!(format!("k{k}")));
    }
    let cols_sql: Vec<&str> = ecols_ref.iter().map(|(n, _)| *n).collect();
    let esync = sc.add_sync(
        "events",
        &format!("select {} from {etable}", cols_sql.join(", ")),
        json!({
            "destination": dest, "object": "event", "behavior": "send",
            "key": {"column": "event_id", "field": "event_id"}, "event_name": "did-thing",
            "fields": fields,
        }),
    )?;
    let r = sc.api.run_to_end(&esync, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "an event with 11 metadata keys\n{r}");
    check_eq!(r.count("sent"), 1, "the 10-key event is sent\n{r}");
    check_eq!(r.count("invalid"), 1, "the 11-key event is invalid\n{r}");
    let invalid = sc.api.rows(r.id(), "invalid").await?;
    let keyed = by_key(&invalid);
    let bad = keyed.get("ev-bad").cloned().unwrap_or_default();
    check_eq!(bad.len(), 1, "ev-bad reported invalid ({invalid:?})");
    check!(
        lower(&bad[0]["reason"]).contains("metadata"),
        "the reason mentions metadata: {}",
        bad[0]
    );
    let events = ic.events().await?;
    check_eq!(events.len(), 1, "one event in Intercom: {events:?}");
    check_eq!(
        events[0]["metadata"].as_object().map(|m| m.len()),
        Some(10),
        "10 metadata keys kept"
    );

    // Timestamps in every format the contract lists (date, timestamp,
    // timestamptz, ISO-8601 text, epoch seconds, epoch milliseconds) go to
    // Intercom as Unix seconds; garbage is invalid, naming the field.
    for name in ["tn_at", "iso_at", "es_at", "ems_at"] {
        ic.create_attribute(name, "contact", "date").await?;
    }
    let tcols = [
        ("id", Col::Text),
        ("d", Col::Date),
        ("t", Col::Timestamp),
        ("tn", Col::TimestampNoTz),
        ("iso", Col::Text),
        ("es", Col::BigInt),
        ("ems", Col::BigInt),
    ];
    let at = "2024-03-04 05:06:07";
    let time_row = |id: &str, iso: &str| {
        vec![
            s(id),
            date("2024-01-15"),
            ts(at),
            ts(at),
            s(iso),
            i(MAR_04_2024_050607),
            i(MAR_04_2024_050607 * 1000),
        ]
    };
    // The ISO-8601 spellings, each with the Unix seconds it means.
    let iso_forms = [
        ("t-z", "2024-03-04T05:06:07Z", MAR_04_2024_050607),
        ("t-offset", "2024-03-04T06:06:07+01:00", MAR_04_2024_050607),
        ("t-space", "2024-03-04 05:06:07", MAR_04_2024_050607),
        ("t-fraction", "2024-03-04T05:06:07.250Z", MAR_04_2024_050607),
        (
            "t-date",
            "2024-03-04",
            MAR_04_2024_050607 - 5 * 3600 - 6 * 60 - 7,
        ),
    ];
    let mut trows: Vec<Vec<Val>> = iso_forms
        .iter()
        .map(|(id, iso, _)| time_row(id, iso))
        .collect();
    trows.push(time_row("t-garbage", "next tuesday"));
    let ttable = sc.table("times", &tcols, &trows).await?;
    let tsync = sc.add_sync(
        "times",
        &format!("select id, d, t, tn, iso, es, ems from {ttable}"),
        user_spec(
            &dest,
            "id",
            "external_id",
            json!({
                "signed_up_at": "d", "last_seen_at": "t",
                "custom_attributes.tn_at": "tn", "custom_attributes.iso_at": "iso",
                "custom_attributes.es_at": "es", "custom_attributes.ems_at": "ems",
            }),
        ),
    )?;
    let r = sc.api.run_to_end(&tsync, RunRequest::normal()).await?;
    check_eq!(r.status(), "partial", "one garbage timestamp\n{r}");
    check_eq!(
        r.count("created"),
        iso_forms.len() as u64,
        "counts.created\n{r}"
    );
    check_eq!(r.count("invalid"), 1, "counts.invalid\n{r}");
    let invalid = sc.api.rows(r.id(), "invalid").await?;
    let keyed = by_key(&invalid);
    let bad = keyed.get("t-garbage").cloned().unwrap_or_default();
    check_eq!(bad.len(), 1, "t-garbage reported invalid ({invalid:?})");
    check!(
        lower(&bad[0]["reason"]).contains("iso_at"),
        "the reason names the field: {}",
        bad[0]
    );
    let all = ic.contacts().await?;
    check!(
        matching(&all, "external_id", "t-garbage").is_empty(),
        "the garbage row was not sent"
    );
    for (id, iso, secs) in iso_forms {
        let c = only(&all, "external_id", id)?;
        check_eq!(
            c["signed_up_at"],
            json!(JAN_15_2024),
            "{id}: signed_up_at from a date"
        );
        check_eq!(
            c["last_seen_at"],
            json!(MAR_04_2024_050607),
            "{id}: last_seen_at from a timestamp(tz) column"
        );
        let ca = &c["custom_attributes"];
        check_eq!(
            ca["tn_at"],
            json!(MAR_04_2024_050607),
            "{id}: from the other timestamp type"
        );
        check_eq!(
            ca["iso_at"],
            json!(secs),
            "{id}: from ISO-8601 text {iso:?}"
        );
        check_eq!(
            ca["es_at"],
            json!(MAR_04_2024_050607),
            "{id}: from epoch seconds"
        );
        check_eq!(
            ca["ems_at"],
            json!(MAR_04_2024_050607),
            "{id}: from epoch milliseconds"
        );
    }
    Ok(())
}
