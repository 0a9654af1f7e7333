//! The node's configuration: plain data, loaded from TOML plus `PILOT_NODE__*` overrides.
//!
//! Every default works for a local run; each field says what changing it costs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pilot_model::CityCode;
use serde::Deserialize;

/// Everything a node needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The GB/T 2260 code of the city this node serves; must match the certificate.
    pub city: CityCode,
    /// Where the sled store and the `ready` file live. Losing it loses the city's records.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Address of the local intake API (gRPC). Loopback by default; any other address requires
    /// `api_token_file`, because the API carries names and contacts.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Address of the local HTTP/JSON API (the same operations, plus file upload and download).
    /// Same rule as `listen`: loopback, or a token.
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// File holding the bearer token that intake clients must send; none means no token, which
    /// is only allowed on loopback.
    #[serde(default)]
    pub api_token_file: Option<PathBuf>,
    /// The hub to sync with.
    #[serde(default)]
    pub hub: HubConfig,
    /// This node's certificate, key and the federation CA.
    pub tls: pilot_pki::TlsFiles,
    /// Sync tuning.
    #[serde(default)]
    pub sync: SyncConfig,
    /// Seconds to let in-flight work finish on shutdown before exiting anyway.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// Logging.
    #[serde(default)]
    pub log: pilot_config::LogConfig,
}

/// Where the hub is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's URL, `https://host:port`.
    #[serde(default = "default_hub_url")]
    pub url: String,
    /// Name to check in the hub's certificate; defaults to the URL's host.
    #[serde(default)]
    pub server_name: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig { url: default_hub_url(), server_name: None }
    }
}

/// How the node streams its outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Outbox entries per batch. Larger batches sync faster and use more memory at the hub.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Batches sent before waiting for an acknowledgement. More hides latency; each costs a
    /// batch of memory at both ends.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Deadline for every call to the hub and for each acknowledgement, in seconds.
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_secs: u64,
    /// First reconnect delay in milliseconds; doubled per failure, with jitter.
    #[serde(default = "default_backoff_min")]
    pub backoff_min_ms: u64,
    /// Longest reconnect delay in milliseconds.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// How often an idle sync task looks at the outbox, in milliseconds (writes wake it at once).
    #[serde(default = "default_idle_poll")]
    pub idle_poll_ms: u64,
    /// Seconds between anti-entropy digest comparisons with the hub while idle (also the
    /// heartbeat from which the hub sees the node as alive). Shorter repairs divergence sooner
    /// and costs a scan of the shared set (milliseconds per 100,000 records) each time.
    #[serde(default = "default_anti_entropy")]
    pub anti_entropy_secs: u64,
    /// Most (pseudonym, version) pairs per anti-entropy listing sent to the hub; must not exceed
    /// the hub's `limits.max_reconcile_entries`.
    #[serde(default = "default_reconcile_chunk")]
    pub reconcile_chunk: usize,
    /// Most summaries anonymized ahead of sending and held in memory (a few KB each), so that
    /// a backlog (e.g. after a hub outage) drains without waiting for segmentation and held-back
    /// records show up right after import; 0 anonymizes only at send time.
    #[serde(default = "default_prepare_ahead")]
    pub prepare_ahead: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            batch_size: default_batch_size(),
            max_in_flight: default_in_flight(),
            rpc_timeout_secs: default_rpc_timeout(),
            backoff_min_ms: default_backoff_min(),
            backoff_max_ms: default_backoff_max(),
            idle_poll_ms: default_idle_poll(),
            anti_entropy_secs: default_anti_entropy(),
            reconcile_chunk: default_reconcile_chunk(),
            prepare_ahead: default_prepare_ahead(),
        }
    }
}

impl SyncConfig {
    /// The per-call deadline.
    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_secs(self.rpc_timeout_secs)
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("pilot-node-data")
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7601))
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7701))
}
fn default_hub_url() -> String {
    "https://127.0.0.1:7443".into()
}
fn default_grace() -> u64 {
    10
}
fn default_anti_entropy() -> u64 {
    30
}
fn default_reconcile_chunk() -> usize {
    10_000
}
fn default_prepare_ahead() -> usize {
    10_000
}
fn default_batch_size() -> usize {
    256
}
fn default_in_flight() -> usize {
    4
}
fn default_rpc_timeout() -> u64 {
    10
}
fn default_backoff_min() -> u64 {
    200
}
fn default_backoff_max() -> u64 {
    30_000
}
fn default_idle_poll() -> u64 {
    1000
}

