//! Typed pieces of text: numerals (their shape, and their value's order of magnitude for the
//! money reader), crypto-currency addresses, and the URL / address helpers the feature
//! extractor applies to what the message view found.

use std::borrow::Cow;

use super::{Sink, TokenKind};

/// A numeral such as "250,000.00", "1.200.000,00" or "1'000".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Numeral {
    /// Digits before the decimal separator, leading zeros included (the number shape).
    pub int_digits: usize,
    /// floor(log10(value)), None for zero.
    pub magnitude: Option<i32>,
    /// Plain digits, at most three: may be followed by space-separated groups ("1 500 000").
    pub groupable: bool,
}

/// True if `w` is digits with `,` `.` `'` separators, starting with a digit.
pub(super) fn is_numeral(w: &str) -> bool {
    let b = w.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_digit()
        && b.iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b',' | b'.' | b'\''))
}

/// Fewest characters of a crypto-currency address [`crypto_address`] recognises; shorter words
/// never are one, so the word scanner's fast path only has to compare a length.
pub(super) const MIN_CRYPTO_ADDRESS_CHARS: usize = 26;

/// The chain of a crypto-currency address, or None (the letters only; the tokenizer also wants
/// the word to stand alone, outside links and base64): `"btc"` for Bitcoin bech32 (`bc1` + 30–59
/// characters of the bech32 alphabet; real ones have 39 or 59, letters copied by hand may drop
/// one) and base58 addresses (`1`/`3` + 25–34 characters), `"ltc"` for Litecoin bech32 (`ltc1`),
/// `"eth"` for `0x` + 40 hex digits (Ethereum and the tokens on it), `"trx"` for TRON (`T` + 33).
/// Case does not matter. Base58 words must hold no `0` (not in the alphabet), at least two
/// digits and at least two letters beyond `f`, so hex digests and long numbers are not taken for
/// addresses. Extortion and investment scams name a wallet where older letters named Western
/// Union.
pub fn crypto_address(w: &str) -> Option<&'static str> {
    const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let b = w.as_bytes();
    if b.len() < MIN_CRYPTO_ADDRESS_CHARS
        || b.len() > 63
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    let has_prefix = |p: &[u8]| b.len() > p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    for (prefix, chain) in [(&b"bc1"[..], "btc"), (&b"ltc1"[..], "ltc")] {
        if has_prefix(prefix) {
            let data = &b[prefix.len()..];
            let mixed =
                data.iter().any(u8::is_ascii_digit) && data.iter().any(u8::is_ascii_alphabetic);
            let alphabet = data
                .iter()
                .all(|c| BECH32.contains(&c.to_ascii_lowercase()));
            return ((30..=59).contains(&data.len()) && mixed && alphabet).then_some(chain);
        }
    }
    if has_prefix(b"0x") {
        let hex = &b[2..];
        return (hex.len() == 40 && hex.iter().all(u8::is_ascii_hexdigit)).then_some("eth");
    }
    let chain = match (b[0].to_ascii_lowercase(), b.len()) {
        (b'1' | b'3', 26..=35) => "btc",
        (b't', 34) => "trx",
        _ => return None,
    };
    let (mut digits, mut high_letters) = (0, 0);
    for &c in b {
        match c.to_ascii_lowercase() {
            b'1'..=b'9' => digits += 1,
            b'g'..=b'z' => high_letters += 1,
            b'a'..=b'f' => {}
            _ => return None,
        }
    }
    (digits >= 2 && high_letters >= 2).then_some(chain)
}

/// Where the decimal separator of a numeral is, if any.
///
/// With both `,` and `.`, the last one is decimal ("1,000.50", "1.000,50"). With one kind: used
/// twice or more it groups thousands ("1.200.000"); used once with exactly three digits after it
/// and a non-zero part before it, it also groups ("250,000", "1.500"); otherwise it is decimal
/// ("3.5", "10,50", "0.125").
fn decimal_index(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    match (s.rfind('.'), s.rfind(',')) {
        (Some(d), Some(c)) => Some(d.max(c)),
        (Some(p), None) | (None, Some(p)) => {
            let sep = b[p];
            if b.iter().filter(|&&c| c == sep).count() > 1 {
                return None;
            }
            let after = b.len() - p - 1;
            let before_nonzero = b[..p].iter().any(|&c| c.is_ascii_digit() && c != b'0');
            if after == 3 && before_nonzero {
                None
            } else {
                Some(p)
            }
        }
        (None, None) => None,
    }
}

