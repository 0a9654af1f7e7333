//! Privacy by construction, checked from the outside: records carrying planted names, phones,
//! emails, ID numbers, addresses and patent numbers are synced, and none of those strings
//! reaches the hub's data directory, the hub's log, or the plaintext on the wire (recorded by a
//! TLS-terminating proxy between the node and the hub).
//!
//! Each place searched also gets a positive control (a technical term that must be there), so
//! the test cannot pass by looking at the wrong bytes.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pilot_e2e::{
    RecordingProxy, TestPki, achievement, all_bytes_under, contains, eventually, start_hub,
    start_node, upsert_all,
};
use pilot_model::CityCode;
use pilot_pki::Identity;
use pilot_proto::pb;

const XIANNING: &str = "421200";
const QUANZHOU: &str = "350500";

/// A resident ID number with a valid GB 11643 check digit.
fn resident_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.chars().zip(W).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

#[tokio::test(flavor = "multi_thread")]
async fn planted_pii_never_reaches_the_hub_or_the_wire() {
    let pki = TestPki::new(&[XIANNING, QUANZHOU]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dir.path().join("hub")).unwrap();
    let proxy =
        RecordingProxy::start(&pki, &hub.addr, Identity::City(CityCode::parse(XIANNING).unwrap()))
            .await
            .unwrap();
    let xianning =
        start_node(&pki, XIANNING, &proxy.addr, &dir.path().join("node-xianning")).unwrap();
    let quanzhou =
        start_node(&pki, QUANZHOU, &hub.addr, &dir.path().join("node-quanzhou")).unwrap();

    let id_number = resident_id("42120219850312123");
    let canaries: Vec<String> = [
        "欧阳振华",
        "13971234567",
        "ouyang.zh@xingyuan-membrane.cn",
        "xingyuan-membrane",
        "湖北星源隔膜科技有限公司",
        "星源",
        "长江路88号",
        "司马相文",
        "上官婉清",
        "0715-8123456",
        "8123456",
        "sgwq@hbust-lab.cn",
        "湖北科技学院",
        "CN114081026",
        "诸葛明远",
        "18627001234",
        "zhuge.my@whu-expert.cn",
        "zhuge-lab",
        "123456789",
        &id_number,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let mut intake = pilot_e2e::intake(&xianning.addr).await.unwrap();
    upsert_all(
        &mut intake,
        vec![
            pb::RecordInput {
                external_id: "D-CANARY".into(),
                body: Some(pb::record_input::Body::Demand(pb::Demand {
                    enterprise_name: "湖北星源隔膜科技有限公司".into(),
                    credit_code: "91421200MA4F000000".into(),
                    contact_name: "欧阳振华".into(),
                    phone: "13971234567".into(),
                    email: "ouyang.zh@xingyuan-membrane.cn".into(),
                    address: "湖北省咸宁市咸安区长江路88号".into(),
                    title: "锂电池隔膜陶瓷涂覆工艺".into(),
                    description: "星源公司需要锂离子电池隔膜的勃姆石陶瓷涂覆工艺，提高隔膜热稳定性与电解液浸润性。\
                        联系人欧阳振华，手机13971234567，邮箱ouyang.zh@xingyuan-membrane.cn，地址湖北省咸宁市咸安区长江路88号。"
                        .into(),
                    fields: vec!["0805".into()],
                    budget_cny: Some(1_234_567),
                    ..Default::default()
                })),
                ..Default::default()
            },
            pb::RecordInput {
                external_id: "A-CANARY".into(),
                body: Some(pb::record_input::Body::Achievement(pb::Achievement {
                    institution: "湖北科技学院".into(),
                    team: vec!["司马相文".into(), "上官婉清".into()],
                    contact_name: "上官婉清".into(),
                    phone: "0715-8123456".into(),
                    email: "sgwq@hbust-lab.cn".into(),
                    title: "高孔隙率聚烯烃隔膜制备技术".into(),
                    r#abstract: "湖北科技学院司马相文团队研发的高孔隙率聚烯烃隔膜，采用湿法双向拉伸与陶瓷涂覆，\
                        专利号CN114081026A。详询上官婉清，电话0715-8123456，sgwq@hbust-lab.cn。"
                        .into(),
                    patent_numbers: vec!["CN114081026A".into()],
                    keywords: vec!["聚烯烃隔膜".into(), "湿法拉伸".into(), "陶瓷涂覆".into()],
                    fields: vec!["0805".into()],
                    trl: 6,
                    ..Default::default()
                })),
                ..Default::default()
            },
            pb::RecordInput {
                external_id: "E-CANARY".into(),
                body: Some(pb::record_input::Body::Expert(pb::Expert {
                    name: "诸葛明远".into(),
                    institution: "武汉大学".into(),
                    rank: "教授".into(),
                    phone: "18627001234".into(),
                    email: "zhuge.my@whu-expert.cn".into(),
                    id_number: id_number.clone(),
                    keywords: vec!["电池隔膜".into(), "界面改性".into()],
                    summary: format!(
                        "诸葛明远教授长期从事锂离子电池隔膜界面改性与陶瓷涂层研究。身份证{id_number}，\
                         QQ：123456789，主页https://zhuge-lab.example.org/team，手机18627001234。"
                    ),
                    ..Default::default()
                })),
                ..Default::default()
            },
        ],
    )
    .await
    .unwrap();
    let mut other = pilot_e2e::intake(&quanzhou.addr).await.unwrap();
    upsert_all(
        &mut other,
        vec![achievement(
            "A-9",
            "勃姆石陶瓷涂覆隔膜",
            "勃姆石陶瓷涂覆锂离子电池隔膜，热稳定性和电解液浸润性好。",
            &["隔膜", "勃姆石"],
            "0805",
        )],
    )
    .await
    .unwrap();

    // Every canary record is shared (none held back), so the check below is about real traffic.
    let national = pilot_e2e::hub_channel(&hub.addr, &pki.tls(Identity::National)).await.unwrap();
    eventually(Duration::from_secs(30), || {
        let ch = national.clone();
        async move {
            let s = pb::national_client::NationalClient::new(ch)
                .status(pb::StatusRequest {})
                .await?
                .into_inner();
            let count = |c: &str| {
                s.cities
                    .iter()
                    .find(|x| x.city == c)
                    .map_or(0, |x| x.demands + x.achievements + x.experts)
            };
            anyhow::ensure!(count(XIANNING) == 3 && count(QUANZHOU) == 1, "not synced yet: {s:?}");
            Ok(())
        }
    })
    .await
    .unwrap();
    // Matches flow back through the proxy too.
    // (The hub pushes a city's match list at most about once a second.)
    eventually(Duration::from_secs(10), || {
        let mut intake = intake.clone();
        async move {
            let mine = intake.matches(pb::NodeMatchesRequest::default()).await?.into_inner();
            anyhow::ensure!(!mine.records.is_empty(), "the canary demand has no matches yet");
            Ok(())
        }
    })
    .await
    .unwrap();

    // The wire: the plaintext between node and hub carries terms, and no canary.
    let wire = proxy.seen.lock().unwrap().clone();
    assert!(
        contains(&wire, "隔膜".as_bytes()),
        "positive control: the proxy sees summary terms in plaintext"
    );
    for c in &canaries {
        assert!(!contains(&wire, c.as_bytes()), "{c:?} crossed the wire");
    }
    // The hub's data directory (store files, config, log) and its log in particular.
    let files = all_bytes_under(&hub.data_dir);
    assert!(
        files.iter().any(|(_, b)| contains(b, "隔膜".as_bytes())),
        "positive control: the store holds summary terms"
    );
    for (path, bytes) in &files {
        for c in &canaries {
            assert!(!contains(bytes, c.as_bytes()), "{c:?} found in {}", path.display());
        }
    }
    let log = hub.log_text();
    assert!(log.contains("node resumed"), "positive control: the hub log is being written");
    for c in &canaries {
        assert!(!log.contains(c.as_str()), "{c:?} in the hub log");
    }
    // The node's own log stays clean too: it logs ids, never record content.
    let node_log = xianning.log_text();
    for c in &canaries {
        assert!(!node_log.contains(c.as_str()), "{c:?} in the node log");
    }
}
