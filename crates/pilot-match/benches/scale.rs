//! Scale benchmark of the hub's match index: 1,100,000 summaries (22 cities × 50,000) in
//! `pilot_match::Index` and, in the same run, in tantivy, with the same queries through both.
//!
//! Run with `cargo bench -p pilot-match --bench scale` (about 10-15 minutes on 2 cores at full
//! size; the first build several more). Environment:
//! - `PILOT_SCALE_N`: number of summaries (default 1,100,000; e.g. 110000 for a quick run);
//! - `PILOT_SCALE_QUERIES`: realistic demand queries (default 1,000);
//! - `PILOT_SCALE_STRESS`: stress queries (default 200);
//! - `PILOT_SCALE_BUDGET_SECS`: wall-time cap of each timed query loop (default 120;
//!   insert-and-rematch gets half of it, searchable-after-ack 60 s); a loop
//!   that hits it stops early and the table says how many queries ran;
//! - `PILOT_DATA`: the `shared/data` directory (default `../shared/data` of the workspace).
//!
//! # Corpus
//!
//! Real records from `shared/data` are anonymized once with `pilot_anon::Anonymizer` into a
//! pool of distinct summaries: every CSL paper as an achievement (title, abstract, keywords,
//! discipline), every CSL paper with a title and the 8,000 CSL title-only rows as demands
//! (title and keywords worded as an enterprise's need, as `pilotctl devnet` does), every NSFC
//! principal investigator as an expert (project titles), every arXiv abstract as an English
//! achievement. Anonymizing 1.1 M records would take many minutes, so instead each of the
//! 1.1 M slots (city `g % 22`, per city 20 % demands, 60 % achievements, 20 % experts) takes a
//! pool summary of its kind chosen by a hash of `g`, keeps each term but the heaviest with
//! probability 7/8, scales each weight by a factor in [0.8, 1.0] (rounded to 1/10,000 like the
//! anonymizer's), and gets a fresh pseudonym: 16 hex digits of a hash of `g`, then `g` in 16 hex
//! digits. So df grows with N like a duplicated corpus (no new vocabulary) but no two summaries
//! are identical. Nothing is cached on disk; tantivy lives in a temporary directory that is
//! removed at the end.
//!
//! # What is measured
//!
//! - pilot-match build = start-up rebuild: `Index::from_summaries` over the corpus as it is
//!   generated, one summary at a time and in key order (city, then pseudonym), as
//!   `Matcher::load` (hub/src/matcher.rs) runs over the hub's store as it reads it (the
//!   generator's time is left out, as reading and decoding the store is);
//! - insert rate: `upsert` of 20,000 fresh summaries into the full index, one at a time;
//! - insert-and-rematch: `upsert` of a fresh summary, then `matches_for` it (top 10);
//! - query latency: `matches_for(key, &Query::default())` (top 10, other cities), one thread;
//! - searchable after ack: what the hub does after acknowledging a batch (take the write lock
//!   of the index, `upsert`) until a query (`matches_for` of a demand whose terms the new
//!   achievement copies) returns it, while another thread keeps running realistic queries on the
//!   same task-fair `parking_lot::RwLock` as `Matcher` does;
//! - peak RSS (`VmHWM`) after the pilot-match phases, before tantivy exists (the hub's
//!   footprint: the rebuilt index), and at the end (both engines, for information).
//!
//! # tantivy side
//!
//! Two indexes (supply: achievements and experts; demand), because pilot-match keeps document
//! frequencies and average lengths per side and ranks a demand only against the supply side;
//! one document per summary, one indexing thread each, no merges while indexing, then merged
//! into one segment per index (its fastest layout; the merge is part of its build time).
//! The `terms` field is pre-tokenized from the same analysed terms as pilot-match (trimmed,
//! lowercased, deduplicated keeping the heaviest): each distinct term once (tf 1), so tantivy's
//! field length is the number of distinct terms, which is exactly pilot-match's length. Query
//! terms carry the subject's weights as boosts. BM25 is tantivy's own, k1 1.2, b 0.75 (its
//! constants), with the same idf formula as pilot-match, which this bench runs with the same
//! parameters (`Index::with_bm25`; the hub's own b is 0.1, tuned on the quality benchmark,
//! and only scores differ with it, not latency). The engines' scores still differ in two ways
//! that tantivy cannot mirror: pilot-match uses a candidate's damped term weight in (0, 1] as
//! the term frequency, while tantivy's term frequencies are integers, so a candidate's weights
//! are lost (tf 1 for all); and field lengths above 40 are quantized by tantivy's fieldnorm
//! table (steps of 2-4 up to 64 terms).
//!
//! Latency is measured on tantivy's plain BM25 query (a union of boosted term queries, which
//! runs its block-max WAND), with a single-threaded searcher. Agreement uses a second tantivy
//! query that mirrors pilot-match's whole score: the terms boosted by their damped weights as
//! pilot-match weighs a subject's terms, plus constant-score clauses for the non-BM25 parts,
//! each the share pilot-match gives it of the subject's scale (Σ idf × damped weight, from
//! tantivy's document frequencies, which are pilot-match's): 0.25 for a shared exact field
//! code, 0.1 for a shared discipline category only (the corpus's summaries carry one field
//! each); 0.02 for any shared cooperation mode; for a demand, 0.01 for an achievement at TRL
//! ≥ 6 and 0.01 for a price bucket within the budget. It excludes the subject's city.
//! Agreement of a query is the share of pilot-match's top 10 found in tantivy's top 10, where
//! a result ranked 11-20 by tantivy with a score within 1e-4 (relative) of tantivy's 10th also
//! counts (ties at the boundary); averaged over queries with at least one match. Its mirror
//! query's latency is printed too, for information.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use pilot_anon::{Anonymizer, NodeSecret, Outcome};
use pilot_match::{Bm25, Index, Query as MatchQuery};
use pilot_model::{
    Achievement, CityCode, CooperationMode, Date, Demand, Expert, FieldCode, Kind, LocalId,
    PILOT_CITIES, Pseudonym, Record, RecordBody, Status, Summary, SummaryKey, UnixMillis,
    WeightedTerm,
};
use tantivy::collector::TopDocs;
use tantivy::columnar::Column;
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{DocAddress, IndexWriter, Searcher, TantivyDocument, Term};

