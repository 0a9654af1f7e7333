//! The store's error type.

use std::path::{Path, PathBuf};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The disk or the store could not be used; the operation may succeed later (retry), or the
    /// operator must free space or fix permissions.
    #[error("store at {path} is unavailable: {source}")]
    Unavailable {
        /// The store or file concerned.
        path: PathBuf,
        /// The underlying IO error.
        source: std::io::Error,
    },
    /// Stored bytes do not decode: the store is damaged and must be restored from a backup.
    #[error("store is corrupt in tree {tree}: {reason}")]
    Corrupt {
        /// The tree holding the bad value.
        tree: &'static str,
        /// What failed to decode.
        reason: String,
    },
    /// The operation refers to something that does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The operation conflicts with what is stored (e.g. an external id that belongs to a
    /// record of another kind); the caller must change its input.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A batch continues from a sequence the hub has not reached: something before it was lost
    /// or reordered. The sender must resume from the hub's watermark.
    #[error("batch continues after sequence {after}, but the hub has only applied up to {acked}")]
    Gap {
        /// Where the batch says it continues from.
        after: u64,
        /// The hub's watermark.
        acked: u64,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Unavailable { path: path.to_owned(), source }
    }

    pub(crate) fn from_sled(path: &Path, e: sled::Error) -> Self {
        match e {
            sled::Error::Io(source) => Error::io(path, source),
            sled::Error::Corruption { .. } => Error::Corrupt { tree: "*", reason: e.to_string() },
            other => Error::io(path, std::io::Error::other(other.to_string())),
        }
    }

    pub(crate) fn corrupt(tree: &'static str, reason: impl std::fmt::Display) -> Self {
        Error::Corrupt { tree, reason: reason.to_string() }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
