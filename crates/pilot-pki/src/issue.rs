//! Creating the federation CA and issuing leaf certificates with it.
//!
//! NB: [`init`] never overwrites a file; only [`issue`] replaces an existing certificate and key,
//! and it does so by renaming a complete new file over the old one, so a crash leaves either
//! the old or the new file, never half of one.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::DnsName;
use time::{Duration, OffsetDateTime};

use pilot_model::{CityCode, PILOT_CITIES};

use crate::identity::parse_der;
use crate::load::{check_ca, check_key_matches, check_signed_by, parse_key, read, single_cert};
use crate::{Error, Identity, Result, TlsFiles, layout};

/// The CA's subject common name.
const CA_COMMON_NAME: &str = "Pilotnet federation CA";
/// The organisation in every subject.
const ORGANIZATION: &str = "Pilotnet";
/// The CA's minimum lifetime; it is stretched to the leaves' lifetime if that is longer.
const CA_VALIDITY_DAYS: u32 = 3650;
/// How far `not_before` is backdated, to tolerate clock skew between machines.
const BACKDATE: Duration = Duration::hours(1);
/// Mode of private key files.
const KEY_MODE: u32 = 0o600;
/// Mode of certificate files, which are public.
pub(crate) const CERT_MODE: u32 = 0o644;

/// What [`init`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// The cities to issue node certificates for.
    pub cities: Vec<CityCode>,
    /// The hub's DNS names and IP addresses, written as SANs into the hub certificate so that
    /// nodes can reach it by any of them; IP strings become IP SANs, the rest DNS SANs.
    pub hub_names: Vec<String>,
    /// Lifetime of each leaf certificate in days; the CA lives at least ten years.
    pub validity_days: u32,
}

impl Default for InitOptions {
    /// The 22 pilot cities, a hub reachable as `hub`, `hub.pilotnet` or on loopback, and the
    /// 825-day leaf lifetime that browsers also cap server certificates at.
    fn default() -> Self {
        InitOptions {
            cities: PILOT_CITIES.iter().map(|c| c.city_code()).collect(),
            hub_names: ["hub", "hub.pilotnet", "localhost", "127.0.0.1", "::1"]
                .map(String::from)
                .to_vec(),
            validity_days: 825,
        }
    }
}

/// What [`init`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitReport {
    /// Whether a new CA was created (rather than an existing one loaded).
    pub created_ca: bool,
    /// Identities whose certificate and key were written by this run.
    pub issued: Vec<Identity>,
    /// Identities whose certificate and key already existed and were left untouched.
    pub kept: Vec<Identity>,
}

