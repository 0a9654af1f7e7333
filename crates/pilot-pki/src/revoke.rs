//! Certificate revocation: the CA-signed revocation list (`DIR/crl.pem`) and reading it back.
//!
//! [`revoke`] adds one identity's current certificate to the list and re-signs it with the CA;
//! [`load_revoked`] (and [`load_revocation_list`]) verify a list against the CA certificate and
//! return the revoked serials in the format of [`PeerCert::serial_hex`](crate::PeerCert), which
//! is what the hub's registry compares callers against.
//!
//! The list is a standard X.509 v2 CRL in PEM (`-----BEGIN X509 CRL-----`), so `openssl crl`
//! can inspect it, but only the hub reads it: nodes trust the hub by the CA alone.
//!
//! Choices:
//! - The list is cumulative and append-only: every revocation so far, each with its original
//!   revocation time, and a CRL number that grows by one per change. There is no un-revoke; a
//!   city whose certificate was revoked gets a fresh one (new random serial) with
//!   `pilotctl pki issue`.
//! - `nextUpdate` is set one year ahead ([`NEXT_UPDATE`]), because RFC 5280 requires the field,
//!   but the hub does not enforce it: the list is federation-internal and copied to the hub by
//!   the operator, so a lapsed date says nothing about whether the list is complete, and
//!   honouring it would either un-revoke everything (fail open) or stop every city (fail
//!   closed) a year after the last revocation.
//! - The hub's own certificate cannot be revoked: only the hub reads the list, so nodes would
//!   keep trusting a revoked hub certificate. A compromised hub key needs a new CA.
//!   City and national-centre certificates can be revoked.
//!
//! NB: the file is replaced by renaming a complete new file over it, so a reader sees either
//! the old or the new list, never half of one. Run one `revoke` at a time per PKI directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use crate::identity::{parse_der, peer_from_x509};
use crate::issue::{CERT_MODE, Ca, write_file};
use crate::load::{check_signed_by, read, single_cert};
use crate::{Error, Identity, Result, TlsFiles, layout};

/// How far ahead of its issue date a list says the next one will come (`nextUpdate`).
///
/// Informational only; see the module docs for why the hub does not enforce it.
pub const NEXT_UPDATE: Duration = Duration::days(365);

/// What [`revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeReport {
    /// The identity whose certificate was revoked.
    pub identity: Identity,
    /// The revoked certificate's serial, as in [`PeerCert::serial_hex`](crate::PeerCert).
    pub serial_hex: String,
    /// The certificate was already on the list; the file was left untouched.
    pub already_revoked: bool,
    /// The revocation list file.
    pub crl: PathBuf,
    /// The list's CRL number after this call.
    pub crl_number: u64,
    /// How many certificates the list now revokes.
    pub revoked_total: usize,
}

/// A verified revocation list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    /// The CRL number; it grows with every change, so a smaller one is an older list.
    /// A list without the extension counts as 0.
    pub crl_number: u64,
    /// The revoked serials, as in [`PeerCert::serial_hex`](crate::PeerCert).
    pub serials: HashSet<String>,
}

