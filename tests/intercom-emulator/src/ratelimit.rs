//! Intercom's rate limit: a per-app budget in fixed 10-second windows aligned
//! to wall-clock multiples of 10 s (…:00, …:10, …:20). Every authenticated
//! response says how much is left; past the budget the answer is `429`.
//!
//! One budget is shared by every token (they all belong to the one emulated
//! app). The window math is pure and unit-tested; [`RateLimiter`] only adds a
//! mutex around the current window's counter.
//!
//! Unlimited (`--rate-limit 0`) still answers with the headers, as Intercom
//! always does: the budget is then [`UNLIMITED`] calls per window, which no
//! client can spend in 10 seconds, and the count and reset are real.

use std::sync::Mutex;

/// Length of a window in seconds.
pub const WINDOW_SECS: i64 = 10;

/// `X-RateLimit-Limit` of an unlimited emulator: the largest budget the header
/// carries (`u32::MAX`), which no client can reach, so a client pacing by the
/// headers never waits.
pub const UNLIMITED: u32 = u32::MAX;

/// Start and end (exclusive; the `X-RateLimit-Reset` value) of the window that
/// holds `now` (Unix seconds).
pub fn window_bounds(now: i64) -> (i64, i64) {
    let start = now - now.rem_euclid(WINDOW_SECS);
    (start, start + WINDOW_SECS)
}

/// What the limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// `X-RateLimit-Limit`: the per-window budget.
    pub limit: u32,
    /// `X-RateLimit-Remaining` after this request (0 when refused).
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix seconds when the window ends.
    pub reset: i64,
}

/// The counter of the current window, as pure data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Start of the window the counter belongs to.
    pub start: i64,
    /// Requests admitted in it.
    pub used: u32,
}

impl Window {
    /// Count one request at `now` against `limit`; a new window starts empty.
    pub fn admit(&mut self, now: i64, limit: u32) -> Decision {
        let (start, reset) = window_bounds(now);
        if start != self.start {
            *self = Window { start, used: 0 };
        }
        if self.used >= limit {
            return Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset,
            };
        }
        self.used += 1;
        Decision {
            allowed: true,
            limit,
            remaining: limit - self.used,
            reset,
        }
    }
}

/// The app-wide limiter. `limit == 0` means unlimited: a budget of
/// [`UNLIMITED`] per window.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Mutex<Window>,
}

impl RateLimiter {
    /// A limiter with `limit` requests per 10-second window (0 = unlimited).
    pub fn new(limit: u32) -> RateLimiter {
        RateLimiter {
            limit: if limit == 0 { UNLIMITED } else { limit },
            window: Mutex::new(Window::default()),
        }
    }

    /// The decision for a request arriving `now` (its headers included).
    pub fn check(&self, now: i64) -> Decision {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        window.admit(now, self.limit)
    }

    /// Forget the current window's count.
    pub fn reset(&self) {
        *self.window.lock().unwrap_or_else(|e| e.into_inner()) = Window::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_multiples_of_ten_seconds() {
        assert_eq!(window_bounds(1_700_000_000), (1_700_000_000, 1_700_000_010));
        assert_eq!(window_bounds(1_700_000_009), (1_700_000_000, 1_700_000_010));
        assert_eq!(window_bounds(1_700_000_010), (1_700_000_010, 1_700_000_020));
        assert_eq!(window_bounds(5), (0, 10));
    }

    #[test]
    fn budget_is_spent_then_refused_until_the_next_window() {
        let mut w = Window::default();
        let t = 1_700_000_003;
        let d1 = w.admit(t, 2);
        assert_eq!(
            (d1.allowed, d1.remaining, d1.reset),
            (true, 1, 1_700_000_010)
        );
        let d2 = w.admit(t + 1, 2);
        assert_eq!((d2.allowed, d2.remaining), (true, 0));
        let d3 = w.admit(t + 6, 2);
        assert_eq!((d3.allowed, d3.remaining, d3.limit), (false, 0, 2));
        // 1_700_000_010 opens a fresh window.
        let d4 = w.admit(1_700_000_010, 2);
        assert_eq!(
            (d4.allowed, d4.remaining, d4.reset),
            (true, 1, 1_700_000_020)
        );
    }

    #[test]
    fn refused_requests_do_not_eat_the_next_window() {
        let mut w = Window::default();
        for _ in 0..5 {
            w.admit(100, 1);
        }
        assert!(w.admit(110, 1).allowed);
    }

    #[test]
    fn zero_means_unlimited_and_still_counts() {
        let l = RateLimiter::new(0);
        for i in 1..=3 {
            let d = l.check(1_700_000_003);
            assert!(d.allowed);
            assert_eq!((d.limit, d.remaining), (UNLIMITED, UNLIMITED - i));
            assert_eq!(d.reset, 1_700_000_010);
        }
        let l = RateLimiter::new(1);
        assert!(l.check(1).allowed);
        assert!(!l.check(2).allowed);
        l.reset();
        assert!(l.check(3).allowed);
    }
}
