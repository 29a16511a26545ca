//! The in-memory workspace: contacts, companies, events, data attributes, tags,
//! subscription types and custom objects, with the hash indexes that keep
//! creates and updates O(1).
//!
//! Everything lives in one [`Store`] behind one `std::sync::Mutex`, held only
//! for the few microseconds a handler needs (parse before locking, answer after).
//! The operations themselves are `impl Store` blocks in the modules that own
//! them (`contacts`, `companies`, `events`, `attributes`, `tags`,
//! `subscriptions`, `custom_objects`); this module holds the contact and
//! company records, the indexes and the clock. The records of tags,
//! subscription types and custom objects are defined beside their operations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::custom_objects::CustomObjects;
use crate::faults::Faults;
use crate::ratelimit::RateLimiter;
use crate::stats::Stats;
use crate::subscriptions::{Subscription, SubscriptionType};
use crate::tags::{AppliedTag, Tag};
use crate::Options;

/// The one admin of the emulated workspace; the only valid `owner_id`.
pub const ADMIN_ID: &str = "991267459";
/// The admin id as a number (2.14 and older send and return `owner_id` as an integer).
pub const ADMIN_ID_NUM: i64 = 991267459;
/// The workspace ("app") id, returned as `workspace_id` / `app_id`.
pub const WORKSPACE_ID: &str = "ecahpwf5";

/// Everything a handler can reach.
pub struct App {
    /// The options the emulator was started with.
    pub opts: Options,
    /// All data; lock with [`App::store`].
    pub store: Mutex<Store>,
    /// Wall clock (or a test's time source) plus a test-controlled offset.
    pub clock: Clock,
    /// The shared 10-second-window budget.
    pub limiter: RateLimiter,
    /// Random failures (the rate may change at run time).
    pub faults: Faults,
    /// Added to every API response, in ms; starts as `opts.latency_ms` and may
    /// change at run time (`POST /_emulator/faults`).
    pub latency_ms: AtomicU64,
    /// Request counters for `GET /_emulator/stats`.
    pub stats: Stats,
}

impl App {
    /// Build the shared state for `opts`.
    pub fn new(opts: Options) -> App {
        App::with_clock(opts, Clock::default())
    }

    /// [`App::new`] with its clock given.
    pub fn with_clock(opts: Options, clock: Clock) -> App {
        App {
            store: Mutex::new(Store::new(&opts)),
            clock,
            limiter: RateLimiter::new(opts.rate_limit),
            faults: Faults::new(opts.fault_rate, opts.seed),
            latency_ms: AtomicU64::new(opts.latency_ms),
            stats: Stats::default(),
            opts,
        }
    }

    /// The latency currently added to every API response.
    pub fn latency_ms(&self) -> u64 {
        self.latency_ms.load(Ordering::Relaxed)
    }

    /// Lock the store. A panic while holding the lock cannot leave it half
    /// written in a way later requests would trip on, so poisoning is ignored.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Unix seconds from the real wall clock.
pub fn wall_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A test's own source of Unix time, in milliseconds (for instance a client's
/// clock that follows tokio's paused time).
pub type TimeSource = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The emulator's notion of "now": the wall clock (or the test's
/// [`TimeSource`], see [`Clock::following`]) plus an offset that tests move
/// forward with `POST /_emulator/clock/advance` instead of sleeping. The
/// offset drives `created_at`/`updated_at`, the search lag and scroll expiry;
/// it does *not* move rate-limit windows, which follow the wall clock (or the
/// source) alone ([`Clock::wall`]), as the clients waiting for
/// `X-RateLimit-Reset` do.
#[derive(Default)]
pub struct Clock {
    offset: AtomicI64,
    source: Option<TimeSource>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("offset", &self.offset())
            .field("source", &self.source.as_ref().map(|_| "test"))
            .finish()
    }
}

impl Clock {
    /// A clock that reads Unix time from `source` instead of the wall clock, so
    /// an in-process emulator's rate-limit windows turn with the test's time.
    pub fn following(source: TimeSource) -> Clock {
        Clock {
            offset: AtomicI64::new(0),
            source: Some(source),
        }
    }

    /// Unix seconds without the offset: what rate-limit windows follow.
    pub fn wall(&self) -> i64 {
        match &self.source {
            Some(source) => source().div_euclid(1000),
            None => wall_secs(),
        }
    }

    /// Current emulated Unix time in seconds.
    pub fn now(&self) -> i64 {
        self.wall() + self.offset()
    }

    /// Seconds the clock has been moved forward.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Move the clock forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }

    /// Back to no offset.
    pub fn reset(&self) {
        self.offset.store(0, Ordering::Relaxed);
    }
}

