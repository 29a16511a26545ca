//! Pacing decisions from the rate-limit headers (pure).
//!
//! Intercom spreads an app's per-minute budget over fixed 10-second windows and
//! reports, on every authenticated response, the window's budget
//! (`X-RateLimit-Limit`), what is left of it (`X-RateLimit-Remaining`) and when it
//! ends (`X-RateLimit-Reset`, Unix seconds). [`delay_before_next`] turns the last
//! headers a client saw into how long to wait before its next call.
//!
//! # Reasoning
//!
//! - **Use the whole budget.** Waiting costs wall-clock time (and Lambda money), so
//!   while the budget is comfortably larger than what could be spent before the
//!   next response arrives, there is no delay at all: a sequential caller runs at
//!   full speed until the window is nearly spent.
//! - **Count what is already on the wire.** The headers are as old as the last
//!   response; every call sent since then (`in_flight`) will eat one unit of the
//!   same budget. So the usable budget is `remaining − in_flight`.
//! - **Nothing left → wait for the reset.** When the usable budget is 0 the next
//!   call would be a 429; waiting until `reset` (plus a margin for the header's
//!   whole-second precision and clock skew) is cheaper than a 429 and a retry.
//! - **Little left → spread it.** Between the two, concurrent callers (this
//!   client's tasks, and other invocations sharing the app's budget, which we only
//!   see through `remaining`) would otherwise all fire at once and the stragglers
//!   would hit a 429. So once the usable budget falls below the low-water mark, the
//!   `C = in_flight + 1` callers space their calls over the time left:
//!   `delay = time_left · C / (usable + C)`. It grows smoothly from a fraction of
//!   the window towards the full time left as the budget approaches 0, and the last
//!   unit is still used before the reset (with `usable = 1, C = 1` the call goes
//!   half-way through the remaining time, not at the reset).
//! - **Low-water mark** = `max(limit / 10, 2 · C)`: a tenth of the window's budget
//!   (about 17 calls at Intercom's default 167 per window), and never less than
//!   two rounds of the current concurrency, so a burst of `C` calls cannot overrun.
//! - **Stale or missing headers → no delay.** A reset in the past means a new
//!   window with a fresh budget; no headers (the emulator without a limit, an
//!   unauthenticated answer) means nothing to pace by. The retry logic
//!   ([`crate::retry`]) still handles any 429 that slips through.
//!
//! # With a shared call budget
//!
//! When the client takes its calls from the shared budget ([`crate::budget`]),
//! the budget already keeps backflow's own callers within the window, and
//! spreading the last calls would only make them miss the window they were
//! granted in. The headers then only cover *other* clients of the same app:
//! [`delay_when_budgeted`] waits for the reset when the window is spent (the
//! usable budget is 0) and never spreads.

use std::time::Duration;

use crate::retry::RateHeaders;

/// Added to a wait that runs until `X-RateLimit-Reset`.
pub const RESET_MARGIN: Duration = Duration::from_millis(250);

/// How long to wait before the next call, given the last rate-limit headers seen,
/// the current time in Unix milliseconds, and `in_flight`: calls already sent (by
/// this client, other than the one about to go) whose responses have not arrived.
pub fn delay_before_next(headers_seen: &RateHeaders, now_unix_ms: i64, in_flight: u32) -> Duration {
    let (Some(remaining), Some(reset)) = (headers_seen.remaining, headers_seen.reset) else {
        return Duration::ZERO;
    };
    let time_left_ms = reset.saturating_mul(1000).saturating_sub(now_unix_ms);
    if time_left_ms <= 0 {
        return Duration::ZERO; // that window is over: a fresh budget
    }
    let time_left = Duration::from_millis(time_left_ms as u64);
    let callers = u64::from(in_flight) + 1;
    let usable = i64::from(remaining) - i64::from(in_flight);
    if usable <= 0 {
        return time_left + RESET_MARGIN;
    }
    let usable = usable as u64;
    let low_water = (u64::from(headers_seen.limit.unwrap_or(0)) / 10).max(2 * callers);
    if usable >= low_water {
        return Duration::ZERO;
    }
    // `callers / (usable + callers)` < 1, so the delay stays below the time left.
    let ms = (time_left_ms as u64).saturating_mul(callers) / (usable + callers);
    Duration::from_millis(ms)
}

