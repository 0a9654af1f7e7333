//! `pilotctl health ADDR`: asks a node or the hub whether it is serving, over the standard
//! gRPC health protocol (`grpc.health.v1.Health/Check`), for container healthchecks and people.
//!
//! A node is asked on its plaintext intake port (the health service sits outside the bearer
//! token check, so no token is needed); the hub over mutual TLS with a certificate from a PKI
//! directory (`--pki DIR --as hub|national|city:CODE`).
//!
//! NB: both servers keep the overall status (service `""`) SERVING for their whole life and
//! switch only their main service to NOT_SERVING when shutdown starts, so by default this asks
//! about `pilot.v1.Intake` at a node and `pilot.v1.Sync` at the hub: a draining process then
//! reports unhealthy instead of healthy.
//!
//! Exit status: 0 when SERVING; 1 (with a message naming the address and the status or the
//! reason) when not serving, unknown, unreachable or too slow.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use pilot_model::CityCode;
use pilot_pki::Identity;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::client;

/// The node's main service, switched to NOT_SERVING when it starts shutting down.
const NODE_SERVICE: &str = "pilot.v1.Intake";
/// The hub's main service, switched to NOT_SERVING when it starts shutting down.
const HUB_SERVICE: &str = "pilot.v1.Sync";

/// Arguments of `pilotctl health`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The PKI directory: check the hub over mutual TLS. Without it, ADDR is a node's plaintext
    /// intake port.
    #[arg(long)]
    pki: Option<PathBuf>,
    /// The certificate from --pki to present to the hub: `hub`, `national` or `city:CODE`.
    #[arg(long = "as", value_name = "WHO", requires = "pki", default_value = "national", value_parser = parse_identity)]
    who: Identity,
    /// The gRPC service to ask about; default: pilot.v1.Sync at the hub, pilot.v1.Intake at a
    /// node. An empty string asks about the server as a whole.
    #[arg(long)]
    service: Option<String>,
    /// Seconds to wait for the whole check (connecting included).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
    /// The address, `host:port` (a node's intake port, or with --pki the hub's gRPC port).
    addr: String,
}

/// Parses `hub`, `national` or `city:CODE`.
fn parse_identity(s: &str) -> Result<Identity, String> {
    match s {
        "hub" => Ok(Identity::Hub),
        "national" => Ok(Identity::National),
        _ => match s.strip_prefix("city:") {
            Some(code) => CityCode::parse(code)
                .map(Identity::City)
                .map_err(|e| format!("{code:?} is not a city code: {e}")),
            None => Err(format!("{s:?}: expected hub, national or city:CODE")),
        },
    }
}

impl HealthArgs {
    /// The service name asked about.
    fn service(&self) -> &str {
        match (&self.service, &self.pki) {
            (Some(s), _) => s,
            (None, Some(_)) => HUB_SERVICE,
            (None, None) => NODE_SERVICE,
        }
    }

    /// What is being checked, for messages.
    fn target(&self) -> String {
        let service = match self.service() {
            "" => "the server".to_owned(),
            s => s.to_owned(),
        };
        match &self.pki {
            Some(_) => format!("{service} at the hub {} (as {})", self.addr, self.who),
            None => format!("{service} at the node {}", self.addr),
        }
    }
}

/// `pilotctl health`: prints `SERVING …` and succeeds, or fails naming what is wrong.
pub(crate) async fn run(a: HealthArgs) -> anyhow::Result<()> {
    let target = a.target();
    let limit = Duration::from_secs(a.timeout);
    let status = tokio::time::timeout(limit, check(&a))
        .await
        .map_err(|_| anyhow::anyhow!("{target}: no answer within {}s", a.timeout))?
        .with_context(|| format!("{target}: unhealthy"))?;
    match status {
        ServingStatus::Serving => {
            println!("SERVING {target}");
            Ok(())
        }
        other => bail!("{target} is {}", other.as_str_name()),
    }
}

/// Connects and asks once.
async fn check(a: &HealthArgs) -> anyhow::Result<ServingStatus> {
    let channel = match &a.pki {
        Some(pki) => client::hub(&a.addr, pki, a.who).await?,
        None => client::node(&a.addr).await?,
    };
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest { service: a.service().to_owned() })
        .await
        .map_err(|s| match s.code() {
            tonic::Code::NotFound => {
                anyhow::anyhow!("the server does not know the service {:?}", a.service())
            }
            // The port took a TCP connection, but the failure came from the transport, not
            // from a gRPC server: most likely it speaks TLS.
            _ if a.pki.is_none() && std::error::Error::source(&s).is_some() => anyhow::anyhow!(
                "health check failed ({}); if this is the hub's TLS port, pass --pki DIR",
                s.message()
            ),
            _ => anyhow::anyhow!("health check failed: {s}"),
        })?
        .into_inner();
    Ok(ServingStatus::try_from(reply.status).unwrap_or(ServingStatus::Unknown))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        health: HealthArgs,
    }

    fn parse(args: &[&str]) -> Result<HealthArgs, String> {
        Cli::try_parse_from(std::iter::once("health").chain(args.iter().copied()))
            .map(|c| c.health)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_node_is_asked_about_its_intake_service_in_plaintext() {
        let a = parse(&["127.0.0.1:7601"]).unwrap();
        assert_eq!(a.addr, "127.0.0.1:7601");
        assert!(a.pki.is_none());
        assert_eq!(a.service(), "pilot.v1.Intake");
        assert_eq!(a.timeout, 5);
        assert_eq!(a.target(), "pilot.v1.Intake at the node 127.0.0.1:7601");
    }

    #[test]
    fn the_hub_is_asked_over_mtls_as_any_identity() {
        let a = parse(&["--pki", "/pki", "127.0.0.1:7443"]).unwrap();
        assert_eq!(a.who, Identity::National, "the operator's certificate by default");
        assert_eq!(a.service(), "pilot.v1.Sync");

        let a = parse(&["--pki", "/pki", "--as", "hub", "hub:7443"]).unwrap();
        assert_eq!(a.who, Identity::Hub);
        assert_eq!(a.target(), "pilot.v1.Sync at the hub hub:7443 (as spiffe://pilotnet/hub)");

        let a = parse(&["--pki", "p", "--as", "city:421200", "--service", "", "h:1"]).unwrap();
        assert_eq!(a.who, Identity::City(CityCode::parse("421200").unwrap()));
        assert_eq!(a.service(), "");
        assert!(a.target().starts_with("the server at the hub h:1"), "{}", a.target());
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        let msg = parse(&["--pki", "p", "--as", "city:999999", "h:1"]).unwrap_err();
        assert!(msg.contains("not a city code"), "{msg}");
        let msg = parse(&["--pki", "p", "--as", "root", "h:1"]).unwrap_err();
        assert!(msg.contains("expected hub, national or city:CODE"), "{msg}");
        let msg = parse(&["--as", "hub", "h:1"]).unwrap_err();
        assert!(msg.contains("--pki"), "--as needs --pki: {msg}");
        let msg = parse(&["--timeout", "0", "h:1"]).unwrap_err();
        assert!(msg.contains("timeout"), "{msg}");
        assert!(parse(&[]).is_err(), "the address is required");
    }
}
