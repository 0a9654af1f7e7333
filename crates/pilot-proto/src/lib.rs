//! The Pilotnet wire contract: code generated from `proto/pilot/v1/*.proto`, and the
//! conversions between wire types and domain types.
//!
//! Invariants:
//! - Wire types are always written `pb::Summary`, never imported bare, so that they cannot be
//!   mistaken for the domain types of `pilot-model`.
//! - A `pb::Summary` or `pb::Tombstone` is built from a domain value only through
//!   `pilot_anon::Anonymized`: there is deliberately no conversion from a bare `Summary`.
//! - Decoding from the wire validates every code against the national vocabularies and every
//!   limit of `Summary::validate`, so that handlers only ever see valid domain values.

pub mod convert;
pub mod framing;

/// Generated protobuf messages, tonic clients and tonic servers of package `pilot.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic, rust_2018_idioms)]
pub mod pb {
    tonic::include_proto!("pilot.v1");
}

pub use convert::ConvertError;
