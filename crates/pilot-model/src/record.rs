//! Raw city records: demands, achievements and experts, with names, contacts and free text.
//!
//! NB: these types hold personal data and never leave the node that owns them.
//! They are deliberately not convertible to any wire type; only `pilot-anon` turns one into a
//! [`crate::Summary`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{CooperationMode, Error, FieldCode, IndustryCode, Kind, LocalId, Result, Status, Trl};

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// The calendar (year, month) of this instant in UTC.
    pub fn year_month(self) -> (u16, u8) {
        let days = i64::try_from(self.0 / 86_400_000).expect("u64 millis / 86.4e6 fits in i64");
        let (y, m, _) = civil_from_days(days);
        (u16::try_from(y).unwrap_or(u16::MAX), m)
    }

    /// The calendar date of this instant in UTC (China Standard Time is 8 hours ahead, so a
    /// deadline lapses at 08:00 Beijing time the next day, never early).
    pub fn date(self) -> Date {
        let days = i64::try_from(self.0 / 86_400_000).expect("u64 millis / 86.4e6 fits in i64");
        let (y, month, day) = civil_from_days(days);
        Date { year: u16::try_from(y).unwrap_or(u16::MAX), month, day }
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    // Howard Hinnant's algorithm, exact for the whole i64 day range we use.
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u8::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day is 1-31");
    let m = u8::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month is 1-12");
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    /// Year, 1900–2200.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of month, valid for the month.
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (also `YYYY/MM/DD` and `YYYY.MM.DD`).
    pub fn parse(field: &'static str, s: &str) -> Result<Self> {
        let t = s.trim();
        let err = || Error::invalid(field, format!("{t:?} is not a date like 2026-12-31"));
        let mut parts = t.split(['-', '/', '.']);
        let mut num = || parts.next().and_then(|p| p.parse::<u16>().ok()).ok_or_else(err);
        let (year, month, day) = (num()?, num()?, num()?);
        if parts.next().is_some() || !(1900..=2200).contains(&year) || !(1..=12).contains(&month) {
            return Err(err());
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if day == 0 || day > days[usize::from(month - 1)] {
            return Err(err());
        }
        Ok(Date { year, month: month as u8, day: day as u8 })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<String> for Date {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Date::parse("date", &s)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

/// An enterprise's technology need.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// The enterprise's registered name (private).
    #[serde(default)]
    pub enterprise_name: Option<String>,
    /// Unified social credit code (private).
    #[serde(default)]
    pub credit_code: Option<String>,
    /// Contact person (private).
    #[serde(default)]
    pub contact_name: Option<String>,
    /// Contact phone (private).
    #[serde(default)]
    pub phone: Option<String>,
    /// Contact email (private).
    #[serde(default)]
    pub email: Option<String>,
    /// Postal address (private).
    #[serde(default)]
    pub address: Option<String>,
    /// Short statement of the need (required).
    pub title: String,
    /// The need in the enterprise's words (required).
    pub description: String,
    /// GB/T 4754 division of the enterprise.
    #[serde(default)]
    pub industry: Option<IndustryCode>,
    /// Technology fields (disciplines) the need falls under.
    #[serde(default, alias = "field")]
    pub fields: Vec<FieldCode>,
    /// Budget in CNY.
    #[serde(default)]
    pub budget_cny: Option<u64>,
    /// Cooperation modes the enterprise will accept.
    #[serde(default)]
    pub cooperation_modes: Vec<CooperationMode>,
    /// Date after which the need lapses.
    #[serde(default)]
    pub deadline: Option<Date>,
}

/// A transferable S&T result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Achievement {
    /// Owning institution (private).
    #[serde(default)]
    pub institution: Option<String>,
    /// Inventors or team members (private).
    #[serde(default)]
    pub team: Vec<String>,
    /// Contact person (private).
    #[serde(default)]
    pub contact_name: Option<String>,
    /// Contact phone (private).
    #[serde(default)]
    pub phone: Option<String>,
    /// Contact email (private).
    #[serde(default)]
    pub email: Option<String>,
    /// Name of the result (required).
    pub title: String,
    /// What the result is and does (required).
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    /// CN patent or application numbers (private: they identify the owner).
    #[serde(default)]
    pub patent_numbers: Vec<String>,
    /// Author keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Technology fields.
    #[serde(default, alias = "field")]
    pub fields: Vec<FieldCode>,
    /// Industries the result applies to.
    #[serde(default)]
    pub industries: Vec<IndustryCode>,
    /// GB/T 22900 readiness level.
    #[serde(default)]
    pub trl: Option<Trl>,
    /// Cooperation modes offered.
    #[serde(default)]
    pub cooperation_modes: Vec<CooperationMode>,
    /// Lowest asking price in CNY.
    #[serde(default)]
    pub price_min_cny: Option<u64>,
    /// Highest asking price in CNY.
    #[serde(default)]
    pub price_max_cny: Option<u64>,
}

/// A researcher available for consulting or co-development.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expert {
    /// Full name (private, required).
    pub name: String,
    /// Institution (private).
    #[serde(default)]
    pub institution: Option<String>,
    /// Title or rank, e.g. 教授.
    #[serde(default)]
    pub rank: Option<String>,
    /// Phone (private).
    #[serde(default)]
    pub phone: Option<String>,
    /// Email (private).
    #[serde(default)]
    pub email: Option<String>,
    /// Resident ID number (private).
    #[serde(default)]
    pub id_number: Option<String>,
    /// Technology fields.
    #[serde(default)]
    pub fields: Vec<FieldCode>,
    /// Research keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Research summary (required).
    pub summary: String,
    /// Free-text availability, e.g. "weekends" (private: it is free text).
    #[serde(default)]
    pub availability: Option<String>,
}

/// The kind-specific part of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordBody {
    /// An enterprise demand.
    Demand(Demand),
    /// An S&T achievement.
    Achievement(Achievement),
    /// An expert.
    Expert(Expert),
}

