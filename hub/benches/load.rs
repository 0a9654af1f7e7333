//! Start-up of the hub's matcher from its store: `Matcher::load`, which reads and decodes the
//! store on one thread while indexing on another, next to `Matcher::load_serially`, which does
//! both on one thread, and to reading the store alone.
//!
//! The store is a real sled store in a temporary directory on a real filesystem (the system
//! temp dir, or `target/bench-load` if that is tmpfs), written through `HubStore::apply`
//! as synced batches would write it: `PILOT_LOAD_N` summaries (default 1,100,000, the issue's
//! 22 cities × 50,000), city `g % 22`. Their text is real: every CSL paper
//! (`shared/data/csl/csl_merged.jsonl`) is anonymized once with `pilot_anon::Anonymizer` as an
//! achievement (every fifth as a demand of the same title and abstract instead); slot `g` takes pool
//! summary `g % pool`, drops its term number `g % len` (so that no two slots of a pool entry
//! are alike) and gets a fresh pseudonym. Each way is timed twice, alternately; the best is
//! reported, with the CPU time (user + system, every thread) it took, from `/proc/self/stat`.
//!
//! Then, on the loaded federation, one city's match subscription (`hub/src/subscription.rs`)
//! as a node opens it (20 matches per record): its first full round (the whole list; before
//! updates, every change cost one of these), then incremental rounds after one change in
//! another city, after 100 such changes, and after the withdrawal of a counterpart that the
//! city's lists name, each with the records its update names and its encoded size; and last
//! the full round that corrects drifted scores once the federation is quiet.
//!
//! Run with `cargo bench -p pilot-hub --bench load`; `PILOT_DATA` overrides the `shared/data`
//! directory.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pilot_anon::{Anonymizer, NodeSecret, Outcome};
use pilot_hub::matcher::Matcher;
use pilot_hub::subscription::{Push, Subscription};
use pilot_model::{
    Achievement, CityCode, Date, Demand, LocalId, PILOT_CITIES, Pseudonym, Record, RecordBody,
    Status, Summary, SummaryKey, Tombstone, UnixMillis,
};
use pilot_store::{Change, Db, HubStore};

// The allocator of the `pilot-hub` binary, so that the bench measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Summaries written per `HubStore::apply`.
const WRITE_BATCH: usize = 2_000;
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

fn data_dir() -> PathBuf {
    std::env::var_os("PILOT_DATA").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
        PathBuf::from,
    )
}

/// Every CSL paper anonymized as an achievement, every fifth as a demand instead.
fn pool() -> Vec<Summary> {
    let path = data_dir().join("csl/csl_merged.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {}: {e}; the bench needs the shared data folder", path.display())
    });
    let city = CityCode::parse("421200").expect("a pilot city");
    let anonymizer = Anonymizer::new(city, NodeSecret::from_bytes([7; 32]));
    let mut out = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let p: Paper = serde_json::from_str(line).expect("every CSL line is a paper");
        let title = p.title.unwrap_or_default();
        let body = if i % 5 == 0 {
            RecordBody::Demand(Demand {
                title: title.clone(),
                description: p.abstract_text.clone(),
                ..Default::default()
            })
        } else {
            RecordBody::Achievement(Achievement {
                title,
                abstract_text: p.abstract_text,
                keywords: p.keywords,
                ..Default::default()
            })
        };
        let record = Record {
            local_id: LocalId::parse(&p.id).expect("CSL ids are valid local ids"),
            external_id: None,
            status: Status::Open,
            created_at: UnixMillis(1_767_225_600_000),
            updated_at: UnixMillis(1_795_219_200_000),
            body,
        };
        if let Outcome::Share(s) = anonymizer.anonymize(&record, TODAY) {
            out.push(s.get().clone());
        }
    }
    out
}

/// Slot `g`: a pool summary, one term fewer, in city `g % 22` under a fresh pseudonym.
fn slot(pool: &[Summary], cities: &[CityCode], g: usize) -> Summary {
    let mut s = pool[g % pool.len()].clone();
    if s.terms.len() > 1 {
        s.terms.remove(g % s.terms.len());
    }
    s.key = SummaryKey {
        city: cities[g % cities.len()],
        pseudonym: Pseudonym::parse(&format!(
            "{:016x}{g:016x}",
            (g as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ))
        .expect("32 hex digits"),
    };
    s
}

/// CPU time (user + system) of this process so far.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name may hold spaces; the fields after it do not.
    let after = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; in ticks of
    // 1/100 s on Linux.
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    let ticks = ticks(11) + ticks(12);
    Duration::from_millis(ticks * 10)
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (c, t) = (cpu(), Instant::now());
    let out = f();
    (out, t.elapsed(), cpu().saturating_sub(c))
}

