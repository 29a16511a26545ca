//! Retry decisions for an Intercom response (pure).
//!
//! One function, [`decide`], looks at what a single HTTP attempt produced (its
//! status, or `None` when no response came back), the rate-limit headers, how many
//! attempts were made and how long they took, and answers
//! [`Decision::Done`] / [`Decision::Retry`] / [`Decision::GiveUp`]. The transport
//! (`backflow-intercom`) only sleeps and resends; everything worth testing is here,
//! with the clock and the randomness passed in.
//!
//! | response | decision |
//! |---|---|
//! | 1xx/2xx/3xx | `Done` |
//! | 4xx except 408 and 429 | `Done`: a row outcome (rejected, not found, conflict…) for the caller |
//! | 501, 505 | `Done`: not implemented / version not supported never heal by waiting |
//! | 429 | wait `Retry-After`; else until `X-RateLimit-Reset` (+ margin); else exponential |
//! | 408, other 5xx, no response | exponential `base·2^(attempt-1)`, capped |
//!
//! Every wait is capped at `policy.cap` and then stretched by 10–20 % jitter (as
//! Intercom's own SDKs do), so concurrent callers that failed together do not come
//! back together; a wait is therefore never negative and never above `cap · 1.2`.
//!
//! Give-up rules: after `max_attempts` attempts, or when the wait would carry the
//! total time past `max_elapsed` (a destination that stays down fails the run with
//! a clear error after a bounded time instead of sleeping past the budget first).
//! The reason names the last status.

use std::time::Duration;

/// The rate-limit headers of one response (`X-RateLimit-*`, `Retry-After`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// `X-RateLimit-Limit`: the per-10-second-window budget.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`: calls left in the current window.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset`: Unix seconds when the current window ends.
    pub reset: Option<i64>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The response is final (success, or a 4xx the caller turns into a row outcome).
    Done,
    /// Send the same request again after this wait.
    Retry { after: Duration },
    /// Stop: the destination kept failing. `reason` names the last status.
    GiveUp { reason: String },
}

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (default 8).
    pub max_attempts: u32,
    /// The first exponential wait (default 1 s).
    pub base: Duration,
    /// No single wait is longer than this before jitter (default 60 s).
    pub cap: Duration,
    /// No retry is scheduled past this much time since the first attempt (default 5 min).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(300),
        }
    }
}

/// Added to a wait computed from `X-RateLimit-Reset`: the header has whole-second
/// precision and the server's clock is not ours.
pub const RESET_MARGIN: Duration = Duration::from_millis(500);

/// Decide what to do after attempt number `attempt` (1-based), which got `status`
/// (`None` = connection error or timeout) and `headers`, `elapsed` after the first
/// attempt started. `now_unix` is the current time in Unix seconds (for
/// `X-RateLimit-Reset`); `jitter` is a random number in `0.0..1.0` from the caller
/// (out-of-range values are clamped).
pub fn decide(
    policy: &RetryPolicy,
    status: Option<u16>,
    headers: &RateHeaders,
    attempt: u32,
    elapsed: Duration,
    now_unix: i64,
    jitter: f64,
) -> Decision {
    let raw = match status {
        Some(429) => rate_limited_wait(policy, headers, attempt, now_unix),
        Some(408) | None => exponential(policy, attempt),
        Some(501 | 505) => return Decision::Done,
        Some(s) if s >= 500 => exponential(policy, attempt),
        Some(_) => return Decision::Done,
    };
    let last = describe(status);
    let attempt = attempt.max(1);
    if attempt >= policy.max_attempts.max(1) {
        return Decision::GiveUp {
            reason: format!(
                "{last} after {attempt} attempts in {:.1}s",
                elapsed.as_secs_f64()
            ),
        };
    }
    let after = with_jitter(raw.min(policy.cap), jitter);
    if elapsed.saturating_add(after) > policy.max_elapsed {
        return Decision::GiveUp {
            reason: format!(
                "{last} after {attempt} attempts in {:.1}s (retry budget of {}s exhausted)",
                elapsed.as_secs_f64(),
                policy.max_elapsed.as_secs()
            ),
        };
    }
    Decision::Retry { after }
}

