//! The national vocabularies: record kinds and statuses, cooperation modes (Art. 16 of the Law on
//! Promoting the Transformation of S&T Achievements), GB/T 22900 readiness levels, the 67 CSL
//! disciplines with their degree-catalogue codes, and GB/T 4754-2017 industry divisions.
//!
//! Every enum has a stable `code()` (used in files and on the wire), and Chinese and English
//! labels; parsing accepts any of the three so that staff can type what they see on screen.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Declares a closed vocabulary as an enum with code, Chinese and English labels.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($(#[$vmeta:meta])* $variant:ident = ($code:literal, $zh:literal, $en:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code used in files and on the wire.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The Chinese label.
            pub fn zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }

            /// The English label.
            pub fn en(self) -> &'static str {
                match self { $($name::$variant => $en),+ }
            }

            /// Parses a code, a Chinese label or an English label (case-insensitive).
            pub fn parse(s: &str) -> Result<Self> {
                let t = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code().eq_ignore_ascii_case(t) || v.zh() == t || v.en().eq_ignore_ascii_case(t))
                    .ok_or_else(|| Error::invalid($field, format!(
                        "{t:?} is not one of {}",
                        Self::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", ")
                    )))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.code().to_owned()
            }
        }
    };
}

vocabulary!(
    /// The three banks a node keeps.
    Kind, "kind", {
        /// An enterprise's technology need.
        Demand = ("demand", "技术需求", "demand"),
        /// A transferable S&T result.
        Achievement = ("achievement", "科技成果", "achievement"),
        /// A researcher who can consult or co-develop.
        Expert = ("expert", "专家", "expert"),
    }
);

impl Kind {
    /// Whether this kind is on the supply side (answers demands).
    pub fn is_supply(self) -> bool {
        !matches!(self, Kind::Demand)
    }
}

vocabulary!(
    /// A record's life-cycle state.
    Status, "status", {
        /// Being written; not shared.
        Draft = ("draft", "草稿", "draft"),
        /// Published and shared with the hub.
        Open = ("open", "开放", "open"),
        /// A counterpart was found; still shared.
        Matched = ("matched", "已对接", "matched"),
        /// Done; no longer shared.
        Closed = ("closed", "已关闭", "closed"),
        /// Withdrawn by its owner; no longer shared.
        Withdrawn = ("withdrawn", "已撤回", "withdrawn"),
    }
);

impl Status {
    /// Whether a record in this state is shared with the hub at all.
    pub fn is_shared(self) -> bool {
        matches!(self, Status::Open | Status::Matched)
    }
}

vocabulary!(
    /// How a result may change hands: the six modes of Art. 16 of the Law on Promoting the
    /// Transformation of S&T Achievements, plus commissioned development and consulting.
    CooperationMode, "cooperation_modes", {
        /// 自行投资实施转化.
        SelfImplementation = ("self_implementation", "自行投资实施转化", "self-implementation"),
        /// 向他人转让.
        Transfer = ("transfer", "转让", "transfer"),
        /// 许可他人使用.
        License = ("license", "许可", "license"),
        /// 以该科技成果作为合作条件，与他人共同实施转化.
        JointImplementation = ("joint_implementation", "合作实施", "joint implementation"),
        /// 以该科技成果作价投资，折算股份或者出资比例.
        EquityInvestment = ("equity_investment", "作价投资", "investment as equity"),
        /// 其他协商确定的方式.
        OtherAgreed = ("other_agreed", "其他协商方式", "other agreed mode"),
        /// 委托开发.
        CommissionedDevelopment = ("commissioned_development", "委托开发", "commissioned development"),
        /// 技术咨询与技术服务.
        ConsultingService = ("consulting_service", "技术咨询服务", "technical consulting and service"),
    }
);

/// A technology readiness level from GB/T 22900, 1 (principle observed) to 9 (proven in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Trl(u8);

impl Trl {
    const LABELS: [(&'static str, &'static str); 9] = [
        ("发现基本原理", "basic principle observed"),
        ("形成技术概念或方案", "technology concept formulated"),
        ("关键功能实验验证", "key function proven by experiment"),
        ("实验室环境验证", "validated in the laboratory"),
        ("相关环境验证", "validated in a relevant environment"),
        ("相关环境演示", "demonstrated in a relevant environment"),
        ("典型使用环境演示", "demonstrated in the operational environment"),
        ("通过检测定型", "qualified through test"),
        ("实际使用成功", "proven in use"),
    ];

