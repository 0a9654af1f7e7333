//! Privacy at scale: more than 1,000 distinct planted identifiers of every kind the anonymizer
//! knows (names, mobiles and landlines, emails, resident ID and credit codes with valid
//! checksums, patent numbers, URLs, QQ and WeChat ids, street addresses, organisation names and
//! trade names), in the structured fields and inside the free text, in records of three cities.
//! After sync, none of them is in the hub's data directory, in the hub's debug-level log, or in
//! the plaintext of any node's sync stream (recorded by a TLS-terminating proxy per node).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::Duration;

use pilot_e2e::{
    RecordingProxy, TestPki, all_bytes_under, contains, eventually, start_hub_with, start_node,
    upsert_all,
};
use pilot_model::CityCode;
use pilot_pki::Identity;
use pilot_proto::pb;
use serde_json::Value;

const CITIES: [&str; 3] = ["421200", "350500", "440100"];
const PER_CITY: usize = 40;

const SURNAMES: [&str; 12] =
    ["欧阳", "司马", "诸葛", "上官", "王", "李", "张", "刘", "陈", "杨", "赵", "黄"];
const GIVEN: [&str; 16] = [
    "振", "华", "明", "远", "婉", "清", "相", "文", "建", "国", "秀", "英", "志", "强", "海", "燕",
];
const BRAND1: [&str; 8] = ["瑾", "琰", "琛", "璟", "珩", "瑜", "璞", "玮"];
const BRAND2: [&str; 8] = ["曦", "翊", "昶", "骁", "煜", "晟", "翀", "昊"];

fn resident_id(i: usize) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let (y, m, d) = (1960 + i % 40, 1 + i % 12, 1 + i % 28);
    let first17 = format!("421202{y:04}{m:02}{d:02}{:03}", 100 + i % 900);
    let sum: u32 = first17.chars().zip(W).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

fn credit_code(i: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let first17 = format!("91421200{:09}", 300_000_000 + i * 7);
    let sum: usize =
        first17.bytes().zip(W).map(|(c, w)| CHARS.iter().position(|x| *x == c).unwrap() * w).sum();
    format!("{first17}{}", CHARS[(31 - sum % 31) % 31] as char)
}

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 + 0xFEE0).unwrap() } else { c })
        .collect()
}

/// The identifiers planted in one record, and the record.
struct Planted {
    canaries: Vec<String>,
    record: pb::RecordInput,
}

