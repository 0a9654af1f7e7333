//! The node's gRPC surface: the local intake service with health, and the hub client.
//!
//! The intake API carries raw records, so it is plaintext only on loopback; anywhere else the
//! config requires a bearer token, checked here by an interceptor.

pub mod hub_client;
pub mod intake_api;
mod status;

use std::sync::Arc;

use tonic::service::Interceptor;

use crate::metrics::NodeMetrics;
use tonic::{Request, Status};

/// A streamed backup file.
pub type BackupStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pilot_proto::pb::BackupChunk, Status>> + Send>,
>;

/// Requires `authorization: Bearer <token>` when a token is configured.
#[derive(Debug, Clone)]
pub struct TokenCheck {
    token: Option<Arc<str>>,
    metrics: Arc<NodeMetrics>,
}

impl TokenCheck {
    /// A check for `token`, or none; refusals are counted in `metrics`.
    pub fn new(token: Option<String>, metrics: Arc<NodeMetrics>) -> Self {
        TokenCheck { token: token.map(Arc::from), metrics }
    }
}

impl Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(want) = &self.token else { return Ok(req) };
        let got = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Constant-time comparison: the token guards names and contacts.
        match got {
            Some(g)
                if g.len() == want.len()
                    && g.bytes().zip(want.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 =>
            {
                Ok(req)
            }
            _ => {
                self.metrics.requests_rejected.add("token", 1);
                Err(Status::unauthenticated("missing or wrong bearer token"))
            }
        }
    }
}
