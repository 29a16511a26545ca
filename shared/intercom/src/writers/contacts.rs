//! Contacts (users and leads): create or update, update only, archive or
//! delete, unarchive — without ever making two contacts of one key.
//!
//! # How a contact is found
//!
//! 1. The Intercom id backflow remembers for the key (`known_id`): one `PUT`. A
//!    `404`/`410` (deleted, merged away) means the memory is stale: it is
//!    forgotten and the key is resolved as if unknown.
//! 2. **Users (`external_id` or `email` key): create first.** Intercom keeps
//!    `external_id` and user emails unique and answers a create of an existing
//!    one `409 conflict` whose message names the existing id, so the
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

use super::{id_of, not_found_status, reject, WriteResult};
use crate::client::Client;
use crate::error::{Error, Rejection, RowError};
use crate::requests::{self, contacts};

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

/// A contact found by a lookup.
pub(crate) struct Found {
    pub(crate) id: String,
    /// The answer said `archived: true` (when Intercom includes the field).
    pub(crate) archived: bool,
    /// The contact as Intercom answered it (a dry run shows its fields).
    pub(crate) record: Value,
}

impl Client {
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
        if let Some(done) = self
            .update_known(key_field, key, known_id, body, role)
            .await?
        {
            return Ok(done);
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
        if let Some(done) = self
            .update_known(key_field, key, known_id, body, role)
            .await?
        {
            return Ok(done);
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

    /// `POST /contacts/{id}/unarchive` (e.g. a mirrored contact that came back).
    pub async fn unarchive_contact(&self, id: &str) -> Result<WriteResult, RowError> {
        let r = self.req(&contacts::unarchive_contact(id)).await?;
        if r.is_success() {
            Ok(WriteResult::new(Outcome::Updated, Some(id.to_string())))
        } else if not_found_status(r.status) {
            Ok(WriteResult::not_found())
        } else {
            Err(reject(&r))
        }
    }

    /// The steps every contact update starts with: the key must be one that
    /// names a contact; then a `PUT` on the id backflow remembers for the key;
    /// then, when the key *is* the Intercom id, a `PUT` on it (`NotFound` when
    /// gone). `None`: the key must be looked up (nothing remembered, or the
    /// remembered contact is gone — deleted, merged away).
    async fn update_known(
        &self,
        key_field: KeyField,
        key: &str,
        known_id: Option<&str>,
        body: &Map<String, Value>,
        role: Role,
    ) -> Result<Option<WriteResult>, RowError> {
        check_contact_key(key_field)?;
        if let Some(id) = known_id {
            if let Some(id) = self.put_contact(id, body, role).await? {
                return Ok(Some(WriteResult::new(Outcome::Updated, Some(id))));
            }
            tracing::debug!(key_field = ?key_field, "remembered contact id is gone; looking it up");
        }
        if key_field == KeyField::Id {
            return Ok(Some(match self.put_contact(key, body, role).await? {
                Some(id) => WriteResult::new(Outcome::Updated, Some(id)),
                None => WriteResult::not_found(),
            }));
        }
        Ok(None)
    }

    /// `PUT /contacts/{id}`: `Some(id)` when updated, `None` when the id is gone.
    async fn put_contact(
        &self,
        id: &str,
        body: &Map<String, Value>,
        role: Role,
    ) -> Result<Option<String>, RowError> {
        let r = self.req(&contacts::update_contact(id, body, role)).await?;
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

    /// Find a contact by `external_id` (users) or email. `role` narrows an email
    /// search; `None` searches every role.
    pub(crate) async fn lookup_contact(
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
                    .req(&contacts::find_contact_by_external_id(key))
                    .await?;
                if not_found_status(r.status) {
                    return Ok(None);
                }
                if !r.is_success() {
                    return Err(reject(&r));
                }
                let archived = r.body.get("archived").and_then(Value::as_bool) == Some(true);
                let id = requests::object_id(&r.body);
                Ok(id.map(|id| Found {
                    id,
                    archived,
                    record: r.body,
                }))
            }
            KeyField::Email => {
                let r = self
                    .req(&contacts::search_contacts_by_email(key, role))
                    .await?;
                if !r.is_success() {
                    return Err(reject(&r));
                }
                let record = contacts::pick_search_record(&r.body);
                Ok(record.and_then(|c| {
                    let id = c.get("id").and_then(Value::as_str)?.to_string();
                    Some(Found {
                        id,
                        archived: false,
                        record: c.clone(),
                    })
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
        let create = contacts::create_contact(body, key_field, key, role);
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
        let Some(conflict) = contacts::parse_conflict(&rejection.message) else {
            return Err(RowError::Rejected(rejection));
        };
        tracing::debug!(id = %conflict.id, archived = conflict.archived, "create answered 409; updating the existing contact");
        if key_field == KeyField::ExternalId && sends_email {
            self.check_conflict_is_this_user(&conflict.id, key, &rejection)
                .await?;
        }
        if conflict.archived {
            self.unarchive(&conflict.id).await?;
        }
        match self.put_contact(&conflict.id, body, role).await? {
            Some(id) => Ok(WriteResult::new(Outcome::Updated, Some(id))),
            None => Err(RowError::Rejected(rejection)),
        }
    }

    /// An `external_id`-keyed create that also sent an email was answered `409`
    /// naming contact `id`. The conflict may be about the email of a *different*
    /// user; updating that one would overwrite its `external_id` and merge two
    /// people. So `id` is adopted only when it has no `external_id` or `key`;
    /// else the row is rejected, saying who holds the email.
    async fn check_conflict_is_this_user(
        &self,
        id: &str,
        key: &str,
        rejection: &Rejection,
    ) -> Result<(), RowError> {
        let r = self.req(&contacts::get_contact(id)).await?;
        if !r.is_success() {
            return Ok(());
        }
        match r.body.get("external_id").and_then(Value::as_str) {
            Some(other) if !other.is_empty() && other != key => {
                Err(RowError::Rejected(Rejection {
                    message: format!(
                        "{} (its external_id is {other:?}, not {key:?}: another user holds this email)",
                        rejection.message
                    ),
                    ..rejection.clone()
                }))
            }
            _ => Ok(()),
        }
    }

    async fn unarchive(&self, id: &str) -> Result<(), RowError> {
        let r = self.req(&contacts::unarchive_contact(id)).await?;
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
            DeleteMode::Archive => (contacts::archive_contact(id), Outcome::Archived),
            DeleteMode::Permanent => (contacts::delete_contact(id), Outcome::Deleted),
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
}

pub(crate) fn check_contact_key(key_field: KeyField) -> Result<(), RowError> {
    match key_field {
        KeyField::Email | KeyField::ExternalId | KeyField::Id => Ok(()),
        other => Err(RowError::Fatal(Error::Unsupported(format!(
            "a contact cannot be keyed by {other:?}"
        )))),
    }
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
