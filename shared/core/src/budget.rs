//! The shared call budget's decisions (pure): which rate-limit window a call
//! counts in, how many calls to take from the shared store at once, and what to
//! do with the store's answer.
//!
//! # The model
//!
//! Intercom counts an app's calls in fixed 10-second windows, each ending at the
//! `X-RateLimit-Reset` it reports (Unix seconds), with `X-RateLimit-Limit` calls
//! per window (`intercom-api.md` §6: 10,000/min spread evenly, i.e. 1,667 per
//! window by default). Every concurrent `load` invocation sending to one app
//! shares that budget, so they share a counter per (app, window) in a store
//! (DynamoDB in production): a client takes a *block* of calls with one
//! conditional increment (`used + k <= limit`), spends them one per HTTP
//! attempt, and takes the next block when they run out. The store never grants
//! more than the limit, so the callers together never blow it; blocks shrink as
//! the window fills, so its last calls are still used.
//!
//! # Decisions
//!
//! - [`slot`]: the window a call made now would count in, or how long to wait
//!   for one. Windows are aligned on the last `X-RateLimit-Reset` seen (plus
//!   multiples of 10 s); before any header, on Unix multiples of 10 s (the next
//!   10-second boundary), which is what Intercom and the emulator use. A window
//!   is usable from its start plus [`START_MARGIN`] (clock skew) until `lead`
//!   before its end: a call must *arrive* before the reset to count in it, so
//!   `lead` is the round trip plus a margin ([`lead`]). Its limit is the last
//!   `X-RateLimit-Limit` seen, else [`DEFAULT_LIMIT`].
//! - [`block_size`]: how many calls to ask for: a quarter of what is left in the
//!   window (so concurrent callers each get some, and the blocks shrink towards
//!   1 as the window fills), at most [`max_block`] (a sixteenth of the limit,
//!   which keeps the store's writes near 3 % of the calls), and no more than the
//!   caller can spend: before the window closes, in [`ROUNDS_AHEAD`] rounds of
//!   its concurrency, and — when the caller says how much work is left — in the
//!   calls still to come ([`demand`]). So a short-lived caller (one lookup), or
//!   a `load` finishing its batch, does not sit on calls that others, refused,
//!   would then only get in the next window.
//! - [`after_answer`]: granted → spend them; refused → the store said how much
//!   is used (and the limit it knows): ask again for what is left, or wait for
//!   the window's reset when nothing is.
//!
//! A limit learnt from the headers is authoritative and stored with the window
//! ([`Ask::set_limit`]); a caller that has not seen any header yet assumes
//! [`DEFAULT_LIMIT`] but never more than the stored limit (the store refuses,
//! answers the stored limit, and the caller adopts it).

use std::time::Duration;

use crate::retry::RateHeaders;

/// Length of a rate-limit window.
pub const WINDOW_SECS: i64 = 10;

/// Calls per window before any `X-RateLimit-Limit` was seen: Intercom's default
/// 10,000 per minute spread over six 10-second windows (`intercom-api.md` §6).
pub const DEFAULT_LIMIT: u32 = 1667;

/// A window is used only from this long after its start: the server's clock is
/// not ours (the same margin the header pacing adds to a reset).
pub const START_MARGIN: Duration = crate::pacing::RESET_MARGIN;

/// Added to the round trip to make [`lead`].
pub const END_MARGIN: Duration = Duration::from_millis(100);

/// The round trip assumed before any call came back.
pub const DEFAULT_RTT: Duration = Duration::from_millis(500);

/// `lead` never exceeds this (a pathological round trip must not make every
/// window unusable).
pub const MAX_LEAD: Duration = Duration::from_secs(3);

/// A window of the app's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Its end (`X-RateLimit-Reset`, Unix seconds); also its identity in the store.
    pub reset: i64,
    /// Calls allowed in it.
    pub limit: u32,
    /// `limit` comes from an `X-RateLimit-Limit` header (else it is assumed).
    pub limit_from_headers: bool,
}

impl Window {
    /// Unix milliseconds at which this window's calls stop counting in it.
    pub fn end_ms(&self) -> i64 {
        self.reset.saturating_mul(1000)
    }

    /// Unix milliseconds from which the next window may be used.
    pub fn next_start_ms(&self) -> i64 {
        self.end_ms()
            .saturating_add(START_MARGIN.as_millis() as i64)
    }
}

