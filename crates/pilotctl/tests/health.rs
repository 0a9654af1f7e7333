//! `pilotctl health` against real gRPC health servers on loopback: a plaintext one standing in
//! for a node's intake port, and a mutual-TLS one with a hub certificate from `pilot_pki::init`
//! standing in for the hub. Checks the exit status and the message for SERVING, NOT_SERVING, an
//! unknown service, a closed port and a missing certificate.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity as TlsIdentity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A health server on 127.0.0.1:0, with TLS when `tls` is given; stops when the token fires.
async fn serve(
    tls: Option<ServerTlsConfig>,
    stop: CancellationToken,
) -> (SocketAddr, HealthReporter) {
    let (reporter, service) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).unwrap();
    }
    let router = builder.add_service(service);
    tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop.cancelled_owned())
            .await
            .unwrap();
    });
    (addr, reporter)
}

/// Runs the real binary without blocking the server's runtime.
async fn pilotctl(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pilotctl")).args(&args).output().unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_healthy_only_while_its_intake_service_serves() {
    let stop = CancellationToken::new();
    let (addr, reporter) = serve(None, stop.clone()).await;
    let addr = addr.to_string();

    // Before the node reports its intake service, the health server does not know it.
    let out = pilotctl(args(&["health", &addr])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not know the service \"pilot.v1.Intake\""), "{}", text(&out));

    reporter.set_service_status("pilot.v1.Intake", ServingStatus::Serving).await;
    let out = pilotctl(args(&["health", &addr])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("SERVING pilot.v1.Intake at the node {addr}")
    );

    // Shutting down: the intake service says NOT_SERVING while the server as a whole still serves.
    reporter.set_service_status("pilot.v1.Intake", ServingStatus::NotServing).await;
    let out = pilotctl(args(&["health", &addr])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("pilot.v1.Intake at the node"), "{}", text(&out));
    assert!(text(&out).contains("is NOT_SERVING"), "{}", text(&out));
    let out = pilotctl(args(&["health", "--service", "", &addr])).await;
    assert!(out.status.success(), "{}", text(&out));

    // Gone: a clear failure, not a hang.
    stop.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let out = pilotctl(args(&["health", "--timeout", "3", &addr])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("at the node {addr}")), "{}", text(&out));
}

fn tls_for_hub(pki: &Path) -> ServerTlsConfig {
    let files = pilot_pki::TlsFiles::for_identity(pki, pilot_pki::Identity::Hub);
    let tls = files.load(Some(pilot_pki::Identity::Hub)).unwrap();
    ServerTlsConfig::new()
        .identity(TlsIdentity::from_pem(&tls.cert_pem, &tls.key_pem))
        .client_ca_root(Certificate::from_pem(&tls.ca_pem))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_is_checked_over_mutual_tls_with_any_federation_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let opts = pilot_pki::InitOptions {
        cities: vec![pilot_model::CityCode::parse("421200").unwrap()],
        ..pilot_pki::InitOptions::default()
    };
    pilot_pki::init(&pki, &opts).unwrap();
    let stop = CancellationToken::new();
    let (addr, reporter) = serve(Some(tls_for_hub(&pki)), stop.clone()).await;
    reporter.set_service_status("pilot.v1.Sync", ServingStatus::Serving).await;
    let (addr, dir) = (addr.to_string(), pki.display().to_string());

    for who in ["hub", "national", "city:421200"] {
        let out = pilotctl(args(&["health", "--pki", &dir, "--as", who, &addr])).await;
        assert!(out.status.success(), "as {who}: {}", text(&out));
        assert!(text(&out).starts_with("SERVING pilot.v1.Sync at the hub"), "{}", text(&out));
    }

    // A city without a certificate in the directory: named, not a TLS riddle.
    let out = pilotctl(args(&["health", "--pki", &dir, "--as", "city:350500", &addr])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("spiffe://pilotnet/city/350500"), "{}", text(&out));

    // Plaintext against the TLS port fails, says where, and suggests --pki.
    let out = pilotctl(args(&["health", "--timeout", "3", &addr])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&addr), "{}", text(&out));
    assert!(text(&out).contains("pass --pki DIR"), "{}", text(&out));

    reporter.set_service_status("pilot.v1.Sync", ServingStatus::NotServing).await;
    let out = pilotctl(args(&["health", "--pki", &dir, &addr])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is NOT_SERVING"), "{}", text(&out));
    stop.cancel();
}
