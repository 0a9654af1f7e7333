//! `pilotctl devnet`: a whole federation on this machine.
//!
//! Generates the PKI under `DATA_DIR/pki`, writes a config per process, starts `pilot-hub` and
//! one `pilot-node` per city as child processes on loopback, loads demo records, prints the
//! endpoints, and on Ctrl-C (or SIGTERM) stops the nodes, then the hub, each with SIGTERM so
//! they drain and flush.
//!
//! Children run in their own process group so that a terminal's Ctrl-C reaches only devnet,
//! which then stops them in order. Each child's log goes to `DATA_DIR/logs/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use pilot_model::{CityCode, PILOT_CITIES};
use pilot_pki::{Identity, InitOptions, TlsFiles};
use pilot_proto::pb;
use tokio::process::{Child, Command};

use crate::demo::{self, DemoSize};

/// Arguments of `pilotctl devnet`.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// How many of the 22 pilot cities to run.
    #[arg(long, default_value_t = 22)]
    cities: usize,
    /// Where PKI, stores, configs and logs live.
    #[arg(long, default_value = "devnet-data")]
    data_dir: PathBuf,
    /// Start with empty banks.
    #[arg(long)]
    no_demo: bool,
    /// The hub's port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 7443)]
    hub_port: u16,
    /// First node port on 127.0.0.1 (node i gets base + i); 0 picks free ones.
    #[arg(long, default_value_t = 7601)]
    node_port_base: u16,
    /// The public data set used for demo records.
    #[arg(long, default_value_os_t = crate::default_demo_data())]
    demo_data: PathBuf,
    /// Achievements per city in the demo (demands are a fifth of this, experts half).
    #[arg(long, default_value_t = 100)]
    demo_size: usize,
    /// Directory holding pilot-hub and pilot-node; default: next to pilotctl, built if needed.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// A child process and where its log goes.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

fn abs(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

/// Finds pilot-hub and pilot-node, building them first when running from a checkout.
fn binaries(args: &DevnetArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => {
            let exe = std::env::current_exe().context("locating pilotctl")?;
            let dir = exe.parent().context("pilotctl has no directory")?.to_owned();
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            if workspace.join("Cargo.toml").exists() {
                // `cargo` from PATH honours rust-toolchain.toml; $CARGO may name another toolchain.
                let mut cmd = std::process::Command::new("cargo");
                // `cargo run` passes its per-package variables on; ring's build script watches
                // CARGO_PKG_NAME, so they would force a rebuild of the TLS stack every time.
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
                // The same build as scripts/test and the end-to-end tests, so that the three share one
                // set of artifacts: building single packages resolves features differently and
                // would compile the dependency tree a second time.
                cmd.current_dir(&workspace).args(["build", "-q", "--workspace", "--bins"]);
                if dir.ends_with("release") {
                    cmd.arg("--release");
                }
                eprintln!("building pilot-hub and pilot-node (cargo build --workspace --bins) …");
                let status = cmd.status().context("running cargo build")?;
                anyhow::ensure!(status.success(), "cargo build of pilot-hub and pilot-node failed");
            }
            dir
        }
    };
    let (hub, node) = (dir.join("pilot-hub"), dir.join("pilot-node"));
    for b in [&hub, &node] {
        anyhow::ensure!(b.exists(), "{} not found; build it or pass --bin-dir", b.display());
    }
    Ok((hub, node))
}

fn toml_tls(files: &TlsFiles) -> String {
    format!(
        "[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
        files.ca.display().to_string(),
        files.cert.display().to_string(),
        files.key.display().to_string()
    )
}

fn spawn(name: &str, bin: &Path, config: &Path, log: &Path) -> anyhow::Result<Proc> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    let child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Proc { name: name.to_owned(), child, log: log.to_owned() })
}

