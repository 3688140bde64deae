//! Property tests of the public API against hostile input, with the shipped default model:
//! random bytes, mail-like messages built from a grammar of headers, MIME parts, transfer
//! encodings and charsets, and the repository's real messages (tests/fixtures, data/examples)
//! mutated by byte flips, truncation, splicing, repetition and inserted MIME tokens.
//!
//! Every input goes through `Classifier::score`, `Classifier::explain`, `MessageView::parse`
//! (under the model's limits and under tiny ones), feature extraction, and
//! `corpus::Messages::from_reader` over a `Cursor`, and must give:
//! - no panic, and an error only for blank input (`Error::Message`);
//! - finite logits and suspicion, probabilities in [0, 1] summing to 1 (±1e-4), the same scores
//!   and decision from the fast path (reused per-thread buffers) and from `explain` (fresh ones),
//!   at most `top` reasons;
//! - bounded work, shown without timing: the view's text within `max_text_bytes`, URLs, body
//!   addresses and Reply-To addresses within their caps, each URL at most 2048 bytes (the view's
//!   URL cut), attachments within `max_parts`, subject and display name at most 3 bytes per input
//!   byte, and the feature vector no longer than its text allows (a normalised character starts at
//!   most a word and a typed token, each giving at most itself and a bigram; NFKC lengthens text
//!   at most 18-fold) nor than the bucket table; buckets ascending and unique;
//! - a view reused through `parse_into` equal to a fresh one (no state leaks between messages);
//! - from the reader: a plain input read back as exactly one message with the input's bytes, a
//!   gzip of it read back the same, an mbox never yielding more bytes than it holds; and an
//!   mboxrd written from generated messages read back message for message, byte for byte.
//!
//! Each property runs `PROPTEST_CASES` cases (default 128, so the file stays fast in a debug build
//! on 2 cores). For a longer search: `PROPTEST_CASES=5000 cargo test --release --test proptest`.
//! A failure is shrunk and its seed saved in `tests/proptest.proptest-regressions` (commit it, or
//! turn the input into a test in tests/regressions.rs).

use std::cell::RefCell;
use std::io::{Cursor, Write};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, FileFailurePersistence};
use sendguard::corpus::{CorpusError, Messages, ReadLimits};
use sendguard::cues::Cue;
use sendguard::features::{FeatureScratch, FeatureVector};
use sendguard::{Classifier, Error, MessageView, ViewLimits};

#[path = "support/base64.rs"]
mod base64;

// ---------------------------------------------------------------------------------------------
// The checks every input goes through.

fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| Classifier::load_default().expect("the shipped model loads"))
}

/// Limits small enough that the truncation paths run on most inputs.
const TINY: ViewLimits = ViewLimits {
    max_text_bytes: 61,
    max_parts: 3,
    max_depth: 1,
    max_urls: 2,
    max_emails: 1,
    max_parse_bytes: 1000,
};

/// The view cuts URLs at this many bytes (`MAX_URL_BYTES` in src/message.rs).
const MAX_URL_BYTES: usize = 2048;

/// Read limit for the reader checks (inputs here are far smaller).
const READ: ReadLimits = ReadLimits {
    max_message_bytes: 1 << 20,
};

thread_local! {
    /// One view reused across inputs, as the hot path reuses its per-thread view.
    static REUSED: RefCell<MessageView> = RefCell::new(MessageView::default());
}

fn is_blank(raw: &[u8]) -> bool {
    raw.iter().all(u8::is_ascii_whitespace)
}

