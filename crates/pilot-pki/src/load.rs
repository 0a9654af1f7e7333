//! Loading PEM files from disk and checking them before a process trusts them.
//!
//! [`TlsFiles`] names the three files a process needs (CA, certificate, key); [`TlsFiles::load`]
//! reads them and refuses anything a TLS peer would later refuse, so misconfiguration surfaces at
//! startup with the file's name rather than as an opaque handshake failure.
//!
//! Signatures are checked with x509-parser's `verify` feature, which uses ring: it needs no
//! further dependency, whereas rustls-webpki would also insist on EKUs and name checks that
//! belong to the TLS handshake, not to a file check.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::certificate::X509Certificate;

use crate::identity::{parse_der, peer_from_x509};
use crate::{Error, Identity, PeerCert, Result, layout};

/// The files one process presents and trusts, as they appear in the `tls` section of a config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The federation CA certificate (PEM); peers must chain to it.
    pub ca: PathBuf,
    /// This process's certificate (PEM).
    pub cert: PathBuf,
    /// This process's PKCS#8 private key (PEM); keep it mode 0600.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files of `id` in the standard layout under `pki_dir` (see the crate docs).
    pub fn for_identity(pki_dir: &Path, id: Identity) -> Self {
        let leaf = layout::leaf_dir(pki_dir, id);
        TlsFiles {
            ca: layout::ca_cert(pki_dir),
            cert: leaf.join(layout::CERT_FILE),
            key: leaf.join(layout::KEY_FILE),
        }
    }

    /// Reads and checks the three files; see [`TlsMaterial`] for what is checked.
    ///
    /// With `expect`, the certificate must name exactly that identity.
    pub fn load(&self, expect: Option<Identity>) -> Result<TlsMaterial> {
        let ca_pem = read(&self.ca)?;
        let cert_pem = read(&self.cert)?;
        let key_pem = read(&self.key)?;

        let ca_what = format!("CA certificate {}", self.ca.display());
        let ca_der = single_cert(&ca_what, &ca_pem)?;
        let ca = parse_der(&ca_what, &ca_der)?;
        check_ca(&ca_what, &ca)?;

        let cert_what = format!("certificate {}", self.cert.display());
        let cert_der = single_cert(&cert_what, &cert_pem)?;
        let cert = parse_der(&cert_what, &cert_der)?;
        check_signed_by(&cert_what, &cert, &ca, &self.ca)?;
        check_leaf(&cert_what, &cert)?;
        let peer = peer_from_x509(&cert_what, &cert, &cert_der)?;
        if let Some(expect) = expect
            && peer.identity != expect
        {
            return Err(Error::invalid(
                cert_what,
                format!("names {}, expected {expect}", peer.identity),
            ));
        }

        let key_what = format!("key {}", self.key.display());
        let key = parse_key(&key_what, &key_pem)?;
        check_key_matches(&key_what, &key, &cert, &self.cert)?;

        Ok(TlsMaterial { ca_pem, cert_pem, key_pem, peer })
    }
}

/// PEM material for one identity, checked: the key matches the certificate, the certificate
/// chains to the CA (signature verified), it is currently valid, and its SAN identity is the
/// expected one (if `expect` was given to [`TlsFiles::load`]).
///
/// The PEM bytes are exactly the files' contents, ready for tonic's `Identity::from_pem` and
/// `Certificate::from_pem`.
#[derive(Clone)]
pub struct TlsMaterial {
    /// The CA certificate file's contents.
    pub ca_pem: Vec<u8>,
    /// The certificate file's contents.
    pub cert_pem: Vec<u8>,
    /// The private key file's contents.
    pub key_pem: Vec<u8>,
    /// What a peer learns from this certificate.
    pub peer: PeerCert,
}

impl std::fmt::Debug for TlsMaterial {
    /// Leaves out the private key, so that logging a `TlsMaterial` cannot leak it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").field("peer", &self.peer).finish_non_exhaustive()
    }
}

/// Reads a whole file; a missing file is [`Error::NotFound`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::read(path, e))
}

/// The one certificate in a PEM file.
pub(crate) fn single_cert(what: &str, pem: &[u8]) -> Result<CertificateDer<'static>> {
    let mut certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid(what, format!("is not valid PEM: {e}")))?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        0 => Err(Error::invalid(what, "contains no CERTIFICATE block")),
        n => Err(Error::invalid(what, format!("contains {n} certificates, expected one"))),
    }
}

/// Parses a PKCS#8 PEM private key.
pub(crate) fn parse_key(what: &str, pem: &[u8]) -> Result<KeyPair> {
    let text = std::str::from_utf8(pem).map_err(|_| Error::invalid(what, "is not PEM text"))?;
    KeyPair::from_pem(text)
        .map_err(|e| Error::invalid(what, format!("is not a PKCS#8 PEM private key: {e}")))
}

