//! Scoring and explanation: how well one summary answers another, and why.
//!
//! A match score is the sum of three parts, each never negative:
//! - term score: BM25 over the terms both carry, with the summaries' term weights standing in
//!   for term frequencies. It dominates, because terms are the most specific signal.
//! - field score: [`FIELD_WEIGHT`] × (1.0 per shared exact field code, at most 2; or 0.4 if
//!   they only share a discipline category). At most 1.0, about one strong shared term, so it
//!   breaks ties and lifts topical matches without outranking real term overlap.
//! - fit score: small bonuses for practical compatibility (shared cooperation mode, a
//!   demonstrated achievement, a budget that covers the asking price), at most 0.2.
//!
//! The index owns collection statistics (document frequencies, average length) and hands them
//! in as plain numbers, so everything here is a pure function of its arguments.

use std::cmp::Ordering;

use pilot_model::{CooperationMode, FieldCode, Kind, SummaryKey, Trl};

use crate::index::Doc;

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation: 0 ignores length, 1 normalises fully.
const B: f32 = 0.75;

/// Scales the field part relative to the term part.
const FIELD_WEIGHT: f32 = 0.5;
/// Field points per shared exact field code.
const EXACT_FIELD: f32 = 1.0;
/// Most shared exact field codes that earn points.
const MAX_EXACT_FIELDS: usize = 2;
/// Field points for sharing only a discipline category.
const SAME_CATEGORY: f32 = 0.4;

/// Fit bonus when both list at least one common cooperation mode.
const MODE_BONUS: f32 = 0.1;
/// Fit bonus when the achievement is at least [`READY_TRL`] for a demand.
const TRL_BONUS: f32 = 0.05;
/// Readiness from which an achievement counts as demonstrated in a relevant environment.
const READY_TRL: u8 = 6;
/// Fit bonus when the demand's budget bucket is at least the achievement's price bucket.
const BUDGET_BONUS: f32 = 0.05;

/// Most shared terms an [`Explanation`] lists.
pub const MAX_EXPLAINED_TERMS: usize = 8;

/// A proposed counterpart for a subject summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The summary matches were asked for.
    pub subject: SummaryKey,
    /// Its kind.
    pub subject_kind: Kind,
    /// The proposed counterpart.
    pub counterpart: SummaryKey,
    /// Its kind.
    pub counterpart_kind: Kind,
    /// `term_score + field_score + fit_score`; higher is better, always positive.
    pub score: f32,
    /// Why the counterpart was proposed.
    pub explanation: Explanation,
}

/// Why a counterpart was proposed, for staff reviewing a match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Explanation {
    /// Terms both carry, in the subject's own words, most important (largest contribution to
    /// the term score) first, at most [`MAX_EXPLAINED_TERMS`].
    pub shared_terms: Vec<String>,
    /// Exact field codes both carry, in code order.
    pub shared_fields: Vec<FieldCode>,
    /// Whether they share a discipline category (first two digits of a field code), with or
    /// without an exact field.
    pub same_category: bool,
    /// The achievement's readiness level, if one side is an achievement that states one.
    pub trl: Option<Trl>,
    /// Cooperation modes both list, in vocabulary order.
    pub mode_overlap: Vec<CooperationMode>,
    /// BM25 over the shared terms.
    pub term_score: f32,
    /// Shared field codes or category.
    pub field_score: f32,
    /// TRL, mode and budget compatibility.
    pub fit_score: f32,
}

