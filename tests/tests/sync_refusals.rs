//! What the hub refuses or ignores on the sync path, over real mTLS sockets: duplicate batches
//! (ignored), a batch after a gap (a reorder: refused), a stale version (ignored), a message
//! over the size limit (refused), random bytes on the port (survived), and a revoked
//! certificate (refused without a restart); after each, the hub still serves a real node.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failure")]

use std::io::Write as _;
use std::time::Duration;

use pilot_e2e::{
    Cluster, TestPki, csl_achievements, hub_status, start_hub, start_node, upsert_all,
    wait_converged,
};
use pilot_pki::Identity;
use pilot_proto::pb;
use tonic::Code;

const XIANNING: &str = "421200";
const QUANZHOU: &str = "350500";

fn summary(pseudonym_byte: &str, term: &str) -> pb::Summary {
    pb::Summary {
        key: Some(pb::SummaryKey { city: QUANZHOU.into(), pseudonym: pseudonym_byte.repeat(16) }),
        kind: pb::Kind::Achievement as i32,
        status: pb::Status::Open as i32,
        terms: vec![pb::WeightedTerm { term: term.into(), weight: 1.0 }],
        ..Default::default()
    }
}

fn batch(after: u64, entries: Vec<(u64, pb::Summary)>) -> pb::PushBatch {
    let through = entries.last().map_or(after, |(s, _)| *s);
    pb::PushBatch {
        city: QUANZHOU.into(),
        entries: entries
            .into_iter()
            .map(|(seq, s)| pb::OutboxEntry {
                seq,
                change: Some(pb::outbox_entry::Change::Upsert(s)),
            })
            .collect(),
        through_seq: through,
        last_seq: through,
        after_seq: after,
    }
}

async fn push(cluster: &Cluster, b: pb::PushBatch) -> Result<pb::PushAck, tonic::Status> {
    let ch = cluster.hub_as(Identity::City(QUANZHOU.parse().unwrap())).await.unwrap();
    let mut sync = pb::sync_client::SyncClient::new(ch).max_encoding_message_size(64 << 20);
    let mut acks = sync.push(tokio_stream::iter(vec![b])).await?.into_inner();
    match acks.message().await {
        Ok(Some(ack)) => Ok(ack),
        Ok(None) => Err(tonic::Status::unknown("stream ended without an answer")),
        Err(s) => Err(s),
    }
}

/// Quanzhou's (count, hash) at the hub.
async fn quanzhou(cluster: &Cluster) -> (u64, u64, u64) {
    let s = hub_status(&cluster.pki, &cluster.hub.addr).await.unwrap();
    let c = s.cities.iter().find(|c| c.city == QUANZHOU).unwrap();
    let d = c.digest.unwrap();
    (d.count, d.hash, c.acked_seq)
}

