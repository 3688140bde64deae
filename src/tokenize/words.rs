//! Words of one normalised line: UAX #29 words (unicode-segmentation), with
//! - runs of Han, kana, hangul, Thai, Lao, Khmer and Myanmar turned into character bigrams
//!   (unicode-segmentation gives one token per kanji / kana / Thai letter, whole katakana runs and
//!   whole hangul words, none of which make good features);
//! - words spelt out letter by letter rejoined ("W e s t e r n", "w-e-s-t", "W.e.s.t.e.r.n");
//! - numerals replaced by their shape and passed, with everything else, to the money reader.
//!
//! ASCII text is split by `AsciiWords`, which gives exactly what unicode-segmentation's own
//! ASCII fast path gives, in one pass; a line with non-ASCII text is cut at spaces so that its
//! ASCII stretches keep that path and only the rest goes through `unicode_word_indices`. The
//! separators between words are recovered from the offsets.

use unicode_segmentation::UnicodeSegmentation;

use super::money::{may_start_amount, moves_idle_reader, Event, MoneyReader};
use super::typed::{crypto_address, is_numeral, parse_numeral, MIN_CRYPTO_ADDRESS_CHARS};
use super::{Sink, TokenKind, TokenizerConfig};

/// Fewest letters a spelt-out run needs to be rejoined: "U S A" joins, "a b" stays.
const MIN_REJOIN_LETTERS: usize = 3;

/// True for characters of scripts written without spaces between words, which get bigrams.
pub fn is_bigram_char(c: char) -> bool {
    let u = c as u32;
    u >= 0xE00
        && matches!(u,
            0x0E00..=0x0EFF       // Thai, Lao
            | 0x1000..=0x109F     // Myanmar
            | 0x1100..=0x11FF     // Hangul jamo
            | 0x1780..=0x17FF     // Khmer
            | 0x2E80..=0x2FDF     // CJK radicals
            | 0x3005..=0x3007     // 々 〆 〇
            | 0x3021..=0x3029     // Hangzhou numerals
            | 0x3031..=0x3035     // kana repeat marks
            | 0x303B              // 〻
            | 0x3041..=0x30FF     // hiragana, katakana (with ー)
            | 0x3130..=0x318F     // hangul compatibility jamo
            | 0x31F0..=0x31FF     // katakana extensions
            | 0x3400..=0x4DBF     // CJK extension A
            | 0x4E00..=0x9FFF     // CJK unified ideographs
            | 0xA960..=0xA97F     // hangul jamo extended A
            | 0xAC00..=0xD7FF     // hangul syllables, jamo extended B
            | 0xF900..=0xFAFF     // CJK compatibility ideographs
            | 0xFF66..=0xFF9F     // halfwidth katakana (NFKC removes them; kept for safety)
            | 0x20000..=0x3FFFF // CJK extensions B..
        )
}

fn is_mark(c: char) -> bool {
    !c.is_ascii() && unicode_normalization::char::is_combining_mark(c)
}

/// A letter written alone, which may be part of a spelt-out word.
fn is_single_letter(w: &str) -> bool {
    if let [b] = w.as_bytes() {
        return b.is_ascii_alphabetic();
    }
    if w.len() > 4 {
        return false;
    }
    let mut it = w.chars();
    matches!((it.next(), it.next()), (Some(c), None) if c.is_alphabetic() && !is_bigram_char(c))
}

/// What may separate the letters of a spelt-out word: one space or one of `-*._+~•·`.
fn is_letter_separator(gap: &str) -> bool {
    matches!(gap, " " | "-" | "*" | "." | "_" | "+" | "~" | "•" | "·")
}