/// Score and explain agree, and their numbers are sane.
fn check_scoring(raw: &[u8]) -> Result<(), TestCaseError> {
    let c = classifier();
    let blank = is_blank(raw);
    match (c.score(raw), c.explain(raw, 5)) {
        (Ok(fast), Ok(slow)) => {
            prop_assert!(!blank, "blank input was scored");
            let s = fast.scores;
            prop_assert!(s.logits.iter().all(|l| l.is_finite()), "{:?}", s.logits);
            let p = s.probabilities();
            prop_assert!(p.iter().all(|x| (0.0..=1.0).contains(x)), "{:?}", p);
            let sum: f32 = p.iter().sum();
            prop_assert!((sum - 1.0).abs() <= 1e-4, "probabilities sum to {}", sum);
            prop_assert!(s.suspicion().is_finite(), "suspicion of {:?}", s.logits);
            prop_assert_eq!(fast.scores, slow.scores, "fast path and explain disagree");
            prop_assert_eq!(fast.decision, slow.decision);
            prop_assert_eq!(fast.message_id, slow.message_id);
            prop_assert!(slow.reasons.len() <= 5);
            for r in &slow.reasons {
                prop_assert!(
                    !r.feature.is_empty() && r.contribution.is_finite(),
                    "{:?}",
                    r
                );
            }
        }
        (Err(Error::Message(_)), Err(Error::Message(_))) => {
            prop_assert!(blank, "non-blank input refused");
        }
        (a, b) => prop_assert!(
            false,
            "score and explain differ or fail oddly: {:?} / {:?}",
            a.map(|v| v.scores),
            b.map(|v| v.scores)
        ),
    }
    Ok(())
}

/// The view and the features stay within bounds set by the limits and the input's length.
fn check_view(raw: &[u8], limits: &ViewLimits) -> Result<(), TestCaseError> {
    let view = match MessageView::parse(raw, limits) {
        Ok(view) => view,
        Err(e) => {
            prop_assert!(is_blank(raw), "non-blank input refused: {}", e);
            return Ok(());
        }
    };
    prop_assert!(
        view.text.len() <= limits.max_text_bytes,
        "text {}",
        view.text.len()
    );
    prop_assert!(
        view.urls.len() <= limits.max_urls,
        "{} urls",
        view.urls.len()
    );
    prop_assert!(view.urls.iter().all(|u| u.len() <= MAX_URL_BYTES));
    prop_assert!(
        view.emails.len() <= limits.max_emails,
        "{} emails",
        view.emails.len()
    );
    prop_assert!(view.reply_to.len() <= limits.max_emails);
    prop_assert!(view.attachments.len() <= limits.max_parts);
    prop_assert!(
        view.subject.len() <= 3 * raw.len(),
        "subject {}",
        view.subject.len()
    );
    prop_assert!(view.from_name.len() <= 3 * raw.len());
    prop_assert!(view.to_count + view.cc_count + view.bcc_count <= raw.len());
    if raw.len() > limits.max_parse_bytes {
        prop_assert!(view.truncated, "input cut but not marked truncated");
    }

    let differs = REUSED.with(|cell| {
        let mut again = cell.borrow_mut();
        again.parse_into(raw, limits).expect("parsed once already");
        differing_field(&again, &view)
    });
    prop_assert_eq!(differs, None, "a reused view differs from a fresh one");

    let extractor = classifier().extractor();
    let mut vector = FeatureVector::default();
    extractor.extract(&view, &mut FeatureScratch::default(), &mut vector);
    let chars = [&view.subject, &view.from_name, &view.text]
        .iter()
        .map(|s| s.chars().count())
        .sum::<usize>();
    let bound = 4 * 18 * chars
        + view.urls.len()
        + view.emails.len()
        + view.reply_to.len()
        + 2 * view.attachments.len()
        + Cue::ALL.len();
    let n = vector.entries.len();
    prop_assert!(
        n <= bound.min(extractor.buckets()),
        "{} entries > {}",
        n,
        bound
    );
    prop_assert!(vector.entries.windows(2).all(|w| w[0].0 < w[1].0));
    prop_assert!(vector
        .entries
        .iter()
        .all(|&(b, v)| (b as usize) < extractor.buckets() && v.is_finite()));
    Ok(())
}

