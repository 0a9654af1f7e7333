//! `pilotctl matches` and `pilotctl status`: queries for people (tables) and scripts (`--json`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use pilot_model::CityCode;
use pilot_pki::Identity;
use pilot_proto::pb;
use serde_json::{Value, json};

use crate::client;

/// Arguments of `pilotctl matches`.
#[derive(Debug, Args)]
pub(crate) struct MatchesArgs {
    /// The hub (`host:port`): lists national cross-region matches with the national-centre certificate.
    #[arg(long, conflicts_with = "node", required_unless_present = "node")]
    hub: Option<String>,
    /// The PKI directory holding the national-centre certificate (with --hub).
    #[arg(long, requires = "hub")]
    pki: Option<PathBuf>,
    /// A node's intake address (`host:port`): lists that city's records with their counterparts.
    #[arg(long)]
    node: Option<String>,
    /// Bearer token file for a node whose API is exposed beyond loopback.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Only demands of this city (with --hub).
    #[arg(long)]
    city: Option<String>,
    /// Only counterparts in this city (with --hub).
    #[arg(long)]
    counterpart_city: Option<String>,
    /// Only demands carrying this discipline code (with --hub).
    #[arg(long)]
    field: Option<String>,
    /// Only demands in this GB/T 4754 industry division (with --hub).
    #[arg(long)]
    industry: Option<String>,
    /// Only demands updated in or after this month, YYYYMM (with --hub).
    #[arg(long)]
    from: Option<u32>,
    /// Only demands updated in or before this month, YYYYMM (with --hub).
    #[arg(long)]
    to: Option<u32>,
    /// Only this demand, as CITY/PSEUDONYM: its top counterparts (with --hub).
    #[arg(long)]
    subject: Option<String>,
    /// Only matches scoring above this (with --hub).
    #[arg(long, default_value_t = 0.0)]
    min_score: f32,
    /// Counterparts per record.
    #[arg(long, default_value_t = 3)]
    per_record: u32,
    /// Most records to list.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `pilotctl flows` and `pilotctl fields`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The hub (`host:port`).
    #[arg(long)]
    hub: String,
    /// The PKI directory holding the national-centre certificate.
    #[arg(long)]
    pki: PathBuf,
    /// Matches counted per demand (its top k).
    #[arg(long, default_value_t = 5)]
    per_subject: u32,
    /// Only matches scoring above this.
    #[arg(long, default_value_t = 0.0)]
    min_score: f32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl StatsArgs {
    fn scope(&self) -> pb::StatsScope {
        pb::StatsScope {
            subject_kind: pb::Kind::Demand as i32,
            per_subject: self.per_subject,
            min_score: self.min_score,
        }
    }
}

/// `pilotctl flows`: the city-to-city matrix of cross-region matches (counts below 5 as "<5").
pub(crate) async fn flows(a: StatsArgs) -> anyhow::Result<()> {
    let channel = client::hub(&a.hub, &a.pki, Identity::National).await?;
    let reply = pb::national_client::NationalClient::new(channel)
        .flow_matrix(pb::FlowMatrixRequest { scope: Some(a.scope()) })
        .await
        .context("asking the hub for the flow matrix")?
        .into_inner();
    if a.json {
        let flows: Vec<Value> = reply
            .flows
            .iter()
            .map(
                |f| json!({ "from_city": f.from_city, "to_city": f.to_city, "matches": f.matches }),
            )
            .collect();
        let out = json!({ "flows": flows, "total": reply.total, "threshold": reply.threshold });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut cities: Vec<&str> = reply.flows.iter().map(|f| f.from_city.as_str()).collect();
    cities.dedup();
    print!("{:<8}", "FROM\\TO");
    for c in &cities {
        print!(" {c:>7}");
    }
    println!();
    for from in &cities {
        print!("{from:<8}");
        for to in &cities {
            let cell = reply
                .flows
                .iter()
                .find(|f| f.from_city == *from && f.to_city == *to)
                .map_or("-", |f| f.matches.as_str());
            print!(" {cell:>7}");
        }
        println!();
    }
    println!(
        "{} cross-region matches (top {} per demand); counts below {} shown as <{}",
        reply.total, a.per_subject, reply.threshold, reply.threshold
    );
    Ok(())
}

/// `pilotctl fields`: demands, supply and matched demands per discipline (counts below 5 as "<5").
pub(crate) async fn fields(a: StatsArgs) -> anyhow::Result<()> {
    let channel = client::hub(&a.hub, &a.pki, Identity::National).await?;
    let reply = pb::national_client::NationalClient::new(channel)
        .field_stats(pb::FieldStatsRequest { scope: Some(a.scope()) })
        .await
        .context("asking the hub for field statistics")?
        .into_inner();
    if a.json {
        let fields: Vec<Value> = reply
            .fields
            .iter()
            .map(|f| {
                json!({ "field": f.field, "name": f.name, "demands": f.demands,
                        "supply": f.supply, "matched_demands": f.matched_demands })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "fields": fields, "threshold": reply.threshold })
            )?
        );
        return Ok(());
    }
    println!("{:<6} {:<20} {:>8} {:>8} {:>8}", "FIELD", "NAME", "DEMANDS", "SUPPLY", "MATCHED");
    for f in &reply.fields {
        println!(
            "{:<6} {:<20} {:>8} {:>8} {:>8}",
            f.field, f.name, f.demands, f.supply, f.matched_demands
        );
    }
    println!("counts below {} shown as <{}", reply.threshold, reply.threshold);
    Ok(())
}

