//! `sendguard batch`: score many messages in parallel — files, directories, Maildirs, mboxes and
//! the Postfix queue — streaming in input order, with a summary at the end; optionally put
//! flagged queued mail on hold.
//!
//! Streaming: messages are read in chunks (at most [`CHUNK_MESSAGES`] messages or about
//! [`CHUNK_BYTES`] bytes), and a chunk is scored in parallel on a dedicated thread pool while,
//! on the same pool, the next one is read and the rows of the previous one are written, in
//! input order. At most three chunks are in memory, so memory stays flat however long the
//! input is. With `--jobs 1` everything happens on one thread, one chunk at a time.

use std::collections::HashMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sendguard::corpus::{open_input, Messages, RawMessage, ReadLimits};
use sendguard::{Class, Classifier, Verdict, Verdicted};

use crate::postfix::{Fetched, PostfixTools, QueueEntry, QueueSelection};

/// Most messages in one chunk.
pub const CHUNK_MESSAGES: usize = 256;
/// A chunk is closed once its messages reach this many bytes.
pub const CHUNK_BYTES: usize = 32 << 20;
/// How many senders the summary names.
const TOP_SENDERS: usize = 10;

/// What `batch --help` says after the options.
pub const BATCH_HELP: &str = "\
Output (standard output, in input order whatever --jobs is):
  jsonl  one JSON object per message, as `score --json` prints it, plus \"queue_id\" and
         \"queue\" (null unless the message was read from the Postfix queue) and \"sender\"
         (the envelope sender for queued mail, \"\" for a bounce; else the From: address,
         null when there is none). A message that cannot be read or scored gives
         {\"input\", \"index\", \"message_id\": null, \"error\", \"queue_id\", \"queue\", \"sender\"}.
  csv    the same fields after one header line; reasons as \"feature +contribution\" joined
         by \"; \"; error rows have only the error column filled after sender.
  table  aligned columns for people (subject included, control characters blanked).
Reasons (the features behind a verdict) are given for flagged messages only — verdict tag,
hold or reject — and are [] for pass: explaining parses a message a second time, and a queue
is mostly mail that passes. --explain-all explains every message; --reasons 0 none.

Standard error: one line per message that could not be read (the run goes on), a note per
queued message that left the queue between listing and reading (skipped, not an error),
`would hold`/`held` lines, a progress bar when standard error is a terminal, and at the end
a summary: counts per verdict and per class, errors, messages per second, and the ten
senders with most flagged messages (verdict tag, hold or reject).

Postfix queue (--postfix-queue; needs a running Postfix, and root to read queued mail):
  the queue is listed once with `postqueue -j`, then each selected message is read with
  `postcat -hb -q ID`, in parallel on the scoring threads. A message that has left the queue
  by then is skipped with a note. --postfix-config DIR passes `-c DIR` to the Postfix tools
  ($MAIL_CONFIG works too); $SENDGUARD_POSTQUEUE, $SENDGUARD_POSTCAT and
  $SENDGUARD_POSTSUPER name other commands. Queue IDs go to the tools only if they are
  letters and digits.
  --hold-flagged: queued messages whose verdict is hold or reject and that are not already
  in the hold queue are put on hold with `postsuper -h -`, after each chunk of messages (so
  an interrupted run has held what it found). Without --apply it is a dry run that only
  prints `would hold ID (reason)` on standard error. --hold-flagged needs --postfix-queue.

Exit status:
  0  every message was scored and none was held or rejected
  1  every message was scored and at least one was held or rejected (its verdict, whether or
     not --hold-flagged acted on it)
  2  an error: a message could not be read or scored, postqueue -j printed a line that is
     not a queue entry, postsuper failed; or, ending the run, the model could not be loaded,
     the queue could not be listed, queued mail could not be read for lack of permission,
     or output could not be written";

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
    /// An aligned table for people.
    Table,
}

