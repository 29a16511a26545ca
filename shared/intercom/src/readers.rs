//! Reading one record as Intercom holds it now, for a dry run's "before": the
//! lookups the writers make (the remembered id, then the key), and never a
//! write. Every read goes through [`Client::send`] like a write does (turn,
//! shared budget, retries, region).
//!
//! `Ok(None)`: Intercom has no record for the key (a `404`/`410`, or no match).
//! A lead keyed by `external_id` and not remembered cannot be found (see
//! `writers::contacts`): `None` too, as `load` would create it.

use serde_json::Value;

use backflow_core::config::KeyField;

use crate::client::Client;
use crate::error::RowError;
use crate::requests::{companies, contacts};
use crate::writers::contacts::check_contact_key;
use crate::writers::{not_found_status, reject};
use crate::Role;

impl Client {
    /// The contact `key` names: by `known_id` (the id backflow remembers), else
    /// as `load` would find it — `GET /contacts/{key}` for an `id` key,
    /// `find_by_external_id` for users, an email search (narrowed to `role`
    /// when given).
    pub async fn read_contact(
        &self,
        key_field: KeyField,
        key: &str,
        known_id: Option<&str>,
        role: Option<Role>,
    ) -> Result<Option<Value>, RowError> {
        check_contact_key(key_field)?;
        if let Some(id) = known_id {
            if let Some(record) = self.get_contact(id).await? {
                return Ok(Some(record));
            }
        }
        if key_field == KeyField::Id {
            if known_id == Some(key) {
                return Ok(None);
            }
            return self.get_contact(key).await;
        }
        Ok(self
            .lookup_contact(key_field, key, role)
            .await?
            .map(|found| found.record))
    }

    /// The company with `company_id` (`GET /companies?company_id=`).
    pub async fn read_company(&self, company_id: &str) -> Result<Option<Value>, RowError> {
        let r = self.req(&companies::find_company(company_id)).await?;
        if not_found_status(r.status) {
            return Ok(None);
        }
        if !r.is_success() {
            return Err(reject(&r));
        }
        Ok(companies::company_in_lookup(&r.body, company_id).cloned())
    }

    /// `GET /contacts/{id}`: `None` when the id is gone.
    async fn get_contact(&self, id: &str) -> Result<Option<Value>, RowError> {
        let r = self.req(&contacts::get_contact(id)).await?;
        if not_found_status(r.status) {
            return Ok(None);
        }
        if !r.is_success() {
            return Err(reject(&r));
        }
        Ok(Some(r.body))
    }
}
