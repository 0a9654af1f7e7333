//! `pb::intake_server::Intake`: thin handlers that convert, delegate to [`Intake`] and convert
//! back.

use std::collections::BTreeMap;
use std::sync::Arc;

use pilot_anon::Outcome;
use pilot_model::Pseudonym;
use pilot_proto::convert::{kind_from_pb, status_from_pb};
use pilot_proto::pb;
use tonic::{Request, Response, Status};

use crate::grpc::hub_client::HubClient;
use crate::intake::{Intake, stored_to_pb};
use crate::sync::SyncStatus;
use crate::{Error, Result};

/// The intake service.
#[derive(Debug, Clone)]
pub struct IntakeApi {
    intake: Intake,
    hub: HubClient,
    sync: Arc<SyncStatus>,
}

impl IntakeApi {
    /// Wraps the bank, the hub client (for matches) and the sync state (for statistics).
    pub fn new(intake: Intake, hub: HubClient, sync: Arc<SyncStatus>) -> Self {
        IntakeApi { intake, hub, sync }
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
    async fn upsert(
        &self,
        req: Request<pb::UpsertRequest>,
    ) -> Result<Response<pb::UpsertReply>, Status> {
        let req = req.into_inner();
        let r = self.blocking(move |i| i.upsert(req.records, req.first_row)).await?;
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
        Ok(Response::new(match outcome {
            Outcome::Share(s) => {
                pb::PreviewReply { summary: Some(pb::Summary::from(&s)), ..Default::default() }
            }
            Outcome::Withhold { reason, .. } => pb::PreviewReply {
                summary: None,
                held_back_code: reason.code().to_owned(),
                held_back_reason: reason.to_string(),
            },
        }))
    }

    async fn matches(
        &self,
        req: Request<pb::NodeMatchesRequest>,
    ) -> Result<Response<pb::NodeMatchesReply>, Status> {
        let req = req.into_inner();
        let per_record = if req.per_record == 0 { 5 } else { req.per_record.min(100) };
        let matches = self.hub.list_mine(per_record).await.map_err(Status::from)?;
        let only = req.local_id;
        let records = self
            .blocking(move |i| {
                // Group by our own record, keeping the hub's order (best first).
                let mut grouped: BTreeMap<String, Vec<pb::Match>> = BTreeMap::new();
                for m in matches {
                    let Some(subject) = m.subject.as_ref() else { continue };
                    grouped.entry(subject.pseudonym.clone()).or_default().push(m);
                }
                let mut out = Vec::new();
                for (p, ms) in grouped {
                    let Ok(p) = Pseudonym::parse(&p) else { continue };
                    let Some(id) = i.store().resolve(&p)? else { continue };
                    if !only.is_empty() && id.as_str() != only {
                        continue;
                    }
                    let Some(stored) = i.store().get(&id)? else { continue };
                    let r = &stored.record;
                    out.push(pb::RecordMatches {
                        local_id: id.to_string(),
                        external_id: r.external_id.clone().unwrap_or_default(),
                        kind: pb::Kind::from(r.kind()) as i32,
                        title: r.body.title().to_owned(),
                        pseudonym: p.to_string(),
                        matches: ms,
                    });
                }
                out.sort_by(|a, b| (a.kind, &a.local_id).cmp(&(b.kind, &b.local_id)));
                Ok::<_, Error>(out)
            })
            .await?;
        Ok(Response::new(pb::NodeMatchesReply { records }))
    }

    async fn stats(
        &self,
        _req: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsReply>, Status> {
        let connected = self.sync.connected();
        let reply = self
            .blocking(move |i| {
                let s = i.store();
                let c = s.counts()?;
                Ok(pb::StatsReply {
                    city: i.anonymizer().city().to_string(),
                    demands: c.demands,
                    achievements: c.achievements,
                    experts: c.experts,
                    last_seq: s.last_seq()?.0,
                    acked_seq: s.acked_seq()?.0,
                    held_back: s.held_back()?.len() as u64,
                    hub_connected: connected,
                })
            })
            .await?;
        Ok(Response::new(reply))
    }
}