/// Arguments of `batch`.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (default: the shipped models/default.sgm).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Scoring threads (default: the available cores; 1 = everything on one thread).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    output: Format,
    /// Reasons per flagged message (0: none).
    #[arg(long, default_value_t = 5)]
    reasons: usize,
    /// Give reasons for every message, pass included (slower).
    #[arg(long)]
    explain_all: bool,
    /// Score the Postfix queue: hold, deferred, active, incoming or all (several: hold,deferred).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "QUEUE")]
    postfix_queue: Vec<QueueSelection>,
    /// Postfix configuration directory, passed to postqueue, postcat and postsuper as -c DIR.
    #[arg(long, value_name = "DIR")]
    postfix_config: Option<PathBuf>,
    /// Put queued messages with verdict hold or reject on hold (a dry run without --apply).
    #[arg(long, requires = "postfix_queue")]
    hold_flagged: bool,
    /// With --hold-flagged: really put them on hold.
    #[arg(long, requires = "hold_flagged")]
    apply: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// .eml file, directory (Maildir too), mbox/mboxrd file (plain or .gz), or - for stdin.
    #[arg(required_unless_present = "postfix_queue")]
    inputs: Vec<String>,
}

/// Runs `sendguard batch`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let classifier = crate::load_model(args.model.as_deref())?;
    let jobs = match args.jobs {
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let tools = PostfixTools::from_env(args.postfix_config.clone());
    let limits = ReadLimits::default();

    let mut listing_errors = Vec::new();
    let queued = if args.postfix_queue.is_empty() {
        Vec::new()
    } else {
        let listing = tools.list(&args.postfix_queue)?;
        listing_errors = listing.bad_lines;
        listing.entries
    };
    let known_total = args.inputs.is_empty().then_some(queued.len() as u64);
    let bar = progress_bar(
        !args.no_progress && std::io::stderr().is_terminal(),
        known_total,
    );

    let ctx = Ctx {
        classifier: &classifier,
        tools: &tools,
        format: args.output,
        reasons: args.reasons,
        explain_all: args.explain_all,
        max_message_bytes: limits.max_message_bytes,
    };
    let mut sink = Sink {
        // Not locked: the sink moves to a pool thread to write while the next chunk is scored.
        out: BufWriter::with_capacity(256 * 1024, std::io::stdout()),
        bar,
        summary: Summary::default(),
        hold: args.hold_flagged.then_some(HoldFlagged {
            tools: &tools,
            apply: args.apply,
        }),
    };
    for bad in listing_errors {
        sink.summary.other_errors += 1;
        sink.note(&format!("postqueue -j: error: {bad}"));
    }
    sink.start(args.output)?;

    let started = Instant::now();
    let source = Source {
        inputs: args.inputs.into_iter(),
        current: None,
        queued: queued.into_iter(),
        limits,
    };
    if jobs == 1 {
        run_on_one_thread(source, &ctx, &mut sink)?;
    } else {
        run_on_pool(source, &ctx, &mut sink, jobs)?;
    }
    sink.bar.finish_and_clear();
    sink.out.flush()?;
    let elapsed = started.elapsed();
    let summary = &sink.summary;
    eprint!(
        "{}",
        summary.render(elapsed, jobs, args.hold_flagged, args.apply)
    );
    Ok(if summary.errors + summary.other_errors > 0 {
        ExitCode::from(2)
    } else if summary.held_or_rejected() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads, scores and writes chunk after chunk on the calling thread.
fn run_on_one_thread<W: Write>(
    mut source: Source,
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_, W>,
) -> anyhow::Result<()> {
    loop {
        let chunk = next_chunk(&mut source);
        if chunk.is_empty() {
            return Ok(());
        }
        let done: Vec<Done> = chunk.into_iter().map(|w| ctx.process(w)).collect();
        sink.take(done)?;
    }
}

/// On the pool, one task reads the next chunk and then writes the rows of the previous one
/// while the other threads score the current chunk (`rayon::join`: the thread that reads and
/// writes steals scoring work once it is done), so the pool's threads are the only busy ones
/// and none waits for the others' input or output. The rows keep input order because each
/// chunk is collected in order and written before the next.
fn run_on_pool<W: Write + Send>(
    mut source: Source,
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_, W>,
    jobs: usize,
) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("sendguard-{i}"))
        .build()
        .context("starting the scoring threads")?;
    let mut chunk = next_chunk(&mut source);
    let mut scored: Vec<Done> = Vec::new();
    while !chunk.is_empty() || !scored.is_empty() {
        let scoring = std::mem::take(&mut chunk);
        let writing = std::mem::take(&mut scored);
        // Once the input has ended, only the last rows are left to write.
        let more = !scoring.is_empty();
        let ((next, written), done) = pool.install(|| {
            rayon::join(
                || {
                    let next = if more {
                        next_chunk(&mut source)
                    } else {
                        Vec::new()
                    };
                    (next, sink.take(writing))
                },
                || {
                    scoring
                        .into_par_iter()
                        .map(|w| ctx.process(w))
                        .collect::<Vec<Done>>()
                },
            )
        });
        written?;
        chunk = next;
        scored = done;
    }
    Ok(())
}