/// The first public field in which two views differ.
fn differing_field(a: &MessageView, b: &MessageView) -> Option<&'static str> {
    let same = [
        ("message_id", a.message_id == b.message_id),
        ("subject", a.subject == b.subject),
        ("from_name", a.from_name == b.from_name),
        ("from_address", a.from_address == b.from_address),
        ("reply_to", a.reply_to == b.reply_to),
        ("to_count", a.to_count == b.to_count),
        ("cc_count", a.cc_count == b.cc_count),
        ("bcc_count", a.bcc_count == b.bcc_count),
        ("text", a.text == b.text),
        ("urls", a.urls == b.urls),
        ("emails", a.emails == b.emails),
        ("attachments", a.attachments == b.attachments),
        ("truncated", a.truncated == b.truncated),
    ];
    same.iter().find(|f| !f.1).map(|f| f.0)
}

/// The reader over an in-memory buffer: counts, sizes, and a plain input read back whole.
fn check_reader(raw: &[u8]) -> Result<(), TestCaseError> {
    let gzip = raw.starts_with(&[0x1f, 0x8b]);
    let lines = raw.iter().filter(|&&b| b == b'\n').count() + 1;
    let (mut count, mut total) = (0usize, 0usize);
    let mut first = None;
    for item in Messages::from_reader("proptest", Cursor::new(raw.to_vec()), &READ) {
        count += 1;
        match item {
            Ok(m) => {
                total += m.bytes.len();
                first.get_or_insert(m.bytes);
            }
            Err(CorpusError::Read { .. }) if gzip => {}
            Err(e) => prop_assert!(false, "reader error on an in-memory buffer: {}", e),
        }
        prop_assert!(
            gzip || count <= lines,
            "{} messages from {} lines",
            count,
            lines
        );
    }
    if gzip {
        return Ok(());
    }
    prop_assert!(total <= raw.len(), "{} bytes out of {}", total, raw.len());
    if !raw.starts_with(b"From ") {
        prop_assert_eq!(count, 1);
        prop_assert_eq!(
            first.as_deref(),
            Some(raw),
            "a plain input is read as it is"
        );
        let gz = read_all(&gzip_bytes(raw))?;
        prop_assert_eq!(
            gz,
            vec![raw.to_vec()],
            "gzip of a plain input reads the same"
        );
    }
    Ok(())
}

fn check_all(raw: &[u8]) -> Result<(), TestCaseError> {
    check_scoring(raw)?;
    check_view(raw, &classifier().model_file().limits)?;
    check_view(raw, &TINY)?;
    check_reader(raw)
}

fn read_all(raw: &[u8]) -> Result<Vec<Vec<u8>>, TestCaseError> {
    Messages::from_reader("proptest", Cursor::new(raw.to_vec()), &READ)
        .map(|m| {
            m.map(|m| m.bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))
        })
        .collect()
}

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("write to memory");
    enc.finish().expect("write to memory")
}

// ---------------------------------------------------------------------------------------------
// A grammar of mail-like messages.

/// Body words: plain, scam vocabulary, money, links, addresses, non-Latin scripts, invisible
/// characters, raw ISO-2022-JP, stray MIME syntax.
const WORDS: &[&str] = &[
    "hello",
    "the",
    "meeting",
    "invoice",
    "attached",
    "please",
    "regards",
    "thanks",
    "Dear",
    "beneficiary",
    "next of kin",
    "inheritance",
    "compensation",
    "Western Union",
    "MoneyGram",
    "urgent",
    "confidential",
    "barrister",
    "verify your account",
    "password",
    "sign in",
    "US$4,500,000.00",
    "$250,000",
    "€1.2 million",
    "USD 10m",
    "1,000,000",
    "12:30",
    "2026",
    "http://bank.example.com/login",
    "https://xn--pypal-4ve.com/a?b=c&d=e",
    "www.claim-now.biz",
    "agent.mark@gmail.com",
    "mailto:x@yahoo.com",
    "user@example.net",
    "ann@northwind.example.org",
    "日本語",
    "お支払い",
    "ｶﾀｶﾅ",
    "ภาษาไทย",
    "한국어",
    "Русский",
    "pаypal",
    "ﷺ",
    "Ａｍａｚｏｎ",
    "W e s t e r n",
    "M.o.n.e.y",
    "zero\u{200b}width",
    "\u{feff}",
    "\u{fffd}",
    "é",
    "💰",
    "\x1b$B$3$s$K$A$O\x1b(B",
    "=?UTF-8?B?5pel5pys?=",
    "--b",
    "From ",
    ">From ",
    "=",
    "=3D",
    "<",
    ">",
    "&amp;",
    "\t",
    "\r",
    "",
];

