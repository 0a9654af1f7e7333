//! Connections: to the hub over mutual TLS with a certificate from the PKI directory, and to a
//! node's local intake API.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use pilot_pki::{Identity, TlsFiles};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Connects to the hub at `addr` (`host:port` or `https://host:port`) as `id`.
pub(crate) async fn hub(addr: &str, pki: &Path, id: Identity) -> anyhow::Result<Channel> {
    let url =
        if addr.starts_with("https://") { addr.to_owned() } else { format!("https://{addr}") };
    let tls = TlsFiles::for_identity(pki, id)
        .load(Some(id))
        .with_context(|| format!("loading the {id} certificate"))?;
    let host = url.trim_start_matches("https://").rsplit_once(':').map_or(url.as_str(), |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tls_cfg = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&tls.ca_pem))
        .identity(tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem))
        .domain_name(host);
    Endpoint::from_shared(url.clone())?
        .tls_config(tls_cfg)?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .connect()
        .await
        .with_context(|| format!("connecting to the hub at {url}"))
}

/// Connects to a node's intake API at `addr` (`host:port`).
pub(crate) async fn node(addr: &str) -> anyhow::Result<Channel> {
    let url = if addr.starts_with("http://") { addr.to_owned() } else { format!("http://{addr}") };
    Endpoint::from_shared(url.clone())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .connect()
        .await
        .with_context(|| format!("connecting to the node at {url}"))
}

/// Adds the bearer token, if any, to a request.
pub(crate) fn with_token<T>(msg: T, token: Option<&str>) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().context("token is not valid header text")?,
        );
    }
    Ok(req)
}

/// Reads a token file, if given.
pub(crate) fn read_token(path: Option<&Path>) -> anyhow::Result<Option<String>> {
    path.map(|p| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .with_context(|| format!("reading {}", p.display()))
    })
    .transpose()
}
