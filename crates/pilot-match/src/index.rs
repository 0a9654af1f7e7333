//! The [`Index`] of shared summaries: storage by key, the inverted term and field indexes with
//! their per-side document frequencies, and top-k selection for [`Index::matches_for`].
//!
//! Documents live in a slab (`Vec<Option<Doc>>`) so that every stored summary has a small
//! [`DocId`] that postings can name; `by_key` maps summary keys to ids. Terms are interned as
//! `u32` ids. Postings are vectors of `(doc, damped weight)` sorted by doc id: a new summary
//! always takes the next id at the end of the slab, so appending keeps every list sorted.
//! Removing a summary leaves tombstones in its postings (its slot is marked dead, document
//! frequencies are decremented at once); once enough slots are dead a purge compacts the slab,
//! renumbering the live documents in their old order, which keeps the lists sorted. Ids are an
//! internal detail: they depend on insertion order, so nothing observable may depend on them
//! (ties are broken by key, sums run in the subject's term order).
//!
//! A query is MaxScore over windows of doc ids (`Index::top_k` has the details):
//! each list (a subject term's postings, or the documents of one of its exact field codes)
//! knows, per block of postings, the most it can add; once the top k is full, the lists whose
//! bounds together cannot lift a document into it are only searched for documents that the
//! other lists bring up, and windows that only they cover are skipped. A document that could
//! still qualify is scored in full from its own terms, summed in the subject's term order,
//! so scores are bit for bit those of an exhaustive scan and pruning never changes a result.

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::ops::Bound;

use pilot_model::{CityCode, FieldCode, Kind, Pseudonym, Summary, SummaryKey, WeightedTerm};

use crate::score::{self, Bm25, Explanation, Match, Scorer, Traits};
use crate::term_ids::TermIds;

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

/// A slot in the index's slab: new summaries take ids above every id in use; a purge
/// renumbers the live summaries in their order, so postings stay sorted by id.
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
    /// The summary's weight for it, capped at 1 (of its heaviest spelling).
    pub(crate) weight: f32,
}

/// A stored summary and its analysed form.
#[derive(Debug)]
pub(crate) struct Doc {
    /// The summary as upserted, less its terms (`Summary::terms` is empty): the index keeps
    /// them analysed, as `terms` and `respelt`, because their strings are most of a summary's
    /// memory.
    pub(crate) summary: Summary,
    /// Distinct usable terms, sorted by normalised key.
    pub(crate) terms: Box<[DocTerm]>,
    /// The summary's own spelling of those of `terms` (by position) that it did not spell as
    /// their normalised key (other case, surrounding space); usually empty.
    pub(crate) respelt: Box<[(u32, Box<str>)]>,
}

impl Doc {
    /// The summary's own spelling of its `i`-th term, as written; `keys` is the index's term
    /// dictionary.
    pub(crate) fn spelling<'a>(&'a self, i: usize, keys: &'a [Box<str>]) -> &'a str {
        match self.respelt.iter().find(|(at, _)| *at as usize == i) {
            Some((_, spelt)) => spelt,
            None => &keys[self.terms[i].term as usize],
        }
    }
}

/// A term of a summary before interning: normalised key, weight, original position.
struct RawTerm<'a> {
    key: Cow<'a, str>,
    /// The key's first eight bytes, zero-padded, as a big-endian number: comparing these first
    /// orders keys as their bytes do, mostly without reading the strings.
    prefix: u64,
    weight: f32,
    original: usize,
}

/// [`RawTerm::prefix`] of `key`.
///
/// NB: two keys whose prefixes differ compare as their prefixes do: they differ at the first
/// differing byte of the prefixes, or one ends there and is a prefix of the other, and a byte
/// of padding (0) is below any byte of a key that is not 0.
fn key_prefix(key: &str) -> u64 {
    let mut bytes = [0; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
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
        .map(|(original, t)| {
            let key = normalize(&t.term);
            RawTerm { prefix: key_prefix(&key), key, weight: t.weight.min(1.0), original }
        })
        .filter(|t| !t.key.is_empty())
        .collect();
    terms.sort_unstable_by(|a, b| {
        (a.prefix.cmp(&b.prefix).then_with(|| a.key.cmp(&b.key)))
            .then(b.weight.total_cmp(&a.weight))
            .then(a.original.cmp(&b.original))
    });
    // `dedup_by` keeps the first of each run, which the sort made the heaviest.
    terms.dedup_by(|later, first| later.key == first.key);
    terms
}

/// The inverted-index key of a term: trimmed and lowercased, so `AI` and `ai ` meet.
///
/// NB: borrowed when lowercasing changes nothing (the common case), which `to_lowercase` decides
/// character by character, so checking each character against its own lowercase is exact. The
/// common CJK ideographs have no case, which spares them the look-up in Unicode's tables.
fn normalize(term: &str) -> Cow<'_, str> {
    let t = term.trim();
    let unchanged = |c: char| {
        (c.is_ascii() && !c.is_ascii_uppercase())
            || matches!(c, '\u{4E00}'..='\u{9FFF}')
            || c.to_lowercase().eq([c])
    };
    if t.chars().all(unchanged) { Cow::Borrowed(t) } else { Cow::Owned(t.to_lowercase()) }
}

/// One entry of a postings list: a document, its damped weight for the term rounded up to a
/// multiple of 1/65,535, and its number of distinct terms, in 8 bytes.
///
/// NB: postings serve only the bounds that prune a query (a candidate is scored in full from
/// its own terms), so a weight rounded up is as good as the exact one there; and summing a
/// list reads each document's length from the posting, not from `Index::lens`.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    /// The damped weight (in (0, 1]) × 65,535, rounded up.
    tf: u16,
    /// The document's number of distinct terms, capped at `u16::MAX` (a shorter length only
    /// raises a bound).
    len: u16,
}

impl Posting {
    fn new(doc: u32, tf: f32, len: u32) -> Self {
        // The casts saturate: a damped weight is at most 1, and a capped length only raises a
        // bound.
        let tf = (tf * f32::from(u16::MAX)).ceil() as u16;
        Posting { doc, tf, len: len.min(u32::from(u16::MAX)) as u16 }
    }

    /// The damped weight as rounded up (within rounding of a float: [`SLACK`] covers that).
    fn tf(self) -> f32 {
        f32::from(self.tf) * (1.0 / f32::from(u16::MAX))
    }
}

/// What bounds the BM25 contribution of a run of [`BLOCK`] postings: its first and last doc, and the
/// largest damped weight and the fewest distinct terms among its documents (a contribution
/// grows with the weight and shrinks with the length). Widened by every insert, never
/// narrowed by a removal (so it may be loose, never wrong), and recomputed by a purge.
#[derive(Debug, Clone, Copy)]
struct Block {
    first: u32,
    last: u32,
    max_tf: f32,
    min_len: u32,
}

impl Block {
    /// The blocks of a postings list.
    fn of(postings: &[Posting]) -> Vec<Block> {
        postings
            .chunks(BLOCK)
            .map(|run| {
                let first = run.first().map_or(0, |p| p.doc);
                let mut block = Block { first, last: 0, max_tf: 0.0, min_len: u32::MAX };
                for p in run {
                    block.add(p.doc, p.tf(), u32::from(p.len));
                }
                block
            })
            .collect()
    }

    fn add(&mut self, doc: u32, tf: f32, len: u32) {
        self.last = doc;
        self.max_tf = self.max_tf.max(tf);
        self.min_len = self.min_len.min(len);
    }
}