/// Letters joined by `.`, `_` or `·` inside one UAX #29 word ("w.e.s.t", "u.s.a", "w_e_s_t"),
/// written into `buf`; None unless there are at least [`MIN_REJOIN_LETTERS`] single letters.
fn join_dotted<'b>(w: &str, buf: &'b mut String) -> Option<&'b str> {
    // Cheap rejection: the second character must be a separator ('·' starts with 0xC2).
    let b = w.as_bytes();
    if b.len() < 5 || (b[0].is_ascii() && !matches!(b[1], b'.' | b'_' | 0xC2)) {
        return None;
    }
    buf.clear();
    let mut letters = 0;
    let mut expect_letter = true;
    for c in w.chars() {
        if expect_letter && c.is_alphabetic() && !is_bigram_char(c) {
            buf.push(c);
            letters += 1;
            expect_letter = false;
        } else if !expect_letter && matches!(c, '.' | '_' | '·') {
            expect_letter = true;
        } else {
            return None;
        }
    }
    (!expect_letter && letters >= MIN_REJOIN_LETTERS).then_some(buf.as_str())
}

/// A word written with look-alike digits ("w3st3rn", "un10n", "m0ney", "s3cur1ty") as letters,
/// written into `buf`: an ASCII word of at least 4 letters and digits that starts and ends with
/// a letter, at least half letters, whose digits are all 0 1 3 4 5 7 (read o i e a s t). Words
/// such as "mp3", "covid19", "a1b2", "b2b", "x86" or "4you" are left alone.
fn digits_as_letters<'b>(w: &str, buf: &'b mut String) -> Option<&'b str> {
    let b = w.as_bytes();
    let (&first, &last) = (b.first()?, b.last()?);
    if b.len() < 4 || !first.is_ascii_alphabetic() || !last.is_ascii_alphabetic() {
        return None;
    }
    let mut digits = 0;
    for &c in b {
        match c {
            b'0' | b'1' | b'3' | b'4' | b'5' | b'7' => digits += 1,
            c if c.is_ascii_alphabetic() => {}
            _ => return None,
        }
    }
    if digits == 0 || digits * 2 > b.len() {
        return None;
    }
    buf.clear();
    buf.extend(b.iter().map(|&c| match c {
        b'0' => 'o',
        b'1' => 'i',
        b'3' => 'e',
        b'4' => 'a',
        b'5' => 's',
        b'7' => 't',
        c => char::from(c),
    }));
    Some(buf.as_str())
}

/// Single letters seen so far, possibly a spelt-out word: `line[start..end]`.
#[derive(Clone, Copy, Debug)]
struct LetterRun {
    start: usize,
    end: usize,
    letters: usize,
}

/// A run of bigram-script text being turned into bigrams as it arrives.
#[derive(Clone, Copy, Debug, Default)]
struct CjkRun {
    /// Start of the previous unit (a character with its combining marks).
    prev_start: Option<usize>,
    /// End of the last unit.
    end: usize,
    units: usize,
}

/// Whether a piece of a UAX #29 word is bigram-script text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    Plain,
    Cjk,
}

/// State while reading one line.
struct LineReader<'l, 'c> {
    config: &'c TokenizerConfig,
    line: &'l str,
    letters: Option<LetterRun>,
    cjk: Option<CjkRun>,
    money: MoneyReader,
}

/// Byte classes of the ASCII word scanner.
const CORE: u8 = 1;
const ALPHA: u8 = 2;
const DIGIT: u8 = 4;
/// Not a byte class: marks a word joined across a `.` ("e.g", "example.com").
const DOT: u8 = 8;

/// Letters and digits (which also mark a word as having content) and `_` (which joins words).
static ASCII_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() {
            CORE | ALPHA
        } else if c.is_ascii_digit() {
            CORE | DIGIT
        } else if c == b'_' {
            CORE
        } else {
            0
        };
        b += 1;
    }
    t
};

/// The words of an ASCII line as `(start, end)` byte offsets (and whether the word holds a
/// digit, and a `.`): exactly what
/// `unicode_word_indices` gives for ASCII text (unicode-segmentation's ASCII fast path), in one
/// pass without its per-segment filtering. A word is a run of letters, digits and `_`, joined
/// across `.` `,` `;` `'` between digits and `'` `.` `:` between letters, holding at least one
/// letter or digit; every other byte (spaces, CR LF, punctuation) is a segment of its own that
/// holds no letter or digit and is dropped.
struct AsciiWords<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> AsciiWords<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        AsciiWords { bytes, pos: 0 }
    }

    #[inline]
    fn class(b: u8) -> u8 {
        ASCII_CLASS[usize::from(b)]
    }

    /// The separator at `i` is inside a word: WB11/WB12 (digits either side of `.,;'`) and
    /// WB6/WB7 (letters either side of `'.:`).
    #[inline]
    fn is_infix(b: u8, prev: u8, next: u8) -> bool {
        let both = Self::class(prev) & Self::class(next);
        match b {
            b'.' | b'\'' => both & (DIGIT | ALPHA) != 0,
            b',' | b';' => both & DIGIT != 0,
            b':' => both & ALPHA != 0,
            _ => false,
        }
    }
}

