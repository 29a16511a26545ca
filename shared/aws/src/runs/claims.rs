//! The sync's lock, and the claims that let exactly one delivery go on: a
//! schedule's minute per sync, a batch's first delivery.

use super::item::{run_pk, sync_pk};
use super::{RunStore, RUN_TTL_SECS, SCHEDULE_TTL_SECS};
use crate::ddb::{self, condition_failed, get_s, n, now_secs, s, Item};
use crate::Error;

impl RunStore {
    /// The run holding the sync's lock, if any.
    pub async fn lock_holder(&self, sync: &str) -> Result<Option<String>, Error> {
        let item = self.get(sync_pk(sync), "LOCK", Some("run_id")).await?;
        Ok(item.and_then(|i| get_s(&i, "run_id").map(str::to_string)))
    }

    /// Releases the sync's lock if (and only if) `run_id` holds it.
    pub async fn release_lock(&self, sync: &str, run_id: &str) -> Result<(), Error> {
        let result = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(sync_pk(sync), "LOCK")))
            .condition_expression("#run_id = :id")
            .expression_attribute_names("#run_id", "run_id")
            .expression_attribute_values(":id", s(run_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(self.err("DeleteItem", e)),
        }
    }

    /// Claims the scheduled start of `sync` at `minute` (RFC 3339); `false` when it
    /// was claimed already (the same Scheduled Event delivered twice).
    pub async fn claim_schedule(&self, sync: &str, minute: &str) -> Result<bool, Error> {
        let now = now_secs();
        let mut item = ddb::key(sync_pk(sync), format!("SCHED#{minute}"));
        item.insert("claimed_at".into(), n(now));
        item.insert("expires_at".into(), n(now + SCHEDULE_TTL_SECS));
        self.put_if_absent(item).await
    }

    /// Claims the first delivery of batch `seq` of the run (`DELIVERY#<seq>`, 1 WRU):
    /// `false` when an earlier delivery of the batch began (Lambda retried it, or
    /// delivered it twice), which may have written state for some of its keys.
    pub async fn claim_delivery(&self, run_id: &str, seq: u32) -> Result<bool, Error> {
        let now = now_secs();
        let mut item = ddb::key(run_pk(run_id), format!("DELIVERY#{seq:06}"));
        item.insert("at".into(), n(now));
        item.insert("expires_at".into(), n(now + RUN_TTL_SECS));
        self.put_if_absent(item).await
    }

    /// Puts `item` unless its key exists; `false` when it did.
    pub(super) async fn put_if_absent(&self, item: Item) -> Result<bool, Error> {
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(self.err("PutItem", e)),
        }
    }
}
