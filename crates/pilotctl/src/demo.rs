//! Demo records for `devnet`, built from the public data in `../shared/data`.
//!
//! - Demands: CSL paper titles and keywords, worded as an enterprise's need.
//! - Achievements: CSL abstracts; the source paper of every demand is placed in another city,
//!   so that the federation has real cross-region matches to find.
//! - Experts: NSFC management-science principal investigators, profiled by their project titles.
//!
//! Contacts and enterprise names are synthetic (clearly fake numbers and example.com addresses);
//! they exist to show that the anonymizer keeps them at home.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::Path;

use anyhow::Context as _;
use pilot_model::{CityCode, FieldCode};
use pilot_proto::pb;
use serde::Deserialize;

/// How many records of each kind to make per city.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DemoSize {
    /// Demands per city.
    pub demands: usize,
    /// Achievements per city (including the demands' source papers).
    pub achievements: usize,
    /// Experts per city.
    pub experts: usize,
}

#[derive(Debug, Deserialize)]
struct CslPaper {
    id: String,
    title: Option<String>,
    #[serde(rename = "abstract")]
    abstract_text: String,
    #[serde(default)]
    keywords: Vec<String>,
    discipline: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NsfcProject {
    title: String,
    institution: String,
    pi_id: String,
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{} line {}", path.display(), i + 1))?,
        );
    }
    Ok(out)
}

const FIRMS: [&str; 8] = ["华创", "恒通", "新材", "智联", "绿源", "精工", "远航", "聚能"];
const CONTACTS: [&str; 8] =
    ["张建国", "李秀英", "王志强", "刘海燕", "陈明辉", "杨丽华", "赵永刚", "黄晓峰"];
const MODES: [&str; 4] =
    ["license", "transfer", "joint_implementation", "commissioned_development"];

fn fields(discipline: Option<&str>) -> Vec<String> {
    discipline
        .and_then(|d| FieldCode::parse(d).ok())
        .map(|f| vec![f.code().to_owned()])
        .unwrap_or_default()
}

fn city_short(city: CityCode) -> String {
    city.pilot().map_or_else(|| city.to_string(), |c| c.zh.trim_end_matches('市').to_owned())
}