/// `429`: the server said how long (`Retry-After`), or when the window ends
/// (`X-RateLimit-Reset`); without either, back off exponentially.
fn rate_limited_wait(
    policy: &RetryPolicy,
    headers: &RateHeaders,
    attempt: u32,
    now_unix: i64,
) -> Duration {
    if let Some(secs) = headers.retry_after {
        return Duration::from_secs(secs);
    }
    if let Some(reset) = headers.reset {
        // A reset in the past means the window is already over: retry after the margin.
        let secs = reset.saturating_sub(now_unix).max(0) as u64;
        return Duration::from_secs(secs).saturating_add(RESET_MARGIN);
    }
    exponential(policy, attempt)
}

/// `base · 2^(attempt-1)`, saturating (a huge attempt number is just "the cap").
fn exponential(policy: &RetryPolicy, attempt: u32) -> Duration {
    let shift = attempt.max(1) - 1;
    let factor = 1u32.checked_shl(shift).unwrap_or(u32::MAX);
    policy.base.saturating_mul(factor)
}

/// Stretch `d` by 10–20 %: `jitter` 0.0 → +10 %, 1.0 → +20 %.
fn with_jitter(d: Duration, jitter: f64) -> Duration {
    let j = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // `min` because 1.1 + 0.1 is a hair above 1.2 in floating point.
    d.mul_f64((1.1 + 0.1 * j).min(1.2))
}