/// A contact's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
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
}

/// A contact that still exists (active or archived).
#[derive(Debug, Clone)]
pub struct Contact {
    pub id: String,
    /// Creation order; the key of [`Store::contact_order`] and of list cursors.
    pub seq: u64,
    pub role: Role,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub owner_id: Option<i64>,
    pub signed_up_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub unsubscribed_from_emails: bool,
    pub custom_attributes: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub archived: bool,
    /// Intercom ids of attached companies, in attach order.
    pub companies: Vec<String>,
    /// Applied tags, in the order they were applied.
    pub tags: Vec<AppliedTag>,
    /// Subscription types the contact has an explicit preference for, in the
    /// order they were attached.
    pub subscriptions: Vec<Subscription>,
}

/// Why a contact is gone.
#[derive(Debug, Clone)]
pub enum Removal {
    /// `DELETE /contacts/{id}` at this time.
    Deleted { at: i64 },
    /// `POST /contacts/merge` into this contact at this time.
    Merged { into: String, at: i64 },
}

/// A company's plan, returned as `{type:"plan", id, name}`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub name: String,
}

/// A company (deleted ones move to [`Store::deleted_companies`]).
#[derive(Debug, Clone)]
pub struct Company {
    pub id: String,
    pub seq: u64,
    pub company_id: String,
    pub name: Option<String>,
    pub plan: Option<Plan>,
    pub size: Option<i64>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub monthly_spend: i64,
    pub remote_created_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_request_at: Option<i64>,
    pub custom_attributes: Map<String, Value>,
    /// Attached contact ids.
    pub contacts: HashSet<String>,
    /// Ids of applied tags, in the order they were applied.
    pub tags: Vec<String>,
}

/// A stored data event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub contact_id: String,
    pub event_name: String,
    pub created_at: i64,
    /// At most 10 keys, in the order they were sent.
    pub metadata: Vec<(String, Value)>,
}

/// Which object a data attribute describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    Contact,
    Company,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Contact => "contact",
            Model::Company => "company",
        }
    }

    /// How Intercom's messages name the model ("people data", "company data").
    pub fn data_noun(self) -> &'static str {
        match self {
            Model::Contact => "people",
            Model::Company => "company",
        }
    }
}

/// A custom data attribute.
#[derive(Debug, Clone)]
pub struct DataAttribute {
    pub id: i64,
    pub model: Model,
    pub name: String,
    /// As sent on create: string, integer, float, boolean, date or datetime.
    pub data_type: String,
    pub description: Option<String>,
    pub options: Vec<String>,
    pub messenger_writable: bool,
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An open company scroll (one per app).
#[derive(Debug, Clone)]
pub struct Scroll {
    pub param: String,
    /// Company ids captured when the scroll started.
    pub ids: Vec<String>,
    pub position: usize,
    pub last_used: i64,
}

/// All data of the emulated workspace.
#[derive(Debug, Default)]
pub struct Store {
    next_seq: u64,
    /// Live contacts (active and archived) by Intercom id.
    pub contacts: HashMap<String, Contact>,
    /// `seq -> id` of live contacts, for cursor paging in creation order.
    pub contact_order: BTreeMap<u64, String>,
    /// Number of live contacts that are archived (lists leave them out).
    pub archived_count: usize,
    /// external_id -> id (users only: leads never hold an external_id).
    pub by_external_id: HashMap<String, String>,
    /// lower-cased email -> id, users only (user emails are unique).
    pub user_by_email: HashMap<String, String>,
    /// lower-cased email -> ids of leads (leads may share an email).
    pub leads_by_email: HashMap<String, Vec<String>>,
    /// Permanently deleted or merged-away contacts, for the dump and for 404/410.
    pub removed: HashMap<String, (Contact, Removal)>,
    /// external_ids and lower-cased emails of permanently deleted users -> their old id.
    pub blocked_external_ids: HashMap<String, String>,
    pub blocked_emails: HashMap<String, String>,

    pub companies: HashMap<String, Company>,
    pub company_order: BTreeMap<u64, String>,
    pub by_company_id: HashMap<String, String>,
    pub deleted_companies: Vec<(Company, i64)>,
    /// plan name -> plan id (stable per workspace).
    pub plans: HashMap<String, String>,
    pub scroll: Option<Scroll>,

    pub events: Vec<Event>,
    /// (contact id, lower-cased event name, created_at) of stored events.
    pub event_keys: HashSet<(String, String, i64)>,
    /// Distinct lower-cased event names (Intercom allows 120 active names).
    pub event_names: HashSet<String>,