/// Creates the CA if `dir` has none, else loads it; then issues every missing certificate
/// (hub, national, each city); never overwrites an existing certificate or key.
/// Idempotent: running it twice issues nothing the second time.
///
/// Kept certificates are checked to be signed by the CA, so a regenerated CA cannot silently
/// orphan them; their expiry is [`TlsFiles::load`]'s business.
pub fn init(dir: &Path, opts: &InitOptions) -> Result<InitReport> {
    // Validate everything before writing anything.
    let hub_sans = hub_sans(&opts.hub_names)?;
    check_validity_days(opts.validity_days)?;
    fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;

    let (cert_path, key_path) = (layout::ca_cert(dir), layout::ca_key(dir));
    let (ca, created_ca) = match (exists(&cert_path)?, exists(&key_path)?) {
        (true, true) => (Ca::load(dir)?, false),
        (false, false) => (Ca::create(dir, CA_VALIDITY_DAYS.max(opts.validity_days))?, true),
        (true, false) => return Err(Error::AlreadyExists { path: cert_path }),
        (false, true) => return Err(Error::AlreadyExists { path: key_path }),
    };

    let mut ids = vec![Identity::Hub, Identity::National];
    for city in &opts.cities {
        let id = Identity::City(*city);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    let (not_before, not_after) = lifetime(opts.validity_days);
    let mut report = InitReport { created_ca, ..InitReport::default() };
    for id in ids {
        let files = TlsFiles::for_identity(dir, id);
        match (exists(&files.cert)?, exists(&files.key)?) {
            (true, true) => {
                ca.check_issued(&files.cert)?;
                report.kept.push(id);
            }
            (false, false) => {
                let (cert_pem, key_pem) = ca.leaf(id, &hub_sans, not_before, not_after)?;
                write_pair(&files, &cert_pem, &key_pem, false)?;
                report.issued.push(id);
            }
            (true, false) => return Err(Error::AlreadyExists { path: files.cert }),
            (false, true) => return Err(Error::AlreadyExists { path: files.key }),
        }
    }
    Ok(report)
}

/// Issues (or re-issues, overwriting) the certificate of one identity with the existing CA:
/// used to add a city, or to renew a certificate.
///
/// `hub_names` only matter for [`Identity::Hub`]; they are checked but unused otherwise.
pub fn issue(dir: &Path, id: Identity, hub_names: &[String], validity_days: u32) -> Result<()> {
    check_validity_days(validity_days)?;
    let (not_before, not_after) = lifetime(validity_days);
    issue_between(dir, id, hub_names, not_before, not_after)
}

/// [`issue`] with an explicit validity period, so tests can make expired certificates.
pub(crate) fn issue_between(
    dir: &Path,
    id: Identity,
    hub_names: &[String],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<()> {
    let hub_sans = hub_sans(hub_names)?;
    let ca = Ca::load(dir)?;
    let (cert_pem, key_pem) = ca.leaf(id, &hub_sans, not_before, not_after)?;
    write_pair(&TlsFiles::for_identity(dir, id), &cert_pem, &key_pem, true)
}

/// The CA as needed for issuing certificates and signing revocation lists.
pub(crate) struct Ca {
    /// Signs leaves and CRLs.
    pub(crate) issuer: Issuer<'static, KeyPair>,
    /// No leaf outlives the CA.
    not_after: OffsetDateTime,
    /// Where the CA certificate lives, for error messages.
    pub(crate) cert_path: PathBuf,
    /// The CA certificate, for checking kept leaves and revoked certificates.
    pub(crate) der: Vec<u8>,
}

impl Ca {
    /// Creates a new self-signed CA in `dir` and writes `ca.key` and `ca.pem`.
    fn create(dir: &Path, validity_days: u32) -> Result<Self> {
        let key = KeyPair::generate().map_err(Error::internal)?;
        let (not_before, not_after) = lifetime(validity_days);
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(CA_COMMON_NAME);
        params.serial_number = Some(random_serial()?);
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).map_err(Error::internal)?;

        let cert_path = layout::ca_cert(dir);
        write_file(&layout::ca_key(dir), key.serialize_pem().as_bytes(), KEY_MODE, false)?;
        write_file(&cert_path, cert.pem().as_bytes(), CERT_MODE, false)?;
        Ok(Ca { issuer: Issuer::new(params, key), not_after, cert_path, der: cert.der().to_vec() })
    }

    /// Loads and checks the CA in `dir`.
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let (cert_path, key_path) = (layout::ca_cert(dir), layout::ca_key(dir));
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&key_path)?;

        let cert_what = format!("CA certificate {}", cert_path.display());
        let der = single_cert(&cert_what, &cert_pem)?;
        let cert = parse_der(&cert_what, &der)?;
        check_ca(&cert_what, &cert)?;
        let key_what = format!("CA key {}", key_path.display());
        let key = parse_key(&key_what, &key_pem)?;
        check_key_matches(&key_what, &key, &cert, &cert_path)?;
        let not_after = cert.validity().not_after.to_datetime();

        let issuer = Issuer::from_ca_cert_der(&der, key).map_err(|e| {
            Error::invalid(cert_what, format!("cannot be used to issue certificates: {e}"))
        })?;
        Ok(Ca { issuer, not_after, cert_path, der: der.to_vec() })
    }

    /// Checks that the certificate at `path` was signed by this CA.
    fn check_issued(&self, path: &Path) -> Result<()> {
        let what = format!("certificate {}", path.display());
        let der = single_cert(&what, &read(path)?)?;
        let cert = parse_der(&what, &der)?;
        let ca = parse_der("CA certificate", &self.der)?;
        check_signed_by(&what, &cert, &ca, &self.cert_path).map_err(|e| match e {
            Error::Invalid { what, reason } => Error::Invalid {
                what,
                reason: format!("{reason}: remove it and its key, then run init again"),
            },
            other => other,
        })
    }

    /// Generates a key and a certificate for `id`, returned as PEM (certificate, key).
    fn leaf(
        &self,
        id: Identity,
        hub_sans: &[SanType],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<(String, String)> {
        let key = KeyPair::generate().map_err(Error::internal)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(&id.common_name());
        params.serial_number = Some(random_serial()?);
        params.not_before = not_before;
        params.not_after = not_after.min(self.not_after);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Every leaf may act as both ends of a TLS connection: the hub serves nodes and dials
        // them, and a node may serve TLS later.
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let uri = Ia5String::try_from(id.uri()).map_err(Error::internal)?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        if id == Identity::Hub {
            params.subject_alt_names.extend_from_slice(hub_sans);
        }
        let cert = params.signed_by(&key, &self.issuer).map_err(Error::internal)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Turns hub names into SANs: IP addresses become IP SANs, valid DNS names DNS SANs.
fn hub_sans(names: &[String]) -> Result<Vec<SanType>> {
    names
        .iter()
        .map(|name| {
            if let Ok(ip) = name.parse::<IpAddr>() {
                return Ok(SanType::IpAddress(ip));
            }
            let invalid = || {
                Error::invalid(
                    format!("hub name {name:?}"),
                    "is neither an IP address nor a DNS name",
                )
            };
            DnsName::try_from(name.as_str()).map_err(|_| invalid())?;
            Ia5String::try_from(name.as_str()).map(SanType::DnsName).map_err(|_| invalid())
        })
        .collect()
}

/// Refuses lifetimes that would produce an already expired certificate.
fn check_validity_days(days: u32) -> Result<()> {
    if days == 0 {
        return Err(Error::invalid("validity of 0 days", "is too short: use at least 1"));
    }
    Ok(())
}

/// `not_before` and `not_after` for a certificate issued now.
fn lifetime(validity_days: u32) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - BACKDATE, now + Duration::days(i64::from(validity_days)))
}

