//! Following a run to its end: poll `GET /runs/{id}`, show progress on stderr.
//!
//! On a terminal, a progress bar (indicatif) of batches with rows, calls, rate and
//! ETA beside it. Elsewhere (a pipe, a log, CI), one line per change at most every
//! [`LINE_EVERY`], one at least every [`QUIET_LINE_EVERY`] while nothing moves,
//! and always the last one. A poll that fails because the API is briefly away
//! (a function restarting, a 5xx) is retried [`MAX_POLL_FAILURES`] times in a
//! row before giving up. Ctrl-C stops following; the run goes on.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use backflow_core::run::RunRecord;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::api::{encode, Api};
use crate::output::{paint_status, Out};
use crate::progress::{line, parts, Meter, Parts, Snapshot};
use crate::Error;

/// Time between two polls.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Least time between two progress lines off a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(2);
/// Most time between two progress lines off a terminal, even when nothing moved.
pub const QUIET_LINE_EVERY: Duration = Duration::from_secs(15);
/// Failed polls in a row tolerated before giving up.
pub const MAX_POLL_FAILURES: u32 = 5;

/// A finished run: the API's JSON and its typed reading.
#[derive(Debug, Clone)]
pub struct Finished {
    pub answer: Value,
    pub record: RunRecord,
}

/// How following ended.
#[derive(Debug)]
pub enum Followed {
    Finished(Box<Finished>),
    /// Ctrl-C: the run goes on without us.
    Interrupted,
}

/// Reads a run record answer.
pub fn record(answer: &Value, base_url: &str) -> Result<RunRecord, Error> {
    serde_json::from_value(answer.clone()).map_err(|e| Error::Unexpected {
        url: base_url.to_string(),
        status: 200,
        detail: format!("not a run record ({e})"),
    })
}

/// Polls run `run_id` until it is finished, showing progress on stderr when
/// `show` (and a bar when stderr is a terminal).
pub async fn follow(api: &Api, run_id: &str, out: &Out, show: bool) -> Result<Followed, Error> {
    let mut display = Display::new(out, show);
    let started = Instant::now();
    let result = tokio::select! {
        r = poll(api, run_id, &mut display, started) => r.map(|f| Followed::Finished(Box::new(f))),
        _ = tokio::signal::ctrl_c() => Ok(Followed::Interrupted),
    };
    display.close();
    result
}

async fn poll(
    api: &Api,
    run_id: &str,
    display: &mut Display,
    started: Instant,
) -> Result<Finished, Error> {
    let path = format!("/runs/{}", encode(run_id));
    let mut meter = Meter::default();
    let mut failures = 0;
    loop {
        match api.get(&path, &[]).await {
            Ok(answer) => {
                failures = 0;
                let record = record(&answer, api.base_url())?;
                let snapshot = Snapshot::of(&record);
                let elapsed = started.elapsed();
                meter.observe(elapsed, &snapshot);
                let finished = snapshot.status.is_finished();
                display.show(&snapshot, &parts(&snapshot, &meter, elapsed), finished);
                if finished {
                    return Ok(Finished { answer, record });
                }
            }
            Err(e) if transient(&e) && failures < MAX_POLL_FAILURES => failures += 1,
            Err(e) => return Err(e),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Errors worth another poll: the API briefly away or failing.
fn transient(e: &Error) -> bool {
    match e {
        Error::LocalStackDown { .. } | Error::Unreachable { .. } => true,
        Error::Unexpected { status, .. } | Error::Api { status, .. } => *status >= 500,
        _ => false,
    }
}

/// Where progress goes.
enum Display {
    Bar {
        bar: ProgressBar,
        color: bool,
    },
    Lines {
        printed: Option<(Instant, Snapshot)>,
        color: bool,
    },
    Silent,
}

impl Display {
    fn new(out: &Out, show: bool) -> Display {
        if !show {
            return Display::Silent;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(bar_style(out.err_color, false));
            bar.enable_steady_tick(Duration::from_millis(120));
            return Display::Bar {
                bar,
                color: out.err_color,
            };
        }
        Display::Lines {
            printed: None,
            color: out.err_color,
        }
    }

    fn show(&mut self, s: &Snapshot, p: &Parts, last: bool) {
        match self {
            Display::Bar { bar, color } => {
                if let Some((finished, total)) = p.batches {
                    if bar.length() != Some(total) {
                        bar.set_style(bar_style(*color, true));
                        bar.set_length(total);
                    }
                    bar.set_position(finished);
                }
                bar.set_prefix(paint_status(*color, &p.status));
                bar.set_message(p.detail.clone());
                if last {
                    bar.finish();
                }
            }
            Display::Lines { printed, color } => {
                let due = match printed {
                    None => true,
                    Some((at, before)) => {
                        (before != s && at.elapsed() >= LINE_EVERY)
                            || at.elapsed() >= QUIET_LINE_EVERY
                    }
                };
                if due || last {
                    let mut text = line(p);
                    if let Some(rest) = text.strip_prefix(&p.status) {
                        text = format!("{}{rest}", paint_status(*color, &p.status));
                    }
                    eprintln!("{text}");
                    *printed = Some((Instant::now(), *s));
                }
            }
            Display::Silent => {}
        }
    }

    fn close(&self) {
        if let Display::Bar { bar, .. } = self {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

/// The bar's look: a spinner until the batch total is known, then the bar.
fn bar_style(color: bool, with_bar: bool) -> ProgressStyle {
    let template = match (with_bar, color) {
        (false, _) => "{spinner} {prefix}  {msg}",
        (true, true) => {
            "{spinner} {prefix}  [{bar:30.cyan/blue}] {pos}/{len} batches {percent}%  {msg}"
        }
        (true, false) => "{spinner} {prefix}  [{bar:30}] {pos}/{len} batches {percent}%  {msg}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