/// Checks that `ca` is a currently valid, self-signed CA certificate.
pub(crate) fn check_ca(what: &str, ca: &X509Certificate<'_>) -> Result<()> {
    if !ca.is_ca() {
        return Err(Error::invalid(what, "is not a CA certificate (basicConstraints CA:false)"));
    }
    if ca.subject().as_raw() != ca.issuer().as_raw() || ca.verify_signature(None).is_err() {
        return Err(Error::invalid(what, "is not a self-signed root certificate"));
    }
    check_validity(what, ca)
}

/// Checks that `cert` was issued and signed by `ca`, read from `ca_path`.
pub(crate) fn check_signed_by(
    what: &str,
    cert: &X509Certificate<'_>,
    ca: &X509Certificate<'_>,
    ca_path: &Path,
) -> Result<()> {
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Err(Error::invalid(
            what,
            format!(
                "was issued by {:?}, not by the CA in {}",
                cert.issuer().to_string(),
                ca_path.display()
            ),
        ));
    }
    if cert.verify_signature(Some(ca.public_key())).is_err() {
        return Err(Error::invalid(
            what,
            format!("is not signed by the CA in {}; it belongs to another PKI", ca_path.display()),
        ));
    }
    Ok(())
}

/// Checks that a leaf is valid now and is not itself a CA.
fn check_leaf(what: &str, cert: &X509Certificate<'_>) -> Result<()> {
    if cert.is_ca() {
        return Err(Error::invalid(what, "is a CA certificate, expected a leaf certificate"));
    }
    check_validity(what, cert)
}

/// Checks the validity period against the current time.
fn check_validity(what: &str, cert: &X509Certificate<'_>) -> Result<()> {
    let validity = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now < validity.not_before {
        return Err(Error::invalid(
            what,
            format!("is not valid before {}; check the clock", validity.not_before),
        ));
    }
    if now > validity.not_after {
        return Err(Error::invalid(
            what,
            format!("expired at {}; re-issue it with `pilotctl pki issue`", validity.not_after),
        ));
    }
    Ok(())
}

