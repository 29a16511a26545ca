//! Contact writes: create, update, delete, archive, unarchive, merge.
//!
//! Identity rules (see the README for which are Intercom's and which chosen):
//! - a user's `external_id` and email are unique among users, archived ones
//!   included: a duplicate create (or update) gets `409 conflict` naming the
//!   existing id ("An archived contact …" when that one is archived);
//! - a lead never holds an `external_id` (it is silently ignored), and leads may
//!   share an email; whether a lead may share a *user's* email is
//!   `Options::lead_email_conflicts_with_user` (default: it may);
//! - a user never becomes a lead; a lead becomes a user through merge (or a
//!   `PUT role:"user"` when `Options::lead_to_user_on_update` is on);
//! - a permanently deleted user's external_id and email can never be used by a
//!   user again (`400 contact_deleted`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{json, Map, Value};

use crate::attributes::{apply_values, check_values};
use crate::errors::{ApiError, ApiResult};
use crate::input::{self, ApiVersion, Patch};
use crate::render;
use crate::state::{email_key, App, Contact, Model, Removal, Role, Store, ADMIN_ID_NUM};
use crate::Options;

/// The writable fields of a create or update body.
#[derive(Debug, Default)]
pub struct ContactInput {
    pub role: Option<Role>,
    pub external_id: Patch<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub name: Patch<String>,
    pub avatar: Patch<String>,
    pub signed_up_at: Patch<i64>,
    pub last_seen_at: Patch<i64>,
    pub owner_id: Patch<i64>,
    pub unsubscribed_from_emails: Patch<bool>,
    pub custom_attributes: Option<Map<String, Value>>,
}

/// Parse and type-check a body. Unknown fields are ignored.
pub fn parse_input(obj: &Map<String, Value>) -> ApiResult<ContactInput> {
    let role = match obj.get("role") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r == "user" => Some(Role::User),
        Some(Value::String(r)) if r == "lead" => Some(Role::Lead),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "role must be either user or lead, got {other}"
            )))
        }
    };
    Ok(ContactInput {
        role,
        external_id: input::string(obj, "external_id")?,
        email: input::string(obj, "email")?,
        phone: input::string(obj, "phone")?,
        name: input::string(obj, "name")?,
        avatar: input::string(obj, "avatar")?,
        signed_up_at: input::integer(obj, "signed_up_at")?,
        last_seen_at: input::integer(obj, "last_seen_at")?,
        owner_id: owner_id(obj)?,
        unsubscribed_from_emails: input::boolean(obj, "unsubscribed_from_emails")?,
        custom_attributes: input::object(obj, "custom_attributes")?,
    })
}

