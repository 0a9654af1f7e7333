//! Conversions between `pb` wire types and the domain types of `pilot-model`, `pilot-anon` and
//! `pilot-match`, and the mapping of conversion errors to gRPC statuses.

use pilot_anon::Anonymized;
use pilot_model::{
    Achievement, BudgetBucket, CityCode, CooperationMode, Date, Demand, Expert, FieldCode,
    IndustryCode, Kind, Pseudonym, RecordBody, Status, Summary, SummaryKey, Tombstone, Trl,
    WeightedTerm, YearMonth,
};

use crate::pb;

/// A wire message that does not decode into a valid domain value.
///
/// The sender must fix the message; resending it unchanged cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A field holds an invalid value.
    #[error(transparent)]
    Invalid(#[from] pilot_model::Error),
    /// A required message or oneof is absent.
    #[error("missing required field {0}")]
    Missing(&'static str),
}

impl ConvertError {
    /// The name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ConvertError::Invalid(e) => e.field(),
            ConvertError::Missing(f) => f,
        }
    }
}

impl From<ConvertError> for tonic::Status {
    fn from(e: ConvertError) -> Self {
        tonic::Status::invalid_argument(e.to_string())
    }
}

type Result<T, E = ConvertError> = std::result::Result<T, E>;

// === enums ===

impl From<Kind> for pb::Kind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Demand => pb::Kind::Demand,
            Kind::Achievement => pb::Kind::Achievement,
            Kind::Expert => pb::Kind::Expert,
        }
    }
}

/// Decodes a wire kind; unspecified or unknown values are refused.
pub fn kind_from_pb(v: i32) -> Result<Kind> {
    match pb::Kind::try_from(v) {
        Ok(pb::Kind::Demand) => Ok(Kind::Demand),
        Ok(pb::Kind::Achievement) => Ok(Kind::Achievement),
        Ok(pb::Kind::Expert) => Ok(Kind::Expert),
        _ => Err(pilot_model::Error::invalid("kind", format!("{v} is not a kind")).into()),
    }
}

impl From<Status> for pb::Status {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => pb::Status::Draft,
            Status::Open => pb::Status::Open,
            Status::Matched => pb::Status::Matched,
            Status::Closed => pb::Status::Closed,
            Status::Withdrawn => pb::Status::Withdrawn,
        }
    }
}

/// Decodes a wire status; `Ok(None)` for unspecified, an error for unknown values.
pub fn status_from_pb(v: i32) -> Result<Option<Status>> {
    Ok(match pb::Status::try_from(v) {
        Ok(pb::Status::Unspecified) => None,
        Ok(pb::Status::Draft) => Some(Status::Draft),
        Ok(pb::Status::Open) => Some(Status::Open),
        Ok(pb::Status::Matched) => Some(Status::Matched),
        Ok(pb::Status::Closed) => Some(Status::Closed),
        Ok(pb::Status::Withdrawn) => Some(Status::Withdrawn),
        Err(_) => {
            return Err(
                pilot_model::Error::invalid("status", format!("{v} is not a status")).into()
            );
        }
    })
}

const MODES: [(CooperationMode, pb::CooperationMode); 8] = [
    (CooperationMode::SelfImplementation, pb::CooperationMode::SelfImplementation),
    (CooperationMode::Transfer, pb::CooperationMode::Transfer),
    (CooperationMode::License, pb::CooperationMode::License),
    (CooperationMode::JointImplementation, pb::CooperationMode::JointImplementation),
    (CooperationMode::EquityInvestment, pb::CooperationMode::EquityInvestment),
    (CooperationMode::OtherAgreed, pb::CooperationMode::OtherAgreed),
    (CooperationMode::CommissionedDevelopment, pb::CooperationMode::CommissionedDevelopment),
    (CooperationMode::ConsultingService, pb::CooperationMode::ConsultingService),
];

impl From<CooperationMode> for pb::CooperationMode {
    fn from(m: CooperationMode) -> Self {
        MODES.iter().find(|(d, _)| *d == m).map(|(_, w)| *w).expect("MODES lists every mode")
    }
}

/// Decodes a wire cooperation mode.
pub fn mode_from_pb(v: i32) -> Result<CooperationMode> {
    MODES.iter().find(|(_, w)| *w as i32 == v).map(|(d, _)| *d).ok_or_else(|| {
        pilot_model::Error::invalid("modes", format!("{v} is not a cooperation mode")).into()
    })
}