    /// Builds a level from 1–9.
    pub fn new(level: u8) -> Result<Self> {
        if (1..=9).contains(&level) {
            Ok(Trl(level))
        } else {
            Err(Error::invalid("trl", format!("{level} is outside 1-9")))
        }
    }

    /// Parses `6`, `TRL6` or `TRL 6`.
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim();
        let digits = t.strip_prefix("TRL").or_else(|| t.strip_prefix("trl")).unwrap_or(t).trim();
        digits
            .parse::<u8>()
            .map_err(|_| Error::invalid("trl", format!("{t:?} is not a level 1-9")))
            .and_then(Trl::new)
    }

    /// The level, 1–9.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The Chinese label.
    pub fn zh(self) -> &'static str {
        Self::LABELS[usize::from(self.0 - 1)].0
    }

    /// The English label.
    pub fn en(self) -> &'static str {
        Self::LABELS[usize::from(self.0 - 1)].1
    }
}

impl TryFrom<u8> for Trl {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Trl::new(v)
    }
}

impl From<Trl> for u8 {
    fn from(t: Trl) -> u8 {
        t.0
    }
}

impl fmt::Display for Trl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TRL{}", self.0)
    }
}

/// One entry of a code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeEntry {
    /// The code.
    pub code: &'static str,
    /// Chinese label.
    pub zh: &'static str,
    /// English label.
    pub en: &'static str,
}

const fn e(code: &'static str, zh: &'static str, en: &'static str) -> CodeEntry {
    CodeEntry { code, zh, en }
}

/// The 13 discipline categories (学科门类), keyed by their two-digit code.
pub const CATEGORIES: [CodeEntry; 13] = [
    e("01", "哲学", "Philosophy"),
    e("02", "经济学", "Economics"),
    e("03", "法学", "Law"),
    e("04", "教育学", "Education"),
    e("05", "文学", "Literature"),
    e("06", "历史学", "History"),
    e("07", "理学", "Science"),
    e("08", "工学", "Engineering"),
    e("09", "农学", "Agriculture"),
    e("10", "医学", "Medicine"),
    e("11", "军事学", "Military Science"),
    e("12", "管理学", "Management"),
    e("13", "艺术学", "Art"),
];

