//! Cell values and their syntax: turning what a spreadsheet, CSV or JSON line holds into text,
//! lists, amounts, levels, dates and statuses.
//!
//! Only syntax is checked here. Whether a discipline, industry or mode exists, or whether a
//! date is on the calendar, is the node's call, so that one place owns the vocabularies.

use pilot_model::Status;
use pilot_proto::pb;

use crate::columns::halfwidth;

/// One cell as read from any format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// Nothing in the cell.
    Empty,
    /// Text as typed.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number; whole numbers from Excel usually come as floats.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An Excel date cell.
    Date {
        /// Four-digit year.
        year: u16,
        /// Month, 1-12.
        month: u8,
        /// Day, 1-31.
        day: u8,
    },
    /// A date or date-time in ISO 8601, as OpenDocument files store them.
    IsoDateTime(String),
    /// A JSON array, with each item already written as text.
    List(Vec<String>),
    /// A cell that holds no usable value (an Excel error such as `#N/A`, or a JSON value of
    /// the wrong type); the string says what it holds.
    Invalid(String),
}

impl Cell {
    /// Whether the cell holds nothing but whitespace.
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) | Cell::IsoDateTime(s) => s.trim().is_empty(),
            Cell::List(items) => items.iter().all(|s| s.trim().is_empty()),
            _ => false,
        }
    }

    /// Converts a calamine cell.
    pub(crate) fn from_data(d: &calamine::Data) -> Cell {
        use calamine::Data;
        match d {
            Data::Empty => Cell::Empty,
            Data::String(s) => Cell::Text(s.clone()),
            Data::Int(i) => Cell::Int(*i),
            Data::Float(f) => Cell::Float(*f),
            Data::Bool(b) => Cell::Bool(*b),
            Data::DateTime(dt) if dt.is_datetime() => {
                let (year, month, day, ..) = dt.to_ymd_hms_milli();
                Cell::Date { year, month, day }
            }
            Data::DateTime(dt) => Cell::Float(dt.as_f64()),
            Data::DateTimeIso(s) => Cell::IsoDateTime(s.clone()),
            Data::DurationIso(s) => Cell::Text(s.clone()),
            Data::Error(e) => Cell::Invalid(format!("the excel error {e}")),
        }
    }

    /// Converts a JSON value.
    pub(crate) fn from_json(v: serde_json::Value) -> Cell {
        use serde_json::Value;
        match v {
            Value::Null => Cell::Empty,
            Value::String(s) => Cell::Text(s),
            Value::Bool(b) => Cell::Bool(b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Cell::Int(i),
                (None, Some(f)) => Cell::Float(f),
                (None, None) => Cell::Invalid(format!("the number {n}")),
            },
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        Value::Number(n) => out.push(n.to_string()),
                        Value::Null => {}
                        other => {
                            return Cell::Invalid(format!(
                                "a list containing {}",
                                json_type(&other)
                            ));
                        }
                    }
                }
                Cell::List(out)
            }
            Value::Object(_) => Cell::Invalid("an object".to_owned()),
        }
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Why a cell was refused: a stable key (`pb::FieldError::key`) and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The stable message key, e.g. `invalid_number`.
    pub(crate) key: &'static str,
    /// What is wrong, lowercase, without the field name.
    pub(crate) reason: String,
}

impl Problem {
    fn new(key: &'static str, reason: String) -> Problem {
        Problem { key, reason }
    }

    /// The wire form, naming the field.
    pub(crate) fn into_pb(self, field: &str) -> pb::FieldError {
        pb::FieldError {
            field: field.to_owned(),
            key: self.key.to_owned(),
            message: format!("invalid {field}: {}", self.reason),
            ..Default::default()
        }
    }
}

type Parsed<T> = Result<T, Problem>;

fn invalid_value(what: &str, expected: &str) -> Problem {
    Problem::new("invalid_value", format!("the cell holds {what}, expected {expected}"))
}

/// Zero-pads a digit string that lost its leading zeros in Excel.
fn pad_digits(s: String, pad: usize) -> String {
    if pad > 0 && s.len() < pad && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{s:0>pad$}")
    } else {
        s
    }
}

