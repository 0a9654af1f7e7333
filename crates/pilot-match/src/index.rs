//! The [`Index`] of shared summaries: storage by key, the inverted term and field indexes with
//! their per-side document frequencies, and top-k selection for [`Index::matches_for`].
//!
//! Documents live in a slab (`Vec<Option<Doc>>` plus a free list) so that every stored summary
//! has a small, stable [`DocId`] that postings can name; `by_key` maps summary keys to ids.
//! Ids are an internal detail: they depend on insertion order, so nothing observable may
//! depend on them (ties are broken by key, sums run in the subject's term order).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use pilot_model::{FieldCode, Kind, Summary, SummaryKey};

use crate::score::{self, Explanation, Match, Scorer};

/// Which side of the market a summary is on; each side is a separate BM25 collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Demands.
    Demand = 0,
    /// Achievements and experts.
    Supply = 1,
}

impl Side {
    fn of(kind: Kind) -> Side {
        if kind.is_supply() { Side::Supply } else { Side::Demand }
    }

    fn other(self) -> Side {
        match self {
            Side::Demand => Side::Supply,
            Side::Supply => Side::Demand,
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// A slot in the index's slab: stable while its summary is stored, reused after removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DocId(u32);

impl DocId {
    fn idx(self) -> usize {
        self.0 as usize
    }
}

/// One distinct term of a stored summary, as indexed.
#[derive(Debug)]
pub(crate) struct DocTerm {
    /// The normalised term, the key of the inverted index.
    pub(crate) key: String,
    /// The summary's weight for it, in (0, 1].
    pub(crate) weight: f32,
    /// The weight as BM25 uses it, [`score::damp`]ed; computed once here, so that postings
    /// hold it and queries do not recompute it.
    pub(crate) tf: f32,
    /// Position of the original spelling in `Summary::terms`.
    pub(crate) original: usize,
}

/// A stored summary and its analysed form.
#[derive(Debug)]
pub(crate) struct Doc {
    /// The summary exactly as upserted.
    pub(crate) summary: Summary,
    /// Distinct usable terms, sorted by key.
    pub(crate) terms: Vec<DocTerm>,
    /// Distinct field codes, sorted.
    pub(crate) fields: Vec<FieldCode>,
}

impl Doc {
    /// Normalises, filters and deduplicates the summary's terms and fields.
    ///
    /// A term repeated under the same normalised spelling keeps its highest weight; terms with
    /// a weight that is not finite and positive are dropped, and weights are capped at 1.
    fn analyze(summary: Summary) -> Doc {
        let mut terms: Vec<DocTerm> = summary
            .terms
            .iter()
            .enumerate()
            .filter(|(_, t)| t.weight.is_finite() && t.weight > 0.0)
            .map(|(original, t)| {
                let weight = t.weight.min(1.0);
                DocTerm { key: normalize(&t.term), weight, tf: score::damp(weight), original }
            })
            .filter(|t| !t.key.is_empty())
            .collect();
        terms.sort_by(|a, b| {
            a.key.cmp(&b.key).then(b.weight.total_cmp(&a.weight)).then(a.original.cmp(&b.original))
        });
        // `dedup_by` keeps the first of each run, which the sort made the heaviest.
        terms.dedup_by(|later, first| later.key == first.key);
        let mut fields = summary.fields.clone();
        fields.sort_unstable();
        fields.dedup();
        Doc { summary, terms, fields }
    }

    /// The summary's own spelling of one of its indexed terms, trimmed.
    pub(crate) fn spelling<'a>(&'a self, term: &'a DocTerm) -> &'a str {
        self.summary.terms.get(term.original).map_or(term.key.as_str(), |t| t.term.trim())
    }
}

/// The inverted-index key of a term: trimmed and lowercased, so `AI` and `ai ` meet.
fn normalize(term: &str) -> String {
    term.trim().to_lowercase()
}

/// The postings of one term: which documents on each side carry it, with their damped weights
/// (`DocTerm::tf`).
///
/// The document frequency of the term on a side is the length of that side's map.
#[derive(Debug, Default)]
struct Postings {
    sides: [BTreeMap<DocId, f32>; 2],
}

/// Collection statistics of one side, kept as integers so that adding and removing summaries
/// in any order yields exactly the same numbers.
#[derive(Debug, Default, Clone, Copy)]
struct SideStats {
    /// Number of stored documents.
    docs: usize,
    /// Sum of their distinct-term counts.
    terms: usize,
}

/// All shared summaries known to the hub, indexed for matching.
///
/// NB: document frequencies are kept per side, not globally. A demand is only ever ranked
/// against the supply side and vice versa, so a term's rarity must be measured among the
/// documents being ranked: a phrase every demand uses (say 降本) says nothing about which
/// achievement fits best, and should not lower the weight of a term that is rare among
/// achievements. Average lengths are per side for the same reason.
#[derive(Debug, Default)]
pub struct Index {
    /// The slab; `None` marks a free slot.
    slots: Vec<Option<Doc>>,
    /// Free slots, reused last-freed first.
    free: Vec<DocId>,
    /// Every stored summary's slot, ordered by key.
    by_key: BTreeMap<SummaryKey, DocId>,
    /// Normalised term to postings; terms with no postings left are removed.
    terms: BTreeMap<String, Postings>,
    /// Exact field code to the documents on each side that carry it.
    fields: BTreeMap<FieldCode, [BTreeSet<DocId>; 2]>,
    /// Per-side statistics, indexed by `Side::idx`.
    stats: [SideStats; 2],
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces the summary stored under `summary.key`.
    ///
    /// Summaries whose status is not shared (`Status::is_shared()` false) are removed
    /// instead, so a withdrawal can be applied by upserting the withdrawn summary.
    pub fn upsert(&mut self, summary: Summary) {
        self.remove(&summary.key);
        if !summary.status.is_shared() {
            return;
        }
        let doc = Doc::analyze(summary);
        let id = self.alloc();
        self.link(id, &doc);
        self.by_key.insert(doc.summary.key.clone(), id);
        self.slots[id.idx()] = Some(doc);
    }

    /// Removes the summary stored under `key`, returning it.
    pub fn remove(&mut self, key: &SummaryKey) -> Option<Summary> {
        let id = self.by_key.remove(key)?;
        let doc = self.slots[id.idx()].take().expect("by_key names only occupied slots");
        self.unlink(id, &doc);
        self.free.push(id);
        Some(doc.summary)
    }

    /// The summary stored under `key`.
    pub fn get(&self, key: &SummaryKey) -> Option<&Summary> {
        self.by_key.get(key).map(|&id| &self.doc(id).summary)
    }

    /// Number of stored summaries.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no summary is stored.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every summary, ordered by key (deterministic).
    pub fn iter(&self) -> impl Iterator<Item = &Summary> {
        self.by_key.values().map(|&id| &self.doc(id).summary)
    }

    /// Top matches for the summary stored under `key`: a demand is matched against
    /// achievements and experts; an achievement or expert against demands.
    ///
    /// Empty if `key` is unknown, if `query.k` is 0, or if `query.kinds` names no kind on the
    /// counterpart side. A counterpart qualifies only if it shares at least one term or one
    /// exact field code with the subject and its score exceeds `query.min_score`.
    pub fn matches_for(&self, key: &SummaryKey, query: &Query) -> Vec<Match> {
        let Some(&subject_id) = self.by_key.get(key) else {
            return Vec::new();
        };
        if query.k == 0 {
            return Vec::new();
        }
        let subject = self.doc(subject_id);
        let side = Side::of(subject.summary.kind).other();
        let scorer = Scorer::new(subject, self.idfs(subject, side), self.avg_len(side));

        // Term-at-a-time accumulation: every document sharing a term or an exact field with the
        // subject becomes a candidate. Each candidate's sum runs over the subject's terms in key
        // order, which does not depend on doc ids, so scores are reproducible to the bit.
        let mut candidates: BTreeMap<DocId, f32> = BTreeMap::new();
        for (i, term) in subject.terms.iter().enumerate() {
            let Some(postings) = self.terms.get(&term.key) else { continue };
            for (&id, &tf) in &postings.sides[side.idx()] {
                let len = self.doc(id).terms.len();
                *candidates.entry(id).or_insert(0.0) += scorer.term_part(i, tf, len);
            }
        }
        for field in &subject.fields {
            for &id in self.fields.get(field).map(|f| &f[side.idx()]).into_iter().flatten() {
                candidates.entry(id).or_insert(0.0);
            }
        }

        // Bounded selection: the heap holds the best k so far with the worst on top.
        let mut best: BinaryHeap<Reverse<Ranked<'_>>> = BinaryHeap::new();
        for (id, term_score) in candidates {
            let doc = self.doc(id);
            let summary = &doc.summary;
            let allowed = id != subject_id
                && (query.include_same_city || summary.key.city != key.city)
                && (query.kinds.is_empty() || query.kinds.contains(&summary.kind));
            if !allowed {
                continue;
            }
            let (score, explanation) = scorer.rate(doc, term_score);
            // NB: `Greater` only, so that a NaN min_score admits nothing.
            if score.partial_cmp(&query.min_score) != Some(Ordering::Greater) {
                continue;
            }
            best.push(Reverse(Ranked { score, doc, explanation }));
            if best.len() > query.k {
                best.pop();
            }
        }

        // Ascending order of `Reverse` is best first.
        best.into_sorted_vec()
            .into_iter()
            .map(|Reverse(r)| Match {
                subject: key.clone(),
                subject_kind: subject.summary.kind,
                counterpart: r.doc.summary.key.clone(),
                counterpart_kind: r.doc.summary.kind,
                score: r.score,
                explanation: Explanation {
                    shared_terms: scorer.shared_terms(r.doc),
                    ..r.explanation
                },
            })
            .collect()
    }

    /// The document in an occupied slot.
    fn doc(&self, id: DocId) -> &Doc {
        self.slots[id.idx()].as_ref().expect("postings and by_key name only occupied slots")
    }

    /// Number of documents on `side` carrying the normalised term `key`.
    fn df_of_key(&self, key: &str, side: Side) -> usize {
        self.terms.get(key).map_or(0, |p| p.sides[side.idx()].len())
    }

    /// Number of documents on `side` carrying `term`, as spelt by a summary.
    #[cfg(test)]
    fn df(&self, term: &str, side: Side) -> usize {
        self.df_of_key(&normalize(term), side)
    }

    /// The idf on `side` of each of the subject's terms, in the subject's term order.
    fn idfs(&self, subject: &Doc, side: Side) -> Vec<f32> {
        let docs = self.stats[side.idx()].docs;
        subject.terms.iter().map(|t| score::idf(docs, self.df_of_key(&t.key, side))).collect()
    }

    /// Average number of distinct terms of the documents on `side`; 1 for an empty side.
    fn avg_len(&self, side: Side) -> f32 {
        let s = self.stats[side.idx()];
        if s.docs == 0 || s.terms == 0 { 1.0 } else { s.terms as f32 / s.docs as f32 }
    }

    /// A free slot, growing the slab if none is left.
    fn alloc(&mut self) -> DocId {
        if let Some(id) = self.free.pop() {
            return id;
        }
        let id = DocId(u32::try_from(self.slots.len()).expect("fewer than 2^32 summaries"));
        self.slots.push(None);
        id
    }

    /// Adds a document's postings and statistics.
    fn link(&mut self, id: DocId, doc: &Doc) {
        let side = Side::of(doc.summary.kind).idx();
        self.stats[side].docs += 1;
        self.stats[side].terms += doc.terms.len();
        for t in &doc.terms {
            self.terms.entry(t.key.clone()).or_default().sides[side].insert(id, t.tf);
        }
        for &f in &doc.fields {
            self.fields.entry(f).or_default()[side].insert(id);
        }
    }

    /// Takes back exactly what `link` added, dropping postings lists that become empty.
    fn unlink(&mut self, id: DocId, doc: &Doc) {
        let side = Side::of(doc.summary.kind).idx();
        self.stats[side].docs -= 1;
        self.stats[side].terms -= doc.terms.len();
        for t in &doc.terms {
            if let Some(p) = self.terms.get_mut(&t.key) {
                p.sides[side].remove(&id);
                if p.sides.iter().all(BTreeMap::is_empty) {
                    self.terms.remove(&t.key);
                }
            }
        }
        for f in &doc.fields {
            if let Some(sides) = self.fields.get_mut(f) {
                sides[side].remove(&id);
                if sides.iter().all(BTreeSet::is_empty) {
                    self.fields.remove(f);
                }
            }
        }
    }
}

/// What [`Index::matches_for`] should return.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Most matches to return (top-k). Default 10.
    pub k: usize,
    /// Whether counterparts from the subject's own city count. Default false: the hub exists
    /// to find cross-region matches, which cities cannot find on their own.
    pub include_same_city: bool,
    /// Counterpart kinds to consider; empty means every kind on the other side. Kinds on the
    /// subject's own side never match.
    pub kinds: Vec<Kind>,
    /// A match must score strictly more than this. Default 0.0.
    pub min_score: f32,
}

impl Default for Query {
    fn default() -> Self {
        Query { k: 10, include_same_city: false, kinds: Vec::new(), min_score: 0.0 }
    }
}

/// A candidate during top-k selection, ordered so that greater means better: higher score,
/// then lower city, then lower pseudonym.
struct Ranked<'a> {
    score: f32,
    doc: &'a Doc,
    explanation: Explanation,
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.doc.summary.key.cmp(&self.doc.summary.key))
    }
}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked<'_> {}

