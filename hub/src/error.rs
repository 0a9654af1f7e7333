//! The hub's error type: what went wrong, phrased as what the caller should do.

/// A hub operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer sent something malformed or over a limit; it must fix the message.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The peer is authenticated but not allowed to do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] pilot_store::Error),
    /// Certificates or keys are missing or wrong; the operator must fix the PKI files.
    #[error(transparent)]
    Pki(#[from] pilot_pki::Error),
    /// A listener could not be bound.
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

impl From<pilot_proto::ConvertError> for Error {
    fn from(e: pilot_proto::ConvertError) -> Self {
        Error::Invalid { field: e.field(), reason: e.to_string() }
    }
}

/// Result with the hub's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