/// `owner_id` is an integer before 2.16 and a string from 2.16 on; both forms
/// are accepted. It must be the workspace's admin (see `GET /me`).
fn owner_id(obj: &Map<String, Value>) -> ApiResult<Patch<i64>> {
    let parsed = match obj.get("owner_id") {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match parsed {
        Some(id) if id == ADMIN_ID_NUM => Ok(Some(Some(id))),
        _ => Err(ApiError::invalid(
            "The owner specified is not a member of the workspace",
        )),
    }
}

fn set<T>(field: &mut Option<T>, patch: Patch<T>) {
    if let Some(v) = patch {
        *field = v;
    }
}

impl Store {
    /// The error for an id that is not a live contact: merged-away contacts
    /// answer `410 contact_merged` under 2.16, everything else `404`.
    pub fn missing_contact(&self, id: &str, version: ApiVersion) -> ApiError {
        match self.removed.get(id) {
            Some((_, Removal::Merged { into, .. })) if version.v2_16 => {
                ApiError::ContactMerged(self.canonical(into))
            }
            _ => ApiError::UserNotFound,
        }
    }

    /// The live contact `id` (active or archived), or the error for it.
    pub fn live_contact(&self, id: &str, version: ApiVersion) -> ApiResult<&Contact> {
        self.contacts
            .get(id)
            .ok_or_else(|| self.missing_contact(id, version))
    }

    /// Follow merge chains (at most 3 hops, as Intercom does).
    fn canonical(&self, id: &str) -> String {
        let mut id = id.to_string();
        for _ in 0..3 {
            match self.removed.get(&id) {
                Some((_, Removal::Merged { into, .. })) => id = into.clone(),
                _ => break,
            }
        }
        id
    }

    fn conflict(&self, id: &str) -> ApiError {
        match self.contacts.get(id) {
            Some(c) if c.archived => ApiError::ConflictArchived(id.to_string()),
            _ => ApiError::Conflict(id.to_string()),
        }
    }

    /// May a contact of `role` hold these identifiers? `me` is the contact
    /// being updated (it never conflicts with itself).
    fn check_identity(
        &self,
        role: Role,
        external_id: Option<&str>,
        email: Option<&str>,
        me: Option<&str>,
        opts: &Options,
    ) -> ApiResult<()> {
        let other = |id: &String| Some(id.as_str()) != me;
        let email = email.map(email_key);
        if role == Role::User {
            if let Some(x) = external_id {
                if let Some(id) = self.by_external_id.get(x).filter(|id| other(id)) {
                    return Err(self.conflict(id));
                }
                if let Some(old) = self.blocked_external_ids.get(x) {
                    return Err(ApiError::PermanentlyDeleted(old.clone()));
                }
            }
            if let Some(e) = &email {
                if let Some(id) = self.user_by_email.get(e).filter(|id| other(id)) {
                    return Err(self.conflict(id));
                }
                if let Some(old) = self.blocked_emails.get(e) {
                    return Err(ApiError::PermanentlyDeleted(old.clone()));
                }
                if opts.lead_email_conflicts_with_user {
                    if let Some(id) = self
                        .leads_by_email
                        .get(e)
                        .and_then(|ids| ids.iter().find(|id| other(id)))
                    {
                        return Err(self.conflict(id));
                    }
                }
            }
        } else if let (Some(e), true) = (&email, opts.lead_email_conflicts_with_user) {
            if let Some(id) = self.user_by_email.get(e).filter(|id| other(id)) {
                return Err(self.conflict(id));
            }
        }
        Ok(())
    }

    /// `POST /contacts`: returns the new contact's id.
    pub fn create_contact(
        &mut self,
        input: ContactInput,
        opts: &Options,
        now: i64,
    ) -> ApiResult<String> {
        let role = input.role.unwrap_or(Role::User);
        let external_id = match role {
            Role::User => input.external_id.flatten(),
            Role::Lead => None,
        };
        let email = input.email.flatten();
        let writes = match input.custom_attributes {
            Some(m) => check_values(self, Model::Contact, m, opts.unknown_attributes)?,
            None => Vec::new(),
        };
        self.check_identity(role, external_id.as_deref(), email.as_deref(), None, opts)?;
        let (seq, id) = self.new_id(now);
        let mut custom_attributes = Map::new();
        apply_values(&mut custom_attributes, writes);
        let contact = Contact {
            id: id.clone(),
            seq,
            role,
            external_id,
            email,
            phone: input.phone.flatten(),
            name: input.name.flatten(),
            avatar: input.avatar.flatten(),
            owner_id: input.owner_id.flatten(),
            signed_up_at: input.signed_up_at.flatten(),
            last_seen_at: input.last_seen_at.flatten(),
            unsubscribed_from_emails: input.unsubscribed_from_emails.flatten().unwrap_or(false),
            custom_attributes,
            created_at: now,
            updated_at: now,
            archived: false,
            companies: Vec::new(),
            tags: Vec::new(),
            subscriptions: Vec::new(),
        };
        self.index_contact(&contact);
        self.contact_order.insert(seq, id.clone());
        self.contacts.insert(id.clone(), contact);
        Ok(id)
    }

    /// `PUT /contacts/{id}`: a partial update.
    pub fn update_contact(
        &mut self,
        id: &str,
        input: ContactInput,
        opts: &Options,
        version: ApiVersion,
        now: i64,
    ) -> ApiResult<()> {
        let Some(current) = self.contacts.get(id) else {
            return Err(self.missing_contact(id, version));
        };
        let role = input.role.unwrap_or(current.role);
        match (current.role, role) {
            (Role::User, Role::Lead) => {
                return Err(ApiError::RoleConversion(
                    "A user can't be converted to a lead".into(),
                ))
            }
            (Role::Lead, Role::User) if !opts.lead_to_user_on_update => {
                return Err(ApiError::RoleConversion(
                    "A lead can't be converted to a user with an update; merge it into a user with POST /contacts/merge".into(),
                ))
            }
            _ => {}
        }
        let external_id = match (role, input.external_id) {
            (Role::Lead, _) => None,
            (Role::User, None) => current.external_id.clone(),
            (Role::User, Some(v)) => v,
        };
        let email = match input.email {
            None => current.email.clone(),
            Some(v) => v,
        };
        let identity_changed = role != current.role
            || external_id != current.external_id
            || email.as_deref().map(email_key) != current.email.as_deref().map(email_key);
        let writes = match input.custom_attributes {
            Some(m) => check_values(self, Model::Contact, m, opts.unknown_attributes)?,
            None => Vec::new(),
        };
        if identity_changed {
            self.check_identity(
                role,
                external_id.as_deref(),
                email.as_deref(),
                Some(id),
                opts,
            )?;
        }
        let Some((key, mut c)) = self.contacts.remove_entry(id) else {
            return Err(ApiError::UserNotFound);
        };
        if identity_changed {
            self.unindex_contact(&c);
        }
        c.role = role;
        c.external_id = external_id;
        c.email = email;
        set(&mut c.phone, input.phone);
        set(&mut c.name, input.name);
        set(&mut c.avatar, input.avatar);
        set(&mut c.signed_up_at, input.signed_up_at);
        set(&mut c.last_seen_at, input.last_seen_at);
        set(&mut c.owner_id, input.owner_id);
        if let Some(u) = input.unsubscribed_from_emails {
            c.unsubscribed_from_emails = u.unwrap_or(false);
        }
        if opts.replace_custom_attributes && !writes.is_empty() {
            c.custom_attributes.clear();
        }
        apply_values(&mut c.custom_attributes, writes);
        c.updated_at = now;
        if identity_changed {
            self.index_contact(&c);
        }
        self.contacts.insert(key, c);
        Ok(())
    }

    /// `DELETE /contacts/{id}`: gone for good; a user's external_id and email
    /// are blocked from then on.
    pub fn delete_contact(
        &mut self,
        id: &str,
        version: ApiVersion,
        now: i64,
    ) -> ApiResult<Contact> {
        let Some(c) = self.take_contact(id) else {
            return Err(self.missing_contact(id, version));
        };
        if c.role == Role::User {
            if let Some(x) = &c.external_id {
                self.blocked_external_ids.insert(x.clone(), c.id.clone());
            }
            if let Some(e) = &c.email {
                self.blocked_emails.insert(email_key(e), c.id.clone());
            }
        }
        self.removed
            .insert(c.id.clone(), (c.clone(), Removal::Deleted { at: now }));
        Ok(c)
    }

    /// Archive (`true`) or unarchive (`false`) a contact.
    pub fn set_archived(
        &mut self,
        id: &str,
        archived: bool,
        version: ApiVersion,
    ) -> ApiResult<Value> {
        let Some(c) = self.contacts.get_mut(id) else {
            return Err(self.missing_contact(id, version));
        };
        let was = std::mem::replace(&mut c.archived, archived);
        let body = json!({"type": "contact", "id": c.id, "external_id": c.external_id, "archived": archived});
        match (was, archived) {
            (false, true) => self.archived_count += 1,
            (true, false) => self.archived_count -= 1,
            _ => {}
        }
        Ok(body)
    }

    /// `POST /contacts/merge`: the lead `from` goes into the user `into`. The
    /// user keeps its own values and gains what it lacks (subscription
    /// preferences included); companies, tags and events move over; the lead is
    /// gone (404, or 410 under 2.16).
    pub fn merge(
        &mut self,
        from: &str,
        into: &str,
        skip_check: bool,
        version: ApiVersion,
        now: i64,
    ) -> ApiResult<()> {
        let lead = self
            .contacts
            .get(from)
            .ok_or_else(|| self.missing_contact(from, version))?;
        let user = self
            .contacts
            .get(into)
            .ok_or_else(|| self.missing_contact(into, version))?;
        if lead.role != Role::Lead || user.role != Role::User || from == into {
            return Err(ApiError::invalid(
                "Only a contact with role lead can be merged into a contact with role user",
            ));
        }
        if version.v2_16 && !skip_check {
            let same = |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if email_key(a) == email_key(b));
            if !same(&lead.email, &user.email) && !same(&lead.phone, &user.phone) {
                return Err(ApiError::InvalidMerge);
            }
        }
        let lead = self.take_contact(from).ok_or(ApiError::UserNotFound)?;
        let user = self.contacts.get_mut(into).ok_or(ApiError::UserNotFound)?;
        let fill = |mine: &mut Option<String>, theirs: &Option<String>| {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        };
        let email_before = user.email.clone();
        fill(&mut user.email, &lead.email);
        fill(&mut user.name, &lead.name);
        fill(&mut user.phone, &lead.phone);
        fill(&mut user.avatar, &lead.avatar);
        for (k, v) in &lead.custom_attributes {
            if !user.custom_attributes.contains_key(k) {
                user.custom_attributes.insert(k.clone(), v.clone());
            }
        }
        user.updated_at = now;
        let mut moved_companies = Vec::new();
        for company_id in &lead.companies {
            if !user.companies.contains(company_id) {
                user.companies.push(company_id.clone());
                moved_companies.push(company_id.clone());
            }
        }
        let email_after = user.email.clone();
        if email_before.is_none() {
            if let Some(e) = email_after {
                self.user_by_email
                    .entry(email_key(&e))
                    .or_insert_with(|| into.to_string());
            }
        }
        for s in &lead.subscriptions {
            if !user.subscriptions.iter().any(|mine| mine.id == s.id) {
                user.subscriptions.push(s.clone());
            }
        }
        for company_id in moved_companies {
            if let Some(company) = self.companies.get_mut(&company_id) {
                company.contacts.insert(into.to_string());
            }
        }
        for applied in &lead.tags {
            self.tag_contact(into, &applied.id, applied.applied_at);
        }
        self.move_events(from, into);
        self.removed.insert(
            from.to_string(),
            (
                lead,
                Removal::Merged {
                    into: into.to_string(),
                    at: now,
                },
            ),
        );
        Ok(())
    }
}

