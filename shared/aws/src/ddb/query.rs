//! The one Query shape both tables are read with: one partition (`pk`), the
//! items whose sort key begins with a prefix, in key order either way. The
//! state walk reads it a DynamoDB page at a time ([`PrefixQuery::page`]); the
//! run history and the row reports read it a caller's page at a time, one item
//! past the page to know whether another follows ([`PrefixQuery::limited`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use aws_sdk_dynamodb::Client;

use super::{s, Item};
use crate::Error;

/// Items asked for per call by [`PrefixQuery::limited`]: a 10,000-row page of
/// row reports (the API's largest) is read in bounded answers.
const MAX_PER_CALL: usize = 1000;

/// A Query of the items of partition `pk` whose sort key begins with `sk_prefix`.
pub(crate) struct PrefixQuery<'a> {
    pub(crate) client: &'a Client,
    pub(crate) table: &'a str,
    pub(crate) pk: String,
    pub(crate) sk_prefix: String,
    /// Ascending sort key order; `false` reads from the highest key down.
    pub(crate) forward: bool,
    /// The attributes read (`None`: the whole items). DynamoDB bills the whole
    /// items' size either way; projecting keeps the answers smaller.
    pub(crate) projection: Option<&'a [&'a str]>,
    pub(crate) consistent: bool,
}

/// One Query call's answer.
pub(crate) struct Page {
    pub(crate) items: Vec<Item>,
    /// The key to continue from (`None` after the partition's last match).
    pub(crate) next: Option<Item>,
    /// Read units consumed (0 where the server does not report them).
    pub(crate) read_units: f64,
}

impl PrefixQuery<'_> {
    /// One Query call from `start` (the beginning when `None`): up to `limit`
    /// items, or up to DynamoDB's 1 MB page when `None`.
    pub(crate) async fn page(
        &self,
        limit: Option<usize>,
        start: Option<Item>,
    ) -> Result<Page, Error> {
        let mut names = HashMap::from([
            ("#pk".to_string(), "pk".to_string()),
            ("#sk".to_string(), "sk".to_string()),
        ]);
        let projection = self.projection.map(|attrs| {
            names.extend(attrs.iter().map(|a| (format!("#{a}"), a.to_string())));
            attrs
                .iter()
                .map(|a| format!("#{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let out = self
            .client
            .query()
            .table_name(self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .set_projection_expression(projection)
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":pk", s(&self.pk))
            .expression_attribute_values(":prefix", s(&self.sk_prefix))
            .scan_index_forward(self.forward)
            .consistent_read(self.consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::dynamodb("Query", self.table, e))?;
        let read_units = out
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
        // Some servers answer an empty key rather than none on the last page.
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        Ok(Page {
            items: out.items.unwrap_or_default(),
            next,
            read_units,
        })
    }

    /// Up to `limit` items after `start` (from the first when `None`), and
    /// whether more follow. One item past the page is read, over as many calls
    /// as DynamoDB needs (a call may stop short at 1 MB), so the last page says
    /// it is the last rather than leaving an empty page after it.
    pub(crate) async fn limited(
        &self,
        limit: usize,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, bool), Error> {
        let mut items = Vec::new();
        let mut start = start;
        loop {
            let wanted = (limit + 1 - items.len()).min(MAX_PER_CALL);
            let page = self.page(Some(wanted), start.take()).await?;
            items.extend(page.items);
            match page.next {
                Some(key) if items.len() <= limit => start = Some(key),
                _ => break,
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        Ok((items, more))
    }
}
