//! A client's share of the app's call budget: every HTTP attempt of a [`Client`]
//! made with [`Client::with_budget`] first takes one call from a
//! [`CallBudget`] shared by every client of the same Intercom app (all
//! concurrent `load` invocations, two syncs to one workspace, `extract`'s
//! lookups).
//!
//! What to ask the store and what to do with its answer are the pure decisions
//! of `backflow_core::budget`; `BudgetShare` holds the calls the client took
//! and has not spent yet, asks the store, and sleeps.
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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backflow_core::budget::{self, Ask, Next, Slot, Window};
use backflow_core::retry::RateHeaders;

use crate::client::Client;
use crate::clock::Clock;
use crate::rate_limit::store::{BudgetError, CallBudget};

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

impl Held {
    /// Move to `window` (where a call made now counts). `None`: a held call of
    /// that window was spent. Else the window to ask the store about: with the
    /// limit of the headers, or the one adopted from the store for it.
    fn enter(&mut self, window: Window) -> Option<Window> {
        match self.window {
            Some(h) if h.reset == window.reset => {
                if self.calls > 0 {
                    self.calls -= 1;
                    return None;
                }
                Some(if window.limit_from_headers { window } else { h })
            }
            _ => {
                if self.calls > 0 {
                    tracing::debug!(
                        lost = self.calls,
                        "calls of a past rate-limit window were not spent"
                    );
                }
                *self = Held {
                    window: Some(window),
                    probe_out: self.probe_out,
                    ..Held::default()
                };
                Some(window)
            }
        }
    }
}

/// A client's side of the budget (one per [`Client`], shared by its clones).
pub(crate) struct BudgetShare {
    store: Arc<dyn CallBudget>,
    held: tokio::sync::Mutex<Held>,
    disabled: AtomicBool,
    writes: AtomicU64,
}

/// What the client tells the budget about itself when it needs a call.
#[derive(Debug, Clone, Copy)]
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

/// What [`BudgetShare::take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// One call of the budget is spent on this attempt.
    Spent,
    /// Wait for the first call's answer (it tells the limit), then ask again.
    AwaitFirstAnswer,
    /// Send unbudgeted: the server sends no rate-limit headers, or the store failed.
    Unbudgeted,
}

/// A step of [`BudgetShare::take`]'s loop.
enum Step {
    Done(Taken),
    Again,
}