/// Writes a number the way it reads in the cell: `13971234567`, not `13971234567.0` or
/// `1.3971234567e10` (Rust's `Display` for floats never uses an exponent).
fn number_text(f: f64) -> String {
    if f == 0.0 { "0".to_owned() } else { f.to_string() }
}

fn ymd(year: u16, month: u8, day: u8) -> String {
    format!("{year:04}-{month:02}-{day:02}")
}

/// Parses a text cell, trimmed; numbers are written out in full and padded to `pad` digits.
pub(crate) fn text(cell: &Cell, pad: usize) -> Parsed<String> {
    Ok(match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) => pad_digits(s.trim().to_owned(), pad),
        Cell::Int(i) => pad_digits(i.to_string(), pad),
        Cell::Float(f) => pad_digits(number_text(*f), pad),
        Cell::Bool(b) => b.to_string(),
        Cell::Date { year, month, day } => ymd(*year, *month, *day),
        Cell::IsoDateTime(s) => s.trim().to_owned(),
        Cell::List(_) => return Err(invalid_value("a list", "a single value")),
        Cell::Invalid(what) => return Err(invalid_value(what, "text")),
    })
}

/// The separators between list items: semicolons, commas and the enumeration comma in both
/// widths, vertical bars and line breaks.
const LIST_SEPARATORS: [char; 8] = [';', '；', ',', '，', '、', '|', '\n', '\r'];

