//! HTTP/JSON handlers. Records travel as JSON objects with the import field names (the same keys
//! as a JSONL import line), so what the API returns can be sent back to update a record.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pilot_anon::Outcome;
use pilot_model::Kind;
use pilot_proto::pb;
use pilot_sheets::{Format, Sheet};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::intake::{Intake, stored_to_pb};
use crate::{Error, Result};

/// An error as the API reports it: a status code and `{"error": ..., "field": ...}`.
#[derive(Debug)]
pub(super) struct ApiError(StatusCode, Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (code, field) = match &e {
            Error::Invalid { field, .. } => (StatusCode::BAD_REQUEST, Some(*field)),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, None),
            Error::Conflict(_) => (StatusCode::CONFLICT, None),
            Error::HubUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
            _ => {
                tracing::error!(error = %e, "internal error");
                return ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "internal error" }),
                );
            }
        };
        ApiError(code, json!({ "error": e.to_string(), "field": field }))
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::from(Error::Invalid { field, reason: reason.into() })
}

type ApiResult<T> = std::result::Result<T, ApiError>;

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Intake) -> Result<T> + Send + 'static,
) -> ApiResult<T> {
    let intake = state.intake.clone();
    tokio::task::spawn_blocking(move || f(&intake))
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": format!("worker failed: {e}") }),
            )
        })?
        .map_err(ApiError::from)
}

fn parse_kind(s: Option<&str>) -> ApiResult<Option<Kind>> {
    match s {
        None | Some("") => Ok(None),
        Some(k) => Kind::parse(k).map(Some).map_err(|e| bad("kind", e.to_string())),
    }
}

fn kind_of(r: &pb::StoredRecord) -> Kind {
    match r.body {
        Some(pb::stored_record::Body::Achievement(_)) => Kind::Achievement,
        Some(pb::stored_record::Body::Expert(_)) => Kind::Expert,
        _ => Kind::Demand,
    }
}

/// A record as JSON: its import fields plus id, kind, status, pseudonym and timestamps.
fn record_json(r: &pb::StoredRecord) -> Value {
    let kind = kind_of(r);
    let mut buf = Vec::new();
    let mut v =
        match pilot_sheets::write_to(&mut buf, Format::Jsonl, kind, std::slice::from_ref(r), false)
        {
            Ok(()) => {
                serde_json::from_slice::<Value>(buf.trim_ascii()).unwrap_or_else(|_| json!({}))
            }
            Err(_) => json!({}),
        };
    if let Value::Object(m) = &mut v {
        m.insert("kind".into(), json!(kind.code()));
        m.insert("pseudonym".into(), json!(r.pseudonym));
        m.insert("created_at_ms".into(), json!(r.created_at_ms));
        m.insert("updated_at_ms".into(), json!(r.updated_at_ms));
    }
    v
}

fn row_json(kind: Kind, r: &pb::RowResult) -> Value {
    let outcome = match pb::RowOutcome::try_from(r.outcome) {
        Ok(pb::RowOutcome::Created) => "created",
        Ok(pb::RowOutcome::Updated) => "updated",
        Ok(pb::RowOutcome::Unchanged) => "unchanged",
        _ => "rejected",
    };
    let errors: Vec<Value> = r
        .errors
        .iter()
        .map(|e| {
            let zh = if e.message_zh.is_empty() {
                pilot_sheets::message_zh(kind, &e.field, &e.key, &e.message)
            } else {
                e.message_zh.clone()
            };
            json!({ "field": e.field, "key": e.key, "message": e.message, "message_zh": zh })
        })
        .collect();
    json!({ "row": r.row, "outcome": outcome, "local_id": r.local_id, "errors": errors })
}

fn preview_json(o: &Outcome) -> Value {
    match o {
        Outcome::Share(s) => json!({ "shared": true, "summary": s.get() }),
        Outcome::Withhold { reason, .. } => {
            json!({ "shared": false, "reason_code": reason.code(), "reason": reason.to_string() })
        }
    }
}

/// `GET /api/v1/stats`
pub(super) async fn stats(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let sync = s.sync.clone();
    let r = blocking(&s, move |i| {
        let mut r = i.stats(sync.connected())?;
        sync.fill_stats(&mut r)?;
        Ok(r)
    })
    .await?;
    let digest = r.shared_digest.unwrap_or_default();
    let state = pb::DigestState::try_from(r.digest_state).unwrap_or_default();
    Ok(Json(json!({
        "city": r.city, "demands": r.demands, "achievements": r.achievements, "experts": r.experts,
        "last_seq": r.last_seq, "acked_seq": r.acked_seq, "held_back": r.held_back, "hub_connected": r.hub_connected,
        "shared_digest": {"count": digest.count, "hash": format!("{:016x}", digest.hash)},
        "digest_state": state.as_str_name(), "digest_checked_unix_ms": r.digest_checked_unix_ms,
        "matches_updated_unix_ms": s.feed.updated_ms(),
    })))
}