/// The 67 disciplines of the CSL data set, each with the first-level code of the national
/// degree catalogue; the first two digits are the category.
pub const DISCIPLINES: [CodeEntry; 67] = [
    e("0101", "哲学", "Philosophy"),
    e("0201", "理论经济学", "Theoretical Economics"),
    e("0202", "应用经济学", "Applied Economics"),
    e("0301", "法学", "Law"),
    e("0302", "政治学", "Political Science"),
    e("0303", "社会学", "Sociology"),
    e("0304", "民族学", "Ethnology"),
    e("0401", "教育学", "Education"),
    e("0402", "心理学", "Psychology"),
    e("0403", "体育学", "Physical Education"),
    e("0501", "中国语言文学", "Chinese Language and Literature"),
    e("0503", "新闻传播学", "Journalism and Communication"),
    e("0601", "历史学", "History"),
    e("0701", "数学", "Mathematics"),
    e("0702", "物理学", "Physics"),
    e("0704", "天文学", "Astronomy"),
    e("0705", "地理学", "Geography"),
    e("0706", "大气科学", "Atmospheric Sciences"),
    e("0707", "海洋科学", "Marine Sciences"),
    e("0708", "地球物理学", "Geophysics"),
    e("0709", "地质学/地质资源与地质工程", "Geology and Geological Engineering"),
    e("0710", "生物学/生物科学与工程", "Biology and Bioengineering"),
    e("0801", "力学", "Mechanics"),
    e("0802", "机械工程", "Mechanical Engineering"),
    e("0803", "光学工程", "Optical Engineering"),
    e("0805", "材料科学与工程", "Materials Science and Engineering"),
    e("0806", "冶金工程", "Metallurgical Engineering"),
    e("0807", "动力工程及工程热物理", "Power Engineering and Engineering Thermophysics"),
    e("0808", "电气工程", "Electrical Engineering"),
    e("0809", "电子科学与技术", "Electronic Science and Technology"),
    e("0810", "信息与通信工程", "Information and Communication Engineering"),
    e("0811", "控制科学与工程", "Control Science and Engineering"),
    e("0812", "计算机科学与技术", "Computer Science and Technology"),
    e("0813", "建筑学", "Architecture"),
    e("0814", "土木工程", "Civil Engineering"),
    e("0815", "水利工程", "Hydraulic Engineering"),
    e("0816", "测绘科学与技术", "Surveying and Mapping"),
    e("0817", "化学/化学工程与技术", "Chemistry and Chemical Engineering"),
    e("0819", "矿业工程", "Mining Engineering"),
    e("0820", "石油与天然气工程", "Petroleum and Natural Gas Engineering"),
    e("0821", "纺织科学与工程", "Textile Science and Engineering"),
    e("0823", "交通运输工程", "Transportation Engineering"),
    e("0824", "船舶与海洋工程", "Naval Architecture and Ocean Engineering"),
    e("0825", "航空宇航科学与技术", "Aeronautical and Astronautical Science"),
    e("0826", "兵器科学与技术", "Armament Science and Technology"),
    e("0827", "核科学与技术", "Nuclear Science and Technology"),
    e("0828", "农业工程", "Agricultural Engineering"),
    e("0830", "环境科学与工程", "Environmental Science and Engineering"),
    e("0832", "食品科学与工程", "Food Science and Engineering"),
    e("0901", "作物学", "Crop Science"),
    e("0902", "园艺学", "Horticulture"),
    e("0903", "农业资源利用", "Agricultural Resources Utilization"),
    e("0904", "植物保护", "Plant Protection"),
    e("0905", "畜牧学/兽医学", "Animal Husbandry and Veterinary Medicine"),
    e("0907", "林学/林业工程", "Forestry and Forestry Engineering"),
    e("0908", "水产", "Fisheries"),
    e("1001", "基础医学/临床医学", "Basic and Clinical Medicine"),
    e("1003", "口腔医学", "Stomatology"),
    e("1004", "公共卫生与预防医学", "Public Health and Preventive Medicine"),
    e("1005", "中医学/中药学", "Traditional Chinese Medicine and Pharmacy"),
    e("1007", "药学", "Pharmacy"),
    e("1101", "军事学", "Military Science"),
    e("1202", "工商管理", "Business Administration"),
    e("1203", "农林经济管理", "Agricultural and Forestry Economics and Management"),
    e("1204", "公共管理", "Public Administration"),
    e("1205", "图书馆、情报与档案管理", "Library, Information and Archives Management"),
    e("1301", "艺术学", "Art"),
];

/// The GB/T 4754-2017 sections (门类), with the first and last division of each.
pub const INDUSTRY_SECTIONS: [(CodeEntry, u8, u8); 20] = [
    (e("A", "农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"), 1, 5),
    (e("B", "采矿业", "Mining"), 6, 12),
    (e("C", "制造业", "Manufacturing"), 13, 43),
    (e("D", "电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water supply"), 44, 46),
    (e("E", "建筑业", "Construction"), 47, 50),
    (e("F", "批发和零售业", "Wholesale and retail trade"), 51, 52),
    (e("G", "交通运输、仓储和邮政业", "Transport, storage and postal services"), 53, 60),
    (e("H", "住宿和餐饮业", "Accommodation and catering"), 61, 62),
    (
        e(
            "I",
            "信息传输、软件和信息技术服务业",
            "Information transmission, software and IT services",
        ),
        63,
        65,
    ),
    (e("J", "金融业", "Finance"), 66, 69),
    (e("K", "房地产业", "Real estate"), 70, 70),
    (e("L", "租赁和商务服务业", "Leasing and business services"), 71, 72),
    (e("M", "科学研究和技术服务业", "Scientific research and technical services"), 73, 75),
    (
        e(
            "N",
            "水利、环境和公共设施管理业",
            "Water conservancy, environment and public facilities",
        ),
        76,
        79,
    ),
    (e("O", "居民服务、修理和其他服务业", "Resident, repair and other services"), 80, 82),
    (e("P", "教育", "Education"), 83, 83),
    (e("Q", "卫生和社会工作", "Health and social work"), 84, 85),
    (e("R", "文化、体育和娱乐业", "Culture, sports and entertainment"), 86, 90),
    (
        e(
            "S",
            "公共管理、社会保障和社会组织",
            "Public administration, social security and organisations",
        ),
        91,
        96,
    ),
    (e("T", "国际组织", "International organisations"), 97, 97),
];