/// One unit of work, as read from the inputs.
enum Work {
    /// A message from a file, directory or mbox.
    Message(RawMessage),
    /// A queued message, read with postcat by the scoring thread.
    Queued(QueueEntry),
    /// Reading failed; the error is reported in its place.
    Unreadable {
        input: String,
        index: usize,
        error: String,
    },
}

impl Work {
    /// Bytes this work will hold in memory once read.
    fn weight(&self) -> usize {
        match self {
            Work::Message(m) => m.bytes.len(),
            Work::Queued(e) => usize::try_from(e.message_size).unwrap_or(usize::MAX),
            Work::Unreadable { .. } => 0,
        }
    }
}

/// The inputs in command-line order, then the queued messages.
struct Source {
    inputs: std::vec::IntoIter<String>,
    current: Option<(String, Messages)>,
    queued: std::vec::IntoIter<QueueEntry>,
    limits: ReadLimits,
}

impl Iterator for Source {
    type Item = Work;

    fn next(&mut self) -> Option<Work> {
        loop {
            if let Some((input, messages)) = &mut self.current {
                match messages.next() {
                    Some(Ok(m)) => return Some(Work::Message(m)),
                    Some(Err(e)) => {
                        return Some(Work::Unreadable {
                            input: input.clone(),
                            index: e.index(),
                            error: e.to_string(),
                        })
                    }
                    None => self.current = None,
                }
            }
            match self.inputs.next() {
                Some(input) => match open_input(&input, &self.limits) {
                    Ok(messages) => self.current = Some((input, messages)),
                    Err(e) => {
                        return Some(Work::Unreadable {
                            input,
                            index: 0,
                            error: e.to_string(),
                        })
                    }
                },
                None => return self.queued.next().map(Work::Queued),
            }
        }
    }
}

/// The next chunk: up to [`CHUNK_MESSAGES`] messages, closed early at [`CHUNK_BYTES`].
fn next_chunk(source: &mut impl Iterator<Item = Work>) -> Vec<Work> {
    let mut chunk = Vec::with_capacity(CHUNK_MESSAGES);
    let mut bytes = 0usize;
    while chunk.len() < CHUNK_MESSAGES && bytes < CHUNK_BYTES {
        let Some(work) = source.next() else { break };
        bytes = bytes.saturating_add(work.weight());
        chunk.push(work);
    }
    chunk
}

/// Where a row comes from.
struct Origin {
    input: String,
    index: usize,
    queued: Option<QueueEntry>,
}

impl Origin {
    /// `input#index`, as `score` names a message.
    fn place(&self) -> String {
        format!("{}#{}", self.input, self.index)
    }

    /// The place for people: queued mail is named by its queue and ID alone.
    fn shown(&self) -> String {
        if self.queued.is_some() {
            self.input.clone()
        } else {
            self.place()
        }
    }
}