/// The postings of one term: which documents on each side carry it, in doc id order, with
/// their damped weights (`DocTerm::tf`), tombstones included until the next purge.
#[derive(Debug, Default)]
struct Postings {
    sides: [Vec<Posting>; 2],
    /// The document frequency on each side: live entries only.
    df: [u32; 2],
    /// The blocks of each side's postings: block `i` covers postings `i × BLOCK ..`.
    blocks: [Vec<Block>; 2],
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
    /// The slab; `None` marks a dead slot.
    slots: Vec<Option<Doc>>,
    /// Per-slot query data, parallel to `slots`.
    meta: Vec<Meta>,
    /// Per-slot number of distinct terms capped at 254 (a shorter length only raises a bound),
    /// or `DEAD_LEN`; parallel to `slots` and dense (a byte a slot, so that the lengths of a
    /// window's candidates share few cache lines), for the bounds of a query.
    lens: Vec<u8>,
    /// Number of dead slots, which postings may still name; the next purge drops them.
    dead: usize,
    /// Every stored summary's slot, ordered by key.
    by_key: BTreeMap<SummaryKey, DocId>,
    /// Normalised term to its id. NB: only looked up, never iterated.
    term_ids: TermIds,
    /// Term id to its normalised key (empty for a retired id).
    keys: Vec<Box<str>>,
    /// Postings by term id.
    terms: Vec<Postings>,
    /// Term ids whose postings became empty, reusable after a purge dropped their key.
    free_terms: Vec<u32>,
    /// Term ids known to have no live posting, for the next purge to retire.
    empty_terms: Vec<u32>,
    /// Exact field code (by position in `FieldCode::all()`) to its postings.
    fields: Vec<FieldPostings>,
    /// Two-digit discipline category (as a number below 100) to the documents carrying a
    /// field code of it, tombstones included.
    categories: Vec<FieldPostings>,
    /// Per-side statistics, indexed by `Side::idx`.
    stats: [SideStats; 2],
    /// The BM25 parameters queries score with.
    bm25: Bm25,
}

/// The capacity a bulk build gives a vector of `n` entries: an eighth more, so that the
/// first changes after a rebuild do not each copy a full vector (under the hub's write lock,
/// with the slab of 1.1 M summaries, one such copy took a tenth of a second).
fn room(n: usize) -> usize {
    n + n / 8
}

/// A dead slot's `Meta::len`.
const DEAD: f32 = -1.0;
/// A dead slot's entry in `Index::lens`; a live one's is at most one less.
const DEAD_LEN: u8 = u8::MAX;
/// Lengths (distinct-term counts) whose BM25 length norm a query tabulates.
const NORM_TABLE: usize = 129;

/// Relative margin added to upper bounds before pruning: a bound is summed in another order
/// than the score it bounds, so it may round differently (by far less than this).
const SLACK: f32 = 1.0 + 1e-4;

/// Per-thread scratch space of a query, left zeroed by every query.
#[derive(Default)]
struct Scratch {
    /// Term scores summed so far per doc of the current window, by offset in the window;
    /// zero outside a window's work.
    acc: Vec<f32>,
    /// Bit `i` set if `acc[i]` holds a sum.
    hits: Vec<u64>,
    /// Bit `i` set if an essential field list carries doc `i` of the window.
    field_hits: Vec<u64>,
}

