//! Wiring: store → index → ingest → gRPC over mutual TLS, and the shutdown sequence.
//!
//! [`bind`] does everything that can fail at start-up (PKI, store, index rebuild, listener);
//! [`Bound::serve`] runs until the token fires, then: health NOT_SERVING, stop accepting,
//! let push streams finish their current batch (bounded by the grace period), flush.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse as _;
use pilot_pki::Identity;
use pilot_proto::pb;
use pilot_store::{Db, HubStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Server, ServerTlsConfig};
use tracing::info;

use crate::config::Config;
use crate::grpc::match_api::{MatchApi, NationalApi};
use crate::grpc::sync_api::SyncApi;
use crate::ingest::Ingest;
use crate::matcher::Matcher;
use crate::metrics::HubMetrics;
use crate::registry::Registry;
use crate::revocation;
use crate::rounds::RoundGate;
use crate::{Error, Result};

/// A hub whose store is open, index rebuilt and listener bound.
#[derive(Debug)]
pub struct Bound {
    cfg: Config,
    db: Db,
    store: HubStore,
    matcher: Arc<Matcher>,
    tls: pilot_pki::TlsMaterial,
    listener: TcpListener,
    local_addr: SocketAddr,
    http: TcpListener,
    http_addr: SocketAddr,
    metrics_listener: TcpListener,
    metrics_addr: SocketAddr,
}

/// Loads the PKI, opens the store, rebuilds the index and binds the listener.
pub async fn bind(cfg: Config) -> Result<Bound> {
    let tls = cfg.tls.load(Some(Identity::Hub))?;
    let db = Db::open(&cfg.data_dir.join("store"))?;
    let store = HubStore::open(&db)?;
    let started = std::time::Instant::now();
    let fixed = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.recompute_digests()).await.map_err(|e| {
            Error::Io { path: cfg.data_dir.clone(), source: std::io::Error::other(e) }
        })??
    };
    if !fixed.is_empty() {
        tracing::warn!(cities = fixed.len(), "stored digests were stale and are corrected");
    }
    let matcher = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || Matcher::load(&store)).await.map_err(|e| {
            Error::Io { path: cfg.data_dir.clone(), source: std::io::Error::other(e) }
        })??
    };
    let matcher = Arc::new(matcher);
    let n = matcher.with_index(|index| index.len());
    info!(summaries = n, elapsed_ms = started.elapsed().as_millis() as u64, "index rebuilt");
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| Error::Bind { addr: cfg.listen, source })?;
    let local_addr =
        listener.local_addr().map_err(|source| Error::Bind { addr: cfg.listen, source })?;
    let http = TcpListener::bind(cfg.http_listen)
        .await
        .map_err(|source| Error::Bind { addr: cfg.http_listen, source })?;
    let http_addr =
        http.local_addr().map_err(|source| Error::Bind { addr: cfg.http_listen, source })?;
    let metrics_listener = TcpListener::bind(cfg.metrics_listen)
        .await
        .map_err(|source| Error::Bind { addr: cfg.metrics_listen, source })?;
    let metrics_addr = metrics_listener
        .local_addr()
        .map_err(|source| Error::Bind { addr: cfg.metrics_listen, source })?;
    Ok(Bound {
        cfg,
        db,
        store,
        matcher,
        tls,
        listener,
        local_addr,
        http,
        http_addr,
        metrics_listener,
        metrics_addr,
    })
}

impl Bound {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled, then shuts down in order.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<()> {
        let Bound {
            cfg,
            db,
            store,
            matcher,
            tls,
            listener,
            local_addr,
            http,
            http_addr,
            metrics_listener,
            metrics_addr,
        } = self;
        let tracker = TaskTracker::new();
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter.set_serving::<pb::sync_server::SyncServer<SyncApi>>().await;

