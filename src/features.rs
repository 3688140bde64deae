//! Message view → hashed, namespaced, log-scaled, L2-normalised sparse features.
//!
//! Every token gets a namespace (`s` subject, `b` body, `n` From display name, `m` money,
//! `#` number shape, `w` crypto-currency address, `u` URL host, `e` e-mail domain, `a`
//! attachment, `cue` named cues) and is hashed with xxh3 under a fixed seed, so the same text
//! lands in the same bucket in every process and on every machine. Word bigrams are hashed from the two words' hashes, without building a string.
//!
//! Buckets are unsigned: multinomial Naive Bayes needs non-negative counts, so the sign trick of
//! feature hashing is not used; collisions are kept rare by a large table (2^20 by default).
//!
//! Deliberately *not* features: headers that describe the sending software or the path (Date,
//! Message-ID, X-Mailer, Received), the From domain (on the send path it is our own user's), and
//! RFC 2606 example domains (the public corpus's masking placeholders). They would teach the model
//! the corpus, not the scam.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::cues::{Cue, CueState, WordClassTable};
use crate::message::MessageView;
use crate::tokenize::typed::{email_domain, is_freemail, is_reserved_domain, url_host};
use crate::tokenize::{Scratch as TokenScratch, TokenKind, TokenSink, Tokenizer};

/// Version of the feature layout; part of the model file, so a model never meets another layout.
pub const FEATURE_VERSION: u32 = 2;

/// How features are hashed and scaled. Stored in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Feature layout version ([`FEATURE_VERSION`] for models this build writes).
    pub version: u32,
    /// log2 of the number of buckets.
    pub bucket_bits: u8,
    /// Seed of the xxh3 hash; fixed, never per process.
    pub seed: u64,
    /// Whether consecutive words also give a bigram feature.
    pub word_bigrams: bool,
    /// Weight of a bigram's log count before normalisation (full-weight bigrams swamp the
    /// words in the L2 norm and measured worse on dev).
    pub bigram_weight: f32,
    /// Value of a fired cue, added after L2 normalisation so long mail does not dilute it.
    pub cue_value: f32,
    /// The vector is divided by max(its L2 norm, this), so a message with little text can keep
    /// a short vector instead of being blown up to unit length. Default 0 (plain L2): on dev,
    /// 2 cost 0.002 and 4 cost 0.028 of TPR at ham FPR 0.1 %, and neither kept "Hello, how are
    /// you?" from being rejected; [`FeatureVector::is_thin`] does that at the verdict instead.
    pub min_norm: f32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            version: FEATURE_VERSION,
            bucket_bits: 20,
            seed: 0x5e4d_6a7a_7264_0001,
            word_bigrams: true,
            bigram_weight: 0.1,
            cue_value: 0.5,
            min_norm: 0.0,
        }
    }
}

/// Subject and display name beyond this many bytes are not tokenised (the body has its own
/// limit in [`crate::message::ViewLimits`]).
pub const MAX_HEADER_TEXT: usize = 4096;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Namespaces of features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// Subject words.
    Subject,
    /// Body words.
    Body,
    /// From display name words.
    FromName,
    /// Money amounts (currency and order of magnitude).
    Money,
    /// Number shapes.
    Number,
    /// Host of a URL in the body.
    UrlHost,
    /// Domain of an e-mail address in the body or Reply-To.
    EmailDomain,
    /// Attachment file extension or MIME type.
    Attachment,
    /// A named cue.
    Cue,
    /// The chain of a crypto-currency address in the text ("btc").
    Crypto,
}

