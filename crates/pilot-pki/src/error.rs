//! The crate's error type: every variant tells the caller what to do next.

use std::io;
use std::path::PathBuf;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with the federation PKI, phrased as what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CA, certificate or key file is missing: the PKI has not been created yet, or this
    /// identity has not been issued; run `pilotctl pki init` (or `pilotctl pki issue`).
    #[error("{} not found: run `pilotctl pki init` or `pilotctl pki issue`", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// Issuing would overwrite a file that exists without its certificate or key partner;
    /// restore the missing partner, or move this file away and retry.
    #[error(
        "refusing to overwrite {}, whose certificate or key partner is missing: restore the partner, or move this file away and retry",
        path.display()
    )]
    AlreadyExists {
        /// The file that would have been overwritten.
        path: PathBuf,
    },
    /// A certificate, key, identity or name is malformed or fails a check; fix or re-issue it.
    ///
    /// The message reads `"{what} {reason}"`, e.g. "certificate /x/cities/421200/cert.pem names
    /// spiffe://pilotnet/city/350500, expected spiffe://pilotnet/city/421200".
    #[error("{what} {reason}")]
    Invalid {
        /// What is wrong, with its file when it has one: "certificate /x/hub/cert.pem",
        /// "key /x/hub/key.pem", "peer certificate", "identity \"spiffe://x\"".
        what: String,
        /// Why it was refused, starting with a verb.
        reason: String,
    },
    /// Reading or writing a file failed; check the path, its permissions and the disk.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file or directory being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Key generation or signing failed; this is a bug or a broken system random source.
    #[error("internal pki error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), reason: reason.into() }
    }

    /// Builds the error for a failed read: [`Error::NotFound`] when the file does not exist,
    /// else [`Error::Io`].
    pub(crate) fn read(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }

    /// Builds the error for a failed write or directory creation.
    pub(crate) fn write(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Builds an [`Error::Internal`].
    pub(crate) fn internal(reason: impl std::fmt::Display) -> Self {
        Error::Internal { reason: reason.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_become_not_found() {
        let err = Error::read("/x/ca.pem", io::Error::from(io::ErrorKind::NotFound));
        assert!(matches!(err, Error::NotFound { .. }));
        assert_eq!(
            err.to_string(),
            "/x/ca.pem not found: run `pilotctl pki init` or `pilotctl pki issue`"
        );
        let err = Error::read("/x/ca.pem", io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(err, Error::Io { .. }));
    }
}