/// Where a call made now goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// It counts in this window.
    Use(Window),
    /// Too close to a window's edge: wait until this Unix millisecond and ask again.
    WaitUntil(i64),
}

/// What `lead` to use given the measured round trip (`None`: nothing measured).
pub fn lead(rtt: Option<Duration>) -> Duration {
    (rtt.unwrap_or(DEFAULT_RTT) + END_MARGIN).min(MAX_LEAD)
}

/// The window a call sent at `now_ms` (Unix ms) counts in, given the last
/// rate-limit headers seen and `lead` (see the module doc).
pub fn slot(seen: &RateHeaders, now_ms: i64, lead: Duration) -> Slot {
    let window_ms = WINDOW_SECS * 1000;
    let anchor_ms = seen.reset.unwrap_or(0).saturating_mul(1000);
    // The first window end after `now_ms` on the grid anchor + k·10 s.
    let k = now_ms.saturating_sub(anchor_ms).div_euclid(window_ms) + 1;
    let end_ms = anchor_ms.saturating_add(k.saturating_mul(window_ms));
    let start_ms = end_ms.saturating_sub(window_ms);
    let usable_from = start_ms.saturating_add(START_MARGIN.as_millis() as i64);
    let lead_ms = lead.min(MAX_LEAD).as_millis() as i64;
    let usable_until = end_ms.saturating_sub(lead_ms);
    if now_ms < usable_from {
        return Slot::WaitUntil(usable_from);
    }
    if now_ms >= usable_until {
        return Slot::WaitUntil(end_ms.saturating_add(START_MARGIN.as_millis() as i64));
    }
    let (limit, limit_from_headers) = match seen.limit {
        Some(l) if l > 0 => (l, true),
        _ => (DEFAULT_LIMIT, false),
    };
    Slot::Use(Window {
        reset: end_ms.div_euclid(1000),
        limit,
        limit_from_headers,
    })
}

/// The largest block taken at once: a sixteenth of the window's limit (at least 1).
pub fn max_block(limit: u32) -> u32 {
    limit.div_ceil(16).max(1)
}

/// How many calls `concurrency` callers, each waiting `rtt` per call, can send
/// in `time_left` (at least 1).
pub fn calls_possible(concurrency: u32, time_left: Duration, rtt: Duration) -> u32 {
    let rtt_ms = rtt.as_millis().max(1);
    let per_caller = time_left.as_millis().div_ceil(rtt_ms);
    let total = per_caller.saturating_mul(u128::from(concurrency.max(1)));
    u32::try_from(total).unwrap_or(u32::MAX).max(1)
}

/// A block covers at most this many rounds of the caller's concurrency.
pub const ROUNDS_AHEAD: u32 = 4;

/// How many calls a caller with `concurrency` requests in flight (or waiting)
/// could use from one block: what it can send before the window closes
/// ([`calls_possible`]), at most [`ROUNDS_AHEAD`] rounds of its concurrency, and
/// at most `calls_to_come` (the calls waiting plus those the caller still
/// expects to make) when it is known. At least 1.
pub fn demand(
    concurrency: u32,
    time_left: Duration,
    rtt: Duration,
    calls_to_come: Option<u64>,
) -> u32 {
    let d = calls_possible(concurrency, time_left, rtt)
        .min(concurrency.max(1).saturating_mul(ROUNDS_AHEAD));
    match calls_to_come {
        Some(n) => d.min(u32::try_from(n).unwrap_or(u32::MAX)).max(1),
        None => d,
    }
}

/// How many calls to ask the store for: `limit` of the window, `used` as the
/// store last answered for this window (`None`: not asked yet), `possible` as
/// [`demand`]. 0 when the window is known to be spent.
pub fn block_size(limit: u32, used: Option<u32>, possible: u32) -> u32 {
    let left = limit.saturating_sub(used.unwrap_or(0));
    if left == 0 {
        return 0;
    }
    left.div_ceil(4)
        .min(max_block(limit))
        .min(possible.max(1))
        .clamp(1, left)
}

/// One request to the store: take `want` calls of `window` if that keeps its
/// count within `window.limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub window: Window,
    pub want: u32,
}

impl Ask {
    /// The store's condition is `used <= max_used_before`.
    pub fn max_used_before(&self) -> i64 {
        i64::from(self.window.limit) - i64::from(self.want)
    }

