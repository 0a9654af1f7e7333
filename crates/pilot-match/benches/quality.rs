//! Matching quality on real public data: Pilotnet (records → `pilot-anon` → summaries →
//! `pilot_match::Index`) against a centralized BM25 baseline (tantivy over the raw,
//! un-anonymized text), side by side on the same queries.
//!
//! Run: `cargo bench -p pilot-match --bench quality` (reads `../shared/data`, about a minute).
//!
//! # Pipeline
//!
//! Every record is a real `pilot_model::Record`, anonymized by the `pilot_anon::Anonymizer` of
//! the pilot city it is assigned to (one anonymizer, with its own node secret, per city of
//! `PILOT_CITIES`). Shared summaries go into one `pilot_match::Index` per data set, and each
//! query is the demand's own summary: `Index::matches_for(demand, Query { k: 50, .. })` with
//! the default `include_same_city: false`. Records the anonymizer withholds are simply missing
//! from Pilotnet (the baseline still sees them); the counts are printed.
//!
//! The baseline indexes the same records' raw text (title + main text; an expert's name is not
//! indexed, the institution is) in tantivy 0.24 with its BM25 (k1 1.2, b 0.75) and a tokenizer
//! that is jieba-rs `cut_for_search` with HMM (the same dictionary and the same sub-word
//! expansion as the anonymizer's segmentation), lowercased, punctuation dropped. A query is an
//! OR of the distinct tokens of the demand's raw text.
//!
//! # Cities and the cross-region protocol
//!
//! A supply record's city is `PILOT_CITIES[fnv1a(id) % 22]`. The demand made from a record
//! (or from a PI's held-out project) is put in a different city: `(c + 1 + fnv1a("d" + id) %
//! 21) % 22` where `c` is its known item's city. So the known item is always cross-region.
//! Matching is cross-region by default, so for BOTH engines candidates in the demand's own
//! city are out of scope: Pilotnet never returns them, the baseline's results are filtered
//! the same way (top 120 → same-city removed → top 50), and the ideal ranking of nDCG only
//! counts cross-city items.
//!
//! # Data sets, relevance and split (seed [`SEED`], splitmix64 shuffle)
//!
//! - CSL (zh): pool = all 16,917 abstracts as ACHIEVEMENTs (title = the abstract's first
//!   clause, abstract = the rest, so the text is the abstract only; field = the record's
//!   discipline code when it has one; no keywords, no title of the paper). The 4,758 complete
//!   records (title, keywords, discipline, category) are shuffled; the first half (2,379) are
//!   the query half, of which the first 1,189 are the DEV split and the other 1,190 the TEST
//!   split; the second half is not queried. Each query record becomes a DEMAND: title = paper
//!   title, description = its keywords joined by `，`, declared field = its discipline.
//!   Relevance: known item (its own abstract) = 3; other items: same discipline and ≥ 2 shared
//!   keywords = 3, 1 shared keyword = 2, none = 1; else 0. Keywords compare after full-width
//!   folding, trimming and lowercasing (NFKC approximated), without the generic keywords that
//!   20 or more records carry.
//! - NSFC (zh): every PI is an EXPERT whose summary is their project titles joined by `。`
//!   (plus their institution, private for Pilotnet). For each of the 3,395 PIs with ≥ 2
//!   projects, one project (chosen by `fnv1a(pi_id) ^ SEED`, projects sorted by approval
//!   number) is held out and becomes a DEMAND (title = description = project title; baseline
//!   query = the title) and leaves the PI's profile. Shuffled PIs: first 1,697 DEV, other
//!   1,698 TEST. One relevant item (the PI), so nDCG@10 is binary.
//! - arXiv (en): pool = all 2,993 abstracts as ACHIEVEMENTs (first sentence as title, as
//!   for CSL); query = title as DEMAND (description = title). Shuffled: first 1,496 DEV, other
//!   1,497 TEST. Relevance: known item 3; same primary category or ≥ 2 shared categories 2;
//!   a shared category or archive prefix 1. No field codes (arXiv has none of ours).
//!
//! Metrics: recall@10, recall@50 and MRR (cut at 50) of the known item; nDCG@10 with gains
//! 2^g − 1. Ratio = Pilotnet / baseline. Target: Pilotnet ≥ baseline on every metric of the
//! Chinese sets (CSL, NSFC), on the TEST split. Scoring in `pilot-match` was tuned on the DEV
//! split only; the TEST split is reported as the result.
//!
//! CSL demands declare their discipline as a field code, as a real demand does; Pilotnet uses
//! it and the text-only baseline cannot. The CSL section therefore also prints Pilotnet with
//! the demands' fields withheld (text only), so the share of the codes is visible.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use jieba_rs::Jieba;
use serde_json::Value;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::{FAST, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};
use tantivy::{TantivyDocument, doc};

