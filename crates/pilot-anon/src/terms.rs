//! Turning scrubbed technical text into weighted terms: segmentation, normalisation, stop
//! words, filters, tf × idf weighting and the deterministic top-k cut.
//!
//! Segmentation uses jieba-rs with its compiled-in dictionary; idf values come from jieba-rs's
//! TF-IDF table, remembered per term. Term counts live in a hash map, but terms are cut by a
//! total order (weight, then term), so output never depends on hash order.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::{LazyLock, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use jieba_rs::{Jieba, KeywordExtract, KeywordExtractConfig, Tag, TfIdf, Token};

use pilot_model::{Summary, WeightedTerm};

use crate::rules::{
    FastHash, Fx, NameForms, PiiKind, fold_width, fold_width_cow, identifier_kind, is_han,
    scrub_marked,
};

/// Weight multiplier for terms from a title.
pub(crate) const TITLE_BOOST: f64 = 2.0;
/// Weight multiplier for terms from author keywords.
pub(crate) const KEYWORD_BOOST: f64 = 1.5;
/// Weight multiplier for terms from the main text.
pub(crate) const TEXT_BOOST: f64 = 1.0;

/// Weights are rounded to this many steps of (0, 1], so that summaries are byte-stable.
const WEIGHT_STEPS: u32 = 10_000;

/// Words that say nothing about the technology: function words, the discourse boilerplate of
/// abstracts and requests, and contact vocabulary.
///
/// NB: generic nouns of business and society (企业, 市场, 社会, 信用, 服务, 团队, 项目, 专利, 处理)
/// are deliberately not stop words. In the titles of the social and management sciences they
/// are the topic (企业社会责任, 信用风险, 公司治理, 团队激励, 项目管理), and the hub's BM25 already
/// gives a word that most summaries carry little weight. Keeping them gained about 4% of
/// recall@10 on the NSFC set of the quality benchmark (DEV split) and nothing was lost on CSL.
/// The research boilerplate every abstract carries (研究, 方法, 分析, 应用, 技术) stays out:
/// keeping it too gained under 2% more but made top-10 queries 1.7 times slower at 1.1 million
/// summaries (benches/scale.rs in pilot-match), its postings being the longest.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    // Chinese function words.
    "的", "了", "和", "与", "及", "或", "等", "在", "是", "为", "对", "把", "被", "给", "从", "到",
    "向", "由", "以", "其", "之", "于", "将", "也", "都", "就", "还", "又", "并", "而", "且", "但",
    "则", "即", "如", "若", "因", "故", "所", "此", "该", "这", "那", "这些", "那些", "这个",
    "那个", "这种", "该类", "个", "各", "每", "某", "本", "我", "我们", "你", "你们", "他", "他们",
    "她", "它", "它们", "自己", "一种", "一个", "一些", "一定", "一般", "一直", "以及", "及其",
    "并且", "而且", "因此", "所以", "然而", "但是", "如果", "由于", "为了", "进而", "从而", "此外",
    "另外", "其中", "同时", "以上", "以下", "之一", "之间", "其他", "其它", "可以", "能够", "可能",
    "已经", "正在", "目前", "现在", "当前", "基于", "面向", "利用", "使用",
    // Discourse boilerplate of abstracts and requests.
    "具有", "主要", "相关", "包括", "用于", "对于", "关于", "根据", "按照", "通过", "采用", "运用",
    "进行", "实现", "表明", "结果", "提出", "本文", "较好", "良好", "较高", "较低", "更加", "非常",
    "多种", "各种", "显著", "获得", "取得", "得到", "发现", "认为", "作为", "成为", "存在", "需要",
    "要求", "希望", "寻求", "开展", "完成", "探讨", "讨论", "介绍", "综述", "进展", "研究进展",
    "研究成果", "优点", "一体", "研制", "针对", "涉及", "提供", "具备", "达到", "领先", "单位",
    "成果", "专家", "本项目", "本研究", "本发明", "本成果", "本公司", "课题", "研究", "方法", "分析",
    "应用", "技术",
    // Intellectual-property and money boilerplate.
    "发明", "发明专利", "授权", "申请", "万元", "亿元", "元", "万", "亿", "年", "月", "日",
    // Contact vocabulary.
    "联系", "联系人", "电话", "手机", "邮箱", "地址", "微信", "传真", "教授", "博士", "老师",
    "研究员", "工程师", "身份证", "网址", "官网", "主页", "邮编", "座机", "对接", "详见", "简称",
    "已有", "申请号", "专利号", "微信号", "号码", "联系电话", "联系方式", "我司", "我校", "我院", "课题组",
    // Generic verbs and adverbs that survive segmentation of requests and abstracts.
    "从事", "长期", "现有", "兼顾", "可提供", "承接", "均可", "已获", "已获授权", "获授权", "经过",
    "结果表明", "研究表明", "实验表明",
    // English function words and abstract boilerplate.
    "a", "an", "the", "of", "and", "or", "for", "with", "in", "on", "to", "by", "we", "our", "us",
    "this", "that", "these", "those", "is", "are", "was", "were", "be", "been", "being", "it",
    "its", "as", "at", "from", "which", "can", "has", "have", "had", "not", "no", "also", "such",
    "than", "into", "via", "between", "both", "more", "most", "new", "based", "using", "use",
    "used", "method", "paper", "study", "propose", "proposed", "result", "show", "shown",
    "approach", "present", "presented", "analysis", "their", "then", "there", "here", "all", "one",
    "two", "may", "will", "each", "other", "well", "high", "low", "if", "but", "so", "do", "does",
    "about", "over", "under", "within", "without", "through", "after", "before", "while", "when",
    "where", "how", "what", "who", "whose", "among", "etc", "eg", "ie", "et", "al", "work",
    "research", "technology", "technique", "provide", "provides", "need", "demand", "project",
    "team", "contact", "phone", "email", "tel", "fax", "visit", "three", "four", "five", "six",
    "remaining", "running", "first", "second", "different", "various", "several", "many", "much",
    "very", "only", "same", "made", "make", "allow", "achieve", "achieved", "including", "include",
    "obtained", "obtain", "good", "better", "best", "large", "small", "main", "due", "per",
    "against", "up", "out", "any", "some", "further", "however", "thus", "therefore", "although",
    "because", "since", "above", "below", "during", "less", "would", "could", "should", "must",
    "might", "field", "dr", "prof", "mr", "mrs", "ms", "cny", "rmb", "usd", "yuan",
    // Units, which say how much rather than what.
    "hz", "khz", "mhz", "mm", "cm", "nm", "um", "kg", "mg", "ml", "kw", "kwh", "wh", "mah", "kv",
    "mv", "pa", "kpa", "mpa", "gpa", "db", "rpm", "min",
];

/// Chinese numerals and measure words: 两条, 三种, (200)余台 say how many, not what.
const NUMERALS: &str = "一二两三四五六七八九十百千几数余";
const MEASURE_WORDS: &str = "条个种项次台套件批类名位年月天层步款组家篇";

static STOP_SET: LazyLock<HashSet<&'static str, FastHash>> =
    LazyLock::new(|| STOP_WORDS.iter().copied().collect());

/// Whether `term` (already normalised) is a stop word.
pub(crate) fn is_stop_word(term: &str) -> bool {
    STOP_SET.contains(term)
}

/// The segmenter and the idf table; built once per node because loading them takes a while.
pub(crate) struct Vocabulary {
    jieba: Jieba,
    tfidf: TfIdf,
    median_idf: f64,
    /// Terms and the terms of jieba's words already computed.
    cache: RwLock<Cache>,
    /// Answers of [`Vocabulary::looks_like_name`] already computed, by word.
    name_memo: Memo<bool>,
}

/// Most entries a [`Memo`] or each table of the [`Cache`] keeps. A node's vocabulary is far
/// smaller, so this only bounds memory against pathological input.
#[cfg(not(test))]
const MEMO_CAPACITY: usize = 1 << 18;
/// In unit tests the cache is tiny, so that it is emptied over and over and every test checks
/// that output never depends on what is cached.
#[cfg(test)]
const MEMO_CAPACITY: usize = 1 << 6;