impl Iterator for AsciiWords<'_> {
    /// (start, end, whether the word holds a digit, whether it holds a `.`)
    type Item = (usize, usize, bool, bool);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize, bool, bool)> {
        let b = self.bytes;
        let len = b.len();
        let mut i = self.pos;
        loop {
            // Skip the segments that are not words.
            while i < len && Self::class(b[i]) == 0 {
                i += 1;
            }
            if i >= len {
                self.pos = len;
                return None;
            }
            let start = i;
            let mut content = Self::class(b[i]) & (ALPHA | DIGIT);
            i += 1;
            while i < len {
                let c = Self::class(b[i]);
                if c != 0 {
                    content |= c;
                } else if i + 1 < len && Self::is_infix(b[i], b[i - 1], b[i + 1]) {
                    if b[i] == b'.' {
                        content |= DOT;
                    }
                } else {
                    break;
                }
                i += 1;
            }
            // A run of underscores alone is no word.
            if content & (ALPHA | DIGIT) != 0 {
                self.pos = i;
                return Some((start, i, content & DIGIT != 0, content & DOT != 0));
            }
        }
    }
}

/// Calls `f(start, word, is_ascii, has_digit, has_dot)` for the UAX #29 words of `line` in
/// order: the same words as `unicode_word_indices`, with every stretch of ASCII text read by
/// [`AsciiWords`]. `has_digit` and `has_dot` are exact for ASCII words and always true for the
/// others.
///
/// A line with some non-ASCII text is cut where an ASCII character other than a space follows
/// a space: UAX #29 always breaks there, and no rule looks across a space (WB3d joins spaces
/// only to spaces, WB4 attaches only Extend, Format and ZWJ, which are not ASCII, and the
/// look-ahead and look-behind of WB6/7 and WB11/12 need letters or digits next to the
/// punctuation). So the pieces can be segmented apart, and the ASCII ones keep the fast path.
fn for_each_word<'l>(
    line: &'l str,
    ascii: bool,
    mut f: impl FnMut(usize, &'l str, bool, bool, bool),
) {
    let b = line.as_bytes();
    if ascii || line.is_ascii() {
        return ascii_words(line, 0, b.len(), &mut f);
    }
    let is_cut = |i: usize| b[i - 1] == b' ' && b[i].is_ascii() && b[i] != b' ';
    let mut at = 0;
    while at < b.len() {
        let Some(q) = b[at..].iter().position(|c| !c.is_ascii()).map(|i| at + i) else {
            return ascii_words(line, at, b.len(), &mut f);
        };
        // ASCII up to the last cut before the non-ASCII character, the rest up to the next cut.
        let p = (at + 1..q).rev().find(|&i| is_cut(i)).unwrap_or(at);
        ascii_words(line, at, p, &mut f);
        let r = (q + 1..b.len()).find(|&i| is_cut(i)).unwrap_or(b.len());
        let piece = line.get(p..r).unwrap_or_default();
        for (start, w) in piece.unicode_word_indices() {
            f(p + start, w, false, true, true);
        }
        at = r;
    }
}

/// [`AsciiWords`] of `line[from..to]`, an ASCII stretch, with offsets into `line`.
#[inline]
fn ascii_words<'l>(
    line: &'l str,
    from: usize,
    to: usize,
    f: &mut impl FnMut(usize, &'l str, bool, bool, bool),
) {
    let Some(piece) = line.as_bytes().get(from..to) else {
        return;
    };
    for (start, end, digit, dot) in AsciiWords::new(piece) {
        f(
            from + start,
            line.get(from + start..from + end).unwrap_or_default(),
            true,
            digit,
            dot,
        );
    }
}

