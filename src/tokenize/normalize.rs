//! Line normalisation: NFKC, lower case, invisible characters removed, look-alike letters folded,
//! accents taken off Latin letters.
//!
//! Lower-casing uses `char::to_lowercase` (full Unicode lower case, not full case folding):
//! the differences (`ß` stays `ß`, final sigma stays `ς`) do not matter for spam features and a
//! case-folding crate would be one more dependency.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Normalises one line (no `'\n'`) into `out`, using `tmp` as working space.
///
/// ASCII lines are only lower-cased (the fast path). Other lines: invisible characters removed,
/// NFKC, (if `accents`) diacritics taken off Latin letters (see [`strip_latin_accents`]),
/// typographic apostrophes made `'`, lower-cased, and (if `fold`) look-alike Cyrillic/Greek
/// letters in mixed-script words rewritten as Latin (or the reverse, see [`fold_word`]).
/// Returns true when `line` was ASCII (so `out` is too).
pub(super) fn normalize_line(
    line: &str,
    fold: bool,
    accents: bool,
    tmp: &mut String,
    out: &mut String,
) -> bool {
    out.clear();
    if line.is_ascii() {
        out.push_str(line);
        out.make_ascii_lowercase();
        return true;
    }
    // Invisible characters go first so that NFKC can compose across them ("e\u{200B}\u{301}").
    tmp.clear();
    // Whether the normalised text has accented Latin letters or Cyrillic/Greek letters, noted
    // while it is written rather than in two more passes (both ranges start above U+00BF).
    let (mut accented, mut cyrillic_or_greek) = (false, false);
    let mut note = |c: char| {
        if u32::from(c) >= 0xC0 {
            accented |= has_latin_accent(c);
            cyrillic_or_greek |= is_cyrillic_or_greek(c);
        }
        c
    };
    // Lines with some non-ASCII characters are often mostly ASCII. NFKC can be applied piece by
    // piece, cut before every ASCII character: an ASCII character never composes with what
    // precedes it (it is a starter and no composition pair ends with it), no reordering
    // crosses it (it is a starter), and decomposition is per character. So runs of ASCII
    // are copied in bulk (none is invisible, NFKC keeps them, `note` ignores them), except a
    // run's last character, which may compose with the marks after it ("e\u{301}") and starts
    // the piece of non-ASCII text that follows; a piece that passes the quick check is
    // copied, the others go through NFKC.
    let mut rest = line;
    loop {
        let ascii = rest.bytes().take_while(u8::is_ascii).count();
        if ascii == rest.len() {
            tmp.push_str(rest);
            break;
        }
        let start = ascii.saturating_sub(1);
        tmp.push_str(&rest[..start]);
        let end = rest.as_bytes()[ascii..]
            .iter()
            .position(u8::is_ascii)
            .map_or(rest.len(), |p| ascii + p);
        let visible = rest[start..end].chars().filter(|&c| !is_invisible(c));
        if is_nfkc_quick(visible.clone()) == IsNormalized::Yes {
            tmp.extend(visible.map(&mut note));
        } else {
            tmp.extend(visible.nfkc().map(&mut note));
        }
        rest = &rest[end..];
    }
    // Taking accents off neither makes nor removes a Cyrillic or Greek letter, so the flag
    // still holds afterwards.
    if accents && accented {
        strip_latin_accents(tmp, out);
        std::mem::swap(tmp, out);
        out.clear();
    }
    if fold && cyrillic_or_greek {
        fold_and_lower(tmp, out);
    } else {
        push_lower_str(tmp, out);
    }
    false
}

/// [`push_lower`] of every character of `s`, with runs of ASCII lower-cased in bulk.
fn push_lower_str(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(i) = rest.bytes().position(|b| !b.is_ascii()) {
        push_ascii_lower(&rest[..i], out);
        let mut chars = rest[i..].chars();
        if let Some(c) = chars.next() {
            push_lower(c, out);
        }
        rest = chars.as_str();
    }
    push_ascii_lower(rest, out);
}

/// Appends ASCII (or any) text with its ASCII letters lower-cased.
fn push_ascii_lower(s: &str, out: &mut String) {
    let start = out.len();
    out.push_str(s);
    out[start..].make_ascii_lowercase();
}

