//! DynamoDB plumbing shared by [`crate::state`] and [`crate::runs`]: attribute
//! conversions, the one paged Query shape ([`query`]), batched reads and writes
//! and transactions with bounded retries, time.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConsumedCapacity, KeysAndAttributes,
    ReturnConsumedCapacity, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};

use crate::state::WriteStats;
use crate::Error;

mod query;

pub(crate) use query::PrefixQuery;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem's limit.
const WRITE_CHUNK: usize = 25;
/// BatchGetItem's limit.
const READ_CHUNK: usize = 100;
/// Batch calls in flight at once (each is one HTTP request).
const CONCURRENCY: usize = 4;
/// Calls per chunk before giving up on unprocessed items (~6 s of backoff in total).
pub(crate) const MAX_ATTEMPTS: u32 = 8;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A float as a DynamoDB number: fixed precision (Rust's `Display` of a tiny f64 has
/// hundreds of digits, DynamoDB takes 38), non-finite values as 0.
pub(crate) fn n_f64(v: f64) -> AttributeValue {
    let v = if v.is_finite() { v } else { 0.0 };
    AttributeValue::N(format!("{v:.6}"))
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_u64(item: &Item, name: &str) -> Option<u64> {
    let text = item.get(name)?.as_n().ok()?;
    // Counters are integers, but tolerate "3.0".
    text.parse::<u64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f.max(0.0) as u64))
}

/// Typed reads of an item's attributes, for decoding what a table holds: an
/// absent (or NULL) attribute is `None`; one of another type, or a number that
/// is not what the field needs, is [`Error::Corrupt`] naming the item and the
/// attribute — never a silent default, never a panic.
pub(crate) struct Attrs<'a> {
    item: &'a Item,
    what: &'a str,
}

impl<'a> Attrs<'a> {
    /// `what` names the item in errors (`run `r1``, `state item …`).
    pub(crate) fn new(item: &'a Item, what: &'a str) -> Attrs<'a> {
        Attrs { item, what }
    }

    /// The item's name in errors.
    pub(crate) fn what(&self) -> &'a str {
        self.what
    }

    /// The attribute, whatever its type (`None` when absent or NULL).
    pub(crate) fn get(&self, name: &str) -> Option<&'a AttributeValue> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => None,
            Some(v) => Some(v),
        }
    }

    fn wrong(&self, name: &str, message: impl std::fmt::Display) -> Error {
        Error::corrupt(self.what, format!("attribute `{name}` {message}"))
    }

    pub(crate) fn s(&self, name: &str) -> Result<Option<&'a str>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v)),
            Some(other) => Err(self.wrong(name, format!("is {}, not S", type_name(other)))),
        }
    }

    /// A string attribute that must be there.
    pub(crate) fn required_s(&self, name: &str) -> Result<&'a str, Error> {
        self.s(name)?.ok_or_else(|| self.wrong(name, "is missing"))
    }

    pub(crate) fn b(&self, name: &str) -> Result<Option<&'a [u8]>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::B(blob)) => Ok(Some(blob.as_ref())),
            Some(other) => Err(self.wrong(name, format!("is {}, not B", type_name(other)))),
        }
    }

    fn number(&self, name: &str) -> Result<Option<&'a str>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(v)) => Ok(Some(v)),
            Some(other) => Err(self.wrong(name, format!("is {}, not N", type_name(other)))),
        }
    }

    /// A counter: a whole number ≥ 0 (`3.0` is read as 3).
    pub(crate) fn u64(&self, name: &str) -> Result<Option<u64>, Error> {
        let Some(text) = self.number(name)? else {
            return Ok(None);
        };
        if let Ok(v) = text.parse::<u64>() {
            return Ok(Some(v));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(self.wrong(name, format!("is `{text}`, not a whole number ≥ 0"))),
        }
    }

    pub(crate) fn f64(&self, name: &str) -> Result<Option<f64>, Error> {
        let Some(text) = self.number(name)? else {
            return Ok(None);
        };
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(self.wrong(name, format!("is `{text}`, not a finite number"))),
        }
    }
}

/// A DynamoDB type's name as DynamoDB spells it, for a message.
fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "of an unknown type",
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The call was refused because its condition expression did not hold.
pub(crate) fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

pub(crate) fn capacity(c: &[ConsumedCapacity]) -> f64 {
    c.iter().filter_map(|c| c.capacity_units()).sum()
}

/// Exponential backoff with jitter: ~50 ms, 100 ms, ... capped at 2 s.
pub(crate) async fn backoff(attempt: u32) {
    let base = 50u64.saturating_mul(1 << attempt.min(6)).min(2_000);
    // Jitter without a RNG dependency: the clock's sub-second noise is enough to
    // spread concurrent loaders apart.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let jitter = nanos % (base / 2 + 1);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

/// Writes `requests` with BatchWriteItem: 25 per call, a few calls in flight,
/// unprocessed items retried with backoff up to [`MAX_ATTEMPTS`] calls per chunk.
/// Callers make sure no key appears twice (DynamoDB refuses such a batch).
pub(crate) async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
) -> Result<WriteStats, Error> {
    let items = requests.len();
    let chunks: Vec<Vec<WriteRequest>> = requests
        .chunks(WRITE_CHUNK)
        .map(<[WriteRequest]>::to_vec)
        .collect();
    let units = futures::stream::iter(chunks)
        .map(|chunk| write_chunk(client, table, chunk))
        .buffer_unordered(CONCURRENCY)
        .try_fold(0.0, |sum, units| async move { Ok(sum + units) })
        .await?;
    Ok(WriteStats {
        items,
        consumed_write_units: units,
    })
}

