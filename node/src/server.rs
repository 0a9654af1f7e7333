//! Wiring: store → anonymizer → intake and sync → gRPC, and the shutdown sequence.
//!
//! [`bind`] does everything that can fail at start-up (PKI, store, listener) so that a bad
//! config exits before serving; [`Bound::serve`] runs until the cancellation token fires, then
//! shuts down in order: health NOT_SERVING, drain the listener, wait for tasks (bounded by the
//! grace period), flush the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pilot_anon::{Anonymizer, NodeSecret};
use pilot_pki::Identity;
use pilot_proto::pb;
use pilot_store::{Db, NodeStore, SharedIndex};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::config::Config;
use crate::feed::MatchFeed;
use crate::grpc::TokenCheck;
use crate::grpc::hub_client::HubClient;
use crate::grpc::intake_api::IntakeApi;
use crate::intake::Intake;
use crate::metrics::NodeMetrics;
use crate::prepare::Preparer;
use crate::sync::{SyncStatus, SyncTask};
use crate::{Error, Result};

/// A node whose store is open and whose listener is bound, ready to serve.
#[derive(Debug)]
pub struct Bound {
    cfg: Config,
    db: Db,
    listener: TcpListener,
    local_addr: SocketAddr,
    http: TcpListener,
    http_addr: SocketAddr,
    router: axum::Router,
    api: IntakeApi,
    sync: SyncTask,
    feed: Arc<MatchFeed>,
    token: Option<String>,
}

/// Opens the store, loads the PKI, builds the anonymizer and binds the intake listener.
pub async fn bind(cfg: Config) -> Result<Bound> {
    let tls = cfg.tls.load(Some(Identity::City(cfg.city)))?;
    let store_dir = cfg.data_dir.join("store");
    let db = Db::open(&store_dir)?;
    let store = NodeStore::open(&db)?;
    let secret = store.secret_or_init(&rand::random::<[u8; 32]>())?;
    let secret: [u8; 32] = secret.try_into().map_err(|_| {
        Error::Store(pilot_store::Error::Corrupt {
            tree: "node/meta",
            reason: "node secret is not 32 bytes".into(),
        })
    })?;
    let city = cfg.city;
    // Loading the segmentation dictionary takes a moment; keep it off the async threads.
    let anon =
        tokio::task::spawn_blocking(move || Anonymizer::new(city, NodeSecret::from_bytes(secret)))
            .await
            .map_err(|e| Error::HubUnavailable(format!("anonymizer start-up failed: {e}")))?;
    let anon = Arc::new(anon);
    let token = match &cfg.api_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| Error::Io { path: path.clone(), source })?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| Error::Bind { addr: cfg.listen, source })?;
    let local_addr =
        listener.local_addr().map_err(|source| Error::Bind { addr: cfg.listen, source })?;

    let wake = Arc::new(Notify::new());
    let hub = HubClient::new(&cfg, &tls)?;
    let shared = SharedIndex::open(&db)?;
    let metrics = Arc::new(NodeMetrics::default());
    let status = Arc::new(SyncStatus::new(shared.clone(), metrics.clone(), cfg.sync.prepare_ahead));
    let intake = Intake::new(store.clone(), anon.clone(), wake.clone());
    let http = TcpListener::bind(cfg.http_listen)
        .await
        .map_err(|source| Error::Bind { addr: cfg.http_listen, source })?;
    let http_addr =
        http.local_addr().map_err(|source| Error::Bind { addr: cfg.http_listen, source })?;
    let feed = Arc::new(MatchFeed::default());
    let router = crate::http::router(
        intake.clone(),
        hub.clone(),
        status.clone(),
        feed.clone(),
        token.clone(),
    );
    let api = IntakeApi::new(intake, hub.clone(), status.clone(), feed.clone());
    let sync = SyncTask { store, shared, anon, hub, cfg: cfg.sync.clone(), wake, status };
    Ok(Bound { cfg, db, listener, local_addr, http, http_addr, router, api, sync, feed, token })
}

impl Bound {
    /// The bound intake address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled, then shuts down in order.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<()> {
        let Bound {
            cfg,
            db,
            listener,
            local_addr,
            http,
            http_addr,
            router,
            api,
            sync,
            feed,
            token,
        } = self;
        let tracker = TaskTracker::new();
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter.set_serving::<pb::intake_server::IntakeServer<IntakeApi>>().await;

        let metrics = sync.status.metrics_handle();
        tracker.spawn(feed.run(sync.hub.clone(), shutdown.child_token()));
        if cfg.sync.prepare_ahead > 0 {
            let preparer = Preparer {
                store: sync.store.clone(),
                anon: sync.anon.clone(),
                status: sync.status.clone(),
                chunk: cfg.sync.batch_size,
                lead: (cfg.sync.batch_size * cfg.sync.max_in_flight) as u64,
                idle: Duration::from_millis(cfg.sync.idle_poll_ms),
            };
            tracker.spawn(preparer.run(shutdown.child_token()));
        }
        tracker.spawn(sync.run(shutdown.child_token()));
        let http_shutdown = shutdown.clone();
        tracker.spawn(async move {
            let served = axum::serve(http, router)
                .with_graceful_shutdown(http_shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                warn!(error = %e, "http api stopped");
            }
        });

        // `ready` holds the gRPC address, `ready.http` the HTTP one; both appear once serving.
        let ready_http = cfg.data_dir.join("ready.http");
        std::fs::write(&ready_http, http_addr.to_string())
            .map_err(|source| Error::Io { path: ready_http.clone(), source })?;
        let ready = cfg.data_dir.join("ready");
        std::fs::write(&ready, local_addr.to_string())
            .map_err(|source| Error::Io { path: ready.clone(), source })?;
        info!(city = %cfg.city, addr = %local_addr, http = %http_addr, hub = %cfg.hub.url, "node serving");

        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let intake = tonic::service::interceptor::InterceptedService::new(
            pb::intake_server::IntakeServer::new(api)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
            TokenCheck::new(token, metrics),
        );
        let signal = {
            let shutdown = shutdown.clone();
            let reporter = reporter.clone();
            async move {
                shutdown.cancelled().await;
                reporter.set_not_serving::<pb::intake_server::IntakeServer<IntakeApi>>().await;
                info!("shutting down");
            }
        };
        let served = Server::builder()
            .timeout(Duration::from_secs(120))
            .add_service(health)
            .add_service(intake)
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
        info!("node stopped");
        served.map_err(|e| Error::Bind { addr: local_addr, source: std::io::Error::other(e) })
    }
}
