//! Imports of hand-made files in each format: header spellings (English, Chinese, mixed),
//! cell syntax (lists, amounts in 万, full-width digits, dates, numeric phones), bad rows and
//! file-level errors.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use pilot_model::Kind;
use pilot_proto::pb;
use pilot_sheets::{Error, Format, Row, Sheet, kind_from_path};

use common::{X, achievement, demand, errors, expert, file, xlsx};

fn read(bytes: &[u8], format: Format, kind: Kind) -> (Vec<String>, Vec<Row>) {
    let mut sheet = Sheet::from_bytes(bytes.to_vec(), format, kind).unwrap();
    let rows: Vec<Row> = sheet.by_ref().collect();
    (sheet.warnings, rows)
}

fn open_err(bytes: &[u8], format: Format, kind: Kind) -> Error {
    Sheet::from_bytes(bytes.to_vec(), format, kind).unwrap_err()
}

// === CSV ===

#[test]
fn csv_with_english_headers() {
    let csv = "\u{feff}external_id,enterprise_name,credit_code,contact_name,phone,email,address,title,description,industry,field,budget_cny,cooperation_modes,deadline,status\n\
        D-1,武汉光谷电池有限公司,91420100MA4K,王工,13971234567,wang@example.cn,武汉市东湖高新区,锂电池隔膜,\"需要高孔隙率的隔膜, 耐高温\",C38,0805；0817,\"1,200,000\",license、transfer,2026/12/31,open\n";
    let (warnings, rows) = read(csv.as_bytes(), Format::Csv, Kind::Demand);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row, 2);
    let input = rows[0].result.as_ref().unwrap();
    assert_eq!(input.external_id, "D-1");
    assert_eq!(input.status, pb::Status::Open as i32);
    let d = demand(&rows[0]);
    assert_eq!(
        d,
        &pb::Demand {
            enterprise_name: "武汉光谷电池有限公司".into(),
            credit_code: "91420100MA4K".into(),
            contact_name: "王工".into(),
            phone: "13971234567".into(),
            email: "wang@example.cn".into(),
            address: "武汉市东湖高新区".into(),
            title: "锂电池隔膜".into(),
            description: "需要高孔隙率的隔膜, 耐高温".into(),
            industry: "C38".into(),
            fields: vec!["0805".into(), "0817".into()],
            budget_cny: Some(1_200_000),
            cooperation_modes: vec!["license".into(), "transfer".into()],
            deadline: "2026-12-31".into(),
        }
    );
}

#[test]
fn csv_with_chinese_headers_amounts_and_dates() {
    let csv = "序号,企业名称,联系人,手机,需求名称,需求描述,所属行业,技术领域,预算（元）,合作方式,截止日期,状态\n\
        １,甲公司,李四,１３９７１２３４５６７,工业视觉检测,产线缺陷检测,39,计算机科学与技术|控制科学与工程,１２０万,委托开发,2026年12月31日,开放\n\
        2,乙公司,,,储能热管理,电池包散热,38,,12.5万元,\"技术咨询服务\n委托开发\",2027.1.5,\n";
    let (warnings, rows) = read(csv.as_bytes(), Format::Csv, Kind::Demand);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 3]);
    let input = rows[0].result.as_ref().unwrap();
    assert_eq!(input.external_id, "１", "text is kept as typed");
    let d = demand(&rows[0]);
    assert_eq!(d.phone, "１３９７１２３４５６７");
    assert_eq!(d.budget_cny, Some(1_200_000));
    assert_eq!(d.fields, ["计算机科学与技术", "控制科学与工程"]);
    assert_eq!(d.deadline, "2026-12-31");
    assert_eq!(input.status, pb::Status::Open as i32);
    let d = demand(&rows[1]);
    assert_eq!(d.budget_cny, Some(125_000));
    assert_eq!(d.cooperation_modes, ["技术咨询服务", "委托开发"]);
    assert_eq!(d.deadline, "2027-01-05");
    assert!(d.fields.is_empty());
    assert_eq!(rows[1].result.as_ref().unwrap().status, 0);
}