#[cfg(test)]
mod tests {
    use pilot_model::{Kind, Status};

    use super::*;
    use crate::testing::{key, summary};

    const XIANNING: &str = "421200";
    const SHENZHEN: &str = "440300";
    const HEFEI: &str = "340100";
    const CHENGDU: &str = "510100";

    fn counterparts(matches: &[Match]) -> Vec<SummaryKey> {
        matches.iter().map(|m| m.counterpart.clone()).collect()
    }

    /// A demand in Xianning and battery-related supply in three cities, plus unrelated noise.
    fn battery_index() -> Index {
        let mut index = Index::new();
        index.upsert(summary(
            Kind::Demand,
            XIANNING,
            1,
            &[("锂电池", 1.0), ("隔膜", 0.8)],
            &["0805"],
        ));
        index.upsert(summary(Kind::Achievement, XIANNING, 2, &[("锂电池", 1.0)], &[]));
        index.upsert(summary(Kind::Achievement, SHENZHEN, 3, &[("隔膜", 1.0)], &["0805"]));
        index.upsert(summary(Kind::Expert, HEFEI, 4, &[("锂电池", 0.6)], &[]));
        index.upsert(summary(Kind::Achievement, CHENGDU, 5, &[("图像识别", 1.0)], &[]));
        index.upsert(summary(Kind::Demand, SHENZHEN, 6, &[("锂电池", 1.0)], &[]));
        index
    }