use pilot_anon::{Anonymizer, NodeSecret, Outcome};
use pilot_match::{Index, Query};
use pilot_model::{
    Achievement, CityCode, Date, Demand, Expert, FieldCode, Kind, LocalId, PILOT_CITIES, Record,
    RecordBody, Status, SummaryKey, UnixMillis,
};

/// The seed of every shuffle and pick.
const SEED: u64 = 20_260_101;
/// Matches asked of each engine per query.
const K: usize = 50;
/// Baseline hits fetched before same-city results are filtered out.
const BASELINE_FETCH: usize = 120;
/// The day the anonymizers run (no demand has a deadline, so nothing expires).
const TODAY: Date = Date { year: 2026, month: 1, day: 1 };
/// Keywords that this many CSL records carry are too generic to mark topical relevance.
const GENERIC_KEYWORD_DF: usize = 20;

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let started = Instant::now();
    let world = World::new();
    eprintln!("anonymizers for {} cities built in {:.1?}", PILOT_CITIES.len(), started.elapsed());

    println!("Pilotnet matching quality vs. centralized BM25 (tantivy 0.24, k1 1.2, b 0.75)");
    println!("seed {SEED}; k = {K}; cross-region protocol (same-city candidates out of scope)");

    let csl = csl(&data);
    let run = world.run(&csl);
    run.report(&csl, &["CSL (zh)", "demand → achievement"], true);
    // Ablation: the same demands without their declared field code.
    let mut text_only = csl.clone();
    for q in &mut text_only.queries {
        if let RecordBody::Demand(d) = &mut q.record.body {
            d.fields.clear();
        }
    }
    let ablation = world.run(&text_only);
    for split in [Split::Test, Split::Dev] {
        let m = ablation.pilotnet_metrics(&text_only, split);
        println!(
            "  ablation, {split} split, Pilotnet with the demands' field codes withheld: \
             r@10 {:.4}  r@50 {:.4}  MRR {:.4}  nDCG@10 {:.4}",
            m.r10, m.r50, m.mrr, m.ndcg10
        );
    }
    run.per_category(&csl, Split::Test);

    let nsfc = nsfc(&data);
    world.run(&nsfc).report(&nsfc, &["NSFC (zh)", "held-out title → expert"], true);

    let arxiv = arxiv(&data);
    world.run(&arxiv).report(&arxiv, &["arXiv (en)", "title → abstract"], false);
    eprintln!("total {:.1?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Data sets.

/// Which half of the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// Used to tune scoring.
    Dev,
    /// Held out; the reported result.
    Test,
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Dev => "DEV",
            Split::Test => "TEST",
        })
    }
}

/// A record of the pool (achievement or expert).
#[derive(Clone)]
struct Item {
    record: Record,
    /// Index into `PILOT_CITIES`.
    city: usize,
    /// What the baseline indexes.
    raw: String,
}

/// A query: a demand, its known item and its judged items.
#[derive(Clone)]
struct QuerySpec {
    record: Record,
    city: usize,
    /// What the baseline searches with.
    raw: String,
    split: Split,
    /// The pool index of the known item.
    target: usize,
    /// Pool indexes with a positive grade, sorted by index (the known item included).
    judged: Vec<(usize, u8)>,
    /// Group for the per-category breakdown.
    group: String,
}

impl QuerySpec {
    fn grade(&self, item: usize) -> u8 {
        self.judged.binary_search_by_key(&item, |&(i, _)| i).map_or(0, |p| self.judged[p].1)
    }
}

