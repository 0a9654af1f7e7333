//! Scoring and explanation: how well one summary answers another, and why.
//!
//! A match score is the sum of three parts, each never negative:
//! - term score: BM25 over the terms both carry ([`Bm25::TUNED`]: k1 1.2, b 0.1), with the summaries'
//!   term weights, [`damp`]ed, standing in for term frequencies on both sides, and document
//!   frequencies counted among the summaries of the candidates' side across the federation.
//!   It dominates, because terms are the most specific signal.
//! - field score: [`FIELD_SHARE`] of the subject's term-score scale (the sum of idf × damped
//!   weight over its terms, about what a candidate carrying all of them would score) if they share an exact field code (4 digits),
//!   [`SAME_CATEGORY`] times that if they only share a discipline category (the first 2
//!   digits). Relative, so that it weighs the same for a demand of five terms and one of fifty.
//! - fit score: small bonuses for practical compatibility (shared cooperation mode, a
//!   demonstrated achievement, a budget that covers the asking price), together at most
//!   [`MODE_BONUS`] + [`TRL_BONUS`] + [`BUDGET_BONUS`] = 4% of the same scale.
//!
//! Why these numbers: they were tuned on the DEV split of the quality benchmark
//! (`benches/quality.rs`: CSL demand → achievement, NSFC title → expert) and checked on its
//! held-out TEST split. The anonymizer's weights are tf × idf scaled to the heaviest term, so
//! they already carry a rarity of their own; used raw as term frequencies they count rarity
//! twice and let one heavy term swamp the rest, which cost about 4 points of MRR. Their
//! fourth root keeps the order of weights but flattens them. Summaries are short and capped
//! at 64 terms, and their length is a count of distinct terms, so a long summary is long
//! because it covers more, not because it repeats itself: b = 0.1 normalises length lightly.
//! (An expert's summary is the union of their projects, so a long one means a broad expert, not
//! a verbose one: on the NSFC DEV split, b 0.2 → 0.1 raised recall@10 0.249 → 0.255 and MRR
//! 0.152 → 0.156, b 0.5 lowered them to 0.240 and 0.141; CSL and arXiv did not move.)
//! Field agreement lifts the candidates in the demand's own discipline, which staff asked
//! for and which the topical grades of the benchmark reward.
//!
//! The index owns collection statistics (document frequencies, average length) and hands them
//! in as plain numbers, so everything here is a pure function of its arguments.

use pilot_model::{CooperationMode, FieldCode, Kind, Summary, SummaryKey, Trl};

use crate::index::Doc;

/// The two BM25 parameters. The index scores with [`Bm25::TUNED`] unless told otherwise
/// ([`crate::Index::with_bm25`]), e.g. by a benchmark that compares it with an engine whose
/// parameters are fixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation: 0 ignores length, 1 normalises fully.
    pub b: f32,
}

impl Bm25 {
    /// The parameters tuned on the quality benchmark's DEV split: k1 1.2, b 0.1 (see the
    /// module documentation).
    pub const TUNED: Bm25 = Bm25 { k1: 1.2, b: 0.1 };
}

impl Default for Bm25 {
    fn default() -> Self {
        Bm25::TUNED
    }
}

/// Field score, as a share of the subject's term-score scale, for a shared exact field code.
pub(crate) const FIELD_SHARE: f32 = 0.25;
/// Field points (of [`FIELD_SHARE`]) for sharing only a discipline category.
pub(crate) const SAME_CATEGORY: f32 = 0.4;

/// Fit bonus, as a share of the scale, when both list at least one common cooperation mode.
pub(crate) const MODE_BONUS: f32 = 0.02;
/// Fit bonus, as a share of the scale, when the achievement is at least [`READY_TRL`].
pub(crate) const TRL_BONUS: f32 = 0.01;
/// Readiness from which an achievement counts as demonstrated in a relevant environment.
const READY_TRL: u8 = 6;
/// Fit bonus, as a share of the scale, when the demand's budget bucket is at least the
/// achievement's price bucket.
pub(crate) const BUDGET_BONUS: f32 = 0.01;

/// A summary's term weight as BM25 uses it, for the subject and the candidate alike: the
/// fourth root, which keeps the order of weights in (0, 1] but flattens them (0.1 → 0.56).
///
/// NB: two square roots, which IEEE 754 rounds exactly, so the value is the same on every
/// platform.
pub(crate) fn damp(weight: f32) -> f32 {
    weight.sqrt().sqrt()
}

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
/// damped weights for it, `len` the candidate's number of distinct terms and `avg_len` the average on
/// the candidate's side.
///
/// NB: length counts distinct terms rather than summing weights, so that the collection's
/// average is an exact ratio of integers and cannot drift with the order of updates.
pub(crate) fn bm25(p: Bm25, idf: f32, qw: f32, dw: f32, len: f32, avg_len: f32) -> f32 {
    bm25_normed(p, idf, qw, dw, length_norm(p, len, avg_len))
}