/// BM25's inverse document frequency of a term carried by `df` of `docs` documents.
///
/// Always positive, even for a term every document carries, so a shared term never lowers a
/// score.
pub(crate) fn idf(docs: usize, df: usize) -> f32 {
    let (n, df) = (docs as f32, df as f32);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// One shared term's BM25 contribution: `qw` and `dw` are the subject's and the candidate's
/// weights for it, `len` the candidate's number of distinct terms and `avg_len` the average on
/// the candidate's side.
///
/// NB: length counts distinct terms rather than summing weights, so that the collection's
/// average is an exact ratio of integers and cannot drift with the order of updates.
pub(crate) fn bm25(idf: f32, qw: f32, dw: f32, len: f32, avg_len: f32) -> f32 {
    idf * (qw * dw * (K1 + 1.0)) / (dw + K1 * (1.0 - B + B * len / avg_len))
}

/// Scores candidates from the other side against one subject, with the collection statistics
/// fixed for the duration of a query.
pub(crate) struct Scorer<'a> {
    subject: &'a Doc,
    /// The idf of each of the subject's terms on the candidates' side.
    idf: Vec<f32>,
    /// The average length of documents on the candidates' side.
    avg_len: f32,
}

impl<'a> Scorer<'a> {
    /// A scorer for `subject`; `idf` runs parallel to `subject.terms`.
    pub(crate) fn new(subject: &'a Doc, idf: Vec<f32>, avg_len: f32) -> Self {
        debug_assert_eq!(idf.len(), subject.terms.len());
        Scorer { subject, idf, avg_len }
    }

    /// The contribution of the subject's `i`-th term to a candidate that weighs it `dw` and
    /// has `len` distinct terms.
    pub(crate) fn term_part(&self, i: usize, dw: f32, len: usize) -> f32 {
        bm25(self.idf[i], self.subject.terms[i].weight, dw, len as f32, self.avg_len)
    }

    /// The total score and the explanation, less its shared terms, of a candidate whose
    /// term score has already been summed from the postings.
    ///
    /// Shared terms are left out because only the top k need them; see
    /// [`Scorer::shared_terms`].
    pub(crate) fn rate(&self, candidate: &Doc, term_score: f32) -> (f32, Explanation) {
        let (subject, other) = (&self.subject.summary, &candidate.summary);

        let shared_fields = intersect(&self.subject.fields, &candidate.fields);
        let same_category = self
            .subject
            .fields
            .iter()
            .any(|a| candidate.fields.iter().any(|b| a.category() == b.category()));
        let field_points = if !shared_fields.is_empty() {
            EXACT_FIELD * shared_fields.len().min(MAX_EXACT_FIELDS) as f32
        } else if same_category {
            SAME_CATEGORY
        } else {
            0.0
        };
        let field_score = FIELD_WEIGHT * field_points;

        let mut subject_modes = subject.modes.clone();
        subject_modes.sort_unstable();
        subject_modes.dedup();
        let mode_overlap: Vec<CooperationMode> =
            subject_modes.into_iter().filter(|m| other.modes.contains(m)).collect();
        let mut fit_score = if mode_overlap.is_empty() { 0.0 } else { MODE_BONUS };
        let pair = match (subject.kind, other.kind) {
            (Kind::Demand, Kind::Achievement) => Some((subject, other)),
            (Kind::Achievement, Kind::Demand) => Some((other, subject)),
            _ => None,
        };
        let trl = pair.and_then(|(_, achievement)| achievement.trl);
        if let Some((demand, achievement)) = pair {
            if trl.is_some_and(|t| t.get() >= READY_TRL) {
                fit_score += TRL_BONUS;
            }
            if let (Some(budget), Some(price)) = (demand.budget, achievement.budget)
                && budget.rank() >= price.rank()
            {
                fit_score += BUDGET_BONUS;
            }
        }

        let score = term_score + field_score + fit_score;
        let explanation = Explanation {
            shared_terms: Vec::new(),
            shared_fields,
            same_category,
            trl,
            mode_overlap,
            term_score,
            field_score,
            fit_score,
        };
        (score, explanation)
    }

