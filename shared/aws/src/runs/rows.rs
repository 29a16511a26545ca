//! Row reports: each row a run refused or Intercom answered for, under keys
//! that are the same when the same batch is reported again, read back a page
//! at a time.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use backflow_core::api::RowsAfter;
use backflow_core::run::{Outcome, RowReport};

use super::item::{json, run_pk};
use super::{RunStore, RUN_TTL_SECS};
use crate::ddb::{self, n, now_secs, Attrs, PrefixQuery};
use crate::Error;

/// A row report's sort key: ordered by outcome, batch, position in the batch.
fn row_sk(outcome: Outcome, seq: u32, index: u32) -> String {
    format!("ROW#{}#{seq:06}#{index:06}", outcome.as_str())
}

/// The position a row report's sort key names (`None`: not a row's key).
fn row_position(sk: &str) -> Option<RowsAfter> {
    let mut parts = sk.split('#');
    let (Some("ROW"), Some(outcome), Some(seq), Some(index), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    Some(RowsAfter {
        outcome: serde_json::from_value(serde_json::Value::String(outcome.into())).ok()?,
        seq: seq.parse().ok()?,
        index: index.parse().ok()?,
    })
}

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
            let index = u32::try_from(first_index + i).unwrap_or(u32::MAX);
            let mut item = ddb::key(run_pk(run_id), row_sk(row.outcome, seq, index));
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
        Ok(self.rows_page(run_id, outcome, limit, None).await?.0)
    }

    /// One page of row reports: up to `limit` after `after` (from the first when
    /// `None`), and the position to continue from when there are more. One item
    /// past the page is read, so the last page says so (no empty page after it).
    pub async fn rows_page(
        &self,
        run_id: &str,
        outcome: Option<Outcome>,
        limit: usize,
        after: Option<&RowsAfter>,
    ) -> Result<(Vec<RowReport>, Option<RowsAfter>), Error> {
        let prefix = match outcome {
            Some(o) => format!("ROW#{}#", o.as_str()),
            None => "ROW#".to_string(),
        };
        let what = format!("row report of run `{run_id}`");
        let query = PrefixQuery {
            client: &self.dynamodb,
            table: &self.table,
            pk: run_pk(run_id),
            sk_prefix: prefix,
            forward: true,
            projection: Some(&["sk", "doc"]),
            consistent: true,
        };
        let start = after.map(|a| ddb::key(run_pk(run_id), row_sk(a.outcome, a.seq, a.index)));
        let (items, more) = query.limited(limit, start).await?;
        let mut rows = Vec::with_capacity(items.len());
        let mut last: Option<RowsAfter> = None;
        for item in &items {
            let attrs = Attrs::new(item, &what);
            let sk = attrs.required_s("sk")?;
            last = Some(
                row_position(sk)
                    .ok_or_else(|| Error::corrupt(&what, format!("bad sort key `{sk}`")))?,
            );
            let row = serde_json::from_str(attrs.required_s("doc")?)
                .map_err(|e| Error::corrupt(&what, e))?;
            rows.push(row);
        }
        // The cursor is the page's last row: the next page starts right after it.
        Ok((rows, last.filter(|_| more)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_and_positions_round_trip() {
        for (outcome, seq, index) in [
            (Outcome::Invalid, 999_999, 10_499),
            (Outcome::NotFound, 0, 0),
            (Outcome::Rejected, 12, 999_999),
        ] {
            let sk = row_sk(outcome, seq, index);
            assert_eq!(
                row_position(&sk),
                Some(RowsAfter {
                    outcome,
                    seq,
                    index
                }),
                "{sk}"
            );
        }
        assert_eq!(row_sk(Outcome::Invalid, 3, 7), "ROW#invalid#000003#000007");
        for sk in [
            "ROW#",
            "ROW#nope#1#2",
            "ROW#invalid#1",
            "ROW#invalid#1#2#3",
            "RUN",
        ] {
            assert_eq!(row_position(sk), None, "{sk}");
        }
    }
}