/// Doc ids per window of a query's MaxScore walk; a multiple of 64. Small in unit tests, so
/// that their indexes span many windows and blocks.
const WINDOW: usize = if cfg!(test) { 128 } else { 4096 };
/// Cache lines of postings [`Cursor::touch`] reads ahead of a gather (a window's run of a
/// common term spans a few dozen; 4 lines gave the stress queries of the scale bench half the
/// gain of 12, and 32 no more than 12).
const TOUCHED_LINES: usize = 12;
/// Postings per block, the unit of the bounds a window uses.
const BLOCK: usize = if cfg!(test) { 4 } else { 64 };

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
    ///
    /// # Panics
    /// If `k1` is negative or `b` is outside [0, 1] (or either is not a number): pruning
    /// relies on a contribution that grows with the term weight and shrinks with length.
    #[must_use]
    pub fn with_bm25(mut self, bm25: Bm25) -> Self {
        assert!(bm25.k1 >= 0.0 && (0.0..=1.0).contains(&bm25.b), "BM25 parameters {bm25:?}");
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
    /// list is allocated once, at its size plus an eighth to grow into.
    ///
    /// NB: takes the summaries one at a time and keeps only their analysed form, so a caller
    /// that streams them (the hub, from its store) never holds them all as written.
    pub fn from_summaries(summaries: impl IntoIterator<Item = Summary>) -> Self {
        let summaries = summaries.into_iter();
        let mut index = Index::new();
        let expected = room(summaries.size_hint().0);
        index.slots.reserve_exact(expected);
        index.meta.reserve_exact(expected);
        index.lens.reserve_exact(expected);
        // Every summary's key and position, with its slot if it is shared.
        let mut entries: Vec<(SummaryKey, usize, Option<DocId>)> = Vec::new();
        let mut counts: Vec<[u32; 2]> = Vec::new();
        for (n, summary) in summaries.enumerate() {
            if !summary.status.is_shared() {
                entries.push((summary.key, n, None));
                continue;
            }
            let side = Side::of(summary.kind).idx();
            let doc = index.analyse(summary);
            counts.resize(index.terms.len(), [0, 0]);
            for t in doc.terms.iter() {
                counts[t.term as usize][side] += 1;
            }
            let id = index.alloc();
            index.meta[id.idx()].traits = Traits::of(&doc.summary);
            entries.push((doc.summary.key.clone(), n, Some(id)));
            index.slots[id.idx()] = Some(doc);
        }
        // The last summary under each key wins, as with successive upserts: sorted by key,
        // then input order, the last of each run. NB: the hub reads its store in key order,
        // so this is usually a check.
        if !entries.is_sorted_by(|a, b| (&a.0, a.1) <= (&b.0, b.1)) {
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        }
        let mut keep = vec![false; index.slots.len()];
        let mut by_key: Vec<(SummaryKey, DocId)> = Vec::with_capacity(entries.len());
        let mut entries = entries.into_iter().peekable();
        while let Some((key, _, slot)) = entries.next() {
            if entries.peek().is_some_and(|next| next.0 == key) {
                continue;
            }
            if let Some(id) = slot {
                keep[id.idx()] = true;
                by_key.push((key, id));
            }
        }
        // Built from keys in order, which a `BTreeMap` does in bulk.
        index.by_key = by_key.into_iter().collect();
        for (p, c) in index.terms.iter_mut().zip(&counts) {
            p.sides =
                [Vec::with_capacity(room(c[0] as usize)), Vec::with_capacity(room(c[1] as usize))];
        }
        drop(counts);
        for (i, keep) in keep.into_iter().enumerate() {
            let doc = index.slots[i].take().expect("every slot was filled");
            if keep {
                index.link(DocId(i as u32), doc, Blocks::Later);
            } else {
                // Replaced by a later summary: its slot is dead, and terms only it used
                // are retired by the purge below.
                index.empty_terms.extend(doc.terms.iter().map(|t| t.term));
                index.dead += 1;
            }
        }
        if index.dead > 0 {
            // Renumbers the slots and computes every list's blocks.
            index.purge();
        } else {
            // Each list's blocks in one pass over it, rather than touching the last block of
            // every list a summary posts to.
            for p in &mut index.terms {
                for side in 0..2 {
                    p.blocks[side] = Block::of(&p.sides[side]);
                }
            }
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
        let doc = self.analyse(summary);
        let id = self.alloc();
        self.meta[id.idx()].traits = Traits::of(&doc.summary);
        self.by_key.insert(doc.summary.key.clone(), id);
        self.link(id, doc, Blocks::Widen);
    }

    /// Removes the summary stored under `key`, returning it without its terms.
    pub fn remove(&mut self, key: &SummaryKey) -> Option<Summary> {
        let id = self.by_key.remove(key)?;
        let doc = self.slots[id.idx()].take().expect("by_key names only occupied slots");
        self.unlink(id, &doc);
        self.dead += 1;
        if self.dead * 8 >= self.slots.len() {
            self.purge();
        }
        Some(doc.summary)
    }

    /// The summary stored under `key`, without its terms (`Summary::terms` is empty: the
    /// index keeps them analysed; see [`Index::terms`]).
    pub fn get(&self, key: &SummaryKey) -> Option<&Summary> {
        self.by_key.get(key).map(|&id| &self.doc(id).summary)
    }

    /// The terms of the summary stored under `key` as the index keeps them: each distinct
    /// usable term once, in normalised key order, spelt as the summary spelt its heaviest
    /// spelling, with that weight (capped at 1). Terms with unusable weights are not kept.
    pub fn terms(&self, key: &SummaryKey) -> Option<Vec<WeightedTerm>> {
        let doc = self.doc(*self.by_key.get(key)?);
        let terms = doc.terms.iter().enumerate().map(|(i, t)| WeightedTerm {
            term: doc.spelling(i, &self.keys).to_owned(),
            weight: t.weight,
        });
        Some(terms.collect())
    }

    /// Number of stored summaries.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no summary is stored.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every summary, ordered by key (deterministic), without its terms (see
    /// [`Index::terms`]).
    pub fn iter(&self) -> impl Iterator<Item = &Summary> {
        self.by_key.values().map(|&id| &self.doc(id).summary)
    }

    /// Every summary whose key comes after `after` (all of them for `None`), ordered by key:
    /// a range of the key map, so a page deep into the index does not walk the ones before it.
    pub fn iter_after(&self, after: Option<&SummaryKey>) -> impl Iterator<Item = &Summary> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_key.range((from, Bound::Unbounded)).map(|(_, &id)| &self.doc(id).summary)
    }

    /// The keys of `city`'s summaries, in key order: a range of the key map, so a city's
    /// share is found without walking the other cities' summaries.
    pub fn city_keys(&self, city: CityCode) -> impl Iterator<Item = &SummaryKey> {
        self.city_keys_after(city, None)
    }

    /// [`Index::city_keys`] from the first pseudonym after `after` on (all for `None`).
    pub fn city_keys_after(
        &self,
        city: CityCode,
        after: Option<&Pseudonym>,
    ) -> impl Iterator<Item = &SummaryKey> {
        let from = match after {
            Some(p) => Bound::Excluded(SummaryKey { city, pseudonym: p.clone() }),
            None => Bound::Included(SummaryKey { city, pseudonym: Pseudonym::lowest() }),
        };
        self.by_key
            .range((from, Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(move |k| k.city == city)
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
        SCRATCH.with_borrow_mut(|scratch| self.top_k(subject_id, key, query, scratch))
    }

    /// The reverse of [`Index::matches_for`]: the subjects of `city` for which the summary
    /// stored under `candidate` qualifies as a counterpart under `query` (its `k` aside), each
    /// with the score `matches_for` gives it there, to the bit; in key order.
    ///
    /// This tells whether a new or changed summary can enter a subject's top k without asking
    /// every subject again. A subject's list as last computed is only a guide, because every
    /// change moves document frequencies and average lengths: so `bar` may name, per subject,
    /// a counterpart to compare with (say the k-th of its last list), and each [`Reach`]
    /// carries the score that one has for the subject now, computed with the same statistics.
    ///
    /// It walks the candidate's postings on the subjects' side (its terms and exact field
    /// codes), so it costs about what one query without pruning costs, plus a score or two per
    /// subject reached.
    ///
    /// Empty if `candidate` is unknown, if `query.kinds` leaves out its kind, or if `city` is
    /// its own and `query.include_same_city` is false.
    pub fn reached_by<'k>(
        &self,
        candidate: &SummaryKey,
        city: CityCode,
        query: &Query,
        bar: impl Fn(&SummaryKey) -> Option<&'k SummaryKey>,
    ) -> Vec<Reach> {
        let Some(&cand_id) = self.by_key.get(candidate) else {
            return Vec::new();
        };
        let doc = self.doc(cand_id);
        let traits = &self.meta[cand_id.idx()].traits;
        if (!query.kinds.is_empty() && !query.kinds.contains(&traits.kind))
            || (!query.include_same_city && candidate.city == city)
        {
            return Vec::new();
        }
        let side = Side::of(doc.summary.kind).other().idx();
        let in_city = |d: u32| d != cand_id.0 && self.meta[d as usize].city == city.get();
        let mut reached: Vec<u32> = Vec::new();
        for t in doc.terms.iter() {
            let postings = &self.terms[t.term as usize].sides[side];
            reached.extend(postings.iter().map(|p| p.doc).filter(|&d| in_city(d)));
        }
        for (f, postings) in self.fields.iter().enumerate() {
            if traits.fields >> f & 1 == 1 {
                reached.extend(postings.sides[side].iter().copied().filter(|&d| in_city(d)));
            }
        }
        reached.sort_unstable();
        reached.dedup();
        let mut out: Vec<Reach> = reached
            .into_iter()
            // NB: postings keep dead slots until a purge.
            .filter(|&d| self.slots[d as usize].is_some())
            .filter_map(|d| {
                let scorer = self.scorer(DocId(d));
                let score = self.pair_score(&scorer, DocId(d), cand_id, query)?;
                let subject = self.doc(DocId(d)).summary.key.clone();
                let bar = bar(&subject)
                    .and_then(|k| self.by_key.get(k))
                    .filter(|&&id| {
                        Side::of(self.doc(id).summary.kind) == Side::of(doc.summary.kind)
                    })
                    .and_then(|&id| self.pair_score(&scorer, DocId(d), id, query));
                Some(Reach { subject, score, bar })
            })
            .collect();
        out.sort_by(|a, b| a.subject.cmp(&b.subject));
        out
    }

    /// The score `scorer`'s subject (in slot `subject`) gives the counterpart in slot
    /// `counterpart`, as [`Index::top_k`] computes it, if it qualifies under `query` (its `k`
    /// aside).
    fn pair_score(
        &self,
        scorer: &Scorer<'_>,
        subject: DocId,
        counterpart: DocId,
        query: &Query,
    ) -> Option<f32> {
        let (me, them) = (&self.meta[subject.idx()], &self.meta[counterpart.idx()]);
        if subject == counterpart
            || (!query.include_same_city && me.city == them.city)
            || (!query.kinds.is_empty() && !query.kinds.contains(&them.traits.kind))
        {
            return None;
        }
        // As in `top_k`: only a shared term or an exact field qualifies.
        let term_score = match scorer.term_score(self.doc(counterpart)) {
            Some(t) => t,
            None if me.traits.fields & them.traits.fields != 0 => 0.0,
            None => return None,
        };
        let score = scorer.score(&them.traits, term_score);
        (score.partial_cmp(&query.min_score) == Some(Ordering::Greater)).then_some(score)
    }

    /// The body of [`Index::matches_for`].
    ///
    /// MaxScore over windows of [`WINDOW`] doc ids. The subject's terms and its exact field
    /// codes are lists: a term list adds at most the bound of its blocks in the window, a
    /// field list at most the field part. In each window the lists are ordered by bound, and
    /// the weakest ones whose bounds together (plus the most that category and fit can add)
    /// cannot lift a document into the top k are lazy: a document only they carry cannot
    /// qualify. The other lists are summed into a dense array, term at a time; each document
    /// found there is then looked up in the lazy term lists, strongest first, until its bound
    /// (now with its own field and fit parts, and with the lazy list at hand bounded by the
    /// block that would hold the document, at the document's own length) falls short; a lazy
    /// list whose blocks skip the document is not searched. The survivors are scored in full
    /// from their own terms, in the subject's term order, which is the score an exhaustive
    /// scan computes, to the bit. A window where every list is lazy is skipped.
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
        if scratch.acc.is_empty() {
            scratch.acc = vec![0.0; WINDOW];
            scratch.hits = vec![0; WINDOW / 64];
            scratch.field_hits = vec![0; WINDOW / 64];
        }
        let Scratch { acc, hits, field_hits } = scratch;

        let allowed = |id: u32, meta: &Meta| {
            id != subject_id.0
                && (query.include_same_city || meta.city != subject_meta.city)
                && (query.kinds.is_empty() || query.kinds.contains(&meta.traits.kind))
        };
        // Bounded selection: the heap holds the best k so far with the worst on top.
        let mut best: BinaryHeap<Ranked<'s>> = BinaryHeap::new();
        // Whether no document whose score is at most `bound` can enter the top k any more.
        // Once true for a bound it stays true: the k-th score only rises.
        let hopeless = |best: &BinaryHeap<Ranked<'s>>, bound: f32| {
            // NB: `Greater` only, so that a NaN min_score admits nothing.
            bound.partial_cmp(&query.min_score) != Some(Ordering::Greater)
                || (best.len() >= query.k && best.peek().is_some_and(|w| bound < w.score))
        };

        // The length part of the formula is tabulated for the usual lengths; see
        // `score::length_norm` for why that gives the same bits.
        let avg_len = scorer.avg_len();
        let norms: Vec<f32> =
            (0..NORM_TABLE).map(|l| score::length_norm(self.bm25, l as f32, avg_len)).collect();
        let norm_of = |len: u32| match norms.get(len as usize) {
            Some(&norm) => norm,
            None => score::length_norm(self.bm25, len as f32, avg_len),
        };
        let lens = &self.lens[..];

        // The lists: the subject's terms with postings on the candidates' side, in its term
        // order, then its exact field codes.
        let mut lists: Vec<Cursor<'s>> = Vec::new();
        for (i, term) in subject.terms.iter().enumerate() {
            let postings = &self.terms[term.term as usize].sides[side.idx()][..];
            if !postings.is_empty() {
                let (idf, qw) = scorer.term_consts(i);
                let blocks = &self.terms[term.term as usize].blocks[side.idx()][..];
                lists.push(Cursor::new(Run::Term { postings, blocks, idf, qw }));
            }
        }
        for (f, postings) in self.fields.iter().enumerate() {
            let docs = &postings.sides[side.idx()][..];
            if subject_meta.traits.fields >> f & 1 == 1 && !docs.is_empty() {
                lists.push(Cursor::new(Run::Field { docs, share: scorer.field_share() }));
            }
        }
        let field_lists = lists.iter().filter(|c| c.is_term()).count()..lists.len();
        // The documents of the subject's categories, searched for candidates (not walked).
        let mut category_lists: Vec<Cursor<'s>> = Vec::new();
        for (c, postings) in self.categories.iter().enumerate() {
            let docs = &postings.sides[side.idx()][..];
            if subject_meta.traits.categories >> c & 1 == 1 && !docs.is_empty() {
                category_lists.push(Cursor::new(Run::Field { docs, share: 0.0 }));
            }
        }
        // What a document can gain beyond its term score, by what is known of its fields.
        let gain = |exact, category| scorer.most_beyond_terms(exact, category);
        // The field lists carry their own part, so a window's lazy lists need only this.
        let extra = gain(Some(false), None);

        let mut order: Vec<usize> = Vec::with_capacity(lists.len());
        // `bounds[j]`: the most the first `j` lists of `order` add; `term_bounds[j]`: the
        // same over their term lists only.
        let mut bounds: Vec<f32> = Vec::with_capacity(lists.len() + 1);
        let mut term_bounds: Vec<f32> = Vec::with_capacity(lists.len() + 1);
        // Every doc below `next` has been dealt with.
        let mut next = 0u32;
        loop {
            let w0 = lists.iter_mut().map(|c| c.first_from(next)).min().unwrap_or(END);
            if w0 == END {
                break;
            }
            let w1 = w0.saturating_add(WINDOW as u32);
            order.clear();
            for (j, c) in lists.iter_mut().enumerate() {
                c.frame(w0, w1, |idf, qw, block| {
                    score::bm25_normed(self.bm25, idf, qw, block.max_tf, norm_of(block.min_len))
                });
                if c.max > 0.0 {
                    order.push(j);
                }
            }
            order.sort_by(|&a, &b| lists[a].max.total_cmp(&lists[b].max).then(a.cmp(&b)));
            let (mut all, mut terms) = (0.0f32, 0.0f32);
            bounds.clear();
            term_bounds.clear();
            bounds.push(0.0);
            term_bounds.push(0.0);
            for &j in &order {
                all += lists[j].max;
                if lists[j].is_term() {
                    terms += lists[j].max;
                }
                bounds.push(all);
                term_bounds.push(terms);
            }
            let mut lazy = 0;
            while lazy < order.len() && hopeless(&best, (bounds[lazy + 1] + extra) * SLACK) {
                lazy += 1;
            }
            if lazy < order.len() {
                for &j in &order[..lazy] {
                    lists[j].lazy = true;
                }
                // Whether `field_hits` names every document of the window that shares an exact
                // field: no field list is lazy.
                let fields_known = order[..lazy].iter().all(|&j| lists[j].is_term());
                // The first cache lines of every essential list's run are read together, so
                // that their misses overlap rather than come one list at a time.
                let mut touched = 0u32;
                for c in lists.iter().filter(|c| !c.lazy) {
                    touched ^= c.touch();
                }
                std::hint::black_box(touched);
                // The essential lists, terms in the subject's term order.
                for c in lists.iter_mut().filter(|c| !c.lazy) {
                    c.gather(w0, lens, acc, hits, field_hits, |idf, qw, tf, len| {
                        score::bm25_normed(self.bm25, idf, qw, tf, norm_of(len))
                    });
                }
                for word in 0..hits.len() {
                    let mut bits = std::mem::take(&mut hits[word]);
                    let field_bits = std::mem::take(&mut field_hits[word]);
                    while bits != 0 {
                        let local = word * 64 + bits.trailing_zeros() as usize;
                        let bit = bits & bits.wrapping_neg();
                        bits &= bits - 1;
                        let mut partial = std::mem::take(&mut acc[local]);
                        // Until the document's traits are read, its bound adds the most its
                        // field and fit can add, by what is known of its fields.
                        let mut exact = if field_bits & bit != 0 {
                            Some(true)
                        } else {
                            fields_known.then_some(false)
                        };
                        let mut g = gain(exact, None);
                        let cap = |t: f32, g: f32| (t + g) * SLACK;
                        if hopeless(&best, cap(partial + term_bounds[lazy], g)) {
                            continue;
                        }
                        let d = w0 + local as u32;
                        // Searching the field lists, then the category lists, is cheaper than
                        // reading the traits, and often settles the document.
                        if exact.is_none() {
                            exact = Some(lists[field_lists.clone()].iter_mut().any(|c| c.has(d)));
                            g = gain(exact, None);
                        }
                        if exact == Some(false) {
                            let category = category_lists.iter_mut().any(|c| c.has(d));
                            g = gain(exact, Some(category));
                            if hopeless(&best, cap(partial + term_bounds[lazy], g)) {
                                continue;
                            }
                        }
                        // NB: term lists carry tombstones until a purge.
                        let len = lens[d as usize];
                        if len == DEAD_LEN {
                            continue;
                        }
                        let norm = norm_of(u32::from(len));
                        let mut complete = true;
                        for k in (0..lazy).rev() {
                            let c = &mut lists[order[k]];
                            // What this list can add by the block that would hold the
                            // document; nothing if no block spans it, and then it is not
                            // searched.
                            let here = c.near_bound(d, |idf, qw, tf| {
                                score::bm25_normed(self.bm25, idf, qw, tf, norm)
                            });
                            if here == 0.0 {
                                continue;
                            }
                            if hopeless(&best, cap(partial + here + term_bounds[k], g)) {
                                complete = false;
                                break;
                            }
                            let Run::Term { idf, qw, .. } = c.run else {
                                continue;
                            };
                            if let Some(tf) = c.find(d) {
                                partial += score::bm25_normed(self.bm25, idf, qw, tf, norm);
                            }
                        }
                        if !complete || hopeless(&best, cap(partial, g)) {
                            continue;
                        }
                        let meta = &self.meta[d as usize];
                        if !allowed(d, meta)
                            || hopeless(&best, scorer.score(&meta.traits, partial * SLACK))
                        {
                            continue;
                        }
                        let doc = self.doc(DocId(d));
                        // Only a shared term or an exact field qualifies a counterpart.
                        let term_score = match scorer.term_score(doc) {
                            Some(t) => t,
                            None if subject_meta.traits.fields & meta.traits.fields != 0 => 0.0,
                            None => continue,
                        };
                        let s = scorer.score(&meta.traits, term_score);
                        if hopeless(&best, s) {
                            continue;
                        }
                        best.push(Ranked { score: s, term_score, doc, id: d });
                        if best.len() > query.k {
                            best.pop();
                        }
                    }
                }
            }
            for c in &mut lists {
                c.lazy = false;
            }
            next = w1;
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

    /// A summary as the index stores it: its terms analysed (damped weights, interned keys,
    /// spellings other than the key kept aside) and taken out of it.
    fn analyse(&mut self, mut summary: Summary) -> Doc {
        let analysed = analyze(&summary);
        let mut respelt: Vec<(u32, Box<str>)> = Vec::new();
        let mut terms: Vec<DocTerm> = Vec::with_capacity(analysed.len());
        for (i, t) in analysed.into_iter().enumerate() {
            let written = &summary.terms[t.original].term;
            if *written != *t.key {
                respelt.push((i as u32, written.as_str().into()));
            }
            terms.push(DocTerm {
                tf: score::damp(t.weight),
                weight: t.weight,
                term: self.intern(t.key),
            });
        }
        summary.terms = Vec::new();
        Doc { summary, terms: terms.into(), respelt: respelt.into() }
    }

    /// The id of a normalised term, interning it if new.
    fn intern(&mut self, key: Cow<'_, str>) -> u32 {
        if let Some(id) = self.term_ids.get(&key) {
            return id;
        }
        let id = match self.free_terms.pop() {
            Some(id) => id,
            None => {
                self.terms.push(Postings::default());
                self.keys.push(Box::default());
                u32::try_from(self.terms.len() - 1).expect("fewer than 2^32 terms")
            }
        };
        self.term_ids.insert(&key, id);
        self.keys[id as usize] = key.as_ref().into();
        id
    }

    /// Number of documents on `side` carrying the normalised term `key`.
    #[cfg(test)]
    fn df_of_key(&self, key: &str, side: Side) -> usize {
        self.term_ids.get(key).map_or(0, |id| self.terms[id as usize].df[side.idx()] as usize)
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
        let (idf, avg_len) = (self.idfs(subject, side), self.avg_len(side));
        Scorer::new(subject, &self.keys, traits, idf, avg_len, self.bm25)
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

    /// A new slot at the end of the slab, after every id in use, so that postings appended
    /// for it keep their doc order.
    fn alloc(&mut self) -> DocId {
        let id = DocId(u32::try_from(self.slots.len()).expect("fewer than 2^32 summaries"));
        assert!(id.0 != END, "fewer than 2^32 - 1 summaries");
        self.slots.push(None);
        self.meta.push(Meta { len: DEAD, city: 0, traits: Traits::NONE });
        self.lens.push(DEAD_LEN);
        id
    }

    /// Stores `doc` in the new slot `id` (whose traits are already set and which `by_key`
    /// already names) and adds its postings and statistics, and its lists' blocks as `blocks`
    /// says.
    fn link(&mut self, id: DocId, doc: Doc, blocks: Blocks) {
        let side = Side::of(doc.summary.kind).idx();
        self.stats[side].docs += 1;
        self.stats[side].terms += doc.terms.len();
        let len = u32::try_from(doc.terms.len()).expect("fewer than 2^32 terms");
        for t in &doc.terms {
            let p = &mut self.terms[t.term as usize];
            let list = &mut p.sides[side];
            debug_assert!(list.last().is_none_or(|last| last.doc < id.0));
            let posting = Posting::new(id.0, t.tf, len);
            list.push(posting);
            if blocks == Blocks::Widen {
                let blocks = &mut p.blocks[side];
                let tf = posting.tf();
                if list.len() % BLOCK == 1 || BLOCK == 1 {
                    blocks.push(Block { first: id.0, last: id.0, max_tf: tf, min_len: len });
                } else if let Some(block) = blocks.last_mut() {
                    block.add(id.0, tf, len);
                }
            }
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
        let categories = self.meta[id.idx()].traits.categories;
        for c in (0..128).filter(|c| categories >> c & 1 == 1) {
            if self.categories.len() <= c {
                self.categories.resize(c + 1, FieldPostings::default());
            }
            self.categories[c].sides[side].push(id.0);
            self.categories[c].live[side] += 1;
        }
        let meta = &mut self.meta[id.idx()];
        meta.len = doc.terms.len() as f32;
        // The cast cannot truncate: the length is capped below `DEAD_LEN`.
        self.lens[id.idx()] = len.min(u32::from(DEAD_LEN) - 1) as u8;
        meta.city = doc.summary.key.city.get();
        self.slots[id.idx()] = Some(doc);
    }

    /// Takes back the statistics `link` added and marks the slot dead; its postings
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
        for c in 0..self.categories.len() {
            if meta.traits.categories >> c & 1 == 1 {
                self.categories[c].live[side] -= 1;
            }
        }
        self.meta[id.idx()].len = DEAD;
        self.lens[id.idx()] = DEAD_LEN;
    }

    /// Sweeps every tombstone out of the postings, retires terms no document carries any
    /// more, and compacts the slab: live documents are renumbered in their old order, so
    /// postings stay sorted, and list bounds are recomputed from the live postings.
    fn purge(&mut self) {
        let mut remap: Vec<u32> = Vec::with_capacity(self.slots.len());
        let mut next = 0u32;
        for slot in &self.slots {
            remap.push(if slot.is_some() { next } else { END });
            next += u32::from(slot.is_some());
        }
        let mut old = 0;
        self.meta.retain(|_| {
            old += 1;
            remap[old - 1] != END
        });
        self.lens.retain(|&len| len != DEAD_LEN);
        self.slots.retain(Option::is_some);
        for id in self.by_key.values_mut() {
            id.0 = remap[id.idx()];
        }
        for p in &mut self.terms {
            for (side, list) in p.sides.iter_mut().enumerate() {
                let before = list.len();
                list.retain_mut(|e| {
                    e.doc = remap[e.doc as usize];
                    e.doc != END
                });
                if list.len() < before {
                    list.shrink_to_fit();
                }
                p.blocks[side] = Block::of(list);
            }
        }
        for fp in self.fields.iter_mut().chain(&mut self.categories) {
            for side in &mut fp.sides {
                side.retain_mut(|d| {
                    *d = remap[*d as usize];
                    *d != END
                });
            }
        }
        let mut retired: Vec<u32> = std::mem::take(&mut self.empty_terms);
        retired.sort_unstable();
        retired.dedup();
        retired.retain(|&id| self.terms[id as usize].df == [0, 0]);
        if !retired.is_empty() {
            self.term_ids.retain(|id| retired.binary_search(&id).is_err());
            for &id in &retired {
                self.terms[id as usize] = Postings::default();
                self.keys[id as usize] = Box::default();
            }
            self.free_terms.extend(retired);
        }
        self.dead = 0;
    }
}

/// Whether [`Index::link`] keeps the blocks of the lists it posts to current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocks {
    /// Widen the last block of each list, or start one: blocks are current afterwards.
    Widen,
    /// Leave blocks alone: the caller recomputes every list's blocks once it has linked all.
    Later,
}

/// A doc id no document has: the end of a postings list, or a dropped slot in a purge.
const END: u32 = u32::MAX;

/// The position of the first entry of `run` (sorted by `key`) whose key is at least `doc`:
/// galloping from the start, then binary search, so that a short step costs little.
fn gallop<T>(run: &[T], doc: u32, key: impl Fn(&T) -> u32) -> usize {
    // Invariant: every entry before `lo` is below `doc`.
    let (mut lo, mut step) = (0, 1);
    while lo + step <= run.len() && key(&run[lo + step - 1]) < doc {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step - 1).min(run.len());
    lo + run[lo..hi].partition_point(|e| key(e) < doc)
}

/// What a query's list walks: a subject term's postings, or the documents carrying one of
/// its exact field codes.
#[derive(Clone, Copy)]
enum Run<'a> {
    Term {
        postings: &'a [Posting],
        blocks: &'a [Block],
        /// The term's idf on the candidates' side.
        idf: f32,
        /// The subject's damped weight for the term.
        qw: f32,
    },
    Field {
        docs: &'a [u32],
        /// The field part of a score, which is what the list can add.
        share: f32,
    },
}

