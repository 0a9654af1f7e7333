//! A typed client for the hub's services over one mutual-TLS channel.
//!
//! The channel is created lazily and reconnects by itself; every unary call carries a deadline,
//! and HTTP/2 keepalive notices a dead link within about ten seconds.

use std::time::Duration;

use pilot_model::{CityCode, Seq};
use pilot_proto::pb;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::Config;
use crate::{Error, Result};

/// The node's connection to the hub.
#[derive(Debug, Clone)]
pub struct HubClient {
    channel: Channel,
    city: CityCode,
    timeout: Duration,
}

fn unavailable(s: tonic::Status) -> Error {
    Error::HubUnavailable(format!("{:?}: {}", s.code(), s.message()))
}

impl HubClient {
    /// Prepares the channel; no connection is made until the first call.
    pub fn new(cfg: &Config, tls: &pilot_pki::TlsMaterial) -> Result<Self> {
        let tls_cfg = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&tls.ca_pem))
            .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
            .domain_name(cfg.hub_server_name());
        let endpoint = Endpoint::from_shared(cfg.hub.url.clone())
            .map_err(|e| Error::Invalid { field: "hub.url", reason: e.to_string() })?
            .tls_config(tls_cfg)
            .map_err(|e| Error::Invalid { field: "tls", reason: e.to_string() })?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        Ok(HubClient {
            channel: endpoint.connect_lazy(),
            city: cfg.city,
            timeout: cfg.sync.rpc_timeout(),
        })
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.timeout);
        req
    }

    /// The hub's watermark for this city; tells the hub the node's highest sequence.
    pub async fn resume(&self, last_seq: Seq) -> Result<Seq> {
        let mut client = pb::sync_client::SyncClient::new(self.channel.clone());
        let req = pb::ResumeRequest { city: self.city.to_string(), last_seq: last_seq.0 };
        let reply = client.resume(self.request(req)).await.map_err(unavailable)?;
        Ok(Seq(reply.into_inner().acked_seq))
    }

    /// Anti-entropy step 1: compares digests.
    pub async fn digest(&self, req: pb::DigestRequest) -> Result<pb::DigestReply> {
        let mut client = pb::sync_client::SyncClient::new(self.channel.clone());
        Ok(client.digest(self.request(req)).await.map_err(unavailable)?.into_inner())
    }

    /// Anti-entropy step 2: lists differing buckets; the hub names what to resend.
    pub async fn reconcile(&self, req: pb::ReconcileRequest) -> Result<pb::ReconcileReply> {
        let mut client = pb::sync_client::SyncClient::new(self.channel.clone())
            .max_encoding_message_size(8 << 20)
            .max_decoding_message_size(8 << 20);
        Ok(client.reconcile(self.request(req)).await.map_err(unavailable)?.into_inner())
    }

    /// Opens the push stream: batches go up, acknowledgements come back.
    pub async fn push(
        &self,
        batches: impl tokio_stream::Stream<Item = pb::PushBatch> + Send + 'static,
    ) -> Result<tonic::Streaming<pb::PushAck>> {
        let mut client = pb::sync_client::SyncClient::new(self.channel.clone())
            .max_decoding_message_size(1 << 20)
            .max_encoding_message_size(8 << 20);
        let reply = client.push(tonic::Request::new(batches)).await.map_err(unavailable)?;
        Ok(reply.into_inner())
    }

    /// Subscribes to this city's matches: the current list, then a new one on every change.
    pub async fn subscribe(&self, per_record: u32) -> Result<tonic::Streaming<pb::MatchList>> {
        let mut client = pb::matches_client::MatchesClient::new(self.channel.clone())
            .max_decoding_message_size(64 << 20);
        let req = pb::SubscribeRequest {
            city: self.city.to_string(),
            per_record,
            include_same_city: false,
        };
        // No deadline: the stream is meant to last; keepalive notices a dead link.
        Ok(client.subscribe(tonic::Request::new(req)).await.map_err(unavailable)?.into_inner())
    }

    /// Matches of this city's records, every page of them.
    pub async fn list_mine(&self, per_record: u32) -> Result<Vec<pb::Match>> {
        let mut client = pb::matches_client::MatchesClient::new(self.channel.clone())
            .max_decoding_message_size(64 << 20);
        let mut matches = Vec::new();
        let mut page_token = String::new();
        loop {
            let req = pb::ListMineRequest {
                city: self.city.to_string(),
                per_record,
                page_token,
                ..Default::default()
            };
            let reply = client.list_mine(self.request(req)).await.map_err(unavailable)?;
            let page = reply.into_inner();
            matches.extend(page.matches);
            if page.next_page_token.is_empty() {
                return Ok(matches);
            }
            page_token = page.next_page_token;
        }
    }
}
