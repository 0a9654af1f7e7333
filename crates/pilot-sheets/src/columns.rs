//! The columns of each bank: their English field names, their Chinese (and extra English)
//! header aliases, and how a header written by staff is matched to a column.
//!
//! The English names are the contract (JSON keys, English headers); the alias tables only widen
//! what is accepted on import. The first alias of each column is the header written on a Chinese
//! export, so an exported file always imports again.

use std::collections::HashMap;

use pilot_model::Kind;

/// A slot of `pb::RecordInput` that a column fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    LocalId,
    ExternalId,
    Status,
    EnterpriseName,
    CreditCode,
    ContactName,
    Phone,
    Email,
    Address,
    Title,
    Description,
    Industry,
    Fields,
    BudgetCny,
    CooperationModes,
    Deadline,
    Institution,
    Team,
    Abstract,
    PatentNumbers,
    Keywords,
    Industries,
    Trl,
    PriceMinCny,
    PriceMaxCny,
    Name,
    Rank,
    IdNumber,
    Summary,
    Availability,
}

/// How a column's cells are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Free text, trimmed; numeric cells are written out in full (no `.0`, no exponent) and
    /// zero-padded to `pad` digits (0 = no padding).
    Text { pad: usize },
    /// A list of items; numeric cells are zero-padded like [`Shape::Text`].
    List { pad: usize },
    /// An amount of yuan, optionally with 万/亿.
    Money,
    /// A small whole number (the readiness level).
    Level,
    /// A date, normalised to `YYYY-MM-DD`.
    Date,
    /// A status code or label.
    Status,
}

impl Field {
    pub(crate) fn shape(self) -> Shape {
        match self {
            Field::PatentNumbers | Field::Team | Field::Keywords | Field::CooperationModes => {
                Shape::List { pad: 0 }
            }
            // NB: a discipline code typed into Excel as 0812 is stored as the number 812 and an
            // industry division 06 as 6; padding numeric cells restores the code.
            Field::Fields => Shape::List { pad: 4 },
            Field::Industries => Shape::List { pad: 2 },
            Field::Industry => Shape::Text { pad: 2 },
            Field::BudgetCny | Field::PriceMinCny | Field::PriceMaxCny => Shape::Money,
            Field::Trl => Shape::Level,
            Field::Deadline => Shape::Date,
            Field::Status => Shape::Status,
            Field::LocalId
            | Field::ExternalId
            | Field::CreditCode
            | Field::Phone
            | Field::IdNumber
            | Field::EnterpriseName
            | Field::ContactName
            | Field::Email
            | Field::Address
            | Field::Title
            | Field::Description
            | Field::Institution
            | Field::Abstract
            | Field::Name
            | Field::Rank
            | Field::Summary
            | Field::Availability => Shape::Text { pad: 0 },
        }
    }

    /// Whether an xlsx export formats the column as text, so that Excel keeps long digit
    /// strings (phones, ids, credit codes, patent numbers) intact when staff edit them.
    pub(crate) fn keep_as_text(self) -> bool {
        matches!(
            self,
            Field::LocalId
                | Field::ExternalId
                | Field::CreditCode
                | Field::Phone
                | Field::IdNumber
                | Field::PatentNumbers
        )
    }

    /// Whether the column holds long free text (for export column widths).
    pub(crate) fn is_long_text(self) -> bool {
        matches!(self, Field::Description | Field::Abstract | Field::Summary)
    }
}

/// One column of a bank.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Column {
    /// What the column fills.
    pub(crate) field: Field,
    /// The English field name: JSON key and English header.
    pub(crate) name: &'static str,
    /// Other accepted headers; the first is the Chinese export header.
    pub(crate) aliases: &'static [&'static str],
}