const HTML_TAGS: &[&str] = &[
    "<p>",
    "</p>",
    "<br>",
    "<div>",
    "</div>",
    "<table><tr><td>",
    "</td></tr></table>",
    "<a href=\"http://login.example.com/x\">",
    "<a href='mailto:boss@yahoo.com'>",
    "</a>",
    "<img src=\"https://cdn.example.org/i.png\">",
    "<form action=\"https://f.example/p\">",
    "<script>var a='<p>';</script>",
    "<style>p{}</style>",
    "<!-- c -->",
    "&nbsp;",
    "&#8203;",
    "<b>",
    "</b>",
    "<html><body>",
    "</body></html>",
    "<",
    "<a href=",
    "&#x",
];

const CHARSETS: &[&str] = &[
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "ISO-2022-JP",
    "Shift_JIS",
    "EUC-JP",
    "gb2312",
    "big5",
    "koi8-r",
    "utf-16",
    "utf-7",
    "x-unknown",
    "",
];

const NAMES: &[&str] = &[
    "Ann Lee",
    "FBI Office",
    "PayPal Service",
    "Dr. Mark Obi",
    "=?UTF-8?B?5pel5pys?=",
    "=?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=",
    "=?iso-8859-1?Q?Ren=E9?=",
    "\"a, b\"",
    "",
];

const ADDRESSES: &[&str] = &[
    "ann@northwind.example.org",
    "agent.mark@gmail.com",
    "x@yahoo.com",
    "a@b",
    "@",
    "<>",
    "undisclosed-recipients:;",
    "group: a@b.example, c@d.example;",
    "bad address",
];

const SUBTYPES: &[&str] = &[
    "mixed",
    "alternative",
    "related",
    "digest",
    "report",
    "signed",
];

const BINARY_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "application/octet-stream",
    "text/calendar",
    "audio/x-wav",
    "application/zip",
];

#[derive(Clone, Copy, Debug)]
enum Cte {
    None,
    SevenBit,
    Base64,
    QuotedPrintable,
    /// Declared base64, sent as it is.
    FalseBase64,
}

#[derive(Clone, Debug)]
enum Body {
    Text {
        html: bool,
        charset: &'static str,
        cte: Cte,
        words: Vec<&'static str>,
    },
    Binary {
        ctype: &'static str,
        name: Option<String>,
        bytes: Vec<u8>,
    },
    Multipart {
        subtype: &'static str,
        boundary: String,
        preamble: bool,
        closed: bool,
        parts: Vec<Part>,
    },
    Message(Box<Part>),
}

