//! The shared call budget, client side: every HTTP attempt of a [`Client`] made
//! with [`Client::with_budget`] first takes one call from a [`CallBudget`] shared
//! by every client of the same Intercom app (all concurrent `load` invocations,
//! two syncs to one workspace, `extract`'s lookups).
//!
//! The store behind the trait (DynamoDB in `backflow-aws`, [`MemoryBudget`] in
//! tests) only does one atomic thing: "take `k` calls of window `w` if that keeps
//! its count within the limit, else tell me the count". What to ask and what to
//! do with the answer are the pure decisions of `backflow_core::budget`; this
//! file holds the calls a client took but has not spent yet, and sleeps.
//!
//! ```text
//! attempt → held call of the current window? → spend it
//!         → else slot (which window, or wait) → block_size → store.take
//!              Spend(k)     → hold k − 1, spend one
//!              AskAgain     → ask for what is left
//!              WaitUntil(t) → sleep until the window's reset + margin
//! ```
//!
//! - **The first call learns the limit.** Until a response with
//!   `X-RateLimit-*` came back, the limit is only assumed (1,667), so the client
//!   sends one call (taking one from the budget) and its other tasks wait for
//!   that answer (one round trip).
//! - **No headers, no budget.** A server that answered without rate-limit
//!   headers (the emulator with `--rate-limit 0`) has no limit to share: calls
//!   go out unbudgeted until headers appear.
//! - **The store down is not the run down.** The first error of the store is
//!   logged as a warning and the client falls back to pacing from the headers
//!   alone for the rest of its life.
//! - **Unused calls go back.** [`Client::release_budget`] returns the calls held
//!   for a window that is still open (a `load` calls it before it returns); a
//!   window's unused calls are otherwise lost only for that window.
//!
//! Every store request is counted ([`crate::CallStats::budget_writes`]): with
//! DynamoDB each is one write unit, which the functions add to the run's usage.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use backflow_core::budget::{self, Answer, Ask, Next, Slot, Window};
use backflow_core::retry::RateHeaders;

use crate::client::{lock, unix_millis, Client};

/// A future returned by a [`CallBudget`].
pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BudgetError>> + Send + 'a>>;

/// The budget's store failed (unreachable, refused, throttled past its retries).
/// Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BudgetError(pub String);

/// The store of one Intercom app's call budget: a counter per rate-limit window.
pub trait CallBudget: Send + Sync {
    /// Atomically take `ask.want` calls of `ask.window` when the window's count
    /// is at most [`Ask::max_used_before`] and — unless [`Ask::set_limit`] — the
    /// limit stored with the window (if any) is not below `ask.window.limit`.
    /// On success store `ask.window.limit` when [`Ask::set_limit`] and answer the
    /// new count; else answer the count and the stored limit. A window never
    /// asked about counts 0.
    fn take(&self, ask: Ask) -> BudgetFuture<'_, Answer>;

    /// Give back `calls` taken earlier from `window` and not spent.
    fn give_back(&self, window: Window, calls: u32) -> BudgetFuture<'_, ()>;

    /// What the store is, for logs (never a secret).
    fn describe(&self) -> String;
}

/// A [`CallBudget`] in memory, shared by the clients of one process (tests, or
/// several clients in one invocation).
#[derive(Debug, Default)]
pub struct MemoryBudget {
    /// window reset → (count, stored limit)
    windows: Mutex<HashMap<i64, (u32, Option<u32>)>>,
}

impl MemoryBudget {
    pub fn new() -> MemoryBudget {
        MemoryBudget::default()
    }

    /// The count of the window ending at `reset`.
    pub fn used(&self, reset: i64) -> u32 {
        lock(&self.windows).get(&reset).map_or(0, |w| w.0)
    }

    /// Every window's (reset, count), oldest first.
    pub fn windows(&self) -> Vec<(i64, u32)> {
        let mut all: Vec<(i64, u32)> = lock(&self.windows)
            .iter()
            .map(|(r, (used, _))| (*r, *used))
            .collect();
        all.sort_unstable();
        all
    }
}

