//! `pb::intake_server::Intake`: thin handlers that convert, delegate to [`Intake`] and convert
//! back.

use std::sync::Arc;

use pilot_anon::Outcome;
use pilot_proto::convert::{kind_from_pb, status_from_pb};
use pilot_proto::pb;
use tonic::{Request, Response, Status};

use crate::Result;
use crate::feed::MatchFeed;
use crate::grpc::hub_client::HubClient;
use crate::intake::{Intake, stored_to_pb};
use crate::sync::SyncStatus;

/// The intake service.
#[derive(Debug, Clone)]
pub struct IntakeApi {
    intake: Intake,
    hub: HubClient,
    sync: Arc<SyncStatus>,
    feed: Arc<MatchFeed>,
}

impl IntakeApi {
    /// Wraps the bank, the hub client and pushed match list (for matches) and the sync state
    /// (for statistics).
    pub fn new(
        intake: Intake,
        hub: HubClient,
        sync: Arc<SyncStatus>,
        feed: Arc<MatchFeed>,
    ) -> Self {
        IntakeApi { intake, hub, sync, feed }
    }

    /// Runs blocking store work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Intake) -> Result<T> + Send + 'static,
    ) -> Result<T, Status> {
        let intake = self.intake.clone();
        tokio::task::spawn_blocking(move || f(&intake))
            .await
            .map_err(|e| Status::internal(format!("worker failed: {e}")))?
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::intake_server::Intake for IntakeApi {
    type BackupStream = crate::grpc::BackupStream;

    async fn backup(
        &self,
        _req: Request<pb::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let sync = self.sync.clone();
        let file = self
            .blocking(move |i| {
                let mut file = Vec::new();
                let (manifest, sum) = sync.backup(i.store(), &mut file)?;
                tracing::info!(bytes = file.len(), sha256 = %sum, ?manifest, "backup taken");
                Ok(file)
            })
            .await?;
        let pieces = pilot_proto::convert::backup_chunks(&file).into_iter().map(Ok);
        Ok(Response::new(Box::pin(tokio_stream::iter(pieces))))
    }

    async fn upsert(
        &self,
        req: Request<pb::UpsertRequest>,
    ) -> Result<Response<pb::UpsertReply>, Status> {
        let req = req.into_inner();
        let r = self.blocking(move |i| i.upsert(req.records, req.first_row, &req.rows)).await?;
        self.sync.metrics().rows_rejected.add(u64::from(r.rejected));
        Ok(Response::new(pb::UpsertReply {
            rows: r.rows,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            rejected: r.rejected,
        }))
    }

    async fn get(
        &self,
        req: Request<pb::GetRequest>,
    ) -> Result<Response<pb::StoredRecord>, Status> {
        let req = req.into_inner();
        let s = self.blocking(move |i| i.get(&req)).await?;
        Ok(Response::new(stored_to_pb(&s)))
    }

    async fn list(&self, req: Request<pb::ListRequest>) -> Result<Response<pb::ListReply>, Status> {
        let req = req.into_inner();
        let kind = if req.kind == 0 { None } else { Some(kind_from_pb(req.kind)?) };
        let status = status_from_pb(req.status)?;
        let (records, next) = self
            .blocking(move |i| i.list(kind, status, req.page_size as usize, &req.page_token))
            .await?;
        Ok(Response::new(pb::ListReply {
            records: records.iter().map(stored_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn withdraw(
        &self,
        req: Request<pb::GetRequest>,
    ) -> Result<Response<pb::StoredRecord>, Status> {
        let req = req.into_inner();
        let s = self.blocking(move |i| i.withdraw(&req)).await?;
        Ok(Response::new(stored_to_pb(&s)))
    }

    async fn delete(
        &self,
        req: Request<pb::GetRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let req = req.into_inner();
        let id = self.blocking(move |i| i.delete(&req)).await?;
        Ok(Response::new(pb::DeleteReply { local_id: id.to_string() }))
    }

    async fn preview(
        &self,
        req: Request<pb::GetRequest>,
    ) -> Result<Response<pb::PreviewReply>, Status> {
        let req = req.into_inner();
        let outcome = self.blocking(move |i| i.preview(&req)).await?;
        Ok(Response::new(preview_reply(outcome)))
    }

    async fn matches(
        &self,
        req: Request<pb::NodeMatchesRequest>,
    ) -> Result<Response<pb::NodeMatchesReply>, Status> {
        let req = req.into_inner();
        let per_record = if req.per_record == 0 { 5 } else { req.per_record.min(100) };
        let matches = match self.feed.matches(per_record) {
            Some(m) => m,
            None => self.hub.list_mine(per_record).await.map_err(Status::from)?,
        };
        let only = req.local_id;
        let records = self.blocking(move |i| i.join_matches(matches, &only)).await?;
        Ok(Response::new(pb::NodeMatchesReply { records }))
    }

    async fn search(
        &self,
        req: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::ListReply>, Status> {
        let req = req.into_inner();
        let kind = if req.kind == 0 { None } else { Some(kind_from_pb(req.kind)?) };
        let found = self.blocking(move |i| i.search(&req.query, kind, req.limit as usize)).await?;
        Ok(Response::new(pb::ListReply {
            records: found.iter().map(stored_to_pb).collect(),
            next_page_token: String::new(),
        }))
    }

    async fn list_held(
        &self,
        _req: Request<pb::ListHeldRequest>,
    ) -> Result<Response<pb::ListHeldReply>, Status> {
        let records = self.blocking(|i| i.held()).await?;
        Ok(Response::new(pb::ListHeldReply { records }))
    }

    async fn release(
        &self,
        req: Request<pb::GetRequest>,
    ) -> Result<Response<pb::PreviewReply>, Status> {
        let req = req.into_inner();
        let outcome = self.blocking(move |i| i.release(&req)).await?;
        Ok(Response::new(preview_reply(outcome)))
    }

    async fn ledger(
        &self,
        req: Request<pb::LedgerRequest>,
    ) -> Result<Response<pb::LedgerReply>, Status> {
        let req = req.into_inner();
        Ok(Response::new(self.blocking(move |i| i.ledger(&req)).await?))
    }

    async fn stats(
        &self,
        _req: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsReply>, Status> {
        let sync = self.sync.clone();
        let mut reply = self
            .blocking(move |i| {
                let mut r = i.stats(sync.connected())?;
                sync.fill_stats(&mut r)?;
                Ok(r)
            })
            .await?;
        reply.matches_updated_unix_ms = i64::try_from(self.feed.updated_ms()).unwrap_or(0);
        Ok(Response::new(reply))
    }
}

/// The wire form of an anonymizer outcome: the summary, or why it is held back.
pub(crate) fn preview_reply(outcome: Outcome) -> pb::PreviewReply {
    match outcome {
        Outcome::Share(s) => {
            pb::PreviewReply { summary: Some(pb::Summary::from(&s)), ..Default::default() }
        }
        Outcome::Withhold { reason, .. } => pb::PreviewReply {
            summary: None,
            held_back_code: reason.code().to_owned(),
            held_back_reason: reason.to_string(),
        },
    }
}
