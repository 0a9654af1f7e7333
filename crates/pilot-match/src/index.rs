//! The [`Index`] of shared summaries: storage by key, the inverted term and field indexes with
//! their per-side document frequencies, and top-k selection for [`Index::matches_for`].
//!
//! Documents live in a slab (`Vec<Option<Doc>>`) so that every stored summary has a small,
//! stable [`DocId`] that postings can name; `by_key` maps summary keys to ids. Terms are
//! interned as `u32` ids. Postings are plain vectors of `(doc, damped weight)`; removing a
//! summary leaves tombstones in them (its slot is marked dead, document frequencies are
//! decremented at once), which a purge sweeps out once enough slots are dead, and only then
//! are those slots reused. Ids are an internal detail: they depend on insertion order, so
//! nothing observable may depend on them (ties are broken by key, sums run in the subject's
//! term order).
//!
//! A query accumulates term scores in a dense per-thread array indexed by doc id, visiting
//! the subject's terms in key order, so each candidate's sum is formed in the same order
//! whatever the ids are. Documents that share only an exact field with the subject are
//! considered only while their best possible score could still reach the top k.

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use pilot_model::{FieldCode, Kind, Summary, SummaryKey};

use crate::score::{self, Bm25, Explanation, Match, Scorer, Traits};

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

/// A slot in the index's slab: stable while its summary is stored, reused after removal
/// once no posting names it any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DocId(u32);

impl DocId {
    fn idx(self) -> usize {
        self.0 as usize
    }
}

/// One distinct term of a stored summary, as indexed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocTerm {
    /// The interned normalised term, the key of the inverted index.
    pub(crate) term: u32,
    /// The summary's weight for it as BM25 uses it, [`score::damp`]ed; computed once here, so
    /// that postings hold it and queries do not recompute it.
    pub(crate) tf: f32,
    /// Position of the original spelling in `Summary::terms`.
    pub(crate) original: u32,
}

/// A stored summary and its analysed form.
#[derive(Debug)]
pub(crate) struct Doc {
    /// The summary exactly as upserted.
    pub(crate) summary: Summary,
    /// Distinct usable terms, sorted by normalised key.
    pub(crate) terms: Box<[DocTerm]>,
}

impl Doc {
    /// The summary's own spelling of one of its indexed terms, trimmed.
    pub(crate) fn spelling<'a>(&'a self, term: &DocTerm) -> &'a str {
        self.summary.terms[term.original as usize].term.trim()
    }
}

/// A term of a summary before interning: normalised key, weight, original position.
struct RawTerm<'a> {
    key: Cow<'a, str>,
    weight: f32,
    original: usize,
}

/// Normalises, filters and deduplicates a summary's terms, sorted by key.
///
/// A term repeated under the same normalised spelling keeps its highest weight; terms with a
/// weight that is not finite and positive are dropped, and weights are capped at 1.
fn analyze(summary: &Summary) -> Vec<RawTerm<'_>> {
    let mut terms: Vec<RawTerm<'_>> = summary
        .terms
        .iter()
        .enumerate()
        .filter(|(_, t)| t.weight.is_finite() && t.weight > 0.0)
        .map(|(original, t)| RawTerm {
            key: normalize(&t.term),
            weight: t.weight.min(1.0),
            original,
        })
        .filter(|t| !t.key.is_empty())
        .collect();
    terms.sort_by(|a, b| {
        a.key.cmp(&b.key).then(b.weight.total_cmp(&a.weight)).then(a.original.cmp(&b.original))
    });
    // `dedup_by` keeps the first of each run, which the sort made the heaviest.
    terms.dedup_by(|later, first| later.key == first.key);
    terms
}

/// The inverted-index key of a term: trimmed and lowercased, so `AI` and `ai ` meet.
///
/// NB: borrowed when lowercasing changes nothing (the common case), which `to_lowercase` decides
/// character by character, so checking each character against its own lowercase is exact.
fn normalize(term: &str) -> Cow<'_, str> {
    let t = term.trim();
    if t.chars().all(|c| c.is_ascii() && !c.is_ascii_uppercase() || c.to_lowercase().eq([c])) {
        Cow::Borrowed(t)
    } else {
        Cow::Owned(t.to_lowercase())
    }
}