/// The length part of BM25's denominator, `k1 × (1 − b + b × len / avg_len)`, which a query
/// can tabulate by length.
///
/// NB: [`bm25`] is exactly `bm25_normed(.., length_norm(..))`: the same operations in the same
/// order, each rounded to f32, so a tabulated norm gives the same bits.
pub(crate) fn length_norm(p: Bm25, len: f32, avg_len: f32) -> f32 {
    p.k1 * (1.0 - p.b + p.b * len / avg_len)
}

/// [`bm25`] with its length part already computed by [`length_norm`].
#[inline]
pub(crate) fn bm25_normed(p: Bm25, idf: f32, qw: f32, dw: f32, norm: f32) -> f32 {
    idf * (qw * dw * (p.k1 + 1.0)) / (dw + norm)
}

/// What the field and fit parts of a score need to know about one summary, as bit sets and
/// small integers, so that scoring a candidate reads no strings and allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traits {
    /// Its kind.
    pub(crate) kind: Kind,
    /// Bit `i` set if it carries the field code `FieldCode::all().nth(i)`.
    pub(crate) fields: u128,
    /// Bit `c` set if it carries a field code of the two-digit category `c`.
    pub(crate) categories: u128,
    /// Bit `i` set if it lists `CooperationMode::ALL[i]`.
    pub(crate) modes: u32,
    /// Its readiness level, if it states one.
    pub(crate) trl: Option<Trl>,
    /// Its budget bucket's rank, if it states one.
    pub(crate) budget: Option<usize>,
}

impl Traits {
    /// Placeholder traits of a slot that holds no summary.
    pub(crate) const NONE: Traits =
        Traits { kind: Kind::Demand, fields: 0, categories: 0, modes: 0, trl: None, budget: None };

    /// The traits of `summary`.
    pub(crate) fn of(summary: &Summary) -> Traits {
        let mut fields = 0u128;
        let mut categories = 0u128;
        for &f in &summary.fields {
            let i =
                FieldCode::all().position(|g| g == f).expect("a field code is in FieldCode::all");
            fields |= 1 << i;
            categories |= 1 << category_number(f);
        }
        let mut modes = 0u32;
        for m in &summary.modes {
            let i = CooperationMode::ALL.iter().position(|a| a == m).expect("a mode is in ALL");
            modes |= 1 << i;
        }
        Traits {
            kind: summary.kind,
            fields,
            categories,
            modes,
            trl: summary.trl,
            budget: summary.budget.map(|b| b.rank()),
        }
    }

    /// The exact field codes in the set, in code order.
    fn field_codes(self) -> impl Iterator<Item = FieldCode> {
        FieldCode::all().enumerate().filter(move |(i, _)| self.fields >> i & 1 == 1).map(|(_, f)| f)
    }
}

/// A field code's two-digit category as a number below 100; equal numbers mean equal
/// categories.
fn category_number(f: FieldCode) -> u32 {
    f.category().bytes().fold(0, |n, b| n * 10 + u32::from(b.wrapping_sub(b'0') % 10))
}

/// The field and fit facts of one subject–candidate pair, from which the score's non-term
/// parts follow.
#[derive(Debug, Clone, Copy)]
struct Fit {
    /// They share an exact field code.
    exact_field: bool,
    /// They share a discipline category.
    same_category: bool,
    /// They share a cooperation mode.
    mode: bool,
    /// The achievement of a demand–achievement pair is at least [`READY_TRL`].
    ready: bool,
    /// The demand's budget covers the achievement's price.
    budget: bool,
}

/// Scores candidates from the other side against one subject, with the collection statistics
/// fixed for the duration of a query.
pub(crate) struct Scorer<'a> {
    subject: &'a Doc,
    /// The index's term dictionary, for the subject's spellings.
    keys: &'a [Box<str>],
    /// The subject's term ids with their positions, sorted by id, to find the terms a
    /// candidate shares.
    positions: Vec<(u32, usize)>,
    traits: Traits,
    /// The idf of each of the subject's terms on the candidates' side.
    idf: Vec<f32>,
    /// The average length of documents on the candidates' side.
    avg_len: f32,
    /// The BM25 parameters.
    bm25: Bm25,
    /// The subject's term-score scale: Σ idf × damped weight over its terms, summed in term
    /// order. Field and fit parts are shares of it.
    scale: f32,
}