#[test]
fn csv_with_mixed_headers_and_a_unit_in_the_header() {
    let csv = "Title,成果简介,Institution,发明人,专利号,关键词,技术成熟度,最低价格（万元）,Price Max (CNY),应用行业\n\
        固态电解质,一种硫化物固态电解质,武汉大学,张三、李四,ZL202010123456.7;ZL202110654321.X,固态电池,TRL 6,50,\"800,000\",38；39\n";
    let (warnings, rows) = read(csv.as_bytes(), Format::Csv, Kind::Achievement);
    assert!(warnings.is_empty(), "{warnings:?}");
    let a = achievement(&rows[0]);
    assert_eq!(a.title, "固态电解质");
    assert_eq!(a.r#abstract, "一种硫化物固态电解质");
    assert_eq!(a.team, ["张三", "李四"]);
    assert_eq!(a.patent_numbers, ["ZL202010123456.7", "ZL202110654321.X"]);
    assert_eq!(a.trl, 6);
    assert_eq!(a.price_min_cny, Some(500_000));
    assert_eq!(a.price_max_cny, Some(800_000));
    assert_eq!(a.industries, ["38", "39"]);
}

#[test]
fn csv_bad_cells_are_row_errors_and_good_rows_survive() {
    let csv = "title,description,budget_cny,deadline,status\n\
        好行,内容,100,2026-01-01,open\n\
        坏预算,内容,面议,2026-01-01,open\n\
        ,,,,\n\
        坏日期和状态,内容,5万,下个月,进行中\n\
        \n\
        好行二,内容,,,\n";
    let (_, rows) = read(csv.as_bytes(), Format::Csv, Kind::Demand);
    let summary: Vec<(u32, bool)> = rows.iter().map(|r| (r.row, r.result.is_ok())).collect();
    assert_eq!(summary, [(2, true), (3, false), (5, false), (7, true)]);
    assert_eq!(errors(&rows[1]), [("budget_cny".to_owned(), "invalid_number".to_owned())]);
    assert_eq!(
        errors(&rows[2]),
        [
            ("deadline".to_owned(), "invalid_date".to_owned()),
            ("status".to_owned(), "invalid_status".to_owned())
        ]
    );
    let msg = &rows[1].result.as_ref().unwrap_err()[0].message;
    assert_eq!(msg, "invalid budget_cny: \"面议\" is not a whole amount of yuan");
}

#[test]
fn csv_missing_required_column_is_a_file_error() {
    let err = open_err("需求名称,企业名称\nx,y\n".as_bytes(), Format::Csv, Kind::Demand);
    assert!(
        matches!(err, Error::MissingColumn { column: "description", label: "需求描述" }),
        "{err}"
    );
    assert_eq!(err.to_string(), "missing required column \"description\" (需求描述)");
    let err = open_err(b"", Format::Csv, Kind::Expert);
    assert!(matches!(err, Error::Empty), "{err}");
    let err = open_err("姓名\n张三\n".as_bytes(), Format::Csv, Kind::Expert);
    assert!(matches!(err, Error::MissingColumn { column: "summary", .. }), "{err}");
}

#[test]
fn csv_unknown_columns_are_warnings() {
    let csv = "姓名,备注,简介,,Hobby\n张三,很好,研究储能,x,chess\n";
    let (warnings, rows) = read(csv.as_bytes(), Format::Csv, Kind::Expert);
    assert_eq!(
        warnings,
        [
            "column B \"备注\" is not a known expert column and was ignored",
            "column E \"Hobby\" is not a known expert column and was ignored"
        ]
    );
    assert_eq!(expert(&rows[0]).summary, "研究储能");
}

// === xlsx ===

#[test]
fn xlsx_with_english_headers_real_dates_and_numeric_cells() {
    use X::{D, E, N, S};
    let bytes = xlsx(&[
        vec![
            S("external_id"),
            S("title"),
            S("description"),
            S("phone"),
            S("budget_cny"),
            S("deadline"),
            S("field"),
            S("industry"),
            S("credit_code"),
        ],
        vec![
            N(17.0),
            S("隔膜"),
            S("孔隙率"),
            N(13_971_234_567.0),
            N(1_200_000.0),
            D(2026, 12, 31),
            N(812.0),
            N(6.0),
            S("91420100MA4KXXXX1X"),
        ],
        vec![E, E, E, E, E, E, E, E, E],
        vec![
            S("D-2"),
            S("视觉"),
            S("检测"),
            S("027-87654321"),
            S("50万"),
            S("2027/3/1"),
            S("0812;0811"),
            S("C39"),
            E,
        ],
        vec![S("D-3"), S("序列号日期"), S("x"), E, N(12.5), N(46387.0), E, E, E],
    ]);
    let (warnings, rows) = read(&bytes, Format::Xlsx, Kind::Demand);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 4, 5]);
    assert_eq!(rows[0].result.as_ref().unwrap().external_id, "17");
    let d = demand(&rows[0]);
    assert_eq!(d.phone, "13971234567");
    assert_eq!(d.budget_cny, Some(1_200_000));
    assert_eq!(d.deadline, "2026-12-31");
    assert_eq!(d.fields, ["0812"], "numeric discipline codes get their leading zero back");
    assert_eq!(d.industry, "06");
    let d = demand(&rows[1]);
    assert_eq!((d.phone.as_str(), d.budget_cny), ("027-87654321", Some(500_000)));
    assert_eq!(d.deadline, "2027-03-01");
    assert_eq!(d.fields, ["0812", "0811"]);
    assert_eq!(errors(&rows[2]), [("budget_cny".to_owned(), "invalid_number".to_owned())]);
}

