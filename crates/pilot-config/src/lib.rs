//! Configuration loading shared by `pilot-node` and `pilot-hub`: a TOML file, then environment
//! overrides, into a plain-data `Config` that denies unknown fields.
//!
//! Environment overrides use the binary's prefix and `__` between nesting levels:
//! `PILOT_NODE__SYNC__BATCH_SIZE=500` sets `[sync] batch_size = 500`.
//! A value is read as a TOML value when it parses as one (`500`, `true`, `"x"`, `["a"]`),
//! and as a plain string otherwise, so paths and addresses need no quoting.
//!
//! It also holds the process bootstrap both binaries share: log setup and the shutdown signal.
//!
//! Invariant: this crate reads no environment itself; callers pass `std::env::vars()` in
//! binaries and an explicit list in tests, so tests never mutate the process environment.

pub mod metrics;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Exit code for a bad configuration (`EX_CONFIG`-style usage error, as in sysexits' EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;

/// A configuration that cannot be used. The operator must fix the file or the environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("invalid config{}: {message}", origin.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, if the error is in it.
        origin: Option<PathBuf>,
        /// The parser's message, naming the key.
        message: String,
    },
    /// An environment override names no valid key path.
    #[error("invalid environment override {var}: {reason}")]
    Env {
        /// The variable.
        var: String,
        /// Why.
        reason: String,
    },
    /// Values parse but do not make sense together; every problem is listed.
    #[error("invalid config:\n  - {}", problems.join("\n  - "))]
    Invalid {
        /// One line per problem, naming the key.
        problems: Vec<String>,
    },
}

/// Loads `T` from an optional TOML file plus environment overrides with `prefix`
/// (e.g. `PILOT_NODE`). Missing keys take `T`'s serde defaults.
pub fn load<T: DeserializeOwned>(
    file: Option<&Path>,
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, Error> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| Error::Read { path: path.to_owned(), source })?;
            text.parse::<toml::Table>().map_err(|e| Error::Parse {
                origin: Some(path.to_owned()),
                message: e.message().to_owned(),
            })?
        }
        None => toml::Table::new(),
    };
    apply_env(&mut table, prefix, env)?;
    T::deserialize(toml::Value::Table(table)).map_err(|e| Error::Parse {
        origin: file.map(Path::to_owned),
        message: e.to_string().trim().to_owned(),
    })
}

fn apply_env(
    table: &mut toml::Table,
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), Error> {
    let head = format!("{prefix}__");
    let mut vars: Vec<_> = env.into_iter().filter(|(k, _)| k.starts_with(&head)).collect();
    vars.sort();
    for (var, raw) in vars {
        let path: Vec<String> =
            var[head.len()..].split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(Error::Env { var, reason: "empty key segment".into() });
        }
        let value = parse_value(&raw);
        let (last, parents) = path.split_last().expect("split yields at least one segment");
        let mut t = &mut *table;
        for p in parents {
            let entry =
                t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = match entry {
                toml::Value::Table(inner) => inner,
                _ => {
                    return Err(Error::Env {
                        var: var.clone(),
                        reason: format!("{p} is not a section"),
                    });
                }
            };
        }
        t.insert(last.clone(), value);
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Log output settings, the `[log]` section of both binaries' configs.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for containers and log shippers.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// A tracing filter such as `info` or `pilot_hub=debug,info`; more detail costs disk and CPU.
    #[serde(default = "default_log_filter")]
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: default_log_format(), filter: default_log_filter() }
    }
}

fn default_log_format() -> String {
    "text".into()
}

fn default_log_filter() -> String {
    "info".into()
}

impl LogConfig {
    /// Checks the format name.
    pub fn check(&self, p: &mut Problems) {
        p.check(matches!(self.format.as_str(), "text" | "json"), || {
            format!("log.format = {:?} must be \"text\" or \"json\"", self.format)
        });
        p.check(tracing_subscriber::EnvFilter::try_new(&self.filter).is_ok(), || {
            format!("log.filter = {:?} is not a tracing filter", self.filter)
        });
    }