#[derive(Clone, Debug)]
struct Part {
    headers: Vec<(&'static str, String)>,
    body: Body,
}

fn cte() -> impl Strategy<Value = Cte> {
    prop_oneof![
        Just(Cte::None),
        Just(Cte::SevenBit),
        Just(Cte::Base64),
        Just(Cte::QuotedPrintable),
        Just(Cte::FalseBase64),
    ]
}

fn header() -> impl Strategy<Value = (&'static str, String)> {
    let text = prop::collection::vec(select(WORDS), 0..8).prop_map(|w| w.join(" "));
    let mailbox = (select(NAMES), select(ADDRESSES)).prop_map(|(n, a)| format!("{n} <{a}>"));
    let mailboxes = prop::collection::vec(mailbox.clone(), 0..4).prop_map(|m| m.join(", "));
    prop_oneof![
        text.clone().prop_map(|t| ("Subject", t)),
        (select(CHARSETS), text.clone()).prop_map(|(c, t)| (
            "Subject",
            format!(
                "=?{c}?B?{}?= =?{c}?Q?{}?=",
                base64::encode(t.as_bytes()),
                qp_word(&t)
            )
        )),
        mailbox.prop_map(|m| ("From", m)),
        mailboxes.clone().prop_map(|m| ("To", m)),
        mailboxes.clone().prop_map(|m| ("Cc", m)),
        mailboxes.prop_map(|m| ("Reply-To", m)),
        "[a-z0-9.]{0,20}@[a-z.]{0,12}".prop_map(|id| ("Message-ID", format!("<{id}>"))),
        Just(("Date", "Thu, 1 Jan 2026 00:00:00 +0000".to_string())),
        Just(("MIME-Version", "1.0".to_string())),
        text.prop_map(|t| ("X-Note", t)),
    ]
}

fn leaf() -> impl Strategy<Value = Part> {
    let text = (
        any::<bool>(),
        select(CHARSETS),
        cte(),
        prop::collection::vec(
            prop_oneof![4 => select(WORDS), 1 => select(HTML_TAGS)],
            0..60,
        ),
    )
        .prop_map(|(html, charset, cte, words)| Body::Text {
            html,
            charset,
            cte,
            words,
        });
    let binary = (
        select(BINARY_TYPES),
        prop::option::of("[a-zA-Z0-9 ._-]{0,16}"),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(ctype, name, bytes)| Body::Binary { ctype, name, bytes });
    (
        prop::collection::vec(header(), 0..2),
        prop_oneof![3 => text, 1 => binary],
    )
        .prop_map(|(headers, body)| Part { headers, body })
}

fn part() -> impl Strategy<Value = Part> {
    leaf().prop_recursive(4, 24, 5, |inner| {
        // Mostly RFC 2046 boundaries; sometimes empty, or past the view's 256-byte cap.
        let boundary = prop_oneof![
            8 => "[a-zA-Z0-9'()+_,./:=?-]{1,40}",
            1 => Just(String::new()),
            1 => Just("-".repeat(300)),
        ];
        let multipart = (
            select(SUBTYPES),
            boundary,
            any::<bool>(),
            prop::bool::weighted(0.8),
            prop::collection::vec(inner.clone(), 0..5),
        )
            .prop_map(
                |(subtype, boundary, preamble, closed, parts)| Body::Multipart {
                    subtype,
                    boundary,
                    preamble,
                    closed,
                    parts,
                },
            );
        let message =
            (prop::collection::vec(header(), 0..4), inner).prop_map(|(headers, mut part)| {
                part.headers.extend(headers);
                Body::Message(Box::new(part))
            });
        (
            prop::collection::vec(header(), 0..2),
            prop_oneof![3 => multipart, 1 => message],
        )
            .prop_map(|(headers, body)| Part { headers, body })
    })
}

/// A whole message: top-level headers, a MIME tree, and its line ending.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(header(), 0..8), part(), any::<bool>()).prop_map(
        |(headers, mut part, crlf)| {
            part.headers.splice(0..0, headers);
            let mut out = Vec::new();
            render(&part, if crlf { "\r\n" } else { "\n" }, &mut out);
            out
        },
    )
}

