//! Scoring benchmarks: criterion, release build, one thread unless a part says otherwise.
//!
//! ```sh
//! cargo bench --bench score                  # everything (about 2 minutes on 2 cores)
//! cargo bench --bench score -- throughput    # one part (the filter is explained below)
//! cargo bench --bench score -- 'stages|batch'
//! ```
//!
//! The model is `models/default.sgm` (or `$SENDGUARD_MODEL`, as for the CLI). The *corpus* is
//! `../shared/corpus/dev/{ham,spam,phishing,fraud}.mbox.gz` when that directory exists beside
//! the checkout, else every `tests/fixtures/**/*.eml` and `data/examples/*.eml`; it is read
//! into memory (with `sendguard::corpus::open_input`) before anything is timed.
//!
//! Parts, in the order they run:
//!
//! - `latency` (criterion `latency/{1KB,5KB,50KB,500KB}`, Throughput::Bytes): `Classifier::score`
//!   of one generated message per size: headers, a multipart/alternative of a quoted-printable
//!   text/plain and the same text as HTML (a webmail's `<div>`s, quoted-printable, below 16 KB;
//!   a newsletter's styled tables, base64, with a base64 PDF attachment of about a fifth of the
//!   message from 16 KB on), links, amounts and a few non-ASCII words, drawn from a fixed word
//!   list by a seeded PRNG, so every run scores the same bytes.
//! - `throughput` (criterion `throughput/score` and `throughput/parse_only`,
//!   Throughput::ElementsAndBytes, so one measurement gives both messages/s and MiB/s): one pass
//!   over the corpus with `Classifier::score` (the fast path), and with
//!   `mail_parser::MessageParser::default().parse` alone. The report gives messages/s, MB/s and
//!   the headline ratio *score ÷ parse-only* (messages/s), for the whole corpus and per class.
//! - `stages` (report only): the share of each stage, each timed as its own pass over the
//!   corpus: mail-parser alone; `MessageView::parse_into` (which calls mail-parser itself; its
//!   time beyond parse-only is the view's own); the tokenizer over subject, From name and text
//!   of views parsed beforehand; `FeatureExtractor::extract` + `CompiledModel::score` on those
//!   views (extract tokenises again: its time beyond the tokenizer's is hashing, cues and the
//!   vector), and the dot product alone on vectors extracted beforehand.
//! - `latency_percentiles` (report only): p50/p90/p99/p99.9/max of `Classifier::score` over
//!   the corpus messages up to 100 KB, each message timed alone with `Instant`, 5 passes after
//!   a warm-up pass.
//! - `batch` (report only): the corpus scored with `par_iter` in a rayon pool of 1 and of 2
//!   threads; messages/s of each and the speed-up.
//!
//! The reports come from plain timed loops run after criterion (passes interleaved, so a
//! change in machine load hits every variant alike; the median pass is reported; MB = 10^6
//! bytes, where criterion prints MiB). They are printed again in a summary at the end, with the
//! load average before and after: on a shared machine, read the figures with it.
//!
//! Filter: criterion takes a regex over its ids. A part runs when the filter, or one of its
//! `|`-separated alternatives, occurs as plain text in the part's name or in one of its ids; a
//! filter with other regex syntax runs every part and leaves the choice of benchmarks to
//! criterion. `cargo test --benches` (or `--all-targets`) runs each benchmark and each report
//! once, on at most 40 corpus messages per class. With `SENDGUARD_BENCH_DUMP=DIR` the generated
//! messages are also written to DIR as `latency-{size}.eml`, to look at.

use std::cell::OnceCell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use mail_parser::MessageParser;
use rayon::prelude::*;
use sendguard::corpus::{labelled_sources, open_input, ReadLimits};
use sendguard::features::{FeatureScratch, FeatureVector};
use sendguard::{Classifier, MessageView};

/// Message sizes of the `latency` part, in bytes (each generated message lands within ~1 %).
const SIZES: [(&str, usize); 4] = [
    ("1KB", 1024),
    ("5KB", 5 * 1024),
    ("50KB", 50 * 1024),
    ("500KB", 500 * 1024),
];
/// Largest message counted by `latency_percentiles`.
const PERCENTILE_MAX_BYTES: usize = 100 * 1024;
/// Corpus messages kept per class in test mode.
const TEST_MODE_PER_CLASS: usize = 40;
/// Criterion samples for the corpus-wide benchmarks (criterion's minimum).
const CORPUS_SAMPLES: usize = 10;

