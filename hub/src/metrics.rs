//! The hub's Prometheus metrics: counters the write and query paths bump, and gauges read from
//! the store and the index at scrape time, served as text on `metrics_listen`.
//!
//! Series (all prefixed `pilot_hub_`): `summaries{city,kind}`, `entries_applied_total{city}`,
//! `entries_ignored_total{city}`, `summaries_dropped_total{city}` (anti-entropy),
//! `batches_rejected_total{reason}`, `requests_rejected_total{reason}`, `sync_lag{city}`,
//! `last_contact_age_seconds{city}`, `digest_equal{city}`, `revoked_serials`,
//! `match_latency_seconds{query}`, `full_rounds_running`, `full_rounds_waiting`.

use std::sync::atomic::{AtomicU64, Ordering};

use pilot_config::metrics::{Exposition, LabeledCounter, LabeledHistogram};
use pilot_store::{DigestState, HubStore};

use crate::Result;
use crate::matcher::Matcher;
use crate::registry::Registry;

/// Counters and histograms of the hub.
#[derive(Debug, Default)]
pub struct HubMetrics {
    /// Entries that changed the hub's state, by city.
    pub applied: LabeledCounter,
    /// Entries ignored as duplicates or stale versions, by city.
    pub ignored: LabeledCounter,
    /// Summaries dropped by anti-entropy, by city.
    pub dropped: LabeledCounter,
    /// Push batches refused, by reason.
    pub batches_rejected: LabeledCounter,
    /// Match computations, by query.
    pub match_latency: LabeledHistogram,
    /// Full rounds of match subscriptions being computed (see [`crate::rounds::RoundGate`]).
    pub full_rounds_running: AtomicU64,
    /// Full rounds of match subscriptions waiting for their turn.
    pub full_rounds_waiting: AtomicU64,
}

/// Renders every series.
pub fn render(
    m: &HubMetrics,
    store: &HubStore,
    matcher: &Matcher,
    registry: &Registry,
    now_ms: u64,
) -> Result<String> {
    let mut e = Exposition::default();
    e.family("pilot_hub_summaries", "gauge", "Live summaries in the index, by city and kind.");
    for (city, c) in matcher.counts() {
        let city = city.to_string();
        for (kind, n) in
            [("demand", c.demands), ("achievement", c.achievements), ("expert", c.experts)]
        {
            e.sample("pilot_hub_summaries", &[("city", &city), ("kind", kind)], n as f64);
        }
    }
    e.labeled_counter(
        "pilot_hub_entries_applied_total",
        "Sync entries that changed the hub's state, by city.",
        "city",
        &m.applied,
    );
    e.labeled_counter(
        "pilot_hub_entries_ignored_total",
        "Sync entries ignored as duplicates or stale versions, by city.",
        "city",
        &m.ignored,
    );
    e.labeled_counter(
        "pilot_hub_summaries_dropped_total",
        "Summaries removed by anti-entropy because their node no longer shares them, by city.",
        "city",
        &m.dropped,
    );
    e.labeled_counter(
        "pilot_hub_batches_rejected_total",
        "Push batches refused, by reason.",
        "reason",
        &m.batches_rejected,
    );
    e.labeled_counter(
        "pilot_hub_requests_rejected_total",
        "Calls refused by authentication or authorization, by reason.",
        "reason",
        registry.rejections(),
    );
    let cities = store.cities()?;
    e.family("pilot_hub_sync_lag", "gauge", "Sequences a city wrote that the hub has not applied.");
    for (city, s) in &cities {
        e.sample("pilot_hub_sync_lag", &[("city", &city.to_string())], s.lag() as f64);
    }
    e.family(
        "pilot_hub_last_contact_age_seconds",
        "gauge",
        "Seconds since a city last made contact.",
    );
    for (city, s) in &cities {
        let age = now_ms.saturating_sub(s.last_contact_ms) as f64 / 1000.0;
        e.sample("pilot_hub_last_contact_age_seconds", &[("city", &city.to_string())], age);
    }
    e.family("pilot_hub_digest_equal", "gauge", "1 when the last digest comparison was equal.");
    for (city, s) in &cities {
        let v = f64::from(u8::from(s.digest_state == DigestState::Equal));
        e.sample("pilot_hub_digest_equal", &[("city", &city.to_string())], v);
    }
    e.gauge("pilot_hub_revoked_serials", "Certificates revoked.", registry.revoked_count() as f64);
    e.gauge(
        "pilot_hub_full_rounds_running",
        "Full rounds of match subscriptions being computed.",
        m.full_rounds_running.load(Ordering::Relaxed) as f64,
    );
    e.gauge(
        "pilot_hub_full_rounds_waiting",
        "Full rounds of match subscriptions waiting for their turn (limits.concurrent_full_rounds).",
        m.full_rounds_waiting.load(Ordering::Relaxed) as f64,
    );
    e.labeled_histogram(
        "pilot_hub_match_latency_seconds",
        "Time to compute matches, by query.",
        "query",
        &m.match_latency,
    );
    Ok(e.finish())
}
