//! Money amounts: `<currency>:<floor(log10(amount))>` tokens such as "usd:5".
//!
//! A small state machine (`MoneyReader`) is fed the words and separators of one line in text
//! order; it never looks back, so it allocates nothing and, with no money about, costs a few
//! compares per word.

use super::typed::{parse_numeral, push_decimal, Numeral};
use super::{Sink, TokenKind};

/// A currency a money amount can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Currency {
    /// US dollar (also the reading of a bare `$` or "dollars").
    Usd,
    /// Euro.
    Eur,
    /// Pound sterling.
    Gbp,
    /// Japanese yen (also the reading of a bare `¥`).
    Jpy,
    /// Chinese yuan.
    Cny,
    /// South Korean won.
    Krw,
    /// Indian rupee.
    Inr,
    /// Nigerian naira.
    Ngn,
    /// South African rand.
    Zar,
    /// Swiss franc (also the reading of a bare "francs").
    Chf,
    /// Canadian dollar.
    Cad,
    /// Australian dollar.
    Aud,
    /// New Zealand dollar.
    Nzd,
    /// Hong Kong dollar.
    Hkd,
    /// Singapore dollar.
    Sgd,
    /// Ghanaian cedi.
    Ghs,
    /// West African CFA franc.
    Xof,
    /// Russian rouble.
    Rub,
    /// Brazilian real.
    Brl,
    /// Bitcoin.
    Btc,
}

impl Currency {
    /// Lower-case ISO 4217 code (or "btc"), the first half of a money token's text.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "usd",
            Currency::Eur => "eur",
            Currency::Gbp => "gbp",
            Currency::Jpy => "jpy",
            Currency::Cny => "cny",
            Currency::Krw => "krw",
            Currency::Inr => "inr",
            Currency::Ngn => "ngn",
            Currency::Zar => "zar",
            Currency::Chf => "chf",
            Currency::Cad => "cad",
            Currency::Aud => "aud",
            Currency::Nzd => "nzd",
            Currency::Hkd => "hkd",
            Currency::Sgd => "sgd",
            Currency::Ghs => "ghs",
            Currency::Xof => "xof",
            Currency::Rub => "rub",
            Currency::Brl => "brl",
            Currency::Btc => "btc",
        }
    }
}

/// A currency as written: "weak" when the marker is ambiguous (`$`, `¥`, "dollars", "francs")
/// so that a more specific marker on the other side of the amount wins ("$100 AUD" is aud).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cur {
    currency: Currency,
    weak: bool,
}

const fn strong(currency: Currency) -> Cur {
    Cur {
        currency,
        weak: false,
    }
}

const fn weak(currency: Currency) -> Cur {
    Cur {
        currency,
        weak: true,
    }
}

/// The currency of an amount marked before it and/or after it.
fn merge(before: Option<Cur>, after: Cur) -> Cur {
    match before {
        Some(b) if !b.weak || after.weak => b,
        _ => after,
    }
}

fn currency_symbol(c: char) -> Option<Cur> {
    Some(match c {
        '$' => weak(Currency::Usd),
        '€' => strong(Currency::Eur),
        '£' => strong(Currency::Gbp),
        '¥' => weak(Currency::Jpy),
        '₦' => strong(Currency::Ngn),
        '₹' => strong(Currency::Inr),
        '₩' => strong(Currency::Krw),
        '₽' => strong(Currency::Rub),
        '₵' => strong(Currency::Ghs),
        '₿' => strong(Currency::Btc),
        _ => return None,
    })
}

/// ISO codes usable before or after an amount ("USD 5", "5 USD", "USD5"). "rub" is left out
/// because it is an English word.
fn currency_code(w: &str) -> Option<Currency> {
    // Byte patterns compile to a decision tree, not one string compare per entry.
    let b: &[u8; 3] = w.as_bytes().try_into().ok()?;
    Some(match b {
        b"usd" => Currency::Usd,
        b"eur" => Currency::Eur,
        b"gbp" => Currency::Gbp,
        b"jpy" => Currency::Jpy,
        b"cny" => Currency::Cny,
        b"rmb" => Currency::Cny,
        b"krw" => Currency::Krw,
        b"inr" => Currency::Inr,
        b"ngn" => Currency::Ngn,
        b"zar" => Currency::Zar,
        b"chf" => Currency::Chf,
        b"cad" => Currency::Cad,
        b"aud" => Currency::Aud,
        b"nzd" => Currency::Nzd,
        b"hkd" => Currency::Hkd,
        b"sgd" => Currency::Sgd,
        b"ghs" => Currency::Ghs,
        b"xof" => Currency::Xof,
        b"brl" => Currency::Brl,
        b"btc" => Currency::Btc,
        _ => return None,
    })
}