/// Reads a numeral (see [`is_numeral`]); None if `s` is not one.
pub(super) fn parse_numeral(s: &str) -> Option<Numeral> {
    // Plain digits, the common case, in one pass: no separator, so all of it is the integer part.
    let b = s.as_bytes();
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        let significant = b.len() - b.iter().take_while(|&&c| c == b'0').count();
        return Some(Numeral {
            int_digits: b.len(),
            magnitude: (significant > 0).then(|| significant as i32 - 1),
            groupable: b.len() <= 3,
        });
    }
    parse_separated_numeral(s)
}

/// [`parse_numeral`] of any numeral, separators or not.
fn parse_separated_numeral(s: &str) -> Option<Numeral> {
    if !is_numeral(s) {
        return None;
    }
    let (int, frac) = match decimal_index(s) {
        Some(i) => (s.get(..i)?, s.get(i + 1..)?),
        None => (s, ""),
    };
    let digits = |part: &str| {
        part.bytes()
            .filter(u8::is_ascii_digit)
            .collect::<DigitCount>()
    };
    let int_d = digits(int);
    let magnitude = if int_d.significant > 0 {
        Some(int_d.significant as i32 - 1)
    } else {
        let frac_d = digits(frac);
        (frac_d.significant > 0).then(|| -((frac_d.all - frac_d.significant) as i32) - 1)
    };
    Some(Numeral {
        int_digits: int_d.all,
        magnitude,
        groupable: s.len() <= 3 && s.bytes().all(|c| c.is_ascii_digit()),
    })
}

/// Digit count, and the count after leading zeros.
#[derive(Default)]
struct DigitCount {
    all: usize,
    significant: usize,
}

impl FromIterator<u8> for DigitCount {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut d = DigitCount::default();
        for c in iter {
            d.all += 1;
            if d.significant > 0 || c != b'0' {
                d.significant += 1;
            }
        }
        d
    }
}

impl Sink<'_> {
    /// Emits the shape of a number: `n` and the count of its integer digits ("250,000" -> "n6").
    pub(super) fn number_shape(&mut self, int_digits: usize) {
        self.typed.clear();
        self.typed.push('n');
        push_decimal(self.typed, u32::try_from(int_digits).unwrap_or(u32::MAX));
        self.emit.token(TokenKind::Number, self.typed);
    }
}

/// Appends `n` in decimal without the formatting machinery.
pub(super) fn push_decimal(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}
// ---------------------------------------------------------------------------------------------
// URL hosts and e-mail domains.

/// The host of a URL, lower-cased, without "www.", port, userinfo or trailing dot:
/// `https://WWW.Example.COM:8080/x?y` -> `example.com`. A URL without a scheme is read as
/// starting with its host ("www.example.com/x"). Internationalised names are left as written
/// (not converted to punycode). None when there is no host (e.g. "mailto:", "javascript:").
pub fn url_host(url: &str) -> Option<Cow<'_, str>> {
    let url = url.trim();
    let rest = match url.find("://") {
        Some(i) if is_scheme(&url[..i]) => &url[i + 3..],
        _ => match url.split_once(':') {
            // "mailto:x@y", "javascript:..." have no host; "example.com:8080/x" has one.
            Some((scheme, after))
                if is_scheme(scheme) && !after.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                return None
            }
            _ => url.strip_prefix("//").unwrap_or(url),
        },
    };
    // Browsers treat '\' like '/' in http URLs, so it ends the authority too.
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    // Borrowed unless something needs lower-casing: the hot path sees many URLs per message.
    let host = if host.is_ascii() && !host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(host)
    } else {
        Cow::Owned(host.to_lowercase())
    };
    Some(match host {
        Cow::Borrowed(h) if h.len() > 4 && h.starts_with("www.") => Cow::Borrowed(&h[4..]),
        Cow::Owned(mut h) if h.len() > 4 && h.starts_with("www.") => {
            h.drain(..4);
            Cow::Owned(h)
        }
        other => other,
    })
}

fn is_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// The domain of an e-mail address: the part after the last '@', trimmed of surrounding space
/// and trailing '.' / '>'. None without '@' or with nothing after it.
pub fn email_domain(addr: &str) -> Option<&str> {
    let (_, domain) = addr.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches(['.', '>']).trim_end();
    (!domain.is_empty()).then_some(domain)
}