fn main() {
    let opts = Opts::from_args();
    let mut c = Criterion::default().configure_from_args();
    let classifier = Classifier::load_default().unwrap_or_else(|e| {
        panic!("the benches need the default model (models/default.sgm or $SENDGUARD_MODEL): {e}")
    });
    let mut summary = Summary::new(&opts);
    let cell = OnceCell::new();
    let corpus = || cell.get_or_init(|| Corpus::load(opts.quick));

    if opts.wants("latency", &ids("latency", &["1KB", "5KB", "50KB", "500KB"])) {
        latency(&mut c, &classifier, &opts, &mut summary);
    }
    if opts.wants("throughput", &ids("throughput", &["score", "parse_only"])) {
        throughput(&mut c, &classifier, corpus(), &opts, &mut summary);
    }
    // The parts below are printed reports only (no criterion ids), so `--list` skips them.
    if opts.wants("stages", &[]) && !opts.list {
        stages(&classifier, corpus(), &opts, &mut summary);
    }
    if opts.wants("latency_percentiles", &[]) && !opts.list {
        latency_percentiles(&classifier, corpus(), &opts, &mut summary);
    }
    if opts.wants("batch", &[]) && !opts.list {
        batch(&classifier, corpus(), &opts, &mut summary);
    }

    c.final_summary();
    summary.print();
}

// ---------------------------------------------------------------------------------------------
// latency: one generated message per size

fn latency(c: &mut Criterion, classifier: &Classifier, opts: &Opts, summary: &mut Summary) {
    let messages: Vec<(&str, Vec<u8>)> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &(name, size))| (name, generate_message(size, 0x5eed_0000 + i as u64)))
        .collect();

    if let Some(dir) = std::env::var_os("SENDGUARD_BENCH_DUMP") {
        for (name, msg) in &messages {
            let path = Path::new(&dir).join(format!("latency-{name}.eml"));
            std::fs::write(&path, msg).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
    for (name, msg) in &messages {
        generated_view(classifier, name, msg);
    }
    let mut g = c.benchmark_group("latency");
    // Flat sampling: linear sampling's 1 + 2 + ... + 30 iterations do not fit 500 KB in 3 s.
    g.sample_size(30)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, msg) in &messages {
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), msg, |b, msg| {
            b.iter(|| classifier.score(black_box(msg)))
        });
    }
    g.finish();
    if opts.list {
        return;
    }

    let mut report = String::from("latency of Classifier::score, generated messages:\n");
    for (name, msg) in &messages {
        let view = generated_view(classifier, name, msg);
        let per_call = time_per_call(opts, || {
            let _ = black_box(classifier.score(black_box(msg)));
        });
        let _ = writeln!(
            report,
            "  {name:>6}: {:>8} bytes ({} text bytes after decoding, {} URLs, {} attachments): \
             {} per message, {:.1} MB/s",
            fmt_int(msg.len() as u64),
            fmt_int(view.text.len() as u64),
            view.urls.len(),
            view.attachments.len(),
            fmt_dur(per_call),
            mb_per_s(msg.len() as u64, per_call),
        );
    }

    summary.report(report);
}

/// The view of a generated message, checked: the generator must produce what it claims, or the
/// sizes measure nothing real.
fn generated_view(classifier: &Classifier, name: &str, msg: &[u8]) -> MessageView {
    let view = MessageView::parse(msg, &classifier.model_file().limits)
        .expect("a generated message parses");
    assert!(
        view.text.len() > msg.len() / 20 && !view.urls.is_empty(),
        "generated {name} message decodes to too little: {} text bytes, {} URLs",
        view.text.len(),
        view.urls.len()
    );
    view
}

// ---------------------------------------------------------------------------------------------
// throughput: score vs parse-only over the corpus

fn score_pass(classifier: &Classifier, mails: &[Mail]) {
    for m in mails {
        let _ = black_box(classifier.score(black_box(&m.bytes)));
    }
}

fn parse_pass(mails: &[Mail]) {
    for m in mails {
        black_box(MessageParser::default().parse(black_box(&m.bytes)));
    }
}

