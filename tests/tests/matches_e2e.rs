//! Matches across real processes: the hub pushes a city's matches to its node
//! (`Matches.Subscribe`), the node joins them with its records and serves them; a withdrawn
//! counterpart disappears from the list; and no city ever sees another city's records as its
//! own. Also the national statistics: every count below 5 is "<5".

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failure")]

use std::collections::HashSet;
use std::time::Duration;

use pilot_e2e::{
    Cluster, csl_achievements, eventually, http, node_stats, upsert_all, wait_converged,
};
use pilot_hub::subscription::SCORE_TOLERANCE;
use pilot_pki::Identity;
use pilot_proto::pb;

const XIANNING: &str = "421200";
const QUANZHOU: &str = "350500";

/// The same CSL texts as demands.
fn demands(n: usize) -> Vec<pb::RecordInput> {
    csl_achievements("d", n)
        .into_iter()
        .map(|mut r| {
            let Some(pb::record_input::Body::Achievement(a)) = r.body.take() else {
                unreachable!()
            };
            r.body = Some(pb::record_input::Body::Demand(pb::Demand {
                title: a.title,
                description: format!("{} {}", a.r#abstract, a.keywords.join(" ")),
                fields: a.fields,
                ..Default::default()
            }));
            r
        })
        .collect()
}

/// How many match lists of `kind` (`whole` or `update`) node `i` has applied, by its metrics.
async fn lists_received(cluster: &Cluster, i: usize, kind: &str) -> u64 {
    let (code, body) =
        http(&cluster.nodes[i].http_addr(), "GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(code, 200);
    let series = format!("pilot_node_match_lists_received_total{{kind=\"{kind}\"}} ");
    String::from_utf8(body)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&series).map(|v| v.trim().parse::<u64>().unwrap()))
        .unwrap_or(0)
}

