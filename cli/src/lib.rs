//! `backflow`, the operator's command line: it talks to a backflow stack's HTTP
//! API (the local stack, an `--api` URL, or a deployed stack found by name) and
//! checks configs locally.
//!
//! # Layout
//!
//! | module | what it does |
//! |---|---|
//! | [`target`] | where the API is: the local stack by default, `--api`/`BACKFLOW_API`, or `--stack` (its `ApiUrl` output, read with CloudFormation `DescribeStacks`); whether and with what region requests are signed; the AWS SDK config the CLI's own AWS calls use |
//! | [`sign`] | SigV4 (`execute-api`) signing of one request with `aws-sigv4` |
//! | [`api`] | the HTTP client: one request, an error that says what to do next, every page of a paginated route |
//! | [`progress`] | pure: what a run record says about progress (batches, rows, calls, rate, ETA) and the line that shows it |
//! | [`follow`] | polls a run to its end, drawing a progress bar on a terminal or printing progress lines elsewhere |
//! | [`output`] | colour (only on a terminal, never with `NO_COLOR`), tables, JSON |
//! | [`commands`] | one file per command: `validate`, `syncs`, `plan`, `run`, `runs`, `show`, `rows` |
//! | [`error`] | the crate's one [`Error`]: every message says what to do next |
//!
//! `main.rs` only parses the command line (clap) and dispatches; its doc lists the
//! exit codes.

pub mod api;
pub mod commands;
pub mod error;
pub mod follow;
pub mod output;
pub mod progress;
pub mod sign;
pub mod target;

pub use error::Error;

/// Exit status when everything asked for was done (a run that succeeded).
pub const EXIT_OK: u8 = 0;
/// Exit status of a run (or dry run) that failed, or a config that is invalid.
pub const EXIT_FAILED: u8 = 1;
/// Exit status of a run that ended `partial` (some rows invalid, rejected or not found).
pub const EXIT_PARTIAL: u8 = 2;
/// Exit status when backflow could not do what was asked: a bad command line, an
/// API that cannot be reached or refused the request, an unknown sync or run.
pub const EXIT_ERROR: u8 = 3;
