//! City records in, outbox entries out: the node's domain logic behind the intake API.
//!
//! Every change goes through [`Intake`], which validates it, stamps it, derives its pseudonym
//! and stores it together with its outbox entry, then wakes the sync task.
//! Functions here block on the store and the anonymizer; async callers use `spawn_blocking`.

use std::sync::Arc;

use pilot_anon::{Anonymizer, Outcome};
use pilot_model::{Kind, LocalId, Record, RecordBody, Status, UnixMillis};
use pilot_proto::convert::{RecordInput, record_input_from_pb};
use pilot_proto::pb;
use pilot_store::{NodeStore, PutOutcome, StoredRecord, WriteBatch};
use tokio::sync::Notify;

use crate::{Error, Result};

/// The node's record bank.
#[derive(Clone)]
pub struct Intake {
    store: NodeStore,
    anon: Arc<Anonymizer>,
    wake_sync: Arc<Notify>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").field("city", &self.anon.city()).finish_non_exhaustive()
    }
}

/// Per-row results of a bulk upsert.
#[derive(Debug, Default)]
pub struct UpsertReport {
    /// One result per row.
    pub rows: Vec<pb::RowResult>,
    /// Count of created rows.
    pub created: u32,
    /// Count of updated rows.
    pub updated: u32,
    /// Count of unchanged rows.
    pub unchanged: u32,
    /// Count of rejected rows.
    pub rejected: u32,
}

/// The result of importing a file.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Per-row results and counts.
    pub upsert: UpsertReport,
    /// File-level warnings (unknown columns, a title row above the header, ...).
    pub warnings: Vec<String>,
}

impl ImportReport {
    fn merge(&mut self, r: UpsertReport) {
        self.upsert.rows.extend(r.rows);
        self.upsert.created += r.created;
        self.upsert.updated += r.updated;
        self.upsert.unchanged += r.unchanged;
        self.upsert.rejected += r.rejected;
    }
}

