//! Maps node errors to gRPC statuses, once.
//!
//! Internal errors are logged with their cause; the client gets only "internal error", never
//! payload data.

use tonic::Status;
use tracing::error;

use crate::Error;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { .. } => Status::invalid_argument(e.to_string()),
            Error::NotFound(_) => Status::not_found(e.to_string()),
            Error::Conflict(_) => Status::already_exists(e.to_string()),
            Error::HubUnavailable(_) => Status::unavailable(e.to_string()),
            Error::Store(ref inner) if inner.is_retryable() => {
                error!(error = %e, "store unavailable");
                Status::unavailable("store unavailable")
            }
            other => {
                error!(error = %other, "internal error");
                Status::internal("internal error")
            }
        }
    }
}