/// Splits a list cell into trimmed, non-empty items.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(LIST_SEPARATORS).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// Re-joins items that the enumeration comma split out of a vocabulary label: national labels
/// contain 、 themselves (图书馆、情报与档案管理; 农、林、牧、渔专业及辅助性活动), and staff
/// paste them whole. The longest run of items whose 、-join is a known label wins.
fn merge_labels(items: Vec<String>, is_label: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::with_capacity(items.len());
    let mut i = 0;
    while i < items.len() {
        let merged = (i + 1..items.len()).rev().find_map(|j| {
            let joined = items[i..=j].join("、");
            is_label(&joined).then_some((j, joined))
        });
        match merged {
            Some((j, joined)) => {
                out.push(joined);
                i = j + 1;
            }
            None => {
                out.push(items[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// Parses a list cell; JSON arrays are taken item by item, without splitting.
///
/// Discipline (`pad` 4) and industry (`pad` 2) lists keep vocabulary labels that contain 、 whole.
pub(crate) fn list(cell: &Cell, pad: usize) -> Parsed<Vec<String>> {
    Ok(match cell {
        Cell::Text(s) => {
            let items = split_list(s);
            let items = match pad {
                4 => merge_labels(items, |l| pilot_model::FieldCode::parse(l).is_ok()),
                2 => merge_labels(items, |l| pilot_model::IndustryCode::parse(l).is_ok()),
                _ => items,
            };
            items.into_iter().map(|t| pad_digits(t, pad)).collect()
        }
        Cell::List(items) => items
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(|t| pad_digits(t.to_owned(), pad))
            .collect(),
        Cell::Empty => Vec::new(),
        Cell::Invalid(what) => return Err(invalid_value(what, "a list")),
        other => vec![text(other, pad)?],
    })
}

/// Parses an amount of yuan; `scale` is the header's unit (10,000 for a `（万元）` column).
pub(crate) fn money(cell: &Cell, scale: u64) -> Parsed<Option<u64>> {
    let bad = |raw: String| {
        Problem::new("invalid_number", format!("{raw:?} is not a whole amount of yuan"))
    };
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(s) if s.trim().is_empty() => Ok(None),
        Cell::Text(s) => parse_amount(s, scale, true).map(Some).ok_or_else(|| bad(s.clone())),
        Cell::Int(i) => u64::try_from(*i)
            .ok()
            .and_then(|v| v.checked_mul(scale))
            .map(Some)
            .ok_or_else(|| bad(i.to_string())),
        Cell::Float(f) if f.is_finite() && *f >= 0.0 => {
            let s = number_text(*f);
            parse_amount(&s, scale, false).map(Some).ok_or_else(|| bad(s))
        }
        Cell::Float(f) => Err(bad(f.to_string())),
        Cell::List(_) => Err(invalid_value("a list", "a number")),
        Cell::Invalid(what) => Err(invalid_value(what, "a number")),
        other => Err(bad(text(other, 0)?)),
    }
}

/// Parses an amount such as `1,200,000`, `１２０万`, `12.5万元`, `¥3000` or `0.8亿`.
///
/// With `units` false (numeric cells) only digits and a decimal point are accepted. The result
/// must be a whole number of yuan: `12.5万` is 125,000, but `12.5` is refused.
pub(crate) fn parse_amount(s: &str, scale: u64, units: bool) -> Option<u64> {
    let t: String = s.chars().map(halfwidth).filter(|c| !c.is_whitespace()).collect();
    let mut t = t.as_str();
    let mut unit = scale;
    if units {
        t = t.strip_prefix('¥').unwrap_or(t);
        for (suffix, mult) in [
            ("亿元", 100_000_000),
            ("亿", 100_000_000),
            ("万元", 10_000),
            ("万", 10_000),
            ("元", 1),
        ] {
            if let Some(rest) = t.strip_suffix(suffix) {
                // A unit in the cell overrides the header's unit.
                unit = mult;
                t = rest;
                break;
            }
        }
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let int = if int.contains(',') {
        let mut groups = int.split(',');
        let first = groups.next().unwrap_or_default();
        if first.is_empty() || first.len() > 3 || !groups.all(|g| g.len() == 3) {
            return None;
        }
        int.replace(',', "")
    } else {
        int.to_owned()
    };
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(&int) || !digits(frac) || int.len() > 30 {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 20 {
        return None;
    }
    let whole: u128 = int.parse().ok()?;
    let unit = u128::from(unit);
    let mut total = whole.checked_mul(unit)?;
    if !frac.is_empty() {
        let f: u128 = frac.parse().ok()?;
        let den = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
        let num = f.checked_mul(unit)?;
        if num % den != 0 {
            return None;
        }
        total = total.checked_add(num / den)?;
    }
    u64::try_from(total).ok()
}

/// Parses a readiness level: `6`, `TRL 6`, `６级`; empty means unknown (0).
pub(crate) fn level(cell: &Cell) -> Parsed<u32> {
    let bad =
        |raw: String| Problem::new("invalid_number", format!("{raw:?} is not a whole number"));
    match cell {
        Cell::Empty => Ok(0),
        Cell::Text(s) => {
            let t: String = s.chars().map(halfwidth).collect();
            let t = t.trim();
            if t.is_empty() {
                return Ok(0);
            }
            let t = match t.get(..3) {
                Some(p) if p.eq_ignore_ascii_case("trl") => &t[3..],
                _ => t,
            };
            let t = t.trim().strip_suffix('级').unwrap_or(t.trim()).trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(s.clone()));
            }
            t.parse().map_err(|_| bad(s.clone()))
        }
        Cell::Int(i) => u32::try_from(*i).map_err(|_| bad(i.to_string())),
        Cell::Float(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f) => {
            Ok(number_text(*f).parse().map_err(|_| bad(f.to_string()))?)
        }
        Cell::Float(f) => Err(bad(f.to_string())),
        Cell::List(_) => Err(invalid_value("a list", "a number")),
        Cell::Invalid(what) => Err(invalid_value(what, "a number")),
        other => Err(bad(text(other, 0)?)),
    }
}

/// Parses a date into `YYYY-MM-DD`; empty means none.
pub(crate) fn date(cell: &Cell) -> Parsed<String> {
    let bad = |raw: String| {
        Problem::new("invalid_date", format!("{raw:?} is not a date like 2026-12-31"))
    };
    match cell {
        Cell::Empty => Ok(String::new()),
        Cell::Date { year, month, day } => Ok(ymd(*year, *month, *day)),
        Cell::Text(s) | Cell::IsoDateTime(s) if s.trim().is_empty() => Ok(String::new()),
        Cell::Text(s) | Cell::IsoDateTime(s) => parse_date(s).ok_or_else(|| bad(s.clone())),
        Cell::Int(i) => number_date(*i as f64).ok_or_else(|| bad(i.to_string())),
        Cell::Float(f) => number_date(*f).ok_or_else(|| bad(number_text(*f))),
        Cell::List(_) => Err(invalid_value("a list", "a date")),
        Cell::Invalid(what) => Err(invalid_value(what, "a date")),
        Cell::Bool(b) => Err(bad(b.to_string())),
    }
}

/// A date typed as a number: `20261231`, or an Excel serial day (1900 date system) from a cell
/// that was not formatted as a date.
fn number_date(v: f64) -> Option<String> {
    if !v.is_finite() || v < 1.0 {
        return None;
    }
    if v.fract() == 0.0 && (19_000_101.0..=29_991_231.0).contains(&v) {
        return parse_date(&number_text(v));
    }
    if v < 2_958_466.0 {
        let dt = calamine::ExcelDateTime::new(v, calamine::ExcelDateTimeType::DateTime, false);
        let (year, month, day, ..) = dt.to_ymd_hms_milli();
        return Some(ymd(year, month, day));
    }
    None
}

/// Normalises `2026-12-31`, `2026/1/5`, `2026.12.31`, `2026年12月31日`, `20261231` and
/// date-times such as `2026-12-31 18:00` or `2026-12-31T00:00:00` to `YYYY-MM-DD`.
///
/// Only the shape is checked (four-digit year, one- or two-digit month and day); the node
/// checks the calendar.
pub(crate) fn parse_date(s: &str) -> Option<String> {
    let t: String = s.chars().map(halfwidth).collect();
    let t = t.trim();
    // Drop a time of day.
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    let t = t.strip_suffix(['日', '号']).unwrap_or(t);
    let digits = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if digits(t, 8, 8) {
        return Some(format!("{}-{}-{}", &t[..4], &t[4..6], &t[6..]));
    }
    let mut parts = t.split(['-', '/', '.', '年', '月']);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !digits(y, 4, 4) || !digits(m, 1, 2) || !digits(d, 1, 2) {
        return None;
    }
    Some(format!("{y}-{m:0>2}-{d:0>2}"))
}

/// Parses a status code or label into its wire value; empty means unspecified (0).
pub(crate) fn status(cell: &Cell) -> Parsed<i32> {
    let s = text(cell, 0)?;
    if s.is_empty() {
        return Ok(pb::Status::Unspecified as i32);
    }
    Status::parse(&s).map(|s| pb::Status::from(s) as i32).map_err(|_| {
        let codes: Vec<_> = Status::ALL.iter().map(|s| s.code()).collect();
        Problem::new("invalid_status", format!("{s:?} is not one of {}", codes.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_labels_with_enumeration_commas_stay_whole() {
        let fields = list(&Cell::Text("0812、图书馆、情报与档案管理；数学".into()), 4).unwrap();
        assert_eq!(fields, ["0812", "图书馆、情报与档案管理", "数学"]);
        let industries = list(&Cell::Text("农、林、牧、渔专业及辅助性活动、39".into()), 2).unwrap();
        assert_eq!(industries, ["农、林、牧、渔专业及辅助性活动", "39"]);
        // Other lists split as before.
        assert_eq!(list(&Cell::Text("隔膜、涂覆".into()), 0).unwrap(), ["隔膜", "涂覆"]);
    }

    #[test]
    fn lists_split_on_every_separator() {
        assert_eq!(
            split_list(" 人工智能；机器视觉,图像识别，深度学习、 大模型|芯片\n传感器;; "),
            ["人工智能", "机器视觉", "图像识别", "深度学习", "大模型", "芯片", "传感器"]
        );
        assert_eq!(list(&Cell::Float(812.0), 4).unwrap(), ["0812"]);
        assert_eq!(list(&Cell::Text("812；0702".into()), 4).unwrap(), ["0812", "0702"]);
        assert_eq!(list(&Cell::List(vec![" a,b ".into(), "".into()]), 0).unwrap(), ["a,b"]);
        assert_eq!(list(&Cell::Empty, 0).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn amounts() {
        let ok = |s: &str, scale: u64| parse_amount(s, scale, true);
        assert_eq!(ok("1,200,000", 1), Some(1_200_000));
        assert_eq!(ok("１２０万", 1), Some(1_200_000));
        assert_eq!(ok("１，２００，０００", 1), Some(1_200_000));
        assert_eq!(ok("12.5万元", 1), Some(125_000));
        assert_eq!(ok("0.8亿", 1), Some(80_000_000));
        assert_eq!(ok("￥3000元", 1), Some(3000));
        assert_eq!(ok("3000.00", 1), Some(3000));
        assert_eq!(ok("50", 10_000), Some(500_000));
        assert_eq!(ok("50万", 10_000), Some(500_000));
        assert_eq!(ok("1.23456万", 1), None);
        assert_eq!(ok("12.5", 1), None);
        assert_eq!(ok("1,2", 1), None);
        assert_eq!(ok("1,2000", 1), None);
        assert_eq!(ok("-5", 1), None);
        assert_eq!(ok("面议", 1), None);
        assert_eq!(ok("", 1), None);
        assert_eq!(ok("99999999999999999999", 1), None);
        assert_eq!(money(&Cell::Float(1_200_000.0), 1).unwrap(), Some(1_200_000));
        assert_eq!(money(&Cell::Float(12.5), 10_000).unwrap(), Some(125_000));
        assert_eq!(money(&Cell::Int(-1), 1).unwrap_err().key, "invalid_number");
        assert_eq!(money(&Cell::Text(" ".into()), 1).unwrap(), None);
        assert_eq!(money(&Cell::Text("约50万".into()), 1).unwrap_err().key, "invalid_number");
    }

    #[test]
    fn levels() {
        assert_eq!(level(&Cell::Text("TRL 6".into())).unwrap(), 6);
        assert_eq!(level(&Cell::Text("６级".into())).unwrap(), 6);
        assert_eq!(level(&Cell::Float(7.0)).unwrap(), 7);
        assert_eq!(level(&Cell::Empty).unwrap(), 0);
        assert_eq!(level(&Cell::Float(6.5)).unwrap_err().key, "invalid_number");
        assert_eq!(level(&Cell::Text("高".into())).unwrap_err().key, "invalid_number");
    }

    #[test]
    fn dates() {
        for s in [
            "2026-12-31",
            "2026/12/31",
            "2026.12.31",
            "2026年12月31日",
            "２０２６年１２月３１日",
            "20261231",
            "2026-12-31 18:00:00",
            "2026-12-31T00:00:00",
        ] {
            assert_eq!(parse_date(s).as_deref(), Some("2026-12-31"), "{s}");
        }
        assert_eq!(parse_date("2026/1/5").as_deref(), Some("2026-01-05"));
        for s in ["31/12/2026", "2026-12", "明年", "2026-12-31-1", "26-1-1"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        // 46387 is the 1900-system serial day of 2026-12-31.
        assert_eq!(date(&Cell::Float(46387.0)).unwrap(), "2026-12-31");
        assert_eq!(date(&Cell::Int(20261231)).unwrap(), "2026-12-31");
        assert_eq!(date(&Cell::Text("下月底".into())).unwrap_err().key, "invalid_date");
    }

    #[test]
    fn numbers_as_text_lose_no_digits() {
        assert_eq!(text(&Cell::Float(13_971_234_567.0), 0).unwrap(), "13971234567");
        assert_eq!(text(&Cell::Float(110_101_199_003_077_000.0), 0).unwrap(), "110101199003077000");
        assert_eq!(text(&Cell::Float(6.0), 2).unwrap(), "06");
        assert_eq!(text(&Cell::Float(2.5), 0).unwrap(), "2.5");
        assert_eq!(text(&Cell::Text("  x ".into()), 0).unwrap(), "x");
        assert_eq!(
            text(&Cell::Invalid("the excel error #N/A".into()), 0).unwrap_err().key,
            "invalid_value"
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(status(&Cell::Text("open".into())).unwrap(), pb::Status::Open as i32);
        assert_eq!(status(&Cell::Text("已关闭".into())).unwrap(), pb::Status::Closed as i32);
        assert_eq!(status(&Cell::Empty).unwrap(), 0);
        let e = status(&Cell::Text("进行中".into())).unwrap_err();
        assert_eq!(e.key, "invalid_status");
        assert_eq!(
            e.into_pb("status").message,
            "invalid status: \"进行中\" is not one of draft, open, matched, closed, withdrawn"
        );
    }
}