/// Slots per city at full size.
const PER_CITY: usize = 50_000;
/// Summaries upserted to measure the insert rate.
const INSERTS: usize = 20_000;
/// Upsert-then-match operations to measure insert-and-rematch.
const REMATCHES: usize = 500;
/// Trials of "searchable after ack".
const ACK_TRIALS: usize = 200;
/// Terms of a stress query.
const STRESS_TERMS: usize = 48;
/// The most frequent supply-side terms stress queries draw from.
const STRESS_VOCAB: usize = 300;

fn main() {
    let started = Instant::now();
    let cities: Vec<CityCode> = PILOT_CITIES.iter().map(|c| c.city_code()).collect();
    let n = env_usize("PILOT_SCALE_N", cities.len() * PER_CITY);
    let n_queries = env_usize("PILOT_SCALE_QUERIES", 1_000);
    let n_stress = env_usize("PILOT_SCALE_STRESS", 200);
    let budget = Duration::from_secs(env_usize("PILOT_SCALE_BUDGET_SECS", 120) as u64);
    let data = std::env::var_os("PILOT_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    );
    println!("scale benchmark: {n} summaries, {n_queries} realistic + {n_stress} stress queries");

    // --- Pool of anonymized summaries.
    let t = Instant::now();
    let pool = Pool::build(&data);
    println!(
        "pool: {} demands, {} achievements, {} experts anonymized in {:.1} s",
        pool.demands.len(),
        pool.achievements.len(),
        pool.experts.len(),
        t.elapsed().as_secs_f64()
    );
    let stress_vocab = pool.common_supply_terms(STRESS_VOCAB);

    // --- pilot-match: start-up rebuild (= build), from the corpus generated as it is read,
    // as the hub streams its store; the generator's own time is left out.
    println!("before the rebuild: RSS {}", mib(rss().0));
    let (mut generating, mut total_terms) = (Duration::ZERO, 0usize);
    let mut demand_keys: Vec<SummaryKey> = Vec::new();
    // The hub reads its store in key order (city, then pseudonym); so is the corpus read here.
    // Putting the slots in that order is the store's doing, not the rebuild's, so it is not timed.
    let order = key_order(n, &cities);
    let mut last_key: Option<SummaryKey> = None;
    let t = Instant::now();
    let mut index = rebuild(order.iter().map(|&g| {
        let t = Instant::now();
        let s = pool.slot(u64::from(g), &cities);
        assert!(last_key.as_ref().is_none_or(|k| *k < s.key), "the corpus comes in key order");
        last_key = Some(s.key.clone());
        generating += t.elapsed();
        total_terms += s.terms.len();
        if s.kind == Kind::Demand {
            demand_keys.push(s.key.clone());
        }
        s
    }));
    let rebuild_time = t.elapsed().saturating_sub(generating);
    println!(
        "generated {n} summaries ({:.1} terms each, {} demands) in {:.1} s while rebuilding",
        total_terms as f64 / n as f64,
        demand_keys.len(),
        generating.as_secs_f64(),
    );
    println!(
        "pilot-match rebuild of {} summaries: {:.2} s; RSS {}",
        index.len(),
        rebuild_time.as_secs_f64(),
        mib(rss().0)
    );

    // --- Insert rate: fresh summaries, one upsert each; then taken out again.
    let fresh: Vec<Summary> = (0..INSERTS).map(|i| pool.slot((n + i) as u64, &cities)).collect();
    let keys: Vec<SummaryKey> = fresh.iter().map(|s| s.key.clone()).collect();
    let t = Instant::now();
    for s in fresh {
        index.upsert(s);
    }
    let insert_rate = INSERTS as f64 / t.elapsed().as_secs_f64();
    for k in &keys {
        index.remove(k);
    }

    // --- Insert-and-rematch.
    let fresh: Vec<Summary> =
        (0..REMATCHES).map(|i| pool.slot((n + INSERTS + i) as u64, &cities)).collect();
    let keys: Vec<SummaryKey> = fresh.iter().map(|s| s.key.clone()).collect();
    let query = MatchQuery::default();
    let t = Instant::now();
    let mut rematch_lat = Vec::with_capacity(REMATCHES);
    for s in fresh {
        if t.elapsed() > budget / 2 {
            break;
        }
        let t1 = Instant::now();
        let key = s.key.clone();
        index.upsert(s);
        std::hint::black_box(index.matches_for(&key, &query));
        rematch_lat.push(t1.elapsed());
    }
    let rematch_rate = rematch_lat.len() as f64 / t.elapsed().as_secs_f64();
    for k in &keys {
        index.remove(k);
    }
    println!(
        "inserts: {insert_rate:.0}/s; insert-and-rematch: {rematch_rate:.0}/s (p99 {})",
        ms(Stats::of(&mut rematch_lat).p99)
    );

    // --- Query sets: realistic demands from the index, and stress demands added to it.
    let stride = (demand_keys.len() / n_queries.max(1)).max(1);
    let realistic: Vec<SummaryKey> =
        demand_keys.iter().step_by(stride).take(n_queries).cloned().collect();
    let mut stress = Vec::with_capacity(n_stress);
    for s in 0..n_stress {
        let summary = stress_demand(s as u64, &stress_vocab, &cities, &pool);
        stress.push(summary.key.clone());
        index.upsert(summary);
    }
    drop(demand_keys);

    // --- pilot-match latency.
    let warm: Vec<_> = realistic.iter().take(20).map(|k| index.matches_for(k, &query)).collect();
    drop(warm);
    let (pilot_real_lat, pilot_real) = run_pilot(&index, &realistic, budget);
    let (pilot_stress_lat, pilot_stress) = run_pilot(&index, &stress, budget);
    println!(
        "pilot-match: realistic {} queries, stress {} queries",
        pilot_real.len(),
        pilot_stress.len()
    );

    // --- Searchable after ack, with a concurrent query thread on the same lock.
    let locked = RwLock::new(index);
    let ack = searchable_after_ack(&locked, &realistic, &cities);
    let index = locked.into_inner();
    let (_, hub_peak) = rss();
    println!(
        "searchable after ack: p99 {}, max {}; peak RSS so far {}",
        ms(ack.p99),
        ms(ack.max),
        mib(hub_peak)
    );

    // --- tantivy: build from the same summaries.
    drop(pool);
    let dir = std::env::temp_dir().join(format!("pilot-scale-{}", std::process::id()));
    let tv = Tantivy::build(&index, &dir);
    println!("tantivy build: {:.2} s; RSS {}", tv.build_time.as_secs_f64(), mib(rss().0));

    let subject = |k: &SummaryKey| with_terms(&index, k);
    let real_subjects: Vec<Summary> =
        realistic.iter().take(pilot_real.len()).map(subject).collect();
    let stress_subjects: Vec<Summary> =
        stress.iter().take(pilot_stress.len()).map(subject).collect();
    let real_subjects: Vec<&Summary> = real_subjects.iter().collect();
    let stress_subjects: Vec<&Summary> = stress_subjects.iter().collect();
    for s in real_subjects.iter().take(20) {
        std::hint::black_box(tv.search_bm25(s, 10));
    }
    let (tv_real_lat, _) = tv.run(&real_subjects, budget, false);
    let (tv_stress_lat, _) = tv.run(&stress_subjects, budget, false);
    let (tv_real_mirror_lat, tv_real_mirror) = tv.run(&real_subjects, budget, true);
    let (tv_stress_mirror_lat, tv_stress_mirror) = tv.run(&stress_subjects, budget, true);
    let agree_real = agreement(&pilot_real, &tv_real_mirror);
    let agree_stress = agreement(&pilot_stress, &tv_stress_mirror);
    let (_, end_peak) = rss();
    std::fs::remove_dir_all(&dir).ok();

    // --- Report.
    let pr = Stats::of(&mut pilot_real_lat.clone());
    let ps = Stats::of(&mut pilot_stress_lat.clone());
    let tr = Stats::of(&mut tv_real_lat.clone());
    let ts = Stats::of(&mut tv_stress_lat.clone());
    let trm = Stats::of(&mut tv_real_mirror_lat.clone());
    let tsm = Stats::of(&mut tv_stress_mirror_lat.clone());
    println!();
    println!(
        "N = {n} summaries ({} cities), one query thread; wall time {:.0} s",
        cities.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "queries run: realistic pilot {} / tantivy {}, stress pilot {} / tantivy {}",
        pilot_real.len(),
        tv_real_lat.len(),
        pilot_stress.len(),
        tv_stress_lat.len()
    );
    println!();
    println!("{:<28} {:>12} {:>12} {:>12}", "latency (top 10)", "mean", "p50", "p99");
    for (name, s) in [
        ("pilot-match realistic", pr),
        ("tantivy BM25 realistic", tr),
        ("tantivy mirror realistic", trm),
        ("pilot-match stress", ps),
        ("tantivy BM25 stress", ts),
        ("tantivy mirror stress", tsm),
    ] {
        println!("{name:<28} {:>12} {:>12} {:>12}", ms(s.mean), ms(s.p50), ms(s.p99));
    }
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64().max(1e-12);
    println!(
        "speed-up vs tantivy (tantivy / pilot): realistic mean {:.2}×, p99 {:.2}×; stress mean {:.2}×, p99 {:.2}×",
        ratio(pr.mean, tr.mean),
        ratio(pr.p99, tr.p99),
        ratio(ps.mean, ts.mean),
        ratio(ps.p99, ts.p99)
    );
    println!(
        "top-10 agreement with tantivy mirror: realistic {:.1} %, stress {:.1} %",
        agree_real * 100.0,
        agree_stress * 100.0
    );
    println!(
        "build: pilot-match {:.2} s, tantivy {:.2} s (index {:.2} s + merge {:.2} s)",
        rebuild_time.as_secs_f64(),
        tv.build_time.as_secs_f64(),
        tv.index_time.as_secs_f64(),
        tv.merge_time.as_secs_f64()
    );
    println!(
        "insert {insert_rate:.0}/s ({INSERTS} upserts), insert-and-rematch {rematch_rate:.0}/s ({} ops, p99 {})",
        rematch_lat.len(),
        ms(Stats::of(&mut rematch_lat.clone()).p99)
    );
    println!(
        "searchable after ack: mean {}, p99 {}, max {} ({} of {} found)",
        ms(ack.mean),
        ms(ack.p99),
        ms(ack.max),
        ack.found,
        ack.trials
    );
    println!(
        "peak RSS: hub side (pilot-match phases) {}, whole run incl. tantivy {}",
        mib(hub_peak),
        mib(end_peak)
    );
    println!();

    let rows: Vec<(&str, String, &str, bool)> = vec![
        ("realistic top-10 mean", ms(pr.mean), "<= 0.5 ms", pr.mean <= Duration::from_micros(500)),
        ("realistic top-10 p99", ms(pr.p99), "<= 2 ms", pr.p99 <= Duration::from_millis(2)),
        (
            "realistic mean vs tantivy",
            format!("{:.3}x", ratio(pr.mean, tr.mean)),
            ">= 2x faster",
            ratio(pr.mean, tr.mean) >= 2.0,
        ),
        (
            "realistic p99 vs tantivy",
            format!("{:.3}x", ratio(pr.p99, tr.p99)),
            ">= 2x faster",
            ratio(pr.p99, tr.p99) >= 2.0,
        ),
        (
            "realistic top-10 agreement",
            format!("{:.1} %", agree_real * 100.0),
            ">= 99 %",
            agree_real >= 0.99,
        ),
        (
            "stress mean vs tantivy",
            format!("{:.3}x", ratio(ps.mean, ts.mean)),
            ">= 1x",
            ratio(ps.mean, ts.mean) >= 1.0,
        ),
        (
            "stress p99 vs tantivy",
            format!("{:.3}x", ratio(ps.p99, ts.p99)),
            ">= 1x",
            ratio(ps.p99, ts.p99) >= 1.0,
        ),
        (
            "rebuild",
            format!("{:.2} s", rebuild_time.as_secs_f64()),
            "<= 5 s",
            rebuild_time <= Duration::from_secs(5),
        ),
        (
            "searchable after ack (max)",
            ms(ack.max),
            "<= 1 s",
            ack.found == ack.trials && ack.max <= Duration::from_secs(1),
        ),
        ("peak RSS (hub side)", mib(hub_peak), "<= 2 GiB", hub_peak <= 2 << 30),
    ];
    println!("{:<30} {:>12}  {:<14} result", "target", "measured", "goal");
    for (name, got, goal, ok) in rows {
        println!("{name:<30} {got:>12}  {goal:<14} {}", if ok { "PASS" } else { "MISS" });
    }
    if n != cities.len() * PER_CITY {
        println!("(N is not the full 1.1 M: targets are for the full size)");
    }
}

// ----------------------------------------------------------------------------------------------
// Corpus

/// Distinct anonymized summaries of real records, by kind.
struct Pool {
    demands: Vec<Summary>,
    achievements: Vec<Summary>,
    experts: Vec<Summary>,
}

impl Pool {
    /// Reads `shared/data`, builds records and anonymizes them on two threads.
    fn build(data: &Path) -> Pool {
        let records = records(data);
        let secret = NodeSecret::from_bytes([7; 32]);
        let anon = Anonymizer::new(PILOT_CITIES[0].city_code(), secret);
        let today = Date::parse("today", "2025-06-01").expect("a valid date");
        let next = AtomicUsize::new(0);
        let parts: Vec<Vec<Summary>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(r) = records.get(i) else { break };
                            if let Outcome::Share(a) = anon.anonymize(r, today) {
                                out.push((i, a.into_inner()));
                            }
                        }
                        out
                    })
                })
                .collect();
            let mut all: Vec<(usize, Summary)> =
                workers.into_iter().flat_map(|w| w.join().expect("worker panicked")).collect();
            // Record order, whatever the threads did.
            all.sort_by_key(|(i, _)| *i);
            vec![all.into_iter().map(|(_, s)| s).collect()]
        });
        let mut pool = Pool { demands: Vec::new(), achievements: Vec::new(), experts: Vec::new() };
        for s in parts.into_iter().flatten() {
            match s.kind {
                Kind::Demand => pool.demands.push(s),
                Kind::Achievement => pool.achievements.push(s),
                Kind::Expert => pool.experts.push(s),
            }
        }
        assert!(
            !pool.demands.is_empty() && !pool.achievements.is_empty() && !pool.experts.is_empty(),
            "every kind needs summaries"
        );
        pool
    }

    /// The summary of slot `g`: city `g % 22`, kind by `(g / 22) % 10`, a perturbed copy of a
    /// pool summary, a fresh pseudonym.
    fn slot(&self, g: u64, cities: &[CityCode]) -> Summary {
        let city = cities[(g % cities.len() as u64) as usize];
        let list = match (g / cities.len() as u64) % 10 {
            0 | 1 => &self.demands,
            2 | 3 => &self.experts,
            _ => &self.achievements,
        };
        let h = mix(g ^ 0x5ca1_ab1e);
        let base = &list[(h % list.len() as u64) as usize];
        let mut terms: Vec<WeightedTerm> = base
            .terms
            .iter()
            .enumerate()
            .filter(|(j, _)| *j == 0 || !mix(h ^ (*j as u64 + 1)).is_multiple_of(8))
            .map(|(j, t)| {
                let u = (mix(h.rotate_left(17) ^ j as u64) % 10_001) as f32 / 10_000.0;
                let w = ((t.weight * (0.8 + 0.2 * u)) * 10_000.0).round().max(1.0) / 10_000.0;
                WeightedTerm { term: t.term.clone(), weight: w }
            })
            .collect();
        terms.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.term.cmp(&b.term)));
        Summary { key: key(city, g, 0), terms, ..base.clone() }
    }

    /// The `k` terms carried by most pool achievements and experts.
    fn common_supply_terms(&self, k: usize) -> Vec<String> {
        let mut df: HashMap<&str, usize> = HashMap::new();
        for s in self.achievements.iter().chain(&self.experts) {
            for t in &s.terms {
                *df.entry(t.term.as_str()).or_default() += 1;
            }
        }
        let mut v: Vec<(&str, usize)> = df.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(k).map(|(t, _)| t.to_owned()).collect()
    }
}