    /// Installs the global tracing subscriber, writing to stderr.
    pub fn init(&self) {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        use std::io::IsTerminal as _;
        // Colour codes only on a terminal: log files and container logs get plain text.
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        if self.format == "json" {
            builder.json().init();
        } else {
            builder.init();
        }
    }
}

/// The `main` both binaries share: report a bad config (exit 64), set up logging, run `serve`
/// on a multi-threaded runtime until SIGINT or SIGTERM cancels its token, and exit 1 with the
/// error logged if it fails.
pub fn run_main<C, F, Fut, E>(
    binary: &str,
    config: Result<C, Error>,
    log: impl FnOnce(&C) -> &LogConfig,
    serve: F,
) -> std::process::ExitCode
where
    F: FnOnce(C, tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let cfg = match config {
        Ok(c) => c,
        Err(e) => {
            #[allow(
                clippy::print_stderr,
                reason = "logging is not set up before the config is read"
            )]
            {
                eprintln!("{binary}: {e}");
            }
            return std::process::ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    log(&cfg).init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let result = rt.block_on(async {
        let token = tokio_util::sync::CancellationToken::new();
        tokio::spawn(shutdown_signal(token.clone()));
        serve(cfg, token).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "{binary} failed");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Step 5 of the shutdown order both binaries follow: cancel every subsystem, stop accepting new
/// tasks, and wait for the running ones at most `grace`. Returns whether they all finished; if
/// not, it logs a warning and the caller goes on to flush anyway.
pub async fn drain(
    shutdown: &tokio_util::sync::CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
    grace: std::time::Duration,
) -> bool {
    shutdown.cancel();
    tracker.close();
    let done = tokio::time::timeout(grace, tracker.wait()).await.is_ok();
    if !done {
        tracing::warn!(grace_secs = grace.as_secs(), "tasks still running after the grace period");
    }
    done
}

/// Cancels `token` on SIGINT (Ctrl-C) or SIGTERM (what Docker and systemd send to stop).
pub async fn shutdown_signal(token: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).expect("installing a SIGTERM handler cannot fail on Unix");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = token.cancelled() => {}
    }
    token.cancel();
}

/// Collects validation problems so that `validate()` can report all of them at once.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records a problem when `ok` is false.
    pub fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.0.push(problem());
        }
    }

    /// `Ok` when no problem was recorded.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::Invalid { problems: self.0 }) }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sync {
        #[serde(default)]
        batch_size: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        listen: String,
        #[serde(default = "default_sync")]
        sync: Sync,
    }

    fn default_sync() -> Sync {
        Sync { batch_size: 7 }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn env_overrides_file_and_nests_sections() {
        let dir = tempdir();
        let f = dir.join("c.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:1\"\n").unwrap();
        let cfg: Cfg = load(
            Some(&f),
            "P",
            env(&[("P__SYNC__BATCH_SIZE", "500"), ("P__LISTEN", "0.0.0.0:9"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(cfg, Cfg { listen: "0.0.0.0:9".into(), sync: Sync { batch_size: 500 } });
    }

    #[test]
    fn unknown_keys_and_bad_types_name_the_key() {
        let err = load::<Cfg>(None, "P", env(&[("P__LISTEN", "x"), ("P__SYNC__BATCHSIZE", "1")]))
            .unwrap_err();
        assert!(err.to_string().contains("batchsize"), "{err}");
        let err =
            load::<Cfg>(None, "P", env(&[("P__LISTEN", "x"), ("P__SYNC__BATCH_SIZE", "many")]))
                .unwrap_err();
        assert!(err.to_string().contains("batch_size"), "{err}");
    }

    #[test]
    fn problems_are_all_reported() {
        let mut p = Problems::default();
        p.check(false, || "a is wrong".into());
        p.check(true, || "never".into());
        p.check(false, || "b is wrong".into());
        let msg = p.finish().unwrap_err().to_string();
        assert!(
            msg.contains("a is wrong") && msg.contains("b is wrong") && !msg.contains("never"),
            "{msg}"
        );
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("pilot-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