const fn col(field: Field, name: &'static str, aliases: &'static [&'static str]) -> Column {
    Column { field, name, aliases }
}

const LOCAL_ID: Column = col(Field::LocalId, "local_id", &["本地编号", "本地ID", "记录ID"]);
const EXTERNAL_ID: Column = col(
    Field::ExternalId,
    "external_id",
    &["外部编号", "编号", "序号", "外部ID", "需求编号", "成果编号", "专家编号", "ID"],
);
const CONTACT_NAME: Column =
    col(Field::ContactName, "contact_name", &["联系人", "联系人姓名", "负责人", "contact"]);
const PHONE: Column = col(
    Field::Phone,
    "phone",
    &[
        "联系电话",
        "电话",
        "手机",
        "手机号",
        "手机号码",
        "电话号码",
        "联系方式",
        "联系人电话",
        "联系手机",
        "tel",
        "telephone",
        "mobile",
    ],
);
const EMAIL: Column =
    col(Field::Email, "email", &["电子邮箱", "邮箱", "电子邮件", "邮件", "联系邮箱", "mail"]);
const FIELDS_ALIASES: &[&str] =
    &["技术领域", "领域", "学科", "所属领域", "学科领域", "学科代码", "所属学科", "研究领域"];
const MODES: Column = col(
    Field::CooperationModes,
    "cooperation_modes",
    &["合作方式", "合作模式", "合作形式", "意向合作方式", "转化方式", "modes"],
);

const DEMAND: &[Column] = &[
    LOCAL_ID,
    EXTERNAL_ID,
    col(
        Field::EnterpriseName,
        "enterprise_name",
        &[
            "企业名称",
            "单位名称",
            "企业",
            "公司名称",
            "公司",
            "需求单位",
            "需求企业",
            "需求方",
            "enterprise",
            "company",
        ],
    ),
    col(
        Field::CreditCode,
        "credit_code",
        &["统一社会信用代码", "信用代码", "社会信用代码", "组织机构代码", "uscc"],
    ),
    CONTACT_NAME,
    PHONE,
    EMAIL,
    col(
        Field::Address,
        "address",
        &["地址", "通讯地址", "企业地址", "单位地址", "联系地址", "详细地址", "所在地"],
    ),
    col(
        Field::Title,
        "title",
        &["需求名称", "需求标题", "标题", "名称", "技术需求名称", "项目名称", "需求"],
    ),
    col(
        Field::Description,
        "description",
        &[
            "需求描述",
            "需求内容",
            "描述",
            "需求详情",
            "需求简介",
            "需求说明",
            "具体需求",
            "详细描述",
            "技术需求描述",
            "内容",
            "details",
        ],
    ),
    col(
        Field::Industry,
        "industry",
        &["所属行业", "行业", "行业代码", "行业分类", "行业类别", "国民经济行业"],
    ),
    col(Field::Fields, "field", FIELDS_ALIASES),
    col(
        Field::BudgetCny,
        "budget_cny",
        &["预算（元）", "预算", "预算金额", "投入预算", "拟投入资金", "拟投入金额", "budget"],
    ),
    MODES,
    col(
        Field::Deadline,
        "deadline",
        &[
            "截止日期",
            "截止时间",
            "截止",
            "截至日期",
            "截至时间",
            "有效期至",
            "需求截止日期",
            "due date",
            "due",
        ],
    ),
    col(Field::Status, "status", &["状态", "需求状态", "发布状态", "记录状态"]),
];

const ACHIEVEMENT: &[Column] = &[
    LOCAL_ID,
    EXTERNAL_ID,
    col(
        Field::Institution,
        "institution",
        &[
            "完成单位",
            "所属单位",
            "单位",
            "单位名称",
            "第一完成单位",
            "成果单位",
            "持有单位",
            "依托单位",
            "工作单位",
            "organization",
            "affiliation",
        ],
    ),
    col(
        Field::Team,
        "team",
        &[
            "团队成员",
            "完成人",
            "发明人",
            "主要完成人",
            "成果完成人",
            "团队",
            "项目组成员",
            "inventors",
            "members",
        ],
    ),
    CONTACT_NAME,
    PHONE,
    EMAIL,
    col(Field::Title, "title", &["成果名称", "项目名称", "标题", "名称", "成果", "技术名称"]),
    col(
        Field::Abstract,
        "abstract",
        &[
            "摘要",
            "成果简介",
            "简介",
            "成果摘要",
            "成果描述",
            "成果内容",
            "内容简介",
            "技术简介",
            "项目简介",
            "描述",
            "description",
            "summary",
        ],
    ),
    col(
        Field::PatentNumbers,
        "patent_numbers",
        &[
            "专利号",
            "专利",
            "专利申请号",
            "专利号/申请号",
            "授权专利",
            "知识产权",
            "patents",
            "patent",
        ],
    ),
    col(Field::Keywords, "keywords", &["关键词", "关键字", "keyword"]),
    col(Field::Fields, "field", FIELDS_ALIASES),
    col(
        Field::Industries,
        "industries",
        &["应用行业", "适用行业", "行业", "所属行业", "应用行业代码", "industry"],
    ),
    col(
        Field::Trl,
        "trl",
        &[
            "技术成熟度",
            "成熟度",
            "技术就绪度",
            "成熟度等级",
            "技术成熟度等级",
            "技术就绪水平",
            "maturity",
        ],
    ),
    MODES,
    col(
        Field::PriceMinCny,
        "price_min_cny",
        &[
            "最低价格（元）",
            "最低价格",
            "价格下限",
            "最低价",
            "意向价格下限",
            "转让价格下限",
            "min price",
            "price min",
        ],
    ),
    col(
        Field::PriceMaxCny,
        "price_max_cny",
        &[
            "最高价格（元）",
            "最高价格",
            "价格上限",
            "最高价",
            "意向价格上限",
            "转让价格上限",
            "max price",
            "price max",
        ],
    ),
    col(Field::Status, "status", &["状态", "成果状态", "发布状态", "记录状态"]),
];

const EXPERT: &[Column] = &[
    LOCAL_ID,
    EXTERNAL_ID,
    col(Field::Name, "name", &["姓名", "专家姓名", "名字", "专家"]),
    col(
        Field::Institution,
        "institution",
        &[
            "工作单位",
            "所在单位",
            "单位",
            "所属单位",
            "单位名称",
            "任职单位",
            "依托单位",
            "organization",
            "affiliation",
        ],
    ),
    col(
        Field::Rank,
        "rank",
        &["职称", "职务", "职称/职务", "职称职务", "技术职称", "职级", "头衔"],
    ),
    PHONE,
    EMAIL,
    col(
        Field::IdNumber,
        "id_number",
        &["身份证号", "身份证", "身份证号码", "证件号码", "证件号", "公民身份号码", "id card"],
    ),
    col(
        Field::Fields,
        "fields",
        &[
            "技术领域",
            "研究领域",
            "领域",
            "学科",
            "专业领域",
            "所属学科",
            "学科领域",
            "所属领域",
            "field",
        ],
    ),
    col(
        Field::Keywords,
        "keywords",
        &["关键词", "关键字", "研究方向", "专长", "专业特长", "keyword", "expertise"],
    ),
    col(
        Field::Summary,
        "summary",
        &[
            "研究方向简介",
            "研究简介",
            "简介",
            "个人简介",
            "专家简介",
            "研究内容",
            "主要成就",
            "bio",
            "profile",
        ],
    ),
    col(
        Field::Availability,
        "availability",
        &["可服务时间", "服务时间", "可服务时段", "可对接时间"],
    ),
    col(Field::Status, "status", &["状态", "专家状态", "发布状态", "记录状态"]),
];

const DEMAND_HEADERS: &[&str] = &[
    "external_id",
    "enterprise_name",
    "credit_code",
    "contact_name",
    "phone",
    "email",
    "address",
    "title",
    "description",
    "industry",
    "field",
    "budget_cny",
    "cooperation_modes",
    "deadline",
    "status",
];

const ACHIEVEMENT_HEADERS: &[&str] = &[
    "external_id",
    "institution",
    "team",
    "contact_name",
    "phone",
    "email",
    "title",
    "abstract",
    "patent_numbers",
    "keywords",
    "field",
    "industries",
    "trl",
    "cooperation_modes",
    "price_min_cny",
    "price_max_cny",
    "status",
];

const EXPERT_HEADERS: &[&str] = &[
    "external_id",
    "name",
    "institution",
    "rank",
    "phone",
    "email",
    "id_number",
    "fields",
    "keywords",
    "summary",
    "availability",
    "status",
];

/// The English field names of a bank, in column order: the JSON keys and English headers.
///
/// NB: exports add a `local_id` column (Chinese header `本地编号`) before these, so that an
/// exported file can be edited and imported again to update the same records; imports accept
/// it but never require it.
pub fn headers(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Demand => DEMAND_HEADERS,
        Kind::Achievement => ACHIEVEMENT_HEADERS,
        Kind::Expert => EXPERT_HEADERS,
    }
}

