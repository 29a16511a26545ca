//! `alerts:` on a sync: whether an ended run crosses one of its thresholds, and
//! the message published to the stack's SNS topic.
//!
//! The message is built from the run record and its first reported rows only:
//! the record holds no secret (the functions never put one there), and a row's
//! reason names the field, the column and what Intercom answered.

use chrono::DateTime;

use crate::config::Alerts;
use crate::run::{RowReport, RunRecord, RunStatus};

/// How many refused rows the message quotes.
pub const FIRST_ROWS: usize = 5;
/// SNS's limit on a subject (ASCII, no line breaks).
const MAX_SUBJECT: usize = 100;
/// A quoted reason or error is cut here: the message must stay readable in a
/// mail or a chat, and the run record has the rest.
const MAX_QUOTE: usize = 300;

/// Checks `alerts:` (config validation).
pub fn validate(alerts: &Alerts) -> Result<(), String> {
    if !alerts.failed && alerts.rejected_pct.is_none() && alerts.max_minutes.is_none() {
        return Err("set at least one of `failed: true`, `rejected_pct` or `max_minutes`".into());
    }
    if let Some(pct) = alerts.rejected_pct {
        if !(0.0..=100.0).contains(&pct) {
            return Err(format!(
                "`rejected_pct: {pct}` is not a percentage (0 to 100)"
            ));
        }
    }
    if alerts.max_minutes == Some(0) {
        return Err("`max_minutes: 0` would alert on every run; use 1 or more".into());
    }
    Ok(())
}

/// Why `run` (ended) alerts under `alerts`: one line per threshold crossed;
/// empty when it does not alert. Dry runs never alert: whoever asked for one
/// reads its answer.
pub fn reasons(alerts: &Alerts, run: &RunRecord) -> Vec<String> {
    let mut why = Vec::new();
    if run.dry_run || !run.status.is_finished() {
        return why;
    }
    if alerts.failed && run.status == RunStatus::Failed {
        why.push("the run failed".to_string());
    }
    if let Some(pct) = alerts.rejected_pct {
        let (refused, total) = (run.counts.problems(), rows_of(run));
        if total > 0 && refused as f64 * 100.0 > pct * total as f64 {
            why.push(format!(
                "{refused} of {total} rows did not land ({:.1} %, more than rejected_pct {pct} %)",
                refused as f64 * 100.0 / total as f64
            ));
        }
    }
    if let (Some(max), Some(secs)) = (alerts.max_minutes, duration_secs(run)) {
        if secs > max as i64 * 60 {
            why.push(format!(
                "it ran {:.1} minutes (more than max_minutes {max})",
                secs as f64 / 60.0
            ));
        }
    }
    why
}

/// The rows of a run: its plan's, else (a run that failed before planning) its
/// counts'.
fn rows_of(run: &RunRecord) -> u64 {
    let planned = run.plan.map_or(0, |p| p.total());
    planned.max(run.counts.total())
}

/// Seconds from `started_at` to `finished_at`.
fn duration_secs(run: &RunRecord) -> Option<i64> {
    let started = DateTime::parse_from_rfc3339(&run.started_at).ok()?;
    let finished = DateTime::parse_from_rfc3339(run.finished_at.as_deref()?).ok()?;
    Some((finished - started).num_seconds())
}

/// An SNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// At most 100 ASCII characters, one line (SNS's rules for a subject).
    pub subject: String,
    pub body: String,
}

