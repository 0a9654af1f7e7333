//! Anonymizing ahead of sending (`pilot_node::prepare`): staff see held-back records while the
//! hub is unreachable, and what was prepared ahead is exactly what sending would have made.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failure")]

use std::sync::Arc;
use std::time::Duration;

use pilot_anon::{Anonymizer, NodeSecret};
use pilot_e2e::{TestPki, csl_achievements, free_addr, intake, node_stats, start_node, upsert_all};
use pilot_model::{CityCode, Date, Seq};
use pilot_node::intake::Intake;
use pilot_node::prepare::{Prepared, prepare_ahead};
use pilot_node::sync::build_batch;
use pilot_proto::pb;
use pilot_store::{Db, NodeStore, SharedIndex};
use pilot_testkit::eventually;

const XIANNING: &str = "421200";
const TODAY: Date = Date { year: 2026, month: 11, day: 21 };
const YESTERDAY: Date = Date { year: 2026, month: 11, day: 20 };

/// A node's bank and sync state in `dir`, loaded with `rows`.
fn bank(dir: &std::path::Path, rows: &[pb::RecordInput]) -> (NodeStore, SharedIndex, Anonymizer) {
    let db = Db::open(dir).unwrap();
    let store = NodeStore::open(&db).unwrap();
    let city = CityCode::parse(XIANNING).unwrap();
    // The same secret for every bank, so that pseudonyms (and so batches) compare equal.
    let anon = Arc::new(Anonymizer::new(city, NodeSecret::from_bytes([9; 32])));
    let intake = Intake::new(store.clone(), anon, Arc::new(tokio::sync::Notify::new()));
    let report = intake.upsert(rows.to_vec(), 1, &[]).unwrap();
    assert_eq!(report.rejected, 0);
    let anon = Anonymizer::new(city, NodeSecret::from_bytes([9; 32]));
    (store, SharedIndex::open(&db).unwrap(), anon)
}

/// A demand that lapsed yesterday (shared as of yesterday, withdrawn as of today), a demand too
/// thin to share, and 60 achievements.
fn rows() -> Vec<pb::RecordInput> {
    let demand = |ext: &str, title: &str, description: &str, deadline: &str| pb::RecordInput {
        external_id: ext.into(),
        body: Some(pb::record_input::Body::Demand(pb::Demand {
            title: title.into(),
            description: description.into(),
            deadline: deadline.into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut rows = vec![
        demand(
            "lapsing",
            "锂离子电池隔膜涂覆工艺",
            "寻求勃姆石陶瓷涂覆隔膜的量产工艺，提高电池热稳定性与循环寿命。",
            "2026-11-20",
        ),
        demand("thin", "求助", "请联系我们", ""),
    ];
    rows.extend(csl_achievements("a", 60));
    rows
}

/// Every batch `build_batch` makes from the start, with or without a prepared set.
fn drain(
    store: &NodeStore,
    shared: &SharedIndex,
    anon: &Anonymizer,
    prepared: Option<&Prepared>,
) -> Vec<pb::PushBatch> {
    let mut after = Seq(0);
    let mut out = Vec::new();
    while let Some(b) = build_batch(store, shared, anon, prepared, after, 16, TODAY).unwrap() {
        after = Seq(b.through_seq);
        out.push(b);
    }
    out
}

#[test]
fn outcomes_prepared_ahead_are_sent_exactly_as_if_made_at_send_time() {
    let rows = rows();
    let plain = tempfile::tempdir().unwrap();
    let (store, shared, anon) = bank(plain.path(), &rows);
    let want = drain(&store, &shared, &anon, None);
    assert!(want.iter().map(|b| b.entries.len()).sum::<usize>() == rows.len());

    // Prepared ahead: the first ten as of yesterday (which must not be sent today), the next
    // thirty as of today, in a set too small for everything.
    let ahead = tempfile::tempdir().unwrap();
    let (store, shared, anon) = bank(ahead.path(), &rows);
    let prepared = Prepared::new(40);
    assert_eq!(prepare_ahead(&store, &anon, &prepared, YESTERDAY, 10, 0).unwrap(), 10);
    assert_eq!(prepare_ahead(&store, &anon, &prepared, TODAY, 50, 0).unwrap(), 30, "full at 40");
    assert_eq!(prepare_ahead(&store, &anon, &prepared, TODAY, 50, 0).unwrap(), 0, "no room");
    assert_eq!((prepared.len(), prepared.cursor()), (40, Seq(40)));
    let got = drain(&store, &shared, &anon, Some(&prepared));
    assert_eq!(got, want, "the same batches, byte for byte");
    assert!(prepared.is_empty(), "everything sent is forgotten");
    let lapsing = &got[0].entries[0];
    assert!(
        lapsing.seq == 1 && matches!(lapsing.change, Some(pb::outbox_entry::Change::Tombstone(_))),
        "prepared as of yesterday, the lapsed demand still goes out as a tombstone today"
    );

    // Once sent, a sequence is never prepared again.
    assert_eq!(prepare_ahead(&store, &anon, &prepared, TODAY, 30, 0).unwrap(), 0);
    assert!(prepared.is_empty());
}

#[test]
fn while_sending_the_batches_in_flight_are_left_to_the_sync_task() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, anon) = bank(dir.path(), &rows());
    let prepared = Prepared::new(1_000);
    prepared.sent_through(Seq(10));
    // 20 in flight after sequence 10: preparing starts at 31.
    assert_eq!(prepare_ahead(&store, &anon, &prepared, TODAY, 1_000, 20).unwrap(), 32);
    assert_eq!((prepared.len(), prepared.cursor()), (32, Seq(62)));
    assert!(prepared.take(Seq(30), TODAY).is_none(), "left to the sync task");
    assert!(prepared.take(Seq(31), TODAY).is_some());
}

#[test]
fn the_privacy_gate_marks_records_when_they_are_prepared() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, anon) = bank(dir.path(), &rows());
    assert!(store.held_back().unwrap().is_empty());
    let prepared = Prepared::new(1_000);
    prepare_ahead(&store, &anon, &prepared, TODAY, 1_000, 0).unwrap();
    let held = store.held_back().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].1.starts_with("too_few_terms"), "{held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_held_back_records_while_the_hub_is_unreachable() {
    let pki = TestPki::new(&[XIANNING]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens at the hub's address.
    let node = start_node(&pki, XIANNING, &free_addr(), dir.path()).unwrap();
    let mut client = intake(&node.addr).await.unwrap();
    let reply = upsert_all(&mut client, rows()).await.unwrap();
    let last = node_stats(&node.addr).await.unwrap().last_seq;
    assert_eq!(u64::from(reply.created), last);
    let (held, stats) = eventually(Duration::from_secs(30), || {
        let addr = node.addr.clone();
        async move {
            let stats = node_stats(&addr).await?;
            anyhow::ensure!(stats.prepared_seq == last, "not all prepared yet: {stats:?}");
            let mut client = intake(&addr).await?;
            let held = client.list_held(pb::ListHeldRequest {}).await?.into_inner();
            Ok((held, stats))
        }
    })
    .await
    .unwrap();
    assert_eq!(held.records.len(), 1, "{held:?}");
    assert_eq!(
        (held.records[0].external_id.as_str(), held.records[0].reason_code.as_str()),
        ("thin", "too_few_terms")
    );
    assert!(!stats.hub_connected && stats.acked_seq == 0, "{stats:?}");
}