impl BudgetShare {
    pub(crate) fn new(store: Arc<dyn CallBudget>) -> BudgetShare {
        BudgetShare {
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

    /// Requests made to the store so far.
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Take one call for the attempt about to be sent, waiting as the decisions
    /// say. `view` is re-read after every wait.
    pub(crate) async fn take(&self, clock: &dyn Clock, view: impl Fn() -> View) -> Taken {
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
            let now = clock.unix_millis();
            let lead = budget::lead(v.rtt);
            let window = match budget::slot(&v.seen, now, lead) {
                Slot::WaitUntil(t) => {
                    held.calls = 0; // calls of a closing window can no longer count in it
                    tokio::time::sleep(budget::wait(now, t)).await;
                    continue;
                }
                Slot::Use(w) => w,
            };
            let Some(window) = held.enter(window) else {
                return Taken::Spent;
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
            if let Step::Done(taken) = self.ask(clock, &mut held, ask, lead, headers_known).await {
                return taken;
            }
        }
    }

    /// Ask the store for `ask` and act on its answer.
    async fn ask(
        &self,
        clock: &dyn Clock,
        held: &mut Held,
        ask: Ask,
        lead: Duration,
        headers_known: bool,
    ) -> Step {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let answer = match self.store.take(ask).await {
            Ok(a) => a,
            Err(e) => {
                self.fail("taking calls", &e);
                return Step::Done(Taken::Unbudgeted);
            }
        };
        match budget::after_answer(&ask, &answer) {
            Next::Spend { calls, used } => {
                held.window = Some(ask.window);
                held.used = Some(used);
                if clock.unix_millis() >= ask.window.end_ms() - lead.as_millis() as i64 {
                    // The store answered too late for a call to arrive before
                    // the reset: these calls are lost, take from the next window.
                    held.calls = 0;
                    return Step::Again;
                }
                held.calls = calls - 1;
                if !headers_known {
                    held.probe_out = true;
                }
                Step::Done(Taken::Spent)
            }
            Next::AskAgain { window, used } => {
                held.window = Some(window);
                held.used = Some(used);
                Step::Again
            }
            Next::WaitUntil(t) => {
                held.used = Some(ask.window.limit);
                let wait = budget::wait(clock.unix_millis(), t);
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    window = ask.window.reset,
                    "the shared call budget of this window is spent; waiting for the next"
                );
                tokio::time::sleep(wait).await;
                Step::Again
            }
        }
    }

    /// Give back the calls held for a window that is still open.
    pub(crate) async fn release(&self, clock: &dyn Clock, rtt: Option<Duration>) {
        if !self.active() {
            return;
        }
        let mut held = self.held.lock().await;
        let (Some(window), calls) = (held.window, held.calls) else {
            return;
        };
        held.calls = 0;
        let open_until = window.end_ms() - budget::lead(rtt).as_millis() as i64;
        if calls == 0 || clock.unix_millis() >= open_until {
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
    pub fn with_budget(self, store: Arc<dyn CallBudget>) -> Client {
        self.set_share(BudgetShare::new(store));
        self
    }

    /// Tell the shared budget that about `calls` more calls will be made after
    /// those already waiting or in flight (e.g. the rows of a batch not started
    /// yet), so the client does not take more than it will spend. Without it the
    /// client assumes it stays busy.
    pub fn expect_calls(&self, calls: u64) {
        self.traffic().expect_calls(calls);
    }

    /// Give back the calls this client took from the shared budget and did not
    /// spend (when their window is still open), so other clients can use them.
    /// Call it when the client's work is done.
    pub async fn release_budget(&self) {
        if let Some(share) = self.share() {
            share.release(self.clock(), self.traffic().rtt()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    //! The share against a [`MemoryBudget`] on paused time: every path of
    //! [`BudgetShare::take`], with the waits taking no real time.

    use super::*;
    use crate::clock::TokioClock;
    use crate::rate_limit::store::MemoryBudget;
    use backflow_core::budget::START_MARGIN;

    /// 3 s into the window that ends at [`RESET`].
    const START_MS: i64 = 1_700_000_003_000;
    const RESET: i64 = 1_700_000_010;

    fn headers(limit: u32) -> RateHeaders {
        RateHeaders {
            limit: Some(limit),
            remaining: Some(limit - 1),
            reset: Some(RESET),
            retry_after: None,
        }
    }

    /// One caller with one call at a time, its round trip measured.
    fn view(seen: RateHeaders, completed: u64) -> View {
        View {
            seen,
            concurrency: 1,
            calls_to_come: None,
            completed,
            rtt: Some(Duration::from_millis(10)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_another_client_spent_is_waited_out() {
        let clock = TokioClock::starting_at(START_MS);
        let store = Arc::new(MemoryBudget::new());
        let (share, other) = (
            BudgetShare::new(store.clone()),
            BudgetShare::new(store.clone()),
        );
        let known = || view(headers(10), 1);
        // At 10 a window, blocks are of one call (a sixteenth of the limit).
        assert_eq!(share.take(&clock, known).await, Taken::Spent);
        for _ in 0..9 {
            assert_eq!(other.take(&clock, known).await, Taken::Spent);
        }
        // `share` believes 1 of 10 is used; the store refuses it and it waits
        // for the next window (its reset plus the start margin).
        assert_eq!(share.take(&clock, known).await, Taken::Spent);
        assert_eq!(store.windows(), vec![(RESET, 10), (RESET + 10, 1)]);
        let next_start = RESET * 1000 + START_MARGIN.as_millis() as i64;
        assert!(clock.unix_millis() >= next_start, "{}", clock.unix_millis());
        assert_eq!((share.writes(), other.writes()), (3, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_call_adopts_a_stored_limit_and_the_others_wait_for_its_answer() {
        let clock = TokioClock::starting_at(START_MS);
        let store = Arc::new(MemoryBudget::new());
        let other = BudgetShare::new(store.clone());
        assert_eq!(
            other.take(&clock, || view(headers(10), 1)).await,
            Taken::Spent
        );
        // No header seen yet: the limit is assumed (1,667) until the store,
        // which holds 10 for this window, refuses and the share adopts it.
        let share = BudgetShare::new(store.clone());
        let unknown = |completed| view(RateHeaders::default(), completed);
        assert_eq!(share.take(&clock, || unknown(0)).await, Taken::Spent);
        assert_eq!((store.used(RESET), share.writes()), (2, 2));
        // The first call is out: the next one waits for its answer...
        assert_eq!(
            share.take(&clock, || unknown(0)).await,
            Taken::AwaitFirstAnswer
        );
        // ... which came without rate-limit headers: nothing to budget.
        assert_eq!(share.take(&clock, || unknown(1)).await, Taken::Unbudgeted);
        assert_eq!(share.writes(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn unspent_calls_go_back_only_while_their_window_is_open() {
        let clock = TokioClock::starting_at(START_MS);
        let store = Arc::new(MemoryBudget::new());
        let share = BudgetShare::new(store.clone());
        let known = || view(headers(1667), 1);
        // A block of a few rounds of the caller's concurrency: one spent, the rest held.
        assert_eq!(share.take(&clock, known).await, Taken::Spent);
        let block = backflow_core::budget::ROUNDS_AHEAD;
        assert_eq!(store.used(RESET), block);
        share.release(&clock, Some(Duration::from_millis(10))).await;
        assert_eq!((store.used(RESET), share.writes()), (1, 2));

        assert_eq!(share.take(&clock, known).await, Taken::Spent);
        assert_eq!(store.used(RESET), 1 + block);
        // Past the window's last usable moment the held calls are worth nothing.
        tokio::time::sleep(Duration::from_millis(6950)).await;
        share.release(&clock, Some(Duration::from_millis(10))).await;
        assert_eq!((store.used(RESET), share.writes()), (1 + block, 3));
    }

    /// A store that is down.
    struct Down;

    impl CallBudget for Down {
        fn take(&self, _: Ask) -> crate::BudgetFuture<'_, backflow_core::budget::Answer> {
            Box::pin(async { Err(BudgetError("unreachable".into())) })
        }
        fn give_back(&self, _: Window, _: u32) -> crate::BudgetFuture<'_, ()> {
            Box::pin(async { Err(BudgetError("unreachable".into())) })
        }
        fn describe(&self) -> String {
            "down".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_fails_is_asked_once() {
        let clock = TokioClock::starting_at(START_MS);
        let share = BudgetShare::new(Arc::new(Down));
        let known = || view(headers(10), 1);
        assert_eq!(share.take(&clock, known).await, Taken::Unbudgeted);
        assert!(!share.active());
        assert_eq!(share.take(&clock, known).await, Taken::Unbudgeted);
        share.release(&clock, None).await;
        assert_eq!(share.writes(), 1);
    }
}