/// The 97 GB/T 4754-2017 divisions (大类), keyed by two-digit code.
pub const INDUSTRY_DIVISIONS: [CodeEntry; 97] = [
    e("01", "农业", "Agriculture"),
    e("02", "林业", "Forestry"),
    e("03", "畜牧业", "Animal husbandry"),
    e("04", "渔业", "Fishery"),
    e("05", "农、林、牧、渔专业及辅助性活动", "Agricultural support activities"),
    e("06", "煤炭开采和洗选业", "Coal mining and washing"),
    e("07", "石油和天然气开采业", "Petroleum and natural gas extraction"),
    e("08", "黑色金属矿采选业", "Ferrous metal ore mining"),
    e("09", "有色金属矿采选业", "Non-ferrous metal ore mining"),
    e("10", "非金属矿采选业", "Non-metallic mineral mining"),
    e("11", "开采专业及辅助性活动", "Mining support activities"),
    e("12", "其他采矿业", "Other mining"),
    e("13", "农副食品加工业", "Agricultural and sideline food processing"),
    e("14", "食品制造业", "Food manufacturing"),
    e("15", "酒、饮料和精制茶制造业", "Liquor, beverages and refined tea"),
    e("16", "烟草制品业", "Tobacco products"),
    e("17", "纺织业", "Textiles"),
    e("18", "纺织服装、服饰业", "Textile garments and apparel"),
    e("19", "皮革、毛皮、羽毛及其制品和制鞋业", "Leather, fur, feather and footwear"),
    e("20", "木材加工和木、竹、藤、棕、草制品业", "Wood, bamboo, rattan, palm and straw products"),
    e("21", "家具制造业", "Furniture"),
    e("22", "造纸和纸制品业", "Paper and paper products"),
    e("23", "印刷和记录媒介复制业", "Printing and reproduction of recorded media"),
    e(
        "24",
        "文教、工美、体育和娱乐用品制造业",
        "Stationery, crafts, sports and entertainment goods",
    ),
    e("25", "石油、煤炭及其他燃料加工业", "Petroleum, coal and other fuel processing"),
    e("26", "化学原料和化学制品制造业", "Chemical raw materials and chemical products"),
    e("27", "医药制造业", "Pharmaceuticals"),
    e("28", "化学纤维制造业", "Chemical fibres"),
    e("29", "橡胶和塑料制品业", "Rubber and plastic products"),
    e("30", "非金属矿物制品业", "Non-metallic mineral products"),
    e("31", "黑色金属冶炼和压延加工业", "Ferrous metal smelting and rolling"),
    e("32", "有色金属冶炼和压延加工业", "Non-ferrous metal smelting and rolling"),
    e("33", "金属制品业", "Fabricated metal products"),
    e("34", "通用设备制造业", "General-purpose machinery"),
    e("35", "专用设备制造业", "Special-purpose machinery"),
    e("36", "汽车制造业", "Motor vehicles"),
    e(
        "37",
        "铁路、船舶、航空航天和其他运输设备制造业",
        "Railway, ship, aerospace and other transport equipment",
    ),
    e("38", "电气机械和器材制造业", "Electrical machinery and equipment"),
    e(
        "39",
        "计算机、通信和其他电子设备制造业",
        "Computers, communication and other electronic equipment",
    ),
    e("40", "仪器仪表制造业", "Instruments and meters"),
    e("41", "其他制造业", "Other manufacturing"),
    e("42", "废弃资源综合利用业", "Recycling of waste resources"),
    e("43", "金属制品、机械和设备修理业", "Repair of metal products, machinery and equipment"),
    e("44", "电力、热力生产和供应业", "Electricity and heat production and supply"),
    e("45", "燃气生产和供应业", "Gas production and supply"),
    e("46", "水的生产和供应业", "Water production and supply"),
    e("47", "房屋建筑业", "Building construction"),
    e("48", "土木工程建筑业", "Civil engineering construction"),
    e("49", "建筑安装业", "Building installation"),
    e("50", "建筑装饰、装修和其他建筑业", "Building decoration and other construction"),
    e("51", "批发业", "Wholesale trade"),
    e("52", "零售业", "Retail trade"),
    e("53", "铁路运输业", "Railway transport"),
    e("54", "道路运输业", "Road transport"),
    e("55", "水上运输业", "Water transport"),
    e("56", "航空运输业", "Air transport"),
    e("57", "管道运输业", "Pipeline transport"),
    e("58", "多式联运和运输代理业", "Multimodal transport and transport agency"),
    e("59", "装卸搬运和仓储业", "Loading, unloading and warehousing"),
    e("60", "邮政业", "Postal services"),
    e("61", "住宿业", "Accommodation"),
    e("62", "餐饮业", "Catering"),
    e(
        "63",
        "电信、广播电视和卫星传输服务",
        "Telecommunications, broadcasting and satellite transmission",
    ),
    e("64", "互联网和相关服务", "Internet and related services"),
    e("65", "软件和信息技术服务业", "Software and information technology services"),
    e("66", "货币金融服务", "Monetary and financial services"),
    e("67", "资本市场服务", "Capital market services"),
    e("68", "保险业", "Insurance"),
    e("69", "其他金融业", "Other financial services"),
    e("70", "房地产业", "Real estate"),
    e("71", "租赁业", "Leasing"),
    e("72", "商务服务业", "Business services"),
    e("73", "研究和试验发展", "Research and experimental development"),
    e("74", "专业技术服务业", "Professional technical services"),
    e("75", "科技推广和应用服务业", "Technology promotion and application services"),
    e("76", "水利管理业", "Water conservancy management"),
    e("77", "生态保护和环境治理业", "Ecological protection and environmental governance"),
    e("78", "公共设施管理业", "Public facilities management"),
    e("79", "土地管理业", "Land management"),
    e("80", "居民服务业", "Resident services"),
    e(
        "81",
        "机动车、电子产品和日用产品修理业",
        "Repair of motor vehicles, electronics and household goods",
    ),
    e("82", "其他服务业", "Other services"),
    e("83", "教育", "Education"),
    e("84", "卫生", "Health"),
    e("85", "社会工作", "Social work"),
    e("86", "新闻和出版业", "News and publishing"),
    e("87", "广播、电视、电影和录音制作业", "Radio, television, film and sound recording"),
    e("88", "文化艺术业", "Culture and arts"),
    e("89", "体育", "Sports"),
    e("90", "娱乐业", "Entertainment"),
    e("91", "中国共产党机关", "Organs of the Communist Party of China"),
    e("92", "国家机构", "State organs"),
    e("93", "人民政协、民主党派", "CPPCC and democratic parties"),
    e("94", "社会保障", "Social security"),
    e("95", "群众团体、社会团体和其他成员组织", "Mass, social and other membership organisations"),
    e("96", "基层群众自治组织及其他组织", "Grassroots self-governing and other organisations"),
    e("97", "国际组织", "International organisations"),
];