/// Revokes the current certificate of `id` in the PKI directory `dir`: adds its serial to
/// `DIR/crl.pem` (creating the file on the first revocation) and signs the list with the CA.
///
/// Revoking a certificate that is already on the list changes nothing and reports
/// `already_revoked`. The hub's certificate is refused (see the module docs), as is a
/// certificate not issued by this CA or an existing list the CA did not sign.
pub fn revoke(dir: &Path, id: Identity) -> Result<RevokeReport> {
    if id == Identity::Hub {
        return Err(Error::invalid(
            format!("identity {id}"),
            "cannot be revoked: nodes do not read the revocation list, so they would keep \
             trusting it; if the hub key is compromised, create a new CA and re-issue every \
             certificate",
        ));
    }
    let ca = Ca::load(dir)?;
    let ca_cert = parse_der("CA certificate", &ca.der)?;

    let cert_path = TlsFiles::for_identity(dir, id).cert;
    let what = format!("certificate {}", cert_path.display());
    let der = single_cert(&what, &read(&cert_path)?)?;
    let cert = parse_der(&what, &der)?;
    check_signed_by(&what, &cert, &ca_cert, &ca.cert_path)?;
    let peer = peer_from_x509(&what, &cert, &der)?;
    if peer.identity != id {
        return Err(Error::invalid(what, format!("names {}, expected {id}", peer.identity)));
    }

    let crl_path = layout::crl(dir);
    let mut list = match read(&crl_path) {
        Ok(pem) => parse_crl(&format!("CRL {}", crl_path.display()), &pem, &ca_cert)?,
        Err(Error::NotFound { .. }) => ParsedCrl::default(),
        Err(e) => return Err(e),
    };
    if list.entries.iter().any(|e| e.serial_hex == peer.serial_hex) {
        return Ok(RevokeReport {
            identity: id,
            serial_hex: peer.serial_hex,
            already_revoked: true,
            crl: crl_path,
            crl_number: list.number,
            revoked_total: list.entries.len(),
        });
    }

    let now = OffsetDateTime::now_utc();
    list.entries.push(Entry {
        serial_hex: peer.serial_hex.clone(),
        serial: cert.tbs_certificate.serial.to_bytes_be(),
        revoked_at: now,
    });
    let number = list.number.checked_add(1).ok_or_else(|| {
        Error::invalid(
            format!("CRL {}", crl_path.display()),
            "has reached the largest CRL number; start a new list",
        )
    })?;
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + NEXT_UPDATE,
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: list
            .entries
            .iter()
            .map(|e| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&e.serial),
                revocation_time: e.revoked_at,
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: key_id_method(&ca_cert),
    };
    let pem = params.signed_by(&ca.issuer).and_then(|crl| crl.pem()).map_err(Error::internal)?;
    write_file(&crl_path, pem.as_bytes(), CERT_MODE, true)?;
    Ok(RevokeReport {
        identity: id,
        serial_hex: peer.serial_hex,
        already_revoked: false,
        crl: crl_path,
        crl_number: number,
        revoked_total: list.entries.len(),
    })
}

/// Parses a revocation list (PEM), verifies that the CA in `ca_pem` signed it, and returns the
/// revoked serials in the format of [`PeerCert::serial_hex`](crate::PeerCert).
///
/// A list not signed by the CA, or anything that is not one PEM `X509 CRL`, is
/// [`Error::Invalid`]. `nextUpdate` is not enforced (see the module docs).
pub fn load_revoked(crl_pem: &[u8], ca_pem: &[u8]) -> Result<HashSet<String>> {
    load_revocation_list(crl_pem, ca_pem).map(|list| list.serials)
}

/// [`load_revoked`] with the list's CRL number, so a reader can refuse an older list.
pub fn load_revocation_list(crl_pem: &[u8], ca_pem: &[u8]) -> Result<RevocationList> {
    let ca_der = single_cert("CA certificate", ca_pem)?;
    let ca = parse_der("CA certificate", &ca_der)?;
    let parsed = parse_crl("CRL", crl_pem, &ca)?;
    Ok(RevocationList {
        crl_number: parsed.number,
        serials: parsed.entries.into_iter().map(|e| e.serial_hex).collect(),
    })
}

/// A verified list, as needed to extend it.
#[derive(Debug, Default)]
struct ParsedCrl {
    /// The CRL number (0 when absent).
    number: u64,
    /// The revoked certificates, in file order, without duplicates.
    entries: Vec<Entry>,
}

/// One revoked certificate.
#[derive(Debug)]
struct Entry {
    /// As in `PeerCert::serial_hex`.
    serial_hex: String,
    /// The serial's big-endian magnitude.
    serial: Vec<u8>,
    /// When it was revoked, kept as first written.
    revoked_at: OffsetDateTime,
}

