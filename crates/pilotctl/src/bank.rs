//! Staff commands against a city node's intake API: import and export files, preview what a
//! record shares, list and release held-back records, and read the sharing ledger.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use pilot_model::Kind;
use pilot_proto::pb;
use pilot_sheets::Sheet;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::client;

/// Where the node is.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The node's intake address (`host:port`).
    #[arg(long)]
    node: String,
    /// Bearer token file, for a node whose API is exposed beyond loopback.
    #[arg(long)]
    token_file: Option<PathBuf>,
}

impl NodeArgs {
    async fn connect(
        &self,
    ) -> anyhow::Result<(pb::intake_client::IntakeClient<Channel>, Option<String>)> {
        let token = client::read_token(self.token_file.as_deref())?;
        let ch = client::node(&self.node).await?;
        Ok((
            pb::intake_client::IntakeClient::new(ch)
                .max_decoding_message_size(256 << 20)
                .max_encoding_message_size(256 << 20),
            token,
        ))
    }
}

fn parse_kind(s: &str) -> anyhow::Result<Kind> {
    Kind::parse(s).with_context(|| format!("--kind {s:?}"))
}

/// Arguments of `pilotctl import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// demand, achievement or expert; default: from the file name.
    #[arg(long)]
    kind: Option<String>,
    /// Records per request to the node (each request commits atomically and durably).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The file: .xlsx, .csv or .jsonl, with English or Chinese column headers.
    file: PathBuf,
}

/// `pilotctl import`: streams the file to the node in batches with a progress bar, then prints
/// every rejected row (row number, field, error) and the counts.
pub(crate) async fn import(a: ImportArgs) -> anyhow::Result<()> {
    let kind = match &a.kind {
        Some(k) => parse_kind(k)?,
        None => pilot_sheets::kind_from_path(&a.file).with_context(|| {
            format!("{}: cannot tell the kind from the file name; pass --kind", a.file.display())
        })?,
    };
    let sheet =
        Sheet::open(&a.file, kind).with_context(|| format!("reading {}", a.file.display()))?;
    for w in &sheet.warnings {
        eprintln!("warning: {w}");
    }
    let bar = indicatif::ProgressBar::new(sheet.total_rows_hint().unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} rows [{bar:30}] {per_sec} {eta}",
        )
        .expect("the progress template is valid")
        .progress_chars("=> "),
    );
    let (mut intake, token) = a.node.connect().await?;
    let (mut created, mut updated, mut unchanged, mut rejected) = (0u64, 0u64, 0u64, 0u64);
    let mut bad_rows: Vec<pb::RowResult> = Vec::new();
    let mut pending: Vec<pb::RecordInput> = Vec::with_capacity(a.batch);
    let mut numbers: Vec<u32> = Vec::with_capacity(a.batch);
    let batch = a.batch.max(1);
    let mut send = async |pending: &mut Vec<pb::RecordInput>,
                          numbers: &mut Vec<u32>|
           -> anyhow::Result<pb::UpsertReply> {
        let req = pb::UpsertRequest {
            records: std::mem::take(pending),
            first_row: 0,
            rows: std::mem::take(numbers),
        };
        Ok(intake
            .upsert(client::with_token(req, token.as_deref())?)
            .await
            .context("sending rows to the node")?
            .into_inner())
    };
    let mut rows = sheet;
    loop {
        let next = rows.next();
        let done = next.is_none();
        if let Some(row) = next {
            bar.inc(1);
            match row.result {
                Ok(input) => {
                    pending.push(input);
                    numbers.push(row.row);
                }
                Err(errors) => {
                    rejected += 1;
                    bad_rows.push(pb::RowResult {
                        row: row.row,
                        outcome: pb::RowOutcome::Rejected as i32,
                        local_id: String::new(),
                        errors,
                    });
                }
            }
        }
        if pending.len() >= batch || (done && !pending.is_empty()) {
            let reply = send(&mut pending, &mut numbers).await?;
            created += u64::from(reply.created);
            updated += u64::from(reply.updated);
            unchanged += u64::from(reply.unchanged);
            rejected += u64::from(reply.rejected);
            bad_rows.extend(
                reply.rows.into_iter().filter(|r| r.outcome == pb::RowOutcome::Rejected as i32),
            );
        }
        if done {
            break;
        }
    }
    bar.finish_and_clear();
    bad_rows.sort_by_key(|r| r.row);
    if a.json {
        let rows: Vec<Value> = bad_rows
            .iter()
            .map(|r| {
                let errors: Vec<Value> = r
                    .errors
                    .iter()
                    .map(|e| json!({ "field": e.field, "key": e.key, "message": e.message, "message_zh": e.message_zh }))
                    .collect();
                json!({ "row": r.row, "errors": errors })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": a.file, "kind": kind.code(), "created": created, "updated": updated,
                "unchanged": unchanged, "rejected": rejected, "rejected_rows": rows,
            }))?
        );
        return Ok(());
    }
    for r in &bad_rows {
        for e in &r.errors {
            let field = if e.field.is_empty() { "-" } else { &e.field };
            println!("row {:>6}  {:<18} {}  /  {}", r.row, field, e.message, e.message_zh);
        }
    }
    println!(
        "{}: {created} created, {updated} updated, {unchanged} unchanged, {rejected} rejected",
        a.file.display()
    );
    Ok(())
}

