//! PII detectors and the scrubber: finds contacts, identifiers, addresses and names in free text
//! and blanks them out before any word of that text can become a term.
//!
//! Detection is greedy around identifiers: wrongly blanking a few technical characters costs
//! some matching recall, while missing an identifier would leak it to the federation.
//! It is not greedy about what is not personal: a place name alone (the study site of an
//! abstract) is not an address, and a university named as a study site or source is not an
//! identifier. `tests/detection.rs` measures both sides on real CSL abstracts.
//! Everything here is pure and deterministic; regexes are compiled once per process, and each
//! runs only on text that holds the literals every match of it needs.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

/// What kind of identifier a detection or a held-back term looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PiiKind {
    /// A mainland mobile number, e.g. `138 7123 4567` or `+86-13871234567`.
    Mobile,
    /// A landline or hotline, e.g. `0715-8123456`, `(027)87541234转8021`, `400-820-8820`.
    Landline,
    /// An email address.
    Email,
    /// An 18-character resident ID number with a valid ISO 7064 MOD 11-2 check character.
    ResidentId,
    /// An 18-character unified social credit code with a valid GB 32100 check character.
    CreditCode,
    /// A patent publication or application number, e.g. `CN114081026A`, `ZL202110123456.7`.
    Patent,
    /// A URL or bare domain name.
    Url,
    /// A QQ number or WeChat id given after its label.
    ImHandle,
    /// A postal address: a road or compound with a house number, a building with a floor or
    /// room, or a village group (a place name alone is not one).
    Address,
    /// A person's name (after a label such as 联系人, or one of the record's own names).
    PersonName,
    /// An organisation's name: a registered company, a university or institute named as the
    /// actor of the work (its team, its professor, developed by, with), or the record's own.
    OrgName,
}

impl PiiKind {
    /// Every kind, in detection priority order.
    pub const ALL: [PiiKind; 11] = [
        PiiKind::Mobile,
        PiiKind::Landline,
        PiiKind::Email,
        PiiKind::ResidentId,
        PiiKind::CreditCode,
        PiiKind::Patent,
        PiiKind::Url,
        PiiKind::ImHandle,
        PiiKind::Address,
        PiiKind::PersonName,
        PiiKind::OrgName,
    ];

    /// A stable snake_case code, for logs, metrics and the node's preview.
    pub fn code(&self) -> &'static str {
        match self {
            PiiKind::Mobile => "mobile",
            PiiKind::Landline => "landline",
            PiiKind::Email => "email",
            PiiKind::ResidentId => "resident_id",
            PiiKind::CreditCode => "credit_code",
            PiiKind::Patent => "patent",
            PiiKind::Url => "url",
            PiiKind::ImHandle => "im_handle",
            PiiKind::Address => "address",
            PiiKind::PersonName => "person_name",
            PiiKind::OrgName => "org_name",
        }
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One identifier found in a text: its kind and its byte range in that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Detection {
    /// What the span looks like.
    pub kind: PiiKind,
    /// Byte offset of the first byte, on a character boundary.
    pub start: usize,
    /// Byte offset one past the last byte, on a character boundary.
    pub end: usize,
}

/// Finds identifiers in `text`.
///
/// Full-width forms (`１３８…`, `＠`) are recognised like their ASCII counterparts.
/// Offsets are byte offsets into `text`; detections are sorted and non-overlapping (overlapping
/// hits are merged into one span carrying the kind of the earliest, longest hit).
pub fn detect(text: &str) -> Vec<Detection> {
    let (folded, map) = fold_width_with_map(text);
    detect_folded(&folded)
        .into_iter()
        .map(|d| Detection { kind: d.kind, start: map[d.start], end: map[d.end] })
        .collect()
}

/// The kind of the first of `detect(text)`, without mapping offsets back: for the privacy gate,
/// which asks this of every term.
pub(crate) fn first_kind(text: &str) -> Option<PiiKind> {
    detect_folded(&fold_width_cow(text)).first().map(|d| d.kind)
}

/// What a term alone looks like, before the record's own names are considered: the kind of the
/// first detection in it, an email if it holds an `@`, or a guess from the length of its longest
/// digit run if that is five or more (a bare number says little about its kind).
pub(crate) fn identifier_kind(term: &str) -> Option<PiiKind> {
    if let Some(kind) = first_kind(term) {
        return Some(kind);
    }
    if term.contains('@') {
        return Some(PiiKind::Email);
    }
    match longest_digit_run(term) {
        15.. => Some(PiiKind::ResidentId),
        11 => Some(PiiKind::Mobile),
        7..=12 => Some(PiiKind::Landline),
        5.. => Some(PiiKind::ImHandle),
        _ => None,
    }
}

fn longest_digit_run(s: &str) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        cur = if c.is_ascii_digit() { cur + 1 } else { 0 };
        best = best.max(cur);
    }
    best
}

/// Replaces every detection and every occurrence of the given names (and their short forms) with
/// a space.
///
/// The result is width-folded (full-width ASCII becomes half-width).
/// Names are classified by shape: Chinese names of 2–4 characters without an organisation
/// suffix are treated as people (full name, given name, surname with a title), everything else
/// as organisations (full name, core name without legal suffix, brand, initial abbreviations
/// such as 华科 or 中科院).
pub fn scrub(text: &str, own_names: &[&str]) -> String {
    let forms = NameForms::new(own_names.iter().map(|n| (*n, NameClass::Auto)));
    scrub_with(text, &forms)
}

/// [`scrub`] with name forms derived beforehand.
pub(crate) fn scrub_with(text: &str, forms: &NameForms) -> String {
    scrub_marked(text, forms).0
}

/// [`scrub_with`], and whether it blanked anything out (if not, the text is only width-folded).
pub(crate) fn scrub_marked(text: &str, forms: &NameForms) -> (String, bool) {
    let folded = fold_width(text);
    let mut spans: Vec<Detection> = detect_folded(&folded);
    spans.extend(forms.find_in(&folded));
    if spans.is_empty() {
        return (folded, false);
    }
    let spans = merge(spans);
    let mut out = String::with_capacity(folded.len());
    let mut pos = 0;
    for d in spans {
        out.push_str(&folded[pos..d.start]);
        out.push(' ');
        pos = d.end;
    }
    out.push_str(&folded[pos..]);
    (out, true)
}

/// Folds full-width ASCII (U+FF01–U+FF5E) to ASCII, the ideographic space to a space and
/// subscript and superscript digits to digits.
pub(crate) fn fold_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // NB: every character that folds starts with one of four bytes in UTF-8 (U+00B2, U+00B3 and
    // U+00B9 with 0xC2, U+2070–U+2089 with 0xE2, U+FF01–U+FF5E with 0xEF, U+3000 with 0xE3), so
    // the runs between them are copied whole. 0xE3 also starts the commonest Chinese
    // punctuation (、。「」), so U+3000 is looked for only if the text has one.
    // NB: `contains` of a char took half the time a `memmem` search did on CSL texts.
    let ideographic_space = text.contains('\u{3000}');
    loop {
        let bytes = rest.as_bytes();
        let next = if ideographic_space {
            bytes.iter().position(|b| matches!(b, 0xC2 | 0xE2 | 0xE3 | 0xEF))
        } else {
            memchr::memchr3(0xC2, 0xE2, 0xEF, bytes)
        };
        let Some(i) = next else { break };
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or_default();
        out.push(fold_char(c));
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// [`fold_width`], borrowed when nothing needs folding (as in every term).
pub(crate) fn fold_width_cow(text: &str) -> Cow<'_, str> {
    if text.chars().all(|c| fold_char(c) == c) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(fold_width(text))
    }
}

/// A multiply-rotate hash in the style of rustc's FxHash, eight bytes at a time: for the crate's
/// in-memory tables of short words, much faster than SipHash (and than byte-wise FNV) on them.
/// Nothing an attacker controls decides where entries go that matters: the tables are bounded,
/// and output never depends on their order.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fx(u64);

impl Fx {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        // Multiplying only carries upwards, so the low bits (which pick the bucket) would
        // depend on the first bytes alone, the same for many Han words; fold the high bits in.
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (x >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// The hasher of the crate's word tables.
pub(crate) type FastHash = BuildHasherDefault<Fx>;

fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        // Subscript and superscript digits, as in CO₂ and TiO₂ (so they stay one term).
        '\u{2080}'..='\u{2089}' => char::from_u32(c as u32 - 0x2080 + 0x30).unwrap_or(c),
        '\u{2070}' | '\u{2074}'..='\u{2079}' => {
            char::from_u32(c as u32 - 0x2070 + 0x30).unwrap_or(c)
        }
        '\u{00B9}' => '1',
        '\u{00B2}' => '2',
        '\u{00B3}' => '3',
        _ => c,
    }
}

/// Folds like [`fold_width`] and returns, for every byte offset of the folded text that starts
/// a character (and its end), the matching byte offset in `text`.
fn fold_width_with_map(text: &str) -> (String, Vec<usize>) {
    let mut folded = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len() + 1);
    for (i, c) in text.char_indices() {
        let f = fold_char(c);
        for _ in 0..f.len_utf8() {
            map.push(i);
        }
        folded.push(f);
    }
    map.push(text.len());
    (folded, map)
}