/// One entry of a postings list: a document and its damped weight for the term.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    tf: f32,
}

/// The postings of one term: which documents on each side carry it, with their damped weights
/// (`DocTerm::tf`), tombstones included until the next purge.
#[derive(Debug, Default)]
struct Postings {
    sides: [Vec<Posting>; 2],
    /// The document frequency on each side: live entries only.
    df: [u32; 2],
}

/// The documents on each side that carry one exact field code, tombstones included.
#[derive(Debug, Default, Clone)]
struct FieldPostings {
    sides: [Vec<u32>; 2],
    /// Live entries on each side.
    live: [u32; 2],
}

/// What queries need to know about each slot, densely, so that scanning postings does not
/// visit the slab.
#[derive(Debug, Clone, Copy)]
struct Meta {
    /// Number of distinct terms as a float (exact), or negative for a dead slot.
    len: f32,
    /// The summary's city code.
    city: u32,
    /// The field and fit facts of the summary.
    traits: Traits,
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
    /// The slab; `None` marks a free or dead slot.
    slots: Vec<Option<Doc>>,
    /// Per-slot query data, parallel to `slots`.
    meta: Vec<Meta>,
    /// Per-slot number of distinct terms, or `DEAD_LEN`; parallel to `slots` and dense, for
    /// the postings scan.
    lens: Vec<u32>,
    /// Free slots (no posting names them), reused last-freed first.
    free: Vec<DocId>,
    /// Dead slots that postings may still name; freed by the next purge.
    dead: Vec<DocId>,
    /// Every stored summary's slot, ordered by key.
    by_key: BTreeMap<SummaryKey, DocId>,
    /// Normalised term to its id. NB: only looked up, never iterated.
    term_ids: HashMap<String, u32>,
    /// Postings by term id.
    terms: Vec<Postings>,
    /// Term ids whose postings became empty, reusable after a purge dropped their key.
    free_terms: Vec<u32>,
    /// Term ids known to have no live posting, for the next purge to retire.
    empty_terms: Vec<u32>,
    /// Exact field code (by position in `FieldCode::all()`) to its postings.
    fields: Vec<FieldPostings>,
    /// Per-side statistics, indexed by `Side::idx`.
    stats: [SideStats; 2],
    /// The BM25 parameters queries score with.
    bm25: Bm25,
}

/// A dead slot's `Meta::len`.
const DEAD: f32 = -1.0;
/// A dead slot's entry in `Index::lens`.
const DEAD_LEN: u32 = u32::MAX;
/// Lengths (distinct-term counts) whose BM25 length norm a query tabulates.
const NORM_TABLE: usize = 129;