/// A processed message: its output row and what the summary needs.
struct Done {
    /// The formatted row (empty for a message that left the queue).
    row: Vec<u8>,
    outcome: Outcome,
}

enum Outcome {
    Scored {
        verdict: Verdict,
        class: Class,
        flagged_class: Class,
        suspicion: f32,
        sender: Option<String>,
        queued: Option<QueueEntry>,
    },
    Failed {
        place: String,
        error: String,
    },
    Vanished {
        queue_name: String,
        queue_id: String,
    },
    /// A problem every other message would have too (no permission to read the queue): the
    /// run stops.
    Fatal(String),
}

/// What every scoring thread shares.
struct Ctx<'a> {
    classifier: &'a Classifier,
    tools: &'a PostfixTools,
    format: Format,
    reasons: usize,
    explain_all: bool,
    max_message_bytes: usize,
}

impl Ctx<'_> {
    /// Reads (for queued mail), scores and formats one message.
    fn process(&self, work: Work) -> Done {
        match work {
            Work::Message(m) => {
                let origin = Origin {
                    input: m.input,
                    index: m.index,
                    queued: None,
                };
                self.score(origin, &m.bytes)
            }
            Work::Unreadable {
                input,
                index,
                error,
            } => {
                let origin = Origin {
                    input,
                    index,
                    queued: None,
                };
                self.failed(origin, error)
            }
            Work::Queued(entry) => {
                let origin = Origin {
                    input: format!("postfix:{}/{}", entry.queue_name, entry.queue_id),
                    index: 0,
                    queued: None,
                };
                match self.tools.read(&entry.queue_id, self.max_message_bytes) {
                    Ok(Fetched::Message(bytes)) => self.score(
                        Origin {
                            queued: Some(entry),
                            ..origin
                        },
                        &bytes,
                    ),
                    Ok(Fetched::Vanished) => Done {
                        row: Vec::new(),
                        outcome: Outcome::Vanished {
                            queue_name: entry.queue_name,
                            queue_id: entry.queue_id,
                        },
                    },
                    Err(e) if crate::postfix::says_denied(&format!("{e:#}")) => Done {
                        row: Vec::new(),
                        outcome: Outcome::Fatal(format!("{e:#} (reading queued mail needs root)")),
                    },
                    Err(e) => self.failed(
                        Origin {
                            queued: Some(entry),
                            ..origin
                        },
                        format!("{e:#}"),
                    ),
                }
            }
        }
    }

    fn score(&self, origin: Origin, raw: &[u8]) -> Done {
        let want_subject = self.format == Format::Table;
        let fast = self.classifier.score_with(raw, |view, scores, decision| {
            let v = Verdicted {
                scores,
                decision,
                message_id: view.message_id.clone(),
                reasons: Vec::new(),
            };
            let subject = if want_subject {
                view.subject.clone()
            } else {
                String::new()
            };
            (v, view.from_address.clone(), subject)
        });
        let (mut v, from, subject) = match fast {
            Ok(scored) => scored,
            Err(e) => return self.failed(origin, e.to_string()),
        };
        if self.reasons > 0 && (self.explain_all || v.decision.verdict >= Verdict::Tag) {
            // The same bytes parsed the same way: explain only adds the names.
            if let Ok(explained) = self.classifier.explain(raw, self.reasons) {
                v.reasons = explained.reasons;
            }
        }
        let sender = match &origin.queued {
            Some(q) => Some(q.sender.clone()),
            None => (!from.is_empty()).then_some(from),
        };
        let row = match self.format {
            Format::Jsonl => jsonl_row(&origin, sender.as_deref(), &v),
            Format::Csv => csv_row(&origin, sender.as_deref(), Some(&v), None),
            Format::Table => table_row(&origin, sender.as_deref(), &subject, &v),
        };
        Done {
            row,
            outcome: Outcome::Scored {
                verdict: v.decision.verdict,
                class: v.decision.class,
                flagged_class: v.decision.flagged_class,
                suspicion: v.decision.suspicion,
                sender,
                queued: origin.queued,
            },
        }
    }

    fn failed(&self, origin: Origin, error: String) -> Done {
        let sender = origin.queued.as_ref().map(|q| q.sender.as_str());
        let row = match self.format {
            Format::Jsonl => {
                let mut obj = crate::score::error_json(&origin.input, origin.index, &error);
                add_batch_fields(&mut obj, &origin, sender);
                format!("{obj}\n").into_bytes()
            }
            Format::Csv => csv_row(&origin, sender, None, Some(&error)),
            Format::Table => format!(
                "{:<7}  {}: {}\n",
                "error",
                printable(&origin.shown()),
                printable(&error)
            )
            .into_bytes(),
        };
        Done {
            row,
            outcome: Outcome::Failed {
                place: origin.place(),
                error,
            },
        }
    }
}