    #[test]
    fn cross_region_by_default_same_city_on_request() {
        let index = battery_index();
        let subject = key(XIANNING, 1);
        let cross = index.matches_for(&subject, &Query::default());
        assert_eq!(counterparts(&cross), vec![key(SHENZHEN, 3), key(HEFEI, 4)]);

        let all = Query { include_same_city: true, ..Query::default() };
        let with_local = counterparts(&index.matches_for(&subject, &all));
        assert_eq!(with_local.len(), 3);
        assert!(with_local.contains(&key(XIANNING, 2)));
    }

    #[test]
    fn demand_meets_achievements_and_experts_only() {
        let index = battery_index();
        let all = Query { include_same_city: true, ..Query::default() };
        let matches = index.matches_for(&key(XIANNING, 1), &all);
        assert!(matches.iter().all(|m| m.subject_kind == Kind::Demand));
        assert!(matches.iter().all(|m| m.counterpart_kind.is_supply()));
        assert!(matches.iter().any(|m| m.counterpart_kind == Kind::Expert));
        assert!(matches.iter().any(|m| m.counterpart_kind == Kind::Achievement));

        let experts = Query { kinds: vec![Kind::Expert], ..all.clone() };
        assert_eq!(counterparts(&index.matches_for(&key(XIANNING, 1), &experts)), [key(HEFEI, 4)]);

        let demands = Query { kinds: vec![Kind::Demand], ..all };
        assert!(index.matches_for(&key(XIANNING, 1), &demands).is_empty());
    }