/// A list during a query, walked in windows of doc ids.
///
/// NB: a window is framed from block metadata alone, so a lazy list's postings are touched
/// only where a candidate is searched for.
struct Cursor<'a> {
    run: Run<'a>,
    /// Term lists: the first block that may hold a doc of the current window; field lists:
    /// the first entry of the current window.
    start: usize,
    /// Term lists: the block after the last that may hold a doc of the current window;
    /// field lists: the entry after the current window's last.
    end: usize,
    /// Where the next search or gather starts: no entry before it is still wanted.
    probe: usize,
    /// Term lists: the first block of the current window that may hold the next document
    /// [`Cursor::near_bound`] is asked about.
    near: usize,
    /// The most an entry of the current window can add; 0 if the list has none there.
    max: f32,
    /// Whether the list is lazy in the current window.
    lazy: bool,
}

impl<'a> Cursor<'a> {
    fn new(run: Run<'a>) -> Self {
        Cursor { run, start: 0, end: 0, probe: 0, near: 0, max: 0.0, lazy: false }
    }

    fn is_term(&self) -> bool {
        matches!(self.run, Run::Term { .. })
    }

    /// A lower bound of the list's first doc at or after `from` (exact for field lists, the
    /// start of a block or `from` itself for term lists), or [`END`]; forgets what lies before.
    fn first_from(&mut self, from: u32) -> u32 {
        match self.run {
            Run::Term { blocks, .. } => {
                while blocks.get(self.start).is_some_and(|b| b.last < from) {
                    self.start += 1;
                }
                blocks.get(self.start).map_or(END, |b| b.first.max(from))
            }
            Run::Field { docs, .. } => {
                self.start += docs[self.start..].partition_point(|&d| d < from);
                self.probe = self.probe.max(self.start);
                docs.get(self.start).copied().unwrap_or(END)
            }
        }
    }

