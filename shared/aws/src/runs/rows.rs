//! Row reports: each row a run refused or Intercom answered for, under keys
//! that are the same when the same batch is reported again.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use backflow_core::run::{Outcome, RowReport};

use super::item::{json, run_pk};
use super::{RunStore, RUN_TTL_SECS};
use crate::ddb::{self, n, now_secs, s, Attrs, Item};
use crate::Error;

impl RunStore {
    /// Stores row reports under `ROW#<outcome>#<seq>#<index in rows>`, so writing the
    /// same batch's rows again overwrites them. Extract's rows use [`EXTRACT_ROWS_SEQ`](super::EXTRACT_ROWS_SEQ).
    pub async fn put_rows(&self, run_id: &str, seq: u32, rows: &[RowReport]) -> Result<(), Error> {
        self.put_rows_from(run_id, seq, 0, rows).await
    }

    /// [`RunStore::put_rows`] for a slice starting at `first_index` of a longer list
    /// (rows written in several calls under one `seq`).
    pub async fn put_rows_from(
        &self,
        run_id: &str,
        seq: u32,
        first_index: usize,
        rows: &[RowReport],
    ) -> Result<(), Error> {
        let expires_at = n(now_secs() + RUN_TTL_SECS);
        let mut requests = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let sk = format!(
                "ROW#{}#{seq:06}#{:06}",
                row.outcome.as_str(),
                first_index + i
            );
            let mut item = ddb::key(run_pk(run_id), sk);
            item.insert("doc".into(), json(row));
            item.insert("expires_at".into(), expires_at.clone());
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| self.err("BatchWriteItem", e))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        ddb::batch_write(&self.dynamodb, &self.table, requests).await?;
        Ok(())
    }

    /// Up to `limit` row reports, all outcomes or one, ordered by outcome, batch and
    /// position.
    pub async fn list_rows(
        &self,
        run_id: &str,
        outcome: Option<Outcome>,
        limit: usize,
    ) -> Result<Vec<RowReport>, Error> {
        let prefix = match outcome {
            Some(o) => format!("ROW#{}#", o.as_str()),
            None => "ROW#".to_string(),
        };
        let mut rows = Vec::new();
        let mut start: Option<Item> = None;
        while rows.len() < limit {
            let page = i32::try_from(limit - rows.len())
                .unwrap_or(i32::MAX)
                .min(1000);
            let out = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_names("#doc", "doc")
                .expression_attribute_values(":pk", s(run_pk(run_id)))
                .expression_attribute_values(":prefix", s(&prefix))
                .projection_expression("#doc")
                .consistent_read(true)
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.err("Query", e))?;
            let what = format!("row report of run `{run_id}`");
            for item in out.items() {
                let doc = Attrs::new(item, &what).required_s("doc")?;
                let row = serde_json::from_str(doc).map_err(|e| Error::corrupt(&what, e))?;
                rows.push(row);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        rows.truncate(limit);
        Ok(rows)
    }
}
