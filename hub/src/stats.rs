//! National statistics over the match index: the city-to-city flow matrix and per-discipline
//! counts, with small-count suppression.
//!
//! Invariant: no count below [`THRESHOLD`] ever leaves this module as a number; [`disclose`]
//! turns it into "<5". Zero is a small count too, and every pair of known cities is listed, so
//! the shape of the reply says nothing about which pairs have one to four matches.

use std::collections::BTreeMap;

use pilot_match::{Index, Query};
use pilot_model::{CityCode, FieldCode, Kind};

/// Counts below this are shown as "<5".
pub const THRESHOLD: u64 = 5;

/// A count as it may be shown: the number, or "<5".
pub fn disclose(n: u64) -> String {
    if n < THRESHOLD { format!("<{THRESHOLD}") } else { n.to_string() }
}

/// Which matches statistics count.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// The kind of the subjects (usually demands).
    pub subject_kind: Kind,
    /// Matches counted per subject (its top k).
    pub per_subject: usize,
    /// Only matches scoring above this.
    pub min_score: f32,
}

fn query(scope: &Scope) -> Query {
    Query {
        k: scope.per_subject,
        include_same_city: false,
        min_score: scope.min_score,
        ..Query::default()
    }
}

/// Cross-region matches from each city's subjects to each other city's counterparts, for every
/// ordered pair of `cities` (same-city pairs left out), and the total.
pub fn flow_matrix(
    index: &Index,
    cities: &[CityCode],
    scope: &Scope,
) -> (Vec<(CityCode, CityCode, u64)>, u64) {
    let q = query(scope);
    let mut counts: BTreeMap<(CityCode, CityCode), u64> = BTreeMap::new();
    let mut total = 0;
    for s in index.iter().filter(|s| s.kind == scope.subject_kind) {
        for m in index.matches_for(&s.key, &q) {
            *counts.entry((s.key.city, m.counterpart.city)).or_default() += 1;
            total += 1;
        }
    }
    let mut out = Vec::new();
    for &from in cities {
        for &to in cities {
            if from != to {
                out.push((from, to, counts.get(&(from, to)).copied().unwrap_or(0)));
            }
        }
    }
    (out, total)
}

/// Per discipline: (demands, supply, demands with at least one cross-region match in scope).
pub fn field_stats(index: &Index, scope: &Scope) -> BTreeMap<FieldCode, (u64, u64, u64)> {
    let q = query(scope);
    let mut out: BTreeMap<FieldCode, (u64, u64, u64)> = BTreeMap::new();
    for s in index.iter() {
        let matched = s.kind == Kind::Demand && !index.matches_for(&s.key, &q).is_empty();
        for f in &s.fields {
            let e = out.entry(*f).or_default();
            if s.kind == Kind::Demand {
                e.0 += 1;
                e.2 += u64::from(matched);
            } else {
                e.1 += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::summary;

    #[test]
    fn small_counts_never_leave_as_numbers() {
        for n in 0..5 {
            assert_eq!(disclose(n), "<5");
        }
        assert_eq!(disclose(5), "5");
        assert_eq!(disclose(1234), "1234");
    }

    #[test]
    fn flows_count_cross_region_matches_per_ordered_pair() {
        let mut index = Index::new();
        let (a, b, c) = ("421200", "350500", "320500");
        for i in 0..6 {
            index.upsert(summary(a, i, Kind::Demand, &["隔膜", "涂覆", "锂电池"]));
        }
        index.upsert(summary(b, 100, Kind::Achievement, &["隔膜", "涂覆", "陶瓷"]));
        index.upsert(summary(a, 101, Kind::Achievement, &["隔膜", "涂覆", "陶瓷"]));
        let cities: Vec<CityCode> = [a, b, c].iter().map(|c| CityCode::parse(c).unwrap()).collect();
        let scope = Scope { subject_kind: Kind::Demand, per_subject: 5, min_score: 0.0 };
        let (flows, total) = flow_matrix(&index, &cities, &scope);
        assert_eq!(flows.len(), 6, "every ordered pair of distinct cities");
        let ab = flows.iter().find(|(f, t, _)| *f == cities[0] && *t == cities[1]).unwrap();
        assert_eq!(ab.2, 6, "six demands in a match the achievement in b");
        assert_eq!(total, 6, "the same-city achievement is not a cross-region match");
        let stats = field_stats(&index, &scope);
        assert_eq!(stats[&FieldCode::parse("0805").unwrap()], (6, 2, 6));
    }
}