fn render(part: &Part, eol: &str, out: &mut Vec<u8>) {
    let line = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(eol.as_bytes());
    };
    for (name, value) in &part.headers {
        line(out, &format!("{name}: {value}"));
    }
    match &part.body {
        Body::Text {
            html,
            charset,
            cte,
            words,
        } => {
            let subtype = if *html { "html" } else { "plain" };
            line(
                out,
                &format!("Content-Type: text/{subtype}; charset=\"{charset}\""),
            );
            let name = match cte {
                Cte::None => None,
                Cte::SevenBit => Some("7bit"),
                Cte::Base64 | Cte::FalseBase64 => Some("base64"),
                Cte::QuotedPrintable => Some("quoted-printable"),
            };
            if let Some(name) = name {
                line(out, &format!("Content-Transfer-Encoding: {name}"));
            }
            line(out, "");
            let text = words.join(" ");
            match cte {
                Cte::Base64 => wrap(&base64::encode(text.as_bytes()), 76, eol, out),
                Cte::QuotedPrintable => out.extend_from_slice(qp(&text, eol).as_bytes()),
                _ => {
                    for l in text.split('\n') {
                        line(out, l);
                    }
                }
            }
        }
        Body::Binary { ctype, name, bytes } => {
            line(out, &format!("Content-Type: {ctype}"));
            if let Some(name) = name {
                line(
                    out,
                    &format!("Content-Disposition: attachment; filename=\"{name}\""),
                );
            }
            line(out, "Content-Transfer-Encoding: base64");
            line(out, "");
            wrap(&base64::encode(bytes), 76, eol, out);
        }
        Body::Multipart {
            subtype,
            boundary,
            preamble,
            closed,
            parts,
        } => {
            line(
                out,
                &format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\""),
            );
            line(out, "");
            if *preamble {
                line(out, "This is a multi-part message in MIME format.");
            }
            for p in parts {
                line(out, &format!("--{boundary}"));
                render(p, eol, out);
            }
            if *closed {
                line(out, &format!("--{boundary}--"));
            }
        }
        Body::Message(inner) => {
            line(out, "Content-Type: message/rfc822");
            line(out, "");
            render(inner, eol, out);
        }
    }
}

fn wrap(s: &str, width: usize, eol: &str, out: &mut Vec<u8>) {
    for piece in s.as_bytes().chunks(width) {
        out.extend_from_slice(piece);
        out.extend_from_slice(eol.as_bytes());
    }
}

/// Quoted-printable body text, soft line breaks at 76 columns.
fn qp(text: &str, eol: &str) -> String {
    let mut out = String::new();
    let mut col = 0;
    for &b in text.as_bytes() {
        let enc = match b {
            b'\n' => {
                out.push_str(eol);
                col = 0;
                continue;
            }
            b'=' | 0..=31 | 127.. => format!("={b:02X}"),
            _ => (b as char).to_string(),
        };
        if col + enc.len() > 75 {
            out.push('=');
            out.push_str(eol);
            col = 0;
        }
        col += enc.len();
        out.push_str(&enc);
    }
    out.push_str(eol);
    out
}

/// The Q encoding of an RFC 2047 encoded word.
fn qp_word(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' ' => "_".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("={b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Real messages, mutated.

/// Every file under tests/fixtures and data/examples.
fn fixtures() -> &'static [Vec<u8>] {
    static FIXTURES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("tests/fixtures"), root.join("data/examples")];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("fixture directory") {
                let path = entry.expect("fixture entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        let out: Vec<Vec<u8>> = files
            .iter()
            .map(|p| std::fs::read(p).expect("fixture"))
            .collect();
        assert!(out.len() >= 10, "fixtures found: {}", out.len());
        out
    })
}

/// Tokens inserted by mutation: MIME syntax that changes how the rest is read.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\n\n",
    b"\n--",
    b"--",
    b"=",
    b"=?",
    b"?=",
    b"=?UTF-8?B?",
    b"=?ISO-2022-JP?B?",
    b"\x1b$B",
    b"\x1b(B",
    b"boundary=",
    b"boundary=\"\"",
    b"charset=",
    b"Content-Type: multipart/mixed; boundary=x\n",
    b"Content-Type: message/rfc822\n\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"multipart/",
    b"message/rfc822",
    b"<html>",
    b"<a href=\"",
    b"http://",
    b"mailto:",
    b"From ",
    b">From ",
    b"\xef\xbf\xbd",
    b"\xe2\x80\x8b",
    b"\xff",
    b"\0",
    b"\x1f\x8b",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Delete(Index, usize),
    Insert(Index, &'static [u8]),
    /// Bytes of another fixture, from a point, spliced in at a point.
    Splice(Index, Index, Index, usize),
    /// A slice of the message repeated in place.
    Repeat(Index, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, m)| Mutation::Flip(i, m | 1)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), 1..200usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => (any::<Index>(), select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), 1..2000usize)
            .prop_map(|(f, from, at, n)| Mutation::Splice(f, from, at, n)),
        2 => (any::<Index>(), 1..300usize, 2..60usize)
            .prop_map(|(i, n, times)| Mutation::Repeat(i, n, times)),
    ]
}

