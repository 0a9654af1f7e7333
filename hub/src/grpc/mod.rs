//! The hub's gRPC surface: mutual TLS, health, and the sync, match and national services.

pub mod match_api;
mod status;
pub mod sync_api;
