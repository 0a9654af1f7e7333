//! City records in, outbox entries out: the node's domain logic behind the intake API.
//!
//! Every change goes through [`Intake`], which validates it, stamps it, derives its pseudonym
//! and stores it together with its outbox entry, then wakes the sync task.
//! Functions here block on the store and the anonymizer; async callers use `spawn_blocking`.

use std::sync::Arc;

use pilot_anon::{Anonymizer, Outcome};
use pilot_model::{Kind, LocalId, Record, Status, UnixMillis};
use pilot_proto::convert::{RecordInput, record_input_from_pb};
use pilot_proto::pb;
use pilot_store::{NodeStore, PutOutcome, StoredRecord};
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

/// Current time in milliseconds since the Unix epoch.
pub fn now() -> UnixMillis {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    UnixMillis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn field_error(field: &str, key: &str, message: String) -> pb::FieldError {
    pb::FieldError { field: field.to_owned(), key: key.to_owned(), message }
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
    pub fn upsert(&self, rows: Vec<pb::RecordInput>, first_row: u32) -> Result<UpsertReport> {
        let mut report = UpsertReport::default();
        let first_row = first_row.max(1);
        for (i, row) in rows.into_iter().enumerate() {
            let row_no = first_row + u32::try_from(i).unwrap_or(u32::MAX - first_row);
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
                Ok(input) => self.upsert_one(input),
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
                Err(errors) => {
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
            self.wake_sync.notify_one();
        }
        Ok(report)
    }

    fn upsert_one(
        &self,
        input: RecordInput,
    ) -> std::result::Result<PutOutcome, Vec<pb::FieldError>> {
        let store_err = |e: pilot_store::Error| match e {
            pilot_store::Error::Conflict(m) => vec![field_error("external_id", "conflict", m)],
            other => vec![field_error("", "store_unavailable", other.to_string())],
        };
        let existing = match (&input.local_id, &input.external_id) {
            (Some(id), _) => match self.store.get(id).map_err(store_err)? {
                Some(s) => Some(s),
                None => {
                    return Err(vec![field_error(
                        "local_id",
                        "not_found",
                        format!("record {id} not found"),
                    )]);
                }
            },
            (None, Some(ext)) => match self.store.find_external(ext).map_err(store_err)? {
                Some(id) => self.store.get(&id).map_err(store_err)?,
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
                local_id: self.store.allocate_local_id(input.body.kind()).map_err(store_err)?,
                external_id: input.external_id,
                status: input.status.unwrap_or(Status::Open),
                created_at: now,
                updated_at: now,
                body: input.body,
            },
        };
        let pseudonym = self.anon.pseudonym(&record.local_id);
        self.store.put(record, pseudonym).map_err(store_err)
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
        let out = match self.store.put(record, old.pseudonym)? {
            PutOutcome::Created(s) | PutOutcome::Updated(s) | PutOutcome::Unchanged(s) => s,
        };
        self.wake_sync.notify_one();
        Ok(out)
    }

    /// Deletes a record here and at the hub.
    pub fn delete(&self, req: &pb::GetRequest) -> Result<LocalId> {
        let old = self.get(req)?;
        let id = old.record.local_id;
        self.store.delete(&id)?;
        self.wake_sync.notify_one();
        Ok(id)
    }

    /// What a record shares, or why it is held back.
    pub fn preview(&self, req: &pb::GetRequest) -> Result<Outcome> {
        let stored = self.get(req)?;
        Ok(self.anon.anonymize(&stored.record))
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