/// `POST /contacts`
pub async fn create(State(app): State<Arc<App>>, version: ApiVersion, body: Bytes) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let input = parse_input(&obj)?;
    if input.role.is_none() && input.email.is_none() && input.external_id.is_none() {
        return Err(ApiError::invalid(
            "A contact needs at least one of email, external_id or role",
        ));
    }
    let now = app.clock.now();
    let mut store = app.store();
    let id = store.create_contact(input, &app.opts, now)?;
    Ok(render::ok(&render::contact(
        &store.contacts[&id],
        version.v2_16,
    )))
}

/// `PUT /contacts/{id}`
pub async fn update(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let input = parse_input(&obj)?;
    let now = app.clock.now();
    let mut store = app.store();
    store.update_contact(&id, input, &app.opts, version, now)?;
    Ok(render::ok(&render::contact(
        &store.contacts[&id],
        version.v2_16,
    )))
}

/// `DELETE /contacts/{id}`
pub async fn delete(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult {
    let now = app.clock.now();
    let c = app.store().delete_contact(&id, version, now)?;
    Ok(render::ok(&json!({
        "type": "contact", "id": c.id, "external_id": c.external_id, "deleted": true
    })))
}

/// `POST /contacts/{id}/archive`
pub async fn archive(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult {
    let body = app.store().set_archived(&id, true, version)?;
    Ok(render::ok(&body))
}

/// `POST /contacts/{id}/unarchive`
pub async fn unarchive(
    State(app): State<Arc<App>>,
    version: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult {
    let body = app.store().set_archived(&id, false, version)?;
    Ok(render::ok(&body))
}

/// `POST /contacts/merge` `{from, into, skip_duplicate_validation?}`
pub async fn merge(State(app): State<Arc<App>>, version: ApiVersion, body: Bytes) -> ApiResult {
    let obj = input::parse_object(&body)?;
    let from = input::string(&obj, "from")?.flatten();
    let into = input::string(&obj, "into")?.flatten();
    let (Some(from), Some(into)) = (from, into) else {
        return Err(ApiError::ParameterMissing(
            "from and into are required".into(),
        ));
    };
    let skip = input::boolean(&obj, "skip_duplicate_validation")?
        .flatten()
        .unwrap_or(false);
    let now = app.clock.now();
    let mut store = app.store();
    store.merge(&from, &into, skip, version, now)?;
    Ok(render::ok(&render::contact(
        &store.contacts[&into],
        version.v2_16,
    )))
}
