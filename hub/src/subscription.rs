//! One city's subscription to its match list (`Matches.Subscribe`): what its node was last
//! sent, record by record, and the rounds that bring that up to date.
//!
//! A *full round* recomputes every record of the city, as `ListMine` does. The first one is
//! sent whole; later ones send, as an update, only the records whose matches differ from
//! what was sent by more than drift (see below): a counterpart came, left or moved, an
//! explanation names other terms, codes or fits, or a score moved by more than
//! [`SCORE_TOLERANCE`] of itself.
//!
//! An *incremental round* follows the changes made since the last round
//! ([`Matcher::changed_since`]) and recomputes only the records they can affect:
//! - the city's own records that changed (new, changed, withdrawn);
//! - the records whose sent matches name a changed summary (a counterpart that changed or
//!   left);
//! - the records a changed summary now reaches ([`Matcher::reached_by`]) with a score at least
//!   that of their k-th sent counterpart, both scored with today's statistics, or whose sent
//!   list is not full.
//!
//! Every other record keeps what it was sent. That is exact but for one effect: each change
//! moves the federation's document frequencies and average lengths a little, so the scores
//! of the records left alone drift from what a recompute would give, and at the margin a
//! near-tie can swap. (Comparing a newcomer with the k-th counterpart as it scores now, not
//! as it scored when sent, keeps that effect from shutting out newcomers on a topic: each one
//! lowers its topic's idf, and so every score it could be compared with.) So once the
//! federation has been quiet for [`QUIET`] after incremental rounds, a full round corrects
//! whatever drifted; full rounds are spaced so that they take at most about
//! 1/[`FULL_ROUND_SPACING`] of the time (at 50,000 records a full round costs about a minute of
//! CPU, an incremental round after one change milliseconds).
//!
//! Every change moves nearly every score a little, so a round that resent each record whose
//! scores are not bit for bit what was sent would resend nearly the whole list. A record
//! whose matches differ from what its node holds only in scores (and score parts) within
//! [`SCORE_TOLERANCE`], or in the order of equally listed shared terms, is not sent again: its
//! node shows scores at most that far from the hub's, and every ranking exactly.
//!
//! A round falls back to a full one when it would cost about as much anyway: when the changes
//! are many for the city's size, when they affect too many of its records, or when the
//! journal let go of changes the subscription had not seen.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use pilot_match::{Match, Query};
use pilot_model::{CityCode, Pseudonym, SummaryKey};
use pilot_proto::framing::{MATCH_LIST_CHUNK_BYTES, split_match_list, split_match_update};
use pilot_proto::pb;

use crate::matcher::Matcher;

/// How long the federation must have been quiet after incremental rounds before a full round
/// corrects drifted scores.
pub const QUIET: Duration = Duration::from_secs(2);

/// A full round that took `t` is followed by the next one no sooner than `t ×` this after
/// it ended.
pub const FULL_ROUND_SPACING: u32 = 20;

/// How far (as a share of itself) a record's score may drift from what its node was sent
/// before the record is sent again.
pub const SCORE_TOLERANCE: f32 = 0.01;

/// Changes per round beyond which a full round is cheaper: a changed summary's reverse query
/// costs about one unpruned query, a full round one pruned query per record.
fn too_many_changes(changes: usize, records: usize) -> bool {
    changes > records / 4 + 256
}

/// Affected records beyond which a full round is as cheap as recomputing them one by one.
fn too_many_affected(affected: usize, records: usize) -> bool {
    affected > records / 2 + 256
}

/// What a record's node holds of it, compactly: enough to tell whether a change can touch it
/// and whether a recompute differs from it.
#[derive(Debug, Clone)]
struct Sent {
    /// Hashes of its counterparts' keys (a collision only costs a needless recompute).
    counterparts: Vec<u64>,
    /// Its k-th counterpart if it has k matches (a candidate scoring less than that one
    /// does now cannot enter); `None` if fewer (any candidate that qualifies enters).
    kth: Option<SummaryKey>,
    /// Hash of its matches as sent, encoded with their scores and score parts left out and
    /// their shared terms sorted: what no drift of the federation's statistics changes.
    shape: u64,
    /// Its matches' scores as sent, in order.
    scores: Vec<f32>,
}

