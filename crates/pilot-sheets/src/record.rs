//! Mapping between columns and the fields of the wire records: filling a `pb::RecordInput`
//! from the cells of one row, and reading the cells of one row back out of a
//! `pb::StoredRecord`.

use pilot_model::Kind;
use pilot_proto::pb;
use pilot_proto::pb::record_input::Body;

use crate::cell::{self, Cell, Problem};
use crate::columns::{Column, Field, Shape, Slot};

/// An empty intake record of the given bank.
fn empty_input(kind: Kind) -> pb::RecordInput {
    let body = match kind {
        Kind::Demand => Body::Demand(pb::Demand::default()),
        Kind::Achievement => Body::Achievement(pb::Achievement::default()),
        Kind::Expert => Body::Expert(pb::Expert::default()),
    };
    pb::RecordInput { body: Some(body), ..Default::default() }
}

/// Builds one intake record from its recognised cells, collecting every bad cell.
pub(crate) fn build<'a>(
    kind: Kind,
    cells: impl IntoIterator<Item = (Slot, &'a Cell)>,
) -> Result<pb::RecordInput, Vec<pb::FieldError>> {
    let mut input = empty_input(kind);
    let mut errors = Vec::new();
    for (slot, cell) in cells {
        if let Err(p) = fill(&mut input, slot, cell) {
            errors.push(p.into_pb(slot.column.name));
        }
    }
    if errors.is_empty() { Ok(input) } else { Err(errors) }
}

/// The value of one cell, parsed according to its column's shape.
enum Value {
    Text(String),
    List(Vec<String>),
    Amount(Option<u64>),
    Level(u32),
    Status(i32),
}

impl Value {
    fn text(self) -> String {
        match self {
            Value::Text(s) => s,
            _ => unreachable!("the column's shape is text"),
        }
    }
    fn list(self) -> Vec<String> {
        match self {
            Value::List(v) => v,
            _ => unreachable!("the column's shape is a list"),
        }
    }
    fn amount(self) -> Option<u64> {
        match self {
            Value::Amount(v) => v,
            _ => unreachable!("the column's shape is money"),
        }
    }
}

fn parse(slot: Slot, cell: &Cell) -> Result<Value, Problem> {
    Ok(match slot.column.field.shape() {
        Shape::Text { pad } => Value::Text(cell::text(cell, pad)?),
        Shape::List { pad } => Value::List(cell::list(cell, pad)?),
        Shape::Money => Value::Amount(cell::money(cell, slot.scale)?),
        Shape::Level => Value::Level(cell::level(cell)?),
        Shape::Date => Value::Text(cell::date(cell)?),
        Shape::Status => Value::Status(cell::status(cell)?),
    })
}

fn fill(input: &mut pb::RecordInput, slot: Slot, cell: &Cell) -> Result<(), Problem> {
    let field = slot.column.field;
    let v = parse(slot, cell)?;
    match (field, v) {
        (Field::LocalId, v) => input.local_id = v.text(),
        (Field::ExternalId, v) => input.external_id = v.text(),
        (Field::Status, Value::Status(s)) => input.status = s,
        (field, v) => match input.body.as_mut() {
            Some(Body::Demand(d)) => fill_demand(d, field, v),
            Some(Body::Achievement(a)) => fill_achievement(a, field, v),
            Some(Body::Expert(e)) => fill_expert(e, field, v),
            None => unreachable!("empty_input always sets a body"),
        },
    }
    Ok(())
}

// NB: the column tables only hold fields of their own bank, so the catch-all arms below are
// never reached; they ignore the value rather than panic.

fn fill_demand(d: &mut pb::Demand, field: Field, v: Value) {
    match field {
        Field::EnterpriseName => d.enterprise_name = v.text(),
        Field::CreditCode => d.credit_code = v.text(),
        Field::ContactName => d.contact_name = v.text(),
        Field::Phone => d.phone = v.text(),
        Field::Email => d.email = v.text(),
        Field::Address => d.address = v.text(),
        Field::Title => d.title = v.text(),
        Field::Description => d.description = v.text(),
        Field::Industry => d.industry = v.text(),
        Field::Fields => d.fields = v.list(),
        Field::BudgetCny => d.budget_cny = v.amount(),
        Field::CooperationModes => d.cooperation_modes = v.list(),
        Field::Deadline => d.deadline = v.text(),
        _ => {}
    }
}

fn fill_achievement(a: &mut pb::Achievement, field: Field, v: Value) {
    match (field, v) {
        (Field::Trl, Value::Level(n)) => a.trl = n,
        (Field::Institution, v) => a.institution = v.text(),
        (Field::Team, v) => a.team = v.list(),
        (Field::ContactName, v) => a.contact_name = v.text(),
        (Field::Phone, v) => a.phone = v.text(),
        (Field::Email, v) => a.email = v.text(),
        (Field::Title, v) => a.title = v.text(),
        (Field::Abstract, v) => a.r#abstract = v.text(),
        (Field::PatentNumbers, v) => a.patent_numbers = v.list(),
        (Field::Keywords, v) => a.keywords = v.list(),
        (Field::Fields, v) => a.fields = v.list(),
        (Field::Industries, v) => a.industries = v.list(),
        (Field::CooperationModes, v) => a.cooperation_modes = v.list(),
        (Field::PriceMinCny, v) => a.price_min_cny = v.amount(),
        (Field::PriceMaxCny, v) => a.price_max_cny = v.amount(),
        _ => {}
    }
}

