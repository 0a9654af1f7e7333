//! `pilotctl backup` and `pilotctl restore`: consistent backups of a running node or hub, and
//! verified restores into a stopped one's data directory.
//!
//! A backup is taken by the running service itself (writes wait for the moment it takes) and
//! streamed here; the file checks itself (SHA-256) and states what the store held. A restore
//! writes a new store beside the target, verifies the checksum and that the restored store holds
//! exactly the counts and digests the file states, and only then moves it into place.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use pilot_pki::Identity;
use pilot_proto::pb;
use pilot_store::Manifest;

use crate::client;

/// Arguments of `pilotctl backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// A node's intake address (`host:port`).
    #[arg(long, conflicts_with = "hub", required_unless_present = "hub")]
    node: Option<String>,
    /// Bearer token file for a node whose API is exposed beyond loopback.
    #[arg(long, requires = "node")]
    token_file: Option<PathBuf>,
    /// The hub (`host:port`), with the national-centre certificate from --pki.
    #[arg(long)]
    hub: Option<String>,
    /// The PKI directory holding the national-centre certificate (with --hub).
    #[arg(long, requires = "hub")]
    pki: Option<PathBuf>,
    /// The backup file to write (refuses to overwrite).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `pilotctl restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    from: PathBuf,
    /// The stopped service's data directory; the store goes to `DIR/store`, which must not
    /// exist yet (move the old one aside first).
    #[arg(long)]
    data_dir: PathBuf,
}

fn describe(m: &Manifest) -> String {
    match m {
        Manifest::Node { records, last_seq, shared } => format!(
            "node store: {} demands, {} achievements, {} experts; last sequence {last_seq}; \
             shared digest {} ({} summaries)",
            records[0],
            records[1],
            records[2],
            shared.to_hex(),
            shared.count
        ),
        Manifest::Hub { cities } => {
            let summaries: u64 = cities.iter().map(|(_, _, d)| d.count).sum();
            format!("hub store: {} cities, {summaries} live summaries", cities.len())
        }
    }
}

/// `pilotctl backup`.
pub(crate) async fn backup(a: BackupArgs) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&a.out)
        .with_context(|| format!("creating {} (it must not exist)", a.out.display()))?;
    let mut stream = match (&a.node, &a.hub) {
        (Some(node), _) => {
            let token = client::read_token(a.token_file.as_deref())?;
            let req = client::with_token(pb::BackupRequest {}, token.as_deref())?;
            pb::intake_client::IntakeClient::new(client::node(node).await?)
                .backup(req)
                .await
                .context("asking the node for a backup")?
                .into_inner()
        }
        (None, Some(hub)) => {
            let pki = a.pki.as_ref().context("--hub needs --pki DIR (national certificate)")?;
            let ch = client::hub(hub, pki, Identity::National).await?;
            pb::national_client::NationalClient::new(ch)
                .backup(pb::BackupRequest {})
                .await
                .context("asking the hub for a backup")?
                .into_inner()
        }
        (None, None) => anyhow::bail!("name --node ADDR or --hub ADDR"),
    };
    let mut bytes = 0usize;
    let mut head = Vec::new();
    while let Some(chunk) = stream.message().await.context("receiving the backup")? {
        file.write_all(&chunk.data).with_context(|| a.out.display().to_string())?;
        if head.len() < (1 << 20) {
            head.extend_from_slice(&chunk.data);
        }
        bytes += chunk.data.len();
    }
    file.sync_all().with_context(|| a.out.display().to_string())?;
    let manifest = pilot_store::read_manifest(&mut &head[..]).context("reading the backup")?;
    println!("wrote {} ({bytes} bytes)", a.out.display());
    println!("{}", describe(&manifest));
    Ok(())
}

/// `pilotctl restore`.
pub(crate) fn restore(a: RestoreArgs) -> anyhow::Result<()> {
    let target = a.data_dir.join("store");
    let file = std::fs::File::open(&a.from).with_context(|| a.from.display().to_string())?;
    let mut reader = std::io::BufReader::new(file);
    let manifest = pilot_store::restore_verified(&target, &mut reader)
        .with_context(|| format!("restoring {} into {}", a.from.display(), target.display()))?;
    println!("restored {} into {}", a.from.display(), target.display());
    println!("verified: {}", describe(&manifest));
    Ok(())
}
