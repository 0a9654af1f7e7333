//! Negative tests over real sockets: who may connect to the hub, and what each identity may do.
//! After every refusal the hub must still serve the legitimate peers.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pilot_e2e::{Cluster, hub_channel};
use pilot_model::CityCode;
use pilot_pki::{Identity, TlsFiles};
use pilot_proto::pb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;

const XIANNING: &str = "421200";
const QUANZHOU: &str = "350500";

fn city(c: &str) -> Identity {
    Identity::City(CityCode::parse(c).unwrap())
}

/// A summary as a node would send it, owned by `owner`.
fn summary(owner: &str) -> pb::Summary {
    pb::Summary {
        key: Some(pb::SummaryKey { city: owner.into(), pseudonym: "ab".repeat(16) }),
        kind: pb::Kind::Achievement as i32,
        status: pb::Status::Open as i32,
        terms: vec![pb::WeightedTerm { term: "隔膜".into(), weight: 1.0 }],
        ..Default::default()
    }
}

/// Pushes one batch and returns the hub's first answer.
async fn push_once(
    cluster: &Cluster,
    as_city: &str,
    batch: pb::PushBatch,
) -> Result<pb::PushAck, tonic::Status> {
    let ch = cluster.hub_as(city(as_city)).await.unwrap();
    let mut sync = pb::sync_client::SyncClient::new(ch);
    let mut acks = sync.push(tokio_stream::iter(vec![batch])).await?.into_inner();
    match acks.message().await {
        Ok(Some(ack)) => Ok(ack),
        Ok(None) => Err(tonic::Status::unknown("stream ended without an answer")),
        Err(s) => Err(s),
    }
}