impl Namespace {
    /// Short prefix used in feature names.
    pub fn prefix(self) -> &'static str {
        match self {
            Namespace::Subject => "s",
            Namespace::Body => "b",
            Namespace::FromName => "n",
            Namespace::Money => "m",
            Namespace::Number => "#",
            Namespace::UrlHost => "u",
            Namespace::EmailDomain => "e",
            Namespace::Attachment => "a",
            Namespace::Cue => "cue",
            Namespace::Crypto => "w",
        }
    }

    fn salt(self) -> u64 {
        // Distinct odd constants; changing one changes every bucket of that namespace.
        match self {
            Namespace::Subject => 0x9e37_79b9_7f4a_7c15,
            Namespace::Body => 0xc2b2_ae3d_27d4_eb4f,
            Namespace::FromName => 0x1656_67b1_9e37_79f9,
            Namespace::Money => 0x85eb_ca77_c2b2_ae63,
            Namespace::Number => 0x27d4_eb2f_1656_67c5,
            Namespace::UrlHost => 0x94d0_49bb_1331_11eb,
            Namespace::EmailDomain => 0xbf58_476d_1ce4_e5b9,
            Namespace::Attachment => 0xd6e8_feb8_6659_fd93,
            Namespace::Cue => 0xa076_1d64_78bd_642f,
            Namespace::Crypto => 0xe703_7ed1_a0b4_28db,
        }
    }
}

/// A feature's human-readable name, handed to sinks that explain verdicts.
#[derive(Clone, Copy, Debug)]
pub enum FeatureName<'a> {
    /// A single token.
    Token(Namespace, &'a str),
    /// Two consecutive words.
    Bigram(Namespace, &'a str, &'a str),
    /// A named cue.
    Cue(Cue),
}

impl std::fmt::Display for FeatureName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeatureName::Token(ns, t) => write!(f, "{}:{}", ns.prefix(), t),
            FeatureName::Bigram(ns, a, b) => write!(f, "{}:{} {}", ns.prefix(), a, b),
            FeatureName::Cue(c) => write!(f, "cue:{}", c.name()),
        }
    }
}

/// A sparse feature vector: (bucket, value) pairs, buckets ascending and unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureVector {
    /// The non-zero entries.
    pub entries: Vec<(u32, f32)>,
    /// Word tokens of the subject and body.
    pub words: u32,
    /// Named cues fired plus URL hosts seen: evidence beyond the words.
    pub signals: u32,
}

/// Below this many words, a message without any cue or link is too thin to hold or reject.
pub const THIN_WORDS: u32 = 20;

impl FeatureVector {
    /// Too little evidence to hold or reject on: few words, no named cue, no link. Short
    /// everyday mail ("Hello, how are you?") shares its few words with short spam, and the
    /// model's confidence on five words is not to be trusted with a user's mail.
    pub fn is_thin(&self) -> bool {
        self.words < THIN_WORDS && self.signals == 0
    }
}

/// Reusable buffers for extraction; one per thread.
#[derive(Default)]
pub struct FeatureScratch {
    tokens: TokenScratch,
    buckets: Vec<u64>,
    /// Where the counting sort scatters the keys.
    sorted: Vec<u64>,
    /// The counting sort's bins.
    bins: Vec<u32>,
    cues: CueState,
    prev_word: String,
    name_words: String,
}

/// Sorts keys below `2^bits` ascending. Hashed keys are spread evenly, so one counting-sort pass
/// on their top bits (about as many bins as keys) leaves each key within a few places of where
/// it belongs, and an insertion sort finishes the job in near-linear time; should the keys be
/// crafted to crowd into a few bins, the insertion sort's move budget runs out and the standard
/// sort takes over. Short vectors go straight to the standard sort. The result is the same as
/// `sort_unstable` (equal keys are identical).
fn sort_keys(keys: &mut Vec<u64>, tmp: &mut Vec<u64>, counts: &mut Vec<u32>, bits: u32) {
    let n = keys.len();
    if n < 48 || bits > 40 {
        keys.sort_unstable();
        return;
    }
    let width = (usize::BITS - 1 - n.leading_zeros()).min(16).min(bits);
    let shift = bits - width;
    let mask = (1usize << width) - 1;
    let bin = |k: u64| (k >> shift) as usize & mask;
    counts.clear();
    counts.resize(mask + 1, 0);
    // A slice of known length `mask + 1`, so indexing by `bin` needs no bounds check.
    let counts = &mut counts[..=mask];
    for &k in keys.iter() {
        counts[bin(k)] += 1;
    }
    let mut sum = 0u32;
    for c in counts.iter_mut() {
        let here = *c;
        *c = sum;
        sum += here;
    }
    // Every slot is written below, so only growth needs filling (no clear-and-zero per call).
    tmp.resize(n, 0);
    for &k in keys.iter() {
        let d = bin(k);
        tmp[counts[d] as usize] = k;
        counts[d] += 1;
    }
    std::mem::swap(keys, tmp);
    let keys = &mut keys[..n];
    let mut budget = 4 * n;
    for i in 1..n {
        let k = keys[i];
        if keys[i - 1] <= k {
            continue;
        }
        let mut j = i - 1;
        while j > 0 && keys[j - 1] > k {
            j -= 1;
        }
        keys.copy_within(j..i, j + 1);
        keys[j] = k;
        budget = budget.saturating_sub(i - j);
        if budget == 0 {
            keys.sort_unstable();
            return;
        }
    }
}