/// Most bytes of words the [`Cache`] keeps as strings (the words it cannot key inline, see
/// [`WordKey`]). Every other key it holds is short (terms and whole keywords pass
/// [`passes_filters`], keywords looked up whole are at most
/// [`MAX_WHOLE_LOOKUP`](crate::anonymize::MAX_WHOLE_LOOKUP) bytes), but jieba
/// cuts a run of ASCII letters and digits as one word, however long: without this bound, texts
/// of long distinct runs would fill [`MEMO_CAPACITY`] entries of up to a text's length each.
#[cfg(not(test))]
const LONG_WORD_BYTES: usize = 64 << 20;
#[cfg(test)]
const LONG_WORD_BYTES: usize = 16 << 10;

/// A term's place in the [`Cache`] that interned it, and meaningless in any other: a full cache
/// is emptied and hands ids out again, so ids never outlive the lock guard they were read under.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct TermId(u32);

/// What the pipeline needs to know about a term, worked out once when it is first met.
struct TermInfo {
    text: String,
    idf: f64,
    /// [`identifier_kind`] of the text.
    identifier: Option<PiiKind>,
}

/// A term of a [`Cache`], read where the cache keeps it.
#[derive(Clone, Copy)]
pub(crate) struct Term<'c> {
    cache: &'c Cache,
    id: TermId,
}

impl<'c> Term<'c> {
    pub(crate) fn as_str(self) -> &'c str {
        let Rank { start, len, .. } = self.cache.ranks[self.id.0 as usize];
        &self.cache.texts[start as usize..start as usize + usize::from(len)]
    }

    /// What the term looks like on its own, see [`identifier_kind`].
    pub(crate) fn identifier_kind(self) -> Option<PiiKind> {
        self.cache.ranks[self.id.0 as usize].identifier
    }
}

impl std::fmt::Debug for Term<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// The terms one word yields, in eight bytes: none, one or two ids inline, or a span of
/// [`Cache::spans`] for more, so that most words cost one probe and no pointer chase.
#[derive(Clone, Copy, Debug)]
struct Yield([TermId; 2]);

impl Yield {
    /// An empty inline slot (no valid id reaches it, see [`Cache::full`]).
    const NONE: TermId = TermId(u32::MAX);
    /// Set in the second slot when the first is the start of a span and the rest its length.
    const SPAN: u32 = 1 << 31;

    fn ids<'c>(&'c self, spans: &'c [TermId]) -> &'c [TermId] {
        let [a, b] = &self.0;
        if *b != Self::NONE && b.0 & Self::SPAN != 0 {
            let start = a.0 as usize;
            &spans[start..start + (b.0 & !Self::SPAN) as usize]
        } else {
            &self.0[..usize::from(*a != Self::NONE) + usize::from(*b != Self::NONE)]
        }
    }
}

/// A word of at most [`WordKey::MAX`] characters, all in the Basic Multilingual Plane (every
/// Han character jieba's dictionary has), packed sixteen bits a character: 98 % of the words
/// of the CSL abstracts of two or more characters. Longer words have a table of their own.
#[derive(Clone, Copy, PartialEq, Eq)]
struct WordKey(u64);

impl WordKey {
    const MAX: usize = 4;
    /// The key of the empty word, which yields nothing and is never stored: it marks a free
    /// slot of a [`WordTable`].
    const EMPTY: WordKey = WordKey(0);

