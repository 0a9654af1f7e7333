//! Deterministic simulation of node → hub sync over the real sync code.
//!
//! Each seed drives three city nodes (real `Intake`, `NodeStore`, `SharedIndex`, the real
//! `build_batch`, watermark and anti-entropy functions of `pilot_node::sync`) and one hub (the
//! real `Ingest` over a real `HubStore` and `Matcher`) through a random schedule of local
//! changes, anonymizing ahead of sending (`pilot_node::prepare`, sometimes as of the day
//! before, whose outcomes must not be sent today), sends, deliveries, duplicates, reorders, holds, partitions, node and hub crashes and
//! a hub that loses its data. Only the network is simulated: a per-node queue of batches that the
//! schedule delivers, drops, duplicates or reorders. After the schedule the network heals and
//! the nodes run until quiet; then the hub must equal the fold of every node's records: exactly
//! the summaries the anonymizer shares today, nothing else, with equal digests, and an index
//! that holds exactly the live summaries.
//!
//! `PILOT_SIM_SEEDS=N` runs N seeds (default 500); `PILOT_SIM_SEED=S` replays one seed exactly.

#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "test code: a panic is a failure")]

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use pilot_anon::{Anonymizer, NodeSecret, Outcome};
use pilot_hub::config::Limits;
use pilot_hub::ingest::Ingest;
use pilot_hub::matcher::{KindCounts, Matcher};
use pilot_model::{CityCode, Date, Kind, Seq, Summary};
use pilot_node::intake::Intake;
use pilot_node::prepare::{self, Prepared};
use pilot_node::sync;
use pilot_proto::pb;
use pilot_store::{Db, HubStore, NodeStore, SharedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CITIES: [&str; 3] = ["421200", "350500", "320500"];
const TODAY: Date = Date { year: 2026, month: 11, day: 21 };
const YESTERDAY: Date = Date { year: 2026, month: 11, day: 20 };
/// Outcomes a node holds ahead of sending: small, so that the set is often full.
const PREPARE_AHEAD: usize = 6;
const STEPS: usize = 120;
const BATCH: usize = 4;

/// One anonymizer per city, built once for all seeds (they are deterministic and read-only).
fn anonymizers() -> &'static Vec<Arc<Anonymizer>> {
    static A: OnceLock<Vec<Arc<Anonymizer>>> = OnceLock::new();
    A.get_or_init(|| {
        CITIES
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let secret = NodeSecret::from_bytes([i as u8 + 1; 32]);
                Arc::new(Anonymizer::new(CityCode::parse(c).unwrap(), secret))
            })
            .collect()
    })
}

/// Technical texts from the shared CSL data.
fn texts() -> &'static Vec<(String, String, String)> {
    static T: OnceLock<Vec<(String, String, String)>> = OnceLock::new();
    T.get_or_init(|| {
        pilot_e2e::csl_complete_papers(40)
            .into_iter()
            .map(|p| {
                let kw: Vec<String> = p["keywords"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect();
                (
                    p["title"].as_str().unwrap().to_owned(),
                    p["abstract"].as_str().unwrap_or_default().to_owned(),
                    kw.join("；"),
                )
            })
            .collect()
    })
}

/// A node: its real bank and sync state, and its session (what a live connection would hold).
struct Node {
    city: CityCode,
    intake: Intake,
    shared: SharedIndex,
    anon: Arc<Anonymizer>,
    /// The open session, if any.
    session: Option<Session>,
    /// Sessions opened so far; batches and acknowledgements carry theirs.
    generation: u64,
    /// Batches on the wire to the hub, with their session (the network may reorder, duplicate or
    /// drop them, and deliver them after their session died).
    up: VecDeque<(u64, pb::PushBatch)>,
    /// Acknowledgements on the wire back to the node, with their session.
    down: VecDeque<(u64, u64)>,
    /// Whether the link is partitioned (nothing is delivered either way).
    partitioned: bool,
    /// Outcomes anonymized ahead of sending (memory: a crash loses them).
    prepared: Prepared,
}

/// What a live push stream holds, as in `SyncTask::session`.
#[derive(Debug, Clone, Copy)]
struct Session {
    generation: u64,
    /// The highest sequence put on the wire.
    sent: Seq,
    /// Batches not yet acknowledged.
    in_flight: usize,
}