/// `queue_id`, `queue` and `sender`, added to a `score --json` object.
fn add_batch_fields(obj: &mut serde_json::Value, origin: &Origin, sender: Option<&str>) {
    if let Some(map) = obj.as_object_mut() {
        let queued = origin.queued.as_ref();
        map.insert("queue_id".into(), queued.map(|q| q.queue_id.clone()).into());
        map.insert("queue".into(), queued.map(|q| q.queue_name.clone()).into());
        map.insert("sender".into(), sender.into());
    }
}

fn jsonl_row(origin: &Origin, sender: Option<&str>, v: &Verdicted) -> Vec<u8> {
    let mut obj = crate::score::json_line(&origin.input, origin.index, v);
    add_batch_fields(&mut obj, origin, sender);
    format!("{obj}\n").into_bytes()
}

/// The CSV columns, in order.
const CSV_HEADER: [&str; 15] = [
    "input",
    "index",
    "queue_id",
    "queue",
    "sender",
    "message_id",
    "verdict",
    "class",
    "suspicion",
    "ham",
    "spam",
    "phishing",
    "fraud",
    "reasons",
    "error",
];

fn csv_row(
    origin: &Origin,
    sender: Option<&str>,
    v: Option<&Verdicted>,
    error: Option<&str>,
) -> Vec<u8> {
    let queued = origin.queued.as_ref();
    let mut fields: Vec<String> = vec![
        origin.input.clone(),
        origin.index.to_string(),
        queued.map_or(String::new(), |q| q.queue_id.clone()),
        queued.map_or(String::new(), |q| q.queue_name.clone()),
        sender.unwrap_or_default().to_string(),
    ];
    match v {
        Some(v) => {
            let p = v.scores.probabilities();
            fields.push(v.message_id.clone().unwrap_or_default());
            fields.push(v.decision.verdict.as_str().to_string());
            fields.push(v.decision.class.name().to_string());
            fields.push(v.decision.suspicion.to_string());
            fields.extend(Class::ALL.iter().map(|c| p[c.index()].to_string()));
            let reasons: Vec<String> = v
                .reasons
                .iter()
                .map(|r| format!("{} {:+.3}", r.feature, r.contribution))
                .collect();
            fields.push(reasons.join("; "));
            fields.push(String::new());
        }
        None => {
            fields.extend(std::iter::repeat_n(String::new(), 9));
            fields.push(error.unwrap_or_default().to_string());
        }
    }
    csv_record(&fields)
}

