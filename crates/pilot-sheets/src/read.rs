//! Reading a file of one bank as a stream of rows.
//!
//! CSV and JSONL are read record by record over a buffered reader, so a file of any size runs
//! in constant memory; an Excel workbook is loaded one worksheet at a time, because the xlsx
//! format has to be unzipped and parsed as a whole.
//!
//! The header row is looked for among the first rows of the sheet (staff often put a title
//! such as "2026年技术需求清单" above it), and in the first worksheet that has one.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use calamine::Reader as _;

use pilot_model::Kind;
use pilot_proto::pb;

use crate::cell::Cell;
use crate::columns::{self, Lookup, Slot, letter};
use crate::{Error, Format, Result, record};

/// How many non-empty rows at the top of a sheet may hold the header row.
const HEADER_SCAN_ROWS: usize = 10;

/// One data row of a file, already converted to an intake record (or refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Where the row is in the file: the spreadsheet row number for xlsx and CSV (the header
    /// is usually row 1, so the first data row is 2), the 1-based line number for JSONL.
    ///
    /// NB: numbers are not contiguous: empty rows are skipped without a `Row`.
    pub row: u32,
    /// The record, or every problem found with the row's cells (each naming its field).
    pub result: Result<pb::RecordInput, Vec<pb::FieldError>>,
}

/// An open file of one bank; iterate it for its rows.
///
/// Opening reads the header and fails on file-level problems (unsupported type, damaged file,
/// missing required column); after that every problem is reported on its row.
pub struct Sheet {
    /// The bank the rows are read as.
    pub kind: Kind,
    /// File-level notes for staff, e.g. ignored unknown columns (naming column letter and
    /// header), or which worksheet was used.
    pub warnings: Vec<String>,
    source: Source,
    hint: Option<u64>,
}

impl std::fmt::Debug for Sheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sheet")
            .field("kind", &self.kind)
            .field("warnings", &self.warnings)
            .field("total_rows_hint", &self.hint)
            .finish_non_exhaustive()
    }
}

enum Source {
    Table { grid: Grid, slots: Vec<Option<Slot>> },
    Jsonl(Jsonl),
    Done,
}

impl Sheet {
    /// Opens a file, with its format taken from the extension (see [`Format::from_path`]).
    pub fn open(path: &Path, kind: Kind) -> Result<Sheet> {
        let format = Format::from_path(path).ok_or_else(|| {
            Error::UnsupportedFormat(
                path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            )
        })?;
        match format {
            Format::Xlsx => Sheet::from_bytes(std::fs::read(path)?, format, kind),
            Format::Csv | Format::Jsonl => {
                // NB: counting lines reads the file once more, but it is a cheap sequential
                // pass that keeps nothing, and it gives the progress bar its total.
                let lines = count_lines(File::open(path)?)?;
                let file = File::open(path)?;
                if format == Format::Csv {
                    Sheet::csv(Box::new(file), kind, lines)
                } else {
                    Ok(Sheet::jsonl(Box::new(BufReader::with_capacity(1 << 16, file)), kind, lines))
                }
            }
        }
    }

    /// Reads a file already in memory, e.g. an HTTP upload.
    pub fn from_bytes(bytes: Vec<u8>, format: Format, kind: Kind) -> Result<Sheet> {
        match format {
            Format::Xlsx => Sheet::workbook(&bytes, kind),
            Format::Csv => {
                let lines = count_lines(bytes.as_slice())?;
                Sheet::csv(Box::new(Cursor::new(bytes)), kind, lines)
            }
            Format::Jsonl => {
                let lines = count_lines(bytes.as_slice())?;
                Ok(Sheet::jsonl(Box::new(Cursor::new(bytes)), kind, lines))
            }
        }
    }

    /// About how many data rows the file has, for a progress bar: exact for xlsx (the sheet's
    /// height below the header, empty rows included), the number of lines for CSV and JSONL
    /// (an upper bound when cells span several lines).
    pub fn total_rows_hint(&self) -> Option<u64> {
        self.hint
    }