fn plant(i: usize, city: &str, paper: &Value) -> Planted {
    let name = format!("{}{}{}", SURNAMES[i % 12], GIVEN[i % 16], GIVEN[(i / 16 + 3) % 16]);
    let name2 =
        format!("{}{}{}", SURNAMES[(i + 5) % 12], GIVEN[(i + 7) % 16], GIVEN[(i / 3 + 1) % 16]);
    let brand = format!("{}{}", BRAND1[i % 8], BRAND2[(i / 8) % 8]);
    let org = format!(
        "{}{brand}新材料科技有限公司",
        CityCode::parse(city).unwrap().pilot().unwrap().zh.trim_end_matches('市')
    );
    let mobile = format!("1{}{:09}", [3, 5, 7, 8, 9][i % 5], 100_000_000 + i * 7_919);
    let landline = format!("0{}-{}", ["27", "715", "592", "20"][i % 4], 8_100_000 + i * 37);
    let email = format!("canary.user{i}@leak{i}-corp.com.cn");
    let id = resident_id(i);
    let credit = credit_code(i);
    let patent = format!("CN1{:08}A", 10_000_000 + i * 11);
    let url = format!("https://canary{i}.example-lab.cn/team");
    let qq = format!("{}", 20_000_000 + i * 13);
    let wechat = format!("wxcanary_{i}x");
    let street = format!("银泉大道{}号", 100 + i);
    let address = format!("湖北省咸宁市咸安区{street}{}栋", 1 + i % 9);
    let title = paper["title"].as_str().unwrap().to_owned();
    let text = paper["abstract"].as_str().unwrap().to_owned();
    let keywords: Vec<String> = paper["keywords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    // Half the mobiles appear in the text in full-width digits, as pasted from a Word file.
    let mobile_in_text = if i.is_multiple_of(2) { fullwidth(&mobile) } else { mobile.clone() };
    let contact_text = format!(
        "联系人{name}（{brand}公司），手机{mobile_in_text}，座机{landline}，邮箱{email}，地址{address}，\
         统一社会信用代码{credit}，主页{url}，QQ：{qq}，微信：{wechat}。"
    );
    let body = match i % 3 {
        0 => pb::record_input::Body::Demand(pb::Demand {
            enterprise_name: org.clone(),
            credit_code: credit.clone(),
            contact_name: name.clone(),
            phone: mobile.clone(),
            email: email.clone(),
            address: address.clone(),
            title: format!("寻求{title}相关技术"),
            description: format!("{text}{contact_text}"),
            fields: vec![paper["discipline"].as_str().unwrap().into()],
            ..Default::default()
        }),
        1 => pb::record_input::Body::Achievement(pb::Achievement {
            institution: org.clone(),
            team: vec![name.clone(), name2.clone()],
            contact_name: name2.clone(),
            phone: landline.clone(),
            email: email.clone(),
            title,
            r#abstract: format!("{text}由{name}、{name2}团队研发，专利号{patent}。{contact_text}"),
            patent_numbers: vec![patent.clone()],
            keywords,
            fields: vec![paper["discipline"].as_str().unwrap().into()],
            trl: 6,
            ..Default::default()
        }),
        _ => pb::record_input::Body::Expert(pb::Expert {
            name: name.clone(),
            institution: org.clone(),
            rank: "研究员".into(),
            phone: mobile.clone(),
            email: email.clone(),
            id_number: id.clone(),
            keywords,
            summary: format!("{name}研究员从事{title}研究。{text}身份证号{id}。{contact_text}"),
            ..Default::default()
        }),
    };
    let canaries = vec![
        name,
        name2,
        org,
        brand,
        mobile.clone(),
        fullwidth(&mobile),
        landline,
        email,
        id,
        credit,
        patent,
        url,
        qq,
        wechat,
        street,
    ];
    Planted {
        canaries,
        record: pb::RecordInput {
            external_id: format!("CANARY-{city}-{i}"),
            body: Some(body),
            ..Default::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_canaries_never_reach_the_hub_its_debug_log_or_the_wire() {
    let papers = pilot_e2e::csl_complete_papers(CITIES.len() * PER_CITY);

    let pki = TestPki::new(&CITIES).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub_with(&pki, &dir.path().join("hub"), "[log]\nfilter = \"debug\"\n").unwrap();
    let mut proxies = Vec::new();
    let mut nodes = Vec::new();
    let mut canaries: Vec<String> = Vec::new();
    for (c, city) in CITIES.iter().enumerate() {
        let proxy =
            RecordingProxy::start(&pki, &hub.addr, Identity::City(CityCode::parse(city).unwrap()))
                .await
                .unwrap();
        let node =
            start_node(&pki, city, &proxy.addr, &dir.path().join(format!("node-{city}"))).unwrap();
        let planted: Vec<Planted> = (0..PER_CITY)
            .map(|j| plant(c * PER_CITY + j, city, &papers[c * PER_CITY + j]))
            .collect();
        let mut intake = pilot_e2e::intake(&node.addr).await.unwrap();
        upsert_all(&mut intake, planted.iter().map(|p| p.record.clone()).collect()).await.unwrap();
        canaries.extend(planted.into_iter().flat_map(|p| p.canaries));
        proxies.push(proxy);
        nodes.push(node);
    }
    canaries.sort();
    canaries.dedup();
    assert!(canaries.len() >= 1000, "{} distinct canaries", canaries.len());

    // Wait until every node has synced everything it shares; nearly all records must be shared,
    // or the test would prove nothing.
    let national = pilot_e2e::hub_channel(&hub.addr, &pki.tls(Identity::National)).await.unwrap();
    let mut shared = 0;
    for node in &nodes {
        let mut intake = pilot_e2e::intake(&node.addr).await.unwrap();
        let stats = eventually(Duration::from_secs(60), || {
            let mut i = intake.clone();
            async move {
                let s = i.stats(pb::StatsRequest {}).await?.into_inner();
                anyhow::ensure!(
                    s.hub_connected && s.acked_seq == s.last_seq && s.last_seq > 0,
                    "not synced: {s:?}"
                );
                Ok(s)
            }
        })
        .await
        .unwrap();
        shared += stats.demands + stats.achievements + stats.experts - stats.held_back;
        intake.matches(pb::NodeMatchesRequest::default()).await.unwrap();
    }
    let status = pb::national_client::NationalClient::new(national)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.total_summaries, shared, "{status:?}");
    assert!(shared as usize >= CITIES.len() * PER_CITY * 9 / 10, "only {shared} records shared");

    let wire: Vec<Vec<u8>> = proxies.iter().map(|p| p.seen.lock().unwrap().clone()).collect();
    let store = all_bytes_under(&hub.data_dir);
    let log = hub.log_text();
    // Positive controls: each stream carried summary terms; the store holds them; the log is at debug.
    let term = papers[0]["keywords"][0].as_str().unwrap();
    assert!(wire.iter().all(|w| w.len() > 10_000), "every node's sync stream was recorded");
    assert!(
        store
            .iter()
            .any(|(_, b)| contains(b, "summaries".as_bytes()) || contains(b, term.as_bytes())),
        "store has data"
    );
    assert!(log.contains("DEBUG"), "the hub logs at debug level");
    eprintln!(
        "canary_bulk: {} distinct canaries in {} records ({shared} shared); wire {} bytes; store {} files",
        canaries.len(),
        CITIES.len() * PER_CITY,
        wire.iter().map(Vec::len).sum::<usize>(),
        store.len()
    );
    let mut leaks = Vec::new();
    for c in &canaries {
        let b = c.as_bytes();
        if wire.iter().any(|w| contains(w, b)) {
            leaks.push(format!("{c} on the wire"));
        }
        if let Some((p, _)) = store.iter().find(|(_, bytes)| contains(bytes, b)) {
            leaks.push(format!("{c} in {}", p.display()));
        }
        if log.contains(c.as_str()) {
            leaks.push(format!("{c} in the hub log"));
        }
    }
    assert!(
        leaks.is_empty(),
        "{} of {} canaries leaked:\n{}",
        leaks.len(),
        canaries.len(),
        leaks.join("\n")
    );
}