/// One CSV record, quoted as the csv crate does.
fn csv_record<T: AsRef<[u8]>>(fields: &[T]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(1024)
        .from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

/// The table's header line.
fn table_header() -> String {
    format!(
        "{:<7}  {:<8}  {:>5}  {:>9}  {:<14}  {:<32}  {:<40}  {}\n",
        "verdict", "class", "prob", "suspicion", "queue id", "sender", "subject", "message"
    )
}

fn table_row(origin: &Origin, sender: Option<&str>, subject: &str, v: &Verdicted) -> Vec<u8> {
    let p = v.scores.probabilities();
    // As in `score`: a flagged message shows what it is flagged for.
    let shown = if v.decision.verdict == Verdict::Pass {
        v.decision.class
    } else {
        v.decision.flagged_class
    };
    let queue_id = origin.queued.as_ref().map_or("-", |q| q.queue_id.as_str());
    let sender = match sender {
        Some("") => "<>".to_string(),
        Some(s) => fit(s, 32),
        None => "-".to_string(),
    };
    format!(
        "{:<7}  {:<8}  {:>5.3}  {:>9.2}  {:<14}  {:<32}  {:<40}  {}\n",
        v.decision.verdict.as_str(),
        shown.name(),
        p[shown.index()],
        v.decision.suspicion,
        queue_id,
        sender,
        fit(subject, 40),
        printable(&origin.shown()),
    )
    .into_bytes()
}

/// `s` made printable and cut to `width` characters (with `…`).
fn fit(s: &str, width: usize) -> String {
    let s = printable(s);
    if s.chars().count() <= width {
        return s;
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Text from a message made safe for a terminal: control characters and bidirectional
/// overrides (which could rewrite the line a person reads) become spaces.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `--hold-flagged`, when given.
struct HoldFlagged<'a> {
    tools: &'a PostfixTools,
    apply: bool,
}

/// The writing end: output rows, stderr notes, the summary and holding.
struct Sink<'a, W: Write> {
    out: W,
    bar: ProgressBar,
    summary: Summary,
    hold: Option<HoldFlagged<'a>>,
}

impl<W: Write> Sink<'_, W> {
    /// The header line of csv and table output.
    fn start(&mut self, format: Format) -> anyhow::Result<()> {
        match format {
            Format::Jsonl => {}
            Format::Csv => self.out.write_all(&csv_record(&CSV_HEADER))?,
            Format::Table => self.out.write_all(table_header().as_bytes())?,
        }
        Ok(())
    }

    /// A line on stderr that does not tear the progress bar.
    fn note(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Writes one chunk's rows in order, counts them, and holds what must be held.
    fn take(&mut self, done: Vec<Done>) -> anyhow::Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let n = done.len() as u64;
        let mut to_hold: Vec<(String, String)> = Vec::new();
        for d in done {
            self.out.write_all(&d.row)?;
            match d.outcome {
                Outcome::Scored {
                    verdict,
                    class,
                    flagged_class,
                    suspicion,
                    sender,
                    queued,
                } => {
                    self.summary.add(verdict, class, sender.as_deref());
                    if let (Some(q), Some(_)) = (&queued, &self.hold) {
                        if verdict >= Verdict::Hold && q.queue_name != "hold" {
                            let reason = format!(
                                "{verdict} {flagged_class}, suspicion {suspicion:.2}, sender {}",
                                display_sender(Some(&q.sender))
                            );
                            to_hold.push((q.queue_id.clone(), reason));
                        }
                    }
                }
                Outcome::Failed { place, error } => {
                    self.summary.errors += 1;
                    self.note(&printable(&format!("{place}: error: {error}")));
                }
                Outcome::Fatal(error) => {
                    self.out.flush()?;
                    anyhow::bail!(error);
                }
                Outcome::Vanished {
                    queue_name,
                    queue_id,
                } => {
                    self.summary.vanished += 1;
                    self.note(&format!(
                        "postfix:{queue_name}/{queue_id}: left the queue before it was read; skipped"
                    ));
                }
            }
        }
        // Rows reach the reader as each chunk is done, and before anything is held.
        self.out.flush()?;
        self.bar.inc(n);
        if !to_hold.is_empty() {
            self.hold_flagged(&to_hold);
        }
        Ok(())
    }

    fn hold_flagged(&mut self, to_hold: &[(String, String)]) {
        let Some(hold) = &self.hold else { return };
        if !hold.apply {
            for (id, reason) in to_hold {
                self.note(&format!("would hold {id} ({})", printable(reason)));
            }
            self.summary.would_hold += to_hold.len() as u64;
            return;
        }
        let ids: Vec<&str> = to_hold.iter().map(|(id, _)| id.as_str()).collect();
        match hold.tools.hold(&ids) {
            Ok(held) => {
                for (id, reason) in to_hold {
                    if held.contains(id) {
                        self.summary.held += 1;
                        self.note(&format!("held {id} ({})", printable(reason)));
                    } else {
                        self.note(&format!(
                            "{id} not held: no longer in the incoming, active or deferred queue"
                        ));
                    }
                }
            }
            Err(e) => {
                self.summary.other_errors += 1;
                self.note(&printable(&format!(
                    "error: holding {}: {e:#}",
                    ids.join(" ")
                )));
            }
        }
    }
}

