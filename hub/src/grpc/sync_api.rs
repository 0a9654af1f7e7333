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

use crate::Error;
use crate::ingest::Ingest;
use crate::registry::{self, Registry};

/// The sync service.
#[derive(Debug, Clone)]
pub struct SyncApi {
    ingest: Ingest,
    registry: Registry,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl SyncApi {
    /// Streams are served by tasks on `tracker` that stop at `shutdown` after their current batch.
    pub fn new(
        ingest: Ingest,
        registry: Registry,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        SyncApi { ingest, registry, tracker, shutdown }
    }

    /// Runs a blocking ingest call off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ingest) -> crate::Result<T> + Send + 'static,
    ) -> Result<T, Status> {
        let ingest = self.ingest.clone();
        Ok(tokio::task::spawn_blocking(move || f(&ingest)).await.map_err(join_error)??)
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
        let city = self.registry.require_city(&req)?;
        registry::same_city(city, &req.get_ref().city)?;
        let last_seq = req.get_ref().last_seq;
        let acked = self.blocking(move |i| i.resume(city, last_seq)).await?;
        info!(city = %city, acked_seq = acked, node_last_seq = last_seq, "node resumed");
        Ok(Response::new(pb::ResumeReply { acked_seq: acked }))
    }

    async fn digest(
        &self,
        req: Request<pb::DigestRequest>,
    ) -> Result<Response<pb::DigestReply>, Status> {
        let city = self.registry.require_city(&req)?;
        let req = req.into_inner();
        registry::same_city(city, &req.city)?;
        let reply = self.blocking(move |i| i.digest(city, &req)).await?;
        debug!(city = %city, equal = reply.equal, "digest compared");
        Ok(Response::new(reply))
    }

    async fn reconcile(
        &self,
        req: Request<pb::ReconcileRequest>,
    ) -> Result<Response<pb::ReconcileReply>, Status> {
        let city = self.registry.require_city(&req)?;
        let req = req.into_inner();
        registry::same_city(city, &req.city)?;
        Ok(Response::new(self.blocking(move |i| i.reconcile(city, req)).await?))
    }

    type PushStream = Pin<Box<dyn Stream<Item = Result<pb::PushAck, Status>> + Send>>;

    async fn push(
        &self,
        req: Request<Streaming<pb::PushBatch>>,
    ) -> Result<Response<Self::PushStream>, Status> {
        let (city, serial) = self.registry.require_city_cert(&req)?;
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(4);
        let (ingest, shutdown) = (self.ingest.clone(), self.shutdown.clone());
        let registry = self.registry.clone();
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
                // A certificate revoked while its stream is open stops at the next batch.
                if let Err(status) = registry.still_valid(&serial) {
                    warn!(city = %city, "push stream cut: certificate revoked");
                    let _ = tx.send(Err(status)).await;
                    break;
                }
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
                        ingest.metrics().batches_rejected.add(error_kind(&e), 1);
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
        Error::Store(pilot_store::Error::Gap { .. }) => "gap",
        Error::Store(_) => "store",
        _ => "other",
    }
}
