//! Companies: create or update (Intercom upserts on `company_id`), remove; and
//! the lookup of a company's Intercom id by its `company_id`, remembered in the
//! client's cache.

use serde_json::{Map, Value};

use backflow_core::run::Outcome;

use super::{created_or_updated, id_of, not_found_status, reject, WriteResult};
use crate::client::Client;
use crate::error::{Rejection, RowError};
use crate::requests::{self, companies};

pub use super::CREATED_SLACK_SECS;

impl Client {
    /// `update_or_create` (and `mirror`) for companies: `POST /companies` upserts on
    /// the body's `company_id`.
    ///
    /// Intercom answers a create and an update alike, so the outcome is a
    /// heuristic: `Updated` when backflow remembered the company (`known_id`) or the
    /// company's `created_at` is more than [`CREATED_SLACK_SECS`] older than its
    /// `updated_at` (the write time, by Intercom's own clock); else `Created`.
    /// A company created and upserted again within seconds reads as created twice;
    /// the record is still one.
    pub async fn upsert_company(
        &self,
        body: &Map<String, Value>,
        known_id: Option<&str>,
    ) -> Result<WriteResult, RowError> {
        let requested_at = self.clock().unix_secs();
        let r = self.req(&companies::upsert_company(body)).await?;
        if !r.is_success() {
            return Err(reject(&r));
        }
        let id = id_of(&r, "POST /companies")?;
        if let Some(company_id) = company_id_of(body).or_else(|| company_id_of_value(&r.body)) {
            self.cache().remember_company(company_id, id.clone());
        }
        let outcome = created_or_updated(known_id.is_some(), &r.body, requested_at);
        Ok(WriteResult::new(outcome, Some(id)))
    }

    /// `delete` (and `mirror` removals) for companies: `DELETE /companies/{id}`
    /// with the id from memory or `GET /companies?company_id=`. Intercom archives the
    /// company and detaches its contacts. Not found → `NotFound`.
    pub async fn remove_company(
        &self,
        company_id: &str,
        known_id: Option<&str>,
    ) -> Result<WriteResult, RowError> {
        self.cache().forget_company(company_id);
        if let Some(id) = known_id {
            if let Some(done) = self.delete_company(id).await? {
                return Ok(done);
            }
        }
        match self.find_company_id(company_id).await? {
            Ok(id) if Some(id.as_str()) != known_id => Ok(self
                .delete_company(&id)
                .await?
                .unwrap_or_else(WriteResult::not_found)),
            _ => Ok(WriteResult::not_found()),
        }
    }

    async fn delete_company(&self, id: &str) -> Result<Option<WriteResult>, RowError> {
        let r = self.req(&companies::delete_company(id)).await?;
        if r.is_success() || (not_found_status(r.status) && r.attempts > 1) {
            return Ok(Some(WriteResult::new(
                Outcome::Deleted,
                Some(id.to_string()),
            )));
        }
        if not_found_status(r.status) {
            return Ok(None);
        }
        Err(reject(&r))
    }

    /// The Intercom id of the company with `company_id`, or Intercom's refusal
    /// (`404 company_not_found`). Cached on success.
    pub(super) async fn find_company_id(
        &self,
        company_id: &str,
    ) -> Result<Result<String, Rejection>, RowError> {
        let r = self.req(&companies::find_company(company_id)).await?;
        if !r.is_success() {
            return Ok(Err(requests::rejection(r.status, &r.body)));
        }
        match companies::company_from_lookup(&r.body, company_id) {
            Some(id) => {
                self.cache()
                    .remember_company(company_id.to_string(), id.clone());
                Ok(Ok(id))
            }
            None => Ok(Err(Rejection {
                status: 404,
                code: "company_not_found".into(),
                message: "Company Not Found".into(),
            })),
        }
    }
}

fn company_id_of(body: &Map<String, Value>) -> Option<String> {
    match body.get("company_id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn company_id_of_value(v: &Value) -> Option<String> {
    company_id_of(v.as_object()?)
}