#[test]
fn xlsx_with_chinese_headers_below_a_title_row() {
    use X::{D, E, N, S};
    let bytes = xlsx(&[
        vec![S("2026年第三季度科技成果清单")],
        vec![
            S("成果名称"),
            S("成果简介"),
            S("完成单位"),
            S("团队成员"),
            S("技术成熟度"),
            S("最低价格"),
            S("最高价格(万元)"),
            S("状态"),
            S("填表人"),
        ],
        vec![
            S("柔性传感器"),
            S("可穿戴健康监测"),
            S("华中科技大学"),
            S("王五\n赵六"),
            N(7.0),
            S("３０万"),
            N(80.0),
            S("草稿"),
            S("小刘"),
        ],
        vec![S("坏成熟度"), S("x"), E, E, S("很高"), E, E, E, E],
        vec![S("日期当文本"), S("x"), E, E, D(2026, 1, 2), E, E, E, E],
    ]);
    let (warnings, rows) = read(&bytes, Format::Xlsx, Kind::Achievement);
    assert_eq!(
        warnings,
        [
            "row 2 is the header row; the rows above it were ignored",
            "column I \"填表人\" is not a known achievement column and was ignored"
        ]
    );
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [3, 4, 5]);
    let a = achievement(&rows[0]);
    assert_eq!(a.team, ["王五", "赵六"]);
    assert_eq!((a.trl, a.price_min_cny, a.price_max_cny), (7, Some(300_000), Some(800_000)));
    assert_eq!(rows[0].result.as_ref().unwrap().status, pb::Status::Draft as i32);
    assert_eq!(errors(&rows[1]), [("trl".to_owned(), "invalid_number".to_owned())]);
    assert_eq!(errors(&rows[2]), [("trl".to_owned(), "invalid_number".to_owned())]);
}