/// The Chinese header of a field (e.g. `phone` → `联系电话`), for messages to staff.
pub fn chinese_label(kind: Kind, field: &str) -> Option<&'static str> {
    let field = if field == "fields" && kind != Kind::Expert { "field" } else { field };
    columns(kind).iter().find(|c| c.name == field).and_then(|c| c.aliases.first().copied())
}

/// A Chinese message for a row error, from its stable key (e.g. `missing_field`), the field and
/// the English detail, so that staff see both languages.
pub fn message_zh(kind: Kind, field: &str, key: &str, detail: &str) -> String {
    let label = chinese_label(kind, field).map_or_else(|| field.to_owned(), str::to_owned);
    match key {
        "missing_field" => format!("「{label}」为必填项，不能为空"),
        "invalid_field" | "invalid_value" => format!("「{label}」的值无效（{detail}）"),
        "invalid_number" => format!("「{label}」不是有效的数字或金额（{detail}）"),
        "invalid_date" => format!("「{label}」不是有效的日期（{detail}）"),
        "invalid_status" => format!("「{label}」不是有效的状态（{detail}）"),
        "invalid_json" => format!("该行不是有效的 JSON（{detail}）"),
        "unknown_field" => format!("未知字段「{field}」"),
        "duplicate_field" => format!("字段「{label}」重复出现"),
        "conflict" => format!("「{label}」与已有记录冲突（{detail}）"),
        "not_found" => format!("记录不存在（{detail}）"),
        "unreadable_row" => format!("无法读取该行（{detail}）"),
        _ => format!("「{label}」有误（{detail}）"),
    }
}

