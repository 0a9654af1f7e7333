//! Drives `pilot-match`: keeps the index in step with the store and answers match queries.
//!
//! The index lives in memory and is rebuilt from the store at start-up; every applied change
//! updates it incrementally.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use parking_lot::RwLock;

use pilot_match::{Index, Match, Query, Reach};
use pilot_model::{
    CityCode, FieldCode, IndustryCode, Kind, Pseudonym, Summary, SummaryKey, YearMonth,
};
use pilot_store::{Change, HubStore};

/// Subjects matched per hold of the index's read lock when listing a city's matches.
const MINE_CHUNK: usize = 256;
/// Summaries the store's reader hands to the indexer at a time during [`Matcher::load`].
const LOAD_BATCH: usize = 1024;
/// Batches queued between the reader and the indexer during [`Matcher::load`].
const LOAD_QUEUE: usize = 8;
/// Changed keys the journal keeps for match subscriptions; one that falls further behind
/// recomputes its whole list instead.
const JOURNAL_KEYS: usize = if cfg!(test) { 64 } else { 200_000 };

/// Counts of live summaries per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// Demands.
    pub demands: u64,
    /// Achievements.
    pub achievements: u64,
    /// Experts.
    pub experts: u64,
}

impl KindCounts {
    /// Adds `delta` (possibly negative) to the count of `kind`.
    fn add(&mut self, kind: Kind, delta: i64) {
        let n = match kind {
            Kind::Demand => &mut self.demands,
            Kind::Achievement => &mut self.achievements,
            Kind::Expert => &mut self.experts,
        };
        *n = n.saturating_add_signed(delta);
    }
}

/// Filters of a national listing.
#[derive(Debug, Clone)]
pub struct NationalFilter {
    /// Only subjects of this city.
    pub city: Option<CityCode>,
    /// Only counterparts of this city.
    pub counterpart_city: Option<CityCode>,
    /// Only subjects carrying this field.
    pub field: Option<FieldCode>,
    /// Only subjects in this industry division.
    pub industry: Option<IndustryCode>,
    /// Only subjects updated in or after this month.
    pub updated_from: Option<YearMonth>,
    /// Only subjects updated in or before this month.
    pub updated_to: Option<YearMonth>,
    /// Only this subject.
    pub subject: Option<SummaryKey>,
    /// Subject kind.
    pub subject_kind: Kind,
    /// Matches per subject.
    pub per_subject: usize,
    /// Subjects per page.
    pub page_size: usize,
    /// Start after this subject.
    pub after: Option<SummaryKey>,
    /// Score floor.
    pub min_score: f32,
    /// Whether same-city counterparts count.
    pub include_same_city: bool,
}

/// The hub's match index.
#[derive(Debug)]
pub struct Matcher {
    /// NB: task-fair (parking_lot): once an apply waits, new queries queue behind it, so a
    /// steady stream of queries cannot hold off an acknowledged change (with std's `RwLock`
    /// a writer waited up to a quarter of a second behind one query thread).
    index: RwLock<Index>,
    /// Live summaries per city and kind, kept in step with the index (changed only under its
    /// write lock), so that status screens and metrics read them without walking the index or
    /// waiting for its lock.
    counts: Mutex<BTreeMap<CityCode, KindCounts>>,
    /// Bumped after every change to the index, so match subscriptions know to recompute.
    generation: tokio::sync::watch::Sender<u64>,
    /// The keys of the latest changes, so that a match subscription recomputes only the
    /// records they can affect. Written under the index's write lock, after the index.
    journal: Mutex<Journal>,
}

/// The keys of the latest changes to the index, numbered in the order they were applied.
#[derive(Debug, Default)]
struct Journal {
    /// The number of the first key in `keys`: the ones before it were let go.
    first: u64,
    keys: VecDeque<SummaryKey>,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher::rebuild(Vec::new())
    }
}