    fn workbook(bytes: &[u8], kind: Kind) -> Result<Sheet> {
        let invalid = |e: calamine::Error| Error::InvalidFile {
            format: "an excel workbook",
            reason: e.to_string().to_lowercase(),
        };
        let damaged = |what: &str| Error::InvalidFile {
            format: "an excel workbook",
            reason: format!("its {what} is damaged"),
        };
        let mut book = parse(|| calamine::open_workbook_auto_from_rs(Cursor::new(bytes)))
            .ok_or_else(|| damaged("structure"))?
            .map_err(invalid)?;
        let lookup = Lookup::new(kind);
        let mut failure: Option<Error> = None;
        for (i, name) in book.sheet_names().into_iter().enumerate() {
            let range = match parse(|| book.worksheet_range(&name)) {
                Some(Ok(range)) => range,
                Some(Err(e)) => {
                    failure.get_or_insert(invalid(e));
                    continue;
                }
                // The parser cannot be trusted with this workbook any more.
                None => return Err(damaged(&format!("worksheet {name:?}"))),
            };
            let mut grid = Grid::Xlsx(XlsxGrid::new(range));
            match Header::find(&mut grid, kind, &lookup) {
                Ok(mut header) => {
                    if i > 0 {
                        header.warnings.insert(
                            0,
                            format!(
                                "read worksheet {name:?}: the worksheets before it have no {kind} header row"
                            ),
                        );
                    }
                    let Grid::Xlsx(x) = &grid else { unreachable!("built as xlsx above") };
                    let hint = u64::try_from(x.range.height().saturating_sub(x.next)).ok();
                    return Ok(Sheet::table(kind, grid, header, hint));
                }
                // Prefer the most useful failure: a missing column over an empty sheet.
                Err(e) => match failure {
                    None | Some(Error::Empty) => failure = Some(e),
                    Some(_) => {}
                },
            }
        }
        Err(failure.unwrap_or(Error::Empty))
    }

    fn csv(reader: Box<dyn Read + Send>, kind: Kind, lines: u64) -> Result<Sheet> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(Box::new(Newlines::new(reader)) as Box<dyn Read + Send>);
        let mut grid = Grid::Csv(CsvGrid { reader, record: csv::ByteRecord::new(), row: 0 });
        let header = Header::find(&mut grid, kind, &Lookup::new(kind))?;
        let Grid::Csv(c) = &grid else { unreachable!("built as csv above") };
        let hint = lines.saturating_sub(u64::from(c.row));
        Ok(Sheet::table(kind, grid, header, Some(hint)))
    }

    fn jsonl(reader: Box<dyn BufRead + Send>, kind: Kind, lines: u64) -> Sheet {
        Sheet {
            kind,
            warnings: Vec::new(),
            source: Source::Jsonl(Jsonl {
                reader,
                kind,
                lookup: Lookup::new(kind),
                line: 0,
                buf: Vec::new(),
            }),
            hint: Some(lines),
        }
    }

    fn table(kind: Kind, grid: Grid, header: Header, hint: Option<u64>) -> Sheet {
        Sheet {
            kind,
            warnings: header.warnings,
            source: Source::Table { grid, slots: header.slots },
            hint,
        }
    }
}

impl Iterator for Sheet {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let mut row = self.next_raw()?;
        if let Err(errors) = &mut row.result {
            for e in errors {
                if e.message_zh.is_empty() {
                    e.message_zh =
                        crate::columns::message_zh(self.kind, &e.field, &e.key, &e.message);
                }
            }
        }
        Some(row)
    }
}

impl Sheet {
    /// The next row before Chinese messages are added.
    fn next_raw(&mut self) -> Option<Row> {
        static EMPTY: Cell = Cell::Empty;
        match &mut self.source {
            Source::Done => None,
            Source::Jsonl(j) => {
                let row = j.next_row();
                if row.as_ref().is_none_or(|r| r.is_cut_off()) {
                    self.source = Source::Done;
                }
                row
            }
            Source::Table { grid, slots } => loop {
                let (row, cells) = match grid.next_row() {
                    None => {
                        self.source = Source::Done;
                        return None;
                    }
                    Some(Err(reason)) => {
                        let row = grid.last_row().saturating_add(1);
                        self.source = Source::Done;
                        return Some(Row::cut_off(row, reason));
                    }
                    Some(Ok(r)) => r,
                };
                let mapped = || {
                    slots.iter().enumerate().filter_map(|(i, slot)| {
                        slot.map(|slot| (slot, cells.get(i).unwrap_or(&EMPTY)))
                    })
                };
                // NB: only recognised columns count: a row whose only content is in an
                // ignored column (a remark, a total) is skipped like an empty row.
                if mapped().all(|(_, c)| c.is_blank()) {
                    continue;
                }
                return Some(Row { row, result: record::build(self.kind, mapped()) });
            },
        }
    }
}

