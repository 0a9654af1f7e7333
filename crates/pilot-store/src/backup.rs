//! Backups: a whole store as one self-checking file, and its restore into an empty directory.
//!
//! Format (all integers big-endian):
//! `PILOTBK1` · manifest (u32 length, JSON) · per tree: `T` · name (u32 length, bytes) ·
//! entries (`E` · key (u32 length, bytes) · value (u32 length, bytes))* · end `.` · SHA-256 of
//! everything before it (32 bytes).
//!
//! The manifest is the caller's: the node and the hub record what the store held (counts and
//! digests) at the backed-up point, and check the restored store against it. Consistency is the
//! caller's job too: it must hold its writers off while [`write_backup`] runs.

use std::io::{Read, Write};
use std::path::Path;

use pilot_model::{CityCode, Digest};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Db, Error, HubStore, NodeStore, Result, SharedIndex};

/// What a backup held at the backed-up point; a restore is checked against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "snake_case")]
pub enum Manifest {
    /// A city node's store.
    Node {
        /// Records by kind: demands, achievements, experts.
        records: [u64; 3],
        /// Highest outbox sequence written.
        last_seq: u64,
        /// Digest of what the node has told the hub it shares.
        shared: Digest,
    },
    /// The hub's store.
    Hub {
        /// Per city: watermark and the digest of its live summaries.
        cities: Vec<(CityCode, u64, Digest)>,
    },
}

impl Manifest {
    /// The manifest of a node's store as it is now (the caller holds writers off).
    pub fn of_node(store: &NodeStore, shared: &SharedIndex) -> Result<Self> {
        let c = store.counts()?;
        Ok(Manifest::Node {
            records: [c.demands, c.achievements, c.experts],
            last_seq: store.last_seq()?.0,
            shared: shared.bucket_digests()?.total(),
        })
    }

    /// The manifest of the hub's store as it is now, recomputed from the stored summaries
    /// (the caller holds writers off).
    pub fn of_hub(store: &HubStore) -> Result<Self> {
        let mut cities = Vec::new();
        for (city, state) in store.cities()? {
            cities.push((city, state.acked_seq, store.bucket_digests(city)?.total()));
        }
        Ok(Manifest::Hub { cities })
    }

    /// The manifest of a restored store of the same kind as this one.
    fn of_restored(&self, db: &Db) -> Result<Self> {
        match self {
            Manifest::Node { .. } => {
                Manifest::of_node(&NodeStore::open(db)?, &SharedIndex::open(db)?)
            }
            Manifest::Hub { .. } => Manifest::of_hub(&HubStore::open(db)?),
        }
    }
}

/// Writes a backup of `db` with `manifest` (see [`write_backup`]).
pub fn write_manifest_backup(db: &Db, manifest: &Manifest, out: &mut impl Write) -> Result<String> {
    let json = serde_json::to_vec(manifest).map_err(|e| Error::corrupt("backup", e))?;
    write_backup(db, &json, out)
}

/// The manifest at the head of a backup file, without reading the rest.
pub fn read_manifest(input: &mut impl Read) -> Result<Manifest> {
    let bad = |what: &str| Error::corrupt("backup", what.to_owned());
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(|_| bad("too short to be a backup"))?;
    if &magic != MAGIC {
        return Err(bad("not a Pilotnet backup (wrong magic)"));
    }
    let json = get(input).map_err(|_| bad("truncated manifest"))?;
    serde_json::from_slice(&json).map_err(|e| Error::corrupt("backup", e))
}

/// Restores a backup into `dir` (see [`restore_backup`]) and checks that the restored store
/// holds exactly what the manifest says: the same counts, sequences and digests.
pub fn restore_verified(dir: &Path, input: &mut impl Read) -> Result<Manifest> {
    let (json, db) = restore_backup(dir, input)?;
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| Error::corrupt("backup", e))?;
    let restored = manifest.of_restored(&db)?;
    if restored != manifest {
        return Err(Error::corrupt(
            "backup",
            format!("the restored store differs from the backup's manifest: {restored:?}"),
        ));
    }
    Ok(manifest)
}

const MAGIC: &[u8; 8] = b"PILOTBK1";

/// Writes every tree of `db`, after `manifest`, to `out`. Returns the SHA-256 (hex).
pub fn write_backup(db: &Db, manifest: &[u8], out: &mut impl Write) -> Result<String> {
    let io = |e: std::io::Error| Error::io(db.path(), e);
    let mut w = Hashing { inner: out, hash: Sha256::new() };
    w.write_all(MAGIC).map_err(io)?;
    put(&mut w, manifest).map_err(io)?;
    let mut names: Vec<Vec<u8>> = db.db.tree_names().into_iter().map(|n| n.to_vec()).collect();
    names.sort();
    for name in names {
        let tree = db.db.open_tree(&name).map_err(|e| Error::from_sled(db.path(), e))?;
        w.write_all(b"T").map_err(io)?;
        put(&mut w, &name).map_err(io)?;
        for item in tree.iter() {
            let (k, v) = item.map_err(|e| Error::from_sled(db.path(), e))?;
            w.write_all(b"E").map_err(io)?;
            put(&mut w, &k).map_err(io)?;
            put(&mut w, &v).map_err(io)?;
        }
    }
    w.write_all(b".").map_err(io)?;
    let digest = w.hash.finalize();
    w.inner.write_all(&digest).map_err(io)?;
    Ok(hex::encode(digest))
}