impl Matcher {
    /// Builds the index from the store's live summaries, read a batch at a time: the index
    /// keeps them analysed, so the summaries as written are never all in memory.
    ///
    /// NB: reading and decoding the store costs about as much as indexing what it reads, so
    /// a second thread reads while this one indexes, and start-up takes about the longer of
    /// the two rather than their sum (hub/benches/load.rs measures both ways). The queue
    /// between them holds at most eight batches.
    pub fn load(store: &HubStore) -> pilot_store::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Summary>>(LOAD_QUEUE);
        std::thread::scope(|scope| {
            let reader = std::thread::Builder::new().name("hub-load".into()).spawn_scoped(
                scope,
                move || -> pilot_store::Result<()> {
                    let mut batch = Vec::with_capacity(LOAD_BATCH);
                    for summary in store.each_live_summary() {
                        batch.push(summary?);
                        if batch.len() == LOAD_BATCH {
                            let full =
                                std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
                            if tx.send(full).is_err() {
                                // The indexer is gone: it panicked, which the join reports.
                                return Ok(());
                            }
                        }
                    }
                    // NB: the last batch goes even if the indexer is gone; nothing to report.
                    let _ = tx.send(batch);
                    Ok(())
                },
            );
            let reader = match reader {
                Ok(reader) => reader,
                Err(e) => {
                    tracing::warn!(error = %e, "no thread to read the store with; loading serially");
                    return Matcher::load_serially(store);
                }
            };
            // A read error closes the queue early; the partial index is then dropped.
            let matcher = Matcher::rebuild(rx.into_iter().flatten());
            match reader.join() {
                Ok(Ok(())) => Ok(matcher),
                Ok(Err(e)) => Err(e),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// [`Matcher::load`] on one thread: reads each summary, then indexes it. For the load
    /// benchmark's comparison.
    pub fn load_serially(store: &HubStore) -> pilot_store::Result<Self> {
        let mut failed = None;
        let summaries =
            store.each_live_summary().map_while(|s| s.map_err(|e| failed = Some(e)).ok());
        let matcher = Matcher::rebuild(summaries);
        match failed {
            Some(e) => Err(e),
            None => Ok(matcher),
        }
    }

    /// Builds the index from the given summaries.
    pub fn rebuild(summaries: impl IntoIterator<Item = Summary>) -> Self {
        // One pass that sizes every postings list first; same result as upserting each.
        let index = Index::from_summaries(summaries);
        let mut counts: BTreeMap<CityCode, KindCounts> = BTreeMap::new();
        for s in index.iter() {
            counts.entry(s.key.city).or_default().add(s.kind, 1);
        }
        Matcher {
            index: RwLock::new(index),
            counts: Mutex::new(counts),
            generation: tokio::sync::watch::Sender::new(0),
            journal: Mutex::new(Journal::default()),
        }
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, Index> {
        // NB: the lock does not poison: a panic while holding it would be a bug in
        // pilot-match, and reads go on.
        self.index.read()
    }

    /// A receiver that sees a new value after every change to the index.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Follows applied changes.
    pub fn apply(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let _bump = Bump(&self.generation);
        let mut index = self.index.write();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        for c in changes {
            let (city, before, after) = match c {
                Change::Upsert(s) => {
                    let before = index.get(&s.key).map(|old| old.kind);
                    let after = s.status.is_shared().then_some(s.kind);
                    let city = s.key.city;
                    journal.keys.push_back(s.key.clone());
                    index.upsert(s);
                    (city, before, after)
                }
                Change::Tombstone(t) => {
                    let before = index.remove(&t.key).map(|old| old.kind);
                    let city = t.key.city;
                    journal.keys.push_back(t.key);
                    (city, before, None)
                }
            };
            let entry = counts.entry(city).or_default();
            if let Some(kind) = before {
                entry.add(kind, -1);
            }
            if let Some(kind) = after {
                entry.add(kind, 1);
            }
        }
        let over = journal.keys.len().saturating_sub(JOURNAL_KEYS);
        journal.keys.drain(..over);
        journal.first += over as u64;
    }

    /// The number the next changed key will get: a subscription that has dealt with every
    /// change up to now resumes from here.
    pub fn journal_head(&self) -> u64 {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        journal.first + journal.keys.len() as u64
    }

    /// The keys changed from number `from` on (a key changed twice comes twice) and the
    /// number to resume from next time; `None` if some of them were let go, in which case the
    /// caller has to assume that anything changed.
    pub fn changed_since(&self, from: u64) -> Option<(Vec<SummaryKey>, u64)> {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let skip = usize::try_from(from.checked_sub(journal.first)?).ok()?;
        let head = journal.first + journal.keys.len() as u64;
        Some((journal.keys.iter().skip(skip).cloned().collect(), head.max(from)))
    }

    /// The records of `city` for which the summary under `candidate` qualifies as a
    /// counterpart under `query`, with its score for each and that of the counterpart `bar`
    /// names ([`Index::reached_by`]).
    pub fn reached_by<'k>(
        &self,
        candidate: &SummaryKey,
        city: CityCode,
        query: &Query,
        bar: impl Fn(&SummaryKey) -> Option<&'k SummaryKey>,
    ) -> Vec<Reach> {
        self.read().reached_by(candidate, city, query, bar)
    }

    /// Runs `f` over the index under the read lock (statistics walk it whole).
    pub fn with_index<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.read())
    }

    /// The keys of every summary in the index, for consistency checks.
    pub fn live_keys(&self) -> Vec<SummaryKey> {
        self.read().iter().map(|s| s.key.clone()).collect()
    }

    /// Live summaries per city and kind (cities that hold none are left out).
    pub fn counts(&self) -> BTreeMap<CityCode, KindCounts> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.iter().filter(|(_, c)| **c != KindCounts::default()).map(|(k, c)| (*k, *c)).collect()
    }

