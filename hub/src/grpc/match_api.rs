//! `pb::matches_server::Matches` (node-scoped) and `pb::national_server::National`: thin
//! handlers over [`Matcher`].

use std::sync::Arc;

use pilot_model::{CityCode, FieldCode, IndustryCode, Kind, Pseudonym, SummaryKey, YearMonth};
use pilot_proto::convert::kind_from_pb;
use pilot_proto::pb;
use pilot_store::{DigestState, HubStore};
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::debug;

use crate::matcher::{Matcher, NationalFilter};
use crate::metrics::HubMetrics;
use crate::registry::{self, Registry};
use crate::rounds::RoundGate;
use crate::stats;
use crate::subscription::Subscription;

/// Node-scoped match queries.
#[derive(Debug, Clone)]
pub struct MatchApi {
    matcher: Arc<Matcher>,
    registry: Registry,
    shutdown: CancellationToken,
    metrics: Arc<HubMetrics>,
    full_rounds: RoundGate,
}

impl MatchApi {
    /// Queries over `matcher`, for callers checked against `registry`; subscriptions end when
    /// `shutdown` fires, and their full rounds take turns at `full_rounds`.
    pub fn new(
        matcher: Arc<Matcher>,
        registry: Registry,
        shutdown: CancellationToken,
        metrics: Arc<HubMetrics>,
        full_rounds: RoundGate,
    ) -> Self {
        MatchApi { matcher, registry, shutdown, metrics, full_rounds }
    }
}

/// Least time between two pushes of one subscription's list.
const PUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Records per `ListMine` page when the caller asks for none.
const MINE_PAGE_DEFAULT: usize = 500;
/// Most records per `ListMine` page: at 100 matches each (the most a caller may ask for) and
/// a few hundred bytes a match, a page stays well under the 64 MiB a client accepts.
const MINE_PAGE_MAX: usize = 1000;

