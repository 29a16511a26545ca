//! Which cron schedules are due (pure).
//!
//! `trigger` runs every minute; for each sync with a `schedule` it asks
//! [`is_due`] about the minute of the event's time ([`due_minute`]), and starts the
//! run at most once per (sync, due minute) — the minute is the idempotency key, so a
//! Scheduled Event delivered twice starts one run.
//!
//! Schedules are standard 5-field cron (minute hour day-of-month month
//! day-of-week), in UTC, parsed by croner (POSIX semantics: when both day fields
//! are restricted, either may match; `@hourly`-style nicknames are accepted).

use chrono::{DateTime, Timelike, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::Error;

/// Parses a 5-field cron expression; the message says what is wrong.
pub fn parse(cron: &str) -> Result<Cron, String> {
    if cron.split_whitespace().count() != 5 && !cron.trim_start().starts_with('@') {
        return Err(format!(
            "`{cron}` is not a 5-field cron expression (minute hour day-of-month month day-of-week, UTC)"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(cron)
        .map_err(|e| format!("`{cron}` is not a valid cron expression: {e}"))
}

/// Whether `cron` fires at `minute` (truncated to the minute first, UTC).
pub fn is_due(cron: &str, minute: DateTime<Utc>) -> Result<bool, Error> {
    let parsed = parse(cron).map_err(|message| Error::Schedule {
        schedule: cron.to_string(),
        message,
    })?;
    parsed
        .is_time_matching(&due_minute(minute))
        .map_err(|e| Error::Schedule {
            schedule: cron.to_string(),
            message: e.to_string(),
        })
}

/// `t` truncated to the minute: the due time a schedule event stands for.
pub fn due_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    // Both calls only fail for out-of-range values; 0 is always in range.
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn due_minutes() {
        // 2024-01-01 is a Monday.
        let cases = [
            ("* * * * *", at(2024, 1, 1, 0, 0, 0), true),
            ("*/30 * * * *", at(2024, 1, 1, 10, 30, 0), true),
            ("*/30 * * * *", at(2024, 1, 1, 10, 30, 59), true),
            ("*/30 * * * *", at(2024, 1, 1, 10, 31, 0), false),
            ("0 9 * * 1", at(2024, 1, 1, 9, 0, 0), true),
            ("0 9 * * 1", at(2024, 1, 2, 9, 0, 0), false),
            ("0 9 * * MON-FRI", at(2024, 1, 6, 9, 0, 0), false),
            ("15 3 1 * *", at(2024, 2, 1, 3, 15, 7), true),
            ("0 0 1 1 *", at(2024, 1, 1, 0, 0, 0), true),
            ("@hourly", at(2024, 1, 1, 5, 0, 0), true),
            ("@hourly", at(2024, 1, 1, 5, 1, 0), false),
        ];
        for (cron, t, want) in cases {
            assert_eq!(is_due(cron, t), Ok(want), "{cron} at {t}");
        }
    }

    #[test]
    fn bad_expressions() {
        for cron in [
            "",
            "* * * *",
            "0 * * * * *",
            "61 * * * *",
            "* 25 * * *",
            "every minute",
            "*/0 * * * *",
        ] {
            let e = is_due(cron, at(2024, 1, 1, 0, 0, 0)).unwrap_err();
            assert!(e.to_string().contains("cron"), "{cron}: {e}");
        }
    }

    #[test]
    fn truncates() {
        let t = at(2024, 1, 1, 10, 30, 59) + chrono::Duration::milliseconds(999);
        assert_eq!(due_minute(t), at(2024, 1, 1, 10, 30, 0));
    }
}