    /// Matches of one city's records (all of them, or the named pseudonyms).
    pub fn mine(
        &self,
        city: CityCode,
        only: &[Pseudonym],
        per_record: usize,
        include_same_city: bool,
    ) -> Vec<Match> {
        let query = Query { k: per_record, include_same_city, ..Query::default() };
        let keys: Vec<SummaryKey> = if only.is_empty() {
            self.read().city_keys(city).cloned().collect()
        } else {
            only.iter().map(|p| SummaryKey { city, pseudonym: p.clone() }).collect()
        };
        // NB: a city's whole list takes a while; the read lock is let go between chunks so that
        // applies (which wait for it) are not held up. A change meanwhile bumps the generation,
        // and the list is computed again.
        let mut out = Vec::new();
        for chunk in keys.chunks(MINE_CHUNK) {
            let index = self.read();
            out.extend(chunk.iter().flat_map(|k| index.matches_for(k, &query)));
        }
        out
    }

    /// One page of [`Matcher::mine`]: the matches of at most `page_size` of the city's
    /// records (all of them, or the named pseudonyms), taken in pseudonym order after `after`,
    /// and the last of them if more may follow.
    ///
    /// NB: a page is bounded by records, not matches, so its size is bounded by
    /// `page_size × per_record` whatever the city's size; a page may hold no match at all.
    pub fn mine_page(
        &self,
        city: CityCode,
        only: &[Pseudonym],
        per_record: usize,
        include_same_city: bool,
        after: Option<&Pseudonym>,
        page_size: usize,
    ) -> (Vec<Match>, Option<Pseudonym>) {
        let query = Query { k: per_record, include_same_city, ..Query::default() };
        let mut keys: Vec<SummaryKey> = if only.is_empty() {
            self.read().city_keys_after(city, after).take(page_size + 1).cloned().collect()
        } else {
            let mut named: Vec<&Pseudonym> =
                only.iter().filter(|p| after.is_none_or(|a| *p > a)).collect();
            named.sort();
            named.dedup();
            named
                .into_iter()
                .take(page_size + 1)
                .map(|p| SummaryKey { city, pseudonym: p.clone() })
                .collect()
        };
        let more = keys.len() > page_size;
        keys.truncate(page_size);
        let mut out = Vec::new();
        for chunk in keys.chunks(MINE_CHUNK) {
            let index = self.read();
            out.extend(chunk.iter().flat_map(|k| index.matches_for(k, &query)));
        }
        let next = if more { keys.pop().map(|k| k.pseudonym) } else { None };
        (out, next)
    }

