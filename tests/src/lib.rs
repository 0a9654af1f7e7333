//! End-to-end harness: builds the real binaries, starts them as child processes with configs
//! written into a temporary directory (port 0; each writes its bound address to
//! `<data_dir>/ready`), and gives typed clients for them.
//!
//! Also holds a recording TLS proxy that sits between a node and the hub, terminating TLS on
//! both sides, so a test can read the plaintext that crosses the wire.

#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "test harness")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use pilot_pki::{Identity, TlsFiles};
use pilot_proto::pb;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use pilot_testkit::{TestPki, eventually};

/// Paths of the built binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `pilot-hub`.
    pub hub: PathBuf,
    /// `pilot-node`.
    pub node: PathBuf,
    /// `pilotctl`.
    pub pilotctl: PathBuf,
}

/// `cargo` for building the workspace from inside a test or bench process.
///
/// NB: `cargo` from PATH, not $CARGO: under rustup, $CARGO can name another toolchain's cargo
/// than the pinned one, and the two invalidate each other's build fingerprints. Cargo's
/// per-package variables leak into this process; ring's build script watches CARGO_PKG_NAME, so
/// passing them on would rebuild it (and everything above it).
fn workspace_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str()
            && (k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_MANIFEST_")
                || k.starts_with("CARGO_CRATE_")
                || k == "CARGO_PRIMARY_PACKAGE")
        {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Builds (once per test process) and returns the binaries.
///
/// NB: this runs the same `cargo build --workspace --bins` as `scripts/test`, so under the test
/// script it is a no-op. Building packages one by one (as escargot does) resolves features
/// differently and recompiles half the dependency tree, which costs most of a minute.
pub fn binaries() -> &'static Binaries {
    static BINS: OnceLock<Binaries> = OnceLock::new();
    BINS.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = workspace_cargo()
            .current_dir(&workspace)
            .args(["build", "--workspace", "--bins", "--quiet"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build --workspace --bins failed");
        // Test executables live in target/<profile>/deps; the binaries one level up.
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps has two parents")
            .to_owned();
        let bin = |name: &str| {
            let p = dir.join(name);
            assert!(p.exists(), "{} was not built", p.display());
            p
        };
        Binaries { hub: bin("pilot-hub"), node: bin("pilot-node"), pilotctl: bin("pilotctl") }
    })
}

/// CPU seconds (user and system, all threads) process `pid` has used so far; `"self"` for
/// this process. Read from `/proc/PID/stat`, whose times are in the kernel ABI's fixed
/// `USER_HZ` (100 ticks a second), so figures are good to 10 ms per process.
pub fn cpu_secs(pid: &str) -> anyhow::Result<f64> {
    const USER_HZ: f64 = 100.0;
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("no ')' in /proc stat")?;
    let field = |n: usize| -> anyhow::Result<f64> {
        // `rest` starts at field 3 (state), so field n is at index n - 3.
        let v = rest.split_whitespace().nth(n - 3).with_context(|| format!("{path}: field {n}"))?;
        Ok(v.parse::<u64>().with_context(|| format!("{path}: field {n} is {v:?}"))? as f64)
    };
    Ok((field(14)? + field(15)?) / USER_HZ)
}

/// A running child process, killed on drop.
#[derive(Debug)]
pub struct Process {
    child: Child,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its log (stderr and stdout).
    pub log: PathBuf,
    /// The address it wrote to its ready file.
    pub addr: String,
}