/// A summary key: 16 hex digits of a hash of `g` (and a tag), then `g`.
fn key(city: CityCode, g: u64, tag: u64) -> SummaryKey {
    let p = format!("{:016x}{g:016x}", mix(g ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    SummaryKey { city, pseudonym: Pseudonym::parse(&p).expect("32 lowercase hex digits") }
}

/// The slots `0..n` in the order of the keys [`Pool::slot`] gives them: city, then pseudonym
/// (whose hex digits sort as the two numbers they spell).
fn key_order(n: usize, cities: &[CityCode]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..u32::try_from(n).expect("fewer than 2^32 slots")).collect();
    order.sort_unstable_by_key(|&g| {
        let g = u64::from(g);
        (cities[(g % cities.len() as u64) as usize], mix(g), g)
    });
    order
}

/// The slot number of a key made by [`key`].
fn slot_of(k: &SummaryKey) -> u64 {
    u64::from_str_radix(&k.pseudonym.as_str()[16..], 16).expect("bench pseudonyms end in hex")
}

/// A long demand full of the most common supply terms.
fn stress_demand(s: u64, vocab: &[String], cities: &[CityCode], pool: &Pool) -> Summary {
    let mut picked: Vec<usize> = Vec::new();
    let mut j = 0u64;
    while picked.len() < STRESS_TERMS.min(vocab.len()) {
        let i = (mix(s * 1_000 + j) % vocab.len() as u64) as usize;
        if !picked.contains(&i) {
            picked.push(i);
        }
        j += 1;
    }
    let terms = picked
        .iter()
        .enumerate()
        .map(|(r, &i)| WeightedTerm {
            term: vocab[i].clone(),
            weight: if r == 0 {
                1.0
            } else {
                (2_000 + mix(s ^ i as u64) % 8_001) as f32 / 10_000.0
            },
        })
        .collect();
    let base = &pool.demands[(mix(s) % pool.demands.len() as u64) as usize];
    let city = cities[(s % cities.len() as u64) as usize];
    Summary { key: key(city, u64::MAX / 2 + s, 1), terms, ..base.clone() }
}

/// SplitMix64's finaliser: a fixed, well-mixed hash of a number.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Every record of the pool, in a fixed order.
fn records(data: &Path) -> Vec<Record> {
    let modes = [
        CooperationMode::License,
        CooperationMode::Transfer,
        CooperationMode::JointImplementation,
        CooperationMode::CommissionedDevelopment,
    ];
    let mut out = Vec::new();
    let mut push = |body: RecordBody| {
        let i = out.len();
        out.push(Record {
            local_id: LocalId::parse(&format!("r{i}")).expect("a valid local id"),
            external_id: None,
            status: Status::Open,
            created_at: UnixMillis(1_735_689_600_000),
            updated_at: UnixMillis(1_735_689_600_000),
            body,
        });
    };
    let field = |v: &serde_json::Value| -> Vec<FieldCode> {
        v["discipline"].as_str().and_then(|d| FieldCode::parse(d).ok()).into_iter().collect()
    };
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let csl = read_jsonl(&data.join("csl/csl_merged.jsonl"));
    for (i, p) in csl.iter().enumerate() {
        let abstract_text = p["abstract"].as_str().unwrap_or_default().to_owned();
        let title = p["title"]
            .as_str()
            .map_or_else(|| abstract_text.chars().take(24).collect(), str::to_owned);
        push(RecordBody::Achievement(Achievement {
            title,
            abstract_text,
            keywords: strs(&p["keywords"]),
            fields: field(p),
            trl: pilot_model::Trl::new((i % 9 + 1) as u8).ok(),
            cooperation_modes: vec![modes[(i + 1) % 4], modes[i % 4]],
            price_max_cny: Some(300_000 + (i as u64 % 30) * 100_000),
            ..Default::default()
        }));
    }
    let demand = |title: &str, keywords: &[String], fields: Vec<FieldCode>, i: usize| {
        let focus = if keywords.is_empty() {
            String::new()
        } else {
            format!("重点关注：{}。", keywords.join("、"))
        };
        RecordBody::Demand(Demand {
            title: format!("寻求{title}相关技术"),
            description: format!("本企业希望引进与“{title}”相关的技术成果或专家支持。{focus}"),
            fields,
            budget_cny: Some(200_000 + (i as u64 % 20) * 150_000),
            cooperation_modes: vec![modes[i % 4]],
            ..Default::default()
        })
    };
    for (i, p) in csl.iter().enumerate() {
        if let Some(title) = p["title"].as_str() {
            push(demand(title, &strs(&p["keywords"]), field(p), i));
        }
    }
    for (i, p) in read_jsonl(&data.join("csl/csl_titles_category.jsonl")).iter().enumerate() {
        if let Some(title) = p["title"].as_str() {
            push(demand(title, &[], Vec::new(), i));
        }
    }
    let mut by_pi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in read_jsonl(&data.join("nsfc-mgmt-projects/nsfc_mgmt_projects.jsonl")) {
        if let (Some(pi), Some(title)) = (p["pi_id"].as_str(), p["title"].as_str()) {
            by_pi.entry(pi.to_owned()).or_default().push(title.to_owned());
        }
    }
    for (pi, titles) in by_pi {
        push(RecordBody::Expert(Expert {
            name: format!("NSFC {pi}"),
            summary: format!("主持国家自然科学基金项目：{}。", titles.join("；")),
            fields: vec![FieldCode::parse("1202").expect("management science")],
            ..Default::default()
        }));
    }
    for (i, p) in read_jsonl(&data.join("arxiv-en/arxiv_abstracts.jsonl")).iter().enumerate() {
        let (Some(title), Some(text)) = (p["title"].as_str(), p["abstract"].as_str()) else {
            continue;
        };
        push(RecordBody::Achievement(Achievement {
            title: title.chars().take(200).collect(),
            abstract_text: text.to_owned(),
            trl: pilot_model::Trl::new((i % 9 + 1) as u8).ok(),
            cooperation_modes: vec![modes[i % 4]],
            price_max_cny: Some(300_000 + (i as u64 % 30) * 100_000),
            ..Default::default()
        }));
    }
    out
}

fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e} (set PILOT_DATA)", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("shared data is valid JSONL"))
        .collect()
}