/// Looks a value up in a code table by code, Chinese label or English label.
fn lookup(table: &'static [CodeEntry], s: &str) -> Option<usize> {
    let t = s.trim();
    table.iter().position(|c| c.code == t || c.zh == t || c.en.eq_ignore_ascii_case(t))
}

/// A technology field: one of the 67 disciplines, written as its four-digit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldCode(u8);

impl FieldCode {
    /// Parses a discipline code (`0812`), Chinese label (`计算机科学与技术`) or English label.
    pub fn parse(s: &str) -> Result<Self> {
        let idx = lookup(&DISCIPLINES, s).ok_or_else(|| {
            Error::invalid("field", format!("{:?} is not a discipline code", s.trim()))
        })?;
        Ok(FieldCode(u8::try_from(idx).expect("67 disciplines fit in u8")))
    }

    fn entry(self) -> &'static CodeEntry {
        &DISCIPLINES[usize::from(self.0)]
    }

    /// The four-digit code, e.g. `0812`.
    pub fn code(self) -> &'static str {
        self.entry().code
    }

    /// The Chinese label.
    pub fn zh(self) -> &'static str {
        self.entry().zh
    }

    /// The English label.
    pub fn en(self) -> &'static str {
        self.entry().en
    }

    /// The two-digit category (学科门类) code, e.g. `08`.
    pub fn category(self) -> &'static str {
        &self.code()[..2]
    }

    /// Every field code.
    pub fn all() -> impl Iterator<Item = FieldCode> {
        (0..DISCIPLINES.len())
            .map(|i| FieldCode(u8::try_from(i).expect("67 disciplines fit in u8")))
    }
}

impl fmt::Display for FieldCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for FieldCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        FieldCode::parse(s)
    }
}

