//! The client's side of rate limiting: the state it keeps and the waits it
//! makes. The decisions are pure functions in `backflow_core::{pacing, budget,
//! retry}`; the crate's "Rate limiting" map (in `lib.rs`) shows who calls whom.
//!
//! - [`traffic`]: what the client knows — the newest `X-RateLimit-*` headers,
//!   calls on the wire, round trip, calls still expected.
//! - [`turn`]: what every attempt awaits — header pacing, then one call of the
//!   shared budget.
//! - [`share`]: the client's share of the app's budget — calls taken from the
//!   store and not spent yet; [`crate::Client::with_budget`],
//!   [`crate::Client::expect_calls`], [`crate::Client::release_budget`].
//! - [`store`]: the budget's store — the [`store::CallBudget`] trait (DynamoDB
//!   in `backflow-aws`) and [`store::MemoryBudget`].

pub mod share;
pub mod store;
pub mod traffic;
pub mod turn;