fn describe(status: Option<u16>) -> String {
    match status {
        Some(429) => "rate limited (HTTP 429)".to_string(),
        Some(s) => format!("HTTP {s}"),
        None => "no response (connection error or timeout)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_003;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    fn none() -> RateHeaders {
        RateHeaders::default()
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn retry_after(d: Decision) -> Duration {
        match d {
            Decision::Retry { after } => after,
            other => panic!("expected Retry, got {other:?}"),
        }
    }

    #[test]
    fn final_statuses_are_done() {
        for status in [
            200, 201, 202, 204, 301, 304, 400, 401, 403, 404, 409, 410, 422, 501, 505,
        ] {
            assert_eq!(
                decide(
                    &policy(),
                    Some(status),
                    &none(),
                    1,
                    Duration::ZERO,
                    NOW,
                    0.5
                ),
                Decision::Done,
                "status {status}"
            );
        }
    }

    #[test]
    fn done_even_when_attempts_are_exhausted() {
        // A success on the last attempt is a success, never "gave up".
        let d = decide(&policy(), Some(200), &none(), 8, secs(400.0), NOW, 0.5);
        assert_eq!(d, Decision::Done);
    }

    #[test]
    fn transient_failures_back_off_exponentially() {
        // (status, attempt, expected wait before jitter)
        let table: &[(Option<u16>, u32, f64)] = &[
            (Some(500), 1, 1.0),
            (Some(502), 2, 2.0),
            (Some(503), 3, 4.0),
            (Some(504), 4, 8.0),
            (Some(408), 5, 16.0),
            (None, 6, 32.0),
            (None, 7, 60.0), // 64 s capped
            (Some(520), 1, 1.0),
        ];
        for &(status, attempt, expected) in table {
            let wait = retry_after(decide(
                &policy(),
                status,
                &none(),
                attempt,
                Duration::ZERO,
                NOW,
                0.0,
            ));
            assert_eq!(wait, secs(expected * 1.1), "{status:?} attempt {attempt}");
        }
    }

    #[test]
    fn rate_limited_honours_retry_after_first() {
        let h = RateHeaders {
            retry_after: Some(7),
            reset: Some(NOW + 2),
            remaining: Some(0),
            limit: Some(167),
        };
        let wait = retry_after(decide(
            &policy(),
            Some(429),
            &h,
            1,
            Duration::ZERO,
            NOW,
            0.0,
        ));
        assert_eq!(wait, secs(7.0 * 1.1));
    }

    #[test]
    fn rate_limited_waits_until_the_reset() {
        let table: &[(i64, f64)] = &[
            (NOW + 7, 7.5),       // the window ends in 7 s, plus the margin
            (NOW, 0.5),           // ends this second
            (NOW - 30, 0.5),      // reset in the past: never a negative wait
            (NOW + 86_400, 60.0), // a huge reset is capped
        ];
        for &(reset, expected) in table {
            let h = RateHeaders {
                reset: Some(reset),
                remaining: Some(0),
                limit: Some(5),
                retry_after: None,
            };
            let wait = retry_after(decide(
                &policy(),
                Some(429),
                &h,
                3,
                Duration::ZERO,
                NOW,
                0.0,
            ));
            assert_eq!(wait, secs(expected * 1.1), "reset {reset}");
        }
    }

    #[test]
    fn rate_limited_without_headers_backs_off() {
        let wait = retry_after(decide(
            &policy(),
            Some(429),
            &none(),
            3,
            Duration::ZERO,
            NOW,
            0.0,
        ));
        assert_eq!(wait, secs(4.0 * 1.1));
    }

    #[test]
    fn huge_retry_after_is_capped() {
        let h = RateHeaders {
            retry_after: Some(u64::MAX / 2),
            ..none()
        };
        let wait = retry_after(decide(
            &policy(),
            Some(429),
            &h,
            1,
            Duration::ZERO,
            NOW,
            1.0,
        ));
        assert_eq!(wait, secs(72.0));
    }

    #[test]
    fn jitter_stays_between_ten_and_twenty_percent() {
        let p = policy();
        for attempt in 1..8 {
            for i in 0..=20 {
                let jitter = f64::from(i) / 20.0;
                let wait = retry_after(decide(
                    &p,
                    Some(503),
                    &none(),
                    attempt,
                    Duration::ZERO,
                    NOW,
                    jitter,
                ));
                let raw = exponential(&p, attempt).min(p.cap);
                assert!(
                    wait >= raw.mul_f64(1.1) - Duration::from_nanos(1),
                    "{wait:?}"
                );
                assert!(
                    wait <= raw.mul_f64(1.2) + Duration::from_nanos(1),
                    "{wait:?}"
                );
                assert!(wait <= p.cap.mul_f64(1.2) + Duration::from_nanos(1));
            }
        }
        // Out-of-range jitter is clamped, never negative or over cap + 20 %.
        for jitter in [-5.0, 7.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let wait = retry_after(decide(&p, None, &none(), 7, Duration::ZERO, NOW, jitter));
            assert!(
                wait >= p.cap && wait <= p.cap.mul_f64(1.2),
                "{jitter}: {wait:?}"
            );
        }
    }

    #[test]
    fn gives_up_after_max_attempts_naming_the_last_status() {
        let table: &[(Option<u16>, &str)] = &[
            (Some(503), "HTTP 503"),
            (Some(429), "rate limited (HTTP 429)"),
            (None, "no response"),
        ];
        for &(status, needle) in table {
            match decide(&policy(), status, &none(), 8, secs(12.0), NOW, 0.5) {
                Decision::GiveUp { reason } => {
                    assert!(reason.contains(needle), "{reason}");
                    assert!(reason.contains("8 attempts"), "{reason}");
                }
                other => panic!("expected GiveUp, got {other:?}"),
            }
        }
        // One attempt before the limit still retries.
        assert!(matches!(
            decide(&policy(), Some(503), &none(), 7, secs(12.0), NOW, 0.5),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn gives_up_when_the_time_budget_is_spent() {
        let p = RetryPolicy {
            max_elapsed: secs(10.0),
            ..policy()
        };
        // 8 s elapsed + a 2.2 s wait would end past the 10 s budget.
        match decide(&p, Some(500), &none(), 2, secs(8.0), NOW, 0.0) {
            Decision::GiveUp { reason } => assert!(reason.contains("HTTP 500"), "{reason}"),
            other => panic!("expected GiveUp, got {other:?}"),
        }
        // Within budget it retries.
        assert!(matches!(
            decide(&p, Some(500), &none(), 2, secs(7.0), NOW, 0.0),
            Decision::Retry { .. }
        ));
        // Already past the budget.
        assert!(matches!(
            decide(&p, None, &none(), 1, secs(11.0), NOW, 0.0),
            Decision::GiveUp { .. }
        ));
    }

    #[test]
    fn degenerate_policies_do_not_panic() {
        let p = RetryPolicy {
            max_attempts: 0,
            base: Duration::ZERO,
            cap: Duration::ZERO,
            max_elapsed: Duration::ZERO,
        };
        assert!(matches!(
            decide(&p, Some(500), &none(), 0, Duration::ZERO, NOW, 0.5),
            Decision::GiveUp { .. }
        ));
        let p = RetryPolicy {
            max_attempts: u32::MAX,
            ..policy()
        };
        let wait = retry_after(decide(
            &p,
            Some(500),
            &none(),
            200,
            Duration::ZERO,
            NOW,
            0.0,
        ));
        assert_eq!(wait, secs(66.0));
    }
}
