//! Backups of a running node and hub, taken while records are being written, restore (verified)
//! to exactly the backed-up point, and the restored services start and converge.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failure")]

use std::process::Command;
use std::time::Duration;

use pilot_e2e::{
    Cluster, binaries, csl_achievements, hub_status, intake, node_stats, start_hub, start_node,
    upsert_all, wait_converged,
};
use pilot_store::Manifest;

const XIANNING: &str = "421200";

fn pilotctl(args: &[&str]) -> String {
    let out = Command::new(&binaries().pilotctl).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pilotctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn manifest(path: &std::path::Path) -> Manifest {
    pilot_store::read_manifest(&mut std::fs::File::open(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_taken_during_writes_restore_to_the_backed_up_point() {
    let cluster = Cluster::start(&[XIANNING]).unwrap();
    let node_addr = cluster.nodes[0].addr.clone();
    upsert_all(&mut intake(&node_addr).await.unwrap(), csl_achievements("a", 2_000)).await.unwrap();
    let before = node_stats(&node_addr).await.unwrap().achievements;

    // Writes keep coming while both backups are taken.
    let writer = {
        let addr = node_addr.clone();
        tokio::spawn(async move {
            let rows = csl_achievements("w", 1_500);
            let mut client = intake(&addr).await.unwrap();
            for chunk in rows.chunks(50) {
                upsert_all(&mut client, chunk.to_vec()).await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = cluster.dir.path();
    let node_file = dir.join("node.pbk");
    let hub_file = dir.join("hub.pbk");
    let out = pilotctl(&["backup", "--node", &node_addr, "--out", node_file.to_str().unwrap()]);
    assert!(out.contains("node store:"), "{out}");
    let pki = cluster.pki.path().to_str().unwrap().to_owned();
    let out = pilotctl(&[
        "backup",
        "--hub",
        &cluster.hub.addr,
        "--pki",
        &pki,
        "--out",
        hub_file.to_str().unwrap(),
    ]);
    assert!(out.contains("hub store:"), "{out}");
    writer.await.unwrap();
    let after = node_stats(&node_addr).await.unwrap().achievements;
    assert_eq!(after, 3_500);

    // The node's backup is a point between the two counts, and restores to exactly it.
    let Manifest::Node { records, .. } = manifest(&node_file) else { panic!("node") };
    assert!((before..=after).contains(&records[1]), "{records:?} not within {before}..={after}");
    let restored = dir.join("restored-node");
    let out = pilotctl(&[
        "restore",
        "--from",
        node_file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(out.contains("verified"), "{out}");
    // Restoring over an existing store is refused.
    let again = Command::new(&binaries().pilotctl)
        .args(["restore", "--from", node_file.to_str().unwrap(), "--data-dir"])
        .arg(&restored)
        .output()
        .unwrap();
    assert!(!again.status.success());

    // A damaged file is refused and leaves nothing behind.
    let mut bytes = std::fs::read(&node_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    let damaged = dir.join("damaged.pbk");
    std::fs::write(&damaged, bytes).unwrap();
    let bad = Command::new(&binaries().pilotctl)
        .args(["restore", "--from", damaged.to_str().unwrap(), "--data-dir"])
        .arg(dir.join("never"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!dir.join("never").join("store").exists());

    // The hub's backup restores too, and a hub started on it holds what the file says.
    let Manifest::Hub { cities } = manifest(&hub_file) else { panic!("hub") };
    assert_eq!(cities.len(), 1);
    let hub_dir = dir.join("restored-hub");
    pilotctl(&[
        "restore",
        "--from",
        hub_file.to_str().unwrap(),
        "--data-dir",
        hub_dir.to_str().unwrap(),
    ]);
    let hub2 = start_hub(&cluster.pki, &hub_dir).unwrap();
    let status = hub_status(&cluster.pki, &hub2.addr).await.unwrap();
    let d = status.cities[0].digest.unwrap();
    assert_eq!((d.count, d.hash), (cities[0].2.count, cities[0].2.hash));

    // The restored node starts with exactly the backed-up shared set, then converges with the
    // restored hub by itself.
    let node2 = start_node(&cluster.pki, XIANNING, &hub2.addr, &restored).unwrap();
    let stats = node_stats(&node2.addr).await.unwrap();
    assert_eq!(stats.achievements, records[1]);
    wait_converged(
        &cluster.pki,
        &hub2.addr,
        std::slice::from_ref(&node2.addr),
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    let stats = node_stats(&node2.addr).await.unwrap();
    assert_eq!(stats.shared_digest.unwrap().count, records[1]);
}
