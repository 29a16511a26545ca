//! backflow's core: everything that can be decided without IO.
//!
//! # Layout
//! - [`config`]: the typed YAML config (`deny_unknown_fields`), `${VAR}` expansion,
//!   validation that names the file, line, sync, key or column at fault;
//!   [`config::fields`] is the one table of mappable Intercom fields per object.
//! - [`secret`]: [`secret::Secret`], a string whose `Debug`/`Display` never show it.
//! - [`value`]: the values a warehouse row holds and their coercion to Intercom types
//!   (timestamps in every accepted format to Unix seconds, numbers, booleans, emails).
//! - [`mapping`]: one model row + one sync → the Intercom request body, or the reasons
//!   the row is invalid; custom-attribute type inference.
//! - [`fingerprint`]: a stable 128-bit hash of what would be sent, so unchanged rows
//!   cost no Intercom call.
//! - [`plan`]: the diff of a mapped row against what Intercom confirmed before
//!   (create / update / unchanged / delete / archive / send), plan counts, the mirror
//!   mass-removal guard.
//! - [`api`]: the HTTP API's requests parsed before any IO (route, percent-decoded
//!   path segments, query, run request body as a JSON object only), or the 4xx
//!   answer that says what is wrong; paged listings' `limit` and checked cursors
//!   ([`api::paging`]); a run's rows as CSV ([`api::csv`], also the CLI's).
//! - [`payload`]: the `extract` and `load` invocation payloads and the S3 batch,
//!   read as JSON objects only, their ids checked.
//! - [`batch`]: what `extract` writes to S3 and `load` reads: the rows to send and the
//!   spec needed to send them.
//! - [`before`]: a dry run's "before": Intercom's current values of the fields a
//!   sync writes, picked from the record Intercom answers, shaped like `after`.
//! - [`subscriptions`]: contacts' `subscriptions.<name>` columns: the types a
//!   sync names resolved against Intercom's, and each preference as the call
//!   that sets it (attach or detach the type).
//! - [`run`]: run records, counters, row reports, statuses.
//! - [`retry`] and [`pacing`]: pure decisions about an Intercom response (retry, give
//!   up, done) and how fast to go from the rate-limit headers.
//! - [`budget`]: the decisions of the call budget every concurrent function shares
//!   per Intercom app: which 10-second window a call counts in, how many calls to
//!   take at once, what to do with the store's answer (the store is `backflow-aws`).
//! - [`tags`]: list fields — a record's tags, a contact's companies — and the
//!   compact memo of what backflow applied, per key.
//! - [`schedule`]: which cron schedules are due at a given minute.
//! - [`chain`]: `after:` between syncs: cycles, and when a waiting sync is due.
//! - [`alert`]: `alerts:`: whether an ended run crosses a threshold, and the message.
//! - [`cost`]: what a run cost in dollars at AWS list prices, from its usage.
//! - [`error`]: [`Error`], the crate's one error type; every message names the
//!   file, line, sync, key or column at fault.
//!
//! Nothing here does IO: no tokio, no HTTP, no AWS SDK, no database. The adapters
//! (`backflow-aws`, `backflow-warehouse`, `backflow-intercom`) and the functions do.

pub mod alert;
pub mod api;
pub mod batch;
pub mod before;
pub mod budget;
pub mod chain;
pub mod config;
pub mod cost;
pub mod error;
pub mod fingerprint;
pub mod mapping;
pub mod pacing;
pub mod payload;
pub mod plan;
pub mod retry;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod subscriptions;
pub mod tags;
pub mod value;

pub use error::Error;
