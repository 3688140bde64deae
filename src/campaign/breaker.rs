//! The circuit breaker's vocabulary: the rules that trip it, what one message gets, and the
//! alert raised once per incident.

use serde::{Deserialize, Serialize};

/// Why a sender's mail is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// One letter (fingerprint cluster) went to many distinct recipient organisations within
    /// the short window.
    FingerprintSpread,
    /// Recipients within the hour above `max(floor, multiplier × learned peak)`.
    Volume,
    /// Several hold-level fraud or phishing verdicts in a row.
    HoldStreak,
    /// An administrator blocked the sender.
    Blocked,
}

impl Rule {
    /// Kebab-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::FingerprintSpread => "fingerprint-spread",
            Rule::Volume => "volume",
            Rule::HoldStreak => "hold-streak",
            Rule::Blocked => "blocked",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The breaker's answer for one message. `Allow` means the breaker adds nothing: the message's
/// own content verdict (tag, hold, reject) still applies.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The breaker is closed for this sender.
    Allow,
    /// The breaker is closed and the message is a *lone* hold-level spam verdict: the sender
    /// had no other hold-level verdict in the day window and trips no rule, so the message is
    /// delivered tagged instead of held (`tag_lone_spam`; see [`super::combine`]).
    LoneSpam,
    /// The breaker is open (tripped or blocked): hold the message.
    Hold {
        /// The rule that opened it.
        rule: Rule,
        /// The alert, on the message that tripped the breaker only (once per incident).
        alert: Option<Box<Alert>>,
    },
}

impl Outcome {
    /// Whether the message is to be held.
    pub fn is_hold(&self) -> bool {
        matches!(self, Outcome::Hold { .. })
    }

    /// The rule, when held.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Outcome::Allow | Outcome::LoneSpam => None,
            Outcome::Hold { rule, .. } => Some(*rule),
        }
    }

    /// What the campaign layer did, for headers and logs: the rule's name when held,
    /// `lone-spam` when a lone spam hold was lowered to tag, `None` when it added nothing.
    pub fn label(&self) -> Option<&'static str> {
        match self {
            Outcome::Allow => None,
            Outcome::LoneSpam => Some("lone-spam"),
            Outcome::Hold { rule, .. } => Some(rule.as_str()),
        }
    }

    /// The alert, on the message that opened an incident.
    pub fn alert(&self) -> Option<&Alert> {
        match self {
            Outcome::Hold { alert, .. } => alert.as_deref(),
            Outcome::Allow | Outcome::LoneSpam => None,
        }
    }
}

/// A sender's counts over one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Window length in seconds.
    pub window_s: u64,
    /// Messages.
    pub messages: u32,
    /// Envelope recipients.
    pub recipients: u32,
    /// Recipients outside the sender's own and the local domains.
    pub external_recipients: u32,
    /// External recipients at free-mail providers.
    pub freemail_recipients: u32,
    /// `freemail_recipients / external_recipients` (0 without external recipients).
    pub freemail_share: f64,
    /// Distinct external recipient domains.
    pub distinct_domains: u32,
    /// False when `distinct_domains` is a lower bound (more domains than are tracked).
    pub distinct_domains_exact: bool,
    /// Messages whose content verdict was hold or reject.
    pub hold_level: u32,
    /// Messages whose content verdict was tag or above (includes `hold_level`).
    #[serde(default)]
    pub flagged: u32,
}

/// Counts over the short window, the hour and the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowTotals {
    /// The short window (default 10 minutes).
    pub short: Totals,
    /// The hour window.
    pub hour: Totals,
    /// The day window.
    pub day: Totals,
}

/// One incident's summary, for the WARN log line and the alert command (JSON on stdin).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The sender key (SASL user, else envelope sender).
    pub sender: String,
    /// The rule that tripped.
    pub rule: Rule,
    /// The rule in words, with its numbers.
    pub reason: String,
    /// When it tripped (unix seconds).
    pub at: u64,
    /// The sender's counts when it tripped (including the tripping message).
    pub counts: WindowTotals,
    /// The campaign's fingerprint (the tripping message's cluster), 16 hex digits.
    pub fingerprint: String,
    /// Messages of that cluster seen so far.
    pub fingerprint_messages: u64,
    /// Distinct recipient organisations of that cluster within the short window.
    pub fingerprint_spread: u32,
    /// The cluster's first subject (truncated).
    pub first_subject: String,
    /// The cluster's first queue ID.
    pub first_queue_id: Option<String>,
    /// The tripping message's queue ID.
    pub last_queue_id: Option<String>,
    /// When the cluster was first seen.
    pub first_at: u64,
    /// The tripping message's time.
    pub last_at: u64,
    /// The learned peak recipients per hour, if the sender has a baseline.
    pub baseline_peak_hour_recipients: Option<u32>,
}

impl std::fmt::Display for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "campaign breaker tripped: sender={} rule={} ({}) messages/10min={} recipients/h={} \
             domains/10min={} freemail={:.0}% fingerprint={} first_subject={:?} queue_ids={}..{}",
            self.sender,
            self.rule,
            self.reason,
            self.counts.short.messages,
            self.counts.hour.recipients,
            self.counts.short.distinct_domains,
            self.counts.hour.freemail_share * 100.0,
            self.fingerprint,
            self.first_subject,
            self.first_queue_id.as_deref().unwrap_or("-"),
            self.last_queue_id.as_deref().unwrap_or("-"),
        )
    }
}

/// An open incident: the breaker tripped and holds everything from the sender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The alert raised when it tripped.
    pub alert: Alert,
    /// Messages held since (including the tripping one).
    pub held: u64,
    /// The last held message's queue ID.
    pub last_queue_id: Option<String>,
    /// The last held message's time.
    pub last_at: u64,
}