impl CallBudget for MemoryBudget {
    fn take(&self, ask: Ask) -> BudgetFuture<'_, Answer> {
        let mut windows = lock(&self.windows);
        let (used, limit) = windows.entry(ask.window.reset).or_insert((0, None));
        let room = i64::from(*used) <= ask.max_used_before();
        let limit_ok = ask.set_limit() || limit.is_none_or(|l| l >= ask.window.limit);
        let answer = if room && limit_ok {
            *used += ask.want;
            if ask.set_limit() {
                *limit = Some(ask.window.limit);
            }
            Answer::Granted { used: *used }
        } else {
            Answer::Refused {
                used: *used,
                limit: *limit,
            }
        };
        Box::pin(std::future::ready(Ok(answer)))
    }

    fn give_back(&self, window: Window, calls: u32) -> BudgetFuture<'_, ()> {
        if let Some((used, _)) = lock(&self.windows).get_mut(&window.reset) {
            *used = used.saturating_sub(calls);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn describe(&self) -> String {
        "in-memory call budget".to_string()
    }
}

/// What a client holds of the budget.
#[derive(Debug, Default)]
struct Held {
    /// The window the held calls belong to (with the limit in use for it).
    window: Option<Window>,
    /// Calls taken and not spent yet.
    calls: u32,
    /// The window's count as the store last answered.
    used: Option<u32>,
    /// The first call (sent before any header was seen) is out.
    probe_out: bool,
}

/// A client's side of the budget (one per [`Client`], shared by its clones).
pub(crate) struct Budgeted {
    store: std::sync::Arc<dyn CallBudget>,
    held: tokio::sync::Mutex<Held>,
    disabled: AtomicBool,
    pub(crate) writes: AtomicU64,
}

/// What the client tells the budget about itself when it needs a call.
pub(crate) struct View {
    /// The last rate-limit headers seen.
    pub seen: RateHeaders,
    /// Calls on the wire plus tasks waiting for a call.
    pub concurrency: u32,
    /// Calls the caller still expects beyond those in flight (waiting ones
    /// included), when it said ([`Client::expect_calls`]).
    pub calls_to_come: Option<u64>,
    /// Attempts that came back (answered or failed) so far.
    pub completed: u64,
    /// The measured round trip.
    pub rtt: Option<Duration>,
}

/// What [`Budgeted::take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// One call of the budget is spent on this attempt.
    Spent,
    /// Wait for the first call's answer (it tells the limit), then ask again.
    AwaitFirstAnswer,
    /// Send unbudgeted: the server sends no rate-limit headers, or the store failed.
    Unbudgeted,
}

impl Budgeted {
    pub(crate) fn new(store: std::sync::Arc<dyn CallBudget>) -> Budgeted {
        Budgeted {
            store,
            held: tokio::sync::Mutex::new(Held::default()),
            disabled: AtomicBool::new(false),
            writes: AtomicU64::new(0),
        }
    }

    /// Whether calls are taken from the budget (the store has not failed).
    pub(crate) fn active(&self) -> bool {
        !self.disabled.load(Ordering::Relaxed)
    }