fn invalid(e: pilot_model::Error) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl pb::matches_server::Matches for MatchApi {
    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::MatchList, Status>> + Send>>;

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (city, serial) = self.registry.require_city_cert(&req)?;
        let req = req.into_inner();
        registry::same_city(city, &req.city)?;
        let per_record = match req.per_record {
            0 => 10,
            n => n.min(100) as usize,
        };
        let (tx, rx) = mpsc::channel(2);
        let (matcher, registry, shutdown, metrics, gate) = (
            self.matcher.clone(),
            self.registry.clone(),
            self.shutdown.clone(),
            self.metrics.clone(),
            self.full_rounds.clone(),
        );
        let mut changes = matcher.changes();
        tokio::spawn(async move {
            // NB: the subscription moves into each round's blocking task and back.
            let mut sub = Subscription::new(city, per_record, req.include_same_city);
            let mut full = true;
            loop {
                if let Err(status) = registry.still_valid(&serial) {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                // A full round waits for its turn (see crate::rounds); an incremental one costs
                // milliseconds and does not.
                let turn = if full {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tx.closed() => return,
                        turn = gate.turn() => Some(turn),
                    }
                } else {
                    None
                };
                changes.mark_unchanged();
                let (m, metrics) = (matcher.clone(), metrics.clone());
                let Ok((back, push)) = tokio::task::spawn_blocking(move || {
                    let _turn = turn;
                    let push = if full {
                        timed(&metrics, "subscribe", || sub.full_round(&m))
                    } else {
                        timed(&metrics, "subscribe_update", || sub.incremental_round(&m))
                    };
                    (sub, push)
                })
                .await
                else {
                    return;
                };
                sub = back;
                if let Some(push) = push {
                    debug!(city = %city, records = push.records(), full, "pushing matches");
                    // A list can be far larger than one message may be: it goes in pieces of
                    // about a MiB, whole records each (see pilot_proto::framing).
                    for msg in push.into_messages() {
                        if tx.send(Ok(msg)).await.is_err() {
                            debug!(city = %city, "match subscriber left");
                            return;
                        }
                    }
                }
                // At most one push per interval: changes meanwhile are coalesced into the next.
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(PUSH_INTERVAL) => {}
                }
                // Then follow the changes as soon as there are any (at once if there already
                // are), or correct drifted scores once the federation is quiet.
                let due = sub.full_round_due();
                let correct = async {
                    match due {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tx.closed() => return,
                    r = changes.changed() => {
                        if r.is_err() {
                            return;
                        }
                        full = false;
                    }
                    _ = correct => full = true,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_mine(
        &self,
        req: Request<pb::ListMineRequest>,
    ) -> Result<Response<pb::MatchList>, Status> {
        let city = self.registry.require_city(&req)?;
        let req = req.into_inner();
        registry::same_city(city, &req.city)?;
        let only = req
            .pseudonyms
            .iter()
            .map(|p| Pseudonym::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let per_record = match req.per_record {
            0 => 10,
            n => n.min(100) as usize,
        };
        let page_size = match req.page_size {
            0 => MINE_PAGE_DEFAULT,
            n => (n as usize).min(MINE_PAGE_MAX),
        };
        let after = match req.page_token.as_str() {
            "" => None,
            t => Some(Pseudonym::parse(t).map_err(|_| {
                Status::invalid_argument("page_token is not a token from a previous reply")
            })?),
        };
        let matcher = self.matcher.clone();
        let metrics = self.metrics.clone();
        let (matches, next) = tokio::task::spawn_blocking(move || {
            timed(&metrics, "list_mine", || {
                matcher.mine_page(
                    city,
                    &only,
                    per_record,
                    req.include_same_city,
                    after.as_ref(),
                    page_size,
                )
            })
        })
        .await
        .map_err(|_| Status::internal("internal error"))?;
        Ok(Response::new(pb::MatchList {
            matches: matches.iter().map(pb::Match::from).collect(),
            next_page_token: next.map(|p| p.to_string()).unwrap_or_default(),
            ..Default::default()
        }))
    }
}

/// National-centre queries.
#[derive(Debug, Clone)]
pub struct NationalApi {
    matcher: Arc<Matcher>,
    store: HubStore,
    registry: Registry,
    metrics: Arc<HubMetrics>,
    ingest: crate::ingest::Ingest,
}

impl NationalApi {
    /// Queries over `matcher` and the store's city states, for callers checked against
    /// `registry`.
    pub fn new(
        matcher: Arc<Matcher>,
        store: HubStore,
        registry: Registry,
        metrics: Arc<HubMetrics>,
        ingest: crate::ingest::Ingest,
    ) -> Self {
        NationalApi { matcher, store, registry, metrics, ingest }
    }
}

fn parse_city(field: &'static str, s: &str) -> Result<Option<CityCode>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    CityCode::parse(s).map(Some).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

fn parse_token(t: &str) -> Result<Option<SummaryKey>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || Status::invalid_argument("page_token is not a token from a previous reply");
    let (city, p) = t.split_once('/').ok_or_else(bad)?;
    Ok(Some(SummaryKey {
        city: CityCode::parse(city).map_err(|_| bad())?,
        pseudonym: Pseudonym::parse(p).map_err(|_| bad())?,
    }))
}

/// A streamed backup file.
pub type BackupStream = Pin<Box<dyn Stream<Item = Result<pb::BackupChunk, Status>> + Send>>;

#[tonic::async_trait]
impl pb::national_server::National for NationalApi {
    type BackupStream = BackupStream;

    async fn backup(
        &self,
        req: Request<pb::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        self.registry.require_national(&req)?;
        let ingest = self.ingest.clone();
        let file = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, crate::Error> {
            let mut file = Vec::new();
            let (manifest, sum) = ingest.backup(&mut file)?;
            tracing::info!(bytes = file.len(), sha256 = %sum, ?manifest, "backup taken");
            Ok(file)
        })
        .await
        .map_err(|_| Status::internal("internal error"))??;
        let pieces = pilot_proto::convert::backup_chunks(&file).into_iter().map(Ok);
        Ok(Response::new(Box::pin(tokio_stream::iter(pieces))))
    }

    async fn list_matches(
        &self,
        req: Request<pb::ListMatchesRequest>,
    ) -> Result<Response<pb::MatchList>, Status> {
        self.registry.require_national(&req)?;
        self.list_matches_for(req.into_inner()).await
    }

    async fn flow_matrix(
        &self,
        req: Request<pb::FlowMatrixRequest>,
    ) -> Result<Response<pb::FlowMatrixReply>, Status> {
        self.registry.require_national(&req)?;
        self.flow_matrix_for(req.into_inner()).await
    }

    async fn field_stats(
        &self,
        req: Request<pb::FieldStatsRequest>,
    ) -> Result<Response<pb::FieldStatsReply>, Status> {
        self.registry.require_national(&req)?;
        self.field_stats_for(req.into_inner()).await
    }

    async fn status(
        &self,
        req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusReply>, Status> {
        self.registry.require_national(&req)?;
        self.status_for().await
    }
}

/// The national queries themselves, for callers already authorized as the national centre
/// (the gRPC service above and the HTTPS JSON API).
impl NationalApi {
    /// Cross-region matches, filtered and paged.
    pub async fn list_matches_for(
        &self,
        r: pb::ListMatchesRequest,
    ) -> Result<Response<pb::MatchList>, Status> {
        let filter = NationalFilter {
            city: parse_city("city", &r.city)?,
            counterpart_city: parse_city("counterpart_city", &r.counterpart_city)?,
            field: if r.field.is_empty() {
                None
            } else {
                Some(FieldCode::parse(&r.field).map_err(invalid)?)
            },
            industry: if r.industry.is_empty() {
                None
            } else {
                Some(IndustryCode::parse(&r.industry).map_err(invalid)?)
            },
            updated_from: month("updated_from", r.updated_from)?,
            updated_to: month("updated_to", r.updated_to)?,
            subject: r
                .subject
                .as_ref()
                .map(SummaryKey::try_from)
                .transpose()
                .map_err(|e| Status::invalid_argument(format!("subject: {e}")))?,
            subject_kind: if r.subject_kind == 0 {
                pilot_model::Kind::Demand
            } else {
                kind_from_pb(r.subject_kind)?
            },
            per_subject: if r.per_subject == 0 { 5 } else { r.per_subject.min(100) as usize },
            page_size: if r.page_size == 0 { 50 } else { r.page_size.min(500) as usize },
            after: parse_token(&r.page_token)?,
            min_score: r.min_score,
            include_same_city: r.include_same_city,
        };
        let matcher = self.matcher.clone();
        let metrics = self.metrics.clone();
        let (matches, next) = tokio::task::spawn_blocking(move || {
            timed(&metrics, "national", || matcher.national(&filter))
        })
        .await
        .map_err(|_| Status::internal("internal error"))?;
        Ok(Response::new(pb::MatchList {
            matches: matches.iter().map(pb::Match::from).collect(),
            next_page_token: next.map(|k| k.to_string()).unwrap_or_default(),
            ..Default::default()
        }))
    }

    /// The city-to-city flow matrix, small counts suppressed.
    pub async fn flow_matrix_for(
        &self,
        req: pb::FlowMatrixRequest,
    ) -> Result<Response<pb::FlowMatrixReply>, Status> {
        let scope = scope(req.scope.unwrap_or_default())?;
        let (matcher, store, metrics) =
            (self.matcher.clone(), self.store.clone(), self.metrics.clone());
        let reply =
            tokio::task::spawn_blocking(move || -> Result<pb::FlowMatrixReply, crate::Error> {
                let cities: Vec<CityCode> = store.cities()?.into_iter().map(|(c, _)| c).collect();
                let (flows, total) = timed(&metrics, "flows", || {
                    matcher.with_index(|index| stats::flow_matrix(index, &cities, &scope))
                });
                Ok(pb::FlowMatrixReply {
                    flows: flows
                        .into_iter()
                        .map(|(from, to, n)| pb::Flow {
                            from_city: from.to_string(),
                            to_city: to.to_string(),
                            matches: stats::disclose(n),
                        })
                        .collect(),
                    total: stats::disclose(total),
                    threshold: stats::THRESHOLD as u32,
                })
            })
            .await
            .map_err(|_| Status::internal("internal error"))??;
        Ok(Response::new(reply))
    }

    /// Per-discipline statistics, small counts suppressed.
    pub async fn field_stats_for(
        &self,
        req: pb::FieldStatsRequest,
    ) -> Result<Response<pb::FieldStatsReply>, Status> {
        let scope = scope(req.scope.unwrap_or_default())?;
        let (matcher, metrics) = (self.matcher.clone(), self.metrics.clone());
        let fields = tokio::task::spawn_blocking(move || {
            timed(&metrics, "fields", || {
                matcher.with_index(|index| stats::field_stats(index, &scope))
            })
        })
        .await
        .map_err(|_| Status::internal("internal error"))?;
        Ok(Response::new(pb::FieldStatsReply {
            fields: fields
                .into_iter()
                .map(|(f, (demands, supply, matched))| pb::FieldStat {
                    field: f.code().to_owned(),
                    name: f.zh().to_owned(),
                    demands: stats::disclose(demands),
                    supply: stats::disclose(supply),
                    matched_demands: stats::disclose(matched),
                })
                .collect(),
            threshold: stats::THRESHOLD as u32,
        }))
    }

    /// The federation status.
    pub async fn status_for(&self) -> Result<Response<pb::StatusReply>, Status> {
        let (matcher, store, registry) =
            (self.matcher.clone(), self.store.clone(), self.registry.clone());
        let reply =
            tokio::task::spawn_blocking(move || -> Result<pb::StatusReply, crate::Error> {
                let counts = matcher.counts();
                let mut cities = Vec::new();
                let mut total = 0;
                for (city, state) in store.cities()? {
                    let c = counts.get(&city).copied().unwrap_or_default();
                    total += c.demands + c.achievements + c.experts;
                    cities.push(pb::CityStatus {
                        city: city.to_string(),
                        demands: c.demands,
                        achievements: c.achievements,
                        experts: c.experts,
                        acked_seq: state.acked_seq,
                        last_sync_unix_ms: ms(state.last_sync_ms),
                        last_contact_unix_ms: ms(state.last_contact_ms),
                        node_last_seq: state.node_last_seq,
                        lag: state.lag(),
                        digest: Some(crate::ingest::set_digest(state.digest)),
                        digest_state: match state.digest_state {
                            DigestState::Unknown => pb::DigestState::Unknown,
                            DigestState::Equal => pb::DigestState::Equal,
                            DigestState::Repairing => pb::DigestState::Repairing,
                        } as i32,
                        digest_checked_unix_ms: ms(state.digest_checked_ms),
                        revoked: registry.city_revoked(city),
                    });
                }
                Ok(pb::StatusReply { cities, total_summaries: total })
            })
            .await
            .map_err(|_| Status::internal("internal error"))??;
        Ok(Response::new(reply))
    }
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An optional YYYYMM month (0 for none).
fn month(field: &'static str, v: u32) -> Result<Option<YearMonth>, Status> {
    if v == 0 {
        return Ok(None);
    }
    YearMonth::from_yyyymm(v)
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

/// The statistics scope, with defaults and bounds.
fn scope(s: pb::StatsScope) -> Result<stats::Scope, Status> {
    Ok(stats::Scope {
        subject_kind: if s.subject_kind == 0 {
            Kind::Demand
        } else {
            kind_from_pb(s.subject_kind)?
        },
        per_subject: if s.per_subject == 0 { 5 } else { s.per_subject.min(100) as usize },
        min_score: s.min_score,
    })
}

/// Runs a match computation and records how long it took under `query`.
fn timed<T>(metrics: &HubMetrics, query: &str, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    metrics.match_latency.observe(query, started.elapsed());
    out
}