    fn hash(self) -> u64 {
        (self.0 ^ (self.0 >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// How a word is looked up, worked out once per word of a [`Part`].
#[derive(Clone, Copy)]
enum Look {
    /// Fewer than two characters: below every term's minimum length, with no parts (a
    /// punctuation mark, a space, a function word such as 的), so it yields no term.
    Nothing,
    Short(WordKey),
    Long,
}

impl Look {
    /// In one pass over the characters.
    fn of(word: &str) -> Look {
        let bytes = word.as_bytes();
        // One character (half of all words: punctuation, 的, 和): its lead byte gives its length.
        let first = match bytes.first() {
            None => return Look::Nothing,
            Some(0..0x80) => 1,
            Some(0xF0..) => 4,
            Some(0xE0..) => 3,
            Some(_) => 2,
        };
        if bytes.len() == first {
            return Look::Nothing;
        }
        // NB: the common case first, two to four characters of three bytes each (every Han
        // character of the Basic Multilingual Plane), whose lead bytes say so: no UTF-8 decoder
        // is needed.
        if matches!(bytes.len(), 6 | 9 | 12) && bytes.chunks_exact(3).all(|c| c[0] >> 4 == 0xE) {
            let key = bytes.chunks_exact(3).enumerate().fold(0_u64, |key, (n, c)| {
                let c = u64::from(c[0] & 0x0F) << 12
                    | u64::from(c[1] & 0x3F) << 6
                    | u64::from(c[2] & 0x3F);
                key | c << (16 * n)
            });
            return Look::Short(WordKey(key));
        }
        Look::of_chars(word)
    }

    /// [`Look::of`] for any word, character by character.
    fn of_chars(word: &str) -> Look {
        let mut key = 0_u64;
        let mut inline = true;
        let mut n = 0;
        for c in word.chars() {
            // NB: U+0000 would read as padding, so a word holding it is not keyed inline.
            match u16::try_from(u32::from(c)) {
                Ok(c) if c != 0 && n < WordKey::MAX => key |= u64::from(c) << (16 * n),
                _ => inline = false,
            }
            n += 1;
            if !inline && n >= 2 {
                return Look::Long;
            }
        }
        match n {
            0 | 1 => Look::Nothing,
            _ if inline => Look::Short(WordKey(key)),
            _ => Look::Long,
        }
    }
}

/// Words or keywords keyed inline and what they yield: an open-addressing table with linear
/// probing, kept at most three quarters full; a slot is the key and eight bytes (sixteen bytes
/// for a [`WordKey`], thirty-two for a [`KeywordKey`]).
///
/// NB: hand-rolled rather than a `HashMap` so that a key and its value share one cache line
/// with no separate control bytes: a probe for a key the processor has not cached costs one
/// memory access, not two. And [`Table::touch`] can start those accesses for a whole text
/// before any is needed (see [`walk`]). The table is probed, never iterated in an order that
/// reaches output.
struct Table<K> {
    slots: Vec<Slot<K>>,
    len: usize,
    /// 64 − log₂ of the number of slots: a hash's top bits pick the first slot.
    shift: u32,
}

/// The words of two to four characters jieba cuts, and what each yields.
type WordTable = Table<WordKey>;

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table { slots: Vec::new(), len: 0, shift: 0 }
    }
}

#[derive(Clone, Copy)]
struct Slot<K> {
    key: K,
    y: Yield,
}

/// A key of a [`Table`]: one value of it is kept for free slots, and is never stored.
trait TableKey: Copy + Eq {
    const EMPTY: Self;
    fn hash(self) -> u64;
    /// Its first eight bytes, which [`Table::touch`] reads.
    fn head(self) -> u64;
}

impl TableKey for WordKey {
    const EMPTY: Self = WordKey::EMPTY;
    fn hash(self) -> u64 {
        WordKey::hash(self)
    }
    fn head(self) -> u64 {
        self.0
    }
}

impl<K: TableKey> Table<K> {
    const MIN_SLOTS: usize = 1 << 12;

    fn len(&self) -> usize {
        self.len
    }

    fn first(&self, key: K) -> usize {
        (key.hash() >> self.shift) as usize
    }

    fn get(&self, key: K) -> Option<&Yield> {
        if self.slots.is_empty() || key == K::EMPTY {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.first(key);
        loop {
            let slot = &self.slots[i];
            if slot.key == key {
                return Some(&slot.y);
            }
            if slot.key == K::EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Reads the first slot `key` would be probed at, for nothing but to have it cached when
    /// [`Table::get`] comes.
    fn touch(&self, key: K) -> u64 {
        self.slots.get(self.first(key)).map_or(0, |s| s.key.head())
    }

    fn insert(&mut self, key: K, y: Yield) {
        if key == K::EMPTY {
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.first(key);
        loop {
            let slot = &mut self.slots[i];
            if slot.key == key {
                slot.y = y;
                return;
            }
            if slot.key == K::EMPTY {
                *slot = Slot { key, y };
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(Self::MIN_SLOTS);
        let empty = Slot { key: K::EMPTY, y: Yield([Yield::NONE; 2]) };
        let old = std::mem::replace(&mut self.slots, vec![empty; n]);
        self.shift = 64 - n.trailing_zeros();
        self.len = 0;
        for slot in old.into_iter().filter(|s| s.key != K::EMPTY) {
            self.insert(slot.key, slot.y);
        }
    }
}

/// An author keyword of at most [`KeywordKey::MAX`] bytes, inline: its length, then its bytes,
/// zero-padded (the empty keyword is not one: it would read as [`KeywordKey::EMPTY`]).
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeywordKey([u8; 24]);

impl KeywordKey {
    const MAX: usize = 23;

    fn of(keyword: &str) -> Option<Self> {
        let bytes = keyword.as_bytes();
        if bytes.is_empty() || bytes.len() > Self::MAX {
            return None;
        }
        let mut key = [0; 24];
        key[0] = u8::try_from(bytes.len()).ok()?;
        key[1..=bytes.len()].copy_from_slice(bytes);
        Some(KeywordKey(key))
    }

    fn word(self, i: usize) -> u64 {
        let mut w = [0; 8];
        w.copy_from_slice(&self.0[8 * i..8 * i + 8]);
        u64::from_le_bytes(w)
    }
}

impl TableKey for KeywordKey {
    const EMPTY: Self = KeywordKey([0; 24]);
    fn hash(self) -> u64 {
        let mut h = Fx::default();
        for i in 0..3 {
            h.write_u64(self.word(i));
        }
        h.finish()
    }
    fn head(self) -> u64 {
        self.word(0)
    }
}

/// Author keywords looked up whole, and what each yields: those of at most
/// [`KeywordKey::MAX`] bytes (nearly all) in a [`Table`] that keeps them inline, so that a
/// probe costs one memory access rather than three (control bytes, bucket, then the key's
/// text on the heap); the others in a map.
#[derive(Default)]
struct Keywords {
    short: Table<KeywordKey>,
    long: HashMap<Box<str>, Yield, FastHash>,
}

impl Keywords {
    fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    fn get(&self, keyword: &str) -> Option<&Yield> {
        match KeywordKey::of(keyword) {
            Some(key) => self.short.get(key),
            None => self.long.get(keyword),
        }
    }

    fn contains_key(&self, keyword: &str) -> bool {
        self.get(keyword).is_some()
    }

    fn insert(&mut self, keyword: &str, y: Yield) {
        match KeywordKey::of(keyword) {
            Some(key) => self.short.insert(key, y),
            None => {
                self.long.insert(keyword.into(), y);
            }
        }
    }
}

/// Everything the pipeline reads of a term but its text, side by side in 24 bytes, so that
/// one memory access brings it all: weighing reads the idf and prefix of each of a record's
/// terms, the gate and the summary the verdict and place of those it keeps.
#[derive(Clone, Copy)]
struct Rank {
    idf: f64,
    /// The first eight bytes of the term's text, big-endian: they order terms as their texts
    /// do, unless equal, without reading the texts.
    prefix: u64,
    /// Where the term's text is in [`Cache::texts`].
    start: u32,
    /// The length of its text in bytes (a term has at most [`Summary::MAX_TERM_CHARS`]).
    len: u16,
    /// [`identifier_kind`] of the text.
    identifier: Option<PiiKind>,
}

const _: () = assert!(std::mem::size_of::<Rank>() == 24);

/// Terms by text, and the terms each word jieba cuts yields, by word.
///
/// NB: it only saves time: a word's terms are a pure function of the word (its tag is the
/// dictionary's, or jieba's guess for a word it does not know, whatever surrounds it), a
/// keyword's terms of the keyword (see [`Vocabulary::keyword_terms`]), and a term's idf and
/// verdict are pure functions of its text; so output never depends on what is
/// cached, nor on hash order (the maps are only probed, never iterated). When it is full, it is
/// emptied and fills again.
#[derive(Default)]
struct Cache {
    /// The texts of every term interned, one after another.
    ///
    /// NB: the terms are kept in two dense columns, texts and [`Cache::ranks`], rather than as
    /// one struct each with its text on the heap: a record reads the ranks of a hundred-odd
    /// terms scattered over the vocabulary, and the texts of the 64 it keeps; dense columns
    /// are much more often in the processor's caches.
    texts: String,
    /// Everything but the text of each term, by [`TermId`].
    ranks: Vec<Rank>,
    /// Author keywords met whole, by their normalised text: the term they count as, or `None`
    /// if jieba takes them for a name (see [`Vocabulary::looks_like_name`]).
    wholes: HashMap<Box<str>, Option<TermId>, FastHash>,
    /// Author keywords in which the record's own names do not occur, by their raw text: the
    /// terms each yields, in the order [`walk`] hands them over (see
    /// [`Vocabulary::keyword_terms`]), so that a keyword met before is neither scrubbed nor cut
    /// again.
    keywords: Keywords,
    ids: HashMap<Box<str>, TermId, FastHash>,
    words: WordTable,
    long_words: HashMap<Box<str>, Yield, FastHash>,
    /// The bytes of the keys of [`Cache::long_words`].
    long_bytes: usize,
    /// The terms of words that yield more than two.
    spans: Vec<TermId>,
}

impl Cache {
    /// The terms of a word that yields some, if known.
    fn word(&self, word: &str, look: Look) -> Option<&[TermId]> {
        let y = match look {
            Look::Short(key) => self.words.get(key),
            Look::Long => self.long_words.get(word),
            Look::Nothing => return Some(&[]),
        }?;
        Some(y.ids(&self.spans))
    }

    fn term(&self, id: TermId) -> Term<'_> {
        Term { cache: self, id }
    }

    /// Whether adding `more` words or terms, `more_bytes` of them long words, would pass
    /// [`MEMO_CAPACITY`] or [`LONG_WORD_BYTES`].
    ///
    /// NB: a cache emptied for one record then takes all of that record's words, however many:
    /// ids stay below [`Yield::SPAN`] as long as a record has fewer than 2³¹ words.
    fn full(&self, more: usize, more_bytes: usize) -> bool {
        self.long_bytes + more_bytes > LONG_WORD_BYTES
            || self.ranks.len() + more > MEMO_CAPACITY
            || self.words.len() + self.long_words.len() + more > MEMO_CAPACITY
            || self.wholes.len() + self.keywords.len() + more > MEMO_CAPACITY
            || self.spans.len() > 8 * MEMO_CAPACITY
    }

    fn intern(&mut self, text: &str, info: impl FnOnce() -> TermInfo) -> TermId {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = TermId(u32::try_from(self.ranks.len()).expect("fewer than 2³² terms"));
        let info = info();
        let mut prefix = [0; 8];
        let head = &info.text.as_bytes()[..info.text.len().min(8)];
        prefix[..head.len()].copy_from_slice(head);
        self.ranks.push(Rank {
            idf: info.idf,
            prefix: u64::from_be_bytes(prefix),
            start: u32::try_from(self.texts.len()).expect("under 4 GiB of term texts"),
            len: u16::try_from(info.text.len()).expect("a term has at most 32 characters"),
            identifier: info.identifier,
        });
        self.texts.push_str(&info.text);
        self.ids.insert(text.into(), id);
        id
    }

    fn insert_word(&mut self, word: &str, ids: &[TermId]) {
        let y = self.yield_of(ids);
        match Look::of(word) {
            Look::Short(key) => self.words.insert(key, y),
            Look::Long => {
                if self.long_words.insert(word.into(), y).is_none() {
                    self.long_bytes += word.len();
                }
            }
            // Yields nothing, and is never looked up.
            Look::Nothing => {}
        }
    }

    /// `ids` as a [`Yield`], spilling to [`Cache::spans`] if there are more than two.
    fn yield_of(&mut self, ids: &[TermId]) -> Yield {
        match ids {
            [] => Yield([Yield::NONE; 2]),
            [a] => Yield([*a, Yield::NONE]),
            [a, b] => Yield([*a, *b]),
            more => {
                let start = TermId(u32::try_from(self.spans.len()).expect("fewer than 2³² ids"));
                let len = u32::try_from(more.len()).ok().filter(|n| n & Yield::SPAN == 0);
                self.spans.extend_from_slice(more);
                Yield([start, TermId(Yield::SPAN | len.expect("fewer than 2³¹ terms a word"))])
            }
        }
    }
}

/// One text of a record cut into words, with the boost its terms count with.
pub(crate) struct Part<'t> {
    text: &'t str,
    tokens: Vec<Token<'t>>,
    /// The tokens that may yield terms (of two or more characters), in text order, each with
    /// how it is looked up.
    ///
    /// NB: only those, so that the walks over the words, which run for every record, neither
    /// visit nor branch on the half of the tokens that are punctuation or one character.
    words: Vec<Word<'t>>,
    boost: f64,
    /// For an author keyword: its whole normalised text, counted once as a term of its own
    /// unless jieba takes it for a name; its segments do not count that term again.
    whole: Option<String>,
}

impl<'t> Part<'t> {
    fn new(text: &'t str, tokens: Vec<Token<'t>>, boost: f64, whole: Option<String>) -> Self {
        let mut words = Vec::with_capacity(tokens.len() / 2 + 1);
        for (i, t) in tokens.iter().enumerate() {
            match Look::of(t.word) {
                Look::Nothing => {}
                look => words.push(Word { look, text: t.word, token: i }),
            }
        }
        Part { text, tokens, words, boost, whole }
    }
}

/// A token of a [`Part`] that may yield terms.
#[derive(Clone, Copy)]
struct Word<'t> {
    /// Never [`Look::Nothing`].
    look: Look,
    text: &'t str,
    /// Its index in [`Part::tokens`].
    token: usize,
}

/// Words a [`Cache`] lacks for some [`Part`]s, with their terms and the new terms' infos,
/// worked out before the write lock is taken so that other threads keep reading meanwhile.
#[derive(Default)]
struct Fresh<'t> {
    words: HashMap<&'t str, Vec<String>, FastHash>,
    infos: HashMap<String, TermInfo, FastHash>,
    /// Whole keywords, and whether they look like a name.
    wholes: HashMap<String, bool, FastHash>,
    /// Keywords looked up whole, and their terms (see [`Vocabulary::keyword_terms`]).
    keywords: HashMap<&'t str, Vec<String>, FastHash>,
}

/// The terms of some [`Part`]s, counted, with the cache that says what each is.
pub(crate) struct Counted<'c> {
    cache: &'c Cache,
    counts: TermCounts,
}

/// A bounded, thread-safe cache of a pure function of a word.
///
/// NB: it only saves time: every answer is what the function returns for that word, so output
/// never depends on what is cached, nor on hash order (the map is only probed, never iterated).
/// Words are stored inline, so a probe reads one slot rather than chasing a pointer to a heap
/// string; longer words are not cached.
struct Memo<V>(Mutex<HashMap<MemoKey, V, FastHash>>);

/// A word of at most [`MemoKey::MAX`] bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
struct MemoKey {
    len: u8,
    bytes: [u8; MemoKey::MAX],
}

impl Hash for MemoKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The bytes past `len` are zero, so the used ones say it all.
        state.write(&self.bytes[..usize::from(self.len)]);
    }
}

impl MemoKey {
    /// Longest word cached: ten Han characters and a bit.
    const MAX: usize = 31;