#[derive(Clone)]
struct Dataset {
    name: &'static str,
    pool: Vec<Item>,
    queries: Vec<QuerySpec>,
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn strings_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// FNV-1a, for deterministic assignments that do not depend on file order.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fisher–Yates with splitmix64 seeded by [`SEED`] and the data set's name.
fn shuffle<T>(items: &mut [T], name: &str) {
    let mut state = SEED ^ fnv1a(name);
    for i in (1..items.len()).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

fn supply_city(id: &str) -> usize {
    (fnv1a(id) % PILOT_CITIES.len() as u64) as usize
}

/// A city other than `target_city`, picked by the demand's id.
fn demand_city(id: &str, target_city: usize) -> usize {
    let n = PILOT_CITIES.len() as u64;
    ((target_city as u64 + 1 + fnv1a(&format!("d{id}")) % (n - 1)) % n) as usize
}

fn record(id: &str, body: RecordBody) -> Record {
    Record {
        local_id: LocalId::parse(id).unwrap(),
        external_id: None,
        status: Status::Open,
        created_at: UnixMillis(1_767_225_600_000),
        updated_at: UnixMillis(1_767_225_600_000),
        body,
    }
}

fn demand(id: &str, title: &str, description: &str, fields: Vec<FieldCode>) -> Record {
    let body = Demand {
        title: title.to_owned(),
        description: description.to_owned(),
        fields,
        ..Demand::default()
    };
    record(id, RecordBody::Demand(body))
}

/// Splits an abstract into a title-like first clause and the rest.
fn first_clause(text: &str) -> (String, String) {
    let stops = ['，', ',', '。', '；', ';', '：', ':', '.', '?', '？', '!', '！'];
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    // At least 8 characters, so an opening "近年来," does not make the whole title.
    let cut = chars
        .iter()
        .enumerate()
        .skip(8)
        .find(|(_, (_, c))| stops.contains(c))
        .map(|(n, &(b, c))| (n, b + c.len_utf8()))
        .filter(|&(n, _)| n < 120);
    let at = cut.map_or_else(|| chars.get(60).map_or(text.len(), |&(b, _)| b), |(_, b)| b);
    let (title, rest) = text.split_at(at);
    let title = title.trim().trim_end_matches(stops).trim().to_owned();
    let rest = rest.trim().to_owned();
    if rest.is_empty() { (title, text.trim().to_owned()) } else { (title, rest) }
}

fn achievement(id: &str, text: &str, fields: Vec<FieldCode>) -> (Record, String) {
    let (title, abstract_text) = first_clause(text);
    let raw = format!("{title} {abstract_text}");
    let body = Achievement { title, abstract_text, fields, ..Achievement::default() };
    (record(id, RecordBody::Achievement(body)), raw)
}

/// Full-width folding, trimming and lowercasing: NFKC as far as keywords need it.
fn fold_keyword(k: &str) -> String {
    k.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .collect::<String>()
        .trim()
        .to_lowercase()
}

fn csl(data: &Path) -> Dataset {
    let rows = read_jsonl(&data.join("csl/csl_merged.jsonl"));
    let mut df: HashMap<String, usize> = HashMap::new();
    let keywords: Vec<BTreeSet<String>> = rows
        .iter()
        .map(|r| strings_of(r, "keywords").iter().map(|k| fold_keyword(k)).collect())
        .collect();
    for set in &keywords {
        for k in set {
            *df.entry(k.clone()).or_default() += 1;
        }
    }
    let specific: Vec<BTreeSet<String>> = keywords
        .iter()
        .map(|s| s.iter().filter(|k| df[*k] < GENERIC_KEYWORD_DF).cloned().collect())
        .collect();

    let mut pool = Vec::with_capacity(rows.len());
    let mut by_discipline: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let id = str_of(r, "id").unwrap();
        let discipline = str_of(r, "discipline");
        let fields = discipline.map(|d| vec![FieldCode::parse(d).unwrap()]).unwrap_or_default();
        let (record, raw) = achievement(id, str_of(r, "abstract").unwrap(), fields);
        pool.push(Item { record, city: supply_city(id), raw });
        if let Some(d) = discipline {
            by_discipline.entry(d.to_owned()).or_default().push(i);
        }
    }

    let mut complete: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            let r = &rows[i];
            str_of(r, "title").is_some()
                && !strings_of(r, "keywords").is_empty()
                && str_of(r, "discipline").is_some()
                && str_of(r, "category").is_some()
        })
        .collect();
    shuffle(&mut complete, "csl");
    let half = complete.len() / 2;
    let dev = half / 2;
    let mut queries = Vec::with_capacity(half);
    for (n, &i) in complete[..half].iter().enumerate() {
        let r = &rows[i];
        let id = str_of(r, "id").unwrap();
        let title = str_of(r, "title").unwrap();
        let kws = strings_of(r, "keywords").join("，");
        let discipline = str_of(r, "discipline").unwrap();
        let field = FieldCode::parse(discipline).unwrap();
        let mut judged: Vec<(usize, u8)> = by_discipline[discipline]
            .iter()
            .map(|&j| {
                let shared = specific[i].intersection(&specific[j]).count();
                let grade = if j == i || shared >= 2 {
                    3
                } else if shared == 1 {
                    2
                } else {
                    1
                };
                (j, grade)
            })
            .collect();
        judged.sort_unstable();
        let demand_id = format!("d-{id}");
        queries.push(QuerySpec {
            record: demand(&demand_id, title, &kws, vec![field]),
            city: demand_city(id, pool[i].city),
            raw: format!("{title} {kws}"),
            split: if n < dev { Split::Dev } else { Split::Test },
            target: i,
            judged,
            group: str_of(r, "category").unwrap().to_owned(),
        });
    }
    eprintln!(
        "csl: {} abstracts, {} complete records, {} queries ({} dev, {} test)",
        pool.len(),
        complete.len(),
        queries.len(),
        dev,
        half - dev
    );
    Dataset { name: "csl", pool, queries }
}

