//! Test support shared by the workspace's tests and benches (dev-only): a throwaway federation
//! PKI with a second, rogue CA for negative tests, `eventually` for conditions that become true
//! asynchronously, `bench_store_root` for benches that must measure a real disk, and `Rng` for
//! tests that damage or generate input the same way on every run.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pilot_model::CityCode;
use pilot_pki::{Identity, InitOptions, TlsFiles};

/// A federation PKI in a temporary directory, plus an independent rogue PKI whose certificates
/// carry the same identities but must be refused.
#[derive(Debug)]
pub struct TestPki {
    dir: tempfile::TempDir,
    rogue: tempfile::TempDir,
    /// The cities with certificates.
    pub cities: Vec<CityCode>,
}

impl TestPki {
    /// A PKI for the given city codes.
    pub fn new(cities: &[&str]) -> anyhow::Result<Self> {
        let cities = cities.iter().map(|c| CityCode::parse(c)).collect::<Result<Vec<_>, _>>()?;
        let opts =
            InitOptions { cities: cities.clone(), validity_days: 30, ..InitOptions::default() };
        let dir = tempfile::tempdir()?;
        pilot_pki::init(dir.path(), &opts)?;
        let rogue = tempfile::tempdir()?;
        pilot_pki::init(rogue.path(), &opts)?;
        Ok(TestPki { dir, rogue, cities })
    }

    /// The PKI directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rogue PKI directory.
    pub fn rogue_path(&self) -> &Path {
        self.rogue.path()
    }

    /// Files of one identity.
    pub fn tls(&self, id: Identity) -> TlsFiles {
        TlsFiles::for_identity(self.path(), id)
    }

    /// Files of one identity under the rogue CA.
    pub fn rogue_tls(&self, id: Identity) -> TlsFiles {
        TlsFiles::for_identity(self.rogue_path(), id)
    }

    /// The path of a file inside the PKI directory.
    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }
}

/// Retries `check` until it returns `Ok`, or fails with the last error after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= timeout => {
                return Err(e.context(format!("still failing after {timeout:?}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The filesystem type of the mount holding `p`, from `/proc/self/mounts` ("unknown" elsewhere).
pub fn fs_type(p: &Path) -> String {
    let p = p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best: (usize, String) = (0, "unknown".into());
    for line in mounts.lines() {
        let mut it = line.split_whitespace();
        let (Some(_dev), Some(mnt), Some(ty)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let mnt = mnt.replace("\\040", " ");
        if p.starts_with(&mnt) && mnt.len() >= best.0 {
            best = (mnt.len(), ty.to_owned());
        }
    }
    best.1
}

/// A directory on a real filesystem for a bench's stores, and a line saying where it is: the
/// system temp dir, unless that is tmpfs or ramfs (where a device flush costs nothing), then
/// `fallback` (created if missing).
pub fn bench_store_root(fallback: &Path) -> (PathBuf, String) {
    let tmp = std::env::temp_dir();
    let ty = fs_type(&tmp);
    if matches!(ty.as_str(), "tmpfs" | "ramfs") {
        std::fs::create_dir_all(fallback)
            .unwrap_or_else(|e| panic!("create {}: {e}", fallback.display()));
        let root = fallback.canonicalize().expect("canonical store root");
        let note = format!(
            "{} is {ty}: stores live under {} ({})",
            tmp.display(),
            root.display(),
            fs_type(&root)
        );
        (root, note)
    } else {
        let note = format!("{} is {ty} (not tmpfs): stores live there", tmp.display());
        (tmp, note)
    }
}

/// A seeded pseudo-random stream (splitmix64): the same numbers on every run and platform, so
/// that a failing generated case replays.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eventually_returns_the_first_success_and_reports_the_last_failure() {
        let mut n = 0;
        let v = eventually(Duration::from_secs(5), || {
            n += 1;
            let n = n;
            async move { if n < 3 { anyhow::bail!("not yet {n}") } else { Ok(n) } }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
        let err = eventually(Duration::from_millis(250), || async {
            anyhow::bail!("never") as anyhow::Result<()>
        })
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains("never"), "{err:#}");
    }

    #[test]
    fn the_rogue_pki_names_the_same_identities_under_another_ca() {
        let pki = TestPki::new(&["421200"]).unwrap();
        let id = Identity::City(pki.cities[0]);
        assert!(pki.tls(id).load(Some(id)).is_ok());
        let mut mixed = pki.rogue_tls(id);
        mixed.ca = pki.tls(id).ca;
        assert!(mixed.load(Some(id)).is_err(), "a rogue certificate does not chain to the real CA");
    }
}