    /// Store the limit with the window (it came from Intercom's headers); else
    /// the store must also refuse when it holds a lower limit than assumed.
    pub fn set_limit(&self) -> bool {
        self.window.limit_from_headers
    }
}

/// What the store answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The calls were taken; `used` is the window's count after.
    Granted { used: u32 },
    /// Refused: the window's count and the limit stored with it, if any.
    Refused { used: u32, limit: Option<u32> },
}

/// What to do after the store answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Spend `calls` in the window; the store's count is now `used`.
    Spend { calls: u32, used: u32 },
    /// Ask again: `window` (its limit maybe adopted from the store) has room,
    /// `used` calls are taken.
    AskAgain { window: Window, used: u32 },
    /// The window is spent: wait until this Unix millisecond (its reset plus
    /// [`START_MARGIN`]), then take from the next one.
    WaitUntil(i64),
}

/// Decide after the store's `answer` to `ask`.
pub fn after_answer(ask: &Ask, answer: &Answer) -> Next {
    match *answer {
        Answer::Granted { used } => Next::Spend {
            calls: ask.want,
            used,
        },
        Answer::Refused { used, limit } => {
            let mut window = ask.window;
            if !window.limit_from_headers {
                if let Some(stored) = limit.filter(|&l| l > 0) {
                    window.limit = window.limit.min(stored);
                }
            }
            if used < window.limit {
                Next::AskAgain { window, used }
            } else {
                Next::WaitUntil(window.next_start_ms())
            }
        }
    }
}

