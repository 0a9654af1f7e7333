//! Pilotnet's domain model: records, summaries, identifiers and the national vocabularies.
//!
//! This crate is pure: no IO, no async, no wire or storage types.
//! Everything here is plain data with validation, shared by the node, the hub, the anonymizer
//! and the matcher.
//!
//! Invariants:
//! - Every code type (`CityCode`, `FieldCode`, `IndustryCode`, `Trl`) can only hold a value that
//!   exists in its national vocabulary; parsing is the only way in.
//! - A [`Summary`] holds no names, contacts or free text: only codes, buckets, months and terms.
//!   Producing one from a [`Record`] is `pilot-anon`'s job alone.

pub mod digest;
mod error;
mod ids;
mod record;
mod region;
mod summary;
pub mod vocab;

pub use digest::{BUCKETS, BucketDigests, Digest};
pub use error::{Error, Result};
pub use ids::{LocalId, Pseudonym, Seq};
pub use record::{
    Achievement, Date, Demand, Expert, MAX_LIST_ITEMS, MAX_SHORT_CHARS, MAX_TEXT_CHARS,
    MAX_TITLE_CHARS, Record, RecordBody, UnixMillis,
};
pub use region::{CityCode, PILOT_CITIES, PilotCity};
pub use summary::{BudgetBucket, Summary, SummaryKey, Tombstone, WeightedTerm, YearMonth};
pub use vocab::{CooperationMode, FieldCode, IndustryCode, Kind, Status, Trl};