fn demand(p: &CslPaper, city: CityCode, i: usize) -> pb::RecordInput {
    let title = p.title.clone().unwrap_or_default();
    let contact = CONTACTS[i % CONTACTS.len()];
    let phone = format!("1380000{:04}", i % 10_000);
    pb::RecordInput {
        external_id: format!("{}/demand", p.id),
        body: Some(pb::record_input::Body::Demand(pb::Demand {
            enterprise_name: format!("{}{}科技有限公司", city_short(city), FIRMS[i % FIRMS.len()]),
            contact_name: contact.to_owned(),
            phone: phone.clone(),
            email: format!("demand{i}@example.com"),
            title: format!("寻求{title}相关技术"),
            description: format!(
                "本企业希望引进与“{title}”相关的技术成果或专家支持，重点关注：{}。联系人{contact}，电话{phone}。",
                p.keywords.join("、")
            ),
            fields: fields(p.discipline.as_deref()),
            budget_cny: Some(200_000 + (i as u64 % 20) * 150_000),
            cooperation_modes: vec![MODES[i % MODES.len()].to_owned()],
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn achievement(p: &CslPaper, i: usize) -> pb::RecordInput {
    let title = p.title.clone().unwrap_or_else(|| p.abstract_text.chars().take(24).collect());
    pb::RecordInput {
        external_id: format!("{}/achievement", p.id),
        body: Some(pb::record_input::Body::Achievement(pb::Achievement {
            institution: format!("示范研究院第{}研究所", i % 40 + 1),
            contact_name: CONTACTS[(i + 3) % CONTACTS.len()].to_owned(),
            email: format!("tto{i}@example.com"),
            title,
            r#abstract: p.abstract_text.clone(),
            keywords: p.keywords.clone(),
            fields: fields(p.discipline.as_deref()),
            trl: u32::try_from(i % 9 + 1).expect("1-9"),
            cooperation_modes: vec![
                MODES[(i + 1) % MODES.len()].to_owned(),
                MODES[i % MODES.len()].to_owned(),
            ],
            price_max_cny: Some(300_000 + (i as u64 % 30) * 100_000),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn expert(pi: &str, projects: &[&NsfcProject], i: usize) -> pb::RecordInput {
    let titles: Vec<&str> = projects.iter().map(|p| p.title.as_str()).collect();
    pb::RecordInput {
        external_id: format!("{pi}/expert"),
        body: Some(pb::record_input::Body::Expert(pb::Expert {
            // The data set carries no names; the pseudonymous PI id stands in for one.
            name: format!("NSFC {pi}"),
            institution: projects[0].institution.clone(),
            rank: "教授".into(),
            email: format!("expert{i}@example.com"),
            summary: format!("主持国家自然科学基金项目：{}。", titles.join("；")),
            fields: vec!["1202".into()],
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Builds each city's demo records from `data` (the `shared/data` directory).
pub(crate) fn build(
    data: &Path,
    cities: &[CityCode],
    size: DemoSize,
) -> anyhow::Result<BTreeMap<CityCode, Vec<pb::RecordInput>>> {
    let n = cities.len();
    anyhow::ensure!(n > 0, "no cities");
    let papers: Vec<CslPaper> = read_jsonl(&data.join("csl/csl_merged.jsonl"))?;
    let projects: Vec<NsfcProject> =
        read_jsonl(&data.join("nsfc-mgmt-projects/nsfc_mgmt_projects.jsonl"))?;
    let mut out: BTreeMap<CityCode, Vec<pb::RecordInput>> =
        cities.iter().map(|c| (*c, Vec::new())).collect();
    let mut push = |slot: usize, r: pb::RecordInput| {
        out.get_mut(&cities[slot % n]).expect("every city has a list").push(r)
    };

    // Demands from complete papers; each source abstract goes to a different city.
    let complete: Vec<&CslPaper> = papers
        .iter()
        .filter(|p| p.title.is_some() && !p.keywords.is_empty() && p.discipline.is_some())
        .collect();
    let total_demands = (size.demands * n).min(complete.len());
    let mut used = std::collections::HashSet::new();
    for (j, p) in complete.iter().take(total_demands).enumerate() {
        push(j, demand(p, cities[j % n], j));
        let offset = if n > 1 { 1 + (j / n) % (n - 1) } else { 0 };
        push(j % n + offset, achievement(p, j));
        used.insert(p.id.as_str());
    }
    // The rest of the achievement bank.
    let extra = (size.achievements * n).saturating_sub(total_demands);
    for (j, p) in papers.iter().filter(|p| !used.contains(p.id.as_str())).take(extra).enumerate() {
        push(j, achievement(p, total_demands + j));
    }
    // Experts: principal investigators with at least two projects, in order of appearance.
    let mut by_pi: BTreeMap<&str, Vec<&NsfcProject>> = BTreeMap::new();
    let mut order = Vec::new();
    for p in &projects {
        let list = by_pi.entry(p.pi_id.as_str()).or_default();
        if list.is_empty() {
            order.push(p.pi_id.as_str());
        }
        list.push(p);
    }
    for (j, pi) in
        order.into_iter().filter(|pi| by_pi[pi].len() >= 2).take(size.experts * n).enumerate()
    {
        push(j, expert(pi, &by_pi[pi], j));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demands_and_their_source_papers_land_in_different_cities() {
        let data = crate::default_demo_data();
        if !data.join("csl/csl_merged.jsonl").exists() {
            panic!("the shared data set is expected beside the checkout at {}", data.display());
        }
        let cities: Vec<CityCode> =
            pilot_model::PILOT_CITIES.iter().take(3).map(|c| c.city_code()).collect();
        let built =
            build(&data, &cities, DemoSize { demands: 4, achievements: 10, experts: 2 }).unwrap();
        let mut home: BTreeMap<String, CityCode> = BTreeMap::new();
        for (city, records) in &built {
            assert_eq!(records.iter().filter(|r| r.external_id.ends_with("/demand")).count(), 4);
            assert_eq!(
                records.iter().filter(|r| r.external_id.ends_with("/achievement")).count(),
                10
            );
            assert_eq!(records.iter().filter(|r| r.external_id.ends_with("/expert")).count(), 2);
            for r in records {
                home.insert(r.external_id.clone(), *city);
            }
        }
        for (ext, city) in &home {
            if let Some(paper) = ext.strip_suffix("/demand") {
                assert_ne!(home[&format!("{paper}/achievement")], *city, "{paper}");
            }
        }
    }
}
