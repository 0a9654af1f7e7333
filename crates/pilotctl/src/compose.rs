//! `pilotctl compose --cities FILE`: generates the Docker Compose file of a whole federation (a
//! one-shot PKI bootstrap, the hub, and one node per city) from a list of city codes, so that
//! adding a city is one line in the list and one command.
//!
//! The output is a pure function of the city list: the same list gives the same bytes, which is
//! what lets a test check that the committed `deploy/docker-compose.yml` is current.
//!
//! What the generated file relies on, and why:
//! - The image (`deploy/Dockerfile`) holds the three binaries and `pilot-pki-bootstrap`
//!   (`deploy/pki-bootstrap.sh`), and runs as the non-root user `pilot`.
//! - The one-shot `pki` service keeps the CA key and every certificate in the `pki` volume and
//!   copies the hub its own files (into `tls-hub`); one `pki-CODE` service per city issues the
//!   city's certificate and token and copies them into `tls-CODE`. So a compromised node cannot
//!   read the CA key or another city's key, and adding a city adds services without changing
//!   any: compose leaves the running ones alone. They run as root only to hand files to `pilot`.
//! - Nodes listen on 0.0.0.0 inside their containers (a published port reaches the container's
//!   address, not its loopback), which the node's config allows only with `api_token_file`;
//!   the bootstrap makes one random token per city.
//! - Ports: a node's staff APIs are published on 127.0.0.1 only, at 7601 + i (gRPC intake) and
//!   7701 + i (HTTP console) for the i-th city of the list, so append new cities at the end to
//!   keep everyone else's ports.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use pilot_model::CityCode;

/// First host port of the nodes' gRPC intake APIs; the i-th city gets this + i.
const INTAKE_PORT_BASE: u16 = 7601;
/// First host port of the nodes' HTTP consoles; the i-th city gets this + i.
const CONSOLE_PORT_BASE: u16 = 7701;
/// Most cities before the two port ranges would overlap.
const MAX_CITIES: usize = (CONSOLE_PORT_BASE - INTAKE_PORT_BASE) as usize - 1;
/// The image every service runs, overridable when compose runs.
const IMAGE: &str = "${PILOTNET_IMAGE:-pilotnet:latest}";
/// The command that regenerates the committed file.
const REGENERATE: &str =
    "pilotctl compose --cities deploy/cities.txt --out deploy/docker-compose.yml";

/// Arguments of `pilotctl compose`.
#[derive(Debug, Args)]
pub(crate) struct ComposeArgs {
    /// The cities list: one GB/T 2260 city code per line; `#` starts a comment. Node ports
    /// follow the order of the list, so append new cities at the end.
    #[arg(long)]
    cities: PathBuf,
    /// Where to write the compose file (atomically); default: standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only check that --out is current; fail if it differs (for CI).
    #[arg(long, requires = "out")]
    check: bool,
}

