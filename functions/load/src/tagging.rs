//! The batch's tags, after its records were written: grouped by tag name so
//! that a tag applied to N records costs N / 50 calls through Intercom's bulk
//! form (`POST /tags` naming many contacts or companies), not N.
//!
//! Per record (`keep` mode): apply the listed tags backflow did not apply
//! before (every listed tag on a new record), remove the ones it applied that
//! left the list. Under `exact`: read the record's tags (one call) and apply
//! what is missing, remove everything not listed. Removing a tag from a
//! contact is one call per contact and tag (Intercom has no bulk untag of
//! contacts); from companies it is bulk too.
//!
//! A bulk request is all or nothing, so a refused one is retried record by
//! record, and only the record at fault is reported. A record is remembered
//! with the tags Intercom confirmed; one whose tags were refused keeps no
//! fingerprint, so the next run tries again.

use std::collections::BTreeMap;

use futures::StreamExt;

use backflow_aws::StateItem;
use backflow_core::batch::{BatchItem, LoadSpec};
use backflow_core::config::Object;
use backflow_core::run::Outcome;
use backflow_core::tags::{tag_changes, tag_hash, tag_key, Memo, TagsMode};
use backflow_intercom::writers::tags::{same_tag, tags_with_hash, BULK_TAG_LIMIT};
use backflow_intercom::{Client, RowError};

use crate::apply::{row_report, ItemResult};
use crate::CONCURRENCY;

/// A record written by [`crate::apply::apply`] whose tags are still to do.
pub struct Pending<'a> {
    pub item: &'a BatchItem,
    pub outcome: Outcome,
    pub state: StateItem,
}

/// What is done for one record.
#[derive(Default)]
struct Work {
    /// The record's Intercom id.
    id: String,
    add: Vec<String>,
    /// Tags to take off: `(id, name)`.
    remove: Vec<(String, String)>,
    /// Remembered hashes that need no call: the tag is gone from the workspace
    /// (deleted in Intercom), or two tags share the hash.
    forget: Vec<u32>,
    added: Vec<u32>,
    removed: Vec<u32>,
    error: Option<(String, String)>,
}

impl Work {
    fn fail(&mut self, what: &str, e: &RowError) {
        if self.error.is_none() {
            let (code, message) = match e {
                RowError::Rejected(r) => (r.code.clone(), r.message.clone()),
                RowError::Fatal(e) => ("fatal".to_string(), e.to_string()),
            };
            self.error = Some((code, format!("{what}: {message}")));
        }
    }
}

/// Whether `item` has tag work once its record is written.
pub fn has_tags(item: &BatchItem) -> bool {
    item.lists.row.tags.is_some()
}

/// Applies and removes the tags of every pending record; each comes back as
/// its final result (and the first failure that must stop the batch, if any).
pub async fn apply_tags(
    client: &Client,
    spec: &LoadSpec,
    pending: Vec<Pending<'_>>,
) -> (Vec<ItemResult>, Option<String>) {
    let company = spec.object == Object::Company;
    let mut fatal = None;
    let mut work: Vec<Work> = Vec::with_capacity(pending.len());
    for p in &pending {
        let mut w = Work {
            id: p.state.intercom_id.clone().unwrap_or_default(),
            ..Work::default()
        };
        if let Err(e) = plan(client, spec.tags_mode, company, p, &mut w).await {
            w.fail("reading its tags failed", &e);
            if let RowError::Fatal(e) = e {
                fatal.get_or_insert(e.to_string());
            }
        }
        work.push(w);
    }
    let stop = fatal.is_some();
    if !stop {
        if let Err(e) = bulk(client, company, &mut work).await {
            fatal.get_or_insert(e);
        }
    }
    if fatal.is_none() && !company {
        if let Err(e) = untag_contacts(client, &mut work).await {
            fatal.get_or_insert(e);
        }
    }
    let results = pending
        .into_iter()
        .zip(work)
        .map(|(p, w)| finish(p, w, company, fatal.as_deref()))
        .collect();
    (results, fatal)
}

/// The adds and removes of one record.
async fn plan(
    client: &Client,
    mode: TagsMode,
    company: bool,
    p: &Pending<'_>,
    w: &mut Work,
) -> Result<(), RowError> {
    let desired = p.item.lists.row.tags.as_deref().unwrap_or_default();
    let remembered = &p.item.lists.remembered.tags;
    if mode == TagsMode::Exact {
        let current = client.record_tags(company, &w.id).await?;
        w.add = desired
            .iter()
            .filter(|t| !current.iter().any(|(_, name)| same_tag(name, t)))
            .cloned()
            .collect();
        w.remove = current
            .into_iter()
            .filter(|(_, name)| !desired.iter().any(|t| same_tag(name, t)))
            .collect();
        w.forget = remembered.0.clone();
        return Ok(());
    }
    let changes = tag_changes(desired, remembered, p.outcome == Outcome::Created);
    w.add = changes.add;
    if changes.remove.is_empty() {
        return Ok(());
    }
    let tags = client.workspace_tags().await?;
    for hash in changes.remove {
        match tags_with_hash(&tags, hash).as_slice() {
            [one] => w.remove.push((*one).clone()),
            found => {
                if found.len() > 1 {
                    tracing::warn!(hash, "two workspace tags share a hash; not removing either");
                }
                w.forget.push(hash);
            }
        }
    }
    Ok(())
}