/// Checks that `key` is the private half of `cert`'s public key.
pub(crate) fn check_key_matches(
    what: &str,
    key: &KeyPair,
    cert: &X509Certificate<'_>,
    cert_path: &Path,
) -> Result<()> {
    // Comparing the raw public key bits ignores harmless differences in how the algorithm
    // parameters are encoded.
    if key.der_bytes() != cert.public_key().subject_public_key.data.as_ref() {
        return Err(Error::invalid(
            what,
            format!("does not match the public key of certificate {}", cert_path.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use pilot_model::CityCode;
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::{InitOptions, init, issue::issue_between, peer_from_der};

    fn city(code: &str) -> Identity {
        Identity::City(CityCode::parse(code).unwrap())
    }

    /// A PKI with the hub, the national centre and three cities.
    fn pki() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            cities: ["421200", "350500", "440100"].map(|c| CityCode::parse(c).unwrap()).to_vec(),
            ..InitOptions::default()
        };
        init(tmp.path(), &opts).unwrap();
        tmp
    }

    fn load_err(files: &TlsFiles, expect: Option<Identity>) -> String {
        files.load(expect).unwrap_err().to_string()
    }

    #[test]
    fn loads_every_identity() {
        let tmp = pki();
        for id in [Identity::Hub, Identity::National, city("421200"), city("350500")] {
            let files = TlsFiles::for_identity(tmp.path(), id);
            let material = files.load(Some(id)).unwrap();
            assert_eq!(material.peer.identity, id);
            assert_eq!(material.cert_pem, fs::read(&files.cert).unwrap());
            assert_eq!(material.key_pem, fs::read(&files.key).unwrap());
            assert_eq!(material.ca_pem, fs::read(&files.ca).unwrap());
            assert_eq!(files.load(None).unwrap().peer, material.peer);

            // The hub sees the same thing in the DER its TLS stack hands over.
            let der = CertificateDer::from_pem_slice(&material.cert_pem).unwrap();
            let peer = peer_from_der(&der).unwrap();
            assert_eq!(peer, material.peer);
            assert_eq!(peer.fingerprint_sha256_hex.len(), 64);
            assert!(peer.serial_hex.len() > 20 && peer.serial_hex.len() <= 32);
        }
    }

    #[test]
    fn the_layout_is_stable() {
        let files = TlsFiles::for_identity(Path::new("/x"), city("421200"));
        assert_eq!(files.ca, Path::new("/x/ca.pem"));
        assert_eq!(files.cert, Path::new("/x/cities/421200/cert.pem"));
        assert_eq!(files.key, Path::new("/x/cities/421200/key.pem"));
        let hub = TlsFiles::for_identity(Path::new("/x"), Identity::Hub);
        assert_eq!(hub.cert, Path::new("/x/hub/cert.pem"));
        let national = TlsFiles::for_identity(Path::new("/x"), Identity::National);
        assert_eq!(national.key, Path::new("/x/national/key.pem"));
    }

    #[test]
    fn refuses_a_certificate_from_another_ca() {
        let ours = pki();
        let theirs = pki();
        let rogue = TlsFiles::for_identity(theirs.path(), Identity::Hub);
        let files = TlsFiles { ca: ours.path().join("ca.pem"), ..rogue.clone() };
        assert_eq!(
            load_err(&files, Some(Identity::Hub)),
            format!(
                "certificate {} is not signed by the CA in {}; it belongs to another PKI",
                rogue.cert.display(),
                files.ca.display()
            )
        );
    }

    #[test]
    fn refuses_the_wrong_identity() {
        let tmp = pki();
        let files = TlsFiles::for_identity(tmp.path(), city("421200"));
        assert_eq!(
            load_err(&files, Some(city("350500"))),
            format!(
                "certificate {} names spiffe://pilotnet/city/421200, expected spiffe://pilotnet/city/350500",
                files.cert.display()
            )
        );
        assert!(load_err(&files, Some(Identity::Hub)).contains("expected spiffe://pilotnet/hub"));
    }

    #[test]
    fn refuses_a_key_that_does_not_match() {
        let tmp = pki();
        let hub = TlsFiles::for_identity(tmp.path(), Identity::Hub);
        let national = TlsFiles::for_identity(tmp.path(), Identity::National);
        let files = TlsFiles { key: national.key.clone(), ..hub.clone() };
        assert_eq!(
            load_err(&files, None),
            format!(
                "key {} does not match the public key of certificate {}",
                national.key.display(),
                hub.cert.display()
            )
        );
    }

    #[test]
    fn refuses_expired_and_future_certificates() {
        let tmp = pki();
        let now = OffsetDateTime::now_utc();
        let id = city("440100");
        let files = TlsFiles::for_identity(tmp.path(), id);

        issue_between(tmp.path(), id, &[], now - Duration::days(30), now - Duration::days(1))
            .unwrap();
        let err = load_err(&files, Some(id));
        assert!(err.contains("/cities/440100/cert.pem expired at"), "{err}");
        assert!(err.ends_with("re-issue it with `pilotctl pki issue`"), "{err}");

        issue_between(tmp.path(), id, &[], now + Duration::days(1), now + Duration::days(30))
            .unwrap();
        assert!(load_err(&files, Some(id)).contains("is not valid before"));
    }

    #[test]
    fn refuses_missing_and_malformed_files() {
        let tmp = pki();
        let hub = TlsFiles::for_identity(tmp.path(), Identity::Hub);

        let missing = TlsFiles { key: tmp.path().join("nope.pem"), ..hub.clone() };
        let err = missing.load(None).unwrap_err();
        assert!(matches!(&err, Error::NotFound { path } if *path == missing.key), "{err}");

        // A key where the certificate should be, and a certificate where the key should be.
        let swapped = TlsFiles { cert: hub.key.clone(), key: hub.cert.clone(), ..hub.clone() };
        assert_eq!(
            load_err(&swapped, None),
            format!("certificate {} contains no CERTIFICATE block", hub.key.display())
        );
        let bad_key = TlsFiles { key: hub.cert.clone(), ..hub.clone() };
        assert!(load_err(&bad_key, None).contains("is not a PKCS#8 PEM private key"));

        // A leaf is not a CA.
        let leaf_as_ca = TlsFiles { ca: hub.cert.clone(), ..hub.clone() };
        assert!(
            load_err(&leaf_as_ca, None)
                .ends_with("is not a CA certificate (basicConstraints CA:false)")
        );

        // Two certificates in one file.
        let both = tmp.path().join("both.pem");
        let mut pem = fs::read(&hub.cert).unwrap();
        pem.extend(fs::read(&hub.ca).unwrap());
        fs::write(&both, pem).unwrap();
        let chained = TlsFiles { cert: both, ..hub.clone() };
        assert!(load_err(&chained, None).ends_with("contains 2 certificates, expected one"));
    }

    #[test]
    fn debug_output_leaves_out_the_key() {
        let tmp = pki();
        let material = TlsFiles::for_identity(tmp.path(), Identity::Hub).load(None).unwrap();
        let debug = format!("{material:?}");
        assert!(debug.contains("spiffe") || debug.contains("Hub"));
        assert!(!debug.contains("key_pem") && !debug.contains("PRIVATE"));
    }

    #[test]
    fn deserializes_strictly() {
        use serde::Deserialize;
        use serde::de::value::{Error as DeError, MapDeserializer};

        let parse = |entries: &[(&'static str, &'static str)]| {
            TlsFiles::deserialize(MapDeserializer::<_, DeError>::new(entries.iter().copied()))
        };
        let files =
            parse(&[("ca", "/p/ca.pem"), ("cert", "/p/hub/cert.pem"), ("key", "/p/hub/key.pem")])
                .unwrap();
        assert_eq!(files, TlsFiles::for_identity(Path::new("/p"), Identity::Hub));
        let err = parse(&[("ca", "/p/ca.pem"), ("cert", "c"), ("key", "k"), ("crt", "x")]);
        assert!(err.unwrap_err().to_string().contains("unknown field `crt`"));
    }
}