/// Parses one PEM CRL and verifies it against `ca`; `what` names it in errors.
fn parse_crl(what: &str, pem: &[u8], ca: &X509Certificate<'_>) -> Result<ParsedCrl> {
    let mut ders = CertificateRevocationListDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid(what, format!("is not valid PEM: {e}")))?;
    let der = match ders.len() {
        1 => ders.remove(0),
        0 => return Err(Error::invalid(what, "contains no X509 CRL block")),
        n => return Err(Error::invalid(what, format!("contains {n} CRLs, expected one"))),
    };
    let crl = match x509_parser::parse_x509_crl(&der) {
        Ok((rest, _)) if !rest.is_empty() => {
            return Err(Error::invalid(what, "has trailing bytes after the CRL"));
        }
        Ok((_, crl)) => crl,
        Err(e) => return Err(Error::invalid(what, format!("is not a valid x.509 CRL: {e}"))),
    };
    if crl.issuer().as_raw() != ca.subject().as_raw() {
        return Err(Error::invalid(
            what,
            format!("was issued by {:?}, not by the federation CA", crl.issuer().to_string()),
        ));
    }
    if crl.verify_signature(ca.public_key()).is_err() {
        return Err(Error::invalid(
            what,
            "is not signed by the federation CA: it belongs to another PKI or was altered",
        ));
    }
    let number = match crl.crl_number() {
        None => 0,
        Some(n) => u64::try_from(n)
            .map_err(|_| Error::invalid(what, format!("has CRL number {n}, beyond 2^64")))?,
    };
    let mut entries: Vec<Entry> = Vec::new();
    for revoked in crl.iter_revoked_certificates() {
        let serial_hex = format!("{:x}", revoked.user_certificate);
        if entries.iter().any(|e| e.serial_hex == serial_hex) {
            continue;
        }
        entries.push(Entry {
            serial_hex,
            serial: revoked.user_certificate.to_bytes_be(),
            revoked_at: revoked.revocation_date.to_datetime(),
        });
    }
    Ok(ParsedCrl { number, entries })
}