fn throughput(
    c: &mut Criterion,
    classifier: &Classifier,
    corpus: &Corpus,
    opts: &Opts,
    summary: &mut Summary,
) {
    let mails = &corpus.mails[..];
    let (n, bytes) = (mails.len() as u64, corpus.bytes(mails));
    // One measurement per function, reported both in messages/s and in bytes/s.
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::ElementsAndBytes { elements: n, bytes });
    corpus_settings(&mut g, timed(|| score_pass(classifier, mails)));
    g.bench_function("score", |b| b.iter(|| score_pass(classifier, mails)));
    corpus_settings(&mut g, timed(|| parse_pass(mails)));
    g.bench_function("parse_only", |b| b.iter(|| parse_pass(mails)));
    g.finish();
    if opts.list {
        return;
    }

    let rounds = opts.rounds(5);
    let mut report = format!(
        "throughput over {} ({} messages, {} MB), median of {rounds} passes each:\n",
        corpus.source,
        fmt_int(n),
        fmt_mb(bytes)
    );
    let [score, parse] = interleaved(
        rounds,
        [&mut || score_pass(classifier, mails), &mut || {
            parse_pass(mails)
        }],
    );
    let _ = writeln!(
        report,
        "  score (Classifier::score)      {:>9} messages/s  {:>7.1} MB/s  (best pass {} messages/s)",
        fmt_rate(n, score.median),
        mb_per_s(bytes, score.median),
        fmt_rate(n, score.min),
    );
    let _ = writeln!(
        report,
        "  parse-only (mail-parser)       {:>9} messages/s  {:>7.1} MB/s  (best pass {} messages/s)",
        fmt_rate(n, parse.median),
        mb_per_s(bytes, parse.median),
        fmt_rate(n, parse.min),
    );
    let _ = writeln!(
        report,
        "  HEADLINE score / parse-only = {:.3} (messages/s; target >= 0.5); \
         score = {} messages/s on one thread (target >= 20,000)",
        parse.median.as_secs_f64() / score.median.as_secs_f64(),
        fmt_rate(n, score.median),
    );
    if corpus.classes.len() > 1 {
        let _ = writeln!(report, "  per class (median of {rounds} passes):");
        for (class, range) in &corpus.classes {
            let part = &mails[range.clone()];
            let (pn, pb) = (part.len() as u64, corpus.bytes(part));
            let [s, p] = interleaved(
                rounds,
                [&mut || score_pass(classifier, part), &mut || {
                    parse_pass(part)
                }],
            );
            let _ = writeln!(
                report,
                "    {class:<10} {:>6} msgs {:>7} MB  score {:>9} msg/s {:>6.1} MB/s   \
                 parse-only {:>9} msg/s {:>6.1} MB/s   ratio {:.3}",
                fmt_int(pn),
                fmt_mb(pb),
                fmt_rate(pn, s.median),
                mb_per_s(pb, s.median),
                fmt_rate(pn, p.median),
                mb_per_s(pb, p.median),
                p.median.as_secs_f64() / s.median.as_secs_f64(),
            );
        }
    }
    summary.report(report);
}

// ---------------------------------------------------------------------------------------------
// stages: parse, message view, tokenise, features + dot product

/// Every stage's inputs, prepared before timing.
struct StageData {
    views: Vec<MessageView>,
    vectors: Vec<FeatureVector>,
}

fn view_pass(classifier: &Classifier, mails: &[Mail], view: &mut MessageView) {
    let limits = &classifier.model_file().limits;
    for m in mails {
        let _ = black_box(view.parse_into(black_box(&m.bytes), limits));
    }
}

fn tokenize_pass(
    classifier: &Classifier,
    views: &[MessageView],
    scratch: &mut sendguard::tokenize::Scratch,
) {
    let tokenizer = classifier.extractor().tokenizer();
    let mut n = 0usize;
    for v in views {
        for text in [&v.subject, &v.from_name, &v.text] {
            tokenizer.tokenize(text, scratch, &mut |_, t| n += t.len());
        }
    }
    black_box(n);
}

fn features_dot_pass(
    classifier: &Classifier,
    views: &[MessageView],
    scratch: &mut FeatureScratch,
    vector: &mut FeatureVector,
) {
    for v in views {
        classifier
            .extractor()
            .extract(black_box(v), scratch, vector);
        black_box(classifier.model().score(vector));
    }
}

fn dot_pass(classifier: &Classifier, vectors: &[FeatureVector]) {
    for v in vectors {
        black_box(classifier.model().score(black_box(v)));
    }
}

fn stages(classifier: &Classifier, corpus: &Corpus, opts: &Opts, summary: &mut Summary) {
    let mails = &corpus.mails[..];
    let limits = &classifier.model_file().limits;
    let mut data = StageData {
        views: Vec::with_capacity(mails.len()),
        vectors: Vec::with_capacity(mails.len()),
    };
    let (mut fs, mut fv) = (FeatureScratch::default(), FeatureVector::default());
    for m in mails {
        if let Ok(view) = MessageView::parse(&m.bytes, limits) {
            classifier.extractor().extract(&view, &mut fs, &mut fv);
            data.views.push(view);
            data.vectors.push(fv.clone());
        }
    }
    let (mut view, mut ts) = (
        MessageView::default(),
        sendguard::tokenize::Scratch::default(),
    );
    let n = mails.len() as u64;

    let rounds = opts.rounds(5);
    let [parse, view_t, tok, feat, dot, score] = interleaved(
        rounds,
        [
            &mut || parse_pass(mails),
            &mut || view_pass(classifier, mails, &mut view),
            &mut || tokenize_pass(classifier, &data.views, &mut ts),
            &mut || features_dot_pass(classifier, &data.views, &mut fs, &mut fv),
            &mut || dot_pass(classifier, &data.vectors),
            &mut || score_pass(classifier, mails),
        ],
    )
    .map(|s| s.median.as_secs_f64());
    // The view calls mail-parser itself, and extract() tokenises itself: subtract to get stages.
    let rows = [
        ("parse (mail-parser alone)", parse),
        ("message view beyond parse", view_t - parse),
        ("tokenise (subject, From name, text)", tok),
        ("features + dot product beyond tokenise", feat - tok),
    ];
    let total = view_t + feat;
    let mut report = format!(
        "stage breakdown over {} ({} messages, {} MB), median of {rounds} passes each:\n",
        corpus.source,
        fmt_int(n),
        fmt_mb(corpus.bytes(mails))
    );
    for (name, t) in rows {
        let _ = writeln!(
            report,
            "  {name:<40} {:>9.1} ms  {:>5.1} %",
            t * 1e3,
            100.0 * t / total
        );
    }
    let _ = writeln!(
        report,
        "    of which the dot product alone (CompiledModel::score) {:.2} ms, {:.2} %",
        dot * 1e3,
        100.0 * dot / total
    );
    let _ = writeln!(
        report,
        "  sum of stages (= view + extract-and-dot) {:>9.1} ms; end-to-end Classifier::score {:.1} ms \
         (sum / end-to-end {:.2})",
        total * 1e3,
        score * 1e3,
        total / score
    );
    let _ = writeln!(
        report,
        "  by pass: parse {:.1} ms, view {:.1} ms, tokenise {:.1} ms, extract + dot {:.1} ms",
        parse * 1e3,
        view_t * 1e3,
        tok * 1e3,
        feat * 1e3
    );
    summary.report(report);
}