    fn new(word: &str) -> Option<Self> {
        let len = u8::try_from(word.len()).ok().filter(|n| usize::from(*n) <= Self::MAX)?;
        let mut bytes = [0; Self::MAX];
        bytes[..word.len()].copy_from_slice(word.as_bytes());
        Some(MemoKey { len, bytes })
    }
}

impl<V: Copy> Memo<V> {
    fn new() -> Self {
        Memo(Mutex::new(HashMap::default()))
    }

    fn get_or(&self, word: &str, compute: impl FnOnce() -> V) -> V {
        let Some(key) = MemoKey::new(word) else { return compute() };
        // A panic while holding the lock cannot leave a wrong answer behind, so a poisoned
        // lock is still usable.
        if let Some(v) = self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return *v;
        }
        let v = compute();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() < MEMO_CAPACITY {
            map.insert(key, v);
        }
        v
    }
}

impl std::fmt::Debug for Vocabulary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocabulary").field("median_idf", &self.median_idf).finish_non_exhaustive()
    }
}

/// A word that is in no idf table, for reading the table's median back out of jieba-rs.
const MEDIAN_PROBE: &str = "qzxpilotnetprobeqzx";

/// Used only if jieba-rs stops reporting idf values: the median of its bundled table, rounded.
const FALLBACK_IDF: f64 = 11.7;

impl Vocabulary {
    /// Loads jieba's default dictionary and idf table.
    pub(crate) fn new() -> Self {
        let jieba = Jieba::new();
        let mut tfidf = TfIdf::default();
        // No stop words and no minimum length: the probe must return any single word as is.
        *tfidf.config_mut() = KeywordExtractConfig::builder()
            .set_stop_words(BTreeSet::new())
            .min_keyword_length(1)
            .use_hmm(false)
            .build();
        let mut v = Vocabulary {
            jieba,
            tfidf,
            median_idf: FALLBACK_IDF,
            cache: RwLock::new(Cache::default()),
            name_memo: Memo::new(),
        };
        v.median_idf = v.probe(MEDIAN_PROBE).unwrap_or(FALLBACK_IDF);
        v
    }

    /// The idf of `term`: its value in jieba's table, or the table's median for unknown words
    /// and phrases of several words.
    pub(crate) fn idf(&self, term: &str) -> f64 {
        self.probe(term).unwrap_or(self.median_idf)
    }

    /// Reads `word`'s idf out of jieba-rs.
    ///
    /// NB: jieba-rs 0.11 keeps its idf table private; the only way in is keyword extraction,
    /// whose weight for a one-word text is tf × idf / total = idf. If jieba cuts `word` into
    /// several words, the answer would be for another word, so it is refused.
    fn probe(&self, word: &str) -> Option<f64> {
        let top = self.tfidf.extract_keywords(&self.jieba, word, 1, Vec::new());
        match top.as_slice() {
            [k] if k.keyword == word && k.weight.is_finite() && k.weight > 0.0 => Some(k.weight),
            _ => None,
        }
    }

