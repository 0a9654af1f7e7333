//! Sync under faults, over real processes and real mTLS sockets: a hub killed with SIGKILL again
//! and again mid-stream, a node killed mid-batch, a hub that is down while a city works, a
//! network partition, and a hub that lost its data directory. After each, the hub's per-city
//! digest must equal every node's shared digest: nothing lost, nothing duplicated.

#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "test code: a panic is a failure")]

use std::time::Duration;

use pilot_e2e::{
    BlackholeProxy, TestPki, csl_achievements, free_addr, hub_channel, hub_status, intake,
    node_stats, start_hub_on, start_node, upsert_all, wait_converged,
};
use pilot_pki::Identity;
use pilot_proto::pb;

const XIANNING: &str = "421200";
const QUANZHOU: &str = "350500";
const SUZHOU: &str = "320500";

/// Imports `rows` into a node in batches of 1,000.
async fn import(addr: &str, rows: Vec<pb::RecordInput>) {
    let mut client = intake(addr).await.unwrap();
    for chunk in rows.chunks(1000) {
        upsert_all(&mut client, chunk.to_vec()).await.unwrap();
    }
}

/// Every pseudonym that appears in any match list the hub serves, nationally.
async fn pseudonyms_in_matches(pki: &TestPki, hub: &str) -> std::collections::HashSet<String> {
    let ch = hub_channel(hub, &pki.tls(Identity::National)).await.unwrap();
    let mut client =
        pb::national_client::NationalClient::new(ch).max_decoding_message_size(256 << 20);
    let mut out = std::collections::HashSet::new();
    for kind in [pb::Kind::Demand, pb::Kind::Achievement, pb::Kind::Expert] {
        let mut token = String::new();
        loop {
            let page = client
                .list_matches(pb::ListMatchesRequest {
                    subject_kind: kind as i32,
                    per_subject: 100,
                    page_size: 500,
                    page_token: token.clone(),
                    include_same_city: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            for m in &page.matches {
                for s in [&m.subject, &m.counterpart].into_iter().flatten() {
                    out.insert(s.pseudonym.clone());
                }
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_killed_ten_times_while_three_nodes_stream_loses_and_duplicates_nothing() {
    let cities = [XIANNING, QUANZHOU, SUZHOU];
    let pki = TestPki::new(&cities).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_addr = free_addr();
    let hub_dir = dir.path().join("hub");
    let mut hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();
    let nodes: Vec<_> = cities
        .iter()
        .map(|c| start_node(&pki, c, &hub_addr, &dir.path().join(format!("node-{c}"))).unwrap())
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();

    // 20,000 records per node, written while the hub is killed and restarted.
    let imports: Vec<_> = addrs
        .iter()
        .zip(cities)
        .map(|(a, c)| tokio::spawn(import_owned(a.clone(), csl_achievements(c, 20_000))))
        .collect();
    for round in 0..10u64 {
        // Kill at a different point of the stream each time (deterministic spread, 0.4-2.2 s).
        tokio::time::sleep(Duration::from_millis(400 + (round * 737) % 1800)).await;
        hub.kill9();
        tokio::time::sleep(Duration::from_millis(100)).await;
        hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();
    }
    for i in imports {
        i.await.unwrap();
    }
    wait_converged(&pki, &hub_addr, &addrs, Duration::from_secs(300)).await.unwrap();

    // Nothing lost: every record of every city is shared (the CSL texts all pass the gate) and
    // the hub holds exactly that many; nothing duplicated: the digests (over pseudonym and
    // version) are equal.
    let status = hub_status(&pki, &hub_addr).await.unwrap();
    for addr in &addrs {
        let stats = node_stats(addr).await.unwrap();
        let city = status.cities.iter().find(|c| c.city == stats.city).unwrap();
        assert_eq!(stats.achievements, 20_000, "{}", stats.city);
        assert_eq!(city.achievements, stats.shared_digest.unwrap().count, "{}", stats.city);
        assert_eq!(city.digest, stats.shared_digest, "{}", stats.city);
        assert_eq!(city.lag, 0, "{}", stats.city);
    }
    assert_eq!(status.total_summaries, status.cities.iter().map(|c| c.achievements).sum::<u64>());
}

async fn import_owned(addr: String, rows: Vec<pb::RecordInput>) {
    import(&addr, rows).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_batch_resumes_and_the_hub_converges() {
    let pki = TestPki::new(&[XIANNING]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_addr = free_addr();
    let _hub = start_hub_on(&pki, &dir.path().join("hub"), &hub_addr, "").unwrap();
    let node_dir = dir.path().join("node");
    let mut node = start_node(&pki, XIANNING, &hub_addr, &node_dir).unwrap();
    import(&node.addr, csl_achievements("a", 5_000)).await;
    // Kill it while its outbox is streaming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = node_stats(&node.addr).await.unwrap();
    node.kill9();
    assert!(before.acked_seq < before.last_seq, "the kill must land mid-stream: {before:?}");
    let node = start_node(&pki, XIANNING, &hub_addr, &node_dir).unwrap();
    wait_converged(&pki, &hub_addr, std::slice::from_ref(&node.addr), Duration::from_secs(120))
        .await
        .unwrap();
    let stats = node_stats(&node.addr).await.unwrap();
    assert_eq!((stats.achievements, stats.shared_digest.unwrap().count), (5_000, 5_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_works_while_the_hub_is_down_and_withdrawals_reach_every_match_list() {
    let pki = TestPki::new(&[XIANNING, QUANZHOU]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_addr = free_addr();
    let hub_dir = dir.path().join("hub");
    let mut hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();
    // A counterpart city, so that Xianning's records have matches.
    let other = start_node(&pki, QUANZHOU, &hub_addr, &dir.path().join("qz")).unwrap();
    let node = start_node(&pki, XIANNING, &hub_addr, &dir.path().join("xn")).unwrap();
    let mut demands = csl_achievements("d", 300);
    for d in &mut demands {
        // The same texts as demands: they match Xianning's achievements.
        let Some(pb::record_input::Body::Achievement(a)) = d.body.take() else { unreachable!() };
        d.body = Some(pb::record_input::Body::Demand(pb::Demand {
            title: a.title,
            description: format!("{} {}", a.r#abstract, a.keywords.join(" ")),
            fields: a.fields,
            ..Default::default()
        }));
    }
    import(&other.addr, demands).await;
    wait_converged(&pki, &hub_addr, std::slice::from_ref(&other.addr), Duration::from_secs(60))
        .await
        .unwrap();
    hub.terminate(Duration::from_secs(10));

    // The hub is away: the city imports 10,000 records and withdraws 500; its node serves on.
    import(&node.addr, csl_achievements("a", 10_000)).await;
    let mut client = intake(&node.addr).await.unwrap();
    for i in 0..500 {
        let req = pb::GetRequest { external_id: format!("a-{i}"), ..Default::default() };
        client.withdraw(req).await.unwrap();
    }
    let found = client
        .search(pb::SearchRequest { query: "a".into(), ..Default::default() })
        .await
        .map(|r| r.into_inner());
    assert!(found.is_ok(), "local search works without the hub: {found:?}");
    let stats = node_stats(&node.addr).await.unwrap();
    assert!(!stats.hub_connected && stats.achievements == 10_000, "{stats:?}");

    // The hub returns; everything converges without anyone doing anything.
    let _hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();
    let addrs = vec![node.addr.clone(), other.addr.clone()];
    wait_converged(&pki, &hub_addr, &addrs, Duration::from_secs(180)).await.unwrap();
    let stats = node_stats(&node.addr).await.unwrap();
    assert_eq!(stats.shared_digest.unwrap().count, 9_500, "withdrawn records are not shared");

    // The withdrawn records are gone from the hub and from every match list.
    let mut withdrawn = std::collections::HashSet::new();
    let mut token = String::new();
    loop {
        let page = client
            .ledger(pb::LedgerRequest { limit: 1_000, page_token: token, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        for e in &page.entries {
            let n = e.external_id.strip_prefix("a-").and_then(|n| n.parse::<u32>().ok());
            if n.is_some_and(|n| n < 500) {
                withdrawn.insert(e.pseudonym.clone());
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(withdrawn.len(), 500, "the ledger names every withdrawn record");
    let in_matches = pseudonyms_in_matches(&pki, &hub_addr).await;
    assert!(!in_matches.is_empty(), "the cities' records do match each other");
    let leaked: Vec<_> = withdrawn.intersection(&in_matches).collect();
    assert!(leaked.is_empty(), "withdrawn records still in match lists: {leaked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_without_manual_action() {
    let pki = TestPki::new(&[XIANNING]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_addr = free_addr();
    let _hub = start_hub_on(&pki, &dir.path().join("hub"), &hub_addr, "").unwrap();
    let proxy = BlackholeProxy::start(&hub_addr).await.unwrap();
    let node = start_node(&pki, XIANNING, &proxy.addr, &dir.path().join("node")).unwrap();
    import(&node.addr, csl_achievements("a", 500)).await;
    wait_converged(&pki, &hub_addr, std::slice::from_ref(&node.addr), Duration::from_secs(60))
        .await
        .unwrap();

    // Partition: packets vanish, no connection is reset.
    proxy.set_blackhole(true);
    import(&node.addr, csl_achievements("b", 1_000)).await;
    // Keepalive notices the dead link within about ten seconds.
    let started = std::time::Instant::now();
    while node_stats(&node.addr).await.unwrap().hub_connected {
        assert!(started.elapsed() < Duration::from_secs(20), "the dead link went unnoticed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("dead link noticed after {:?}", started.elapsed());
    let hub_view = hub_status(&pki, &hub_addr).await.unwrap();
    assert!(hub_view.cities[0].achievements < 1_500, "nothing crossed the partition");

    proxy.set_blackhole(false);
    wait_converged(&pki, &hub_addr, std::slice::from_ref(&node.addr), Duration::from_secs(90))
        .await
        .unwrap();
    let status = hub_status(&pki, &hub_addr).await.unwrap();
    assert_eq!(status.cities[0].achievements, 1_500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_lost_its_data_directory_is_rebuilt_by_the_nodes() {
    let cities = [XIANNING, QUANZHOU];
    let pki = TestPki::new(&cities).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_addr = free_addr();
    let hub_dir = dir.path().join("hub");
    let mut hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();
    let nodes: Vec<_> = cities
        .iter()
        .map(|c| start_node(&pki, c, &hub_addr, &dir.path().join(format!("node-{c}"))).unwrap())
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    for (a, c) in addrs.iter().zip(cities) {
        import(a, csl_achievements(c, 2_000)).await;
    }
    wait_converged(&pki, &hub_addr, &addrs, Duration::from_secs(120)).await.unwrap();
    let before = hub_status(&pki, &hub_addr).await.unwrap();

    // The data directory is deleted under the running hub, which then dies.
    std::fs::remove_dir_all(&hub_dir).unwrap();
    hub.kill9();
    let _hub = start_hub_on(&pki, &hub_dir, &hub_addr, "").unwrap();
    wait_converged(&pki, &hub_addr, &addrs, Duration::from_secs(120)).await.unwrap();
    let after = hub_status(&pki, &hub_addr).await.unwrap();
    for (b, a) in before.cities.iter().zip(&after.cities) {
        assert_eq!((&b.city, b.achievements), (&a.city, a.achievements));
        assert_eq!(b.digest.unwrap().count, a.digest.unwrap().count);
    }
    assert_eq!(before.total_summaries, after.total_summaries);
}