struct Hub {
    dir: std::path::PathBuf,
    store: HubStore,
    matcher: Arc<Matcher>,
    ingest: Ingest,
}

impl Hub {
    fn open(dir: &Path) -> Hub {
        // (Db::open waits out the lock the previous instance's flusher may still hold.)
        let db = Db::open(dir).unwrap();
        let store = HubStore::open(&db).unwrap();
        store.recompute_digests().unwrap();
        let matcher = Arc::new(Matcher::load(&store).unwrap());
        let ingest =
            Ingest::new(store.clone(), matcher.clone(), Limits::default(), Default::default());
        Hub { dir: dir.to_owned(), store, matcher, ingest }
    }

    /// A crash and restart: the process's memory (the index) is rebuilt from the store.
    fn restart(self) -> Hub {
        let dir = self.dir.clone();
        drop(self);
        Hub::open(&dir)
    }
}

fn record(rng: &mut StdRng, slot: usize) -> pb::RecordInput {
    let (title, text, keywords) = &texts()[rng.random_range(0..texts().len())];
    let status = match rng.random_range(0..10) {
        0 => pb::Status::Draft,
        1 => pb::Status::Withdrawn,
        2 => pb::Status::Closed,
        3 => pb::Status::Matched,
        _ => pb::Status::Open,
    };
    // Too little text to share: the privacy gate holds it back.
    let thin = rng.random_ratio(1, 12);
    let body = if slot.is_multiple_of(2) {
        let deadline = match rng.random_range(0..7) {
            0 => "2026-01-31".to_owned(), // lapsed: expired
            1 => "2027-06-30".to_owned(),
            2 => "2026-11-20".to_owned(), // lapsed today: shared as of yesterday
            _ => String::new(),
        };
        pb::record_input::Body::Demand(pb::Demand {
            title: if thin { "需求".into() } else { title.clone() },
            description: if thin { "无".into() } else { format!("{text} {keywords}") },
            deadline,
            ..Default::default()
        })
    } else {
        pb::record_input::Body::Achievement(pb::Achievement {
            title: if thin { "成果".into() } else { title.clone() },
            r#abstract: if thin { "无".into() } else { text.clone() },
            keywords: if thin { vec![] } else { vec![keywords.clone()] },
            trl: rng.random_range(1..=9),
            ..Default::default()
        })
    };
    pb::RecordInput {
        external_id: format!("x-{slot}"),
        status: status as i32,
        body: Some(body),
        ..Default::default()
    }
}

/// What a node shares today, by the anonymizer: the hub must hold exactly this.
fn expected(node: &Node) -> BTreeMap<String, Summary> {
    let mut out = BTreeMap::new();
    node.intake
        .store()
        .scan(None, |s| {
            if let Outcome::Share(summary) = node.anon.anonymize(&s.record, TODAY) {
                out.insert(summary.get().key.pseudonym.as_str().to_owned(), summary.into_inner());
            }
            true
        })
        .unwrap();
    out
}

struct World {
    rng: StdRng,
    nodes: Vec<Node>,
    hub: Option<Hub>,
    hub_dirs: Vec<tempfile::TempDir>,
    _node_dirs: Vec<tempfile::TempDir>,
    log: Vec<String>,
}

fn fast_tempdir() -> tempfile::TempDir {
    // fdatasync is the cost of every durable step; tmpfs makes it free where it exists.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() }
}

impl World {
    fn new(seed: u64) -> World {
        let mut nodes = Vec::new();
        let mut node_dirs = Vec::new();
        for (i, c) in CITIES.iter().enumerate() {
            let dir = fast_tempdir();
            let db = Db::open(dir.path()).unwrap();
            let store = NodeStore::open(&db).unwrap();
            let anon = anonymizers()[i].clone();
            nodes.push(Node {
                city: CityCode::parse(c).unwrap(),
                shared: SharedIndex::open(&db).unwrap(),
                intake: Intake::new(store, anon.clone(), Arc::new(tokio::sync::Notify::new())),
                anon,
                session: None,
                generation: 0,
                up: VecDeque::new(),
                down: VecDeque::new(),
                partitioned: false,
                prepared: Prepared::new(PREPARE_AHEAD),
            });
            node_dirs.push(dir);
        }
        let hub_dir = fast_tempdir();
        let hub = Hub::open(hub_dir.path());
        World {
            rng: StdRng::seed_from_u64(seed),
            nodes,
            hub: Some(hub),
            hub_dirs: vec![hub_dir],
            _node_dirs: node_dirs,
            log: Vec::new(),
        }
    }