/// Sorts detections and merges overlapping ones.
fn merge(mut spans: Vec<Detection>) -> Vec<Detection> {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(a.kind.cmp(&b.kind)));
    let mut out: Vec<Detection> = Vec::with_capacity(spans.len());
    for d in spans {
        match out.last_mut() {
            Some(cur) if d.start < cur.end => cur.end = cur.end.max(d.end),
            _ => out.push(d),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Detectors.

/// Accepts or adjusts a regex hit: given the text and the hit's byte range, returns the span to
/// report, or `None` to reject the hit.
type Check = fn(&str, usize, usize) -> Option<(usize, usize)>;

struct Detector {
    kind: PiiKind,
    /// Strings one of which every match contains (ASCII lowercase): if the text holds none of
    /// them, the regex cannot match and is not run, which changes nothing but time.
    needles: &'static [&'static str],
    /// The shortest run of ASCII digits every match contains.
    min_run: usize,
    /// A further necessary condition on the text, checked last.
    gate: Option<fn(&str) -> bool>,
    /// The bits of its needles (see [`Detectors::starts`]).
    bits: u128,
    re: Regex,
    check: Check,
}

/// The detectors and the needles they are gated on: every distinct needle (at most 128) has a
/// bit, in the order of the sorted needles.
struct Detectors {
    list: Vec<Detector>,
    /// Sorted: the first character of every needle.
    chars: Vec<char>,
    /// For every character of [`Detectors::chars`], the needles that start with it, with their
    /// bits.
    starts: Vec<Vec<(&'static [u8], u128)>>,
    /// For every ASCII character, 1 + the index of its lowercase form in [`Detectors::chars`]
    /// (0 if it is none of them): the scan's common case without a search.
    ascii_first: [u8; 128],
    /// For the other characters, by code point modulo 4096: 1 + the index in
    /// [`Detectors::chars`] of the one needle character there, [`Detectors::SHARED`] if several
    /// share the place, or 0 if none does: most characters are dismissed by one read.
    wide_first: Box<[u8; 4096]>,
}

impl Detectors {
    /// A place of [`Detectors::wide_first`] that several needle characters share.
    const SHARED: u8 = u8::MAX;

    fn new(mut list: Vec<Detector>) -> Self {
        let mut needles: Vec<&'static str> =
            list.iter().flat_map(|d| d.needles.iter().copied()).collect();
        needles.sort_unstable();
        needles.dedup();
        assert!(needles.len() <= 128, "needles must fit a u128");
        assert!(
            needles.iter().all(|n| !n.is_empty() && n.to_ascii_lowercase() == *n),
            "needles are ASCII lowercase and not empty"
        );
        let bit = |n: &str| needles.binary_search(&n).map_or(0, |i| 1u128 << i);
        for d in &mut list {
            d.bits = d.needles.iter().fold(0, |m, n| m | bit(n));
        }
        let mut chars: Vec<char> = needles.iter().filter_map(|n| n.chars().next()).collect();
        chars.sort_unstable();
        chars.dedup();
        let starts: Vec<Vec<(&'static [u8], u128)>> = chars
            .iter()
            .map(|c| {
                needles
                    .iter()
                    .filter(|n| n.starts_with(*c))
                    .map(|n| (n.as_bytes(), bit(n)))
                    .collect()
            })
            .collect();
        let mut ascii_first = [0; 128];
        for (b, first) in (0u8..128).zip(ascii_first.iter_mut()) {
            let c = char::from(b).to_ascii_lowercase();
            *first = chars
                .binary_search(&c)
                .map_or(0, |i| u8::try_from(i + 1).expect("at most 128 needle characters"));
        }
        let mut wide_first = Box::new([0_u8; 4096]);
        for (i, c) in chars.iter().enumerate().filter(|(_, c)| !c.is_ascii()) {
            let place = &mut wide_first[*c as usize % 4096];
            *place = match *place {
                0 => u8::try_from(i + 1).expect("at most 128 needle characters"),
                _ => Self::SHARED,
            };
        }
        Detectors { list, chars, starts, ascii_first, wide_first }
    }

    /// The bits of the needles that occur in `text` (ASCII case-insensitively) and its longest
    /// run of ASCII digits, in one pass.
    ///
    /// NB: a character of three bytes (every Han character) is dismissed by its place in
    /// [`Detectors::wide_first`], which its last two bytes give (its code point modulo 4096 is
    /// their six low bits each), without decoding it: 6% faster than decoding every character
    /// on CSL abstracts. Byte by byte for every kind of character was 20% slower.
    fn scan(&self, text: &str) -> (u128, usize) {
        let bytes = text.as_bytes();
        let (mut found, mut run, mut longest) = (0_u128, 0, 0);
        let mut next = 0;
        while next < bytes.len() {
            let at = next;
            let first = match bytes[at..] {
                [0xE0..0xF0, b1, b2, ..] => {
                    run = 0;
                    next += 3;
                    match self.wide_first[usize::from(b1 & 0x3F) << 6 | usize::from(b2 & 0x3F)] {
                        0 => continue,
                        i => self.wide(char_after(text, at).unwrap_or_default(), i),
                    }
                }
                [b @ 0..0x80, ..] => {
                    if b.is_ascii_digit() {
                        run += 1;
                        longest = longest.max(run);
                    } else {
                        run = 0;
                    }
                    next += 1;
                    usize::from(self.ascii_first[usize::from(b)])
                }
                _ => {
                    run = 0;
                    let c = char_after(text, at).unwrap_or_default();
                    next += c.len_utf8();
                    match self.wide_first[c as usize % 4096] {
                        0 => continue,
                        i => self.wide(c, i),
                    }
                }
            };
            if first == 0 {
                continue;
            }
            for (needle, bit) in &self.starts[first - 1] {
                if found & bit == 0
                    && bytes
                        .get(at..at + needle.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(needle))
                {
                    found |= bit;
                }
            }
        }
        (found, longest)
    }

    /// 1 + the index of `c` in [`Detectors::chars`], or 0 if it is not there, given its place
    /// `i` (not 0) in [`Detectors::wide_first`].
    fn wide(&self, c: char, i: u8) -> usize {
        match i {
            Self::SHARED => self.chars.binary_search(&c).map_or(0, |i| i + 1),
            i if self.chars[usize::from(i) - 1] == c => usize::from(i),
            _ => 0,
        }
    }
}

impl Detector {
    /// False only if the regex cannot match `text`, given the needles found in it and its
    /// longest digit run (from [`Detectors::scan`]).
    fn may_match(&self, text: &str, found: u128, longest_run: usize) -> bool {
        found & self.bits != 0
            && longest_run >= self.min_run
            && self.gate.is_none_or(|gate| gate(text))
    }
}

/// Every ASCII digit, for detectors of numbers.
const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// What every Chinese postal address contains: a house number, a building or a village.
const ADDRESS_NEEDLES: [&str; 8] = ["号", "栋", "幢", "座", "大厦", "大楼", "广场", "村"];

/// The road names of the address pattern end in one of these.
const ROAD_SUFFIXES: [&str; 8] = ["大道", "大街", "胡同", "路", "街", "巷", "弄", "道"];

/// The compounds (parks, estates, buildings, villages) of the address pattern end in one of these.
const PLACE_SUFFIXES: [&str; 14] = [
    "工业园",
    "产业园",
    "科技园",
    "园区",
    "小区",
    "社区",
    "大厦",
    "广场",
    "中心",
    "基地",
    "园",
    "村",
    "苑",
    "城",
];

/// Whether `c` is the last character of one of [`ROAD_SUFFIXES`] or [`PLACE_SUFFIXES`].
///
/// NB: spelt out, because [`address_gate`] asks it of every character of a text with an
/// address needle; a test checks it against the two lists.
fn ends_address_suffix(c: char) -> bool {
    matches!(
        c,
        '道' | '街'
            | '同'
            | '路'
            | '巷'
            | '弄'
            | '园'
            | '区'
            | '厦'
            | '场'
            | '心'
            | '地'
            | '村'
            | '苑'
            | '城'
    )
}

/// A closer necessary condition for a Chinese postal address than [`ADDRESS_NEEDLES`], one
/// for each form the address pattern takes, checked in one pass:
/// - a road or compound (its last character: 路, 街, 道, 园, 区, 村, 苑, 城, …), then a house
///   number right after it: an optional letter and digits (and dashes) before 号, 栋, 幢 or 座,
///   or Chinese numerals before 号 (so 1号机组 or 信号 alone do not count);
/// - 大厦, 大楼 or 广场, then digits, then 层, 楼 or F (a floor);
/// - 村, then digits or numerals, then 组 or 队 (a village group).
fn address_gate(text: &str) -> bool {
    let ten =
        |c: char| matches!(c, '一' | '二' | '三' | '四' | '五' | '六' | '七' | '八' | '九' | '十');
    let cn_numeral = |c: char| ten(c) || matches!(c, '百' | '零' | '〇');
    // How far each form has got: 0 is nowhere.
    let (mut house, mut floor, mut group) = (0_u8, 0_u8, 0_u8);
    let mut prev = ' ';
    for c in text.chars() {
        house = match (house, c) {
            (1, c) if c.is_ascii_alphabetic() => 2,
            (1 | 2, c) if c.is_ascii_digit() => 3,
            (3, c) if c.is_ascii_digit() || c == '-' => 3,
            (3, '号' | '栋' | '幢' | '座') | (4, '号') => return true,
            (1 | 4, c) if cn_numeral(c) => 4,
            (_, c) => u8::from(ends_address_suffix(c)),
        };
        floor = match (floor, c) {
            (1 | 2, c) if c.is_ascii_digit() => 2,
            (2, '层' | '楼' | 'F' | 'f') => return true,
            (_, '厦' | '楼') if prev == '大' => 1,
            (_, '场') if prev == '广' => 1,
            _ => 0,
        };
        group = match (group, c) {
            (1 | 2, c) if c.is_ascii_digit() || ten(c) => 2,
            (2, '组' | '队') => return true,
            (_, '村') => 1,
            _ => 0,
        };
        prev = c;
    }
    false
}

/// A closer necessary condition for an English street address than its needles (which are
/// matched in any case, so `st` is in most English text): a capitalised street word right
/// after white space, as the pattern spells it (Street and Avenue begin with St and Ave).
fn english_address_gate(text: &str) -> bool {
    ["Road", "Rd", "St", "Ave", "Boulevard", "Blvd", "Lane", "Highway", "Drive"].iter().any(|w| {
        text.match_indices(w).any(|(i, _)| char_before(text, i).is_some_and(char::is_whitespace))
    })
}

/// The top-level domains bare domains are recognised with.
const DOMAIN_NEEDLES: [&str; 11] =
    [".com", ".cn", ".net", ".org", ".edu", ".gov", ".io", ".top", ".xyz", ".info", ".cc"];

/// A part of every label before a person's name.
#[rustfmt::skip]
const LABEL_NEEDLES: [&str; 13] = [
    "联系人", "负责人", "代表人", "带头人", "团队成员", "姓名", "经办人", "对接人", "发明人",
    "完成人", "主持人", "申请人", "法人代表",
];

/// A part of every title in [`TITLES`] but 工.
#[rustfmt::skip]
const TITLE_NEEDLES: [&str; 11] = [
    "教授", "研究员", "工程师", "院士", "博士", "老师", "先生", "女士", "经理", "总工", "主任",
];

/// Characters that may appear in a place or organisation name.
///
/// NB: function words are excluded so that a name match does not swallow the words before it
/// (`公司位于湖北省…` starts the address at 湖).
const NAME_CHAR: &str = concat!(
    r"[\p{Han}A-Za-z0-9--[",
    "在于位的是和与及至从到向由为对把被给让将等或并而了着过也都就还又请自处址以其该本我贵某需要用",
    "]]",
);

/// Common Chinese surnames, for "surname + title" mentions such as 李教授 or 王工.
pub(crate) const SURNAMES: &str = concat!(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡",
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷",
    "侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤",
);

/// Titles that follow a surname when people are addressed politely.
#[rustfmt::skip]
const TITLES: [&str; 14] = [
    "副教授", "教授", "研究员", "副研究员", "工程师", "院士", "博士", "老师", "先生", "女士",
    "经理", "总工", "主任", "工",
];

fn compile(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .size_limit(64 << 20)
        .build()
        .unwrap_or_else(|e| panic!("built-in detector pattern must compile: {e}"))
}

/// One administrative unit: a name and its level, e.g. 湖北省, 咸安区, 温泉街道.
fn admin_unit() -> String {
    let n = NAME_CHAR;
    format!(
        "(?:{n}{{1,8}}?(?:特别行政区|自治区|自治州|自治县|开发区|高新区|新区|街道|地区|省|市|区|县|旗|盟|镇|乡))"
    )
}

static DETECTORS: LazyLock<Detectors> = LazyLock::new(|| {
    let n = NAME_CHAR;
    let admin = admin_unit();
    // NB: a place name alone (四川省盐亭县, the study site of many abstracts) is not an address;
    // a postal address needs a road or compound with a house number, a building with a floor
    // or room, or a village group.
    let road = format!("(?:{n}{{1,10}}?(?:{}))", ROAD_SUFFIXES.join("|"));
    let place = format!("(?:{n}{{1,12}}?(?:{}))", PLACE_SUFFIXES.join("|"));
    let num = concat!(
        "(?:[A-Za-z]?[0-9]{1,5}(?:-[0-9]{1,5})?(?:号院|号楼|号|栋|幢|座)",
        "|[一二三四五六七八九十百零〇]{1,5}(?:号院|号楼|号))",
    );
    let unit = "(?:[0-9A-Za-z一二三四五六七八九十]{1,6}(?:号楼|单元|栋|幢|座|层|楼|室|号|F|f))";
    let address = [
        // [Admin units] road or compound, house number, [building, floor, room].
        format!("{admin}*(?:{road}|{place}){num}{unit}*"),
        // [Admin units] building, floor or room: 创业大厦12楼1205室.
        format!("{admin}*{n}{{1,12}}?(?:大厦|大楼|广场)[0-9]{{1,3}}(?:层|楼|F|f){unit}*"),
        // Admin units, village, group: 横沟桥镇甘棠村五组 (rural addresses have no roads).
        format!("{admin}+{n}{{0,10}}?村[0-9一二三四五六七八九十]{{1,3}}(?:组|队)(?:{num})?"),
    ]
    .join("|");
    let titles = TITLES.iter().filter(|t| **t != "工").copied().collect::<Vec<_>>().join("|");
    let d = |kind, needles: &'static [&'static str], min_run, pattern: &str, check: Check| {
        Detector { kind, needles, min_run, gate: None, bits: 0, re: compile(pattern), check }
    };
    Detectors::new(vec![
        // 13871234567, 138 7123 4567, +86-138-7123-4567.
        d(
            PiiKind::Mobile,
            &DIGITS,
            4,
            r"(?:(?:\+|00)?86[\s\-–—]?)?1[3-9][0-9](?:[\s\-–—]?[0-9]{4}){2}",
            digit_bounded,
        ),
        // 0715-8123456, (027)87541234转8021, 027-8754-1234 ext. 12.
        d(
            PiiKind::Landline,
            &DIGITS,
            4,
            concat!(
                r"(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2})[\s\-–—]?[1-9][0-9]{2,3}[\s\-–—]?[0-9]{4}",
                r"(?:\s*(?:-|转|分机|(?i:ext)\.?|x)\s*[0-9]{1,6})?",
            ),
            digit_bounded,
        ),
        // +86 27 87541234.
        d(
            PiiKind::Landline,
            &["86"],
            4,
            r"(?:\+|00)86[\s\-–—]?\(?[1-9][0-9]{1,2}\)?[\s\-–—]?[1-9][0-9]{2,3}[\s\-–—]?[0-9]{4}",
            digit_bounded,
        ),
        // 400-820-8820, 800 810 8888.
        d(
            PiiKind::Landline,
            &["00"],
            4,
            r"[48]00[\s\-–—]?[0-9]{3}[\s\-–—]?[0-9]{4}",
            digit_bounded,
        ),
        // a.b@x.cn, and the "a (at) x.cn" dodge.
        d(
            PiiKind::Email,
            &["@", "(at", "[at"],
            0,
            concat!(
                r"[A-Za-z0-9._%+-]+(?:@|\s?[\(\[](?i:at)[\)\]]\s?)",
                r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            ),
            accept,
        ),
        // GB 11643: 6-digit area, birth date, 3-digit sequence, check character; also written
        // in groups (420102 19850307 1234, 420102-19850307-1234).
        d(
            PiiKind::ResidentId,
            &DIGITS,
            6,
            concat!(
                r"[1-9][0-9]{5}[\s-]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])",
                r"(?:0[1-9]|[12][0-9]|3[01])[\s-]?[0-9]{3}[0-9Xx]",
            ),
            |t, s, e| {
                let compact: String =
                    t[s..e].chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
                (alnum_bounded(t, s, e).is_some() && resident_id_ok(&compact)).then_some((s, e))
            },
        ),
        // GB 32100: authority and type, 6-digit area, 9-character org code, check character.
        d(
            PiiKind::CreditCode,
            &DIGITS,
            6,
            r"(?i)[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}",
            |t, s, e| {
                (alnum_bounded(t, s, e).is_some() && credit_code_ok(&t[s..e])).then_some((s, e))
            },
        ),
        // Publication numbers: CN114081026A, CN 1234567 C.
        d(
            PiiKind::Patent,
            &["cn", "zl"],
            7,
            r"(?i:CN|ZL)\s?[0-9]{7,9}\s?[ABCUSY][0-9]?",
            patent_bounded,
        ),
        // Application numbers since 2003: ZL202110123456.7, CN 2021 1 0123456.7, 202110123456.7.
        d(
            PiiKind::Patent,
            &["."],
            7,
            r"(?:(?i:ZL|CN)\s?)?(?:19|20)[0-9]{2}\s?[1-9]\s?[0-9]{7}\s?\.\s?[0-9Xx]",
            patent_bounded,
        ),
        // Application numbers before 2003: ZL98123456.7.
        d(
            PiiKind::Patent,
            &["cn", "zl"],
            8,
            r"(?i:ZL|CN)\s?[0-9]{8}\s?\.\s?[0-9Xx]",
            patent_bounded,
        ),
        // PCT applications and foreign publications: PCT/CN2021/123456, US10123456B2.
        d(
            PiiKind::Patent,
            &["pct/cn", "us", "ep", "jp", "kr", "wo"],
            4,
            r"PCT/CN[0-9]{4}/[0-9]{6}|(?:US|EP|JP|KR|WO)\s?(?:[0-9]{4}/)?[0-9]{6,11}\s?[AB][0-9]?",
            patent_bounded,
        ),
        // http://…, https://…, www.….
        d(
            PiiKind::Url,
            &["http", "ftp://", "www."],
            0,
            r"(?i)(?:https?://|ftp://|www\.)[A-Za-z0-9._~:/?#@!$&*+,;=%-]+",
            url_trim,
        ),
        // Bare domains with a common top-level domain: hbxy-tech.com, xnxy.edu.cn/jobs.
        d(
            PiiKind::Url,
            &DOMAIN_NEEDLES,
            0,
            concat!(
                r"(?i)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*",
                r"\.(?:com|cn|net|org|edu|gov|io|top|xyz|info|cc)(?:/[A-Za-z0-9._~%/?#=&-]*)?",
            ),
            bare_domain,
        ),
        // QQ：123456789, 扣扣号码 987654321, QQ/微信：123456789.
        d(
            PiiKind::ImHandle,
            &["q", "扣扣", "企鹅号"],
            5,
            concat!(
                r"(?:(?i:q\s?q)|扣扣|企鹅号)\s*(?:/\s*微信|\(微信同号\))?",
                r"\s*(?:号码|号|群)?\s*(?:[:：]|是|为)?\s*[1-9][0-9]{4,10}",
            ),
            |t, s, e| {
                (letter_before(t, s).is_none() && digit_bounded(t, s, e).is_some())
                    .then_some((s, e))
            },
        ),
        // 微信：wjg_hust2020, WeChat ID: Li_Hong2021, wx: abc12345.
        d(
            PiiKind::ImHandle,
            &["微信", "wechat", "weixin", "wx", "vx"],
            0,
            concat!(
                r"(?:微信号?|(?i:wechat|weixin)(?:\s*(?i:id))?|(?i:wx|vx)(?:\s*(?i:id))?\s*[:：])",
                r"\s*(?:号|(?i:id))?\s*(?:[:：]|是|为)?\s*[A-Za-z][-_A-Za-z0-9]{5,19}",
            ),
            wechat_extend,
        ),
        // 湖北省咸宁市咸安区长江路88号, 温泉街道金桂苑12号301室.
        Detector {
            gate: Some(address_gate),
            ..d(PiiKind::Address, &ADDRESS_NEEDLES, 0, &address, accept)
        },
        // No. 88 Changjiang Road, Xian'an District.
        Detector {
            gate: Some(english_address_gate),
            ..d(
                PiiKind::Address,
                &["road", "rd", "st", "ave", "boulevard", "blvd", "lane", "highway", "drive"],
                1,
                concat!(
                    r"(?:No\.\s*)?[0-9]{1,5}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'-]*\s+){1,4}",
                    r"(?:Road|Rd|Street|St|Avenue|Ave|Boulevard|Blvd|Lane|Highway|Drive)\b\.?",
                    r"(?:,\s*(?:[A-Z][A-Za-z'-]*\s+){1,3}(?:District|County|City|Province|Town|Village))*",
                ),
                accept,
            )
        },
        // 联系人：王建国, 发明人：李红、张伟 (the check takes the names after the label).
        d(
            PiiKind::PersonName,
            &LABEL_NEEDLES,
            0,
            concat!(
                r"(?:联系人姓名|项目负责人|技术负责人|法定代表人|学科带头人|团队成员|专家姓名|联系人|",
                r"负责人|经办人|对接人|发明人|完成人|主持人|申请人|法人代表|带头人|姓名)",
                r"(?:\s*(?:[:：]|为|是)\s*|\s+)|联系人",
            ),
            labelled_names,
        ),
        // 李教授, 王总工 (but not the 于工 of 用于工程: 工 alone is only a title for the
        // record's own contact, see `person_forms`).
        d(
            PiiKind::PersonName,
            &TITLE_NEEDLES,
            0,
            &format!("[{SURNAMES}](?:{titles})"),
            surname_led,
        ),
        // 张明教授, 王建国研究员.
        d(
            PiiKind::PersonName,
            &["教授", "研究员", "院士", "工程师"],
            0,
            &format!("[{SURNAMES}]\\p{{Han}}{{1,2}}?(?:副教授|教授|研究员|院士|工程师)"),
            surname_led,
        ),
        // 湖北星源新材料科技有限公司.
        d(
            PiiKind::OrgName,
            &["有限公司", "有限责任公司"],
            0,
            &format!(
                "{n}{{2,12}}?(?:集团股份有限公司|股份有限公司|有限责任公司|集团有限公司|有限公司)"
            ),
            accept,
        ),
        // 华中科技大学, 中国电力科学研究院 (but not 大学生, 研究型大学 or 338所大学).
        d(
            PiiKind::OrgName,
            &["大学", "科学院", "研究院", "研究所"],
            0,
            &format!("{n}{{2,6}}?(?:大学|科学院|研究院|研究所)"),
            academic,
        ),
    ])
});

/// Runs every detector over already width-folded text.
fn detect_folded(text: &str) -> Vec<Detection> {
    detect_folded_gated(text, true)
}

/// [`detect_folded`], optionally without skipping the regexes that cannot match (for the test
/// that proves skipping changes nothing).
fn detect_folded_gated(text: &str, gated: bool) -> Vec<Detection> {
    let mut found = Vec::new();
    let detectors = &*DETECTORS;
    let (needles, longest_run) = detectors.scan(text);
    for d in &detectors.list {
        if gated && !d.may_match(text, needles, longest_run) {
            continue;
        }
        let mut pos = 0;
        while pos < text.len() {
            let Some(m) = d.re.find_at(text, pos) else { break };
            match (d.check)(text, m.start(), m.end()) {
                Some((s, e)) if e > s => {
                    found.push(Detection { kind: d.kind, start: s, end: e });
                    pos = m.end().max(e);
                }
                _ => pos = next_char_boundary(text, m.start()),
            }
        }
    }
    merge(found)
}

fn next_char_boundary(text: &str, i: usize) -> usize {
    text[i..].chars().next().map_or(text.len(), |c| i + c.len_utf8())
}

fn char_before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

fn char_after(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

fn accept(_: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    Some((s, e))
}

fn letter_before(text: &str, i: usize) -> Option<char> {
    char_before(text, i).filter(char::is_ascii_alphabetic)
}

/// Rejects a number that is part of a longer digit run.
fn digit_bounded(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    (!digit(char_before(text, s)) && !digit(char_after(text, e))).then_some((s, e))
}

/// Rejects a code that is part of a longer alphanumeric run.
fn alnum_bounded(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    (!alnum(char_before(text, s)) && !alnum(char_after(text, e))).then_some((s, e))
}

fn patent_bounded(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let before = char_before(text, s).is_some_and(|c| c.is_ascii_alphanumeric());
    let after = char_after(text, e).is_some_and(|c| c.is_ascii_digit());
    (!before && !after).then_some((s, e))
}

/// Drops sentence punctuation that a URL match swallowed at its end.
fn url_trim(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let trimmed = text[s..e].trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"']);
    Some((s, s + trimmed.len()))
}

/// Accepts a bare domain only in lowercase, so that `ASP.NET` and `ADO.Net` are not domains.
fn bare_domain(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    if text[s..e].bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let before = char_before(text, s)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '/' | '_'));
    let after = char_after(text, e).is_some_and(|c| c.is_ascii_alphanumeric() || c == '@');
    if before || after {
        return None;
    }
    url_trim(text, s, e)
}

/// Extends a WeChat id over any id characters beyond the 20 the pattern allows.
fn wechat_extend(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    if letter_before(text, s).is_some() {
        return None;
    }
    let extra: usize = text[e..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .map(char::len_utf8)
        .sum();
    Some((s, e + extra))
}

/// Words whose second character is a common surname, so that 基金经理 and 园林工程师 are not
/// 金经理 and 林工程师.
#[rustfmt::skip]
const SURNAME_INSIDE_WORD: [&str; 36] = [
    "基金", "资金", "黄金", "合金", "现金", "奖金", "园林", "森林", "树林", "农林", "竹林", "岩石",
    "化石", "矿石", "提高", "长江", "地方", "双方", "对方", "官方", "配方", "处方", "各方", "北方",
    "南方", "西方", "平方", "立方", "甲方", "乙方", "药方", "一方", "三方", "多方", "上方", "下方",
];

/// Accepts a surname-led mention (李教授, 张明教授) unless its surname ends another word.
fn surname_led(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let surname = char_after(text, s)?;
    let inside = char_before(text, s).is_some_and(|b| {
        let mut w = String::with_capacity(6);
        w.push(b);
        w.push(surname);
        SURNAME_INSIDE_WORD.contains(&w.as_str())
    });
    (!inside).then_some((s, e))
}

/// What follows 大学 when it is not the end of a university's name (大学生, 大学城, 大学英语).
const NOT_AFTER_UNIVERSITY: [&str; 12] = [
    "生",
    "者",
    "城",
    "英语",
    "物理",
    "数学",
    "化学",
    "语文",
    "体育",
    "计算机",
    "科技园",
    "与企业",
];

/// Words before 大学 that make it a kind of university rather than a name
/// (一流大学, 研究型大学, 国内外大学, 培养大学生).
#[rustfmt::skip]
const GENERIC_BEFORE_ACADEMIC: [&str; 40] = [
    "现代", "国内", "国外", "内外", "重点", "美国", "中国", "我国", "地区", "驱动", "培养", "促进",
    "得出", "引导", "加强", "提高", "借鉴", "一流", "究型", "合性", "地方", "新建", "本科", "普通",
    "高等", "公立", "私立", "民办", "开放", "老年", "企业", "社区", "网络", "电视", "广播", "世界",
    "全国", "西方", "欧美", "高校",
];

/// Accepts a university or institute name unless it is a generic phrase.
fn academic(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let hit = &text[s..e];
    let core = ["大学", "科学院", "研究院", "研究所"]
        .iter()
        .find_map(|suffix| hit.strip_suffix(suffix).map(|core| (core, *suffix)));
    let (core, suffix) = core?;
    if suffix == "大学" && NOT_AFTER_UNIVERSITY.iter().any(|w| text[e..].starts_with(w)) {
        return None;
    }
    let last = core.chars().next_back()?;
    if last.is_ascii_digit() || "所名家些类型性级流各".contains(last) {
        return None;
    }
    if suffix == "大学" && GENERIC_BEFORE_ACADEMIC.iter().any(|w| core.ends_with(w)) {
        return None;
    }
    // NB: a university or institute named as a study site or a source (以北京大学学生为样本,
    // 据中国社会科学院统计) is public knowledge, not an identifier; one named as the actor of
    // the work (华科李红教授团队, 依托中科院, 与武汉大学联合研制) points at the record's owner.
    let before: String =
        text[..s].chars().rev().take(ACTOR_WINDOW).collect::<Vec<_>>().into_iter().rev().collect();
    let after: String = text[e..].chars().take(ACTOR_WINDOW).collect();
    let actor = ACTOR_CUES.iter().any(|c| before.contains(c) || after.contains(c));
    actor.then_some((s, e))
}

/// Characters on either side of an institution's name searched for [`ACTOR_CUES`].
const ACTOR_WINDOW: usize = 12;

/// Words that make an institution the actor of the work described.
#[rustfmt::skip]
const ACTOR_CUES: [&str; 26] = [
    "团队", "课题组", "实验室", "我校", "本校", "我院", "本院", "我所", "本所", "依托", "联合",
    "合作", "研制", "研发", "承担", "教授", "研究员", "博士", "老师", "联系", "专利", "转让",
    "中试", "成果", "技术服务", "产业化",
];

/// Characters that end a 3-character run after a label instead of being part of the name
/// (`联系人王工电话` is 王工, not 王工电).
const NOT_NAME_TAIL: &str = "电手邮教博先女老工经总主院研副高等及和与的在是负联微座传地";

/// Characters that do not start a name after a label (负责人是指…, 申请人应当…).
const NOT_NAME_HEAD: &str = "指应须需可由在对从将把被以及与和或等即如若的了是为";

/// After a label such as `联系人：`, takes the names that follow (`王建国、李红`).
fn labelled_names(text: &str, _s: usize, e: usize) -> Option<(usize, usize)> {
    let take_name = |from: usize| -> Option<usize> {
        let han: Vec<(usize, char)> =
            text[from..].char_indices().take_while(|(_, c)| is_han(*c)).take(3).collect();
        match han.len() {
            0 | 1 => None,
            2 => Some(from + han[1].0 + han[1].1.len_utf8()),
            _ if NOT_NAME_TAIL.contains(han[2].1) => Some(from + han[2].0),
            _ => Some(from + han[2].0 + han[2].1.len_utf8()),
        }
    };
    // A definition (法定代表人是指依照…) rather than a name.
    if char_after(text, e).is_some_and(|c| NOT_NAME_HEAD.contains(c)) {
        return None;
    }
    let mut end = take_name(e)?;
    while let Some(sep @ ('、' | '/' | '和' | '及' | '与')) = char_after(text, end) {
        match take_name(end + sep.len_utf8()) {
            Some(next) => end = next,
            None => break,
        }
    }
    Some((e, end))
}

/// Whether `c` is a CJK unified ideograph (main block or extension A).
pub(crate) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// Checks the ISO 7064 MOD 11-2 check character of an 18-character resident ID number.
pub(crate) fn resident_id_ok(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

/// The 31 characters of GB 32100 codes, in value order (no I, O, S, V, Z).
const CREDIT_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Checks the GB 32100 check character of an 18-character unified social credit code.
pub(crate) fn credit_code_ok(code: &str) -> bool {
    const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let b: Vec<u8> = code.bytes().map(|c| c.to_ascii_uppercase()).collect();
    if b.len() != 18 {
        return false;
    }
    let value = |c: u8| CREDIT_CHARSET.iter().position(|x| *x == c).map(|v| v as u32);
    let mut sum = 0;
    for (c, w) in b[..17].iter().zip(WEIGHTS) {
        match value(*c) {
            Some(v) => sum += v * w,
            None => return false,
        }
    }
    let check = (31 - sum % 31) % 31;
    value(b[17]) == Some(check)
}

// ---------------------------------------------------------------------------------------------
// A record's own names and their short forms.

/// How to derive short forms of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameClass {
    /// A person's name.
    Person,
    /// An organisation's name.
    Org,
    /// An identifier copied from a private field (phone, email, patent number): exact form only.
    Exact(PiiKind),
    /// Decide by shape (for [`scrub`]).
    Auto,
}

/// One string to blank out wherever it occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NameForm {
    /// The form, width-folded and with ASCII lowercased.
    text: String,
    kind: PiiKind,
    /// ASCII forms match whole words only, case-insensitively.
    ascii: bool,
}

/// The names (and their short forms) a record must not leak.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameForms {
    forms: Vec<NameForm>,
}

