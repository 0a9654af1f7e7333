//! Mangled wire messages: a summary a node pushes and an intake row a client sends, encoded,
//! damaged byte by byte and decoded again. Whatever decodes must either be refused by the
//! conversion with an error or pass through everything the hub and the node then do with it
//! (the match index; the anonymizer) without a panic.

#![allow(clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use prost::Message;

use pilot_anon::{Anonymizer, NodeSecret};
use pilot_match::{Index, Query};
use pilot_model::{CityCode, Date, LocalId, Record, Status, Summary, UnixMillis};
use pilot_proto::convert::record_input_from_pb;
use pilot_proto::pb;
use pilot_testkit::Rng;

/// `bytes` damaged one of four ways: bits flipped, truncated, a span deleted, or random bytes
/// spliced in.
fn mangle(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
        }
        1 => b.truncate(rng.below(b.len())),
        2 => {
            let at = rng.below(b.len());
            let end = (at + 1 + rng.below(12)).min(b.len());
            b.drain(at..end);
        }
        _ => {
            let at = rng.below(b.len());
            let junk: Vec<u8> = (0..1 + rng.below(12)).map(|_| rng.next_u64() as u8).collect();
            b.splice(at..at, junk);
        }
    }
    b
}

fn summary(pseudonym: &str, kind: pb::Kind, terms: &[(&str, f32)]) -> pb::Summary {
    pb::Summary {
        key: Some(pb::SummaryKey { city: "421200".into(), pseudonym: pseudonym.into() }),
        kind: kind as i32,
        status: pb::Status::Open as i32,
        fields: vec!["0805".into(), "0812".into()],
        industries: vec!["38".into()],
        trl: 6,
        modes: vec![pb::CooperationMode::License as i32],
        budget: pb::BudgetBucket::BudgetBucket1mTo5m as i32,
        updated_yyyymm: 202_611,
        deadline_yyyymm: 202_706,
        terms: terms
            .iter()
            .map(|(t, w)| pb::WeightedTerm { term: (*t).into(), weight: *w })
            .collect(),
    }
}

#[test]
fn mangled_summaries_are_refused_or_indexed_and_matched_without_a_panic() {
    let demand = summary(&"ab".repeat(16), pb::Kind::Demand, &[("锂电池", 1.0), ("隔膜", 0.7)]);
    let supply = summary(&"cd".repeat(16), pb::Kind::Achievement, &[("隔膜", 1.0), ("涂覆", 0.5)]);
    let mut index = Index::new();
    let mut other_city = Summary::try_from(supply.clone()).unwrap();
    other_city.key.city = CityCode::parse("350500").unwrap();
    index.upsert(other_city);
    let (mut rng, mut accepted, mut refused) = (Rng::new(11), 0, 0);
    for n in 0..3_000 {
        let original = if n % 2 == 0 { &demand } else { &supply };
        let bytes = mangle(&original.encode_to_vec(), &mut rng);
        let Ok(decoded) = pb::Summary::decode(bytes.as_slice()) else { continue };
        let outcome = catch_unwind(AssertUnwindSafe(|| match Summary::try_from(decoded) {
            Ok(s) => {
                let key = s.key.clone();
                index.upsert(s);
                let _ =
                    index.matches_for(&key, &Query { include_same_city: true, ..Query::default() });
                true
            }
            Err(e) => {
                // A refusal names the field, for the node's log and the caller's status.
                assert!(!e.field().is_empty());
                false
            }
        }));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("case {n} panicked"),
        }
    }
    // The damage reached both paths.
    assert!(accepted > 100 && refused > 100, "{accepted} accepted, {refused} refused");
}

#[test]
fn mangled_intake_rows_are_refused_or_anonymized_without_a_panic() {
    let row = pb::RecordInput {
        external_id: "D-17".into(),
        status: pb::Status::Open as i32,
        body: Some(pb::record_input::Body::Demand(pb::Demand {
            enterprise_name: "武汉光谷电池有限公司".into(),
            contact_name: "王建国".into(),
            phone: "13971234567".into(),
            title: "锂电池隔膜涂覆工艺".into(),
            description: "需要高孔隙率、耐高温的隔膜涂覆工艺，联系人王建国，电话13971234567".into(),
            industry: "C38".into(),
            fields: vec!["0805".into()],
            cooperation_modes: vec!["license".into()],
            budget_cny: Some(1_200_000),
            deadline: "2027-06-30".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let anonymizer =
        Anonymizer::new(CityCode::parse("421200").unwrap(), NodeSecret::from_bytes([5; 32]));
    let today = Date { year: 2026, month: 11, day: 21 };
    let (mut rng, mut anonymized, mut refused) = (Rng::new(12), 0, 0);
    for n in 0..6_000 {
        let bytes = mangle(&row.encode_to_vec(), &mut rng);
        let Ok(decoded) = pb::RecordInput::decode(bytes.as_slice()) else { continue };
        let outcome = catch_unwind(AssertUnwindSafe(|| match record_input_from_pb(decoded) {
            Ok(input) => {
                let record = Record {
                    local_id: input.local_id.unwrap_or_else(|| LocalId::parse("d-17").unwrap()),
                    external_id: input.external_id,
                    status: input.status.unwrap_or(Status::Open),
                    created_at: UnixMillis(1_795_219_200_000),
                    updated_at: UnixMillis(1_795_219_200_000),
                    body: input.body,
                };
                let _ = anonymizer.anonymize(&record, today);
                true
            }
            Err(errors) => {
                assert!(errors.iter().all(|e| !e.field().is_empty()));
                false
            }
        }));
        match outcome {
            Ok(true) => anonymized += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("case {n} panicked"),
        }
    }
    assert!(anonymized > 100 && refused > 100, "{anonymized} anonymized, {refused} refused");
}