fn nsfc(data: &Path) -> Dataset {
    let rows = read_jsonl(&data.join("nsfc-mgmt-projects/nsfc_mgmt_projects.jsonl"));
    let mut by_pi: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &rows {
        by_pi.entry(str_of(r, "pi_id").unwrap().to_owned()).or_default().push(r);
    }
    let mut pool = Vec::with_capacity(by_pi.len());
    let mut held_out: Vec<(usize, String)> = Vec::new();
    for (pi, projects) in &mut by_pi {
        projects.sort_by_key(|p| str_of(p, "approval_no").unwrap_or(""));
        let hold =
            (projects.len() >= 2).then(|| ((fnv1a(pi) ^ SEED) % projects.len() as u64) as usize);
        let titles: Vec<&str> = projects
            .iter()
            .enumerate()
            .filter(|(n, _)| Some(*n) != hold)
            .filter_map(|(_, p)| str_of(p, "title"))
            .collect();
        let institution = str_of(projects[0], "institution").map(str::to_owned);
        let summary = titles.join("。");
        let raw = format!("{} {summary}", institution.as_deref().unwrap_or(""));
        let body = Expert { name: pi.clone(), institution, summary, ..Expert::default() };
        if let Some(h) = hold {
            held_out.push((pool.len(), str_of(projects[h], "title").unwrap().to_owned()));
        }
        pool.push(Item {
            record: record(pi, RecordBody::Expert(body)),
            city: supply_city(pi),
            raw,
        });
    }
    shuffle(&mut held_out, "nsfc");
    let dev = held_out.len() / 2;
    let queries = held_out
        .into_iter()
        .enumerate()
        .map(|(n, (target, title))| {
            let id = pool[target].record.local_id.as_str().to_owned();
            QuerySpec {
                record: demand(&format!("d-{id}"), &title, &title, Vec::new()),
                city: demand_city(&id, pool[target].city),
                raw: title,
                split: if n < dev { Split::Dev } else { Split::Test },
                target,
                judged: vec![(target, 1)],
                group: String::new(),
            }
        })
        .collect::<Vec<_>>();
    eprintln!(
        "nsfc: {} projects, {} experts, {} queries ({} dev, {} test)",
        rows.len(),
        pool.len(),
        queries.len(),
        dev,
        queries.len() - dev
    );
    Dataset { name: "nsfc", pool, queries }
}