// ---------------------------------------------------------------------------------------------
// latency percentiles over corpus messages up to 100 KB

fn latency_percentiles(
    classifier: &Classifier,
    corpus: &Corpus,
    opts: &Opts,
    summary: &mut Summary,
) {
    let small: Vec<&Mail> = corpus
        .mails
        .iter()
        .filter(|m| m.bytes.len() <= PERCENTILE_MAX_BYTES)
        .collect();
    if small.is_empty() {
        return;
    }
    score_pass(classifier, &corpus.mails); // warm-up
    let passes = opts.rounds(5);
    let mut all: Vec<Duration> = Vec::with_capacity(small.len() * passes);
    // Per message, its fastest pass: a message that is slow every time, not once by bad luck.
    let mut fastest = vec![Duration::MAX; small.len()];
    for _ in 0..passes {
        for (i, m) in small.iter().enumerate() {
            let t = Instant::now();
            let _ = black_box(classifier.score(black_box(&m.bytes)));
            let d = t.elapsed();
            all.push(d);
            fastest[i] = fastest[i].min(d);
        }
    }
    all.sort_unstable();
    let pct = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize];
    let (slow, slow_t) = fastest
        .iter()
        .enumerate()
        .max_by_key(|(_, d)| **d)
        .map(|(i, d)| (small[i], *d))
        .expect("at least one message");
    let mut report = format!(
        "latency percentiles of Classifier::score, {} messages up to {} KB from {}, \
         {passes} passes ({} timings):\n",
        fmt_int(small.len() as u64),
        PERCENTILE_MAX_BYTES / 1024,
        corpus.source,
        fmt_int(all.len() as u64)
    );
    let _ = writeln!(
        report,
        "  p50 {}   p90 {}   p99 {} (target <= 1 ms)   p99.9 {}   max {}",
        fmt_dur(pct(0.5)),
        fmt_dur(pct(0.9)),
        fmt_dur(pct(0.99)),
        fmt_dur(pct(0.999)),
        fmt_dur(*all.last().expect("timings")),
    );
    let _ = writeln!(
        report,
        "  slowest message on its best pass: {} #{} ({} bytes) {}",
        slow.class,
        slow.index,
        fmt_int(slow.bytes.len() as u64),
        fmt_dur(slow_t)
    );
    summary.report(report);
}

// ---------------------------------------------------------------------------------------------
// batch: rayon pools of 1 and 2 threads

fn batch(classifier: &Classifier, corpus: &Corpus, opts: &Opts, summary: &mut Summary) {
    let mails = &corpus.mails[..];
    let n = mails.len() as u64;
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, 2]
        .into_iter()
        .map(|t| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .expect("a rayon pool");
            (t, pool)
        })
        .collect();
    let run = |pool: &rayon::ThreadPool| {
        pool.install(|| {
            mails.par_iter().for_each(|m| {
                let _ = black_box(classifier.score(black_box(&m.bytes)));
            })
        })
    };
    for (_, pool) in &pools {
        run(pool); // warm every worker's scratch buffers
    }

    let rounds = opts.rounds(5);
    let [one, two] = interleaved(rounds, [&mut || run(&pools[0].1), &mut || run(&pools[1].1)]);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut report = format!(
        "batch scoring of {} ({} messages) with rayon par_iter, median of {rounds} passes, \
         {cpus} CPUs available:\n",
        corpus.source,
        fmt_int(n)
    );
    for (t, s) in [(1, one), (2, two)] {
        let _ = writeln!(
            report,
            "  {t} thread{}: {:>9} messages/s  {:>7.1} MB/s  (best pass {} messages/s)",
            if t == 1 { " " } else { "s" },
            fmt_rate(n, s.median),
            mb_per_s(corpus.bytes(mails), s.median),
            fmt_rate(n, s.min),
        );
    }
    let _ = writeln!(
        report,
        "  speed-up 2 vs 1 thread: {:.2}x (best passes: {:.2}x; target >= 1.8x; any other load \
         on the machine lowers it)",
        one.median.as_secs_f64() / two.median.as_secs_f64(),
        one.min.as_secs_f64() / two.min.as_secs_f64()
    );
    summary.report(report);
}