    fn hub(&self) -> &Hub {
        self.hub.as_ref().expect("hub is up")
    }

    /// Opens a session: Resume, then align the watermark (the real `reconcile_watermark`).
    fn connect(&mut self, n: usize) {
        let node = &self.nodes[n];
        let last = node.intake.store().last_seq().unwrap();
        let hub_acked = Seq(self.hub().ingest.resume(node.city, last.0).unwrap());
        let acked = sync::reconcile_watermark(node.intake.store(), hub_acked).unwrap();
        let node = &mut self.nodes[n];
        node.generation += 1;
        node.session = Some(Session { generation: node.generation, sent: acked, in_flight: 0 });
    }

    /// Builds and puts the next batch on the wire.
    fn send(&mut self, n: usize) {
        let Some(session) = self.nodes[n].session else { return };
        let node = &mut self.nodes[n];
        if session.in_flight >= 4 {
            return; // max_in_flight: wait for an acknowledgement
        }
        if let Some(batch) = sync::build_batch(
            node.intake.store(),
            &node.shared,
            &node.anon,
            Some(&node.prepared),
            session.sent,
            BATCH,
            TODAY,
        )
        .unwrap()
        {
            node.session = Some(Session {
                sent: Seq(batch.through_seq),
                in_flight: session.in_flight + 1,
                ..session
            });
            node.up.push_back((session.generation, batch));
        }
    }

    /// The network delivers one batch to the hub (possibly out of order, possibly a copy).
    fn deliver_up(&mut self, n: usize, reorder: bool, duplicate: bool) {
        if self.nodes[n].partitioned || self.nodes[n].up.is_empty() {
            return;
        }
        let i = if reorder { self.rng.random_range(0..self.nodes[n].up.len()) } else { 0 };
        let (generation, batch) = if duplicate {
            self.nodes[n].up[i].clone()
        } else {
            self.nodes[n].up.remove(i).unwrap()
        };
        let city = self.nodes[n].city;
        match self.hub().ingest.apply(city, batch) {
            Ok(ack) => self.nodes[n].down.push_back((generation, ack.acked_seq)),
            // A refused batch (a gap after a reorder) ends its stream.
            Err(e) => {
                self.log.push(format!("node {n}: batch refused: {e}"));
                if self.nodes[n].session.is_some_and(|s| s.generation == generation) {
                    self.drop_session(n);
                }
            }
        }
    }

    /// The node reads one acknowledgement.
    fn deliver_down(&mut self, n: usize) {
        if self.nodes[n].partitioned {
            return;
        }
        let Some((generation, acked)) = self.nodes[n].down.pop_front() else { return };
        let node = &mut self.nodes[n];
        let Some(session) = node.session.filter(|s| s.generation == generation) else {
            return; // the stream it belonged to is gone
        };
        node.session = Some(Session { in_flight: session.in_flight.saturating_sub(1), ..session });
        let store = node.intake.store();
        if Seq(acked) > store.acked_seq().unwrap() {
            store.set_acked(Seq(acked)).unwrap();
        }
    }

    /// The session ends (crash, partition timeout): in-flight batches may still arrive later,
    /// acknowledgements of the old stream are lost.
    fn drop_session(&mut self, n: usize) {
        self.nodes[n].session = None;
        self.nodes[n].down.clear();
    }