impl Process {
    /// A node's HTTP API address (from `ready.http`).
    pub fn http_addr(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("ready.http"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

impl Process {
    fn start(
        bin: &Path,
        config: &Path,
        data_dir: &Path,
        timeout: Duration,
    ) -> anyhow::Result<Process> {
        let log = data_dir.join("process.log");
        let ready = data_dir.join("ready");
        let _ = std::fs::remove_file(&ready);
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut p = Process { child, data_dir: data_dir.to_owned(), log, addr: String::new() };
        let start = Instant::now();
        loop {
            if let Ok(a) = std::fs::read_to_string(&ready)
                && !a.trim().is_empty()
            {
                p.addr = a.trim().to_owned();
                return Ok(p);
            }
            if let Some(status) = p.child.try_wait()? {
                bail!("{} exited with {status} before ready:\n{}", bin.display(), p.log_text());
            }
            if start.elapsed() > timeout {
                bail!("{} not ready after {timeout:?}:\n{}", bin.display(), p.log_text());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// CPU seconds (user and system, all threads) the process has used so far.
    pub fn cpu_secs(&self) -> anyhow::Result<f64> {
        cpu_secs(&self.child.id().to_string())
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process with SIGKILL (`kill -9`): no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_toml(files: &TlsFiles) -> String {
    format!("[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n", files.ca, files.cert, files.key)
        .replace("\"\"", "\"")
}

/// Starts a hub with its data in `dir`.
pub fn start_hub(pki: &TestPki, dir: &Path) -> anyhow::Result<Process> {
    start_hub_with(pki, dir, "")
}

/// Starts a hub with extra TOML appended to its config (e.g. `[log]` settings).
pub fn start_hub_with(pki: &TestPki, dir: &Path, extra: &str) -> anyhow::Result<Process> {
    start_hub_on(pki, dir, "127.0.0.1:0", extra)
}

/// Starts a hub listening on `listen` (a fixed address survives restarts, so nodes find it).
pub fn start_hub_on(
    pki: &TestPki,
    dir: &Path,
    listen: &str,
    extra: &str,
) -> anyhow::Result<Process> {
    start_hub_from(binaries(), pki, dir, listen, extra)
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("bound").to_string()
}

/// Starts a node for `city` syncing to `hub_addr`, with its data in `dir`.
pub fn start_node(
    pki: &TestPki,
    city: &str,
    hub_addr: &str,
    dir: &Path,
) -> anyhow::Result<Process> {
    start_node_with(pki, city, hub_addr, dir, "")
}

/// Starts a node with extra top-level TOML (e.g. `api_token_file = ...`) in its config.
pub fn start_node_with(
    pki: &TestPki,
    city: &str,
    hub_addr: &str,
    dir: &Path,
    extra: &str,
) -> anyhow::Result<Process> {
    // Fast reconnects, polls and digest checks, so that tests converge in seconds.
    let sync =
        "backoff_min_ms = 50\nbackoff_max_ms = 1000\nidle_poll_ms = 200\nanti_entropy_secs = 2";
    start_node_from(binaries(), pki, city, hub_addr, dir, sync, extra)
}

/// A hub and nodes in one temporary directory.
#[derive(Debug)]
pub struct Cluster {
    /// The PKI.
    pub pki: TestPki,
    /// The hub.
    pub hub: Process,
    /// The nodes, in the order of `pki.cities`.
    pub nodes: Vec<Process>,
    /// Where everything lives.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts a hub and one node per city.
    pub fn start(cities: &[&str]) -> anyhow::Result<Cluster> {
        let pki = TestPki::new(cities)?;
        let dir = tempfile::tempdir()?;
        let hub = start_hub(&pki, &dir.path().join("hub"))?;
        let nodes = cities
            .iter()
            .map(|c| start_node(&pki, c, &hub.addr, &dir.path().join(format!("node-{c}"))))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Cluster { pki, hub, nodes, dir })
    }

    /// The intake client of node `i`.
    pub async fn intake(
        &self,
        i: usize,
    ) -> anyhow::Result<pb::intake_client::IntakeClient<Channel>> {
        intake(&self.nodes[i].addr).await
    }

    /// A hub channel authenticated as `id`.
    pub async fn hub_as(&self, id: Identity) -> anyhow::Result<Channel> {
        hub_channel(&self.hub.addr, &self.pki.tls(id)).await
    }
}

/// A node intake client.
pub async fn intake(addr: &str) -> anyhow::Result<pb::intake_client::IntakeClient<Channel>> {
    let ch = Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
    Ok(pb::intake_client::IntakeClient::new(ch))
}

/// A channel to the hub presenting the certificate in `files` (not checked, so tests can
/// present wrong ones).
pub async fn hub_channel(addr: &str, files: &TlsFiles) -> anyhow::Result<Channel> {
    hub_channel_with(addr, files, Duration::from_secs(5), Duration::from_secs(30)).await
}

/// [`hub_channel`] with the given connect and per-call deadlines (TCP_NODELAY on, as the
/// node's hub client).
pub async fn hub_channel_with(
    addr: &str,
    files: &TlsFiles,
    connect_timeout: Duration,
    timeout: Duration,
) -> anyhow::Result<Channel> {
    let read = |p: &Path| std::fs::read(p).with_context(|| p.display().to_string());
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&files.ca)?))
        .identity(tonic::transport::Identity::from_pem(read(&files.cert)?, read(&files.key)?))
        .domain_name("localhost");
    Ok(Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .tcp_nodelay(true)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .connect()
        .await?)
}

/// A demand row.
pub fn demand(ext: &str, title: &str, description: &str, field: &str) -> pb::RecordInput {
    pb::RecordInput {
        external_id: ext.into(),
        body: Some(pb::record_input::Body::Demand(pb::Demand {
            title: title.into(),
            description: description.into(),
            fields: vec![field.into()],
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// An achievement row.
pub fn achievement(
    ext: &str,
    title: &str,
    abstract_text: &str,
    keywords: &[&str],
    field: &str,
) -> pb::RecordInput {
    pb::RecordInput {
        external_id: ext.into(),
        body: Some(pb::record_input::Body::Achievement(pb::Achievement {
            title: title.into(),
            r#abstract: abstract_text.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            fields: vec![field.into()],
            trl: 6,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Upserts rows and asserts none was rejected.
pub async fn upsert_all(
    client: &mut pb::intake_client::IntakeClient<Channel>,
    rows: Vec<pb::RecordInput>,
) -> anyhow::Result<pb::UpsertReply> {
    let reply = client
        .upsert(pb::UpsertRequest { records: rows, first_row: 1, rows: Vec::new() })
        .await?
        .into_inner();
    if reply.rejected > 0 {
        bail!(
            "rows rejected: {:?}",
            reply.rows.iter().filter(|r| !r.errors.is_empty()).collect::<Vec<_>>()
        );
    }
    Ok(reply)
}

/// Every byte of every file under `dir`.
pub fn all_bytes_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A TLS-terminating proxy that records the plaintext in both directions.
///
/// It presents the hub's certificate to the node and the node's certificate to the hub, as a
/// man in the middle that holds the federation's keys would (here: the test, which owns the PKI).
#[derive(Debug, Clone)]
pub struct RecordingProxy {
    /// The address nodes should use as the hub.
    pub addr: String,
    /// Plaintext seen so far, both directions.
    pub seen: Arc<Mutex<Vec<u8>>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl RecordingProxy {
    /// Starts the proxy in front of `hub_addr`, forwarding as `client` (a city identity).
    pub async fn start(
        pki: &TestPki,
        hub_addr: &str,
        client: Identity,
    ) -> anyhow::Result<RecordingProxy> {
        let hub_files = pki.tls(Identity::Hub);
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(&hub_files.cert)?.collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&hub_files.key)?;
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        server.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));

        let node_files = pki.tls(client);
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&node_files.ca)? {
            roots.add(c?)?;
        }
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(&node_files.cert)?.collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&node_files.key)?;
        let mut client_cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)?;
        client_cfg.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (hub_addr, seen2) = (hub_addr.to_owned(), seen.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (acceptor, connector, hub_addr, seen) =
                    (acceptor.clone(), connector.clone(), hub_addr.clone(), seen2.clone());
                tokio::spawn(async move {
                    let Ok(down) = acceptor.accept(inbound).await else { return };
                    let Ok(tcp) = tokio::net::TcpStream::connect(&hub_addr).await else { return };
                    let Ok(up) =
                        connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await
                    else {
                        return;
                    };
                    let (mut dr, mut dw) = tokio::io::split(down);
                    let (mut ur, mut uw) = tokio::io::split(up);
                    let s1 = seen.clone();
                    let a = async move {
                        let mut buf = vec![0u8; 16 << 10];
                        while let Ok(n) = dr.read(&mut buf).await {
                            if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            s1.lock().unwrap().extend_from_slice(&buf[..n]);
                        }
                    };
                    let b = async move {
                        let mut buf = vec![0u8; 16 << 10];
                        while let Ok(n) = ur.read(&mut buf).await {
                            if n == 0 || dw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            seen.lock().unwrap().extend_from_slice(&buf[..n]);
                        }
                    };
                    tokio::join!(a, b);
                });
            }
        });
        Ok(RecordingProxy { addr, seen })
    }
}

/// A minimal HTTP/1.1 client for the node's HTTP API: one request per connection.
///
/// Returns the status code and the body (chunked bodies are de-chunked).
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split =
        raw.windows(4).position(|w| w == b"\r\n\r\n").context("no header end in the response")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let status: u16 = head.split_whitespace().nth(1).context("no status")?.parse()?;
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(nl) = rest[i..].windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[i..i + nl]).trim(), 16)?;
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[i + nl + 2..i + nl + 2 + size]);
            i += nl + 2 + size + 2;
        }
        rest = out;
    }
    Ok((status, rest))
}

/// The complete CSL papers (title, keywords and discipline present) from `../shared/data`, in
/// file order, at most `n`. Panics with a clear message when the shared data is missing: tests
/// that need realistic text must not pass without it.
pub fn csl_complete_papers(n: usize) -> Vec<serde_json::Value> {
    use std::io::BufRead as _;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/csl/csl_merged.jsonl");
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("the shared CSL data is expected at {}: {e}", path.display()));
    std::io::BufReader::new(file)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(&l.expect("readable line"))
                .expect("a JSON line")
        })
        .filter(|p| {
            p["title"].is_string()
                && p["keywords"].as_array().is_some_and(|k| !k.is_empty())
                && p["discipline"].is_string()
        })
        .take(n)
        .collect()
}