// ---------------------------------------------------------------------------------------------
// the corpus

/// One message of the corpus, with where it came from.
struct Mail {
    class: String,
    index: usize,
    bytes: Vec<u8>,
}

struct Corpus {
    /// Where the messages came from, for the reports.
    source: String,
    /// All messages, grouped by class.
    mails: Vec<Mail>,
    /// Each class and its range in `mails`.
    classes: Vec<(String, std::ops::Range<usize>)>,
}

impl Corpus {
    fn load(quick: bool) -> Corpus {
        let cap = if quick {
            TEST_MODE_PER_CLASS
        } else {
            usize::MAX
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dev = root.join("../shared/corpus/dev");
        let sources = if dev.is_dir() {
            labelled_sources(&dev).unwrap_or_else(|e| panic!("{}: {e}", dev.display()))
        } else {
            Vec::new()
        };
        let t = Instant::now();
        let mut mails = Vec::new();
        let source = if sources.is_empty() {
            let mut files = Vec::new();
            eml_files(&root.join("tests/fixtures"), &mut files);
            eml_files(&root.join("data/examples"), &mut files);
            for path in files {
                let class = path
                    .parent()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map_or_else(String::new, |p| p.display().to_string());
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                mails.push(Mail {
                    class,
                    index: 0,
                    bytes,
                });
            }
            mails.sort_by(|a, b| a.class.cmp(&b.class));
            "tests/fixtures + data/examples (*.eml)".to_string()
        } else {
            for (class, path) in &sources {
                let path = path.to_string_lossy();
                let kept = mails.iter().filter(|m: &&Mail| &m.class == class).count();
                let messages = open_input(&path, &ReadLimits::default())
                    .unwrap_or_else(|e| panic!("{path}: {e}"));
                for m in messages.take(cap.saturating_sub(kept)) {
                    match m {
                        Ok(m) => mails.push(Mail {
                            class: class.clone(),
                            index: m.index,
                            bytes: m.bytes,
                        }),
                        Err(e) => eprintln!("warning: {e}"),
                    }
                }
            }
            mails.sort_by(|a, b| a.class.cmp(&b.class));
            "../shared/corpus/dev".to_string()
        };
        let mut classes: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        for (i, m) in mails.iter().enumerate() {
            match classes.last_mut() {
                Some((c, r)) if *c == m.class => r.end = i + 1,
                _ => classes.push((m.class.clone(), i..i + 1)),
            }
        }
        let corpus = Corpus {
            source,
            mails,
            classes,
        };
        assert!(!corpus.mails.is_empty(), "no messages in {}", corpus.source);
        corpus.describe(t.elapsed());
        corpus
    }

    fn bytes(&self, mails: &[Mail]) -> u64 {
        mails.iter().map(|m| m.bytes.len() as u64).sum()
    }

    fn describe(&self, took: Duration) {
        let mut sizes: Vec<usize> = self.mails.iter().map(|m| m.bytes.len()).collect();
        sizes.sort_unstable();
        let per_class: Vec<String> = self
            .classes
            .iter()
            .map(|(c, r)| {
                format!(
                    "{c} {} ({} MB)",
                    fmt_int(r.len() as u64),
                    fmt_mb(self.bytes(&self.mails[r.clone()]))
                )
            })
            .collect();
        println!(
            "corpus {}: {} messages, {} MB, read in {:.1} s; median {} bytes, largest {} bytes, \
             {} up to {} KB\n  {}",
            self.source,
            fmt_int(self.mails.len() as u64),
            fmt_mb(self.bytes(&self.mails)),
            took.as_secs_f64(),
            fmt_int(sizes[sizes.len() / 2] as u64),
            fmt_int(*sizes.last().unwrap_or(&0) as u64),
            fmt_int(sizes.iter().filter(|&&s| s <= PERCENTILE_MAX_BYTES).count() as u64),
            PERCENTILE_MAX_BYTES / 1024,
            per_class.join(", ")
        );
    }
}

/// Every `*.eml` below `dir`, sorted by path.
fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            eml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "eml") {
            out.push(p);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// generated messages

/// SplitMix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Ordinary business and newsletter words, some words of scams and phishing, a few non-ASCII
/// (one a line costs that line the tokenizer's ASCII fast path, as in real mail).
static WORDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| WORD_LIST.split_whitespace().collect());
const WORD_LIST: &str =
    "the the the and and to to of of a a in for is on that with you your your we our this be \
     are as at will have from by please can it not or all if any more account invoice payment \
     order delivery meeting schedule project report team customer service update information \
     attached review quarter budget contract agreement office week monday friday tomorrow \
     morning afternoon call discuss proposal draft final confirm details thanks regards \
     question support product price offer discount newsletter subscribe unsubscribe event \
     conference registration ticket shipping tracking warehouse supplier catalogue analysis \
     marketing campaign results growth revenue forecast security password verify login access \
     suspended urgent immediately confidential transfer funds bank beneficiary inheritance \
     million dollars compensation lottery winner claim fee processing release western union \
     barrister next kin deposit consignment diplomat congratulations selected limited time \
     free exclusive deal click here now today new best great important available online \
     website portal document signature approval manager director department colleague client \
     partner holiday lunch coffee travel hotel flight booking receipt refund balance \
     statement notice café résumé naïve Zürich Müller façade déjà über – €";

