//! The hub's configuration: plain data, loaded from TOML plus `PILOT_HUB__*` overrides.
//!
//! Every default works for a local run; each field says what changing it costs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything a hub needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the sled store and the `ready` file live. It holds only summaries; nodes can
    /// rebuild it, but that costs a full resync.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The mTLS gRPC address nodes and the national centre connect to.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The national centre's HTTPS/JSON API (mutual TLS with the same certificates as gRPC;
    /// only the national role may use it). Its address is written to `<data_dir>/ready.http`.
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// Prometheus metrics (`GET /metrics`, plain HTTP: counts, city codes and reasons only).
    /// Its address is written to `<data_dir>/ready.metrics`.
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: SocketAddr,
    /// The hub's certificate, key and the federation CA.
    pub tls: pilot_pki::TlsFiles,
    /// Limits on what a peer may send.
    #[serde(default)]
    pub limits: Limits,
    /// Where the certificate revocation list is and how often it is re-read.
    #[serde(default)]
    pub revocation: Revocation,
    /// Seconds to let in-flight batches finish on shutdown before exiting anyway.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// Logging.
    #[serde(default)]
    pub log: pilot_config::LogConfig,
}

/// Limits on peer input. Raising them lets a misbehaving node use more hub memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted gRPC message in bytes; bigger ones are refused with RESOURCE_EXHAUSTED.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Most entries in one push batch; bigger batches are refused with INVALID_ARGUMENT.
    #[serde(default = "default_max_batch")]
    pub max_batch_entries: usize,
    /// Most (pseudonym, version) pairs in one anti-entropy listing; nodes split bigger ones.
    #[serde(default = "default_max_reconcile")]
    pub max_reconcile_entries: usize,
    /// Most full rounds of match subscriptions computed at once (default: one fewer than the
    /// machine's cores, at least one). A full round recomputes a city's whole list (about 200 s
    /// of CPU for 50,000 records against 1.1 million summaries); after a restart every city's
    /// subscription starts with one, and unbounded they would take every core from ingest and
    /// queries. Raising it gets all cities their first lists sooner at that cost; the others
    /// wait their turn (`pilot_hub_full_rounds_waiting`).
    #[serde(default = "default_full_rounds")]
    pub concurrent_full_rounds: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: default_max_message(),
            max_batch_entries: default_max_batch(),
            max_reconcile_entries: default_max_reconcile(),
            concurrent_full_rounds: default_full_rounds(),
        }
    }
}

/// Certificate revocation: the CA-signed list written by `pilotctl pki revoke`, which the hub
/// loads at start-up and then re-reads whenever it changes, without a restart.
///
/// NB: there is no switch to turn checking off; a list that cannot be read or verified stops
/// start-up, and later keeps the previously loaded list in force (never fails open).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The revocation list (PEM `X509 CRL`, signed by the CA in `tls.ca`); default: `crl.pem`
    /// in the directory of `tls.ca`, where `pilotctl pki revoke` writes it. A missing file means
    /// nothing is revoked; a present but invalid one stops start-up, naming the file. Pointing
    /// it elsewhere costs a copy step after each revocation.
    #[serde(default)]
    pub crl: Option<PathBuf>,
    /// Milliseconds between checks of the list for changes; a revocation takes effect within
    /// this time. Each check reads the whole file (a few KiB), so shorter costs a little IO.
    #[serde(default = "default_crl_poll_ms")]
    pub poll_interval_ms: u64,
}

impl Default for Revocation {
    fn default() -> Self {
        Revocation { crl: None, poll_interval_ms: default_crl_poll_ms() }
    }
}

impl Revocation {
    /// The revocation list's path: [`Revocation::crl`], or `crl.pem` next to the CA file.
    pub fn crl_path(&self, ca: &Path) -> PathBuf {
        match &self.crl {
            Some(path) => path.clone(),
            None => ca.with_file_name(pilot_pki::CRL_FILE),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("pilot-hub-data")
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7443))
}
fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9444))
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7444))
}
fn default_grace() -> u64 {
    10
}
fn default_max_message() -> usize {
    4 << 20
}
fn default_max_batch() -> usize {
    1000
}
fn default_max_reconcile() -> usize {
    20_000
}
fn default_full_rounds() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}
fn default_crl_poll_ms() -> u64 {
    1000
}

