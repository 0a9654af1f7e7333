//! The Pilotnet national hub: receives anonymized summaries from the city nodes over mutual
//! TLS, stores them, matches supply and demand across cities, and serves the matches to the
//! nodes (their own) and to the national centre (all).
//!
//! Layout: `config`, `registry` (who is calling), `revocation` (reloads the revocation list
//! into the registry), `ingest` (batches → store → index), `matcher` (drives `pilot-match`),
//! `subscription` (keeps a city's pushed match list up to date), `grpc` (thin handlers),
//! `server` (wiring and shutdown).
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
pub mod rounds;
pub mod server;
pub mod stats;
pub mod subscription;

pub use error::{Error, Result};

/// Builders the crate's unit tests share.
#[cfg(test)]
mod testing {
    use pilot_model::{
        CityCode, FieldCode, Kind, Pseudonym, Status, Summary, SummaryKey, WeightedTerm,
    };

    /// An open summary of `kind` in `city`, pseudonym `i` in hex, field 0805 and the given
    /// terms at weight 1.
    pub(crate) fn summary(city: &str, i: u32, kind: Kind, terms: &[&str]) -> Summary {
        Summary {
            key: SummaryKey {
                city: CityCode::parse(city).unwrap(),
                pseudonym: Pseudonym::parse(&format!("{i:032x}")).unwrap(),
            },
            kind,
            status: Status::Open,
            fields: vec![FieldCode::parse("0805").unwrap()],
            industries: vec![],
            trl: None,
            modes: vec![],
            budget: None,
            updated: None,
            deadline: None,
            terms: terms.iter().map(|t| WeightedTerm { term: (*t).into(), weight: 1.0 }).collect(),
        }
    }
}
