//! Prometheus metrics, small and dependency-free: counters (plain or labelled), latency
//! histograms, and a writer for the text exposition format (version 0.0.4).
//!
//! Each binary keeps its own metrics struct built from these parts and renders it, together
//! with gauges read at scrape time, into one [`Exposition`]. Label values are ids and reasons
//! (city codes, kinds, error kinds), never record content.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters by one label value (a city, a reason).
#[derive(Debug, Default)]
pub struct LabeledCounter(Mutex<BTreeMap<String, u64>>);

impl LabeledCounter {
    /// Adds `n` to the counter of `label`.
    pub fn add(&self, label: &str, n: u64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(label) {
            Some(v) => *v += n,
            None => {
                m.insert(label.to_owned(), n);
            }
        }
    }

    /// Every (label, value), ordered by label.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Upper bounds of latency buckets, in seconds: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A latency histogram with [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Histograms by one label value.
#[derive(Debug, Default)]
pub struct LabeledHistogram(Mutex<BTreeMap<String, std::sync::Arc<Histogram>>>);

impl LabeledHistogram {
    /// Records one observation under `label`.
    pub fn observe(&self, label: &str, d: Duration) {
        let h = {
            let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(label.to_owned()).or_default().clone()
        };
        h.observe(d);
    }
}

/// The text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition(String);

/// Escapes a label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

impl Exposition {
    /// Starts a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: f64) -> &mut Self {
        let _ = writeln!(self.0, "{name}{} {value}", labels(pairs));
        self
    }

    /// A counter family with one sample.
    pub fn counter(&mut self, name: &str, help: &str, c: &Counter) -> &mut Self {
        self.family(name, "counter", help).sample(name, &[], c.get() as f64)
    }

    /// A gauge family with one sample.
    pub fn gauge(&mut self, name: &str, help: &str, v: f64) -> &mut Self {
        self.family(name, "gauge", help).sample(name, &[], v)
    }

    /// A labelled counter family.
    pub fn labeled_counter(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        c: &LabeledCounter,
    ) -> &mut Self {
        self.family(name, "counter", help);
        for (l, v) in c.snapshot() {
            self.sample(name, &[(label, &l)], v as f64);
        }
        self
    }

    /// A labelled histogram family.
    pub fn labeled_histogram(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        h: &LabeledHistogram,
    ) -> &mut Self {
        self.family(name, "histogram", help);
        let m: Vec<(String, std::sync::Arc<Histogram>)> = {
            let m = h.0.lock().unwrap_or_else(|p| p.into_inner());
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (l, h) in m {
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                let n = h.buckets[i].load(Ordering::Relaxed);
                self.sample(
                    &format!("{name}_bucket"),
                    &[(label, &l), ("le", &le.to_string())],
                    n as f64,
                );
            }
            let count = h.count.load(Ordering::Relaxed) as f64;
            self.sample(&format!("{name}_bucket"), &[(label, &l), ("le", "+Inf")], count);
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            self.sample(&format!("{name}_sum"), &[(label, &l)], sum);
            self.sample(&format!("{name}_count"), &[(label, &l)], count);
        }
        self
    }

    /// The exposition text.
    pub fn finish(self) -> String {
        self.0
    }
}

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format() {
        let c = LabeledCounter::default();
        c.add("421200", 3);
        c.add("421200", 2);
        c.add("a\"b", 1);
        let h = LabeledHistogram::default();
        h.observe("national", Duration::from_millis(3));
        let mut e = Exposition::default();
        e.labeled_counter("x_total", "Things.", "city", &c).gauge("g", "A gauge.", 1.5);
        e.labeled_histogram("lat_seconds", "Latency.", "query", &h);
        let text = e.finish();
        assert!(text.contains("# TYPE x_total counter\n"), "{text}");
        assert!(text.contains("x_total{city=\"421200\"} 5\n"), "{text}");
        assert!(text.contains("x_total{city=\"a\\\"b\"} 1\n"), "{text}");
        assert!(text.contains("g 1.5\n"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{query=\"national\",le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_bucket{query=\"national\",le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("lat_seconds_count{query=\"national\"} 1\n"), "{text}");
    }
}