/// The alert for `run`: the sync, the run, why, the counts, the error and the
/// first rows that did not land (`rows`, as the run reported them).
pub fn message(run: &RunRecord, why: &[String], rows: &[RowReport]) -> Message {
    let subject = ascii_line(
        &format!(
            "backflow: sync {} run {} {}",
            run.sync,
            run.run_id,
            run.status.as_str()
        ),
        MAX_SUBJECT,
    );
    let c = &run.counts;
    let mut body = format!(
        "backflow alert: sync `{}`, run `{}` ended {}.\n\nWhy:\n",
        run.sync,
        run.run_id,
        run.status.as_str()
    );
    for line in why {
        body.push_str(&format!("- {line}\n"));
    }
    body.push_str(&format!(
        "\nCounts: created {}, updated {}, deleted {}, archived {}, sent {}, unchanged {}, invalid {}, rejected {}, not_found {}.\n",
        c.created, c.updated, c.deleted, c.archived, c.sent, c.unchanged, c.invalid, c.rejected, c.not_found
    ));
    body.push_str(&format!(
        "Started {}, finished {}.\n",
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    ));
    if let Some(error) = &run.error {
        body.push_str(&format!("Error: {}\n", cut(error, MAX_QUOTE)));
    }
    if !rows.is_empty() {
        body.push_str("\nFirst rows that did not land:\n");
        for row in rows.iter().take(FIRST_ROWS) {
            let key = row.key.as_deref().unwrap_or("(null key)");
            let at = row.row.map(|n| format!(" (row {n})")).unwrap_or_default();
            let code = row
                .code
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            body.push_str(&format!(
                "- key {}{at}: {}{code}: {}\n",
                cut(key, 80),
                row.outcome.as_str(),
                cut(&row.reason, MAX_QUOTE)
            ));
        }
    }
    body.push_str(&format!(
        "\nMore: `backflow show {id}`, `backflow rows {id}` (GET /runs/{id}).\n",
        id = run.run_id
    ));
    Message { subject, body }
}