    pub attributes: Vec<DataAttribute>,
    /// model -> exact name -> index into `attributes`.
    pub attribute_index: HashMap<Model, HashMap<String, usize>>,

    /// Tags by numeric id (ids grow, so this is creation order too).
    pub tags: BTreeMap<u64, Tag>,
    /// Lower-cased tag name -> tag id (names are unique, case-insensitively).
    pub tag_names: HashMap<String, u64>,
    pub(crate) next_tag: u64,
    /// The declared subscription types (`--subscription-type`), fixed at start.
    pub subscription_types: Vec<SubscriptionType>,
    /// The declared custom object types and their instances.
    pub custom_objects: CustomObjects,
}

impl Store {
    /// An empty workspace holding the subscription types and custom object
    /// types `opts` declares (a workspace admin's settings, which a reset keeps).
    pub fn new(opts: &Options) -> Store {
        Store {
            subscription_types: crate::subscriptions::declared(&opts.subscription_types),
            custom_objects: CustomObjects::new(&opts.custom_object_types),
            ..Store::default()
        }
    }

    /// Next creation sequence number (also feeds ids).
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// A fresh 24-hex-digit id shaped like Intercom's (a Mongo ObjectId).
    pub fn new_id(&mut self, now: i64) -> (u64, String) {
        let seq = self.next_seq();
        (
            seq,
            format!("{:08x}{:016x}", now as u32, seq ^ 0x5eed_0000_0000),
        )
    }

    /// Add `c` to the email / external_id indexes.
    pub fn index_contact(&mut self, c: &Contact) {
        match c.role {
            Role::User => {
                if let Some(x) = &c.external_id {
                    self.by_external_id.insert(x.clone(), c.id.clone());
                }
                if let Some(e) = &c.email {
                    self.user_by_email.insert(email_key(e), c.id.clone());
                }
            }
            Role::Lead => {
                if let Some(e) = &c.email {
                    self.leads_by_email
                        .entry(email_key(e))
                        .or_default()
                        .push(c.id.clone());
                }
            }
        }
    }

    /// Remove `c` from the email / external_id indexes.
    pub fn unindex_contact(&mut self, c: &Contact) {
        match c.role {
            Role::User => {
                if let Some(x) = &c.external_id {
                    if self.by_external_id.get(x) == Some(&c.id) {
                        self.by_external_id.remove(x);
                    }
                }
                if let Some(e) = &c.email {
                    let key = email_key(e);
                    if self.user_by_email.get(&key) == Some(&c.id) {
                        self.user_by_email.remove(&key);
                    }
                }
            }
            Role::Lead => {
                if let Some(e) = &c.email {
                    let key = email_key(e);
                    if let Some(ids) = self.leads_by_email.get_mut(&key) {
                        ids.retain(|id| id != &c.id);
                        if ids.is_empty() {
                            self.leads_by_email.remove(&key);
                        }
                    }
                }
            }
        }
    }

    /// Take a live contact out of every collection (delete and merge use this);
    /// detaches it from its companies.
    pub fn take_contact(&mut self, id: &str) -> Option<Contact> {
        let c = self.contacts.remove(id)?;
        self.contact_order.remove(&c.seq);
        if c.archived {
            self.archived_count -= 1;
        }
        self.unindex_contact(&c);
        for company_id in &c.companies {
            if let Some(company) = self.companies.get_mut(company_id) {
                company.contacts.remove(&c.id);
            }
        }
        self.forget_contact_tags(&c);
        Some(c)
    }

    /// The custom data attribute `name` of `model`, archived or not.
    pub fn attribute(&self, model: Model, name: &str) -> Option<&DataAttribute> {
        self.attribute_index
            .get(&model)
            .and_then(|names| names.get(name))
            .map(|&i| &self.attributes[i])
    }
}

/// Emails compare case-insensitively.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    #[test]
    fn a_clock_follows_its_source_and_windows_ignore_the_offset() {
        let wall = Clock::default();
        assert!((wall.now() - wall_secs()).abs() <= 1);

        let ms = Arc::new(AtomicI64::new(1_700_000_003_999));
        let source = ms.clone();
        let clock = Clock::following(Arc::new(move || source.load(Ordering::Relaxed)));
        assert_eq!((clock.wall(), clock.now()), (1_700_000_003, 1_700_000_003));
        clock.advance(120);
        assert_eq!((clock.wall(), clock.now()), (1_700_000_003, 1_700_000_123));
        ms.store(1_700_000_010_000, Ordering::Relaxed);
        assert_eq!((clock.wall(), clock.now()), (1_700_000_010, 1_700_000_130));
        clock.reset();
        assert_eq!(clock.now(), 1_700_000_010);
    }
}
