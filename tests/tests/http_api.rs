//! The node's HTTP/JSON API as the web console and scripts use it: create and update records
//! as JSON, search them, preview what they share, fix and release a held-back record, read the
//! sharing ledger, download an export, and require the bearer token when one is configured.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pilot_e2e::{TestPki, eventually, http, start_hub, start_node};
use serde_json::{Value, json};

const XIANNING: &str = "421200";

async fn call(addr: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
    let headers: &[(&str, &str)] =
        if bytes.is_empty() { &[] } else { &[("Content-Type", "application/json")] };
    let (status, reply) = http(addr, method, path, headers, &bytes).await.unwrap();
    (
        status,
        serde_json::from_slice(&reply)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&reply) })),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_api_serves_the_city_console() {
    let pki = TestPki::new(&[XIANNING]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dir.path().join("hub")).unwrap();
    let node = start_node(&pki, XIANNING, &hub.addr, &dir.path().join("node")).unwrap();
    let api = node.http_addr();

    // Create a demand with Chinese field names' English keys, as a JSONL line would have them.
    let demand = json!({
        "external_id": "D-100", "enterprise_name": "咸宁瑾曦新材料科技有限公司", "contact_name": "欧阳振华",
        "phone": "13971234567", "title": "锂电池隔膜陶瓷涂覆工艺",
        "description": "需要勃姆石陶瓷涂覆的锂离子电池隔膜，提高热稳定性与电解液浸润性。",
        "field": ["材料科学与工程"], "industry": "C38", "budget_cny": "120万", "cooperation_modes": ["许可", "转让"],
        "deadline": "2027-06-30"
    });
    let (status, row) =
        call(&api, "POST", "/api/v1/records?kind=demand", Some(demand.clone())).await;
    assert_eq!(status, 201, "{row}");
    let id = row["local_id"].as_str().unwrap().to_owned();
    let (status, again) = call(&api, "POST", "/api/v1/records?kind=demand", Some(demand)).await;
    assert_eq!(
        (status, again["outcome"].as_str()),
        (200, Some("unchanged")),
        "same external id, same content"
    );

    // A bad record is refused with every problem named, in both languages.
    let (status, bad) = call(
        &api,
        "POST",
        "/api/v1/records?kind=achievement",
        Some(json!({ "title": "x", "abstract": "y", "trl": 12, "phone": "abc" })),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    let fields: Vec<&str> =
        bad["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"trl") || fields.contains(&"phone"), "{bad}");
    assert!(bad["errors"][0]["message_zh"].as_str().unwrap().contains("「"), "{bad}");

    // Read it back; amounts and codes are normalised.
    let (status, got) = call(&api, "GET", &format!("/api/v1/records/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (got["budget_cny"].as_u64(), got["industry"].as_str(), got["kind"].as_str()),
        (Some(1_200_000), Some("38"), Some("demand")),
        "{got}"
    );

    // Local search finds it by Chinese words, with names included (it is the city's own data).
    let (_, found) =
        call(&api, "GET", "/api/v1/search?q=%E9%9A%94%E8%86%9C%20%E6%AC%A7%E9%98%B3", None).await; // "隔膜 欧阳"
    assert_eq!(found["records"].as_array().unwrap().len(), 1, "{found}");
    let (_, none) = call(&api, "GET", "/api/v1/search?q=%E5%8C%BA%E5%9D%97%E9%93%BE", None).await; // "区块链"
    assert!(none["records"].as_array().unwrap().is_empty());

    // The preview is exactly what leaves: codes and terms, no names or numbers.
    let (_, preview) = call(&api, "GET", &format!("/api/v1/records/{id}/preview"), None).await;
    assert_eq!(preview["shared"], true, "{preview}");
    let text = preview["summary"].to_string();
    assert!(
        text.contains("隔膜")
            && !text.contains("欧阳振华")
            && !text.contains("13971234567")
            && !text.contains("瑾曦"),
        "{text}"
    );

    // A record too thin to share is held back with its reason; fixed and released, it is shared.
    let (_, thin) = call(
        &api,
        "POST",
        "/api/v1/records?kind=demand",
        Some(json!({ "external_id": "D-THIN", "title": "求助", "description": "请联系我们" })),
    )
    .await;
    let thin_id = thin["local_id"].as_str().unwrap().to_owned();
    let held = eventually(Duration::from_secs(30), || {
        let api = api.clone();
        async move {
            let (_, held) = call(&api, "GET", "/api/v1/held", None).await;
            anyhow::ensure!(held["records"].as_array().unwrap().len() == 1, "{held}");
            Ok(held)
        }
    })
    .await
    .unwrap();
    assert_eq!(held["records"][0]["reason_code"], "too_few_terms", "{held}");
    let (_, still) = call(&api, "POST", &format!("/api/v1/records/{thin_id}/release"), None).await;
    assert_eq!(still["shared"], false, "no override: still held until fixed");
    let (status, _) = call(
        &api,
        "PUT",
        &format!("/api/v1/records/{thin_id}"),
        Some(json!({ "title": "工业机器人视觉定位", "description": "需要基于深度学习的工业机器人视觉定位与抓取算法，提高装配精度。" })),
    )
    .await;
    assert_eq!(status, 200);
    let (_, released) =
        call(&api, "POST", &format!("/api/v1/records/{thin_id}/release"), None).await;
    assert_eq!(released["shared"], true, "{released}");
    eventually(Duration::from_secs(30), || {
        let api = api.clone();
        async move {
            let (_, held) = call(&api, "GET", "/api/v1/held", None).await;
            anyhow::ensure!(held["records"].as_array().unwrap().is_empty(), "{held}");
            Ok(())
        }
    })
    .await
    .unwrap();

    // The sharing ledger records what was sent for the record, newest first, and the hub acks it.
    let ledger = eventually(Duration::from_secs(30), || {
        let (api, thin_id) = (api.clone(), thin_id.clone());
        async move {
            let (_, l) =
                call(&api, "GET", &format!("/api/v1/ledger?local_id={thin_id}"), None).await;
            let e = l["entries"].as_array().unwrap().clone();
            anyhow::ensure!(
                e.len() >= 2 && e[0]["acknowledged"] == true && e[0]["summary"].is_object(),
                "{l}"
            );
            Ok(e)
        }
    })
    .await
    .unwrap();
    assert_eq!(
        ledger.last().unwrap()["tombstone_reason"],
        "too_few_terms",
        "the first send was a tombstone"
    );
    assert_eq!(ledger[0]["external_id"], "D-THIN");

    // Withdraw, then export the bank as CSV: both records, the withdrawn one marked so.
    let (_, w) = call(&api, "POST", &format!("/api/v1/records/{id}/withdraw"), None).await;
    assert_eq!(w["status"], "withdrawn", "{w}");
    let (status, csv) =
        http(&api, "GET", "/api/v1/export?kind=demand&format=csv", &[], b"").await.unwrap();
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("D-100") && csv.contains("D-THIN") && csv.contains("withdrawn"), "{csv}");

    // Unknown record, bad query: clear errors, and the server carries on.
    let (status, e) = call(&api, "GET", "/api/v1/records/dem-999999", None).await;
    assert_eq!(status, 404, "{e}");
    let (status, e) = call(&api, "GET", "/api/v1/records?kind=supply", None).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("kind")), "{e}");
    let (status, _) = http(
        &api,
        "POST",
        "/api/v1/records?kind=demand",
        &[("Content-Type", "application/json")],
        b"{not json",
    )
    .await
    .unwrap();
    assert_eq!(status / 100, 4);
    let (status, _) = call(&api, "GET", "/api/v1/stats", None).await;
    assert_eq!(status, 200);

    // Pseudonyms are stable across a restart: the node secret is generated once and kept.
    let before = got["pseudonym"].as_str().unwrap().to_owned();
    let mut node = node;
    assert!(node.terminate(Duration::from_secs(10)), "the node stops cleanly");
    let node = start_node(&pki, XIANNING, &hub.addr, &dir.path().join("node")).unwrap();
    let (_, after) = call(&node.http_addr(), "GET", &format!("/api/v1/records/{id}"), None).await;
    assert_eq!(after["pseudonym"].as_str(), Some(before.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_token_is_required_on_both_apis() {
    let pki = TestPki::new(&[XIANNING]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dir.path().join("hub")).unwrap();
    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    std::fs::write(node_dir.join("token"), "s3cret-token\n").unwrap();
    // The harness config plus a token file.
    let node = pilot_e2e::start_node_with(
        &pki,
        XIANNING,
        &hub.addr,
        &node_dir,
        &format!("api_token_file = {:?}\n", node_dir.join("token")),
    )
    .unwrap();
    let api = node.http_addr();
    let (status, _) = http(&api, "GET", "/api/v1/stats", &[], b"").await.unwrap();
    assert_eq!(status, 401);
    let (status, _) = http(&api, "GET", "/api/v1/stats", &[("Authorization", "Bearer wrong")], b"")
        .await
        .unwrap();
    assert_eq!(status, 401);
    let (status, _) =
        http(&api, "GET", "/api/v1/stats", &[("Authorization", "Bearer s3cret-token")], b"")
            .await
            .unwrap();
    assert_eq!(status, 200);
    let mut intake = pilot_e2e::intake(&node.addr).await.unwrap();
    let err = intake.stats(pilot_proto::pb::StatsRequest {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}