async fn write_chunk(
    client: &Client,
    table: &str,
    mut pending: Vec<WriteRequest>,
) -> Result<f64, Error> {
    let mut units = 0.0;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            backoff(attempt).await;
        }
        let out = client
            .batch_write_item()
            .request_items(table, pending)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| Error::dynamodb("BatchWriteItem", table, e))?;
        units += capacity(out.consumed_capacity());
        pending = out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(units);
        }
    }
    Err(Error::Unprocessed {
        op: "BatchWriteItem",
        table: table.to_string(),
        remaining: pending.len(),
        attempts: MAX_ATTEMPTS,
    })
}

/// Reads `keys` with BatchGetItem (every attribute when `projection` is `None`): 100 per call, a few calls in flight, unprocessed
/// keys retried with backoff. Returns the items found and the read units consumed.
pub(crate) async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    projection: Option<&str>,
    names: &HashMap<String, String>,
    consistent: bool,
) -> Result<(Vec<Item>, f64), Error> {
    let chunks: Vec<Vec<Item>> = keys.chunks(READ_CHUNK).map(<[Item]>::to_vec).collect();
    // DynamoDB refuses an empty map of names.
    let names = (!names.is_empty()).then(|| names.clone());
    futures::stream::iter(chunks)
        .map(|chunk| {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk))
                .set_projection_expression(projection.map(str::to_string))
                .set_expression_attribute_names(names.clone())
                .consistent_read(consistent)
                .build()
                .map_err(|e| Error::dynamodb("BatchGetItem", table, e));
            async move { get_chunk(client, table, request?).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_fold(
            (Vec::new(), 0.0),
            |(mut all, sum), (items, units)| async move {
                all.extend(items);
                Ok((all, sum + units))
            },
        )
        .await
}

async fn get_chunk(
    client: &Client,
    table: &str,
    mut pending: KeysAndAttributes,
) -> Result<(Vec<Item>, f64), Error> {
    let mut found = Vec::new();
    let mut units = 0.0;
    let mut remaining = pending.keys().len();
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            backoff(attempt).await;
        }
        let out = client
            .batch_get_item()
            .request_items(table, pending)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| Error::dynamodb("BatchGetItem", table, e))?;
        units += capacity(out.consumed_capacity());
        if let Some(items) = out.responses.and_then(|mut r| r.remove(table)) {
            found.extend(items);
        }
        match out.unprocessed_keys.and_then(|mut m| m.remove(table)) {
            Some(rest) if !rest.keys().is_empty() => {
                remaining = rest.keys().len();
                pending = rest;
            }
            _ => return Ok((found, units)),
        }
    }
    Err(Error::Unprocessed {
        op: "BatchGetItem",
        table: table.to_string(),
        remaining,
        attempts: MAX_ATTEMPTS,
    })
}

/// TransactWriteItems, retried while DynamoDB cancels it for a conflict with a
/// concurrent transaction (loaders finishing at once all update the run item).
/// `Some(reasons)` when it was cancelled for any other reason (a condition).
pub(crate) async fn transact(
    client: &Client,
    table: &str,
    items: Vec<TransactWriteItem>,
) -> Result<Option<Vec<CancellationReason>>, Error> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            backoff(attempt).await;
        }
        let result = client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let e = match result {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                let reasons = c.cancellation_reasons().to_vec();
                let conflict = reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some(
                            "TransactionConflict"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                        )
                    )
                });
                let condition = reasons
                    .iter()
                    .any(|r| r.code() == Some("ConditionalCheckFailed"));
                if conflict && !condition {
                    continue;
                }
                return Ok(Some(reasons));
            }
            Some(TransactWriteItemsError::TransactionInProgressException(_)) => continue,
            _ => return Err(Error::dynamodb("TransactWriteItems", table, e)),
        }
    }
    Err(Error::DynamoDb {
        op: "TransactWriteItems",
        table: table.to_string(),
        message: format!(
            "still conflicting with concurrent transactions after {MAX_ATTEMPTS} attempts"
        ),
    })
}

/// Whether the transaction's item `index` failed its condition.
pub(crate) fn failed_condition(reasons: &[CancellationReason], index: usize) -> bool {
    reasons.get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}

/// The cancellation reasons' codes, for an error message.
pub(crate) fn describe(reasons: &[CancellationReason]) -> String {
    if reasons.is_empty() {
        return "no cancellation reasons given".into();
    }
    reasons
        .iter()
        .map(|r| r.code().unwrap_or("?"))
        .collect::<Vec<_>>()
        .join(", ")
}
