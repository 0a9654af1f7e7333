//! The anonymized summary of a record: the only thing about a record that leaves its node.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    CityCode, CooperationMode, Error, FieldCode, IndustryCode, Kind, Pseudonym, Result, Status, Trl,
};

/// Identifies a summary federation-wide: the owning city and the record's pseudonym.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SummaryKey {
    /// The city whose node owns the record.
    pub city: CityCode,
    /// The record's pseudonym.
    pub pseudonym: Pseudonym,
}

impl fmt::Display for SummaryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.city, self.pseudonym)
    }
}

/// A calendar month; summaries carry dates at month granularity only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct YearMonth {
    /// Year.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
}

impl YearMonth {
    /// Builds a month, checking 1–12.
    pub fn new(year: u16, month: u8) -> Result<Self> {
        if (1..=12).contains(&month) && (1900..=2200).contains(&year) {
            Ok(YearMonth { year, month })
        } else {
            Err(Error::invalid("month", format!("{year}-{month} is not a month")))
        }
    }

    /// Packs the month as `YYYYMM`, as on the wire.
    pub fn to_yyyymm(self) -> u32 {
        u32::from(self.year) * 100 + u32::from(self.month)
    }

    /// Unpacks `YYYYMM`.
    pub fn from_yyyymm(v: u32) -> Result<Self> {
        let year = u16::try_from(v / 100)
            .map_err(|_| Error::invalid("month", format!("{v} is not YYYYMM")))?;
        YearMonth::new(year, (v % 100) as u8)
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A coarse money range, so that exact budgets and prices stay private.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetBucket {
    /// Below 100,000 CNY (10万).
    Under100k,
    /// 100,000 to below 500,000 CNY.
    From100kTo500k,
    /// 500,000 to below 1,000,000 CNY.
    From500kTo1m,
    /// 1,000,000 to below 5,000,000 CNY.
    From1mTo5m,
    /// 5,000,000 to below 10,000,000 CNY.
    From5mTo10m,
    /// 10,000,000 CNY and more.
    Over10m,
}

impl BudgetBucket {
    /// Every bucket, smallest first; the index is the wire value minus one.
    pub const ALL: [BudgetBucket; 6] = [
        BudgetBucket::Under100k,
        BudgetBucket::From100kTo500k,
        BudgetBucket::From500kTo1m,
        BudgetBucket::From1mTo5m,
        BudgetBucket::From5mTo10m,
        BudgetBucket::Over10m,
    ];

    /// The bucket an amount falls in.
    pub fn of(cny: u64) -> Self {
        match cny {
            0..100_000 => BudgetBucket::Under100k,
            100_000..500_000 => BudgetBucket::From100kTo500k,
            500_000..1_000_000 => BudgetBucket::From500kTo1m,
            1_000_000..5_000_000 => BudgetBucket::From1mTo5m,
            5_000_000..10_000_000 => BudgetBucket::From5mTo10m,
            _ => BudgetBucket::Over10m,
        }
    }

    /// Position in [`BudgetBucket::ALL`].
    pub fn rank(self) -> usize {
        Self::ALL.iter().position(|b| *b == self).expect("every bucket is in ALL")
    }

    /// A short label, e.g. `1m-5m`.
    pub fn label(self) -> &'static str {
        ["<100k", "100k-500k", "500k-1m", "1m-5m", "5m-10m", ">=10m"][self.rank()]
    }
}

/// A term and its weight in a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedTerm {
    /// A normalised word or phrase from the record's technical text.
    pub term: String,
    /// Relative importance in this record, in (0, 1].
    pub weight: f32,
}