/// Free-mail domains matched exactly (sorted, lower case; a test checks the order).
const FREEMAIL: &[&str] = &[
    "126.com",
    "139.com",
    "163.com",
    "aim.com",
    "aol.com",
    "att.net",
    "bellsouth.net",
    "bk.ru",
    "btinternet.com",
    "caramail.com",
    "comcast.net",
    "cox.net",
    "daum.net",
    "earthlink.net",
    "email.com",
    "excite.com",
    "fastmail.com",
    "freenet.de",
    "gmail.com",
    "googlemail.com",
    "hanmail.net",
    "hushmail.com",
    "icloud.com",
    "inbox.ru",
    "interia.pl",
    "juno.com",
    "laposte.net",
    "libero.it",
    "list.ru",
    "lycos.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "naver.com",
    "netscape.net",
    "onet.pl",
    "orange.fr",
    "pm.me",
    "proton.me",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "rocketmail.com",
    "sbcglobal.net",
    "seznam.cz",
    "sina.cn",
    "sina.com",
    "sohu.com",
    "t-online.de",
    "tuta.io",
    "tutanota.com",
    "usa.com",
    "verizon.net",
    "virgilio.it",
    "web.de",
    "wp.pl",
    "yahoo.co.jp",
    "yeah.net",
    "ymail.com",
    "zoho.com",
    "zohomail.com",
];

/// Free-mail brands registered under many country domains: `brand.<tld>` or
/// `brand.<co|com|net|org|ne|or>.<tld>` ("yahoo.fr", "yahoo.co.uk", "hotmail.com.br").
const FREEMAIL_BRANDS: &[&str] = &[
    "gmx",
    "hotmail",
    "live",
    "outlook",
    "protonmail",
    "terra",
    "tiscali",
    "wanadoo",
    "yahoo",
    "yandex",
];

/// Longest domain name (RFC 1035), also the size of the lower-casing buffer.
const MAX_DOMAIN: usize = 253;

/// True for free-mail providers (case-insensitive, trailing '.' ignored).
///
/// Rules: the exact names in a static sorted list (gmail.com, googlemail.com, ymail.com,
/// rocketmail.com, msn.com, aol.com, web.de, mail.com, email.com, usa.com, mail.ru, inbox.ru,
/// list.ru, bk.ru, rambler.ru, qq.com, 163.com, 126.com, sina.com, rediffmail.com, zoho.com,
/// proton.me, tutanota.com, icloud.com, me.com, mac.com, naver.com, daum.net, hanmail.net,
/// yahoo.co.jp, excite.com, lycos.com, netscape.net, juno.com, caramail.com, libero.it,
/// virgilio.it, orange.fr, laposte.net and some large ISP mailboxes), plus any country domain of
/// the brands yahoo, hotmail, outlook, live, gmx, yandex, protonmail, tiscali, terra, wanadoo.
pub fn is_freemail(domain: &str) -> bool {
    let mut buf = [0u8; MAX_DOMAIN];
    let Some(d) = lower_ascii(domain, &mut buf) else {
        return false;
    };
    if FREEMAIL.binary_search(&d).is_ok() {
        return true;
    }
    let Some((brand, rest)) = d.split_once('.') else {
        return false;
    };
    if !FREEMAIL_BRANDS.contains(&brand) {
        return false;
    }
    let is_tld = |s: &str| (2..=3).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphabetic());
    match rest.split_once('.') {
        None => is_tld(rest),
        Some((second, tld)) => {
            matches!(second, "co" | "com" | "net" | "org" | "ne" | "or") && is_tld(tld)
        }
    }
}

/// True for names reserved for documentation and testing (RFC 2606, RFC 6761): example.com,
/// example.net, example.org and their subdomains, "localhost", and anything under the top-level
/// names .example, .test, .invalid, .localhost. Case-insensitive, trailing '.' ignored.
pub fn is_reserved_domain(domain: &str) -> bool {
    let mut buf = [0u8; MAX_DOMAIN];
    let Some(d) = lower_ascii(domain, &mut buf) else {
        return false;
    };
    let tld = d.rsplit('.').next().unwrap_or(d);
    if matches!(tld, "example" | "test" | "invalid" | "localhost") {
        return true;
    }
    ["example.com", "example.net", "example.org"]
        .iter()
        .any(|r| d == *r || d.strip_suffix(r).is_some_and(|s| s.ends_with('.')))
}