/// Longest accepted title or name, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest accepted main text, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest accepted short text, in characters: a name, an institution, an address, a rank, a
/// keyword, a team member, a patent number.
pub const MAX_SHORT_CHARS: usize = 200;
/// Most entries accepted in a list field (keywords, team members, patent numbers).
pub const MAX_LIST_ITEMS: usize = 100;

fn required(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::MissingField { field });
    }
    too_long(value, max).map_or(Ok(()), |reason| Err(Error::invalid(field, reason)))
}

/// What is wrong with a text longer than `max` characters, if it is.
fn too_long(value: &str, max: usize) -> Option<String> {
    let n = value.chars().count();
    (n > max).then(|| format!("{n} characters, at most {max} allowed"))
}

/// Checks an optional short text's length.
fn short(field: &'static str, value: &Option<String>) -> Result<()> {
    let reason = too_long(value.as_deref().unwrap_or_default(), MAX_SHORT_CHARS);
    reason.map_or(Ok(()), |reason| Err(Error::invalid(field, reason)))
}

/// Checks a list field: at most [`MAX_LIST_ITEMS`] entries of at most [`MAX_SHORT_CHARS`]
/// characters each (entries are numbered from 1, as staff count them in a cell).
fn short_list(field: &'static str, items: &[String]) -> Result<()> {
    if items.len() > MAX_LIST_ITEMS {
        return Err(Error::invalid(
            field,
            format!("{} entries, at most {MAX_LIST_ITEMS} allowed", items.len()),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        if let Some(reason) = too_long(item, MAX_SHORT_CHARS) {
            return Err(Error::invalid(field, format!("entry {} has {reason}", i + 1)));
        }
    }
    Ok(())
}

/// Checks a phone number's shape: digits with optional `+`, spaces, dashes, parentheses and an
/// extension (`转` / `ext` / `x`); 7 to 15 digits before any extension, and mainland mobiles
/// (11 digits starting with 1) must start 13-19.
fn check_phone(field: &'static str, v: &Option<String>) -> Result<()> {
    let Some(v) = v else { return Ok(()) };
    let folded: String = v
        .chars()
        .map(|c| {
            if ('０'..='９').contains(&c) {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect();
    let main = folded.split(['转', '#']).next().unwrap_or("");
    let main = main.split("ext").next().unwrap_or(main);
    let main = main.split(['x', 'X']).next().unwrap_or(main);
    let allowed = main
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '（' | '）'));
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let national = digits
        .strip_prefix("86")
        .filter(|d| d.len() == 11 && main.trim_start().starts_with('+'))
        .unwrap_or(&digits);
    let bad_mobile = national.len() == 11
        && national.starts_with('1')
        && !matches!(national.as_bytes()[1], b'3'..=b'9');
    if !allowed || !(7..=15).contains(&digits.len()) || bad_mobile {
        return Err(Error::invalid(field, format!("{v:?} is not a phone number")));
    }
    Ok(())
}

/// Checks an email address's shape: `local@domain.tld`, no spaces.
fn check_email(field: &'static str, v: &Option<String>) -> Result<()> {
    let Some(v) = v else { return Ok(()) };
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok { Ok(()) } else { Err(Error::invalid(field, format!("{v:?} is not an email address"))) }
}

impl RecordBody {
    /// Which bank the record belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            RecordBody::Demand(_) => Kind::Demand,
            RecordBody::Achievement(_) => Kind::Achievement,
            RecordBody::Expert(_) => Kind::Expert,
        }
    }

    /// The title (the name, for experts).
    pub fn title(&self) -> &str {
        match self {
            RecordBody::Demand(d) => &d.title,
            RecordBody::Achievement(a) => &a.title,
            RecordBody::Expert(e) => &e.name,
        }
    }

    /// Checks required fields, lengths and cross-field rules.
    pub fn validate(&self) -> Result<()> {
        match self {
            RecordBody::Demand(d) => {
                required("title", &d.title, MAX_TITLE_CHARS)?;
                required("description", &d.description, MAX_TEXT_CHARS)?;
                short("enterprise_name", &d.enterprise_name)?;
                short("credit_code", &d.credit_code)?;
                short("contact_name", &d.contact_name)?;
                short("address", &d.address)?;
                check_phone("phone", &d.phone)?;
                check_email("email", &d.email)?;
            }
            RecordBody::Achievement(a) => {
                required("title", &a.title, MAX_TITLE_CHARS)?;
                required("abstract", &a.abstract_text, MAX_TEXT_CHARS)?;
                short("institution", &a.institution)?;
                short_list("team", &a.team)?;
                short("contact_name", &a.contact_name)?;
                short_list("patent_numbers", &a.patent_numbers)?;
                short_list("keywords", &a.keywords)?;
                check_phone("phone", &a.phone)?;
                check_email("email", &a.email)?;
                if let (Some(lo), Some(hi)) = (a.price_min_cny, a.price_max_cny)
                    && lo > hi
                {
                    return Err(Error::invalid(
                        "price_min_cny",
                        format!("{lo} is above price_max_cny {hi}"),
                    ));
                }
            }
            RecordBody::Expert(e) => {
                required("name", &e.name, MAX_TITLE_CHARS)?;
                required("summary", &e.summary, MAX_TEXT_CHARS)?;
                short("institution", &e.institution)?;
                short("rank", &e.rank)?;
                short("id_number", &e.id_number)?;
                short_list("keywords", &e.keywords)?;
                short("availability", &e.availability)?;
                check_phone("phone", &e.phone)?;
                check_email("email", &e.email)?;
            }
        }
        Ok(())
    }
}

/// A record as the node stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Stable id inside the node.
    pub local_id: LocalId,
    /// The city's own spreadsheet id, used to update instead of duplicate on re-import.
    pub external_id: Option<String>,
    /// Life-cycle state.
    pub status: Status,
    /// When the record was created.
    pub created_at: UnixMillis,
    /// When the record last changed.
    pub updated_at: UnixMillis,
    /// The kind-specific fields.
    pub body: RecordBody,
}

