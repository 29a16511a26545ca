//! What one client knows about its traffic, the input of every rate-limit
//! decision: the newest `X-RateLimit-*` headers, the calls on the wire and the
//! tasks waiting for a call, the attempts that came back (and a signal when one
//! does), the round trip, and how many calls the caller still expects.
//!
//! Only counters and one small mutex; nothing here waits or decides.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use backflow_core::retry::RateHeaders;

use crate::client::lock;
use crate::rate_limit::share::View;

/// One client's traffic (shared by its clones).
#[derive(Debug)]
pub(crate) struct Traffic {
    /// The newest rate-limit headers seen (see [`Traffic::remember`]).
    last_seen: Mutex<RateHeaders>,
    /// Attempts sent and not yet back.
    in_flight: AtomicU32,
    /// Tasks waiting for a call of the shared budget.
    waiting: AtomicU32,
    /// Attempts that came back (with an answer or a transport error).
    completed: AtomicU64,
    /// Notified whenever an attempt comes back.
    answered: Notify,
    /// Round trip of the answered attempts (moving average), microseconds; 0 = none yet.
    rtt_micros: AtomicU64,
    /// Calls the caller still expects after those waiting or in flight
    /// ([`crate::Client::expect_calls`]); `u64::MAX` = not said.
    expected_calls: AtomicU64,
}

impl Default for Traffic {
    fn default() -> Traffic {
        Traffic {
            last_seen: Mutex::new(RateHeaders::default()),
            in_flight: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
            completed: AtomicU64::new(0),
            answered: Notify::new(),
            rtt_micros: AtomicU64::new(0),
            expected_calls: AtomicU64::new(u64::MAX),
        }
    }
}

/// Counts one in a counter for as long as it lives, however it ends (the future
/// holding it may be dropped).
pub(crate) struct Counted<'a>(&'a AtomicU32);

impl<'a> Counted<'a> {
    fn enter(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Traffic {
    /// The newest rate-limit headers seen.
    pub fn seen(&self) -> RateHeaders {
        *lock(&self.last_seen)
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// An attempt is on the wire while the guard lives.
    pub fn on_wire(&self) -> Counted<'_> {
        Counted::enter(&self.in_flight)
    }

    /// A task waits for a call of the shared budget while the guard lives.
    pub fn waiting(&self) -> Counted<'_> {
        Counted::enter(&self.waiting)
    }

    /// A future that completes when the next attempt comes back. Create it
    /// before looking, so an answer arriving in between is not missed.
    pub fn next_answer(&self) -> Notified<'_> {
        self.answered.notified()
    }

    /// An attempt came back: with its headers when it was answered, `None` on a
    /// transport error. The headers are remembered before the waiting tasks are
    /// told, so a task waiting for the first answer reads them.
    pub fn came_back(&self, headers: Option<RateHeaders>) {
        if let Some(h) = headers {
            self.remember(h);
        }
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.answered.notify_waiters();
    }

    /// Keep the newest rate-limit picture: a later window replaces an older one;
    /// within one window the lowest `remaining` wins (answers arrive out of order
    /// when calls run concurrently). Answers without the headers are ignored.
    fn remember(&self, h: RateHeaders) {
        if h.remaining.is_none() || h.reset.is_none() {
            return;
        }
        let mut seen = lock(&self.last_seen);
        let newer = h.reset > seen.reset;
        let same = h.reset == seen.reset;
        if newer || (same && h.remaining < seen.remaining) || seen.remaining.is_none() {
            *seen = RateHeaders {
                retry_after: None,
                ..h
            };
        }
    }

    /// Fold one answered attempt's round trip into the moving average.
    pub fn measure_rtt(&self, took: Duration) {
        let sample = (took.as_micros() as u64).max(1);
        let old = self.rtt_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old.saturating_mul(3) / 4)
                .saturating_add(sample / 4)
                .max(1)
        };
        self.rtt_micros.store(new, Ordering::Relaxed);
    }

    /// The moving average of the answered attempts' round trips.
    pub fn rtt(&self) -> Option<Duration> {
        match self.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    pub fn expect_calls(&self, calls: u64) {
        self.expected_calls
            .store(calls.min(u64::MAX - 1), Ordering::Relaxed);
    }

    /// What the shared budget needs to know to size a block.
    pub fn view(&self) -> View {
        let waiting = self.waiting.load(Ordering::Relaxed);
        let expected = self.expected_calls.load(Ordering::Relaxed);
        View {
            seen: self.seen(),
            concurrency: self.in_flight().saturating_add(waiting),
            calls_to_come: (expected != u64::MAX)
                .then(|| expected.saturating_add(u64::from(waiting))),
            completed: self.completed.load(Ordering::Relaxed),
            rtt: self.rtt(),
        }
    }
}

/// `X-RateLimit-Limit/Remaining/Reset` and `Retry-After` (seconds form; the
/// HTTP-date form is ignored, the reset header then decides).
pub(crate) fn rate_headers(h: &HeaderMap) -> RateHeaders {
    fn num<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
        h.get(name)?.to_str().ok()?.trim().parse().ok()
    }
    RateHeaders {
        limit: num(h, "x-ratelimit-limit"),
        remaining: num(h, "x-ratelimit-remaining"),
        reset: num(h, "x-ratelimit-reset"),
        retry_after: num(h, "retry-after"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_headers_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("167"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static(" 12 "));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000010"));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            rate_headers(&h),
            RateHeaders {
                limit: Some(167),
                remaining: Some(12),
                reset: Some(1_700_000_010),
                retry_after: None
            }
        );
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(rate_headers(&h).retry_after, Some(3));
        assert_eq!(rate_headers(&HeaderMap::new()), RateHeaders::default());
    }

    #[test]
    fn the_newest_window_and_lowest_remaining_are_remembered() {
        let t = Traffic::default();
        let h = |remaining, reset| RateHeaders {
            limit: Some(10),
            remaining: Some(remaining),
            reset: Some(reset),
            retry_after: Some(9),
        };
        t.came_back(Some(h(5, 100)));
        t.came_back(Some(h(7, 100))); // an older answer of the same window arriving late
        assert_eq!(t.seen().remaining, Some(5));
        t.came_back(Some(h(9, 90))); // an answer from the previous window
        assert_eq!(t.seen().reset, Some(100));
        t.came_back(Some(h(9, 110))); // a new window
        assert_eq!(
            t.seen(),
            RateHeaders {
                retry_after: None,
                ..h(9, 110)
            }
        );
        t.came_back(Some(RateHeaders::default())); // no headers (401, unlimited): ignored
        t.came_back(None); // no answer at all
        assert_eq!(t.seen().remaining, Some(9));
        assert_eq!(t.view().completed, 6);
    }

    #[test]
    fn the_view_counts_the_wire_the_waiting_and_what_is_to_come() {
        let t = Traffic::default();
        let v = t.view();
        assert_eq!((v.concurrency, v.calls_to_come, v.rtt), (0, None, None));
        let _a = t.on_wire();
        let b = t.waiting();
        t.expect_calls(10);
        t.measure_rtt(Duration::from_millis(100));
        t.measure_rtt(Duration::from_millis(200));
        let v = t.view();
        assert_eq!((v.concurrency, v.calls_to_come), (2, Some(11)));
        assert_eq!(v.rtt, Some(Duration::from_millis(125)));
        drop(b);
        assert_eq!(t.view().concurrency, 1);
        t.expect_calls(u64::MAX);
        assert_eq!(t.view().calls_to_come, Some(u64::MAX - 1));
    }
}