    /// Frames the window `w0..w1` (`first_from(w0)` was called): which blocks or entries it
    /// spans and its bound, for a term the largest `bound(idf, qw, block)` of those blocks.
    fn frame(&mut self, w0: u32, w1: u32, bound: impl Fn(f32, f32, &Block) -> f32) {
        match self.run {
            Run::Term { blocks, idf, qw, .. } => {
                let mut max = 0.0f32;
                self.end = self.start;
                while let Some(block) = blocks.get(self.end).filter(|b| b.first < w1) {
                    max = max.max(bound(idf, qw, block));
                    self.end += 1;
                }
                self.probe = self.probe.max(self.start * BLOCK);
                self.near = self.start;
                self.max = max;
            }
            Run::Field { docs, share } => {
                debug_assert!(docs.get(self.start).is_none_or(|&d| d >= w0));
                self.end = self.start + docs[self.start..].partition_point(|&d| d < w1);
                self.max = if self.end > self.start { share } else { 0.0 };
            }
        }
    }

    /// Adds the current window `w0..` to `acc` and `hits`: for a term list, each document's
    /// term part (`part(idf, qw, tf, len)`) to `acc` and its bit to `hits`; for a field list,
    /// each live document's bit to `hits` and `field_hits`.
    ///
    /// NB: a term list's tombstones are summed too (its postings do not say which documents
    /// died); the caller drops dead documents before it searches or scores any.
    fn gather(
        &mut self,
        w0: u32,
        lens: &[u8],
        acc: &mut [f32],
        hits: &mut [u64],
        field_hits: &mut [u64],
        part: impl Fn(f32, f32, f32, u32) -> f32,
    ) {
        match self.run {
            Run::Term { postings, idf, qw, .. } => {
                let stop = self.run_end(postings);
                let mut i = self.probe;
                while i < stop && postings[i].doc < w0 {
                    i += 1;
                }
                let w1 = w0.saturating_add(WINDOW as u32);
                while i < stop && postings[i].doc < w1 {
                    let p = postings[i];
                    i += 1;
                    let local = (p.doc - w0) as usize;
                    acc[local] += part(idf, qw, p.tf(), u32::from(p.len));
                    hits[local / 64] |= 1 << (local % 64);
                }
                self.probe = i;
            }
            Run::Field { docs, .. } => {
                for &d in &docs[self.start..self.end] {
                    if lens[d as usize] != DEAD_LEN {
                        let local = (d - w0) as usize;
                        hits[local / 64] |= 1 << (local % 64);
                        field_hits[local / 64] |= 1 << (local % 64);
                    }
                }
            }
        }
    }

