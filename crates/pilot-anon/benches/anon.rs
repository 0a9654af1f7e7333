//! Throughput of the anonymizer on real text, next to its floor: jieba segmentation alone.
//!
//! Every CSL paper (`shared/data/csl/csl_merged.jsonl`) becomes an achievement record (title,
//! abstract, keywords). One run prints records/s of `Anonymizer::anonymize` and of
//! `Jieba::cut(text, true)` over the same title and abstract strings, their ratio (target: the
//! anonymizer within 2× of jieba alone), the time `Anonymizer::new` takes, and a digest of all
//! outcomes so that optimisations can prove they change no output byte. A second floor line
//! cuts the keywords too (one per line), which the anonymizer also segments, and the ratio to
//! it is printed as well; the target is judged against the stricter floor (title and abstract).
//!
//! The four runs take turns over the whole corpus, pass after pass; the ratio is the median of
//! the ratios within a pass, which a drift of the machine's speed (a tenth and more within a
//! minute on a shared machine) moves far less than it moves any one rate.
//!
//! Run with `cargo bench -p pilot-anon --bench anon` (the bench profile is optimised).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use jieba_rs::Jieba;
use sha2::{Digest, Sha256};

use pilot_anon::{Anonymizer, NodeSecret, Outcome};
use pilot_model::{Achievement, CityCode, Date, LocalId, Record, RecordBody, Status, UnixMillis};

// The same allocator as the `pilot-node` binary, which runs the anonymizer, so that the bench
// measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The CSL corpus, relative to this crate.
const CSL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/csl/csl_merged.jsonl");

/// Timed passes over the whole corpus.
const PASSES: usize = 9;
/// A fixed day, so that the figures do not depend on the calendar.
const TODAY: Date = Date { year: 2026, month: 11, day: 21 };

#[derive(serde::Deserialize)]
struct Paper {
    id: String,
    title: Option<String>,
    #[serde(rename = "abstract")]
    abstract_text: String,
    #[serde(default)]
    keywords: Vec<String>,
}

fn records() -> Vec<Record> {
    let text = std::fs::read_to_string(CSL).unwrap_or_else(|e| {
        panic!("cannot read the CSL corpus at {CSL}: {e}; the bench needs the shared data folder")
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let p: Paper = serde_json::from_str(l).expect("every CSL line is a paper");
            Record {
                local_id: LocalId::parse(&p.id).expect("CSL ids are valid local ids"),
                external_id: None,
                status: Status::Open,
                created_at: UnixMillis(1_767_225_600_000),
                updated_at: UnixMillis(1_795_219_200_000),
                body: RecordBody::Achievement(Achievement {
                    title: p.title.unwrap_or_default(),
                    abstract_text: p.abstract_text,
                    keywords: p.keywords,
                    ..Default::default()
                }),
            }
        })
        .collect()
}

/// A timed run over a chunk of records and their keyword lines.
type Run<'a> = &'a dyn Fn(&[Record], &[String]) -> usize;

/// The title and abstract of an achievement record.
fn texts(r: &Record) -> (&str, &str) {
    match &r.body {
        RecordBody::Achievement(a) => (&a.title, &a.abstract_text),
        _ => unreachable!("the bench builds achievements only"),
    }
}

/// The keywords of an achievement record.
fn keywords(r: &Record) -> &[String] {
    match &r.body {
        RecordBody::Achievement(a) => &a.keywords,
        _ => unreachable!("the bench builds achievements only"),
    }
}