/// Unicode format characters (general category Cf) and other default-ignorable code points
/// that render as nothing and are used to split words invisibly.
pub fn is_invisible(c: char) -> bool {
    let u = c as u32;
    if u < 0xAD {
        return false;
    }
    matches!(
        u,
        0xAD                      // soft hyphen
        | 0x34F                   // combining grapheme joiner
        | 0x600..=0x605           // Arabic number signs (Cf)
        | 0x61C                   // Arabic letter mark
        | 0x6DD | 0x70F | 0x8E2   // Arabic / Syriac format marks
        | 0x115F | 0x1160         // Hangul fillers
        | 0x17B4 | 0x17B5         // Khmer inherent vowels
        | 0x180B..=0x180F         // Mongolian variation selectors, vowel separator
        | 0x200B..=0x200F         // zero-width space/joiners, LRM, RLM
        | 0x202A..=0x202E         // bidi embeddings and overrides
        | 0x2060..=0x206F         // word joiner, invisible operators, bidi isolates
        | 0x3164 | 0xFFA0         // Hangul fillers
        | 0xFE00..=0xFE0F         // variation selectors
        | 0xFEFF                  // zero-width no-break space / BOM
        | 0xFFF0..=0xFFFB         // interlinear annotation
        | 0x110BD | 0x110CD       // Kaithi number signs
        | 0x13430..=0x1343F       // Egyptian hieroglyph format controls
        | 0x1BCA0..=0x1BCA3       // shorthand format controls
        | 0x1D173..=0x1D17A       // musical symbol format controls
        | 0xE0000..=0xE0FFF // tags and variation selectors supplement
    )
}

/// A Latin letter with a diacritic (precomposed, as NFKC leaves it) or a combining diacritic.
#[inline]
fn has_latin_accent(c: char) -> bool {
    matches!(c as u32, 0xC0..=0x24F | 0x1E00..=0x1EFF | 0x300..=0x36F)
}

/// Writes `text` into `out` with diacritics taken off Latin letters: a precomposed letter
/// becomes its base letter when that is ASCII ("Wëstërn Ûñíøn" -> "Western Uniøn": `ø`, `ß`,
/// `æ`, `ł` have no base letter and stay), and a combining diacritic (U+0300-U+036F) after an
/// ASCII letter is dropped. Spammers accent letters so that words no longer match; legitimate
/// French, Spanish or German words lose their accents too, which costs nothing measurable (the
/// training text is overwhelmingly English). Other scripts are untouched: kana keep their
/// voicing marks, which lie outside these ranges.
pub(super) fn strip_latin_accents(text: &str, out: &mut String) {
    out.clear();
    let mut after_ascii_letter = false;
    for c in text.chars() {
        let u = c as u32;
        if (0x300..=0x36F).contains(&u) {
            if !after_ascii_letter {
                out.push(c);
            }
            continue;
        }
        let mut base = c;
        if matches!(u, 0xC0..=0x24F | 0x1E00..=0x1EFF) {
            let mut first = None;
            unicode_normalization::char::decompose_canonical(c, |d| {
                first.get_or_insert(d);
            });
            if let Some(b) = first.filter(char::is_ascii_alphabetic) {
                base = b;
            }
        }
        after_ascii_letter = base.is_ascii_alphabetic();
        out.push(base);
    }
}

/// Pushes the lower case of `c`, with typographic apostrophes made ASCII so "don’t" = "don't".
#[inline]
fn push_lower(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if matches!(c, '\u{2018}' | '\u{2019}' | '\u{02BC}') {
        out.push('\'');
    } else {
        out.extend(c.to_lowercase());
    }
}

/// True for letters of the Cyrillic or Greek blocks (the scripts with Latin look-alikes).
#[inline]
pub(super) fn is_cyrillic_or_greek(c: char) -> bool {
    is_cyrillic(c) || is_greek(c)
}

fn is_cyrillic(c: char) -> bool {
    matches!(c as u32, 0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F)
}

fn is_greek(c: char) -> bool {
    matches!(c as u32, 0x370..=0x3FF | 0x1F00..=0x1FFF)
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c as u32, 0xC0..=0x24F | 0x250..=0x2AF | 0x1E00..=0x1EFF) && c.is_alphabetic())
}

