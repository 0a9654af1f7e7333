//! The node's error type: what went wrong, phrased as what the caller should do.

/// A node operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong; fix it before retrying.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The named record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with stored data (e.g. an external id already in use).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The local store failed.
    #[error(transparent)]
    Store(pilot_store::Error),
    /// The hub cannot be reached right now; retry later.
    #[error("hub unavailable: {0}")]
    HubUnavailable(String),
    /// Certificates or keys are missing or wrong; the operator must fix the PKI files.
    #[error(transparent)]
    Pki(#[from] pilot_pki::Error),
    /// A listener could not be bound; the operator must free the port or change the config.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing a file next to the store failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<pilot_store::Error> for Error {
    fn from(e: pilot_store::Error) -> Self {
        match e {
            pilot_store::Error::Conflict(m) => Error::Conflict(m),
            pilot_store::Error::NotFound { what } => Error::NotFound(what),
            other => Error::Store(other),
        }
    }
}

impl From<pilot_model::Error> for Error {
    fn from(e: pilot_model::Error) -> Self {
        Error::Invalid { field: e.field(), reason: e.to_string() }
    }
}

/// Result with the node's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