/// Current time in milliseconds since the Unix epoch.
pub fn now() -> UnixMillis {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    UnixMillis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn field_error(field: &str, key: &str, message: String) -> pb::FieldError {
    pb::FieldError {
        field: field.to_owned(),
        key: key.to_owned(),
        message,
        message_zh: String::new(),
    }
}

impl Intake {
    /// Builds the bank over an open store.
    pub fn new(store: NodeStore, anon: Arc<Anonymizer>, wake_sync: Arc<Notify>) -> Self {
        Intake { store, anon, wake_sync }
    }

    /// The store, for the sync task and statistics.
    pub fn store(&self) -> &NodeStore {
        &self.store
    }

    /// The anonymizer.
    pub fn anonymizer(&self) -> &Arc<Anonymizer> {
        &self.anon
    }

    /// Creates or updates rows; a bad row is reported and never stops the rows after it.
    ///
    /// The good rows commit together with their outbox entries in one atomic batch, and the
    /// reply is returned only after the store is flushed to the device: an acknowledged import
    /// survives a crash or power loss.
    pub fn upsert(
        &self,
        rows: Vec<pb::RecordInput>,
        first_row: u32,
        row_numbers: &[u32],
    ) -> Result<UpsertReport> {
        if !row_numbers.is_empty() && row_numbers.len() != rows.len() {
            return Err(Error::Invalid {
                field: "rows",
                reason: format!("{} row numbers for {} records", row_numbers.len(), rows.len()),
            });
        }
        let mut report = UpsertReport::default();
        let first_row = first_row.max(1);
        let mut w = self.store.write();
        for (i, row) in rows.into_iter().enumerate() {
            let row_no = match row_numbers.get(i) {
                Some(n) => *n,
                None => first_row.saturating_add(u32::try_from(i).unwrap_or(u32::MAX)),
            };
            let kind = row.body.as_ref().map(|b| match b {
                pb::record_input::Body::Demand(_) => Kind::Demand,
                pb::record_input::Body::Achievement(_) => Kind::Achievement,
                pb::record_input::Body::Expert(_) => Kind::Expert,
            });
            let result = match record_input_from_pb(row) {
                Err(errs) => Err(errs
                    .into_iter()
                    .map(|e| {
                        let key = match e {
                            pilot_model::Error::MissingField { .. } => "missing_field",
                            pilot_model::Error::InvalidField { .. } => "invalid_field",
                        };
                        field_error(e.field(), key, e.to_string())
                    })
                    .collect()),
                Ok(input) => self.upsert_one(&mut w, input),
            };
            match result {
                Ok(PutOutcome::Created(s)) => {
                    report.created += 1;
                    report.rows.push(row_result(row_no, pb::RowOutcome::Created, &s));
                }
                Ok(PutOutcome::Updated(s)) => {
                    report.updated += 1;
                    report.rows.push(row_result(row_no, pb::RowOutcome::Updated, &s));
                }
                Ok(PutOutcome::Unchanged(s)) => {
                    report.unchanged += 1;
                    report.rows.push(row_result(row_no, pb::RowOutcome::Unchanged, &s));
                }
                Err(mut errors) => {
                    for e in &mut errors {
                        e.message_zh = pilot_sheets::message_zh(
                            kind.unwrap_or(Kind::Demand),
                            &e.field,
                            &e.key,
                            &e.message,
                        );
                    }
                    report.rejected += 1;
                    report.rows.push(pb::RowResult {
                        row: row_no,
                        outcome: pb::RowOutcome::Rejected as i32,
                        local_id: String::new(),
                        errors,
                    });
                }
            }
        }
        if report.created + report.updated > 0 {
            w.commit()?;
            self.store.db().flush()?;
            self.wake_sync.notify_one();
        }
        Ok(report)
    }

    fn upsert_one(
        &self,
        w: &mut WriteBatch<'_>,
        input: RecordInput,
    ) -> std::result::Result<PutOutcome, Vec<pb::FieldError>> {
        let store_err = |e: pilot_store::Error| match e {
            pilot_store::Error::Conflict(m) => vec![field_error("external_id", "conflict", m)],
            other => vec![field_error("", "store_unavailable", other.to_string())],
        };
        let existing = match (&input.local_id, &input.external_id) {
            (Some(id), _) => match w.get(id).map_err(store_err)? {
                Some(s) => Some(s),
                None => {
                    return Err(vec![field_error(
                        "local_id",
                        "not_found",
                        format!("record {id} not found"),
                    )]);
                }
            },
            (None, Some(ext)) => match w.find_external(ext).map_err(store_err)? {
                Some(id) => w.get(&id).map_err(store_err)?,
                None => None,
            },
            (None, None) => None,
        };
        let now = now();
        let record = match existing {
            Some(old) => {
                if old.record.kind() != input.body.kind() {
                    return Err(vec![field_error(
                        "kind",
                        "conflict",
                        format!(
                            "record {} is a {}, not a {}",
                            old.record.local_id,
                            old.record.kind(),
                            input.body.kind()
                        ),
                    )]);
                }
                Record {
                    local_id: old.record.local_id,
                    external_id: input.external_id.or(old.record.external_id),
                    status: input.status.unwrap_or(old.record.status),
                    created_at: old.record.created_at,
                    updated_at: now,
                    body: input.body,
                }
            }
            None => Record {
                local_id: w.allocate_local_id(input.body.kind()).map_err(store_err)?,
                external_id: input.external_id,
                status: input.status.unwrap_or(Status::Open),
                created_at: now,
                updated_at: now,
                body: input.body,
            },
        };
        let pseudonym = self.anon.pseudonym(&record.local_id);
        w.put(record, pseudonym).map_err(store_err)
    }

    /// Imports a whole file: syntax errors from the sheet and field errors from validation are
    /// reported per row with the file's row numbers; the good rows are stored in batches.
    pub fn import(&self, sheet: pilot_sheets::Sheet) -> Result<ImportReport> {
        const CHUNK: usize = 2000;
        let mut report =
            ImportReport { warnings: sheet.warnings.clone(), ..ImportReport::default() };
        let mut pending: Vec<pb::RecordInput> = Vec::with_capacity(CHUNK);
        let mut numbers: Vec<u32> = Vec::with_capacity(CHUNK);
        let flush = |pending: &mut Vec<pb::RecordInput>,
                     numbers: &mut Vec<u32>,
                     report: &mut ImportReport|
         -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            let r = self.upsert(std::mem::take(pending), 1, &std::mem::take(numbers))?;
            report.merge(r);
            Ok(())
        };
        for row in sheet {
            match row.result {
                Ok(input) => {
                    pending.push(input);
                    numbers.push(row.row);
                    if pending.len() == CHUNK {
                        flush(&mut pending, &mut numbers, &mut report)?;
                    }
                }
                Err(errors) => {
                    report.upsert.rejected += 1;
                    report.upsert.rows.push(pb::RowResult {
                        row: row.row,
                        outcome: pb::RowOutcome::Rejected as i32,
                        local_id: String::new(),
                        errors,
                    });
                }
            }
        }
        flush(&mut pending, &mut numbers, &mut report)?;
        report.upsert.rows.sort_by_key(|r| r.row);
        Ok(report)
    }

    /// Finds a record by local id or external id.
    pub fn get(&self, req: &pb::GetRequest) -> Result<StoredRecord> {
        let id = if !req.local_id.is_empty() {
            LocalId::parse(&req.local_id)?
        } else if !req.external_id.is_empty() {
            self.store
                .find_external(&req.external_id)?
                .ok_or_else(|| Error::NotFound(format!("external id {:?}", req.external_id)))?
        } else {
            return Err(Error::Invalid {
                field: "local_id",
                reason: "give local_id or external_id".into(),
            });
        };
        self.store.get(&id)?.ok_or_else(|| Error::NotFound(format!("record {id}")))
    }

    /// Lists records of one bank (or all), filtered by status, in local-id order.
    pub fn list(
        &self,
        kind: Option<Kind>,
        status: Option<Status>,
        page_size: usize,
        token: &str,
    ) -> Result<(Vec<StoredRecord>, String)> {
        let page_size = match page_size {
            0 => 50,
            n => n.min(1000),
        };
        let mut after = if token.is_empty() { None } else { Some(LocalId::parse(token)?) };
        let mut out = Vec::new();
        loop {
            let chunk = self.store.list(kind, after.as_ref(), page_size)?;
            let done = chunk.len() < page_size;
            for r in chunk {
                after = Some(r.record.local_id.clone());
                if status.is_none_or(|s| s == r.record.status) {
                    out.push(r);
                    if out.len() == page_size {
                        let next = after.map(|a| a.to_string()).unwrap_or_default();
                        return Ok((out, next));
                    }
                }
            }
            if done {
                return Ok((out, String::new()));
            }
        }
    }

    /// Withdraws a record: kept locally, removed from the hub.
    pub fn withdraw(&self, req: &pb::GetRequest) -> Result<StoredRecord> {
        let old = self.get(req)?;
        let mut record = old.record;
        record.status = Status::Withdrawn;
        record.updated_at = now();
        let out = self.store.put(record, old.pseudonym)?.stored().clone();
        self.store.db().flush()?;
        self.wake_sync.notify_one();
        Ok(out)
    }

    /// Deletes a record here and at the hub.
    pub fn delete(&self, req: &pb::GetRequest) -> Result<LocalId> {
        let old = self.get(req)?;
        let id = old.record.local_id;
        self.store.delete(&id)?;
        self.store.db().flush()?;
        self.wake_sync.notify_one();
        Ok(id)
    }

    /// Records the privacy gate held back at their last send, with the reason for each.
    pub fn held(&self) -> Result<Vec<pb::HeldRecord>> {
        let mut out = Vec::new();
        for (id, reason) in self.store.held_back()? {
            let Some(stored) = self.store.get(&id)? else { continue };
            let (code, text) = reason.split_once('\t').unwrap_or((reason.as_str(), ""));
            let r = &stored.record;
            out.push(pb::HeldRecord {
                local_id: id.to_string(),
                external_id: r.external_id.clone().unwrap_or_default(),
                kind: pb::Kind::from(r.kind()) as i32,
                title: r.body.title().to_owned(),
                reason_code: code.to_owned(),
                reason: text.to_owned(),
            });
        }
        Ok(out)
    }

    /// Re-checks a record (after staff fixed it) and, if it now passes the privacy gate,
    /// queues it to be shared. Returns what it shares, or why it is still held back.
    ///
    /// NB: there is no override: a record that fails the gate stays home until it is fixed.
    pub fn release(&self, req: &pb::GetRequest) -> Result<Outcome> {
        let stored = self.get(req)?;
        let outcome = self.anon.anonymize(&stored.record, now().date());
        if matches!(outcome, Outcome::Share(_)) {
            let mut w = self.store.write();
            w.requeue(&stored.record.local_id)?;
            w.commit()?;
            self.store.set_held(&stored.record.local_id, None)?;
            self.store.db().flush()?;
            self.wake_sync.notify_one();
        }
        Ok(outcome)
    }

    /// Searches the city's own records: every space-separated word must occur (Chinese needs no
    /// spaces: words are matched as substrings); ranked by where and how often they occur.
    pub fn search(
        &self,
        query: &str,
        kind: Option<Kind>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return Err(Error::Invalid { field: "query", reason: "give at least one word".into() });
        }
        let limit = match limit {
            0 => 20,
            n => n.min(500),
        };
        let mut hits: Vec<(u32, StoredRecord)> = Vec::new();
        self.store.scan(kind, |s| {
            let (title, text, other) = searchable(&s.record.body);
            let (title, text, other) =
                (title.to_lowercase(), text.to_lowercase(), other.to_lowercase());
            let mut score = 0u32;
            for w in &words {
                let n = |h: &str| u32::try_from(h.matches(w.as_str()).count()).unwrap_or(u32::MAX);
                let (t, x, o) = (n(&title), n(&text), n(&other));
                if t + x + o == 0 {
                    return true;
                }
                score = score.saturating_add(t * 5 + x + o * 2);
            }
            hits.push((score, s));
            true
        })?;
        hits.sort_by(|a, b| {
            b.0.cmp(&a.0).then_with(|| a.1.record.local_id.cmp(&b.1.record.local_id))
        });
        hits.truncate(limit);
        Ok(hits.into_iter().map(|(_, s)| s).collect())
    }

    /// The sharing ledger, newest first.
    pub fn ledger(&self, req: &pb::LedgerRequest) -> Result<pb::LedgerReply> {
        let only =
            if req.local_id.is_empty() { None } else { Some(LocalId::parse(&req.local_id)?) };
        let limit = match req.limit {
            0 => 100,
            n => (n as usize).min(10_000),
        };
        let before = if req.page_token.is_empty() {
            None
        } else {
            let bad = || Error::Invalid {
                field: "page_token",
                reason: "not a token from a previous reply".into(),
            };
            let (b, s) = req.page_token.split_once('.').ok_or_else(bad)?;
            Some((b.parse().map_err(|_| bad())?, s.parse().map_err(|_| bad())?))
        };
        let acked = self.store.acked_seq()?;
        let entries = self.store.sent(only.as_ref(), before, limit)?;
        let next = if entries.len() == limit {
            entries.last().map(|e| format!("{}.{}", e.batch, e.seq))
        } else {
            None
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let external_id =
                self.store.get(&e.local_id)?.and_then(|s| s.record.external_id).unwrap_or_default();
            out.push(pb::LedgerEntry {
                batch: e.batch,
                seq: e.seq.0,
                sent_at_ms: i64::try_from(e.sent_at_ms).unwrap_or(i64::MAX),
                local_id: e.local_id.to_string(),
                external_id,
                pseudonym: e.pseudonym.to_string(),
                kind: pb::Kind::from(e.kind) as i32,
                summary_json: e.summary_json.unwrap_or_default(),
                tombstone_reason: e.tombstone_reason.unwrap_or_default(),
                acknowledged: e.seq <= acked,
            });
        }
        Ok(pb::LedgerReply { entries: out, next_page_token: next.unwrap_or_default() })
    }

    /// Record counts and sync state.
    pub fn stats(&self, hub_connected: bool) -> Result<pb::StatsReply> {
        let c = self.store.counts()?;
        Ok(pb::StatsReply {
            city: self.anon.city().to_string(),
            demands: c.demands,
            achievements: c.achievements,
            experts: c.experts,
            last_seq: self.store.last_seq()?.0,
            acked_seq: self.store.acked_seq()?.0,
            held_back: self.store.held_back()?.len() as u64,
            hub_connected,
            // The sync figures are added by `SyncStatus::fill_stats`.
            ..Default::default()
        })
    }

    /// Joins the hub's matches of this city's records with the local records, grouped per
    /// record (best counterpart first), optionally for one local id only.
    pub fn join_matches(
        &self,
        matches: Vec<pb::Match>,
        only: &str,
    ) -> Result<Vec<pb::RecordMatches>> {
        let mut grouped: std::collections::BTreeMap<String, Vec<pb::Match>> =
            std::collections::BTreeMap::new();
        for m in matches {
            let Some(subject) = m.subject.as_ref() else { continue };
            grouped.entry(subject.pseudonym.clone()).or_default().push(m);
        }
        let mut out = Vec::new();
        for (p, ms) in grouped {
            let Ok(p) = pilot_model::Pseudonym::parse(&p) else { continue };
            let Some(id) = self.store.resolve(&p)? else { continue };
            if !only.is_empty() && id.as_str() != only {
                continue;
            }
            let Some(stored) = self.store.get(&id)? else { continue };
            let r = &stored.record;
            out.push(pb::RecordMatches {
                local_id: id.to_string(),
                external_id: r.external_id.clone().unwrap_or_default(),
                kind: pb::Kind::from(r.kind()) as i32,
                title: r.body.title().to_owned(),
                pseudonym: p.to_string(),
                matches: ms,
            });
        }
        out.sort_by(|a, b| (a.kind, &a.local_id).cmp(&(b.kind, &b.local_id)));
        Ok(out)
    }

    /// What a record shares, or why it is held back.
    pub fn preview(&self, req: &pb::GetRequest) -> Result<Outcome> {
        let stored = self.get(req)?;
        Ok(self.anon.anonymize(&stored.record, now().date()))
    }
}