/// Organisation suffixes, longest first, with the characters they contribute to an abbreviation
/// (华中科技大学 → 华科大, 中国科学院 → 中科院).
const ORG_SUFFIXES: [(&str, &str); 18] = [
    ("集团股份有限公司", ""),
    ("股份有限公司", ""),
    ("有限责任公司", ""),
    ("集团有限公司", ""),
    ("有限公司", ""),
    ("研究中心", ""),
    ("实验室", ""),
    ("科学院", "科院"),
    ("研究院", "院"),
    ("研究所", "所"),
    ("设计院", "院"),
    ("集团", ""),
    ("公司", ""),
    ("大学", "大"),
    ("学院", "院"),
    ("医院", "医"),
    ("中心", ""),
    ("厂", ""),
];

/// Place names that open many organisation names and are not part of their brand.
#[rustfmt::skip]
const PLACES: [&str; 57] = [
    "中国", "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏",
    "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门", "咸宁", "泉州", "广州", "宁波", "青岛", "长沙", "成都", "苏州", "杭州", "武汉", "西安",
    "合肥", "郑州", "深圳", "济南", "大连", "无锡", "南昌", "贵阳", "南宁", "佛山", "厦门",
];

/// Line-of-business words that close many company names and are not part of their brand.
#[rustfmt::skip]
const INDUSTRY_WORDS: [&str; 44] = [
    "高新技术", "新材料", "新能源", "半导体", "科技", "技术", "材料", "电子", "信息", "智能",
    "能源", "生物", "医药", "制药", "药业", "环保", "机械", "设备", "装备", "制造", "实业", "工程",
    "化工", "化学", "软件", "网络", "发展", "控股", "电气", "光电", "电器", "汽车", "工业", "产业",
    "贸易", "股份", "投资", "建设", "通信", "数据", "农业", "食品", "纺织", "集团",
];

