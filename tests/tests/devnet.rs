//! The one-command federation: `pilotctl devnet` brings up the hub and all 22 pilot cities with
//! demo records from `../shared/data`; `pilotctl status` then lists all 22 with records,
//! `pilotctl matches` lists cross-region matches, and Ctrl-C stops every child cleanly.
//!
//! The brief's target is 22 cities visible within 60 s; this test waits longer so that a slow
//! CI machine does not turn a performance figure into a flaky failure, and prints the time.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pilot_e2e::{binaries, eventually};
use serde_json::Value;

fn pilotctl(args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(&binaries().pilotctl).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "pilotctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn devnet_runs_22_cities_with_cross_region_matches_and_stops_cleanly() {
    let bins = binaries();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    let started = Instant::now();
    let mut devnet = Command::new(&bins.pilotctl)
        .args(["devnet", "--hub-port", "0", "--node-port-base", "0", "--data-dir"])
        .arg(&data)
        .arg("--bin-dir")
        .arg(bins.hub.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // One line per process: the hub first, then each node's city code and address.
    let stdout = std::io::BufReader::new(devnet.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while lines.iter().filter(|l: &&String| l.starts_with("node ")).count() < 22 {
        lines.push(rx.recv_timeout(Duration::from_secs(120)).expect("devnet prints every process"));
    }
    let hub = lines[0].strip_prefix("hub").expect("the hub's line comes first").trim().to_owned();
    let https = lines.iter().find(|l| l.starts_with("https ")).expect("the national API's line");
    assert!(https.contains("127.0.0.1:"), "{https}");
    let cities: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("node "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(cities.len(), 22);
    for code in ["421200", "350500", "440100"] {
        assert!(cities.contains(&code), "{code} runs");
    }

    let pki = data.join("pki");
    let pki = pki.to_str().unwrap();
    let status = eventually(Duration::from_secs(180), || async {
        let s = pilotctl(&["status", "--hub", &hub, "--pki", pki, "--json"])?;
        let with_records = s["cities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["records"].as_u64() > Some(0))
            .count();
        anyhow::ensure!(with_records == 22, "{with_records} of 22 cities have records");
        Ok(s)
    })
    .await
    .unwrap();
    eprintln!("devnet: 22 cities with records {:.1}s after start", started.elapsed().as_secs_f64());
    assert!(status["total_summaries"].as_u64().unwrap() > 22 * 100);

    let matches =
        pilotctl(&["matches", "--hub", &hub, "--pki", pki, "--json", "--limit", "200"]).unwrap();
    let matches = matches.as_array().unwrap();
    assert!(matches.len() >= 100, "{} matches", matches.len());
    assert!(
        matches.iter().all(|m| m["subject"]["city"] != m["counterpart"]["city"]),
        "matches are cross-region"
    );
    let demand_cities: std::collections::BTreeSet<_> =
        matches.iter().map(|m| m["subject"]["city"].as_str().unwrap()).collect();
    assert!(demand_cities.len() >= 10, "matches come from many cities: {demand_cities:?}");

    // Ctrl-C: devnet stops every child cleanly (each drains, flushes and logs its stop).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(devnet.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let exit = (0..600).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        devnet.try_wait().unwrap()
    });
    assert!(exit.is_some_and(|s| s.success()), "devnet exits 0 after Ctrl-C: {exit:?}");
    let logs = data.join("logs");
    let hub_log = std::fs::read_to_string(logs.join("hub.log")).unwrap();
    assert!(hub_log.contains("hub stopped"), "the hub stopped cleanly");
    for code in &cities {
        let log = std::fs::read_to_string(logs.join(format!("node-{code}.log"))).unwrap();
        assert!(log.contains("node stopped"), "node {code} stopped cleanly");
    }
}
