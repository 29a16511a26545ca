//! The model's rows against the sync's state, both sorted by key, walked side by
//! side: each row gets the state of its key without either side being held in
//! memory (a merge join).
//!
//! The model arrives sorted by the warehouse (`Warehouse::sorted_by_key`), the
//! state by DynamoDB (a Query returns a partition in byte order of the sort key).
//! Most rows are *in order*: their key is ≥ every key before. For those the state
//! cursor moves forward to the key; the state items it passes belong to keys that
//! left the model (mirror removals). A row whose key is smaller than the last one
//! (the warehouse's `lower`/`trim` differ from backflow's for that key) or that the
//! caller flags as irregular is handled *out of band*: its state is read on its own
//! and the key is remembered so the cursor does not count it as gone. Such rows are
//! rare, so the memory stays that of one state page plus them plus the removals.

use std::collections::{HashSet, VecDeque};
use std::future::Future;

use backflow_core::mapping::Mapper;
use backflow_core::plan::{Prior, RecordStatus};
use backflow_core::value::Value;

use crate::planner::Planner;

/// Where the state comes from: pages in ascending key order, and single keys.
pub trait StateSource {
    type Error;
    /// The next page, `None` after the last.
    fn next_page(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<(String, Prior)>>, Self::Error>> + Send;
    /// One key's state.
    fn get(&mut self, key: &str)
        -> impl Future<Output = Result<Option<Prior>, Self::Error>> + Send;
}

impl StateSource for backflow_aws::StatePages {
    type Error = backflow_aws::Error;
    fn next_page(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<(String, Prior)>>, Self::Error>> + Send {
        backflow_aws::StatePages::next_page(self)
    }
    fn get(
        &mut self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Prior>, Self::Error>> + Send {
        backflow_aws::StatePages::get(self, key)
    }
}

/// Plans one model row as a run does: its key, that key's state from the merge
/// (in order, or read on its own when the row came out of order), then the
/// planner. The run's loop and the tests share it, so what the tests prove about
/// row order holds for the run.
pub async fn plan_row<S: StateSource>(
    merge: &mut Merge<S>,
    planner: &mut Planner<'_>,
    mapper: &mut Mapper,
    row_number: u64,
    row: &[Value],
) -> Result<(), S::Error> {
    let key = planner.key_of(mapper, row);
    let (prior, in_order) = match &key {
        Some(k) => {
            let regular = planner.regular(k);
            let in_order = merge.in_order(k, regular);
            (merge.prior(k, regular).await?, in_order)
        }
        None => (None, false),
    };
    planner.push(row_number, row, key, prior, in_order, mapper);
    Ok(())
}

/// What the merge found once the model and the state were both walked.
pub struct Finished<S> {
    /// Mirror: the active records that left the model, in key order.
    pub removals: Vec<(String, Prior)>,
    /// Active records the sync had before the run.
    pub previously_active: u64,
    /// Rows whose state was read on its own.
    pub lookups: u64,
    /// The state source (for what it read).
    pub source: S,
}

/// The merge's position and what it has learned.
pub struct Merge<S> {
    source: S,
    page: VecDeque<(String, Prior)>,
    exhausted: bool,
    /// The largest key met in order so far.
    last: Option<String>,
    /// Keys handled out of band that the cursor has not reached yet.
    out_of_band: HashSet<String>,
    /// Mirror: active state items the cursor passed that no row claimed.
    keep_removals: bool,
    removals: Vec<(String, Prior)>,
    previously_active: u64,
    lookups: u64,
}

impl<S: StateSource> Merge<S> {
    /// `keep_removals`: remember the active keys that left the model (mirror).
    pub fn new(source: S, keep_removals: bool) -> Self {
        Merge {
            source,
            page: VecDeque::new(),
            exhausted: false,
            last: None,
            out_of_band: HashSet::new(),
            keep_removals,
            removals: Vec::new(),
            previously_active: 0,
            lookups: 0,
        }
    }

    /// Whether a row with `key` would be met in order (`regular`: the caller
    /// vouches the warehouse sorted this key as backflow does).
    pub fn in_order(&self, key: &str, regular: bool) -> bool {
        regular && self.last.as_deref().is_none_or(|last| key >= last)
    }

    /// The state of `key`, for a row met now. Call with the same `regular` as
    /// [`Merge::in_order`].
    pub async fn prior(&mut self, key: &str, regular: bool) -> Result<Option<Prior>, S::Error> {
        if !self.in_order(key, regular) {
            return self.out_of_band(key).await;
        }
        // The buffer is reused: one allocation per run, not one per row.
        let last = self.last.get_or_insert_with(String::new);
        last.clear();
        last.push_str(key);
        while let Some((k, p)) = self.next_item().await? {
            match k.as_str().cmp(key) {
                std::cmp::Ordering::Less => self.passed(k, p),
                std::cmp::Ordering::Equal => {
                    self.count(&p);
                    // A duplicate of this key may have come out of band before.
                    self.out_of_band.remove(&k);
                    return Ok(Some(p));
                }
                std::cmp::Ordering::Greater => {
                    // Beyond this row: a later row may claim it.
                    self.page.push_front((k, p));
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// Walks the rest of the state after the last row.
    pub async fn finish(mut self) -> Result<Finished<S>, S::Error> {
        while let Some((k, p)) = self.next_item().await? {
            self.passed(k, p);
        }
        let mut removals = self.removals;
        removals.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Finished {
            removals,
            previously_active: self.previously_active,
            lookups: self.lookups,
            source: self.source,
        })
    }

    async fn out_of_band(&mut self, key: &str) -> Result<Option<Prior>, S::Error> {
        // Passed already and unclaimed: it was taken for a removal; reclaim it.
        if let Some(i) = self.removals.iter().position(|(k, _)| k == key) {
            return Ok(Some(self.removals.swap_remove(i).1));
        }
        self.lookups += 1;
        let prior = self.source.get(key).await?;
        let ahead = self.front_key().is_some_and(|front| front <= key);
        if ahead || (!self.exhausted && self.page.is_empty()) {
            // The cursor will reach it: make it skip the key then.
            self.out_of_band.insert(key.to_string());
        }
        Ok(prior)
    }

    fn front_key(&self) -> Option<&str> {
        self.page.front().map(|(k, _)| k.as_str())
    }

    /// The state item at the cursor, taken off the page (the next page is read
    /// when this one is used up); `None` once the state is over.
    async fn next_item(&mut self) -> Result<Option<(String, Prior)>, S::Error> {
        while self.page.is_empty() && !self.exhausted {
            match self.source.next_page().await? {
                Some(page) => self.page.extend(page),
                None => self.exhausted = true,
            }
        }
        Ok(self.page.pop_front())
    }

    fn count(&mut self, p: &Prior) {
        if p.status == RecordStatus::Active {
            self.previously_active += 1;
        }
    }

    /// A state item no in-order row claimed.
    fn passed(&mut self, key: String, prior: Prior) {
        self.count(&prior);
        if self.out_of_band.remove(&key) {
            return; // its row came out of band
        }
        if self.keep_removals && prior.status == RecordStatus::Active {
            self.removals.push((key, prior));
        }
    }
}

#[cfg(test)]
mod order_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// State in a BTreeMap, served in pages of `page` keys.
    struct Fake {
        state: BTreeMap<String, Prior>,
        page: usize,
        next: usize,
        gets: Vec<String>,
    }

    impl StateSource for Fake {
        type Error = std::convert::Infallible;
        async fn next_page(&mut self) -> Result<Option<Vec<(String, Prior)>>, Self::Error> {
            if self.next >= self.state.len() {
                return Ok(None);
            }
            let page: Vec<_> = self
                .state
                .iter()
                .skip(self.next)
                .take(self.page)
                .map(|(k, p)| (k.clone(), p.clone()))
                .collect();
            self.next += page.len();
            Ok(Some(page))
        }
        async fn get(&mut self, key: &str) -> Result<Option<Prior>, Self::Error> {
            self.gets.push(key.to_string());
            Ok(self.state.get(key).cloned())
        }
    }

    fn prior(id: &str) -> Prior {
        Prior {
            intercom_id: Some(id.to_string()),
            fingerprint: None,
            status: RecordStatus::Active,
            remembered: Default::default(),
        }
    }

    fn merge(keys: &[&str], page: usize) -> Merge<Fake> {
        let state = keys
            .iter()
            .map(|k| (k.to_string(), prior(&format!("ic-{k}"))))
            .collect();
        Merge::new(
            Fake {
                state,
                page,
                next: 0,
                gets: Vec::new(),
            },
            true,
        )
    }

    /// Every row gets its own key's state and what no row claimed is removed,
    /// whatever the page size and whatever order the rows come in.
    async fn check(rows: &[(&str, bool)], page: usize) -> (Vec<String>, Fake, u64) {
        let mut m = merge(&["b", "d", "f", "h", "j"], page);
        for (key, regular) in rows {
            let got = m.prior(key, *regular).await.unwrap();
            let expected = ["b", "d", "f", "h", "j"]
                .contains(key)
                .then(|| prior(&format!("ic-{key}")));
            assert_eq!(got, expected, "state of {key} (rows {rows:?}, page {page})");
        }
        let done = m.finish().await.unwrap();
        let removals = done.removals.into_iter().map(|(k, _)| k).collect();
        (removals, done.source, done.previously_active)
    }

    #[tokio::test]
    async fn rows_in_key_order_read_state_by_pages_only() {
        for page in [1, 2, 100] {
            let (removals, fake, active) =
                check(&[("a", true), ("b", true), ("c", true), ("h", true)], page).await;
            assert_eq!(removals, ["d", "f", "j"]);
            assert!(fake.gets.is_empty(), "no single reads: {:?}", fake.gets);
            assert_eq!(active, 5);
        }
    }

    #[tokio::test]
    async fn rows_out_of_order_or_irregular_still_get_their_state_and_are_not_removed() {
        for page in [1, 2, 100] {
            // "b" comes after "h" (out of order); "j" is irregular (ahead of the
            // cursor); "d" is irregular and behind it.
            let rows = [
                ("h", true),
                ("b", true),
                ("j", false),
                ("d", false),
                ("k", true),
            ];
            let (removals, fake, active) = check(&rows, page).await;
            assert_eq!(removals, ["f"], "page {page}");
            assert_eq!(active, 5, "page {page}");
            // "b" and "d" were passed and reclaimed from the removals: no read.
            assert_eq!(fake.gets, ["j"], "page {page}");
        }
    }

    #[tokio::test]
    async fn without_mirror_nothing_is_kept_for_removal() {
        let mut m = merge(&["a", "b", "c"], 2);
        m.keep_removals = false;
        assert_eq!(m.prior("c", true).await.unwrap(), Some(prior("ic-c")));
        // "a" was passed and not kept: read on its own.
        assert_eq!(m.prior("a", true).await.unwrap(), Some(prior("ic-a")));
        let done = m.finish().await.unwrap();
        assert!(done.removals.is_empty());
        assert_eq!(done.source.gets, ["a"]);
    }
}
