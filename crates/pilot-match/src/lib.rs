//! Supply–demand matching for the national hub: which achievements and experts answer an
//! enterprise's technology demand, and which demands an achievement or expert could answer.
//!
//! The hub keeps every shared summary in an [`Index`] and asks it for the top matches of one
//! summary at a time with [`Index::matches_for`]. Each [`Match`] carries an [`Explanation`]
//! (shared terms, shared fields, readiness, modes) so staff can see why it was proposed.
//!
//! Scoring is BM25 over the summaries' damped term weights with per-side document frequencies,
//! plus a field-agreement part (exact code, or only the category) and small fit bonuses, both
//! relative to the subject's own term scale; see `score.rs` for the formula and why, and
//! `benches/quality.rs` for how it compares with a centralized search engine on real data.
//!
//! Invariants:
//! - Pure and deterministic: no IO, no async, no randomness, no output that depends on hash
//!   iteration order. The same set of summaries gives bit-for-bit the same matches whatever
//!   order it was inserted, replaced or removed in.
//! - Only shared summaries (`Status::is_shared`) are ever indexed; upserting an unshared one
//!   removes it.
//! - A demand is matched only against achievements and experts, an achievement or expert only
//!   against demands, and a summary never against itself.
//! - Postings and document frequencies always describe exactly the stored summaries: removing
//!   or replacing a summary takes back everything it added.
//! - Matches are ordered by score (descending), then counterpart city, then pseudonym
//!   (ascending), so equal scores never reorder between runs.
//!
//! The crate has no error type: nothing in it can fail. Summaries are expected to have passed
//! `Summary::validate`, and terms with weights that are not finite and positive are ignored
//! rather than allowed to poison scores.

mod index;
mod score;
mod term_ids;

pub use index::{Index, Query, Reach};
pub use score::{Bm25, Explanation, MAX_EXPLAINED_TERMS, Match};

/// Builders shared by the unit tests of every module.
#[cfg(test)]
pub(crate) mod testing {
    use pilot_model::{
        CityCode, FieldCode, Kind, Pseudonym, Status, Summary, SummaryKey, WeightedTerm,
    };

    /// The key of summary number `n` of `city`; the pseudonym is `n` in hex, zero-padded.
    pub(crate) fn key(city: &str, n: u32) -> SummaryKey {
        SummaryKey {
            city: CityCode::parse(city).unwrap(),
            pseudonym: Pseudonym::parse(&format!("{n:032x}")).unwrap(),
        }
    }

