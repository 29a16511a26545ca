//! Paged listings: `limit`, and the opaque `cursor` a page ends with.
//!
//! A cursor is `base64url("v1\n<scope>\n<position>")`: the scope names the
//! listing it continues (`runs:<sync>`, `rows:<run id>`), the position the last
//! item the previous page gave. Everything in it is checked on the way back in,
//! before any IO: a cursor from another sync's listing (or another run's), one
//! whose position is not of the shape this API writes, or garbage is a 400 that
//! says so. The handler builds the DynamoDB start key from the *path's* sync or
//! run and this position, so even a forged cursor reads nothing of another
//! listing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::DateTime;

use super::{echo, Refusal};
use crate::run::{is_run_id, Outcome};

/// `GET /syncs/{sync}/runs`: runs per page when `limit` is not given, and the
/// most a page may ask for (one BatchGetItem reads at most 100 items).
pub const RUNS_LIMIT: Limits = Limits {
    default: 20,
    max: 100,
};

/// `GET /runs/{id}/rows`: rows per page when `limit` is not given, and the most
/// a page may ask for (today's single-page cap; a page of 10,000 rows with long
/// reasons stays well under Lambda's 6 MB answer).
pub const ROWS_LIMIT: Limits = Limits {
    default: 1000,
    max: 10_000,
};

/// A listing's page sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub default: u32,
    pub max: u32,
}

const VERSION: &str = "v1";

/// Where a page of a sync's runs ended: the last run given (the run index's
/// order is `started_at`, then run id; newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsAfter {
    /// RFC 3339, as the run record has it.
    pub started_at: String,
    pub run_id: String,
}

/// Where a page of a run's rows ended: the last row given (rows are ordered by
/// outcome, batch, position in the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsAfter {
    pub outcome: Outcome,
    pub seq: u32,
    pub index: u32,
}

/// `limit` as given in the query: absent or empty is the default; otherwise a
/// whole number from 1 to the maximum.
pub fn limit(raw: Option<&str>, limits: Limits) -> Result<u32, Refusal> {
    let raw = match raw.map(str::trim) {
        None | Some("") => return Ok(limits.default),
        Some(raw) => raw,
    };
    let max = limits.max;
    let refused = || {
        Refusal::bad_request(format!(
            "limit must be a whole number from 1 to {max}, not `{}`",
            echo(raw)
        ))
    };
    // Digits only: `+5`, `-1`, `1e3` and `0x10` are refused rather than read.
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused());
    }
    match raw.parse::<u64>() {
        Ok(n) if (1..=u64::from(max)).contains(&n) => Ok(n as u32),
        _ => Err(refused()),
    }
}

impl RunsAfter {
    /// The cursor that continues `sync`'s runs after this one.
    pub fn cursor(&self, sync: &str) -> String {
        encode(
            &runs_scope(sync),
            &format!("{} {}", self.started_at, self.run_id),
        )
    }

    /// A cursor of `sync`'s runs, checked.
    pub fn from_cursor(cursor: &str, sync: &str) -> Result<RunsAfter, Refusal> {
        let position = decode(cursor, &runs_scope(sync), "this sync's runs")?;
        let bad = || invalid(cursor, "its position is not a run");
        let (started_at, run_id) = position.split_once(' ').ok_or_else(bad)?;
        if DateTime::parse_from_rfc3339(started_at).is_err() || !is_run_id(run_id) {
            return Err(bad());
        }
        Ok(RunsAfter {
            started_at: started_at.to_string(),
            run_id: run_id.to_string(),
        })
    }
}

impl RowsAfter {
    /// The cursor that continues `run_id`'s rows after this one.
    pub fn cursor(&self, run_id: &str) -> String {
        encode(
            &rows_scope(run_id),
            &format!("{} {} {}", self.outcome.as_str(), self.seq, self.index),
        )
    }

    /// A cursor of `run_id`'s rows, checked; with an `outcome` filter, the
    /// cursor must come from a page of that outcome.
    pub fn from_cursor(
        cursor: &str,
        run_id: &str,
        outcome: Option<Outcome>,
    ) -> Result<RowsAfter, Refusal> {
        let position = decode(cursor, &rows_scope(run_id), "this run's rows")?;
        let bad = || invalid(cursor, "its position is not a row");
        let mut parts = position.split(' ');
        let (Some(o), Some(seq), Some(index), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let after = RowsAfter {
            outcome: serde_json::from_value(serde_json::Value::String(o.to_string()))
                .map_err(|_| bad())?,
            seq: number(seq).ok_or_else(bad)?,
            index: number(index).ok_or_else(bad)?,
        };
        if let Some(wanted) = outcome.filter(|w| *w != after.outcome) {
            return Err(Refusal::bad_request(format!(
                "the cursor continues the {} rows, not the {} rows: ask with the outcome it was given for",
                after.outcome.as_str(),
                wanted.as_str()
            )));
        }
        Ok(after)
    }
}

/// Six digits at most, as the row's sort key has them.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn runs_scope(sync: &str) -> String {
    format!("runs:{sync}")
}

fn rows_scope(run_id: &str) -> String {
    format!("rows:{run_id}")
}

fn encode(scope: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}\n{scope}\n{position}"))
}

/// The position of a cursor of `scope`.
fn decode(cursor: &str, scope: &str, listing: &str) -> Result<String, Refusal> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| invalid(cursor, "it is not a cursor this API gave"))?;
    let mut parts = text.splitn(3, '\n');
    let (Some(VERSION), Some(from), Some(position)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(cursor, "it is not a cursor this API gave"));
    };
    if from != scope {
        return Err(invalid(
            cursor,
            &format!("it continues another listing, not {listing}"),
        ));
    }
    Ok(position.to_string())
}

fn invalid(cursor: &str, why: &str) -> Refusal {
    Refusal::bad_request(format!(
        "cursor `{}` is not valid here: {why}; use the next_cursor of the previous page, or leave it out to start from the first page",
        echo(cursor)
    ))
}
