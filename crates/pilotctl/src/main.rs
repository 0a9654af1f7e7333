//! `pilotctl`: the operator and staff command line for Pilotnet.
//!
//! - `pki init|issue`: bootstrap the federation PKI and add cities.
//! - `devnet`: run a whole federation (hub + nodes) on this machine with demo data.
//! - `matches`, `status`: national queries at the hub, and a city's matches at its node.
//! - `health`: gRPC health of a node or the hub (container healthchecks).
//! - `compose`: the Docker Compose file of a federation, from a cities list.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool's output is its interface"
)]

mod backup;
mod bank;
mod client;
mod compose;
mod demo;
mod devnet;
mod health;
mod pki;
mod query;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Pilotnet operator and staff tool.
#[derive(Debug, Parser)]
#[command(name = "pilotctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Federation PKI: CA, hub, national-centre and city certificates.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Runs a hub and city nodes on loopback with demo records, until Ctrl-C.
    Devnet(devnet::DevnetArgs),
    /// Lists cross-region matches: national (from the hub) or one city's (from its node).
    Matches(query::MatchesArgs),
    /// Lists the cities the hub knows, with record counts and last sync time.
    Status(query::StatusArgs),
    /// The city-to-city matrix of cross-region matches (national centre; small counts hidden).
    Flows(query::StatsArgs),
    /// Demands, supply and matched demands per discipline (national centre; small counts hidden).
    Fields(query::StatsArgs),
    /// Imports an .xlsx, .csv or .jsonl file into a node (creates or updates by external id).
    Import(bank::ImportArgs),
    /// Exports one bank of a node's records to .xlsx, .csv or .jsonl.
    Export(bank::ExportArgs),
    /// Shows exactly what a record shares with the hub, or why it is held back.
    Preview(bank::RecordArgs),
    /// Lists the records the privacy gate held back, with reasons.
    Held(bank::HeldArgs),
    /// Re-checks a fixed record and shares it if it now passes the privacy gate.
    Release(bank::RecordArgs),
    /// The sharing ledger: what the node sent to the hub, newest first.
    Ledger(bank::LedgerArgs),
    /// Takes a consistent backup of a running node or hub into a file.
    Backup(backup::BackupArgs),
    /// Restores a backup into a stopped node's or hub's data directory, verified.
    Restore(backup::RestoreArgs),
    /// Checks that a node (plaintext intake port) or the hub (--pki, mutual TLS) is SERVING.
    Health(health::HealthArgs),
    /// Generates the Docker Compose file for the hub and one node per city in a cities list.
    Compose(compose::ComposeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PILOTCTL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let result = rt.block_on(async {
        match cli.command {
            Command::Pki(c) => pki::run(c),
            Command::Devnet(a) => devnet::run(a).await,
            Command::Matches(a) => query::matches(a).await,
            Command::Status(a) => query::status(a).await,
            Command::Flows(a) => query::flows(a).await,
            Command::Fields(a) => query::fields(a).await,
            Command::Import(a) => bank::import(a).await,
            Command::Export(a) => bank::export(a).await,
            Command::Preview(a) => bank::preview(a).await,
            Command::Held(a) => bank::held(a).await,
            Command::Release(a) => bank::release(a).await,
            Command::Ledger(a) => bank::ledger(a).await,
            Command::Backup(a) => backup::backup(a).await,
            Command::Restore(a) => backup::restore(a),
            Command::Health(a) => health::run(a).await,
            Command::Compose(a) => compose::run(a),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pilotctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace's `../shared/data`, when pilotctl runs from a checkout.
fn default_demo_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}