/// Query of `GET /api/v1/records`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    kind: Option<String>,
    status: Option<String>,
    page_size: Option<usize>,
    page_token: Option<String>,
}

/// `GET /api/v1/records?kind=&status=&page_size=&page_token=`
pub(super) async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let kind = parse_kind(q.kind.as_deref())?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(v) => Some(pilot_model::Status::parse(v).map_err(|e| bad("status", e.to_string()))?),
    };
    let token = q.page_token.unwrap_or_default();
    let (records, next) =
        blocking(&s, move |i| i.list(kind, status, q.page_size.unwrap_or(0), &token)).await?;
    let records: Vec<Value> = records.iter().map(|r| record_json(&stored_to_pb(r))).collect();
    Ok(Json(json!({ "records": records, "next_page_token": next })))
}

/// Query naming the kind of a JSON record body.
#[derive(Debug, Deserialize)]
pub(super) struct KindQuery {
    kind: Option<String>,
}

/// Parses one JSON record (import field names) into an intake row.
fn parse_body(kind: Kind, body: &Value) -> ApiResult<pb::RecordInput> {
    let line = serde_json::to_vec(body).map_err(|e| bad("body", e.to_string()))?;
    let mut sheet =
        Sheet::from_bytes(line, Format::Jsonl, kind).map_err(|e| bad("body", e.to_string()))?;
    match sheet.next() {
        Some(row) => row.result.map_err(|errors| {
            let errors: Vec<Value> = errors.iter().map(|e| json!({ "field": e.field, "key": e.key, "message": e.message, "message_zh": e.message_zh })).collect();
            ApiError(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": "invalid record", "errors": errors }))
        }),
        None => Err(bad("body", "empty record")),
    }
}

async fn upsert_one(
    s: &AppState,
    kind: Kind,
    input: pb::RecordInput,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let report = blocking(s, move |i| i.upsert(vec![input], 1, &[])).await?;
    let row = report.rows.first().cloned().unwrap_or_default();
    let code = match pb::RowOutcome::try_from(row.outcome) {
        Ok(pb::RowOutcome::Created) => StatusCode::CREATED,
        Ok(pb::RowOutcome::Rejected) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    Ok((code, Json(row_json(kind, &row))))
}

/// `POST /api/v1/records?kind=` with a JSON record: creates it (or updates the record with its
/// `external_id` or `local_id`).
pub(super) async fn create(
    State(s): State<AppState>,
    Query(q): Query<KindQuery>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let from_body = body.get("kind").and_then(Value::as_str).map(str::to_owned);
    let kind = parse_kind(q.kind.as_deref().or(from_body.as_deref()))?
        .ok_or_else(|| bad("kind", "give ?kind=demand|achievement|expert"))?;
    let mut body = body;
    if let Value::Object(m) = &mut body {
        for k in ["kind", "pseudonym", "created_at_ms", "updated_at_ms"] {
            m.remove(k);
        }
    }
    let input = parse_body(kind, &body)?;
    upsert_one(&s, kind, input).await
}

/// `PUT /api/v1/records/{id}` with a JSON record: replaces the record's fields.
pub(super) async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = pb::GetRequest { local_id: id.clone(), ..Default::default() };
    let existing = blocking(&s, move |i| i.get(&req)).await?;
    let kind = existing.record.kind();
    let mut body = body;
    if let Value::Object(m) = &mut body {
        for k in ["kind", "pseudonym", "created_at_ms", "updated_at_ms"] {
            m.remove(k);
        }
        m.insert("local_id".into(), json!(id));
    }
    let input = parse_body(kind, &body)?;
    upsert_one(&s, kind, input).await
}

fn get_req(id: String) -> pb::GetRequest {
    pb::GetRequest { local_id: id, ..Default::default() }
}

/// `GET /api/v1/records/{id}`
pub(super) async fn get_record(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = blocking(&s, move |i| i.get(&get_req(id))).await?;
    Ok(Json(record_json(&stored_to_pb(&r))))
}

/// `DELETE /api/v1/records/{id}`
pub(super) async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = blocking(&s, move |i| i.delete(&get_req(id))).await?;
    Ok(Json(json!({ "deleted": id.to_string() })))
}

