//! The Pilotnet city node: keeps a city's demands, achievements and experts in its own sled
//! store, serves them to local staff, and shares only anonymized summaries with the hub.
//!
//! Layout: `config` (plain data), `intake` (records → store + outbox), `sync` (outbox → hub),
//! `prepare` (anonymizing the outbox ahead of sending), `grpc` (intake API, hub client),
//! `server` (wiring and shutdown).
//!
//! Invariants:
//! - Raw records never leave this process except through the local intake API.
//! - The only things sent to the hub are `pilot_anon::Anonymized` values, converted to wire form.
//! - A record change and its outbox entry commit together; the hub's acknowledgement is the
//!   only thing that moves the outbox forward.

pub mod config;
mod error;
pub mod feed;
pub mod grpc;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod prepare;
pub mod server;
pub mod sync;

pub use error::{Error, Result};