/// Emits the tokens of one normalised line; `ascii` may say that the line is known to be ASCII.
pub(super) fn tokenize_line(
    config: &TokenizerConfig,
    line: &str,
    ascii: bool,
    join: &mut String,
    sink: &mut Sink<'_>,
) {
    let mut r = LineReader {
        config,
        line,
        letters: None,
        cjk: None,
        money: MoneyReader::new(),
    };
    let mut prev_end = 0;
    for_each_word(line, ascii, |start, w, ascii_word, digit, dot| {
        // The gap as bytes first: the common case only scans it, and needs no `str` slice.
        let gap = line.as_bytes().get(prev_end..start).unwrap_or_default();
        // A word with a digit may be one to read as letters ("w3stern"): not the common case.
        let plain_ascii = ascii_word && !(digit && config.fold_digits);
        if !(plain_ascii && r.ordinary_ascii_word(gap, w, dot, join, sink)) {
            let gap = line.get(prev_end..start).unwrap_or_default();
            r.word(gap, start, w, join, sink);
        }
        prev_end = start + w.len();
    });
    r.end_runs(join, sink);
    r.gap(line.get(prev_end..).unwrap_or_default(), sink);
    if config.typed_tokens {
        r.money.end_line(sink);
    }
}

impl LineReader<'_, '_> {
    /// The common case on an ASCII line, in a few compares: a word of two or more characters
    /// that starts with a letter, fits the length limit, is too short to be a crypto address, is
    /// not dotted letters ("w.e.s.t") and cannot start an amount, after an ASCII separator without
    /// `$`, while no amount is being read (`dot`: whether it holds a `.`). Emits it as
    /// [`Self::word`] would and returns true;
    /// false leaves the word to [`Self::word`].
    ///
    /// Such a word never continues a spelt-out or bigram run, so an open run ("a" before
    /// "letter") is ended first, as [`Self::piece`] would; the word is then judged with the
    /// reader in the state the run left it in (and a word handed on finds the run ended).
    #[inline]
    fn ordinary_ascii_word(
        &mut self,
        gap: &[u8],
        w: &str,
        dot: bool,
        join: &mut String,
        sink: &mut Sink<'_>,
    ) -> bool {
        let b = w.as_bytes();
        let ordinary = b.len() >= 2
            && b.len() <= self.config.max_word_chars
            && (b.len() < MIN_CRYPTO_ADDRESS_CHARS || !self.config.typed_tokens)
            && b[0].is_ascii_alphabetic()
            && (b.len() < 5 || !matches!(b[1], b'.' | b'_'));
        if !ordinary {
            return false;
        }
        self.end_runs(join, sink);
        if self.config.typed_tokens {
            let plain_gap = gap.iter().all(|&c| c != b'$' && c.is_ascii());
            // A word that passes the cheap filter but turns out to start nothing does to an
            // idle reader just what a plain word does.
            if !self.money.is_idle() || !plain_gap || (may_start_amount(w) && moves_idle_reader(w))
            {
                return false;
            }
            // What the separator and the word would do to an idle reader.
            self.money.skip_separator();
        }
        if dot {
            sink.token(TokenKind::Word, w);
        } else {
            sink.word_without_dot(w);
        }
        self.flush(sink);
        true
    }

    /// One UAX #29 word at `start`, after the separator text `gap` (the uncommon words: kept out
    /// of line so that the common case inlines into the word scanner).
    #[inline(never)]
    fn word(&mut self, gap: &str, start: usize, w: &str, join: &mut String, sink: &mut Sink<'_>) {
        if !self.config.cjk_bigrams || w.is_ascii() || !w.chars().any(is_bigram_char) {
            return self.piece(gap, start, w, Piece::Plain, join, sink);
        }
        // Hangul is a UAX #29 letter, so "abc한국" and "250만원" arrive as one word: split by script.
        let mut piece_start = 0;
        let mut kind: Option<Piece> = None;
        for (i, c) in w.char_indices() {
            let this = match kind {
                Some(k) if is_mark(c) => k,
                _ if is_bigram_char(c) => Piece::Cjk,
                _ => Piece::Plain,
            };
            if let Some(k) = kind.filter(|k| *k != this) {
                let g = if piece_start == 0 { gap } else { "" };
                self.split_piece(g, start + piece_start, &w[piece_start..i], k, join, sink);
                piece_start = i;
            }
            kind = Some(this);
        }
        if let Some(k) = kind {
            let g = if piece_start == 0 { gap } else { "" };
            self.split_piece(g, start + piece_start, &w[piece_start..], k, join, sink);
        }
    }

