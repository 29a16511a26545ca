//! Request counters for `GET /_emulator/stats`: total, by status and by route
//! template (`"PUT /contacts/{id}"`, not the raw path). `_emulator` endpoints
//! are not counted. A dropped connection counts under status `"dropped"`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// A snapshot of the counters, as served.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub requests: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_route: BTreeMap<String, u64>,
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<Snapshot>,
}

impl Stats {
    /// Count one request of `route` that ended with `status`.
    pub fn record(&self, route: &str, status: &str) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.requests += 1;
        bump(&mut s.by_status, status);
        bump(&mut s.by_route, route);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Zero everything.
    pub fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Snapshot::default();
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    // get_mut first: no allocation on the hot path once a key exists.
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else {
        map.insert(key.to_string(), 1);
    }
}
