//! Milter load benchmark: many concurrent milter sessions against the milter in this process.
//!
//! ```sh
//! cargo bench --bench milter                                # 200 sessions, 10,000 messages, TCP
//! SENDGUARD_BENCH_SOCKET=unix cargo bench --bench milter    # the same over a Unix socket
//! SENDGUARD_BENCH_SESSIONS=1 SENDGUARD_BENCH_MESSAGES=2000 SENDGUARD_BENCH_SOCKET=unix \
//!     cargo bench --bench milter                            # one session: latency unloaded
//! ```
//!
//! Not criterion (`harness = false`): a plain `main` that prints one report (about 10 s, plus
//! the build). It starts the milter in-process as `sendguard milter` does — `Milter::new` with
//! the default settings but `max_connections` raised to the session count
//! (`SENDGUARD_BENCH_MAX_CONNECTIONS` overrides it; with the default 100, half of 200 sessions
//! would wait to be accepted), served with `indymilter::run` over `Milter::callbacks()` and
//! `Milter::indymilter_config()` (what `sendguard::milter::serve` runs, without its signal
//! handlers and metrics endpoint) — and drives it with the indymilter-test client:
//! `SENDGUARD_BENCH_SESSIONS` (default 200) tokio tasks, each opening one milter connection per
//! message and holding a full conversation as Postfix does (negotiate, connect, helo, macros,
//! mail, rcpt, data, every header, eoh, the body, macros `i` and `{auth_authen}`, eom, close; a
//! stage the milter declines at negotiation is skipped, as Postfix skips it), until
//! `SENDGUARD_BENCH_MESSAGES` (default 10,000) messages are done. Client and milter share one
//! tokio runtime (one worker thread per core), so the client's own work is in the figures: on
//! a 2-core machine the milter gets less than both cores.
//!
//! `SENDGUARD_BENCH_SOCKET` chooses the transport: `tcp` (default; a listener on 127.0.0.1:0,
//! TCP_NODELAY on the milter's accepted connections as `serve` sets it), `tcp-nagle` (the same
//! without TCP_NODELAY, for comparison), or `unix` (a socket file in the temporary directory).
//! Over TCP much of the time is Nagle's algorithm meeting delayed ACKs, not the milter: two small writes in a
//! row (a macro packet then a command from the client; a header action then the final reply
//! from the milter) wait up to 40 ms for the peer's ACK. The Unix socket shows the milter's own
//! cost; indymilter-test offers no way to set TCP_NODELAY on the client side.
//!
//! Messages: `../shared/corpus/dev/{ham,spam,phishing,fraud}.mbox.gz` when that directory
//! exists beside the checkout (up to 500 per class, interleaved so every stretch of the run
//! mixes the classes), else every `tests/fixtures/**/*.eml` and `data/examples/*.eml`; read
//! into memory and split into header fields and a CRLF body before anything is timed. They
//! are cycled to make up the message count. The model is `models/default.sgm` (or
//! `$SENDGUARD_MODEL`, as for the CLI). The milter's log lines are formatted as in production
//! (tracing, level info) and written to nowhere.
//!
//! Report: errors (a client error, a tempfail, or an accepted message without the X-Sendguard
//! header; must be 0 — the process exits 1 otherwise), what the milter answered (accept,
//! quarantine, reject) and the verdicts in its headers (a rejected message gets none), wall
//! time, messages/s, p50/p90/p99/max of the end-of-message round trip (eom sent to the final
//! reply: scoring and the header) and of the whole conversation (connect to close), and the
//! peak RSS of the process, client included (VmHWM in /proc/self/status), before the milter
//! started (corpus and model loaded) and at the end. The load average is printed with it: read
//! the figures with it on a shared machine.
//!
//! `cargo test --benches` (or `--all-targets`) runs it once small: 20 sessions, 200 messages.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indymilter::Listener;
use indymilter_test::{EomAction, MacroStage, ProtoOpts, Status, TestConnection};
use sendguard::corpus::{open_input, ReadLimits};
use sendguard::milter::{Milter, MilterConfig};
use sendguard::Classifier;

/// One message, split as an MTA hands it to a milter.
struct Prepared {
    class: String,
    headers: Vec<(CString, CString)>,
    body: Vec<u8>,
}

/// How the client reaches the milter.
#[derive(Clone, Copy, Debug)]
enum Transport {
    /// TCP on 127.0.0.1; `nodelay` sets TCP_NODELAY on the milter's accepted connections.
    Tcp { nodelay: bool },
    /// A Unix socket in the temporary directory.
    Unix,
}

enum Target {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

/// A TCP listener that can turn Nagle's algorithm off on the connections it accepts.
struct NoDelay {
    listener: tokio::net::TcpListener,
    nodelay: bool,
}

impl Listener for NoDelay {
    type Io = tokio::net::TcpStream;