#[test]
fn xlsx_with_mixed_headers_for_experts() {
    use X::{E, N, S};
    let bytes = xlsx(&[
        vec![S("Name"), S("研究方向简介"), S("身份证号"), S("Fields"), S("职称"), S("可服务时间")],
        vec![
            S("陈七"),
            S("储能材料"),
            N(420_106_198_001_011_000.0),
            N(805.0),
            S("教授"),
            S("周末"),
        ],
        vec![S("周八"), S("机器人"), S("42010619800101123X"), S("0811、0812"), E, E],
    ]);
    let (_, rows) = read(&bytes, Format::Xlsx, Kind::Expert);
    let e = expert(&rows[0]);
    assert_eq!(e.id_number, "420106198001011000", "no exponent, no .0");
    assert_eq!(e.fields, ["0805"]);
    assert_eq!((e.rank.as_str(), e.availability.as_str()), ("教授", "周末"));
    let e = expert(&rows[1]);
    assert_eq!(e.id_number, "42010619800101123X");
    assert_eq!(e.fields, ["0811", "0812"]);
}

#[test]
fn xlsx_missing_required_column_and_empty_workbook() {
    use X::S;
    let bytes = xlsx(&[vec![S("成果名称"), S("完成单位")], vec![S("x"), S("y")]]);
    let err = open_err(&bytes, Format::Xlsx, Kind::Achievement);
    assert!(matches!(err, Error::MissingColumn { column: "abstract", label: "摘要" }), "{err}");
    let err = open_err(&xlsx(&[]), Format::Xlsx, Kind::Achievement);
    assert!(matches!(err, Error::Empty), "{err}");
    let err = open_err(b"not a workbook", Format::Xlsx, Kind::Achievement);
    assert!(matches!(err, Error::InvalidFile { .. }), "{err}");
}

#[test]
fn xlsx_data_on_a_later_worksheet_is_found() {
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet()
        .set_name("填写说明")
        .unwrap()
        .write_string(0, 0, "请从第二页填写")
        .unwrap();
    let s = book.add_worksheet();
    s.write_string(0, 0, "姓名").unwrap();
    s.write_string(0, 1, "简介").unwrap();
    s.write_string(1, 0, "张三").unwrap();
    s.write_string(1, 1, "研究储能").unwrap();
    let (warnings, rows) = read(&book.save_to_buffer().unwrap(), Format::Xlsx, Kind::Expert);
    assert_eq!(
        warnings,
        ["read worksheet \"Sheet2\": the worksheets before it have no expert header row"]
    );
    assert_eq!(expert(&rows[0]).name, "张三");
}

// === JSONL ===

#[test]
fn jsonl_with_english_chinese_and_mixed_keys() {
    let data = r#"{"external_id":"E-1","name":"张三","summary":"储能","fields":["0805","0817"],"keywords":"电池；储能","phone":13971234567,"status":"open"}
{"姓名":"李四","研究简介":"机器人","身份证号":"42010619800101123X","技术领域":"0811、0812","状态":"已关闭"}
{"name":"王五","简介":"材料","rank":null,"keywords":[]}
"#;
    let (warnings, rows) = read(data.as_bytes(), Format::Jsonl, Kind::Expert);
    assert!(warnings.is_empty());
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [1, 2, 3]);
    let e = expert(&rows[0]);
    assert_eq!(e.fields, ["0805", "0817"]);
    assert_eq!(e.keywords, ["电池", "储能"]);
    assert_eq!(e.phone, "13971234567");
    let e = expert(&rows[1]);
    assert_eq!((e.name.as_str(), e.summary.as_str()), ("李四", "机器人"));
    assert_eq!(e.fields, ["0811", "0812"]);
    assert_eq!(rows[1].result.as_ref().unwrap().status, pb::Status::Closed as i32);
    assert_eq!(expert(&rows[2]).summary, "材料");
}

#[test]
fn jsonl_amounts_and_dates() {
    let data = r#"{"title":"a","description":"b","budget_cny":"120万","deadline":"2026年12月31日"}
{"title":"a","description":"b","budget_cny":1200000.0,"deadline":20261231}
{"title":"a","description":"b","预算（万元）":12.5}
"#;
    let (_, rows) = read(data.as_bytes(), Format::Jsonl, Kind::Demand);
    for r in &rows[..2] {
        assert_eq!(demand(r).budget_cny, Some(1_200_000));
        assert_eq!(demand(r).deadline, "2026-12-31");
    }
    assert_eq!(demand(&rows[2]).budget_cny, Some(125_000));
}

