//! Bulk import, as a science association would do it: an Excel workbook built from real CSL
//! papers, with planted bad rows, imported into a real node. Every good row is created, exactly
//! the bad rows are rejected with their row and field named, and importing the same file again
//! (this time through the HTTP upload endpoint) reports every good row unchanged.

#![allow(clippy::unwrap_used)]

use pilot_e2e::{TestPki, binaries, http, start_hub, start_node};
use pilot_proto::pb;
use serde_json::Value;

const XIANNING: &str = "421200";

fn csl_achievements(n: usize) -> Vec<pb::StoredRecord> {
    pilot_e2e::csl_complete_papers(n)
        .into_iter()
        .enumerate()
        .map(|(i, p)| pb::StoredRecord {
            external_id: format!("CSL-{}", p["id"].as_str().unwrap()),
            body: Some(pb::stored_record::Body::Achievement(pb::Achievement {
                institution: format!("示范大学第{}实验室", i % 7 + 1),
                contact_name: "王建国".into(),
                phone: format!("139{:08}", 71_000_000 + i),
                title: p["title"].as_str().unwrap().into(),
                r#abstract: p["abstract"].as_str().unwrap().into(),
                keywords: p["keywords"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap().to_owned())
                    .collect(),
                fields: vec![p["discipline"].as_str().unwrap().into()],
                industries: vec!["73".into()],
                trl: u32::try_from(i % 9 + 1).unwrap(),
                cooperation_modes: vec!["许可".into(), "转让".into()],
                ..Default::default()
            })),
            ..Default::default()
        })
        .collect()
}

fn body(r: &mut pb::StoredRecord) -> &mut pb::Achievement {
    match r.body.as_mut().unwrap() {
        pb::stored_record::Body::Achievement(a) => a,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_xlsx_with_bad_rows_imports_the_good_ones_and_reimports_as_unchanged() {
    let pki = TestPki::new(&[XIANNING]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dir.path().join("hub")).unwrap();
    let node = start_node(&pki, XIANNING, &hub.addr, &dir.path().join("node")).unwrap();

    // 300 real papers; four planted bad rows among them. Spreadsheet row = index + 2.
    let mut records = csl_achievements(300);
    body(&mut records[10]).title = String::new(); // missing title
    body(&mut records[50]).trl = 12; // bad TRL
    body(&mut records[120]).industries = vec!["99".into()]; // unknown industry code
    body(&mut records[250]).phone = "139-abc".into(); // malformed phone
    let expected: Vec<(u32, &str)> =
        vec![(12, "title"), (52, "trl"), (122, "industries"), (252, "phone")];
    let file = dir.path().join("2026年科技成果清单.xlsx");
    pilot_sheets::write(&file, pilot_model::Kind::Achievement, &records, true).unwrap();

    let out = std::process::Command::new(&binaries().pilotctl)
        .args(["import", "--node", &node.addr, "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["kind"], "achievement", "the kind comes from the Chinese file name");
    assert_eq!(
        (report["created"].as_u64(), report["rejected"].as_u64()),
        (Some(296), Some(4)),
        "{report}"
    );
    let rejected: Vec<(u32, String)> = report["rejected_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap() as u32,
                r["errors"][0]["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(rejected, expected.iter().map(|(r, f)| (*r, f.to_string())).collect::<Vec<_>>());
    for r in report["rejected_rows"].as_array().unwrap() {
        let e = &r["errors"][0];
        assert!(
            !e["message"].as_str().unwrap().is_empty()
                && !e["message_zh"].as_str().unwrap().is_empty(),
            "{r}"
        );
    }

    // The same file again, uploaded over HTTP: nothing new, nothing lost, the same rejections.
    let bytes = std::fs::read(&file).unwrap();
    let (status, reply) =
        http(&node.http_addr(), "POST", "/api/v1/import?kind=achievement&format=xlsx", &[], &bytes)
            .await
            .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let again: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(
        (
            again["created"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64(),
            again["rejected"].as_u64()
        ),
        (Some(0), Some(0), Some(296), Some(4)),
        "{again}"
    );
    let rows: Vec<u64> = again["rejected_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [12, 52, 122, 252]);

    // Exported and imported again, the bank round-trips unchanged.
    let export = dir.path().join("export-achievements.csv");
    let out = std::process::Command::new(&binaries().pilotctl)
        .args(["export", "--node", &node.addr])
        .arg(&export)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(&binaries().pilotctl)
        .args(["import", "--node", &node.addr, "--json"])
        .arg(&export)
        .output()
        .unwrap();
    let back: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (back["unchanged"].as_u64(), back["rejected"].as_u64()),
        (Some(296), Some(0)),
        "{back}"
    );

    // A fixed row imports as an update of the right record on the next run.
    body(&mut records[10]).title = "修复后的成果名称".into();
    let fixed = dir.path().join("achievements-fixed.jsonl");
    pilot_sheets::write(&fixed, pilot_model::Kind::Achievement, &records[10..11], false).unwrap();
    let mut intake = pilot_e2e::intake(&node.addr).await.unwrap();
    let out = std::process::Command::new(&binaries().pilotctl)
        .args(["import", "--node", &node.addr, "--json"])
        .arg(&fixed)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["created"].as_u64(), Some(1), "the once-rejected row is created now: {r}");
    let stats = intake.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.achievements, 297);
}