impl TryFrom<String> for FieldCode {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        FieldCode::parse(&s)
    }
}

impl From<FieldCode> for String {
    fn from(c: FieldCode) -> String {
        c.code().to_owned()
    }
}

/// An industry: a GB/T 4754-2017 division, written as its two-digit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndustryCode(u8);

impl IndustryCode {
    /// Parses a division code (`39`, also `C39`), or its Chinese or English label.
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim();
        // Accept the section-prefixed form staff often copy from the standard, e.g. "C39".
        let bare = match t.as_bytes() {
            [l, d1, d2] if l.is_ascii_uppercase() && d1.is_ascii_digit() && d2.is_ascii_digit() => {
                &t[1..]
            }
            _ => t,
        };
        let idx = lookup(&INDUSTRY_DIVISIONS, bare).ok_or_else(|| {
            Error::invalid("industry", format!("{t:?} is not a GB/T 4754 division"))
        })?;
        let code = IndustryCode(u8::try_from(idx + 1).expect("97 divisions fit in u8"));
        if bare != t && !t.starts_with(code.section()) {
            return Err(Error::invalid(
                "industry",
                format!("{t:?}: division {bare} is not in section {}", &t[..1]),
            ));
        }
        Ok(code)
    }

    fn entry(self) -> &'static CodeEntry {
        &INDUSTRY_DIVISIONS[usize::from(self.0 - 1)]
    }

    /// The two-digit division code, e.g. `39`.
    pub fn code(self) -> &'static str {
        self.entry().code
    }

    /// The Chinese label.
    pub fn zh(self) -> &'static str {
        self.entry().zh
    }

    /// The English label.
    pub fn en(self) -> &'static str {
        self.entry().en
    }

    /// The section letter, A–T.
    pub fn section(self) -> &'static str {
        INDUSTRY_SECTIONS
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&self.0))
            .map(|(s, _, _)| s.code)
            .expect("the sections cover divisions 1-97")
    }
}

impl fmt::Display for IndustryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for IndustryCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        IndustryCode::parse(s)
    }
}

impl TryFrom<String> for IndustryCode {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        IndustryCode::parse(&s)
    }
}

impl From<IndustryCode> for String {
    fn from(c: IndustryCode) -> String {
        c.code().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disciplines_cover_the_csl_labels_and_their_categories() {
        let tsv = "计算机科学与技术\t工学\n化学/化学工程与技术\t工学\n地质学/地质资源与地质工程\t理学\n心理学\t教育学\n军事学\t军事学";
        for line in tsv.lines() {
            let (zh, cat) = line.split_once('\t').unwrap();
            let f = FieldCode::parse(zh).unwrap();
            let category = CATEGORIES.iter().find(|c| c.code == f.category()).unwrap();
            assert_eq!(category.zh, cat, "{zh}");
        }
        assert_eq!(FieldCode::parse("0812").unwrap().zh(), "计算机科学与技术");
        assert_eq!(FieldCode::all().count(), 67);
    }

    #[test]
    fn codes_are_sorted_and_unique() {
        assert!(DISCIPLINES.windows(2).all(|w| w[0].code < w[1].code));
        assert!(
            INDUSTRY_DIVISIONS.iter().enumerate().all(|(i, d)| d.code == format!("{:02}", i + 1))
        );
    }

    #[test]
    fn industry_accepts_section_prefix_only_when_it_matches() {
        assert_eq!(IndustryCode::parse("C39").unwrap().code(), "39");
        assert_eq!(IndustryCode::parse("39").unwrap().section(), "C");
        assert_eq!(IndustryCode::parse("软件和信息技术服务业").unwrap().section(), "I");
        assert!(IndustryCode::parse("A39").is_err());
        assert!(IndustryCode::parse("98").is_err());
    }

    #[test]
    fn vocabularies_parse_codes_and_both_labels() {
        assert_eq!(CooperationMode::parse("许可").unwrap(), CooperationMode::License);
        assert_eq!(CooperationMode::parse("License").unwrap(), CooperationMode::License);
        assert_eq!(Status::parse("open").unwrap(), Status::Open);
        let err = Kind::parse("supply").unwrap_err();
        assert!(err.to_string().contains("demand, achievement, expert"), "{err}");
        assert_eq!(Trl::parse("TRL 6").unwrap().get(), 6);
        assert!(Trl::parse("10").is_err());
    }
}
