//! The `sendguard` command line: score, batch, train, evaluate and the milter.

mod batch;
mod eval;
#[cfg(feature = "milter")]
mod milter;
mod postfix;
mod replay;
mod score;
#[cfg(feature = "milter")]
mod senders;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit status:
  0  every message was scored and none was held or rejected
  1  every message was scored and at least one was held or rejected
  2  an error: a message could not be read or scored, or the model could not be loaded
     (for train and eval: 0 success, 2 error)
  score --verdict-exit: 0 pass, 3 tag, 4 hold, 5 reject (the highest seen), 2 error
  milter: see `sendguard milter --help`";

/// Stops advance-fee fraud, phishing and spam from leaving a mail server.
#[derive(Parser)]
#[command(name = "sendguard", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score messages: .eml files, directories of them, mbox/mboxrd files (plain or .gz), or - for stdin.
    #[command(after_help = EXIT_CODES)]
    Score(score::Args),
    /// Score many messages in parallel (files, mboxes, Maildirs, the Postfix queue), with a summary.
    #[command(after_help = batch::BATCH_HELP)]
    Batch(batch::Args),
    /// Train a model from labelled mail (DIR holds CLASS.mbox[.gz] files or CLASS/ directories).
    Train(train::Args),
    /// Evaluate a model on labelled mail: ROC AUC, TPR at ham FPR 0.1 % and 1 %, confusion matrices.
    Eval(eval::Args),
    /// Run the milter: score outbound mail inline in Postfix or Sendmail (tag, hold, reject).
    #[cfg(feature = "milter")]
    #[command(after_help = milter::MILTER_HELP)]
    Milter(milter::Args),
    /// Replay the incident on simulated time through the campaign breaker: scam delivered, time to containment, legitimate mail held.
    #[command(after_help = replay::REPLAY_HELP)]
    Replay(replay::Args),
    /// The running milter's campaign breaker: list senders, show one, release or block it.
    #[cfg(feature = "milter")]
    #[command(after_help = senders::SENDERS_HELP)]
    Senders(senders::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Score(args) => score::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Train(args) => train::run(args).map(|()| ExitCode::SUCCESS),
        Command::Eval(args) => eval::run(args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "milter")]
        Command::Milter(args) => milter::run(args),
        Command::Replay(args) => replay::run(args),
        #[cfg(feature = "milter")]
        Command::Senders(args) => senders::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sendguard: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes in one line, each said once (several of the library's errors
/// already name their cause in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// Loads the model named on the command line, or the shipped default.
fn load_model(path: Option<&std::path::Path>) -> anyhow::Result<sendguard::Classifier> {
    use anyhow::Context;
    match path {
        Some(p) => {
            sendguard::Classifier::load(p).with_context(|| format!("loading model {}", p.display()))
        }
        None => {
            let p = sendguard::default_model_path()?;
            sendguard::Classifier::load(&p)
                .with_context(|| format!("loading default model {}", p.display()))
        }
    }
}
