//! Where the client reads the time.
//!
//! Intercom's rate-limit windows are Unix times (`X-RateLimit-Reset` is Unix
//! seconds), so pacing, the shared budget and the waits after a `429` read Unix
//! time, from the client's [`Clock`] (`ClientConfig::clock`). Everything else
//! the client does with time is tokio's: every wait is a `tokio::time::sleep`,
//! every duration is measured with `tokio::time::Instant`. So when a test pauses
//! tokio's clock and gives the client a [`TokioClock`], the client's whole
//! notion of time is virtual: waiting out a 10-second window takes no real time.
//!
//! - [`SystemClock`]: the system clock (the default, and what production uses).
//! - [`TokioClock`]: Unix time that starts at a chosen instant and then moves
//!   exactly as tokio's clock does. Give the same clock to the Intercom emulator
//!   so its rate-limit windows turn with the client's.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of Unix time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Unix time in milliseconds.
    fn unix_millis(&self) -> i64;

    /// Unix time in whole seconds (rounded down).
    fn unix_secs(&self) -> i64 {
        self.unix_millis().div_euclid(1000)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Unix time that advances with tokio's clock: `start` plus the tokio time
/// elapsed since the clock was made. With `tokio::time::pause()` (or
/// `#[tokio::test(start_paused = true)]`) it only moves when tokio's time does,
/// that is when every task waits on a timer.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start_unix_ms: i64,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `unix_ms` now.
    pub fn starting_at(unix_ms: i64) -> TokioClock {
        TokioClock {
            start_unix_ms: unix_ms,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn unix_millis(&self) -> i64 {
        let elapsed = i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.start_unix_ms.saturating_add(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_system_clock_is_unix_time() {
        let secs = SystemClock.unix_secs();
        // 2023-11-14 and 2100-01-01: a clock reading anything else is broken.
        assert!((1_700_000_000..4_102_444_800).contains(&secs), "{secs}");
        assert_eq!(SystemClock.unix_millis().div_euclid(1000) - secs, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time_only() {
        let clock = TokioClock::starting_at(1_700_000_003_500);
        assert_eq!(clock.unix_millis(), 1_700_000_003_500);
        assert_eq!(clock.unix_secs(), 1_700_000_003);
        let real = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.unix_millis(), 1_700_003_603_500);
        assert!(real.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn negative_times_round_down() {
        #[derive(Debug)]
        struct At(i64);
        impl Clock for At {
            fn unix_millis(&self) -> i64 {
                self.0
            }
        }
        assert_eq!(At(-1).unix_secs(), -1);
        assert_eq!(At(1999).unix_secs(), 1);
    }
}
