//! The crate's error type: the only fallible entry point is parsing a node secret.

/// Why an input to the anonymizer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is malformed; the caller should fix it (e.g. regenerate the secret file).
    ///
    /// NB: the message never echoes the input, because the input may be a secret.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was being parsed, e.g. `node secret`.
        what: &'static str,
        /// What is wrong with it, lowercase with no trailing period.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