    /// An open summary with the given terms and field codes and nothing else.
    pub(crate) fn summary(
        kind: Kind,
        city: &str,
        n: u32,
        terms: &[(&str, f32)],
        fields: &[&str],
    ) -> Summary {
        Summary {
            key: key(city, n),
            kind,
            status: Status::Open,
            fields: fields.iter().map(|f| FieldCode::parse(f).unwrap()).collect(),
            industries: vec![],
            trl: None,
            modes: vec![],
            budget: None,
            updated: None,
            deadline: None,
            terms: terms
                .iter()
                .map(|(t, w)| WeightedTerm { term: (*t).to_owned(), weight: *w })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::path::Path;

    use pilot_model::{Kind, Summary};

    use super::*;

    fn load(path: &Path) -> Vec<Summary> {
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn index_of(summaries: impl IntoIterator<Item = Summary>) -> Index {
        let mut index = Index::new();
        for s in summaries {
            index.upsert(s);
        }
        index
    }

    /// What a golden file shows: the matches of which subjects, under which query.
    struct View {
        title: &'static str,
        subjects: fn(&Summary) -> bool,
        query: Query,
    }

    /// Every shared demand under the default query (cross-region).
    const DEMANDS: View = View {
        title: "Top matches of every shared demand under Query::default().",
        subjects: |s| s.kind == Kind::Demand,
        query: Query { k: 10, include_same_city: false, kinds: Vec::new(), min_score: 0.0 },
    };

    /// Every shared achievement and expert, same-city counterparts included, top 3.
    const SUPPLY: View = View {
        title: "Top 3 demands of every shared achievement and expert, same city included.",
        subjects: |s| s.kind.is_supply(),
        query: Query { k: 3, include_same_city: true, kinds: Vec::new(), min_score: 0.0 },
    };

    /// Renders the top matches of the view's subjects under its query.
    fn render(summaries: &[Summary], view: &View) -> String {
        let index = index_of(summaries.iter().cloned());
        let query = &view.query;
        let mut out = String::new();
        writeln!(out, "# {}", view.title).unwrap();
        writeln!(out, "# Regenerate with UPDATE_GOLDENFILES=1 and review the diff.").unwrap();
        writeln!(out, "# {} summaries read, {} shared and indexed.", summaries.len(), index.len())
            .unwrap();
        for subject in index.iter().filter(|s| (view.subjects)(s)) {
            let kept = index.terms(&subject.key).unwrap_or_default();
            let terms: Vec<&str> = kept.iter().map(|t| t.term.as_str()).collect();
            let fields: Vec<&str> = subject.fields.iter().map(|f| f.code()).collect();
            writeln!(
                out,
                "\n{} {}/{} ({})  terms: {}  fields: {}",
                subject.kind,
                subject.key.city,
                subject.key.pseudonym.short(),
                subject.key.city.label(),
                terms.join(" "),
                fields.join(" "),
            )
            .unwrap();
            let matches = index.matches_for(&subject.key, query);
            if matches.is_empty() {
                writeln!(out, "  (no matches)").unwrap();
            }
            for (rank, m) in matches.iter().enumerate() {
                let e = &m.explanation;
                let fields: Vec<&str> = e.shared_fields.iter().map(|f| f.code()).collect();
                let modes: Vec<&str> = e.mode_overlap.iter().map(|m| m.code()).collect();
                writeln!(
                    out,
                    "  {}. {:.3}  {} {}/{} ({})",
                    rank + 1,
                    m.score,
                    m.counterpart_kind,
                    m.counterpart.city,
                    m.counterpart.pseudonym.short(),
                    m.counterpart.city.label(),
                )
                .unwrap();
                writeln!(
                    out,
                    "       terms: [{}]  fields: [{}]  same category: {}  trl: {}  modes: [{}]",
                    e.shared_terms.join(", "),
                    fields.join(", "),
                    if e.same_category { "yes" } else { "no" },
                    e.trl.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    modes.join(", "),
                )
                .unwrap();
                writeln!(
                    out,
                    "       = term {:.3} + field {:.3} + fit {:.3}",
                    e.term_score, e.field_score, e.fit_score
                )
                .unwrap();
            }
        }
        out
    }

    /// Compares `render(input)` with the golden file, or rewrites it when
    /// `UPDATE_GOLDENFILES=1`.
    fn check(input: &str, view: &View, expected: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let actual = render(&load(&dir.join(input)), view);
        let golden = dir.join(expected);
        if std::env::var_os("UPDATE_GOLDENFILES").is_some_and(|v| v == "1") {
            std::fs::write(&golden, &actual).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            want == actual,
            "{} is out of date; rerun with UPDATE_GOLDENFILES=1 and review the diff.\n\
             --- actual ---\n{actual}",
            golden.display()
        );
    }

    #[test]
    fn golden_matches() {
        check("summaries.json", &DEMANDS, "matches.golden");
    }

    #[test]
    fn golden_supply_matches() {
        check("summaries.json", &SUPPLY, "supply.golden");
    }

    /// A fixed permutation of `0..n`, from a small xorshift generator with a constant seed.
    fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        order
    }

    fn all_matches(index: &Index) -> Vec<Vec<Match>> {
        let queries =
            [Query::default(), Query { include_same_city: true, k: 3, ..Query::default() }];
        index.iter().flat_map(|s| queries.iter().map(|q| index.matches_for(&s.key, q))).collect()
    }

    #[test]
    fn insertion_order_does_not_change_matches() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let summaries = load(&dir.join("summaries.json"));
        let forward = index_of(summaries.iter().cloned());
        let expected = all_matches(&forward);
        assert!(expected.iter().any(|m| !m.is_empty()), "the test data must produce matches");

        let backward = index_of(summaries.iter().rev().cloned());
        assert_eq!(all_matches(&backward), expected);

        for seed in [1, 42, 0x9e37_79b9] {
            let order = shuffled(summaries.len(), seed);
            let mut index = index_of(order.iter().map(|&i| summaries[i].clone()));
            assert_eq!(all_matches(&index), expected, "seed {seed}");

            // Churn: remove a few summaries and put them back, which reuses freed slots in a
            // different order; the matches must not notice.
            let churn: Vec<&Summary> = order.iter().take(5).map(|&i| &summaries[i]).collect();
            for s in &churn {
                index.remove(&s.key);
            }
            for s in churn.iter().rev() {
                index.upsert((*s).clone());
            }
            assert_eq!(all_matches(&index), expected, "seed {seed} after churn");
        }
    }
}
