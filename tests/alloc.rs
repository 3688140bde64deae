//! The fast path's allocation claim, checked with a counting global allocator.
//!
//! `Classifier::score_with` keeps its buffers (message view, tokenizer and feature scratch) in
//! a per-thread slot, so after warm-up the work that grows with the text — tokenising, hashing,
//! counting features, the dot product — allocates nothing. What remains is per message and per
//! MIME part, inside mail-parser (its `Message`, the header list, decoded parts).
//!
//! Two checks:
//! - the same message with 40 words and with 40,000 words makes the same number of allocations
//!   (so nothing is allocated per token, per line or per feature), for plain, HTML, quoted-
//!   printable, base64, ISO-2022-JP and multipart/alternative mail — up to the few growths of
//!   the buffer mail-parser decodes a quoted-printable or base64 part into (logarithmic);
//! - over the few hundred hand-written messages of the repository (data/extra, the held-out
//!   fixtures, the message fixtures), after one warm-up pass, the allocations per message stay
//!   below a small bound; the figure is printed (`cargo test --test alloc -- --nocapture`).
//!
//! Counting is per thread (a thread-local switch), so tests running in parallel do not disturb
//! each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sendguard::Classifier;

#[path = "support/base64.rs"]
mod base64;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations (and reallocations) made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    COUNT.with(|n| n.get())
}

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::load_default().expect("shipped model loads"))
}

/// Scores on the fast path without keeping anything (no Message-ID copy).
fn score(raw: &[u8]) {
    let c = classifier();
    let verdict = c
        .score_with(raw, |_, _, decision| decision.verdict)
        .expect("scores");
    std::hint::black_box(verdict);
}

const WORDS: &[&str] = &[
    "meeting",
    "invoice",
    "transfer",
    "western",
    "union",
    "beneficiary",
    "quarterly",
    "report",
    "US$250,000",
    "the",
    "please",
    "confirm",
    "your",
    "account",
    "Tuesday",
    "2,500",
    "EUR",
    "compensation",
    "schedule",
    "attached",
    "don't",
    "W.e.s.t",
    "FBI",
    "agent",
    "office",
];

/// `n` words of running text, on lines of about twelve words, with a link now and then.
fn text(n: usize) -> String {
    let mut s = String::new();
    let mut x: u32 = 12345;
    for i in 0..n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        s.push_str(WORDS[(x >> 16) as usize % WORDS.len()]);
        if i % 97 == 0 {
            s.push_str(" https://files.example-partner.com/d/");
            s.push_str(&(x % 1000).to_string());
        }
        s.push(if i % 12 == 11 { '\n' } else { ' ' });
    }
    s
}

fn quoted_printable(s: &str) -> String {
    let mut out = String::new();
    let mut col = 0;
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            col = 0;
            continue;
        }
        if col >= 70 {
            out.push_str("=\n");
            col = 0;
        }
        if c == '=' || c == '$' {
            out.push_str(&format!("={:02X}", c as u32));
            col += 3;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

/// ISO-2022-JP for a line of hiragana (JIS X 0208 row 4), between ASCII words.
fn iso_2022_jp(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(b"kakunin \x1b$B");
        for k in 0..6u8 {
            out.extend_from_slice(&[0x24, 0x22 + ((i as u8).wrapping_add(k * 7)) % 0x50]);
        }
        out.extend_from_slice(b"\x1b(B ");
        if i % 8 == 7 {
            out.push(b'\n');
        }
    }
    out.push(b'\n');
    out
}

const HEAD: &str = "From: \"Accounts\" <accounts@northwind.example.org>\n\
To: partner@example.com\nSubject: Quarterly figures and payment\n\
Message-ID: <q3-report@northwind.example.org>\nMIME-Version: 1.0\n";

/// The same message shape with `n` words.
fn shaped(shape: &str, n: usize) -> Vec<u8> {
    let body = text(n);
    let mut m = HEAD.as_bytes().to_vec();
    let part = match shape {
        "plain" => format!("Content-Type: text/plain; charset=utf-8\n\n{body}"),
        "html" => format!(
            "Content-Type: text/html; charset=utf-8\n\n<html><body><p>{}</p></body></html>\n",
            body.replace('\n', "</p>\n<p><a href=\"https://portal.example-partner.com/x\">x</a> ")
        ),
        "qp" => format!(
            "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n{}",
            quoted_printable(&body)
        ),
        "base64" => format!(
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{}",
            base64::encode_lines(body.as_bytes())
        ),
        "alternative" => format!(
            "Content-Type: multipart/alternative; boundary=\"b1\"\n\n--b1\n\
             Content-Type: text/plain; charset=utf-8\n\n{body}\n--b1\n\
             Content-Type: text/html; charset=utf-8\n\n<div>{}</div>\n--b1--\n",
            body.replace('\n', "<br>\n")
        ),
        "iso-2022-jp" => {
            m.extend_from_slice(b"Content-Type: text/plain; charset=ISO-2022-JP\n\n");
            m.extend_from_slice(&iso_2022_jp(n / 7 + 1));
            return m;
        }
        _ => unreachable!("unknown shape {shape}"),
    };
    m.extend_from_slice(part.as_bytes());
    m
}

#[test]
fn nothing_is_allocated_per_token() {
    for shape in [
        "plain",
        "html",
        "qp",
        "base64",
        "alternative",
        "iso-2022-jp",
    ] {
        let (small, large) = (shaped(shape, 40), shaped(shape, 40_000));
        // Warm-up: the buffers grow to the largest message once.
        score(&large);
        score(&small);
        score(&large);
        let a_small = allocations(|| score(&small));
        let a_large = allocations(|| score(&large));
        println!(
            "{shape}: {} bytes -> {a_small} allocations, {} bytes -> {a_large}",
            small.len(),
            large.len()
        );
        // A thousand times the words must not bring a thousand times the allocations. What
        // may grow is logarithmic: mail-parser decodes a quoted-printable or base64 part into a
        // Vec that doubles as it fills. Allow two growths per doubling of the size.
        let doublings = (large.len() as f64 / small.len() as f64).log2().ceil() as u64;
        assert!(
            a_large <= a_small + 2 * doublings + 2,
            "{shape}: {a_small} allocations for 40 words, {a_large} for 40,000"
        );
        assert!(
            a_small <= 40,
            "{shape}: {a_small} allocations for a small message"
        );
    }
}

fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            eml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "eml") {
            out.push(p);
        }
    }
}

#[test]
fn few_allocations_per_message_over_the_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    for dir in [
        "data/extra",
        "data/examples",
        "tests/fixtures/heldout",
        "tests/fixtures/modern",
        "tests/fixtures/message",
    ] {
        eml_files(&root.join(dir), &mut paths);
    }
    let messages: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(
        messages.len() >= 300,
        "only {} fixture messages",
        messages.len()
    );
    let bytes: usize = messages.iter().map(Vec::len).sum();
    for m in &messages {
        score(m);
    }
    let total = allocations(|| {
        for m in &messages {
            score(m);
        }
    });
    let per_message = total as f64 / messages.len() as f64;
    println!(
        "{} messages, {bytes} bytes: {total} allocations after warm-up, {per_message:.1} per message",
        messages.len()
    );
    assert!(
        per_message <= 60.0,
        "{per_message:.1} allocations per message after warm-up"
    );
}