/// Codes and currency names that may follow an amount ("5 dollars", "5 USD").
fn currency_word(w: &str) -> Option<Cur> {
    if let Some(c) = currency_code(w) {
        return Some(strong(c));
    }
    Some(match w.as_bytes() {
        b"dollar" | b"dollars" => weak(Currency::Usd),
        b"euro" | b"euros" => strong(Currency::Eur),
        b"pound" | b"pounds" | b"sterling" | b"quid" => strong(Currency::Gbp),
        b"yen" => strong(Currency::Jpy),
        b"yuan" | b"renminbi" => strong(Currency::Cny),
        b"rupee" | b"rupees" => strong(Currency::Inr),
        b"naira" => strong(Currency::Ngn),
        b"rand" | b"rands" => strong(Currency::Zar),
        b"franc" | b"francs" => weak(Currency::Chf),
        b"cedi" | b"cedis" => strong(Currency::Ghs),
        b"rouble" | b"roubles" | b"ruble" | b"rubles" => strong(Currency::Rub),
        b"bitcoin" | b"bitcoins" => strong(Currency::Btc),
        _ => return None,
    })
}

/// Words that may sit between an amount and its currency name ("United States Dollars",
/// "Swiss francs"); `Some(None)` is a qualifier that names no currency by itself ("united").
fn qualifier(w: &str) -> Option<Option<Currency>> {
    Some(match w.as_bytes() {
        b"us" | b"u.s" | b"usa" | b"american" | b"america" | b"states" => Some(Currency::Usd),
        b"united" | b"new" | b"hong" | b"south" | b"great" => None,
        b"canadian" => Some(Currency::Cad),
        b"australian" => Some(Currency::Aud),
        b"zealand" => Some(Currency::Nzd),
        b"kong" | b"hk" => Some(Currency::Hkd),
        b"singapore" => Some(Currency::Sgd),
        b"swiss" => Some(Currency::Chf),
        b"cfa" => Some(Currency::Xof),
        b"african" => Some(Currency::Zar),
        b"nigerian" => Some(Currency::Ngn),
        b"british" | b"britain" | b"uk" | b"kingdom" => Some(Currency::Gbp),
        b"japanese" => Some(Currency::Jpy),
        b"chinese" => Some(Currency::Cny),
        b"indian" => Some(Currency::Inr),
        b"ghana" | b"ghanaian" => Some(Currency::Ghs),
        _ => return None,
    })
}

/// Letters fused before `$` that name a dollar ("US$", "C$", "A$", "HK$", "R$" for real).
fn dollar_prefix(w: &str) -> Option<Cur> {
    if w.len() > 3 {
        return None;
    }
    Some(strong(match w.as_bytes() {
        b"us" | b"u.s" => Currency::Usd,
        b"c" | b"ca" | b"can" => Currency::Cad,
        b"a" | b"au" => Currency::Aud,
        b"nz" => Currency::Nzd,
        b"hk" => Currency::Hkd,
        b"s" | b"sg" => Currency::Sgd,
        b"r" => Currency::Brl,
        _ => return None,
    }))
}

/// Powers of ten written after an amount ("10.5 million", "250K", "2bn", "5 lakh").
fn multiplier_word(w: &str) -> Option<i32> {
    if w.len() > 9 {
        return None;
    }
    Some(match w.as_bytes() {
        b"hundred" => 2,
        b"k" | b"thousand" | b"grand" => 3,
        b"lakh" | b"lakhs" => 5,
        b"m" | b"mn" | b"mil" | b"mio" | b"million" | b"millions" => 6,
        b"crore" | b"crores" => 7,
        b"b" | b"bn" | b"billion" | b"billions" => 9,
        b"tn" | b"trillion" | b"trillions" => 12,
        _ => return None,
    })
}

