//! The model's validation error: which field is wrong and why.

/// A value that does not fit the domain model.
///
/// The caller should show the message to whoever typed the value and ask for a corrected one;
/// retrying the same input cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field holds a value outside its vocabulary or format.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's import name, e.g. `field` or `trl`.
        field: &'static str,
        /// What is wrong with it, lowercase with no trailing period.
        reason: String,
    },
    /// A required field is missing or empty.
    #[error("missing required field {field}")]
    MissingField {
        /// The field's import name.
        field: &'static str,
    },
}

impl Error {
    /// Builds an [`Error::InvalidField`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidField { field, reason: reason.into() }
    }

    /// The import name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Error::InvalidField { field, .. } | Error::MissingField { field } => field,
        }
    }
}

/// Result with the model's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
