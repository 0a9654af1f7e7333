//! Real rustls handshakes, in memory, with certificates from `pilot_pki::init`: proves the
//! generated PKI is what the hub's and nodes' mTLS listeners accept, and that a rogue CA is not.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use pilot_model::CityCode;
use pilot_pki::{Identity, InitOptions, TlsFiles, TlsMaterial, init, peer_from_der};

/// The crypto provider, chosen explicitly rather than relying on a process-wide default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pki() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let opts =
        InitOptions { cities: vec![CityCode::parse("421200").unwrap()], ..InitOptions::default() };
    init(tmp.path(), &opts).unwrap();
    tmp
}

fn material(dir: &Path, id: Identity) -> TlsMaterial {
    TlsFiles::for_identity(dir, id).load(Some(id)).unwrap()
}

fn roots(m: &TlsMaterial) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(&m.ca_pem).unwrap()).unwrap();
    Arc::new(roots)
}

fn chain_and_key(m: &TlsMaterial) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let cert = CertificateDer::from_pem_slice(&m.cert_pem).unwrap();
    (vec![cert], PrivateKeyDer::from_pem_slice(&m.key_pem).unwrap())
}

/// A server that requires a client certificate from the server's own CA.
fn server(m: &TlsMaterial) -> ServerConnection {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(m), provider()).build().unwrap();
    let (chain, key) = chain_and_key(m);
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    ServerConnection::new(Arc::new(config)).unwrap()
}

/// A client presenting its certificate and trusting its own CA, dialling `name`.
fn client(m: &TlsMaterial, name: &str) -> ClientConnection {
    let (chain, key) = chain_and_key(m);
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(m))
        .with_client_auth_cert(chain, key)
        .unwrap();
    ClientConnection::new(Arc::new(config), ServerName::try_from(name.to_owned()).unwrap()).unwrap()
}

/// Shuttles TLS records between the two ends until both finish the handshake or one fails;
/// the error names the side that refused.
fn handshake(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), String> {
    for _ in 0..10 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().map_err(|e| format!("server: {e}"))?;
        }

        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().map_err(|e| format!("client: {e}"))?;
        }

        if !client.is_handshaking() && !server.is_handshaking() && !client.wants_write() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn nodes_and_the_national_centre_reach_the_hub_by_any_of_its_names() {
    let tmp = pki();
    let hub = material(tmp.path(), Identity::Hub);
    let city = Identity::City(CityCode::parse("421200").unwrap());
    for peer_id in [city, Identity::National] {
        let peer = material(tmp.path(), peer_id);
        for name in ["localhost", "hub", "hub.pilotnet", "127.0.0.1", "::1"] {
            let (mut c, mut s) = (client(&peer, name), server(&hub));
            handshake(&mut c, &mut s).unwrap_or_else(|e| panic!("{peer_id} via {name}: {e}"));

            // The hub learns who connected from the verified client certificate.
            let certs = s.peer_certificates().unwrap();
            assert_eq!(peer_from_der(&certs[0]).unwrap(), peer.peer);
            assert_eq!(
                peer_from_der(&c.peer_certificates().unwrap()[0]).unwrap().identity,
                Identity::Hub
            );
        }
    }
}

#[test]
fn a_name_the_hub_certificate_lacks_is_refused() {
    let tmp = pki();
    let hub = material(tmp.path(), Identity::Hub);
    let national = material(tmp.path(), Identity::National);
    let (mut c, mut s) = (client(&national, "hub.example.com"), server(&hub));
    let err = handshake(&mut c, &mut s).unwrap_err();
    assert!(err.starts_with("client: ") && err.contains("not valid for name"), "{err}");
}

#[test]
fn a_rogue_ca_is_refused_both_ways() {
    let ours = pki();
    let theirs = pki();
    let hub = material(ours.path(), Identity::Hub);
    let rogue = material(theirs.path(), Identity::National);

    // The hub refuses a client certificate from another CA. Both CAs have the same subject, so
    // rustls finds the wrong issuer by name and reports a bad signature.
    let (mut c, mut s) =
        (client(&TlsMaterial { ca_pem: hub.ca_pem.clone(), ..rogue.clone() }, "hub"), server(&hub));
    let err = handshake(&mut c, &mut s).unwrap_err();
    assert!(err.starts_with("server: invalid peer certificate"), "{err}");

    // A node refuses a hub whose certificate comes from another CA.
    let rogue_hub = material(theirs.path(), Identity::Hub);
    let node = material(ours.path(), Identity::National);
    let (mut c, mut s) = (client(&node, "hub"), server(&rogue_hub));
    let err = handshake(&mut c, &mut s).unwrap_err();
    assert!(err.starts_with("client: invalid peer certificate"), "{err}");
}
