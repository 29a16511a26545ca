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
//! | `r` | B | the last write: its outcome (1 byte, [`OUTCOME_CODES`]) then the first 4 bytes of SHA-256 of its run id ([`RunTag`]) |
//! | `co` | S | contacts: the `company_id` the record is attached to (absent if none) |
//!
//! Items are small on purpose (~85 B for a user keyed by a short id, against 145 B
//! with hex fingerprints, full run ids and spelled-out outcomes): every run reads its
//! sync's whole partition with one paginated, eventually consistent Query
//! ([`StateStore::pages`]), billed per 4 KB of the *sum* of item sizes
//! (`aws-serverless.md` §2.4, design A′), so the bytes of an item are paid on every
//! run for every row. Writes (1 WRU per item up to 1 KB) are paid only for rows
//! Intercom confirmed ([`StateStore::put_many`]). `load` reads its batch's keys back
//! ([`StateStore::get_many`], strongly consistent) only when an earlier delivery of
//! the same batch may have written some of them.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, ReturnConsumedCapacity, WriteRequest,
};
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
    pub run: RunTag,
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

/// Which run wrote a state item: enough of its run id to tell "this run" from
/// "an earlier run" when a batch is delivered again (4 bytes instead of 25).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunTag(pub [u8; 4]);

impl RunTag {
    pub fn of(run_id: &str) -> RunTag {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(run_id.as_bytes());
        RunTag([digest[0], digest[1], digest[2], digest[3]])
    }
}

/// Outcomes as stored in `r`: the index is the code. Append only.
pub const OUTCOME_CODES: [Outcome; 9] = [
    Outcome::Created,
    Outcome::Updated,
    Outcome::Deleted,
    Outcome::Archived,
    Outcome::Sent,
    Outcome::Unchanged,
    Outcome::Invalid,
    Outcome::Rejected,
    Outcome::NotFound,
];

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
            // Billed by the whole items' size whatever is projected; projecting
            // keeps the answer (and moto's work) smaller.
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
            // `run` and `out`: what items of the earlier layout hold instead of `r`.
            "#sk, #iid, #fp, #st, #r, #run, #out, #co",
            &names(&["sk", "iid", "fp", "st", "r", "run", "out", "co"]),
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
        out.insert("fp".into(), b(fp.0.to_be_bytes().to_vec()));
    }
    if item.status != RecordStatus::Active {
        out.insert("st".into(), s(status_str(&item.status)));
    }
    let code = OUTCOME_CODES
        .iter()
        .position(|o| *o == item.outcome)
        .expect("every outcome has a code") as u8;
    let mut r = Vec::with_capacity(5);
    r.push(code);
    r.extend_from_slice(&item.run.0);
    out.insert("r".into(), b(r));
    if let Some(co) = &item.company_id {
        out.insert("co".into(), s(co));
    }
    out
}

fn b(bytes: Vec<u8>) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes))
}

fn get_b<'a>(item: &'a Item, name: &str) -> Option<&'a [u8]> {
    item.get(name)
        .and_then(|v| v.as_b().ok())
        .map(|blob| blob.as_ref())
}

fn decode_fingerprint(item: &Item) -> Result<Option<Fingerprint>, String> {
    if let Some(bytes) = get_b(item, "fp") {
        let raw: [u8; 16] = bytes
            .try_into()
            .map_err(|_| format!("bad fingerprint: {} bytes", bytes.len()))?;
        return Ok(Some(Fingerprint(u128::from_be_bytes(raw))));
    }
    // Items written before fingerprints were binary.
    match get_s(item, "fp") {
        None => Ok(None),
        Some(hex) => Fingerprint::from_hex(hex)
            .map(Some)
            .ok_or_else(|| format!("bad fingerprint `{hex}`")),
    }
}

