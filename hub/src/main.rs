//! `pilot-hub --config FILE`: loads the config, sets up logging, binds and serves until SIGINT
//! or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

/// The Pilotnet national hub.
#[derive(Debug, Parser)]
#[command(name = "pilot-hub", version, about)]
struct Cli {
    /// TOML config file; `PILOT_HUB__*` environment variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match pilot_hub::config::Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            #[allow(
                clippy::print_stderr,
                reason = "logging is not set up before the config is read"
            )]
            {
                eprintln!("pilot-hub: {e}");
            }
            return ExitCode::from(pilot_config::EXIT_CONFIG as u8);
        }
    };
    cfg.log.init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "pilot-hub failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: pilot_hub::config::Config) -> anyhow::Result<()> {
    let bound = pilot_hub::server::bind(cfg).await?;
    let token = CancellationToken::new();
    tokio::spawn(pilot_config::shutdown_signal(token.clone()));
    bound.serve(token).await?;
    Ok(())
}