/// `ln(1 + n)` for the counts most features have, computed once (the same expression as for
/// larger counts, so the values are identical).
static LOG_TF: std::sync::LazyLock<[f32; 64]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|n| (1.0 + n as f32).ln()));

/// Turns a message view into features.
#[derive(Clone, Debug)]
pub struct FeatureExtractor {
    config: FeatureConfig,
    tokenizer: Tokenizer,
    shift: u32,
    cue_buckets: [u32; Cue::ALL.len()],
    /// Cue words by their subject and body token hashes.
    cue_words: [WordClassTable; 2],
}

impl FeatureExtractor {
    /// An extractor with this hashing configuration and tokenizer.
    pub fn new(config: FeatureConfig, tokenizer: Tokenizer) -> Self {
        let bits = u32::from(config.bucket_bits.clamp(8, 28));
        let seed = config.seed;
        let table = |ns: Namespace| {
            WordClassTable::new(|w| xxh3_64_with_seed(w.as_bytes(), seed ^ ns.salt()))
        };
        let mut extractor = FeatureExtractor {
            config,
            tokenizer,
            shift: 64 - bits,
            cue_buckets: [0; Cue::ALL.len()],
            cue_words: [table(Namespace::Subject), table(Namespace::Body)],
        };
        for cue in Cue::ALL {
            extractor.cue_buckets[cue as usize] = extractor.bucket(Namespace::Cue, cue.name());
        }
        extractor
    }

    /// The hashing configuration.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Number of buckets.
    pub fn buckets(&self) -> usize {
        1usize << (64 - self.shift)
    }

    #[inline]
    fn token_hash(&self, ns: Namespace, text: &str) -> u64 {
        xxh3_64_with_seed(text.as_bytes(), self.config.seed ^ ns.salt())
    }

    fn bucket(&self, ns: Namespace, text: &str) -> u32 {
        self.bucket_of_hash(self.token_hash(ns, text))
    }

    fn bucket_of_hash(&self, h: u64) -> u32 {
        (h >> self.shift) as u32
    }

    /// The bucket of two consecutive words, from their token hashes.
    fn bigram_bucket(&self, first: u64, second: u64) -> u32 {
        // Order matters ("union western" is not "western union"): rotate one side.
        let mixed = (first.rotate_left(23) ^ second).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.bucket_of_hash(mixed ^ (mixed >> 29))
    }

    /// The bucket a named cue lands in.
    pub fn cue_bucket(&self, cue: Cue) -> u32 {
        self.cue_buckets[cue as usize]
    }

