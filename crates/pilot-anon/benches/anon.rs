//! Throughput of the anonymizer on real text, next to its floor: jieba segmentation alone.
//!
//! Every CSL paper (`shared/data/csl/csl_merged.jsonl`) becomes an achievement record (title,
//! abstract, keywords). One run prints records/s of `Anonymizer::anonymize` and of
//! `Jieba::cut(text, true)` over the same title and abstract strings, their ratio (target: the
//! anonymizer within 2× of jieba alone), the time `Anonymizer::new` takes, and a digest of all
//! outcomes so that optimisations can prove they change no output byte. A second floor line
//! cuts the keywords too (one per line), which the anonymizer also segments.
//!
//! The corpus is timed in chunks of [`CHUNK`] records, the four runs taking turns on each chunk,
//! and each run's time is the sum over chunks of its best of [`PASSES`] passes: the machines
//! this runs on drift in speed by a tenth and more within a minute, and this way a drift weighs
//! on the anonymizer and its floor alike.
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

/// Timed passes over the whole corpus; each chunk's best counts.
const PASSES: usize = 5;
/// Records a chunk of the corpus holds.
const CHUNK: usize = 250;
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
    // NB: the four take turns chunk by chunk, and each chunk's best pass counts, so that the
    // slow and fast spells of a shared machine (its speed drifts by a tenth and more within a
    // minute) weigh on all four alike rather than on whichever ran then.
    let runs: [Run<'_>; 4] = [&cut, &cut_all, &tag, &anonymize];
    let chunks = n.div_ceil(CHUNK);
    let mut best = vec![[Duration::MAX; 4]; chunks];
    let mut sinks = vec![[0; 4]; chunks];
    for _ in 0..PASSES {
        for (c, (best, sinks)) in best.iter_mut().zip(&mut sinks).enumerate() {
            let range = c * CHUNK..((c + 1) * CHUNK).min(n);
            for (i, run) in runs.iter().enumerate() {
                let t = Instant::now();
                sinks[i] = std::hint::black_box(run(
                    &records[range.clone()],
                    &keyword_lines[range.clone()],
                ));
                best[i] = best[i].min(t.elapsed());
            }
        }
    }
    let total = |i: usize| best.iter().map(|b| b[i]).sum::<Duration>();
    let (jieba_time, jieba_all_time, tag_time, anon_time) =
        (total(0), total(1), total(2), total(3));
    let tokens: usize = sinks.iter().map(|s| s[0]).sum();
    let shared: usize = sinks.iter().map(|s| s[3]).sum();

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
    println!(
        "ratio anonymize / jieba: {:.2}x (target <= 2x)",
        anon_time.as_secs_f64() / jieba_time.as_secs_f64()
    );
    println!("Anonymizer::new: {:.0} ms (Jieba::new alone: {:.0} ms)", ms(new_time), ms(jieba_new));
    println!("shared {shared} of {n}; {tokens} jieba tokens; outcome digest {digest}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