    /// A page of national matches and the key to continue after.
    pub fn national(&self, f: &NationalFilter) -> (Vec<Match>, Option<SummaryKey>) {
        let index = self.read();
        let query = Query {
            k: f.per_subject,
            include_same_city: f.include_same_city,
            min_score: f.min_score,
            ..Query::default()
        };
        let mut out = Vec::new();
        let mut subjects = 0;
        for s in index.iter_after(f.after.as_ref()) {
            if f.subject.as_ref().is_some_and(|k| k != &s.key)
                || s.kind != f.subject_kind
                || f.city.is_some_and(|c| c != s.key.city)
                || f.field.is_some_and(|fc| !s.fields.contains(&fc))
                || f.industry.is_some_and(|i| !s.industries.contains(&i))
                || f.updated_from.is_some_and(|from| s.updated.is_none_or(|u| u < from))
                || f.updated_to.is_some_and(|to| s.updated.is_none_or(|u| u > to))
            {
                continue;
            }
            let ms: Vec<Match> = index
                .matches_for(&s.key, &query)
                .into_iter()
                .filter(|m| f.counterpart_city.is_none_or(|c| c == m.counterpart.city))
                .collect();
            if ms.is_empty() {
                continue;
            }
            out.extend(ms);
            subjects += 1;
            if subjects == f.page_size {
                return (out, Some(s.key.clone()));
            }
        }
        (out, None)
    }
}

/// Bumps the generation when dropped, i.e. after the index's write lock is released.
struct Bump<'a>(&'a tokio::sync::watch::Sender<u64>);