impl<'a> Scorer<'a> {
    /// A scorer for `subject`, whose traits are `traits`; `idf` runs parallel to
    /// `subject.terms`.
    pub(crate) fn new(
        subject: &'a Doc,
        keys: &'a [Box<str>],
        traits: Traits,
        idf: Vec<f32>,
        avg_len: f32,
        bm25: Bm25,
    ) -> Self {
        debug_assert_eq!(idf.len(), subject.terms.len());
        let scale = subject.terms.iter().zip(&idf).map(|(t, idf)| idf * t.tf).sum();
        let mut positions: Vec<(u32, usize)> =
            subject.terms.iter().enumerate().map(|(i, t)| (t.term, i)).collect();
        positions.sort_unstable();
        Scorer { subject, keys, positions, traits, idf, avg_len, bm25, scale }
    }

    /// The contribution of the subject's `i`-th term to a candidate whose damped weight for
    /// it is `tf` and which has `len` distinct terms (as a float, exactly).
    #[inline]
    pub(crate) fn term_part(&self, i: usize, tf: f32, len: f32) -> f32 {
        bm25(self.bm25, self.idf[i], self.subject.terms[i].tf, tf, len, self.avg_len)
    }

    /// The field part of a candidate that shares an exact field code: the most one of the
    /// subject's field lists can add, for pruning.
    pub(crate) fn field_share(&self) -> f32 {
        FIELD_SHARE * self.scale
    }

    /// The most a candidate can score beyond its term score, for pruning, by what is known
    /// of it: whether it shares an exact field code, and whether it shares a discipline
    /// category (`None`: not known). Every fit bonus is assumed; not rounded as `score` rounds.
    pub(crate) fn most_beyond_terms(&self, exact: Option<bool>, category: Option<bool>) -> f32 {
        let field = match (exact, category) {
            (Some(false), Some(false)) => 0.0,
            (Some(false), _) => FIELD_SHARE * SAME_CATEGORY,
            _ => FIELD_SHARE,
        };
        (field + MODE_BONUS + TRL_BONUS + BUDGET_BONUS) * self.scale
    }

    /// The field and fit facts of a candidate with traits `other`.
    #[inline]
    fn fit(&self, other: &Traits) -> Fit {
        let me = &self.traits;
        let pair = match (me.kind, other.kind) {
            (Kind::Demand, Kind::Achievement) => Some((me, other)),
            (Kind::Achievement, Kind::Demand) => Some((other, me)),
            _ => None,
        };
        let (ready, budget) = pair.map_or((false, false), |(demand, achievement)| {
            let ready = achievement.trl.is_some_and(|t| t.get() >= READY_TRL);
            let budget =
                matches!((demand.budget, achievement.budget), (Some(b), Some(p)) if b >= p);
            (ready, budget)
        });
        Fit {
            exact_field: me.fields & other.fields != 0,
            same_category: me.categories & other.categories != 0,
            mode: me.modes & other.modes != 0,
            ready,
            budget,
        }
    }

    /// The field score and fit score of a pair.
    ///
    /// NB: the operations and their order are those of the original formula, so that scores
    /// are the same to the bit; every step is monotonic in the facts.
    #[inline]
    fn parts(&self, fit: Fit) -> (f32, f32) {
        let field_points = if fit.exact_field {
            1.0
        } else if fit.same_category {
            SAME_CATEGORY
        } else {
            0.0
        };
        let field_score = FIELD_SHARE * field_points * self.scale;
        let mut fit_points = if fit.mode { MODE_BONUS } else { 0.0 };
        if fit.ready {
            fit_points += TRL_BONUS;
        }
        if fit.budget {
            fit_points += BUDGET_BONUS;
        }
        (field_score, fit_points * self.scale)
    }

    /// The total score of a candidate with traits `other` whose term score has been summed
    /// from the postings; the same number [`Scorer::rate`] returns.
    #[inline]
    pub(crate) fn score(&self, other: &Traits, term_score: f32) -> f32 {
        let (field_score, fit_score) = self.parts(self.fit(other));
        term_score + field_score + fit_score
    }

    /// The subject's `i`-th term's idf and damped weight.
    #[inline]
    pub(crate) fn term_consts(&self, i: usize) -> (f32, f32) {
        (self.idf[i], self.subject.terms[i].tf)
    }

    /// The average length on the candidates' side.
    pub(crate) fn avg_len(&self) -> f32 {
        self.avg_len
    }