    /// The terms the subject shares with `candidate`, in the subject's own words, largest
    /// contribution first (ties by normalised term), at most [`MAX_EXPLAINED_TERMS`].
    pub(crate) fn shared_terms(&self, candidate: &Doc) -> Vec<String> {
        let len = candidate.terms.len();
        let mut shared: Vec<(f32, usize)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        // Both term lists are sorted by key and free of duplicates: a linear merge finds them.
        while let (Some(a), Some(b)) = (self.subject.terms.get(i), candidate.terms.get(j)) {
            match a.key.cmp(&b.key) {
                Ordering::Less => i += 1,
                Ordering::Greater => j += 1,
                Ordering::Equal => {
                    shared.push((self.term_part(i, b.weight, len), i));
                    i += 1;
                    j += 1;
                }
            }
        }
        // Ties keep key order because `i` follows it.
        shared.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        shared
            .into_iter()
            .take(MAX_EXPLAINED_TERMS)
            .map(|(_, i)| self.subject.spelling(&self.subject.terms[i]).to_owned())
            .collect()
    }
}

/// The codes present in both sorted, duplicate-free lists, in order.
fn intersect(a: &[FieldCode], b: &[FieldCode]) -> Vec<FieldCode> {
    a.iter().filter(|c| b.binary_search(c).is_ok()).copied().collect()
}

#[cfg(test)]
mod tests {
    use pilot_model::{BudgetBucket, CooperationMode as Mode, Kind, Summary, Trl};

    use super::*;
    use crate::testing::summary;
    use crate::{Index, Query};

    #[test]
    fn idf_is_positive_and_falls_with_df() {
        assert!(idf(10, 1) > idf(10, 5));
        assert!(idf(10, 10) > 0.0);
        assert!((idf(1, 1) - (4.0f32 / 3.0).ln()).abs() < 1e-6);
    }

    #[test]
    fn bm25_saturates_and_prefers_short_documents() {
        let one = bm25(1.0, 1.0, 1.0, 1.0, 1.0);
        assert!((one - 1.0).abs() < 1e-6, "dw 1 at average length scores idf × qw");
        assert!(bm25(1.0, 1.0, 0.5, 1.0, 1.0) < one);
        assert!(bm25(1.0, 1.0, 1.0, 4.0, 2.0) < bm25(1.0, 1.0, 1.0, 1.0, 2.0));
        assert!(bm25(1.0, 0.5, 1.0, 1.0, 1.0) < one);
    }

    /// The only match of `subject` against `candidate` in an index that also holds unrelated
    /// summaries on both sides, so that idf is not degenerate.
    fn only_match(subject: Summary, candidate: Summary) -> Option<Match> {
        let mut index = Index::new();
        for n in 100..108 {
            let noise: Vec<String> = (0..4).map(|j| format!("噪声{n}-{j}")).collect();
            let noise: Vec<(&str, f32)> = noise.iter().map(|t| (t.as_str(), 1.0)).collect();
            index.upsert(summary(Kind::Expert, "350500", n, &noise, &["1301"]));
            index.upsert(summary(Kind::Demand, "350500", n + 100, &noise, &["1301"]));
        }
        let key = subject.key.clone();
        index.upsert(subject);
        index.upsert(candidate);
        let mut matches = index.matches_for(&key, &Query::default());
        assert!(matches.len() <= 1);
        matches.pop()
    }