impl Drop for Bump<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|g| *g = g.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use pilot_model::WeightedTerm;

    use super::*;

    const XIANNING: &str = "421200";
    const QUANZHOU: &str = "350500";

    fn summary(city: &str, i: u32, kind: Kind) -> Summary {
        crate::testing::summary(city, i, kind, &["隔膜", "涂覆"])
    }

    fn subjects(matches: &[Match]) -> Vec<u32> {
        let mut v: Vec<u32> = matches
            .iter()
            .map(|m| u32::from_str_radix(m.subject.pseudonym.as_str(), 16).unwrap())
            .collect();
        v.dedup();
        v
    }

    /// Reads every page of `page_size` and returns each page's subjects.
    fn pages(m: &Matcher, only: &[Pseudonym], page_size: usize) -> Vec<Vec<u32>> {
        let city = CityCode::parse(XIANNING).unwrap();
        let (mut out, mut after) = (Vec::new(), None);
        loop {
            let (ms, next) = m.mine_page(city, only, 3, false, after.as_ref(), page_size);
            out.push(subjects(&ms));
            assert_eq!(ms.len(), 3 * out.last().unwrap().len(), "3 matches per record");
            match next {
                Some(p) => after = Some(p),
                None => return out,
            }
        }
    }

    /// What the index holds: every summary (key, kind, terms) with its top matches, scores
    /// to the bit.
    type Content = Vec<(SummaryKey, Kind, Vec<WeightedTerm>, Vec<(SummaryKey, u32)>)>;

    fn content(m: &Matcher) -> Content {
        m.with_index(|index| {
            index
                .iter()
                .map(|s| {
                    let ms = index.matches_for(&s.key, &Query::default());
                    let ms = ms.iter().map(|m| (m.counterpart.clone(), m.score.to_bits()));
                    (s.key.clone(), s.kind, index.terms(&s.key).unwrap(), ms.collect())
                })
                .collect()
        })
    }

    #[test]
    fn loading_reads_on_one_thread_and_indexes_on_another_with_the_same_result() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&pilot_store::Db::open(dir.path()).unwrap()).unwrap();
        // Several batches of the loader's queue, in two cities, some withdrawn again.
        for (c, city) in [XIANNING, QUANZHOU].into_iter().enumerate() {
            let code = CityCode::parse(city).unwrap();
            let n = 1_700 + 300 * c as u32;
            let mut changes: Vec<(u64, Change)> = (0..n)
                .map(|i| {
                    let kind = if i % 3 == 0 { Kind::Demand } else { Kind::Achievement };
                    let mut s = summary(city, 10_000 * c as u32 + i, kind);
                    s.terms[1].term = format!("涂覆{}", i % 37);
                    (u64::from(i) + 1, Change::Upsert(s))
                })
                .collect();
            changes.extend((0..n).step_by(7).map(|i| {
                let key = SummaryKey {
                    city: code,
                    pseudonym: Pseudonym::parse(&format!("{:032x}", 10_000 * c as u32 + i))
                        .unwrap(),
                };
                (
                    u64::from(n + i) + 1,
                    Change::Tombstone(pilot_model::Tombstone { key, kind: Kind::Demand }),
                )
            }));
            let last = changes.last().unwrap().0;
            store.apply(code, &changes, 0, last, last, 0).unwrap();
        }
        let live = store.live_summaries().unwrap();
        assert!(live.len() > 3 * LOAD_BATCH, "{} live summaries", live.len());

        let loaded = content(&Matcher::load(&store).unwrap());
        let serial = content(&Matcher::load_serially(&store).unwrap());
        let keys = |c: &Content| c.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
        assert!(keys(&loaded) == live.iter().map(|s| s.key.clone()).collect::<Vec<_>>());
        assert!(loaded == serial, "loading on two threads indexed something else");
        assert!(loaded.iter().all(|e| e.2.len() == 2 && !e.3.is_empty()), "terms and matches");
    }

    #[test]
    fn a_citys_matches_come_a_page_of_records_at_a_time_in_pseudonym_order() {
        // Seven demands in Xianning (and one in Quanzhou, not theirs), three achievements in
        // Quanzhou that every demand matches.
        let mut summaries: Vec<Summary> =
            (1..=7).map(|i| summary(XIANNING, i, Kind::Demand)).collect();
        summaries.push(summary(QUANZHOU, 8, Kind::Demand));
        summaries.extend((20..23).map(|i| summary(QUANZHOU, i, Kind::Achievement)));
        let m = Matcher::rebuild(summaries);

        assert_eq!(pages(&m, &[], 3), vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
        // A page that ends the list exactly says so: no empty page after it.
        assert_eq!(pages(&m, &[], 7), vec![vec![1, 2, 3, 4, 5, 6, 7]]);
        assert_eq!(pages(&m, &[], 1000), vec![vec![1, 2, 3, 4, 5, 6, 7]]);
        // The unpaged list is the pages put together.
        let city = CityCode::parse(XIANNING).unwrap();
        assert_eq!(subjects(&m.mine(city, &[], 3, false)), vec![1, 2, 3, 4, 5, 6, 7]);

        // Named records come in pseudonym order, each once, whatever order they are named in.
        let named: Vec<Pseudonym> = [6, 2, 6, 4, 9]
            .iter()
            .map(|i| Pseudonym::parse(&format!("{i:032x}")).unwrap())
            .collect();
        // 9 is no record of the index: it has a place in the pages but no match.
        assert_eq!(pages(&m, &named, 2), vec![vec![2, 4], vec![6]]);
    }
}
