//! Free text -> a stream of typed, normalised tokens.
//!
//! Per line (`'\n'`): [`normalize`] (NFKC, lower case, invisible characters dropped,
//! look-alike letters folded) -> [`words`] (UAX #29 words, CJK/Thai bigrams, spaced-out words
//! rejoined, number shapes and crypto-currency addresses from [`typed`]) -> [`money`] (amounts
//! such as "usd:5"). [`typed`]
//! also holds the URL host / e-mail domain helpers. Tokens reach the caller through a
//! callback as `&str` borrowed from buffers in a [`Scratch`], so after warm-up tokenising
//! allocates nothing.
//!
//! | option             | default | purpose                                                        |
//! |--------------------|---------|----------------------------------------------------------------|
//! | `version`          | 4       | bumped whenever the output for some input changes              |
//! | `max_word_chars`   | 40      | longer words (and numerals) are skipped                        |
//! | `rejoin_spaced`    | true    | "W e s t e r n", "W.e.s.t", "w-e-s-t" -> one word (>= 3 letters) |
//! | `fold_confusables` | true    | Cyrillic/Greek look-alikes inside Latin words become Latin     |
//! | `fold_accents`     | true    | diacritics come off Latin letters ("wëstërn" -> "western")     |
//! | `fold_digits`      | true    | look-alike digits inside words become letters ("w3st3rn un10n") |
//! | `fold_symbols`     | true    | `@` `$` `!` inside words become a, s, i ("tr@nsfer", "un!on")  |
//! | `cjk_bigrams`      | true    | Han/kana/hangul/Thai/Lao/Khmer/Myanmar runs -> char bigrams    |
//! | `typed_tokens`     | true    | numbers become shapes ("n6"), money "usd:5", wallets "btc"     |

pub mod money;
pub mod normalize;
pub mod typed;
pub mod words;

pub use money::Currency;
pub use typed::{crypto_address, email_domain, is_freemail, is_reserved_domain, url_host};

/// Tokenizer settings; stored with a model so a model is never used with other settings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenizerConfig {
    /// Version of the tokenizer output; bump when output changes. Default 4 (2 added
    /// `fold_accents` and `fold_digits`, 3 crypto-currency addresses, 4 `fold_symbols`).
    pub version: u32,
    /// Words longer than this many characters are skipped. Default 40.
    pub max_word_chars: usize,
    /// Rejoin words written letter by letter ("W e s t e r n", "W.e.s.t.e.r.n"). Default true.
    pub rejoin_spaced: bool,
    /// Fold Cyrillic/Greek look-alike letters in mixed-script words. Default true.
    pub fold_confusables: bool,
    /// Take diacritics off Latin letters ("Wëstërn" reads "western"). Default true; absent
    /// (false) in version 1 model files.
    #[serde(default)]
    pub fold_accents: bool,
    /// Read look-alike digits inside a word as letters ("w3st3rn", "un10n", "m0ney"): a word
    /// of ASCII letters and digits that starts and ends with a letter and whose digits are all
    /// 0, 1, 3, 4, 5 or 7 becomes o, i, e, a, s, t. Default true; absent (false) in version 1
    /// model files.
    #[serde(default)]
    pub fold_digits: bool,
    /// Read look-alike symbols inside a word as letters: `@` as a, `$` as s, `!` as i
    /// ("tr@nsfer", "bu$iness", "un!on"; see [`normalize::fold_symbols`] for what is left
    /// alone). Default true. Model files of older tokenizer versions are refused, not read
    /// with it off.
    #[serde(default)]
    pub fold_symbols: bool,
    /// Emit character bigrams for runs of Han, kana, hangul and Thai. Default true.
    pub cjk_bigrams: bool,
    /// Emit number shapes, money amounts and crypto-currency addresses. Default true.
    pub typed_tokens: bool,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            version: 4,
            max_word_chars: 40,
            rejoin_spaced: true,
            fold_confusables: true,
            fold_accents: true,
            fold_digits: true,
            fold_symbols: true,
            cjk_bigrams: true,
            typed_tokens: true,
        }
    }
}

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A normalised word ("western", "don't", "250k", "www.example.com").
    Word,
    /// Two adjacent Han/kana/hangul/Thai characters ("支払"), or one alone.
    CjkBigram,
    /// A money amount: `<currency>:<floor(log10(amount))>` ("usd:5").
    Money,
    /// The shape of a number: "n" and its count of integer digits ("n6").
    Number,
    /// A crypto-currency address, as its chain ("btc", "eth"; see [`crypto_address`]).
    CryptoAddress,
}

