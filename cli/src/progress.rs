//! What a run record says about a run's progress, and the words that show it.
//! Pure (no clock, no IO): [`crate::follow`] feeds it the records it polls and the
//! time since it started.
//!
//! A run's record moves in steps: `extract` sets the plan and the batch total
//! once every batch is written (with the unchanged and invalid counts), then each
//! `load` adds its batch's counts when the batch is done. So progress is counted
//! in batches; rows and calls ride along, and the rate is measured over the
//! loading phase only (what `extract` counted up front is not throughput).

use std::time::Duration;

use backflow_core::run::{RunRecord, RunStatus};

use crate::output::{duration, number};

/// One poll's worth of progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub status: RunStatus,
    /// A dry run plans and loads nothing.
    pub dry_run: bool,
    pub batches_total: u64,
    /// Batches done or failed.
    pub batches_finished: u64,
    /// Every row of the plan (unchanged and invalid included); `None` before the plan.
    pub rows_planned: Option<u64>,
    /// Every row counted so far, whatever its outcome.
    pub rows_done: u64,
    pub calls: u64,
}

impl Snapshot {
    pub fn of(r: &RunRecord) -> Snapshot {
        let rows_done = r.counts.total();
        let rows_planned = r.plan.map(|p| p.total());
        Snapshot {
            status: r.status,
            dry_run: r.dry_run,
            batches_total: r.batches.total,
            batches_finished: r.batches.done + r.batches.failed,
            rows_planned,
            rows_done,
            calls: r.api_calls,
        }
    }

    /// Whole percent of batches finished; 100 for a finished run with nothing to
    /// load (a dry run, no change); `None` while that is unknown.
    pub fn percent(&self) -> Option<u64> {
        let finished = self.batches_finished.min(self.batches_total) * 100;
        if let Some(percent) = finished.checked_div(self.batches_total) {
            return Some(percent);
        }
        match self.status {
            RunStatus::Succeeded | RunStatus::Partial => Some(100),
            _ => None,
        }
    }
}

/// Rows and calls per second over the loading phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Meter {
    /// (seconds since following began, rows, calls) when loading was first seen.
    first: Option<(f64, u64, u64)>,
    /// The same, for the latest snapshot.
    last: Option<(f64, u64, u64)>,
}

impl Meter {
    /// Takes the snapshot seen `at` after following began.
    pub fn observe(&mut self, at: Duration, s: &Snapshot) {
        if s.status == RunStatus::Queued || s.status == RunStatus::Extracting {
            return;
        }
        let point = (at.as_secs_f64(), s.rows_done, s.calls);
        if self.first.is_none() {
            self.first = Some(point);
        }
        self.last = Some(point);
    }

    fn per_second(&self, pick: impl Fn((f64, u64, u64)) -> u64) -> Option<f64> {
        let (first, last) = (self.first?, self.last?);
        let secs = last.0 - first.0;
        let done = pick(last).saturating_sub(pick(first));
        (secs >= 0.5 && done > 0).then(|| done as f64 / secs)
    }

    pub fn rows_per_second(&self) -> Option<f64> {
        self.per_second(|p| p.1)
    }

    pub fn calls_per_second(&self) -> Option<f64> {
        self.per_second(|p| p.2)
    }

    /// Time left at the measured rate, while loading.
    pub fn eta(&self, s: &Snapshot) -> Option<Duration> {
        if s.status != RunStatus::Loading {
            return None;
        }
        let left = s.rows_planned?.saturating_sub(s.rows_done);
        let rate = self.rows_per_second()?;
        Some(Duration::from_secs_f64(left as f64 / rate))
    }
}

/// What a progress display shows, in pieces (the bar draws `batches` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub status: String,
    /// `(finished, total)` once the batch total is known.
    pub batches: Option<(u64, u64)>,
    pub percent: Option<u64>,
    /// Rows, calls, rate, ETA or elapsed time.
    pub detail: String,
}

/// The pieces of the display for `s`, `elapsed` after following began.
pub fn parts(s: &Snapshot, meter: &Meter, elapsed: Duration) -> Parts {
    let status = s.status.as_str().to_string();
    let finished = s.status.is_finished();
    let mut detail = Vec::new();
    match s.status {
        RunStatus::Queued => detail.push("waiting for extract".to_string()),
        RunStatus::Extracting => {
            detail.push("reading the model and comparing it with what Intercom has".to_string())
        }
        _ if s.dry_run => {
            let planned = s.rows_planned.unwrap_or(0);
            detail.push(format!("{} rows planned", number(planned)));
        }
        _ => {
            let rows = match s.rows_planned {
                Some(planned) => format!("{}/{} rows", number(s.rows_done), number(planned)),
                None => format!("{} rows", number(s.rows_done)),
            };
            detail.push(rows);
            detail.push(format!("{} calls", number(s.calls)));
            if let Some(rate) = meter.rows_per_second() {
                detail.push(format!("{} rows/s", number(rate.round() as u64)));
            }
            if let Some(rate) = meter.calls_per_second() {
                detail.push(format!("{} calls/s", number(rate.round() as u64)));
            }
            if let Some(eta) = meter.eta(s) {
                detail.push(format!("ETA {}", duration(eta.as_secs())));
            }
        }
    }
    let secs = elapsed.as_secs();
    detail.push(if finished {
        format!("in {}", duration(secs))
    } else {
        format!("elapsed {}", duration(secs))
    });
    Parts {
        status,
        batches: (s.batches_total > 0).then_some((s.batches_finished, s.batches_total)),
        percent: s.percent(),
        detail: detail.join("  "),
    }
}