const NAMES: &[&str] = &[
    "Dana Whitfield",
    "Marcus Okafor",
    "Ingrid Sørensen",
    "Priya Raman",
    "Tomás Herrera",
    "Accounts Team",
];
const DOMAINS: &[&str] = &[
    "northwind-traders.com",
    "contoso-supplies.net",
    "fabrikam.co.uk",
    "tailspin-toys.de",
    "adventure-works.org",
    "litware-consulting.com",
];
const LINK_HOSTS: &[&str] = &[
    "www.northwind-traders.com",
    "portal.contoso-supplies.net",
    "track.mailer-cdn.io",
    "docs.cloud-drive.app",
    "secure-login.account-verify.info",
    "bit.ly",
    "www.fabrikam.co.uk",
];

/// A URL, an amount of money, a number or an e-mail address: what makes mail more than words.
fn special(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "https://{}/{}/{}?id={}&utm_source=mail",
            rng.pick(LINK_HOSTS),
            rng.pick(&["account", "orders", "docs", "track", "promo", "login"]),
            rng.pick(&[
                "invoice",
                "summer-sale",
                "statement",
                "confirm",
                "d/8f3a",
                "item"
            ]),
            rng.next() % 1_000_000
        ),
        1 => match rng.below(3) {
            0 => format!("${},{:03}.00", 1 + rng.below(99), rng.below(1000)),
            1 => format!("€{}", 10 + rng.below(5000)),
            _ => format!("US${},000,000", 1 + rng.below(45)),
        },
        2 => format!("{}", rng.next() % 100_000),
        _ => format!(
            "{}@{}",
            rng.pick(&["info", "sales", "j.smith", "support", "claims.office"]),
            rng.pick(DOMAINS)
        ),
    }
}

/// One paragraph of 2 to 5 sentences of 5 to 17 words.
fn paragraph(rng: &mut Rng) -> String {
    let mut p = String::new();
    for _ in 0..2 + rng.below(4) {
        let words = 5 + rng.below(13);
        for w in 0..words {
            if w > 0 {
                p.push(' ');
            }
            if rng.below(14) == 0 {
                p.push_str(&special(rng));
                continue;
            }
            let word = rng.pick(&WORDS);
            if w == 0 {
                let mut cs = word.chars();
                if let Some(first) = cs.next() {
                    p.extend(first.to_uppercase());
                    p.push_str(cs.as_str());
                }
            } else {
                p.push_str(word);
            }
            if w + 1 < words && rng.below(12) == 0 {
                p.push(',');
            }
        }
        p.push_str(rng.pick(&[".", ".", ".", "?", "!"]));
        p.push(' ');
    }
    p.pop();
    p
}

/// Wraps at 72 columns (on spaces), CRLF line ends.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split(' ') {
        if col > 0 && col + 1 + word.len() > 72 {
            out.push_str("\r\n");
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.len();
    }
    out
}

/// Quoted-printable (RFC 2045), lines of at most 76 characters, CRLF line ends.
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut col = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain = (b == b' ' && !last) || (b.is_ascii_graphic() && b != b'=');
            let width = if plain { 1 } else { 3 };
            if col + width > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            if plain {
                out.push(b as char);
            } else {
                let _ = write!(out, "={b:02X}");
            }
            col += width;
        }
    }
    out
}

/// Base64 (RFC 2045), lines of 76 characters, CRLF line ends.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 8);
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, &b)| n | (u32::from(b) << (16 - 8 * k)));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One paragraph as HTML between `open` and `close`; URLs become links with `link_attrs`.
fn html_paragraph(text: &str, open: &str, close: &str, link_attrs: &str) -> String {
    let mut out = String::from(open);
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.starts_with("https://") {
            let url = word.trim_end_matches(['.', ',', '?', '!']);
            let _ = write!(
                out,
                "<a href=\"{}\"{link_attrs}>{}</a>{}",
                url.replace('&', "&amp;"),
                url.split('/').nth(2).unwrap_or(url),
                &word[url.len()..]
            );
        } else {
            out.push_str(&word.replace('&', "&amp;").replace('<', "&lt;"));
        }
    }
    out.push_str(close);
    out
}

