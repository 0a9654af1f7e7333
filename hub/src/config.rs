//! The hub's configuration: plain data, loaded from TOML plus `PILOT_HUB__*` overrides.
//!
//! Every default works for a local run; each field says what changing it costs.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// The hub's certificate, key and the federation CA.
    pub tls: pilot_pki::TlsFiles,
    /// Limits on what a peer may send.
    #[serde(default)]
    pub limits: Limits,
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: default_max_message(),
            max_batch_entries: default_max_batch(),
            max_reconcile_entries: default_max_reconcile(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("pilot-hub-data")
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7443))
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
        let cfg = Config::load(None, env).unwrap();
        assert_eq!(cfg.limits.max_batch_entries, 50);
        assert_eq!(cfg.listen.port(), 7443);
    }

    #[test]
    fn the_documented_example_config_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/hub.toml");
        let cfg = Config::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(cfg.limits.max_message_bytes, 4 << 20);
    }

    #[test]
    fn missing_tls_is_named() {
        let msg = Config::load(None, Vec::new()).unwrap_err().to_string();
        assert!(msg.contains("tls"), "{msg}");
    }
}