/// Every column of a bank in export order: `local_id`, then [`headers`].
pub(crate) fn columns(kind: Kind) -> &'static [Column] {
    match kind {
        Kind::Demand => DEMAND,
        Kind::Achievement => ACHIEVEMENT,
        Kind::Expert => EXPERT,
    }
}

/// The columns a file of this bank must have: the title and the main text.
pub(crate) fn required(kind: Kind) -> [&'static Column; 2] {
    let find = |f: Field| {
        columns(kind).iter().find(|c| c.field == f).expect("every bank has its required columns")
    };
    match kind {
        Kind::Demand => [find(Field::Title), find(Field::Description)],
        Kind::Achievement => [find(Field::Title), find(Field::Abstract)],
        Kind::Expert => [find(Field::Name), find(Field::Summary)],
    }
}

/// Maps a full-width ASCII form (`０`, `（`, `，`, ideographic space) to its half-width form.
pub(crate) fn halfwidth(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '\u{FFE5}' => '¥',
        _ => c,
    }
}

/// The comparable form of a header: half-width, lowercase, without whitespace, `_`, `-`, `*`
/// (required-column markers), colons or a byte-order mark.
pub(crate) fn normalize(header: &str) -> String {
    header
        .chars()
        .map(halfwidth)
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '*' | ':' | '\u{feff}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Unit suffixes staff write after money headers, e.g. `预算（万元）`, with their multiplier.
const UNITS: [(&str, u64); 7] = [
    ("(万元)", 10_000),
    ("(万)", 10_000),
    ("(万元人民币)", 10_000),
    ("(元)", 1),
    ("(元人民币)", 1),
    ("(cny)", 1),
    ("(rmb)", 1),
];

/// Where a recognised header or JSON key puts its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The column.
    pub(crate) column: &'static Column,
    /// The multiplier of the header's unit, e.g. 10,000 for `预算（万元）`; 1 otherwise.
    pub(crate) scale: u64,
}

/// Resolves headers (or JSON keys) of one bank to columns.
#[derive(Debug)]
pub(crate) struct Lookup {
    by_name: HashMap<String, &'static Column>,
}

impl Lookup {
    pub(crate) fn new(kind: Kind) -> Lookup {
        let mut by_name = HashMap::new();
        for c in columns(kind) {
            by_name.insert(normalize(c.name), c);
            for a in c.aliases {
                by_name.entry(normalize(a)).or_insert(c);
            }
        }
        Lookup { by_name }
    }

