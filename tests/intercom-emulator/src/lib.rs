//! A faithful in-memory emulator of the Intercom REST API (contacts, companies,
//! data events, data attributes, tags, subscription types and custom object
//! instances), for backflow's tests, benchmarks and demos.
//!
//! It copies Intercom *including its unkind parts*: `409` on duplicate users
//! with the id only inside the message, leads that drop `external_id`, users
//! that never become leads, permanently deleted users that can never come back,
//! refused unknown custom attributes, a search index that lags behind creates,
//! 10-second rate-limit windows, random `5xx` and dropped connections. If it
//! were kinder than Intercom, backflow would pass here and break in production.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use intercom_emulator::{Emulator, Options};
//! let emu = Emulator::start(Options { rate_limit: 0, ..Options::default() }, "127.0.0.1:0".parse().unwrap()).await?;
//! let base = emu.base_url(); // http://127.0.0.1:PORT, any bearer token accepted
//! # let _ = base; Ok(()) }
//! ```
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`state`] | the [`state::Store`] (one mutex, hash indexes), the clock, shared [`state::App`] |
//! | `contacts` | contact writes: create, update, delete, archive, merge; identity rules |
//! | `contact_reads` | get, find by external id, list, search, `GET /me` |
//! | [`search`] | the search query language, pure: parse, limits, matching |
//! | `companies` | companies, page lists and scroll |
//! | `membership` | contacts attached to companies: attach, detach, list |
//! | `tags`, `tag_bulk` | tags, tagging contacts one by one; `POST /tags` (create, rename, bulk tag and untag) |
//! | `subscriptions` | declared subscription types and contacts' opt-in / opt-out |
//! | [`custom_object_types`], `custom_objects` | declared custom object types (pure parsing); their instances |
//! | `events` | data events: de-duplication, ordered metadata, lists and summaries |
//! | `attributes` | data attributes and the checks on every custom attribute value |
//! | `render` | response shapes of contacts and companies |
//! | `input`, `paging` | request parsing, `Intercom-Version`, cursors and `per_page` |
//! | [`ratelimit`] | fixed 10-second windows, pure window math |
//! | [`faults`] | random 500 / 503 / dropped connections |
//! | `gate` | the per-request pipeline: latency, auth, rate limit, faults, stats |
//! | [`stats`], `control` | `/_emulator/*` endpoints for tests |
//! | [`errors`] | Intercom's `error.list` envelope |
//! | `server` | the hyper accept loop (so a fault can drop a connection) |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{delete, get, post, put};
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod attributes;
mod companies;
mod contact_reads;
mod contacts;
mod control;
pub mod custom_object_types;
mod custom_objects;
pub mod errors;
mod events;
pub mod faults;
mod gate;
mod input;
mod membership;
mod paging;
pub mod ratelimit;
mod render;
pub mod search;
mod server;
pub mod state;
pub mod stats;
mod subscriptions;
mod tag_bulk;
mod tags;

pub use custom_object_types::{
    parse_spec as parse_custom_object_type, AttrType, CustomObjectTypeSpec,
};
pub use subscriptions::{parse_spec as parse_subscription_type, Consent, SubscriptionTypeSpec};

/// What to do with a write to a custom attribute that does not exist (or is archived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownAttributes {
    /// `400 parameter_invalid` "Custom attribute 'x' does not exist" (default).
    #[default]
    Error,
    /// Silently ignore the key and write the rest.
    Drop,
}

/// How the emulator behaves. `Options::default()` is Intercom as backflow meets
/// it in production, minus latency, faults and search lag.
#[derive(Debug, Clone)]
pub struct Options {
    /// Accepted bearer tokens; empty = any bearer token (a token is still required).
    pub tokens: Vec<String>,
    /// Requests per 10-second window for the whole app; 0 = unlimited (and no
    /// `X-RateLimit-*` headers). Default 1667 (10,000/min).
    pub rate_limit: u32,
    /// A contact shows up in `POST /contacts/search` only this many (emulated)
    /// seconds after its creation. Default 0.
    pub search_lag_secs: u64,
    /// Added to every API response. Default 0.
    pub latency_ms: u64,
    /// Fraction (0.0–1.0) of API requests that fail with 500, 503 or a dropped
    /// connection. Default 0.
    pub fault_rate: f64,
    /// Seed for the fault generator (repeatable runs). Default: random.
    pub seed: Option<u64>,
    /// Faults hit *after* the request was applied (a write happened, the
    /// answer is still a failure), as real Intercom can. Default false.
    pub fault_after_apply: bool,
    /// Unknown custom attributes: refuse (default) or drop.
    pub unknown_attributes: UnknownAttributes,
    /// A lead may not share an email with a user (either way round): `409`.
    /// Default false: a lead may share a user's email.
    pub lead_email_conflicts_with_user: bool,
    /// `PUT role:"user"` converts a lead. Default false: `400`, use merge.
    pub lead_to_user_on_update: bool,
    /// `custom_attributes` in an update replace the whole map instead of
    /// merging per key. Default false (per-key merge).
    pub replace_custom_attributes: bool,
    /// Company scroll leaves out companies without contacts, like the list.
    /// Default true.
    pub scroll_hides_empty_companies: bool,
    /// API version used when a request sends no `Intercom-Version`. Default "2.14".
    pub default_version: String,
    /// Subscription types contacts can be opted in or out of, as an admin
    /// declares them in Intercom's settings. Default none.
    pub subscription_types: Vec<SubscriptionTypeSpec>,
    /// Custom object types instances can be written for. Default none.
    pub custom_object_types: Vec<CustomObjectTypeSpec>,
    /// Most companies or users one `POST /tags` may name (Intercom recommends
    /// no more than 50 at a time); 0 = no cap. Default 50.
    pub bulk_tag_limit: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tokens: Vec::new(),
            rate_limit: 1667,
            search_lag_secs: 0,
            latency_ms: 0,
            fault_rate: 0.0,
            seed: None,
            fault_after_apply: false,
            unknown_attributes: UnknownAttributes::Error,
            lead_email_conflicts_with_user: false,
            lead_to_user_on_update: false,
            replace_custom_attributes: false,
            scroll_hides_empty_companies: true,
            default_version: "2.14".to_string(),
            subscription_types: Vec::new(),
            custom_object_types: Vec::new(),
            bulk_tag_limit: 50,
        }
    }
}

