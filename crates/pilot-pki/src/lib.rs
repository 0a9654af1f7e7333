//! The Pilotnet federation PKI: one CA, and a certificate per hub, national centre and city.
//!
//! This crate is the only place that parses certificates. It creates the CA and issues leaf
//! certificates ([`init`], [`issue`]), loads and checks a process's own files at startup
//! ([`TlsFiles::load`]), tells the hub who a TLS peer is ([`peer_from_der`]), and keeps the
//! CA-signed revocation list the hub refuses certificates by ([`revoke`], [`load_revoked`]).
//!
//! # Identities
//!
//! Every leaf certificate names exactly one [`Identity`] in a SPIFFE-style URI SAN:
//! `spiffe://pilotnet/hub`, `spiffe://pilotnet/national` or `spiffe://pilotnet/city/<code>`.
//! The hub authorises peers by that identity alone, never by the subject name.
//!
//! # Layout on disk
//!
//! ```text
//! DIR/ca.pem                   CA certificate
//! DIR/ca.key                   CA private key (mode 0600)
//! DIR/crl.pem                  revoked certificates, a CRL signed by the CA (absent until the
//!                              first `pilotctl pki revoke`)
//! DIR/hub/cert.pem             hub certificate
//! DIR/hub/key.pem              hub private key (mode 0600)
//! DIR/national/cert.pem        national-centre certificate
//! DIR/national/key.pem         national-centre private key (mode 0600)
//! DIR/cities/<code>/cert.pem   one city's certificate, e.g. DIR/cities/421200/cert.pem
//! DIR/cities/<code>/key.pem    that city's private key (mode 0600)
//! ```
//!
//! Keys are PKCS#8 PEM; certificates are ECDSA P-256.
//! Only `ca.pem` and a process's own `cert.pem` and `key.pem` are copied to its machine, plus
//! `crl.pem` to the hub's; `ca.key` stays with the operator.
//!
//! Invariants:
//! - Every leaf is signed directly by the CA (path length 0) and carries exactly one
//!   `spiffe://pilotnet/` URI SAN.
//! - [`init`] never overwrites a file; only [`issue`] replaces a certificate and key.
//! - [`TlsFiles::load`] hands out material only after checking the key, chain, validity period
//!   and identity, so a misconfigured process fails at startup, naming the file.
//! - A revocation list is trusted only after its signature verifies against the CA; it only
//!   ever grows (see [`revoke`]).

mod error;
mod identity;
mod issue;
mod load;
mod revoke;

pub use error::{Error, Result};
pub use identity::{Identity, PeerCert, peer_from_der};
pub use issue::{InitOptions, InitReport, init, issue};
pub use load::{TlsFiles, TlsMaterial};
pub use revoke::{
    NEXT_UPDATE, RevocationList, RevokeReport, load_revocation_list, load_revoked, revoke,
};

/// The revocation list's file name, next to `ca.pem` in a PKI directory; the hub looks for it
/// next to its CA file unless configured otherwise.
pub const CRL_FILE: &str = "crl.pem";

/// File names of the layout documented in the crate docs.
mod layout {
    use std::path::{Path, PathBuf};

    use crate::Identity;

    /// A leaf's certificate file name.
    pub(crate) const CERT_FILE: &str = "cert.pem";
    /// A leaf's key file name.
    pub(crate) const KEY_FILE: &str = "key.pem";

    /// The CA certificate.
    pub(crate) fn ca_cert(dir: &Path) -> PathBuf {
        dir.join("ca.pem")
    }

    /// The CA private key.
    pub(crate) fn ca_key(dir: &Path) -> PathBuf {
        dir.join("ca.key")
    }

    /// The revocation list.
    pub(crate) fn crl(dir: &Path) -> PathBuf {
        dir.join(crate::CRL_FILE)
    }

    /// The directory holding one identity's certificate and key.
    pub(crate) fn leaf_dir(dir: &Path, id: Identity) -> PathBuf {
        match id {
            Identity::Hub => dir.join("hub"),
            Identity::National => dir.join("national"),
            Identity::City(code) => dir.join("cities").join(code.to_string()),
        }
    }
}
