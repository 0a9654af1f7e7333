//! The file-level errors of reading and writing sheets.
//!
//! Problems with single rows are not errors here: they come back as `pb::FieldError`s in
//! [`crate::Row::result`], so that one bad row never stops the good rows around it.

/// Why a whole file cannot be read or written.
///
/// Each variant says what the caller (usually a member of staff) has to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file type is not supported; the caller should save the file as .xlsx, .csv or .jsonl,
    /// or name the format explicitly.
    #[error("unsupported file type {0:?}: use .xlsx, .csv or .jsonl")]
    UnsupportedFormat(String),
    /// The file has no rows at all; the caller should fill in a header row and data.
    #[error("the file has no rows: it needs a header row and at least one data row")]
    Empty,
    /// The header row lacks a required column; the caller should add the column and retry.
    #[error("missing required column {column:?} ({label})")]
    MissingColumn {
        /// The field's English name, e.g. `description`.
        column: &'static str,
        /// The column's usual Chinese header, e.g. `需求描述`.
        label: &'static str,
    },
    /// The file is damaged or is not really of its format (a renamed file, an encrypted
    /// workbook); the caller should re-save it from the spreadsheet program and retry.
    #[error("the file cannot be read as {format}: {reason}")]
    InvalidFile {
        /// The format the file was read as.
        format: &'static str,
        /// What was wrong, as reported by the parser.
        reason: String,
    },
    /// The records cannot be written in this format (for example a text longer than an Excel
    /// cell holds); the caller should shorten the text or export as CSV or JSONL.
    #[error("cannot write the records: {0}")]
    Unwritable(String),
    /// The operating system refused to read or write; the caller should check the path,
    /// permissions and free disk space, then retry.
    #[error("file access failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whether retrying the same call unchanged may succeed: only for interrupted or timed-out
    /// IO.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(
            e.kind(),
            std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ))
    }
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_name_the_column() {
        let e = Error::MissingColumn { column: "description", label: "需求描述" };
        assert_eq!(e.to_string(), "missing required column \"description\" (需求描述)");
        for e in
            [Error::Empty, Error::UnsupportedFormat("doc".into()), Error::Unwritable("x".into())]
        {
            let s = e.to_string();
            assert!(s.starts_with(|c: char| c.is_lowercase()), "{s}");
            assert!(!s.ends_with('.'), "{s}");
            assert!(!e.is_retryable());
        }
        assert!(Error::Io(std::io::ErrorKind::Interrupted.into()).is_retryable());
    }
}