/// Chinese, Japanese and Korean multipliers ("250万", "1億", "5千万" = 5·10^7).
fn cjk_multiplier(c: char) -> Option<i32> {
    Some(match c {
        '十' | '십' => 1,
        '百' | '백' => 2,
        '千' | '천' => 3,
        '万' | '萬' | '만' => 4,
        '億' | '亿' | '억' => 8,
        '兆' | '조' => 12,
        _ => return None,
    })
}

fn cjk_currency_char(c: char) -> Option<Cur> {
    Some(match c {
        '円' => strong(Currency::Jpy),
        '元' | '圆' | '圓' => strong(Currency::Cny),
        '원' => strong(Currency::Krw),
        _ => return None,
    })
}

/// Currency names written as one CJK segment (katakana and hangul come whole).
fn cjk_currency_word(w: &str) -> Option<Cur> {
    Some(match w {
        "ドル" | "달러" => weak(Currency::Usd),
        "ユーロ" | "유로" => strong(Currency::Eur),
        "ポンド" | "파운드" => strong(Currency::Gbp),
        _ => return None,
    })
}

/// An English number word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberWord {
    Unit(u64),
    Hundred,
    Scale(u64),
}

fn number_word(w: &str) -> Option<NumberWord> {
    if w.len() > 9 || w.len() < 3 {
        return None;
    }
    Some(NumberWord::Unit(match w.as_bytes() {
        b"one" => 1,
        b"two" => 2,
        b"three" => 3,
        b"four" => 4,
        b"five" => 5,
        b"six" => 6,
        b"seven" => 7,
        b"eight" => 8,
        b"nine" => 9,
        b"ten" => 10,
        b"eleven" => 11,
        b"twelve" => 12,
        b"thirteen" => 13,
        b"fourteen" => 14,
        b"fifteen" => 15,
        b"sixteen" => 16,
        b"seventeen" => 17,
        b"eighteen" => 18,
        b"nineteen" => 19,
        b"twenty" => 20,
        b"thirty" => 30,
        b"forty" | b"fourty" => 40,
        b"fifty" => 50,
        b"sixty" => 60,
        b"seventy" => 70,
        b"eighty" => 80,
        b"ninety" => 90,
        b"hundred" => return Some(NumberWord::Hundred),
        b"thousand" => return Some(NumberWord::Scale(1_000)),
        b"million" => return Some(NumberWord::Scale(1_000_000)),
        b"billion" => return Some(NumberWord::Scale(1_000_000_000)),
        b"trillion" => return Some(NumberWord::Scale(1_000_000_000_000)),
        _ => return None,
    }))
}

/// Reads a word that fuses an amount with letters: "250k", "1.2m", "usd250,000", "usd2.5m",
/// "250000usd". Returns the currency (if the letters name one) and the magnitude; None for
/// anything else ("1st", "mp3", "250", zero amounts).
fn parse_fused(w: &str) -> Option<(Option<Cur>, i32)> {
    let b = w.as_bytes();
    // A digit comes first, or right after a three-letter code.
    if !(b.first()?.is_ascii_digit() || b.get(3).is_some_and(u8::is_ascii_digit)) {
        return None;
    }
    let p = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let n = b[p..]
        .iter()
        .take_while(|&&c| c.is_ascii_digit() || matches!(c, b',' | b'.' | b'\''))
        .count();
    let (prefix, num, suffix) = (w.get(..p)?, w.get(p..p + n)?, w.get(p + n..)?);
    if n == 0 || (prefix.is_empty() && suffix.is_empty()) {
        return None;
    }
    let before = if prefix.is_empty() {
        None
    } else {
        Some(strong(currency_code(prefix)?))
    };
    let (after, exp) = if suffix.is_empty() {
        (None, 0)
    } else if let Some(e) = multiplier_word(suffix) {
        (None, e)
    } else {
        (Some(currency_word(suffix)?), 0)
    };
    let magnitude = parse_numeral(num)?.magnitude?.saturating_add(exp);
    let cur = match after {
        Some(a) => Some(merge(before, a)),
        None => before,
    };
    Some((cur, magnitude))
}

