//! Calling sendguard from your own MTA hook: load the model once, score each message on the fast
//! path, read the verdict and the reasons, and map them to whatever your MTA can do.
//!
//! ```sh
//! cargo run --release --example hook < data/examples/scam-compensation.eml
//! cargo run --release --example hook < data/examples/business-invoice.eml
//! ```
//!
//! It prints the header line to add and the action, and exits with a sysexits-style status
//! (0 accept, 75 temporary failure, 77 reject) so it can also sit in a pipe. A real hook keeps
//! the `Classifier` for its lifetime (loading takes milliseconds; scoring microseconds) and shares
//! it between threads: it is `Send + Sync`.

use std::io::Read;
use std::process::ExitCode;

use sendguard::{Class, Classifier, Verdict};

/// What this hook asks of the MTA.
#[derive(Debug)]
enum Action {
    /// Deliver; add the header.
    Accept,
    /// Keep the message in a hold/quarantine queue for a person to look at.
    Hold,
    /// Refuse it (a permanent error to the client).
    Reject,
    /// Refuse it for now (the client retries): the filter could not decide.
    Tempfail,
}

/// Messages larger than this are not read whole (sendguard looks at the first 8 MiB anyway).
const MAX_BYTES: u64 = 64 * 1024 * 1024;

fn main() -> ExitCode {
    // Errors in the filter must never lose mail: every failure becomes a temporary failure.
    let classifier = match Classifier::load_default() {
        Ok(c) => c,
        Err(e) => return finish(Action::Tempfail, None, &format!("model: {e}")),
    };
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_BYTES).read_to_end(&mut raw) {
        return finish(Action::Tempfail, None, &format!("reading: {e}"));
    }

    // The fast path: no reasons, per-thread buffers, the parsed view lent to the closure.
    let scored = classifier.score_with(&raw, |view, scores, decision| {
        (view.from_address.clone(), scores, decision)
    });
    let (sender, scores, decision) = match scored {
        Ok(s) => s,
        Err(e) => return finish(Action::Tempfail, None, &format!("scoring: {e}")),
    };

    // Reasons cost a second parse: ask for them only when the message is flagged.
    let reasons = if decision.verdict >= Verdict::Tag {
        match classifier.explain(&raw, 3) {
            Ok(v) => v
                .reasons
                .iter()
                .map(|r| r.feature.clone())
                .collect::<Vec<_>>()
                .join(", "),
            Err(_) => String::new(),
        }
    } else {
        String::new()
    };

    let class = decision.flagged_class;
    let header = format!(
        "X-Sendguard: {} {}={:.3} suspicion={:.2}{}{}",
        decision.verdict.as_str(),
        class.name(),
        scores.probability(class),
        decision.suspicion,
        if reasons.is_empty() { "" } else { " reasons=" },
        reasons
    );
    // Your own policy goes here: e.g. hold rather than bounce your own users' mail, exempt a
    // known bulk sender, or reject only fraud.
    let action = match decision.verdict {
        Verdict::Pass | Verdict::Tag => Action::Accept,
        Verdict::Hold => Action::Hold,
        Verdict::Reject if class == Class::Fraud || class == Class::Phishing => Action::Reject,
        Verdict::Reject => Action::Hold,
    };
    finish(action, Some(&header), &format!("from <{sender}>"))
}

fn finish(action: Action, header: Option<&str>, note: &str) -> ExitCode {
    if let Some(h) = header {
        println!("{h}");
    }
    println!("action: {action:?} ({note})");
    match action {
        Action::Accept | Action::Hold => ExitCode::SUCCESS,
        Action::Reject => ExitCode::from(77),
        Action::Tempfail => ExitCode::from(75),
    }
}