fn decode_prior(sync: &str, item: &Item) -> Result<(String, Prior), Error> {
    let sk = get_s(item, "sk").unwrap_or_default();
    let what = || format!("state item `{sk}` of sync `{sync}`");
    let key = sk
        .strip_prefix(KEY_PREFIX)
        .ok_or_else(|| Error::corrupt(what(), "sort key does not start with KEY#"))?
        .to_string();
    let fingerprint = decode_fingerprint(item).map_err(|e| Error::corrupt(what(), e))?;
    let status = match get_s(item, "st") {
        None => RecordStatus::Active,
        Some(st) => {
            parse_status(st).ok_or_else(|| Error::corrupt(what(), format!("bad status `{st}`")))?
        }
    };
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
    let what = || format!("state item `KEY#{key}` of sync `{sync}`");
    let (outcome, run) = match get_b(item, "r") {
        Some(&[code, a, b, c, d]) => {
            let outcome = OUTCOME_CODES
                .get(code as usize)
                .copied()
                .ok_or_else(|| Error::corrupt(what(), format!("bad outcome code {code}")))?;
            (outcome, RunTag([a, b, c, d]))
        }
        Some(other) => {
            return Err(Error::corrupt(
                what(),
                format!("bad `r`: {} bytes, want 5", other.len()),
            ))
        }
        // Items written before `r`: the run id and outcome spelled out.
        None => {
            let out = get_s(item, "out").unwrap_or_default();
            let outcome = parse_outcome(out)
                .ok_or_else(|| Error::corrupt(what(), format!("bad outcome `{out}`")))?;
            (outcome, RunTag::of(get_s(item, "run").unwrap_or_default()))
        }
    };
    Ok(StateItem {
        key,
        intercom_id: prior.intercom_id,
        fingerprint: prior.fingerprint,
        status: prior.status,
        run,
        outcome,
        company_id: prior.company_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> StateItem {
        StateItem {
            key: "u-1".into(),
            intercom_id: Some("6650a".into()),
            fingerprint: Some(Fingerprint(0xabc)),
            status: RecordStatus::Active,
            run: RunTag::of("r1"),
            outcome: Outcome::NotFound,
            company_id: Some("acme".into()),
        }
    }

    #[test]
    fn items_round_trip() {
        let item = item();
        let encoded = encode_item("users", &item);
        assert_eq!(get_s(&encoded, "co"), Some("acme"));
        assert_eq!(get_s(&encoded, "pk"), Some("SYNC#users"));
        assert_eq!(get_s(&encoded, "sk"), Some("KEY#u-1"));
        assert_eq!(get_b(&encoded, "fp").map(<[u8]>::len), Some(16));
        assert!(!encoded.contains_key("st"), "active is the default");
        assert_eq!(decode_item("users", &encoded).unwrap(), item);

        let refused = StateItem {
            fingerprint: None,
            intercom_id: None,
            status: RecordStatus::Sent,
            outcome: Outcome::Rejected,
            ..item.clone()
        };
        let encoded = encode_item("users", &refused);
        assert!(!encoded.contains_key("fp") && !encoded.contains_key("iid"));
        assert_eq!(get_s(&encoded, "st"), Some("sent"));
        assert_eq!(decode_item("users", &encoded).unwrap(), refused);

        for outcome in OUTCOME_CODES {
            let one = StateItem {
                outcome,
                ..item.clone()
            };
            let back = decode_item("users", &encode_item("users", &one)).unwrap();
            assert_eq!(back.outcome, outcome);
        }
    }

    /// What a run reads of every item on every run: the bytes DynamoDB bills
    /// (attribute names + values).
    #[test]
    fn a_typical_user_item_is_small() {
        let typical = StateItem {
            key: "u-0000001".into(),
            intercom_id: Some("6650a1b2c3d4e5f601234567".into()),
            company_id: None,
            ..item()
        };
        let size: usize = encode_item("users", &typical)
            .iter()
            .map(|(name, value)| {
                name.len()
                    + match value {
                        AttributeValue::S(s) => s.len(),
                        AttributeValue::B(b) => b.as_ref().len(),
                        other => panic!("unexpected {other:?}"),
                    }
            })
            .sum();
        assert!(size <= 80, "{size} B");
    }

    /// Items written before fingerprints were binary and `r` existed still read.
    #[test]
    fn items_of_the_earlier_layout_still_read() {
        let mut old = ddb::key("SYNC#users", "KEY#u-1");
        old.insert("iid".into(), s("6650a"));
        old.insert("fp".into(), s(Fingerprint(0xabc).to_hex()));
        old.insert("st".into(), s("active"));
        old.insert("run".into(), s("r1"));
        old.insert("out".into(), s("not_found"));
        old.insert("co".into(), s("acme"));
        assert_eq!(decode_item("users", &old).unwrap(), item());
    }

    #[test]
    fn corrupt_items_are_named() {
        let mut encoded = encode_item("users", &item());
        encoded.insert("st".into(), s("gone"));
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("KEY#u-1") && err.contains("gone"), "{err}");

        let mut encoded = encode_item("users", &item());
        encoded.insert("r".into(), b(vec![200, 0, 0, 0, 0]));
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("KEY#u-1") && err.contains("200"), "{err}");

        let mut encoded = encode_item("users", &item());
        encoded.insert("fp".into(), b(vec![1, 2, 3]));
        let err = decode_item("users", &encoded).unwrap_err().to_string();
        assert!(err.contains("KEY#u-1") && err.contains("3 bytes"), "{err}");
    }
}
