//! The national centre's HTTPS/JSON API: the same queries as the `National` gRPC service, for
//! tools that speak JSON, over mutual TLS with the same certificates and the same rules.
//!
//! Every connection must present a client certificate that chains to the federation CA (the
//! TLS layer checks); every request is then authorized like a gRPC call: the certificate must be
//! the national centre's and not revoked. Handlers are thin: authorize, convert the query string
//! to the gRPC request, call [`NationalApi`], convert the reply to JSON.
//!
//! Routes (all `GET`):
//! - `/api/v1/national/status`
//! - `/api/v1/national/matches?city=&counterpart_city=&field=&industry=&from=YYYYMM&to=YYYYMM&subject=CITY/PSEUDONYM&kind=demand&per_subject=&page_size=&page_token=&min_score=&include_same_city=`
//! - `/api/v1/national/flows?per_subject=&min_score=`
//! - `/api/v1/national/fields?per_subject=&min_score=`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pilot_proto::pb;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::grpc::match_api::NationalApi;
use crate::registry::Registry;
use crate::{Error, Result};

/// A TLS server config that requires a client certificate from the federation CA.
pub fn tls_config(tls: &pilot_pki::TlsMaterial) -> Result<rustls::ServerConfig> {
    let bad = |e: String| Error::Io { path: "tls".into(), source: std::io::Error::other(e) };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&tls.ca_pem) {
        roots.add(c.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| bad(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&tls.cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&tls.key_pem).map_err(|e| bad(e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Accepts TCP connections and completes TLS handshakes concurrently (a slow or silent client
/// holds only its own task, for at most ten seconds), handing finished streams to axum.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` until `shutdown` fires.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor, shutdown: CancellationToken) -> Self {
        let local_addr = tcp.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    a = tcp.accept() => a,
                };
                let Ok((stream, addr)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => debug!(peer = %addr, error = %e, "https handshake failed"),
                        Err(_) => debug!(peer = %addr, "https handshake timed out"),
                    }
                });
            }
        });
        TlsListener { rx, local_addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The acceptor stopped (shutdown): never yield another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// The client certificate of a connection (DER of the leaf), if any.
#[derive(Debug, Clone)]
pub struct Peer(Option<Arc<Vec<u8>>>);

impl Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        let (_, conn) = stream.io().get_ref();
        Peer(conn.peer_certificates().and_then(|c| c.first()).map(|c| Arc::new(c.to_vec())))
    }
}

#[derive(Clone)]
struct AppState {
    api: NationalApi,
    registry: Registry,
}

/// The router of the national JSON API.
pub fn router(api: NationalApi, registry: Registry) -> Router {
    Router::new()
        .route("/api/v1/national/status", get(status))
        .route("/api/v1/national/matches", get(matches))
        .route("/api/v1/national/flows", get(flows))
        .route("/api/v1/national/fields", get(fields))
        .with_state(AppState { api, registry })
}

/// An error reply: the gRPC status mapped to HTTP, with its message.
struct ApiError(tonic::Status);

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        ApiError(s)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use tonic::Code;
        let code = match self.0.code() {
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (code, Json(json!({ "error": self.0.message() }))).into_response()
    }
}

type ApiResult = std::result::Result<Json<Value>, ApiError>;

fn authorize(s: &AppState, peer: &Peer) -> std::result::Result<(), ApiError> {
    let der = peer
        .0
        .as_deref()
        .ok_or_else(|| tonic::Status::unauthenticated("a client certificate is required"))?;
    Ok(s.registry.require_national_der(der)?)
}

async fn status(State(s): State<AppState>, ConnectInfo(peer): ConnectInfo<Peer>) -> ApiResult {
    authorize(&s, &peer)?;
    let r = s.api.status_for().await?.into_inner();
    let cities: Vec<Value> = r
        .cities
        .iter()
        .map(|c| {
            let d = c.digest.unwrap_or_default();
            json!({
                "city": c.city, "demands": c.demands, "achievements": c.achievements,
                "experts": c.experts, "acked_seq": c.acked_seq, "lag": c.lag,
                "last_sync_unix_ms": c.last_sync_unix_ms,
                "last_contact_unix_ms": c.last_contact_unix_ms,
                "digest": { "count": d.count, "hash": format!("{:016x}", d.hash) },
                "digest_state": pb::DigestState::try_from(c.digest_state).unwrap_or_default().as_str_name(),
                "revoked": c.revoked,
            })
        })
        .collect();
    Ok(Json(json!({ "cities": cities, "total_summaries": r.total_summaries })))
}

