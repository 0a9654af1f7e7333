//! Who is calling: the peer's identity from its client certificate, and what it may do.
//!
//! The TLS layer has already checked that the certificate chains to the federation CA; this
//! module reads the SPIFFE URI from it (through `pilot-pki`, the only certificate parser) and
//! authorizes by role.

use pilot_model::CityCode;
use pilot_pki::Identity;
use tonic::{Request, Status};

/// The authenticated identity of the caller.
pub fn peer<T>(req: &Request<T>) -> Result<Identity, Status> {
    let certs = req
        .peer_certs()
        .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
    let leaf =
        certs.first().ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
    pilot_pki::peer_from_der(leaf.as_ref())
        .map(|p| p.identity)
        .map_err(|e| Status::unauthenticated(format!("unusable client certificate: {e}")))
}

/// The caller's city, if it is a city node.
pub fn require_city<T>(req: &Request<T>) -> Result<CityCode, Status> {
    match peer(req)? {
        Identity::City(c) => Ok(c),
        other => Err(Status::permission_denied(format!("{other} is not a city node"))),
    }
}

/// Succeeds only for the national centre.
pub fn require_national<T>(req: &Request<T>) -> Result<(), Status> {
    match peer(req)? {
        Identity::National => Ok(()),
        other => Err(Status::permission_denied(format!("{other} may not run national queries"))),
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
