//! Sync state: what Intercom confirmed, per sync and key (`BACKFLOW_STATE_TABLE`).
//!
//! # Layout
//! One partition per sync, one small item per key:
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `pk` | S | `SYNC#<sync>` |
//! | `sk` | S | `KEY#<key>` |
//! | `iid` | S | Intercom's id of the record (absent for events, or not known yet) |
//! | `fp` | B | the 16-byte fingerprint Intercom confirmed; **absent** when the last write was refused, so the row is retried even if unchanged (32 hex digits as S in items written before binary) |
//! | `st` | S | `archived` \| `deleted` \| `sent`; **absent** for `active`, the common case |
//! | `r` | B | the last write: its outcome (1 byte, [`outcome_code`]) then the first 4 bytes of SHA-256 of its run id ([`RunTag`]) |
//! | `tg` | B | the tags backflow applied: 4 bytes per tag, the hash of its lower-cased name ([`backflow_core::tags`]); absent when none |
//! | `cs` | B | contacts: the companies backflow attached, 4 bytes per `company_id` hash; absent when none (items written before held one `company_id` as text in `co`, still read) |
//!
//! Items are small on purpose: 64 B plus the sync's name and the key for a user
//! with an Intercom id and no company — 89 B for the throughput bench's sync
//! `tp_calls_users` and keys such as `calls-10001` (measured on what moto stores
//! by the test `state::a_state_item_is_64_bytes_plus_the_sync_and_the_key`), where
//! hex fingerprints, full run ids and spelled-out outcomes and statuses took
//! 145 B. Every run reads its sync's whole partition with one paginated,
//! eventually consistent Query ([`StateStore::pages`]; one partition per sync is
//! what makes it one Query), which DynamoDB bills per 4 KB of the *sum* of the
//! item sizes, so the bytes of an item are paid on every run for every row.
//! Writes (1 WRU per item up to 1 KB) are paid only for rows Intercom confirmed
//! ([`StateStore::put_many`]). `load` reads its batch's keys back
//! ([`StateStore::get_many`], strongly consistent) only when an earlier delivery of
//! the same batch may have written some of them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use backflow_core::plan::Prior;

use crate::ddb::{self, s, Item, PrefixQuery};
use crate::Error;
use item::{decode_item, decode_prior, encode_item};

mod item;

pub use item::{outcome_code, outcome_of, RunTag, StateItem};

/// What a read cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadStats {
    pub items: u64,
    /// DynamoDB read request units (`ReturnConsumedCapacity: TOTAL`; 0 where the
    /// server does not report them).
    pub consumed_read_units: f64,
}

/// What a write cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriteStats {
    pub items: usize,
    /// DynamoDB write request units.
    pub consumed_write_units: f64,
}

/// The state table.
#[derive(Debug, Clone)]
pub struct StateStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

/// The pages of one sync's state, in key order ([`StateStore::pages`]).
#[derive(Debug)]
pub struct StatePages {
    store: StateStore,
    sync: String,
    start: Option<Item>,
    done: bool,
    /// What the pages read so far cost.
    pub stats: ReadStats,
}

impl StatePages {
    /// The next page, `None` after the last one. Pages may be empty.
    pub async fn next_page(&mut self) -> Result<Option<Vec<(String, Prior)>>, Error> {
        if self.done {
            return Ok(None);
        }
        let (page, next, units) = self.store.query_page(&self.sync, self.start.take()).await?;
        self.stats.items += page.len() as u64;
        self.stats.consumed_read_units += units;
        self.done = next.is_none();
        self.start = next;
        Ok(Some(page))
    }

    /// One key's state, read on its own (one BatchGetItem of one key), for a key
    /// met out of order.
    pub async fn get(&mut self, key: &str) -> Result<Option<Prior>, Error> {
        let (found, stats) = self
            .store
            .get_many_with_stats(&self.sync, &[key.to_string()])
            .await?;
        self.stats.consumed_read_units += stats.consumed_read_units;
        Ok(found.get(key).map(StateItem::prior))
    }
}

const KEY_PREFIX: &str = "KEY#";

fn pk(sync: &str) -> String {
    format!("SYNC#{sync}")
}

fn names(list: &[&str]) -> HashMap<String, String> {
    list.iter()
        .map(|n| (format!("#{n}"), n.to_string()))
        .collect()
}

