//! The shared Intercom call budget in DynamoDB: one counter per Intercom app and
//! 10-second rate-limit window, in the runs table (`BACKFLOW_RUNS_TABLE`), which
//! every concurrent `load` (and `extract`) of every sync takes its calls from.
//! The decisions (which window, how many calls, how long to wait) are
//! `backflow_core::budget`; the client side (calls taken and not spent yet) is
//! `backflow_intercom::rate_limit::share`; this is only the store. The "Rate
//! limiting" map in `backflow_intercom`'s crate doc shows who calls whom.
//!
//! # Layout
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | budget window (*TTL*) | `BUDGET#<app>` | `W#<reset>` | `used` (N, calls taken), `lim` (N, `X-RateLimit-Limit` once a client saw it), `expires_at` (N, the reset + 1 h) |
//!
//! `<app>` is the first 16 hex digits of SHA-256(base URL + access token): the
//! clients of one app (same workspace and token) share it, and the token itself
//! is never stored. `<reset>` is the window's `X-RateLimit-Reset` (Unix seconds).
//!
//! # One write per block
//!
//! [`DynamoBudget::take`] is one conditional `UpdateItem`
//! (`ADD used :k` if `used <= limit − k`, creating the item for a new window),
//! answering the new count (`ALL_NEW`) or, refused, the current one with
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD` — no extra read. A client
//! that only assumes the limit (no header seen yet) is also refused when the
//! window stores a lower one, and adopts it. Each request is one write unit
//! (the item is far below 1 KB; a refused conditional write is billed too).
//! A window's one item takes a few dozen writes per 10 s, far from the
//! 1,000 WCU/s of a partition.

use std::sync::Arc;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use backflow_core::budget::{Answer, Ask, Window};
use backflow_core::secret::Secret;
use backflow_intercom::{BudgetError, BudgetFuture, CallBudget};
use sha2::{Digest, Sha256};

use crate::ddb::{self, get_u64, n, Item};
use crate::Error;

/// Budget items are kept this long after their window ended (DynamoDB TTL).
pub const BUDGET_TTL_SECS: i64 = 3600;

/// The budget of one Intercom app in the runs table.
#[derive(Debug, Clone)]
pub struct DynamoBudget {
    dynamodb: Client,
    table: String,
    app: String,
}

/// The app's id in the budget's keys: the first 16 hex digits of
/// SHA-256(`base_url` + token).
pub fn app_id(base_url: &str, token: &Secret) -> String {
    let mut hash = Sha256::new();
    hash.update(base_url.trim_end_matches('/').as_bytes());
    hash.update(token.expose().as_bytes());
    hash.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `intercom` taking its calls from the app's budget in `runs_table` — the one
/// line a function needs: `let client = share_budget(client, &aws.dynamodb, &settings.runs_table);`
/// (then, when done, `client.release_budget().await`, and add
/// `client.stats().budget_writes` to the run's DynamoDB write units).
pub fn share_budget(
    intercom: backflow_intercom::Client,
    dynamodb: &Client,
    runs_table: &str,
) -> backflow_intercom::Client {
    let cfg = intercom.config();
    let budget = DynamoBudget::new(dynamodb.clone(), runs_table, &cfg.base_url, &cfg.token);
    intercom.with_budget(Arc::new(budget))
}

impl DynamoBudget {
    pub fn new(
        dynamodb: Client,
        table: impl Into<String>,
        base_url: &str,
        token: &Secret,
    ) -> DynamoBudget {
        DynamoBudget {
            dynamodb,
            table: table.into(),
            app: app_id(base_url, token),
        }
    }

    /// The app's id (see [`app_id`]).
    pub fn app(&self) -> &str {
        &self.app
    }

    fn key(&self, reset: i64) -> Item {
        ddb::key(format!("BUDGET#{}", self.app), format!("W#{reset}"))
    }

    async fn take_calls(&self, ask: Ask) -> Result<Answer, Error> {
        let mut update = "ADD #used :k SET #exp = if_not_exists(#exp, :exp)".to_string();
        let mut condition = "(attribute_not_exists(#used) OR #used <= :max)".to_string();
        if ask.set_limit() {
            update.push_str(", #lim = :lim");
        } else {
            condition.push_str(" AND (attribute_not_exists(#lim) OR #lim >= :lim)");
        }
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(ask.window.reset)))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#used", "used")
            .expression_attribute_names("#lim", "lim")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":k", n(ask.want))
            .expression_attribute_values(":max", n(ask.max_used_before()))
            .expression_attribute_values(":lim", n(ask.window.limit))
            .expression_attribute_values(":exp", n(ask.window.reset + BUDGET_TTL_SECS))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let used = out
                    .attributes()
                    .and_then(|a| get_u64(a, "used"))
                    .unwrap_or(u64::from(ask.want));
                Ok(Answer::Granted { used: count(used) })
            }
            Err(e) => {
                let refused = e.as_service_error().and_then(|e| match e {
                    UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item()),
                    _ => None,
                });
                match refused {
                    Some(Some(item)) => Ok(refusal(item)),
                    // Refused without the item (an older server): read it.
                    Some(None) => Ok(refusal(&self.read(ask.window.reset).await?)),
                    None => Err(Error::dynamodb("UpdateItem", &self.table, e)),
                }
            }
        }
    }

    async fn read(&self, reset: i64) -> Result<Item, Error> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(reset)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::dynamodb("GetItem", &self.table, e))?;
        Ok(out.item.unwrap_or_default())
    }

    async fn give_back_calls(&self, window: Window, calls: u32) -> Result<(), Error> {
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(window.reset)))
            .update_expression("ADD #used :minus")
            .condition_expression("#used >= :n")
            .expression_attribute_names("#used", "used")
            .expression_attribute_values(":minus", n(-i64::from(calls)))
            .expression_attribute_values(":n", n(calls))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Nothing to give back to (the item expired, or was never there).
            Err(e) if ddb::condition_failed(&e) => Ok(()),
            Err(e) => Err(Error::dynamodb("UpdateItem", &self.table, e)),
        }
    }
}

fn count(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn refusal(item: &Item) -> Answer {
    Answer::Refused {
        used: count(get_u64(item, "used").unwrap_or(0)),
        limit: get_u64(item, "lim").map(count),
    }
}

impl CallBudget for DynamoBudget {
    fn take(&self, ask: Ask) -> BudgetFuture<'_, Answer> {
        Box::pin(async move {
            self.take_calls(ask)
                .await
                .map_err(|e| BudgetError(e.to_string()))
        })
    }

    fn give_back(&self, window: Window, calls: u32) -> BudgetFuture<'_, ()> {
        Box::pin(async move {
            self.give_back_calls(window, calls)
                .await
                .map_err(|e| BudgetError(e.to_string()))
        })
    }

    fn describe(&self) -> String {
        format!("DynamoDB table `{}`, item BUDGET#{}", self.table, self.app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_id_is_a_hash_never_the_token() {
        let token = Secret::new("tok_very_secret");
        let id = app_id("https://api.intercom.io", &token);
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!id.contains("secret"));
        // A trailing slash is the same app; another token or URL is another app.
        assert_eq!(id, app_id("https://api.intercom.io/", &token));
        assert_ne!(id, app_id("https://api.eu.intercom.io", &token));
        assert_ne!(
            id,
            app_id("https://api.intercom.io", &Secret::new("tok_other"))
        );
        // SHA-256("https://api.intercom.iotok_very_secret"), first 8 bytes.
        assert_eq!(id, "5ad144857afac8ec");
    }
}
