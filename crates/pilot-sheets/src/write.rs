//! Exporting stored records of one bank as xlsx, CSV or JSONL, laid out so that the file can
//! be edited and imported again to update the same records.
//!
//! Each export starts with a `local_id` column; the other columns follow [`crate::headers`].
//! Lists are joined with "; ", statuses are written as codes, and amounts, levels and dates are
//! written as numbers and dates where the format has them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rust_xlsxwriter::{ColNum, Color, ExcelDateTime, Format as CellFormat, RowNum, Workbook};

use pilot_model::Kind;
use pilot_proto::pb;

use crate::columns::{self, Column, Field};
use crate::record::{Out, out, stored_kind};
use crate::{Error, Format, Result};

/// Writes the records of one bank to a file, with the format taken from the extension
/// (`.xlsx`, `.csv` or `.jsonl`/`.ndjson`); records of other banks are skipped.
///
/// With `chinese_headers`, headers (and JSONL keys) are the usual Chinese column names, e.g.
/// `需求名称`; otherwise the English field names of [`crate::headers`].
pub fn write(
    path: &Path,
    kind: Kind,
    records: &[pb::StoredRecord],
    chinese_headers: bool,
) -> Result<()> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    let format = match ext.as_deref() {
        Some("xlsx") => Format::Xlsx,
        Some("csv") => Format::Csv,
        Some("jsonl" | "ndjson") => Format::Jsonl,
        _ => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            return Err(Error::UnsupportedFormat(name.unwrap_or_default()));
        }
    };
    let mut w = BufWriter::new(File::create(path)?);
    write_to(&mut w, format, kind, records, chinese_headers)?;
    w.flush()?;
    Ok(())
}

/// Writes the records of one bank to a writer; see [`write()`].
///
/// NB: an xlsx workbook is built in memory and written in one go; CSV and JSONL are written
/// record by record.
pub fn write_to(
    w: impl Write,
    format: Format,
    kind: Kind,
    records: &[pb::StoredRecord],
    chinese_headers: bool,
) -> Result<()> {
    let columns = columns::columns(kind);
    let headers: Vec<&str> =
        columns.iter().map(|c| if chinese_headers { c.aliases[0] } else { c.name }).collect();
    let records = records.iter().filter(|r| stored_kind(r) == Some(kind));
    match format {
        Format::Csv => write_csv(w, columns, &headers, records),
        Format::Jsonl => write_jsonl(w, columns, &headers, records),
        Format::Xlsx => write_xlsx(w, kind, columns, &headers, records, chinese_headers),
    }
}

/// A cell as text, for CSV.
fn flat(o: Out) -> String {
    match o {
        Out::Text(s) | Out::Date(s) => s,
        Out::List(v) => v.join("; "),
        Out::Number(n) => n.map(|n| n.to_string()).unwrap_or_default(),
    }
}

fn csv_error(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => Error::Io(e),
        other => Error::Unwritable(format!("{other:?}").to_lowercase()),
    }
}

fn write_csv<'a>(
    mut w: impl Write,
    columns: &[Column],
    headers: &[&str],
    records: impl Iterator<Item = &'a pb::StoredRecord>,
) -> Result<()> {
    // NB: the byte-order mark makes Excel read the file as UTF-8 instead of the system code
    // page; the reader strips it again.
    w.write_all("\u{feff}".as_bytes())?;
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(headers).map_err(csv_error)?;
    for r in records {
        csv.write_record(columns.iter().map(|c| flat(out(r, c)))).map_err(csv_error)?;
    }
    csv.flush()?;
    Ok(())
}

fn write_jsonl<'a>(
    mut w: impl Write,
    columns: &[Column],
    headers: &[&str],
    records: impl Iterator<Item = &'a pb::StoredRecord>,
) -> Result<()> {
    use serde_json::Value;
    let mut line = String::new();
    for r in records {
        // Written by hand to keep the keys in column order.
        line.clear();
        line.push('{');
        for (i, (c, h)) in columns.iter().zip(headers).enumerate() {
            let v = match out(r, c) {
                Out::Text(s) | Out::Date(s) => Value::String(s),
                Out::List(v) => Value::Array(v.into_iter().map(Value::String).collect()),
                Out::Number(n) => n.map_or(Value::Null, Value::from),
            };
            if i > 0 {
                line.push(',');
            }
            line.push_str(&Value::String((*h).to_owned()).to_string());
            line.push(':');
            line.push_str(&v.to_string());
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes())?;
    }
    w.flush()?;
    Ok(())
}

fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> Error {
    let msg = e.to_string();
    let mut chars = msg.chars();
    let lowered = chars.next().map(|c| c.to_lowercase().chain(chars).collect());
    Error::Unwritable(lowered.unwrap_or_default())
}

/// A sensible width, in characters, for a column.
fn width(field: Field) -> f64 {
    match field {
        f if f.is_long_text() => 60.0,
        Field::Title | Field::EnterpriseName | Field::Institution | Field::Address => 30.0,
        Field::Fields
        | Field::Industries
        | Field::Keywords
        | Field::Team
        | Field::PatentNumbers
        | Field::CooperationModes
        | Field::Email
        | Field::CreditCode
        | Field::IdNumber
        | Field::Availability => 24.0,
        Field::Phone | Field::LocalId | Field::ExternalId | Field::Rank => 16.0,
        _ => 12.0,
    }
}