    /// Extracts the feature vector of `view` into `out`, reusing `scratch`.
    pub fn extract(
        &self,
        view: &MessageView,
        scratch: &mut FeatureScratch,
        out: &mut FeatureVector,
    ) {
        scratch.buckets.clear();
        let mut keys = std::mem::take(&mut scratch.buckets);
        // Key = bucket << 1 | is-bigram, so one sort groups both kinds of a bucket together.
        let (mut words, mut links) = (0u32, 0u32);
        let cues = self.walk(view, scratch, false, &mut |bucket, name| {
            let bigram = matches!(name, Some(FeatureName::Bigram(..)));
            keys.push(u64::from(bucket) << 1 | u64::from(bigram));
            match name {
                Some(FeatureName::Token(Namespace::Body | Namespace::Subject, _)) => words += 1,
                Some(FeatureName::Token(Namespace::UrlHost, _)) => links += 1,
                _ => {}
            }
        });
        out.entries.clear();
        out.words = words;
        out.signals = links + cues.iter().flatten().count() as u32;
        let key_bits = 64 - self.shift + 1;
        sort_keys(&mut keys, &mut scratch.sorted, &mut scratch.bins, key_bits);
        let log_tf_of: &[f32; 64] = &LOG_TF;
        let mut add = |key: u64, count: usize| {
            let weight = if key & 1 == 1 {
                self.config.bigram_weight
            } else {
                1.0
            };
            let log_tf = match log_tf_of.get(count) {
                Some(&v) => v,
                None => (1.0 + count as f32).ln(),
            };
            let value = weight * log_tf;
            let bucket = (key >> 1) as u32;
            match out.entries.last_mut() {
                Some(last) if last.0 == bucket => last.1 += value,
                _ => out.entries.push((bucket, value)),
            }
        };
        // Runs of equal keys, in one pass with a running count.
        if let Some((&first, rest)) = keys.split_first() {
            let (mut key, mut count) = (first, 1);
            for &k in rest {
                if k == key {
                    count += 1;
                } else {
                    add(key, count);
                    (key, count) = (k, 1);
                }
            }
            add(key, count);
        }
        // Word values are ln(1 + n) >= ln 2 and a bigram's is that times its weight: with a
        // weight of at least the smallest normal float every value and every sum of values is
        // above zero, and there is nothing to drop.
        let all_positive = self.config.bigram_weight >= f32::MIN_POSITIVE;
        if !all_positive {
            out.entries.retain(|e| e.1 != 0.0);
        }
        let norm = out
            .entries
            .iter()
            .map(|(_, v)| v * v)
            .sum::<f32>()
            .sqrt()
            .max(self.config.min_norm);
        if norm > 0.0 {
            for (_, v) in &mut out.entries {
                *v /= norm;
            }
        }
        for cue in cues.iter().flatten() {
            let b = self.cue_bucket(*cue);
            match out.entries.binary_search_by_key(&b, |e| e.0) {
                Ok(k) => out.entries[k].1 += self.config.cue_value,
                Err(k) => out.entries.insert(k, (b, self.config.cue_value)),
            }
        }
        scratch.buckets = keys;
    }

    /// Walks every feature occurrence of `view` with its name (slow path, for explanations).
    pub fn for_each_named(&self, view: &MessageView, mut f: impl FnMut(u32, &str)) {
        let mut scratch = FeatureScratch::default();
        let mut name = String::new();
        let cues = self.walk(view, &mut scratch, true, &mut |bucket, n| {
            if let Some(n) = n {
                name.clear();
                use std::fmt::Write;
                let _ = write!(name, "{n}");
                f(bucket, &name);
            }
        });
        for cue in cues.iter().flatten() {
            f(
                self.cue_bucket(*cue),
                &format!("{}", FeatureName::Cue(*cue)),
            );
        }
    }

