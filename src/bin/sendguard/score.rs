//! `sendguard score`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sendguard::corpus::{open_input, ReadLimits};
use sendguard::{Class, Reason, Verdict, Verdicted};

/// Arguments of `score`.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (default: the shipped models/default.sgm).
    #[arg(long)]
    model: Option<PathBuf>,
    /// One JSON object per message, one per line.
    #[arg(long)]
    json: bool,
    /// Show the features behind each verdict.
    #[arg(long)]
    explain: bool,
    /// Number of reasons per message.
    #[arg(long, default_value_t = 5)]
    reasons: usize,
    /// Exit status says the verdict, for pipe-style MTA hooks: 0 pass, 3 tag, 4 hold,
    /// 5 reject (the highest over all messages), 2 an error (a message could not be read or
    /// scored: treat as a temporary failure).
    #[arg(long)]
    verdict_exit: bool,
    /// .eml file, directory of .eml files, mbox/mboxrd file (plain or .gz), or - for stdin.
    #[arg(required = true)]
    inputs: Vec<String>,
}

/// The exit status of `--verdict-exit` for the highest verdict seen.
fn verdict_exit_code(verdict: Option<Verdict>) -> ExitCode {
    match verdict {
        None | Some(Verdict::Pass) => ExitCode::SUCCESS,
        Some(Verdict::Tag) => ExitCode::from(3),
        Some(Verdict::Hold) => ExitCode::from(4),
        Some(Verdict::Reject) => ExitCode::from(5),
    }
}

/// Runs `sendguard score`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let classifier = crate::load_model(args.model.as_deref())?;
    let limits = ReadLimits::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut flagged = false;
    let mut failed = false;
    let mut highest: Option<Verdict> = None;
    for input in &args.inputs {
        let messages = match open_input(input, &limits) {
            Ok(m) => m,
            Err(e) => {
                failed = true;
                report_error(&mut out, args.json, input, 0, &e.to_string())?;
                continue;
            }
        };
        for item in messages {
            let msg = match item {
                Ok(m) => m,
                Err(e) => {
                    failed = true;
                    report_error(&mut out, args.json, input, e.index(), &e.to_string())?;
                    continue;
                }
            };
            let explained = if args.json || args.explain {
                classifier.explain(&msg.bytes, args.reasons)
            } else {
                classifier.score(&msg.bytes)
            };
            match explained {
                Ok(v) => {
                    flagged |= v.decision.verdict >= Verdict::Hold;
                    highest = highest.max(Some(v.decision.verdict));
                    if args.json {
                        writeln!(out, "{}", json_line(&msg.input, msg.index, &v))?;
                    } else {
                        write_readable(&mut out, &msg.input, msg.index, &v, args.explain)?;
                    }
                }
                Err(e) => {
                    failed = true;
                    report_error(&mut out, args.json, &msg.input, msg.index, &e.to_string())?;
                }
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(2)
    } else if args.verdict_exit {
        verdict_exit_code(highest)
    } else if flagged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn report_error(
    out: &mut impl Write,
    json: bool,
    input: &str,
    index: usize,
    error: &str,
) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", error_json(input, index, error))
    } else {
        out.flush()?;
        eprintln!("{input}#{index}: error: {error}");
        Ok(())
    }
}

/// The JSON object of a message that could not be read or scored.
pub fn error_json(input: &str, index: usize, error: &str) -> serde_json::Value {
    serde_json::json!({"input": input, "index": index, "message_id": null, "error": error})
}

/// The JSON object of one scored message.
pub fn json_line(input: &str, index: usize, v: &Verdicted) -> serde_json::Value {
    let p = v.scores.probabilities();
    let mut scores = serde_json::Map::new();
    for c in Class::ALL {
        scores.insert(c.name().to_string(), serde_json::json!(p[c.index()]));
    }
    let reasons: Vec<&Reason> = v.reasons.iter().collect();
    serde_json::json!({
        "input": input,
        "index": index,
        "message_id": v.message_id,
        "scores": scores,
        "class": v.decision.class.name(),
        "verdict": v.decision.verdict.as_str(),
        "suspicion": v.decision.suspicion,
        "reasons": reasons,
    })
}

fn write_readable(
    out: &mut impl Write,
    input: &str,
    index: usize,
    v: &Verdicted,
    explain: bool,
) -> std::io::Result<()> {
    let p = v.scores.probabilities();
    let shown = if v.decision.verdict == Verdict::Pass {
        v.decision.class
    } else {
        v.decision.flagged_class
    };
    write!(
        out,
        "{input}#{index}  {:<6} {}={:.3}  (ham {:.3} spam {:.3} phishing {:.3} fraud {:.3})",
        v.decision.verdict.as_str(),
        shown.name(),
        p[shown.index()],
        p[0],
        p[1],
        p[2],
        p[3]
    )?;
    if let Some(id) = &v.message_id {
        write!(out, "  <{id}>")?;
    }
    writeln!(out)?;
    if explain {
        for r in &v.reasons {
            writeln!(out, "    {:+8.3}  {}", r.contribution, r.feature)?;
        }
    }
    Ok(())
}
