//! A record entered at one city becomes a match at the hub against another city's record, and
//! both the national centre and the demand's own node can see it; the hub keeps it across a
//! restart. Drives the real binaries over real mTLS sockets.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pilot_e2e::{Cluster, achievement, demand, eventually, start_hub, upsert_all};
use pilot_pki::Identity;
use pilot_proto::pb;
use serde_json::Value;

const XIANNING: &str = "421200";
const QUANZHOU: &str = "350500";
const GUANGZHOU: &str = "440100";

async fn national_matches(cluster: &Cluster) -> anyhow::Result<Vec<pb::Match>> {
    let ch = cluster.hub_as(Identity::National).await?;
    let reply = pb::national_client::NationalClient::new(ch)
        .list_matches(pb::ListMatchesRequest { per_subject: 10, ..Default::default() })
        .await?
        .into_inner();
    Ok(reply.matches)
}

fn is_pair(m: &pb::Match, subject_city: &str, counterpart_city: &str) -> bool {
    m.subject.as_ref().is_some_and(|k| k.city == subject_city)
        && m.counterpart.as_ref().is_some_and(|k| k.city == counterpart_city)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_demand_in_one_city_matches_an_achievement_in_another() {
    let mut cluster = Cluster::start(&[XIANNING, QUANZHOU, GUANGZHOU]).unwrap();

    let mut xianning = cluster.intake(0).await.unwrap();
    let created = upsert_all(
        &mut xianning,
        vec![
            demand(
                "D-17",
                "锂电池隔膜涂覆技术",
                "我公司生产锂离子电池隔膜，需要勃姆石陶瓷涂覆工艺，提高隔膜热稳定性和电解液浸润性。",
                "0805",
            ),
            // An equally good answer in the demand's own city must not be offered by default.
            achievement("A-LOCAL", "勃姆石涂覆锂电池隔膜", "勃姆石陶瓷涂覆的锂离子电池隔膜，热稳定性好，电解液浸润性高。", &["隔膜", "勃姆石"], "0805"),
        ],
    )
    .await
    .unwrap();
    let demand_id = created.rows[0].local_id.clone();

    let mut quanzhou = cluster.intake(1).await.unwrap();
    upsert_all(
        &mut quanzhou,
        vec![achievement(
            "A-9",
            "陶瓷涂覆锂离子电池隔膜",
            "采用勃姆石陶瓷浆料涂覆聚乙烯隔膜，显著提高锂离子电池隔膜的热稳定性和电解液浸润性。",
            &["锂离子电池", "隔膜", "勃姆石", "涂覆"],
            "0805",
        )],
    )
    .await
    .unwrap();
    let mut guangzhou = cluster.intake(2).await.unwrap();
    upsert_all(
        &mut guangzhou,
        vec![achievement(
            "A-1",
            "城市轨道交通客流预测",
            "基于深度学习的地铁客流短时预测方法，支持运营调度。",
            &["客流预测", "深度学习"],
            "0823",
        )],
    )
    .await
    .unwrap();

    // A record the privacy gate refuses (too little technical text to be useful) stays home,
    // and its node says so.
    upsert_all(&mut guangzhou, vec![demand("D-THIN", "求助", "请联系我们", "0823")]).await.unwrap();
    eventually(Duration::from_secs(30), || {
        let mut g = guangzhou.clone();
        async move {
            let stats = g.stats(pb::StatsRequest {}).await?.into_inner();
            anyhow::ensure!(stats.held_back == 1 && stats.acked_seq == stats.last_seq, "{stats:?}");
            Ok(())
        }
    })
    .await
    .unwrap();

    // The national centre sees the cross-region match, with the shared terms as its reason.
    let found = eventually(Duration::from_secs(30), || async {
        let ms = national_matches(&cluster).await?;
        ms.into_iter()
            .find(|m| is_pair(m, XIANNING, QUANZHOU))
            .ok_or_else(|| anyhow::anyhow!("no Xianning→Quanzhou match yet"))
    })
    .await
    .unwrap();
    assert_eq!(found.counterpart_kind, pb::Kind::Achievement as i32);
    let why = found.explanation.clone().unwrap();
    assert!(why.shared_terms.iter().any(|t| t.contains("隔膜")), "{:?}", why.shared_terms);
    assert_eq!(why.shared_fields, vec!["0805"]);
    let all = national_matches(&cluster).await.unwrap();
    assert!(
        !all.iter().any(|m| is_pair(m, XIANNING, XIANNING)),
        "same-city answers are off by default"
    );
    assert!(
        !all.iter().any(|m| is_pair(m, XIANNING, GUANGZHOU)),
        "an unrelated field and text is no match"
    );

    // The demand's node joins the match with its own record.
    // (The hub pushes the city's list to its node at most about once a second.)
    let mine = eventually(Duration::from_secs(10), || {
        let (mut xianning, demand_id) = (xianning.clone(), demand_id.clone());
        async move {
            let mine =
                xianning.matches(pb::NodeMatchesRequest::default()).await?.into_inner().records;
            anyhow::ensure!(
                mine.iter().any(|r| r.local_id == demand_id),
                "the demand has no matches at its node yet"
            );
            Ok(mine)
        }
    })
    .await
    .unwrap();
    let record = mine.iter().find(|r| r.local_id == demand_id).unwrap();
    assert_eq!(record.external_id, "D-17");
    assert_eq!(record.title, "锂电池隔膜涂覆技术");
    assert!(record.matches.iter().any(|m| m.counterpart.as_ref().unwrap().city == QUANZHOU));

    // The command line shows the same, for people and for scripts.
    let bins = pilot_e2e::binaries();
    let out = std::process::Command::new(&bins.pilotctl)
        .args(["matches", "--hub", &cluster.hub.addr, "--pki"])
        .arg(cluster.pki.path())
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json.iter()
            .any(|m| m["subject"]["city"] == XIANNING && m["counterpart"]["city"] == QUANZHOU),
        "{json:?}"
    );
    let out = std::process::Command::new(&bins.pilotctl)
        .args(["status", "--hub", &cluster.hub.addr, "--pki"])
        .arg(cluster.pki.path())
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let guangzhou_row = table.lines().find(|l| l.starts_with(GUANGZHOU)).unwrap();
    assert_eq!(
        guangzhou_row.split_whitespace().nth(2),
        Some("0"),
        "the held-back demand is not at the hub: {table}"
    );
    assert!(
        table.contains("Xianning") && table.contains("Quanzhou") && table.contains("3 cities"),
        "{table}"
    );
    let out = std::process::Command::new(&bins.pilotctl)
        .args(["matches", "--node", &cluster.nodes[0].addr])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&demand_id) && text.contains("D-17") && text.contains("350500 Quanzhou"),
        "{text}"
    );

    // A graceful restart keeps everything: the index is rebuilt from the store.
    assert!(
        cluster.hub.terminate(Duration::from_secs(10)),
        "hub exits cleanly on SIGTERM:\n{}",
        cluster.hub.log_text()
    );
    let hub_dir = cluster.hub.data_dir.clone();
    cluster.hub = start_hub(&cluster.pki, &hub_dir).unwrap();
    let ms = national_matches(&cluster).await.unwrap();
    assert!(ms.iter().any(|m| is_pair(m, XIANNING, QUANZHOU)), "the match survives a restart");
}
