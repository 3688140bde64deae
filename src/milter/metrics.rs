//! Counters and the latency histogram, in Prometheus text format, and the tiny HTTP server
//! that serves them (`GET /metrics`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Action, Milter};
use crate::{Class, Verdict};

/// Upper bounds of the scan-latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const VERDICTS: [Verdict; 4] = [Verdict::Pass, Verdict::Tag, Verdict::Hold, Verdict::Reject];

/// Why a message was not scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The scan took longer than `scan_timeout_ms`.
    Timeout,
    /// Scoring or the policy panicked, or an MTA action failed.
    Internal,
    /// The message could not be read as mail (e.g. empty).
    Unscorable,
}

impl ErrorKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
            ErrorKind::Unscorable => "unscorable",
        }
    }
    const ALL: [ErrorKind; 3] = [
        ErrorKind::Timeout,
        ErrorKind::Internal,
        ErrorKind::Unscorable,
    ];
}

/// Everything counted since start.
#[derive(Default)]
pub(crate) struct Metrics {
    messages: [[AtomicU64; 4]; 4],
    actions: [AtomicU64; 4],
    errors: [AtomicU64; 3],
    unscanned: AtomicU64,
    exempt: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    scan_count: AtomicU64,
    scan_micros: AtomicU64,
}

fn action_index(a: Action) -> usize {
    match a {
        Action::Accept => 0,
        Action::Hold => 1,
        Action::Reject => 2,
        Action::Tempfail => 3,
    }
}
const ACTIONS: [Action; 4] = [
    Action::Accept,
    Action::Hold,
    Action::Reject,
    Action::Tempfail,
];

impl Metrics {
    pub(crate) fn scored(&self, verdict: Verdict, class: Class) {
        self.messages[verdict as usize][class.index()].fetch_add(1, Relaxed);
    }
    pub(crate) fn action(&self, a: Action) {
        self.actions[action_index(a)].fetch_add(1, Relaxed);
    }
    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors[kind as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn unscanned(&self) {
        self.unscanned.fetch_add(1, Relaxed);
    }
    pub(crate) fn exempt(&self) {
        self.exempt.fetch_add(1, Relaxed);
    }
    pub(crate) fn reload(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .fetch_add(1, Relaxed);
    }
    pub(crate) fn scan_time(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                b.fetch_add(1, Relaxed);
            }
        }
        self.scan_count.fetch_add(1, Relaxed);
        self.scan_micros
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self, model_version: &str, model_checksum: &str) -> String {
        let mut o = String::with_capacity(4096);
        let _ = writeln!(o, "# HELP sendguard_messages_total Messages scored, by verdict and by the class named in the header.");
        let _ = writeln!(o, "# TYPE sendguard_messages_total counter");
        for v in VERDICTS {
            for c in Class::ALL {
                let n = self.messages[v as usize][c.index()].load(Relaxed);
                let _ = writeln!(
                    o,
                    "sendguard_messages_total{{verdict=\"{v}\",class=\"{}\"}} {n}",
                    c.name()
                );
            }
        }
        let _ = writeln!(o, "# HELP sendguard_actions_total Answers given to the MTA for scored messages and errors (dry-run: accept).");
        let _ = writeln!(o, "# TYPE sendguard_actions_total counter");
        for a in ACTIONS {
            let n = self.actions[action_index(a)].load(Relaxed);
            let _ = writeln!(
                o,
                "sendguard_actions_total{{action=\"{}\"}} {n}",
                a.as_str()
            );
        }
        let _ = writeln!(
            o,
            "# HELP sendguard_errors_total Messages that could not be scored, by cause."
        );
        let _ = writeln!(o, "# TYPE sendguard_errors_total counter");
        for k in ErrorKind::ALL {
            let n = self.errors[k as usize].load(Relaxed);
            let _ = writeln!(o, "sendguard_errors_total{{kind=\"{}\"}} {n}", k.as_str());
        }
        let _ = writeln!(o, "# HELP sendguard_unscanned_total Messages accepted unscanned because they exceed max_message_bytes.");
        let _ = writeln!(o, "# TYPE sendguard_unscanned_total counter");
        let _ = writeln!(
            o,
            "sendguard_unscanned_total {}",
            self.unscanned.load(Relaxed)
        );
        let _ = writeln!(o, "# HELP sendguard_exempt_total Messages accepted unscanned because the sender or user is exempt.");
        let _ = writeln!(o, "# TYPE sendguard_exempt_total counter");
        let _ = writeln!(o, "sendguard_exempt_total {}", self.exempt.load(Relaxed));
        let _ = writeln!(
            o,
            "# HELP sendguard_reloads_total Model reloads (SIGHUP), by result."
        );
        let _ = writeln!(o, "# TYPE sendguard_reloads_total counter");
        let _ = writeln!(
            o,
            "sendguard_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "sendguard_reloads_total{{result=\"failed\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        let _ = writeln!(o, "# HELP sendguard_scan_seconds Time to score a message (parse, score, explain, policy).");
        let _ = writeln!(o, "# TYPE sendguard_scan_seconds histogram");
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                o,
                "sendguard_scan_seconds_bucket{{le=\"{bound}\"}} {}",
                b.load(Relaxed)
            );
        }
        let count = self.scan_count.load(Relaxed);
        let _ = writeln!(o, "sendguard_scan_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            o,
            "sendguard_scan_seconds_sum {}",
            self.scan_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "sendguard_scan_seconds_count {count}");
        let _ = writeln!(
            o,
            "# HELP sendguard_model_info The model in use: its creation time and checksum."
        );
        let _ = writeln!(o, "# TYPE sendguard_model_info gauge");
        let _ = writeln!(
            o,
            "sendguard_model_info{{version=\"{}\",checksum=\"{}\"}} 1",
            label(model_version),
            label(model_checksum)
        );
        let _ = writeln!(o, "# HELP sendguard_build_info The sendguard build.");
        let _ = writeln!(o, "# TYPE sendguard_build_info gauge");
        let _ = writeln!(
            o,
            "sendguard_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        o
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Longest request head read; anything longer is answered 431 and closed.
const MAX_REQUEST: usize = 8192;
/// A client must send its request within this time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` on `listener` until the task is dropped: HTTP/1.1, one request per
/// connection, `200 text/plain; version=0.0.4` for `GET /metrics`, 404 for anything else,
/// 431 for a request head over 8 KiB; a client has 5 s to send its request.
pub async fn serve_metrics(milter: Arc<Milter>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // A client that gave up between SYN and accept is not our failure.
            Err(e) if is_transient(&e) => continue,
            Err(e) => return Err(e),
        };
        let milter = milter.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(&milter, stream)).await;
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(libc::EMFILE)
        || e.raw_os_error() == Some(libc::ENFILE)
}

async fn answer(milter: &Milter, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let complete = loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if buf.len() >= MAX_REQUEST {
            break false;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break buf.contains(&b'\n');
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (status, body) = if !complete {
        ("431 Request Header Fields Too Large", String::new())
    } else {
        let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_ascii_whitespace();
        let method = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        match (method, path) {
            ("GET", "/metrics") => ("200 OK", milter.metrics_text()),
            _ => ("404 Not Found", "not found; try GET /metrics\n".to_string()),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