fn main() {
    let records = records();
    let n = records.len();
    let bytes: usize = records.iter().map(|r| texts(r).0.len() + texts(r).1.len()).sum();

    let t = Instant::now();
    let city = CityCode::parse("421200").expect("a pilot city");
    let anonymizer = Anonymizer::new(city, NodeSecret::from_bytes([7; 32]));
    let new_time = t.elapsed();
    let t = Instant::now();
    let jieba = Jieba::new();
    let jieba_new = t.elapsed();

    // Everything the anonymizer segments: its keywords too, one per line (as it cuts them).
    let keyword_lines: Vec<String> = records.iter().map(|r| keywords(r).join("\n")).collect();
    let cut = |rs: &[Record], _: &[String]| -> usize {
        rs.iter()
            .map(|r| {
                let (title, abs) = texts(r);
                jieba.cut(title, true).len() + jieba.cut(abs, true).len()
            })
            .sum()
    };
    let cut_all = |rs: &[Record], kws: &[String]| -> usize {
        rs.iter()
            .zip(kws)
            .map(|(r, kw)| {
                let (title, abs) = texts(r);
                jieba.cut(title, true).len()
                    + jieba.cut(abs, true).len()
                    + jieba.cut(kw, true).len()
            })
            .sum()
    };
    let tag = |rs: &[Record], _: &[String]| -> usize {
        rs.iter()
            .map(|r| {
                let (title, abs) = texts(r);
                jieba.tag(title, true).len() + jieba.tag(abs, true).len()
            })
            .sum()
    };
    let anonymize = |rs: &[Record], _: &[String]| -> usize {
        rs.iter().filter(|r| matches!(anonymizer.anonymize(r, TODAY), Outcome::Share(_))).count()
    };
    // NB: the four take turns, pass after pass over the whole corpus, so that each runs in its
    // own steady state (the caches full of its own work, as when it runs alone) and the slow
    // and fast spells of a shared machine (its speed drifts by a tenth and more within a
    // minute) weigh on all four alike. Rates are each run's best pass; the ratio is the median
    // of the ratios within a pass.
    let runs: [Run<'_>; 4] = [&cut, &cut_all, &tag, &anonymize];
    let mut passes = Vec::with_capacity(PASSES);
    let mut sinks = [0; 4];
    for _ in 0..PASSES {
        let mut times = [Duration::ZERO; 4];
        for (i, run) in runs.iter().enumerate() {
            let t = Instant::now();
            sinks[i] = std::hint::black_box(run(&records, &keyword_lines));
            times[i] = t.elapsed();
        }
        passes.push(times);
    }
    let best = |i: usize| passes.iter().map(|p| p[i]).min().unwrap_or_default();
    let (jieba_time, jieba_all_time, tag_time, anon_time) = (best(0), best(1), best(2), best(3));
    // NB: the first pass fills the anonymizer's cache, so it is left out of the ratio.
    let ratios_to = |floor: usize| {
        let mut ratios: Vec<f64> =
            passes.iter().skip(1).map(|p| p[3].as_secs_f64() / p[floor].as_secs_f64()).collect();
        ratios.sort_by(f64::total_cmp);
        ratios
    };
    let ratios = ratios_to(0);
    // The same against everything the anonymizer segments (its keywords too): shown, but the
    // target is judged against the stricter floor above.
    let ratios_all = ratios_to(1);
    let (tokens, shared) = (sinks[0], sinks[3]);

    // Not timed: a digest of every outcome, to show an optimisation changed nothing.
    let mut digest = Sha256::new();
    for r in &records {
        match anonymizer.anonymize(r, TODAY) {
            Outcome::Share(s) => {
                digest.update(serde_json::to_vec(s.get()).expect("summaries serialise"))
            }
            Outcome::Withhold { reason, .. } => digest.update(reason.to_string()),
        }
        digest.update(b"\n");
    }
    let digest = hex::encode(digest.finalize());

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    println!(
        "corpus: {n} CSL papers as achievement records, {:.1} MB of title+abstract",
        bytes as f64 / 1e6
    );
    println!("{:<34} {:>10} {:>12} {:>8}", "", "records/s", "MB/s", "best of");
    println!(
        "{:<34} {:>10.0} {:>12.2} {:>8}",
        "jieba cut(text, true) alone",
        rate(jieba_time),
        mbps(jieba_time),
        PASSES
    );
    println!(
        "{:<34} {:>10.0} {:>12.2} {:>8}",
        "jieba cut, with keywords",
        rate(jieba_all_time),
        mbps(jieba_all_time),
        PASSES
    );
    println!(
        "{:<34} {:>10.0} {:>12.2} {:>8}",
        "jieba tag(text, true) alone",
        rate(tag_time),
        mbps(tag_time),
        PASSES
    );
    println!(
        "{:<34} {:>10.0} {:>12.2} {:>8}",
        "Anonymizer::anonymize",
        rate(anon_time),
        mbps(anon_time),
        PASSES
    );
    let (median, low, high) = (ratios[ratios.len() / 2], ratios[0], ratios[ratios.len() - 1]);
    println!(
        "ratio anonymize / jieba: {median:.2}x, median of {} passes (range {low:.2}-{high:.2}; \
         target <= 2x)",
        ratios.len()
    );
    println!(
        "ratio anonymize / jieba with keywords: {:.2}x, median of {} passes (range {:.2}-{:.2})",
        ratios_all[ratios_all.len() / 2],
        ratios_all.len(),
        ratios_all[0],
        ratios_all[ratios_all.len() - 1]
    );
    println!("Anonymizer::new: {:.0} ms (Jieba::new alone: {:.0} ms)", ms(new_time), ms(jieba_new));
    println!("shared {shared} of {n}; {tokens} jieba tokens; outcome digest {digest}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
