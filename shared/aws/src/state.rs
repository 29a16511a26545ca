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
//! | `fp` | S | 32-hex fingerprint Intercom confirmed; **absent** when the last write was refused, so the row is retried even if unchanged |
//! | `st` | S | `active` \| `archived` \| `deleted` \| `sent` |
//! | `run` | S | run id of the last write |
//! | `out` | S | its outcome (`created`, `updated`, `rejected`, ...) |
//! | `co` | S | contacts: the `company_id` the record is attached to (absent if none) |
//!
//! Attribute names are short on purpose: a run reads its sync's whole partition with
//! one paginated, eventually consistent Query ([`StateStore::scan_sync`]), billed per
//! 4 KB of the *sum* of item sizes, so ~100 B per item instead of one BatchGetItem
//! unit per row (`aws-serverless.md` §2.4, design A′). `load` reads the few keys of its
//! batch with strongly consistent BatchGetItem ([`StateStore::get_many`]) and writes
//! only after Intercom confirmed ([`StateStore::put_many`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, ReturnConsumedCapacity, WriteRequest};
use backflow_core::fingerprint::Fingerprint;
use backflow_core::plan::{Prior, RecordStatus};
use backflow_core::run::Outcome;

use crate::ddb::{self, get_s, s, Item};
use crate::Error;

/// One key's state, as `load` writes it after Intercom answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateItem {
    pub key: String,
    pub intercom_id: Option<String>,
    /// `None` when the write was refused: the next run retries the row.
    pub fingerprint: Option<Fingerprint>,
    pub status: RecordStatus,
    /// The run that wrote this item.
    pub run_id: String,
    /// What that write did.
    pub outcome: Outcome,
    /// Contacts: the `company_id` the record is attached to.
    pub company_id: Option<String>,
}

impl StateItem {
    /// What the diff needs of it.
    pub fn prior(&self) -> Prior {
        Prior {
            intercom_id: self.intercom_id.clone(),
            fingerprint: self.fingerprint,
            status: self.status.clone(),
            company_id: self.company_id.clone(),
        }
    }
}

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

    async fn query_page(
        &self,
        sync: &str,
        start: Option<Item>,
    ) -> Result<(Vec<(String, Prior)>, Option<Item>, f64), Error> {
        let out = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .projection_expression("#sk, #iid, #fp, #st, #co")
            .set_expression_attribute_names(Some(names(&["pk", "sk", "iid", "fp", "st", "co"])))
            .expression_attribute_values(":pk", s(pk(sync)))
            .expression_attribute_values(":prefix", s(KEY_PREFIX))
            .consistent_read(false)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::dynamodb("Query", &self.table, e))?;
        let units = out
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
        let page = out
            .items()
            .iter()
            .map(|item| decode_prior(sync, item))
            .collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        Ok((page, next, units))
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
            "#sk, #iid, #fp, #st, #run, #out, #co",
            &names(&["sk", "iid", "fp", "st", "run", "out", "co"]),
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

fn status_str(status: &RecordStatus) -> &'static str {
    match status {
        RecordStatus::Active => "active",
        RecordStatus::Archived => "archived",
        RecordStatus::Deleted => "deleted",
        RecordStatus::Sent => "sent",
    }
}

fn parse_status(text: &str) -> Option<RecordStatus> {
    Some(match text {
        "active" => RecordStatus::Active,
        "archived" => RecordStatus::Archived,
        "deleted" => RecordStatus::Deleted,
        "sent" => RecordStatus::Sent,
        _ => return None,
    })
}

/// `Outcome` from its `as_str` (serde's snake_case name).
pub(crate) fn parse_outcome(text: &str) -> Option<Outcome> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

fn encode_item(sync: &str, item: &StateItem) -> Item {
    let mut out = ddb::key(pk(sync), format!("{KEY_PREFIX}{}", item.key));
    if let Some(iid) = &item.intercom_id {
        out.insert("iid".into(), s(iid));
    }
    if let Some(fp) = item.fingerprint {
        out.insert("fp".into(), s(fp.to_hex()));
    }
    out.insert("st".into(), s(status_str(&item.status)));
    out.insert("run".into(), s(&item.run_id));
    out.insert("out".into(), s(item.outcome.as_str()));
    if let Some(co) = &item.company_id {
        out.insert("co".into(), s(co));
    }
    out
}

fn decode_prior(sync: &str, item: &Item) -> Result<(String, Prior), Error> {
    let sk = get_s(item, "sk").unwrap_or_default();
    let what = || format!("state item `{sk}` of sync `{sync}`");
    let key = sk
        .strip_prefix(KEY_PREFIX)
        .ok_or_else(|| Error::corrupt(what(), "sort key does not start with KEY#"))?
        .to_string();
    let fingerprint = match get_s(item, "fp") {
        None => None,
        Some(hex) => Some(
            Fingerprint::from_hex(hex)
                .ok_or_else(|| Error::corrupt(what(), format!("bad fingerprint `{hex}`")))?,
        ),
    };
    let st = get_s(item, "st").unwrap_or_default();
    let status =
        parse_status(st).ok_or_else(|| Error::corrupt(what(), format!("bad status `{st}`")))?;
    let prior = Prior {
        intercom_id: get_s(item, "iid").map(str::to_string),
        fingerprint,
        status,
        company_id: get_s(item, "co").map(str::to_string),
    };
    Ok((key, prior))
}

fn decode_item(sync: &str, item: &Item) -> Result<StateItem, Error> {
    let (key, prior) = decode_prior(sync, item)?;
    let out = get_s(item, "out").unwrap_or_default();
    let outcome = parse_outcome(out).ok_or_else(|| {
        Error::corrupt(
            format!("state item `KEY#{key}` of sync `{sync}`"),
            format!("bad outcome `{out}`"),
        )
    })?;
    Ok(StateItem {
        key,
        intercom_id: prior.intercom_id,
        fingerprint: prior.fingerprint,
        status: prior.status,
        run_id: get_s(item, "run").unwrap_or_default().to_string(),
        outcome,
        company_id: prior.company_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let item = StateItem {
            key: "u-1".into(),
            intercom_id: Some("6650a".into()),
            fingerprint: Some(Fingerprint(0xabc)),
            status: RecordStatus::Active,
            run_id: "r1".into(),
            outcome: Outcome::NotFound,
            company_id: Some("acme".into()),
        };
        let encoded = encode_item("users", &item);
        assert_eq!(get_s(&encoded, "co"), Some("acme"));
        assert_eq!(get_s(&encoded, "pk"), Some("SYNC#users"));
        assert_eq!(get_s(&encoded, "sk"), Some("KEY#u-1"));
        assert_eq!(get_s(&encoded, "out"), Some("not_found"));
        assert_eq!(decode_item("users", &encoded).unwrap(), item);

        let refused = StateItem {
            fingerprint: None,
            intercom_id: None,
            ..item
        };
        let encoded = encode_item("users", &refused);
        assert!(!encoded.contains_key("fp") && !encoded.contains_key("iid"));
        assert_eq!(decode_item("users", &encoded).unwrap(), refused);
    }

    #[test]
    fn corrupt_items_are_named() {
        let mut item = encode_item(
            "users",
            &StateItem {
                key: "k".into(),
                intercom_id: None,
                fingerprint: None,
                status: RecordStatus::Sent,
                run_id: "r".into(),
                outcome: Outcome::Sent,
                company_id: None,
            },
        );
        item.insert("st".into(), s("gone"));
        let err = decode_item("users", &item).unwrap_err().to_string();
        assert!(err.contains("KEY#k") && err.contains("gone"), "{err}");
    }
}