        let max = cfg.limits.max_message_bytes;
        let registry = Registry::default();
        revocation::start(
            cfg.revocation.crl_path(&cfg.tls.ca),
            tls.ca_pem.clone(),
            Duration::from_millis(cfg.revocation.poll_interval_ms),
            &registry,
            &tracker,
            shutdown.child_token(),
        )?;
        let metrics = Arc::new(HubMetrics::default());
        let ingest =
            Ingest::new(store.clone(), matcher.clone(), cfg.limits.clone(), metrics.clone());
        let sync = pb::sync_server::SyncServer::new(SyncApi::new(
            ingest.clone(),
            registry.clone(),
            tracker.clone(),
            shutdown.child_token(),
        ))
        .max_decoding_message_size(max);
        let matches = pb::matches_server::MatchesServer::new(MatchApi::new(
            matcher.clone(),
            registry.clone(),
            shutdown.child_token(),
            metrics.clone(),
            RoundGate::new(cfg.limits.concurrent_full_rounds, metrics.clone()),
        ))
        .max_decoding_message_size(max)
        .max_encoding_message_size(64 << 20);
        // Prometheus metrics, plain HTTP (counts and ids only).
        {
            let (m, st, mt, rg) =
                (metrics.clone(), store.clone(), matcher.clone(), registry.clone());
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let (m, st, mt, rg) = (m.clone(), st.clone(), mt.clone(), rg.clone());
                    async move {
                        let text = tokio::task::spawn_blocking(move || {
                            crate::metrics::render(&m, &st, &mt, &rg, crate::ingest::now_ms())
                        })
                        .await;
                        match text {
                            Ok(Ok(t)) => (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    pilot_config::metrics::CONTENT_TYPE,
                                )],
                                t,
                            )
                                .into_response(),
                            _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                        }
                    }
                }),
            );
            spawn_served(
                &tracker,
                "metrics endpoint",
                axum::serve(metrics_listener, app)
                    .with_graceful_shutdown(shutdown.clone().cancelled_owned()),
            );
            let ready_metrics = cfg.data_dir.join("ready.metrics");
            std::fs::write(&ready_metrics, metrics_addr.to_string())
                .map_err(|source| Error::Io { path: ready_metrics.clone(), source })?;
        }
        let national_api = NationalApi::new(matcher, store, registry.clone(), metrics, ingest);
        let national = pb::national_server::NationalServer::new(national_api.clone())
            .max_decoding_message_size(max)
            .max_encoding_message_size(64 << 20);

        // The national centre's HTTPS/JSON API: same certificates, same rules.
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(crate::http::tls_config(&tls)?));
        let https = crate::http::TlsListener::new(http, acceptor, shutdown.child_token());
        let app = crate::http::router(national_api, registry)
            .into_make_service_with_connect_info::<crate::http::Peer>();
        spawn_served(
            &tracker,
            "national https api",
            axum::serve(https, app).with_graceful_shutdown(shutdown.clone().cancelled_owned()),
        );
        let ready_http = cfg.data_dir.join("ready.http");
        std::fs::write(&ready_http, http_addr.to_string())
            .map_err(|source| Error::Io { path: ready_http.clone(), source })?;

        let tls_config = ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem))
            .client_ca_root(Certificate::from_pem(&tls.ca_pem))
            .timeout(Duration::from_secs(10));
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));

        let ready = cfg.data_dir.join("ready");
        std::fs::write(&ready, local_addr.to_string())
            .map_err(|source| Error::Io { path: ready.clone(), source })?;
        info!(addr = %local_addr, "hub serving");

        let signal = {
            let (shutdown, reporter) = (shutdown.clone(), reporter.clone());
            async move {
                shutdown.cancelled().await;
                reporter.set_not_serving::<pb::sync_server::SyncServer<SyncApi>>().await;
                info!("shutting down");
            }
        };
        let served = Server::builder()
            .tls_config(tls_config)
            .map_err(|e| Error::Io {
                path: cfg.tls.cert.clone(),
                source: std::io::Error::other(e),
            })?
            .http2_keepalive_interval(Some(Duration::from_secs(5)))
            .http2_keepalive_timeout(Some(Duration::from_secs(5)))
            .add_service(health)
            .add_service(sync)
            .add_service(matches)
            .add_service(national)
            .serve_with_incoming_shutdown(incoming, signal)
            .await;
        pilot_config::drain(&shutdown, &tracker, Duration::from_secs(cfg.shutdown_grace_secs))
            .await;
        let _ = std::fs::remove_file(&ready);
        let _ = std::fs::remove_file(&ready_http);
        tokio::task::spawn_blocking(move || db.flush()).await.map_err(|e| Error::Io {
            path: cfg.data_dir.clone(),
            source: std::io::Error::other(e),
        })??;
        info!("hub stopped");
        served.map_err(|e| Error::Bind { addr: local_addr, source: std::io::Error::other(e) })
    }
}

/// Runs an HTTP server future on the tracker, logging (not failing) if it stops with an error.
fn spawn_served(
    tracker: &TaskTracker,
    what: &'static str,
    served: impl std::future::IntoFuture<Output = std::io::Result<()>, IntoFuture: Send + 'static>,
) {
    let served = served.into_future();
    tracker.spawn(async move {
        if let Err(e) = served.await {
            tracing::warn!(error = %e, "{what} stopped");
        }
    });
}