    fn poll_accept(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<Self::Io>> {
        self.listener.poll_accept(cx).map_ok(|(stream, _)| {
            if self.nodelay {
                let _ = stream.set_nodelay(true);
            }
            stream
        })
    }
}

/// What one conversation ended with.
#[derive(Default)]
struct Tally {
    errors: Vec<String>,
    replies: BTreeMap<String, usize>,
    verdicts: BTreeMap<String, usize>,
    eom: Vec<Duration>,
    whole: Vec<Duration>,
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: then run small.
    let full = std::env::args().any(|a| a == "--bench");
    let sessions = env_usize("SENDGUARD_BENCH_SESSIONS", if full { 200 } else { 20 });
    let total = env_usize("SENDGUARD_BENCH_MESSAGES", if full { 10_000 } else { 200 });
    let per_class = if full { 500 } else { 40 };
    let max_connections = env_usize("SENDGUARD_BENCH_MAX_CONNECTIONS", sessions);
    let transport = match std::env::var("SENDGUARD_BENCH_SOCKET").as_deref() {
        Ok("tcp") | Err(_) => Transport::Tcp { nodelay: true },
        Ok("tcp-nagle") => Transport::Tcp { nodelay: false },
        Ok("unix") => Transport::Unix,
        Ok(other) => panic!("SENDGUARD_BENCH_SOCKET={other}: tcp, tcp-nagle or unix"),
    };

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model_path = sendguard::default_model_path()
        .expect("the bench needs the default model (models/default.sgm or $SENDGUARD_MODEL)");
    let classifier = Classifier::load(&model_path).expect("the default model loads");
    let (messages, source) = load_messages(root, per_class, &classifier);
    assert!(!messages.is_empty(), "no messages found in {source}");

    // The milter's log lines are formatted as in production, then dropped.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();

    let load_before = load_average();
    let rss_before = vm_hwm_kib();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let messages = Arc::new(messages);
    let (tally, wall) = runtime.block_on(run(
        classifier,
        model_path,
        Arc::clone(&messages),
        sessions,
        total,
        max_connections,
        transport,
    ));
    let rss_after = vm_hwm_kib();
    let load_after = load_average();