impl Row {
    fn cut_off(row: u32, reason: String) -> Row {
        Row {
            row,
            result: Err(vec![pb::FieldError {
                field: String::new(),
                key: "unreadable_row".to_owned(),
                message: format!("the rest of the file cannot be read: {reason}"),
                ..Default::default()
            }]),
        }
    }

    fn is_cut_off(&self) -> bool {
        matches!(&self.result, Err(e) if e.iter().any(|e| e.key == "unreadable_row"))
    }
}

/// Counts lines: newline characters, plus one for a last line without one.
fn count_lines(mut r: impl Read) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    Ok(lines + u64::from(last != b'\n'))
}

// === tables: xlsx and csv ===

/// Rows of cells from a worksheet or a CSV file.
enum Grid {
    Xlsx(XlsxGrid),
    Csv(CsvGrid),
}

struct XlsxGrid {
    range: calamine::Range<calamine::Data>,
    /// The next row, relative to the range.
    next: usize,
    /// The range's first row and column, 0-based.
    start: (u32, u32),
}

struct CsvGrid {
    reader: csv::Reader<Box<dyn Read + Send>>,
    record: csv::ByteRecord,
    /// The spreadsheet row number of the last record read.
    row: u32,
}

impl XlsxGrid {
    fn new(range: calamine::Range<calamine::Data>) -> XlsxGrid {
        let start = range.start().unwrap_or((0, 0));
        XlsxGrid { range, next: 0, start }
    }
}

impl Grid {
    /// The next row: its spreadsheet row number and its cells from column A (or from the
    /// first used column for xlsx; see [`Grid::first_column`]).
    fn next_row(&mut self) -> Option<Result<(u32, Vec<Cell>), String>> {
        match self {
            Grid::Xlsx(x) => {
                let (height, width) = x.range.get_size();
                if x.next >= height {
                    return None;
                }
                let cells = (0..width)
                    .map(|c| x.range.get((x.next, c)).map_or(Cell::Empty, Cell::from_data))
                    .collect();
                let row = x.start.0.saturating_add(u32::try_from(x.next + 1).unwrap_or(u32::MAX));
                x.next += 1;
                Some(Ok((row, cells)))
            }
            Grid::Csv(c) => match c.reader.read_byte_record(&mut c.record) {
                Ok(false) => None,
                Err(e) => Some(Err(e.to_string().to_lowercase())),
                Ok(true) => {
                    // Blank lines are skipped by the CSV reader but are rows in a spreadsheet;
                    // count them so that row numbers match what staff see in Excel. Reading
                    // began on line `start` (right after the previous record); the record ends
                    // with a newline (see `Newlines`) before line `after`, and spans
                    // `own` lines, so the lines in between were blank.
                    let start = c.record.position().map_or(1, |p| p.line());
                    let after = c.reader.position().line();
                    let breaks = c.record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
                    let blank = after.saturating_sub(breaks + 1).saturating_sub(start);
                    let skipped = u32::try_from(blank).unwrap_or(u32::MAX);
                    c.row = c.row.saturating_add(1).saturating_add(skipped);
                    let cells = c
                        .record
                        .iter()
                        .map(|b| match decode(b) {
                            s if s.is_empty() => Cell::Empty,
                            s => Cell::Text(s),
                        })
                        .collect();
                    Some(Ok((c.row, cells)))
                }
            },
        }
    }

    /// The 0-based column index of the first cell of each row.
    fn first_column(&self) -> usize {
        match self {
            Grid::Xlsx(x) => x.start.1 as usize,
            Grid::Csv(_) => 0,
        }
    }

    /// The row number of the last row read.
    fn last_row(&self) -> u32 {
        match self {
            Grid::Xlsx(x) => x.start.0.saturating_add(u32::try_from(x.next).unwrap_or(u32::MAX)),
            Grid::Csv(c) => c.row,
        }
    }
}

