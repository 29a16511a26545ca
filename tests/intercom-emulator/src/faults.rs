//! Random failures (`--fault-rate F`): that fraction of API requests fails with
//! `500 server_error`, `503 service_unavailable` or a dropped connection, one
//! third each. `--seed N` seeds the generator so a run is repeatable (given the
//! same order of requests).
//!
//! By default a fault happens *before* the request touches any state, so a retry
//! is always safe. Real Intercom may apply a write and still fail (a timeout
//! after the commit, a 5xx from a proxy); `Options::fault_after_apply` emulates
//! that: the request runs, then its answer is replaced by the fault.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// One injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `500` with code `server_error`.
    ServerError,
    /// `503` with code `service_unavailable`.
    ServiceUnavailable,
    /// The connection is closed without any response.
    Drop,
}

impl Fault {
    /// The name `POST /_emulator/faults` takes and `GET` shows: the error code
    /// of the answer, or `dropped`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::ServerError => "server_error",
            Fault::ServiceUnavailable => "service_unavailable",
            Fault::Drop => "dropped",
        }
    }

    /// The fault named `name` ([`Fault::name`]).
    pub fn from_name(name: &str) -> Option<Fault> {
        [Fault::ServerError, Fault::ServiceUnavailable, Fault::Drop]
            .into_iter()
            .find(|f| f.name() == name)
    }

    fn code(self) -> u8 {
        match self {
            Fault::ServerError => 1,
            Fault::ServiceUnavailable => 2,
            Fault::Drop => 3,
        }
    }

    fn from_code(code: u8) -> Option<Fault> {
        match code {
            1 => Some(Fault::ServerError),
            2 => Some(Fault::ServiceUnavailable),
            3 => Some(Fault::Drop),
            _ => None,
        }
    }
}

/// Marker put in a response's extensions to ask the server loop to close the
/// connection instead of answering. (Through [`crate::app`] without a socket,
/// such a response is an empty `500`.)
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The fault dice. The rate can be changed while the emulator runs
/// (`POST /_emulator/faults`), e.g. to take the destination down mid-run.
#[derive(Debug)]
pub struct Faults {
    /// The rate's `f64` bits.
    rate: AtomicU64,
    /// 0: any kind, one third each; else the one kind every fault is.
    kind: AtomicU8,
    rng: Mutex<StdRng>,
}

impl Faults {
    /// Faults at `rate` (0.0–1.0), repeatable when `seed` is given.
    pub fn new(rate: f64, seed: Option<u64>) -> Faults {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng::<StdRng>(),
        };
        Faults {
            rate: AtomicU64::new(clamp(rate).to_bits()),
            kind: AtomicU8::new(0),
            rng: Mutex::new(rng),
        }
    }

    /// The one kind every fault is, `None` when they are mixed.
    pub fn kind(&self) -> Option<Fault> {
        Fault::from_code(self.kind.load(Ordering::Relaxed))
    }

    /// Make every fault `kind` (`None`: mixed, the default).
    pub fn set_kind(&self, kind: Option<Fault>) {
        self.kind
            .store(kind.map_or(0, Fault::code), Ordering::Relaxed);
    }

    /// The current rate.
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    /// Change the rate (clamped to 0.0–1.0; NaN counts as 0).
    pub fn set_rate(&self, rate: f64) {
        self.rate.store(clamp(rate).to_bits(), Ordering::Relaxed);
    }

    /// Roll for one request.
    pub fn roll(&self) -> Option<Fault> {
        let rate = self.rate();
        if rate <= 0.0 {
            return None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let fault = pick(rng.random::<f64>(), rng.random_range(0..3u8), rate)?;
        Some(self.kind().unwrap_or(fault))
    }
}

fn clamp(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// Pure choice: `draw` in [0, 1) below `rate` fails, `kind` picks how.
pub fn pick(draw: f64, kind: u8, rate: f64) -> Option<Fault> {
    if draw >= rate {
        return None;
    }
    Some(match kind % 3 {
        0 => Fault::ServerError,
        1 => Fault::ServiceUnavailable,
        _ => Fault::Drop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_respects_the_rate() {
        assert_eq!(pick(0.5, 0, 0.4), None);
        assert_eq!(pick(0.3, 0, 0.4), Some(Fault::ServerError));
        assert_eq!(pick(0.3, 1, 0.4), Some(Fault::ServiceUnavailable));
        assert_eq!(pick(0.3, 2, 0.4), Some(Fault::Drop));
    }

    #[test]
    fn seeded_faults_repeat_and_match_the_rate() {
        let a = Faults::new(0.2, Some(7));
        let b = Faults::new(0.2, Some(7));
        let rolls_a: Vec<_> = (0..2000).map(|_| a.roll()).collect();
        let rolls_b: Vec<_> = (0..2000).map(|_| b.roll()).collect();
        assert_eq!(rolls_a, rolls_b);
        let failed = rolls_a.iter().filter(|r| r.is_some()).count();
        assert!((320..480).contains(&failed), "{failed} of 2000");
    }

    #[test]
    fn the_rate_can_change_at_run_time() {
        let f = Faults::new(0.0, Some(1));
        f.set_rate(1.0);
        assert!((0..100).all(|_| f.roll().is_some()));
        f.set_rate(7.0);
        assert_eq!(f.rate(), 1.0);
        f.set_rate(f64::NAN);
        assert_eq!(f.rate(), 0.0);
        assert!((0..100).all(|_| f.roll().is_none()));
    }

    #[test]
    fn one_kind_can_be_forced() {
        let f = Faults::new(1.0, Some(3));
        assert_eq!(f.kind(), None);
        let mixed: std::collections::HashSet<_> = (0..100).filter_map(|_| f.roll()).collect();
        assert_eq!(mixed.len(), 3, "{mixed:?}");
        f.set_kind(Some(Fault::ServiceUnavailable));
        assert!((0..100).all(|_| f.roll() == Some(Fault::ServiceUnavailable)));
        f.set_kind(None);
        assert_eq!(f.kind(), None);
        for fault in [Fault::ServerError, Fault::ServiceUnavailable, Fault::Drop] {
            assert_eq!(Fault::from_name(fault.name()), Some(fault));
        }
        assert_eq!(Fault::from_name("teapot"), None);
    }

    #[test]
    fn zero_rate_never_fails() {
        let f = Faults::new(0.0, None);
        assert!((0..100).all(|_| f.roll().is_none()));
    }
}