/// Waits for a child's `ready` file, failing early if the child exits.
async fn wait_ready(p: &mut Proc, ready: &Path, timeout: Duration) -> anyhow::Result<String> {
    let start = Instant::now();
    loop {
        if let Ok(addr) = std::fs::read_to_string(ready)
            && !addr.trim().is_empty()
        {
            return Ok(addr.trim().to_owned());
        }
        if let Some(status) = p.child.try_wait()? {
            bail!("{} exited with {status} before it was ready; see {}", p.name, p.log.display());
        }
        if start.elapsed() > timeout {
            bail!("{} was not ready after {timeout:?}; see {}", p.name, p.log.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends SIGTERM, so the child drains and flushes.
fn signal_stop(p: &Proc) {
    if let Some(pid) = p.child.id() {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
}

/// Waits for a signalled child; SIGKILL after `grace`.
async fn wait_stopped(p: &mut Proc, grace: Duration) {
    if tokio::time::timeout(grace, p.child.wait()).await.is_err() {
        eprintln!("{} did not stop within {grace:?}; killing it", p.name);
        let _ = p.child.kill().await;
    }
}

pub(crate) async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=PILOT_CITIES.len()).contains(&args.cities),
        "--cities must be 1-{}",
        PILOT_CITIES.len()
    );
    let cities: Vec<CityCode> =
        PILOT_CITIES.iter().take(args.cities).map(|c| c.city_code()).collect();
    let data = abs(&args.data_dir)?;
    let pki = data.join("pki");
    for d in [&data, &data.join("logs"), &data.join("hub")] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let opts = InitOptions { cities: cities.clone(), ..InitOptions::default() };
    pilot_pki::init(&pki, &opts)
        .with_context(|| format!("creating the PKI in {}", pki.display()))?;
    let (hub_bin, node_bin) = binaries(&args)?;

    // The hub first: nodes need its address.
    let hub_dir = data.join("hub");
    let hub_cfg = hub_dir.join("hub.toml");
    std::fs::write(
        &hub_cfg,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{}\"\nhttp_listen = \"127.0.0.1:{}\"\nmetrics_listen = \"127.0.0.1:{}\"\n{}",
            hub_dir.display().to_string(),
            args.hub_port,
            // The national HTTPS API next to the gRPC port (or any free port with --hub-port 0).
            if args.hub_port == 0 { 0 } else { args.hub_port + 1 },
            // Prometheus metrics two ports up.
            if args.hub_port == 0 { 0 } else { args.hub_port + 2 },
            toml_tls(&TlsFiles::for_identity(&pki, Identity::Hub))
        ),
    )?;
    let _ = std::fs::remove_file(hub_dir.join("ready"));
    let mut hub = spawn("hub", &hub_bin, &hub_cfg, &data.join("logs/hub.log"))?;
    let hub_addr = wait_ready(&mut hub, &hub_dir.join("ready"), Duration::from_secs(60)).await?;
    let hub_http = std::fs::read_to_string(hub_dir.join("ready.http")).unwrap_or_default();
    println!("hub    {hub_addr}");
    println!("https  {}  (national centre JSON API)", hub_http.trim());

    let mut nodes: Vec<(CityCode, Proc)> = Vec::new();
    for (i, city) in cities.iter().enumerate() {
        let dir = data.join("nodes").join(city.to_string());
        std::fs::create_dir_all(&dir)?;
        let port =
            if args.node_port_base == 0 { 0 } else { args.node_port_base + u16::try_from(i)? };
        // The HTTP API sits 100 ports above the gRPC one (7701 for the first city by default).
        let http_port = if args.node_port_base == 0 { 0 } else { port + 100 };
        let cfg = dir.join("node.toml");
        std::fs::write(
            &cfg,
            format!(
                "city = \"{city}\"\ndata_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\nhttp_listen = \"127.0.0.1:{http_port}\"\n[hub]\nurl = \"https://{hub_addr}\"\n{}",
                dir.display().to_string(),
                toml_tls(&TlsFiles::for_identity(&pki, Identity::City(*city)))
            ),
        )?;
        let _ = std::fs::remove_file(dir.join("ready"));
        nodes.push((
            *city,
            spawn(
                &format!("node {city}"),
                &node_bin,
                &cfg,
                &data.join(format!("logs/node-{city}.log")),
            )?,
        ));
    }
    let mut node_addrs = BTreeMap::new();
    for (city, p) in &mut nodes {
        let ready = data.join("nodes").join(city.to_string()).join("ready");
        let addr = wait_ready(p, &ready, Duration::from_secs(60)).await?;
        let http = std::fs::read_to_string(ready.with_extension("http")).unwrap_or_default();
        println!("node   {city} {:<10} {addr:<16} http://{}", city.label(), http.trim());
        node_addrs.insert(*city, addr);
    }

    if !args.no_demo {
        if args.demo_data.join("csl/csl_merged.jsonl").exists() {
            load_demo(&args, &cities, &node_addrs).await?;
        } else {
            eprintln!(
                "demo data not found at {}; starting with empty banks (pass --demo-data DIR)",
                args.demo_data.display()
            );
        }
    }
    let hub_arg = hub_addr.clone();
    println!();
    println!("Query the federation (national-centre certificate):");
    println!("  pilotctl status  --hub {hub_arg} --pki {}", pki.display());
    println!("  pilotctl matches --hub {hub_arg} --pki {}", pki.display());
    if let Some((city, addr)) = node_addrs.iter().next() {
        println!("A city's own matches ({}):", city.label());
        println!("  pilotctl matches --node {addr}");
    }
    println!("Logs: {}   Stop: Ctrl-C", data.join("logs").display());

    // Run until asked to stop, or until a child dies.
    let token = tokio_util::sync::CancellationToken::new();
    tokio::spawn(pilot_signal(token.clone()));
    let died = loop {
        tokio::select! {
            _ = token.cancelled() => break None,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if let Some(status) = hub.child.try_wait()? {
            break Some(format!("hub exited with {status}; see {}", hub.log.display()));
        }
        let mut dead = None;
        for (_, p) in &mut nodes {
            if let Some(status) = p.child.try_wait()? {
                dead = Some(format!("{} exited with {status}; see {}", p.name, p.log.display()));
                break;
            }
        }
        if dead.is_some() {
            break dead;
        }
    };
    eprintln!("stopping {} nodes and the hub …", nodes.len());
    // Nodes first, all at once, so that none is left pushing to a hub that is gone; then the hub.
    let grace = Duration::from_secs(15);
    for (_, p) in &nodes {
        signal_stop(p);
    }
    for (_, p) in &mut nodes {
        wait_stopped(p, grace).await;
    }
    signal_stop(&hub);
    wait_stopped(&mut hub, grace).await;
    eprintln!("stopped");
    match died {
        Some(msg) => bail!(msg),
        None => Ok(()),
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn pilot_signal(token: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).expect("installing a SIGTERM handler cannot fail on Unix");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    token.cancel();
}

async fn load_demo(
    args: &DevnetArgs,
    cities: &[CityCode],
    addrs: &BTreeMap<CityCode, String>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let size = DemoSize {
        demands: (args.demo_size / 5).max(1),
        achievements: args.demo_size,
        experts: (args.demo_size / 2).max(1),
    };
    let data = args.demo_data.clone();
    let cities_owned = cities.to_vec();
    let built =
        tokio::task::spawn_blocking(move || demo::build(&data, &cities_owned, size)).await??;
    let mut tasks = tokio::task::JoinSet::new();
    for (city, records) in built {
        let addr = addrs[&city].clone();
        tasks.spawn(async move {
            let channel = crate::client::node(&addr).await?;
            let mut intake = pb::intake_client::IntakeClient::new(channel);
            let (mut ok, mut rejected) = (0u32, 0u32);
            for (i, chunk) in records.chunks(500).enumerate() {
                let req = pb::UpsertRequest {
                    records: chunk.to_vec(),
                    first_row: u32::try_from(i * 500 + 1)?,
                    rows: Vec::new(),
                };
                let reply = intake
                    .upsert(req)
                    .await
                    .with_context(|| format!("loading demo records into {city}"))?
                    .into_inner();
                ok += reply.created + reply.updated + reply.unchanged;
                rejected += reply.rejected;
                if let Some(bad) = reply.rows.iter().find(|r| !r.errors.is_empty()) {
                    eprintln!("node {city}: row {} rejected: {}", bad.row, bad.errors[0].message);
                }
            }
            anyhow::Ok((ok, rejected))
        });
    }
    let (mut ok, mut rejected) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (o, x) = r??;
        ok += o;
        rejected += x;
    }
    println!(
        "demo   {ok} records loaded into {} nodes in {:.1}s ({rejected} rejected)",
        cities.len(),
        started.elapsed().as_secs_f32()
    );
    Ok(())
}