fn arxiv(data: &Path) -> Dataset {
    let rows = read_jsonl(&data.join("arxiv-en/arxiv_abstracts.jsonl"));
    let cats: Vec<Vec<String>> = rows.iter().map(|r| strings_of(r, "categories")).collect();
    let pool: Vec<Item> = rows
        .iter()
        .map(|r| {
            let id = str_of(r, "id").unwrap();
            let (record, raw) = achievement(id, str_of(r, "abstract").unwrap(), Vec::new());
            Item { record, city: supply_city(id), raw }
        })
        .collect();
    let archive = |c: &str| c.split('.').next().unwrap_or(c).to_owned();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    shuffle(&mut order, "arxiv");
    let dev = order.len() / 2;
    let queries = order
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let id = str_of(&rows[i], "id").unwrap();
            let title = str_of(&rows[i], "title").unwrap();
            let mine: BTreeSet<&String> = cats[i].iter().collect();
            let archives: BTreeSet<String> = cats[i].iter().map(|c| archive(c)).collect();
            let judged = (0..rows.len())
                .filter_map(|j| {
                    let shared = cats[j].iter().filter(|c| mine.contains(c)).count();
                    let same_primary = !cats[i].is_empty() && cats[i].first() == cats[j].first();
                    let grade = if j == i {
                        3
                    } else if same_primary || shared >= 2 {
                        2
                    } else if shared >= 1 || cats[j].iter().any(|c| archives.contains(&archive(c)))
                    {
                        1
                    } else {
                        0
                    };
                    (grade > 0).then_some((j, grade))
                })
                .collect();
            QuerySpec {
                record: demand(&format!("d-{id}"), title, title, Vec::new()),
                city: demand_city(id, pool[i].city),
                raw: title.to_owned(),
                split: if n < dev { Split::Dev } else { Split::Test },
                target: i,
                judged,
                group: String::new(),
            }
        })
        .collect::<Vec<_>>();
    eprintln!(
        "arxiv: {} abstracts, {} queries ({} dev, {} test)",
        pool.len(),
        queries.len(),
        dev,
        queries.len() - dev
    );
    Dataset { name: "arxiv", pool, queries }
}

// ---------------------------------------------------------------------------------------------
// The two engines.

/// The anonymizers of the 22 cities and the baseline's segmenter.
struct World {
    anonymizers: Vec<Anonymizer>,
    jieba: Arc<Jieba>,
}

/// Pilotnet's index over one data set.
struct Built {
    index: Index,
    pool_of: HashMap<SummaryKey, usize>,
    subjects: Vec<Option<SummaryKey>>,
    withheld_pool: usize,
    withheld_queries: usize,
}

impl Built {
    /// Pilotnet's ranking for every query (empty for a withheld demand).
    fn rank(&self, data: &Dataset) -> Vec<Vec<usize>> {
        let kind = data.pool.first().map_or(Kind::Achievement, |p| p.record.kind());
        let query = Query { k: K, kinds: vec![kind], ..Query::default() };
        self.subjects
            .iter()
            .map(|s| {
                s.as_ref().map_or_else(Vec::new, |key| {
                    let matches = self.index.matches_for(key, &query);
                    matches.iter().map(|m| self.pool_of[&m.counterpart]).collect()
                })
            })
            .collect()
    }
}

/// Both engines' ranked pool indexes for every query, in query order.
struct Run {
    pilotnet: Vec<Vec<usize>>,
    baseline: Vec<Vec<usize>>,
    withheld_pool: usize,
    withheld_queries: usize,
}

