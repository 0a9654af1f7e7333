//! Pilotnet's anonymizer: turns a raw city record into the [`pilot_model::Summary`] that is the
//! only thing a node ever sends to the hub about that record.
//!
//! The guarantee "names, contacts and free text never leave a node" rests on this crate.
//!
//! Invariants:
//! - Pure and deterministic: no IO, no async, no clock, no randomness, and no output that
//!   depends on hash-map order. The same record and node secret always give the same bytes.
//! - A summary holds only codes, coarse buckets, months, a pseudonym and weighted terms: no
//!   names, contacts, addresses, exact amounts, days, local or external ids.
//! - Terms come only from technical text (titles, descriptions, abstracts, research summaries,
//!   keywords), after PII detectors and the record's own names and their short forms have
//!   been blanked out; name, contact, address and institution fields are never segmented.
//! - Every summary passes a privacy gate: if any term still looks like an identifier, or too few
//!   terms remain, or the record's status is not shared, the record is withheld and only its
//!   tombstone goes out.
//! - Only this crate can construct [`Anonymized`], and the sync path accepts nothing else.
//! - Pseudonyms are keyed HMACs of local ids; the [`NodeSecret`] never leaves the node.
//!
//! Modules: `secret` (the key), `rules` (PII detectors, name short forms, scrubbing), `terms`
//! (segmentation, stop words, weighting), `anonymize` (the [`Anonymizer`] and the gate).

mod anonymize;
mod error;
mod rules;
mod secret;
mod terms;

pub use anonymize::{Anonymized, Anonymizer, HoldReason, Outcome};
pub use error::{Error, Result};
pub use rules::{Detection, PiiKind, detect, scrub};
pub use secret::NodeSecret;