async fn national_status(cluster: &Cluster) -> pb::StatusReply {
    let ch = cluster.hub_as(Identity::National).await.unwrap();
    pb::national_client::NationalClient::new(ch)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn identities_are_authenticated_and_confined_to_their_role() {
    // The nodes are not needed here: the test speaks for them with their certificates.
    let mut cluster = Cluster::start(&[XIANNING, QUANZHOU]).unwrap();
    for n in &mut cluster.nodes {
        n.terminate(Duration::from_secs(5));
    }

    // A client certificate from another CA is refused at the TLS handshake.
    let real_ca = cluster.pki.tls(Identity::National).ca;
    let rogue = TlsFiles { ca: real_ca.clone(), ..cluster.pki.rogue_tls(Identity::National) };
    let refused = match hub_channel(&cluster.hub.addr, &rogue).await {
        Err(_) => true,
        Ok(ch) => {
            pb::national_client::NationalClient::new(ch).status(pb::StatusRequest {}).await.is_err()
        }
    };
    assert!(refused, "a certificate from a rogue CA must not get in");

    // A client with no certificate at all is refused too.
    let no_cert = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(std::fs::read(&real_ca).unwrap()))
        .domain_name("localhost");
    let anonymous =
        match tonic::transport::Endpoint::from_shared(format!("https://{}", cluster.hub.addr))
            .unwrap()
            .tls_config(no_cert)
            .unwrap()
            .connect()
            .await
        {
            Err(_) => true,
            Ok(ch) => pb::national_client::NationalClient::new(ch)
                .status(pb::StatusRequest {})
                .await
                .is_err(),
        };
    assert!(anonymous, "a client without a certificate must not get in");

    // Xianning's certificate cannot push Quanzhou's summaries, neither by naming Quanzhou as
    // the batch's city nor by hiding a Quanzhou key inside a Xianning batch.
    let as_other = pb::PushBatch {
        city: QUANZHOU.into(),
        entries: vec![pb::OutboxEntry {
            seq: 1,
            change: Some(pb::outbox_entry::Change::Upsert(summary(QUANZHOU))),
        }],
        through_seq: 1,
        last_seq: 1,
        after_seq: 0,
    };
    assert_eq!(
        push_once(&cluster, XIANNING, as_other).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let smuggled = pb::PushBatch {
        city: XIANNING.into(),
        entries: vec![pb::OutboxEntry {
            seq: 1,
            change: Some(pb::outbox_entry::Change::Upsert(summary(QUANZHOU))),
        }],
        through_seq: 1,
        last_seq: 1,
        after_seq: 0,
    };
    assert_eq!(
        push_once(&cluster, XIANNING, smuggled).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let ch = cluster.hub_as(city(XIANNING)).await.unwrap();
    let resume = pb::sync_client::SyncClient::new(ch)
        .resume(pb::ResumeRequest { city: QUANZHOU.into(), last_seq: 0 })
        .await;
    assert_eq!(resume.unwrap_err().code(), Code::PermissionDenied);

    // Nothing of the refused batches was stored.
    let status = national_status(&cluster).await;
    assert_eq!(status.total_summaries, 0, "{status:?}");

    // Xianning's own summary is accepted and acknowledged.
    let own = pb::PushBatch {
        city: XIANNING.into(),
        entries: vec![pb::OutboxEntry {
            seq: 1,
            change: Some(pb::outbox_entry::Change::Upsert(summary(XIANNING))),
        }],
        through_seq: 1,
        last_seq: 1,
        after_seq: 0,
    };
    assert_eq!(push_once(&cluster, XIANNING, own).await.unwrap().acked_seq, 1);

    // A node cannot read another city's node-scoped matches, nor run national queries.
    let ch = cluster.hub_as(city(XIANNING)).await.unwrap();
    let other = pb::matches_client::MatchesClient::new(ch.clone())
        .list_mine(pb::ListMineRequest { city: QUANZHOU.into(), ..Default::default() })
        .await;
    assert_eq!(other.unwrap_err().code(), Code::PermissionDenied);
    let national = pb::national_client::NationalClient::new(ch.clone())
        .list_matches(pb::ListMatchesRequest::default())
        .await;
    assert_eq!(national.unwrap_err().code(), Code::PermissionDenied);
    let mine = pb::matches_client::MatchesClient::new(ch)
        .list_mine(pb::ListMineRequest { city: XIANNING.into(), ..Default::default() })
        .await;
    assert!(mine.is_ok(), "{mine:?}");

    // The national centre cannot push summaries: it is not a city.
    let national_push = pb::PushBatch {
        city: XIANNING.into(),
        entries: vec![],
        through_seq: 0,
        last_seq: 0,
        after_seq: 0,
    };
    let ch = cluster.hub_as(Identity::National).await.unwrap();
    let r =
        pb::sync_client::SyncClient::new(ch).push(tokio_stream::iter(vec![national_push])).await;
    assert_eq!(r.unwrap_err().code(), Code::PermissionDenied);

    // Malformed input is refused with a clear status: an invalid code in a summary ...
    let mut bad = summary(XIANNING);
    bad.fields = vec!["9999".into()];
    let batch = pb::PushBatch {
        city: XIANNING.into(),
        entries: vec![pb::OutboxEntry {
            seq: 2,
            change: Some(pb::outbox_entry::Change::Upsert(bad)),
        }],
        through_seq: 2,
        last_seq: 2,
        after_seq: 0,
    };
    let err = push_once(&cluster, XIANNING, batch).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("field"), "{}", err.message());

    // ... and random bytes on the port do not harm the server.
    let mut raw = tokio::net::TcpStream::connect(&cluster.hub.addr).await.unwrap();
    let _ = raw
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x13, 0x37])
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), raw.read(&mut [0u8; 64])).await;
    drop(raw);

    // After all of that, the hub still serves the national centre, with exactly one summary.
    assert!(cluster.hub.is_alive(), "{}", cluster.hub.log_text());
    let status = national_status(&cluster).await;
    assert_eq!(status.total_summaries, 1);
    let held: Vec<(&str, u64)> = status
        .cities
        .iter()
        .map(|c| (c.city.as_str(), c.demands + c.achievements + c.experts))
        .collect();
    assert_eq!(held, [(QUANZHOU, 0), (XIANNING, 1)], "only Xianning's own summary is held");
}
