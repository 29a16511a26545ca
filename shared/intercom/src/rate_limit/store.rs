//! The store of an app's shared call budget, as the client sees it: the
//! [`CallBudget`] trait, which does one atomic thing — "take `k` calls of window
//! `w` if that keeps its count within the limit, else tell me the count" — and
//! [`MemoryBudget`], a store in memory for the clients of one process (tests).
//! The production store is `backflow_aws::DynamoBudget` (one DynamoDB item per
//! app and window).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use backflow_core::budget::{Answer, Ask, Window};

use crate::client::lock;

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