/// One thing the money reader sees, in text order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Event<'a> {
    /// Whitespace between words.
    Space,
    /// A non-space, non-word character ("$", "(", ",").
    Sym(char),
    /// A (normalised) word that is not a numeral.
    Word(&'a str),
    /// A numeral ("250,000.00").
    Num(&'a str),
    /// A run of Han / kana / hangul characters.
    Cjk(&'a str),
    /// Something that ends any amount (a skipped long word).
    Break,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Idle,
    /// Currency seen, amount expected ("US$", "USD", "€").
    Prefix(Cur),
    /// Amount seen; multipliers, more digit groups or a currency may follow.
    Amount {
        cur: Option<Cur>,
        magnitude: i32,
        groupable: bool,
        spaces: u8,
    },
    /// Inside number words ("two hundred and fifty thousand").
    NumberWords {
        cur: Option<Cur>,
        total: u64,
        current: u64,
        after_and: bool,
    },
    /// Amount then a currency symbol: its suffix ("250 €") unless a numeral follows ("5 $6").
    SuffixSymbol {
        cur: Cur,
        magnitude: i32,
    },
    /// Amount then words such as "United States", waiting for "dollars".
    Qualified {
        cur: Option<Cur>,
        magnitude: i32,
        qual: Option<Currency>,
        words: u8,
    },
}

/// Reads money amounts from the events of one line and emits `Money` tokens
/// (`<currency>:<floor(log10(amount))>`) when an amount with a currency is complete.
#[derive(Debug)]
pub(super) struct MoneyReader {
    state: State,
    /// Letters just before a possible `$` ("us" in "US$").
    dollar_prefix: Option<Cur>,
    /// An amount completed by the word just fed, emitted by [`MoneyReader::flush`] after it.
    pending: Option<(Currency, i32)>,
}

impl MoneyReader {
    /// A reader at the start of a line.
    pub(super) fn new() -> Self {
        MoneyReader {
            state: State::Idle,
            dollar_prefix: None,
            pending: None,
        }
    }

    /// Feeds one event. An amount the event ends without being part of it ("$5 now") is
    /// emitted at once, before the caller emits the event's own token; an amount the event
    /// completes ("5 dollars") waits for [`MoneyReader::flush`], called after that token.
    #[inline]
    pub(super) fn feed(&mut self, ev: Event<'_>, sink: &mut Sink<'_>) {
        // The common case, no money about, in a few compares.
        if matches!(self.state, State::Idle) {
            match ev {
                Event::Word(w) if !may_start_amount(w) => return self.dollar_prefix = None,
                Event::Space | Event::Break | Event::Cjk(_) => return self.dollar_prefix = None,
                _ => {}
            }
        }
        // Each repeat moves the state towards Idle, which never repeats: at most three rounds.
        while self.step(ev, sink) {}
    }

    /// True when no amount is being read: separators without currency symbols can be skipped.
    #[inline]
    pub(super) fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Notes a separator that holds no currency symbol while idle.
    #[inline]
    pub(super) fn skip_separator(&mut self) {
        self.dollar_prefix = None;
    }

    /// Emits the amount completed by the last event, if any.
    #[inline]
    pub(super) fn flush(&mut self, sink: &mut Sink<'_>) {
        if self.pending.is_some() {
            if let Some((currency, magnitude)) = self.pending.take() {
                sink.money(currency, magnitude);
            }
        }
    }

    fn complete(&mut self, cur: Cur, magnitude: i32) {
        self.pending = Some((cur.currency, magnitude));
        self.state = State::Idle;
    }

    /// Ends the line: a pending amount with a currency is emitted.
    pub(super) fn end_line(&mut self, sink: &mut Sink<'_>) {
        self.flush(sink);
        self.finish(sink);
        self.dollar_prefix = None;
    }

    /// Emits the pending amount if it has a currency, and goes idle.
    fn finish(&mut self, sink: &mut Sink<'_>) {
        match self.state {
            State::Amount {
                cur: Some(c),
                magnitude,
                ..
            }
            | State::Qualified {
                cur: Some(c),
                magnitude,
                ..
            }
            | State::SuffixSymbol { cur: c, magnitude } => sink.money(c.currency, magnitude),
            State::NumberWords {
                cur: Some(c),
                total,
                current,
                ..
            } => {
                if let Some(v) = total.checked_add(current).filter(|v| *v > 0) {
                    sink.money(c.currency, v.ilog10() as i32);
                }
            }
            _ => {}
        }
        self.state = State::Idle;
    }

    /// One transition; true if the event must be seen again by the new state.
    fn step(&mut self, ev: Event<'_>, sink: &mut Sink<'_>) -> bool {
        match self.state {
            State::Idle => {
                self.step_idle(ev);
                false
            }
            State::Prefix(cur) => match ev {
                Event::Space => false,
                Event::Num(s) => {
                    self.state = amount_state(Some(cur), s);
                    false
                }
                Event::Word(w) => {
                    if let Some((fused, magnitude)) = parse_fused(w) {
                        let cur = match fused {
                            Some(f) => merge(Some(cur), f),
                            None => cur,
                        };
                        self.state = State::Amount {
                            cur: Some(cur),
                            magnitude,
                            groupable: false,
                            spaces: 0,
                        };
                        false
                    } else if let Some(nw) = number_word(w) {
                        self.state = number_words_state(Some(cur), nw);
                        false
                    } else {
                        self.state = State::Idle;
                        true
                    }
                }
                _ => {
                    self.state = State::Idle;
                    true
                }
            },
            State::Amount {
                cur,
                magnitude,
                groupable,
                spaces,
            } => match ev {
                Event::Space => {
                    self.state = State::Amount {
                        cur,
                        magnitude,
                        groupable,
                        spaces: spaces.saturating_add(1),
                    };
                    false
                }
                Event::Num(s) if groupable && spaces == 1 && is_digit_group(s) => {
                    self.state = State::Amount {
                        cur,
                        magnitude: magnitude.saturating_add(3),
                        groupable,
                        spaces: 0,
                    };
                    false
                }
                Event::Word(w) => {
                    if let Some(e) = multiplier_word(w) {
                        self.state = State::Amount {
                            cur,
                            magnitude: magnitude.saturating_add(e),
                            groupable: false,
                            spaces: 0,
                        };
                        false
                    } else if let Some(c) = currency_word(w) {
                        self.complete(merge(cur, c), magnitude);
                        false
                    } else if let Some(qual) = qualifier(w) {
                        self.state = State::Qualified {
                            cur,
                            magnitude,
                            qual,
                            words: 1,
                        };
                        false
                    } else {
                        self.finish(sink);
                        true
                    }
                }
                // A symbol after an amount without currency may be its suffix ("1.200.000,00 €");
                // after one with a currency it starts the next amount ("$5 $6").
                Event::Sym(c) if cur.is_none() && spaces <= 1 => match currency_symbol(c) {
                    Some(sc) => {
                        self.state = State::SuffixSymbol { cur: sc, magnitude };
                        false
                    }
                    None => {
                        self.state = State::Idle;
                        true
                    }
                },
                Event::Cjk(s) => self.cjk(s, sink),
                _ => {
                    self.finish(sink);
                    true
                }
            },
            State::NumberWords {
                cur,
                total,
                current,
                after_and,
            } => match ev {
                Event::Word(w) => {
                    if let Some(nw) = number_word(w) {
                        let (total, current) = add_number_word(total, current, nw);
                        self.state = State::NumberWords {
                            cur,
                            total,
                            current,
                            after_and: false,
                        };
                        false
                    } else if w == "and" && !after_and {
                        self.state = State::NumberWords {
                            cur,
                            total,
                            current,
                            after_and: true,
                        };
                        false
                    } else {
                        self.number_words_done(cur, total, current);
                        true
                    }
                }
                Event::Space | Event::Sym('-') => false,
                _ => {
                    self.number_words_done(cur, total, current);
                    true
                }
            },
            State::SuffixSymbol { cur, .. } => match ev {
                // "1234 $500": the symbol was the next amount's prefix.
                Event::Num(s) => {
                    self.state = amount_state(Some(cur), s);
                    false
                }
                _ => {
                    self.finish(sink);
                    true
                }
            },
            State::Qualified {
                cur,
                magnitude,
                qual,
                words,
            } => match ev {
                Event::Space => false,
                Event::Word(w) => {
                    if let Some(c) = currency_word(w) {
                        let named = qual.map(strong).unwrap_or(c);
                        self.complete(merge(cur, named), magnitude);
                        false
                    } else if let Some(q) = qualifier(w).filter(|_| words < 3) {
                        self.state = State::Qualified {
                            cur,
                            magnitude,
                            qual: q.or(qual),
                            words: words + 1,
                        };
                        false
                    } else {
                        self.finish(sink);
                        true
                    }
                }
                Event::Cjk(s) => self.cjk(s, sink),
                _ => {
                    self.finish(sink);
                    true
                }
            },
        }
    }

    fn step_idle(&mut self, ev: Event<'_>) {
        let pending_dollar = self.dollar_prefix.take();
        match ev {
            Event::Sym(c) => {
                if let Some(cur) = currency_symbol(c) {
                    let cur = match pending_dollar {
                        Some(p) if c == '$' => p,
                        _ => cur,
                    };
                    self.state = State::Prefix(cur);
                }
            }
            Event::Word(w) if may_start_amount(w) => {
                self.dollar_prefix = dollar_prefix(w);
                if let Some(c) = currency_code(w) {
                    self.state = State::Prefix(strong(c));
                } else if let Some((cur, magnitude)) = parse_fused(w) {
                    self.state = State::Amount {
                        cur,
                        magnitude,
                        groupable: false,
                        spaces: 0,
                    };
                } else if let Some(nw) = number_word(w) {
                    self.state = number_words_state(None, nw);
                }
            }
            Event::Num(s) => self.state = amount_state(None, s),
            Event::Word(_) | Event::Space | Event::Cjk(_) | Event::Break => {}
        }
    }

    fn number_words_done(&mut self, cur: Option<Cur>, total: u64, current: u64) {
        let value = total.saturating_add(current);
        self.state = if value > 0 {
            State::Amount {
                cur,
                magnitude: value.ilog10() as i32,
                groupable: false,
                spaces: 0,
            }
        } else {
            State::Idle
        };
    }

    /// CJK text after an amount: multipliers, then a currency ("250万円", "5千万ドル", "100美元").
    fn cjk(&mut self, s: &str, sink: &mut Sink<'_>) -> bool {
        let (cur, mut magnitude, qual) = match self.state {
            State::Amount { cur, magnitude, .. } => (cur, magnitude, None),
            State::Qualified {
                cur,
                magnitude,
                qual,
                ..
            } => (cur, magnitude, qual),
            _ => return true,
        };
        let named = |c: Cur| merge(cur, qual.map(strong).unwrap_or(c));
        if let Some(c) = cjk_currency_word(s) {
            self.complete(named(c), magnitude);
            return false;
        }
        for ch in s.chars() {
            if let Some(e) = cjk_multiplier(ch).filter(|_| qual.is_none()) {
                magnitude = magnitude.saturating_add(e);
                self.state = State::Amount {
                    cur,
                    magnitude,
                    groupable: false,
                    spaces: 0,
                };
            } else if let Some(c) = cjk_currency_char(ch) {
                self.complete(named(c), magnitude);
                return false;
            } else if ch == '美' {
                self.state = State::Qualified {
                    cur,
                    magnitude,
                    qual: Some(Currency::Usd),
                    words: 1,
                };
            } else {
                self.finish(sink);
                return false;
            }
        }
        false
    }
}

/// A cheap filter before the table look-ups of an idle reader, since most words are not money:
/// short words that start with a digit or are a dollar prefix, a code or a number word ("us",
/// "usd", "ten"), words with a digit where a fused amount has one ("250k", "usd250"), and words
/// shaped like a longer number word (first and last letter). False only for words an idle
/// reader ignores.
#[inline]
pub(super) fn may_start_amount(w: &str) -> bool {
    let b = w.as_bytes();
    match b.len() {
        0 => false,
        // A short word starting with a letter fuses no amount ("250k" needs a digit first).
        1..=3 => !b[0].is_ascii_alphabetic() || is_short_money_word(b),
        n => {
            b[0].is_ascii_digit()
                || b[3].is_ascii_digit()
                || (n <= 9
                    && matches!(b[0], b't' | b'f' | b's' | b'e' | b'n' | b'h' | b'm' | b'b')
                    && matches!(b[n - 1], b'e' | b'r' | b'n' | b't' | b'y' | b'd'))
        }
    }
}

/// The words of at most three bytes that are a dollar prefix, a currency code or a number
/// word, in one decision tree instead of three calls (most short words are "to", "the", "and":
/// none of them); `short_money_words_are_the_three_lists` checks it against the three.
fn is_short_money_word(b: &[u8]) -> bool {
    matches!(
        b,
        // dollar_prefix
        b"us" | b"u.s" | b"c" | b"ca" | b"can" | b"a" | b"au" | b"nz" | b"hk" | b"s" | b"sg" | b"r"
        // currency_code
        | b"usd" | b"eur" | b"gbp" | b"jpy" | b"cny" | b"rmb" | b"krw" | b"inr" | b"ngn" | b"zar"
        | b"chf" | b"cad" | b"aud" | b"nzd" | b"hkd" | b"sgd" | b"ghs" | b"xof" | b"brl" | b"btc"
        // number_word
        | b"one" | b"two" | b"six" | b"ten"
    )
}

/// Whether the word `w` does anything to an idle reader beyond clearing a pending `$` prefix
/// (`MoneyReader::step_idle`): it is a dollar prefix, a currency code, a fused amount or a
/// number word. Exact, unlike [`may_start_amount`], so it is only worth asking of the words
/// that filter lets through.
pub(super) fn moves_idle_reader(w: &str) -> bool {
    dollar_prefix(w).is_some()
        || currency_code(w).is_some()
        || parse_fused(w).is_some()
        || number_word(w).is_some()
}

fn amount_state(cur: Option<Cur>, s: &str) -> State {
    match parse_numeral(s) {
        Some(Numeral {
            magnitude: Some(magnitude),
            groupable,
            ..
        }) => State::Amount {
            cur,
            magnitude,
            groupable,
            spaces: 0,
        },
        _ => State::Idle,
    }
}

fn number_words_state(cur: Option<Cur>, nw: NumberWord) -> State {
    let (total, current) = add_number_word(0, 0, nw);
    State::NumberWords {
        cur,
        total,
        current,
        after_and: false,
    }
}

/// "two hundred and fifty thousand": units add, "hundred" multiplies the current group, scale
/// words close it ("ten million five hundred thousand" = 10·10^6 + 500·10^3).
fn add_number_word(total: u64, current: u64, nw: NumberWord) -> (u64, u64) {
    match nw {
        NumberWord::Unit(n) => (total, current.saturating_add(n)),
        NumberWord::Hundred => (total, current.max(1).saturating_mul(100)),
        NumberWord::Scale(s) => (total.saturating_add(current.max(1).saturating_mul(s)), 0),
    }
}

/// Three plain digits: a thousands group written with a space ("1 500 000").
fn is_digit_group(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|c| c.is_ascii_digit())
}

impl Sink<'_> {
    /// Emits `<code>:<magnitude>` unless the amount is below 1.
    fn money(&mut self, currency: Currency, magnitude: i32) {
        let Ok(magnitude) = u32::try_from(magnitude) else {
            return;
        };
        self.typed.clear();
        self.typed.push_str(currency.code());
        self.typed.push(':');
        push_decimal(self.typed, magnitude);
        self.emit.token(TokenKind::Money, self.typed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_money_words_are_the_three_lists() {
        // Every ASCII string of one to three bytes (the lists are ASCII): the one decision tree
        // answers as the three look-ups do.
        let mut checked = 0;
        for len in 1..=3usize {
            for n in 0..1u32 << (7 * len) {
                let bytes: Vec<u8> = (0..len).map(|k| (n >> (7 * k)) as u8 & 0x7f).collect();
                let Ok(w) = std::str::from_utf8(&bytes) else {
                    continue;
                };
                let three = super::dollar_prefix(w).is_some()
                    || super::currency_code(w).is_some()
                    || super::number_word(w).is_some();
                assert_eq!(super::is_short_money_word(w.as_bytes()), three, "{w:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 128 + 128 * 128 + 128 * 128 * 128);
    }

    #[test]
    fn fused_amounts() {
        assert_eq!(parse_fused("250k"), Some((None, 5)));
        assert_eq!(parse_fused("1.2m"), Some((None, 6)));
        assert_eq!(
            parse_fused("usd250,000"),
            Some((Some(strong(Currency::Usd)), 5))
        );
        assert_eq!(
            parse_fused("usd2.5m"),
            Some((Some(strong(Currency::Usd)), 6))
        );
        assert_eq!(
            parse_fused("500euros"),
            Some((Some(strong(Currency::Eur)), 2))
        );
        assert_eq!(parse_fused("1st"), None);
        assert_eq!(parse_fused("mp3"), None);
        assert_eq!(parse_fused("250"), None);
        assert_eq!(parse_fused("usd"), None);
    }

    #[test]
    fn number_words_add_up() {
        let mut v = (0, 0);
        for w in ["ten", "million", "five", "hundred", "thousand"] {
            v = add_number_word(v.0, v.1, number_word(w).unwrap());
        }
        assert_eq!(v.0 + v.1, 10_500_000);
    }
}
