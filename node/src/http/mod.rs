//! The node's HTTP/JSON API: the intake operations for the city's web console and scripts,
//! plus file upload (import) and download (export).
//!
//! Like the gRPC intake API it carries raw records, so it listens on loopback unless a bearer
//! token is configured, and then every request must carry it. Handlers are thin: check,
//! convert, delegate to [`Intake`] on a blocking thread, convert back.

mod api;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::feed::MatchFeed;
use crate::grpc::hub_client::HubClient;
use crate::intake::Intake;
use crate::sync::SyncStatus;

/// Largest upload accepted, in bytes (a 50,000-row workbook is a few MB).
pub const MAX_UPLOAD_BYTES: usize = 256 << 20;

/// What every handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    intake: Intake,
    hub: HubClient,
    sync: Arc<SyncStatus>,
    feed: Arc<MatchFeed>,
    token: Option<Arc<str>>,
}

/// Builds the router.
pub fn router(
    intake: Intake,
    hub: HubClient,
    sync: Arc<SyncStatus>,
    feed: Arc<MatchFeed>,
    token: Option<String>,
) -> Router {
    let state = AppState { intake, hub, sync, feed, token: token.map(Arc::from) };
    Router::new()
        .route("/api/v1/stats", get(api::stats))
        .route("/api/v1/records", get(api::list).post(api::create))
        .route("/api/v1/records/{id}", get(api::get_record).put(api::update).delete(api::delete))
        .route("/api/v1/records/{id}/withdraw", post(api::withdraw))
        .route("/api/v1/records/{id}/preview", get(api::preview))
        .route("/api/v1/records/{id}/release", post(api::release))
        .route("/api/v1/search", get(api::search))
        .route("/api/v1/held", get(api::held))
        .route("/api/v1/ledger", get(api::ledger))
        .route("/api/v1/matches", get(api::matches))
        .route("/api/v1/import", post(api::import))
        .route("/api/v1/export", get(api::export))
        .layer(axum::middleware::from_fn_with_state(state.clone(), require_token))
        .route("/healthz", get(|| async { "ok" }))
        // Counts only, so no token: a Prometheus scraper need not hold the staff token.
        .route("/metrics", get(api::metrics))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .with_state(state)
}

/// Requires `Authorization: Bearer <token>` when a token is configured.
async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(want) = &state.token {
        let got = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let ok = got.is_some_and(|g| {
            g.len() == want.len()
                && g.bytes().zip(want.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        });
        if !ok {
            state.sync.metrics().requests_rejected.add("token", 1);
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({ "error": "missing or wrong bearer token" })),
            )
                .into_response();
        }
    }
    next.run(req).await
}