fn main() {
    let n: usize =
        std::env::var("PILOT_LOAD_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_100_000);
    let t = Instant::now();
    let pool = pool();
    println!("pool: {} CSL summaries anonymized in {:.1} s", pool.len(), t.elapsed().as_secs_f64());
    let cities: Vec<CityCode> = PILOT_CITIES.iter().map(|c| c.city_code()).collect();

    // A real filesystem, not tmpfs (see `bench_store_root`).
    let (root, where_note) = pilot_testkit::bench_store_root(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/bench-load"
    )));
    println!("{where_note}");
    let dir = tempfile::tempdir_in(&root).expect("a temporary directory");
    let db = Db::open(dir.path()).expect("a sled store");
    let store = HubStore::open(&db).expect("the hub's trees");
    let t = Instant::now();
    let mut seq = vec![0u64; cities.len()];
    for (c, city) in cities.iter().enumerate() {
        let mine: Vec<usize> = (c..n).step_by(cities.len()).collect();
        for chunk in mine.chunks(WRITE_BATCH) {
            let after = seq[c];
            let entries: Vec<(u64, Change)> = chunk
                .iter()
                .map(|&g| {
                    seq[c] += 1;
                    (seq[c], Change::Upsert(slot(&pool, &cities, g)))
                })
                .collect();
            store.apply(*city, &entries, after, seq[c], seq[c], 0).expect("a batch applies");
        }
    }
    db.flush().expect("a flush");
    println!("store: {n} summaries written in {:.1} s", t.elapsed().as_secs_f64());

    let (read, read_wall, read_cpu) = timed(|| {
        let mut read = 0;
        for s in store.each_live_summary() {
            std::hint::black_box(s.expect("a summary"));
            read += 1;
        }
        read
    });
    assert_eq!(read, n, "every summary is read back");
    let mut serial = (Duration::MAX, Duration::ZERO);
    let mut piped = (Duration::MAX, Duration::ZERO);
    let mut loaded = None;
    for _ in 0..2 {
        let (m, wall, cpu) = timed(|| Matcher::load_serially(&store).expect("the store loads"));
        assert_eq!(m.with_index(|i| i.len()), n);
        drop(m);
        if wall < serial.0 {
            serial = (wall, cpu);
        }
        drop(loaded.take());
        let (m, wall, cpu) = timed(|| Matcher::load(&store).expect("the store loads"));
        assert_eq!(m.with_index(|i| i.len()), n);
        loaded = Some(m);
        if wall < piped.0 {
            piped = (wall, cpu);
        }
    }
    let matcher = loaded.expect("loaded twice");

    println!();
    println!("start-up of the hub's matcher from a store of {n} summaries (best of 2)");
    println!("{:<44} {:>9} {:>9}", "", "wall", "CPU");
    let row = |what: &str, (wall, cpu): (Duration, Duration)| {
        println!("{what:<44} {:>7.2} s {:>7.2} s", wall.as_secs_f64(), cpu.as_secs_f64());
    };
    row("read and decode the store alone", (read_wall, read_cpu));
    row("Matcher::load_serially (one thread)", serial);
    row("Matcher::load (reader thread + indexer)", piped);
    println!(
        "load / load_serially: {:.2}x the wall time",
        piped.0.as_secs_f64() / serial.0.as_secs_f64()
    );

    subscription_rounds(&matcher, &pool, &cities, n);
}

/// One city's subscription on the loaded federation: see the module documentation.
fn subscription_rounds(matcher: &Matcher, pool: &[Summary], cities: &[CityCode], n: usize) {
    let city = cities[0];
    let mut sub = Subscription::new(city, 20, false);
    let bytes = |push: &Option<Push>| -> usize {
        use prost::Message as _;
        push.clone().map_or(0, |p| p.into_messages().iter().map(|m| m.encoded_len()).sum())
    };
    let named = |push: &Option<Push>| push.as_ref().map_or(0, Push::records);
    let mut rows: Vec<(String, usize, usize, Duration, Duration)> = Vec::new();
    let (push, wall, cpu) = timed(|| sub.full_round(matcher));
    rows.push(("first full round (the whole list)".into(), named(&push), bytes(&push), wall, cpu));
    let whole = push;
    // Fresh summaries of other cities (slot numbers past the store's; none in `city`).
    let mut fresh = (n..).filter(|g| g % cities.len() != 0).map(|g| slot(pool, cities, g));
    for changes in [1, 100] {
        let batch: Vec<Change> = fresh.by_ref().take(changes).map(Change::Upsert).collect();
        matcher.apply(batch);
        let (push, wall, cpu) = timed(|| sub.incremental_round(matcher));
        let what = format!("incremental round after {changes} new summaries");
        rows.push((what, named(&push), bytes(&push), wall, cpu));
    }
    // The counterpart the city's lists name most often leaves.
    let mut listed: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    if let Some(Push::Whole(list)) = &whole {
        for m in list {
            let c = m.counterpart.as_ref().expect("a counterpart");
            *listed.entry(format!("{}:{}", c.city, c.pseudonym)).or_default() += 1;
        }
    }
    let (top, times) = listed.into_iter().max_by_key(|(k, v)| (*v, k.clone())).unwrap_or_default();
    if let Some((c, p)) = top.split_once(':') {
        let key = SummaryKey {
            city: CityCode::parse(c).expect("a city"),
            pseudonym: Pseudonym::parse(p).expect("a pseudonym"),
        };
        let kind = matcher.with_index(|i| i.get(&key).map(|s| s.kind)).expect("listed, so stored");
        matcher.apply(vec![Change::Tombstone(Tombstone { key, kind })]);
        let (push, wall, cpu) = timed(|| sub.incremental_round(matcher));
        let what = format!("incremental round after a withdrawal ({times} lists)");
        rows.push((what, named(&push), bytes(&push), wall, cpu));
    }
    let (push, wall, cpu) = timed(|| sub.full_round(matcher));
    rows.push(("full round correcting drift".into(), named(&push), bytes(&push), wall, cpu));

    println!();
    println!(
        "one city's match subscription ({} records with matches, 20 per record) on {n} summaries",
        sub.records()
    );
    println!("{:<48} {:>9} {:>11} {:>10} {:>10}", "", "records", "bytes", "wall", "CPU");
    for (what, records, bytes, wall, cpu) in rows {
        println!(
            "{what:<48} {records:>9} {bytes:>11} {:>8.3} s {:>8.3} s",
            wall.as_secs_f64(),
            cpu.as_secs_f64()
        );
    }
}
