//! `pb::sync_server::Sync`: authenticate the city, then hand each batch to [`Ingest`].

use std::pin::Pin;

use pilot_proto::pb;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use crate::ingest::Ingest;
use crate::{Error, registry};

/// The sync service.
#[derive(Debug, Clone)]
pub struct SyncApi {
    ingest: Ingest,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl SyncApi {
    /// Streams are served by tasks on `tracker` that stop at `shutdown` after their current batch.
    pub fn new(ingest: Ingest, tracker: TaskTracker, shutdown: CancellationToken) -> Self {
        SyncApi { ingest, tracker, shutdown }
    }
}

fn join_error(e: tokio::task::JoinError) -> Status {
    warn!(error = %e, "ingest worker failed");
    Status::internal("internal error")
}

#[tonic::async_trait]
impl pb::sync_server::Sync for SyncApi {
    async fn resume(
        &self,
        req: Request<pb::ResumeRequest>,
    ) -> Result<Response<pb::ResumeReply>, Status> {
        let city = registry::require_city(&req)?;
        registry::same_city(city, &req.get_ref().city)?;
        let ingest = self.ingest.clone();
        let acked = tokio::task::spawn_blocking(move || ingest.resume(city))
            .await
            .map_err(join_error)??;
        info!(city = %city, acked_seq = acked, "node resumed");
        Ok(Response::new(pb::ResumeReply { acked_seq: acked }))
    }

    type PushStream = Pin<Box<dyn Stream<Item = Result<pb::PushAck, Status>> + Send>>;

    async fn push(
        &self,
        req: Request<Streaming<pb::PushBatch>>,
    ) -> Result<Response<Self::PushStream>, Status> {
        let city = registry::require_city(&req)?;
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(4);
        let (ingest, shutdown) = (self.ingest.clone(), self.shutdown.clone());
        self.tracker.spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    m = inbound.message() => m,
                };
                let batch = match next {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(status) => {
                        debug!(city = %city, code = ?status.code(), "push stream ended by peer or transport");
                        // Tell the peer why, when the stream is still writable (e.g. an oversized message).
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                };
                let ing = ingest.clone();
                let applied = tokio::task::spawn_blocking(move || ing.apply(city, batch)).await;
                let reply = match applied {
                    Ok(Ok(ack)) => Ok(ack),
                    Ok(Err(e)) => {
                        // Field names only: a refused batch's payload is never logged.
                        let field = match &e {
                            Error::Invalid { field, .. } => *field,
                            _ => "",
                        };
                        warn!(city = %city, kind = %error_kind(&e), field, "batch refused");
                        Err(Status::from(e))
                    }
                    Err(e) => Err(join_error(e)),
                };
                let failed = reply.is_err();
                if tx.send(reply).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Invalid { .. } => "invalid",
        Error::PermissionDenied(_) => "permission_denied",
        Error::Store(_) => "store",
        _ => "other",
    }
}
