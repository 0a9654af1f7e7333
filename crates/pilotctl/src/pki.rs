//! `pilotctl pki`: bootstrap the federation PKI, issue certificates for new cities, and revoke
//! certificates the hub must refuse.

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
    /// Issues (or re-issues) the certificate of one city (or the national centre) with the
    /// existing CA: adding a city, renewing, or replacing a revoked certificate.
    Issue {
        /// The PKI directory.
        #[arg(long)]
        out: PathBuf,
        /// The city's GB/T 2260 code.
        #[arg(long, required_unless_present = "national", conflicts_with = "national")]
        city: Option<String>,
        /// Re-issue the national centre's certificate instead of a city's.
        #[arg(long)]
        national: bool,
    },
    /// Revokes the current certificate of one city (or the national centre) by adding it to
    /// DIR/crl.pem; a running hub that reads that file refuses the certificate within seconds.
    Revoke {
        /// The PKI directory.
        #[arg(long)]
        out: PathBuf,
        /// The city's GB/T 2260 code.
        #[arg(long, required_unless_present = "national", conflicts_with = "national")]
        city: Option<String>,
        /// Revoke the national centre's certificate instead of a city's.
        #[arg(long)]
        national: bool,
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
        PkiCommand::Issue { out, city, national } => {
            let id = identity(city.as_deref(), national)?;
            let defaults = InitOptions::default();
            pilot_pki::issue(&out, id, &defaults.hub_names, defaults.validity_days)?;
            println!("issued {id}");
            Ok(())
        }
        PkiCommand::Revoke { out, city, national } => {
            let id = identity(city.as_deref(), national)?;
            let report = pilot_pki::revoke(&out, id)
                .with_context(|| format!("revoking {id} in {}", out.display()))?;
            if report.already_revoked {
                println!(
                    "{id} (serial {}) was already revoked; {} is unchanged",
                    report.serial_hex,
                    report.crl.display()
                );
            } else {
                println!("revoked {id} (serial {})", report.serial_hex);
            }
            println!(
                "{} lists {} revoked certificate(s), CRL number {}; a hub reading it refuses them \
                 within its poll interval (copy the file next to the hub's ca.pem if the hub runs \
                 on another machine)",
                report.crl.display(),
                report.revoked_total,
                report.crl_number
            );
            let flag = match id.city() {
                Some(city) => format!("--city {city}"),
                None => "--national".to_owned(),
            };
            println!(
                "to give {id} a fresh certificate: pilotctl pki issue --out {} {flag}",
                out.display()
            );
            Ok(())
        }
    }
}

/// The identity named by `--city CODE` or `--national` (clap lets exactly one through).
fn identity(city: Option<&str>, national: bool) -> anyhow::Result<Identity> {
    match (city, national) {
        (Some(code), false) => {
            let city = CityCode::parse(code).with_context(|| format!("--city: {code:?}"))?;
            Ok(Identity::City(city))
        }
        (None, true) => Ok(Identity::National),
        _ => anyhow::bail!("name exactly one certificate: --city CODE or --national"),
    }
}

/// Parses city codes, naming the bad one.
pub(crate) fn parse_cities(codes: &[String]) -> anyhow::Result<Vec<CityCode>> {
    codes
        .iter()
        .map(|c| CityCode::parse(c.trim()).with_context(|| format!("--cities: {c:?}")))
        .collect()
}