fn mutate(mut m: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    // An index into 0..=len, so a point may be the end.
    let at = |i: &Index, len: usize| i.index(len + 1);
    for mu in mutations {
        match mu {
            Mutation::Flip(i, mask) if !m.is_empty() => {
                let k = i.index(m.len());
                m[k] ^= mask;
            }
            Mutation::Flip(..) => {}
            Mutation::Truncate(i) => m.truncate(at(i, m.len())),
            Mutation::Delete(i, n) => {
                let k = at(i, m.len());
                m.drain(k..(k + n).min(m.len()));
            }
            Mutation::Insert(i, token) => {
                let k = at(i, m.len());
                m.splice(k..k, token.iter().copied());
            }
            Mutation::Splice(f, from, i, n) => {
                let other = &fixtures()[f.index(fixtures().len())];
                let s = at(from, other.len());
                let piece = &other[s..(s + n).min(other.len())];
                let k = at(i, m.len());
                m.splice(k..k, piece.iter().copied());
            }
            Mutation::Repeat(i, n, times) => {
                let k = at(i, m.len());
                let piece = m[k..(k + n).min(m.len())].to_vec();
                for _ in 1..*times {
                    m.splice(k..k, piece.iter().copied());
                }
            }
        }
    }
    m
}

// ---------------------------------------------------------------------------------------------
// The properties.

/// Cases per property: `PROPTEST_CASES`, else `default`.
fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        max_shrink_iters: 2048,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Raw bytes, an mbox start, a header start, or mail that turns into noise.
fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    let bytes = prop::collection::vec(any::<u8>(), 0..3000);
    prop_oneof![
        3 => bytes.clone(),
        1 => bytes.clone().prop_map(|b| [b"From ".as_slice(), &b].concat()),
        1 => bytes.clone().prop_map(|b| [b"Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n".as_slice(), &b].concat()),
        1 => prop::collection::vec(select(b" \t\r\n\x0b\x0c".as_slice()), 0..40),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    /// Random bytes: no panic, sane scores, bounded views, and the reader's invariants.
    #[test]
    fn random_bytes_are_handled(raw in random_bytes()) {
        check_all(&raw)?;
    }

    /// Mail built from headers, nested MIME parts, transfer encodings and charsets.
    #[test]
    fn mail_like_messages_are_handled(raw in message()) {
        check_all(&raw)?;
    }

    /// The repository's real messages, mutated.
    #[test]
    fn mutated_real_messages_are_handled(
        which in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let original = fixtures()[which.index(fixtures().len())].clone();
        check_all(&mutate(original, &mutations))?;
    }

    /// An mboxrd written from generated messages reads back message for message, byte for byte,
    /// plain and gzip, with LF or CRLF separators.
    #[test]
    fn mboxrd_round_trips(
        messages in prop::collection::vec(message(), 1..6),
        crlf in any::<bool>(),
    ) {
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        // The reader keeps line ends as they are and drops the separator's blank line, so a
        // message must end with a line end to come back whole.
        let messages: Vec<Vec<u8>> = messages
            .into_iter()
            .map(|mut m| {
                if m.last() != Some(&b'\n') {
                    m.extend_from_slice(eol);
                }
                m
            })
            .collect();
        let mut mbox = Vec::new();
        for m in &messages {
            mbox.extend_from_slice(b"From sender@example.org Thu Jan  1 00:00:00 2026");
            mbox.extend_from_slice(eol);
            for line in m.split_inclusive(|&b| b == b'\n') {
                let quotes = line.iter().take_while(|&&b| b == b'>').count();
                if line[quotes..].starts_with(b"From ") {
                    mbox.push(b'>');
                }
                mbox.extend_from_slice(line);
            }
            mbox.extend_from_slice(eol);
        }
        prop_assert_eq!(&read_all(&mbox)?, &messages);
        prop_assert_eq!(&read_all(&gzip_bytes(&mbox))?, &messages);
    }
}
