//! A sync's run history: the run index (one item per run under the sync,
//! written in the run's start transaction) read newest first, a page at a time,
//! and the run records it names.

use std::collections::HashMap;

use backflow_core::api::RunsAfter;
use backflow_core::run::RunRecord;

use super::item::{decode_run, run_pk, sync_pk};
use super::{RunStore, RUN_TTL_SECS};
use crate::ddb::{self, n, s, Attrs, Item, PrefixQuery};
use crate::Error;

/// The run index item's sort key: `started_at` (RFC 3339 in seconds, so it
/// sorts as text), then the run id for runs started in the same second.
pub(super) fn index_sk(started_at: &str, run_id: &str) -> String {
    format!("RUNS#{started_at}#{run_id}")
}

/// The run index item of `record` (*TTL*, as the run).
pub(super) fn index_item(record: &RunRecord, now: u64) -> Item {
    let mut item = ddb::key(
        sync_pk(&record.sync),
        index_sk(&record.started_at, &record.run_id),
    );
    item.insert("run_id".into(), s(&record.run_id));
    item.insert("started_at".into(), s(&record.started_at));
    item.insert("expires_at".into(), n(now + RUN_TTL_SECS));
    item
}

impl RunStore {
    /// Up to `limit` of `sync`'s runs, newest first, after `after` (from the
    /// newest when `None`), and the position to continue from when there are
    /// more. A run whose record has expired (its index item not yet) is skipped.
    pub async fn list_runs(
        &self,
        sync: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<(Vec<RunRecord>, Option<RunsAfter>), Error> {
        let (index, more) = self.run_index(sync, limit, after).await?;
        let keys = index
            .iter()
            .map(|a| ddb::key(run_pk(&a.run_id), "RUN"))
            .collect();
        let (items, _) = ddb::batch_get(
            &self.dynamodb,
            &self.table,
            keys,
            None,
            &HashMap::new(),
            true,
        )
        .await?;
        let mut found: HashMap<String, Item> = items
            .into_iter()
            .filter_map(|item| Some((ddb::get_s(&item, "pk")?.to_string(), item)))
            .collect();
        let mut runs = Vec::with_capacity(index.len());
        for entry in &index {
            if let Some(item) = found.remove(&run_pk(&entry.run_id)) {
                runs.push(decode_run(&entry.run_id, &item)?);
            }
        }
        // The last index entry, not the last record found: its record may be gone.
        let next = if more { index.last().cloned() } else { None };
        Ok((runs, next))
    }

    /// Up to `limit` entries of the run index, newest first, and whether more
    /// follow (one entry past the page is read to know).
    async fn run_index(
        &self,
        sync: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<(Vec<RunsAfter>, bool), Error> {
        let what = format!("run index of sync `{sync}`");
        let query = PrefixQuery {
            client: &self.dynamodb,
            table: &self.table,
            pk: sync_pk(sync),
            sk_prefix: "RUNS#".into(),
            forward: false,
            projection: None,
            consistent: true,
        };
        let start = after.map(|a| ddb::key(sync_pk(sync), index_sk(&a.started_at, &a.run_id)));
        let (items, more) = query.limited(limit, start).await?;
        let entries = items
            .iter()
            .map(|item| {
                let attrs = Attrs::new(item, &what);
                Ok(RunsAfter {
                    started_at: attrs.required_s("started_at")?.to_string(),
                    run_id: attrs.required_s("run_id")?.to_string(),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok((entries, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_sort_by_start_then_run_id() {
        let keys = [
            index_sk("2026-12-06T10:00:00Z", "20261206T100000Z-aaaa"),
            index_sk("2026-12-06T10:00:00Z", "20261206T100000Z-bbbb"),
            index_sk("2026-12-06T10:00:01Z", "20261206T100001Z-0000"),
            index_sk("2027-01-01T00:00:00Z", "20270101T000000Z-0000"),
        ];
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }
}