/// Per-thread scratch space of a query, reset after every query.
#[derive(Default)]
struct Scratch {
    /// Term score accumulated per doc id.
    score: Vec<f32>,
    /// Whether a doc id was already collected as a candidate.
    seen: Vec<bool>,
    /// The doc ids marked in `seen`, in the order they were first seen.
    touched: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same index, scoring with other BM25 parameters from now on (they are used only at
    /// query time, so they can be changed at any point).
    #[must_use]
    pub fn with_bm25(mut self, bm25: Bm25) -> Self {
        self.bm25 = bm25;
        self
    }

    /// The BM25 parameters it scores with; [`Bm25::TUNED`] unless set by
    /// [`Index::with_bm25`].
    pub fn bm25(&self) -> Bm25 {
        self.bm25
    }

    /// An index holding the given summaries, the same as upserting them one by one in order
    /// (so a later summary with the same key replaces an earlier one, and unshared summaries
    /// are not stored), but built in bulk: terms are counted first so that every postings
    /// list is allocated once at its final size.
    pub fn from_summaries(summaries: Vec<Summary>) -> Self {
        // The last summary under each key wins, as with successive upserts.
        let mut last: HashMap<&SummaryKey, usize> = HashMap::with_capacity(summaries.len());
        for (i, s) in summaries.iter().enumerate() {
            last.insert(&s.key, i);
        }
        let mut keep: Vec<bool> = vec![false; summaries.len()];
        for (i, s) in summaries.iter().enumerate() {
            keep[i] = last[&s.key] == i && s.status.is_shared();
        }
        drop(last);
        let mut index = Index::new();
        let mut analysed: Vec<Doc> = Vec::new();
        let mut counts: Vec<[u32; 2]> = Vec::new();
        for (summary, keep) in summaries.into_iter().zip(keep) {
            if !keep {
                continue;
            }
            let side = Side::of(summary.kind).idx();
            let terms = index.doc_terms(&summary);
            counts.resize(index.terms.len(), [0, 0]);
            for t in terms.iter() {
                counts[t.term as usize][side] += 1;
            }
            analysed.push(Doc { summary, terms });
        }
        for (p, c) in index.terms.iter_mut().zip(&counts) {
            p.sides = [Vec::with_capacity(c[0] as usize), Vec::with_capacity(c[1] as usize)];
        }
        drop(counts);
        index.slots.reserve_exact(analysed.len());
        index.meta.reserve_exact(analysed.len());
        index.lens.reserve_exact(analysed.len());
        for doc in analysed {
            let id = DocId(u32::try_from(index.slots.len()).expect("fewer than 2^32 summaries"));
            index.slots.push(None);
            index.meta.push(Meta { len: DEAD, city: 0, traits: Traits::of(&doc.summary) });
            index.lens.push(DEAD_LEN);
            index.insert_doc(id, doc);
        }
        index
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
        let terms = self.doc_terms(&summary);
        let id = self.alloc();
        self.meta[id.idx()].traits = Traits::of(&summary);
        self.insert_doc(id, Doc { summary, terms });
    }

    /// Removes the summary stored under `key`, returning it.
    pub fn remove(&mut self, key: &SummaryKey) -> Option<Summary> {
        let id = self.by_key.remove(key)?;
        let doc = self.slots[id.idx()].take().expect("by_key names only occupied slots");
        self.unlink(id, &doc);
        self.dead.push(id);
        if self.dead.len() * 8 >= self.slots.len() {
            self.purge();
        }
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
        SCRATCH.with_borrow_mut(|scratch| {
            let matches = self.top_k(subject_id, key, query, scratch);
            for &id in &scratch.touched {
                scratch.score[id as usize] = 0.0;
                scratch.seen[id as usize] = false;
            }
            scratch.touched.clear();
            matches
        })
    }

    /// The body of [`Index::matches_for`], with scratch space that it leaves to be reset.
    fn top_k<'s>(
        &'s self,
        subject_id: DocId,
        key: &SummaryKey,
        query: &Query,
        scratch: &mut Scratch,
    ) -> Vec<Match> {
        let subject = self.doc(subject_id);
        let subject_meta = &self.meta[subject_id.idx()];
        let side = Side::of(subject.summary.kind).other();
        let scorer = self.scorer(subject_id);
        if scratch.score.len() < self.slots.len() {
            scratch.score.resize(self.slots.len(), 0.0);
            scratch.seen.resize(self.slots.len(), false);
        }
        let Scratch { score, seen, touched } = scratch;

        // Term-at-a-time accumulation: every document sharing a term with the subject becomes
        // a candidate. Each candidate's sum runs over the subject's terms in key order, which
        // does not depend on doc ids, so scores are reproducible to the bit.
        //
        // The length part of the formula is tabulated for the usual lengths; see
        // `score::length_norm` for why that gives the same bits.
        let avg_len = scorer.avg_len();
        let norms: Vec<f32> =
            (0..NORM_TABLE).map(|l| score::length_norm(self.bm25, l as f32, avg_len)).collect();
        let lens = &self.lens[..];
        for (i, term) in subject.terms.iter().enumerate() {
            let (idf, qw) = scorer.term_consts(i);
            for p in &self.terms[term.term as usize].sides[side.idx()] {
                let d = p.doc as usize;
                let len = lens[d];
                if len == DEAD_LEN {
                    continue;
                }
                let norm = match norms.get(len as usize) {
                    Some(&norm) => norm,
                    None => score::length_norm(self.bm25, len as f32, avg_len),
                };
                if !seen[d] {
                    seen[d] = true;
                    touched.push(p.doc);
                }
                score[d] += score::bm25_normed(self.bm25, idf, qw, p.tf, norm);
            }
        }

        let allowed = |id: u32, meta: &Meta| {
            id != subject_id.0
                && (query.include_same_city || meta.city != subject_meta.city)
                && (query.kinds.is_empty() || query.kinds.contains(&meta.traits.kind))
        };
        // Bounded selection: the heap holds the best k so far with the worst on top.
        let mut best: BinaryHeap<Ranked<'s>> = BinaryHeap::new();
        let offer = |best: &mut BinaryHeap<Ranked<'s>>, id: u32, meta: &Meta, term_score| {
            let s = scorer.score(&meta.traits, term_score);
            // NB: `Greater` only, so that a NaN min_score admits nothing.
            if s.partial_cmp(&query.min_score) != Some(Ordering::Greater) {
                return;
            }
            if best.len() >= query.k && best.peek().is_some_and(|w| s < w.score) {
                return;
            }
            let doc = self.doc(DocId(id));
            best.push(Ranked { score: s, term_score, doc, id });
            if best.len() > query.k {
                best.pop();
            }
        };
        for &id in touched.iter() {
            let term_score = score[id as usize];
            // Cheap rejection before the document's traits are read.
            if best.len() >= query.k
                && best.peek().is_some_and(|w| scorer.best_case(term_score) < w.score)
            {
                continue;
            }
            let meta = &self.meta[id as usize];
            if allowed(id, meta) {
                offer(&mut best, id, meta, term_score);
            }
        }