/// One progress line, for logs and pipes:
/// `loading  12/20 batches  60%  12,000/20,000 rows  …`.
pub fn line(p: &Parts) -> String {
    let mut out = vec![p.status.clone()];
    if let Some((finished, total)) = p.batches {
        out.push(format!("{finished}/{total} batches"));
    }
    if let Some(percent) = p.percent {
        out.push(format!("{percent}%"));
    }
    out.push(p.detail.clone());
    out.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use backflow_core::plan::PlanCounts;

    fn record(status: RunStatus, total: u64, done: u64, created: u64) -> RunRecord {
        let mut r: RunRecord = serde_json::from_value(serde_json::json!({
            "run_id": "r", "sync": "s", "trigger": "api", "dry_run": false,
            "status": "queued", "started_at": "2026-01-01T00:00:00Z", "finished_at": null,
            "counts": {"created":0,"updated":0,"deleted":0,"archived":0,"sent":0,
                       "unchanged":0,"invalid":0,"rejected":0,"not_found":0},
            "plan": null, "api_calls": 0, "retries": 0,
            "batches": {"total":0,"done":0,"failed":0}
        }))
        .unwrap();
        r.status = status;
        if status != RunStatus::Queued && status != RunStatus::Extracting {
            r.plan = Some(PlanCounts {
                create: 20_000,
                ..PlanCounts::default()
            });
        }
        r.batches.total = total;
        r.batches.done = done;
        r.counts.created = created;
        r.api_calls = created;
        r
    }

    #[test]
    fn percent_by_batches() {
        let cases = [
            (RunStatus::Queued, 0, 0, None),
            (RunStatus::Extracting, 0, 0, None),
            (RunStatus::Loading, 20, 0, Some(0)),
            (RunStatus::Loading, 20, 12, Some(60)),
            (RunStatus::Succeeded, 20, 20, Some(100)),
            // A dry run, or nothing to send.
            (RunStatus::Succeeded, 0, 0, Some(100)),
            (RunStatus::Failed, 0, 0, None),
            (RunStatus::Failed, 20, 3, Some(15)),
        ];
        for (status, total, done, want) in cases {
            let s = Snapshot::of(&record(status, total, done, 0));
            assert_eq!(s.percent(), want, "{status:?} {done}/{total}");
        }
    }

    #[test]
    fn rate_and_eta_over_the_loading_phase_only() {
        let mut m = Meter::default();
        let extracting = Snapshot::of(&record(RunStatus::Extracting, 0, 0, 0));
        m.observe(Duration::from_secs(30), &extracting);
        assert_eq!(m.rows_per_second(), None);
        let a = Snapshot::of(&record(RunStatus::Loading, 20, 0, 0));
        m.observe(Duration::from_secs(40), &a);
        let b = Snapshot::of(&record(RunStatus::Loading, 20, 5, 5_000));
        m.observe(Duration::from_secs(50), &b);
        assert_eq!(m.rows_per_second(), Some(500.0));
        assert_eq!(m.eta(&b), Some(Duration::from_secs(30)));
        let p = parts(&b, &m, Duration::from_secs(50));
        assert_eq!(
            line(&p),
            "loading  5/20 batches  25%  5,000/20,000 rows  5,000 calls  500 rows/s  500 calls/s  ETA 30s  elapsed 50s"
        );
    }

    #[test]
    fn the_last_line_reads_100_percent() {
        let mut m = Meter::default();
        m.observe(
            Duration::from_secs(2),
            &Snapshot::of(&record(RunStatus::Loading, 20, 0, 0)),
        );
        let done = Snapshot::of(&record(RunStatus::Succeeded, 20, 20, 20_000));
        m.observe(Duration::from_secs(42), &done);
        assert_eq!(
            line(&parts(&done, &m, Duration::from_secs(42))),
            "succeeded  20/20 batches  100%  20,000/20,000 rows  20,000 calls  500 rows/s  500 calls/s  in 42s"
        );
        let mut dry = record(RunStatus::Succeeded, 0, 0, 0);
        dry.dry_run = true;
        assert_eq!(
            line(&parts(
                &Snapshot::of(&dry),
                &Meter::default(),
                Duration::from_secs(3)
            )),
            "succeeded  100%  20,000 rows planned  in 3s"
        );
        let queued = Snapshot::of(&record(RunStatus::Queued, 0, 0, 0));
        assert_eq!(
            line(&parts(&queued, &Meter::default(), Duration::from_secs(1))),
            "queued  waiting for extract  elapsed 1s"
        );
    }
}