fn fill_expert(e: &mut pb::Expert, field: Field, v: Value) {
    match field {
        Field::Name => e.name = v.text(),
        Field::Institution => e.institution = v.text(),
        Field::Rank => e.rank = v.text(),
        Field::Phone => e.phone = v.text(),
        Field::Email => e.email = v.text(),
        Field::IdNumber => e.id_number = v.text(),
        Field::Fields => e.fields = v.list(),
        Field::Keywords => e.keywords = v.list(),
        Field::Summary => e.summary = v.text(),
        Field::Availability => e.availability = v.text(),
        _ => {}
    }
}

/// One exported cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// Text (possibly empty).
    Text(String),
    /// A list of items.
    List(Vec<String>),
    /// A whole number, or nothing.
    Number(Option<u64>),
    /// A date `YYYY-MM-DD`, or empty.
    Date(String),
}

/// The bank of a stored record, if it has a body.
pub(crate) fn stored_kind(r: &pb::StoredRecord) -> Option<Kind> {
    use pb::stored_record::Body;
    match r.body.as_ref()? {
        Body::Demand(_) => Some(Kind::Demand),
        Body::Achievement(_) => Some(Kind::Achievement),
        Body::Expert(_) => Some(Kind::Expert),
    }
}

/// The cell of one column of a stored record.
pub(crate) fn out(r: &pb::StoredRecord, column: &Column) -> Out {
    use pb::stored_record::Body;
    let t = |s: &String| Out::Text(s.clone());
    let l = |v: &Vec<String>| Out::List(v.clone());
    match column.field {
        Field::LocalId => return t(&r.local_id),
        Field::ExternalId => return t(&r.external_id),
        Field::Status => {
            let code = pilot_proto::convert::status_from_pb(r.status)
                .ok()
                .flatten()
                .map_or("", |s| s.code());
            return Out::Text(code.to_owned());
        }
        _ => {}
    }
    match (r.body.as_ref(), column.field) {
        (Some(Body::Demand(d)), f) => match f {
            Field::EnterpriseName => t(&d.enterprise_name),
            Field::CreditCode => t(&d.credit_code),
            Field::ContactName => t(&d.contact_name),
            Field::Phone => t(&d.phone),
            Field::Email => t(&d.email),
            Field::Address => t(&d.address),
            Field::Title => t(&d.title),
            Field::Description => t(&d.description),
            Field::Industry => t(&d.industry),
            Field::Fields => l(&d.fields),
            Field::BudgetCny => Out::Number(d.budget_cny),
            Field::CooperationModes => l(&d.cooperation_modes),
            Field::Deadline => Out::Date(d.deadline.clone()),
            _ => Out::Text(String::new()),
        },
        (Some(Body::Achievement(a)), f) => match f {
            Field::Institution => t(&a.institution),
            Field::Team => l(&a.team),
            Field::ContactName => t(&a.contact_name),
            Field::Phone => t(&a.phone),
            Field::Email => t(&a.email),
            Field::Title => t(&a.title),
            Field::Abstract => t(&a.r#abstract),
            Field::PatentNumbers => l(&a.patent_numbers),
            Field::Keywords => l(&a.keywords),
            Field::Fields => l(&a.fields),
            Field::Industries => l(&a.industries),
            Field::Trl => Out::Number((a.trl != 0).then_some(u64::from(a.trl))),
            Field::CooperationModes => l(&a.cooperation_modes),
            Field::PriceMinCny => Out::Number(a.price_min_cny),
            Field::PriceMaxCny => Out::Number(a.price_max_cny),
            _ => Out::Text(String::new()),
        },
        (Some(Body::Expert(e)), f) => match f {
            Field::Name => t(&e.name),
            Field::Institution => t(&e.institution),
            Field::Rank => t(&e.rank),
            Field::Phone => t(&e.phone),
            Field::Email => t(&e.email),
            Field::IdNumber => t(&e.id_number),
            Field::Fields => l(&e.fields),
            Field::Keywords => l(&e.keywords),
            Field::Summary => t(&e.summary),
            Field::Availability => t(&e.availability),
            _ => Out::Text(String::new()),
        },
        (None, _) => Out::Text(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Lookup;

    #[test]
    fn every_bad_cell_is_reported_with_its_field() {
        let l = Lookup::new(Kind::Achievement);
        let cells = [
            (l.resolve("title").unwrap(), Cell::Text("固态电池".into())),
            (l.resolve("trl").unwrap(), Cell::Text("很高".into())),
            (l.resolve("最低价格").unwrap(), Cell::Text("面议".into())),
            (l.resolve("status").unwrap(), Cell::Text("archived".into())),
        ];
        let errs = build(Kind::Achievement, cells.iter().map(|(s, c)| (*s, c))).unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.key.as_str())).collect();
        assert_eq!(
            got,
            [
                ("trl", "invalid_number"),
                ("price_min_cny", "invalid_number"),
                ("status", "invalid_status")
            ]
        );
    }

    #[test]
    fn cells_fill_their_fields() {
        let l = Lookup::new(Kind::Demand);
        let cells = [
            (l.resolve("本地编号").unwrap(), Cell::Text("d-000001".into())),
            (l.resolve("需求名称").unwrap(), Cell::Text(" 隔膜 ".into())),
            (l.resolve("预算（万元）").unwrap(), Cell::Float(50.0)),
            (l.resolve("领域").unwrap(), Cell::Text("0805；0817".into())),
            (l.resolve("状态").unwrap(), Cell::Text("草稿".into())),
        ];
        let r = build(Kind::Demand, cells.iter().map(|(s, c)| (*s, c))).unwrap();
        assert_eq!(r.local_id, "d-000001");
        assert_eq!(r.status, pb::Status::Draft as i32);
        let Some(Body::Demand(d)) = r.body else { panic!("not a demand") };
        assert_eq!(d.title, "隔膜");
        assert_eq!(d.budget_cny, Some(500_000));
        assert_eq!(d.fields, ["0805", "0817"]);
    }
}