#[test]
fn jsonl_malformed_lines_are_row_errors() {
    let data = "{\"title\":\"好\",\"description\":\"行\"}\n\
        {\"title\": \"坏\n\
        [1,2]\n\
        \n\
        {\"title\":\"x\",\"description\":\"y\",\"colour\":\"red\",\"budget_cny\":{\"a\":1}}\n\
        {\"title\":[\"a\",\"b\"],\"description\":\"y\"}\n\
        {\"title\":\"好二\",\"description\":\"行\",\"budget_cny\":\"6\"}";
    let (_, rows) = read(data.as_bytes(), Format::Jsonl, Kind::Demand);
    let summary: Vec<(u32, bool)> = rows.iter().map(|r| (r.row, r.result.is_ok())).collect();
    assert_eq!(summary, [(1, true), (2, false), (3, false), (5, false), (6, false), (7, true)]);
    assert_eq!(errors(&rows[1]), [(String::new(), "invalid_json".to_owned())]);
    let msg = &rows[1].result.as_ref().unwrap_err()[0].message;
    assert!(msg.starts_with("invalid json at column "), "{msg}");
    assert_eq!(errors(&rows[2]), [(String::new(), "invalid_json".to_owned())]);
    assert_eq!(
        errors(&rows[3]),
        [
            ("colour".to_owned(), "unknown_field".to_owned()),
            ("budget_cny".to_owned(), "invalid_value".to_owned())
        ]
    );
    assert_eq!(errors(&rows[4]), [("title".to_owned(), "invalid_value".to_owned())]);
    assert_eq!(demand(&rows[5]).budget_cny, Some(6));
}

// === files ===

#[test]
fn open_takes_the_format_from_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let csv = file(dir.path(), "2026年需求清单.CSV", "title,description\na,b\n".as_bytes());
    let jsonl =
        file(dir.path(), "experts.jsonl", "{\"name\":\"a\",\"summary\":\"b\"}\n".as_bytes());
    let book = xlsx(&[vec![X::S("标题"), X::S("摘要")], vec![X::S("a"), X::S("b")]]);
    let xlsx_path = file(dir.path(), "成果.xlsx", &book);
    // A workbook saved with the legacy extension is still read by its content.
    let xls_path = file(dir.path(), "成果.xls", &book);
    for (path, n) in [(&csv, 1), (&jsonl, 1), (&xlsx_path, 1), (&xls_path, 1)] {
        let kind = kind_from_path(path).unwrap();
        let sheet = Sheet::open(path, kind).unwrap();
        assert_eq!(sheet.total_rows_hint(), Some(1), "{}", path.display());
        assert_eq!(sheet.count(), n, "{}", path.display());
    }
    let other = file(dir.path(), "demands.txt", b"x");
    let err = Sheet::open(&other, Kind::Demand).unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat(ref n) if n == "demands.txt"), "{err}");
    let err = Sheet::open(&dir.path().join("absent.csv"), Kind::Demand).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
}

#[test]
fn a_large_csv_is_streamed() {
    const ROWS: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demands.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(w, "external_id,title,description,budget_cny,field,deadline").unwrap();
    for i in 0..ROWS {
        writeln!(
            w,
            "D-{i},需求{i},一段相当长的需求描述，用来让文件变大一些,{i}万,0812；0805,2026-12-31"
        )
        .unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let sheet = Sheet::open(&path, Kind::Demand).unwrap();
    assert_eq!(sheet.total_rows_hint(), Some(ROWS));
    let mut n = 0u64;
    let mut last = 0;
    for row in sheet {
        let d = demand(&row);
        assert_eq!(d.budget_cny, Some(n * 10_000));
        last = row.row;
        n += 1;
    }
    assert_eq!(n, ROWS);
    assert_eq!(u64::from(last), ROWS + 1);
}