async fn node_matches(cluster: &Cluster, i: usize) -> Vec<pb::RecordMatches> {
    let mut c = cluster.intake(i).await.unwrap();
    c.matches(pb::NodeMatchesRequest { per_record: 5, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_reach_the_owning_node_follow_withdrawals_and_stay_in_their_city() {
    let cluster = Cluster::start(&[XIANNING, QUANZHOU]).unwrap();
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr.clone()).collect();
    upsert_all(&mut cluster.intake(0).await.unwrap(), demands(30)).await.unwrap();
    upsert_all(&mut cluster.intake(1).await.unwrap(), csl_achievements("a", 30)).await.unwrap();
    wait_converged(&cluster.pki, &cluster.hub.addr, &addrs, Duration::from_secs(60)).await.unwrap();

    // Xianning's node serves its demands with Quanzhou's achievements, pushed by the hub.
    let records = eventually(Duration::from_secs(30), || async {
        let r = node_matches(&cluster, 0).await;
        if r.len() >= 20 { Ok(r) } else { anyhow::bail!("{} records with matches", r.len()) }
    })
    .await
    .unwrap();
    let before = node_stats(&addrs[0]).await.unwrap().matches_updated_unix_ms;
    assert!(before > 0, "the node holds a list pushed by the hub");
    let wholes = lists_received(&cluster, 0, "whole").await;
    let updates = lists_received(&cluster, 0, "update").await;
    assert!(wholes >= 1, "the subscription starts with the whole list");
    let mut counterparts = HashSet::new();
    for r in &records {
        assert!(r.external_id.starts_with("d-") && r.kind == pb::Kind::Demand as i32, "{r:?}");
        for m in &r.matches {
            let s = m.subject.as_ref().unwrap();
            let c = m.counterpart.as_ref().unwrap();
            assert_eq!((s.city.as_str(), s.pseudonym.as_str()), (XIANNING, r.pseudonym.as_str()));
            assert_eq!(c.city, QUANZHOU, "cross-region by default");
            counterparts.insert(c.pseudonym.clone());
        }
    }

    // Quanzhou withdraws the achievement that answers demand d-0.
    let target = records.iter().find(|r| r.external_id == "d-0").unwrap().matches[0]
        .counterpart
        .clone()
        .unwrap()
        .pseudonym;
    let ledger = cluster
        .intake(1)
        .await
        .unwrap()
        .ledger(pb::LedgerRequest { limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let owner = ledger.entries.iter().find(|e| e.pseudonym == target).unwrap().local_id.clone();
    cluster
        .intake(1)
        .await
        .unwrap()
        .withdraw(pb::GetRequest { local_id: owner, ..Default::default() })
        .await
        .unwrap();
    eventually(Duration::from_secs(30), || async {
        let still: Vec<_> = node_matches(&cluster, 0)
            .await
            .into_iter()
            .flat_map(|r| r.matches)
            .filter(|m| m.counterpart.as_ref().unwrap().pseudonym == target)
            .collect();
        if still.is_empty() { Ok(()) } else { anyhow::bail!("still matched {} times", still.len()) }
    })
    .await
    .unwrap();
    let after = node_stats(&addrs[0]).await.unwrap().matches_updated_unix_ms;
    assert!(after > before, "the hub pushed a new list after the withdrawal");
    // The withdrawal came as an update of the records it touched, not as a whole new list.
    assert_eq!(lists_received(&cluster, 0, "whole").await, wholes, "no whole list resent");
    assert!(lists_received(&cluster, 0, "update").await > updates, "an update was applied");

    // Quanzhou's node-scoped view holds only Quanzhou's records as its own, and asking the hub
    // for Xianning's pseudonyms with Quanzhou's certificate yields nothing.
    for r in node_matches(&cluster, 1).await {
        assert!(r.external_id.starts_with("a-"), "{r:?}");
        for m in &r.matches {
            assert_eq!(m.subject.as_ref().unwrap().city, QUANZHOU);
        }
    }
    let ch = cluster.hub_as(Identity::City(QUANZHOU.parse().unwrap())).await.unwrap();
    let theirs = pb::matches_client::MatchesClient::new(ch)
        .list_mine(pb::ListMineRequest {
            city: QUANZHOU.into(),
            pseudonyms: records.iter().map(|r| r.pseudonym.clone()).collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.matches.is_empty(), "another city's records leaked: {:?}", theirs.matches);

    // National statistics never show a count below 5.
    let ch = cluster.hub_as(Identity::National).await.unwrap();
    let mut national = pb::national_client::NationalClient::new(ch);
    let flows =
        national.flow_matrix(pb::FlowMatrixRequest { scope: None }).await.unwrap().into_inner();
    assert_eq!(flows.flows.len(), 2, "both ordered pairs are listed");
    let xq = flows.flows.iter().find(|f| f.from_city == XIANNING).unwrap();
    let n: u64 = xq.matches.parse().expect("29 demands with matches make a number");
    assert!(n >= 5, "{xq:?}");
    let qx = flows.flows.iter().find(|f| f.from_city == QUANZHOU).unwrap();
    assert_eq!(qx.matches, "<5", "no demands in Quanzhou: zero is shown as <5");
    let fields =
        national.field_stats(pb::FieldStatsRequest { scope: None }).await.unwrap().into_inner();
    for f in &fields.fields {
        for v in [&f.demands, &f.supply, &f.matched_demands] {
            assert!(v == "<5" || v.parse::<u64>().is_ok_and(|n| n >= 5), "{f:?}");
        }
    }
    assert!(counterparts.len() > 1);

    // The same statistics as JSON over HTTPS, for the national centre only.
    let http_addr = std::fs::read_to_string(cluster.hub.data_dir.join("ready.http")).unwrap();
    let (code, body) =
        https_get(&cluster, http_addr.trim(), Identity::National, "/api/v1/national/flows").await;
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["flows"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(json["threshold"], 5);
    let path = format!("/api/v1/national/matches?city={XIANNING}&per_subject=2&page_size=3");
    let (code, body) = https_get(&cluster, http_addr.trim(), Identity::National, &path).await;
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ms = json["matches"].as_array().unwrap();
    assert!(!ms.is_empty() && ms.iter().all(|m| m["subject"]["city"] == XIANNING), "{json}");
    let city = Identity::City(XIANNING.parse().unwrap());
    let (code, body) = https_get(&cluster, http_addr.trim(), city, "/api/v1/national/flows").await;
    assert_eq!(code, 403, "a city may not run national queries: {body}");
}

/// A city whose match list is larger than one pushed message gets it whole: the node's view
/// (served from the pushed list) equals what the hub computes for the city, which `ListMine`
/// returns a page of records at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_list_longer_than_one_message_reaches_the_node_whole() {
    use prost::Message as _;
    const RECORDS: usize = 600;
    let cluster = Cluster::start(&[XIANNING, QUANZHOU]).unwrap();
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr.clone()).collect();
    upsert_all(&mut cluster.intake(0).await.unwrap(), demands(RECORDS)).await.unwrap();
    upsert_all(&mut cluster.intake(1).await.unwrap(), csl_achievements("a", RECORDS))
        .await
        .unwrap();
    wait_converged(&cluster.pki, &cluster.hub.addr, &addrs, Duration::from_secs(120))
        .await
        .unwrap();

    // What the hub computes for Xianning, as the subscription asks for it (20 per record),
    // read a page of 97 records at a time: 600 records take 7 pages, every token but the last
    // is non-empty, and no record's matches are split between pages.
    let ch = cluster.hub_as(Identity::City(XIANNING.parse().unwrap())).await.unwrap();
    let mut client = pb::matches_client::MatchesClient::new(ch).max_decoding_message_size(64 << 20);
    let list_page = |page_token: String| pb::ListMineRequest {
        city: XIANNING.into(),
        per_record: 20,
        page_size: 97,
        page_token,
        ..Default::default()
    };
    let mut hub_list = pb::MatchList::default();
    let mut seen = std::collections::BTreeSet::new();
    let (mut pages, mut token) = (0, String::new());
    loop {
        let page = client.list_mine(list_page(token)).await.unwrap().into_inner();
        pages += 1;
        let subjects: std::collections::BTreeSet<String> =
            page.matches.iter().map(|m| m.subject.as_ref().unwrap().pseudonym.clone()).collect();
        assert!(subjects.len() <= 97, "page {pages} has {} records", subjects.len());
        assert!(subjects.is_disjoint(&seen), "page {pages} repeats a record of an earlier page");
        seen.extend(subjects);
        hub_list.matches.extend(page.matches);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, RECORDS.div_ceil(97), "pages of 97 of {RECORDS} records");
    assert_eq!(seen.len(), RECORDS, "every demand has matches");
    let refused = client.list_mine(list_page("not-a-token".into())).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("page_token"), "{refused:?}");
    let bytes = hub_list.encoded_len();
    assert!(
        bytes > pilot_proto::framing::MATCH_LIST_CHUNK_BYTES,
        "the list ({bytes} bytes) must need several pushed messages"
    );
    let pairs = |ms: &mut dyn Iterator<Item = &pb::Match>| -> Vec<(String, String, f32)> {
        let mut v: Vec<_> = ms
            .map(|m| {
                let (s, c) = (m.subject.as_ref().unwrap(), m.counterpart.as_ref().unwrap());
                (s.pseudonym.clone(), c.pseudonym.clone(), m.score)
            })
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    };
    let want = pairs(&mut hub_list.matches.iter());
    // NB: the hub does not resend a record whose scores only drifted (see
    // `pilot_hub::subscription`), so the node's scores may be that far from the hub's.
    let same = |got: &[(String, String, f32)]| {
        got.len() == want.len()
            && got.iter().zip(&want).all(|(g, w)| {
                g.0 == w.0 && g.1 == w.1 && (g.2 - w.2).abs() <= SCORE_TOLERANCE * w.2.abs()
            })
    };

    // The node serves the same list from what the hub pushed (all of it, not the last piece).
    eventually(Duration::from_secs(60), || async {
        let mut c = cluster.intake(0).await.unwrap();
        let records = c
            .matches(pb::NodeMatchesRequest { per_record: 20, ..Default::default() })
            .await?
            .into_inner()
            .records;
        let got = pairs(&mut records.iter().flat_map(|r| &r.matches));
        if same(&got) {
            Ok(())
        } else {
            anyhow::bail!(
                "node holds {} matches of {} records, hub {}",
                got.len(),
                records.len(),
                want.len()
            )
        }
    })
    .await
    .unwrap();
    let pushed = node_stats(&addrs[0]).await.unwrap().matches_updated_unix_ms;
    assert!(pushed > 0, "the node answered from a pushed list, not by asking the hub");
}

/// One HTTPS GET with the certificate of `id`; returns the status code and the body.
async fn https_get(cluster: &Cluster, addr: &str, id: Identity, path: &str) -> (u16, String) {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let files = cluster.pki.tls(id);
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&files.ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&files.cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(&files.key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    // Bodies may be chunked: keep the JSON part.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => body[a..=b].to_owned(),
        _ => body.to_owned(),
    };
    (code, body)
}