/// A sender as people read it: `<>` for the null sender of a bounce, `(none)` for a message
/// without a From: address.
fn display_sender(sender: Option<&str>) -> String {
    match sender {
        Some("") => "<>".to_string(),
        Some(s) => printable(s),
        None => "(none)".to_string(),
    }
}

/// Counts for the summary.
#[derive(Default)]
struct Summary {
    /// Per verdict, in [`Verdict`] order.
    verdicts: [u64; 4],
    /// Per most likely class, in [`Class`] order.
    classes: [u64; 4],
    /// Messages that could not be read or scored.
    errors: u64,
    /// Problems that are not about one message: unreadable postqueue lines, postsuper failures.
    other_errors: u64,
    vanished: u64,
    would_hold: u64,
    held: u64,
    /// Per sender: flagged messages (tag or above) and, of those, held or rejected ones.
    senders: HashMap<String, (u64, u64)>,
}

const VERDICTS: [Verdict; 4] = [Verdict::Pass, Verdict::Tag, Verdict::Hold, Verdict::Reject];

impl Summary {
    fn add(&mut self, verdict: Verdict, class: Class, sender: Option<&str>) {
        if let Some(i) = VERDICTS.iter().position(|&v| v == verdict) {
            self.verdicts[i] += 1;
        }
        self.classes[class.index()] += 1;
        if verdict >= Verdict::Tag {
            let key = display_sender(sender);
            let counts = self.senders.entry(key).or_default();
            counts.0 += 1;
            if verdict >= Verdict::Hold {
                counts.1 += 1;
            }
        }
    }

    fn scored(&self) -> u64 {
        self.verdicts.iter().sum()
    }

    fn held_or_rejected(&self) -> u64 {
        self.verdicts[2] + self.verdicts[3]
    }

    /// The summary as printed on stderr.
    fn render(&self, elapsed: Duration, jobs: usize, hold_flagged: bool, apply: bool) -> String {
        use std::fmt::Write as _;
        let secs = elapsed.as_secs_f64();
        let total = self.scored() + self.errors;
        let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
        let mut s = String::new();
        let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let _ = write!(
            s,
            "sendguard batch: {} in {secs:.2} s ({rate:.0} messages/s, {}): {} scored, {}",
            plural(total, "message"),
            plural(jobs as u64, "thread"),
            self.scored(),
            plural(self.errors, "error"),
        );
        if self.other_errors > 0 {
            let _ = write!(
                s,
                ", {} (queue listing or postsuper, see above)",
                plural(self.other_errors, "other error")
            );
        }
        if self.vanished > 0 {
            let _ = write!(
                s,
                ", {} left the queue before it could be read",
                self.vanished
            );
        }
        s.push('\n');
        let verdicts: Vec<String> = VERDICTS
            .iter()
            .zip(self.verdicts)
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        let _ = writeln!(s, "  verdicts: {}", verdicts.join("  "));
        let classes: Vec<String> = Class::ALL
            .iter()
            .map(|c| format!("{c} {}", self.classes[c.index()]))
            .collect();
        let _ = writeln!(s, "  classes:  {}", classes.join("  "));
        if hold_flagged {
            if apply {
                let _ = writeln!(s, "  put on hold: {}", self.held);
            } else {
                let _ = writeln!(
                    s,
                    "  would put on hold: {} (dry run; --apply holds them)",
                    self.would_hold
                );
            }
        }
        let mut top: Vec<(&String, &(u64, u64))> = self.senders.iter().collect();
        top.sort_by(|a, b| {
            (b.1 .0, b.1 .1)
                .cmp(&(a.1 .0, a.1 .1))
                .then_with(|| a.0.cmp(b.0))
        });
        if top.is_empty() {
            let _ = writeln!(s, "  no flagged messages");
        } else {
            let _ = writeln!(
                s,
                "  senders with most flagged messages (flagged = tag, hold or reject):\n  {:>8}  {:>15}  sender",
                "flagged", "hold or reject"
            );
            for (sender, (flagged, severe)) in top.into_iter().take(TOP_SENDERS) {
                let _ = writeln!(s, "  {flagged:>8}  {severe:>15}  {sender}");
            }
        }
        s
    }
}