impl Sent {
    fn of(matches: &[pb::Match], k: usize) -> Sent {
        use prost::Message as _;
        let mut shape = std::collections::hash_map::DefaultHasher::new();
        let mut buf = Vec::new();
        for m in matches {
            let mut m = m.clone();
            m.score = 0.0;
            if let Some(e) = &mut m.explanation {
                e.shared_terms.sort_unstable();
                (e.term_score, e.field_score, e.fit_score) = (0.0, 0.0, 0.0);
            }
            buf.clear();
            m.encode(&mut buf).expect("a Vec grows as needed");
            buf.hash(&mut shape);
        }
        Sent {
            counterparts: matches
                .iter()
                .filter_map(|m| m.counterpart.as_ref())
                .map(key_hash)
                .collect(),
            kth: (matches.len() >= k)
                .then(|| matches.last().and_then(|m| m.counterpart.as_ref()))
                .flatten()
                .and_then(|k| SummaryKey::try_from(k).ok()),
            shape: shape.finish(),
            scores: matches.iter().map(|m| m.score).collect(),
        }
    }

    /// Whether a node that holds `self` should be sent `now`: they differ by more than drift.
    fn outdated_by(&self, now: &Sent) -> bool {
        self.shape != now.shape
            || self.scores.len() != now.scores.len()
            || self.scores.iter().zip(&now.scores).any(|(sent, now)| drifted(*sent, *now))
    }
}

/// Whether a score sent as `sent` and now `now` moved by more than [`SCORE_TOLERANCE`].
fn drifted(sent: f32, now: f32) -> bool {
    let (moved, allowed) = ((now - sent).abs(), SCORE_TOLERANCE * sent.abs().max(now.abs()));
    // NB: NaN on either side counts as moved.
    moved.is_nan() || moved > allowed
}

/// Whether a node that holds `sent` for a record (`None`: no matches) should be sent `now`.
fn outdated(sent: Option<&Sent>, now: Option<&Sent>) -> bool {
    match (sent, now) {
        (Some(sent), Some(now)) => sent.outdated_by(now),
        (None, None) => false,
        _ => true,
    }
}

fn key_hash(k: &pb::SummaryKey) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&k.city, &k.pseudonym).hash(&mut h);
    h.finish()
}

/// What a round sends the node.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// The whole list, ordered by record, then score.
    Whole(Vec<pb::Match>),
    /// The records whose matches changed, in pseudonym order, each with all of its matches
    /// now (none if it has none left).
    Update(Vec<(pb::SummaryKey, Vec<pb::Match>)>),
}

impl Push {
    /// The messages that carry it ([`pilot_proto::framing`]).
    pub fn into_messages(self) -> Vec<pb::MatchList> {
        match self {
            Push::Whole(list) => split_match_list(list, MATCH_LIST_CHUNK_BYTES),
            Push::Update(records) => split_match_update(records, MATCH_LIST_CHUNK_BYTES),
        }
    }

    /// The number of records it carries matches for (or names, for an update).
    pub fn records(&self) -> usize {
        match self {
            Push::Whole(list) => {
                let mut subjects: Vec<_> = list.iter().map(|m| &m.subject).collect();
                subjects.dedup();
                subjects.len()
            }
            Push::Update(records) => records.len(),
        }
    }
}

/// One city's subscription: its query, and what its node holds.
#[derive(Debug)]
pub struct Subscription {
    city: CityCode,
    query: Query,
    /// Per record with at least one match: what the node holds of it.
    sent: BTreeMap<Pseudonym, Sent>,
    /// The journal number from which on changes are not dealt with yet.
    cursor: u64,
    /// Whether the whole list went out yet.
    started: bool,
    /// Whether incremental rounds ran since the last full round.
    drifted: bool,
    /// When the last incremental round ran.
    last_change: Instant,
    /// When the last full round ended, and how long it took.
    last_full: (Instant, Duration),
}