/// `until_ms − now_ms` as a duration (zero when already past).
pub fn wait(now_ms: i64, until_ms: i64) -> Duration {
    Duration::from_millis(until_ms.saturating_sub(now_ms).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window end on the Unix 10-second grid.
    const RESET: i64 = 1_700_000_010;
    const END_MS: i64 = RESET * 1000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn headers(limit: Option<u32>, reset: Option<i64>) -> RateHeaders {
        RateHeaders {
            limit,
            remaining: Some(5),
            reset,
            retry_after: None,
        }
    }

    fn window(reset: i64, limit: u32, from_headers: bool) -> Window {
        Window {
            reset,
            limit,
            limit_from_headers: from_headers,
        }
    }

    #[test]
    fn slot_table() {
        let lead = ms(200);
        let known = headers(Some(1000), Some(RESET));
        let none = RateHeaders::default();
        // (headers, now, expected, why)
        let rows: &[(RateHeaders, i64, Slot, &str)] = &[
            (
                known,
                END_MS - 5000,
                Slot::Use(window(RESET, 1000, true)),
                "mid-window: Intercom's own window and limit",
            ),
            (
                known,
                END_MS - 201,
                Slot::Use(window(RESET, 1000, true)),
                "just before the lead: still this window",
            ),
            (
                known,
                END_MS - 200,
                Slot::WaitUntil(END_MS + 250),
                "within the lead: the call would arrive after the reset",
            ),
            (
                known,
                END_MS + 100,
                Slot::WaitUntil(END_MS + 250),
                "the next window has just begun: wait out the start margin",
            ),
            (
                known,
                END_MS + 250,
                Slot::Use(window(RESET + 10, 1000, true)),
                "the next window, aligned on the header's reset",
            ),
            (
                known,
                END_MS + 25_000,
                Slot::Use(window(RESET + 30, 1000, true)),
                "stale headers: windows continue every 10 s",
            ),
            (
                headers(Some(1000), Some(RESET + 3)),
                END_MS,
                Slot::Use(window(RESET + 3, 1000, true)),
                "a grid that is not Unix-aligned is followed",
            ),
            (
                known,
                END_MS - 15_000,
                Slot::Use(window(RESET - 10, 1000, true)),
                "a reset further ahead (server clock ahead): same grid",
            ),
            (
                none,
                END_MS - 5000,
                Slot::Use(window(RESET, DEFAULT_LIMIT, false)),
                "no headers yet: the next 10-second boundary, the default limit",
            ),
            (
                none,
                END_MS - 9900,
                Slot::WaitUntil(END_MS - 9750),
                "no headers, 100 ms into a window: start margin",
            ),
            (
                headers(Some(0), Some(RESET)),
                END_MS - 5000,
                Slot::Use(window(RESET, DEFAULT_LIMIT, false)),
                "a zero limit header is no limit information",
            ),
        ];
        for &(seen, now, expected, why) in rows {
            assert_eq!(slot(&seen, now, lead), expected, "{why}");
        }
    }

    #[test]
    fn a_huge_lead_is_capped_so_windows_stay_usable() {
        let seen = headers(Some(100), Some(RESET));
        assert_eq!(
            slot(&seen, END_MS - 3001, Duration::from_secs(60)),
            Slot::Use(window(RESET, 100, true))
        );
        assert_eq!(lead(Some(Duration::from_secs(30))), MAX_LEAD);
        assert_eq!(lead(None), ms(600));
        assert_eq!(lead(Some(ms(100))), ms(200));
    }

    #[test]
    fn slot_never_panics_on_extremes() {
        for reset in [None, Some(i64::MIN), Some(i64::MAX), Some(0)] {
            for now in [i64::MIN, -1, 0, 1, i64::MAX] {
                let _ = slot(&headers(Some(u32::MAX), reset), now, Duration::MAX);
            }
        }
    }

    #[test]
    fn block_size_table() {
        // (limit, used, possible, expected, why)
        let rows: &[(u32, Option<u32>, u32, u32, &str)] = &[
            (
                1000,
                None,
                1000,
                63,
                "fresh window: the largest block, limit / 16",
            ),
            (1000, Some(0), 1000, 63, "same once the store answered 0"),
            (1000, Some(800), 1000, 50, "200 left: a quarter"),
            (1000, Some(960), 1000, 10, "40 left: a quarter"),
            (1000, Some(996), 1000, 1, "4 left: one at a time"),
            (
                1000,
                Some(999),
                1000,
                1,
                "the very last call is still taken",
            ),
            (1000, Some(1000), 1000, 0, "spent: ask for nothing"),
            (1000, Some(1200), 1000, 0, "over (outside writers): nothing"),
            (
                1000,
                None,
                5,
                5,
                "the caller can only spend 5 before the window ends",
            ),
            (1000, None, 0, 1, "always at least one"),
            (1667, None, 10_000, 105, "Intercom's default window"),
            (100, None, 1000, 7, "a small window: blocks of 7"),
            (100, Some(97), 1000, 1, "3 left of a small window"),
            (1, None, 1000, 1, "a window of one call"),
            (0, None, 1000, 0, "a zero limit: nothing"),
        ];
        for &(limit, used, possible, expected, why) in rows {
            assert_eq!(block_size(limit, used, possible), expected, "{why}");
        }
    }

    #[test]
    fn blocks_never_exceed_what_is_left_and_shrink_as_the_window_fills() {
        for limit in [1u32, 2, 7, 100, 167, 1000, 1667] {
            let mut previous = u32::MAX;
            for used in 0..=limit {
                let k = block_size(limit, Some(used), u32::MAX);
                assert!(k <= limit - used, "{limit}/{used}: {k}");
                assert!(k >= u32::from(used < limit), "{limit}/{used}: {k}");
                assert!(k <= previous, "{limit}/{used}: {k} > {previous}");
                previous = k;
            }
        }
    }

    #[test]
    fn one_caller_fills_a_window_with_few_store_writes() {
        // What a single caller asks for, answer after answer, until the window
        // is spent: every call is used, and the writes stay a small fraction.
        for (limit, max_writes) in [(1000u32, 40u32), (1667, 45), (100, 25)] {
            let (mut used, mut writes) = (0u32, 0u32);
            loop {
                let k = block_size(limit, Some(used), u32::MAX);
                if k == 0 {
                    break;
                }
                used += k;
                writes += 1;
            }
            assert_eq!(used, limit);
            assert!(writes <= max_writes, "{limit}: {writes} writes");
        }
    }

    #[test]
    fn calls_possible_table() {
        assert_eq!(calls_possible(16, Duration::from_secs(2), ms(100)), 320);
        assert_eq!(calls_possible(1, ms(250), ms(100)), 3);
        assert_eq!(calls_possible(0, ms(100), ms(100)), 1);
        assert_eq!(calls_possible(4, Duration::ZERO, ms(100)), 1);
        assert_eq!(calls_possible(4, ms(100), Duration::ZERO), 400);
        assert_eq!(
            calls_possible(u32::MAX, Duration::MAX, Duration::ZERO),
            u32::MAX
        );
    }

    #[test]
    fn demand_table() {
        let s5 = Duration::from_secs(5);
        // (concurrency, time left, rtt, calls to come, expected, why)
        type Row = (u32, Duration, Duration, Option<u64>, u32, &'static str);
        let rows: &[Row] = &[
            (16, s5, ms(100), None, 64, "a load: four rounds of 16"),
            (16, ms(200), ms(100), None, 32, "the window closes first"),
            (1, s5, ms(100), None, 4, "a lone lookup takes little"),
            (0, s5, ms(100), None, 4, "no concurrency counts as one"),
            (
                16,
                s5,
                ms(100),
                Some(20),
                20,
                "the end of a batch: only what is left",
            ),
            (
                16,
                s5,
                ms(100),
                Some(1000),
                64,
                "plenty left: the other caps",
            ),
            (
                16,
                s5,
                ms(100),
                Some(0),
                1,
                "at least the call being asked for",
            ),
            (
                u32::MAX,
                Duration::MAX,
                ms(1),
                Some(u64::MAX),
                u32::MAX,
                "no overflow",
            ),
        ];
        for &(concurrency, time_left, rtt, to_come, expected, why) in rows {
            assert_eq!(
                demand(concurrency, time_left, rtt, to_come),
                expected,
                "{why}"
            );
        }
    }

    #[test]
    fn after_answer_table() {
        let known = window(RESET, 1000, true);
        let assumed = window(RESET, DEFAULT_LIMIT, false);
        let ask = |w: Window, want: u32| Ask { window: w, want };
        // (ask, answer, expected, why)
        let rows: &[(Ask, Answer, Next, &str)] = &[
            (
                ask(known, 50),
                Answer::Granted { used: 550 },
                Next::Spend {
                    calls: 50,
                    used: 550,
                },
                "granted: spend them",
            ),
            (
                ask(known, 50),
                Answer::Refused {
                    used: 980,
                    limit: Some(1000),
                },
                Next::AskAgain {
                    window: known,
                    used: 980,
                },
                "20 left: ask again (for less)",
            ),
            (
                ask(known, 1),
                Answer::Refused {
                    used: 1000,
                    limit: Some(1000),
                },
                Next::WaitUntil(END_MS + 250),
                "spent: wait for the reset plus the margin",
            ),
            (
                ask(known, 5),
                Answer::Refused {
                    used: 999,
                    limit: Some(2000),
                },
                Next::AskAgain {
                    window: known,
                    used: 999,
                },
                "the headers' limit wins over a stored one",
            ),
            (
                ask(assumed, 100),
                Answer::Refused {
                    used: 400,
                    limit: Some(1000),
                },
                Next::AskAgain {
                    window: window(RESET, 1000, false),
                    used: 400,
                },
                "an assumed limit adopts the lower stored one",
            ),
            (
                ask(assumed, 100),
                Answer::Refused {
                    used: 1000,
                    limit: Some(1000),
                },
                Next::WaitUntil(END_MS + 250),
                "adopted limit already spent",
            ),
            (
                ask(assumed, 100),
                Answer::Refused {
                    used: 1600,
                    limit: None,
                },
                Next::AskAgain {
                    window: assumed,
                    used: 1600,
                },
                "no stored limit: the default still has 67 left",
            ),
            (
                ask(assumed, 1),
                Answer::Refused {
                    used: 10,
                    limit: Some(0),
                },
                Next::AskAgain {
                    window: assumed,
                    used: 10,
                },
                "a stored zero is ignored",
            ),
        ];
        for (a, answer, expected, why) in rows {
            assert_eq!(after_answer(a, answer), *expected, "{why}");
        }
    }

    #[test]
    fn the_store_condition() {
        let a = Ask {
            window: window(RESET, 1000, true),
            want: 63,
        };
        assert_eq!(a.max_used_before(), 937);
        assert!(a.set_limit());
        let a = Ask {
            window: window(RESET, 5, false),
            want: 7,
        };
        assert_eq!(a.max_used_before(), -2);
        assert!(!a.set_limit());
    }

    #[test]
    fn waits() {
        assert_eq!(wait(1000, 1500), ms(500));
        assert_eq!(wait(1500, 1000), Duration::ZERO);
        assert_eq!(
            wait(i64::MIN, i64::MAX),
            Duration::from_millis(i64::MAX as u64)
        );
    }
}