    /// The one walk over a message that both scoring and explaining use. Names are borrowed
    /// views, only formatted by sinks that explain, so the hot path formats nothing.
    ///
    /// Generic over the sink so the hot path's sink inlines; `named` says whether the sink
    /// reads names (bigram names need a copy of the previous word, which scoring skips).
    fn walk<S: FnMut(u32, Option<FeatureName<'_>>)>(
        &self,
        view: &MessageView,
        scratch: &mut FeatureScratch,
        named: bool,
        sink: &mut S,
    ) -> [Option<Cue>; Cue::ALL.len()] {
        let FeatureScratch {
            tokens,
            cues,
            prev_word,
            name_words,
            ..
        } = scratch;
        cues.clear();
        name_words.clear();

        let (subject, from_name) = (
            head(&view.subject, MAX_HEADER_TEXT),
            head(&view.from_name, MAX_HEADER_TEXT),
        );
        for (ns, text) in [
            (Namespace::Subject, subject),
            (Namespace::FromName, from_name),
            (Namespace::Body, view.text.as_str()),
        ] {
            prev_word.clear();
            let mut field = TextField {
                extractor: self,
                ns,
                named,
                sink: &mut *sink,
                cues: &mut *cues,
                prev_word: &mut *prev_word,
                name_words: &mut *name_words,
                prev_hash: None,
            };
            self.tokenizer.tokenize_into(text, tokens, &mut field);
        }

        for url in &view.urls {
            if let Some(host) = url_host(url) {
                cues.link(&host, &view.from_address);
                if !is_reserved_domain(&host) {
                    sink(
                        self.bucket(Namespace::UrlHost, &host),
                        Some(FeatureName::Token(Namespace::UrlHost, &host)),
                    );
                }
            }
        }
        for addr in view.emails.iter().chain(view.reply_to.iter()) {
            if let Some(domain) = email_domain(addr) {
                if is_reserved_domain(domain) {
                    continue;
                }
                let token = if is_freemail(domain) {
                    "(free-mail)"
                } else {
                    domain
                };
                sink(
                    self.bucket(Namespace::EmailDomain, token),
                    Some(FeatureName::Token(Namespace::EmailDomain, token)),
                );
            }
        }
        for att in &view.attachments {
            let ext = att
                .name
                .as_deref()
                .and_then(|n| n.rsplit_once('.'))
                .map(|(_, e)| e)
                .filter(|e| e.len() <= 8);
            if let Some(ext) = ext {
                let ext = ext.to_ascii_lowercase();
                sink(
                    self.bucket(Namespace::Attachment, &ext),
                    Some(FeatureName::Token(Namespace::Attachment, &ext)),
                );
            }
            sink(
                self.bucket(Namespace::Attachment, &att.content_type),
                Some(FeatureName::Token(Namespace::Attachment, &att.content_type)),
            );
        }

        let mut fired = [None; Cue::ALL.len()];
        let mut n = 0;
        cues.finish(
            &view.from_address,
            name_words,
            &view.reply_to,
            &view.emails,
            |cue| {
                if n < fired.len() {
                    fired[n] = Some(cue);
                    n += 1;
                }
            },
        );
        fired
    }
}

/// The tokens of one text field (subject, display name or body) on their way to the features:
/// words, their bigrams and the cues they fire.
struct TextField<'x, 's, S> {
    extractor: &'x FeatureExtractor,
    ns: Namespace,
    /// Whether the sink reads names (see [`FeatureExtractor::walk`]).
    named: bool,
    sink: &'s mut S,
    cues: &'s mut CueState,
    prev_word: &'s mut String,
    name_words: &'s mut String,
    /// The token hash of the previous word, for the bigram with the next.
    prev_hash: Option<u64>,
}

impl<S: FnMut(u32, Option<FeatureName<'_>>)> TextField<'_, '_, S> {
    /// A word token, unless it is a reserved domain name.
    #[inline(always)]
    fn plain_word(&mut self, tok: &str) {
        // The corpus's masking placeholder (user@example.net) and other RFC 2606 names in
        // running text name a data source, not a scam. A dot and a reserved name ("test" at
        // the least) need five bytes, so shorter words skip the scan
        // (`short_words_with_a_dot_are_not_reserved`).
        if tok.len() >= 5 && tok.bytes().any(|b| b == b'.') && is_reserved_domain(tok) {
            return;
        }
        self.word(tok);
    }

    /// A word or CJK bigram: its feature, its bigram with the previous one, and its cue class.
    #[inline(always)]
    fn word(&mut self, tok: &str) {
        let x = self.extractor;
        let ns = self.ns;
        let hash = x.token_hash(ns, tok);
        (self.sink)(x.bucket_of_hash(hash), Some(FeatureName::Token(ns, tok)));
        if let (true, Some(prev)) = (x.config.word_bigrams, self.prev_hash) {
            (self.sink)(
                x.bigram_bucket(prev, hash),
                Some(FeatureName::Bigram(ns, self.prev_word, tok)),
            );
        }
        self.prev_hash = Some(hash);
        if self.named {
            self.prev_word.clear();
            self.prev_word.push_str(tok);
        }
        if ns == Namespace::FromName {
            self.name_words.push_str(tok);
            self.name_words.push(' ');
        } else {
            let table = &x.cue_words[usize::from(ns == Namespace::Body)];
            if let Some(class) = table.get(hash, tok) {
                self.cues.word(class);
            }
            self.cues.western_union_part(tok);
        }
    }
}