/// The CA's subject key identifier as the CRL's authority key identifier, so that verifiers
/// that match the two find the CA; rcgen's default (SHA-256 of the key) when it has none.
fn key_id_method(ca: &X509Certificate<'_>) -> KeyIdMethod {
    ca.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => {
                Some(KeyIdMethod::PreSpecified(id.0.into()))
            }
            _ => None,
        })
        .unwrap_or(KeyIdMethod::Sha256)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use pilot_model::CityCode;

    use super::*;
    use crate::{InitOptions, init, issue};

    fn city(code: &str) -> Identity {
        Identity::City(CityCode::parse(code).unwrap())
    }

    fn pki() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            cities: ["421200", "350500"].map(|c| CityCode::parse(c).unwrap()).to_vec(),
            ..InitOptions::default()
        };
        init(tmp.path(), &opts).unwrap();
        tmp
    }

    fn serial_of(dir: &Path, id: Identity) -> String {
        TlsFiles::for_identity(dir, id).load(Some(id)).unwrap().peer.serial_hex
    }

    fn revoked(dir: &Path) -> HashSet<String> {
        let crl = fs::read(layout::crl(dir)).unwrap();
        load_revoked(&crl, &fs::read(layout::ca_cert(dir)).unwrap()).unwrap()
    }

    fn parsed(dir: &Path) -> ParsedCrl {
        let ca_der = single_cert("ca", &fs::read(layout::ca_cert(dir)).unwrap()).unwrap();
        let ca = parse_der("ca", &ca_der).unwrap();
        parse_crl("crl", &fs::read(layout::crl(dir)).unwrap(), &ca).unwrap()
    }

    #[test]
    fn revoke_then_load_gives_the_serial() {
        let tmp = pki();
        let id = city("421200");
        let serial = serial_of(tmp.path(), id);
        let report = revoke(tmp.path(), id).unwrap();
        assert_eq!(
            report,
            RevokeReport {
                identity: id,
                serial_hex: serial.clone(),
                already_revoked: false,
                crl: tmp.path().join("crl.pem"),
                crl_number: 1,
                revoked_total: 1,
            }
        );
        assert_eq!(revoked(tmp.path()), HashSet::from([serial.clone()]));
        let pem = fs::read_to_string(layout::crl(tmp.path())).unwrap();
        assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
        assert!(!tmp.path().join("crl.pem.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(layout::crl(tmp.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let list =
            load_revocation_list(pem.as_bytes(), &fs::read(layout::ca_cert(tmp.path())).unwrap())
                .unwrap();
        assert_eq!(list.crl_number, 1);
        // Serials keep the exact format the hub sees on the wire.
        assert!(!serial.starts_with('0') && serial == serial.to_lowercase());
    }

    #[test]
    fn a_second_revoke_keeps_the_first() {
        let tmp = pki();
        let (a, b) = (city("421200"), city("350500"));
        revoke(tmp.path(), a).unwrap();
        let first = parsed(tmp.path());
        let report = revoke(tmp.path(), b).unwrap();
        assert_eq!((report.crl_number, report.revoked_total), (2, 2));
        assert_eq!(
            revoked(tmp.path()),
            HashSet::from([serial_of(tmp.path(), a), serial_of(tmp.path(), b)])
        );
        let second = parsed(tmp.path());
        assert_eq!(second.number, 2);
        assert_eq!(second.entries[0].serial_hex, first.entries[0].serial_hex);
        assert_eq!(second.entries[0].revoked_at, first.entries[0].revoked_at);

        // Revoking again reports it and leaves the file byte-identical.
        let before = fs::read(layout::crl(tmp.path())).unwrap();
        let again = revoke(tmp.path(), a).unwrap();
        assert!(again.already_revoked);
        assert_eq!((again.crl_number, again.revoked_total), (2, 2));
        assert_eq!(fs::read(layout::crl(tmp.path())).unwrap(), before);
    }

    #[test]
    fn a_reissued_certificate_is_not_revoked() {
        let tmp = pki();
        let id = city("421200");
        let old = revoke(tmp.path(), id).unwrap().serial_hex;
        issue(tmp.path(), id, &[], 825).unwrap();
        let new = serial_of(tmp.path(), id);
        assert_ne!(new, old);
        let set = revoked(tmp.path());
        assert!(set.contains(&old) && !set.contains(&new));

        // Revoking the new one keeps the old one too.
        let report = revoke(tmp.path(), id).unwrap();
        assert!(!report.already_revoked);
        assert_eq!(revoked(tmp.path()), HashSet::from([old, new]));
    }

    #[test]
    fn national_is_revocable_and_hub_is_not() {
        let tmp = pki();
        assert!(!revoke(tmp.path(), Identity::National).unwrap().already_revoked);
        let err = revoke(tmp.path(), Identity::Hub).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("cannot be revoked"), "{err}");
        assert_eq!(revoked(tmp.path()).len(), 1);
    }

    #[test]
    fn a_missing_certificate_or_ca_is_not_found() {
        let tmp = pki();
        let err = revoke(tmp.path(), city("440100")).unwrap_err();
        assert!(matches!(&err, Error::NotFound { path } if path.ends_with("cert.pem")), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = revoke(empty.path(), city("421200")).unwrap_err();
        assert!(matches!(&err, Error::NotFound { path } if path.ends_with("ca.pem")), "{err}");
    }

    #[test]
    fn a_crl_signed_by_another_ca_is_refused() {
        // Both CAs carry the same subject name, so only the signature tells them apart.
        let (ours, rogue) = (pki(), pki());
        revoke(rogue.path(), city("421200")).unwrap();
        let rogue_crl = fs::read(layout::crl(rogue.path())).unwrap();
        let ca = fs::read(layout::ca_cert(ours.path())).unwrap();
        let err = load_revoked(&rogue_crl, &ca).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }));
        assert_eq!(
            err.to_string(),
            "CRL is not signed by the federation CA: it belongs to another PKI or was altered"
        );

        // Extending a list the CA did not sign is refused too, and the file is left alone.
        fs::write(layout::crl(ours.path()), &rogue_crl).unwrap();
        let err = revoke(ours.path(), city("350500")).unwrap_err().to_string();
        assert!(err.contains("crl.pem is not signed by the federation CA"), "{err}");
        assert_eq!(fs::read(layout::crl(ours.path())).unwrap(), rogue_crl);
    }

    #[test]
    fn garbage_is_refused_clearly() {
        let tmp = pki();
        let ca = fs::read(layout::ca_cert(tmp.path())).unwrap();
        let err = load_revoked(b"not a crl at all\n", &ca).unwrap_err();
        assert_eq!(err.to_string(), "CRL contains no X509 CRL block");

        let bad_body = b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
        let err = load_revoked(bad_body, &ca).unwrap_err().to_string();
        assert!(err.starts_with("CRL is not a valid x.509 CRL"), "{err}");

        // A certificate is not a CRL, and a CRL is not a CA certificate.
        let err = load_revoked(&ca, &ca).unwrap_err().to_string();
        assert_eq!(err, "CRL contains no X509 CRL block");
        revoke(tmp.path(), city("421200")).unwrap();
        let crl = fs::read(layout::crl(tmp.path())).unwrap();
        let err = load_revoked(&crl, &crl).unwrap_err().to_string();
        assert_eq!(err, "CA certificate contains no CERTIFICATE block");

        // A tampered list is refused: either it no longer parses or its signature fails.
        let text = String::from_utf8(crl).unwrap();
        let mut chars: Vec<char> = text.chars().collect();
        let at = text.find('\n').unwrap() + 40;
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(matches!(load_revoked(tampered.as_bytes(), &ca), Err(Error::Invalid { .. })));
    }
}
