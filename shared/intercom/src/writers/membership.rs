//! Company membership: attaching a contact to a company, which is also what
//! makes the company visible in Intercom (it hides companies without contacts),
//! and detaching it from companies backflow attached before.

use backflow_core::run::Outcome;

use backflow_core::tags::company_hash;

use super::{not_found_status, reject, WriteResult};
use crate::client::Client;
use crate::error::RowError;
use crate::requests::{self, membership};

impl Client {
    /// Attach a contact to the company with `company_id` (your id). The company's
    /// Intercom id is looked up once per client (`GET /companies?company_id=`) and
    /// cached. A company Intercom does not know is `Rejected` with its code
    /// (`company_not_found`). Attaching is what makes a company visible in
    /// Intercom, which hides companies without contacts. Outcome `Updated`, with
    /// the company's Intercom id.
    pub async fn attach_company(
        &self,
        contact_id: &str,
        company_id: &str,
    ) -> Result<WriteResult, RowError> {
        let cached = self.cache().company(company_id);
        let (id, from_cache) = match cached {
            Some(id) => (id, true),
            None => match self.find_company_id(company_id).await? {
                Ok(id) => (id, false),
                Err(rejection) => return Err(RowError::Rejected(rejection)),
            },
        };
        let r = self
            .req(&membership::attach_company(contact_id, &id))
            .await?;
        if r.is_success() {
            return Ok(WriteResult::new(Outcome::Updated, Some(id)));
        }
        let rejection = requests::rejection(r.status, &r.body);
        if from_cache && rejection.code == "company_not_found" {
            // The cached id is stale (the company was deleted and maybe re-created).
            self.cache().forget_company(company_id);
            let id = self
                .find_company_id(company_id)
                .await?
                .map_err(RowError::Rejected)?;
            let r = self
                .req(&membership::attach_company(contact_id, &id))
                .await?;
            if r.is_success() {
                return Ok(WriteResult::new(Outcome::Updated, Some(id)));
            }
            return Err(reject(&r));
        }
        Err(RowError::Rejected(rejection))
    }

    /// Detach a contact from the companies whose `company_id` hashes to one of
    /// `leaving` ([`backflow_core::tags::company_hash`]): its companies are
    /// listed (`GET /contacts/{id}/companies`, one call per 150) to find their
    /// Intercom ids, then each is detached. A company no longer attached (by
    /// hand, or deleted) is done.
    pub async fn detach_companies(
        &self,
        contact_id: &str,
        leaving: &[u32],
    ) -> Result<(), RowError> {
        let mut attached = Vec::new();
        for page in 1.. {
            let r = self
                .req(&membership::contact_companies(contact_id, page))
                .await?;
            if !r.is_success() {
                return Err(reject(&r));
            }
            let (companies, more) = membership::companies_of(&r.body);
            attached.extend(companies);
            if !more {
                break;
            }
        }
        for (id, company_id) in attached {
            if !leaving.contains(&company_hash(&company_id)) {
                continue;
            }
            let r = self
                .req(&membership::detach_company(contact_id, &id))
                .await?;
            if !r.is_success() && !not_found_status(r.status) {
                return Err(reject(&r));
            }
        }
        Ok(())
    }
}
