//! `sendguard senders`: the campaign breaker of the running milter, through its control socket.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use sendguard::campaign::{SenderDetail, SenderSummary};
use sendguard::milter::control::{request, Reply, Request};
use sendguard::milter::DEFAULT_CONTROL_SOCKET;

/// Help text after the options.
pub const SENDERS_HELP: &str = "\
Talks to the running milter over its control socket ([campaign] control_socket, mode 0600:
run as the daemon's user or root).

  list          senders with recent mail, open breakers (tripped, blocked) first
  show USER     windows, learned baseline, fingerprint clusters and the open incident
  release USER  close USER's breaker: held mail stays in the hold queue (postsuper -H to
                release it), new mail flows; the campaign that tripped it is approved
  block USER    hold everything USER sends until released

USER is the sender key: the SASL login, else the envelope sender (case-insensitive).

Exit status: 0 done, 1 the daemon refused (unknown sender, detection off), 2 no daemon or error";

/// Arguments of `senders`.
#[derive(clap::Args)]
pub struct Args {
    /// The milter's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    control: PathBuf,
    /// Print the daemon's JSON reply instead of a table.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Senders with recent mail, open breakers first.
    List,
    /// Everything about one sender.
    Show {
        /// The sender key (SASL login or envelope sender).
        user: String,
    },
    /// Close a sender's breaker (tripped or blocked).
    Release {
        /// The sender key.
        user: String,
    },
    /// Hold everything a sender sends until released.
    Block {
        /// The sender key.
        user: String,
    },
}

/// Runs `sendguard senders`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let req = match &args.action {
        Action::List => Request::List,
        Action::Show { user } => Request::Show {
            sender: user.clone(),
        },
        Action::Release { user } => Request::Release {
            sender: user.clone(),
        },
        Action::Block { user } => Request::Block {
            sender: user.clone(),
        },
    };
    let reply = request(&args.control, &req).with_context(|| {
        format!(
            "cannot talk to the milter on {} (is it running, with [campaign] control_socket set to this path?)",
            args.control.display()
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
        return Ok(if reply.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if !reply.ok {
        eprintln!(
            "sendguard: {}",
            reply.error.as_deref().unwrap_or("the daemon refused")
        );
        return Ok(ExitCode::from(1));
    }
    print!("{}", render(&args.action, &reply)?);
    Ok(ExitCode::SUCCESS)
}

/// The human-readable form of a reply.
fn render(action: &Action, reply: &Reply) -> anyhow::Result<String> {
    Ok(match action {
        Action::List => list_table(reply.senders.as_deref().unwrap_or_default()),
        Action::Show { .. } => match &reply.sender {
            Some(d) => detail(d),
            None => bail!("the daemon sent no sender"),
        },
        Action::Release { user } => match reply.released {
            Some(true) => format!(
                "{user}: breaker closed; new mail flows (held mail stays in the hold queue)\n"
            ),
            _ => format!("{user}: not a known sender; nothing to release\n"),
        },
        Action::Block { user } => {
            format!("{user}: blocked; everything it sends is held until released\n")
        }
    })
}

fn when(at: u64) -> String {
    if at == 0 {
        return "-".to_string();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ago = now.saturating_sub(at);
    match ago {
        0..=119 => format!("{ago}s ago"),
        120..=7199 => format!("{}m ago", ago / 60),
        _ => format!("{}h ago", ago / 3600),
    }
}

fn list_table(senders: &[SenderSummary]) -> String {
    if senders.is_empty() {
        return "no senders with recent mail\n".to_string();
    }
    let mut out = format!(
        "{:<32} {:<8} {:<18} {:>7} {:>8} {:>7} {:>6} {:>8} {}\n",
        "SENDER", "STATE", "RULE", "MSG/10m", "RCPT/1h", "MSG/24h", "HELD", "PEAK/1h", "LAST"
    );
    for s in senders {
        out.push_str(&format!(
            "{:<32} {:<8} {:<18} {:>7} {:>8} {:>7} {:>6} {:>8} {}\n",
            s.sender,
            serde_json::to_value(s.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            s.rule.map_or("-", |r| r.as_str()),
            s.short_messages,
            s.hour_recipients,
            s.day_messages,
            s.held,
            s.baseline_peak_hour_recipients
                .map_or_else(|| "-".to_string(), |p| p.to_string()),
            when(s.last_at),
        ));
    }
    out
}

fn detail(d: &SenderDetail) -> String {
    let mut out = list_table(std::slice::from_ref(&d.summary));
    out.push('\n');
    out.push_str(&format!(
        "{:<12} {:>8} {:>10} {:>9} {:>9} {:>8} {:>8} {:>9}\n",
        "WINDOW",
        "MESSAGES",
        "RECIPIENTS",
        "EXTERNAL",
        "FREEMAIL",
        "DOMAINS",
        "FLAGGED",
        "HOLD-LVL"
    ));
    for (name, t) in [
        ("short", &d.counts.short),
        ("hour", &d.counts.hour),
        ("day", &d.counts.day),
    ] {
        out.push_str(&format!(
            "{:<12} {:>8} {:>10} {:>9} {:>8.0}% {:>7}{} {:>8} {:>9}\n",
            format!("{name}/{}s", t.window_s),
            t.messages,
            t.recipients,
            t.external_recipients,
            t.freemail_share * 100.0,
            t.distinct_domains,
            if t.distinct_domains_exact { " " } else { "+" },
            t.flagged,
            t.hold_level,
        ));
    }
    if let Some(b) = &d.baseline {
        out.push_str(&format!(
            "\nlearned baseline: {}\n",
            serde_json::to_string(b).unwrap_or_default()
        ));
    }
    if d.grace_until > 0 {
        out.push_str(&format!("grace until: {} (unix)\n", d.grace_until));
    }
    if let Some(since) = d.blocked_since {
        out.push_str(&format!("blocked since: {} ({})\n", since, when(since)));
    }
    if let Some(inc) = &d.incident {
        out.push_str(&format!(
            "\nincident: {}\n  held since: {} messages, last queue ID {}\n",
            inc.alert,
            inc.held,
            inc.last_queue_id.as_deref().unwrap_or("-")
        ));
    }
    if !d.clusters.is_empty() {
        out.push_str(&format!(
            "\n{:<16} {:>8} {:>7} {:>6} {:<8} {}\n",
            "FINGERPRINT", "MESSAGES", "MSG/10m", "SPREAD", "APPROVED", "FIRST SUBJECT"
        ));
        for c in &d.clusters {
            out.push_str(&format!(
                "{:<16} {:>8} {:>7} {:>6} {:<8} {}\n",
                c.fingerprint,
                c.messages,
                c.short_messages,
                c.short_spread,
                if c.approved { "yes" } else { "no" },
                c.first_subject
            ));
        }
    }
    out
}