    fn read_cache(&self) -> RwLockReadGuard<'_, Cache> {
        // A panic while holding the lock cannot leave a wrong answer behind (entries are
        // inserted whole), so a poisoned lock is still usable.
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts `text` (already scrubbed) into words, for [`Vocabulary::count`].
    ///
    /// Words are cut with HMM on, so that technical words missing from jieba's dictionary
    /// (点云, 勃姆石, 水热法) still come out whole.
    pub(crate) fn cut<'t>(&self, text: &'t str, boost: f64, whole: Option<String>) -> Part<'t> {
        Part::new(text, self.jieba.cut(text, true), boost, whole)
    }

    /// Cuts the pieces of `joined` (scrubbed texts joined by spaces, such as a record's author
    /// keywords) with one call, into a [`Part`] each whose words are those of cutting the piece
    /// alone.
    ///
    /// NB: jieba cuts the blocks between characters outside its word class one by one, and a
    /// space is such a character, emitted as a word of its own (only `\r\n` is one word of
    /// two characters), so the pieces cut as they would apart. A call costs enough that, for
    /// short texts, one instead of one each is worth it.
    pub(crate) fn cut_joined<'t>(
        &self,
        joined: &'t str,
        pieces: Vec<(Range<usize>, f64, Option<String>)>,
    ) -> Vec<Part<'t>> {
        let mut tokens = self.jieba.cut(joined, true).into_iter().peekable();
        pieces
            .into_iter()
            .map(|(range, boost, whole)| {
                let mut words = Vec::new();
                while let Some(t) = tokens.next_if(|t| t.byte_start < range.end) {
                    if t.byte_start >= range.start {
                        debug_assert!(t.byte_end <= range.end, "a word across pieces: {t:?}");
                        words.push(t);
                    }
                }
                Part::new(&joined[range], words, boost, whole)
            })
            .collect()
    }

    /// Counts the normalised, filtered terms of `parts`, then those of the author `keywords`
    /// (raw, and free of the record's own names: see [`Vocabulary::keyword_terms`]), and hands
    /// them to `then`.
    ///
    /// A word yields the terms [`Vocabulary::word_terms`] gives it under its tag: none if jieba
    /// tags it as the name of a person or organisation (see [`Vocabulary::is_name`]), else its
    /// normalised form and, as in jieba's search mode, every 2- and 3-character dictionary word
    /// inside it (锂离子电池 → 离子, 电池, 锂离子), so that a demand saying 电池 meets an
    /// achievement saying 锂离子电池.
    ///
    /// NB: what a word yields depends on the word alone: jieba tags a dictionary word with its
    /// dictionary tag and guesses the tag of another from the word itself. So the text is only
    /// cut (tagging costs half as much again), and each word's terms are worked out, with its
    /// tag, the first time it is met and remembered (see [`Cache`]). Most records have only
    /// words met before and are counted under the read lock alone.
    pub(crate) fn count<'t, R>(
        &self,
        parts: &[Part<'t>],
        keywords: &[&'t str],
        then: impl FnOnce(Counted<'_>) -> R,
    ) -> R {
        self.known(
            parts,
            keywords,
            |cache| {
                let mut counts = TermCounts::default();
                walk(cache, parts, keywords, |id, boost| {
                    counts.add(id, boost);
                })?;
                Some(counts)
            },
            |cache, counts| then(Counted { cache, counts }),
        )
    }

    /// The terms of scrubbed text, in text order (as counted by [`Vocabulary::count`]).
    #[cfg(test)]
    pub(crate) fn segment(&self, text: &str) -> Vec<String> {
        let parts = [self.cut(text, TEXT_BOOST, None)];
        self.known(
            &parts,
            &[],
            |cache| {
                let mut ids = Vec::new();
                walk(cache, &parts, &[], |id, _| ids.push(id))?;
                Some(ids)
            },
            |cache, ids| ids.into_iter().map(|id| cache.term(id).as_str().to_owned()).collect(),
        )
    }

    /// Runs `attempt` under the read lock, and if it finds a word missing (`None`), learns
    /// what `parts` lack and runs it again under the write lock, where it cannot miss; then
    /// hands its answer to `then` under the same lock.
    fn known<'t, T, R>(
        &self,
        parts: &[Part<'t>],
        keywords: &[&'t str],
        mut attempt: impl FnMut(&Cache) -> Option<T>,
        then: impl FnOnce(&Cache, T) -> R,
    ) -> R {
        {
            let cache = self.read_cache();
            if let Some(t) = attempt(&cache) {
                return then(&cache, t);
            }
        }
        let fresh = self.learn(parts, keywords);
        let mut cache = self.write_cache();
        self.store(&mut cache, parts, keywords, fresh);
        let t = attempt(&cache).expect("the cache knows every word of the parts it just stored");
        then(&cache, t)
    }

    /// Works out, outside any lock, the terms of the words of `parts` the cache lacks.
    fn learn<'t>(&self, parts: &[Part<'t>], keywords: &[&'t str]) -> Fresh<'t> {
        let (words, wholes, kws) = missing(&self.read_cache(), parts, keywords);
        let mut fresh = Fresh::default();
        let mut tags = vec![None; parts.len()];
        for (p, i) in words {
            let terms = self.word_yield(&parts[p], i, &mut tags[p]);
            fresh.words.insert(parts[p].tokens[i].word, terms);
        }
        for p in wholes {
            let whole = parts[p].whole.as_deref().unwrap_or_default();
            fresh.wholes.insert(whole.to_owned(), self.looks_like_name(whole));
        }
        for k in kws {
            fresh.keywords.insert(keywords[k], self.keyword_terms(keywords[k]));
        }
        let texts: Vec<&str> = fresh
            .words
            .values()
            .chain(fresh.keywords.values())
            .flatten()
            .map(String::as_str)
            .chain(fresh.wholes.iter().filter(|(_, name)| !**name).map(|(w, _)| w.as_str()))
            .collect();
        let cache = self.read_cache();
        let new: Vec<String> =
            texts.into_iter().filter(|t| !cache.ids.contains_key(*t)).map(str::to_owned).collect();
        drop(cache);
        for text in new {
            let info = self.term_info(&text);
            fresh.infos.insert(text, info);
        }
        fresh
    }

    /// Stores in `cache` every word and whole keyword of `parts` it lacks, from `fresh` or
    /// worked out now (if the cache was emptied since `fresh` was).
    fn store<'t>(
        &self,
        cache: &mut Cache,
        parts: &[Part<'t>],
        keywords: &[&'t str],
        mut fresh: Fresh<'t>,
    ) {
        let (mut words, mut wholes, mut kws) = missing(cache, parts, keywords);
        let long_bytes: usize = words
            .iter()
            .filter(|(p, i)| matches!(Look::of(parts[*p].tokens[*i].word), Look::Long))
            .map(|(p, i)| parts[*p].tokens[*i].word.len())
            .sum();
        if cache.full(words.len() + wholes.len() + kws.len(), long_bytes) {
            *cache = Cache::default();
            (words, wholes, kws) = missing(cache, parts, keywords);
        }
        let mut intern = |cache: &mut Cache, text: &str| {
            cache.intern(text, || fresh.infos.remove(text).unwrap_or_else(|| self.term_info(text)))
        };
        let mut tags = vec![None; parts.len()];
        for (p, i) in words {
            let word = parts[p].tokens[i].word;
            let terms = match fresh.words.remove(word) {
                Some(terms) => terms,
                None => self.word_yield(&parts[p], i, &mut tags[p]),
            };
            let ids: Vec<TermId> = terms.iter().map(|t| intern(cache, t)).collect();
            cache.insert_word(word, &ids);
        }
        for p in wholes {
            let whole = parts[p].whole.as_deref().unwrap_or_default();
            let name = match fresh.wholes.remove(whole) {
                Some(name) => name,
                None => self.looks_like_name(whole),
            };
            let id = (!name).then(|| intern(cache, whole));
            cache.wholes.insert(whole.into(), id);
        }
        for k in kws {
            let keyword = keywords[k];
            let terms = match fresh.keywords.remove(keyword) {
                Some(terms) => terms,
                None => self.keyword_terms(keyword),
            };
            let ids: Vec<TermId> = terms.iter().map(|t| intern(cache, t)).collect();
            let y = cache.yield_of(&ids);
            cache.keywords.insert(keyword, y);
        }
    }

    /// The terms an author keyword in which the record's own names do not occur yields, in the
    /// order [`walk`] would hand them over had it been cut with the record's other keywords
    /// (see [`Vocabulary::cut_joined`]): its whole normalised text (unless the scrub removed
    /// part of it, or jieba takes it for a name), then the terms of its words but that one.
    ///
    /// NB: a pure function of the keyword: the scrub of a text in which no name occurs does
    /// not depend on the names, and what a word yields depends on the word alone.
    fn keyword_terms(&self, keyword: &str) -> Vec<String> {
        let (clean, removed) = scrub_marked(keyword, &NameForms::default());
        let whole = whole_keyword(keyword, &clean, removed).filter(|w| !self.looks_like_name(w));
        let part = self.cut(&clean, KEYWORD_BOOST, None);
        let mut tags = None;
        let mut out: Vec<String> = whole.iter().cloned().collect();
        // NB: as [`Cache::word`]: a word of one character yields nothing.
        for w in &part.words {
            out.extend(
                self.word_yield(&part, w.token, &mut tags)
                    .into_iter()
                    .filter(|t| Some(t) != whole.as_ref()),
            );
        }
        out
    }

    /// What a term's text says about it.
    fn term_info(&self, text: &str) -> TermInfo {
        TermInfo { idf: self.idf(text), identifier: identifier_kind(text), text: text.to_owned() }
    }

    /// The terms of the `i`-th word of `part`, under the tag jieba gives it.
    fn word_yield<'t>(
        &'t self,
        part: &Part<'t>,
        i: usize,
        text_tags: &mut Option<Vec<Tag<'t>>>,
    ) -> Vec<String> {
        let word = part.tokens[i].word;
        // A tag can only make a word a name, so a word that yields nothing under a tag that
        // makes nothing a name yields nothing under any, and needs no tagging.
        let mut terms = self.word_terms(word, "x");
        if !terms.is_empty() {
            let tag = match self.jieba.tag(word, true).as_slice() {
                [t] if t.word == word => t.tag,
                _ => {
                    let tags = text_tags.get_or_insert_with(|| self.jieba.tag(part.text, true));
                    debug_assert_eq!(tags[i].word, word, "cut and tag cut alike");
                    tags[i].tag
                }
            };
            if self.is_name(word, tag) {
                terms.clear();
            }
        }
        terms
    }

    /// The terms one word tagged `tag` yields: none if it looks like a name, else its
    /// normalised form and, for a Han word of three or more characters, the dictionary words
    /// of two and three characters inside it.
    fn word_terms(&self, word: &str, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_name(word, tag) {
            return out;
        }
        normalize_token(word, &mut out);
        // Only Han words of three or more characters have parts to add.
        if word.len() < 9 || !word.chars().all(is_han) {
            return out;
        }
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        for len in [2, 3] {
            if chars.len() <= len {
                continue;
            }
            for i in 0..=chars.len() - len {
                let start = chars[i].0;
                let end = chars.get(i + len).map_or(word.len(), |(b, _)| *b);
                let gram = &word[start..end];
                if self.jieba.has_word(gram) && !self.looks_like_name(gram) {
                    normalize_token(gram, &mut out);
                }
            }
        }
        out
    }

    /// [`Vocabulary::is_name`] with the tag jieba gives `word` on its own.
    pub(crate) fn looks_like_name(&self, word: &str) -> bool {
        self.name_memo.get_or(word, || match self.jieba.tag(word, false).as_slice() {
            [t] if t.word == word => self.is_name(word, t.tag),
            _ => self.is_name(word, "x"),
        })
    }

    /// Whether `word` looks like the name of a person or an organisation to jieba.
    ///
    /// NB: this is a second name detector behind the rules, for third parties that no label
    /// points at. jieba's dictionary tags are noisy (雷达, 涂覆 and 石英 are tagged as people's
    /// names), so a dictionary word counts as a person only if it is also shaped like one: three
    /// characters led by a common surname, or three or four led by a compound surname (王建国,
    /// 欧阳明辉); a compound surname alone (欧阳) counts too.
    /// A word jieba does not know (glued together by its HMM) counts as a person if it has two
    /// or three characters and a common surname first (张伟, 刘芳). Organisations are words
    /// tagged `nt` (中国科学院, 国务院).
    fn is_name(&self, word: &str, tag: &str) -> bool {
        if tag == "nt" {
            return true;
        }
        if !word.chars().all(is_han) || NOT_NAMES.contains(&word) {
            return false;
        }
        let surname_led = word.chars().next().is_some_and(is_common_surname);
        let compound_led = crate::rules::COMPOUND_SURNAMES.iter().any(|s| word.starts_with(s));
        // NB: a compound surname alone is compound-led, so this exit keeps the answer for it.
        if !surname_led && !compound_led {
            return false;
        }
        if crate::rules::COMPOUND_SURNAMES.contains(&word) {
            return true;
        }
        let len = word.chars().count();
        let shaped = |short: usize| {
            (surname_led && (short..=3).contains(&len)) || (compound_led && (3..=4).contains(&len))
        };
        if self.jieba.has_word(word) {
            matches!(tag, "nr" | "nrfg" | "nrt") && shaped(3)
        } else {
            shaped(2)
        }
    }
}

/// Technical words that jieba's dictionary tags as people's names and that are shaped like them.
const NOT_NAMES: [&str; 8] =
    ["金刚石", "石英砂", "胡萝卜", "马尾松", "胡杨林", "杜鹃花", "白玉兰", "许可证"];

/// Whether `c` is one of the commonest Chinese surnames.
fn is_common_surname(c: char) -> bool {
    SURNAME_SET.binary_search(&c).is_ok()
}

/// [`crate::rules::SURNAMES`], sorted for binary search.
static SURNAME_SET: LazyLock<Vec<char>> = LazyLock::new(|| {
    let mut v: Vec<char> = crate::rules::SURNAMES.chars().collect();
    v.sort_unstable();
    v.dedup();
    v
});

/// Normalises one jieba token into zero or more terms, pushed onto `out`.
fn normalize_token(raw: &str, out: &mut Vec<String>) {
    let word = fold_width_cow(raw);
    if word.is_ascii() {
        // ASCII tokens can carry connectors (`LiFePO4.`, `3.6.3`); split on everything but
        // letters, digits and inner hyphens. A hyphenated word counts whole and by its parts
        // (`5g-advanced`, `5g`, `advanced`), as in jieba's search mode.
        let lower = ascii_lower(&word);
        for piece in lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            let piece = piece.trim_matches('-');
            out.extend(english_word(piece));
            if piece.contains('-') {
                out.extend(piece.split('-').filter_map(english_word));
            }
        }
    } else if word.chars().all(|c| is_han(c) || c.is_ascii_alphanumeric()) {
        let t = ascii_lower(&word);
        if passes_filters(&t) {
            out.push(t.into_owned());
        }
    }
}

/// `s` with ASCII lowercased, borrowed when it has no uppercase.
fn ascii_lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Lowercased ASCII word → term, with trailing plural "s" stripped from words over 4 letters.
fn english_word(w: &str) -> Option<String> {
    if !passes_filters(w) {
        return None;
    }
    let t = singular(w);
    passes_filters(&t).then_some(t)
}

/// A crude singular: `batteries` → `battery`, `sensors` → `sensor`; `process`, `status`,
/// `analysis` and `series` stay as they are.
fn singular(w: &str) -> String {
    let alpha = w.bytes().all(|b| b.is_ascii_lowercase());
    if !alpha || w.len() <= 4 || !w.ends_with('s') {
        return w.to_owned();
    }
    if ["ss", "us", "is"].iter().any(|e| w.ends_with(e)) || matches!(w, "series" | "species") {
        return w.to_owned();
    }
    match w.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => w[..w.len() - 1].to_owned(),
    }
}