fn bucket_to_pb(b: Option<BudgetBucket>) -> i32 {
    b.map_or(0, |b| i32::try_from(b.rank() + 1).expect("six buckets"))
}

fn bucket_from_pb(v: i32) -> Result<Option<BudgetBucket>> {
    match usize::try_from(v) {
        Ok(0) => Ok(None),
        Ok(n) if n <= BudgetBucket::ALL.len() => Ok(Some(BudgetBucket::ALL[n - 1])),
        _ => {
            Err(pilot_model::Error::invalid("budget", format!("{v} is not a budget bucket")).into())
        }
    }
}

fn month_from_pb(field: &'static str, v: u32) -> Result<Option<YearMonth>> {
    if v == 0 {
        return Ok(None);
    }
    YearMonth::from_yyyymm(v)
        .map(Some)
        .map_err(|_| pilot_model::Error::invalid(field, format!("{v} is not YYYYMM")).into())
}

// === summaries ===

impl From<&SummaryKey> for pb::SummaryKey {
    fn from(k: &SummaryKey) -> Self {
        pb::SummaryKey { city: k.city.to_string(), pseudonym: k.pseudonym.to_string() }
    }
}

impl TryFrom<&pb::SummaryKey> for SummaryKey {
    type Error = ConvertError;
    fn try_from(k: &pb::SummaryKey) -> Result<Self> {
        Ok(SummaryKey {
            city: CityCode::parse(&k.city)?,
            pseudonym: Pseudonym::parse(&k.pseudonym)?,
        })
    }
}

/// Decodes an optional key field.
pub fn key_from_pb(field: &'static str, k: Option<&pb::SummaryKey>) -> Result<SummaryKey> {
    SummaryKey::try_from(k.ok_or(ConvertError::Missing(field))?)
}

impl From<&Anonymized<Summary>> for pb::Summary {
    fn from(a: &Anonymized<Summary>) -> Self {
        let s = a.get();
        pb::Summary {
            key: Some(pb::SummaryKey::from(&s.key)),
            kind: pb::Kind::from(s.kind) as i32,
            status: pb::Status::from(s.status) as i32,
            fields: s.fields.iter().map(|f| f.code().to_owned()).collect(),
            industries: s.industries.iter().map(|i| i.code().to_owned()).collect(),
            trl: s.trl.map_or(0, |t| u32::from(t.get())),
            modes: s.modes.iter().map(|m| pb::CooperationMode::from(*m) as i32).collect(),
            budget: bucket_to_pb(s.budget),
            updated_yyyymm: s.updated.map_or(0, YearMonth::to_yyyymm),
            deadline_yyyymm: s.deadline.map_or(0, YearMonth::to_yyyymm),
            terms: s
                .terms
                .iter()
                .map(|t| pb::WeightedTerm { term: t.term.clone(), weight: t.weight })
                .collect(),
        }
    }
}

impl TryFrom<pb::Summary> for Summary {
    type Error = ConvertError;
    fn try_from(s: pb::Summary) -> Result<Self> {
        let status = status_from_pb(s.status)?.ok_or(ConvertError::Missing("status"))?;
        let trl = match s.trl {
            0 => None,
            n => Some(Trl::new(u8::try_from(n).unwrap_or(u8::MAX))?),
        };
        let summary = Summary {
            key: key_from_pb("key", s.key.as_ref())?,
            kind: kind_from_pb(s.kind)?,
            status,
            fields: s.fields.iter().map(|f| FieldCode::parse(f)).collect::<Result<_, _>>()?,
            industries: s
                .industries
                .iter()
                .map(|i| IndustryCode::parse(i))
                .collect::<Result<_, _>>()?,
            trl,
            modes: s.modes.iter().map(|m| mode_from_pb(*m)).collect::<Result<_>>()?,
            budget: bucket_from_pb(s.budget)?,
            updated: month_from_pb("updated_yyyymm", s.updated_yyyymm)?,
            deadline: month_from_pb("deadline_yyyymm", s.deadline_yyyymm)?,
            terms: s
                .terms
                .into_iter()
                .map(|t| WeightedTerm { term: t.term, weight: t.weight })
                .collect(),
        };
        summary.validate()?;
        Ok(summary)
    }
}

