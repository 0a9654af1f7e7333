//! Pilotnet's storage: typed trees over sled for the node and the hub.
//!
//! Invariants:
//! - This is the only crate that names `sled`; everything else uses [`NodeStore`] and
//!   [`HubStore`], so the engine can be replaced without touching the node or the hub.
//! - A record change and its outbox entry are written in one transaction under one sequence.
//! - [`Db::flush`] is a device flush: sled 0.34's own flush uses `sync_file_range`, which does not
//!   reach the disk's cache (sled issue 1452), so we `fdatasync` every file of the store after it.
//!   The hub acknowledges a batch only after this returns.

mod backup;
mod error;
mod hub;
mod keys;
mod node;
mod shared;

use std::path::{Path, PathBuf};

pub use backup::{
    Manifest, read_manifest, restore_backup, restore_verified, write_backup, write_manifest_backup,
};
pub use error::{Error, Result};
pub use hub::{
    ApplyOutcome, Change, CityState, DigestState, HubStore, ReconcileOutcome, StoredSummary,
};
pub use node::{
    Counts, NodeStore, OutboxEntry, OutboxOp, PutOutcome, SentEntry, StoredRecord, WriteBatch,
};
pub use shared::{SharedChange, SharedEntry, SharedIndex};

/// An open sled database with a durable flush.
#[derive(Debug, Clone)]
pub struct Db {
    db: sled::Db,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`.
    ///
    /// A store still locked by a process that is exiting (or by sled's background flusher of a
    /// handle just dropped in this process) is retried for up to three seconds before the
    /// lock error is returned.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let started = std::time::Instant::now();
        loop {
            let opened = sled::Config::new()
                .path(dir)
                .mode(sled::Mode::HighThroughput)
                // sled's own periodic flush stays on as a backstop; durability points call flush().
                .flush_every_ms(Some(1000))
                .open();
            match opened {
                Ok(db) => return Ok(Db { db, path: dir.to_owned() }),
                // sled reports the lock as an IO error of kind Other with this text.
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && started.elapsed() < std::time::Duration::from_secs(3) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(Error::from_sled(dir, e)),
            }
        }
    }

    /// Writes everything to the device: sled's flush, then `fdatasync` of every store file.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map_err(|e| Error::from_sled(&self.path, e))?;
        sync_dir(&self.path)
    }

    /// The directory holding the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tree(&self, name: &str) -> Result<sled::Tree> {
        self.db.open_tree(name).map_err(|e| Error::from_sled(&self.path, e))
    }
}

/// `fdatasync`s every regular file under `dir`, then the directories themselves.
fn sync_dir(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ty.is_dir() {
            sync_dir(&path)?;
        } else if ty.is_file() {
            let f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            f.sync_data().map_err(|e| Error::io(&path, e))?;
        }
    }
    // NB: a directory fsync makes newly created files (sled's snapshot and blob files) durable.
    let d = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
    d.sync_all().map_err(|e| Error::io(dir, e))
}