/// Words of English organisation names that say what kind of body it is, not which one.
#[rustfmt::skip]
const ORG_WORDS_EN: [&str; 30] = [
    "university", "institute", "college", "academy", "school", "company", "co", "ltd", "limited",
    "inc", "corp", "corporation", "group", "laboratory", "lab", "labs", "center", "centre",
    "hospital", "research", "of", "and", "the", "for", "science", "sciences", "technology",
    "technologies", "national", "china",
];

impl NameForms {
    /// Derives the forms of every given name.
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = (&'a str, NameClass)>) -> Self {
        let mut forms: Vec<NameForm> = Vec::new();
        for (name, class) in names {
            for (text, kind) in derive_forms(name, class) {
                let text = fold_width(&text).to_ascii_lowercase();
                if text.chars().count() < 2 {
                    continue;
                }
                let ascii = text.is_ascii();
                if !forms.iter().any(|f| f.text == text) {
                    forms.push(NameForm { text, kind, ascii });
                }
            }
        }
        // Longest first, so that scrubbing the full name wins over its parts.
        forms.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.text.cmp(&b.text)));
        NameForms { forms }
    }

    /// The kind of the form `term` equals, if it equals one (ASCII compared case-insensitively).
    ///
    /// NB: compares character by character, folding `term` as it goes, rather than folding a
    /// copy: it is asked about every term of every record, and most forms differ at once.
    pub(crate) fn matches(&self, term: &str) -> Option<PiiKind> {
        let folded = || term.chars().map(|c| fold_char(c).to_ascii_lowercase());
        self.forms.iter().find(|f| f.text.chars().eq(folded())).map(|f| f.kind)
    }

    /// Whether a form occurs in `text` (which [`scrub_with`] would then blank out).
    pub(crate) fn occur_in(&self, text: &str) -> bool {
        !self.forms.is_empty() && !self.find_in(&fold_width(text)).is_empty()
    }

    /// Every occurrence of every form in width-folded `text`.
    fn find_in(&self, text: &str) -> Vec<Detection> {
        if self.forms.is_empty() {
            return Vec::new();
        }
        let lower = text.to_ascii_lowercase();
        let mut out = Vec::new();
        for f in &self.forms {
            for (start, _) in lower.match_indices(f.text.as_str()) {
                let end = start + f.text.len();
                if f.ascii && alnum_bounded(&lower, start, end).is_none() {
                    continue;
                }
                out.push(Detection { kind: f.kind, start, end });
            }
        }
        out
    }
}