/// Decodes a CSV cell: UTF-8, or GB18030 (a superset of GBK), which is what Excel on a
/// Chinese Windows writes for "CSV (逗号分隔)". Both keep commas, quotes and newlines as
/// single bytes, so the cell boundaries found on bytes are right for either.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.trim_start_matches('\u{feff}').to_owned(),
        Err(_) => encoding_rs::GB18030.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

/// Normalises line ends for the CSV reader: CR LF and lone CR become LF, and a missing
/// newline at the end is added, so that every record ends with exactly one `\n` and its line
/// numbers can be counted.
///
/// NB: CR and LF never occur inside a multi-byte UTF-8 or GB18030 character, so this is safe
/// on the raw bytes.
struct Newlines<R> {
    inner: R,
    /// The previous byte was a CR, now written as LF: drop an LF that follows.
    after_cr: bool,
    /// The last byte handed out.
    last: u8,
    done: bool,
}

impl<R: Read> Newlines<R> {
    fn new(inner: R) -> Newlines<R> {
        Newlines { inner, after_cr: false, last: b'\n', done: false }
    }
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(buf)?;
            if n == 0 {
                self.done = true;
                if self.last == b'\n' {
                    return Ok(0);
                }
                buf[0] = b'\n';
                self.last = b'\n';
                return Ok(1);
            }
            let mut w = 0;
            for r in 0..n {
                let b = buf[r];
                if std::mem::take(&mut self.after_cr) && b == b'\n' {
                    continue;
                }
                if b == b'\r' {
                    buf[w] = b'\n';
                    self.after_cr = true;
                } else {
                    buf[w] = b;
                }
                w += 1;
            }
            if w > 0 {
                self.last = buf[w - 1];
                return Ok(w);
            }
        }
    }
}

/// The header row's outcome: where each column goes, and what was ignored.
struct Header {
    slots: Vec<Option<Slot>>,
    warnings: Vec<String>,
}

