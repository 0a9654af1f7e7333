//! Damaged files: whatever bytes an upload carries, reading gives rows or an error, never a
//! panic (a node reads uploads inside its server). Workbooks are damaged both as bytes (flips
//! and truncations of the zip) and inside their XML parts, re-packed with valid checksums so
//! that the damage reaches the XML and cell parsers rather than stopping at the zip layer.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use pilot_model::Kind;
use pilot_sheets::{Format, Sheet};
use pilot_testkit::Rng;

use common::{X, xlsx};

/// Reads `bytes` to the end: the number of rows, or `None` if the file was refused. Panics
/// (failing the test) with `what` if reading panicked.
fn read_all(bytes: &[u8], format: Format, kind: Kind, what: &str) -> Option<usize> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Sheet::from_bytes(bytes.to_vec(), format, kind).ok().map(|mut s| s.by_ref().count())
    }));
    outcome.unwrap_or_else(|_| panic!("reading {what} panicked"))
}

/// A workbook of demands with every kind of cell: text, numbers, dates, blanks.
fn workbook() -> Vec<u8> {
    use X::{D, E, N, S};
    let mut rows = vec![vec![
        S("external_id"),
        S("标题"),
        S("需求描述"),
        S("phone"),
        S("budget_cny"),
        S("deadline"),
        S("field"),
    ]];
    for i in 0..20 {
        rows.push(vec![
            N(f64::from(i)),
            S("锂电池隔膜涂覆工艺"),
            S("需要高孔隙率、耐高温的隔膜涂覆工艺"),
            N(13_971_234_567.0),
            if i % 3 == 0 { E } else { N(1_200_000.0) },
            D(2026, 12, 31),
            S("0805"),
        ]);
    }
    xlsx(&rows)
}

/// The parts of a zip, in order.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().unwrap().into_owned(), data)
        })
        .collect()
}

/// A zip of `parts`, stored uncompressed.
fn zip(parts: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in parts {
        w.start_file(name.as_str(), options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn the_intact_workbook_reads_every_row() {
    let book = workbook();
    assert_eq!(read_all(&book, Format::Xlsx, Kind::Demand, "the workbook"), Some(20));
    let repacked = zip(&unzip(&book));
    assert_eq!(read_all(&repacked, Format::Xlsx, Kind::Demand, "the re-packed workbook"), Some(20));
}

#[test]
fn flipped_and_truncated_workbook_bytes_never_panic() {
    let book = workbook();
    for cut in (0..book.len()).step_by(97) {
        read_all(&book[..cut], Format::Xlsx, Kind::Demand, &format!("the first {cut} bytes"));
    }
    let mut rng = Rng::new(1);
    for n in 0..400 {
        let mut bytes = book.clone();
        for _ in 0..1 + n % 4 {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        read_all(&bytes, Format::Xlsx, Kind::Demand, &format!("flip set {n}"));
    }
}

#[test]
fn damaged_xml_inside_a_valid_zip_never_panics() {
    let parts = unzip(&workbook());
    let xml: Vec<usize> = (0..parts.len()).filter(|&i| parts[i].0.ends_with(".xml")).collect();
    assert!(xml.iter().any(|&i| parts[i].0.contains("sheet1")), "a worksheet part");
    let mut rng = Rng::new(2);
    let mut refused = 0;
    for n in 0..600 {
        let mut damaged = parts.clone();
        let part = xml[rng.below(xml.len())];
        let data = &mut damaged[part].1;
        match n % 4 {
            // A byte changed to something XML cares about.
            0 => {
                let at = rng.below(data.len());
                data[at] = b"<>/\"'=&;0-9 \xff"[rng.below(13)];
            }
            // Truncated.
            1 => data.truncate(rng.below(data.len())),
            // A span deleted (a tag or attribute lost).
            2 => {
                let at = rng.below(data.len());
                let end = (at + 1 + rng.below(40)).min(data.len());
                data.drain(at..end);
            }
            // A span repeated (duplicated cells, rows or attributes).
            _ => {
                let at = rng.below(data.len());
                let end = (at + 1 + rng.below(80)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
        }
        let what = format!("case {n}: {} damaged", damaged[part].0);
        if read_all(&zip(&damaged), Format::Xlsx, Kind::Demand, &what).is_none() {
            refused += 1;
        }
    }
    // The damage reached the parsers: some files were refused, others read.
    assert!(refused > 0 && refused < 600, "{refused} of 600 refused");
}

#[test]
fn random_bytes_in_every_format_never_panic() {
    let mut rng = Rng::new(3);
    for n in 0..300 {
        let len = rng.below(2_000);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if n % 3 == 0 {
            // Mostly text, as a mangled CSV or JSONL would be.
            for b in &mut bytes {
                *b = b",\n\"{}:[]tx 0\r\xe9\x94\x82"[usize::from(*b) % 16];
            }
        }
        for format in [Format::Xlsx, Format::Csv, Format::Jsonl] {
            for kind in [Kind::Demand, Kind::Achievement, Kind::Expert] {
                read_all(&bytes, format, kind, &format!("random case {n} as {format:?}"));
            }
        }
    }
}