/// Arguments of `pilotctl status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The hub (`host:port`).
    #[arg(long)]
    hub: String,
    /// The PKI directory holding the national-centre certificate.
    #[arg(long)]
    pki: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The code of a wire kind (`demand`, `achievement`, `expert`), or `unknown`.
pub(crate) fn kind_name(k: i32) -> &'static str {
    pilot_proto::convert::kind_from_pb(k).map_or("unknown", pilot_model::Kind::code)
}

fn city_name(code: &str) -> String {
    CityCode::parse(code).map(|c| c.label()).unwrap_or_else(|_| code.to_owned())
}

fn key_json(k: Option<&pb::SummaryKey>, kind: i32) -> Value {
    let k = k.cloned().unwrap_or_default();
    json!({ "city": k.city, "city_name": city_name(&k.city), "pseudonym": k.pseudonym, "kind": kind_name(kind) })
}

fn explanation_json(e: Option<&pb::Explanation>) -> Value {
    let e = e.cloned().unwrap_or_default();
    let modes: Vec<&str> = e
        .mode_overlap
        .iter()
        .filter_map(|m| pilot_proto::convert::mode_from_pb(*m).ok())
        .map(|m| m.code())
        .collect();
    json!({
        "shared_terms": e.shared_terms,
        "shared_fields": e.shared_fields,
        "same_category": e.same_category,
        "trl": if e.trl == 0 { Value::Null } else { json!(e.trl) },
        "mode_overlap": modes,
        "term_score": e.term_score,
        "field_score": e.field_score,
        "fit_score": e.fit_score,
    })
}

fn counterpart_json(m: &pb::Match) -> Value {
    json!({
        "counterpart": key_json(m.counterpart.as_ref(), m.counterpart_kind),
        "score": m.score,
        "explanation": explanation_json(m.explanation.as_ref()),
    })
}