/// A bar when the total is known (only the queue), a counter otherwise; hidden unless `show`.
fn progress_bar(show: bool, total: Option<u64>) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::new(n),
            "{bar:30} {pos}/{len} messages  {rate}  eta {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {pos} messages  {rate}  {elapsed}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} messages/s", state.per_sec());
        };
        bar.set_style(style.with_key("rate", rate));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_blanks_control_and_bidi_characters() {
        assert_eq!(printable("a\x1b[2Jb\nc\u{202e}d"), "a [2Jb c d");
        assert_eq!(printable("日本語 ok"), "日本語 ok");
    }

    #[test]
    fn fit_cuts_by_characters() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("äbc", 3), "äbc");
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes() {
        let msg = |n: usize| {
            Work::Message(RawMessage {
                input: "m".into(),
                index: 0,
                bytes: vec![b'x'; n],
            })
        };
        let mut many = (0..600).map(|_| msg(10));
        assert_eq!(next_chunk(&mut many).len(), CHUNK_MESSAGES);
        assert_eq!(next_chunk(&mut many).len(), CHUNK_MESSAGES);
        assert_eq!(next_chunk(&mut many).len(), 600 - 2 * CHUNK_MESSAGES);
        assert!(next_chunk(&mut many).is_empty());
        let mut big = (0..10).map(|_| msg(CHUNK_BYTES / 2));
        assert_eq!(next_chunk(&mut big).len(), 2);
    }

    #[test]
    fn summary_ranks_senders_by_flagged_messages() {
        let mut s = Summary::default();
        s.add(Verdict::Reject, Class::Fraud, Some("a@x"));
        s.add(Verdict::Tag, Class::Spam, Some("b@x"));
        s.add(Verdict::Hold, Class::Fraud, Some("b@x"));
        s.add(Verdict::Pass, Class::Ham, Some("c@x"));
        s.add(Verdict::Tag, Class::Spam, Some(""));
        assert_eq!(s.scored(), 5);
        assert_eq!(s.held_or_rejected(), 2);
        let text = s.render(Duration::from_secs(1), 2, false, false);
        let b = text.find("b@x").expect("b listed");
        let a = text.find("a@x").expect("a listed");
        assert!(b < a, "{text}");
        assert!(text.contains("<>"), "{text}");
        assert!(!text.contains("c@x"), "pass is not flagged: {text}");
        assert!(
            text.contains("verdicts: pass 1  tag 2  hold 1  reject 1"),
            "{text}"
        );
        assert!(
            text.contains("classes:  ham 1  spam 2  phishing 0  fraud 2"),
            "{text}"
        );
    }

    #[test]
    fn csv_rows_have_every_column() {
        let origin = Origin {
            input: "a,b.eml".into(),
            index: 3,
            queued: None,
        };
        let row = csv_row(&origin, None, None, Some("bad \"thing\""));
        let text = String::from_utf8(row).expect("utf-8");
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let rec = r.records().next().expect("a record").expect("parses");
        assert_eq!(rec.len(), CSV_HEADER.len());
        assert_eq!(&rec[0], "a,b.eml");
        assert_eq!(&rec[14], "bad \"thing\"");
    }
}