    #[test]
    fn achievement_meets_demands_only() {
        let index = battery_index();
        let all = Query { include_same_city: true, ..Query::default() };
        let matches = index.matches_for(&key(XIANNING, 2), &all);
        // Both demands share 锂电池 with full weight; the shorter one is the closer fit.
        assert_eq!(counterparts(&matches), vec![key(SHENZHEN, 6), key(XIANNING, 1)]);
        assert!(matches.iter().all(|m| m.counterpart_kind == Kind::Demand));
        assert!(matches.iter().all(|m| m.subject == key(XIANNING, 2)));

        let expert = index.matches_for(&key(HEFEI, 4), &Query::default());
        assert_eq!(counterparts(&expert), vec![key(SHENZHEN, 6), key(XIANNING, 1)]);
    }

    #[test]
    fn unknown_key_and_unshared_summaries_match_nothing() {
        let mut index = battery_index();
        assert!(index.matches_for(&key(XIANNING, 99), &Query::default()).is_empty());

        let mut draft = summary(Kind::Achievement, HEFEI, 7, &[("锂电池", 1.0)], &["0805"]);
        draft.status = Status::Draft;
        index.upsert(draft.clone());
        assert!(index.get(&draft.key).is_none());
        assert!(index.matches_for(&draft.key, &Query::default()).is_empty());

        // Publishing it makes it match; withdrawing it by upsert removes it again.
        draft.status = Status::Open;
        index.upsert(draft.clone());
        let keys = counterparts(&index.matches_for(&key(XIANNING, 1), &Query::default()));
        assert!(keys.contains(&draft.key));
        draft.status = Status::Withdrawn;
        index.upsert(draft.clone());
        assert!(index.get(&draft.key).is_none());
        let keys = counterparts(&index.matches_for(&key(XIANNING, 1), &Query::default()));
        assert!(!keys.contains(&draft.key));
    }