impl Config {
    /// Loads the config file (if any) and `PILOT_NODE__*` overrides from `env`, then validates.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, pilot_config::Error> {
        let cfg: Config = pilot_config::load(file, "PILOT_NODE", env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that parse but do not make sense, reporting every problem.
    pub fn validate(&self) -> Result<(), pilot_config::Error> {
        let mut p = pilot_config::Problems::default();
        p.check(self.listen.ip().is_loopback() || self.api_token_file.is_some(), || {
            format!("listen = {} is not loopback, so api_token_file must be set", self.listen)
        });
        p.check(self.http_listen.ip().is_loopback() || self.api_token_file.is_some(), || {
            format!(
                "http_listen = {} is not loopback, so api_token_file must be set",
                self.http_listen
            )
        });
        p.check(self.hub.url.starts_with("https://"), || {
            format!("hub.url = {:?} must start with https://", self.hub.url)
        });
        p.check((1..=1000).contains(&self.sync.batch_size), || {
            "sync.batch_size must be 1-1000".into()
        });
        p.check((1..=64).contains(&self.sync.max_in_flight), || {
            "sync.max_in_flight must be 1-64".into()
        });
        p.check(self.sync.rpc_timeout_secs >= 1, || {
            "sync.rpc_timeout_secs must be at least 1".into()
        });
        p.check(
            self.sync.backoff_min_ms >= 1 && self.sync.backoff_min_ms <= self.sync.backoff_max_ms,
            || "sync.backoff_min_ms must be at least 1 and at most sync.backoff_max_ms".into(),
        );
        p.check((1..=86_400).contains(&self.sync.anti_entropy_secs), || {
            "sync.anti_entropy_secs must be 1-86400".into()
        });
        p.check((256..=100_000).contains(&self.sync.reconcile_chunk), || {
            "sync.reconcile_chunk must be 256-100000".into()
        });
        self.log.check(&mut p);
        p.finish()
    }

    /// Name to verify in the hub's certificate.
    pub fn hub_server_name(&self) -> String {
        if let Some(n) = &self.hub.server_name {
            return n.clone();
        }
        let rest = self.hub.url.trim_start_matches("https://");
        let host = rest.split('/').next().unwrap_or(rest);
        // Strip the port, keeping bracketed IPv6 literals whole.
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        host.trim_start_matches('[').trim_end_matches(']').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn base() -> Vec<(String, String)> {
        env(&[
            ("PILOT_NODE__CITY", "421200"),
            ("PILOT_NODE__TLS__CA", "/p/ca.pem"),
            ("PILOT_NODE__TLS__CERT", "/p/c.pem"),
            ("PILOT_NODE__TLS__KEY", "/p/k.pem"),
        ])
    }

    #[test]
    fn defaults_work_for_a_local_run() {
        let cfg = Config::load(None, base()).unwrap();
        assert!(cfg.listen.ip().is_loopback());
        assert_eq!(cfg.hub_server_name(), "127.0.0.1");
        assert_eq!(cfg.sync.batch_size, 256);
    }

    #[test]
    fn an_exposed_api_without_a_token_is_refused_with_every_problem_listed() {
        let mut e = base();
        e.extend(env(&[
            ("PILOT_NODE__LISTEN", "0.0.0.0:7601"),
            ("PILOT_NODE__SYNC__BATCH_SIZE", "0"),
        ]));
        let msg = Config::load(None, e).unwrap_err().to_string();
        assert!(msg.contains("api_token_file") && msg.contains("batch_size"), "{msg}");
    }

    #[test]
    fn the_documented_example_config_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/node.toml");
        let cfg = Config::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(cfg.city.to_string(), "421200");
        assert_eq!(cfg.sync.backoff_max_ms, 30_000);
    }

    #[test]
    fn a_bad_city_code_names_the_key() {
        let mut e = base();
        e.push(("PILOT_NODE__CITY".into(), "999999".into()));
        let msg = Config::load(None, e).unwrap_err().to_string();
        assert!(msg.contains("city"), "{msg}");
    }

    #[test]
    fn server_name_comes_from_the_url_host() {
        let mut cfg = Config::load(None, base()).unwrap();
        cfg.hub.url = "https://hub:7443".into();
        assert_eq!(cfg.hub_server_name(), "hub");
        cfg.hub.url = "https://[::1]:7443".into();
        assert_eq!(cfg.hub_server_name(), "::1");
    }
}