    /// A piece of a split word; one without letters or digits ("_") is only a separator.
    fn split_piece(
        &mut self,
        gap: &str,
        start: usize,
        w: &str,
        kind: Piece,
        join: &mut String,
        sink: &mut Sink<'_>,
    ) {
        if kind == Piece::Plain && !w.chars().any(char::is_alphanumeric) {
            self.end_runs(join, sink);
            self.gap(gap, sink);
            return self.gap(w, sink);
        }
        self.piece(gap, start, w, kind, join, sink);
    }

    fn piece(
        &mut self,
        gap: &str,
        start: usize,
        w: &str,
        kind: Piece,
        join: &mut String,
        sink: &mut Sink<'_>,
    ) {
        let letter = kind == Piece::Plain && self.config.rejoin_spaced && is_single_letter(w);
        // Continue a run in progress.
        if letter && is_letter_separator(gap) {
            if let Some(run) = &mut self.letters {
                run.end = start + w.len();
                run.letters += 1;
                return;
            }
        }
        if kind == Piece::Cjk && gap.is_empty() && self.cjk.is_some() {
            self.cjk_piece(start, w, sink);
            return;
        }
        self.end_runs(join, sink);
        self.gap(gap, sink);
        if letter {
            self.letters = Some(LetterRun {
                start,
                end: start + w.len(),
                letters: 1,
            });
        } else if kind == Piece::Cjk {
            self.cjk = Some(CjkRun::default());
            self.cjk_piece(start, w, sink);
        } else if let Some(chain) = self.crypto_address_at(start, w) {
            self.token(TokenKind::CryptoAddress, chain, Event::Break, sink);
        } else {
            self.plain(w, join, sink);
        }
    }