    #[test]
    fn remove_takes_back_postings_and_df() {
        let mut index = battery_index();
        let (before_supply, before_demand) =
            (index.df("锂电池", Side::Supply), index.df("锂电池", Side::Demand));
        let before_len = index.len();
        let before_avg = index.avg_len(Side::Supply);

        let extra = summary(Kind::Achievement, HEFEI, 7, &[("锂电池", 0.9), ("钠离子", 1.0)], &[]);
        index.upsert(extra.clone());
        assert_eq!(index.df("锂电池", Side::Supply), before_supply + 1);
        assert_eq!(index.df("钠离子", Side::Supply), 1);
        assert!(
            counterparts(&index.matches_for(&key(XIANNING, 1), &Query::default()))
                .contains(&extra.key)
        );

        assert_eq!(index.remove(&extra.key), Some(extra.clone()));
        assert_eq!(index.remove(&extra.key), None);
        assert_eq!(index.df("锂电池", Side::Supply), before_supply);
        assert_eq!(index.df("锂电池", Side::Demand), before_demand);
        assert_eq!(index.df("钠离子", Side::Supply), 0);
        assert!(!index.terms.contains_key("钠离子"), "empty postings are dropped");
        assert_eq!(index.len(), before_len);
        assert_eq!(index.avg_len(Side::Supply).to_bits(), before_avg.to_bits());
        for subject in index.iter().map(|s| s.key.clone()).collect::<Vec<_>>() {
            let all = Query { include_same_city: true, k: 100, ..Query::default() };
            assert!(!counterparts(&index.matches_for(&subject, &all)).contains(&extra.key));
        }
    }

    #[test]
    fn replace_updates_postings_and_fields() {
        let mut index = battery_index();
        let subject = key(XIANNING, 1);
        // Shenzhen #3 pivots from separators to image recognition, and changes field.
        index.upsert(summary(Kind::Achievement, SHENZHEN, 3, &[("图像识别", 1.0)], &["0812"]));
        assert_eq!(index.len(), 6);
        assert_eq!(index.df("隔膜", Side::Supply), 0);
        assert_eq!(index.df("图像识别", Side::Supply), 2);
        let materials = FieldCode::parse("0805").unwrap();
        assert!(index.fields[&materials][Side::Supply.idx()].is_empty());
        assert_eq!(index.fields[&materials][Side::Demand.idx()].len(), 1);
        let keys = counterparts(&index.matches_for(&subject, &Query::default()));
        assert_eq!(keys, vec![key(HEFEI, 4)]);

        // A key can even change kind; it then lives on the other side.
        index.upsert(summary(Kind::Demand, SHENZHEN, 3, &[("图像识别", 1.0)], &[]));
        assert_eq!(index.df("图像识别", Side::Supply), 1);
        assert_eq!(index.df("图像识别", Side::Demand), 1);
        assert_eq!(index.len(), 6);
    }

    #[test]
    fn equal_scores_order_by_city_then_pseudonym() {
        let mut index = Index::new();
        index.upsert(summary(Kind::Demand, XIANNING, 1, &[("电解液", 1.0)], &["0817"]));
        // Identical supply summaries, inserted in scrambled order.
        for (city, n) in [(SHENZHEN, 9), (CHENGDU, 1), (HEFEI, 5), (SHENZHEN, 2), (HEFEI, 3)] {
            index.upsert(summary(Kind::Achievement, city, n, &[("电解液", 0.7)], &["0817"]));
        }
        let matches = index.matches_for(&key(XIANNING, 1), &Query::default());
        assert!(matches.windows(2).all(|w| w[0].score == w[1].score));
        assert_eq!(
            counterparts(&matches),
            vec![key(HEFEI, 3), key(HEFEI, 5), key(SHENZHEN, 2), key(SHENZHEN, 9), key(CHENGDU, 1)]
        );

        // The bound keeps the first k of that same order.
        let two = index.matches_for(&key(XIANNING, 1), &Query { k: 2, ..Query::default() });
        assert_eq!(counterparts(&two), vec![key(HEFEI, 3), key(HEFEI, 5)]);
    }

