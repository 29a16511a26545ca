//! The Intercom REST client backflow's `load` function uses: regions, versions,
//! rate limiting, retries, and the identity rules that keep one key one record.
//!
//! # Layout
//! - [`client`]: the [`Client`] handle, its [`ClientConfig`], [`CallStats`], the
//!   one `reqwest` client (keep-alive, rustls) and the headers every call carries.
//! - [`transport`]: sending one request — wait for the turn, send, retry 429,
//!   5xx and connection errors by `backflow_core::retry` — into an
//!   [`ApiResponse`].
//! - [`rate_limit`]: the client's side of rate limiting (see the map below):
//!   what it knows of its traffic, the turn every attempt waits for, its share
//!   of the app's call budget ([`Client::with_budget`]), the budget's store
//!   ([`CallBudget`], [`MemoryBudget`]).
//! - [`clock`]: where Unix time comes from ([`SystemClock`], or [`TokioClock`]
//!   for tests on paused time).
//! - [`regions`]: [`Client::check_token`], which names the region that accepts
//!   a refused token.
//! - [`requests`]: pure request building (method, URL-encoded path, JSON body)
//!   and the readers of Intercom's answers, one file per kind of object.
//!   Unit-tested without a server.
//! - [`writers`]: the record writers, one file per kind of object (contacts,
//!   companies, company membership, events): [`Client::upsert_contact`],
//!   [`Client::update_contact_only`], [`Client::remove_contact`],
//!   [`Client::upsert_company`], [`Client::remove_company`],
//!   [`Client::attach_company`], [`Client::send_event`]. `writers::contacts`
//!   explains how a contact is found without ever creating a second one.
//! - [`readers`]: [`Client::read_contact`], [`Client::read_company`]: one record as
//!   Intercom holds it now, found as the writers find it (a dry run's "before").
//! - [`attributes`]: [`Client::ensure_attributes`], creating missing custom data
//!   attributes once per model before rows are written.
//! - [`cache`]: what a client remembers of the workspace (company ids,
//!   attribute lists).
//! - [`error`]: [`Error`] (stops the batch), [`Rejection`] (Intercom refused one
//!   row), [`RowError`] (what a writer returns: one or the other).
//!
//! # Data flow of one row
//! ```text
//! load → Client::upsert_contact(key, known_id, body)          writers::contacts
//!          → requests::contacts::* builds the call             requests
//!          → Client::call (turn → send → retry)               transport
//!          → WriteResult { outcome, intercom_id }   remembered only now
//!          | RowError::Rejected(code, message)      reported on the row
//!          | RowError::Fatal(Error)                 the batch stops
//! ```
//!
//! # Rate limiting
//!
//! Intercom counts an app's calls in fixed 10-second windows: each answer says
//! the window's limit (`X-RateLimit-Limit`), what is left (`X-RateLimit-Remaining`)
//! and when it ends (`X-RateLimit-Reset`, Unix seconds); past the limit the
//! answer is `429`. Three layers keep backflow within it. Each decision is a
//! pure, table-tested function in `backflow_core`; the modules here only keep
//! the state the decisions read, and sleep.
//!
//! | layer | decides (pure) | state, and who waits |
//! |---|---|---|
//! | **shared budget**: every client of one app (all concurrent `load`s and `extract`s, every sync) takes each call from one counter per window, so together they use a window to its last call and never past it | `backflow_core::budget`: the window a call counts in (`slot`), how many calls to take at once (`demand`, `block_size`), what the store's answer means (`after_answer`) | [`rate_limit::share`]: the calls this client took and has not spent; the store behind [`CallBudget`]: `backflow_aws::DynamoBudget` (one DynamoDB item per app and window) or [`MemoryBudget`] |
//! | **header pacing**: the headers also show what *other* clients of the app spent | `backflow_core::pacing`: `delay_before_next` (no budget: spread a window's last calls), `delay_when_budgeted` (wait for the reset when the window is spent) | [`rate_limit::traffic`]: the newest headers, calls on the wire, round trip; [`rate_limit::turn`] sleeps |
//! | **retries**: a `429` or `5xx` that still happens | `backflow_core::retry::decide`: `Retry-After`, else the reset, else exponential; 10–20 % jitter; give up after 8 attempts or 5 minutes | [`transport`] sleeps and sends again |
//!
//! Who calls whom, for one request:
//!
//! ```text
//! Client::call                                    transport (loops over attempts)
//!   ├─ wait_turn                                  rate_limit::turn
//!   │    ├─ pace: core::pacing::delay_*(Traffic, Clock) → sleep
//!   │    └─ BudgetShare::take(Traffic::view, Clock)     rate_limit::share
//!   │         ├─ core::budget::{slot, demand, block_size, after_answer}
//!   │         └─ CallBudget::take ── backflow_aws::DynamoBudget: one conditional UpdateItem
//!   ├─ one HTTP exchange → Traffic::came_back     (remember the headers, wake the waiting)
//!   └─ core::retry::decide → sleep and again | the answer | Error::GaveUp
//!
//! a function, when its work is done:
//!   Client::release_budget → BudgetShare::release → CallBudget::give_back
//! ```
//!
//! Where the state lives: per client (its clones share it), in memory —
//! `rate_limit::traffic::Traffic` and the held calls of
//! [`rate_limit::share`]; per app, across every invocation — the store's
//! counter per window (`BUDGET#<app>` / `W#<reset>` in the runs table, see
//! `backflow_aws::budget`). The functions give a client the DynamoDB store with
//! `backflow_aws::share_budget`. Every wait is a tokio sleep and Unix time comes
//! from the client's [`Clock`], so tests run all of it on paused time.
//!
//! The access token is only ever in the `Authorization` header (marked
//! sensitive); errors pass anything echoed through `Secret::redact`, and request
//! bodies are never logged.

pub mod attributes;
pub mod cache;
pub mod client;
pub mod clock;
pub mod error;
pub mod rate_limit;
pub mod readers;
pub mod regions;
pub mod requests;
pub mod transport;
pub mod writers;

pub use attributes::AttributeProblem;
pub use client::{CallStats, Client, ClientConfig};
pub use clock::{Clock, SystemClock, TokioClock};
pub use error::{Error, Rejection, RowError};
pub use rate_limit::store::{BudgetError, BudgetFuture, CallBudget, MemoryBudget};
pub use transport::ApiResponse;
pub use writers::contacts::Role;
pub use writers::WriteResult;