impl TokenKind {
    /// A short stable name, for namespacing features and for explanations.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Word => "word",
            TokenKind::CjkBigram => "cjk",
            TokenKind::Money => "money",
            TokenKind::Number => "number",
            TokenKind::CryptoAddress => "crypto",
        }
    }
}

/// Buffers reused from one call to the next so that tokenising does not allocate; they grow to
/// the longest line seen (NFKC can lengthen a line, at most 18-fold) and are kept.
#[derive(Default, Debug)]
pub struct Scratch {
    /// The current line, normalised.
    line: String,
    /// Working space for normalisation.
    tmp: String,
    /// Rejoined words.
    join: String,
    /// Text of number and money tokens.
    typed: String,
}

/// Where tokens go, in text order.
pub trait TokenSink {
    /// One token.
    fn token(&mut self, kind: TokenKind, text: &str);

    /// A [`TokenKind::Word`] known to hold no `.` (most words of most text are), so a sink
    /// that looks for dotted names can skip the look. By default handed to
    /// [`TokenSink::token`].
    fn word_without_dot(&mut self, text: &str) {
        self.token(TokenKind::Word, text);
    }
}

/// A callback as a [`TokenSink`].
struct FnSink<'f>(&'f mut dyn FnMut(TokenKind, &str));

impl TokenSink for FnSink<'_> {
    fn token(&mut self, kind: TokenKind, text: &str) {
        (self.0)(kind, text);
    }
}

/// Where tokens go: the caller's sink, and the buffer for token texts built on the fly.
pub(crate) struct Sink<'a> {
    typed: &'a mut String,
    emit: &'a mut dyn TokenSink,
}

impl Sink<'_> {
    /// Emits a token whose text is borrowed from the line or another buffer.
    #[inline]
    fn token(&mut self, kind: TokenKind, text: &str) {
        self.emit.token(kind, text);
    }

    /// Emits a word that holds no `.`.
    #[inline]
    fn word_without_dot(&mut self, text: &str) {
        self.emit.word_without_dot(text);
    }
}

/// Turns text into tokens; `Send + Sync`, cheap to clone, configured once.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    config: TokenizerConfig,
}

impl Tokenizer {
    /// A tokenizer with the given settings.
    pub fn new(config: TokenizerConfig) -> Self {
        Tokenizer { config }
    }

    /// The settings this tokenizer was built with.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Calls `emit(kind, text)` for each token in text order; text is normalized (NFKC, case
    /// folded). Money tokens come right after the words that complete the amount.
    pub fn tokenize(
        &self,
        text: &str,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(TokenKind, &str),
    ) {
        self.tokenize_into(text, scratch, &mut FnSink(emit));
    }

    /// [`Tokenizer::tokenize`] into a [`TokenSink`].
    pub fn tokenize_into(&self, text: &str, scratch: &mut Scratch, emit: &mut dyn TokenSink) {
        let Scratch {
            line,
            tmp,
            join,
            typed,
        } = scratch;
        let mut sink = Sink { typed, emit };
        for raw in text.split('\n') {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let ascii = normalize::normalize_line(
                raw,
                self.config.fold_confusables,
                self.config.fold_accents,
                tmp,
                line,
            );
            if self.config.fold_symbols {
                normalize::fold_symbols(line, ascii.then_some(raw), tmp);
            }
            words::tokenize_line(&self.config, line, ascii, join, &mut sink);
        }
    }

    /// Convenience for tests and explanations (allocates a `String` per token).
    pub fn tokens(&self, text: &str) -> Vec<(TokenKind, String)> {
        let mut out = Vec::new();
        self.tokenize(text, &mut Scratch::default(), &mut |kind, t| {
            out.push((kind, t.to_owned()))
        });
        out
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new(TokenizerConfig::default())
    }
}

#[cfg(test)]
mod tests;