    /// One anti-entropy round, only when everything is acknowledged (as the real task does).
    fn anti_entropy(&mut self, n: usize) -> bool {
        let node = &self.nodes[n];
        let Some(session) = node.session else { return false };
        let store = node.intake.store();
        let acked = store.acked_seq().unwrap();
        // As in the real task: only with nothing in flight and nothing left to send.
        if session.in_flight > 0 || !store.outbox_after(session.sent, 1).unwrap().is_empty() {
            return false;
        }
        let (req, mine) = sync::digest_request(store, &node.shared, &node.anon, acked).unwrap();
        let hub = self.hub();
        let reply = hub.ingest.digest(node.city, &req).unwrap();
        if reply.equal {
            return true;
        }
        if reply.buckets.is_empty() {
            if std::env::var("PILOT_SIM_TRACE").is_ok() {
                eprintln!(
                    "node {n}: not comparable: node acked {acked:?}, hub {}",
                    reply.acked_seq
                );
            }
            return false;
        }
        let requests = sync::listings(&node.shared, &node.anon, &mine, &reply.buckets, 64).unwrap();
        let mut resend = Vec::new();
        for r in requests {
            resend.extend(hub.ingest.reconcile(node.city, r).unwrap().resend);
        }
        if std::env::var("PILOT_SIM_TRACE").is_ok() {
            for p in &resend {
                let ps = pilot_model::Pseudonym::parse(p).unwrap();
                let mine = node.shared.get(&ps).unwrap().map(|e| e.version);
                let theirs = hub
                    .store
                    .get(&pilot_model::SummaryKey { city: node.city, pseudonym: ps })
                    .unwrap()
                    .map(|s| (s.version, s.summary.is_some()));
                eprintln!(
                    "node {n}: resend {p}: node {mine:?} hub {theirs:?}; node last {:?} acked {acked:?}, hub acked {}",
                    store.last_seq().unwrap(),
                    hub.store.city_state(node.city).unwrap().acked_seq
                );
            }
        }
        sync::requeue_pseudonyms(store, &node.shared, &resend).unwrap();
        false
    }

    /// The node anonymizes part of its outbox ahead of sending (the real `prepare_ahead`),
    /// sometimes as of the day before, whose outcomes must then not be sent.
    fn prepare(&mut self, n: usize) {
        let day = if self.rng.random_range(0..4) == 0 { YESTERDAY } else { TODAY };
        let limit = self.rng.random_range(1..=2 * BATCH);
        // While connected, the real task leaves the batches in flight to the sync task.
        let lead = if self.nodes[n].session.is_some() { self.rng.random_range(0..8) } else { 0 };
        let node = &self.nodes[n];
        let store = node.intake.store();
        prepare::prepare_ahead(store, &node.anon, &node.prepared, day, limit, lead).unwrap();
    }

    fn local_change(&mut self, n: usize) {
        let slot = self.rng.random_range(0..10);
        let node = &self.nodes[n];
        match self.rng.random_range(0..10) {
            0 => {
                let req = pb::GetRequest { external_id: format!("x-{slot}"), ..Default::default() };
                let _ = node.intake.delete(&req);
            }
            1 => {
                let req = pb::GetRequest { external_id: format!("x-{slot}"), ..Default::default() };
                let _ = node.intake.withdraw(&req);
            }
            _ => {
                let rows = vec![record(&mut self.rng, slot)];
                node.intake.upsert(rows, 1, &[]).unwrap();
            }
        }
    }

    fn step(&mut self) {
        let n = self.rng.random_range(0..self.nodes.len());
        let roll = self.rng.random_range(0..100);
        match roll {
            0..25 => self.local_change(n),
            25..36 => {
                if self.nodes[n].session.is_none() && !self.nodes[n].partitioned {
                    self.connect(n);
                }
                self.send(n);
            }
            36..40 => self.prepare(n),
            40..60 => self.deliver_up(n, false, false),
            60..64 => self.deliver_up(n, true, false),
            64..67 => self.deliver_up(n, false, true),
            67..80 => self.deliver_down(n),
            80..84 => {
                self.anti_entropy(n);
            }
            84..87 => {
                self.log.push(format!("node {n} crashes"));
                self.drop_session(n);
                self.nodes[n].prepared = Prepared::new(PREPARE_AHEAD);
            }
            87..90 => {
                // The network loses what is on the wire.
                self.nodes[n].up.clear();
                self.drop_session(n);
            }
            90..94 => {
                let p = !self.nodes[n].partitioned;
                self.nodes[n].partitioned = p;
                if p {
                    self.drop_session(n);
                }
            }
            94..98 => {
                self.log.push("hub crashes".into());
                for i in 0..self.nodes.len() {
                    self.drop_session(i);
                }
                let hub = self.hub.take().unwrap();
                self.hub = Some(hub.restart());
            }
            98..99 => {
                self.log.push("hub loses its data directory".into());
                for i in 0..self.nodes.len() {
                    self.drop_session(i);
                }
                drop(self.hub.take());
                let dir = fast_tempdir();
                self.hub = Some(Hub::open(dir.path()));
                self.hub_dirs.push(dir);
            }
            _ => self.send(n),
        }
    }