        // Documents sharing an exact field but no term score at most `best_case(0.0)`; they
        // are visited only if that could still place one in the top k (ties included).
        if subject_meta.traits.fields != 0 {
            let bound = scorer.best_case(0.0);
            let hopeless = bound.partial_cmp(&query.min_score) != Some(Ordering::Greater)
                || (best.len() >= query.k && best.peek().is_some_and(|w| bound < w.score));
            if !hopeless {
                for (f, postings) in self.fields.iter().enumerate() {
                    if subject_meta.traits.fields >> f & 1 == 0 {
                        continue;
                    }
                    for &id in &postings.sides[side.idx()] {
                        let meta = &self.meta[id as usize];
                        if meta.len < 0.0 || seen[id as usize] {
                            continue;
                        }
                        seen[id as usize] = true;
                        touched.push(id);
                        if allowed(id, meta) {
                            offer(&mut best, id, meta, 0.0);
                        }
                    }
                }
            }
        }

        // Ascending order of `Ranked` (reversed) is best first.
        best.into_sorted_vec()
            .into_iter()
            .map(|r| {
                let (score, explanation) =
                    scorer.rate(r.doc, &self.meta[r.id as usize].traits, r.term_score);
                debug_assert_eq!(score.to_bits(), r.score.to_bits());
                Match {
                    subject: key.clone(),
                    subject_kind: subject.summary.kind,
                    counterpart: r.doc.summary.key.clone(),
                    counterpart_kind: r.doc.summary.kind,
                    score,
                    explanation: Explanation {
                        shared_terms: scorer.shared_terms(r.doc),
                        ..explanation
                    },
                }
            })
            .collect()
    }

    /// The document in an occupied slot.
    fn doc(&self, id: DocId) -> &Doc {
        self.slots[id.idx()].as_ref().expect("postings and by_key name only occupied slots")
    }

    /// The id of a normalised term, interning it if new.
    /// A summary's analysed terms as the index stores them: damped weights, interned keys.
    fn doc_terms(&mut self, summary: &Summary) -> Box<[DocTerm]> {
        analyze(summary)
            .into_iter()
            .map(|t| DocTerm {
                tf: score::damp(t.weight),
                original: t.original as u32,
                term: self.intern(t.key),
            })
            .collect()
    }

    fn intern(&mut self, key: Cow<'_, str>) -> u32 {
        if let Some(&id) = self.term_ids.get(key.as_ref()) {
            return id;
        }
        let id = match self.free_terms.pop() {
            Some(id) => id,
            None => {
                self.terms.push(Postings::default());
                u32::try_from(self.terms.len() - 1).expect("fewer than 2^32 terms")
            }
        };
        self.term_ids.insert(key.into_owned(), id);
        id
    }

    /// Number of documents on `side` carrying the normalised term `key`.
    #[cfg(test)]
    fn df_of_key(&self, key: &str, side: Side) -> usize {
        self.term_ids.get(key).map_or(0, |&id| self.terms[id as usize].df[side.idx()] as usize)
    }

    /// Number of documents on `side` carrying `term`, as spelt by a summary.
    #[cfg(test)]
    fn df(&self, term: &str, side: Side) -> usize {
        self.df_of_key(&normalize(term), side)
    }

    /// The idf on `side` of each of the subject's terms, in the subject's term order.
    /// The scorer of the summary in slot `id` against the other side, with the statistics
    /// and BM25 parameters of the moment.
    fn scorer(&self, id: DocId) -> Scorer<'_> {
        let subject = self.doc(id);
        let side = Side::of(subject.summary.kind).other();
        let traits = self.meta[id.idx()].traits;
        Scorer::new(subject, traits, self.idfs(subject, side), self.avg_len(side), self.bm25)
    }

    fn idfs(&self, subject: &Doc, side: Side) -> Vec<f32> {
        let docs = self.stats[side.idx()].docs;
        subject
            .terms
            .iter()
            .map(|t| score::idf(docs, self.terms[t.term as usize].df[side.idx()] as usize))
            .collect()
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
        self.meta.push(Meta { len: DEAD, city: 0, traits: Traits::NONE });
        self.lens.push(DEAD_LEN);
        id
    }

    /// Stores `doc` in the free slot `id` (whose traits are already set) and adds its
    /// postings and statistics.
    fn insert_doc(&mut self, id: DocId, doc: Doc) {
        let side = Side::of(doc.summary.kind).idx();
        self.stats[side].docs += 1;
        self.stats[side].terms += doc.terms.len();
        for t in &doc.terms {
            let p = &mut self.terms[t.term as usize];
            p.sides[side].push(Posting { doc: id.0, tf: t.tf });
            p.df[side] += 1;
        }
        for f in &doc.summary.fields {
            let i = FieldCode::all().position(|g| g == *f).expect("a field code is in all");
            if self.fields.len() <= i {
                self.fields.resize(i + 1, FieldPostings::default());
            }
            let fp = &mut self.fields[i];
            // A summary may list a code twice; it is posted once.
            if fp.sides[side].last() != Some(&id.0) {
                fp.sides[side].push(id.0);
                fp.live[side] += 1;
            }
        }
        let meta = &mut self.meta[id.idx()];
        meta.len = doc.terms.len() as f32;
        self.lens[id.idx()] = u32::try_from(doc.terms.len()).expect("fewer than 2^32 terms");
        meta.city = doc.summary.key.city.get();
        self.by_key.insert(doc.summary.key.clone(), id);
        self.slots[id.idx()] = Some(doc);
    }

    /// Takes back the statistics `insert_doc` added and marks the slot dead; its postings
    /// stay as tombstones until the next purge.
    fn unlink(&mut self, id: DocId, doc: &Doc) {
        let side = Side::of(doc.summary.kind).idx();
        self.stats[side].docs -= 1;
        self.stats[side].terms -= doc.terms.len();
        for t in doc.terms.iter() {
            let p = &mut self.terms[t.term as usize];
            p.df[side] -= 1;
            if p.df == [0, 0] {
                self.empty_terms.push(t.term);
            }
        }
        let meta = &self.meta[id.idx()];
        for f in 0..self.fields.len() {
            if meta.traits.fields >> f & 1 == 1 {
                self.fields[f].live[side] -= 1;
            }
        }
        self.meta[id.idx()].len = DEAD;
        self.lens[id.idx()] = DEAD_LEN;
    }

    /// Sweeps every tombstone out of the postings, retires terms no document carries any
    /// more, and makes the dead slots free.
    fn purge(&mut self) {
        let meta = &self.meta;
        let live = |doc: u32| meta[doc as usize].len >= 0.0;
        for p in &mut self.terms {
            for side in &mut p.sides {
                if side.iter().any(|e| !live(e.doc)) {
                    side.retain(|e| live(e.doc));
                    side.shrink_to_fit();
                }
            }
        }
        for fp in &mut self.fields {
            for side in &mut fp.sides {
                if side.iter().any(|&d| !live(d)) {
                    side.retain(|&d| live(d));
                }
            }
        }
        let mut retired: Vec<u32> = std::mem::take(&mut self.empty_terms);
        retired.sort_unstable();
        retired.dedup();
        retired.retain(|&id| self.terms[id as usize].df == [0, 0]);
        if !retired.is_empty() {
            self.term_ids.retain(|_, id| retired.binary_search(id).is_err());
            for &id in &retired {
                self.terms[id as usize] = Postings::default();
            }
            self.free_terms.extend(retired);
        }
        self.free.append(&mut self.dead);
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

/// A candidate during top-k selection, ordered so that greater means worse: lower score,
/// then higher city, then higher pseudonym; so a max-heap keeps the worst on top.
struct Ranked<'a> {
    score: f32,
    term_score: f32,
    doc: &'a Doc,
    id: u32,
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.doc.summary.key.cmp(&other.doc.summary.key))
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
    fn bm25_parameters_decide_how_much_length_counts() {
        // Two achievements share the demand's one term with the same weight; one also
        // covers four other topics.
        let build = || {
            let mut index = Index::new();
            index.upsert(summary(Kind::Demand, XIANNING, 1, &[("隔膜", 1.0)], &[]));
            index.upsert(summary(Kind::Achievement, SHENZHEN, 2, &[("隔膜", 1.0)], &[]));
            let broad =
                [("隔膜", 1.0), ("电解液", 1.0), ("正极", 1.0), ("负极", 1.0), ("涂覆", 1.0)];
            index.upsert(summary(Kind::Achievement, HEFEI, 3, &broad, &[]));
            index
        };
        let scores = |index: &Index| -> Vec<(SummaryKey, f32)> {
            let m = index.matches_for(&key(XIANNING, 1), &Query::default());
            m.into_iter().map(|m| (m.counterpart, m.explanation.term_score)).collect()
        };
        assert_eq!(build().bm25(), Bm25::TUNED);

        let flat = scores(&build().with_bm25(Bm25 { k1: 1.2, b: 0.0 }));
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[0].1, flat[1].1, "b 0 ignores length: {flat:?}");

        let full = scores(&build().with_bm25(Bm25 { k1: 1.2, b: 0.75 }));
        let tuned = scores(&build());
        for s in [&full, &tuned] {
            assert_eq!(s[0].0, key(SHENZHEN, 2), "the focused achievement first: {s:?}");
        }
        let gap = |s: &[(SummaryKey, f32)]| s[0].1 - s[1].1;
        assert!(gap(&full) > gap(&tuned) && gap(&tuned) > 0.0, "{full:?} {tuned:?}");
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
        assert!(!index.term_ids.contains_key("钠离子"), "empty postings are dropped");
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
        let materials = FieldCode::all().position(|f| f == materials).unwrap();
        assert_eq!(index.fields[materials].live[Side::Supply.idx()], 0);
        assert_eq!(index.fields[materials].live[Side::Demand.idx()], 1);
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

    /// A pseudo-random index: skewed vocabulary, few fields, every fit attribute, so that
    /// popular terms, field-only candidates and ties all occur.
    fn random_summaries(n: u32, mut seed: u64) -> Vec<Summary> {
        use pilot_model::{BudgetBucket, CooperationMode, Trl};
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let cities = [XIANNING, SHENZHEN, HEFEI, CHENGDU];
        let codes = ["0805", "0817", "0812", "0808", "0904", "1301"];
        (0..n)
            .map(|i| {
                let kind = [Kind::Demand, Kind::Achievement, Kind::Expert][(next() % 3) as usize];
                let terms: Vec<(String, f32)> = (0..1 + next() % 12)
                    .map(|_| {
                        let t = (next() % 40) * (next() % 40) / 40;
                        (format!("t{t}"), (1 + next() % 10_000) as f32 / 10_000.0)
                    })
                    .collect();
                let terms: Vec<(&str, f32)> = terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
                let fields: Vec<&str> =
                    (0..next() % 3).map(|_| codes[(next() % 6) as usize]).collect();
                let city = cities[(next() % 4) as usize];
                let mut s = summary(kind, city, i % (n / 2), &terms, &fields);
                s.modes =
                    CooperationMode::ALL.iter().copied().filter(|_| next() % 4 == 0).collect();
                s.trl = (next() % 2 == 0).then(|| Trl::new(1 + (next() % 9) as u8).unwrap());
                s.budget = (next() % 2 == 0)
                    .then(|| BudgetBucket::ALL[(next() % BudgetBucket::ALL.len() as u64) as usize]);
                if next() % 20 == 0 {
                    s.status = Status::Withdrawn;
                }
                s
            })
            .collect()
    }

    /// The top k of `key` by brute force: every allowed counterpart that shares a term or an
    /// exact field, term scores summed in the subject's term order.
    fn brute_force(index: &Index, key: &SummaryKey, query: &Query) -> Vec<(SummaryKey, u32)> {
        let sid = index.by_key[key];
        let subject = index.doc(sid);
        let smeta = &index.meta[sid.idx()];
        let side = Side::of(subject.summary.kind).other();
        let scorer = index.scorer(sid);
        let mut all: Vec<(f32, SummaryKey)> = Vec::new();
        for (k, &id) in &index.by_key {
            let doc = index.doc(id);
            let meta = &index.meta[id.idx()];
            if id == sid
                || Side::of(doc.summary.kind) != side
                || (!query.include_same_city && k.city == key.city)
                || (!query.kinds.is_empty() && !query.kinds.contains(&doc.summary.kind))
            {
                continue;
            }
            let mut term_score = 0.0f32;
            let mut shares = smeta.traits.fields & meta.traits.fields != 0;
            for (i, t) in subject.terms.iter().enumerate() {
                if let Some(c) = doc.terms.iter().find(|c| c.term == t.term) {
                    term_score += scorer.term_part(i, c.tf, doc.terms.len() as f32);
                    shares = true;
                }
            }
            let score = scorer.score(&meta.traits, term_score);
            if shares && score > query.min_score {
                all.push((score, k.clone()));
            }
        }
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(query.k).map(|(s, k)| (k, s.to_bits())).collect()
    }

    #[test]
    fn pruned_selection_equals_brute_force_and_bulk_build_equals_upserts() {
        let summaries = random_summaries(1200, 0x5eed_1234);
        let mut index = Index::new();
        for s in summaries.iter().cloned() {
            index.upsert(s);
        }
        let bulk = Index::from_summaries(summaries);
        assert_eq!(bulk.len(), index.len());
        let queries = [
            Query::default(),
            Query { k: 1, ..Query::default() },
            Query { k: 3, include_same_city: true, ..Query::default() },
            Query { k: 50, kinds: vec![Kind::Expert], ..Query::default() },
            Query { min_score: 2.0, ..Query::default() },
        ];
        let mut nonempty = 0;
        for key in index.iter().map(|s| s.key.clone()).collect::<Vec<_>>() {
            for q in &queries {
                let got = index.matches_for(&key, q);
                let want = brute_force(&index, &key, q);
                let got_keys: Vec<(SummaryKey, u32)> =
                    got.iter().map(|m| (m.counterpart.clone(), m.score.to_bits())).collect();
                assert_eq!(got_keys, want, "{key:?} {q:?}");
                assert_eq!(bulk.matches_for(&key, q), got, "bulk build differs");
                nonempty += usize::from(!got.is_empty());
            }
        }
        assert!(nonempty > 1000, "the generator must produce matches ({nonempty})");
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