    /// Where the current window's blocks of a term list end in its postings.
    fn run_end(&self, postings: &[Posting]) -> usize {
        (self.end * BLOCK).min(postings.len())
    }

    /// Reads a few of the postings the next gather starts with, and returns a value of
    /// them for the caller to keep (so that the reads are not left out); 0 for a field list.
    fn touch(&self) -> u32 {
        let Run::Term { postings, .. } = self.run else {
            return 0;
        };
        let stop = self.run_end(postings);
        // Eight postings to a cache line.
        (self.probe..stop).step_by(8).take(TOUCHED_LINES).fold(0, |x, i| x ^ postings[i].doc)
    }

    /// For a term list, the most it can add to `doc` of the current window: `part(idf, qw,
    /// tf)` of the largest weight in the block that would hold `doc`, or 0 if no block of the
    /// window spans it; 0 for a field list, which has said what it adds already.
    ///
    /// NB: like [`Cursor::find`], asked for ascending docs within a window.
    fn near_bound(&mut self, doc: u32, part: impl Fn(f32, f32, f32) -> f32) -> f32 {
        let Run::Term { blocks, idf, qw, .. } = self.run else {
            return 0.0;
        };
        while self.near < self.end && blocks[self.near].last < doc {
            self.near += 1;
        }
        match blocks[self.near..self.end].first() {
            Some(block) if block.first <= doc => part(idf, qw, block.max_tf),
            _ => 0.0,
        }
    }