/// The filters every term must pass: not a stop word, at least two characters, at most
/// [`Summary::MAX_TERM_CHARS`], not a number, fewer than five digits, and some letter or
/// ideograph in it.
pub(crate) fn passes_filters(t: &str) -> bool {
    let n = t.chars().count();
    if !(2..=Summary::MAX_TERM_CHARS).contains(&n) || is_stop_word(t) {
        return false;
    }
    let digits = t.chars().filter(char::is_ascii_digit).count();
    if digits >= 5 {
        return false;
    }
    let mut chars = t.chars();
    if let (Some(a), Some(b), None) = (chars.next(), chars.next(), chars.next())
        && NUMERALS.contains(a)
        && MEASURE_WORDS.contains(b)
    {
        return false;
    }
    if is_measurement(t) {
        return false;
    }
    let has_word_char = t.chars().any(|c| is_han(c) || c.is_alphabetic());
    let numeric = t.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | ',' | '%'));
    has_word_char && !numeric
}

/// Whether `t` is a number with a unit (`1h`, `20hz`, `3.5mm`); `5g`, `3d` and `4k` are names of
/// technologies, not measurements, and stay.
fn is_measurement(t: &str) -> bool {
    let unit = t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    unit.len() < t.len()
        && (is_stop_word(unit) || matches!(unit, "h" | "s" | "ms" | "us" | "v" | "w" | "a" | "c"))
}

/// The term an author keyword counts as whole, besides the terms of its words: its normalised
/// text (see [`normalize_keyword`]), unless the scrub removed part of it (`clean` is the keyword
/// scrubbed, `removed` whether anything was) or that text looks like an identifier on its own.
/// (Jieba may yet take it for a name: see [`Vocabulary::looks_like_name`].)
///
/// NB: the scrub takes `ASP.NET` or `Socket.IO` for words, not domains, because of their
/// capitals; lowercased they look like domains, and the privacy gate would hold the whole record
/// back for a term that says nothing private. Such a keyword counts by its words alone.
pub(crate) fn whole_keyword(keyword: &str, clean: &str, removed: bool) -> Option<String> {
    normalize_keyword(keyword)
        .filter(|w| !removed || normalize_keyword(clean).as_deref() == Some(w.as_str()))
        .filter(|w| identifier_kind(w).is_none())
}

/// Normalises an author keyword as a whole term: width-folded, trimmed, ASCII lowercased,
/// inner whitespace collapsed; `None` if it fails the term filters.
fn normalize_keyword(kw: &str) -> Option<String> {
    // Most keywords are Han characters alone, which nothing here changes.
    if kw.chars().all(is_han) {
        return passes_filters(kw).then(|| kw.to_owned());
    }
    let folded = fold_width(kw).to_ascii_lowercase();
    let t = folded.split_whitespace().map(singular).collect::<Vec<_>>().join(" ");
    let clean = t.chars().all(|c| {
        is_han(c) || c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '/' | '.' | '+' | '#')
    });
    (clean && passes_filters(&t)).then_some(t)
}

