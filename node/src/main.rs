//! `pilot-node --config FILE`: loads the config, sets up logging, binds and serves until
//! SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

// NB: mimalloc, because sled and the intake path allocate and free many small buffers per
// record; it made durable intake markedly faster than glibc's malloc (benches/intake.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Pilotnet city node.
#[derive(Debug, Parser)]
#[command(name = "pilot-node", version, about)]
struct Cli {
    /// TOML config file; `PILOT_NODE__*` environment variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = pilot_node::config::Config::load(cli.config.as_deref(), std::env::vars());
    pilot_config::run_main(
        "pilot-node",
        cfg,
        |c| &c.log,
        |cfg, token| async move { pilot_node::server::bind(cfg).await?.serve(token).await },
    )
}