/// The strings to blank out for one name.
fn derive_forms(name: &str, class: NameClass) -> Vec<(String, PiiKind)> {
    let name = fold_width(name.trim());
    if name.is_empty() {
        return Vec::new();
    }
    let class = match class {
        NameClass::Auto => auto_class(&name),
        c => c,
    };
    match class {
        NameClass::Exact(kind) => {
            let mut v = vec![(name.clone(), kind)];
            let compact: String =
                name.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
            if compact != name {
                v.push((compact, kind));
            }
            v
        }
        NameClass::Person => person_forms(&name),
        NameClass::Org | NameClass::Auto => org_forms(&name),
    }
}

fn auto_class(name: &str) -> NameClass {
    if name.is_ascii() {
        let words: Vec<String> = ascii_words(name);
        let orgish = words.len() >= 4 || words.iter().any(|w| ORG_WORDS_EN.contains(&w.as_str()));
        return if orgish { NameClass::Org } else { NameClass::Person };
    }
    let n = name.chars().count();
    let has_suffix = ORG_SUFFIXES.iter().any(|(s, _)| name.ends_with(s));
    if (2..=4).contains(&n) && !has_suffix { NameClass::Person } else { NameClass::Org }
}

fn ascii_words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Compound surnames, for telling the given name of a 4-character name.
#[rustfmt::skip]
pub(crate) const COMPOUND_SURNAMES: [&str; 12] = [
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "司徒",
];