    /// The total score and the explanation, less its shared terms, of a candidate whose
    /// term score has already been summed from the postings.
    ///
    /// Shared terms are left out because only the top k need them; see
    /// [`Scorer::shared_terms`].
    pub(crate) fn rate(
        &self,
        candidate: &Doc,
        other: &Traits,
        term_score: f32,
    ) -> (f32, Explanation) {
        let (subject, other_summary) = (&self.subject.summary, &candidate.summary);
        let fit = self.fit(other);
        let (field_score, fit_score) = self.parts(fit);

        let mut subject_modes = subject.modes.clone();
        subject_modes.sort_unstable();
        subject_modes.dedup();
        let mode_overlap: Vec<CooperationMode> =
            subject_modes.into_iter().filter(|m| other_summary.modes.contains(m)).collect();
        let trl = match (subject.kind, other_summary.kind) {
            (Kind::Demand, Kind::Achievement) => other_summary.trl,
            (Kind::Achievement, Kind::Demand) => subject.trl,
            _ => None,
        };

        let score = term_score + field_score + fit_score;
        let explanation = Explanation {
            shared_terms: Vec::new(),
            shared_fields: Traits { fields: self.traits.fields & other.fields, ..*other }
                .field_codes()
                .collect(),
            same_category: fit.same_category,
            trl,
            mode_overlap,
            term_score,
            field_score,
            fit_score,
        };
        (score, explanation)
    }

    /// What each term the subject shares with `candidate` adds to its term score, as
    /// (position among the subject's terms, part), in the subject's term order.
    fn shared_parts(&self, candidate: &Doc) -> Vec<(usize, f32)> {
        let len = candidate.terms.len() as f32;
        let mut parts: Vec<(usize, f32)> = candidate
            .terms
            .iter()
            .filter_map(|t| {
                let at = self.positions.binary_search_by_key(&t.term, |&(term, _)| term).ok()?;
                let i = self.positions[at].1;
                Some((i, self.term_part(i, t.tf, len)))
            })
            .collect();
        parts.sort_unstable_by_key(|&(i, _)| i);
        parts
    }

    /// The term score of `candidate`, from its own terms, summed in the subject's term order
    /// from zero, exactly as an exhaustive scan sums it; `None` if they share no term.
    pub(crate) fn term_score(&self, candidate: &Doc) -> Option<f32> {
        let parts = self.shared_parts(candidate);
        (!parts.is_empty()).then(|| parts.iter().fold(0.0f32, |sum, &(_, v)| sum + v))
    }

    /// The terms the subject shares with `candidate`, in the subject's own words, largest
    /// contribution first (ties by normalised term), at most [`MAX_EXPLAINED_TERMS`].
    pub(crate) fn shared_terms(&self, candidate: &Doc) -> Vec<String> {
        let mut shared = self.shared_parts(candidate);
        // Ties keep key order because the sort is stable and `shared` follows it.
        shared.sort_by(|a, b| b.1.total_cmp(&a.1));
        shared
            .into_iter()
            .take(MAX_EXPLAINED_TERMS)
            .map(|(i, _)| self.subject.spelling(i, self.keys).trim().to_owned())
            .collect()
    }
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
    fn damping_keeps_order_and_flattens() {
        assert_eq!(damp(1.0), 1.0);
        assert_eq!(damp(0.0625), 0.5);
        assert!(damp(0.1) > 0.5 && damp(0.1) < damp(0.2));
    }

    #[test]
    fn bm25_saturates_and_prefers_short_documents() {
        let p = Bm25::TUNED;
        let one = bm25(p, 1.0, 1.0, 1.0, 1.0, 1.0);
        assert!((one - 1.0).abs() < 1e-6, "dw 1 at average length scores idf × qw");
        assert!(bm25(p, 1.0, 1.0, 0.5, 1.0, 1.0) < one);
        assert!(bm25(p, 1.0, 1.0, 1.0, 4.0, 2.0) < bm25(p, 1.0, 1.0, 1.0, 1.0, 2.0));
        assert!(bm25(p, 1.0, 0.5, 1.0, 1.0, 1.0) < one);
        // b 0 ignores length; a larger b penalises a long document more.
        let flat = Bm25 { b: 0.0, ..p };
        assert_eq!(bm25(flat, 1.0, 1.0, 1.0, 4.0, 2.0), bm25(flat, 1.0, 1.0, 1.0, 1.0, 2.0));
        let full = Bm25 { b: 0.75, ..p };
        assert!(bm25(full, 1.0, 1.0, 1.0, 4.0, 2.0) < bm25(p, 1.0, 1.0, 1.0, 4.0, 2.0));
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
        // Both parts are shares of the subject's scale, so their ratio is fixed; sharing three
        // exact fields counts as much as sharing one.
        let fit_share = MODE_BONUS + TRL_BONUS + BUDGET_BONUS;
        assert!((e.fit_score / e.field_score - fit_share / FIELD_SHARE).abs() < 1e-5);
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
        // One term of weight 1 carried by 1 of the 9 supply summaries: the scale is its idf.
        let scale = idf(9, 1) * damp(1.0);
        assert!((e.field_score - FIELD_SHARE * SAME_CATEGORY * scale).abs() < 1e-5);
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
        assert!((m.explanation.fit_score - TRL_BONUS * idf(9, 1)).abs() < 1e-5);
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