impl Header {
    /// Reads rows until one holds the bank's required columns, among the first
    /// [`HEADER_SCAN_ROWS`] non-empty rows.
    fn find(grid: &mut Grid, kind: Kind, lookup: &Lookup) -> Result<Header> {
        let first_col = grid.first_column();
        let required = columns::required(kind);
        // The candidate with the most recognised columns, for the error message.
        let mut best: Option<(usize, &'static columns::Column)> = None;
        let mut first_row = None;
        for _ in 0..HEADER_SCAN_ROWS {
            let (row, cells) = loop {
                match grid.next_row() {
                    None => return Err(best.map_or(Error::Empty, missing)),
                    Some(Err(reason)) => {
                        return Err(Error::InvalidFile { format: "csv", reason });
                    }
                    Some(Ok((row, cells))) if cells.iter().any(|c| !c.is_blank()) => {
                        break (row, cells);
                    }
                    Some(Ok(_)) => {}
                }
            };
            let first_row = *first_row.get_or_insert(row);
            let names: Vec<String> =
                cells.iter().map(|c| crate::cell::text(c, 0).unwrap_or_default()).collect();
            let slots: Vec<Option<Slot>> = names.iter().map(|n| lookup.resolve(n)).collect();
            let found =
                |col: &columns::Column| slots.iter().flatten().any(|s| s.column.field == col.field);
            match required.iter().find(|c| !found(c)) {
                None => return Ok(Header::build(kind, row, first_row, first_col, &names, slots)),
                Some(&absent) => {
                    let recognised = slots.iter().flatten().count();
                    if best.is_none_or(|(n, _)| recognised > n) {
                        best = Some((recognised, absent));
                    }
                }
            }
        }
        Err(best.map_or(Error::Empty, missing))
    }

    fn build(
        kind: Kind,
        row: u32,
        first_row: u32,
        first_col: usize,
        names: &[String],
        mut slots: Vec<Option<Slot>>,
    ) -> Header {
        let mut warnings = Vec::new();
        if row != first_row {
            warnings.push(format!("row {row} is the header row; the rows above it were ignored"));
        }
        for i in 0..slots.len() {
            let col = letter(first_col + i);
            let name = names[i].trim();
            match slots[i] {
                None if !name.is_empty() => warnings.push(format!(
                    "column {col} {name:?} is not a known {kind} column and was ignored"
                )),
                None => {}
                Some(slot) => {
                    if let Some(j) = slots[..i]
                        .iter()
                        .position(|s| s.is_some_and(|s| s.column.field == slot.column.field))
                    {
                        warnings.push(format!(
                            "column {col} {name:?} repeats {} (column {}) and was ignored",
                            slot.column.name,
                            letter(first_col + j)
                        ));
                        slots[i] = None;
                    }
                }
            }
        }
        Header { slots, warnings }
    }
}

fn missing((_, column): (usize, &'static columns::Column)) -> Error {
    Error::MissingColumn { column: column.name, label: column.aliases[0] }
}

// === jsonl ===

/// Objects, one per line.
struct Jsonl {
    reader: Box<dyn BufRead + Send>,
    kind: Kind,
    lookup: Lookup,
    /// The 1-based number of the last line read.
    line: u32,
    buf: Vec<u8>,
}

impl Jsonl {
    fn next_row(&mut self) -> Option<Row> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    return Some(Row::cut_off(self.line.saturating_add(1), e.to_string()));
                }
            }
            self.line = self.line.saturating_add(1);
            let mut bytes = self.buf.trim_ascii();
            if self.line == 1 {
                bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
            }
            if bytes.is_empty() {
                continue;
            }
            let row = self.line;
            let error = |key: &str, message: String| pb::FieldError {
                field: String::new(),
                key: key.to_owned(),
                message,
                ..Default::default()
            };
            let object = match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(_) => {
                    let e = error("invalid_json", "invalid json: expected an object".to_owned());
                    return Some(Row { row, result: Err(vec![e]) });
                }
                Err(e) => {
                    let msg = e.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or_default();
                    let e = error(
                        "invalid_json",
                        format!("invalid json at column {}: {msg}", e.column()),
                    );
                    return Some(Row { row, result: Err(vec![e]) });
                }
            };
            let mut errors = Vec::new();
            let mut cells: Vec<(Slot, Cell)> = Vec::with_capacity(object.len());
            for (key, value) in object {
                match self.lookup.resolve(&key) {
                    None => errors.push(pb::FieldError {
                        message: format!("unknown field {key:?}"),
                        field: key,
                        key: "unknown_field".to_owned(),
                        ..Default::default()
                    }),
                    Some(slot)
                        if cells.iter().any(|(s, _)| s.column.field == slot.column.field) =>
                    {
                        errors.push(pb::FieldError {
                            message: format!("{key:?} repeats {}", slot.column.name),
                            field: slot.column.name.to_owned(),
                            key: "duplicate_field".to_owned(),
                            ..Default::default()
                        });
                    }
                    Some(slot) => cells.push((slot, Cell::from_json(value))),
                }
            }
            if errors.is_empty() && cells.iter().all(|(_, c)| c.is_blank()) {
                continue;
            }
            let result = match record::build(self.kind, cells.iter().map(|(s, c)| (*s, c))) {
                Ok(r) if errors.is_empty() => Ok(r),
                Ok(_) => Err(errors),
                Err(e) => {
                    errors.extend(e);
                    Err(errors)
                }
            };
            return Some(Row { row, result });
        }
    }
}