    /// The damped weight of `doc`, as posted (rounded up), if the current run of a term list
    /// carries it.
    ///
    /// NB: within a window, a lazy list is asked for ascending docs, so each search starts
    /// where the last one stopped (`probe`) and gallops forward.
    fn find(&mut self, doc: u32) -> Option<f32> {
        let Run::Term { postings, .. } = self.run else {
            return None;
        };
        let stop = self.run_end(postings);
        let run = &postings[self.probe.min(stop)..stop];
        let at = gallop(run, doc, |p| p.doc);
        self.probe = self.probe.min(stop) + at;
        run.get(at).filter(|p| p.doc == doc).map(|p| p.tf())
    }

    /// Whether a field or category list carries `doc`; like [`Cursor::find`], for ascending
    /// docs, but over the rest of the list rather than the window's run.
    fn has(&mut self, doc: u32) -> bool {
        let Run::Field { docs, .. } = self.run else {
            return false;
        };
        let run = &docs[self.probe..];
        let at = gallop(run, doc, |&d| d);
        self.probe += at;
        run.get(at) == Some(&doc)
    }
}

/// A subject that a summary reaches, from [`Index::reached_by`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    /// The subject.
    pub subject: SummaryKey,
    /// The score the summary has for it.
    pub score: f32,
    /// The score the counterpart its `bar` named has for it now, if that one is stored and
    /// qualifies.
    pub bar: Option<f32>,
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
    fn city_keys_are_exactly_that_citys_keys_in_order() {
        let index = battery_index();
        let city = |c: &str| CityCode::parse(c).unwrap();
        let of = |c: &str| index.city_keys(city(c)).cloned().collect::<Vec<_>>();
        assert_eq!(of(XIANNING), vec![key(XIANNING, 1), key(XIANNING, 2)]);
        assert_eq!(of(SHENZHEN), vec![key(SHENZHEN, 3), key(SHENZHEN, 6)]);
        assert_eq!(of(HEFEI), vec![key(HEFEI, 4)]);
        // A city with no summaries, before and after the others.
        assert_eq!(of("110000"), Vec::<SummaryKey>::new());
        assert_eq!(of("650100"), Vec::<SummaryKey>::new());
        // Together they are every key, as `iter` lists them.
        let mut all: Vec<SummaryKey> =
            [XIANNING, SHENZHEN, HEFEI, CHENGDU].iter().flat_map(|c| of(c)).collect();
        all.sort();
        assert_eq!(all, index.iter().map(|s| s.key.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn pages_resume_after_the_given_key() {
        let index = battery_index();
        let all: Vec<SummaryKey> = index.iter().map(|s| s.key.clone()).collect();
        let after =
            |k: Option<&SummaryKey>| index.iter_after(k).map(|s| s.key.clone()).collect::<Vec<_>>();
        assert_eq!(after(None), all);
        for (i, k) in all.iter().enumerate() {
            assert_eq!(after(Some(k)), all[i + 1..], "after {k}");
        }
        // A key no summary has (taken away) still resumes at the next one.
        let mut gone = battery_index();
        gone.remove(&all[2]);
        assert_eq!(gone.iter_after(Some(&all[2])).next().map(|s| &s.key), Some(&all[3]));

        let city = CityCode::parse(SHENZHEN).unwrap();
        let keys =
            |p: Option<&Pseudonym>| index.city_keys_after(city, p).cloned().collect::<Vec<_>>();
        assert_eq!(keys(None), vec![key(SHENZHEN, 3), key(SHENZHEN, 6)]);
        assert_eq!(keys(Some(&key(SHENZHEN, 3).pseudonym)), vec![key(SHENZHEN, 6)]);
        assert_eq!(keys(Some(&key(SHENZHEN, 6).pseudonym)), Vec::<SummaryKey>::new());
        // A pseudonym between the city's keys, and one of another city's keys.
        assert_eq!(keys(Some(&key(SHENZHEN, 4).pseudonym)), vec![key(SHENZHEN, 6)]);
        assert_eq!(
            keys(Some(&key(XIANNING, 1).pseudonym)),
            vec![key(SHENZHEN, 3), key(SHENZHEN, 6)]
        );
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

        assert_eq!(index.remove(&extra.key), Some(Summary { terms: Vec::new(), ..extra.clone() }));
        assert_eq!(index.remove(&extra.key), None);
        assert_eq!(index.df("锂电池", Side::Supply), before_supply);
        assert_eq!(index.df("锂电池", Side::Demand), before_demand);
        assert_eq!(index.df("钠离子", Side::Supply), 0);
        assert_eq!(index.term_ids.get("钠离子"), None, "empty postings are dropped");
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
        // The index keeps each term once, as the summary spelt its heaviest spelling.
        assert!(index.get(&key(XIANNING, 1)).unwrap().terms.is_empty(), "kept analysed only");
        let kept = index.terms(&key(XIANNING, 1)).unwrap();
        assert_eq!(kept, vec![WeightedTerm { term: " ai ".to_owned(), weight: 0.9 }]);
        assert!(matches[0].score.is_finite());
    }

    #[test]
    fn key_prefixes_order_keys_as_their_bytes_do() {
        let keys = [
            "",
            "a",
            "ab",
            "ab\0",
            "ab\0x",
            "abcdefgh",
            "abcdefgh\0",
            "abcdefghi",
            "abcdefgz",
            "锂",
            "锂电",
            "锂电池",
            "锂电池隔膜",
            "锂离子",
            "电池",
            "é",
            "z",
            "\u{7f}",
            "ai",
        ];
        for a in keys {
            for b in keys {
                let (pa, pb) = (key_prefix(a), key_prefix(b));
                if pa != pb {
                    assert_eq!(pa.cmp(&pb), a.cmp(b), "{a:?} against {b:?}");
                }
            }
        }
    }

    #[test]
    fn normalising_lowercases_every_script_and_borrows_what_it_leaves_unchanged() {
        assert_eq!(normalize(" LiDAR "), "lidar");
        assert_eq!(normalize("ÉCOLE"), "école");
        assert_eq!(normalize("ΣΥΣΤΗΜΑ"), "συστημα");
        assert!(matches!(normalize(" 锂电池 "), Cow::Borrowed("锂电池")));
        // The shortcut for the CJK ideographs gives what Unicode's tables give.
        for c in '\u{4E00}'..='\u{9FFF}' {
            assert!(c.to_lowercase().eq([c]), "{c} has a lowercase form");
        }
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
        let nonempty = check_against_brute_force(&index);
        for key in index.iter().map(|s| s.key.clone()).collect::<Vec<_>>() {
            let q = Query { k: 3, include_same_city: true, ..Query::default() };
            assert_eq!(bulk.matches_for(&key, &q), index.matches_for(&key, &q), "bulk build");
        }
        assert!(nonempty > 1000, "the generator must produce matches ({nonempty})");
    }

    /// Compares every summary's matches under a few queries with brute force; returns how
    /// many were not empty.
    fn check_against_brute_force(index: &Index) -> usize {
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
                let want = brute_force(index, &key, q);
                let got_keys: Vec<(SummaryKey, u32)> =
                    got.iter().map(|m| (m.counterpart.clone(), m.score.to_bits())).collect();
                assert_eq!(got_keys, want, "{key:?} {q:?}");
                nonempty += usize::from(!got.is_empty());
            }
        }
        nonempty
    }

    #[test]
    fn summaries_longer_than_the_length_a_query_reads_prune_exactly_too() {
        // A query bounds a candidate by a length capped below `DEAD_LEN` (a shorter length
        // only raises a bound); every seventh summary here has 300 distinct terms.
        let mut summaries = random_summaries(420, 0x1096_c0de);
        for (i, s) in summaries.iter_mut().enumerate().filter(|(i, _)| i % 7 == 0) {
            s.terms = (0..300)
                .map(|t| WeightedTerm {
                    term: format!("t{}", (t * 7 + i) % 340),
                    weight: (1 + (t * 31 + i) % 997) as f32 / 997.0,
                })
                .collect();
        }
        let index = Index::from_summaries(summaries);
        assert!(index.iter().any(|s| index.terms(&s.key).is_some_and(|t| t.len() == 300)));
        assert!(check_against_brute_force(&index) > 300);
    }

    #[test]
    fn pruning_after_churn_equals_brute_force() {
        // Removals purge and renumber several times; replacements take new ids at the end.
        let summaries = random_summaries(1200, 0x00c0_ffee);
        let mut index = Index::from_summaries(summaries.clone());
        let mut replacements = random_summaries(1200, 0x0bad_cafe).into_iter();
        for (i, s) in summaries.iter().enumerate() {
            match i % 3 {
                0 => drop(index.remove(&s.key)),
                1 => {
                    let mut r = replacements.next().unwrap();
                    r.key = s.key.clone();
                    index.upsert(r);
                }
                _ => {}
            }
        }
        assert!(index.len() > 500, "{}", index.len());
        assert_eq!(index.slots.len(), index.len() + index.dead);
        assert!(check_against_brute_force(&index) > 500);
    }

    #[test]
    fn a_candidate_reaches_exactly_the_subjects_that_would_rank_it_at_the_same_score() {
        // After churn, so that postings carry dead slots and renumbered ids.
        let summaries = random_summaries(600, 0x0dd_ba11);
        let mut index = Index::from_summaries(summaries.clone());
        for s in summaries.iter().step_by(7) {
            index.remove(&s.key);
        }
        let queries = [
            Query::default(),
            Query { include_same_city: true, ..Query::default() },
            Query { kinds: vec![Kind::Expert], ..Query::default() },
            Query { min_score: 2.0, ..Query::default() },
        ];
        let keys: Vec<SummaryKey> = index.iter().map(|s| s.key.clone()).collect();
        let mut reached = 0;
        for q in &queries {
            let unbounded = Query { k: usize::MAX, ..q.clone() };
            // Who ranks whom, from the subjects' side, by brute force; and as a bar for each
            // subject, its best counterpart and that one's score.
            let mut want: BTreeMap<(SummaryKey, CityCode), Vec<(SummaryKey, u32)>> =
                BTreeMap::new();
            let mut bars: BTreeMap<SummaryKey, (SummaryKey, u32)> = BTreeMap::new();
            for subject in &keys {
                let ranked = brute_force(&index, subject, &unbounded);
                if let Some(best) = ranked.first() {
                    bars.insert(subject.clone(), best.clone());
                }
                for (cand, bits) in ranked {
                    want.entry((cand, subject.city)).or_default().push((subject.clone(), bits));
                }
            }
            for cand in &keys {
                for city in [XIANNING, SHENZHEN, HEFEI, CHENGDU] {
                    let city: CityCode = city.parse().unwrap();
                    let reach = index.reached_by(cand, city, q, |s| bars.get(s).map(|b| &b.0));
                    let got: Vec<(SummaryKey, u32)> =
                        reach.iter().map(|r| (r.subject.clone(), r.score.to_bits())).collect();
                    let mut expected = want.remove(&(cand.clone(), city)).unwrap_or_default();
                    expected.sort();
                    assert_eq!(got, expected, "{cand:?} in {city} under {q:?}");
                    for r in &reach {
                        // Every subject reached has a best counterpart, scored the same.
                        let bar = bars[&r.subject].1;
                        assert_eq!(r.bar.map(f32::to_bits), Some(bar), "{cand:?}, {r:?}");
                    }
                    reached += got.len();
                }
            }
        }
        assert!(reached > 10_000, "the generator must produce matches ({reached})");
        let xianning = XIANNING.parse().unwrap();
        let nobody = index.reached_by(&key(XIANNING, 9999), xianning, &Query::default(), |_| None);
        assert!(nobody.is_empty(), "an unknown key reaches nobody");
    }

    #[test]
    fn purge_compacts_slots_and_keeps_postings_in_doc_order() {
        let mut index = battery_index();
        // Removing one of seven slots purges; the slab shrinks to the live summaries.
        index.remove(&key(CHENGDU, 5));
        assert_eq!(index.slots.len(), index.len());
        assert_eq!(index.dead, 0);
        // A replaced summary takes a new id at the end; every list stays sorted.
        index.upsert(summary(Kind::Achievement, XIANNING, 2, &[("锂电池", 0.9)], &[]));
        for p in &index.terms {
            for side in &p.sides {
                assert!(side.windows(2).all(|w| w[0].doc < w[1].doc), "{side:?}");
            }
        }
        // Matches are those of a fresh build of the same summaries.
        let stored =
            index.iter().map(|s| Summary { terms: index.terms(&s.key).unwrap(), ..s.clone() });
        let fresh = Index::from_summaries(stored.collect::<Vec<_>>());
        for s in index.iter() {
            let all = Query { include_same_city: true, ..Query::default() };
            assert_eq!(index.matches_for(&s.key, &all), fresh.matches_for(&s.key, &all));
        }
    }
}
