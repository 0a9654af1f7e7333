//! `pilotctl pki`: bootstrap the federation PKI and issue certificates for new cities.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use pilot_model::CityCode;
use pilot_pki::{Identity, InitOptions};

/// PKI subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PkiCommand {
    /// Creates the CA (if absent) and every missing certificate; never overwrites.
    Init {
        /// Directory to write the PKI into.
        #[arg(long)]
        out: PathBuf,
        /// City codes, comma-separated; default: the 22 pilot cities.
        #[arg(long, value_delimiter = ',')]
        cities: Vec<String>,
        /// Extra DNS names or IPs for the hub certificate (added to hub, hub.pilotnet, localhost, 127.0.0.1, ::1).
        #[arg(long, value_delimiter = ',')]
        hub_names: Vec<String>,
    },
    /// Issues (or re-issues) one city's certificate with the existing CA: adding a city.
    Issue {
        /// The PKI directory.
        #[arg(long)]
        out: PathBuf,
        /// The city's GB/T 2260 code.
        #[arg(long)]
        city: String,
    },
}

pub(crate) fn run(cmd: PkiCommand) -> anyhow::Result<()> {
    match cmd {
        PkiCommand::Init { out, cities, hub_names } => {
            let mut opts = InitOptions::default();
            if !cities.is_empty() {
                opts.cities = parse_cities(&cities)?;
            }
            opts.hub_names.extend(hub_names);
            let report = pilot_pki::init(&out, &opts)
                .with_context(|| format!("initialising PKI in {}", out.display()))?;
            if report.created_ca {
                println!("created CA {}", out.join("ca.pem").display());
            }
            for id in &report.issued {
                println!("issued {id}");
            }
            println!(
                "{} issued, {} kept, in {}",
                report.issued.len(),
                report.kept.len(),
                out.display()
            );
            Ok(())
        }
        PkiCommand::Issue { out, city } => {
            let city = CityCode::parse(&city)?;
            let defaults = InitOptions::default();
            pilot_pki::issue(
                &out,
                Identity::City(city),
                &defaults.hub_names,
                defaults.validity_days,
            )?;
            println!("issued {}", Identity::City(city));
            Ok(())
        }
    }
}

/// Parses city codes, naming the bad one.
pub(crate) fn parse_cities(codes: &[String]) -> anyhow::Result<Vec<CityCode>> {
    codes
        .iter()
        .map(|c| CityCode::parse(c.trim()).with_context(|| format!("--cities: {c:?}")))
        .collect()
}