/// Runs one call into the workbook parser: its result, or `None` if it panicked.
///
/// NB: calamine is not hardened against every damaged file: a cell reference too long for its
/// arithmetic (found by `tests/corrupt.rs`) overflows, which panics wherever overflow checks
/// are on. A damaged upload must be refused with an error, not take the node's request down,
/// so a panic is caught here and the workbook is not touched again.
fn parse<T>(call: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_csv(csv: &str, kind: Kind) -> (Sheet, Vec<Row>) {
        let mut sheet = Sheet::from_bytes(csv.as_bytes().to_vec(), Format::Csv, kind).unwrap();
        let rows = sheet.by_ref().collect();
        (sheet, rows)
    }

    #[test]
    fn csv_row_numbers_count_blank_lines_and_multiline_cells() {
        let (_, rows) = read_csv(
            "title,description\n\"a\",\"line one\nline two\"\n\nb,c\n,\nd,e\n",
            Kind::Demand,
        );
        let got: Vec<u32> = rows.iter().map(|r| r.row).collect();
        // Row 2 spans two lines, line 4 is blank (row 3), "b,c" is row 4, row 5 is empty.
        assert_eq!(got, [2, 4, 6]);
        for data in [
            "title,description\r\n\"a\",\"line one\r\nline two\"\r\n\r\nb,c\r\n,\r\nd,e",
            "title,description\r\"a\",\"line one\rline two\"\r\rb,c\r,\r\rd,e\n",
        ] {
            let (_, rows) = read_csv(data, Kind::Demand);
            let got: Vec<u32> = rows.iter().map(|r| r.row).collect();
            assert_eq!(got[..2], [2, 4], "{data:?}");
        }
        let (_, rows) = read_csv("title,description\n\nx,y", Kind::Demand);
        assert_eq!(rows[0].row, 3);
        let Some(pb::record_input::Body::Demand(d)) = &rows[0].result.as_ref().unwrap().body else {
            panic!("not a demand")
        };
        assert_eq!(d.description, "y");
    }

    #[test]
    fn newlines_are_normalised_across_buffer_boundaries() {
        let mut out = Vec::new();
        let input: &[u8] = b"a\r\nb\rc\r\n\r\nd";
        Newlines::new(input).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a\nb\nc\n\nd\n");
        // One byte at a time, so that a CR and its LF arrive in different reads.
        let mut out = Vec::new();
        Newlines::new(OneByte(input)).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a\nb\nc\n\nd\n");
    }

    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn header_may_sit_below_a_title_row() {
        let (sheet, rows) =
            read_csv("2026年技术需求清单,,\n需求名称,需求描述,备注\nx,y,z\n", Kind::Demand);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 3);
        assert_eq!(
            sheet.warnings,
            [
                "row 2 is the header row; the rows above it were ignored",
                "column C \"备注\" is not a known demand column and was ignored"
            ]
        );
    }

    #[test]
    fn repeated_columns_are_ignored_with_a_warning() {
        let (sheet, rows) = read_csv("name,summary,简介\n张三,研究方向,另一段\n", Kind::Expert);
        assert_eq!(
            sheet.warnings,
            ["column C \"简介\" repeats summary (column B) and was ignored"]
        );
        let Some(pb::record_input::Body::Expert(e)) = &rows[0].result.as_ref().unwrap().body else {
            panic!("not an expert")
        };
        assert_eq!(e.summary, "研究方向");
    }

    #[test]
    fn gbk_csv_is_decoded() {
        let (bytes, _, _) = encoding_rs::GBK.encode("需求名称,需求描述\n锂电池隔膜,高孔隙率\n");
        let mut sheet = Sheet::from_bytes(bytes.into_owned(), Format::Csv, Kind::Demand).unwrap();
        let row = sheet.next().unwrap();
        let Some(pb::record_input::Body::Demand(d)) = row.result.unwrap().body else {
            panic!("not a demand")
        };
        assert_eq!((d.title.as_str(), d.description.as_str()), ("锂电池隔膜", "高孔隙率"));
    }

    #[test]
    fn jsonl_rejects_duplicates_and_skips_empty_objects() {
        let data = "{}\n{\"title\":\"a\",\"标题\":\"b\",\"description\":\"c\"}\n";
        let sheet = Sheet::from_bytes(data.into(), Format::Jsonl, Kind::Demand).unwrap();
        let rows: Vec<Row> = sheet.collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 2);
        let errs = rows[0].result.as_ref().unwrap_err();
        assert_eq!(errs[0].key, "duplicate_field");
    }

    #[test]
    fn a_sheet_can_move_to_a_blocking_task() {
        fn send<T: Send + 'static>() {}
        send::<Sheet>();
        send::<Row>();
    }

    #[test]
    fn line_counts() {
        assert_eq!(count_lines(&b""[..]).unwrap(), 0);
        assert_eq!(count_lines(&b"a"[..]).unwrap(), 1);
        assert_eq!(count_lines(&b"a\nb\n"[..]).unwrap(), 2);
        assert_eq!(count_lines(&b"a\nb"[..]).unwrap(), 2);
    }
}