/// A subject with the given common name.
fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A random positive 16-byte serial number.
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::internal("the system random source failed"))?;
    // Clearing the top bit keeps the DER integer positive and within 16 bytes.
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Whether a file exists; errors other than "not found" are reported.
fn exists(path: &Path) -> Result<bool> {
    path.try_exists().map_err(|e| Error::read(path, e))
}

/// Writes a key and its certificate, key first; `overwrite` as in [`write_file`].
fn write_pair(files: &TlsFiles, cert_pem: &str, key_pem: &str, overwrite: bool) -> Result<()> {
    for path in [&files.cert, &files.key] {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
        }
    }
    write_file(&files.key, key_pem.as_bytes(), KEY_MODE, overwrite)?;
    write_file(&files.cert, cert_pem.as_bytes(), CERT_MODE, overwrite)
}

/// Writes a file created with `mode` (on Unix).
///
/// Without `overwrite` the file must not exist ([`Error::AlreadyExists`] otherwise); with it, the
/// contents go to a temporary file that is then renamed over `path`.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32, overwrite: bool) -> Result<()> {
    if !overwrite {
        return create_new(path, contents, mode).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::AlreadyExists { path: path.to_owned() }
            } else {
                Error::write(path, e)
            }
        });
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::write(&tmp, e)),
        _ => {}
    }
    create_new(&tmp, contents, mode).map_err(|e| Error::write(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::write(path, e))
}