impl Subscription {
    /// A subscription of `city` to at most `per_record` matches per record, including its
    /// own city's counterparts if `include_same_city`. Nothing is sent until a full round.
    pub fn new(city: CityCode, per_record: usize, include_same_city: bool) -> Self {
        let now = Instant::now();
        Subscription {
            city,
            query: Query { k: per_record, include_same_city, ..Query::default() },
            sent: BTreeMap::new(),
            cursor: 0,
            started: false,
            drifted: false,
            last_change: now,
            last_full: (now, Duration::ZERO),
        }
    }

    /// The records the node holds matches for.
    pub fn records(&self) -> usize {
        self.sent.len()
    }

    /// When a full round should correct drifted scores, if one should.
    pub fn full_round_due(&self) -> Option<Instant> {
        let (ended, took) = self.last_full;
        self.drifted.then(|| (self.last_change + QUIET).max(ended + took * FULL_ROUND_SPACING))
    }

    /// Recomputes every record of the city: the first time, the whole list; later, an update
    /// of the records that differ from what was sent (`None` if none does).
    pub fn full_round(&mut self, matcher: &Matcher) -> Option<Push> {
        let started = Instant::now();
        // Changes from here on may or may not be seen below; the next round looks at them.
        let cursor = matcher.journal_head();
        let all = matcher.mine(self.city, &[], self.query.k, self.query.include_same_city);
        let mut fresh = BTreeMap::new();
        let mut changed = Vec::new();
        let mut whole = Vec::new();
        for (record, matches) in by_record(&all) {
            let matches: Vec<pb::Match> = matches.iter().map(pb::Match::from).collect();
            let sent = Sent::of(&matches, self.query.k);
            if self.started {
                match self.sent.get(&record) {
                    // NB: what the node holds stays the reference, so that drift adds up.
                    Some(held) if !held.outdated_by(&sent) => {
                        fresh.insert(record, held.clone());
                        continue;
                    }
                    _ => changed.push((self.key(&record), matches)),
                }
            } else {
                whole.extend(matches);
            }
            fresh.insert(record, sent);
        }
        for gone in self.sent.keys().filter(|p| !fresh.contains_key(*p)) {
            changed.push((self.key(gone), Vec::new()));
        }
        changed.sort_by(|a, b| a.0.pseudonym.cmp(&b.0.pseudonym));
        self.sent = fresh;
        self.cursor = cursor;
        self.drifted = false;
        self.last_full = (Instant::now(), started.elapsed());
        if !self.started {
            self.started = true;
            return Some(Push::Whole(whole));
        }
        (!changed.is_empty()).then_some(Push::Update(changed))
    }

    /// Recomputes the records that the changes since the last round can affect, and returns
    /// an update of those whose matches differ from what was sent (`None` if none does);
    /// falls back to [`Subscription::full_round`] where that is as cheap or the only way.
    pub fn incremental_round(&mut self, matcher: &Matcher) -> Option<Push> {
        if !self.started {
            return self.full_round(matcher);
        }
        let Some((keys, head)) = matcher.changed_since(self.cursor) else {
            return self.full_round(matcher);
        };
        if keys.is_empty() {
            self.cursor = head;
            return None;
        }
        if too_many_changes(keys.len(), self.sent.len()) {
            return self.full_round(matcher);
        }
        let keys: BTreeSet<SummaryKey> = keys.into_iter().collect();
        let mut affected: BTreeSet<Pseudonym> = BTreeSet::new();
        // The city's own records that changed.
        affected.extend(keys.iter().filter(|k| k.city == self.city).map(|k| k.pseudonym.clone()));
        // Records whose matches name a changed summary.
        let hashes: HashSet<u64> =
            keys.iter().map(|k| key_hash(&pb::SummaryKey::from(k))).collect();
        for (record, sent) in &self.sent {
            if sent.counterparts.iter().any(|h| hashes.contains(h)) {
                affected.insert(record.clone());
            }
        }
        // Records a changed summary may now enter.
        let kth = |subject: &SummaryKey| self.sent.get(&subject.pseudonym)?.kth.as_ref();
        for key in &keys {
            for reach in matcher.reached_by(key, self.city, &self.query, kth) {
                // NB: no bar (a list not full, or its k-th gone) admits any candidate.
                if reach.bar.is_none_or(|bar| reach.score >= bar) {
                    affected.insert(reach.subject.pseudonym);
                }
            }
            if too_many_affected(affected.len(), self.sent.len()) {
                return self.full_round(matcher);
            }
        }
        self.cursor = head;
        self.drifted = true;
        self.last_change = Instant::now();
        if affected.is_empty() {
            // NB: `mine` takes no names to mean every record.
            return None;
        }
        let affected: Vec<Pseudonym> = affected.into_iter().collect();
        let now = matcher.mine(self.city, &affected, self.query.k, self.query.include_same_city);
        let mut now: BTreeMap<Pseudonym, Vec<pb::Match>> = by_record(&now)
            .into_iter()
            .map(|(p, ms)| (p, ms.iter().map(pb::Match::from).collect()))
            .collect();
        let mut changed = Vec::new();
        for record in affected {
            let matches = now.remove(&record).unwrap_or_default();
            let sent = (!matches.is_empty()).then(|| Sent::of(&matches, self.query.k));
            if outdated(self.sent.get(&record), sent.as_ref()) {
                changed.push((self.key(&record), matches));
                match sent {
                    Some(sent) => self.sent.insert(record, sent),
                    None => self.sent.remove(&record),
                };
            }
        }
        (!changed.is_empty()).then_some(Push::Update(changed))
    }