    /// The chain of the crypto-currency address `w` at `start`, if it is one and stands alone:
    /// after the line start, a space or one of `:([{"'<>*`, and before the line end, a space or
    /// one of `.,;:!?)]}"'>*`. Inside a link ("drive.google.com/file/d/1BxiM…/view") or a
    /// base64 block ("…+1Fz…/…") the same letters are no address.
    fn crypto_address_at(&self, start: usize, w: &str) -> Option<&'static str> {
        if !self.config.typed_tokens || w.len() < MIN_CRYPTO_ADDRESS_CHARS {
            return None;
        }
        let before = self.line.get(..start).and_then(|s| s.chars().next_back());
        let after = self
            .line
            .get(start + w.len()..)
            .and_then(|s| s.chars().next());
        let alone_before = before.is_none_or(|c| c.is_whitespace() || ":([{\"'<>*".contains(c));
        let alone_after = after.is_none_or(|c| c.is_whitespace() || ".,;:!?)]}\"'>*".contains(c));
        if alone_before && alone_after {
            crypto_address(w)
        } else {
            None
        }
    }

    /// A word that is neither a lone letter nor bigram-script text.
    fn plain(&mut self, w: &str, join: &mut String, sink: &mut Sink<'_>) {
        if self.config.rejoin_spaced {
            if let Some(joined) = join_dotted(w, join) {
                return self.emit_word(joined, sink);
            }
        }
        if self.config.fold_digits {
            if let Some(letters) = digits_as_letters(w, join) {
                return self.emit_word(letters, sink);
            }
        }
        if self.too_long(w) {
            return self.feed(Event::Break, sink);
        }
        if self.config.typed_tokens && is_numeral(w) {
            self.feed(Event::Num(w), sink);
            if let Some(n) = parse_numeral(w) {
                sink.number_shape(n.int_digits);
            }
            return self.flush(sink);
        }
        // Bigram scripts start at U+0E00: a UTF-8 lead byte of 0xE0 or more.
        let ev =
            if w.as_bytes().first().is_some_and(|&b| b >= 0xE0) && w.starts_with(is_bigram_char) {
                Event::Cjk(w)
            } else {
                Event::Word(w)
            };
        self.token(TokenKind::Word, w, ev, sink);
    }

    /// Emits a token, with the money reader told before (so an amount the token ends comes
    /// first) and flushed after (so an amount the token completes comes after it).
    fn token(&mut self, kind: TokenKind, text: &str, ev: Event<'_>, sink: &mut Sink<'_>) {
        self.feed(ev, sink);
        sink.token(kind, text);
        self.flush(sink);
    }

    /// Emits a built word (rejoined letters), subject to the length limit.
    fn emit_word(&mut self, w: &str, sink: &mut Sink<'_>) {
        if self.too_long(w) {
            return self.feed(Event::Break, sink);
        }
        self.token(TokenKind::Word, w, Event::Word(w), sink);
    }

    fn too_long(&self, w: &str) -> bool {
        let max = self.config.max_word_chars;
        w.len() > max && w.chars().count() > max
    }

    /// Bigram-script text continuing (or starting) the current run.
    fn cjk_piece(&mut self, start: usize, w: &str, sink: &mut Sink<'_>) {
        let line = self.line;
        self.feed(Event::Cjk(w), sink);
        let run = self.cjk.get_or_insert_with(CjkRun::default);
        let mut unit_start = start;
        for (i, c) in w.char_indices().skip(1) {
            if !is_mark(c) {
                cjk_unit(run, line, unit_start, start + i, sink);
                unit_start = start + i;
            }
        }
        cjk_unit(run, line, unit_start, start + w.len(), sink);
        self.flush(sink);
    }

    /// Ends a spelt-out run (one joined word, or its letters one by one) and a bigram run.
    #[inline]
    fn end_runs(&mut self, join: &mut String, sink: &mut Sink<'_>) {
        if self.letters.is_some() || self.cjk.is_some() {
            self.end_runs_slow(join, sink);
        }
    }

    fn end_runs_slow(&mut self, join: &mut String, sink: &mut Sink<'_>) {
        if let Some(run) = self.letters.take() {
            let span = self.line.get(run.start..run.end).unwrap_or_default();
            if run.letters >= MIN_REJOIN_LETTERS {
                join.clear();
                join.extend(span.chars().filter(|c| c.is_alphabetic()));
                self.emit_word(join, sink);
            } else {
                for (i, c) in span.char_indices() {
                    if c.is_alphabetic() {
                        let letter = &span[i..i + c.len_utf8()];
                        self.token(TokenKind::Word, letter, Event::Word(letter), sink);
                    } else {
                        self.gap_char(c, sink);
                    }
                }
            }
        }
        if let Some(run) = self.cjk.take() {
            if let (1, Some(p)) = (run.units, run.prev_start) {
                if let Some(unit) = self.line.get(p..run.end) {
                    sink.token(TokenKind::CjkBigram, unit);
                }
            }
        }
    }

    /// Separator text between words: only the money reader cares.
    fn gap(&mut self, gap: &str, sink: &mut Sink<'_>) {
        if !self.config.typed_tokens || gap.is_empty() {
            return;
        }
        // Idle and no '$' or non-ASCII symbol: nothing here can start an amount.
        if self.money.is_idle() && gap.bytes().all(|b| b != b'$' && b.is_ascii()) {
            return self.money.skip_separator();
        }
        if gap == " " {
            return self.feed(Event::Space, sink);
        }
        for c in gap.chars() {
            self.gap_char(c, sink);
        }
    }

    fn gap_char(&mut self, c: char, sink: &mut Sink<'_>) {
        let ev = if c.is_whitespace() {
            Event::Space
        } else {
            Event::Sym(c)
        };
        self.feed(ev, sink);
        self.flush(sink);
    }

    fn feed(&mut self, ev: Event<'_>, sink: &mut Sink<'_>) {
        if self.config.typed_tokens {
            self.money.feed(ev, sink);
        }
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        if self.config.typed_tokens {
            self.money.flush(sink);
        }
    }
}

