//! The record writers: one async method per behavior, built so that one key never
//! becomes two Intercom records.
//!
//! # How a contact is found
//!
//! 1. The Intercom id backflow remembers for the key (`known_id`): one `PUT`. A
//!    `404`/`410` (deleted, merged away) means the memory is stale: it is
//!    forgotten and the key is resolved as if unknown.
//! 2. **Users (`external_id` or `email` key): create first.** Intercom keeps
//!    `external_id` and user emails unique and answers a create of an existing
//!    one `409 conflict` with the existing id (`intercom-api.md` §2.4), so the
//!    create itself is the lookup: a new user costs one call (`POST /contacts`),
//!    a user Intercom has but backflow does not remember costs two (the `409`,
//!    then the `PUT` of the row's body on that id: outcome `Updated`). The id is
//!    only inside the message (`…already exists with id=…`); "An archived
//!    contact…" is unarchived first (one more call). Search, which lags behind
//!    creates by minutes, is never needed.
//! 3. **Leads: look up, then create.** Intercom does not refuse a second lead
//!    with the same email, and ignores `external_id` on leads, so a create would
//!    not find an existing lead. Email keys: `POST /contacts/search` on email and
//!    role (when search has not indexed a lead created moments ago, a second one
//!    is created; the remembered id prevents this on later runs). `external_id`
//!    keys: **a lead keyed by `external_id` can only be recognised by the id
//!    backflow remembers** (`find_by_external_id` only knows users), and a lead
//!    whose memory is lost is created again. Then the create, whose `409` (a
//!    workspace that refuses a lead sharing a user's email) is handled as for
//!    users.
//!
//! A retried create whose first attempt was applied but unanswered also ends in a
//! `409`, so it too lands on the one record.
//!
//! An `external_id`-keyed create that also sends an email may be refused because
//! *another* user (with a different `external_id`) holds that email: the `409`
//! does not say which identifier matched, so the matched contact is read first
//! (`GET /contacts/{id}`, one more call) and the row is rejected, not merged into
//! that user, when its `external_id` differs. Without an email in the body the
//! `409` can only be about the `external_id`, and no read is needed.
//!
//! When a search returns more than one match, users come first, then the oldest,
//! so every run picks the same record.
//!
//! `update_only` and removals never create, so they look the key up
//! (`find_by_external_id` for users, search by email). Intercom's contact object
//! does not say whether a contact is archived, and `find_by_external_id` also
//! answers for archived users: such a user is updated but stays archived (the
//! `409` path, taken by creates, unarchives). The caller, which remembers what it
//! archived, can unarchive with [`Client::unarchive_contact`].

use serde_json::{Map, Value};

use backflow_core::config::{DeleteMode, KeyField};
use backflow_core::run::Outcome;

use crate::client::{lock, unix_secs, ApiResponse, Client};
use crate::error::{Error, Rejection, RowError};
use crate::requests::{self, Request};

/// A contact's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    #[default]
    User,
    Lead,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Lead => "lead",
        }
    }

    /// `user` / `lead` (case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "user" => Some(Role::User),
            "lead" => Some(Role::Lead),
            _ => None,
        }
    }
}

/// What a writer did with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResult {
    /// `Created`, `Updated`, `Deleted`, `Archived`, `Sent` or `NotFound`.
    pub outcome: Outcome,
    /// The Intercom id of the record written (to remember), when there is one.
    pub intercom_id: Option<String>,
}

impl WriteResult {
    fn new(outcome: Outcome, id: Option<String>) -> Self {
        WriteResult {
            outcome,
            intercom_id: id,
        }
    }

    fn not_found() -> Self {
        WriteResult::new(Outcome::NotFound, None)
    }
}

/// A company upsert older than this (by its `created_at`) was an update: see
/// [`Client::upsert_company`].
pub const CREATED_SLACK_SECS: i64 = 5;

/// Largest plausible `created_at` in seconds (year 5138): above it, milliseconds.
const MAX_EVENT_SECS: i64 = 99_999_999_999;

fn not_found_status(status: u16) -> bool {
    status == 404 || status == 410
}

fn reject(r: &ApiResponse) -> RowError {
    RowError::Rejected(requests::rejection(r.status, &r.body))
}

fn id_of(r: &ApiResponse, what: &str) -> Result<String, RowError> {
    requests::object_id(&r.body).ok_or_else(|| {
        RowError::Fatal(Error::Unexpected(format!(
            "{what} answered {} without an id",
            r.status
        )))
    })
}

/// A contact found by a lookup.
struct Found {
    id: String,
    /// The answer said `archived: true` (when Intercom includes the field).
    archived: bool,
}

impl Client {
    async fn req(&self, r: &Request) -> Result<ApiResponse, RowError> {
        Ok(self.send(r).await?)
    }

