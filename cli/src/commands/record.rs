//! How a run record is shown: what was planned against what was done, what the
//! run consumed and what that costs at AWS list prices, and its exit status.

use backflow_core::cost::{run_cost, Unmetered};
use backflow_core::run::{Counts, RunRecord, RunStatus, Usage};
use chrono::DateTime;
use comfy_table::{Cell, CellAlignment, Color};

use crate::output::{dollars, duration, number, Out};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_PARTIAL};

/// The exit status of a finished run: 0 succeeded, 2 partial, 1 failed.
pub fn exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Partial => EXIT_PARTIAL,
        RunStatus::Failed => EXIT_FAILED,
        _ => EXIT_OK,
    }
}

/// The non-zero counts, `19,999 created, 1 invalid`; `no rows` when all are zero.
pub fn counts_summary(c: &Counts) -> String {
    let parts: Vec<String> = outcomes(c)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{} {name}", number(n)))
        .collect();
    if parts.is_empty() {
        "no rows".to_string()
    } else {
        parts.join(", ")
    }
}

fn outcomes(c: &Counts) -> [(&'static str, u64); 9] {
    [
        ("created", c.created),
        ("updated", c.updated),
        ("deleted", c.deleted),
        ("archived", c.archived),
        ("sent", c.sent),
        ("unchanged", c.unchanged),
        ("invalid", c.invalid),
        ("rejected", c.rejected),
        ("not found", c.not_found),
    ]
}

/// `1 row`, `2 rows`, `20,000 rows`.
pub fn rows_text(n: u64) -> String {
    if n == 1 {
        "1 row".to_string()
    } else {
        format!("{} rows", number(n))
    }
}

/// Seconds from `started_at` to `finished_at`; `None` while running.
pub fn took(r: &RunRecord) -> Option<u64> {
    let start = DateTime::parse_from_rfc3339(&r.started_at).ok()?;
    let end = DateTime::parse_from_rfc3339(r.finished_at.as_deref()?).ok()?;
    u64::try_from((end - start).num_seconds()).ok()
}

/// `run` or `dry run`, with the options the run was started with.
pub fn kind(r: &RunRecord) -> String {
    let mut parts = vec![if r.dry_run { "dry run" } else { "run" }];
    if r.full_resync {
        parts.push("full resync");
    }
    if r.allow_mass_removal {
        parts.push("mass removal allowed");
    }
    parts.join(", ")
}

/// `run RUN of SYNC: partial in 44s — 19,999 created, 1 invalid`.
pub fn headline(out: &Out, r: &RunRecord) -> String {
    let took = took(r)
        .map(|s| format!(" in {}", duration(s)))
        .unwrap_or_default();
    let counts = if r.dry_run {
        String::new()
    } else {
        format!(": {}", counts_summary(&r.counts))
    };
    format!(
        "{} {} of {}: {}{took}{counts}",
        kind(r),
        r.run_id,
        r.sync,
        out.status(r.status.as_str())
    )
}

/// ACTION / PLANNED / DONE, one line per action that planned or did anything.
pub fn print_outcomes(out: &Out, r: &RunRecord) {
    let plan = r.plan.unwrap_or_default();
    let c = &r.counts;
    let lines: [(&str, Option<u64>, u64); 9] = [
        ("create", Some(plan.create), c.created),
        ("update", Some(plan.update), c.updated),
        ("delete", Some(plan.delete), c.deleted),
        ("archive", Some(plan.archive), c.archived),
        ("send", Some(plan.send), c.sent),
        ("unchanged", Some(plan.unchanged), c.unchanged),
        ("invalid", Some(plan.invalid), c.invalid),
        ("rejected", None, c.rejected),
        ("not found", None, c.not_found),
    ];
    let header: &[&str] = if r.dry_run {
        &["ACTION", "ROWS"]
    } else {
        &["ACTION", "PLANNED", "DONE"]
    };
    let mut table = out.table(header);
    for (action, planned, done) in lines {
        if planned.unwrap_or(0) == 0 && done == 0 {
            continue;
        }
        let planned = planned.map(number).unwrap_or_else(|| "-".to_string());
        let mut row = vec![Cell::new(action), right(planned)];
        if !r.dry_run {
            let cell = right(number(done));
            let problem = matches!(action, "invalid" | "rejected" | "not found");
            row.push(if problem {
                cell.fg(Color::Yellow)
            } else {
                cell
            });
        }
        table.add_row(row);
    }
    if table.row_count() == 0 {
        println!("nothing planned (the model has no rows)");
    } else {
        out.print_table(&table);
    }
}

fn right(text: String) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}

/// Secrets Manager reads the run record does not count: about one (the Intercom
/// token) per function invocation.
pub fn unmetered(u: &Usage) -> Unmetered {
    Unmetered {
        secrets_manager_calls: u.lambda_invocations,
    }
}

/// What the run consumed, and its price at AWS list prices.
pub fn print_usage(out: &Out, u: &Usage) {
    let cost = run_cost(u, unmetered(u));
    let mut table = out.table(&["USAGE", "AMOUNT", "COST"]);
    let lines = [
        (
            "Lambda compute",
            format!("{:.3} GB-s", u.lambda_gb_seconds),
            cost.lambda_compute,
        ),
        (
            "Lambda requests",
            number(u.lambda_invocations),
            cost.lambda_requests,
        ),
        (
            "DynamoDB reads",
            format!("{} RRU", trim_units(u.dynamodb_read_units)),
            cost.dynamodb_reads,
        ),
        (
            "DynamoDB writes",
            format!("{} WRU", trim_units(u.dynamodb_write_units)),
            cost.dynamodb_writes,
        ),
        (
            "S3 requests",
            format!("{} PUT, {} GET", number(u.s3_puts), number(u.s3_gets)),
            cost.s3_requests,
        ),
        (
            "Secrets Manager (est.)",
            format!("{} reads", number(u.lambda_invocations)),
            cost.secrets_manager,
        ),
    ];
    for (what, amount, dollars_) in lines {
        table.add_row(vec![
            Cell::new(what),
            right(amount),
            right(dollars(dollars_)),
        ]);
    }
    table.add_row(vec![
        Cell::new("Intercom calls"),
        right(number(u.intercom_calls)),
        right("free".to_string()),
    ]);
    table.add_row(vec![
        Cell::new("total"),
        Cell::new(""),
        right(dollars(cost.total())),
    ]);
    out.print_table(&table);
    println!("(AWS list prices, us-east-1, arm64; storage, logs and data transfer not included)");
}

/// `6` for `6.0`, `2.5` for `2.5`.
fn trim_units(x: f64) -> String {
    if x.fract() == 0.0 && x >= 0.0 && x < u64::MAX as f64 {
        number(x as u64)
    } else {
        format!("{x:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_status() {
        assert_eq!(exit_code(RunStatus::Succeeded), 0);
        assert_eq!(exit_code(RunStatus::Partial), 2);
        assert_eq!(exit_code(RunStatus::Failed), 1);
    }

    #[test]
    fn summaries_name_the_non_zero_counts() {
        let c = Counts {
            created: 19_999,
            invalid: 1,
            ..Counts::default()
        };
        assert_eq!(counts_summary(&c), "19,999 created, 1 invalid");
        assert_eq!(counts_summary(&Counts::default()), "no rows");
        assert_eq!(trim_units(6.0), "6");
        assert_eq!(trim_units(2.5), "2.5");
    }
}