/// The real node still gets through: new records reach the hub.
async fn real_node_still_served(cluster: &Cluster, prefix: &str) {
    let mut client = cluster.intake(0).await.unwrap();
    upsert_all(&mut client, csl_achievements(prefix, 20)).await.unwrap();
    wait_converged(
        &cluster.pki,
        &cluster.hub.addr,
        std::slice::from_ref(&cluster.nodes[0].addr),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_gaps_stale_versions_oversize_and_garbage_leave_the_hub_intact() {
    // One real node (Xianning); the test speaks for Quanzhou with its real certificate.
    let pki = TestPki::new(&[XIANNING, QUANZHOU]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dir.path().join("hub")).unwrap();
    let node = start_node(&pki, XIANNING, &hub.addr, &dir.path().join("xn")).unwrap();
    let mut cluster = Cluster { pki, hub, nodes: vec![node], dir };
    real_node_still_served(&cluster, "a").await;

    // A batch, then the same batch again: applied once, then ignored.
    let b1 = batch(0, vec![(1, summary("a1", "隔膜")), (2, summary("a2", "涂覆"))]);
    let ack = push(&cluster, b1.clone()).await.unwrap();
    assert_eq!((ack.acked_seq, ack.applied, ack.ignored), (2, 2, 0));
    let after_first = quanzhou(&cluster).await;
    let ack = push(&cluster, b1).await.unwrap();
    assert_eq!((ack.acked_seq, ack.applied, ack.ignored), (2, 0, 2), "a duplicate is ignored");
    assert_eq!(quanzhou(&cluster).await, after_first, "nothing double-counted");

    // A batch that continues after sequence 5 when the hub has 2: something was lost or
    // reordered before it. Refused whole; the watermark does not jump over the gap.
    let gap = batch(5, vec![(6, summary("a3", "电解液"))]);
    let err = push(&cluster, gap).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(quanzhou(&cluster).await, after_first);

    // A newer version of a1, then a stale replay of its old version: the stale one is ignored.
    let ack = push(&cluster, batch(2, vec![(3, summary("a1", "陶瓷"))])).await.unwrap();
    assert_eq!((ack.applied, ack.acked_seq), (1, 3));
    let newer = quanzhou(&cluster).await;
    let ack = push(&cluster, batch(0, vec![(1, summary("a1", "隔膜"))])).await.unwrap();
    assert_eq!((ack.applied, ack.ignored), (0, 1), "a stale version is ignored");
    assert_eq!(quanzhou(&cluster).await, newer);

    // A message over the hub's 4 MiB limit: refused with a clear status, nothing stored.
    let mut huge = summary("a4", "隔膜");
    huge.terms = (0..200_000)
        .map(|i| pb::WeightedTerm { term: format!("术语{i:08}"), weight: 1.0 })
        .collect();
    let err = push(&cluster, batch(3, vec![(4, huge)])).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::ResourceExhausted | Code::OutOfRange),
        "an oversized message gets a size status: {err:?}"
    );
    assert_eq!(quanzhou(&cluster).await, newer);

    // Random bytes on the gRPC port.
    for n in [1usize, 7, 1000, 70_000] {
        if let Ok(mut s) = std::net::TcpStream::connect(&cluster.hub.addr) {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 31 + n) as u8).collect();
            let _ = s.write_all(&bytes);
        }
    }
    assert!(cluster.hub.is_alive(), "the hub survives garbage");
    real_node_still_served(&cluster, "b").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_city_is_refused_by_the_running_hub_and_the_others_carry_on() {
    let pki = TestPki::new(&[XIANNING, QUANZHOU]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = pilot_e2e::start_hub_with(
        &pki,
        &dir.path().join("hub"),
        "[revocation]\npoll_interval_ms = 200\n",
    )
    .unwrap();
    let xn = start_node(&pki, XIANNING, &hub.addr, &dir.path().join("xn")).unwrap();
    let qz = start_node(&pki, QUANZHOU, &hub.addr, &dir.path().join("qz")).unwrap();
    let cluster = Cluster { pki, hub, nodes: vec![xn, qz], dir };
    let addrs = vec![cluster.nodes[0].addr.clone(), cluster.nodes[1].addr.clone()];
    for (i, prefix) in [(0, "x"), (1, "q")] {
        let mut c = cluster.intake(i).await.unwrap();
        upsert_all(&mut c, csl_achievements(prefix, 50)).await.unwrap();
    }
    wait_converged(&cluster.pki, &cluster.hub.addr, &addrs, Duration::from_secs(60)).await.unwrap();

    // The operator revokes Quanzhou; the hub is not restarted.
    let out = std::process::Command::new(&pilot_e2e::binaries().pilotctl)
        .args(["pki", "revoke", "--out"])
        .arg(cluster.pki.path())
        .args(["--city", QUANZHOU])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));

    // Within a poll, a call with Quanzhou's certificate is refused as unauthenticated.
    pilot_e2e::eventually(Duration::from_secs(10), || async {
        let b = batch(0, vec![(1, summary("c1", "隔膜"))]);
        match push(&cluster, b).await {
            Err(s) if s.code() == Code::Unauthenticated => Ok(()),
            other => anyhow::bail!("the revoked certificate is still accepted: {other:?}"),
        }
    })
    .await
    .unwrap();

    // Quanzhou's node keeps working locally, but nothing more reaches the hub.
    let before = quanzhou(&cluster).await;
    let mut c = cluster.intake(1).await.unwrap();
    upsert_all(&mut c, csl_achievements("q2", 30)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(quanzhou(&cluster).await, before, "a revoked city's new records are refused");
    let status = hub_status(&cluster.pki, &cluster.hub.addr).await.unwrap();
    let qz = status.cities.iter().find(|c| c.city == QUANZHOU).unwrap();
    assert!(qz.revoked, "the national status shows the revocation");

    // Xianning is unaffected.
    real_node_still_served(&cluster, "x2").await;
}