/// The hub's federation status, asked as the national centre.
pub async fn hub_status(pki: &TestPki, hub_addr: &str) -> anyhow::Result<pb::StatusReply> {
    let ch = hub_channel(hub_addr, &pki.tls(Identity::National)).await?;
    Ok(pb::national_client::NationalClient::new(ch)
        .status(pb::StatusRequest {})
        .await?
        .into_inner())
}

/// A node's statistics, with its shared digest.
pub async fn node_stats(node_addr: &str) -> anyhow::Result<pb::StatsReply> {
    Ok(intake(node_addr).await?.stats(pb::StatsRequest {}).await?.into_inner())
}

/// Why the hub and a node are not converged, or `None` when they are: the node has everything
/// acknowledged, its own digest check found the hub equal, and the hub's digest for the city
/// equals the node's shared digest.
pub async fn divergence(pki: &TestPki, hub_addr: &str, node_addr: &str) -> Option<String> {
    let stats = match node_stats(node_addr).await {
        Ok(s) => s,
        Err(e) => return Some(format!("node {node_addr}: {e}")),
    };
    let status = match hub_status(pki, hub_addr).await {
        Ok(s) => s,
        Err(e) => return Some(format!("hub: {e}")),
    };
    let Some(city) = status.cities.iter().find(|c| c.city == stats.city) else {
        return Some(format!("hub knows nothing of {}", stats.city));
    };
    let node_digest = stats.shared_digest.unwrap_or_default();
    let hub_digest = city.digest.unwrap_or_default();
    if stats.acked_seq == stats.last_seq
        && node_digest == hub_digest
        && stats.digest_state == pb::DigestState::Equal as i32
    {
        None
    } else {
        Some(format!(
            "city {}: node acked {}/{} digest {:?} state {}; hub acked {} digest {:?}",
            stats.city,
            stats.acked_seq,
            stats.last_seq,
            node_digest,
            stats.digest_state,
            city.acked_seq,
            hub_digest
        ))
    }
}

