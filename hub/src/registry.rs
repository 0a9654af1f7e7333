//! Who is calling: the peer's identity from its client certificate, whether that certificate is
//! revoked, and what the identity may do.
//!
//! The TLS layer has already checked that the certificate chains to the federation CA; this
//! module reads the SPIFFE URI and serial from it (through `pilot-pki`, the only certificate
//! parser), refuses revoked serials, and authorizes by role. The revoked set is swapped in whole
//! by the revocation watcher, so a revocation takes effect on the next call without a restart.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use pilot_config::metrics::LabeledCounter;
use pilot_model::CityCode;
use pilot_pki::Identity;
use tonic::{Request, Status};

/// The callers' registry: revoked serials and the last certificate seen per city.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    revoked: Arc<RwLock<Arc<HashSet<String>>>>,
    last_serial: Arc<Mutex<BTreeMap<CityCode, String>>>,
    rejected: Arc<LabeledCounter>,
}

impl Registry {
    /// Replaces the revoked serials (lowercase hex, as in [`pilot_pki::PeerCert::serial_hex`]).
    pub fn set_revoked(&self, serials: HashSet<String>) {
        *self.revoked.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(serials);
    }

    /// Calls refused, by reason, for metrics.
    pub fn rejections(&self) -> &LabeledCounter {
        &self.rejected
    }

    /// Counts a refusal and passes it on.
    fn refuse(&self, reason: &str, status: Status) -> Status {
        self.rejected.add(reason, 1);
        status
    }

    /// How many serials are revoked.
    pub fn revoked_count(&self) -> usize {
        self.revoked.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn is_revoked(&self, serial: &str) -> bool {
        self.revoked.read().unwrap_or_else(|p| p.into_inner()).contains(serial)
    }

    /// Whether the certificate `city` last presented is revoked.
    pub fn city_revoked(&self, city: CityCode) -> bool {
        let last = self.last_serial.lock().unwrap_or_else(|p| p.into_inner());
        last.get(&city).is_some_and(|s| self.is_revoked(s))
    }

    /// The authenticated identity of the caller; UNAUTHENTICATED for a missing, unusable or
    /// revoked certificate.
    pub fn peer<T>(&self, req: &Request<T>) -> Result<Identity, Status> {
        self.peer_cert(req).map(|p| p.identity)
    }

    /// [`Registry::peer`] with the certificate's serial.
    fn peer_cert<T>(&self, req: &Request<T>) -> Result<pilot_pki::PeerCert, Status> {
        let missing = || {
            self.refuse(
                "no_certificate",
                Status::unauthenticated("a client certificate is required"),
            )
        };
        let certs = req.peer_certs().ok_or_else(missing)?;
        let leaf = certs.first().ok_or_else(missing)?;
        let peer = pilot_pki::peer_from_der(leaf.as_ref()).map_err(|e| {
            self.refuse(
                "bad_certificate",
                Status::unauthenticated(format!("unusable client certificate: {e}")),
            )
        })?;
        if let Identity::City(city) = peer.identity {
            self.last_serial
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(city, peer.serial_hex.clone());
        }
        if self.is_revoked(&peer.serial_hex) {
            return Err(self.refuse(
                "revoked",
                Status::unauthenticated(format!(
                    "the certificate of {} (serial {}) is revoked",
                    peer.identity, peer.serial_hex
                )),
            ));
        }
        Ok(peer)
    }

    /// The caller's city, if it is a city node.
    pub fn require_city<T>(&self, req: &Request<T>) -> Result<CityCode, Status> {
        match self.peer(req)? {
            Identity::City(c) => Ok(c),
            other => Err(self.refuse(
                "wrong_role",
                Status::permission_denied(format!("{other} is not a city node")),
            )),
        }
    }

    /// Succeeds only for the national centre.
    pub fn require_national<T>(&self, req: &Request<T>) -> Result<(), Status> {
        match self.peer(req)? {
            Identity::National => Ok(()),
            other => Err(self.refuse(
                "wrong_role",
                Status::permission_denied(format!("{other} may not run national queries")),
            )),
        }
    }

    /// The caller's city and its certificate's serial, for long-lived streams that must check
    /// [`Registry::still_valid`] as they go.
    pub fn require_city_cert<T>(&self, req: &Request<T>) -> Result<(CityCode, String), Status> {
        let peer = self.peer_cert(req)?;
        match peer.identity {
            Identity::City(c) => Ok((c, peer.serial_hex)),
            other => Err(Status::permission_denied(format!("{other} is not a city node"))),
        }
    }

    /// Succeeds only for a national-centre certificate (DER of the leaf) that is not revoked:
    /// the same rule as [`Registry::require_national`], for the HTTPS API.
    pub fn require_national_der(&self, der: &[u8]) -> Result<(), Status> {
        let peer = pilot_pki::peer_from_der(der)
            .map_err(|e| Status::unauthenticated(format!("unusable client certificate: {e}")))?;
        if self.is_revoked(&peer.serial_hex) {
            return Err(Status::unauthenticated(format!(
                "the certificate of {} (serial {}) is revoked",
                peer.identity, peer.serial_hex
            )));
        }
        match peer.identity {
            Identity::National => Ok(()),
            other => Err(self.refuse(
                "wrong_role",
                Status::permission_denied(format!("{other} may not run national queries")),
            )),
        }
    }

    /// Checks, during a long-lived stream, that the certificate that opened it is still good.
    pub fn still_valid(&self, serial: &str) -> Result<(), Status> {
        if self.is_revoked(serial) {
            Err(Status::unauthenticated(format!("certificate serial {serial} was revoked")))
        } else {
            Ok(())
        }
    }
}

/// Checks that a city named in a request is the caller's own.
pub fn same_city(caller: CityCode, named: &str) -> Result<(), Status> {
    if named.is_empty() || named == caller.to_string() {
        Ok(())
    } else {
        Err(Status::permission_denied(format!("city {caller} may not act for city {named}")))
    }
}