/// `pilotctl compose`: reads the list, renders, and writes (or checks) the compose file.
pub(crate) fn run(a: ComposeArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.cities)
        .with_context(|| format!("reading {}", a.cities.display()))?;
    let cities = parse_cities(&text).with_context(|| format!("in {}", a.cities.display()))?;
    let yaml = render(&cities);
    match (&a.out, a.check) {
        (None, _) => print!("{yaml}"),
        (Some(out), true) => {
            let current = std::fs::read_to_string(out)
                .with_context(|| format!("reading {}", out.display()))?;
            if current != yaml {
                bail!("{} is not current; run: {REGENERATE}", out.display());
            }
            println!("{} is current ({} cities)", out.display(), cities.len());
        }
        (Some(out), false) => {
            write_atomically(out, &yaml)?;
            println!("wrote {} ({} cities)", out.display(), cities.len());
        }
    }
    Ok(())
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Parses a cities list: one code per line, `#` comments, blank lines ignored; every bad or
/// repeated code is reported with its line number.
pub(crate) fn parse_cities(text: &str) -> anyhow::Result<Vec<CityCode>> {
    let mut cities = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default().trim();
        if code.is_empty() {
            continue;
        }
        match CityCode::parse(code) {
            Ok(c) if cities.contains(&c) => {
                problems.push(format!("line {}: {code} is listed twice", i + 1));
            }
            Ok(c) => cities.push(c),
            Err(e) => problems.push(format!("line {}: {code:?}: {e}", i + 1)),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    if cities.is_empty() {
        bail!("no cities listed");
    }
    if cities.len() > MAX_CITIES {
        bail!("{} cities listed; the port layout holds at most {MAX_CITIES}", cities.len());
    }
    Ok(cities)
}

/// The city's name for comments: English and Chinese for a pilot city, else the code.
fn city_name(city: CityCode) -> String {
    match city.pilot() {
        Some(p) => format!("{} {}", p.en, p.zh),
        None => city.to_string(),
    }
}

/// Host ports of the i-th city: (gRPC intake, HTTP console).
fn ports(i: usize) -> (u16, u16) {
    let i = u16::try_from(i).expect("parse_cities caps the list below u16::MAX");
    (INTAKE_PORT_BASE + i, CONSOLE_PORT_BASE + i)
}

/// Renders the compose file for `cities` (in order).
pub(crate) fn render(cities: &[CityCode]) -> String {
    let mut y = String::new();
    header(&mut y, cities);
    y.push_str("services:\n");
    pki_service(&mut y);
    hub_service(&mut y);
    for (i, city) in cities.iter().enumerate() {
        city_pki_service(&mut y, *city);
        node_service(&mut y, i, *city);
    }
    y.push_str("volumes:\n");
    y.push_str(
        "  # The CA key, every certificate and key, the revocation list and the node tokens.\n",
    );
    y.push_str("  # Only the one-shot pki services mount it; back it up.\n");
    y.push_str("  pki: {}\n");
    y.push_str(
        "  # What each service may read: the CA certificate, its own certificate and key, and\n",
    );
    y.push_str(
        "  # the revocation list (hub) or the API token (node). Written by the pki services.\n",
    );
    y.push_str("  tls-hub: {}\n");
    for city in cities {
        y.push_str(&format!("  tls-{city}: {{}}\n"));
    }
    y.push_str("  # Stores. A node's volume is its city's only copy of its records: back it up.\n");
    y.push_str("  hub-data: {}\n");
    for city in cities {
        y.push_str(&format!("  node-{city}-data: {{}}\n"));
    }
    y
}

fn header(y: &mut String, cities: &[CityCode]) {
    y.push_str(&format!(
        "# Generated by `{REGENERATE}`.\n\
         # Do not edit: change deploy/cities.txt (or pilotctl) and run that again; a test checks\n\
         # that this file is current. deploy/README.md explains deploying, adding and revoking\n\
         # a city, and upgrades.\n\
         #\n\
         # The hub and {n} city nodes. From nothing (the pki services make the PKI):\n\
         #   docker build -f deploy/Dockerfile -t pilotnet:latest .\n\
         #   docker compose -p pilotnet -f deploy/docker-compose.yml up -d\n\
         #\n\
         # Published: the hub's mTLS gRPC (7443) and the national centre's HTTPS API (7444) on\n\
         # every interface; each node's staff APIs on 127.0.0.1 only (they carry names and\n\
         # contacts and need the city's token, see deploy/README.md):\n\
         #\n\
         #   service       gRPC intake      HTTP console     city\n",
        n = cities.len()
    ));
    for (i, city) in cities.iter().enumerate() {
        let (intake, console) = ports(i);
        y.push_str(&format!(
            "#   node-{city}   127.0.0.1:{intake}   127.0.0.1:{console}   {}\n",
            city_name(*city)
        ));
    }
    y.push('\n');
}

/// Restart, stop, logging and hardening settings shared by the hub and the nodes.
fn common(y: &mut String) {
    y.push_str(&format!("    image: {IMAGE}\n"));
    y.push_str("    restart: unless-stopped\n");
    y.push_str(
        "    # SIGTERM drains in-flight work (shutdown_grace_secs, 10 s) and flushes the store.\n",
    );
    y.push_str("    stop_grace_period: 30s\n");
    y.push_str("    read_only: true\n");
    y.push_str("    cap_drop: [ALL]\n");
    y.push_str("    security_opt: [\"no-new-privileges:true\"]\n");
    y.push_str("    logging:\n");
    y.push_str("      driver: json-file\n");
    y.push_str("      options: {max-size: \"10m\", max-file: \"5\"}\n");
}

fn healthcheck(y: &mut String, test: &[&str]) {
    let test: Vec<String> = test.iter().map(|a| format!("{a:?}")).collect();
    y.push_str("    healthcheck:\n");
    y.push_str(&format!("      test: [\"CMD\", {}]\n", test.join(", ")));
    y.push_str("      interval: 10s\n");
    y.push_str("      timeout: 6s\n");
    y.push_str("      retries: 3\n");
    y.push_str("      start_period: 60s\n");
}

fn environment(y: &mut String, vars: &[(String, String)]) {
    y.push_str("    environment:\n");
    for (k, v) in vars {
        y.push_str(&format!("      {k}: {v:?}\n"));
    }
}

/// Settings shared by the one-shot PKI services.
fn one_shot(y: &mut String, command: &str) {
    y.push_str(&format!("    image: {IMAGE}\n"));
    y.push_str("    user: \"0:0\"\n");
    y.push_str("    network_mode: none\n");
    y.push_str("    restart: \"no\"\n");
    y.push_str(&format!("    command: {command}\n"));
}

fn pki_service(y: &mut String) {
    y.push_str("  pki:\n");
    y.push_str(
        "    # One-shot, on every `up`: creates the CA only when none exists, issues missing\n",
    );
    y.push_str(
        "    # certificates (never overwriting one) and copies the hub its own files. Run it\n",
    );
    y.push_str(
        "    # again after `pilotctl pki revoke` to hand the hub the new list. Root only to give\n",
    );
    y.push_str("    # the copies to the image's user `pilot`; no network.\n");
    one_shot(y, "[\"pilot-pki-bootstrap\"]");
    y.push_str("    volumes:\n");
    y.push_str("      - pki:/pki\n");
    y.push_str("      - tls-hub:/tls/hub\n");
    y.push('\n');
}

fn city_pki_service(y: &mut String, city: CityCode) {
    y.push_str(&format!("  pki-{city}:\n"));
    y.push_str(&format!(
        "    # One-shot: the certificate and API token of {}, copied to its node.\n",
        city_name(city)
    ));
    one_shot(y, &format!("[\"pilot-pki-bootstrap\", \"{city}\"]"));
    y.push_str("    depends_on:\n");
    y.push_str("      pki: {condition: service_completed_successfully}\n");
    y.push_str("    volumes:\n");
    y.push_str("      - pki:/pki\n");
    y.push_str(&format!("      - tls-{city}:/tls/{city}\n"));
    y.push('\n');
}

fn hub_service(y: &mut String) {
    y.push_str("  hub:\n");
    common(y);
    y.push_str("    command: [\"pilot-hub\", \"--config\", \"/etc/pilot/hub.toml\"]\n");
    y.push_str("    depends_on:\n");
    y.push_str("      pki: {condition: service_completed_successfully}\n");
    let env = [
        ("DATA_DIR", "/var/lib/pilot"),
        ("LISTEN", "0.0.0.0:7443"),
        ("HTTP_LISTEN", "0.0.0.0:7444"),
        // Prometheus scrapes it on the compose network; not published to the host.
        ("METRICS_LISTEN", "0.0.0.0:9444"),
        ("TLS__CA", "/pki/ca.pem"),
        ("TLS__CERT", "/pki/hub/cert.pem"),
        ("TLS__KEY", "/pki/hub/key.pem"),
        ("LOG__FORMAT", "json"),
    ]
    .map(|(k, v)| (format!("PILOT_HUB__{k}"), v.to_owned()));
    environment(y, &env);
    y.push_str("    volumes:\n");
    y.push_str("      - ./config/hub.toml:/etc/pilot/hub.toml:ro\n");
    y.push_str("      - tls-hub:/pki:ro\n");
    y.push_str("      - hub-data:/var/lib/pilot\n");
    y.push_str("    ports:\n");
    y.push_str("      - \"7443:7443\"\n");
    y.push_str("      - \"7444:7444\"\n");
    healthcheck(y, &["pilotctl", "health", "--pki", "/pki", "--as", "hub", "127.0.0.1:7443"]);
    y.push('\n');
}

fn node_service(y: &mut String, i: usize, city: CityCode) {
    let (intake, console) = ports(i);
    y.push_str(&format!("  node-{city}:\n"));
    y.push_str(&format!("    # {}\n", city_name(city)));
    common(y);
    y.push_str("    command: [\"pilot-node\", \"--config\", \"/etc/pilot/node.toml\"]\n");
    y.push_str("    depends_on:\n");
    y.push_str(&format!("      pki-{city}: {{condition: service_completed_successfully}}\n"));
    y.push_str("      hub: {condition: service_healthy}\n");
    let env = [
        ("CITY", city.to_string()),
        ("DATA_DIR", "/var/lib/pilot".to_owned()),
        ("LISTEN", "0.0.0.0:7601".to_owned()),
        ("HTTP_LISTEN", "0.0.0.0:7701".to_owned()),
        ("API_TOKEN_FILE", "/pki/token".to_owned()),
        ("HUB__URL", "https://hub:7443".to_owned()),
        ("TLS__CA", "/pki/ca.pem".to_owned()),
        ("TLS__CERT", format!("/pki/cities/{city}/cert.pem")),
        ("TLS__KEY", format!("/pki/cities/{city}/key.pem")),
        ("LOG__FORMAT", "json".to_owned()),
    ]
    .map(|(k, v)| (format!("PILOT_NODE__{k}"), v));
    environment(y, &env);
    y.push_str("    volumes:\n");
    y.push_str("      - ./config/node.toml:/etc/pilot/node.toml:ro\n");
    y.push_str(&format!("      - tls-{city}:/pki:ro\n"));
    y.push_str(&format!("      - node-{city}-data:/var/lib/pilot\n"));
    y.push_str("    ports:\n");
    y.push_str(&format!("      - \"127.0.0.1:{intake}:7601\"\n"));
    y.push_str(&format!("      - \"127.0.0.1:{console}:7701\"\n"));
    healthcheck(y, &["pilotctl", "health", "127.0.0.1:7601"]);
    y.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> CityCode {
        CityCode::parse(s).unwrap()
    }

    #[test]
    fn the_list_allows_comments_and_blank_lines() {
        let text = "# pilot cities\n\n421200  # Xianning\n  350500\n#420600\n";
        assert_eq!(parse_cities(text).unwrap(), vec![code("421200"), code("350500")]);
    }

    #[test]
    fn every_bad_line_is_named() {
        let msg = parse_cities("421200\n999999\n421200\nabc\n").unwrap_err().to_string();
        assert!(msg.contains("line 2: \"999999\""), "{msg}");
        assert!(msg.contains("line 3: 421200 is listed twice"), "{msg}");
        assert!(msg.contains("line 4: \"abc\""), "{msg}");
        assert!(parse_cities("# nothing\n").unwrap_err().to_string().contains("no cities"));
    }

    #[test]
    fn each_city_gets_its_own_service_volumes_and_loopback_ports() {
        let y = render(&[code("421200"), code("350500")]);
        for want in [
            "  node-350500:\n    # Quanzhou 泉州市\n",
            "      PILOT_NODE__CITY: \"350500\"\n",
            "      - \"127.0.0.1:7602:7601\"\n",
            "      - \"127.0.0.1:7702:7701\"\n",
            "      - tls-350500:/pki:ro\n",
            "      - tls-350500:/tls/350500\n",
            "  node-350500-data: {}\n",
            "  pki-350500:\n",
            "    command: [\"pilot-pki-bootstrap\", \"350500\"]\n",
            "      pki-350500: {condition: service_completed_successfully}\n",
            "      hub: {condition: service_healthy}\n",
        ] {
            assert!(y.contains(want), "missing {want:?} in\n{y}");
        }
        // Only the hub's ports are published beyond loopback.
        let published: Vec<&str> = y.lines().filter(|l| l.starts_with("      - \"")).collect();
        assert_eq!(published.len(), 6, "{published:?}");
        for line in published {
            assert!(line.contains("127.0.0.1:") || line.contains("\"744"), "{line}");
        }
    }

    #[test]
    fn a_city_outside_the_pilot_list_is_named_by_its_code() {
        let y = render(&[code("420600")]);
        assert!(y.contains("  node-420600:\n    # 420600\n"), "{y}");
    }

    #[test]
    fn rendering_is_deterministic() {
        let cities = [code("421200"), code("350500"), code("440100")];
        assert_eq!(render(&cities), render(&cities));
    }
}