fn explain_line(m: &pb::Match) -> String {
    let e = m.explanation.clone().unwrap_or_default();
    let mut parts = vec![e.shared_terms.join("、")];
    if !e.shared_fields.is_empty() {
        parts.push(format!("fields {}", e.shared_fields.join(",")));
    }
    if e.trl > 0 {
        parts.push(format!("TRL{}", e.trl));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(" · ")
}

fn short(p: &str) -> &str {
    p.get(..8).unwrap_or(p)
}

pub(crate) async fn matches(a: MatchesArgs) -> anyhow::Result<()> {
    match (&a.hub, &a.node) {
        (Some(hub), _) => national_matches(hub, &a).await,
        (None, Some(node)) => node_matches(node, &a).await,
        (None, None) => anyhow::bail!("give --hub ADDR --pki DIR, or --node ADDR"),
    }
}

async fn national_matches(hub: &str, a: &MatchesArgs) -> anyhow::Result<()> {
    let pki = a.pki.as_ref().context("--hub needs --pki DIR (the national-centre certificate)")?;
    let channel = client::hub(hub, pki, Identity::National).await?;
    let mut national =
        pb::national_client::NationalClient::new(channel).max_decoding_message_size(64 << 20);
    let subject = match &a.subject {
        None => None,
        Some(s) => {
            let (city, pseudonym) =
                s.split_once('/').context("--subject is CITY/PSEUDONYM, e.g. 421200/3f2a...")?;
            Some(pb::SummaryKey { city: city.to_owned(), pseudonym: pseudonym.to_owned() })
        }
    };
    let mut rows: Vec<pb::Match> = Vec::new();
    let mut subjects = 0;
    let mut token = String::new();
    loop {
        let page_size = u32::try_from((a.limit - subjects).min(500)).unwrap_or(500);
        let req = pb::ListMatchesRequest {
            city: a.city.clone().unwrap_or_default(),
            counterpart_city: a.counterpart_city.clone().unwrap_or_default(),
            field: a.field.clone().unwrap_or_default(),
            industry: a.industry.clone().unwrap_or_default(),
            updated_from: a.from.unwrap_or(0),
            updated_to: a.to.unwrap_or(0),
            subject: subject.clone(),
            min_score: a.min_score,
            per_subject: a.per_record,
            page_size,
            page_token: token,
            ..Default::default()
        };
        let page =
            national.list_matches(req).await.context("listing matches at the hub")?.into_inner();
        let mut last: Option<String> = None;
        for m in page.matches {
            let subject = m.subject.as_ref().map(|k| format!("{}/{}", k.city, k.pseudonym));
            if subject != last {
                subjects += 1;
                last = subject;
            }
            rows.push(m);
        }
        token = page.next_page_token;
        if token.is_empty() || subjects >= a.limit {
            break;
        }
    }
    if a.json {
        let out: Vec<Value> = rows
            .iter()
            .map(|m| {
                json!({
                    "subject": key_json(m.subject.as_ref(), m.subject_kind),
                    "counterpart": key_json(m.counterpart.as_ref(), m.counterpart_kind),
                    "score": m.score,
                    "explanation": explanation_json(m.explanation.as_ref()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no matches yet");
        return Ok(());
    }
    println!("{:<28} {:<28} {:<12} {:>7}  WHY", "DEMAND", "COUNTERPART", "KIND", "SCORE");
    for m in &rows {
        let s = m.subject.clone().unwrap_or_default();
        let c = m.counterpart.clone().unwrap_or_default();
        println!(
            "{:<28} {:<28} {:<12} {:>7.3}  {}",
            format!("{} {} {}", s.city, city_name(&s.city), short(&s.pseudonym)),
            format!("{} {} {}", c.city, city_name(&c.city), short(&c.pseudonym)),
            kind_name(m.counterpart_kind),
            m.score,
            explain_line(m)
        );
    }
    println!("{} matches for {} demands", rows.len(), subjects);
    Ok(())
}

async fn node_matches(node: &str, a: &MatchesArgs) -> anyhow::Result<()> {
    let token = client::read_token(a.token_file.as_deref())?;
    let channel = client::node(node).await?;
    let mut intake =
        pb::intake_client::IntakeClient::new(channel).max_decoding_message_size(64 << 20);
    let req = client::with_token(
        pb::NodeMatchesRequest { local_id: String::new(), per_record: a.per_record },
        token.as_deref(),
    )?;
    let mut records =
        intake.matches(req).await.context("asking the node for its matches")?.into_inner().records;
    records.truncate(a.limit);
    if a.json {
        let out: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({
                    "local_id": r.local_id,
                    "external_id": r.external_id,
                    "kind": kind_name(r.kind),
                    "title": r.title,
                    "pseudonym": r.pseudonym,
                    "matches": r.matches.iter().map(counterpart_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if records.is_empty() {
        println!("no matches yet");
    }
    for r in &records {
        println!(
            "{} ({}) {} {}",
            r.local_id,
            if r.external_id.is_empty() { "-" } else { &r.external_id },
            kind_name(r.kind),
            r.title
        );
        for m in &r.matches {
            let c = m.counterpart.clone().unwrap_or_default();
            println!(
                "    → {} {} {} {:<12} {:>7.3}  {}",
                c.city,
                city_name(&c.city),
                short(&c.pseudonym),
                kind_name(m.counterpart_kind),
                m.score,
                explain_line(m)
            );
        }
    }
    Ok(())
}

fn ago(ms: i64) -> String {
    if ms <= 0 {
        return "never".into();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let secs = (i128::try_from(now).unwrap_or(0) - i128::from(ms)).max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

pub(crate) async fn status(a: StatusArgs) -> anyhow::Result<()> {
    let channel = client::hub(&a.hub, &a.pki, Identity::National).await?;
    let reply = pb::national_client::NationalClient::new(channel)
        .status(pb::StatusRequest {})
        .await
        .context("asking the hub for its status")?
        .into_inner();
    if a.json {
        let cities: Vec<Value> = reply
            .cities
            .iter()
            .map(|c| {
                let d = c.digest.unwrap_or_default();
                json!({
                    "city": c.city, "name": city_name(&c.city), "demands": c.demands, "achievements": c.achievements,
                    "experts": c.experts, "records": c.demands + c.achievements + c.experts,
                    "acked_seq": c.acked_seq, "last_sync_unix_ms": c.last_sync_unix_ms,
                    "last_contact_unix_ms": c.last_contact_unix_ms, "node_last_seq": c.node_last_seq,
                    "lag": c.lag, "digest": {"count": d.count, "hash": format!("{:016x}", d.hash)},
                    "digest_state": digest_state(c.digest_state),
                    "digest_checked_unix_ms": c.digest_checked_unix_ms, "revoked": c.revoked,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "cities": cities, "total_summaries": reply.total_summaries })
            )?
        );
        return Ok(());
    }
    println!(
        "{:<8} {:<12} {:>8} {:>13} {:>8} {:>10} {:>7}  {:<9} {:<14} {:<14} NOTE",
        "CITY",
        "NAME",
        "DEMANDS",
        "ACHIEVEMENTS",
        "EXPERTS",
        "ACKED SEQ",
        "LAG",
        "DIGEST",
        "LAST CONTACT",
        "LAST SYNC"
    );
    for c in &reply.cities {
        println!(
            "{:<8} {:<12} {:>8} {:>13} {:>8} {:>10} {:>7}  {:<9} {:<14} {:<14} {}",
            c.city,
            city_name(&c.city),
            c.demands,
            c.achievements,
            c.experts,
            c.acked_seq,
            c.lag,
            digest_state(c.digest_state),
            ago(c.last_contact_unix_ms),
            ago(c.last_sync_unix_ms),
            if c.revoked { "REVOKED" } else { "" }
        );
    }
    println!("{} cities, {} summaries", reply.cities.len(), reply.total_summaries);
    Ok(())
}

/// A digest state as a short word for the status table.
fn digest_state(state: i32) -> &'static str {
    match pb::DigestState::try_from(state).unwrap_or_default() {
        pb::DigestState::Unknown => "unknown",
        pb::DigestState::Equal => "equal",
        pb::DigestState::Repairing => "repairing",
    }
}