    let mut by_class: BTreeMap<&str, usize> = BTreeMap::new();
    for m in messages.iter() {
        *by_class.entry(&m.class).or_default() += 1;
    }
    println!(
        "milter load: {sessions} concurrent sessions, {total} messages (one connection each), \
         max_connections {max_connections}, {transport:?}"
    );
    println!(
        "  messages: {} distinct from {source} ({}), cycled",
        messages.len(),
        by_class
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  errors: {}{}",
        tally.errors.len(),
        match tally.errors.first() {
            Some(e) => format!(" (first: {e})"),
            None => String::new(),
        }
    );
    println!("  milter replies: {}", join_counts(&tally.replies));
    println!("  X-Sendguard verdicts: {}", join_counts(&tally.verdicts));
    let secs = wall.as_secs_f64();
    println!(
        "  wall time {:.2} s, {:.0} messages/s",
        secs,
        tally.whole.len() as f64 / secs
    );
    println!(
        "  end-of-message round trip: {}",
        percentiles(tally.eom.clone())
    );
    println!(
        "  whole conversation:        {}",
        percentiles(tally.whole.clone())
    );
    println!(
        "  peak RSS (VmHWM): {:.1} MiB before the milter started (corpus and model loaded), {:.1} MiB at the end",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!(
        "  load average {} before, {} after; {} cores",
        load_before,
        load_after,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if !tally.errors.is_empty() {
        for e in tally.errors.iter().take(10) {
            eprintln!("error: {e}");
        }
        std::process::exit(1);
    }
}

async fn run(
    classifier: Classifier,
    model_path: PathBuf,
    messages: Arc<Vec<Prepared>>,
    sessions: usize,
    total: usize,
    max_connections: usize,
    transport: Transport,
) -> (Tally, Duration) {
    // indymilter serves at most `max_connections` (default 100) at once and leaves the rest
    // waiting to be accepted; the bench is about 200 sessions served concurrently, so it
    // raises the limit to the session count unless told otherwise.
    let config = MilterConfig {
        max_connections,
        ..MilterConfig::default()
    };
    let milter = Milter::new(config, classifier, Some(model_path));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let (target, server) = match transport {
        Transport::Tcp { nodelay } => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local address");
            let listener = NoDelay { listener, nodelay };
            let server = tokio::spawn(indymilter::run(
                listener,
                milter.callbacks(),
                milter.indymilter_config(),
                shutdown,
            ));
            (Target::Tcp(addr), server)
        }
        Transport::Unix => {
            let path =
                std::env::temp_dir().join(format!("sendguard-bench-{}.sock", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path).expect("bind the Unix socket");
            let server = tokio::spawn(indymilter::run(
                listener,
                milter.callbacks(),
                milter.indymilter_config(),
                shutdown,
            ));
            (Target::Unix(path), server)
        }
    };
    let target = Arc::new(target);

    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let (next, tally, messages, target) = (
            Arc::clone(&next),
            Arc::clone(&tally),
            Arc::clone(&messages),
            Arc::clone(&target),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let message = &messages[n % messages.len()];
                let begun = Instant::now();
                let outcome = conversation(&target, n, message).await;
                let whole = begun.elapsed();
                let mut t = tally.lock().unwrap();
                match outcome {
                    Ok(o) => {
                        t.whole.push(whole);
                        t.eom.push(o.eom);
                        *t.replies.entry(o.reply).or_default() += 1;
                        *t.verdicts.entry(o.verdict).or_default() += 1;
                    }
                    Err(e) => t
                        .errors
                        .push(format!("message {n} ({}): {e}", message.class)),
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a client task panicked");
    }
    let wall = start.elapsed();
    let _ = stop.send(());
    server
        .await
        .expect("the milter task panicked")
        .expect("the milter stopped with an error");
    if let Target::Unix(path) = &*target {
        let _ = std::fs::remove_file(path);
    }
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    (tally, wall)
}

struct Outcome {
    eom: Duration,
    reply: String,
    verdict: String,
}

/// One message's conversation on its own connection, as Postfix's smtpd holds it.
async fn conversation(target: &Target, n: usize, m: &Prepared) -> Result<Outcome, String> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err: indymilter_test::TestError| format!("{what}: {err}")
    };
    let mut conn = match target {
        Target::Tcp(addr) => TestConnection::open(addr).await,
        Target::Unix(path) => TestConnection::configure().open_unix(path).await,
    }
    .map_err(e("open"))?;
    // Like Postfix, skip the stages the milter declined at negotiation (it has no `data`
    // callback, for one).
    let opts = conn.negotiated_opts();
    let wants = |skip: ProtoOpts| !opts.contains(skip);
    if wants(ProtoOpts::NO_CONNECT) {
        let status = conn.connect("client.test", [127, 0, 0, 1]).await;
        step(status.map_err(e("connect"))?, "connect")?;
    }
    if wants(ProtoOpts::NO_HELO) {
        step(conn.helo("client.test").await.map_err(e("helo"))?, "helo")?;
    }
    let user = format!("user{}", n % 50);
    conn.macros(MacroStage::Mail, [("{auth_authen}", user.clone())])
        .await
        .map_err(e("macros"))?;
    if wants(ProtoOpts::NO_MAIL) {
        let status = conn.mail([format!("<{user}@example.com>")]).await;
        step(status.map_err(e("mail"))?, "mail")?;
    }
    if wants(ProtoOpts::NO_RCPT) {
        step(
            conn.rcpt(["<bob@example.org>"]).await.map_err(e("rcpt"))?,
            "rcpt",
        )?;
    }
    if wants(ProtoOpts::NO_DATA) {
        step(conn.data().await.map_err(e("data"))?, "data")?;
    }
    if wants(ProtoOpts::NO_HEADER) {
        for (name, value) in &m.headers {
            let status = conn.header(name.clone(), value.clone()).await;
            step(status.map_err(e("header"))?, "header")?;
        }
    }
    if wants(ProtoOpts::NO_EOH) {
        step(conn.eoh().await.map_err(e("eoh"))?, "eoh")?;
    }
    if wants(ProtoOpts::NO_BODY) {
        step(conn.body(m.body.clone()).await.map_err(e("body"))?, "body")?;
    }
    conn.macros(
        MacroStage::Eom,
        [("i", format!("{n:010X}")), ("{auth_authen}", user)],
    )
    .await
    .map_err(e("macros"))?;
    let sent = Instant::now();
    let (actions, status) = conn.eom().await.map_err(e("eom"))?;
    let eom = sent.elapsed();
    conn.close().await.map_err(e("close"))?;

    let header = actions.actions.iter().find_map(|a| match a {
        EomAction::AddHeader { name, value } | EomAction::InsertHeader { name, value, .. }
            if name.to_bytes().eq_ignore_ascii_case(b"X-Sendguard") =>
        {
            Some(String::from_utf8_lossy(value.to_bytes()).trim().to_string())
        }
        _ => None,
    });
    let quarantined = actions
        .actions
        .iter()
        .any(|a| matches!(a, EomAction::Quarantine { .. }));
    let reply = match &status {
        Status::Accept | Status::Continue if quarantined => "quarantine".to_string(),
        Status::Accept | Status::Continue => "accept".to_string(),
        Status::Reject { message } => match message {
            Some(text) => {
                let text = String::from_utf8_lossy(text.to_bytes());
                format!(
                    "reject {}",
                    text.split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
            None => "reject".to_string(),
        },
        Status::Tempfail { message } => return Err(format!("eom: tempfail {message:?}")),
        other => format!("{other:?}").to_lowercase(),
    };
    let verdict = match header {
        Some(h) => h.split_whitespace().next().unwrap_or("").to_string(),
        None if reply.starts_with("reject") => "(rejected, no header)".to_string(),
        None => return Err(format!("eom: {reply} without an X-Sendguard header")),
    };
    Ok(Outcome {
        eom,
        reply,
        verdict,
    })
}

/// A reply before end-of-message: continuing is the only answer that is not an error here.
fn step(status: Status, stage: &str) -> Result<(), String> {
    match status {
        Status::Continue | Status::Noreply | Status::Skip => Ok(()),
        other => Err(format!("{stage}: {other:?}")),
    }
}

/// Messages per class, interleaved (ham, spam, phishing, fraud, ham, ...). Messages the
/// classifier cannot read (an empty file) are left out: the milter tempfails those by design.
fn load_messages(
    root: &Path,
    per_class: usize,
    classifier: &Classifier,
) -> (Vec<Prepared>, String) {
    let corpus = root.join("../shared/corpus/dev");
    let readable = |raw: &Vec<u8>| classifier.score(raw).is_ok();
    let mut classes: Vec<Vec<Prepared>> = Vec::new();
    let source = if corpus.is_dir() {
        for class in ["ham", "spam", "phishing", "fraud"] {
            let path = corpus.join(format!("{class}.mbox.gz"));
            let Ok(input) = open_input(&path.to_string_lossy(), &ReadLimits::default()) else {
                continue;
            };
            classes.push(
                input
                    .filter_map(Result::ok)
                    .map(|m| m.bytes)
                    .filter(readable)
                    .take(per_class)
                    .map(|b| prepare(class, &b))
                    .collect(),
            );
        }
        "../shared/corpus/dev".to_string()
    } else {
        let mut files = Vec::new();
        eml_files(&root.join("tests/fixtures"), &mut files);
        eml_files(&root.join("data/examples"), &mut files);
        files.sort();
        classes.push(
            files
                .iter()
                .filter_map(|f| std::fs::read(f).ok())
                .filter(readable)
                .map(|b| prepare("fixture", &b))
                .collect(),
        );
        "tests/fixtures + data/examples".to_string()
    };
    let mut out = Vec::new();
    let mut iters: Vec<_> = classes.into_iter().map(Vec::into_iter).collect();
    loop {
        let before = out.len();
        for it in iters.iter_mut() {
            out.extend(it.next());
        }
        if out.len() == before {
            break;
        }
    }
    (out, source)
}

fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            eml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "eml") {
            out.push(path);
        }
    }
}

/// Split raw mail into unfolded header fields and a CRLF body, as an MTA sends them.
fn prepare(class: &str, raw: &[u8]) -> Prepared {
    let mut lines: Vec<&[u8]> = raw.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let strip = |l: &[u8]| -> Vec<u8> { l.strip_suffix(b"\r").unwrap_or(l).to_vec() };
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = strip(lines[i]);
        i += 1;
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = headers.last_mut() {
                value.extend_from_slice(b"\r\n");
                value.extend_from_slice(&line);
            }
            continue;
        }
        if line.starts_with(b"From ") && headers.is_empty() {
            continue; // an mbox separator left in place
        }
        match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let name = line[..colon].trim_ascii_end().to_vec();
                let value = line[colon + 1..].trim_ascii_start().to_vec();
                headers.push((name, value));
            }
            None => {
                // Not a header: the body starts here (a message without a blank line).
                i -= 1;
                break;
            }
        }
    }
    let mut body = Vec::with_capacity(raw.len());
    for line in &lines[i..] {
        body.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        body.extend_from_slice(b"\r\n");
    }
    let c = |mut v: Vec<u8>| {
        v.retain(|&b| b != 0);
        CString::new(v).expect("NULs removed")
    };
    Prepared {
        class: class.to_string(),
        headers: headers.into_iter().map(|(n, v)| (c(n), c(v))).collect(),
        body,
    }
}

fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no samples".to_string();
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} samples)",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(*v.last().unwrap()),
        v.len()
    )
}

fn join_counts(m: &BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Peak resident set size of this process in KiB (VmHWM), 0 where /proc is missing.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_string())
}