/// Parses `YYYY-MM-DD` into its parts, for writing a real date cell.
fn ymd(s: &str) -> Option<ExcelDateTime> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    ExcelDateTime::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

/// The largest integer an Excel cell (a double) holds exactly.
const MAX_EXACT: u64 = 1 << 53;

fn write_xlsx<'a>(
    mut w: impl Write,
    kind: Kind,
    columns: &[Column],
    headers: &[&str],
    records: impl Iterator<Item = &'a pb::StoredRecord>,
    chinese_headers: bool,
) -> Result<()> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let name = if chinese_headers { kind.zh().to_owned() } else { format!("{}s", kind.code()) };
    sheet.set_name(name).map_err(xlsx_error)?;
    let bold = CellFormat::new().set_bold().set_background_color(Color::RGB(0xDD_EB_F7));
    let text = CellFormat::new().set_num_format("@");
    let date = CellFormat::new().set_num_format("yyyy-mm-dd");
    let col_num = |i: usize| {
        ColNum::try_from(i).map_err(|_| Error::Unwritable("too many columns".to_owned()))
    };
    for (i, (c, h)) in columns.iter().zip(headers).enumerate() {
        let col = col_num(i)?;
        sheet.set_column_width(col, width(c.field)).map_err(xlsx_error)?;
        if c.field.keep_as_text() {
            // So that digits typed later into the column stay text as well.
            sheet.set_column_format(col, &text).map_err(xlsx_error)?;
        }
        sheet.write_string_with_format(0, col, *h, &bold).map_err(xlsx_error)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
    let mut last_row: RowNum = 0;
    for (i, r) in records.enumerate() {
        let row = RowNum::try_from(i + 1)
            .map_err(|_| Error::Unwritable("too many rows for one worksheet".to_owned()))?;
        last_row = row;
        for (j, c) in columns.iter().enumerate() {
            let col = col_num(j)?;
            let value = match out(r, c) {
                Out::Date(s) if !s.is_empty() => match ymd(&s) {
                    Some(d) => {
                        sheet
                            .write_datetime_with_format(row, col, &d, &date)
                            .map_err(xlsx_error)?;
                        continue;
                    }
                    None => s,
                },
                Out::Number(Some(n)) if n <= MAX_EXACT => {
                    #[allow(clippy::cast_precision_loss, reason = "n is at most 2^53, so exact")]
                    sheet.write_number(row, col, n as f64).map_err(xlsx_error)?;
                    continue;
                }
                other => flat(other),
            };
            if value.is_empty() {
                continue;
            }
            if c.field.keep_as_text() {
                sheet.write_string_with_format(row, col, value, &text).map_err(xlsx_error)?;
            } else {
                sheet.write_string(row, col, value).map_err(xlsx_error)?;
            }
        }
    }
    if last_row > 0 {
        sheet.autofilter(0, 0, last_row, col_num(columns.len() - 1)?).map_err(xlsx_error)?;
    }
    let bytes = book.save_to_buffer().map_err(xlsx_error)?;
    w.write_all(&bytes)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(local: &str) -> pb::StoredRecord {
        pb::StoredRecord {
            local_id: local.into(),
            status: pb::Status::Open as i32,
            body: Some(pb::stored_record::Body::Demand(pb::Demand {
                title: "隔膜".into(),
                description: "需要, \"高\" 孔隙率\n第二行".into(),
                phone: "13971234567".into(),
                fields: vec!["0805".into(), "0817".into()],
                budget_cny: Some(500_000),
                deadline: "2026-12-31".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn csv_has_a_bom_headers_and_joined_lists() {
        let expert = pb::StoredRecord {
            body: Some(pb::stored_record::Body::Expert(pb::Expert::default())),
            ..Default::default()
        };
        let mut buf = Vec::new();
        let records = [demand("d1"), expert];
        write_to(&mut buf, Format::Csv, Kind::Demand, &records, true).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.starts_with("\u{feff}本地编号,外部编号,企业名称"), "{s}");
        assert!(s.contains(",0805; 0817,500000,,2026-12-31,open"), "{s}");
        assert_eq!(s.matches("d1").count(), 1, "the expert is skipped");
    }

    #[test]
    fn jsonl_keeps_column_order_and_types() {
        let mut buf = Vec::new();
        write_to(&mut buf, Format::Jsonl, Kind::Demand, &[demand("d1")], false).unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert!(line.starts_with("{\"local_id\":\"d1\",\"external_id\":\"\",\"enterprise_name\""));
        assert!(line.contains("\"field\":[\"0805\",\"0817\"],\"budget_cny\":500000,"), "{line}");
        assert!(line.ends_with("\"status\":\"open\"}\n"));
    }

    #[test]
    fn write_refuses_unknown_extensions() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["x.xls", "x.txt", "x"] {
            let err = write(&dir.path().join(name), Kind::Demand, &[], false).unwrap_err();
            assert!(matches!(err, Error::UnsupportedFormat(_)), "{name}: {err}");
        }
    }
}