// ----------------------------------------------------------------------------------------------
// pilot-match

/// What `Matcher::rebuild` does at start-up, scoring with tantivy's BM25 parameters (k1 1.2,
/// b 0.75) rather than the hub's tuned b 0.1, so that both engines rank with identical
/// parameters. The parameters are used only at query time: latency is the same either way.
/// The indexed summary under `key` with the terms the index keeps of it.
fn with_terms(index: &Index, key: &SummaryKey) -> Summary {
    let s = index.get(key).expect("the summary is indexed");
    Summary { terms: index.terms(key).expect("the summary is indexed"), ..s.clone() }
}

fn rebuild(summaries: impl Iterator<Item = Summary>) -> Index {
    Index::from_summaries(summaries).with_bm25(TANTIVY_BM25)
}

/// tantivy's fixed BM25 parameters.
const TANTIVY_BM25: Bm25 = Bm25 { k1: 1.2, b: 0.75 };

/// The top 10 of one query: (slot, score), best first.
type Top = Vec<(u64, f32)>;

/// Runs `matches_for` for each subject until done or out of `budget`.
fn run_pilot(
    index: &Index,
    subjects: &[SummaryKey],
    budget: Duration,
) -> (Vec<Duration>, Vec<Top>) {
    let query = MatchQuery::default();
    let (mut lat, mut tops) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for k in subjects {
        let t = Instant::now();
        let m = index.matches_for(k, &query);
        lat.push(t.elapsed());
        tops.push(m.iter().map(|m| (slot_of(&m.counterpart), m.score)).collect());
        if start.elapsed() > budget {
            break;
        }
    }
    (lat, tops)
}