/// Adds one unit to a bigram run, emitting the bigram it completes.
fn cjk_unit(run: &mut CjkRun, line: &str, start: usize, end: usize, sink: &mut Sink<'_>) {
    if let Some(bigram) = run.prev_start.and_then(|p| line.get(p..end)) {
        sink.token(TokenKind::CjkBigram, bigram);
    }
    run.prev_start = Some(start);
    run.end = end;
    run.units += 1;
}

#[cfg(test)]
mod tests {
    use super::AsciiWords;
    use unicode_segmentation::UnicodeSegmentation;

    fn ours(s: &str) -> Vec<(usize, &str)> {
        AsciiWords::new(s.as_bytes())
            .map(|(a, b, digit, dot)| {
                assert_eq!(digit, s[a..b].bytes().any(|c| c.is_ascii_digit()));
                assert_eq!(dot, s[a..b].contains('.'));
                (a, &s[a..b])
            })
            .collect()
    }

    #[test]
    fn digits_read_as_letters_only_in_letter_words() {
        let mut buf = String::new();
        let mut f = |w: &str| super::digits_as_letters(w, &mut buf).map(str::to_owned);
        assert_eq!(f("w3st3rn").as_deref(), Some("western"));
        assert_eq!(f("un10n").as_deref(), Some("union"));
        assert_eq!(f("m0neygram").as_deref(), Some("moneygram"));
        assert_eq!(f("s3cur1ty").as_deref(), Some("security"));
        for keep in [
            "mp3", "covid19", "a1b2", "b2b", "x86", "4you", "h264", "w8ing", "west",
        ] {
            assert_eq!(f(keep), None, "{keep}");
        }
    }

    #[test]
    fn ascii_words_literal() {
        let s =
            "Mr. J.R.R. Smith's e.g. 1,000.50 $250;000 a:b 1:2 __ _x_ x__y 3'4 a'1 http://x.y \r\n";
        assert_eq!(
            ours(s).iter().map(|w| w.1).collect::<Vec<_>>(),
            [
                "Mr", "J.R.R", "Smith's", "e.g", "1,000.50", "250;000", "a:b", "1", "2", "_x_",
                "x__y", "3'4", "a", "1", "http", "x.y"
            ]
        );
    }

    /// The next number below `n` of a seeded linear congruential generator.
    fn lcg_below(x: &mut u64, n: usize) -> usize {
        *x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*x >> 33) as usize % n
    }

    #[test]
    fn pieces_of_mixed_lines_equal_unicode_word_indices() {
        // Mixed text: the cuts at spaces must give the words of the whole line.
        let alphabet = [
            "a", "b", "Z", "0", "9", "_", ".", ",", "'", ":", "$", " ", " ", "\t", "é", "\u{301}",
            "\u{200D}", "\u{200B}", "日", "本", "ー", "한", "€", "’", "🇫", "🇷", "👍", "\u{FE0F}",
            "א", "\"", "٣",
        ];
        let mut x: u64 = 11;
        for len in 0..4000usize {
            let s: String = (0..len % 30)
                .map(|_| alphabet[lcg_below(&mut x, alphabet.len())])
                .collect();
            let mut got = Vec::new();
            super::for_each_word(&s, false, |start, w, _, _, _| got.push((start, w)));
            let want: Vec<(usize, &str)> = s.unicode_word_indices().collect();
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn ascii_words_equal_unicode_word_indices() {
        // Random ASCII rich in the bytes the rules look at, against the crate's own answer.
        let alphabet = b"ab Z09_.,;':-$\r\n\t\"!/";
        let mut x: u64 = 7;
        for len in 0..2000usize {
            let s: String = (0..len % 40)
                .map(|_| char::from(alphabet[lcg_below(&mut x, alphabet.len())]))
                .collect();
            let want: Vec<(usize, &str)> = s.unicode_word_indices().collect();
            assert_eq!(ours(&s), want, "{s:?}");
        }
    }
}