impl Config {
    /// Loads the config file (if any) and `PILOT_HUB__*` overrides from `env`, then validates.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, pilot_config::Error> {
        let cfg: Config = pilot_config::load(file, "PILOT_HUB", env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that parse but do not make sense, reporting every problem.
    pub fn validate(&self) -> Result<(), pilot_config::Error> {
        let mut p = pilot_config::Problems::default();
        p.check((1024..=(64 << 20)).contains(&self.limits.max_message_bytes), || {
            "limits.max_message_bytes must be between 1 KiB and 64 MiB".into()
        });
        p.check((1..=10_000).contains(&self.limits.max_batch_entries), || {
            "limits.max_batch_entries must be 1-10000".into()
        });
        // A listing of this many pairs (about 50 bytes each) must fit in one message.
        p.check(
            (256..=self.limits.max_message_bytes / 64).contains(&self.limits.max_reconcile_entries),
            || "limits.max_reconcile_entries must be 256 to max_message_bytes / 64".into(),
        );
        p.check((1..=256).contains(&self.limits.concurrent_full_rounds), || {
            "limits.concurrent_full_rounds must be 1-256".into()
        });
        p.check((50..=600_000).contains(&self.revocation.poll_interval_ms), || {
            "revocation.poll_interval_ms must be 50-600000 (50 ms to 10 minutes)".into()
        });
        let crl = self.revocation.crl_path(&self.tls.ca);
        p.check(crl.file_name().is_some(), || {
            format!("revocation.crl {:?} must name a file", crl.display().to_string())
        });
        p.check(![&self.tls.ca, &self.tls.cert, &self.tls.key].contains(&&crl), || {
            format!(
                "revocation.crl {:?} must not be one of the tls files",
                crl.display().to_string()
            )
        });
        self.log.check(&mut p);
        p.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let env = [
            ("PILOT_HUB__TLS__CA", "/p/ca.pem"),
            ("PILOT_HUB__TLS__CERT", "/p/hub/cert.pem"),
            ("PILOT_HUB__TLS__KEY", "/p/hub/key.pem"),
            ("PILOT_HUB__LIMITS__MAX_BATCH_ENTRIES", "50"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let cfg = Config::load(None, env.clone()).unwrap();
        assert_eq!(cfg.limits.max_batch_entries, 50);
        assert_eq!(cfg.listen.port(), 7443);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(cfg.limits.concurrent_full_rounds, cores.saturating_sub(1).max(1));

        let with = |rounds: &str| {
            let extra = ("PILOT_HUB__LIMITS__CONCURRENT_FULL_ROUNDS".to_owned(), rounds.to_owned());
            Config::load(None, env.iter().cloned().chain([extra]))
        };
        assert_eq!(with("3").unwrap().limits.concurrent_full_rounds, 3);
        let msg = with("0").unwrap_err().to_string();
        assert!(msg.contains("limits.concurrent_full_rounds must be 1-256"), "{msg}");
    }

    #[test]
    fn the_documented_example_config_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/hub.toml");
        let cfg = Config::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(cfg.limits.max_message_bytes, 4 << 20);
    }

    #[test]
    fn the_revocation_list_defaults_to_the_ca_directory() {
        let tls = [
            ("PILOT_HUB__TLS__CA", "/p/ca.pem"),
            ("PILOT_HUB__TLS__CERT", "/p/hub/cert.pem"),
            ("PILOT_HUB__TLS__KEY", "/p/hub/key.pem"),
        ];
        let env = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
            tls.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let cfg: Config = Config::load(None, env(&[])).unwrap();
        assert_eq!(cfg.revocation.crl_path(&cfg.tls.ca), Path::new("/p/crl.pem"));
        assert_eq!(cfg.revocation.poll_interval_ms, 1000);

        let cfg: Config = Config::load(
            None,
            env(&[
                ("PILOT_HUB__REVOCATION__CRL", "/etc/pilot/crl.pem"),
                ("PILOT_HUB__REVOCATION__POLL_INTERVAL_MS", "200"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.revocation.crl_path(&cfg.tls.ca), Path::new("/etc/pilot/crl.pem"));
        assert_eq!(cfg.revocation.poll_interval_ms, 200);

        let msg = Config::load(
            None,
            env(&[
                ("PILOT_HUB__REVOCATION__CRL", "/p/ca.pem"),
                ("PILOT_HUB__REVOCATION__POLL_INTERVAL_MS", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("revocation.poll_interval_ms must be 50-600000"), "{msg}");
        assert!(msg.contains("must not be one of the tls files"), "{msg}");
    }

    #[test]
    fn missing_tls_is_named() {
        let msg = Config::load(None, Vec::new()).unwrap_err().to_string();
        assert!(msg.contains("tls"), "{msg}");
    }
}
