//! Property test of the index's central promise: whatever sequence of upserts, replacements
//! (including changes of kind, status, fields and terms), withdrawals and removals an index has
//! seen, its match lists are bit-for-bit those of an index rebuilt from scratch from the
//! summaries it holds, inserted in any order.
//!
//! Seeded with `rand`'s `StdRng`, so every failure names a seed that replays it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use pilot_match::{Index, Match, Query};
use pilot_model::{
    BudgetBucket, CityCode, CooperationMode, FieldCode, Kind, Pseudonym, Status, Summary,
    SummaryKey, Trl, WeightedTerm,
};

/// Seeds run per test; each replays alone by editing the range.
const SEEDS: std::ops::Range<u64> = 0..48;
/// Operations per seed.
const OPS: usize = 240;
/// A rebuild is compared after every this many operations, and at the end.
const CHECK_EVERY: usize = 60;

const CITIES: [&str; 4] = ["421200", "440300", "340100", "510100"];
/// A small vocabulary, so that summaries share terms; it includes spellings that normalise
/// alike (`AI`, ` ai`) and duplicates within a summary happen by chance.
const TERMS: [&str; 14] = [
    "锂电池",
    "隔膜",
    "涂覆",
    "电解液",
    "图像识别",
    "深度学习",
    "无人机",
    "病虫害",
    "传感器",
    "AI",
    " ai",
    "Battery",
    "降本",
    "产线",
];
const FIELDS: [&str; 6] = ["0805", "0817", "0812", "0808", "0904", "1301"];

fn key(rng: &mut StdRng) -> SummaryKey {
    SummaryKey {
        city: CityCode::parse(CITIES.choose(rng).unwrap()).unwrap(),
        pseudonym: Pseudonym::parse(&format!("{:032x}", rng.random_range(0..10u32))).unwrap(),
    }
}

/// A weight, mostly ordinary, sometimes one the index must ignore or cap.
fn weight(rng: &mut StdRng) -> f32 {
    match rng.random_range(0..12) {
        0 => 0.0,
        1 => f32::NAN,
        2 => 1.5,
        3 => -0.2,
        4 => 1.0,
        _ => f32::from(rng.random_range(1..=10_000u16)) / 10_000.0,
    }
}

fn summary(rng: &mut StdRng, key: SummaryKey, status: Status) -> Summary {
    let kind = *[Kind::Demand, Kind::Achievement, Kind::Expert].choose(rng).unwrap();
    let terms = (0..rng.random_range(0..7))
        .map(|_| WeightedTerm {
            term: (*TERMS.choose(rng).unwrap()).to_owned(),
            weight: weight(rng),
        })
        .collect();
    let fields = (0..rng.random_range(0..3))
        .map(|_| FieldCode::parse(FIELDS.choose(rng).unwrap()).unwrap())
        .collect();
    let modes = CooperationMode::ALL.iter().copied().filter(|_| rng.random_bool(0.2)).collect();
    Summary {
        key,
        kind,
        status,
        fields,
        industries: Vec::new(),
        trl: rng.random_bool(0.5).then(|| Trl::new(rng.random_range(1..=9)).unwrap()),
        modes,
        budget: rng.random_bool(0.5).then(|| *BudgetBucket::ALL.choose(rng).unwrap()),
        updated: None,
        deadline: None,
        terms,
    }
}

/// Every stored summary's matches under a few queries, in key order.
fn snapshot(index: &Index) -> Vec<Vec<Match>> {
    let queries = [
        Query::default(),
        Query { include_same_city: true, k: 4, ..Query::default() },
        Query { include_same_city: true, kinds: vec![Kind::Expert], ..Query::default() },
        Query { min_score: 1.0, ..Query::default() },
    ];
    index.iter().flat_map(|s| queries.iter().map(|q| index.matches_for(&s.key, q))).collect()
}