impl From<&Anonymized<Tombstone>> for pb::Tombstone {
    fn from(a: &Anonymized<Tombstone>) -> Self {
        let t = a.get();
        pb::Tombstone {
            key: Some(pb::SummaryKey::from(&t.key)),
            kind: pb::Kind::from(t.kind) as i32,
        }
    }
}

impl TryFrom<pb::Tombstone> for Tombstone {
    type Error = ConvertError;
    fn try_from(t: pb::Tombstone) -> Result<Self> {
        Ok(Tombstone { key: key_from_pb("key", t.key.as_ref())?, kind: kind_from_pb(t.kind)? })
    }
}

// === matches ===

impl From<&pilot_match::Match> for pb::Match {
    fn from(m: &pilot_match::Match) -> Self {
        let e = &m.explanation;
        pb::Match {
            subject: Some(pb::SummaryKey::from(&m.subject)),
            subject_kind: pb::Kind::from(m.subject_kind) as i32,
            counterpart: Some(pb::SummaryKey::from(&m.counterpart)),
            counterpart_kind: pb::Kind::from(m.counterpart_kind) as i32,
            score: m.score,
            explanation: Some(pb::Explanation {
                shared_terms: e.shared_terms.clone(),
                shared_fields: e.shared_fields.iter().map(|f| f.code().to_owned()).collect(),
                same_category: e.same_category,
                trl: e.trl.map_or(0, |t| u32::from(t.get())),
                mode_overlap: e
                    .mode_overlap
                    .iter()
                    .map(|m| pb::CooperationMode::from(*m) as i32)
                    .collect(),
                term_score: e.term_score,
                field_score: e.field_score,
                fit_score: e.fit_score,
            }),
        }
    }
}