/// A record's searchable text: title, main text, and everything else (names, contacts,
/// keywords, institution: this is the city's own search, so local data is fair game).
fn searchable(body: &RecordBody) -> (String, String, String) {
    let join = |parts: &[&Option<String>]| {
        parts.iter().filter_map(|p| p.as_deref()).collect::<Vec<_>>().join(" ")
    };
    match body {
        RecordBody::Demand(d) => (
            d.title.clone(),
            d.description.clone(),
            join(&[&d.enterprise_name, &d.contact_name, &d.phone, &d.email, &d.address]),
        ),
        RecordBody::Achievement(a) => (
            a.title.clone(),
            a.abstract_text.clone(),
            format!(
                "{} {} {} {}",
                join(&[&a.institution, &a.contact_name, &a.phone, &a.email]),
                a.team.join(" "),
                a.keywords.join(" "),
                a.patent_numbers.join(" ")
            ),
        ),
        RecordBody::Expert(e) => (
            e.name.clone(),
            e.summary.clone(),
            format!(
                "{} {}",
                join(&[&e.institution, &e.rank, &e.phone, &e.email]),
                e.keywords.join(" ")
            ),
        ),
    }
}

fn row_result(row: u32, outcome: pb::RowOutcome, s: &StoredRecord) -> pb::RowResult {
    pb::RowResult {
        row,
        outcome: outcome as i32,
        local_id: s.record.local_id.to_string(),
        errors: vec![],
    }
}

/// Encodes a stored record for the intake API.
pub fn stored_to_pb(s: &StoredRecord) -> pb::StoredRecord {
    let r = &s.record;
    pb::StoredRecord {
        local_id: r.local_id.to_string(),
        external_id: r.external_id.clone().unwrap_or_default(),
        status: pb::Status::from(r.status) as i32,
        created_at_ms: i64::try_from(r.created_at.0).unwrap_or(i64::MAX),
        updated_at_ms: i64::try_from(r.updated_at.0).unwrap_or(i64::MAX),
        pseudonym: s.pseudonym.to_string(),
        body: Some(pilot_proto::convert::record_body_to_pb(&r.body)),
    }
}