fn person_forms(name: &str) -> Vec<(String, PiiKind)> {
    let k = PiiKind::PersonName;
    let mut v = vec![(name.to_owned(), k)];
    if name.is_ascii() {
        // "Wang Jianguo": the full name and each part, matched as whole words.
        for w in ascii_words(name) {
            if w.len() >= 2 {
                v.push((w, k));
            }
        }
        return v;
    }
    let chars: Vec<char> = name.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.contains(&'·') || chars.contains(&'•') {
        for part in name.split(['·', '•']) {
            v.push((part.trim().to_owned(), k));
        }
        return v;
    }
    let surname_len = match chars.len() {
        4 if COMPOUND_SURNAMES.iter().any(|s| name.starts_with(s)) => 2,
        _ => 1,
    };
    if chars.len() == 3 || (chars.len() == 4 && surname_len == 2) {
        v.push((chars[surname_len..].iter().collect(), k));
    }
    let surname: String = chars[..surname_len.min(chars.len())].iter().collect();
    for t in TITLES {
        v.push((format!("{surname}{t}"), k));
    }
    v
}

fn org_forms(name: &str) -> Vec<(String, PiiKind)> {
    let k = PiiKind::OrgName;
    let mut v = vec![(name.to_owned(), k)];
    if name.is_ascii() {
        // "Huazhong University of Science and Technology": the full name, its distinctive words
        // ("huazhong") and the acronym of its capitalised words ("HUST").
        for w in ascii_words(name) {
            if w.len() >= 3 && !ORG_WORDS_EN.contains(&w.as_str()) {
                v.push((w, k));
            }
        }
        let acronym: String = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter_map(|w| w.chars().next().filter(char::is_ascii_uppercase))
            .collect();
        if acronym.len() >= 3 {
            v.push((acronym, k));
        }
        return v;
    }
    // Drop a parenthesised branch, e.g. 华为技术有限公司(武汉).
    let base: String = match name.find(['(', '（']) {
        Some(i) if i > 0 => name[..i].to_owned(),
        _ => name.to_owned(),
    };
    let (core, suffix_abbr, company) = strip_suffixes(&base);
    if core != base {
        v.push((core.clone(), k));
    }
    // Initial abbreviation: the first character of each 2-character chunk of the core, then the
    // suffix's contribution (华中科技 + 大学 → 华科, 华科大; 中国 + 科学院 → 中科院).
    let chars: Vec<char> = core.chars().collect();
    if chars.len().is_multiple_of(2)
        && (2..=6).contains(&chars.len())
        && chars.iter().all(|c| is_han(*c))
    {
        let abbr: String = chars.chunks(2).map(|c| c[0]).collect();
        if abbr.chars().count() >= 2 {
            v.push((abbr.clone(), k));
        }
        if !suffix_abbr.is_empty() {
            v.push((format!("{abbr}{suffix_abbr}"), k));
        }
    }
    // A company's brand: the core without leading places and trailing line-of-business words
    // (湖北星源新材料科技 → 星源).
    if company {
        let mut brand = core.as_str();
        loop {
            let before = brand;
            for p in PLACES {
                if let Some(rest) = brand.strip_prefix(p) {
                    brand = rest.trim_start_matches(['省', '市']);
                    break;
                }
            }
            // Any other place written with its level, e.g. 黄石市 or 大冶县.
            if brand == before
                && let Some((i, c)) = brand
                    .char_indices()
                    .skip(1)
                    .take(3)
                    .find(|(_, c)| matches!(c, '省' | '市' | '县' | '区'))
            {
                brand = &brand[i + c.len_utf8()..];
            }
            if brand == before {
                break;
            }
        }
        loop {
            let before = brand;
            for w in INDUSTRY_WORDS {
                if let Some(rest) = brand.strip_suffix(w) {
                    brand = rest;
                    break;
                }
            }
            if brand == before {
                break;
            }
        }
        if brand.chars().count() >= 2 && brand != core {
            v.push((brand.to_owned(), k));
        }
        // The trade name (字号) is usually the brand's first two characters, and staff write
        // it alone (湖北星源隔膜科技 → 星源隔膜 → 星源公司). The line-of-business list cannot
        // name every product word, so a longer brand also yields its first two characters.
        let han: Vec<char> = brand.chars().collect();
        if han.len() >= 4 && han.iter().all(|c| is_han(*c)) {
            v.push((han[..2].iter().collect(), k));
        }
    }
    v
}