/// The anonymized, shareable view of a record.
///
/// NB: a summary carries no names, contacts, ids other than the pseudonym, exact amounts,
/// exact dates or free text: only codes, buckets, months and weighted terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Owning city and pseudonym.
    pub key: SummaryKey,
    /// Which bank.
    pub kind: Kind,
    /// Life-cycle state.
    pub status: Status,
    /// Technology fields.
    pub fields: Vec<FieldCode>,
    /// Industries (the enterprise's for a demand, the applicable ones for an achievement).
    pub industries: Vec<IndustryCode>,
    /// Readiness level of an achievement.
    pub trl: Option<Trl>,
    /// Cooperation modes wanted (demand) or offered (achievement, expert).
    pub modes: Vec<CooperationMode>,
    /// Budget (demand) or asking-price (achievement) bucket.
    pub budget: Option<BudgetBucket>,
    /// Month the record last changed.
    pub updated: Option<YearMonth>,
    /// Month a demand lapses.
    pub deadline: Option<YearMonth>,
    /// Weighted terms, heaviest first.
    pub terms: Vec<WeightedTerm>,
}

impl Summary {
    /// Most terms a summary may carry.
    pub const MAX_TERMS: usize = 128;
    /// Longest term, in characters.
    pub const MAX_TERM_CHARS: usize = 32;
    /// Most codes in any one code list.
    pub const MAX_CODES: usize = 16;

    /// Checks the limits a hub enforces on every summary it receives.
    pub fn validate(&self) -> Result<()> {
        if self.terms.len() > Self::MAX_TERMS {
            return Err(Error::invalid(
                "terms",
                format!("{} terms, at most {}", self.terms.len(), Self::MAX_TERMS),
            ));
        }
        for t in &self.terms {
            let n = t.term.chars().count();
            if n == 0 || n > Self::MAX_TERM_CHARS {
                return Err(Error::invalid(
                    "terms",
                    format!("a term of {n} characters, expected 1-{}", Self::MAX_TERM_CHARS),
                ));
            }
            if !(t.weight.is_finite() && t.weight > 0.0 && t.weight <= 1.0) {
                return Err(Error::invalid(
                    "terms",
                    format!("weight {} of {:?} is outside (0, 1]", t.weight, t.term),
                ));
            }
        }
        let lists: [(&'static str, usize); 3] = [
            ("fields", self.fields.len()),
            ("industries", self.industries.len()),
            ("modes", self.modes.len()),
        ];
        for (name, len) in lists {
            if len > Self::MAX_CODES {
                return Err(Error::invalid(
                    name,
                    format!("{len} codes, at most {}", Self::MAX_CODES),
                ));
            }
        }
        Ok(())
    }
}

/// The notice that a record is no longer shared (withdrawn, deleted, closed or held back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Owning city and pseudonym.
    pub key: SummaryKey,
    /// Which bank.
    pub kind: Kind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_at_round_amounts() {
        assert_eq!(BudgetBucket::of(99_999), BudgetBucket::Under100k);
        assert_eq!(BudgetBucket::of(100_000), BudgetBucket::From100kTo500k);
        assert_eq!(BudgetBucket::of(10_000_000), BudgetBucket::Over10m);
        assert_eq!(BudgetBucket::Over10m.rank(), 5);
    }

    #[test]
    fn months_pack_as_yyyymm() {
        let m = YearMonth::new(2026, 11).unwrap();
        assert_eq!(YearMonth::from_yyyymm(m.to_yyyymm()).unwrap(), m);
        assert!(YearMonth::from_yyyymm(202613).is_err());
    }

    #[test]
    fn validate_refuses_oversized_terms_and_bad_weights() {
        let key = SummaryKey {
            city: CityCode::parse("421200").unwrap(),
            pseudonym: Pseudonym::parse(&"a".repeat(32)).unwrap(),
        };
        let mut s = Summary {
            key,
            kind: Kind::Demand,
            status: Status::Open,
            fields: vec![],
            industries: vec![],
            trl: None,
            modes: vec![],
            budget: None,
            updated: None,
            deadline: None,
            terms: vec![WeightedTerm { term: "锂电池".into(), weight: 1.0 }],
        };
        assert!(s.validate().is_ok());
        s.terms[0].weight = f32::NAN;
        assert_eq!(s.validate().unwrap_err().field(), "terms");
        s.terms[0] = WeightedTerm { term: "长".repeat(33), weight: 0.5 };
        assert!(s.validate().is_err());
    }
}