    /// Heals the network and lets every node run until it is quiet and its digest equals the
    /// hub's.
    fn settle(&mut self) {
        for n in 0..self.nodes.len() {
            self.nodes[n].partitioned = false;
        }
        for round in 0..400 {
            let mut quiet = true;
            for n in 0..self.nodes.len() {
                if self.nodes[n].session.is_none() {
                    self.connect(n);
                }
                self.send(n);
                while !self.nodes[n].up.is_empty() {
                    self.deliver_up(n, false, false);
                    quiet = false;
                }
                while !self.nodes[n].down.is_empty() {
                    self.deliver_down(n);
                }
                if self.nodes[n].session.is_some() && !self.anti_entropy(n) {
                    quiet = false;
                }
            }
            if quiet {
                return;
            }
            assert!(round < 399, "no convergence after 400 rounds");
        }
    }

    fn check(&self) {
        let hub = self.hub();
        let live = hub.store.live_summaries().unwrap();
        let keys = hub.matcher.live_keys();
        assert_eq!(keys.len(), live.len(), "the index holds exactly the live summaries");
        // The per-city counts the status screen shows are kept in step with the index.
        let mut counts: BTreeMap<CityCode, KindCounts> = BTreeMap::new();
        for s in &live {
            let c = counts.entry(s.key.city).or_default();
            match s.kind {
                Kind::Demand => c.demands += 1,
                Kind::Achievement => c.achievements += 1,
                Kind::Expert => c.experts += 1,
            }
        }
        assert_eq!(hub.matcher.counts(), counts, "live summaries per city and kind");
        for node in &self.nodes {
            let want = expected(node);
            let got: BTreeMap<String, Summary> = live
                .iter()
                .filter(|s| s.key.city == node.city)
                .map(|s| (s.key.pseudonym.as_str().to_owned(), s.clone()))
                .collect();
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "city {}: hub lacks {missing:?} and holds extra {extra:?}",
                node.city
            );
            for (p, s) in &want {
                assert_eq!(&got[p], s, "city {}: the hub holds an old version of {p}", node.city);
            }
            let mine = node.shared.bucket_digests().unwrap().total();
            assert_eq!(
                hub.store.city_state(node.city).unwrap().digest,
                mine,
                "city {}: digests differ",
                node.city
            );
            assert_eq!(mine.count, want.len() as u64, "city {}: shared set", node.city);
        }
        for k in &keys {
            assert!(live.iter().any(|s| &s.key == k), "the index holds a dead summary {k}");
        }
    }
}

fn run_seed(seed: u64) {
    let mut w = World::new(seed);
    for _ in 0..STEPS {
        w.step();
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        w.settle();
        w.check()
    }));
    if let Err(e) = outcome {
        eprintln!("seed {seed} failed; events: {:#?}", w.log);
        eprintln!("replay with: PILOT_SIM_SEED={seed} cargo test -p pilot-e2e --test sync_sim");
        std::panic::resume_unwind(e);
    }
}

#[test]
fn the_hub_always_converges_to_the_fold_of_every_nodes_log() {
    if let Ok(seed) = std::env::var("PILOT_SIM_SEED") {
        run_seed(seed.parse().expect("PILOT_SIM_SEED is a number"));
        return;
    }
    let seeds: u64 =
        std::env::var("PILOT_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let started = std::time::Instant::now();
    for seed in 0..seeds {
        run_seed(seed);
    }
    eprintln!("{seeds} seeds in {:.1}s", started.elapsed().as_secs_f64());
}