/// Query of `/api/v1/national/matches`.
#[derive(Debug, Default, Deserialize)]
struct MatchesQuery {
    city: Option<String>,
    counterpart_city: Option<String>,
    field: Option<String>,
    industry: Option<String>,
    from: Option<u32>,
    to: Option<u32>,
    subject: Option<String>,
    kind: Option<String>,
    per_subject: Option<u32>,
    page_size: Option<u32>,
    page_token: Option<String>,
    min_score: Option<f32>,
    include_same_city: Option<bool>,
}

fn kind_pb(kind: Option<&str>) -> std::result::Result<i32, ApiError> {
    Ok(match kind {
        None | Some("") => 0,
        Some(k) => {
            let kind = pilot_model::Kind::parse(k)
                .map_err(|e| tonic::Status::invalid_argument(format!("kind: {e}")))?;
            pb::Kind::from(kind) as i32
        }
    })
}

fn key_json(k: Option<&pb::SummaryKey>) -> Value {
    let k = k.cloned().unwrap_or_default();
    json!({ "city": k.city, "pseudonym": k.pseudonym })
}

fn match_json(m: &pb::Match) -> Value {
    let e = m.explanation.clone().unwrap_or_default();
    json!({
        "subject": key_json(m.subject.as_ref()),
        "subject_kind": kind_name(m.subject_kind),
        "counterpart": key_json(m.counterpart.as_ref()),
        "counterpart_kind": kind_name(m.counterpart_kind),
        "score": m.score,
        "explanation": {
            "shared_terms": e.shared_terms, "shared_fields": e.shared_fields,
            "same_category": e.same_category, "trl": e.trl,
            "term_score": e.term_score, "field_score": e.field_score, "fit_score": e.fit_score,
        },
    })
}

fn kind_name(k: i32) -> &'static str {
    pilot_proto::convert::kind_from_pb(k).map_or("unknown", pilot_model::Kind::code)
}

async fn matches(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Query(q): Query<MatchesQuery>,
) -> ApiResult {
    authorize(&s, &peer)?;
    let subject = match q.subject.as_deref() {
        None | Some("") => None,
        Some(v) => {
            let (city, pseudonym) = v.split_once('/').ok_or_else(|| {
                tonic::Status::invalid_argument("subject: expected CITY/PSEUDONYM")
            })?;
            Some(pb::SummaryKey { city: city.into(), pseudonym: pseudonym.into() })
        }
    };
    let req = pb::ListMatchesRequest {
        city: q.city.unwrap_or_default(),
        counterpart_city: q.counterpart_city.unwrap_or_default(),
        field: q.field.unwrap_or_default(),
        subject_kind: kind_pb(q.kind.as_deref())?,
        per_subject: q.per_subject.unwrap_or(0),
        page_size: q.page_size.unwrap_or(0),
        page_token: q.page_token.unwrap_or_default(),
        min_score: q.min_score.unwrap_or(0.0),
        include_same_city: q.include_same_city.unwrap_or(false),
        industry: q.industry.unwrap_or_default(),
        updated_from: q.from.unwrap_or(0),
        updated_to: q.to.unwrap_or(0),
        subject,
    };
    let r = s.api.list_matches_for(req).await?.into_inner();
    Ok(Json(json!({
        "matches": r.matches.iter().map(match_json).collect::<Vec<_>>(),
        "next_page_token": r.next_page_token,
    })))
}

/// Query of the statistics routes.
#[derive(Debug, Default, Deserialize)]
struct ScopeQuery {
    per_subject: Option<u32>,
    min_score: Option<f32>,
}

impl ScopeQuery {
    fn scope(&self) -> pb::StatsScope {
        pb::StatsScope {
            subject_kind: 0,
            per_subject: self.per_subject.unwrap_or(0),
            min_score: self.min_score.unwrap_or(0.0),
        }
    }
}

async fn flows(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult {
    authorize(&s, &peer)?;
    let r = s.api.flow_matrix_for(pb::FlowMatrixRequest { scope: Some(q.scope()) }).await?;
    let r = r.into_inner();
    let flows: Vec<Value> = r
        .flows
        .iter()
        .map(|f| json!({ "from_city": f.from_city, "to_city": f.to_city, "matches": f.matches }))
        .collect();
    Ok(Json(json!({ "flows": flows, "total": r.total, "threshold": r.threshold })))
}

async fn fields(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult {
    authorize(&s, &peer)?;
    let r = s.api.field_stats_for(pb::FieldStatsRequest { scope: Some(q.scope()) }).await?;
    let r = r.into_inner();
    let fields: Vec<Value> = r
        .fields
        .iter()
        .map(|f| {
            json!({ "field": f.field, "name": f.name, "demands": f.demands,
                    "supply": f.supply, "matched_demands": f.matched_demands })
        })
        .collect();
    Ok(Json(json!({ "fields": fields, "threshold": r.threshold })))
}