    /// `update_or_create` for contacts: update the matching contact, or create it;
    /// never two contacts for one key (see the module doc). Returns the contact id.
    ///
    /// With `KeyField::Id` the key is the Intercom id and nothing is created
    /// (a missing id is `NotFound`).
    pub async fn upsert_contact(
        &self,
        key_field: KeyField,
        key: &str,
        known_id: Option<&str>,
        body: &Map<String, Value>,
        role: Role,
    ) -> Result<WriteResult, RowError> {
        check_contact_key(key_field)?;
        if let Some(id) = known_id {
            if let Some(id) = self.put_contact(id, body, role).await? {
                return Ok(WriteResult::new(Outcome::Updated, Some(id)));
            }
            tracing::debug!(key_field = ?key_field, "remembered contact id is gone; looking it up");
        }
        if key_field == KeyField::Id {
            return self.update_by_id(key, body, role).await;
        }
        if role == Role::User {
            // Create first: the 409 of an existing user is the lookup.
            return self.create_contact(key_field, key, body, role).await;
        }
        if let Some(found) = self.lookup_contact(key_field, key, Some(role)).await? {
            if found.archived {
                self.unarchive(&found.id).await?;
            }
            if let Some(id) = self.put_contact(&found.id, body, role).await? {
                return Ok(WriteResult::new(Outcome::Updated, Some(id)));
            }
            // Deleted between the lookup and the update: create it.
        }
        self.create_contact(key_field, key, body, role).await
    }

    /// `update_only` for contacts: the same lookup as [`Client::upsert_contact`],
    /// but a row with no match is `NotFound`, never created. With `KeyField::Id`
    /// the key is the Intercom id. (By email, a contact created moments ago may
    /// not be searchable yet and is reported not found.)
    pub async fn update_contact_only(
        &self,
        key_field: KeyField,
        key: &str,
        known_id: Option<&str>,
        body: &Map<String, Value>,
        role: Role,
    ) -> Result<WriteResult, RowError> {
        check_contact_key(key_field)?;
        if let Some(id) = known_id {
            if let Some(id) = self.put_contact(id, body, role).await? {
                return Ok(WriteResult::new(Outcome::Updated, Some(id)));
            }
        }
        if key_field == KeyField::Id {
            return self.update_by_id(key, body, role).await;
        }
        match self.lookup_contact(key_field, key, Some(role)).await? {
            Some(found) => match self.put_contact(&found.id, body, role).await? {
                Some(id) => Ok(WriteResult::new(Outcome::Updated, Some(id))),
                None => Ok(WriteResult::not_found()),
            },
            None => Ok(WriteResult::not_found()),
        }
    }