/// Waits until every node has converged with the hub ([`divergence`]); fails with the last
/// difference after `timeout`.
pub async fn wait_converged(
    pki: &TestPki,
    hub_addr: &str,
    node_addrs: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let mut why = None;
        for n in node_addrs {
            if let Some(w) = divergence(pki, hub_addr, n).await {
                why = Some(w);
                break;
            }
        }
        match why {
            None => return Ok(()),
            Some(w) if start.elapsed() > timeout => bail!("not converged after {timeout:?}: {w}"),
            Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// `n` achievement rows with external ids `<prefix>-<i>`, text from the shared CSL data (cycled
/// when `n` exceeds it).
pub fn csl_achievements(prefix: &str, n: usize) -> Vec<pb::RecordInput> {
    static PAPERS: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    let papers = PAPERS.get_or_init(|| csl_complete_papers(usize::MAX));
    (0..n)
        .map(|i| {
            let p = &papers[i % papers.len()];
            let keywords: Vec<&str> =
                p["keywords"].as_array().unwrap().iter().filter_map(|k| k.as_str()).collect();
            achievement(
                &format!("{prefix}-{i}"),
                p["title"].as_str().unwrap(),
                p["abstract"].as_str().unwrap_or_default(),
                &keywords,
                "0805",
            )
        })
        .collect()
}

/// A TCP proxy that can blackhole traffic: while on, bytes in both directions are read and
/// dropped and connections stay open, as in a network partition that sends no resets.
#[derive(Debug)]
pub struct BlackholeProxy {
    /// The address to use instead of the target's.
    pub addr: String,
    blackhole: Arc<std::sync::atomic::AtomicBool>,
}

impl BlackholeProxy {
    /// Starts forwarding to `target`.
    pub async fn start(target: &str) -> anyhow::Result<BlackholeProxy> {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let blackhole = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (target, hole) = (target.to_owned(), blackhole.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (target, hole) = (target.clone(), hole.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut ir, mut iw) = inbound.into_split();
                    let (mut or, mut ow) = outbound.into_split();
                    let h1 = hole.clone();
                    let a = async move {
                        let mut buf = vec![0u8; 16 << 10];
                        while let Ok(n) = ir.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            if !h1.load(Ordering::Relaxed) && ow.write_all(&buf[..n]).await.is_err()
                            {
                                break;
                            }
                        }
                    };
                    let b = async move {
                        let mut buf = vec![0u8; 16 << 10];
                        while let Ok(n) = or.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            if !hole.load(Ordering::Relaxed)
                                && iw.write_all(&buf[..n]).await.is_err()
                            {
                                break;
                            }
                        }
                    };
                    tokio::join!(a, b);
                });
            }
        });
        Ok(BlackholeProxy { addr, blackhole })
    }

    /// Starts or ends the partition.
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Builds (once per process) the workspace binaries with `--release` and returns them.
///
/// For benchmarks: [`binaries`] builds the dev profile, whose timings say little about what
/// ships. The build goes wherever cargo puts it (`CARGO_TARGET_DIR`, `build.target-dir`, or the
/// workspace's `target/`), and the paths are read from cargo's own JSON messages, so they are
/// exactly the executables this build produced. [`binaries`] is unaffected.
pub fn binaries_release() -> &'static Binaries {
    static BINS: OnceLock<Binaries> = OnceLock::new();
    BINS.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = workspace_cargo()
            .current_dir(&workspace)
            .args(["build", "--release", "--workspace", "--bins", "--message-format=json"])
            .stderr(Stdio::inherit())
            .output()
            .expect("running cargo build --release");
        assert!(out.status.success(), "cargo build --release --workspace --bins failed");
        let mut found = std::collections::HashMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if msg["reason"] == "compiler-artifact"
                && let (Some(name), Some(exe)) =
                    (msg["target"]["name"].as_str(), msg["executable"].as_str())
            {
                found.insert(name.to_owned(), PathBuf::from(exe));
            }
        }
        let bin = |name: &str| {
            let p = found
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("cargo build --release did not report {name}"));
            assert!(p.exists(), "{} was not built", p.display());
            p
        };
        Binaries { hub: bin("pilot-hub"), node: bin("pilot-node"), pilotctl: bin("pilotctl") }
    })
}

