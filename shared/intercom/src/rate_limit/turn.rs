//! An attempt's turn: what the transport awaits before every HTTP attempt,
//! retries included.
//!
//! 1. **Header pacing**: wait as long as the newest `X-RateLimit-*` headers say
//!    (`backflow_core::pacing`). Without a shared budget the last calls of a
//!    window are spread over the time left; with one, the budget already keeps
//!    backflow's own callers within the window, so the headers only make the
//!    client wait for the reset when *other* clients of the app spent it.
//! 2. **Shared budget**: take one call of the app's budget (see
//!    [`crate::rate_limit::share`]); a no-op without a budget.

use std::time::Duration;

use backflow_core::pacing;

use crate::client::Client;
use crate::rate_limit::share::{BudgetShare, Taken};

/// How long a task waits for the first call's answer before asking the budget
/// again (the answer normally wakes it sooner).
const FIRST_ANSWER_WAIT: Duration = Duration::from_millis(250);

impl Client {
    /// Wait until the next attempt may be sent.
    pub(crate) async fn wait_turn(&self) {
        self.pace().await;
        self.take_from_budget().await;
    }

    /// Wait as long as the last rate-limit headers say.
    async fn pace(&self) {
        let traffic = self.traffic();
        let seen = traffic.seen();
        let in_flight = traffic.in_flight();
        let now_ms = self.clock().unix_millis();
        let delay = if self.share().is_some_and(BudgetShare::active) {
            pacing::delay_when_budgeted(&seen, now_ms, in_flight)
        } else {
            pacing::delay_before_next(&seen, now_ms, in_flight)
        };
        if !delay.is_zero() {
            tracing::debug!(
                delay_ms = delay.as_millis() as u64,
                remaining = seen.remaining,
                in_flight,
                "pacing Intercom calls"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Take one call of the shared budget for the attempt about to be sent.
    async fn take_from_budget(&self) {
        let Some(share) = self.share() else {
            return;
        };
        let traffic = self.traffic();
        let _waiting = traffic.waiting();
        loop {
            // Created before asking, so the first call's answer cannot be missed.
            let answered = traffic.next_answer();
            match share.take(self.clock(), || traffic.view()).await {
                Taken::AwaitFirstAnswer => {
                    let _ = tokio::time::timeout(FIRST_ANSWER_WAIT, answered).await;
                }
                Taken::Spent | Taken::Unbudgeted => return,
            }
        }
    }
}