/// `POST /api/v1/records/{id}/withdraw`
pub(super) async fn withdraw(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = blocking(&s, move |i| i.withdraw(&get_req(id))).await?;
    Ok(Json(record_json(&stored_to_pb(&r))))
}

/// `GET /api/v1/records/{id}/preview`: exactly what the record shares, or why it is held back.
pub(super) async fn preview(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let o = blocking(&s, move |i| i.preview(&get_req(id))).await?;
    Ok(Json(preview_json(&o)))
}

/// `POST /api/v1/records/{id}/release`: re-check a fixed record and share it if it passes.
pub(super) async fn release(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let o = blocking(&s, move |i| i.release(&get_req(id))).await?;
    Ok(Json(preview_json(&o)))
}

/// Query of `GET /api/v1/search`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    q: String,
    kind: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/search?q=&kind=&limit=`
pub(super) async fn search(
    State(s): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let kind = parse_kind(q.kind.as_deref())?;
    let found = blocking(&s, move |i| i.search(&q.q, kind, q.limit.unwrap_or(0))).await?;
    let records: Vec<Value> = found.iter().map(|r| record_json(&stored_to_pb(r))).collect();
    Ok(Json(json!({ "records": records })))
}

/// `GET /api/v1/held`
pub(super) async fn held(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let held = blocking(&s, |i| i.held()).await?;
    let records: Vec<Value> = held
        .iter()
        .map(|h| json!({ "local_id": h.local_id, "external_id": h.external_id, "kind": kind_code(h.kind), "title": h.title, "reason_code": h.reason_code, "reason": h.reason }))
        .collect();
    Ok(Json(json!({ "records": records })))
}

fn kind_code(k: i32) -> &'static str {
    pilot_proto::convert::kind_from_pb(k).map_or("unknown", Kind::code)
}

/// Query of `GET /api/v1/ledger`.
#[derive(Debug, Deserialize)]
pub(super) struct LedgerQuery {
    local_id: Option<String>,
    limit: Option<u32>,
    page_token: Option<String>,
}

/// `GET /api/v1/ledger?local_id=&limit=&page_token=`
pub(super) async fn ledger(
    State(s): State<AppState>,
    Query(q): Query<LedgerQuery>,
) -> ApiResult<Json<Value>> {
    let req = pb::LedgerRequest {
        local_id: q.local_id.unwrap_or_default(),
        limit: q.limit.unwrap_or(0),
        page_token: q.page_token.unwrap_or_default(),
    };
    let r = blocking(&s, move |i| i.ledger(&req)).await?;
    Ok(Json(ledger_json(&r)))
}

/// The JSON form of a ledger page (shared with `pilotctl ledger --json`'s shape).
pub(crate) fn ledger_json(r: &pb::LedgerReply) -> Value {
    let entries: Vec<Value> = r
        .entries
        .iter()
        .map(|e| {
            let summary = serde_json::from_str::<Value>(&e.summary_json).unwrap_or(Value::Null);
            json!({
                "batch": e.batch, "seq": e.seq, "sent_at_ms": e.sent_at_ms, "local_id": e.local_id,
                "external_id": e.external_id, "pseudonym": e.pseudonym, "kind": kind_code(e.kind),
                "summary": summary, "tombstone_reason": if e.tombstone_reason.is_empty() { Value::Null } else { json!(e.tombstone_reason) },
                "acknowledged": e.acknowledged,
            })
        })
        .collect();
    json!({ "entries": entries, "next_page_token": r.next_page_token })
}

/// Query of `GET /api/v1/matches`.
#[derive(Debug, Deserialize)]
pub(super) struct MatchesQuery {
    per_record: Option<u32>,
    local_id: Option<String>,
}

/// `GET /api/v1/matches?per_record=&local_id=`: the hub's matches of this city's records.
pub(super) async fn matches(
    State(s): State<AppState>,
    Query(q): Query<MatchesQuery>,
) -> ApiResult<Json<Value>> {
    let per_record = q.per_record.unwrap_or(5).clamp(1, 100);
    let matches = match s.feed.matches(per_record) {
        Some(m) => m,
        None => s.hub.list_mine(per_record).await?,
    };
    let only = q.local_id.unwrap_or_default();
    let records = blocking(&s, move |i| i.join_matches(matches, &only)).await?;
    let out: Vec<Value> = records
        .iter()
        .map(|r| {
            let ms: Vec<Value> = r
                .matches
                .iter()
                .map(|m| {
                    let c = m.counterpart.clone().unwrap_or_default();
                    let e = m.explanation.clone().unwrap_or_default();
                    json!({
                        "city": c.city, "pseudonym": c.pseudonym, "kind": kind_code(m.counterpart_kind), "score": m.score,
                        "shared_terms": e.shared_terms, "shared_fields": e.shared_fields, "trl": e.trl,
                    })
                })
                .collect();
            json!({ "local_id": r.local_id, "external_id": r.external_id, "kind": kind_code(r.kind), "title": r.title, "pseudonym": r.pseudonym, "matches": ms })
        })
        .collect();
    Ok(Json(json!({ "records": out })))
}

/// Query of `POST /api/v1/import`.
#[derive(Debug, Deserialize)]
pub(super) struct ImportQuery {
    kind: Option<String>,
    format: Option<String>,
    filename: Option<String>,
}

/// `POST /api/v1/import?kind=&format=` with the file as the body (xlsx, CSV or JSONL): a
/// per-row report and counts. The format comes from `format`, the file name, or Content-Type.
pub(super) async fn import(
    State(s): State<AppState>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let name = q.filename.clone().unwrap_or_default();
    let kind = match parse_kind(q.kind.as_deref())? {
        Some(k) => k,
        None => pilot_sheets::kind_from_path(std::path::Path::new(&name)).ok_or_else(|| {
            bad("kind", "give ?kind= or a file name with demand/achievement/expert in it")
        })?,
    };
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = q
        .format
        .as_deref()
        .and_then(Format::parse)
        .or_else(|| Format::from_path(std::path::Path::new(&name)))
        .or_else(|| Format::parse(content_type))
        .ok_or_else(|| {
            bad("format", "give ?format=xlsx|csv|jsonl or a file name with that extension")
        })?;
    let sheet =
        Sheet::from_bytes(body.to_vec(), format, kind).map_err(|e| bad("file", e.to_string()))?;
    let report = blocking(&s, move |i| i.import(sheet)).await?;
    let u = &report.upsert;
    s.sync.metrics().rows_rejected.add(u64::from(u.rejected));
    let rows: Vec<Value> = u
        .rows
        .iter()
        .filter(|r| r.outcome == pb::RowOutcome::Rejected as i32)
        .map(|r| row_json(kind, r))
        .collect();
    Ok(Json(json!({
        "kind": kind.code(), "created": u.created, "updated": u.updated, "unchanged": u.unchanged, "rejected": u.rejected,
        "rejected_rows": rows, "warnings": report.warnings,
    })))
}

/// Query of `GET /api/v1/export`.
#[derive(Debug, Deserialize)]
pub(super) struct ExportQuery {
    kind: String,
    format: Option<String>,
    chinese_headers: Option<bool>,
}

/// `GET /api/v1/export?kind=&format=xlsx|csv|jsonl&chinese_headers=`: the bank as a file.
pub(super) async fn export(
    State(s): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let kind = parse_kind(Some(&q.kind))?.ok_or_else(|| bad("kind", "give ?kind="))?;
    let format = q
        .format
        .as_deref()
        .map_or(Some(Format::Xlsx), Format::parse)
        .ok_or_else(|| bad("format", "xlsx, csv or jsonl"))?;
    let zh = q.chinese_headers.unwrap_or(false);
    let bytes = blocking(&s, move |i| {
        let mut all = Vec::new();
        i.store().scan(Some(kind), |r| {
            all.push(stored_to_pb(&r));
            true
        })?;
        let mut buf = Vec::new();
        pilot_sheets::write_to(&mut buf, format, kind, &all, zh)
            .map_err(|e| Error::Invalid { field: "format", reason: e.to_string() })?;
        Ok(buf)
    })
    .await?;
    let mime = match format {
        Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Jsonl => "application/x-ndjson",
    };
    let disposition = format!("attachment; filename=\"{}s.{}\"", kind.code(), format.extension());
    Ok((
        [(header::CONTENT_TYPE, mime.to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let (store, sync, feed) = (s.intake.store().clone(), s.sync.clone(), s.feed.clone());
    let text = tokio::task::spawn_blocking(move || {
        crate::metrics::render(sync.metrics(), &store, &sync, &feed, crate::intake::now().0)
    })
    .await;
    match text {
        Ok(Ok(t)) => ([(axum::http::header::CONTENT_TYPE, pilot_config::metrics::CONTENT_TYPE)], t)
            .into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