    fn key(&self, record: &Pseudonym) -> pb::SummaryKey {
        pb::SummaryKey { city: self.city.to_string(), pseudonym: record.to_string() }
    }
}

/// `matches` (ordered by subject) grouped by subject; every subject is one of the city's.
fn by_record(matches: &[Match]) -> Vec<(Pseudonym, &[Match])> {
    let mut out: Vec<(Pseudonym, &[Match])> = Vec::new();
    let mut start = 0;
    for i in 1..=matches.len() {
        if i == matches.len() || matches[i].subject != matches[start].subject {
            out.push((matches[start].subject.pseudonym.clone(), &matches[start..i]));
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use pilot_model::{Kind, Summary, Tombstone, WeightedTerm};
    use pilot_store::Change;

    use super::*;

    const XIANNING: &str = "421200";
    const QUANZHOU: &str = "350500";
    /// Topics: a demand of topic t and an achievement of topic t share its two terms.
    const TOPICS: u32 = 12;

    fn summary(city: &str, i: u32, kind: Kind, terms: &[(String, f32)]) -> Summary {
        let mut s = crate::testing::summary(city, i, kind, &[]);
        // No shared field: only terms decide who meets whom.
        s.fields = Vec::new();
        s.terms = terms.iter().map(|(t, w)| WeightedTerm { term: t.clone(), weight: *w }).collect();
        s
    }

    fn demand(i: u32) -> Summary {
        let t = i % TOPICS;
        let terms =
            [(format!("topic{t}a"), 1.0), (format!("topic{t}b"), 0.8), (format!("own{i}"), 0.5)];
        summary(XIANNING, i, Kind::Demand, &terms)
    }

    fn achievement(i: u32) -> Summary {
        let t = i % TOPICS;
        let w = 0.3 + f32::from(u8::try_from(i % 13).unwrap()) / 20.0;
        let terms = [
            (format!("topic{t}a"), w),
            (format!("topic{t}b"), 1.0 - w / 2.0),
            (format!("x{i}"), 1.0),
        ];
        summary(QUANZHOU, i, Kind::Achievement, &terms)
    }

    fn matcher() -> Matcher {
        let mut all: Vec<Summary> = (0..120).map(demand).collect();
        all.extend((0..240).map(achievement));
        Matcher::rebuild(all)
    }

    /// The test federation, Xianning's subscription to 3 matches a record, and its node's view
    /// after the first (whole) list.
    fn started() -> (Matcher, Subscription, View) {
        let m = matcher();
        let mut sub = Subscription::new(xianning(), 3, false);
        let mut view = View::default();
        view.apply(sub.full_round(&m).unwrap());
        (m, sub, view)
    }

    /// What a node holds, by record: the whole list, then updates applied.
    #[derive(Debug, Default, PartialEq)]
    struct View(BTreeMap<String, Vec<pb::Match>>);

    impl View {
        fn apply(&mut self, push: Push) -> Vec<String> {
            match push {
                Push::Whole(list) => {
                    self.0.clear();
                    for m in list {
                        let p = m.subject.clone().unwrap().pseudonym;
                        self.0.entry(p).or_default().push(m);
                    }
                    self.0.keys().cloned().collect()
                }
                Push::Update(records) => {
                    let named: Vec<String> =
                        records.iter().map(|(k, _)| k.pseudonym.clone()).collect();
                    for (k, ms) in records {
                        assert_eq!(k.city, XIANNING, "only the city's own records");
                        assert!(ms.iter().all(|m| m.subject.as_ref() == Some(&k)), "{k:?}");
                        if ms.is_empty() {
                            self.0.remove(&k.pseudonym);
                        } else {
                            self.0.insert(k.pseudonym, ms);
                        }
                    }
                    named
                }
            }
        }

        /// What the hub computes for the city now.
        fn exact(m: &Matcher, k: usize) -> View {
            let mut v = View::default();
            v.apply(Push::Whole(
                m.mine(xianning(), &[], k, false).iter().map(pb::Match::from).collect(),
            ));
            v
        }

        /// Asserts that the view holds what the hub computes but for drift: the same records,
        /// each with the same counterparts in the same order, the same shared terms, and
        /// scores within [`SCORE_TOLERANCE`].
        fn assert_within_drift(&self, exact: &View) {
            assert_eq!(self.0.keys().collect::<Vec<_>>(), exact.0.keys().collect::<Vec<_>>());
            let terms = |m: &pb::Match| {
                let mut t = m.explanation.clone().unwrap_or_default().shared_terms;
                t.sort();
                t
            };
            for (r, held) in &self.0 {
                let now = &exact.0[r];
                assert_eq!(self.counterparts(r), exact.counterparts(r), "{r}");
                for (h, n) in held.iter().zip(now) {
                    assert_eq!(terms(h), terms(n), "{r}");
                    let (a, b) = (h.score, n.score);
                    assert!((a - b).abs() <= SCORE_TOLERANCE * b.abs(), "{r}: held {a}, now {b}");
                }
            }
        }

        /// The records whose scores are not bit for bit those of `other`.
        fn scores_differ(&self, other: &View) -> usize {
            let scores = |ms: &Vec<pb::Match>| ms.iter().map(|m| m.score).collect::<Vec<_>>();
            self.0.iter().filter(|(r, ms)| other.0.get(*r).map(scores) != Some(scores(ms))).count()
        }

        fn counterparts(&self, record: &str) -> Vec<String> {
            self.0.get(record).map_or_else(Vec::new, |ms| {
                ms.iter().map(|m| m.counterpart.clone().unwrap().pseudonym).collect()
            })
        }
    }

    fn xianning() -> CityCode {
        XIANNING.parse().unwrap()
    }

    fn pseudonym(i: u32) -> String {
        format!("{i:032x}")
    }

    #[test]
    fn updates_name_only_the_records_a_change_touches_and_a_full_round_makes_the_view_exact() {
        let m = matcher();
        let mut sub = Subscription::new(xianning(), 3, false);
        let mut view = View::default();
        assert_eq!(sub.full_round_due(), None);
        // The first round sends the whole list, and nothing more until something changes.
        let first = sub.full_round(&m).unwrap();
        assert!(matches!(first, Push::Whole(_)));
        view.apply(first);
        assert_eq!(view, View::exact(&m, 3));
        assert_eq!(view.0.len(), 120, "every demand has matches");
        assert_eq!(sub.incremental_round(&m), None);

        // A new achievement that fits topic 3 better than any: the ten topic-3 demands, and
        // only they, get it first.
        let terms = [("topic3a".to_owned(), 1.0), ("topic3b".to_owned(), 1.0)];
        m.apply(vec![Change::Upsert(summary(QUANZHOU, 5000, Kind::Achievement, &terms))]);
        let named = view.apply(sub.incremental_round(&m).unwrap());
        let topic3: Vec<String> = (0..120).filter(|i| i % TOPICS == 3).map(pseudonym).collect();
        assert_eq!(named, topic3);
        for r in &topic3 {
            assert_eq!(view.counterparts(r)[0], pseudonym(5000), "{r}");
        }
        assert!(sub.full_round_due().is_some(), "scores elsewhere may have drifted");

        // A counterpart withdrawn: exactly the records that listed it are named, and none
        // lists it any more.
        let gone = view.counterparts(&pseudonym(7))[1].clone();
        let listing: Vec<String> =
            view.0.keys().filter(|r| view.counterparts(r).contains(&gone)).cloned().collect();
        assert!(!listing.is_empty());
        let key = SummaryKey {
            city: QUANZHOU.parse().unwrap(),
            pseudonym: Pseudonym::parse(&gone).unwrap(),
        };
        m.apply(vec![Change::Tombstone(Tombstone { key, kind: Kind::Achievement })]);
        let named = view.apply(sub.incremental_round(&m).unwrap());
        assert_eq!(named, listing);
        assert!(view.0.keys().all(|r| !view.counterparts(r).contains(&gone)));

        // The city's own new record arrives with its matches; its withdrawn one leaves.
        m.apply(vec![Change::Upsert(demand(500))]);
        let key =
            SummaryKey { city: xianning(), pseudonym: Pseudonym::parse(&pseudonym(9)).unwrap() };
        m.apply(vec![Change::Tombstone(Tombstone { key, kind: Kind::Demand })]);
        let named = view.apply(sub.incremental_round(&m).unwrap());
        assert_eq!(named, vec![pseudonym(9), pseudonym(500)]);
        assert_eq!(view.counterparts(&pseudonym(500)).len(), 3);
        assert!(!view.0.contains_key(&pseudonym(9)));

        // A change in another city that reaches none of Xianning's records sends nothing.
        let terms = [("unrelated".to_owned(), 1.0)];
        m.apply(vec![Change::Upsert(summary(QUANZHOU, 6000, Kind::Achievement, &terms))]);
        assert_eq!(sub.incremental_round(&m), None);

        // Once quiet, a full round corrects what drifted: the view is then the hub's but for
        // scores within the tolerance.
        if let Some(push) = sub.full_round(&m) {
            assert!(matches!(push, Push::Update(_)));
            view.apply(push);
        }
        view.assert_within_drift(&View::exact(&m, 3));
        assert_eq!(sub.full_round_due(), None);
    }

    #[test]
    fn a_subscription_the_journal_left_behind_recomputes_everything() {
        let (m, mut sub, mut view) = started();
        let head = m.journal_head();
        // More changes than the journal keeps (64 in tests), one at a time.
        for i in 0..100 {
            m.apply(vec![Change::Upsert(achievement(1000 + i))]);
        }
        assert_eq!(m.journal_head(), head + 100);
        assert!(m.changed_since(head).is_none(), "the first changes were let go");
        let (keys, next) = m.changed_since(m.journal_head() - 10).unwrap();
        assert_eq!((keys.len(), next), (10, m.journal_head()));
        view.apply(sub.incremental_round(&m).unwrap());
        view.assert_within_drift(&View::exact(&m, 3));
        assert_eq!(sub.full_round_due(), None, "that was a full round");
    }

    #[test]
    fn incremental_rounds_through_churn_keep_what_a_change_touches_exact() {
        // Random churn on both sides, a round after each few changes: every record an update
        // names holds exactly what the hub computes at that moment, no record keeps a
        // counterpart that left, and the view stays close to exact throughout.
        let (m, mut sub, mut view) = started();
        let mut seed = 0x5eed_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut removed: Vec<String> = Vec::new();
        let (mut rounds, mut named_total, mut exact_records, mut records) = (0, 0, 0, 0);
        for step in 0..60u32 {
            for _ in 0..1 + next() % 3 {
                let i = u32::try_from(next() % 400).unwrap();
                let change = match next() % 4 {
                    0 => Change::Upsert(demand(i)),
                    1 | 2 => Change::Upsert(achievement(i + step * 1000)),
                    _ => {
                        let key = SummaryKey {
                            city: QUANZHOU.parse().unwrap(),
                            pseudonym: Pseudonym::parse(&pseudonym(i % 240)).unwrap(),
                        };
                        removed.push(pseudonym(i % 240));
                        Change::Tombstone(Tombstone { key, kind: Kind::Achievement })
                    }
                };
                m.apply(vec![change]);
            }
            let Some(push) = sub.incremental_round(&m) else { continue };
            rounds += 1;
            let named = view.apply(push);
            named_total += named.len();
            let exact = View::exact(&m, 3);
            for r in &named {
                assert_eq!(view.0.get(r), exact.0.get(r), "step {step}: named record {r}");
            }
            let everyone: BTreeSet<&String> = view.0.keys().chain(exact.0.keys()).collect();
            for r in everyone {
                for c in view.counterparts(r) {
                    assert!(
                        !removed.contains(&c) || exact.counterparts(r).contains(&c),
                        "step {step}: {r} keeps {c}, which left"
                    );
                }
                records += 1;
                exact_records += usize::from(exact.counterparts(r) == view.counterparts(r));
            }
        }
        assert!(rounds > 30, "{rounds} rounds sent updates");
        assert!(
            named_total < rounds * 30,
            "updates are partial: {named_total} records over {rounds} rounds"
        );
        let share = exact_records as f64 / records as f64;
        // Drift could swap near-ties; here it never does, and 2 % would mean a bug.
        assert!(share >= 0.98, "records whose counterparts are exactly the hub's: {share:.3}");
        if let Some(push) = sub.full_round(&m) {
            view.apply(push);
        }
        view.assert_within_drift(&View::exact(&m, 3));
    }

    #[test]
    fn a_full_round_resends_only_what_moved_beyond_drift() {
        let (m, mut sub, mut view) = started();
        let unrelated = |i: u32| {
            let terms = [(format!("elsewhere{i}"), 1.0), ("elsewhere".to_owned(), 0.7)];
            summary(QUANZHOU, 7000 + i, Kind::Achievement, &terms)
        };
        // An achievement on a topic no Xianning record has: no ranking changes, but the
        // supply side's size and average length move, and with them nearly every score.
        m.apply(vec![Change::Upsert(unrelated(0))]);
        assert_eq!(sub.incremental_round(&m), None);
        let exact = View::exact(&m, 3);
        assert!(view.scores_differ(&exact) > 100, "nearly every score drifted");
        assert_eq!(sub.full_round(&m), None, "drift alone sends nothing");
        view.assert_within_drift(&exact);

        // Thirty more: each idf moves by several percent, which is sent.
        m.apply((1..=30).map(|i| Change::Upsert(unrelated(i))).collect());
        assert_eq!(sub.incremental_round(&m), None);
        let push = sub.full_round(&m).expect("scores moved beyond the tolerance");
        let named = view.apply(push);
        assert!(named.len() > 100, "{} records sent", named.len());
        let exact = View::exact(&m, 3);
        for r in &named {
            assert_eq!(view.0.get(r), exact.0.get(r), "a record sent holds the hub's matches");
        }
        view.assert_within_drift(&exact);
        assert_eq!(sub.full_round(&m), None);

        // A counterpart that changes what it shares is sent whatever its score.
        let first = view.counterparts(&pseudonym(0))[0].clone();
        let i: u32 = (0..240).find(|i| pseudonym(*i) == first).unwrap();
        let mut changed = achievement(i);
        changed.terms.push(WeightedTerm { term: "own0".into(), weight: 0.01 });
        m.apply(vec![Change::Upsert(changed)]);
        let named = view.apply(sub.incremental_round(&m).unwrap());
        assert!(named.contains(&pseudonym(0)), "{named:?}");
        let shared = view.0[&pseudonym(0)][0].explanation.clone().unwrap().shared_terms;
        assert!(shared.contains(&"own0".to_owned()), "{shared:?}");
    }
}