/// The Latin letter (lower case) a Cyrillic or Greek letter looks like; case-aware because
/// capital Greek Eta looks like "H" but small eta like "n".
fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic capitals
        'А' => 'a',
        'В' => 'b',
        'Е' => 'e',
        'К' => 'k',
        'М' => 'm',
        'Н' => 'h',
        'О' => 'o',
        'Р' => 'p',
        'С' => 'c',
        'Т' => 't',
        'У' | 'Ү' => 'y',
        'Х' => 'x',
        'Ѕ' => 's',
        'І' => 'i',
        'Ј' => 'j',
        'Һ' => 'h',
        'Ԁ' => 'd',
        'Ԛ' => 'q',
        'Ԝ' => 'w',
        'Ӏ' => 'l',
        'Ѵ' => 'v',
        // Cyrillic small letters
        'а' => 'a',
        'в' | 'ь' => 'b',
        'е' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' | 'һ' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' | 'ү' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ѵ' => 'v',
        // Greek capitals
        'Α' => 'a',
        'Β' => 'b',
        'Ε' => 'e',
        'Ζ' => 'z',
        'Η' => 'h',
        'Ι' => 'i',
        'Κ' => 'k',
        'Μ' => 'm',
        'Ν' => 'n',
        'Ο' => 'o',
        'Ρ' => 'p',
        'Τ' => 't',
        'Υ' => 'y',
        'Χ' => 'x',
        'Ϲ' => 'c',
        'Ϳ' => 'j',
        // Greek small letters
        'α' => 'a',
        'γ' => 'y',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'ϲ' => 'c',
        'ϳ' => 'j',
        _ => return None,
    })
}

/// The Cyrillic letter (lower case) a Latin letter looks like, for Latin letters slipped into
/// Cyrillic words ("пpивет" with a Latin p).
fn cyrillic_lookalike(c: char) -> Option<char> {
    Some(match c {
        'a' | 'A' => 'а',
        'B' => 'в',
        'c' | 'C' => 'с',
        'e' | 'E' => 'е',
        'H' => 'н',
        'k' | 'K' => 'к',
        'M' => 'м',
        'o' | 'O' => 'о',
        'p' | 'P' => 'р',
        'T' => 'т',
        'x' | 'X' => 'х',
        'y' | 'Y' => 'у',
        'i' | 'I' => 'і',
        'j' | 'J' => 'ј',
        's' | 'S' => 'ѕ',
        _ => return None,
    })
}

/// Which way a mixed-script word is folded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    /// Not mixed, or mixed beyond what look-alikes explain: lower-case only.
    None,
    /// Latin word with Cyrillic/Greek look-alikes: rewrite them as Latin.
    ToLatin,
    /// Cyrillic word with Latin look-alikes: rewrite them as Cyrillic.
    ToCyrillic,
}

/// Decides how to fold one word (a run of alphanumeric characters and marks).
///
/// A word is folded only when it mixes Latin with Cyrillic/Greek letters and every letter of
/// the minority script has a look-alike in the other: "Wеstеrn" (Cyrillic е) becomes Latin,
/// "пpивет" (Latin p) becomes Cyrillic, "привет" and "Straßeж" are left alone.
fn fold_word(word: &str) -> Fold {
    let (mut latin, mut latin_like_cyr) = (0usize, 0usize);
    let (mut cyr, mut greek, mut cg_like_latin) = (0usize, 0usize, 0usize);
    for c in word.chars() {
        if is_latin_letter(c) {
            latin += 1;
            latin_like_cyr += usize::from(cyrillic_lookalike(c).is_some());
        } else if is_cyrillic_or_greek(c) && c.is_alphabetic() {
            if is_cyrillic(c) {
                cyr += 1;
            } else {
                greek += 1;
            }
            cg_like_latin += usize::from(latin_lookalike(c).is_some());
        }
    }
    if latin == 0 || cyr + greek == 0 {
        Fold::None
    } else if cg_like_latin == cyr + greek {
        Fold::ToLatin
    } else if greek == 0 && latin_like_cyr == latin {
        Fold::ToCyrillic
    } else {
        Fold::None
    }
}

