//! The Pilotnet national hub: receives anonymized summaries from the city nodes over mutual
//! TLS, stores them, matches supply and demand across cities, and serves the matches to the
//! nodes (their own) and to the national centre (all).
//!
//! Layout: `config`, `registry` (who is calling), `revocation` (reloads the revocation list
//! into the registry), `ingest` (batches → store → index), `matcher` (drives `pilot-match`),
//! `grpc` (thin handlers), `server` (wiring and shutdown).
//!
//! Invariants:
//! - Every call is authenticated by the client certificate; a city writes and reads only its
//!   own summaries and matches; only the national role sees everything.
//! - A batch is acknowledged only after it is durable on the device.
//! - The hub never holds raw records: what it stores is exactly what nodes sent through
//!   `pilot-anon`.

pub mod config;
mod error;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod matcher;
pub mod metrics;
pub mod registry;
mod revocation;
pub mod server;
pub mod stats;

pub use error::{Error, Result};