// === raw records (local intake only) ===

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn text(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// Collects every field error of a row instead of stopping at the first.
#[derive(Default)]
struct Errors(Vec<pilot_model::Error>);

impl Errors {
    fn take<T>(&mut self, r: pilot_model::Result<T>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    /// Parses a list column; errors name `column` (e.g. `industries`), not the item's parser.
    fn list<T>(
        &mut self,
        column: &'static str,
        items: &[String],
        parse: impl Fn(&str) -> pilot_model::Result<T>,
    ) -> Vec<T> {
        items
            .iter()
            .filter(|s| !s.trim().is_empty())
            .filter_map(|s| {
                let r = parse(s).map_err(|e| match e {
                    pilot_model::Error::InvalidField { reason, .. } => {
                        pilot_model::Error::InvalidField { field: column, reason }
                    }
                    other => other,
                });
                self.take(r)
            })
            .collect()
    }

    fn one<T>(&mut self, s: &str, parse: impl Fn(&str) -> pilot_model::Result<T>) -> Option<T> {
        if s.trim().is_empty() { None } else { self.take(parse(s)) }
    }
}

/// A decoded intake row: the body plus the ids and status that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInput {
    /// The local id to update, if given.
    pub local_id: Option<pilot_model::LocalId>,
    /// The city's own id, if given.
    pub external_id: Option<String>,
    /// The requested status, if given.
    pub status: Option<Status>,
    /// The record.
    pub body: RecordBody,
}

/// Decodes an intake row, reporting every invalid field (not just the first) and checking the
/// record's required fields.
pub fn record_input_from_pb(
    r: pb::RecordInput,
) -> std::result::Result<RecordInput, Vec<pilot_model::Error>> {
    let mut errs = Errors::default();
    let local_id = errs.one(&r.local_id, pilot_model::LocalId::parse);
    let status = match status_from_pb(r.status) {
        Ok(s) => s,
        Err(ConvertError::Invalid(e)) => {
            errs.0.push(e);
            None
        }
        Err(ConvertError::Missing(f)) => {
            errs.0.push(pilot_model::Error::MissingField { field: f });
            None
        }
    };
    let external_id = opt(&r.external_id);
    if let Some(x) = &external_id
        && x.chars().count() > 128
    {
        errs.0.push(pilot_model::Error::invalid("external_id", "longer than 128 characters"));
    }
    let body = match r.body {
        None => {
            errs.0.push(pilot_model::Error::MissingField { field: "kind" });
            None
        }
        Some(pb::record_input::Body::Demand(d)) => Some(RecordBody::Demand(Demand {
            enterprise_name: opt(&d.enterprise_name),
            credit_code: opt(&d.credit_code),
            contact_name: opt(&d.contact_name),
            phone: opt(&d.phone),
            email: opt(&d.email),
            address: opt(&d.address),
            title: d.title.trim().to_owned(),
            description: d.description.trim().to_owned(),
            industry: errs.one(&d.industry, IndustryCode::parse),
            fields: errs.list("field", &d.fields, FieldCode::parse),
            budget_cny: d.budget_cny,
            cooperation_modes: errs.list(
                "cooperation_modes",
                &d.cooperation_modes,
                CooperationMode::parse,
            ),
            deadline: errs.one(&d.deadline, |s| Date::parse("deadline", s)),
        })),
        Some(pb::record_input::Body::Achievement(a)) => {
            Some(RecordBody::Achievement(Achievement {
                institution: opt(&a.institution),
                team: a.team.iter().filter_map(|t| opt(t)).collect(),
                contact_name: opt(&a.contact_name),
                phone: opt(&a.phone),
                email: opt(&a.email),
                title: a.title.trim().to_owned(),
                abstract_text: a.r#abstract.trim().to_owned(),
                patent_numbers: a.patent_numbers.iter().filter_map(|t| opt(t)).collect(),
                keywords: a.keywords.iter().filter_map(|t| opt(t)).collect(),
                fields: errs.list("field", &a.fields, FieldCode::parse),
                industries: errs.list("industries", &a.industries, IndustryCode::parse),
                trl: match a.trl {
                    0 => None,
                    n => errs.take(Trl::new(u8::try_from(n).unwrap_or(u8::MAX))),
                },
                cooperation_modes: errs.list(
                    "cooperation_modes",
                    &a.cooperation_modes,
                    CooperationMode::parse,
                ),
                price_min_cny: a.price_min_cny,
                price_max_cny: a.price_max_cny,
            }))
        }
        Some(pb::record_input::Body::Expert(e)) => Some(RecordBody::Expert(Expert {
            name: e.name.trim().to_owned(),
            institution: opt(&e.institution),
            rank: opt(&e.rank),
            phone: opt(&e.phone),
            email: opt(&e.email),
            id_number: opt(&e.id_number),
            fields: errs.list("fields", &e.fields, FieldCode::parse),
            keywords: e.keywords.iter().filter_map(|t| opt(t)).collect(),
            summary: e.summary.trim().to_owned(),
            availability: opt(&e.availability),
        })),
    };
    if let Some(b) = &body
        && let Err(e) = b.validate()
    {
        errs.0.push(e);
    }
    match body {
        Some(body) if errs.0.is_empty() => Ok(RecordInput { local_id, external_id, status, body }),
        _ => Err(errs.0),
    }
}

/// Encodes a record body for the local intake API.
pub fn record_body_to_pb(b: &RecordBody) -> pb::stored_record::Body {
    let codes = |v: &[FieldCode]| v.iter().map(|f| f.code().to_owned()).collect();
    let modes = |v: &[CooperationMode]| v.iter().map(|m| m.code().to_owned()).collect();
    match b {
        RecordBody::Demand(d) => pb::stored_record::Body::Demand(pb::Demand {
            enterprise_name: text(&d.enterprise_name),
            credit_code: text(&d.credit_code),
            contact_name: text(&d.contact_name),
            phone: text(&d.phone),
            email: text(&d.email),
            address: text(&d.address),
            title: d.title.clone(),
            description: d.description.clone(),
            industry: d.industry.map(|i| i.code().to_owned()).unwrap_or_default(),
            fields: codes(&d.fields),
            budget_cny: d.budget_cny,
            cooperation_modes: modes(&d.cooperation_modes),
            deadline: d.deadline.map(|d| d.to_string()).unwrap_or_default(),
        }),
        RecordBody::Achievement(a) => pb::stored_record::Body::Achievement(pb::Achievement {
            institution: text(&a.institution),
            team: a.team.clone(),
            contact_name: text(&a.contact_name),
            phone: text(&a.phone),
            email: text(&a.email),
            title: a.title.clone(),
            r#abstract: a.abstract_text.clone(),
            patent_numbers: a.patent_numbers.clone(),
            keywords: a.keywords.clone(),
            fields: codes(&a.fields),
            industries: a.industries.iter().map(|i| i.code().to_owned()).collect(),
            trl: a.trl.map_or(0, |t| u32::from(t.get())),
            cooperation_modes: modes(&a.cooperation_modes),
            price_min_cny: a.price_min_cny,
            price_max_cny: a.price_max_cny,
        }),
        RecordBody::Expert(e) => pb::stored_record::Body::Expert(pb::Expert {
            name: e.name.clone(),
            institution: text(&e.institution),
            rank: text(&e.rank),
            phone: text(&e.phone),
            email: text(&e.email),
            id_number: text(&e.id_number),
            fields: codes(&e.fields),
            keywords: e.keywords.clone(),
            summary: e.summary.clone(),
            availability: text(&e.availability),
        }),
    }
}

/// Re-encodes a stored body as an intake body, e.g. to feed an export back in.
pub fn stored_body_to_input(b: pb::stored_record::Body) -> pb::record_input::Body {
    match b {
        pb::stored_record::Body::Demand(d) => pb::record_input::Body::Demand(d),
        pb::stored_record::Body::Achievement(a) => pb::record_input::Body::Achievement(a),
        pb::stored_record::Body::Expert(e) => pb::record_input::Body::Expert(e),
    }
}

/// Size of the pieces a backup file is streamed in.
pub const BACKUP_CHUNK_BYTES: usize = 1 << 20;

/// A backup file as the messages that stream it, in order.
pub fn backup_chunks(file: &[u8]) -> Vec<pb::BackupChunk> {
    file.chunks(BACKUP_CHUNK_BYTES).map(|c| pb::BackupChunk { data: c.to_vec() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand_row() -> pb::RecordInput {
        pb::RecordInput {
            external_id: "D-17".into(),
            body: Some(pb::record_input::Body::Demand(pb::Demand {
                title: "锂电池隔膜".into(),
                description: "需要高孔隙率的锂电池隔膜材料".into(),
                industry: "C38".into(),
                fields: vec!["材料科学与工程".into()],
                cooperation_modes: vec!["license".into()],
                deadline: "2027-06-30".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_row_decodes_with_codes_from_labels() {
        let r = record_input_from_pb(demand_row()).unwrap();
        let RecordBody::Demand(d) = &r.body else { panic!("not a demand") };
        assert_eq!(d.fields[0].code(), "0805");
        assert_eq!(d.industry.unwrap().code(), "38");
        assert_eq!(r.external_id.as_deref(), Some("D-17"));
        // Stored bodies re-encode to the codes.
        let pb::stored_record::Body::Demand(back) = record_body_to_pb(&r.body) else { panic!() };
        assert_eq!(back.fields, vec!["0805"]);
    }

    #[test]
    fn a_bad_row_reports_every_bad_field() {
        let mut row = demand_row();
        let Some(pb::record_input::Body::Demand(d)) = &mut row.body else { unreachable!() };
        d.industry = "C99".into();
        d.fields = vec!["9999".into()];
        d.deadline = "2027-02-30".into();
        d.title = String::new();
        let errs = record_input_from_pb(row).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field()).collect();
        assert_eq!(fields, ["industry", "field", "deadline", "title"]);
    }

    #[test]
    fn wire_summaries_are_validated() {
        let good = pb::Summary {
            key: Some(pb::SummaryKey { city: "421200".into(), pseudonym: "ab".repeat(16) }),
            kind: pb::Kind::Demand as i32,
            status: pb::Status::Open as i32,
            fields: vec!["0805".into()],
            trl: 0,
            terms: vec![pb::WeightedTerm { term: "隔膜".into(), weight: 1.0 }],
            ..Default::default()
        };
        let s = Summary::try_from(good.clone()).unwrap();
        assert_eq!(s.key.city.to_string(), "421200");

        let mut bad = good.clone();
        bad.trl = 12;
        assert_eq!(Summary::try_from(bad).unwrap_err().field(), "trl");
        let mut bad = good.clone();
        bad.kind = 0;
        assert_eq!(Summary::try_from(bad).unwrap_err().field(), "kind");
        let mut bad = good;
        bad.key = None;
        let status = tonic::Status::from(Summary::try_from(bad).unwrap_err());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
}