impl World {
    fn new() -> Self {
        let anonymizers = PILOT_CITIES
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let city = CityCode::parse(&format!("{:06}", c.code)).unwrap();
                Anonymizer::new(city, NodeSecret::from_bytes([i as u8 + 1; 32]))
            })
            .collect();
        World { anonymizers, jieba: Arc::new(Jieba::new()) }
    }

    fn run(&self, data: &Dataset) -> Run {
        let t = Instant::now();
        let (pilotnet, withheld_pool, withheld_queries) = self.pilotnet(data);
        eprintln!("{}: Pilotnet (anonymize, index, match) {:.1?}", data.name, t.elapsed());
        let t = Instant::now();
        let baseline = self.baseline(data);
        eprintln!("{}: baseline (index, search) {:.1?}", data.name, t.elapsed());
        Run { pilotnet, baseline, withheld_pool, withheld_queries }
    }

    fn pilotnet(&self, data: &Dataset) -> (Vec<Vec<usize>>, usize, usize) {
        let built = self.build(data);
        (built.rank(data), built.withheld_pool, built.withheld_queries)
    }

    /// Anonymizes every record and indexes the shared summaries.
    fn build(&self, data: &Dataset) -> Built {
        let mut index = Index::new();
        let mut pool_of: HashMap<SummaryKey, usize> = HashMap::new();
        let mut withheld_pool = 0;
        for (i, item) in data.pool.iter().enumerate() {
            match self.anonymizers[item.city].anonymize(&item.record, TODAY) {
                Outcome::Share(s) => {
                    pool_of.insert(s.key.clone(), i);
                    index.upsert(s.into_inner());
                }
                Outcome::Withhold { .. } => withheld_pool += 1,
            }
        }
        let mut subjects = Vec::with_capacity(data.queries.len());
        let mut withheld_queries = 0;
        for q in &data.queries {
            match self.anonymizers[q.city].anonymize(&q.record, TODAY) {
                Outcome::Share(s) => {
                    subjects.push(Some(s.key.clone()));
                    index.upsert(s.into_inner());
                }
                Outcome::Withhold { .. } => {
                    withheld_queries += 1;
                    subjects.push(None);
                }
            }
        }
        Built { index, pool_of, subjects, withheld_pool, withheld_queries }
    }

    fn baseline(&self, data: &Dataset) -> Vec<Vec<usize>> {
        let tokenizer = JiebaTokenizer { jieba: self.jieba.clone() };
        let mut schema = Schema::builder();
        let indexing = TextFieldIndexing::default()
            .set_tokenizer("jieba")
            .set_index_option(IndexRecordOption::WithFreqs);
        let text =
            schema.add_text_field("text", TextOptions::default().set_indexing_options(indexing));
        let idx = schema.add_u64_field("idx", FAST);
        let index = tantivy::Index::create_in_ram(schema.build());
        index.tokenizers().register("jieba", TextAnalyzer::from(tokenizer.clone()));
        let mut writer = index.writer_with_num_threads(1, 200_000_000).unwrap();
        for (i, item) in data.pool.iter().enumerate() {
            let d: TantivyDocument = doc!(text => item.raw.as_str(), idx => i as u64);
            writer.add_document(d).unwrap();
        }
        writer.commit().unwrap();
        let reader = index.reader().unwrap();
        let searcher = reader.searcher();
        let columns: Vec<_> = searcher
            .segment_readers()
            .iter()
            .map(|s| s.fast_fields().u64("idx").unwrap())
            .collect();
        data.queries
            .iter()
            .map(|q| {
                let terms: BTreeSet<String> = tokenizer.tokens(&q.raw).into_iter().collect();
                let clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> = terms
                    .iter()
                    .map(|t| {
                        let term = tantivy::Term::from_field_text(text, t);
                        let query: Box<dyn tantivy::query::Query> =
                            Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                        (Occur::Should, query)
                    })
                    .collect();
                let hits = searcher
                    .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(BASELINE_FETCH))
                    .unwrap();
                hits.iter()
                    .map(|(_, a)| columns[a.segment_ord as usize].first(a.doc_id).unwrap() as usize)
                    .filter(|&i| data.pool[i].city != q.city)
                    .take(K)
                    .collect()
            })
            .collect()
    }
}

/// jieba-rs `cut_for_search` with HMM as a tantivy tokenizer: lowercased, tokens without a
/// letter, digit or ideograph dropped.
#[derive(Clone)]
struct JiebaTokenizer {
    jieba: Arc<Jieba>,
}

impl JiebaTokenizer {
    fn tokens(&self, text: &str) -> Vec<String> {
        self.jieba
            .cut_for_search(text, true)
            .into_iter()
            .map(|t| t.word.to_lowercase())
            .filter(|t| t.chars().any(char::is_alphanumeric))
            .collect()
    }
}

struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let tokens = self
            .tokens(text)
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token { position, text, ..Token::default() })
            .collect();
        VecTokenStream { tokens, next: 0 }
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics and tables.

#[derive(Debug, Default, Clone, Copy)]
struct Metrics {
    r10: f64,
    r50: f64,
    mrr: f64,
    ndcg10: f64,
    n: usize,
}