/// [`delay_before_next`] for a client that takes its calls from the shared
/// budget: wait for the reset (plus margin) when the headers say the window is
/// spent, else no delay.
pub fn delay_when_budgeted(
    headers_seen: &RateHeaders,
    now_unix_ms: i64,
    in_flight: u32,
) -> Duration {
    let (Some(remaining), Some(reset)) = (headers_seen.remaining, headers_seen.reset) else {
        return Duration::ZERO;
    };
    let time_left_ms = reset.saturating_mul(1000).saturating_sub(now_unix_ms);
    if time_left_ms <= 0 || i64::from(remaining) > i64::from(in_flight) {
        return Duration::ZERO;
    }
    Duration::from_millis(time_left_ms as u64) + RESET_MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESET: i64 = 1_700_000_010;
    /// 4 s before the window ends.
    const NOW_MS: i64 = RESET * 1000 - 4000;

    fn seen(limit: u32, remaining: u32, reset: i64) -> RateHeaders {
        RateHeaders {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(reset),
            retry_after: None,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn table() {
        // (limit, remaining, in_flight, now, expected, why)
        let rows: &[(u32, u32, u32, i64, Duration, &str)] = &[
            (167, 166, 0, NOW_MS, ms(0), "fresh window: full speed"),
            (
                167,
                17,
                0,
                NOW_MS,
                ms(0),
                "at the low-water mark: still full speed",
            ),
            (167, 40, 0, NOW_MS, ms(0), "40 usable, one caller"),
            (
                167,
                40,
                20,
                NOW_MS,
                ms(2048),
                "20 usable but 21 callers: low water 42, 4000 * 21 / 41",
            ),
            (
                167,
                9,
                0,
                NOW_MS,
                ms(400),
                "below low water: 4000 * 1 / (9 + 1)",
            ),
            (
                167,
                1,
                0,
                NOW_MS,
                ms(2000),
                "last unit: half-way, not at the reset",
            ),
            (
                167,
                0,
                0,
                NOW_MS,
                ms(4250),
                "spent: wait for the reset plus margin",
            ),
            (
                167,
                5,
                5,
                NOW_MS,
                ms(4250),
                "in-flight calls will spend what is left",
            ),
            (167, 3, 7, NOW_MS, ms(4250), "more in flight than remaining"),
            (
                167,
                6,
                2,
                NOW_MS,
                ms(1714),
                "4 usable shared by 3 callers: 4000 * 3 / 7",
            ),
            (5, 4, 0, NOW_MS, ms(0), "small budget, sequential: no delay"),
            (5, 1, 0, NOW_MS, ms(2000), "small budget, last unit"),
            (5, 0, 0, NOW_MS, ms(4250), "small budget spent"),
            (167, 0, 0, RESET * 1000, ms(0), "reset reached: new window"),
            (
                167,
                0,
                0,
                RESET * 1000 + 5000,
                ms(0),
                "stale headers from an old window",
            ),
            (
                167,
                0,
                0,
                RESET * 1000 - 10,
                ms(260),
                "10 ms before the reset",
            ),
        ];
        for &(limit, remaining, in_flight, now, expected, why) in rows {
            let got = delay_before_next(&seen(limit, remaining, RESET), now, in_flight);
            assert_eq!(got, expected, "{why}");
        }
    }

    #[test]
    fn budgeted_table() {
        // (remaining, in_flight, now, expected, why)
        let rows: &[(u32, u32, i64, Duration, &str)] = &[
            (166, 0, NOW_MS, ms(0), "fresh window"),
            (
                1,
                0,
                NOW_MS,
                ms(0),
                "the last unit is used at once, not spread",
            ),
            (9, 8, NOW_MS, ms(0), "one more than in flight"),
            (
                0,
                0,
                NOW_MS,
                ms(4250),
                "spent (another client): wait for the reset",
            ),
            (
                5,
                5,
                NOW_MS,
                ms(4250),
                "in-flight calls will spend what is left",
            ),
            (0, 0, RESET * 1000, ms(0), "reset reached: new window"),
            (0, 3, RESET * 1000 + 10, ms(0), "stale headers"),
        ];
        for &(remaining, in_flight, now, expected, why) in rows {
            let got = delay_when_budgeted(&seen(167, remaining, RESET), now, in_flight);
            assert_eq!(got, expected, "{why}");
        }
        assert_eq!(
            delay_when_budgeted(&RateHeaders::default(), NOW_MS, 0),
            Duration::ZERO
        );
        assert!(
            delay_when_budgeted(&seen(1, 0, i64::MAX), i64::MIN, u32::MAX)
                > Duration::from_secs(1_000_000)
        );
    }

    #[test]
    fn no_headers_no_delay() {
        assert_eq!(
            delay_before_next(&RateHeaders::default(), NOW_MS, 3),
            Duration::ZERO
        );
        let partial = RateHeaders {
            limit: Some(167),
            remaining: Some(0),
            reset: None,
            retry_after: None,
        };
        assert_eq!(delay_before_next(&partial, NOW_MS, 0), Duration::ZERO);
    }

    #[test]
    fn without_a_limit_header_the_low_water_mark_follows_concurrency() {
        let h = RateHeaders {
            limit: None,
            remaining: Some(3),
            reset: Some(RESET),
            retry_after: None,
        };
        assert_eq!(delay_before_next(&h, NOW_MS, 0), Duration::ZERO); // 3 >= 2
        assert_eq!(delay_before_next(&h, NOW_MS, 1), ms(4000 * 2 / 4)); // 2 < 4
    }

    #[test]
    fn delay_never_exceeds_the_window_and_grows_as_budget_shrinks() {
        for in_flight in 0..30 {
            let mut previous = Duration::ZERO;
            for remaining in (0..=200).rev() {
                let d = delay_before_next(&seen(167, remaining, RESET), NOW_MS, in_flight);
                assert!(
                    d <= ms(4000) + RESET_MARGIN,
                    "{remaining}/{in_flight}: {d:?}"
                );
                assert!(
                    d >= previous,
                    "{remaining}/{in_flight}: {d:?} < {previous:?}"
                );
                previous = d;
            }
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let d = delay_before_next(&seen(u32::MAX, u32::MAX, i64::MAX), i64::MIN, u32::MAX);
        assert!(d > Duration::from_secs(1_000_000));
        let d = delay_before_next(&seen(u32::MAX, 1, i64::MAX), 0, 0);
        assert!(d > Duration::from_secs(1_000_000));
        assert_eq!(
            delay_before_next(&seen(0, 0, i64::MIN), i64::MAX, 0),
            Duration::ZERO
        );
    }
}