/// Strips organisation suffixes repeatedly; returns the core, the abbreviation contribution of
/// the outermost suffix that has one, and whether the name is a company.
fn strip_suffixes(name: &str) -> (String, &'static str, bool) {
    let mut core = name;
    let mut abbr = "";
    let mut company = false;
    'outer: loop {
        for (suffix, a) in ORG_SUFFIXES {
            if let Some(rest) = core.strip_suffix(suffix)
                && rest.chars().count() >= 2
            {
                if abbr.is_empty() {
                    abbr = a;
                }
                company |= suffix.contains("公司") || suffix == "集团" || suffix == "厂";
                core = rest;
                continue 'outer;
            }
        }
        break;
    }
    (core.to_owned(), abbr, company)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detected substrings of `text`, with their kinds.
    fn found(text: &str) -> Vec<(PiiKind, &str)> {
        detect(text).into_iter().map(|d| (d.kind, &text[d.start..d.end])).collect()
    }

    fn check(text: &str, expected: &[(PiiKind, &str)]) {
        assert_eq!(found(text), expected, "in {text:?}");
    }

    fn kinds(text: &str) -> Vec<PiiKind> {
        detect(text).into_iter().map(|d| d.kind).collect()
    }

    /// Completes 17 digits with their resident-ID check character.
    fn with_id_check(first17: &str) -> String {
        for c in "0123456789X".chars() {
            let id = format!("{first17}{c}");
            if resident_id_ok(&id) {
                return id;
            }
        }
        unreachable!("one check character always fits")
    }

    /// Completes 17 characters with their credit-code check character.
    fn with_credit_check(first17: &str) -> String {
        for c in CREDIT_CHARSET.iter() {
            let code = format!("{first17}{}", *c as char);
            if credit_code_ok(&code) {
                return code;
            }
        }
        unreachable!("one check character always fits")
    }

    #[test]
    fn mobiles_in_their_usual_spellings() {
        use PiiKind::Mobile;
        check(
            "联系人：王建国，电话：13871234567，邮箱 wangjg@hust.edu.cn",
            &[
                (PiiKind::PersonName, "王建国"),
                (Mobile, "13871234567"),
                (PiiKind::Email, "wangjg@hust.edu.cn"),
            ],
        );
        check("手机 +86 138 7123 4567（微信同号）", &[(Mobile, "+86 138 7123 4567")]);
        check("电话：+86-13871234567", &[(Mobile, "+86-13871234567")]);
        check("请拨打138-7123-4567咨询", &[(Mobile, "138-7123-4567")]);
        check("手机１３８７１２３４５６７", &[(Mobile, "１３８７１２３４５６７")]);
        check("手机138—7123—4567", &[(Mobile, "138—7123—4567")]);
    }

    #[test]
    fn mobiles_are_not_found_inside_longer_numbers_or_with_bad_prefixes() {
        assert!(!kinds("订单号 213871234567890").contains(&PiiKind::Mobile));
        assert_eq!(kinds("循环寿命12000次，能量密度260Wh/kg"), vec![]);
        assert_eq!(kinds("号码 12871234567 不是手机号"), vec![]);
    }

    #[test]
    fn landlines_with_area_codes_parentheses_and_extensions() {
        use PiiKind::Landline;
        check("办公电话：0715-8123456", &[(Landline, "0715-8123456")]);
        check("电话（027）87541234转8021，传真", &[(Landline, "（027）87541234转8021")]);
        check("Tel: 027-8754-1234 ext. 12", &[(Landline, "027-8754-1234 ext. 12")]);
        check("总机 010 62781234", &[(Landline, "010 62781234")]);
        check("服务热线400-820-8820", &[(Landline, "400-820-8820")]);
        check("Tel +86 27 87541234", &[(Landline, "+86 27 87541234")]);
    }

    #[test]
    fn landline_detector_ignores_years_ranges_and_decimals() {
        assert_eq!(kinds("2021-2025年，温度0.5-1.2℃，粒径0.1-100μm"), vec![]);
        assert_eq!(kinds("型号DN025-160"), vec![]);
    }

    #[test]
    fn emails_including_obfuscated_at() {
        use PiiKind::Email;
        check("邮箱：li.hong_2020@whu.edu.cn。", &[(Email, "li.hong_2020@whu.edu.cn")]);
        check("email: zhang (at) hust.edu.cn", &[(Email, "zhang (at) hust.edu.cn")]);
        check("邮箱ｗａｎｇ＠１６３．ｃｏｍ", &[(Email, "ｗａｎｇ＠１６３．ｃｏｍ")]);
        assert_eq!(kinds("采用@符号标注，比例 3:1"), vec![]);
    }

    #[test]
    fn resident_ids_need_a_valid_check_character() {
        let id = with_id_check("42120219850307123");
        check(&format!("身份证号{id}，"), &[(PiiKind::ResidentId, id.as_str())]);
        let x = with_id_check("11010519491231002");
        assert_eq!(x, "11010519491231002X", "the GB 11643 sample ends in X");
        check(&format!("证件 {}", x.to_lowercase()), &[(PiiKind::ResidentId, &*x.to_lowercase())]);
        let spaced = format!("{} {} {}", &id[..6], &id[6..14], &id[14..]);
        check(&format!("身份证号{spaced}。"), &[(PiiKind::ResidentId, spaced.as_str())]);
        // A wrong check character is not an ID (the numeric filter drops it later).
        let last = id.chars().last().unwrap();
        let bad = format!("{}{}", &id[..17], if last == '0' { '1' } else { '0' });
        assert!(!resident_id_ok(&bad));
        assert!(!kinds(&format!("编号{bad}")).contains(&PiiKind::ResidentId));
        // Nor is a valid one glued into a longer code.
        assert_eq!(kinds(&format!("SN{id}7")), vec![]);
    }

    #[test]
    fn credit_codes_need_a_valid_check_character() {
        let code = with_credit_check("91421200MA4F3B7K2");
        assert!(credit_code_ok(&code));
        check(&format!("统一社会信用代码：{code}。"), &[(PiiKind::CreditCode, code.as_str())]);
        // Lowercase is accepted too.
        assert!(credit_code_ok(&code.to_lowercase()));
        let bad = format!("{}{}", &code[..17], if code.ends_with('0') { '1' } else { '0' });
        assert!(!credit_code_ok(&bad));
        assert!(!kinds(&format!("代码{bad}")).contains(&PiiKind::CreditCode));
    }

    #[test]
    fn patent_publication_and_application_numbers() {
        use PiiKind::Patent;
        check("已授权CN114081026A一项", &[(Patent, "CN114081026A")]);
        check("专利号：ZL202110123456.7，", &[(Patent, "ZL202110123456.7")]);
        check("申请号202110123456.7", &[(Patent, "202110123456.7")]);
        check("申请号 CN 2021 1 0123456.7 已公开", &[(Patent, "CN 2021 1 0123456.7")]);
        check("老专利ZL98123456.7", &[(Patent, "ZL98123456.7")]);
        check("PCT/CN2021/123456", &[(Patent, "PCT/CN2021/123456")]);
        check("US10123456B2", &[(Patent, "US10123456B2")]);
        assert_eq!(kinds("CNC加工中心，CN-2型号，版本2021.1"), vec![]);
    }

    #[test]
    fn urls_and_bare_domains() {
        use PiiKind::Url;
        check("详见https://www.example.com/a?b=1。", &[(Url, "https://www.example.com/a?b=1")]);
        check("官网www.xnxy.edu.cn.", &[(Url, "www.xnxy.edu.cn")]);
        check("访问 hbxy-tech.com 了解", &[(Url, "hbxy-tech.com")]);
        assert_eq!(kinds("采用Node.js与LiFePO4/C材料，见图2.1，基于ASP.NET和ADO.Net"), vec![]);
    }

    #[test]
    fn qq_and_wechat_after_their_labels() {
        use PiiKind::ImHandle;
        check("QQ：123456789", &[(ImHandle, "QQ：123456789")]);
        check(
            "qq 10001 或扣扣号码：987654321",
            &[(ImHandle, "qq 10001"), (ImHandle, "扣扣号码：987654321")],
        );
        check("微信：wjg_hust2020，", &[(ImHandle, "微信：wjg_hust2020")]);
        check("微信号wangjianguo-88", &[(ImHandle, "微信号wangjianguo-88")]);
        check("WeChat ID: Li_Hong2021", &[(ImHandle, "WeChat ID: Li_Hong2021")]);
        check("wx: abc12345", &[(ImHandle, "wx: abc12345")]);
        check("QQ/微信：123456789", &[(ImHandle, "QQ/微信：123456789")]);
        // No id after the label, or an id too short, is not a handle.
        assert_eq!(kinds("QQ群很活跃，微信小程序开发，wxWidgets界面"), vec![]);
        assert_eq!(kinds("微信：ab1"), vec![]);
    }

    #[test]
    fn chinese_addresses() {
        use PiiKind::Address;
        check("地址：湖北省咸宁市咸安区长江路88号。", &[(Address, "湖北省咸宁市咸安区长江路88号")]);
        check("公司位于金桂路12号", &[(Address, "金桂路12号")]);
        check("温泉街道金桂苑12号301室", &[(Address, "温泉街道金桂苑12号301室")]);
        check(
            "武汉市东湖新技术开发区光谷软件园A3栋501室",
            &[(Address, "武汉市东湖新技术开发区光谷软件园A3栋501室")],
        );
        check("深圳市南山区高新南七道18号", &[(Address, "深圳市南山区高新南七道18号")]);
        check("武汉市洪山区创业大厦12楼1205室", &[(Address, "武汉市洪山区创业大厦12楼1205室")]);
        check("咸安区横沟桥镇甘棠村五组", &[(Address, "咸安区横沟桥镇甘棠村五组")]);
        check(
            "No. 88 Changjiang Road, Xian'an District",
            &[(Address, "No. 88 Changjiang Road, Xian'an District")],
        );
    }

    #[test]
    fn place_names_alone_are_not_addresses() {
        // NB: the study site of an abstract is not PII; only a street, compound, building or
        // village group with its number is.
        for text in [
            "位于湖北省武汉市",
            "地处湖北省武汉市洪山区，",
            "以四川省盐亭县为例",
            "在滁州市定远县七里塘开展了河蟹养殖",
            "上海市地铁1号线客流",
            "从广东省农科院引进粤油7号",
            "以某高烈度区一座高层建筑为例",
        ] {
            assert_eq!(kinds(text), vec![], "{text}");
        }
    }

    #[test]
    fn technical_text_is_not_an_address() {
        let text = "集成电路与电路板测试，区块链溯源，线路损耗降低12%，第3代半导体，道路交通";
        assert_eq!(kinds(text), vec![]);
        assert_eq!(kinds("reduces noise by 3 dB on the road"), vec![]);
        assert_eq!(kinds("上海市城市商业核心区的各省区市数据"), vec![]);
    }

    #[test]
    fn labelled_and_titled_person_names() {
        use PiiKind::PersonName;
        check("联系人：王建国，电话", &[(PersonName, "王建国")]);
        check("联系人王工电话", &[(PersonName, "王工")]);
        check("发明人：李红、张伟及赵小明。", &[(PersonName, "李红、张伟及赵小明")]);
        check("请联系李教授团队", &[(PersonName, "李教授")]);
        check("负责人：欧阳明辉", &[(PersonName, "欧阳明")]);
        // A surname that ends another word, and a label in a definition, are not names.
        assert_eq!(kinds("评价基金经理的选股能力，培养园林工程师"), vec![]);
        assert_eq!(kinds("法定代表人是指依照法律规定代表法人行使职权的负责人"), vec![]);
        check("由张明教授牵头", &[(PersonName, "张明教授")]);
        assert_eq!(kinds("负责人工智能算法的石墨烯博士后工作站"), vec![]);
        assert_eq!(kinds("适用于工程实践，阶段工作"), vec![]);
    }

    #[test]
    fn organisation_names_with_legal_or_academic_suffixes() {
        use PiiKind::OrgName;
        check("由湖北星源新材料科技有限公司承担", &[(OrgName, "湖北星源新材料科技有限公司")]);
        check("与华中科技大学合作", &[(OrgName, "华中科技大学")]);
        check(
            "依托中国科学院近代物理研究所的装置",
            &[(OrgName, "中国科学院"), (OrgName, "近代物理研究所")],
        );
        assert_eq!(kinds("公司需要大学生实习，有限元分析"), vec![]);
        // An institution named as a study site or a source is public, not an identifier.
        assert_eq!(kinds("以北京邮电大学网络学习者为调查对象，据中国社会科学院统计"), vec![]);
        assert_eq!(kinds("借鉴国内外大学的经验，建设一流大学，我国338所大学"), vec![]);
    }

    #[test]
    fn detections_are_sorted_and_do_not_overlap() {
        let text = "邮箱 a.b@x-y.com，网址 http://x-y.com/p，手机13871234567，地址长江路88号";
        let ds = detect(text);
        assert!(ds.windows(2).all(|w| w[0].end <= w[1].start), "{ds:?}");
        assert_eq!(ds.len(), 4, "{:?}", found(text));
    }

    #[test]
    fn scrub_blanks_detections_and_own_names() {
        let text = "王建国团队（华中科技大学，简称华科）研制的隔膜，电话13871234567";
        let out = scrub(text, &["王建国", "华中科技大学"]);
        assert_eq!(out, " 团队( ,简称 )研制的隔膜,电话 ");
        assert_eq!(scrub("建国研究员与王老师", &["王建国"]), " 研究员与 ");
    }

    #[test]
    fn org_short_forms() {
        let forms = |n: &str| -> Vec<String> {
            derive_forms(n, NameClass::Org).into_iter().map(|(t, _)| t).collect()
        };
        assert_eq!(forms("华中科技大学"), ["华中科技大学", "华中科技", "华科", "华科大"]);
        assert_eq!(forms("中国科学院"), ["中国科学院", "中国", "中科院"]);
        assert_eq!(
            forms("湖北星源新材料科技有限公司"),
            ["湖北星源新材料科技有限公司", "湖北星源新材料科技", "星源"]
        );
        assert_eq!(forms("宁德时代新能源科技股份有限公司")[2], "宁德时代");
        assert_eq!(forms("黄石市华新水泥有限公司")[2..], ["华新水泥", "华新"]);
        // A product word the line-of-business list lacks still leaves the trade name.
        assert!(forms("湖北星源隔膜科技有限公司").contains(&"星源".to_owned()));
        assert_eq!(forms("咸宁市华泰农业发展有限公司")[2], "华泰");
        assert_eq!(
            forms("Huazhong University of Science and Technology"),
            ["Huazhong University of Science and Technology", "huazhong", "HUST"]
        );
    }

    #[test]
    fn person_short_forms() {
        let forms = |n: &str| -> Vec<String> {
            derive_forms(n, NameClass::Person).into_iter().map(|(t, _)| t).collect()
        };
        let f = forms("王建国");
        assert_eq!(&f[..3], ["王建国", "建国", "王副教授"]);
        assert!(f.contains(&"王工".to_owned()));
        assert_eq!(&forms("欧阳明辉")[..2], ["欧阳明辉", "明辉"]);
        assert_eq!(forms("李红")[1], "李副教授");
        assert_eq!(&forms("Wang Jianguo")[..], ["Wang Jianguo", "wang", "jianguo"]);
    }

    #[test]
    fn the_address_gate_knows_exactly_the_suffixes_of_the_address_pattern() {
        let ends: std::collections::BTreeSet<char> = ROAD_SUFFIXES
            .iter()
            .chain(&PLACE_SUFFIXES)
            .map(|s| s.chars().next_back().unwrap())
            .collect();
        for c in &ends {
            assert!(ends_address_suffix(*c), "{c} ends a suffix");
        }
        // Every Han character of the Basic Multilingual Plane's main block.
        let accepted: std::collections::BTreeSet<char> =
            ('\u{4E00}'..='\u{9FFF}').filter(|c| ends_address_suffix(*c)).collect();
        assert_eq!(accepted, ends);
    }

    #[test]
    fn name_forms_match_terms_case_insensitively() {
        let forms = NameForms::new([
            ("Huazhong University of Science and Technology", NameClass::Auto),
            ("王建国", NameClass::Auto),
        ]);
        assert_eq!(forms.matches("hust"), Some(PiiKind::OrgName));
        assert_eq!(forms.matches("HUST"), Some(PiiKind::OrgName));
        // Full-width letters fold to ASCII first.
        assert_eq!(forms.matches("ＨＵＳＴ"), Some(PiiKind::OrgName));
        assert_eq!(forms.matches("建国"), Some(PiiKind::PersonName));
        assert_eq!(forms.matches("隔膜"), None);
        // The whole term equals a form, not a part of it.
        assert_eq!(forms.matches("hus"), None);
        assert_eq!(forms.matches("husts"), None);
        assert_eq!(forms.matches("王建国工"), None);
        // ASCII forms are whole words only.
        assert_eq!(
            scrub("hustle and HUST", &["Huazhong University of Science and Technology"]),
            "hustle and  "
        );
    }

    #[test]
    fn skipping_regexes_that_cannot_match_changes_nothing() {
        let records = include_str!("../testdata/records.jsonl");
        let mut texts: Vec<String> = records.lines().map(fold_width).collect();
        let id = with_id_check("42120219850307123");
        let code = with_credit_check("91421200MA4F3B7K2");
        for t in [
            "联系人：王建国，电话：13871234567，邮箱 wangjg@hust.edu.cn",
            "手机 +86 138 7123 4567（微信同号），Tel +86 27 87541234，服务热线400-820-8820",
            "电话（027）87541234转8021，Tel: 027-8754-1234 ext. 12，总机 010 62781234",
            "email: zhang (at) hust.edu.cn，邮箱ｗａｎｇ＠１６３．ｃｏｍ，采用@符号标注",
            "已授权CN114081026A一项，专利号：ZL202110123456.7，老专利ZL98123456.7，US10123456B2",
            "PCT/CN2021/123456，申请号 CN 2021 1 0123456.7 已公开，CNC加工中心，版本2021.1",
            "详见https://www.example.com/a?b=1。官网www.xnxy.edu.cn. 访问 hbxy-tech.com 了解",
            "QQ：123456789，qq 10001 或扣扣号码：987654321，QQ/微信：123456789",
            "微信：wjg_hust2020，WeChat ID: Li_Hong2021，wx: abc12345，微信号wangjianguo-88",
            "地址：湖北省咸宁市咸安区长江路88号。温泉街道金桂苑12号301室，深圳市南山区高新南七道18号",
            "武汉市洪山区创业大厦12楼1205室，咸安区横沟桥镇甘棠村五组，No. 88 Changjiang Road",
            "请联系李教授团队，由张明教授牵头，发明人：李红、张伟及赵小明。负责人：欧阳明辉",
            "由湖北星源新材料科技有限公司承担，与华中科技大学合作，依托中国科学院近代物理研究所",
            "2021-2025年，温度0.5-1.2℃，粒径0.1-100μm，型号DN025-160，信号处理，座椅设计",
            "评价基金经理的选股能力，培养园林工程师，上海市地铁1号线客流，从广东省农科院引进粤油7号",
            "高新科技园A12号，创新大道18-2号院，金融港二期12栋，工业园三号楼，光谷广场B座",
            "甘棠村12队，时代广场3F，中心大楼12楼1205室，新村一组，该区1号机组，第3号染色体",
            "有限元分析，有限责任公司，武汉光谷有限公司，湖南大学，村五组，大厦，广场舞",
            "Lab at 1037 Luoyu Road, Hongshan District; 12 Main St. and 3 West Lake\u{a0}Ave",
            "the first 5 steps on a road\tStreet 7 Drive, stage 3 Lane; 20 Highway Blvd",
        ] {
            texts.push(fold_width(t));
        }
        texts.push(fold_width(&format!("身份证号{id}，统一社会信用代码：{code}。")));
        // And real abstracts, where needles such as 号, 村, 有限 and 大学 abound.
        let csl = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/csl/csl_merged.jsonl");
        let csl = std::fs::read_to_string(csl).expect("the shared CSL data");
        for line in csl.lines().take(1500) {
            let paper: serde_json::Value = serde_json::from_str(line).expect("a CSL paper");
            texts.push(fold_width(paper["abstract"].as_str().unwrap_or_default()));
        }
        for t in &texts {
            assert_eq!(detect_folded_gated(t, true), detect_folded_gated(t, false), "in {t:?}");
        }
    }

    #[test]
    fn the_needle_scan_finds_what_searching_each_needle_finds() {
        let detectors = &*DETECTORS;
        let needles: Vec<(&str, u128)> = detectors
            .starts
            .iter()
            .flatten()
            .map(|(n, bit)| (std::str::from_utf8(n).expect("needles are text"), *bit))
            .collect();
        // Characters of every UTF-8 length, and characters whose code points share a place of
        // the scan's table with a needle character's (号 is U+53F7: U+63F7 揷 and U+13F7 ᏷
        // share its place, as U+1F3F7 🏷 of four bytes does), around needles of every kind.
        let mut texts: Vec<String> = [
            "号揷᏷🏷号",
            "揷᏷🏷",
            "café №5 Ωmega 号码 μm²",
            "𠀀𠀁号𠀂村 Tel 027",
            "ＱＱ：１２３",
            "WWW.HUST.EDU.CN and Www.X.Com",
            "a1b22c333d4444",
            "9876543210x12",
            "é",
            "",
            "申请人教授, 研究员Road St. 8 Ave",
            "村",
            "号",
            "q",
            "0",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let csl = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/csl/csl_merged.jsonl");
        let csl = std::fs::read_to_string(csl).expect("the shared CSL data");
        for line in csl.lines().take(500) {
            let paper: serde_json::Value = serde_json::from_str(line).expect("a CSL paper");
            texts.push(paper["abstract"].as_str().unwrap_or_default().to_owned());
        }
        for t in &texts {
            let lower = t.to_ascii_lowercase();
            let expected = needles
                .iter()
                .filter(|(n, _)| lower.contains(n))
                .fold(0_u128, |found, (_, bit)| found | bit);
            assert_eq!(detectors.scan(t), (expected, longest_digit_run(t)), "in {t:?}");
        }
    }

    #[test]
    fn folding_covers_full_width_and_sub_and_superscript_digits() {
        assert_eq!(fold_width("ＬｉＦｅＰＯ４　CO₂ TiO₂ m² 10⁵"), "LiFePO4 CO2 TiO2 m2 105");
        assert!(matches!(fold_width_cow("锂电池"), Cow::Borrowed(_)));
        // The run-copying fold folds exactly what folding character by character does, around
        // every character that shares a lead byte with one that folds.
        let tricky = "\u{FF00}\u{FF01}\u{FF5E}\u{FF5F}\u{3000}\u{3001}。、\u{2069}\u{2070}\u{2071}\u{2089}\u{208A}\u{00B1}\u{00B2}\u{00B9}\u{00BA}é€𝄞";
        for (i, _) in tricky.char_indices() {
            let text = format!("a{}锂电池{}", &tricky[i..], &tricky[..i]);
            let by_char: String = text.chars().map(fold_char).collect();
            assert_eq!(fold_width(&text), by_char, "{text:?}");
        }
        assert_eq!(first_kind("13871234567"), Some(PiiKind::Mobile));
        assert_eq!(first_kind("隔膜"), None);
    }

    #[test]
    fn pii_kind_codes_are_distinct_snake_case() {
        let codes: std::collections::BTreeSet<_> = PiiKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), PiiKind::ALL.len());
        assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