/// The whole API as a router, for `tower::ServiceExt::oneshot` tests without a
/// socket. (A dropped-connection fault shows up here as an empty `500`.)
pub fn app(opts: Options) -> Router {
    router(Arc::new(state::App::new(opts)))
}

fn router(state: Arc<state::App>) -> Router {
    let api = Router::new()
        .route("/me", get(contact_reads::me))
        .route("/contacts", post(contacts::create).get(contact_reads::list))
        .route("/contacts/search", post(contact_reads::search))
        .route("/contacts/merge", post(contacts::merge))
        .route(
            "/contacts/find_by_external_id/{external_id}",
            get(contact_reads::find_by_external_id),
        )
        .route(
            "/contacts/{id}",
            get(contact_reads::get)
                .put(contacts::update)
                .delete(contacts::delete),
        )
        .route("/contacts/{id}/archive", post(contacts::archive))
        .route("/contacts/{id}/unarchive", post(contacts::unarchive))
        .route(
            "/contacts/{id}/companies",
            post(membership::attach).get(membership::of_contact),
        )
        .route(
            "/contacts/{id}/companies/{company_id}",
            delete(membership::detach),
        )
        .route(
            "/contacts/{id}/tags",
            post(tags::tag_contact).get(tags::of_contact),
        )
        .route("/contacts/{id}/tags/{tag_id}", delete(tags::untag_contact))
        .route(
            "/contacts/{id}/subscriptions",
            post(subscriptions::attach).get(subscriptions::of_contact),
        )
        .route(
            "/contacts/{id}/subscriptions/{subscription_id}",
            delete(subscriptions::detach),
        )
        .route(
            "/companies",
            post(companies::create_or_update).get(companies::retrieve),
        )
        .route("/companies/list", post(companies::list))
        .route("/companies/scroll", get(companies::scroll))
        .route(
            "/companies/{id}",
            get(companies::get)
                .put(companies::update)
                .delete(companies::delete),
        )
        .route("/companies/{id}/contacts", get(companies::contacts))
        .route("/events", post(events::create).get(events::list))
        .route(
            "/data_attributes",
            get(attributes::list).post(attributes::create),
        )
        .route("/data_attributes/{id}", put(attributes::update))
        .route("/tags", get(tags::list).post(tag_bulk::create))
        .route("/tags/{id}", get(tags::find).delete(tags::delete))
        .route("/subscription_types", get(subscriptions::list))
        .route(
            "/custom_object_instances/{type}",
            post(custom_objects::upsert)
                .get(custom_objects::find_or_list)
                .delete(custom_objects::delete_by_external_id),
        )
        .route(
            "/custom_object_instances/{type}/{id}",
            get(custom_objects::get).delete(custom_objects::delete),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), gate::gate))
        .method_not_allowed_fallback(gate::unknown_method)
        .fallback(gate::unknown_route);
    let control = Router::new()
        .route("/_emulator/stats", get(control::stats))
        .route("/_emulator/reset", post(control::reset))
        .route("/_emulator/dump", get(control::dump))
        .route("/_emulator/clock", get(control::clock))
        .route("/_emulator/clock/advance", post(control::advance))
        .route(
            "/_emulator/faults",
            get(control::faults).post(control::set_faults),
        );
    api.merge(control).with_state(state)
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Bind `bind` (use `127.0.0.1:0` in tests) and serve in the background on
    /// the current tokio runtime.
    pub async fn start(opts: Options, bind: SocketAddr) -> std::io::Result<Emulator> {
        Emulator::start_with_clock(opts, bind, state::Clock::default()).await
    }

    /// [`Emulator::start`] on a given clock: with [`state::Clock::following`] a
    /// test's time source, the rate-limit windows follow the test's (paused)
    /// time instead of the wall clock.
    pub async fn start_with_clock(
        opts: Options,
        bind: SocketAddr,
        clock: state::Clock,
    ) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let router = router(Arc::new(state::App::with_clock(opts, clock)));
        let task = tokio::spawn(server::serve(listener, router, rx));
        Ok(Emulator {
            addr,
            shutdown,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, the base URL to give an Intercom client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, let open connections finish their request, and wait.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