struct AckStats {
    mean: Duration,
    p99: Duration,
    max: Duration,
    found: usize,
    trials: usize,
}

/// Upsert under the write lock, then query under the read lock until the new summary shows,
/// while another thread runs realistic queries on the same lock.
fn searchable_after_ack(
    locked: &RwLock<Index>,
    realistic: &[SummaryKey],
    cities: &[CityCode],
) -> AckStats {
    let stop = AtomicBool::new(false);
    let query = MatchQuery::default();
    let mut lat = Vec::with_capacity(ACK_TRIALS);
    let mut found = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let index = locked.read();
                std::hint::black_box(index.matches_for(&realistic[i % realistic.len()], &query));
                drop(index);
                i += 1;
            }
        });
        let started = Instant::now();
        for trial in 0..ACK_TRIALS {
            if started.elapsed() > Duration::from_secs(60) {
                break;
            }
            let subject = &realistic[(trial * 7919) % realistic.len()];
            let demand = {
                let index = locked.read();
                with_terms(&index, subject)
            };
            let other = cities.iter().copied().find(|c| *c != subject.city).expect("22 cities");
            let new = Summary {
                key: key(other, u64::MAX / 4 + trial as u64, 2),
                kind: Kind::Achievement,
                terms: demand
                    .terms
                    .iter()
                    .map(|t| WeightedTerm { weight: 1.0, ..t.clone() })
                    .collect(),
                trl: pilot_model::Trl::new(9).ok(),
                ..demand.clone()
            };
            let new_key = new.key.clone();
            let t = Instant::now();
            locked.write().upsert(new);
            let mut ok = false;
            while t.elapsed() < Duration::from_secs(5) {
                let index = locked.read();
                if index.matches_for(subject, &query).iter().any(|m| m.counterpart == new_key) {
                    ok = true;
                    break;
                }
            }
            lat.push(t.elapsed());
            found += usize::from(ok);
            locked.write().remove(&new_key);
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let trials = lat.len();
    let s = Stats::of(&mut lat);
    AckStats { mean: s.mean, p99: s.p99, max: s.max, found, trials }
}

