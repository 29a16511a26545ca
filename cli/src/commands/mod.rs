//! One file per command. Each takes what it needs (the [`Api`](crate::api::Api),
//! the [`Out`](crate::output::Out) and its arguments) and returns the exit status.
//!
//! - [`validate`]: a config checked locally; [`connect`] adds the `--connect`
//!   checks (each model run for no rows, each Intercom token asked `GET /me`).
//! - [`syncs`], [`runs`], [`show`], [`rows`]: reads of the API.
//! - [`plan`] and [`run`]: start a run (dry or not) and follow it.
//! - [`record`]: how a run record is shown (counts against the plan, usage and
//!   cost, exit status); [`samples`]: a dry run's sample rows, field by field.

pub mod connect;
pub mod plan;
pub mod record;
pub mod rows;
pub mod run;
pub mod runs;
pub mod samples;
pub mod show;
pub mod syncs;
pub mod validate;