/// Starts the hub binary of `bins` listening on `listen`, with extra TOML appended to its config.
///
/// The same config as [`start_hub_on`]; for benchmarks, which run [`binaries_release`].
pub fn start_hub_from(
    bins: &Binaries,
    pki: &TestPki,
    dir: &Path,
    listen: &str,
    extra: &str,
) -> anyhow::Result<Process> {
    std::fs::create_dir_all(dir)?;
    let cfg = dir.join("hub.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\nlisten = {listen:?}\nhttp_listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\nshutdown_grace_secs = 5\n{}",
            dir.display().to_string(),
            tls_toml(&pki.tls(Identity::Hub))
        ) + extra,
    )?;
    Process::start(&bins.hub, &cfg, dir, Duration::from_secs(60))
}

/// Starts the node binary of `bins` for `city`, syncing to `hub_addr`, with `sync` as the body
/// of its `[sync]` table (empty: the production defaults) and `extra` as top-level TOML.
///
/// Unlike [`start_node`], whose sync settings are tuned for fast tests, this leaves every sync
/// setting at its default unless `sync` names it; for benchmarks, which run
/// [`binaries_release`].
pub fn start_node_from(
    bins: &Binaries,
    pki: &TestPki,
    city: &str,
    hub_addr: &str,
    dir: &Path,
    sync: &str,
    extra: &str,
) -> anyhow::Result<Process> {
    std::fs::create_dir_all(dir)?;
    let code = pilot_model::CityCode::parse(city)?;
    let cfg = dir.join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            "{extra}city = \"{city}\"\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\nshutdown_grace_secs = 5\n[hub]\nurl = \"https://{hub_addr}\"\n[sync]\n{sync}\n{}",
            dir.display().to_string(),
            tls_toml(&pki.tls(Identity::City(code)))
        ),
    )?;
    Process::start(&bins.node, &cfg, dir, Duration::from_secs(60))
}
