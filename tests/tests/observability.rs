//! Observability and shutdown over real processes: both Prometheus endpoints carry the named
//! series with values that follow what happened, and SIGTERM during a sync loses nothing.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failure")]

use std::time::Duration;

use pilot_e2e::{
    Cluster, TestPki, csl_achievements, free_addr, http, intake, node_stats, start_hub_on,
    start_node, upsert_all, wait_converged,
};
use pilot_pki::Identity;
use pilot_proto::pb;

const XIANNING: &str = "421200";

/// The value of the first sample of `series` (with its labels, exactly as exposed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
}

async fn scrape(addr: &str) -> String {
    let (code, body) = http(addr, "GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(code, 200);
    String::from_utf8(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_metrics_endpoints_carry_the_named_series() {
    let cluster = Cluster::start(&[XIANNING]).unwrap();
    let mut client = cluster.intake(0).await.unwrap();
    upsert_all(&mut client, csl_achievements("a", 40)).await.unwrap();
    // One bad row (no title), refused by validation.
    let mut bad = csl_achievements("bad", 1);
    if let Some(pb::record_input::Body::Achievement(a)) = bad[0].body.as_mut() {
        a.title.clear();
    }
    let r = client
        .upsert(pb::UpsertRequest { records: bad, first_row: 1, rows: vec![] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.rejected, 1);
    wait_converged(
        &cluster.pki,
        &cluster.hub.addr,
        std::slice::from_ref(&cluster.nodes[0].addr),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    // A city asking a national question is refused (and counted); a node asks for its matches.
    let ch = cluster.hub_as(Identity::City(XIANNING.parse().unwrap())).await.unwrap();
    let refused =
        pb::national_client::NationalClient::new(ch.clone()).status(pb::StatusRequest {}).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
    pb::matches_client::MatchesClient::new(ch)
        .list_mine(pb::ListMineRequest { city: XIANNING.into(), ..Default::default() })
        .await
        .unwrap();

    let hub_metrics = std::fs::read_to_string(cluster.hub.data_dir.join("ready.metrics")).unwrap();
    let hub = scrape(hub_metrics.trim()).await;
    let city = format!("{{city=\"{XIANNING}\"}}");
    assert_eq!(
        value(&hub, &format!("pilot_hub_summaries{{city=\"{XIANNING}\",kind=\"achievement\"}}")),
        Some(40.0),
        "{hub}"
    );
    assert!(value(&hub, &format!("pilot_hub_entries_applied_total{city}")).unwrap() >= 40.0);
    assert_eq!(value(&hub, &format!("pilot_hub_sync_lag{city}")), Some(0.0), "{hub}");
    assert_eq!(value(&hub, &format!("pilot_hub_digest_equal{city}")), Some(1.0), "{hub}");
    assert_eq!(
        value(&hub, "pilot_hub_requests_rejected_total{reason=\"wrong_role\"}"),
        Some(1.0),
        "{hub}"
    );
    assert!(
        value(&hub, "pilot_hub_match_latency_seconds_count{query=\"list_mine\"}").unwrap() >= 1.0,
        "{hub}"
    );
    for series in ["pilot_hub_last_contact_age_seconds", "pilot_hub_revoked_serials"] {
        assert!(hub.contains(&format!("# TYPE {series} gauge")), "{series} missing:\n{hub}");
    }

    let node = scrape(&cluster.nodes[0].http_addr()).await;
    assert_eq!(value(&node, "pilot_node_records{kind=\"achievement\"}"), Some(40.0), "{node}");
    assert!(value(&node, "pilot_node_summaries_sent_total").unwrap() >= 40.0, "{node}");
    assert_eq!(value(&node, "pilot_node_shared_summaries"), Some(40.0), "{node}");
    assert_eq!(value(&node, "pilot_node_rows_rejected_total"), Some(1.0), "{node}");
    assert_eq!(value(&node, "pilot_node_sync_lag"), Some(0.0), "{node}");
    assert_eq!(value(&node, "pilot_node_hub_connected"), Some(1.0), "{node}");
    assert!(
        value(&node, "pilot_node_push_ack_latency_seconds_count{stream=\"push\"}").unwrap() >= 1.0,
        "{node}"
    );
    for series in ["pilot_node_held_back", "pilot_node_tombstones_sent_total"] {
        assert!(node.contains(&format!("# TYPE {series} ")), "{series} missing:\n{node}");
    }
    // Metrics carry counts, never record content.
    let title = csl_achievements("a", 1)[0].clone();
    if let Some(pb::record_input::Body::Achievement(a)) = title.body {
        assert!(!node.contains(&a.title) && !hub.contains(&a.title));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sync_loses_nothing() {
    let pki = TestPki::new(&[XIANNING]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_addr = free_addr();
    let hub_dir = dir.path().join("hub");
    let mut hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();
    let node_dir = dir.path().join("node");
    let mut node = start_node(&pki, XIANNING, &hub_addr, &node_dir).unwrap();

    // The hub is stopped gracefully in the middle of a large sync ...
    let mut client = intake(&node.addr).await.unwrap();
    for chunk in csl_achievements("a", 4_000).chunks(1_000) {
        upsert_all(&mut client, chunk.to_vec()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mid = node_stats(&node.addr).await.unwrap();
    assert!(mid.acked_seq < mid.last_seq, "SIGTERM must land mid-sync: {mid:?}");
    assert!(hub.terminate(Duration::from_secs(15)), "the hub exits 0 after draining");
    hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();

    // ... and so is the node, while it is still catching up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(node.terminate(Duration::from_secs(15)), "the node exits 0 after draining");
    node = start_node(&pki, XIANNING, &hub_addr, &node_dir).unwrap();
    wait_converged(&pki, &hub_addr, std::slice::from_ref(&node.addr), Duration::from_secs(120))
        .await
        .unwrap();
    let stats = node_stats(&node.addr).await.unwrap();
    assert_eq!((stats.achievements, stats.shared_digest.unwrap().count), (4_000, 4_000));
    let status = pilot_e2e::hub_status(&pki, &hub_addr).await.unwrap();
    assert_eq!(status.cities[0].achievements, 4_000, "nothing lost at the hub");
    assert!(hub.is_alive());
}