/// Hands every term of `parts`, then of `keywords`, to `sink` in text order, with its boost,
/// from what `cache` knows; `None` (after handing some over) if it lacks a word or a keyword.
fn walk(
    cache: &Cache,
    parts: &[Part<'_>],
    keywords: &[&str],
    mut sink: impl FnMut(TermId, f64),
) -> Option<()> {
    for part in parts {
        let whole = match &part.whole {
            Some(w) => *cache.wholes.get(w.as_str())?,
            None => None,
        };
        if let Some(id) = whole {
            sink(id, part.boost);
        }
        // The probes of a text are independent, so the processor can overlap their memory
        // accesses if they come together, where one probe after another waits for each in turn.
        let mut touched = 0_u64;
        for w in &part.words {
            if let Look::Short(key) = w.look {
                touched = touched.wrapping_add(cache.words.touch(key));
            }
        }
        std::hint::black_box(touched);
        for w in &part.words {
            for &id in cache.word(w.text, w.look)? {
                if Some(id) != whole {
                    sink(id, part.boost);
                }
            }
        }
    }
    for keyword in keywords {
        for &id in cache.keywords.get(keyword)?.ids(&cache.spans) {
            sink(id, KEYWORD_BOOST);
        }
    }
    Some(())
}

/// The words of `parts` that `cache` lacks, each once, as (part, token) indices, the parts
/// whose whole keyword it lacks, and the indices of the `keywords` it lacks, each once.
fn missing(
    cache: &Cache,
    parts: &[Part<'_>],
    keywords: &[&str],
) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut seen: HashSet<&str, FastHash> = HashSet::default();
    let mut words = Vec::new();
    let mut wholes = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        if part.whole.as_deref().is_some_and(|w| !cache.wholes.contains_key(w)) {
            wholes.push(p);
        }
        for w in &part.words {
            if cache.word(w.text, w.look).is_none() && seen.insert(w.text) {
                words.push((p, w.token));
            }
        }
    }
    let mut seen: HashSet<&str, FastHash> = HashSet::default();
    let kws = (0..keywords.len())
        .filter(|k| !cache.keywords.contains_key(keywords[*k]) && seen.insert(keywords[*k]))
        .collect();
    (words, wholes, kws)
}

/// Boosted term frequencies of one record or query, in the order terms were first counted.
///
/// NB: [`Counted::weigh`] sorts by a total order (weight, then term), so its output never depends
/// on that order nor on where the index puts a term.
#[derive(Debug)]
struct TermCounts {
    /// Each term, its boosted frequency, and room for its idf, which [`Counted::weigh`] reads.
    ///
    /// NB: the idfs are not read as terms are first counted: the walk over the words then
    /// stalled on each (a record's terms are scattered over the vocabulary, its ranks not
    /// cached), where weighing reads them all in one tight loop whose reads the processor
    /// overlaps (anon bench ratio 2.01x -> 1.98x, means of 16 alternate runs).
    terms: Vec<(TermId, f64, f64)>,
    /// An open-addressing index of `terms` by id: 1 + a position, or 0 for a free slot; a
    /// power of two at least twice as long as `terms`.
    index: Vec<u32>,
}

impl Default for TermCounts {
    fn default() -> Self {
        // A record has a hundred-odd distinct terms.
        TermCounts { terms: Vec::with_capacity(256), index: vec![0; 512] }
    }
}