    #[test]
    fn explanation_lists_shared_terms_fields_and_fit() {
        let mut demand = summary(
            Kind::Demand,
            "421200",
            1,
            &[("锂电池", 1.0), ("隔膜", 0.9), ("涂覆", 0.3), ("降本", 0.5)],
            &["0805", "0817", "0808"],
        );
        demand.modes = vec![Mode::License, Mode::Transfer, Mode::CommissionedDevelopment];
        demand.budget = Some(BudgetBucket::From1mTo5m);
        let mut achievement = summary(
            Kind::Achievement,
            "440300",
            2,
            &[("涂覆", 1.0), ("隔膜", 1.0), ("锂电池", 0.6), ("湿法", 1.0)],
            &["0817", "0805", "0808"],
        );
        achievement.modes = vec![Mode::Transfer, Mode::License, Mode::EquityInvestment];
        achievement.trl = Some(Trl::new(7).unwrap());
        achievement.budget = Some(BudgetBucket::From500kTo1m);

        let m = only_match(demand, achievement).unwrap();
        let e = &m.explanation;
        assert_eq!(e.shared_terms, ["隔膜", "锂电池", "涂覆"], "by contribution, not by weight");
        let codes: Vec<&str> = e.shared_fields.iter().map(|f| f.code()).collect();
        assert_eq!(codes, ["0805", "0808", "0817"]);
        assert!(e.same_category);
        assert_eq!(e.trl, Some(Trl::new(7).unwrap()));
        assert_eq!(e.mode_overlap, [Mode::Transfer, Mode::License]);
        assert_eq!(e.field_score, FIELD_WEIGHT * 2.0, "exact fields are capped at two");
        assert!((e.fit_score - (MODE_BONUS + TRL_BONUS + BUDGET_BONUS)).abs() < 1e-6);
        assert!(e.term_score > e.field_score, "terms dominate");
        assert_eq!(m.score, e.term_score + e.field_score + e.fit_score);
    }

    #[test]
    fn category_only_and_missing_fit() {
        let mut demand = summary(Kind::Demand, "421200", 1, &[("电解液", 1.0)], &["0817"]);
        demand.budget = Some(BudgetBucket::Under100k);
        demand.modes = vec![Mode::License];
        let mut achievement =
            summary(Kind::Achievement, "340100", 2, &[("电解液", 1.0)], &["0805"]);
        achievement.trl = Some(Trl::new(4).unwrap());
        achievement.budget = Some(BudgetBucket::From1mTo5m);
        achievement.modes = vec![Mode::Transfer];

        let m = only_match(demand, achievement).unwrap();
        let e = &m.explanation;
        assert!(e.shared_fields.is_empty());
        assert!(e.same_category);
        assert_eq!(e.field_score, FIELD_WEIGHT * SAME_CATEGORY);
        assert_eq!(e.trl, Some(Trl::new(4).unwrap()));
        assert!(e.mode_overlap.is_empty());
        assert_eq!(e.fit_score, 0.0, "low TRL, price over budget, no common mode");
    }

    #[test]
    fn supply_subject_reports_its_own_trl_and_experts_have_none() {
        let mut achievement =
            summary(Kind::Achievement, "440300", 1, &[("图像识别", 1.0)], &["0812"]);
        achievement.trl = Some(Trl::new(6).unwrap());
        let demand = summary(Kind::Demand, "510100", 2, &[("图像识别", 0.8)], &["0812"]);
        let m = only_match(achievement, demand.clone()).unwrap();
        assert_eq!(m.explanation.trl, Some(Trl::new(6).unwrap()));
        assert_eq!(m.explanation.fit_score, TRL_BONUS);
        assert_eq!(m.explanation.shared_terms, ["图像识别"]);

        let expert = summary(Kind::Expert, "340100", 3, &[("图像识别", 1.0)], &[]);
        let m = only_match(expert, demand).unwrap();
        assert_eq!(m.explanation.trl, None);
        assert_eq!(m.explanation.fit_score, 0.0);
        assert!(!m.explanation.same_category);
    }

    #[test]
    fn explanation_keeps_at_most_eight_terms() {
        let terms: Vec<(String, f32)> =
            (0..12).map(|i| (format!("术语{i:02}"), 1.0 - i as f32 / 20.0)).collect();
        let terms: Vec<(&str, f32)> = terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
        let demand = summary(Kind::Demand, "421200", 1, &terms, &[]);
        let expert = summary(Kind::Expert, "340100", 2, &terms, &[]);
        let m = only_match(demand, expert).unwrap();
        assert_eq!(m.explanation.shared_terms.len(), MAX_EXPLAINED_TERMS);
        assert_eq!(m.explanation.shared_terms[0], "术语00", "the heaviest first");
        assert_eq!(m.explanation.shared_terms[7], "术语07");
    }
}