    /// Take one call for the attempt about to be sent, waiting as the decisions
    /// say. `view` is re-read after every wait.
    pub(crate) async fn take(&self, view: impl Fn() -> View) -> Taken {
        loop {
            if !self.active() {
                return Taken::Unbudgeted;
            }
            let v = view();
            let mut held = self.held.lock().await;
            let headers_known = v.seen.remaining.is_some() && v.seen.reset.is_some();
            if !headers_known {
                if v.completed > 0 {
                    return Taken::Unbudgeted; // answered without rate-limit headers
                }
                if held.probe_out {
                    return Taken::AwaitFirstAnswer;
                }
            }
            let now = unix_millis();
            let lead = budget::lead(v.rtt);
            let window = match budget::slot(&v.seen, now, lead) {
                Slot::WaitUntil(t) => {
                    held.calls = 0; // calls of a closing window can no longer count in it
                    tokio::time::sleep(budget::wait(now, t)).await;
                    continue;
                }
                Slot::Use(w) => w,
            };
            let window = match held.window {
                Some(h) if h.reset == window.reset => {
                    if held.calls > 0 {
                        held.calls -= 1;
                        return Taken::Spent;
                    }
                    if window.limit_from_headers {
                        window
                    } else {
                        h // keep a limit adopted from the store
                    }
                }
                _ => {
                    if held.calls > 0 {
                        tracing::debug!(
                            lost = held.calls,
                            "calls of a past rate-limit window were not spent"
                        );
                    }
                    *held = Held {
                        window: Some(window),
                        probe_out: held.probe_out,
                        ..Held::default()
                    };
                    window
                }
            };
            let want = if headers_known {
                let time_left = budget::wait(now, window.end_ms() - lead.as_millis() as i64);
                let demand = budget::demand(
                    v.concurrency,
                    time_left,
                    v.rtt.unwrap_or(budget::DEFAULT_RTT),
                    v.calls_to_come,
                );
                budget::block_size(window.limit, held.used, demand)
            } else {
                1 // the first call: its answer tells the limit
            };
            if want == 0 {
                held.used = Some(window.limit);
                tokio::time::sleep(budget::wait(now, window.next_start_ms())).await;
                continue;
            }
            let ask = Ask { window, want };
            self.writes.fetch_add(1, Ordering::Relaxed);
            let answer = match self.store.take(ask).await {
                Ok(a) => a,
                Err(e) => {
                    self.fail("taking calls", &e);
                    return Taken::Unbudgeted;
                }
            };
            match budget::after_answer(&ask, &answer) {
                Next::Spend { calls, used } => {
                    held.window = Some(window);
                    held.used = Some(used);
                    if unix_millis() >= window.end_ms() - lead.as_millis() as i64 {
                        // The store answered too late for a call to arrive before
                        // the reset: these calls are lost, take from the next window.
                        held.calls = 0;
                        continue;
                    }
                    held.calls = calls - 1;
                    if !headers_known {
                        held.probe_out = true;
                    }
                    return Taken::Spent;
                }
                Next::AskAgain { window, used } => {
                    held.window = Some(window);
                    held.used = Some(used);
                }
                Next::WaitUntil(t) => {
                    held.used = Some(window.limit);
                    let wait = budget::wait(unix_millis(), t);
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        window = window.reset,
                        "the shared call budget of this window is spent; waiting for the next"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Give back the calls held for a window that is still open.
    pub(crate) async fn release(&self, rtt: Option<Duration>) {
        if !self.active() {
            return;
        }
        let mut held = self.held.lock().await;
        let (Some(window), calls) = (held.window, held.calls) else {
            return;
        };
        held.calls = 0;
        let open_until = window.end_ms() - budget::lead(rtt).as_millis() as i64;
        if calls == 0 || unix_millis() >= open_until {
            return;
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.store.give_back(window, calls).await {
            self.fail("giving back unused calls", &e);
        }
    }

    fn fail(&self, what: &str, e: &BudgetError) {
        if !self.disabled.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                store = %self.store.describe(),
                error = %e,
                "shared call budget unavailable ({what}); pacing from the rate-limit headers only"
            );
        }
    }
}

impl Client {
    /// Take every call of this client (and its clones) from `store`, shared with
    /// the other clients of the same Intercom app (see the module doc). Call it
    /// right after building the client; a second call is ignored.
    pub fn with_budget(self, store: std::sync::Arc<dyn CallBudget>) -> Client {
        self.set_budget(Budgeted::new(store));
        self
    }

    /// Tell the shared budget that about `calls` more calls will be made after
    /// those already waiting or in flight (e.g. the rows of a batch not started
    /// yet), so the client does not take more than it will spend. Without it the
    /// client assumes it stays busy.
    pub fn expect_calls(&self, calls: u64) {
        self.set_expected_calls(calls);
    }

    /// Give back the calls this client took from the shared budget and did not
    /// spend (when their window is still open), so other clients can use them.
    /// Call it when the client's work is done.
    pub async fn release_budget(&self) {
        if let Some(b) = self.budget() {
            b.release(self.rtt()).await;
        }
    }
}