impl<S: FnMut(u32, Option<FeatureName<'_>>)> TokenSink for TextField<'_, '_, S> {
    fn token(&mut self, kind: TokenKind, tok: &str) {
        let x = self.extractor;
        let from_name = self.ns == Namespace::FromName;
        match kind {
            TokenKind::Word => self.plain_word(tok),
            TokenKind::CjkBigram => self.word(tok),
            TokenKind::Money => {
                (self.sink)(
                    x.bucket(Namespace::Money, tok),
                    Some(FeatureName::Token(Namespace::Money, tok)),
                );
                if !from_name {
                    self.cues.money(tok);
                }
            }
            TokenKind::Number => {
                (self.sink)(
                    x.bucket(Namespace::Number, tok),
                    Some(FeatureName::Token(Namespace::Number, tok)),
                );
            }
            TokenKind::CryptoAddress => {
                (self.sink)(
                    x.bucket(Namespace::Crypto, tok),
                    Some(FeatureName::Token(Namespace::Crypto, tok)),
                );
                // In a display name it is a feature but no cue, as money is.
                if !from_name {
                    self.cues.crypto_address();
                }
            }
        }
    }

    fn word_without_dot(&mut self, tok: &str) {
        self.word(tok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_equals_sort_unstable() {
        let mut x: u64 = 99;
        for (n, bits) in [
            (0, 21),
            (10, 21),
            (47, 21),
            (48, 21),
            (511, 21),
            (512, 21),
            (5000, 21),
            (3000, 25),
            (3000, 29),
            (2000, 9),
            (300, 1),
        ] {
            let keys: Vec<u64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (x >> 20) & ((1u64 << bits) - 1)
                })
                .collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            let (mut got, mut tmp, mut bins) = (keys, Vec::new(), Vec::new());
            sort_keys(&mut got, &mut tmp, &mut bins, bits);
            assert_eq!(got, expected, "n={n} bits={bits}");
        }
        // Keys crafted into one bin, in reverse order: the move budget hands over to sort_unstable.
        let mut got: Vec<u64> = (0..3000).rev().collect();
        let (mut tmp, mut bins) = (Vec::new(), Vec::new());
        sort_keys(&mut got, &mut tmp, &mut bins, 21);
        assert_eq!(got, (0..3000).collect::<Vec<u64>>());
    }
    use crate::message::ViewLimits;
    use crate::tokenize::TokenizerConfig;

    fn extractor() -> FeatureExtractor {
        FeatureExtractor::new(
            FeatureConfig::default(),
            Tokenizer::new(TokenizerConfig::default()),
        )
    }

    fn features(raw: &str) -> FeatureVector {
        let view = MessageView::parse(raw.as_bytes(), &ViewLimits::default()).expect("parses");
        let mut out = FeatureVector::default();
        extractor().extract(&view, &mut FeatureScratch::default(), &mut out);
        out
    }

    fn names(raw: &str) -> Vec<String> {
        let view = MessageView::parse(raw.as_bytes(), &ViewLimits::default()).expect("parses");
        let mut out = Vec::new();
        extractor().for_each_named(&view, |_, n| out.push(n.to_string()));
        out
    }

    #[test]
    fn same_text_same_buckets_and_unit_norm() {
        let a = features("Subject: Hello\n\nWestern Union payment of $250,000 for you\n");
        let b = features("Subject: Hello\n\nWestern Union payment of $250,000 for you\n");
        assert_eq!(a, b);
        // Without the cue buckets (added after normalisation) the vector has unit length.
        let e = extractor();
        let cue_buckets: Vec<u32> = Cue::ALL.iter().map(|c| e.cue_bucket(*c)).collect();
        let words: f32 = a
            .entries
            .iter()
            .filter(|(b, _)| !cue_buckets.contains(b))
            .map(|(_, v)| v * v)
            .sum();
        assert!((words - 1.0).abs() < 1e-4, "{words}");
        assert!(
            a.entries.windows(2).all(|w| w[0].0 < w[1].0),
            "buckets ascending and unique"
        );
    }

    #[test]
    fn names_carry_namespaces() {
        let n = names("From: \"FBI Office\" <x@corp.example.org>\nSubject: Claim now\n\nContact agent.mark@gmail.com to claim US$250,000.00\n");
        for want in [
            "s:claim",
            "s:claim now",
            "n:fbi",
            "b:contact",
            "b:contact agent.mark",
            "m:usd:5",
            "e:(free-mail)",
            "cue:large-sum",
            "cue:free-mail-contact",
        ] {
            assert!(n.iter().any(|x| x == want), "missing {want} in {n:?}");
        }
    }

    #[test]
    fn crypto_addresses_are_a_token_and_a_cue() {
        let n = names("Subject: Your device\n\nSend $1450 in Bitcoin to my wallet:\nbc1qx7m3n9ptl2w8vz4q6ks0dj5ya7rc3fu2he9gw\nwithin 48 hours.\n");
        for want in ["w:btc", "cue:crypto-address", "b:wallet"] {
            assert!(n.iter().any(|x| x == want), "missing {want} in {n:?}");
        }
        assert!(!n.iter().any(|x| x.contains("bc1q")), "{n:?}");
        let plain = names(
            "Subject: Re: build\n\nThe commit 3a7bd3e2360a3d29eea436fcfb7e44c735d117c4 fixed it.\n",
        );
        assert!(
            !plain
                .iter()
                .any(|x| x.starts_with("w:") || x == "cue:crypto-address"),
            "{plain:?}"
        );
    }

    #[test]
    fn placeholder_domains_are_not_features() {
        let n = names("Subject: x\n\nwrite to user@example.net or see http://example.net/a\n");
        assert!(
            !n.iter().any(|x| x.starts_with("e:") || x.starts_with("u:")),
            "{n:?}"
        );
        assert!(!n.iter().any(|x| x.contains("example.net")), "{n:?}");
        assert!(n.iter().any(|x| x == "b:write"), "{n:?}");
    }

    #[test]
    fn short_words_with_a_dot_are_not_reserved() {
        // Every string of up to four bytes over the letters of the reserved names, case, dots
        // and space: none with a dot is a reserved name.
        let alphabet = b"examplestinvdocahrgETX. ";
        let mut words = vec![String::new()];
        for _ in 0..4 {
            words = words
                .iter()
                .flat_map(|w| {
                    alphabet
                        .iter()
                        .map(move |&c| format!("{w}{}", char::from(c)))
                })
                .collect();
            for w in &words {
                assert!(!(w.contains('.') && is_reserved_domain(w)), "{w:?}");
            }
        }
        assert!(is_reserved_domain("x.test") && is_reserved_domain("test."));
    }

    #[test]
    fn head_cuts_on_char_boundaries() {
        assert_eq!(head("abc", 10), "abc");
        assert_eq!(head("aé", 2), "a");
        assert_eq!(head("日本語", 4), "日");
    }

    #[test]
    fn bigram_order_matters() {
        let e = extractor();
        assert_ne!(
            e.bigram_bucket(
                e.token_hash(Namespace::Body, "western"),
                e.token_hash(Namespace::Body, "union")
            ),
            e.bigram_bucket(
                e.token_hash(Namespace::Body, "union"),
                e.token_hash(Namespace::Body, "western")
            )
        );
    }

    #[test]
    fn empty_view_gives_empty_vector() {
        let mut out = FeatureVector::default();
        extractor().extract(
            &MessageView::default(),
            &mut FeatureScratch::default(),
            &mut out,
        );
        assert!(out.entries.is_empty());
    }
}