impl Metrics {
    fn add(&mut self, q: &QuerySpec, ranked: &[usize], pool: &[Item]) {
        let rank = ranked.iter().position(|&i| i == q.target).map(|r| r + 1);
        self.r10 += f64::from(rank.is_some_and(|r| r <= 10));
        self.r50 += f64::from(rank.is_some_and(|r| r <= K));
        self.mrr += rank.map_or(0.0, |r| 1.0 / r as f64);
        let gain = |g: u8| f64::from((1u32 << g) - 1);
        let dcg = |grades: &mut dyn Iterator<Item = u8>| -> f64 {
            grades.take(10).enumerate().map(|(i, g)| gain(g) / ((i + 2) as f64).log2()).sum()
        };
        let got = dcg(&mut ranked.iter().map(|&i| q.grade(i)));
        let mut ideal: Vec<u8> =
            q.judged.iter().filter(|(i, _)| pool[*i].city != q.city).map(|&(_, g)| g).collect();
        ideal.sort_unstable_by(|a, b| b.cmp(a));
        let best = dcg(&mut ideal.into_iter());
        self.ndcg10 += if best > 0.0 { got / best } else { 0.0 };
        self.n += 1;
    }

    fn mean(mut self) -> Self {
        let n = self.n.max(1) as f64;
        self.r10 /= n;
        self.r50 /= n;
        self.mrr /= n;
        self.ndcg10 /= n;
        self
    }
}

impl Run {
    fn metrics(&self, data: &Dataset, split: Split, ranked: &[Vec<usize>]) -> Metrics {
        let mut m = Metrics::default();
        for (q, r) in data.queries.iter().zip(ranked) {
            if q.split == split {
                m.add(q, r, &data.pool);
            }
        }
        m.mean()
    }

    fn pilotnet_metrics(&self, data: &Dataset, split: Split) -> Metrics {
        self.metrics(data, split, &self.pilotnet)
    }

    fn report(&self, data: &Dataset, title: &[&str], targeted: bool) {
        println!();
        println!("== {} — {} ==", title[0], title[1]);
        println!(
            "pool {} ({} withheld by the anonymizer), queries {} ({} withheld)",
            data.pool.len(),
            self.withheld_pool,
            data.queries.len(),
            self.withheld_queries
        );
        if data.name == "csl" {
            let with_topical = data
                .queries
                .iter()
                .filter(|q| q.split == Split::Test)
                .filter(|q| {
                    q.judged
                        .iter()
                        .any(|&(i, g)| i != q.target && g >= 2 && data.pool[i].city != q.city)
                })
                .count();
            println!(
                "TEST queries with ≥ 1 cross-city grade ≥ 2 item besides the known item: {with_topical}"
            );
        }
        for split in [Split::Test, Split::Dev] {
            let p = self.metrics(data, split, &self.pilotnet);
            let b = self.metrics(data, split, &self.baseline);
            println!();
            println!("{split} split, {} queries", p.n);
            println!("| metric    | Pilotnet | baseline | ratio  | target   |");
            println!("|-----------|---------:|---------:|-------:|----------|");
            for (name, pv, bv) in [
                ("recall@10", p.r10, b.r10),
                ("recall@50", p.r50, b.r50),
                ("MRR", p.mrr, b.mrr),
                ("nDCG@10", p.ndcg10, b.ndcg10),
            ] {
                let ratio = if bv > 0.0 { pv / bv } else { f64::NAN };
                let target = if !targeted {
                    "n/a".to_owned()
                } else if pv >= bv {
                    "≥ 1 met".to_owned()
                } else {
                    "≥ 1 MISS".to_owned()
                };
                println!("| {name:<9} | {pv:>8.4} | {bv:>8.4} | {ratio:>6.3} | {target:<8} |");
            }
        }
    }

    fn per_category(&self, data: &Dataset, split: Split) {
        let mut groups: BTreeMap<&str, (Metrics, Metrics)> = BTreeMap::new();
        for ((q, p), b) in data.queries.iter().zip(&self.pilotnet).zip(&self.baseline) {
            if q.split == split {
                let e = groups.entry(q.group.as_str()).or_default();
                e.0.add(q, p, &data.pool);
                e.1.add(q, b, &data.pool);
            }
        }
        println!();
        println!("{split} split by category: MRR and nDCG@10, Pilotnet / baseline");
        println!("| category | n | MRR P | MRR B | nDCG P | nDCG B |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (g, (p, b)) in groups {
            let (p, b) = (p.mean(), b.mean());
            println!(
                "| {g} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                p.n, p.mrr, b.mrr, p.ndcg10, b.ndcg10
            );
        }
    }
}