impl Record {
    /// Which bank the record belongs to.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_reject_impossible_days() {
        assert_eq!(Date::parse("deadline", "2028-02-29").unwrap().to_string(), "2028-02-29");
        assert!(Date::parse("deadline", "2027-02-29").is_err());
        assert_eq!(Date::parse("deadline", "2027/13/01").unwrap_err().field(), "deadline");
    }

    #[test]
    fn millis_map_to_calendar_months() {
        // 2026-11-21T00:00:00Z
        assert_eq!(UnixMillis(1_795_219_200_000).year_month(), (2026, 11));
        assert_eq!(UnixMillis(0).year_month(), (1970, 1));
    }

    #[test]
    fn validation_names_the_missing_field() {
        let body =
            RecordBody::Achievement(Achievement { title: "隔膜".into(), ..Default::default() });
        assert_eq!(body.validate().unwrap_err(), Error::MissingField { field: "abstract" });
        let body = RecordBody::Expert(Expert {
            name: "x".into(),
            summary: "y".into(),
            ..Default::default()
        });
        assert!(body.validate().is_ok());
    }

    #[test]
    fn short_fields_and_lists_are_bounded_with_the_field_named() {
        let achievement = |keywords: Vec<String>, team: Vec<String>| {
            RecordBody::Achievement(Achievement {
                title: "锂电池隔膜".into(),
                abstract_text: "一种耐高温的锂电池隔膜。".into(),
                keywords,
                team,
                ..Default::default()
            })
        };
        let at_most = "隔".repeat(MAX_SHORT_CHARS);
        let over = "隔".repeat(MAX_SHORT_CHARS + 1);
        // At the bounds: accepted.
        assert!(achievement(vec![at_most.clone(); MAX_LIST_ITEMS], vec![]).validate().is_ok());
        // One character or one entry past them: refused, with the field and the entry named.
        let e = achievement(vec!["隔膜".into(), over.clone()], vec![]).validate().unwrap_err();
        assert_eq!(e.field(), "keywords");
        assert_eq!(
            e.to_string(),
            "invalid keywords: entry 2 has 201 characters, at most 200 allowed"
        );
        let e =
            achievement(vec!["隔膜".into(); MAX_LIST_ITEMS + 1], vec![]).validate().unwrap_err();
        assert_eq!(e.to_string(), "invalid keywords: 101 entries, at most 100 allowed");
        let e = achievement(vec![], vec![over.clone()]).validate().unwrap_err();
        assert_eq!(e.field(), "team");
        let expert = RecordBody::Expert(Expert {
            name: "王建国".into(),
            summary: "锂电池隔膜".into(),
            institution: Some(over.clone()),
            ..Default::default()
        });
        assert_eq!(expert.validate().unwrap_err().field(), "institution");
        let demand = RecordBody::Demand(Demand {
            title: "隔膜".into(),
            description: "需要耐高温隔膜".into(),
            address: Some(over),
            ..Default::default()
        });
        assert_eq!(demand.validate().unwrap_err().field(), "address");
    }

    #[test]
    fn phones_and_emails_are_checked_with_the_field_named() {
        let with = |phone: &str, email: &str| {
            RecordBody::Demand(Demand {
                title: "t".into(),
                description: "d".into(),
                phone: Some(phone.into()),
                email: Some(email.into()),
                ..Default::default()
            })
            .validate()
        };
        for good in [
            "13971234567",
            "+86 139 7123 4567",
            "0715-8123456",
            "(027)87654321转123",
            "１３９７１２３４５６７",
            "027-8765 4321 ext 12",
        ] {
            assert!(with(good, "a@b.cn").is_ok(), "{good}");
        }
        for bad in ["1397", "12345678901", "call me", "139-7123-4567-8888-99"] {
            assert_eq!(with(bad, "a@b.cn").unwrap_err().field(), "phone", "{bad}");
        }
        for bad in ["a@b", "a b@c.cn", "@c.cn", "a@@c.cn", "a.c.cn"] {
            assert_eq!(with("13971234567", bad).unwrap_err().field(), "email", "{bad}");
        }
    }

    #[test]
    fn record_bodies_round_trip_through_json_with_a_kind_tag() {
        let body = RecordBody::Demand(Demand {
            title: "锂电池隔膜".into(),
            description: "需要高孔隙率隔膜".into(),
            fields: vec![FieldCode::parse("0805").unwrap()],
            ..Default::default()
        });
        let json = serde_json::to_string(&body).unwrap();
        assert!(
            json.contains(r#""kind":"demand""#) && json.contains(r#""fields":["0805"]"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<RecordBody>(&json).unwrap(), body);
    }
}