/// Every bulk request: per tag name, its records in chunks of
/// [`BULK_TAG_LIMIT`] (companies: tag and untag in one request). A refused
/// request is retried record by record. `Err` stops the batch.
async fn bulk(client: &Client, company: bool, work: &mut [Work]) -> Result<(), String> {
    // tag key → (name as listed first, [(record, untag)])
    let mut by_tag: BTreeMap<String, (String, Vec<(usize, bool)>)> = BTreeMap::new();
    for (i, w) in work.iter().enumerate() {
        if w.error.is_some() {
            continue;
        }
        let removes = w.remove.iter().filter(|_| company).map(|(_, n)| (n, true));
        for (name, untag) in w.add.iter().map(|n| (n, false)).chain(removes) {
            by_tag
                .entry(tag_key(name))
                .or_insert_with(|| (name.clone(), Vec::new()))
                .1
                .push((i, untag));
        }
    }
    let chunks: Vec<(String, Vec<(usize, bool)>)> = by_tag
        .into_values()
        .flat_map(|(name, records)| {
            records
                .chunks(BULK_TAG_LIMIT)
                .map(|c| (name.clone(), c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    client.expect_calls(chunks.len() as u64);
    let ids: Vec<String> = work.iter().map(|w| w.id.clone()).collect();
    let mut answers = futures::stream::iter(chunks)
        .map(|(name, records)| {
            let ids = &ids;
            async move {
                let result = send_chunk(client, company, &name, &records, ids).await;
                (name, records, result)
            }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some((name, records, result)) = answers.next().await {
        let hash = tag_hash(&name);
        match result {
            Ok(()) => {
                for (i, untag) in records {
                    mark(&mut work[i], hash, untag);
                }
            }
            Err(RowError::Fatal(e)) => return Err(e.to_string()),
            Err(RowError::Rejected(_)) => {
                // All or nothing: find the record at fault one by one.
                for (i, untag) in records {
                    let one = [(i, untag)];
                    match send_chunk(client, company, &name, &one, &ids).await {
                        Ok(()) => mark(&mut work[i], hash, untag),
                        Err(RowError::Fatal(e)) => return Err(e.to_string()),
                        Err(e) => {
                            let verb = if untag { "removing" } else { "applying" };
                            work[i].fail(&format!("{verb} tag `{name}` failed"), &e);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn mark(w: &mut Work, hash: u32, untag: bool) {
    if untag {
        w.removed.push(hash);
    } else {
        w.added.push(hash);
    }
}

/// One `POST /tags` for `records` (a single contact goes through the
/// per-contact form when the bulk form refused it, to name the fault).
async fn send_chunk(
    client: &Client,
    company: bool,
    name: &str,
    records: &[(usize, bool)],
    ids: &[String],
) -> Result<(), RowError> {
    if company {
        let items: Vec<(&str, bool)> = records
            .iter()
            .map(|(i, untag)| (ids[*i].as_str(), *untag))
            .collect();
        client.bulk_tag_companies(name, &items).await.map(drop)
    } else {
        let contacts: Vec<&str> = records.iter().map(|(i, _)| ids[*i].as_str()).collect();
        client.bulk_tag_contacts(name, &contacts).await.map(drop)
    }
}

/// Contacts: one `DELETE /contacts/{id}/tags/{tag_id}` per contact and tag.
async fn untag_contacts(client: &Client, work: &mut [Work]) -> Result<(), String> {
    let calls: Vec<(usize, String, String)> = work
        .iter()
        .enumerate()
        .filter(|(_, w)| w.error.is_none())
        .flat_map(|(i, w)| {
            w.remove
                .iter()
                .map(move |(tag_id, name)| (i, tag_id.clone(), name.clone()))
        })
        .collect();
    client.expect_calls(calls.len() as u64);
    let ids: Vec<String> = work.iter().map(|w| w.id.clone()).collect();
    let mut answers = futures::stream::iter(calls)
        .map(|(i, tag_id, name)| {
            let ids = &ids;
            async move {
                let result = client.untag_contact(&ids[i], &tag_id).await;
                (i, name, result)
            }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some((i, name, result)) = answers.next().await {
        match result {
            Ok(()) => work[i].removed.push(tag_hash(&name)),
            Err(RowError::Fatal(e)) => return Err(e.to_string()),
            Err(e) => work[i].fail(&format!("removing tag `{name}` failed"), &e),
        }
    }
    Ok(())
}

/// The record's result: the tags Intercom confirmed are remembered; a record
/// with a refused tag (or cut short by a failure) keeps no fingerprint.
fn finish(p: Pending<'_>, w: Work, company: bool, fatal: Option<&str>) -> ItemResult {
    let mut state = p.state;
    let remembered = &p.item.lists.remembered.tags;
    let desired = Memo::of_tags(p.item.lists.row.tags.as_deref().unwrap_or_default());
    // Listed and already remembered, or applied now; remembered and not yet
    // removed (a failed removal is tried again next run).
    let kept = remembered
        .0
        .iter()
        .copied()
        .filter(|h| !w.removed.contains(h) && !w.forget.contains(h));
    let carried = desired
        .0
        .iter()
        .copied()
        .filter(|h| w.added.contains(h) || (w.error.is_none() && fatal.is_none()));
    state.remembered.tags = Memo::of_hashes(kept.chain(carried));
    let error = w.error.or_else(|| {
        let unfinished =
            !w.add.is_empty() && w.added.len() < w.add.len() || w.remove.len() > w.removed.len();
        fatal
            .filter(|_| unfinished)
            .map(|f| ("fatal".to_string(), f.to_string()))
    });
    match error {
        None => ItemResult::Done {
            outcome: p.outcome,
            state: Some(state),
        },
        Some((code, reason)) => {
            state.fingerprint = None;
            state.outcome = Outcome::Rejected;
            let what = if company { "company" } else { "contact" };
            let reason = format!("{what} written, but {reason}");
            ItemResult::Problem(
                row_report(p.item, Outcome::Rejected, reason, Some(code)),
                Some(state),
            )
        }
    }
}
