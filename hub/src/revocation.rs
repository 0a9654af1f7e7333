//! Certificate revocation at run time: loads the CA-signed revocation list at start-up and
//! re-reads it whenever it changes, handing the revoked serials to the [`Registry`], so that
//! `pilotctl pki revoke` takes effect on a running hub without a restart.
//!
//! The list (`revocation.crl`, by default `crl.pem` next to `tls.ca`) is verified against the
//! CA the hub trusts for client certificates (`pilot-pki` does the parsing). Every
//! `revocation.poll_interval_ms` the watcher reads the whole file and compares it with what it
//! last saw; comparing the bytes catches every change, including one that keeps the size and
//! the modification time, and a list is a few KiB.
//!
//! Never fail open:
//! - At start-up a missing file means nothing is revoked; a file that cannot be read or
//!   verified is a start-up error naming the file.
//! - Later, a file that cannot be read or verified, has disappeared, or carries a smaller CRL
//!   number than the list in force (an older copy put back) is logged at warn and the list in
//!   force is kept. Un-revoking therefore needs a restart with the intended file.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::registry::Registry;
use crate::{Error, Result};

/// Loads the revocation list at `path` into `registry`, then spawns (on `tracker`) a task that
/// re-reads it every `every` until `shutdown` fires.
///
/// Fails when a list is present but cannot be read or verified against `ca_pem`.
pub(crate) fn start(
    path: PathBuf,
    ca_pem: Vec<u8>,
    every: Duration,
    registry: &Registry,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<()> {
    let (watcher, serials) = Watcher::open(path, ca_pem)?;
    registry.set_revoked(serials);
    tracker.spawn(watcher.run(registry.clone(), every, shutdown));
    Ok(())
}

/// What the hub knows of the revocation list file.
#[derive(Debug)]
struct Watcher {
    /// The list's file.
    path: PathBuf,
    /// The CA certificate (PEM) the list must be signed by.
    ca_pem: Vec<u8>,
    /// The file's contents at the last check, `None` when it was missing; a change from this
    /// triggers a reload.
    seen: Option<Vec<u8>>,
    /// The CRL number of the list in force (0 when none was loaded); an older list is refused.
    crl_number: u64,
    /// How many serials the list in force revokes, for logs.
    revoked: usize,
}

impl Watcher {
    /// Reads the list for start-up: a missing file revokes nothing; any other problem is an
    /// error naming the file.
    fn open(path: PathBuf, ca_pem: Vec<u8>) -> Result<(Watcher, HashSet<String>)> {
        let mut watcher = Watcher { path, ca_pem, seen: None, crl_number: 0, revoked: 0 };
        let serials = match std::fs::read(&watcher.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                info!(path = %watcher.path.display(), "no revocation list; nothing is revoked");
                HashSet::new()
            }
            Err(source) => return Err(Error::Io { path: watcher.path, source }),
            Ok(bytes) => {
                let list =
                    pilot_pki::load_revocation_list(&bytes, &watcher.ca_pem).map_err(|e| {
                        Error::Io {
                            path: watcher.path.clone(),
                            source: io::Error::new(io::ErrorKind::InvalidData, e),
                        }
                    })?;
                watcher.seen = Some(bytes);
                watcher.crl_number = list.crl_number;
                watcher.revoked = list.serials.len();
                info!(
                    path = %watcher.path.display(),
                    crl_number = list.crl_number,
                    revoked = list.serials.len(),
                    "revocation list loaded"
                );
                list.serials
            }
        };
        Ok((watcher, serials))
    }

    /// Re-reads the file every `every` and hands a changed, valid list to `registry`, until
    /// `shutdown` fires.
    async fn run(mut self, registry: Registry, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick completes at once, and the list was just loaded.
        tick.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let read = tokio::fs::read(&self.path).await;
            if let Some(serials) = self.update(read) {
                registry.set_revoked(serials);
            }
        }
    }

    /// Takes the result of reading the file; returns the new revoked set when the file changed
    /// to a valid list that is not older than the one in force, `None` to keep the list in
    /// force.
    fn update(&mut self, read: io::Result<Vec<u8>>) -> Option<HashSet<String>> {
        let path = self.path.display();
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.seen.take().is_some() {
                    warn!(
                        path = %path,
                        revoked = self.revoked,
                        "revocation list disappeared; keeping the list in force"
                    );
                }
                return None;
            }
            Err(e) => {
                // Not recorded as seen, so the read is retried and logged at every check.
                warn!(path = %path, error = %e, "cannot read the revocation list; keeping the list in force");
                return None;
            }
        };
        if self.seen.as_ref() == Some(&bytes) {
            return None;
        }
        let list = pilot_pki::load_revocation_list(&bytes, &self.ca_pem);
        // Whatever the outcome, this content has been judged: don't log it again.
        self.seen = Some(bytes);
        let list = match list {
            Ok(list) => list,
            Err(e) => {
                warn!(
                    path = %path,
                    error = %e,
                    revoked = self.revoked,
                    "invalid revocation list; keeping the list in force"
                );
                return None;
            }
        };
        if list.crl_number < self.crl_number {
            warn!(
                path = %path,
                crl_number = list.crl_number,
                in_force = self.crl_number,
                "revocation list is older than the one in force; keeping the list in force"
            );
            return None;
        }
        info!(
            path = %path,
            crl_number = list.crl_number,
            revoked = list.serials.len(),
            "revocation list reloaded"
        );
        self.crl_number = list.crl_number;
        self.revoked = list.serials.len();
        Some(list.serials)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use pilot_model::CityCode;
    use pilot_pki::{Identity, InitOptions, TlsFiles};

    use super::*;

    fn city(code: &str) -> Identity {
        Identity::City(CityCode::parse(code).unwrap())
    }

    /// A PKI with three cities in a tempdir.
    fn pki() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            cities: ["421200", "350500", "440100"].map(|c| CityCode::parse(c).unwrap()).to_vec(),
            ..InitOptions::default()
        };
        pilot_pki::init(tmp.path(), &opts).unwrap();
        tmp
    }

    fn serial(dir: &Path, id: Identity) -> String {
        TlsFiles::for_identity(dir, id).load(Some(id)).unwrap().peer.serial_hex
    }

    fn open(dir: &Path) -> Result<(Watcher, HashSet<String>)> {
        let ca = fs::read(dir.join("ca.pem")).unwrap();
        Watcher::open(dir.join(pilot_pki::CRL_FILE), ca)
    }

    fn poll(w: &mut Watcher) -> Option<HashSet<String>> {
        let read = fs::read(&w.path);
        w.update(read)
    }

    #[test]
    fn a_missing_list_revokes_nothing_until_one_appears() {
        let tmp = pki();
        let (mut w, set) = open(tmp.path()).unwrap();
        assert!(set.is_empty());
        assert_eq!(poll(&mut w), None);

        pilot_pki::revoke(tmp.path(), city("421200")).unwrap();
        let a = serial(tmp.path(), city("421200"));
        assert_eq!(poll(&mut w), Some(HashSet::from([a.clone()])));
        assert_eq!(poll(&mut w), None, "an unchanged file is not reloaded");

        pilot_pki::revoke(tmp.path(), city("350500")).unwrap();
        let b = serial(tmp.path(), city("350500"));
        assert_eq!(poll(&mut w), Some(HashSet::from([a, b])));
    }

    #[test]
    fn an_invalid_list_at_start_up_is_an_error_naming_the_file() {
        let tmp = pki();
        let crl = tmp.path().join(pilot_pki::CRL_FILE);
        fs::write(&crl, "garbage").unwrap();
        let err = open(tmp.path()).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: ", crl.display())), "{err}");
        assert!(err.contains("no X509 CRL block"), "{err}");

        // A list signed by another CA is refused too.
        let rogue = pki();
        pilot_pki::revoke(rogue.path(), city("421200")).unwrap();
        fs::copy(rogue.path().join(pilot_pki::CRL_FILE), &crl).unwrap();
        let err = open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("not signed by the federation CA"), "{err}");
    }

    #[test]
    fn bad_changes_keep_the_list_in_force() {
        let tmp = pki();
        let crl = tmp.path().join(pilot_pki::CRL_FILE);
        pilot_pki::revoke(tmp.path(), city("421200")).unwrap();
        let first = fs::read(&crl).unwrap();
        pilot_pki::revoke(tmp.path(), city("350500")).unwrap();
        let second = fs::read(&crl).unwrap();
        let (mut w, set) = open(tmp.path()).unwrap();
        assert_eq!(set.len(), 2);

        // Garbage, a foreign list, a vanished file and an older list are all ignored.
        fs::write(&crl, "garbage").unwrap();
        assert_eq!(poll(&mut w), None);
        let rogue = pki();
        pilot_pki::revoke(rogue.path(), city("440100")).unwrap();
        fs::copy(rogue.path().join(pilot_pki::CRL_FILE), &crl).unwrap();
        assert_eq!(poll(&mut w), None);
        fs::remove_file(&crl).unwrap();
        assert_eq!(poll(&mut w), None);
        fs::write(&crl, &first).unwrap();
        assert_eq!(poll(&mut w), None, "a rolled-back list must not un-revoke");
        assert_eq!(w.crl_number, 2);

        // Putting the current list back, then revoking more, works as usual.
        fs::write(&crl, &second).unwrap();
        assert_eq!(poll(&mut w).map(|s| s.len()), Some(2));
        pilot_pki::revoke(tmp.path(), city("440100")).unwrap();
        assert_eq!(poll(&mut w).map(|s| s.len()), Some(3));
    }

    #[tokio::test]
    async fn the_task_updates_the_registry_and_stops_on_shutdown() {
        let tmp = pki();
        let ca = fs::read(tmp.path().join("ca.pem")).unwrap();
        let registry = Registry::default();
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let crl = tmp.path().join(pilot_pki::CRL_FILE);
        start(crl, ca, Duration::from_millis(10), &registry, &tracker, shutdown.child_token())
            .unwrap();
        assert_eq!(registry.revoked_count(), 0);

        pilot_pki::revoke(tmp.path(), city("421200")).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while registry.revoked_count() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the revocation was not picked up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        shutdown.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await.unwrap();
    }
}