    /// `delete` (and `mirror` removals) for contacts: archive (default) or delete
    /// for good. The id comes from memory, `find_by_external_id`, an email search,
    /// or the key itself (`id`). Not found → `NotFound`; an already archived
    /// contact answers the archive normally and counts as `Archived`.
    ///
    /// (An email search does not list archived contacts, so an archived contact
    /// looked up by email alone is reported not found.)
    pub async fn remove_contact(
        &self,
        key_field: KeyField,
        key: &str,
        known_id: Option<&str>,
        mode: DeleteMode,
    ) -> Result<WriteResult, RowError> {
        check_contact_key(key_field)?;
        if let Some(id) = known_id {
            if let Some(done) = self.remove_contact_by_id(id, mode).await? {
                return Ok(done);
            }
        }
        let id = match key_field {
            KeyField::Id => Some(key.to_string()),
            _ => self
                .lookup_contact(key_field, key, None)
                .await?
                .map(|f| f.id),
        };
        match id {
            Some(id) if Some(id.as_str()) != known_id => Ok(self
                .remove_contact_by_id(&id, mode)
                .await?
                .unwrap_or_else(WriteResult::not_found)),
            _ => Ok(WriteResult::not_found()),
        }
    }

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
        let requested_at = unix_secs();
        let r = self.req(&requests::upsert_company(body)).await?;
        if !r.is_success() {
            return Err(reject(&r));
        }
        let id = id_of(&r, "POST /companies")?;
        if let Some(company_id) = company_id_of(body).or_else(|| company_id_of_value(&r.body)) {
            lock(self.inner_companies()).insert(company_id, id.clone());
        }
        let created_at = r.body.get("created_at").and_then(Value::as_i64);
        let written_at = r
            .body
            .get("updated_at")
            .and_then(Value::as_i64)
            .unwrap_or(requested_at);
        let updated =
            known_id.is_some() || created_at.is_some_and(|c| c < written_at - CREATED_SLACK_SECS);
        let outcome = if updated {
            Outcome::Updated
        } else {
            Outcome::Created
        };
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
        lock(self.inner_companies()).remove(company_id);
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
        let cached = lock(self.inner_companies()).get(company_id).cloned();
        let (id, from_cache) = match cached {
            Some(id) => (id, true),
            None => match self.find_company_id(company_id).await? {
                Ok(id) => (id, false),
                Err(rejection) => return Err(RowError::Rejected(rejection)),
            },
        };
        let r = self.req(&requests::attach_company(contact_id, &id)).await?;
        if r.is_success() {
            return Ok(WriteResult::new(Outcome::Updated, Some(id)));
        }
        let rejection = requests::rejection(r.status, &r.body);
        if from_cache && rejection.code == "company_not_found" {
            // The cached id is stale (the company was deleted and maybe re-created).
            lock(self.inner_companies()).remove(company_id);
            let id = self
                .find_company_id(company_id)
                .await?
                .map_err(RowError::Rejected)?;
            let r = self.req(&requests::attach_company(contact_id, &id)).await?;
            if r.is_success() {
                return Ok(WriteResult::new(Outcome::Updated, Some(id)));
            }
            return Err(reject(&r));
        }
        Err(RowError::Rejected(rejection))
    }

    /// `send` for events: `POST /events` → `202` = `Sent`. Intercom de-duplicates on
    /// (contact, `event_name`, `created_at`), so a retried send is harmless.
    /// `created_at` must already be Unix seconds (a value that can only be
    /// milliseconds is refused as a caller bug). An unknown user is `Rejected`
    /// (`404 not_found`).
    pub async fn send_event(&self, body: &Map<String, Value>) -> Result<WriteResult, RowError> {
        if let Some(t) = body.get("created_at").and_then(Value::as_i64) {
            if t > MAX_EVENT_SECS {
                return Err(RowError::Fatal(Error::Unsupported(format!(
                    "event created_at {t} is not in seconds"
                ))));
            }
        }
        let r = self.req(&requests::send_event(body)).await?;
        if r.is_success() {
            return Ok(WriteResult::new(Outcome::Sent, None));
        }
        let mut rejection = requests::rejection(r.status, &r.body);
        if r.status == 404 && rejection.code.starts_with("http_") {
            rejection.code = "not_found".into();
            rejection.message = "user not found".into();
        }
        Err(RowError::Rejected(rejection))
    }

    // ------------------------------------------------------------ helpers

    /// `PUT /contacts/{id}`: `Some(id)` when updated, `None` when the id is gone.
    async fn put_contact(
        &self,
        id: &str,
        body: &Map<String, Value>,
        role: Role,
    ) -> Result<Option<String>, RowError> {
        let r = self.req(&requests::update_contact(id, body, role)).await?;
        if r.is_success() {
            return Ok(Some(
                requests::object_id(&r.body).unwrap_or_else(|| id.to_string()),
            ));
        }
        if not_found_status(r.status) {
            return Ok(None);
        }
        Err(reject(&r))
    }

    async fn update_by_id(
        &self,
        id: &str,
        body: &Map<String, Value>,
        role: Role,
    ) -> Result<WriteResult, RowError> {
        Ok(match self.put_contact(id, body, role).await? {
            Some(id) => WriteResult::new(Outcome::Updated, Some(id)),
            None => WriteResult::not_found(),
        })
    }

    /// Find a contact by `external_id` (users) or email. `role` narrows an email
    /// search; `None` searches every role.
    async fn lookup_contact(
        &self,
        key_field: KeyField,
        key: &str,
        role: Option<Role>,
    ) -> Result<Option<Found>, RowError> {
        match key_field {
            KeyField::ExternalId => {
                if role == Some(Role::Lead) {
                    return Ok(None); // find_by_external_id only knows users
                }
                let r = self
                    .req(&requests::find_contact_by_external_id(key))
                    .await?;
                if not_found_status(r.status) {
                    return Ok(None);
                }
                if !r.is_success() {
                    return Err(reject(&r));
                }
                let archived = r.body.get("archived").and_then(Value::as_bool) == Some(true);
                Ok(requests::object_id(&r.body).map(|id| Found { id, archived }))
            }
            KeyField::Email => {
                let r = self
                    .req(&requests::search_contacts_by_email(key, role))
                    .await?;
                if !r.is_success() {
                    return Err(reject(&r));
                }
                Ok(requests::pick_search_match(&r.body).map(|id| Found {
                    id,
                    archived: false,
                }))
            }
            _ => Ok(None),
        }
    }

    /// `POST /contacts`; a `409` leads to the existing contact, unarchived if need
    /// be, then updated with the body.
    async fn create_contact(
        &self,
        key_field: KeyField,
        key: &str,
        body: &Map<String, Value>,
        role: Role,
    ) -> Result<WriteResult, RowError> {
        let create = requests::create_contact(body, key_field, key, role);
        let sends_email = create
            .body
            .as_ref()
            .and_then(|b| b.get("email"))
            .and_then(Value::as_str)
            .is_some_and(|e| !e.trim().is_empty());
        let r = self.req(&create).await?;
        if r.is_success() {
            let id = id_of(&r, "POST /contacts")?;
            return Ok(WriteResult::new(Outcome::Created, Some(id)));
        }
        let rejection = requests::rejection(r.status, &r.body);
        if r.status != 409 {
            return Err(RowError::Rejected(rejection));
        }
        let Some(conflict) = requests::parse_conflict(&rejection.message) else {
            return Err(RowError::Rejected(rejection));
        };
        tracing::debug!(id = %conflict.id, archived = conflict.archived, "create answered 409; updating the existing contact");
        if key_field == KeyField::ExternalId && sends_email {
            // The 409 may be about the email of a *different* user; updating that
            // one would overwrite its external_id and merge two people. Adopt it
            // only if it has no external_id or this one.
            let r = self.req(&requests::get_contact(&conflict.id)).await?;
            if r.is_success() {
                if let Some(other) = r.body.get("external_id").and_then(Value::as_str) {
                    if !other.is_empty() && other != key {
                        return Err(RowError::Rejected(Rejection {
                            message: format!(
                                "{} (its external_id is {other:?}, not {key:?}: another user holds this email)",
                                rejection.message
                            ),
                            ..rejection
                        }));
                    }
                }
            }
        }
        if conflict.archived {
            self.unarchive(&conflict.id).await?;
        }
        match self.put_contact(&conflict.id, body, role).await? {
            Some(id) => Ok(WriteResult::new(Outcome::Updated, Some(id))),
            None => Err(RowError::Rejected(rejection)),
        }
    }

    /// `POST /contacts/{id}/unarchive` (e.g. a mirrored contact that came back).
    pub async fn unarchive_contact(&self, id: &str) -> Result<WriteResult, RowError> {
        let r = self.req(&requests::unarchive_contact(id)).await?;
        if r.is_success() {
            Ok(WriteResult::new(Outcome::Updated, Some(id.to_string())))
        } else if not_found_status(r.status) {
            Ok(WriteResult::not_found())
        } else {
            Err(reject(&r))
        }
    }

    async fn unarchive(&self, id: &str) -> Result<(), RowError> {
        let r = self.req(&requests::unarchive_contact(id)).await?;
        if r.is_success() {
            Ok(())
        } else {
            Err(reject(&r))
        }
    }

    /// Archive or delete one contact: `None` when the id does not exist.
    async fn remove_contact_by_id(
        &self,
        id: &str,
        mode: DeleteMode,
    ) -> Result<Option<WriteResult>, RowError> {
        let (req, outcome) = match mode {
            DeleteMode::Archive => (requests::archive_contact(id), Outcome::Archived),
            DeleteMode::Permanent => (requests::delete_contact(id), Outcome::Deleted),
        };
        let r = self.req(&req).await?;
        if r.is_success() {
            return Ok(Some(WriteResult::new(outcome, Some(id.to_string()))));
        }
        if not_found_status(r.status) {
            // A 404 after retries: an earlier attempt that got no answer did it.
            if r.attempts > 1 {
                return Ok(Some(WriteResult::new(outcome, Some(id.to_string()))));
            }
            return Ok(None);
        }
        Err(reject(&r))
    }

    async fn delete_company(&self, id: &str) -> Result<Option<WriteResult>, RowError> {
        let r = self.req(&requests::delete_company(id)).await?;
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
    async fn find_company_id(
        &self,
        company_id: &str,
    ) -> Result<Result<String, Rejection>, RowError> {
        let r = self.req(&requests::find_company(company_id)).await?;
        if !r.is_success() {
            return Ok(Err(requests::rejection(r.status, &r.body)));
        }
        match requests::company_from_lookup(&r.body, company_id) {
            Some(id) => {
                lock(self.inner_companies()).insert(company_id.to_string(), id.clone());
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

fn check_contact_key(key_field: KeyField) -> Result<(), RowError> {
    match key_field {
        KeyField::Email | KeyField::ExternalId | KeyField::Id => Ok(()),
        other => Err(RowError::Fatal(Error::Unsupported(format!(
            "a contact cannot be keyed by {other:?}"
        )))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(Role::parse(" Lead "), Some(Role::Lead));
        assert_eq!(Role::parse("user"), Some(Role::User));
        assert_eq!(Role::parse("admin"), None);
        assert_eq!(Role::default().as_str(), "user");
    }

    #[test]
    fn keys_that_cannot_name_a_contact_are_a_caller_bug() {
        assert!(check_contact_key(KeyField::Email).is_ok());
        assert!(matches!(
            check_contact_key(KeyField::CompanyId),
            Err(RowError::Fatal(Error::Unsupported(_)))
        ));
    }
}