/// Lower-cases `text` into `out`, folding look-alikes word by word (see [`fold_word`]).
fn fold_and_lower(text: &str, out: &mut String) {
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let in_word = c.is_alphanumeric() || (word_start.is_some() && is_mark(c));
        match (in_word, word_start) {
            (true, None) => word_start = Some(i),
            (false, Some(s)) => {
                push_folded(&text[s..i], out);
                word_start = None;
                push_lower(c, out);
            }
            (false, None) => push_lower(c, out),
            (true, Some(_)) => {}
        }
    }
    if let Some(s) = word_start {
        push_folded(&text[s..], out);
    }
}

fn is_mark(c: char) -> bool {
    !c.is_ascii() && unicode_normalization::char::is_combining_mark(c)
}

fn push_folded(word: &str, out: &mut String) {
    match fold_word(word) {
        Fold::None => word.chars().for_each(|c| push_lower(c, out)),
        Fold::ToLatin => word.chars().for_each(|c| match latin_lookalike(c) {
            Some(l) => out.push(l),
            None => push_lower(c, out),
        }),
        Fold::ToCyrillic => word.chars().for_each(|c| match cyrillic_lookalike(c) {
            Some(l) => out.push(l),
            None => push_lower(c, out),
        }),
    }
}

/// Reads look-alike symbols inside a word as the letters they stand for, rewriting `line` (a
/// normalised, lower-cased line) through `tmp`: `@` as `a` ("tr@nsfer", "b@nk"), `$` as `s`
/// ("bu$iness", "ca$h") and `!` as `i` ("un!on", "benef!c!ary"). A symbol counts only inside a
/// word: letters or digits on both sides, at least one of them a letter (for `$` both), so punctuation ("now!", "US$ 250", "$250", "Hello !"),
/// shell and Perl variables ("$HOME", "$self"), mentions ("@team") and e-mail addresses
/// ("bob@mail.example", whose `@` is followed by a dotted name) are left alone. Words that still
/// hold look-alike digits ("w3st3rn un!0n" becomes "w3st3rn uni0n") are read as letters later,
/// by the word reader. `raw` is the line before lower-casing when it has the same byte offsets
/// (an ASCII line): a symbol between a small letter and a capital is then a missing space, not a
/// letter ("Hello!How").
/// Lines without `@`, `$` or `!` cost one `memchr3` scan.
pub fn fold_symbols(line: &mut String, raw: Option<&str>, tmp: &mut String) {
    const fn symbol(c: u8) -> bool {
        matches!(c, b'@' | b'$' | b'!')
    }
    let b = line.as_bytes();
    let Some(first) = memchr::memchr3(b'@', b'$', b'!', b) else {
        return;
    };
    // The letter the symbol at `i` stands for; `prev` is the byte before it as read (a symbol
    // already read as a letter counts as that letter). A symbol right after it is looked past
    // ("benef!c!@ry").
    let stands_for = |i: usize, prev: u8| -> Option<char> {
        let mut next = *b.get(i + 1)?;
        if symbol(next) {
            next = b
                .get(i + 2)
                .copied()
                .filter(u8::is_ascii_alphabetic)
                .map_or(next, |_| b'a');
        }
        // A letter follows, or (for `!`) a look-alike digit and then a letter ("un!0n"), not a
        // number ("now!0800"); and not a small letter then a capital in the original text,
        // a new word after a missing space ("Hello!How", "Meet@Noon"; "TR@NSFER" folds).
        let after = b.get(i + 2).copied().unwrap_or(b' ');
        let letter_next = next.is_ascii_alphabetic()
            || (b[i] == b'!'
                && matches!(next, b'0' | b'1' | b'3' | b'4' | b'5' | b'7')
                && after.is_ascii_alphabetic());
        let capital_next = raw.is_some_and(|r| {
            let r = r.as_bytes();
            r.get(i + 1).is_some_and(u8::is_ascii_uppercase)
                && i.checked_sub(1)
                    .and_then(|p| r.get(p))
                    .is_some_and(u8::is_ascii_lowercase)
        });
        if !prev.is_ascii_alphanumeric() || !letter_next || capital_next {
            return None;
        }
        match b[i] {
            b'@' => {
                // An address: the name after `@` goes on past a dot to another label.
                let rest = &b[i + 1..];
                let end = rest
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'-'))
                    .unwrap_or(rest.len());
                let dotted = rest.get(end) == Some(&b'.')
                    && rest.get(end + 1).is_some_and(u8::is_ascii_alphanumeric);
                (!dotted).then_some('a')
            }
            // Not before a digit: "US$250" is an amount.
            b'$' => (prev.is_ascii_alphabetic() && next.is_ascii_alphabetic()).then_some('s'),
            b'!' => Some('i'),
            _ => None,
        }
    };
    let mut at = first;
    let mut copied = 0;
    let mut last: Option<(usize, char)> = None;
    tmp.clear();
    loop {
        let prev = match (last, at.checked_sub(1)) {
            (Some((j, c)), Some(p)) if j == p => c as u8,
            (_, Some(p)) => b[p],
            (_, None) => b' ',
        };
        if let Some(letter) = stands_for(at, prev) {
            tmp.push_str(&line[copied..at]);
            tmp.push(letter);
            copied = at + 1;
            last = Some((at, letter));
        }
        at = match b
            .get(at + 1..)
            .and_then(|rest| memchr::memchr3(b'@', b'$', b'!', rest))
        {
            Some(p) => at + 1 + p,
            None => break,
        };
    }
    if last.is_some() {
        tmp.push_str(&line[copied..]);
        std::mem::swap(line, tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line normalisation as first written (one pass per step), the oracle for the
    /// merged passes of [`normalize_line`].
    fn normalize_line_reference(
        line: &str,
        fold: bool,
        accents: bool,
        tmp: &mut String,
        out: &mut String,
    ) -> bool {
        out.clear();
        if line.is_ascii() {
            out.push_str(line);
            out.make_ascii_lowercase();
            return true;
        }
        tmp.clear();
        let visible = line.chars().filter(|&c| !is_invisible(c));
        if is_nfkc_quick(visible.clone()) == IsNormalized::Yes {
            tmp.extend(visible);
        } else {
            tmp.extend(visible.nfkc());
        }
        if accents && tmp.chars().any(has_latin_accent) {
            strip_latin_accents(tmp, out);
            std::mem::swap(tmp, out);
            out.clear();
        }
        if fold && tmp.chars().any(is_cyrillic_or_greek) {
            fold_and_lower(tmp, out);
        } else {
            for c in tmp.chars() {
                push_lower(c, out);
            }
        }
        false
    }

    #[test]
    fn merged_passes_equal_reference() {
        // Random lines rich in what each step looks at: ASCII, accents (precomposed and
        // combining), Cyrillic/Greek look-alikes, NFKC-changed, invisible and case-changing
        // characters, and what composes (after ASCII, when NFKC is applied piece by piece):
        // Hangul jamo, kana voicing marks, marks of several combining classes, Arabic.
        let alphabet = [
            "a", "Z", "e", " ", "1", ".", "\u{301}", "\u{308}", "\u{200B}", "\u{AD}", "é", "Ë",
            "ø", "ẞ", "ß", "Ǆ", "µ", "ﬁ", "Ｗ", "①", "\u{A0}", "ｶ", "ﾞ", "о", "О", "Ω", "Σ", "ς",
            "İ", "日", "’", "ǅ", "Å", "\u{212B}", "ᾼ", "\u{345}", "Send the", "\u{1100}",
            "\u{1161}", "\u{11A8}", "가", "か", "\u{3099}", "\u{323}", "ﾟ", "㍿", "\u{627}",
            "\u{653}", "\u{300}",
        ];
        let mut x: u64 = 5;
        let (mut t1, mut o1, mut t2, mut o2) =
            (String::new(), String::new(), String::new(), String::new());
        for len in 0..20000usize {
            let s: String = (0..len % 32)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    alphabet[(x >> 33) as usize % alphabet.len()]
                })
                .collect();
            for (fold, accents) in [(true, true), (false, true), (true, false), (false, false)] {
                let a = normalize_line(&s, fold, accents, &mut t1, &mut o1);
                let b = normalize_line_reference(&s, fold, accents, &mut t2, &mut o2);
                assert_eq!((a, &o1), (b, &o2), "{s:?} fold={fold} accents={accents}");
            }
        }
    }

    fn unaccented(s: &str) -> String {
        let mut out = String::new();
        strip_latin_accents(s, &mut out);
        out
    }

    #[test]
    fn accents_come_off_latin_letters_only() {
        assert_eq!(unaccented("Wëstërn Ûñíøn"), "Western Uniøn");
        assert_eq!(unaccented("Ẃéśţéŕń ẞß æ ł"), "Western ẞß æ ł");
        // Combining marks after a Latin letter go; after other letters they stay.
        assert_eq!(unaccented("e\u{301}\u{308}x"), "ex");
        assert_eq!(unaccented("й\u{301}"), "й\u{301}");
        // Kana with voicing marks, Han, Cyrillic and symbols in the Latin-1 range are untouched.
        assert_eq!(
            unaccented("ガ が 漢字 привет × ÷ ¼"),
            "ガ が 漢字 привет × ÷ ¼"
        );
    }

    fn norm(s: &str) -> String {
        let (mut tmp, mut out) = (String::new(), String::new());
        normalize_line(s, true, true, &mut tmp, &mut out);
        out
    }

    #[test]
    fn ascii_is_lower_cased_only() {
        assert_eq!(norm("Dear Sir, KINDLY reply!"), "dear sir, kindly reply!");
    }

    #[test]
    fn nfkc_folds_fullwidth_and_ligatures() {
        assert_eq!(norm("ＷＥＳＴＥＲＮ ﬁnal ①"), "western final 1");
        assert_eq!(norm("ｶﾞｲﾄﾞ"), "ガイド");
    }

    #[test]
    fn invisible_characters_are_removed() {
        assert_eq!(norm("Wes\u{200B}tern"), "western");
        assert_eq!(norm("Wes\u{AD}tern"), "western");
        assert_eq!(norm("\u{202E}Union\u{202C}"), "union");
        assert_eq!(norm("\u{FEFF}bank\u{2060}er"), "banker");
    }

    #[test]
    fn nfkc_composes_across_removed_characters() {
        let (mut tmp, mut out) = (String::new(), String::new());
        normalize_line("cafe\u{200B}\u{301}", true, false, &mut tmp, &mut out);
        assert_eq!(out, "caf\u{E9}");
        // With accents folded (the default) the composed letter then loses its accent.
        assert_eq!(norm("cafe\u{200B}\u{301}"), "cafe");
    }

    #[test]
    fn typographic_apostrophe_becomes_ascii() {
        assert_eq!(norm("Don\u{2019}t"), "don't");
    }

    #[test]
    fn non_latin_lower_case() {
        assert_eq!(norm("ПРИВЕТ Ελλάδα"), "привет ελλάδα");
        assert_eq!(norm("Straße"), "straße");
    }

    #[test]
    fn cyrillic_lookalikes_in_latin_word_fold_to_latin() {
        // М is Latin, о е у are Cyrillic.
        assert_eq!(norm("M\u{43E}n\u{435}\u{443}gram"), "moneygram");
        // Capital Cyrillic В and Н inside a Latin word.
        assert_eq!(norm("\u{412}A\u{41D}K"), "bahk");
        // Greek capital Eta and omicron.
        assert_eq!(norm("\u{397}ell\u{3BF} world"), "hello world");
    }

    #[test]
    fn all_cyrillic_word_is_unchanged() {
        assert_eq!(norm("привет Western"), "привет western");
        assert_eq!(norm("Вас"), "вас");
    }

    #[test]
    fn latin_lookalikes_in_cyrillic_word_fold_to_cyrillic() {
        assert_eq!(norm("пpивет"), "привет");
    }

    #[test]
    fn truly_mixed_word_is_only_lower_cased() {
        assert_eq!(norm("Westernж"), "westernж");
    }

    #[test]
    fn folding_can_be_disabled() {
        let (mut tmp, mut out) = (String::new(), String::new());
        normalize_line("M\u{43E}ney", false, true, &mut tmp, &mut out);
        assert_eq!(out, "m\u{43E}ney");
    }
}