impl StateStore {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> StateStore {
        StateStore {
            dynamodb,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads every key of the sync (paginated Query, eventually consistent: the
    /// previous run finished long before), calling `f` per key so the caller keeps
    /// only what it needs in memory.
    pub async fn scan_sync(
        &self,
        sync: &str,
        mut f: impl FnMut(String, Prior),
    ) -> Result<ReadStats, Error> {
        let mut pages = self.pages(sync);
        while let Some(page) = pages.next_page().await? {
            for (key, prior) in page {
                f(key, prior);
            }
        }
        Ok(pages.stats)
    }

    /// The sync's state as pages of (key, prior) in ascending byte order of the
    /// key, read one Query page (up to 1 MB) at a time as the caller asks for it.
    pub fn pages(&self, sync: &str) -> StatePages {
        StatePages {
            store: self.clone(),
            sync: sync.to_string(),
            start: None,
            done: false,
            stats: ReadStats::default(),
        }
    }

    /// One Query page (up to 1 MB) of the sync's state from `start`, the key to
    /// continue from, and the read units it cost.
    async fn query_page(
        &self,
        sync: &str,
        start: Option<Item>,
    ) -> Result<(Vec<(String, Prior)>, Option<Item>, f64), Error> {
        let query = PrefixQuery {
            client: &self.dynamodb,
            table: &self.table,
            pk: pk(sync),
            sk_prefix: KEY_PREFIX.into(),
            forward: true,
            projection: Some(&["sk", "iid", "fp", "st", "co", "tg", "cs"]),
            // The previous run finished long before.
            consistent: false,
        };
        let out = query.page(None, start).await?;
        let page = out
            .items
            .iter()
            .map(|item| decode_prior(sync, item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((page, out.next, out.read_units))
    }

    /// The state of `keys` (strongly consistent BatchGetItem, 100 per call). Keys
    /// without state are absent from the map; duplicates are read once.
    pub async fn get_many(
        &self,
        sync: &str,
        keys: &[String],
    ) -> Result<HashMap<String, StateItem>, Error> {
        Ok(self.get_many_with_stats(sync, keys).await?.0)
    }

    /// [`StateStore::get_many`] plus what it cost.
    pub async fn get_many_with_stats(
        &self,
        sync: &str,
        keys: &[String],
    ) -> Result<(HashMap<String, StateItem>, ReadStats), Error> {
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let requests = unique
            .into_iter()
            .map(|k| ddb::key(pk(sync), format!("{KEY_PREFIX}{k}")))
            .collect();
        let (items, units) = ddb::batch_get(
            &self.dynamodb,
            &self.table,
            requests,
            // `run` and `out`: what items of the earlier layout hold instead of `r`.
            Some("#sk, #iid, #fp, #st, #r, #run, #out, #co, #tg, #cs"),
            &names(&["sk", "iid", "fp", "st", "r", "run", "out", "co", "tg", "cs"]),
            true,
        )
        .await?;
        let mut found = HashMap::with_capacity(items.len());
        for item in &items {
            let state = decode_item(sync, item)?;
            found.insert(state.key.clone(), state);
        }
        let stats = ReadStats {
            items: found.len() as u64,
            consumed_read_units: units,
        };
        Ok((found, stats))
    }

    /// Writes the items (BatchWriteItem, 25 per call, unprocessed items retried with
    /// bounded backoff). When a key appears twice, the last item wins.
    pub async fn put_many(&self, sync: &str, items: &[StateItem]) -> Result<WriteStats, Error> {
        let mut by_key: HashMap<&str, &StateItem> = HashMap::with_capacity(items.len());
        for item in items {
            by_key.insert(&item.key, item);
        }
        let mut requests = Vec::with_capacity(by_key.len());
        for item in by_key.into_values() {
            let put = PutRequest::builder()
                .set_item(Some(encode_item(sync, item)))
                .build()
                .map_err(|e| Error::dynamodb("BatchWriteItem", &self.table, e))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        ddb::batch_write(&self.dynamodb, &self.table, requests).await
    }

    /// Forgets everything about the sync (tests, `reset`).
    pub async fn delete_sync(&self, sync: &str) -> Result<(), Error> {
        let mut keys = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .projection_expression("#pk, #sk")
                .set_expression_attribute_names(Some(names(&["pk", "sk"])))
                .expression_attribute_values(":pk", s(pk(sync)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::dynamodb("Query", &self.table, e))?;
            keys.extend(out.items().iter().cloned());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let mut requests = Vec::with_capacity(keys.len());
        for key in keys {
            let delete = DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(|e| Error::dynamodb("BatchWriteItem", &self.table, e))?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        ddb::batch_write(&self.dynamodb, &self.table, requests).await?;
        Ok(())
    }
}
