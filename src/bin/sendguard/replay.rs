//! `sendguard replay`: the incident replayed on simulated time through the daemon's decision
//! code ([`sendguard::replay`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendguard::replay::{replay, ReplayOptions, ReplaySummary, Templates};

/// Help after the options.
pub const REPLAY_HELP: &str = "\
Builds a synthetic outbound stream on simulated time (two weeks of ordinary users and a Monday
newsletter of 2,000 recipients declared as a bulk sender, then an incident day on which three
people send 50 mails each and one stolen login sends 2-3 probes and then 11,000 copies of one
scam letter over 5 hours to about 600 domains) and drives every message through the content
model, the campaign tracker and the same verdict combination as the milter.

Measures: scam letters delivered (pass or tag), time from the first scam letter (a probe) to
the first held one, legitimate messages held (by the content verdict, or by a breaker), the
newsletter held, alerts. The same --seed gives the same output.

Exit status: 0 the run finished, 2 an error.";

/// Arguments of `replay`.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (default: the shipped models/default.sgm).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Ham messages for ordinary users' bodies and subjects: mbox (plain or .gz) or directory.
    #[arg(long)]
    ham: String,
    /// Scam messages; the first letter with at least 400 characters of text is the template.
    #[arg(long)]
    scam: String,
    /// Pass every message on content (a campaign the model never saw): the breaker alone.
    #[arg(long)]
    no_content_model: bool,
    /// Seed of the stream's random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Size of the campaign (letters, recipients, domains, duration) and the newsletter,
    /// relative to the incident.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `sendguard replay`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let classifier = if args.no_content_model {
        None
    } else {
        Some(crate::load_model(args.model.as_deref())?)
    };
    let templates = Templates::load(&args.ham, &args.scam).context("reading the templates")?;
    let opts = ReplayOptions {
        seed: args.seed,
        scale: args.scale,
        ..ReplayOptions::default()
    };
    let summary = replay(&opts, &templates, classifier.as_ref())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        write_table(&mut out, &summary)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_table(out: &mut impl Write, s: &ReplaySummary) -> std::io::Result<()> {
    let opt = |v: Option<u64>| v.map_or_else(|| "never".to_string(), |v| format!("{v} s"));
    writeln!(
        out,
        "replay: seed {}, content model {}, scale {}, {} messages from {} senders ({} ham templates; scam template {})",
        s.seed,
        if s.content_model { "on" } else { "off" },
        s.scale,
        s.messages,
        s.senders,
        s.ham_templates,
        s.scam_template
    )?;
    writeln!(out)?;
    writeln!(out, "  compromised account")?;
    writeln!(
        out,
        "    scam letters sent          {:>8}  ({} probes; {} recipients at {} domains)",
        s.scam_sent, s.scam_probes, s.scam_recipients, s.scam_domains
    )?;
    writeln!(
        out,
        "    scam letters delivered     {:>8}",
        s.scam_delivered
    )?;
    writeln!(
        out,
        "    held by content alone      {:>8}",
        s.scam_held_content
    )?;
    writeln!(
        out,
        "    tagged as lone spam        {:>8}",
        s.scam_lone_spam
    )?;
    writeln!(
        out,
        "    time to containment        {:>8}  (from the first probe; from the first flood letter: {})",
        opt(s.time_to_containment_s),
        opt(s.flood_to_containment_s)
    )?;
    writeln!(
        out,
        "    breaker rule               {:>8}",
        s.containment_rule.as_deref().unwrap_or("none")
    )?;
    writeln!(out, "  legitimate mail")?;
    writeln!(out, "    sent                       {:>8}", s.legit_sent)?;
    writeln!(
        out,
        "    held                       {:>8}  ({} by content verdict, {} by a breaker)",
        s.legit_held, s.legit_held_content, s.legit_held_breaker
    )?;
    writeln!(
        out,
        "    tagged as lone spam        {:>8}  (hold-level spam verdicts delivered tagged)",
        s.legit_lone_spam
    )?;
    writeln!(
        out,
        "    newsletter held            {:>8}  of {}",
        s.newsletter_held, s.newsletter_sent
    )?;
    writeln!(
        out,
        "  alerts                       {:>8}  ({} on accounts that were not compromised)",
        s.alerts, s.false_alerts
    )?;
    for a in &s.alert_list {
        writeln!(
            out,
            "    {}  {}  {}  {}\n      fingerprint {} first subject {:?} queue IDs {}",
            a.when, a.sender, a.rule, a.reason, a.fingerprint, a.first_subject, a.queue_ids
        )?;
    }
    Ok(())
}