/// Restores a backup into `dir`, which must not hold a store yet. The data is written to a
/// temporary directory beside it, flushed, verified against the checksum, and only then
/// renamed into place, so a damaged or truncated file leaves nothing behind.
/// Returns the manifest and the opened store.
pub fn restore_backup(dir: &Path, input: &mut impl Read) -> Result<(Vec<u8>, Db)> {
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_some() {
        return Err(Error::Conflict(format!(
            "{} is not empty: restore into a new directory (stop the service, move the old store \
             aside, then restore)",
            dir.display()
        )));
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = parent.join(format!(
        ".{}.restoring",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("store")
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let manifest = {
        let db = Db::open(&tmp)?;
        let manifest = read_into(&db, input).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&tmp);
        })?;
        db.flush()?;
        manifest
    };
    // The temporary store is closed (dropped) before it is moved.
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
    let db = Db::open(dir)?;
    Ok((manifest, db))
}

fn read_into(db: &Db, input: &mut impl Read) -> Result<Vec<u8>> {
    let bad = |what: &str| Error::corrupt("backup", what.to_owned());
    let mut r = HashingReader { inner: input, hash: Sha256::new() };
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|_| bad("too short to be a backup"))?;
    if &magic != MAGIC {
        return Err(bad("not a Pilotnet backup (wrong magic)"));
    }
    let manifest = get(&mut r).map_err(|_| bad("truncated manifest"))?;
    let mut tree: Option<sled::Tree> = None;
    let mut batch = sled::Batch::default();
    let mut pending = 0usize;
    loop {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag).map_err(|_| bad("truncated: no end marker"))?;
        match &tag {
            b"T" | b"." => {
                if let Some(t) = tree.take() {
                    t.apply_batch(std::mem::take(&mut batch))
                        .map_err(|e| Error::from_sled(db.path(), e))?;
                    pending = 0;
                }
                if &tag == b"." {
                    break;
                }
                let name = get(&mut r).map_err(|_| bad("truncated tree name"))?;
                tree = Some(db.db.open_tree(name).map_err(|e| Error::from_sled(db.path(), e))?);
            }
            b"E" => {
                let t = tree.as_ref().ok_or_else(|| bad("entry before any tree"))?;
                let k = get(&mut r).map_err(|_| bad("truncated key"))?;
                let v = get(&mut r).map_err(|_| bad("truncated value"))?;
                batch.insert(k, v);
                pending += 1;
                if pending >= 10_000 {
                    t.apply_batch(std::mem::take(&mut batch))
                        .map_err(|e| Error::from_sled(db.path(), e))?;
                    pending = 0;
                }
            }
            _ => return Err(bad("unknown record tag")),
        }
    }
    let want = r.hash.finalize();
    let mut got = [0u8; 32];
    r.inner.read_exact(&mut got).map_err(|_| bad("truncated checksum"))?;
    if got[..] != want[..] {
        return Err(bad("checksum mismatch: the file is damaged"));
    }
    Ok(manifest)
}

fn put(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(bytes)
}

/// Longest single key, value or manifest a backup may hold (sled values are far smaller).
const MAX_ITEM: usize = 256 << 20;

fn get(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_ITEM {
        return Err(std::io::Error::other("item too large"));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

struct Hashing<'a, W: Write> {
    inner: &'a mut W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct HashingReader<'a, R: Read> {
    inner: &'a mut R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_restores_every_tree_and_a_damaged_one_restores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("a")).unwrap();
        db.tree("one").unwrap().insert(b"k1", b"v1").unwrap();
        db.tree("two").unwrap().insert(b"k2", vec![7u8; 100_000]).unwrap();
        db.db.insert(b"default", b"d").unwrap();
        let mut file = Vec::new();
        let sum = write_backup(&db, b"{\"n\":2}", &mut file).unwrap();
        assert_eq!(sum.len(), 64);

        let (manifest, restored) = restore_backup(&dir.path().join("b"), &mut &file[..]).unwrap();
        assert_eq!(manifest, b"{\"n\":2}");
        assert_eq!(restored.tree("one").unwrap().get(b"k1").unwrap().unwrap(), b"v1");
        assert_eq!(restored.tree("two").unwrap().get(b"k2").unwrap().unwrap().len(), 100_000);
        assert_eq!(restored.db.get(b"default").unwrap().unwrap(), b"d");

        // One flipped byte: refused, and nothing is left where the store would go.
        let mut damaged = file.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 0x55;
        let target = dir.path().join("c");
        assert!(restore_backup(&target, &mut &damaged[..]).is_err());
        assert!(!target.exists());
        // Truncated: refused.
        assert!(restore_backup(&dir.path().join("d"), &mut &file[..file.len() - 40]).is_err());
        // Into a store that exists: refused.
        assert!(matches!(
            restore_backup(&dir.path().join("b"), &mut &file[..]),
            Err(Error::Conflict(_))
        ));
    }
}