/// `domain` trimmed of space and trailing dots, ASCII-lower-cased into `buf`; None if empty, too
/// long or not ASCII (internationalised names are never on these lists).
fn lower_ascii<'b>(domain: &str, buf: &'b mut [u8; MAX_DOMAIN]) -> Option<&'b str> {
    let d = domain.trim().trim_end_matches('.');
    if d.is_empty() || d.len() > MAX_DOMAIN || !d.is_ascii() {
        return None;
    }
    let out = buf.get_mut(..d.len())?;
    out.copy_from_slice(d.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_digits_parse_as_with_separators() {
        for s in [
            "0",
            "00",
            "000",
            "0000",
            "1",
            "01",
            "007",
            "10",
            "250",
            "0250",
            "2024",
            "100000",
            "123456789012345678901234567890",
        ] {
            assert_eq!(parse_numeral(s), parse_separated_numeral(s), "{s}");
        }
        assert_eq!(parse_numeral(""), None);
    }

    #[test]
    fn numerals() {
        let n = |s| parse_numeral(s).map(|n| (n.int_digits, n.magnitude));
        assert_eq!(n("250,000.00"), Some((6, Some(5))));
        assert_eq!(n("1.200.000,00"), Some((7, Some(6))));
        assert_eq!(n("1,500"), Some((4, Some(3))));
        assert_eq!(n("3.5"), Some((1, Some(0))));
        assert_eq!(n("10,50"), Some((2, Some(1))));
        assert_eq!(n("0.125"), Some((1, Some(-1))));
        assert_eq!(n("0.05"), Some((1, Some(-2))));
        assert_eq!(n("1'000'000"), Some((7, Some(6))));
        assert_eq!(n("007"), Some((3, Some(0))));
        assert_eq!(n("0"), Some((1, None)));
        assert_eq!(n("12a"), None);
        assert_eq!(n(""), None);
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://WWW.Example.COM:8080/x?y").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            url_host("http://user:pw@Bank.example.net/login").as_deref(),
            Some("bank.example.net")
        );
        assert_eq!(
            url_host("www.paypal.com.evil.test/x").as_deref(),
            Some("paypal.com.evil.test")
        );
        assert_eq!(
            url_host("example.com:8080/x").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            url_host("http://www.bank.com@evil.test/").as_deref(),
            Some("evil.test")
        );
        assert_eq!(
            url_host("example.com/r?u=http://evil.test").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            url_host("//cdn.example.org/a.js").as_deref(),
            Some("cdn.example.org")
        );
        assert_eq!(
            url_host("http://[2001:db8::1]:80/").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            url_host("https://Bücher.example/").as_deref(),
            Some("bücher.example")
        );
        assert_eq!(
            url_host("http://example.com./").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            url_host("http://evil.test\\@good.example/").as_deref(),
            Some("evil.test")
        );
        assert_eq!(url_host("http://www./").as_deref(), Some("www"));
        assert_eq!(url_host("mailto:someone@example.com"), None);
        assert_eq!(url_host("javascript:alert(1)"), None);
        assert_eq!(url_host("https:///path"), None);
        assert_eq!(url_host(""), None);
    }

    #[test]
    fn email_domains() {
        assert_eq!(email_domain("john@Example.COM"), Some("Example.COM"));
        assert_eq!(email_domain("<john@example.com>"), Some("example.com"));
        assert_eq!(
            email_domain("\"a@b\"@mail.example.org."),
            Some("mail.example.org")
        );
        assert_eq!(email_domain("no-at-sign"), None);
        assert_eq!(email_domain("john@"), None);
        assert_eq!(email_domain("john@>"), None);
    }

    #[test]
    fn freemail_list_is_sorted_lower_case() {
        assert!(FREEMAIL.windows(2).all(|w| w[0] < w[1]));
        assert!(FREEMAIL.iter().all(|d| d.to_ascii_lowercase() == *d));
    }

    #[test]
    fn freemail() {
        for d in [
            "gmail.com",
            "GMail.com",
            "googlemail.com",
            "yahoo.com",
            "yahoo.co.uk",
            "yahoo.fr",
            "yahoo.com.br",
            "yahoo.co.jp",
            "hotmail.com",
            "hotmail.de",
            "outlook.com",
            "live.co.uk",
            "gmx.net",
            "gmx.de",
            "yandex.ru",
            "mail.ru",
            "qq.com",
            "163.com",
            "proton.me",
            "protonmail.ch",
            "icloud.com",
            "web.de",
            "wanadoo.fr",
            "tiscali.it",
            "terra.com.br",
            "aol.com",
            "gmail.com.",
        ] {
            assert!(is_freemail(d), "{d}");
        }
        for d in [
            "example.com",
            "mail.example.com",
            "live.example.com",
            "yahoo.example.co.uk",
            "notgmail.com",
            "gmail.co",
            "",
            "yahoo",
            "bücher.de",
        ] {
            assert!(!is_freemail(d), "{d}");
        }
    }

    #[test]
    fn reserved_domains() {
        for d in [
            "example.com",
            "EXAMPLE.org",
            "mail.example.net",
            "foo.example",
            "bank.test",
            "x.invalid",
            "localhost",
            "app.localhost",
            "example.com.",
        ] {
            assert!(is_reserved_domain(d), "{d}");
        }
        for d in [
            "example.co.uk",
            "notexample.com",
            "testing.com",
            "gmail.com",
            "",
        ] {
            assert!(!is_reserved_domain(d), "{d}");
        }
    }
}