impl TermCounts {
    /// Counts one occurrence of `term` with the given boost.
    #[inline]
    fn add(&mut self, term: TermId, boost: f64) {
        if self.terms.len() * 2 >= self.index.len() {
            self.grow();
        }
        let mask = self.index.len() - 1;
        let mut i = Self::slot(term, mask);
        loop {
            match self.index[i] {
                0 => {
                    self.terms.push((term, boost, 0.0));
                    self.index[i] = u32::try_from(self.terms.len()).expect("fewer than 2³² terms");
                    return;
                }
                at => {
                    let (id, tf, _) = &mut self.terms[at as usize - 1];
                    if *id == term {
                        *tf += boost;
                        return;
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    fn slot(term: TermId, mask: usize) -> usize {
        ((u64::from(term.0).wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 40) as usize & mask
    }

    fn grow(&mut self) {
        self.index = vec![0; self.index.len() * 2];
        let mask = self.index.len() - 1;
        for (at, (id, ..)) in self.terms.iter().enumerate() {
            let mut i = Self::slot(*id, mask);
            while self.index[i] != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = at as u32 + 1;
        }
    }
}

impl<'c> Counted<'c> {
    /// The terms `keep` accepts, weighted tf × idf relative to the heaviest and rounded to
    /// [`WEIGHT_STEPS`] steps, heaviest first (ties by term), at most `max`.
    pub(crate) fn weigh(self, max: usize, keep: impl Fn(Term<'c>) -> bool) -> Vec<(Term<'c>, f32)> {
        let cache = self.cache;
        let mut counts = self.counts.terms;
        counts.retain(|(id, ..)| keep(cache.term(*id)));
        // NB: here, not as terms are counted (see [`TermCounts::terms`]).
        for (id, _, idf) in &mut counts {
            *idf = cache.ranks[id.0 as usize].idf;
        }
        let weight = |(_, tf, idf): &(TermId, f64, f64)| idf * tf;
        let top = counts.iter().map(weight).fold(0.0_f64, f64::max);
        if top <= 0.0 {
            return Vec::new();
        }
        // Each term's sort key, heaviest first, then by text: its step (inverted), the first
        // eight bytes of its text and, below them, its id, in one integer, so that most
        // comparisons read nothing else; only terms whose first eight bytes agree compare their
        // texts.
        let mut keys: Vec<u128> = counts
            .iter()
            .map(|t| {
                let s = (weight(t) / top * f64::from(WEIGHT_STEPS)).round();
                let step = (s as u32).clamp(1, WEIGHT_STEPS);
                let id = t.0;
                u128::from(WEIGHT_STEPS - step) << 96
                    | u128::from(cache.ranks[id.0 as usize].prefix) << 32
                    | u128::from(id.0)
            })
            .collect();
        let id = |key: u128| TermId(key as u32);
        // NB: a total order (terms are distinct), so an unstable sort of the heaviest `max`,
        // picked out first, orders them as a full stable sort would.
        let order = |a: &u128, b: &u128| {
            (a >> 32)
                .cmp(&(b >> 32))
                .then_with(|| cache.term(id(*a)).as_str().cmp(cache.term(id(*b)).as_str()))
        };
        if keys.len() > max && max > 0 {
            keys.select_nth_unstable_by(max - 1, order);
        }
        keys.truncate(max);
        keys.sort_unstable_by(order);
        keys.into_iter()
            .map(|key| {
                let step = WEIGHT_STEPS - (key >> 96) as u32;
                (cache.term(id(key)), step as f32 / WEIGHT_STEPS as f32)
            })
            .collect()
    }
}

/// Weighted terms as they go into a summary.
pub(crate) fn weighted_terms(terms: &[(Term<'_>, f32)]) -> Vec<WeightedTerm> {
    terms
        .iter()
        .map(|(t, weight)| WeightedTerm { term: t.as_str().to_owned(), weight: *weight })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Vec<String> {
        let mut v = Vec::new();
        normalize_token(raw, &mut v);
        v
    }

    #[test]
    fn keywords_of_every_length_are_found_again_and_only_they() {
        let mut table = Keywords::default();
        // Up to 23 bytes inline, longer in the map; the empty keyword, a keyword ending in
        // NUL (which pads inline keys) and keywords that share a prefix are all told apart.
        let keywords: Vec<String> = (1..=30)
            .map(|n| "锂".repeat(n / 3) + &"a".repeat(n % 3))
            .chain(["", "a\0", "a\0\0", "锂离子电池", "锂离子电池隔"].map(String::from))
            .collect();
        for (i, k) in keywords.iter().enumerate() {
            let id = TermId(u32::try_from(i).unwrap());
            table.insert(k, Yield([id, Yield::NONE]));
        }
        let distinct: HashSet<&String> = keywords.iter().collect();
        assert_eq!(table.len(), distinct.len());
        assert!(table.short.len() > 0 && !table.long.is_empty());
        for k in &keywords {
            // The last insert of a keyword is what it yields.
            let last = keywords.iter().rposition(|x| x == k).unwrap();
            let y = table.get(k).unwrap_or_else(|| panic!("{k:?} is found"));
            assert_eq!(y.ids(&[]), [TermId(u32::try_from(last).unwrap())], "{k:?}");
        }
        for k in ["锂锂锂锂锂锂锂锂锂锂锂", "b", "a\0\0\0", "锂离子", "锂离子电池隔膜"]
        {
            assert!(!table.contains_key(k), "{k:?} was never inserted");
        }
    }

    #[test]
    fn long_words_never_hold_the_cache_past_its_byte_bound() {
        let vocab = Vocabulary::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut letter = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        };
        // Forty texts, each with a run of 3,000 letters of its own: 120 KB of long words,
        // against a bound of 16 KiB in unit tests (few enough entries that the entry bound
        // alone would never empty the cache).
        for n in 0..40 {
            let run: String = (0..3_000).map(|_| letter()).collect();
            let text = format!("石墨烯复合材料{run}的制备与表征研究");
            let terms = vocab.segment(&text);
            assert!(terms.iter().any(|t| t == "复合材料"), "text {n}: {terms:?}");
            let cache = vocab.read_cache();
            assert!(
                cache.long_words.contains_key(run.as_str()),
                "text {n}: jieba cuts the run as one word, which the cache holds for the record"
            );
            let held: usize = cache.long_words.keys().map(|k| k.len()).sum();
            assert_eq!(cache.long_bytes, held, "text {n}");
            assert!(held <= LONG_WORD_BYTES, "text {n}: {held} bytes of long words cached");
        }
    }

    #[test]
    fn english_tokens_are_lowercased_singular_and_split_on_punctuation() {
        assert_eq!(norm("Batteries"), ["battery"]);
        assert_eq!(norm("sensors"), ["sensor"]);
        assert_eq!(norm("process"), ["process"]);
        assert_eq!(norm("LiDAR"), ["lidar"]);
        assert_eq!(norm("5G"), ["5g"]);
        assert_eq!(norm("MEMS"), ["mems"]);
        assert_eq!(norm("LiFePO4."), ["lifepo4"]);
        assert_eq!(norm("CO₂"), ["co2"]);
        assert_eq!(norm("Li-ion"), ["li-ion", "li", "ion"]);
        assert_eq!(norm("5G-Advanced"), ["5g-advanced", "5g", "advanced"]);
        assert_eq!(norm("methods"), Vec::<String>::new(), "a stop word once singular");
        assert_eq!(norm("the"), Vec::<String>::new());
    }

    #[test]
    fn filters_drop_numbers_single_characters_and_long_digit_runs() {
        for t in [
            "3.5", "2021", "池", "x", "138712", "ab12345", "，", "本文", "based", "-", "两条",
            "余台", "1h", "20hz", "3.5mm",
        ] {
            assert!(norm(t).is_empty(), "{t} should be dropped");
        }
        for t in ["锂电池", "隔膜", "ab1234", "t恤", "三维", "5g", "3d", "4k"] {
            assert_eq!(norm(t), [t.to_lowercase()], "{t} should be kept");
        }
        assert!(!passes_filters(&"长".repeat(Summary::MAX_TERM_CHARS + 1)));
        assert!(passes_filters(&"长".repeat(Summary::MAX_TERM_CHARS)));
    }

    #[test]
    fn keywords_are_normalised_as_whole_terms() {
        assert_eq!(normalize_keyword(" ＬｉＦｅＰＯ４／Ｃ "), Some("lifepo4/c".into()));
        assert_eq!(
            normalize_keyword("Solid  State\tBatteries"),
            Some("solid state battery".into())
        );
        assert_eq!(normalize_keyword("锂离子电池"), Some("锂离子电池".into()));
        assert_eq!(normalize_keyword("本文"), None);
        assert_eq!(normalize_keyword("a@b"), None);
        assert_eq!(normalize_keyword("2021"), None);
    }

    fn segment(text: &str) -> Vec<String> {
        crate::anonymize::tests::anonymizer().vocabulary().segment(text)
    }

    #[test]
    fn segmentation_keeps_unknown_technical_words_and_search_mode_parts() {
        let terms =
            segment("需开发勃姆石陶瓷涂覆工艺，采用水热法合成锂离子电池正极，激光雷达点云配准");
        for t in ["勃姆石", "涂覆", "水热法", "锂离子", "离子", "电池", "激光雷达", "雷达", "点云"]
        {
            assert!(terms.iter().any(|x| x == t), "{t} missing from {terms:?}");
        }
    }

    #[test]
    fn segmentation_drops_what_jieba_takes_for_names_of_people_and_organisations() {
        let terms =
            segment("由王建国、张伟、刘芳和欧阳明辉与中国科学院、国务院共同开发的雷达涂覆工艺");
        for t in ["王建国", "张伟", "刘芳", "欧阳明", "欧阳", "中国科学院", "国务院"]
        {
            assert!(!terms.iter().any(|x| x == t), "{t} kept in {terms:?}");
        }
        for t in ["雷达", "涂覆", "工艺"] {
            assert!(terms.iter().any(|x| x == t), "{t} missing from {terms:?}");
        }
    }

    fn yields_nothing(word: &str) -> bool {
        matches!(Look::of(word), Look::Nothing)
    }

    #[test]
    fn single_characters_yield_no_term_whatever_their_tag() {
        let v = crate::anonymize::tests::anonymizer().vocabulary();
        for c in
            ["的", "王", "欧", "池", "Ｇ", "５", "a", "Z", "7", "，", "。", " ", "\n", "₂", "@"]
        {
            assert!(yields_nothing(c), "{c:?}");
            for tag in ["x", "n", "nr", "nt", "eng", "m"] {
                assert!(v.word_terms(c, tag).is_empty(), "{c:?} tagged {tag}");
            }
        }
        assert!(!yields_nothing("电池") && !yields_nothing("5g") && yields_nothing(""));
        assert!(matches!(Look::of("锂离子电池隔膜"), Look::Long));
    }

    #[test]
    fn words_of_three_byte_characters_are_keyed_as_any_other_word() {
        let key = |look: Look| match look {
            Look::Nothing => None,
            Look::Short(key) => Some(Some(key.0)),
            Look::Long => Some(None),
        };
        for word in [
            "电池",
            "锂离子",
            "锂离子电",
            "锂离子电池",
            "ＡＢ",
            "€€",
            "电a",
            "a电池",
            "ab",
            "电",
            "电\0",
            "\0电",
            "𝄞电",
            "电池𝄞",
            "é电",
            "ｱｲ",
            "",
            "é",
            "𝄞",
            "a",
            "。",
        ] {
            assert_eq!(key(Look::of(word)), key(Look::of_chars(word)), "{word:?}");
        }
        assert_eq!(key(Look::of("电池")), Some(Some(0x6C60 << 16 | 0x7535)));
    }

    #[test]
    fn pieces_cut_together_cut_as_they_would_apart() {
        let v = crate::anonymize::tests::anonymizer().vocabulary();
        let pieces = [
            "锂离子电池隔膜",
            "Solid  State\tBatteries",
            "LiFePO4/C",
            "",
            "深度学习\r",
            "\n点云配准",
            "C++ & C#",
            "3.5mm",
            "图像-分割.",
            "王建国",
        ];
        let mut joined = String::new();
        let mut ranges = Vec::new();
        for p in pieces {
            if !joined.is_empty() {
                joined.push(' ');
            }
            let start = joined.len();
            joined.push_str(p);
            ranges.push((start..joined.len(), TEXT_BOOST, None));
        }
        let parts = v.cut_joined(&joined, ranges);
        assert_eq!(parts.len(), pieces.len());
        for (part, piece) in parts.iter().zip(pieces) {
            let alone: Vec<&str> = v.jieba.cut(piece, true).iter().map(|t| t.word).collect();
            let together: Vec<&str> = part.tokens.iter().map(|t| t.word).collect();
            assert_eq!(together, alone, "{piece:?}");
            assert_eq!(part.text, piece);
        }
    }

    #[test]
    fn idf_comes_from_jieba_with_the_median_for_unknown_words() {
        let v = crate::anonymize::tests::anonymizer().vocabulary();
        assert!(v.idf("的") < 2.0, "a function word is common");
        assert!(v.idf("隔膜") > v.idf("材料"), "a specific word is rarer than a generic one");
        assert_eq!(v.idf("点云"), v.median_idf, "unknown to the table");
        assert_eq!(v.idf("锂电池隔膜"), v.median_idf, "several words");
        assert!(v.median_idf > 5.0 && v.median_idf < 20.0, "{}", v.median_idf);
    }

    #[test]
    fn stop_words_are_function_words_and_boilerplate_but_not_topics() {
        let chinese = ["本文", "提出", "进行", "通过", "采用", "我们", "一种", "研究", "技术"];
        let more = ["表明", "及其", "基于", "面向", "结果", "电话", "联系人", "发明"];
        let english = ["the", "of", "and", "a", "for", "with", "we", "based", "method", "paper"];
        for w in chinese.iter().chain(&more).chain(&english) {
            assert!(is_stop_word(w), "{w}");
        }
        // Generic in engineering, the topic in management: 企业社会责任, 信用风险, 团队激励.
        let topics = ["锂电池", "处理", "企业", "市场", "社会", "信用", "服务", "团队", "专利"];
        for w in topics {
            assert!(!is_stop_word(w), "{w}");
        }
    }
}