/// `s` cut to `max` characters (not bytes), with an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// `s` as one line of printable ASCII of at most `max` bytes (other characters
/// become `?`).
fn ascii_line(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanCounts;
    use crate::run::{BatchCounts, Counts, Outcome, Trigger, Usage};

    fn run(status: RunStatus, counts: Counts, minutes: i64) -> RunRecord {
        RunRecord {
            run_id: "20261206T100000Z-abcd1234".into(),
            sync: "users".into(),
            trigger: Trigger::Schedule,
            dry_run: false,
            full_resync: false,
            allow_mass_removal: false,
            status,
            started_at: "2026-12-06T10:00:00Z".into(),
            finished_at: Some(
                (DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").unwrap()
                    + chrono::Duration::minutes(minutes))
                .to_rfc3339(),
            ),
            counts,
            plan: None,
            api_calls: 0,
            retries: 0,
            batches: BatchCounts::default(),
            error: None,
            samples: Vec::new(),
            warnings: Vec::new(),
            usage: Usage::default(),
            updated_at: None,
        }
    }

    fn counts(created: u64, rejected: u64, invalid: u64) -> Counts {
        Counts {
            created,
            rejected,
            invalid,
            ..Counts::default()
        }
    }

    #[test]
    fn thresholds_crossed_are_the_reasons() {
        let all = Alerts {
            failed: true,
            rejected_pct: Some(5.0),
            max_minutes: Some(30),
        };
        let only_failed = Alerts {
            failed: true,
            ..Alerts::default()
        };
        for (alerts, run, expected) in [
            (all, run(RunStatus::Succeeded, counts(100, 0, 0), 1), vec![]),
            (
                all,
                run(RunStatus::Failed, counts(0, 0, 0), 1),
                vec!["the run failed"],
            ),
            (
                only_failed,
                run(RunStatus::Partial, counts(50, 50, 0), 99),
                vec![],
            ),
            // 5 of 100 is not more than 5 %; 6 of 100 is (invalid rows count too).
            (all, run(RunStatus::Partial, counts(95, 5, 0), 1), vec![]),
            (
                all,
                run(RunStatus::Partial, counts(94, 3, 3), 1),
                vec!["6 of 100 rows did not land (6.0 %, more than rejected_pct 5 %)"],
            ),
            // 30 minutes is not longer than 30; 31 is.
            (all, run(RunStatus::Succeeded, counts(1, 0, 0), 30), vec![]),
            (
                all,
                run(RunStatus::Succeeded, counts(1, 0, 0), 31),
                vec!["it ran 31.0 minutes (more than max_minutes 30)"],
            ),
            (
                all,
                run(RunStatus::Failed, counts(1, 9, 0), 45),
                vec![
                    "the run failed",
                    "9 of 10 rows did not land (90.0 %, more than rejected_pct 5 %)",
                    "it ran 45.0 minutes (more than max_minutes 30)",
                ],
            ),
        ] {
            assert_eq!(
                reasons(&alerts, &run),
                expected,
                "{:?} {:?}",
                run.status,
                run.counts
            );
        }
    }

    #[test]
    fn dry_runs_and_unfinished_runs_never_alert() {
        let all = Alerts {
            failed: true,
            rejected_pct: Some(0.0),
            max_minutes: Some(1),
        };
        let mut dry = run(RunStatus::Failed, counts(0, 5, 0), 90);
        dry.dry_run = true;
        assert!(reasons(&all, &dry).is_empty());
        let loading = run(RunStatus::Loading, counts(0, 5, 0), 90);
        assert!(reasons(&all, &loading).is_empty());
    }

    #[test]
    fn the_share_is_of_the_planned_rows() {
        let pct = Alerts {
            rejected_pct: Some(10.0),
            ..Alerts::default()
        };
        // A run that failed mid-load: 5 rejected of 1,000 planned is 0.5 %.
        let mut r = run(RunStatus::Failed, counts(10, 5, 0), 1);
        r.plan = Some(PlanCounts {
            create: 1_000,
            ..PlanCounts::default()
        });
        assert!(reasons(&pct, &r).is_empty());
    }

    #[test]
    fn validation_refuses_empty_and_out_of_range_thresholds() {
        for (alerts, says) in [
            (Alerts::default(), "set at least one"),
            (
                Alerts {
                    rejected_pct: Some(120.0),
                    ..Alerts::default()
                },
                "not a percentage",
            ),
            (
                Alerts {
                    rejected_pct: Some(f64::NAN),
                    ..Alerts::default()
                },
                "not a percentage",
            ),
            (
                Alerts {
                    max_minutes: Some(0),
                    ..Alerts::default()
                },
                "max_minutes: 0",
            ),
        ] {
            let e = validate(&alerts).unwrap_err();
            assert!(e.contains(says), "{alerts:?}: {e}");
        }
        assert!(validate(&Alerts {
            failed: true,
            ..Alerts::default()
        })
        .is_ok());
    }

    #[test]
    fn the_message_names_sync_run_counts_and_first_reasons() {
        let mut r = run(RunStatus::Partial, counts(8, 2, 0), 2);
        r.sync = "users_to_intercom".into();
        let rows: Vec<RowReport> = (1..=7)
            .map(|n| RowReport {
                key: Some(format!("u-{n}")),
                outcome: Outcome::Rejected,
                reason: format!("Intercom answered 404: User Not Found {n}"),
                code: Some("not_found".into()),
                row: Some(n),
            })
            .collect();
        let m = message(&r, &["2 of 10 rows did not land".into()], &rows);
        assert_eq!(
            m.subject,
            "backflow: sync users_to_intercom run 20261206T100000Z-abcd1234 partial"
        );
        for part in [
            "sync `users_to_intercom`, run `20261206T100000Z-abcd1234` ended partial",
            "- 2 of 10 rows did not land",
            "created 8,",
            "rejected 2,",
            "- key u-1 (row 1): rejected [not_found]: Intercom answered 404: User Not Found 1",
            "- key u-5 (row 5)",
            "backflow rows 20261206T100000Z-abcd1234",
        ] {
            assert!(m.body.contains(part), "{part}\n{}", m.body);
        }
        assert!(
            !m.body.contains("key u-6"),
            "only the first {FIRST_ROWS} rows\n{}",
            m.body
        );
    }

    #[test]
    fn the_subject_is_one_short_ascii_line() {
        let mut r = run(RunStatus::Failed, counts(0, 0, 0), 1);
        r.sync = format!("ünïcode\nsync{}", "x".repeat(200));
        r.error = Some("e".repeat(1_000));
        let m = message(&r, &[], &[]);
        assert!(m.subject.len() <= 100, "{}", m.subject);
        assert!(
            m.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '),
            "{}",
            m.subject
        );
        assert!(
            m.body.contains(&format!("Error: {}…", "e".repeat(300))),
            "{}",
            m.body
        );
    }
}
