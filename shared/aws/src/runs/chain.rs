//! What `after:` chains and `alerts:` keep: on the sync's meta item, when its
//! last real run started and its last good ending; the claims that start a
//! waiting sync once per set of endings; the run's "alert published" mark.

use backflow_core::chain::Ended;

use super::item::{run_pk, sync_pk};
use super::{RunStore, SCHEDULE_TTL_SECS};
use crate::ddb::{self, condition_failed, n, now_secs, s, Attrs};
use crate::Error;

/// What a sync's meta item says about it for `after:` chains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainMarks {
    /// When its last run that was not a dry run started (Unix ms).
    pub started_ms: Option<i64>,
    /// Its last run that ended `succeeded` or `partial` (not a dry run).
    pub ended_ok: Option<Ended>,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl RunStore {
    /// The sync's [`ChainMarks`] (one strongly consistent GetItem).
    pub async fn chain_marks(&self, sync: &str) -> Result<ChainMarks, Error> {
        let Some(item) = self.get(sync_pk(sync), "META", None).await? else {
            return Ok(ChainMarks::default());
        };
        let what = format!("sync `{sync}` meta");
        let attrs = Attrs::new(&item, &what);
        let ms = |name: &str| -> Result<Option<i64>, Error> {
            attrs
                .u64(name)?
                .map(|v| i64::try_from(v).map_err(|e| Error::corrupt(&what, e)))
                .transpose()
        };
        let ended_ok = match (attrs.s("ok_run_id")?, ms("ok_at_ms")?) {
            (Some(run_id), Some(at_ms)) => Some(Ended {
                run_id: run_id.to_string(),
                at_ms,
            }),
            _ => None,
        };
        Ok(ChainMarks {
            started_ms: ms("started_ms")?,
            ended_ok,
        })
    }

    /// Records that `run_id` of `sync` ended `succeeded` or `partial` at `at_ms`.
    /// Only moves forward, and a second delivery of the same ending leaves the
    /// first time in place (so it cannot make the run look newer than a run of a
    /// waiting sync that already followed it).
    pub async fn record_ended_ok(&self, sync: &str, run_id: &str, at_ms: i64) -> Result<(), Error> {
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(sync_pk(sync), "META")))
            .update_expression("SET #id = :id, #at = :at")
            .condition_expression("attribute_not_exists(#id) OR (#id <> :id AND #at < :at)")
            .expression_attribute_names("#id", "ok_run_id")
            .expression_attribute_names("#at", "ok_at_ms")
            .expression_attribute_values(":id", s(run_id))
            .expression_attribute_values(":at", n(at_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }

    /// Claims the start of waiting `sync` that follows the runs `claim` names
    /// ([`backflow_core::chain::Due::Start`]); `false` when it was claimed
    /// already (the same endings seen twice).
    pub async fn claim_after(&self, sync: &str, claim: &str) -> Result<bool, Error> {
        let now = now_secs();
        let mut item = ddb::key(sync_pk(sync), claim);
        item.insert("claimed_at".into(), n(now));
        item.insert("expires_at".into(), n(now + SCHEDULE_TTL_SECS));
        self.put_if_absent(item).await
    }

    /// Gives a claim back when its start did not happen (the sync was busy), so
    /// the next look starts it.
    pub async fn release_after(&self, sync: &str, claim: &str) -> Result<(), Error> {
        self.dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(sync_pk(sync), claim)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("DeleteItem", e))
    }

    /// Marks the run's alert as published (`alerted_at`), unless it is: `false`
    /// when another delivery of the run's ending claimed it first.
    pub async fn claim_alert(&self, run_id: &str) -> Result<bool, Error> {
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(run_pk(run_id), "RUN")))
            .update_expression("SET #a = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#a)")
            .expression_attribute_names("#a", "alerted_at")
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }

    /// Takes the mark back when publishing failed, so a retry publishes.
    pub async fn release_alert(&self, run_id: &str) -> Result<(), Error> {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ddb::key(run_pk(run_id), "RUN")))
            .update_expression("REMOVE #a")
            .expression_attribute_names("#a", "alerted_at")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("UpdateItem", e))
    }
}
