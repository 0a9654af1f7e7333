//! Exports import again unchanged: stored records → xlsx, CSV or JSONL (English or Chinese
//! headers) → rows whose intake records equal the originals.

#![allow(clippy::unwrap_used)]

mod common;

use pilot_model::Kind;
use pilot_proto::convert::stored_body_to_input;
use pilot_proto::pb;
use pilot_proto::pb::stored_record::Body;
use pilot_sheets::{Format, Sheet, headers, write, write_to};

fn stored(local_id: &str, external_id: &str, status: pb::Status, body: Body) -> pb::StoredRecord {
    pb::StoredRecord {
        local_id: local_id.into(),
        external_id: external_id.into(),
        status: status as i32,
        created_at_ms: 1_760_000_000_000,
        updated_at_ms: 1_760_000_000_001,
        pseudonym: "p-123".into(),
        body: Some(body),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn records() -> Vec<pb::StoredRecord> {
    vec![
        stored(
            "d-000001",
            "0012",
            pb::Status::Open,
            Body::Demand(pb::Demand {
                enterprise_name: "武汉光谷电池有限公司".into(),
                credit_code: "91420100MA4K8XXX1Y".into(),
                contact_name: "王工".into(),
                phone: "13971234567".into(),
                email: "wang@example.cn".into(),
                address: "湖北省武汉市东湖高新区高新大道 999 号".into(),
                title: "锂电池隔膜".into(),
                description: "需要高孔隙率的隔膜材料，耐高温 180℃。\n要求: \"薄\", 均匀".into(),
                industry: "38".into(),
                fields: strings(&["0805", "0817"]),
                budget_cny: Some(1_200_000),
                cooperation_modes: strings(&["license", "transfer"]),
                deadline: "2026-12-31".into(),
            }),
        ),
        stored(
            "d-000002",
            "",
            pb::Status::Draft,
            Body::Demand(pb::Demand {
                title: "工业视觉检测".into(),
                description: "产线缺陷检测".into(),
                ..Default::default()
            }),
        ),
        // A record of another bank in the middle is skipped by the demand export.
        stored(
            "e-000009",
            "E-9",
            pb::Status::Open,
            Body::Expert(pb::Expert {
                name: "不导出".into(),
                summary: "x".into(),
                ..Default::default()
            }),
        ),
        stored(
            "d-000003",
            "WH-2026-003",
            pb::Status::Closed,
            Body::Demand(pb::Demand {
                title: "储能热管理".into(),
                description: "电池包散热".into(),
                industry: "C39".into(),
                fields: strings(&["计算机科学与技术"]),
                budget_cny: Some(0),
                cooperation_modes: strings(&["委托开发"]),
                deadline: "2027-01-05".into(),
                ..Default::default()
            }),
        ),
        stored(
            "a-000001",
            "CG-1",
            pb::Status::Matched,
            Body::Achievement(pb::Achievement {
                institution: "武汉大学".into(),
                team: strings(&["张三", "李四", "Wang Wu"]),
                contact_name: "刘老师".into(),
                phone: "027-68752114".into(),
                email: "liu@whu.edu.cn".into(),
                title: "硫化物固态电解质".into(),
                r#abstract: "一种高离子电导率的硫化物固态电解质及其制备方法。".into(),
                patent_numbers: strings(&["ZL202010123456.7", "ZL 2021 1 0654321.X"]),
                keywords: strings(&["固态电池", "电解质"]),
                fields: strings(&["0805"]),
                industries: strings(&["38", "39"]),
                trl: 6,
                cooperation_modes: strings(&["license", "equity_investment"]),
                price_min_cny: Some(0),
                price_max_cny: Some(800_000),
            }),
        ),
        stored(
            "a-000002",
            "",
            pb::Status::Unspecified,
            Body::Achievement(pb::Achievement {
                title: "柔性传感器".into(),
                r#abstract: "可穿戴健康监测".into(),
                ..Default::default()
            }),
        ),
        stored(
            "a-000003",
            "CG-3",
            pb::Status::Withdrawn,
            Body::Achievement(pb::Achievement {
                title: "大额".into(),
                r#abstract: "价格超过 Excel 的精确整数范围".into(),
                trl: 9,
                price_max_cny: Some(9_007_199_254_740_993),
                ..Default::default()
            }),
        ),
        stored(
            "e-000001",
            "ZJ-001",
            pb::Status::Open,
            Body::Expert(pb::Expert {
                name: "陈七".into(),
                institution: "华中科技大学".into(),
                rank: "教授".into(),
                phone: "13800000000".into(),
                email: "chen@hust.edu.cn".into(),
                id_number: "42010619800101123X".into(),
                fields: strings(&["0805", "0811"]),
                keywords: strings(&["储能", "机器人"]),
                summary: "长期从事储能材料与机器人研究。\n主持国家重点研发计划项目。".into(),
                availability: "周末".into(),
            }),
        ),
        stored(
            "e-000002",
            "",
            pb::Status::Open,
            Body::Expert(pb::Expert {
                name: "周八".into(),
                summary: "工业软件".into(),
                ..Default::default()
            }),
        ),
    ]
}

fn kind_of(r: &pb::StoredRecord) -> Kind {
    match r.body.as_ref().unwrap() {
        Body::Demand(_) => Kind::Demand,
        Body::Achievement(_) => Kind::Achievement,
        Body::Expert(_) => Kind::Expert,
    }
}

fn expected(kind: Kind) -> Vec<pb::RecordInput> {
    records()
        .into_iter()
        .filter(|r| kind_of(r) == kind)
        .map(|r| pb::RecordInput {
            local_id: r.local_id,
            external_id: r.external_id,
            status: r.status,
            body: Some(stored_body_to_input(r.body.unwrap())),
        })
        .collect()
}

fn check(sheet: Sheet, kind: Kind, format: Format, what: &str) {
    assert!(sheet.warnings.is_empty(), "{what}: {:?}", sheet.warnings);
    let want = expected(kind);
    let hint = sheet.total_rows_hint().unwrap();
    if format == Format::Xlsx {
        assert_eq!(hint, want.len() as u64, "{what}");
    } else {
        // Lines, so cells with line breaks make it an upper bound.
        assert!(hint >= want.len() as u64, "{what}");
    }
    let rows: Vec<_> = sheet.collect();
    let first = if format == Format::Jsonl { 1 } else { 2 };
    let numbers: Vec<u32> = rows.iter().map(|r| r.row).collect();
    let want_numbers: Vec<u32> = (first..).take(want.len()).collect();
    assert_eq!(numbers, want_numbers, "{what}");
    let got: Vec<pb::RecordInput> = rows
        .into_iter()
        .map(|r| r.result.unwrap_or_else(|e| panic!("{what}: row {}: {e:?}", r.row)))
        .collect();
    assert_eq!(got, want, "{what}");
}

#[test]
fn every_format_round_trips_with_both_header_languages() {
    let dir = tempfile::tempdir().unwrap();
    let all = records();
    for kind in [Kind::Demand, Kind::Achievement, Kind::Expert] {
        for format in [Format::Xlsx, Format::Csv, Format::Jsonl] {
            for chinese in [false, true] {
                let what = format!("{kind} {format} chinese={chinese}");
                let path = dir.path().join(format!("{kind}-{chinese}.{}", format.extension()));
                write(&path, kind, &all, chinese).unwrap();
                check(Sheet::open(&path, kind).unwrap(), kind, format, &what);

                let mut buf = Vec::new();
                write_to(&mut buf, format, kind, &all, chinese).unwrap();
                check(Sheet::from_bytes(buf, format, kind).unwrap(), kind, format, &what);
            }
        }
    }
}

#[test]
fn english_exports_use_local_id_then_the_documented_headers() {
    let mut buf = Vec::new();
    write_to(&mut buf, Format::Csv, Kind::Achievement, &records(), false).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let header = text.trim_start_matches('\u{feff}').lines().next().unwrap();
    let want: Vec<&str> =
        std::iter::once("local_id").chain(headers(Kind::Achievement).iter().copied()).collect();
    assert_eq!(header, want.join(","));
}

#[test]
fn an_empty_export_still_has_a_header_and_reads_as_no_rows() {
    for format in [Format::Xlsx, Format::Csv] {
        let mut buf = Vec::new();
        write_to(&mut buf, format, Kind::Expert, &[], true).unwrap();
        let sheet = Sheet::from_bytes(buf, format, Kind::Expert).unwrap();
        assert_eq!(sheet.count(), 0, "{format}");
    }
}

#[test]
fn xlsx_export_keeps_digit_columns_as_text_and_dates_as_dates() {
    use calamine::{Data, Reader};
    let mut buf = Vec::new();
    write_to(&mut buf, Format::Xlsx, Kind::Demand, &records(), true).unwrap();
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(buf)).unwrap();
    assert_eq!(book.sheet_names(), ["技术需求"]);
    let range = book.worksheet_range("技术需求").unwrap();
    let header: Vec<String> = range.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = 1;
    assert_eq!(range.get((row, col("外部编号"))), Some(&Data::String("0012".into())));
    assert_eq!(range.get((row, col("联系电话"))), Some(&Data::String("13971234567".into())));
    assert_eq!(range.get((row, col("预算（元）"))), Some(&Data::Float(1_200_000.0)));
    assert!(matches!(range.get((row, col("截止日期"))), Some(Data::DateTime(_))));
}
