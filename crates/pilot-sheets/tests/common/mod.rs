//! Helpers shared by the integration tests: building small xlsx files cell by cell and
//! picking records out of rows.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pilot_proto::pb;
use pilot_proto::pb::record_input::Body;
use pilot_sheets::Row;

/// One cell of a hand-made workbook.
pub enum X {
    /// A text cell.
    S(&'static str),
    /// A numeric cell.
    N(f64),
    /// A real date cell, formatted as a date.
    D(u16, u8, u8),
    /// No cell.
    E,
}

/// Writes a one-worksheet workbook and returns its bytes.
pub fn xlsx(rows: &[Vec<X>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (u32::try_from(r).unwrap(), u16::try_from(c).unwrap());
            match cell {
                X::S(s) => {
                    sheet.write_string(r, c, *s).unwrap();
                }
                X::N(n) => {
                    sheet.write_number(r, c, *n).unwrap();
                }
                X::D(y, m, d) => {
                    let dt = rust_xlsxwriter::ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                    sheet.write_datetime_with_format(r, c, &dt, &date).unwrap();
                }
                X::E => {}
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// Writes bytes to a file named `name` in `dir`.
pub fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The demand of an accepted row.
pub fn demand(row: &Row) -> &pb::Demand {
    match row.result.as_ref().map(|r| r.body.as_ref()) {
        Ok(Some(Body::Demand(d))) => d,
        other => panic!("row {}: not an accepted demand: {other:?}", row.row),
    }
}

/// The achievement of an accepted row.
pub fn achievement(row: &Row) -> &pb::Achievement {
    match row.result.as_ref().map(|r| r.body.as_ref()) {
        Ok(Some(Body::Achievement(a))) => a,
        other => panic!("row {}: not an accepted achievement: {other:?}", row.row),
    }
}

/// The expert of an accepted row.
pub fn expert(row: &Row) -> &pb::Expert {
    match row.result.as_ref().map(|r| r.body.as_ref()) {
        Ok(Some(Body::Expert(e))) => e,
        other => panic!("row {}: not an accepted expert: {other:?}", row.row),
    }
}

/// The (field, key) pairs of a refused row.
pub fn errors(row: &Row) -> Vec<(String, String)> {
    match &row.result {
        Err(errs) => errs.iter().map(|e| (e.field.clone(), e.key.clone())).collect(),
        Ok(r) => panic!("row {} was accepted: {r:?}", row.row),
    }
}
