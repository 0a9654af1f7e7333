//! Federation identities and how they are named in certificates.
//!
//! An identity is a SPIFFE-style URI (`spiffe://pilotnet/...`) carried as the one URI SAN of a
//! leaf certificate. This module owns that naming and turns a peer's leaf certificate (as the
//! TLS stack hands it over, in DER) into a [`PeerCert`].

use std::fmt;
use std::str::FromStr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use pilot_model::CityCode;

use crate::{Error, Result};

/// The trust domain every federation URI starts with.
const PREFIX: &str = "spiffe://pilotnet/";

/// Who a certificate speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The national hub.
    Hub,
    /// The node of one city.
    City(CityCode),
    /// The national centre's clients, which may query everything.
    National,
}

impl Identity {
    /// The identity's URI, e.g. `spiffe://pilotnet/city/421200`.
    pub fn uri(&self) -> String {
        match self {
            Identity::Hub => format!("{PREFIX}hub"),
            Identity::City(code) => format!("{PREFIX}city/{code}"),
            Identity::National => format!("{PREFIX}national"),
        }
    }

    /// Parses an identity URI as produced by [`Identity::uri`].
    pub fn parse_uri(s: &str) -> Result<Self> {
        let err = |reason: &str| Error::invalid(format!("identity {s:?}"), reason);
        let Some(rest) = s.strip_prefix(PREFIX) else {
            return Err(err("does not start with spiffe://pilotnet/"));
        };
        match rest.split_once('/') {
            None if rest == "hub" => Ok(Identity::Hub),
            None if rest == "national" => Ok(Identity::National),
            Some(("city", code)) => CityCode::parse(code)
                .map(Identity::City)
                .map_err(|_| err("does not name a GB/T 2260 city code")),
            _ => Err(err("is not hub, national or city/<code>")),
        }
    }

    /// The role the hub authorises by: `"hub"`, `"city"` or `"national"`.
    pub fn role(&self) -> &'static str {
        match self {
            Identity::Hub => "hub",
            Identity::City(_) => "city",
            Identity::National => "national",
        }
    }

    /// The city, for a city identity.
    pub fn city(&self) -> Option<CityCode> {
        match self {
            Identity::City(code) => Some(*code),
            Identity::Hub | Identity::National => None,
        }
    }

    /// The certificate's subject common name, e.g. `pilot-city-421200`.
    pub(crate) fn common_name(&self) -> String {
        match self {
            Identity::Hub => "pilot-hub".to_owned(),
            Identity::City(code) => format!("pilot-city-{code}"),
            Identity::National => "pilot-national".to_owned(),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

impl FromStr for Identity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Identity::parse_uri(s)
    }
}

/// What the hub learns about a TLS peer from its leaf certificate (DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// The identity named by the certificate's URI SAN.
    pub identity: Identity,
    /// The serial number in lowercase hex without separators or leading zeros.
    pub serial_hex: String,
    /// The end of the validity period, in seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// SHA-256 of the whole DER certificate, in lowercase hex; stable for revocation lists.
    pub fingerprint_sha256_hex: String,
}

/// Reads the identity and bookkeeping fields from a peer's leaf certificate in DER.
///
/// Exactly one `spiffe://pilotnet/` URI SAN is required (other URIs are ignored); anything else
/// is [`Error::Invalid`].
///
/// NB: this does not verify the certificate. It is meant for certificates the TLS stack has
/// already verified against the federation CA (the hub's mTLS listener); use
/// [`TlsFiles::load`](crate::TlsFiles::load) for files.
pub fn peer_from_der(der: &[u8]) -> Result<PeerCert> {
    let cert = parse_der("peer certificate", der)?;
    peer_from_x509("peer certificate", &cert, der)
}

/// Parses one DER certificate with nothing after it.
pub(crate) fn parse_der<'a>(what: &str, der: &'a [u8]) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => {
            Err(Error::invalid(what, "has trailing bytes after the certificate"))
        }
        Ok((_, cert)) => Ok(cert),
        Err(e) => Err(Error::invalid(what, format!("is not a valid x.509 certificate: {e}"))),
    }
}

/// Builds a [`PeerCert`] from a parsed certificate and its DER; `what` names it in errors.
pub(crate) fn peer_from_x509(
    what: &str,
    cert: &X509Certificate<'_>,
    der: &[u8],
) -> Result<PeerCert> {
    let san = cert.subject_alternative_name().map_err(|e| {
        Error::invalid(what, format!("has a malformed subject alternative name: {e}"))
    })?;
    let uris: Vec<&str> = san
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with(PREFIX) => Some(*uri),
            _ => None,
        })
        .collect();
    let identity = match uris.as_slice() {
        [uri] => Identity::parse_uri(uri).map_err(|e| match e {
            Error::Invalid { reason, .. } => {
                Error::invalid(what, format!("has URI SAN {uri:?}, which {reason}"))
            }
            other => other,
        })?,
        [] => return Err(Error::invalid(what, "has no spiffe://pilotnet/ URI SAN")),
        many => {
            return Err(Error::invalid(
                what,
                format!("has {} spiffe://pilotnet/ URI SANs, expected one", many.len()),
            ));
        }
    };
    Ok(PeerCert {
        identity,
        serial_hex: format!("{:x}", cert.tbs_certificate.serial),
        not_after_unix: cert.validity().not_after.timestamp(),
        fingerprint_sha256_hex: hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
    })
}

/// Lowercase hex without separators.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn city(code: &str) -> Identity {
        Identity::City(CityCode::parse(code).unwrap())
    }

    #[test]
    fn uris_round_trip() {
        for (id, uri, role) in [
            (Identity::Hub, "spiffe://pilotnet/hub", "hub"),
            (Identity::National, "spiffe://pilotnet/national", "national"),
            (city("421200"), "spiffe://pilotnet/city/421200", "city"),
        ] {
            assert_eq!(id.uri(), uri);
            assert_eq!(id.to_string(), uri);
            assert_eq!(id.role(), role);
            assert_eq!(Identity::parse_uri(uri).unwrap(), id);
            assert_eq!(uri.parse::<Identity>().unwrap(), id);
        }
        assert_eq!(city("421200").common_name(), "pilot-city-421200");
        assert_eq!(city("421200").city(), Some(CityCode::parse("421200").unwrap()));
        assert_eq!(Identity::Hub.city(), None);
    }

    #[test]
    fn rejects_foreign_and_malformed_uris() {
        for bad in [
            "spiffe://other/hub",
            "spiffe://pilotnet/",
            "spiffe://pilotnet/hub/",
            "spiffe://pilotnet/city/",
            "spiffe://pilotnet/city/421202",
            "spiffe://pilotnet/city/421200/x",
            "spiffe://pilotnet/national/1",
            "spiffe://pilotnet/HUB",
            "https://pilotnet/hub",
        ] {
            let err = Identity::parse_uri(bad).unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{bad}: {err}");
        }
        assert_eq!(
            Identity::parse_uri("spiffe://pilotnet/city/999900").unwrap_err().to_string(),
            "identity \"spiffe://pilotnet/city/999900\" does not name a GB/T 2260 city code"
        );
    }

    #[test]
    fn peer_from_der_rejects_garbage() {
        let err = peer_from_der(b"not a certificate").unwrap_err();
        assert!(err.to_string().starts_with("peer certificate is not a valid x.509 certificate"));
    }
}