/// An index built from scratch from `live`, inserted in a random order.
/// The terms an index keeps of `s`, worked out independently: usable weights (finite,
/// positive, capped at 1), one per normalised key (trimmed, lowercased), the heaviest (the
/// first of equals), spelt as written, in key order.
fn analysed(s: &Summary) -> Option<Vec<WeightedTerm>> {
    let mut best: BTreeMap<String, (f32, usize)> = BTreeMap::new();
    for (i, t) in s.terms.iter().enumerate() {
        let key = t.term.trim().to_lowercase();
        if !(t.weight.is_finite() && t.weight > 0.0) || key.is_empty() {
            continue;
        }
        let w = t.weight.min(1.0);
        let e = best.entry(key).or_insert((w, i));
        if w > e.0 {
            *e = (w, i);
        }
    }
    Some(
        best.into_values()
            .map(|(weight, i)| WeightedTerm { term: s.terms[i].term.clone(), weight })
            .collect(),
    )
}

fn rebuild(live: &BTreeMap<SummaryKey, Summary>, rng: &mut StdRng) -> Index {
    let mut order: Vec<&Summary> = live.values().collect();
    order.shuffle(rng);
    let mut index = Index::new();
    for s in order {
        index.upsert(s.clone());
    }
    index
}

fn check(
    seed: u64,
    step: usize,
    index: &Index,
    live: &BTreeMap<SummaryKey, Summary>,
    rng: &mut StdRng,
) {
    let fresh = rebuild(live, rng);
    // The index keeps summaries without their terms, and their terms analysed.
    let stored: Vec<String> =
        index.iter().map(|s| format!("{s:?} {:?}", index.terms(&s.key))).collect();
    let expected: Vec<String> = live
        .values()
        .map(|s| format!("{:?} {:?}", Summary { terms: Vec::new(), ..s.clone() }, analysed(s)))
        .collect();
    assert_eq!(stored, expected, "seed {seed}, step {step}: stored summaries differ");
    assert_eq!(snapshot(index), snapshot(&fresh), "seed {seed}, step {step}: matches differ");
}

#[test]
fn incremental_updates_match_a_full_rebuild() {
    let mut compared_matches = 0;
    for seed in SEEDS {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut index = Index::new();
        // What the index should hold: the shared summaries last upserted under each key.
        let mut live: BTreeMap<SummaryKey, Summary> = BTreeMap::new();
        for step in 1..=OPS {
            let k = key(&mut rng);
            match rng.random_range(0..10) {
                // Insert or replace with a shared summary.
                0..=5 => {
                    let status = if rng.random_bool(0.8) { Status::Open } else { Status::Matched };
                    let s = summary(&mut rng, k.clone(), status);
                    live.insert(k, s.clone());
                    index.upsert(s);
                }
                // Withdraw (or close, or send back to draft) by upsert.
                6 | 7 => {
                    let status = *[Status::Withdrawn, Status::Closed, Status::Draft]
                        .choose(&mut rng)
                        .unwrap();
                    let s = summary(&mut rng, k.clone(), status);
                    live.remove(&k);
                    index.upsert(s);
                }
                // Remove by key, which may be unknown.
                _ => {
                    // Removal hands back the summary without its terms.
                    let removed = format!("{:?}", index.remove(&k));
                    let expected = live.remove(&k).map(|s| Summary { terms: Vec::new(), ..s });
                    assert_eq!(removed, format!("{expected:?}"), "seed {seed}, step {step}");
                }
            }
            if step % CHECK_EVERY == 0 {
                check(seed, step, &index, &live, &mut rng);
                compared_matches += snapshot(&index).iter().filter(|m| !m.is_empty()).count();
            }
        }
    }
    assert!(compared_matches > 1000, "the generator must produce matches ({compared_matches})");
}

#[test]
fn rebuild_order_never_changes_matches() {
    for seed in SEEDS {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let mut live = BTreeMap::new();
        for _ in 0..30 {
            let k = key(&mut rng);
            live.insert(k.clone(), summary(&mut rng, k, Status::Open));
        }
        let first = snapshot(&rebuild(&live, &mut rng));
        for _ in 0..3 {
            assert_eq!(snapshot(&rebuild(&live, &mut rng)), first, "seed {seed}");
        }
    }
}