/// Arguments of `pilotctl export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// demand, achievement or expert; default: from the file name.
    #[arg(long)]
    kind: Option<String>,
    /// Write Chinese column headers.
    #[arg(long)]
    chinese_headers: bool,
    /// The file to write: .xlsx, .csv or .jsonl.
    file: PathBuf,
}

/// `pilotctl export`: writes one bank of the city's records to a file that imports back.
pub(crate) async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let kind = match &a.kind {
        Some(k) => parse_kind(k)?,
        None => pilot_sheets::kind_from_path(&a.file).with_context(|| {
            format!("{}: cannot tell the kind from the file name; pass --kind", a.file.display())
        })?,
    };
    let (mut intake, token) = a.node.connect().await?;
    let mut records = Vec::new();
    let mut page_token = String::new();
    loop {
        let req = pb::ListRequest {
            kind: pb::Kind::from(kind) as i32,
            page_size: 1000,
            page_token,
            ..Default::default()
        };
        let page = intake
            .list(client::with_token(req, token.as_deref())?)
            .await
            .context("listing records")?
            .into_inner();
        records.extend(page.records);
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    pilot_sheets::write(&a.file, kind, &records, a.chinese_headers)
        .with_context(|| format!("writing {}", a.file.display()))?;
    println!("{}: {} {}s", a.file.display(), records.len(), kind.code());
    Ok(())
}

/// Arguments naming one record.
#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The record's local id (or its external id with --external).
    id: String,
    /// Treat the id as the city's own external id.
    #[arg(long)]
    external: bool,
}

impl RecordArgs {
    fn get(&self) -> pb::GetRequest {
        if self.external {
            pb::GetRequest { external_id: self.id.clone(), ..Default::default() }
        } else {
            pb::GetRequest { local_id: self.id.clone(), ..Default::default() }
        }
    }
}

fn print_preview(r: &pb::PreviewReply, json_out: bool) -> anyhow::Result<()> {
    match &r.summary {
        Some(s) => {
            let v = summary_json(s);
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "shared": true, "summary": v }))?
                );
            } else {
                println!("shared with the hub as:\n{}", serde_json::to_string_pretty(&v)?);
            }
        }
        None => {
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({ "shared": false, "reason_code": r.held_back_code, "reason": r.held_back_reason })
                    )?
                );
            } else {
                println!("not shared: {} ({})", r.held_back_reason, r.held_back_code);
            }
        }
    }
    Ok(())
}

/// The wire summary as JSON, field by field: exactly what leaves the node.
fn summary_json(s: &pb::Summary) -> Value {
    let key = s.key.clone().unwrap_or_default();
    let modes: Vec<&str> = s
        .modes
        .iter()
        .filter_map(|m| pilot_proto::convert::mode_from_pb(*m).ok())
        .map(|m| m.code())
        .collect();
    let terms: Vec<Value> = s.terms.iter().map(|t| json!([t.term, t.weight])).collect();
    json!({
        "city": key.city, "pseudonym": key.pseudonym,
        "kind": crate::query::kind_name(s.kind),
        "status": s.status, "fields": s.fields, "industries": s.industries,
        "trl": if s.trl == 0 { Value::Null } else { json!(s.trl) }, "modes": modes, "budget_bucket": s.budget,
        "updated_yyyymm": s.updated_yyyymm, "deadline_yyyymm": s.deadline_yyyymm, "terms": terms,
    })
}