    /// The column a header names, if any.
    pub(crate) fn resolve(&self, header: &str) -> Option<Slot> {
        let n = normalize(header);
        if let Some(&column) = self.by_name.get(&n) {
            return Some(Slot { column, scale: 1 });
        }
        UNITS.iter().find_map(|(unit, scale)| {
            let column = *self.by_name.get(n.strip_suffix(unit)?)?;
            (column.field.shape() == Shape::Money).then_some(Slot { column, scale: *scale })
        })
    }
}

/// A column's spreadsheet letter: 0 → `A`, 26 → `AA`.
pub(crate) fn letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = u8::try_from((n - 1) % 26).expect("below 26");
        out.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    out.iter().rev().collect()
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn chinese_labels_and_messages_name_the_field() {
        assert_eq!(chinese_label(Kind::Demand, "title"), Some("需求名称"));
        assert_eq!(
            chinese_label(Kind::Achievement, "fields"),
            chinese_label(Kind::Achievement, "field")
        );
        assert!(
            message_zh(Kind::Achievement, "trl", "invalid_field", "12 is outside 1-9")
                .contains("12 is outside 1-9")
        );
        assert_eq!(
            message_zh(Kind::Demand, "title", "missing_field", ""),
            "「需求名称」为必填项，不能为空"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 3] = [Kind::Demand, Kind::Achievement, Kind::Expert];

    #[test]
    fn headers_follow_the_column_tables() {
        for kind in KINDS {
            let names: Vec<_> = columns(kind).iter().map(|c| c.name).collect();
            assert_eq!(names[0], "local_id");
            assert_eq!(&names[1..], headers(kind), "{kind}");
        }
    }

    #[test]
    fn no_alias_is_claimed_twice_within_a_bank() {
        for kind in KINDS {
            let mut seen = HashMap::new();
            for c in columns(kind) {
                for a in std::iter::once(&c.name).chain(c.aliases) {
                    if let Some(prev) = seen.insert(normalize(a), c.name) {
                        panic!("{kind}: {a:?} maps to both {prev} and {}", c.name);
                    }
                }
            }
        }
    }

    #[test]
    fn headers_match_loosely() {
        let l = Lookup::new(Kind::Demand);
        let field = |h: &str| l.resolve(h).map(|s| (s.column.name, s.scale));
        assert_eq!(field(" External ID "), Some(("external_id", 1)));
        assert_eq!(field("BUDGET_CNY"), Some(("budget_cny", 1)));
        assert_eq!(field("预算(元)"), Some(("budget_cny", 1)));
        assert_eq!(field("预算（元）"), Some(("budget_cny", 1)));
        assert_eq!(field("预算 （ 元 ）"), Some(("budget_cny", 1)));
        assert_eq!(field("预算金额（万元）"), Some(("budget_cny", 10_000)));
        assert_eq!(field("*需求名称"), Some(("title", 1)));
        assert_eq!(field("联系电话(元)"), None);
        assert_eq!(field("备注"), None);
        let a = Lookup::new(Kind::Achievement);
        assert_eq!(a.resolve("简介").map(|s| s.column.name), Some("abstract"));
        assert_eq!(a.resolve("最低价格（元）").map(|s| s.column.name), Some("price_min_cny"));
        let e = Lookup::new(Kind::Expert);
        assert_eq!(e.resolve("简介").map(|s| s.column.name), Some("summary"));
        assert_eq!(e.resolve("Field").map(|s| s.column.name), Some("fields"));
    }

    #[test]
    fn every_export_header_resolves_to_its_own_column() {
        for kind in KINDS {
            let l = Lookup::new(kind);
            for c in columns(kind) {
                assert_eq!(l.resolve(c.aliases[0]).map(|s| s.column.name), Some(c.name));
                assert_eq!(l.resolve(c.name).map(|s| s.column.name), Some(c.name));
            }
        }
    }

    #[test]
    fn letters() {
        assert_eq!(letter(0), "A");
        assert_eq!(letter(25), "Z");
        assert_eq!(letter(26), "AA");
        assert_eq!(letter(701), "ZZ");
        assert_eq!(letter(702), "AAA");
    }
}