    #[test]
    fn k_and_min_score_bound_the_result() {
        let mut index = Index::new();
        index.upsert(summary(
            Kind::Demand,
            XIANNING,
            1,
            &[("深度学习", 1.0), ("图像识别", 1.0)],
            &[],
        ));
        for n in 1..=20 {
            let w = n as f32 / 20.0;
            index.upsert(summary(Kind::Expert, HEFEI, n, &[("深度学习", w)], &[]));
        }
        let subject = key(XIANNING, 1);
        assert!(index.matches_for(&subject, &Query { k: 0, ..Query::default() }).is_empty());
        assert_eq!(index.matches_for(&subject, &Query { k: 1, ..Query::default() }).len(), 1);
        assert_eq!(index.matches_for(&subject, &Query::default()).len(), 10);
        let everything = index.matches_for(&subject, &Query { k: usize::MAX, ..Query::default() });
        assert_eq!(everything.len(), 20);
        assert!(everything.windows(2).all(|w| w[0].score > w[1].score), "heavier is better");
        assert_eq!(everything[0].counterpart, key(HEFEI, 20));

        // min_score is exclusive.
        let threshold = everything[4].score;
        let above = Query { k: usize::MAX, min_score: threshold, ..Query::default() };
        assert_eq!(index.matches_for(&subject, &above).len(), 4);
        let nan = Query { min_score: f32::NAN, ..Query::default() };
        assert!(index.matches_for(&subject, &nan).is_empty());
    }

    #[test]
    fn field_code_alone_qualifies_but_category_alone_does_not() {
        let mut index = Index::new();
        index.upsert(summary(Kind::Demand, XIANNING, 1, &[("涂覆", 1.0)], &["0805"]));
        index.upsert(summary(Kind::Achievement, HEFEI, 2, &[("钙钛矿", 1.0)], &["0805"]));
        index.upsert(summary(Kind::Achievement, HEFEI, 3, &[("光伏", 1.0)], &["0808"]));
        let matches = index.matches_for(&key(XIANNING, 1), &Query::default());
        assert_eq!(counterparts(&matches), vec![key(HEFEI, 2)]);
        assert_eq!(matches[0].explanation.term_score, 0.0);
        assert!(matches[0].explanation.shared_terms.is_empty());
    }

    #[test]
    fn terms_are_normalised_deduplicated_and_bad_weights_ignored() {
        let mut index = Index::new();
        index.upsert(summary(
            Kind::Demand,
            XIANNING,
            1,
            &[("AI", 0.5), (" ai ", 0.9), ("无效", f32::NAN), ("  ", 1.0)],
            &[],
        ));
        index.upsert(summary(Kind::Achievement, HEFEI, 2, &[("Ai", 1.0), ("无效", 1.0)], &[]));
        assert_eq!(index.df("ai", Side::Demand), 1);
        assert_eq!(index.df("无效", Side::Demand), 0);
        assert_eq!(index.stats[Side::Demand.idx()].terms, 1);
        let matches = index.matches_for(&key(XIANNING, 1), &Query::default());
        assert_eq!(matches.len(), 1);
        // The subject's own spelling of the heaviest duplicate, trimmed.
        assert_eq!(matches[0].explanation.shared_terms, vec!["ai".to_owned()]);
        let heaviest = index.get(&key(XIANNING, 1)).unwrap();
        assert_eq!(heaviest.terms[1].term, " ai ", "the stored summary is untouched");
        assert!(matches[0].score.is_finite());
    }

    #[test]
    fn freed_slots_are_reused() {
        let mut index = battery_index();
        let slots = index.slots.len();
        index.remove(&key(HEFEI, 4));
        index.upsert(summary(Kind::Expert, HEFEI, 8, &[("锂电池", 0.6)], &[]));
        assert_eq!(index.slots.len(), slots);
        assert!(index.free.is_empty());
    }
}
