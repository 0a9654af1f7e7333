//! Times reading a generated demand workbook: `cargo run --release -p pilot-sheets --example
//! read_timing -- 50000` (the row count defaults to 50,000).

#![allow(clippy::print_stdout)]

use std::time::Instant;

use pilot_model::Kind;
use pilot_proto::pb;
use pilot_sheets::{Format, Sheet, write_to};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(50_000), |s| s.parse())?;
    let records: Vec<pb::StoredRecord> = (0..n)
        .map(|i| pb::StoredRecord {
            local_id: format!("d-{i:06}"),
            external_id: format!("WH-2026-{i:05}"),
            status: pb::Status::Open as i32,
            body: Some(pb::stored_record::Body::Demand(pb::Demand {
                enterprise_name: format!("武汉光谷第{i}科技有限公司"),
                credit_code: "91420100MA4K8ABC1Y".into(),
                contact_name: "王工".into(),
                phone: format!("139{i:08}"),
                email: format!("contact{i}@example.cn"),
                address: "湖北省武汉市东湖高新区高新大道 999 号".into(),
                title: format!("锂电池隔膜材料需求 {i}"),
                description: "需要高孔隙率、耐高温的锂电池隔膜材料，孔隙率不低于 45%，\
                    180℃ 下热收缩率小于 3%，可接受委托开发或技术许可。"
                    .repeat(3),
                industry: "38".into(),
                fields: vec!["0805".into(), "0817".into()],
                budget_cny: Some(1_200_000 + i as u64),
                cooperation_modes: vec!["license".into(), "commissioned_development".into()],
                deadline: "2026-12-31".into(),
            })),
            ..Default::default()
        })
        .collect();
    let t = Instant::now();
    let mut bytes = Vec::new();
    write_to(&mut bytes, Format::Xlsx, Kind::Demand, &records, true)?;
    println!("wrote {n} rows, {} KiB, in {:.2?}", bytes.len() / 1024, t.elapsed());

    let t = Instant::now();
    let sheet = Sheet::from_bytes(bytes, Format::Xlsx, Kind::Demand)?;
    let opened = t.elapsed();
    let (mut ok, mut bad) = (0, 0);
    for row in sheet {
        if row.result.is_ok() { ok += 1 } else { bad += 1 }
    }
    println!("read {ok} rows ({bad} refused): open {opened:.2?}, total {:.2?}", t.elapsed());
    Ok(())
}