/// A message of about `size` bytes (at most `size`): headers and a multipart/alternative of a
/// quoted-printable text/plain and an HTML version of the same text. Under 16 KB the HTML is a
/// webmail's plain `<div>`s, quoted-printable; from 16 KB on it is a newsletter's styled tables,
/// base64, and a base64 PDF attachment takes about a fifth of the message (multipart/mixed).
fn generate_message(size: usize, seed: u64) -> Vec<u8> {
    // The same seed gives the same stream of paragraphs, so more budget only adds text:
    // bisect the text budget to land just under `size`.
    let (mut lo, mut hi) = (0usize, size);
    let mut best = build_message(0, size, seed);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let msg = build_message(mid, size, seed);
        if msg.len() <= size {
            best = msg;
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    best
}

fn build_message(text_budget: usize, size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let small = size < 16 * 1024;
    let sender = rng.pick(NAMES);
    let domain = rng.pick(DOMAINS);
    let local = sender
        .to_lowercase()
        .replace(' ', ".")
        .replace('ø', "o")
        .replace('á', "a");
    let mut subject = String::new();
    for i in 0..4 + rng.below(5) {
        if i > 0 {
            subject.push(' ');
        }
        subject.push_str(rng.pick(&WORDS));
    }
    let tag = rng.next();

    // Paragraphs: always the same ones in the same order for this seed.
    let greeting = rng.pick(&["colleague", "customer", "Sir", "Ms Lee"]);
    let mut paragraphs = vec![format!("Dear {greeting},")];
    let mut plain_len = 0;
    while plain_len < text_budget {
        let mut p = paragraph(&mut rng);
        // Cut the last paragraph at a space so the size follows the budget closely.
        let over = (plain_len + p.len()).saturating_sub(text_budget);
        if over > 0 {
            let mut keep = p.len().saturating_sub(over);
            while !p.is_char_boundary(keep) {
                keep -= 1;
            }
            let cut = p[..keep].rfind(' ').unwrap_or(0);
            p.truncate(cut);
            p.push('.');
        }
        plain_len += p.len() + 4;
        paragraphs.push(p);
    }
    paragraphs.push(format!("Kind regards, {sender} https://www.{domain}/"));

    let plain: Vec<String> = paragraphs.iter().map(|p| wrap(p)).collect();
    let plain = quoted_printable(&plain.join("\r\n\r\n"));
    let (html, html_encoding) = if small {
        let mut html = String::from("<div dir=\"ltr\">");
        for p in &paragraphs {
            html.push_str(&html_paragraph(p, "<div>", "</div><div><br></div>", ""));
        }
        html.push_str("</div>\r\n");
        (quoted_printable(&html), "quoted-printable")
    } else {
        let mut html = String::from(
            "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>message</title>\r\n\
             <style>body{margin:0;padding:0}table{border-collapse:collapse}</style></head>\r\n\
             <body><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\">\
             <tr><td align=\"center\"><table width=\"600\" style=\"background:#ffffff;\"><tr><td>\r\n",
        );
        for p in &paragraphs {
            html.push_str(&html_paragraph(
                p,
                "<p style=\"margin:0 0 12px 0;font-family:Arial,Helvetica,sans-serif;\
                 font-size:14px;line-height:20px;color:#333333;\">",
                "</p>\r\n",
                " style=\"color:#1a73e8;text-decoration:underline;\" target=\"_blank\"",
            ));
        }
        let _ = write!(
            html,
            "<p style=\"font-size:11px;color:#999999;\">You receive this mail because you are a \
             customer of {domain}. <a href=\"https://www.{domain}/unsubscribe?u={tag:x}\">\
             Unsubscribe</a></p>\r\n</td></tr></table></td></tr></table></body></html>\r\n"
        );
        (base64(html.as_bytes()), "base64")
    };

    let mut m = String::new();
    let _ = write!(
        m,
        "From: \"{sender}\" <{local}@{domain}>\r\n\
         To: \"Accounts\" <accounts@contoso-supplies.net>\r\n\
         Subject: {subject}\r\n\
         Date: Tue, 12 Nov 2024 09:41:27 +0100\r\n\
         Message-ID: <{tag:016x}@mail.{domain}>\r\n\
         MIME-Version: 1.0\r\n"
    );
    if !small {
        let _ = write!(
            m,
            "Cc: j.smith@fabrikam.co.uk\r\n\
             X-Mailer: Microsoft Outlook 16.0\r\n\
             Content-Type: multipart/mixed; boundary=\"=_mixed_{tag:x}\"\r\n\
             \r\n\
             This is a multi-part message in MIME format.\r\n\
             --=_mixed_{tag:x}\r\n"
        );
    }
    let _ = write!(
        m,
        "Content-Type: multipart/alternative; boundary=\"=_alt_{tag:x}\"\r\n\
         \r\n\
         --=_alt_{tag:x}\r\n\
         Content-Type: text/plain; charset=\"utf-8\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         {plain}\r\n\
         --=_alt_{tag:x}\r\n\
         Content-Type: text/html; charset=\"utf-8\"\r\n\
         Content-Transfer-Encoding: {html_encoding}\r\n\
         \r\n\
         {html}\r\n\
         --=_alt_{tag:x}--\r\n"
    );
    if !small {
        let mut pdf =
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
        while pdf.len() < size * 3 / 20 {
            pdf.extend_from_slice(&rng.next().to_le_bytes());
        }
        let _ = write!(
            m,
            "\r\n--=_mixed_{tag:x}\r\n\
             Content-Type: application/pdf; name=\"statement-{n:04}.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"statement-{n:04}.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             \r\n\
             {}\r\n\
             --=_mixed_{tag:x}--\r\n",
            base64(&pdf),
            n = tag % 10_000,
        );
    }
    m.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// timing, options, output

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

#[derive(Clone, Copy)]
struct Stat {
    median: Duration,
    min: Duration,
}

/// Runs every job once per round, `rounds` rounds, interleaved so that a change in machine load
/// hits every job alike; the median and fastest pass of each.
fn interleaved<const N: usize>(rounds: usize, mut jobs: [&mut dyn FnMut(); N]) -> [Stat; N] {
    let mut times = vec![Vec::with_capacity(rounds); N];
    for _ in 0..rounds {
        for (job, t) in jobs.iter_mut().zip(&mut times) {
            t.push(timed(job));
        }
    }
    std::array::from_fn(|i| {
        let t = &mut times[i];
        t.sort_unstable();
        Stat {
            median: t[t.len() / 2],
            min: t[0],
        }
    })
}

/// Median time of one call of `f`, over at least 0.3 s (one call in test mode).
fn time_per_call(opts: &Opts, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    let mut per_call = Vec::new();
    let start = Instant::now();
    while per_call.is_empty() || (!opts.quick && start.elapsed() < Duration::from_millis(300)) {
        // Batches of calls, so that timer overhead does not count on 1 KB messages.
        let batch = 16;
        let t = timed(|| (0..batch).for_each(|_| f()));
        per_call.push(t / batch);
    }
    per_call.sort_unstable();
    per_call[per_call.len() / 2]
}

/// Criterion settings for a benchmark of one pass over the corpus taking about `pass`:
/// 10 samples of 2 passes each (1 pass per sample makes criterion warn).
fn corpus_settings(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    pass: Duration,
) {
    let target = (pass * 2 * CORPUS_SAMPLES as u32).mul_f64(1.1);
    g.sample_size(CORPUS_SAMPLES)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(target.max(Duration::from_millis(500)));
}

fn ids(part: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{part}/{n}")).collect()
}

/// What the command line asks for (criterion parses it too; this only decides which parts to
/// prepare and report).
struct Opts {
    filter: Option<String>,
    exact: bool,
    /// Test mode (`cargo test --benches`) or `--list`: one pass, a small corpus.
    quick: bool,
    list: bool,
}

/// Criterion's options that take a value.
const VALUE_OPTIONS: &[&str] = &[
    "-c",
    "--color",
    "--colour",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

impl Opts {
    fn from_args() -> Opts {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut filter = None;
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            if VALUE_OPTIONS.contains(&a) {
                i += 1;
            } else if !a.starts_with('-') && filter.is_none() {
                filter = Some(a.to_string());
            }
            i += 1;
        }
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let list = has("--list");
        Opts {
            filter,
            exact: has("--exact"),
            quick: has("--test") || !has("--bench") || list,
            list,
        }
    }

    /// Whether a part runs: see the filter rules in the file's documentation.
    fn wants(&self, part: &str, ids: &[String]) -> bool {
        let Some(filter) = &self.filter else {
            return true;
        };
        if self.exact {
            return ids.iter().any(|id| id == filter);
        }
        if filter.contains([
            '^', '$', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '\\',
        ]) {
            return true;
        }
        filter
            .split('|')
            .any(|alt| part.contains(alt) || ids.iter().any(|id| id.contains(alt)))
    }

    fn rounds(&self, n: usize) -> usize {
        if self.quick {
            1
        } else {
            n
        }
    }
}

/// The printed reports, repeated together at the end.
struct Summary {
    reports: Vec<String>,
    load_before: String,
    quiet: bool,
}

impl Summary {
    fn new(opts: &Opts) -> Summary {
        let load_before = load_average();
        if !opts.list {
            println!(
                "sendguard bench: {} CPUs available, load average {load_before}{}",
                std::thread::available_parallelism().map_or(0, |n| n.get()),
                if opts.quick {
                    " (test mode: one pass over a few messages, perhaps a debug build; the figures mean nothing)"
                } else {
                    ""
                }
            );
        }
        Summary {
            reports: Vec::new(),
            load_before,
            // In test mode the figures are of one pass over a few messages, often a debug build.
            quiet: opts.list || opts.quick,
        }
    }

    fn report(&mut self, text: String) {
        println!("\n{text}");
        self.reports.push(text);
    }

    fn print(&self) {
        if self.quiet || self.reports.is_empty() {
            return;
        }
        println!("\n================ sendguard bench summary ================");
        println!(
            "load average (1, 5, 15 min): before {}, after {}\n",
            self.load_before,
            load_average()
        );
        for r in &self.reports {
            println!("{r}");
        }
    }
}

/// The first three fields of /proc/loadavg, or "unknown".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

fn fmt_int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn fmt_rate(n: u64, d: Duration) -> String {
    fmt_int((n as f64 / d.as_secs_f64()).round() as u64)
}

fn fmt_mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1e6)
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}
