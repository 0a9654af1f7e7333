//! The node's Prometheus metrics: counters the sync and intake paths bump, and gauges read from
//! the store at scrape time, served as text at `GET /metrics` on the HTTP API's address
//! (without the bearer token: counts only, never record content).
//!
//! Series (all prefixed `pilot_node_`): `records{kind}`, `held_back`, `shared_summaries`,
//! `sync_lag`, `hub_connected`, `summaries_sent_total`, `tombstones_sent_total`,
//! `anti_entropy_repairs_total`, `rows_rejected_total`, `requests_rejected_total{reason}`,
//! `push_ack_latency_seconds{stream}`, `matches_pushed_age_seconds`,
//! `match_lists_received_total{kind}`.

use pilot_config::metrics::{Counter, Exposition, LabeledCounter, LabeledHistogram};
use pilot_store::NodeStore;

use crate::Result;
use crate::feed::MatchFeed;
use crate::sync::SyncStatus;

/// Counters and histograms of the node.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    /// Summaries sent to the hub.
    pub summaries_sent: Counter,
    /// Tombstones sent (deleted, withdrawn, held back, expired).
    pub tombstones_sent: Counter,
    /// Anti-entropy rounds that found and repaired a difference.
    pub repairs: Counter,
    /// Intake rows refused by validation.
    pub rows_rejected: Counter,
    /// Intake calls refused, by reason.
    pub requests_rejected: LabeledCounter,
    /// Time from sending a batch to its acknowledgement.
    pub ack_latency: LabeledHistogram,
}

/// Renders every series.
pub fn render(
    m: &NodeMetrics,
    store: &NodeStore,
    sync: &SyncStatus,
    feed: &MatchFeed,
    now_ms: u64,
) -> Result<String> {
    let mut e = Exposition::default();
    let c = store.counts()?;
    e.family("pilot_node_records", "gauge", "Records in the city's banks, by kind.");
    for (kind, n) in [("demand", c.demands), ("achievement", c.achievements), ("expert", c.experts)]
    {
        e.sample("pilot_node_records", &[("kind", kind)], n as f64);
    }
    e.gauge(
        "pilot_node_held_back",
        "Records the privacy gate held back when they were last anonymized.",
        store.held_back()?.len() as f64,
    );
    let mut stats = pilot_proto::pb::StatsReply::default();
    sync.fill_stats(&mut stats)?;
    e.gauge(
        "pilot_node_shared_summaries",
        "Summaries the node has told the hub it shares.",
        stats.shared_digest.unwrap_or_default().count as f64,
    );
    e.gauge(
        "pilot_node_prepared_summaries",
        "Outcomes anonymized ahead of sending and held in memory.",
        sync.prepared().len() as f64,
    );
    let lag = store.last_seq()?.0.saturating_sub(store.acked_seq()?.0);
    e.gauge("pilot_node_sync_lag", "Outbox sequences not yet acknowledged by the hub.", lag as f64);
    e.gauge(
        "pilot_node_hub_connected",
        "1 while a push stream to the hub is open.",
        f64::from(u8::from(sync.connected())),
    );
    e.counter("pilot_node_summaries_sent_total", "Summaries sent to the hub.", &m.summaries_sent);
    e.counter(
        "pilot_node_tombstones_sent_total",
        "Tombstones sent to the hub (deleted, withdrawn, held back or expired records).",
        &m.tombstones_sent,
    );
    e.counter(
        "pilot_node_anti_entropy_repairs_total",
        "Digest comparisons that found and repaired a difference with the hub.",
        &m.repairs,
    );
    e.counter(
        "pilot_node_rows_rejected_total",
        "Intake rows refused by validation.",
        &m.rows_rejected,
    );
    e.labeled_counter(
        "pilot_node_requests_rejected_total",
        "Intake calls refused, by reason.",
        "reason",
        &m.requests_rejected,
    );
    e.labeled_histogram(
        "pilot_node_push_ack_latency_seconds",
        "Time from sending a batch to the hub's acknowledgement.",
        "stream",
        &m.ack_latency,
    );
    let pushed = feed.updated_ms();
    e.gauge(
        "pilot_node_matches_pushed_age_seconds",
        "Seconds since the hub last pushed the city's match list (-1 if none is held).",
        if pushed == 0 { -1.0 } else { now_ms.saturating_sub(pushed) as f64 / 1000.0 },
    );
    e.labeled_counter(
        "pilot_node_match_lists_received_total",
        "Match lists the hub pushed and the node applied, by kind: whole lists, and updates of the records whose matches changed.",
        "kind",
        &feed.received,
    );
    Ok(e.finish())
}