/// `pilotctl preview`: exactly what a record would share, or why it is held back.
pub(crate) async fn preview(a: RecordArgs) -> anyhow::Result<()> {
    let (mut intake, token) = a.node.connect().await?;
    let r = intake
        .preview(client::with_token(a.get(), token.as_deref())?)
        .await
        .context("previewing")?
        .into_inner();
    print_preview(&r, a.json)
}

/// `pilotctl release`: re-check a fixed record and share it if it now passes.
pub(crate) async fn release(a: RecordArgs) -> anyhow::Result<()> {
    let (mut intake, token) = a.node.connect().await?;
    let r = intake
        .release(client::with_token(a.get(), token.as_deref())?)
        .await
        .context("releasing")?
        .into_inner();
    print_preview(&r, a.json)?;
    if r.summary.is_none() {
        bail!("still held back: fix the record and release it again");
    }
    Ok(())
}

/// Arguments of `pilotctl held`.
#[derive(Debug, Args)]
pub(crate) struct HeldArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `pilotctl held`: records the privacy gate held back, with reasons.
pub(crate) async fn held(a: HeldArgs) -> anyhow::Result<()> {
    let (mut intake, token) = a.node.connect().await?;
    let held = intake
        .list_held(client::with_token(pb::ListHeldRequest {}, token.as_deref())?)
        .await?
        .into_inner()
        .records;
    if a.json {
        let v: Vec<Value> = held
            .iter()
            .map(|h| json!({ "local_id": h.local_id, "external_id": h.external_id, "title": h.title, "reason_code": h.reason_code, "reason": h.reason }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for h in &held {
        println!(
            "{:<12} {:<14} {:<22} {}  ({})",
            h.local_id,
            if h.external_id.is_empty() { "-" } else { &h.external_id },
            h.reason_code,
            h.title,
            h.reason
        );
    }
    println!("{} held back", held.len());
    Ok(())
}

/// Arguments of `pilotctl ledger`.
#[derive(Debug, Args)]
pub(crate) struct LedgerArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Only this record.
    #[arg(long)]
    local_id: Option<String>,
    /// Most entries.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `pilotctl ledger`: what the node sent to the hub (newest first), with pseudonym, local id
/// and external id, so a city can see exactly what left and tell which record is which.
pub(crate) async fn ledger(a: LedgerArgs) -> anyhow::Result<()> {
    let (mut intake, token) = a.node.connect().await?;
    let req = pb::LedgerRequest {
        local_id: a.local_id.clone().unwrap_or_default(),
        limit: a.limit,
        page_token: String::new(),
    };
    let r = intake
        .ledger(client::with_token(req, token.as_deref())?)
        .await
        .context("reading the ledger")?
        .into_inner();
    if a.json {
        let v: Vec<Value> = r
            .entries
            .iter()
            .map(|e| {
                json!({
                    "batch": e.batch, "seq": e.seq, "sent_at_ms": e.sent_at_ms, "local_id": e.local_id,
                    "external_id": e.external_id, "pseudonym": e.pseudonym,
                    "kind": crate::query::kind_name(e.kind),
                    "summary": serde_json::from_str::<Value>(&e.summary_json).unwrap_or(Value::Null),
                    "tombstone_reason": if e.tombstone_reason.is_empty() { Value::Null } else { json!(e.tombstone_reason) },
                    "acknowledged": e.acknowledged,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:>6} {:>7}  {:<12} {:<16} {:<10} {:<9} SENT",
        "BATCH", "SEQ", "LOCAL ID", "EXTERNAL ID", "PSEUDONYM", "WHAT"
    );
    for e in &r.entries {
        let what = if e.summary_json.is_empty() {
            format!("tombstone ({})", e.tombstone_reason)
        } else {
            "summary".to_owned()
        };
        println!(
            "{:>6} {:>7}  {:<12} {:<16} {:<10} {:<9} {}{}",
            e.batch,
            e.seq,
            e.local_id,
            if e.external_id.is_empty() { "-" } else { &e.external_id },
            e.pseudonym.get(..8).unwrap_or(&e.pseudonym),
            what,
            e.sent_at_ms,
            if e.acknowledged { " acked" } else { "" }
        );
    }
    Ok(())
}
