//! Integration tests of the emulator, linked as one binary: each module starts
//! real emulators on `127.0.0.1:0` and talks HTTP with reqwest. No test sleeps:
//! emulated time moves with `POST /_emulator/clock/advance`.
//!
//! Every quirk has a test here that would fail against a kinder emulator.

mod attributes;
mod auth;
mod common;
mod companies;
mod contacts;
mod control;
mod custom_objects;
mod events;
mod identity;
mod limits;
mod membership;
mod new_routes;
mod search;
mod subscriptions;
mod tags;
