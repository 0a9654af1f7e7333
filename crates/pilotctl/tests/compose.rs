//! The committed `deploy/docker-compose.yml` is exactly what `pilotctl compose` makes of the
//! committed `deploy/cities.txt`, so the file in the repository never drifts from the generator.
//!
//! On failure, regenerate with:
//! `cargo run -p pilotctl -- compose --cities deploy/cities.txt --out deploy/docker-compose.yml`

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pilotctl(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pilotctl")).args(args).output().unwrap()
}

#[test]
fn the_committed_compose_file_is_current() {
    let root = workspace();
    let cities = root.join("deploy/cities.txt");
    let committed = std::fs::read_to_string(root.join("deploy/docker-compose.yml")).unwrap();
    let out = pilotctl(&["compose".as_ref(), "--cities".as_ref(), cities.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(
        generated == committed,
        "deploy/docker-compose.yml is not current; run \
         `cargo run -p pilotctl -- compose --cities deploy/cities.txt --out deploy/docker-compose.yml`"
    );
    // The 22 pilot cities, each with its service.
    for city in pilot_model::PILOT_CITIES {
        assert!(committed.contains(&format!("\n  node-{}:\n", city.code)), "{}", city.en);
    }
}

#[test]
fn out_writes_the_file_and_check_compares_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cities = tmp.path().join("cities.txt");
    let out = tmp.path().join("compose.yml");
    std::fs::write(&cities, "421200 # Xianning\n350500\n").unwrap();
    let args = |check: bool| {
        let mut a: Vec<&std::ffi::OsStr> = vec![
            "compose".as_ref(),
            "--cities".as_ref(),
            cities.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        if check {
            a.push("--check".as_ref());
        }
        a
    };

    let written = pilotctl(&args(false));
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    assert!(std::fs::read_to_string(&out).unwrap().contains("  node-350500:\n"));
    assert!(pilotctl(&args(true)).status.success());

    // One more line in the list: the file is stale until regenerated.
    std::fs::write(&cities, "421200 # Xianning\n350500\n420600\n").unwrap();
    let stale = pilotctl(&args(true));
    assert!(!stale.status.success());
    let msg = String::from_utf8_lossy(&stale.stderr);
    assert!(msg.contains("is not current"), "{msg}");
    assert!(pilotctl(&args(false)).status.success());
    assert!(std::fs::read_to_string(&out).unwrap().contains("  node-420600:\n"));
    assert!(pilotctl(&args(true)).status.success());
}

#[test]
fn a_bad_cities_list_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cities = tmp.path().join("cities.txt");
    std::fs::write(&cities, "421200\n42120\n").unwrap();
    let out = pilotctl(&["compose".as_ref(), "--cities".as_ref(), cities.as_os_str()]);
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("line 2") && msg.contains("cities.txt"), "{msg}");
}
