//! Spreadsheets in and out of a city node: converts rows of Excel workbooks, CSV files and
//! JSONL files into the node's intake records (`pb::RecordInput`), and stored records
//! (`pb::StoredRecord`) back into such files, for the three banks (demands, achievements,
//! experts).
//!
//! Staff keep these banks in spreadsheets with headers in Chinese or English, typed by hand:
//! the reader accepts many header spellings (see [`headers`] for the English names), amounts
//! such as `120万`, full-width digits, several date spellings and list separators, and phone
//! numbers that Excel stored as numbers.
//!
//! Invariants:
//! - Only syntax is checked here: cells become typed fields, lists, numbers, dates and
//!   statuses. Vocabularies (disciplines, industries, cooperation modes) and the calendar are
//!   validated by the node, which reports field errors per row; so this crate never refuses a
//!   code it does not know.
//! - One bad row never stops the file: it comes back as a [`Row`] whose result lists every
//!   bad cell, each naming its field. Only file-level problems are [`Error`]s.
//! - CSV and JSONL are streamed: memory does not grow with the file.
//! - An export imports again to the same records: it carries `local_id`, and its headers and
//!   cell formats are ones the reader accepts.

mod cell;
mod columns;
mod error;
mod read;
mod record;
mod write;

use std::path::Path;

use pilot_model::Kind;

pub use columns::{chinese_label, headers, message_zh};
pub use error::{Error, Result};
pub use read::{Row, Sheet};
pub use write::{write, write_to};

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An Excel workbook. Reading also accepts the legacy `.xls`, `.xlsm`, `.xlsb` and
    /// OpenDocument `.ods` (WPS and LibreOffice files); writing always produces `.xlsx`.
    Xlsx,
    /// Comma-separated values, UTF-8 (with or without a byte-order mark) or GBK/GB18030.
    Csv,
    /// One JSON object per line, keyed by field name.
    Jsonl,
}

impl Format {
    /// The format a file name's extension implies, case-insensitively.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Some(Format::Xlsx),
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// Parses a format name (`xlsx`, `excel`, `csv`, `jsonl`, `ndjson`, with or without a
    /// leading dot) or an HTTP content type (`text/csv; charset=utf-8`, the xlsx MIME type,
    /// `application/x-ndjson`), case-insensitively.
    pub fn parse(s: &str) -> Option<Format> {
        let t = s.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match t.trim_start_matches('.') {
            "xlsx"
            | "excel"
            | "xls"
            | "xlsm"
            | "xlsb"
            | "ods"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.ms-excel"
            | "application/vnd.oasis.opendocument.spreadsheet" => Some(Format::Xlsx),
            "csv" | "text/csv" | "application/csv" => Some(Format::Csv),
            "jsonl"
            | "ndjson"
            | "application/x-ndjson"
            | "application/jsonl"
            | "application/jsonlines"
            | "application/x-jsonlines" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// The extension files of this format are written with, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

/// The bank a file name suggests: it contains `demand`, `achievement` or `expert` (any case,
/// plurals too) or `需求`, `成果` or `专家`. `None` when it names none of them or more than one.
pub fn kind_from_path(p: &Path) -> Option<Kind> {
    let name = p.file_name()?.to_string_lossy().to_lowercase();
    let hints: [(Kind, [&str; 2]); 3] = [
        (Kind::Demand, ["demand", "需求"]),
        (Kind::Achievement, ["achievement", "成果"]),
        (Kind::Expert, ["expert", "专家"]),
    ];
    let mut found = hints.iter().filter(|(_, words)| words.iter().any(|w| name.contains(w)));
    match (found.next(), found.next()) {
        (Some((kind, _)), None) => Some(*kind),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_file_names() {
        let k = |s: &str| kind_from_path(Path::new(s));
        assert_eq!(k("2026年需求清单.xlsx"), Some(Kind::Demand));
        assert_eq!(k("/tmp/uploads/achievements_q3.csv"), Some(Kind::Achievement));
        assert_eq!(k("Experts.JSONL"), Some(Kind::Expert));
        assert_eq!(k("科技成果汇总.xls"), Some(Kind::Achievement));
        assert_eq!(k("DEMAND.csv"), Some(Kind::Demand));
        assert_eq!(k("需求/名单.csv"), None, "only the file name counts");
        assert_eq!(k("专家与成果.xlsx"), None, "ambiguous");
        assert_eq!(k("data.csv"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(Format::from_path(Path::new("a/b.XLSX")), Some(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("b.xls")), Some(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("b.ndjson")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("b.json")), None);
        assert_eq!(Format::from_path(Path::new("csv")), None);
        assert_eq!(Format::parse(".CSV"), Some(Format::Csv));
        assert_eq!(Format::parse("text/csv; charset=utf-8"), Some(Format::Csv));
        assert_eq!(
            Format::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            Some(Format::Xlsx)
        );
        assert_eq!(Format::parse("jsonl"), Some(Format::Jsonl));
        assert_eq!(Format::parse("pdf"), None);
        for f in [Format::Xlsx, Format::Csv, Format::Jsonl] {
            assert_eq!(Format::parse(f.extension()), Some(f));
            assert_eq!(Format::from_path(Path::new(&format!("x.{f}"))), Some(f));
        }
    }
}