// ----------------------------------------------------------------------------------------------
// tantivy

struct Tantivy {
    supply: Side,
    demand: Side,
    f: Fields,
    build_time: Duration,
    index_time: Duration,
    merge_time: Duration,
}

struct Side {
    searcher: Searcher,
    slots: Vec<Column<u64>>,
}

#[derive(Clone, Copy)]
struct Fields {
    terms: Field,
    field: Field,
    cat: Field,
    city: Field,
    mode: Field,
    ready: Field,
    price: Field,
    slot: Field,
}

/// A summary's terms as pilot-match analyses them: trimmed, lowercased, finite positive
/// weights capped at 1, deduplicated keeping the heaviest, sorted.
fn analysed(s: &Summary) -> Vec<(String, f32)> {
    let mut v: Vec<(String, f32)> = s
        .terms
        .iter()
        .filter(|t| t.weight.is_finite() && t.weight > 0.0)
        .map(|t| (t.term.trim().to_lowercase(), t.weight.min(1.0)))
        .filter(|(k, _)| !k.is_empty())
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    v.dedup_by(|later, first| later.0 == first.0);
    v
}

impl Tantivy {
    fn build(index: &Index, dir: &Path) -> Tantivy {
        let mut b = Schema::builder();
        let terms_opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::WithFreqs)
                .set_fieldnorms(true),
        );
        let f = Fields {
            terms: b.add_text_field("terms", terms_opts),
            field: b.add_text_field("field", STRING),
            cat: b.add_text_field("cat", STRING),
            city: b.add_text_field("city", STRING),
            mode: b.add_text_field("mode", STRING),
            ready: b.add_text_field("ready", STRING),
            price: b.add_text_field("price", STRING),
            slot: b.add_u64_field("slot", FAST),
        };
        let schema = b.build();
        std::fs::remove_dir_all(dir).ok();
        let t = Instant::now();
        let mut indexes = Vec::new();
        let mut writers: Vec<IndexWriter<TantivyDocument>> = Vec::new();
        for side in ["supply", "demand"] {
            let path = dir.join(side);
            std::fs::create_dir_all(&path).expect("creating the tantivy directory");
            let idx = tantivy::Index::create_in_dir(&path, schema.clone()).expect("creating index");
            let w = idx.writer_with_num_threads(1, 400_000_000).expect("index writer");
            w.set_merge_policy(Box::new(NoMergePolicy));
            indexes.push(idx);
            writers.push(w);
        }
        for s in index.iter() {
            let s = &with_terms(index, &s.key);
            let mut doc = TantivyDocument::default();
            let tokens = analysed(s)
                .into_iter()
                .enumerate()
                .map(|(position, (text, _))| Token {
                    offset_from: 0,
                    offset_to: 0,
                    position,
                    text,
                    position_length: 1,
                })
                .collect();
            doc.add_pre_tokenized_text(f.terms, PreTokenizedString { text: String::new(), tokens });
            for fc in &s.fields {
                doc.add_text(f.field, fc.code());
                doc.add_text(f.cat, fc.category());
            }
            doc.add_text(f.city, s.key.city.to_string());
            for m in &s.modes {
                doc.add_text(f.mode, m.code());
            }
            if s.trl.is_some_and(|t| t.get() >= 6) {
                doc.add_text(f.ready, "1");
            }
            if let (Kind::Achievement, Some(b)) = (s.kind, s.budget) {
                doc.add_text(f.price, b.rank().to_string());
            }
            doc.add_u64(f.slot, slot_of(&s.key));
            let w = if s.kind.is_supply() { &writers[0] } else { &writers[1] };
            w.add_document(doc).expect("adding a document");
        }
        for w in &mut writers {
            w.commit().expect("commit");
        }
        let index_time = t.elapsed();
        let t2 = Instant::now();
        for (w, idx) in writers.iter_mut().zip(&indexes) {
            let ids = idx.searchable_segment_ids().expect("segment ids");
            if ids.len() > 1 {
                w.merge(&ids).wait().expect("merge");
            }
        }
        for w in writers {
            w.wait_merging_threads().expect("merging threads");
        }
        let merge_time = t2.elapsed();
        let build_time = t.elapsed();
        let mut sides = indexes.into_iter().map(|idx| {
            let searcher = idx.reader().expect("reader").searcher();
            let slots = searcher
                .segment_readers()
                .iter()
                .map(|r| r.fast_fields().u64("slot").expect("slot fast field"))
                .collect();
            Side { searcher, slots }
        });
        let supply = sides.next().expect("supply side");
        let demand = sides.next().expect("demand side");
        println!(
            "tantivy segments: supply {}, demand {}",
            supply.searcher.segment_readers().len(),
            demand.searcher.segment_readers().len()
        );
        Tantivy { supply, demand, f, build_time, index_time, merge_time }
    }

    /// The side a subject is ranked against.
    fn other(&self, s: &Summary) -> &Side {
        if s.kind.is_supply() { &self.demand } else { &self.supply }
    }

    /// Plain BM25: the union of the subject's terms, boosted by its weights.
    fn bm25_query(&self, s: &Summary) -> BooleanQuery {
        let clauses: Vec<(Occur, Box<dyn Query>)> = analysed(s)
            .into_iter()
            .map(|(t, w)| {
                let q = TermQuery::new(
                    Term::from_field_text(self.f.terms, &t),
                    IndexRecordOption::WithFreqs,
                );
                (Occur::Should, Box::new(BoostQuery::new(Box::new(q), w)) as Box<dyn Query>)
            })
            .collect();
        BooleanQuery::new(clauses)
    }

    /// BM25 plus constant-score clauses for pilot-match's field and fit parts, other cities only,
    /// as `pilot_match::score` computes them: the subject's terms boosted by their damped
    /// weights, and each non-term part a share of the subject's scale (Σ idf × damped weight
    /// over its terms, with the candidates' side's document frequencies).
    fn mirror_query(&self, s: &Summary) -> BooleanQuery {
        // pilot-match's `score::damp` and its shares (FIELD_SHARE 0.25 for an exact field,
        // SAME_CATEGORY 0.4 of that for a category only; MODE_BONUS 0.02, TRL_BONUS 0.01,
        // BUDGET_BONUS 0.01), which are crate-private.
        let damp = |w: f32| w.sqrt().sqrt();
        let (field_share, same_category) = (0.25_f32, 0.4_f32);
        let (mode_bonus, trl_bonus, budget_bonus) = (0.02_f32, 0.01_f32, 0.01_f32);
        let f = self.f;
        let side = self.other(s);
        let docs = side.searcher.num_docs() as f32;
        let analysed = analysed(s);
        let mut scale = 0.0_f32;
        let mut terms: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(analysed.len());
        for (t, w) in analysed {
            let term = Term::from_field_text(f.terms, &t);
            let df = side.searcher.doc_freq(&term).expect("doc freq") as f32;
            scale += (1.0 + (docs - df + 0.5) / (df + 0.5)).ln() * damp(w);
            let q = TermQuery::new(term, IndexRecordOption::WithFreqs);
            terms.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), damp(w)))));
        }
        let term = |field: Field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
        };
        let konst = |q: Box<dyn Query>, share: f32| -> (Occur, Box<dyn Query>) {
            (Occur::Should, Box::new(ConstScoreQuery::new(q, share * scale)))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Should, Box::new(BooleanQuery::new(terms)))];
        // An exact field implies its category: together they make the exact-field share.
        // (The corpus's summaries carry one field each.)
        let mut cats: Vec<&str> = Vec::new();
        for fc in &s.fields {
            clauses.push(konst(term(f.field, fc.code()), field_share * (1.0 - same_category)));
            if !cats.contains(&fc.category()) {
                cats.push(fc.category());
                clauses.push(konst(term(f.cat, fc.category()), field_share * same_category));
            }
        }
        if !s.modes.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> =
                s.modes.iter().map(|m| (Occur::Should, term(f.mode, m.code()))).collect();
            clauses.push(konst(Box::new(BooleanQuery::new(any)), mode_bonus));
        }
        if s.kind == Kind::Demand {
            clauses.push(konst(term(f.ready, "1"), trl_bonus));
            if let Some(b) = s.budget {
                let any: Vec<(Occur, Box<dyn Query>)> = (0..=b.rank())
                    .map(|r| (Occur::Should, term(f.price, &r.to_string())))
                    .collect();
                clauses.push(konst(Box::new(BooleanQuery::new(any)), budget_bonus));
            }
        }
        clauses.push((Occur::MustNot, term(f.city, &s.key.city.to_string())));
        BooleanQuery::new(clauses)
    }

    fn search(&self, s: &Summary, q: &dyn Query, k: usize) -> Top {
        let side = self.other(s);
        let hits: Vec<(f32, DocAddress)> =
            side.searcher.search(q, &TopDocs::with_limit(k)).expect("search");
        hits.into_iter()
            .map(|(score, a)| {
                let slot = side.slots[a.segment_ord as usize]
                    .first(a.doc_id)
                    .expect("every doc has a slot");
                (slot, score)
            })
            .collect()
    }

    fn search_bm25(&self, s: &Summary, k: usize) -> Top {
        self.search(s, &self.bm25_query(s), k)
    }

    /// Runs the BM25 (or mirror, top 20) query of each subject until done or out of `budget`.
    fn run(
        &self,
        subjects: &[&Summary],
        budget: Duration,
        mirror: bool,
    ) -> (Vec<Duration>, Vec<Top>) {
        let (mut lat, mut tops) = (Vec::new(), Vec::new());
        let start = Instant::now();
        for s in subjects {
            let t = Instant::now();
            let top = if mirror {
                self.search(s, &self.mirror_query(s), 20)
            } else {
                self.search_bm25(s, 10)
            };
            lat.push(t.elapsed());
            tops.push(top);
            if start.elapsed() > budget {
                break;
            }
        }
        (lat, tops)
    }
}

/// Mean share of pilot-match's top 10 that tantivy's top 10 holds (ties at tantivy's 10th
/// score count), over queries with at least one pilot-match result.
fn agreement(pilot: &[Top], tantivy: &[Top]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (p, t) in pilot.iter().zip(tantivy) {
        if p.is_empty() {
            continue;
        }
        let tenth = t.get(9).map_or(f32::NEG_INFINITY, |x| x.1);
        let eps = 1e-4 * tenth.abs().max(1.0);
        let hits = p
            .iter()
            .filter(|(slot, _)| {
                t.iter()
                    .enumerate()
                    .any(|(rank, (ts, score))| ts == slot && (rank < 10 || *score >= tenth - eps))
            })
            .count();
        sum += hits as f64 / p.len() as f64;
        n += 1;
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

// ----------------------------------------------------------------------------------------------
// Measurement helpers

#[derive(Clone, Copy, Default)]
struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn of(v: &mut [Duration]) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
        Stats {
            mean: v.iter().sum::<Duration>() / v.len() as u32,
            p50: at(0.5),
            p99: at(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// Current and peak resident set size in bytes (`VmRSS`, `VmHWM`).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}