/// Creates `path`, which must not exist, with `mode`, and syncs its contents to disk.
fn create_new(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use x509_parser::extensions::GeneralName;

    use super::*;

    fn city(code: &str) -> Identity {
        Identity::City(CityCode::parse(code).unwrap())
    }

    fn three_cities() -> InitOptions {
        InitOptions {
            cities: ["421200", "350500", "440100"].map(|c| CityCode::parse(c).unwrap()).to_vec(),
            ..InitOptions::default()
        }
    }

    /// Every file under `dir`, by relative path, with its contents.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.insert(
                        path.strip_prefix(root).unwrap().to_owned(),
                        fs::read(&path).unwrap(),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn defaults_cover_the_pilot_federation() {
        let opts = InitOptions::default();
        assert_eq!(opts.cities.len(), 22);
        assert_eq!(opts.validity_days, 825);
        assert_eq!(opts.hub_names, ["hub", "hub.pilotnet", "localhost", "127.0.0.1", "::1"]);
    }

    #[test]
    fn init_creates_every_file_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let report = init(&dir, &three_cities()).unwrap();
        assert!(report.created_ca);
        assert_eq!(
            report.issued,
            [Identity::Hub, Identity::National, city("421200"), city("350500"), city("440100")]
        );
        assert!(report.kept.is_empty());

        let files: Vec<String> =
            snapshot(&dir).keys().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(
            files,
            [
                "ca.key",
                "ca.pem",
                "cities/350500/cert.pem",
                "cities/350500/key.pem",
                "cities/421200/cert.pem",
                "cities/421200/key.pem",
                "cities/440100/cert.pem",
                "cities/440100/key.pem",
                "hub/cert.pem",
                "hub/key.pem",
                "national/cert.pem",
                "national/key.pem",
            ]
        );
        #[cfg(unix)]
        for file in files.iter().filter(|f| f.ends_with(".key") || f.ends_with("key.pem")) {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }

        let before = snapshot(&dir);
        let again = init(&dir, &three_cities()).unwrap();
        assert!(!again.created_ca);
        assert!(again.issued.is_empty());
        assert_eq!(again.kept, report.issued);
        assert_eq!(snapshot(&dir), before, "a second init must not touch any file");
    }

    #[test]
    fn certificates_carry_the_agreed_fields() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), &three_cities()).unwrap();

        let ca_der = single_cert("ca", &read(&layout::ca_cert(tmp.path())).unwrap()).unwrap();
        let ca = parse_der("ca", &ca_der).unwrap();
        assert_eq!(ca.subject().to_string(), "O=Pilotnet, CN=Pilotnet federation CA");
        let bc = ca.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        let ku = ca.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());

        let files = TlsFiles::for_identity(tmp.path(), Identity::Hub);
        let der = single_cert("hub", &read(&files.cert).unwrap()).unwrap();
        let hub = parse_der("hub", &der).unwrap();
        assert_eq!(hub.subject().to_string(), "O=Pilotnet, CN=pilot-hub");
        assert!(!hub.is_ca());
        assert!(hub.key_usage().unwrap().unwrap().value.digital_signature());
        let eku = hub.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let sans: Vec<String> = hub
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::URI(s) => format!("uri:{s}"),
                GeneralName::DNSName(s) => format!("dns:{s}"),
                GeneralName::IPAddress(b) => format!("ip:{}", b.len()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sans,
            [
                "uri:spiffe://pilotnet/hub",
                "dns:hub",
                "dns:hub.pilotnet",
                "dns:localhost",
                "ip:4",
                "ip:16"
            ]
        );
        assert!(hub.raw_serial().len() >= 15, "serials are random 16-byte numbers");
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let validity = hub.validity();
        assert!((now - 3700..now - 3500).contains(&validity.not_before.timestamp()));
        assert!((validity.not_after.timestamp() - now - 825 * 86_400).abs() < 60);

        let city_files = TlsFiles::for_identity(tmp.path(), city("421200"));
        let der = single_cert("city", &read(&city_files.cert).unwrap()).unwrap();
        let cert = parse_der("city", &der).unwrap();
        assert_eq!(cert.subject().to_string(), "O=Pilotnet, CN=pilot-city-421200");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let names = &cert.subject_alternative_name().unwrap().unwrap().value.general_names;
        assert_eq!(names, &[GeneralName::URI("spiffe://pilotnet/city/421200")]);
        assert_ne!(cert.raw_serial(), hub.raw_serial());
    }

    #[test]
    fn issue_adds_a_city_and_leaves_the_rest_alone() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), &three_cities()).unwrap();
        let before = snapshot(tmp.path());

        let xianning = city("420100");
        issue(tmp.path(), xianning, &[], 825).unwrap();
        let mut after = snapshot(tmp.path());
        assert!(after.remove(Path::new("cities/420100/cert.pem")).is_some());
        assert!(after.remove(Path::new("cities/420100/key.pem")).is_some());
        assert_eq!(after, before, "other certificates must stay byte-identical");
        let material = TlsFiles::for_identity(tmp.path(), xianning).load(Some(xianning)).unwrap();
        assert_eq!(material.peer.identity, xianning);

        // Re-issuing replaces the pair, keeps the key private and leaves no temporary files.
        let old = fs::read(TlsFiles::for_identity(tmp.path(), Identity::Hub).cert).unwrap();
        issue(tmp.path(), Identity::Hub, &["hub.example".to_owned()], 30).unwrap();
        let files = TlsFiles::for_identity(tmp.path(), Identity::Hub);
        assert_ne!(fs::read(&files.cert).unwrap(), old);
        files.load(Some(Identity::Hub)).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&files.key), 0o600);
        assert_eq!(snapshot(tmp.path()).len(), before.len() + 2);

        // The next init keeps the added city's neighbours and the re-issued hub.
        let report = init(tmp.path(), &three_cities()).unwrap();
        assert!(report.issued.is_empty());
    }

    #[test]
    fn issue_needs_an_existing_ca() {
        let tmp = tempfile::tempdir().unwrap();
        let err = issue(tmp.path(), Identity::Hub, &[], 825).unwrap_err();
        assert!(matches!(&err, Error::NotFound { path } if path.ends_with("ca.pem")), "{err}");
        assert!(err.to_string().contains("run `pilotctl pki init`"));
    }

    #[test]
    fn init_refuses_to_overwrite_half_a_pair() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), &three_cities()).unwrap();
        let files = TlsFiles::for_identity(tmp.path(), city("350500"));
        fs::remove_file(&files.key).unwrap();
        let err = init(tmp.path(), &three_cities()).unwrap_err();
        assert!(matches!(&err, Error::AlreadyExists { path } if *path == files.cert), "{err}");

        fs::remove_file(layout::ca_cert(tmp.path())).unwrap();
        let err = init(tmp.path(), &three_cities()).unwrap_err();
        assert!(matches!(&err, Error::AlreadyExists { path } if path.ends_with("ca.key")), "{err}");
    }

    #[test]
    fn init_with_a_new_ca_refuses_orphaned_certificates() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), &three_cities()).unwrap();
        fs::remove_file(layout::ca_cert(tmp.path())).unwrap();
        fs::remove_file(layout::ca_key(tmp.path())).unwrap();
        let err = init(tmp.path(), &three_cities()).unwrap_err().to_string();
        assert!(err.contains("hub/cert.pem is not signed by the CA in"), "{err}");
        assert!(err.ends_with("remove it and its key, then run init again"), "{err}");
    }

    #[test]
    fn bad_options_are_refused_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        let opts = InitOptions { hub_names: vec!["not a name".to_owned()], ..three_cities() };
        let err = init(&dir, &opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hub name \"not a name\" is neither an IP address nor a DNS name"
        );
        let opts = InitOptions { validity_days: 0, ..three_cities() };
        assert!(matches!(init(&dir, &opts), Err(Error::Invalid { .. })));
        assert!(!dir.exists());
    }

    #[test]
    fn leaves_never_outlive_the_ca() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), &three_cities()).unwrap();
        issue(tmp.path(), Identity::National, &[], 100 * 365).unwrap();
        let peer = TlsFiles::for_identity(tmp.path(), Identity::National).load(None).unwrap().peer;
        let ca_der = single_cert("ca", &read(&layout::ca_cert(tmp.path())).unwrap()).unwrap();
        let ca = parse_der("ca", &ca_der).unwrap();
        assert_eq!(peer.not_after_unix, ca.validity().not_after.timestamp());
    }
}
