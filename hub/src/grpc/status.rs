//! Maps hub errors to gRPC statuses, once.
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
            Error::PermissionDenied(_) => Status::permission_denied(e.to_string()),
            Error::Store(pilot_store::Error::Gap { .. }) => {
                Status::failed_precondition(e.to_string())
            }
            Error::Store(ref s) if s.is_retryable() => {
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
