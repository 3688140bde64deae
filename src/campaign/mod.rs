//! Per-sender campaign detection: notice when one sender turns into a campaign, and close the
//! tap until an administrator looks.
//!
//! Pure logic on explicit time (`at`, unix seconds): no clock, no I/O. The milter, a persistent
//! store and a simulated-time replay drive the same [`Tracker`].
//!
//! Per sender (the SASL user, else the envelope sender: [`sender_key`]) the tracker keeps
//! sliding windows of messages, recipients, external and free-mail recipients, distinct external
//! domains, and of the content scores: messages flagged (tag or above) and hold-level verdicts
//! ([`window`]); near-duplicate [`Fingerprint`] clusters with the distinct recipient
//! organisations each reached in the short window; and a learned
//! [`baseline`] of the sender's peaks over the last weeks. The breaker trips on the first of:
//!
//! | rule | fires when | default |
//! |---|---|---|
//! | [`Rule::FingerprintSpread`] | one cluster reached `spread_threshold` distinct recipient organisations in the short window, in at least `spread_min_messages` messages, and the sender's messages in the short window exceed `spread_peak_factor` × its learned short-window peak | 20 organisations, 5 messages, 2× |
//! | [`Rule::Volume`] | recipients in the hour window exceed `max(volume_floor, volume_multiplier × learned peak hour)` | 100, 10× |
//! | [`Rule::HoldStreak`] | `hold_streak` messages in a row with a hold-or-reject verdict of a class in `hold_streak_classes` | 2, fraud and phishing |
//!
//! The other way round, a known sender behaving normally gets the benefit of the doubt for one
//! spam-looking message a day to a few people: a lone hold-level spam verdict is delivered
//! tagged ([`Outcome::LoneSpam`], `tag_lone_spam`). Fraud, phishing and reject-level verdicts
//! are never lowered, nor is anything from a sender without a learned baseline.
//!
//! A *recipient organisation* is an external domain, except that each free-mail mailbox counts
//! as one of its own (`freemail_mailbox_spread`): one letter to twenty strangers at gmail.com is
//! as much a spray as one letter to twenty companies, and the incident behind sendguard went
//! 80 % to free-mail. This is how the free-mail share contributes.
//!
//! Once tripped, every further message from the sender is held ([`Outcome::Hold`]), and the
//! tripping message carries the one [`Alert`] of the incident. [`Tracker::release`] closes the
//! breaker, resets the sender's windows and clusters, approves the tripping cluster, and gives a
//! grace period (`release_grace_s`, 2 h) in which the spread and volume rules do not fire for
//! that sender (the hold-streak rule and blocks still do): the campaign an administrator just
//! let through goes on without tripping again at once, and what it sends while allowed is
//! learned into the baseline from the next day on.
//!
//! ## Bulk senders and the first week
//!
//! A newsletter account sending 2,000 identical mails every Monday is recognised by its
//! baseline: the spread rule needs the sender's short-window volume above twice its learned
//! peak, the volume rule ten times its learned peak hour, and peaks are kept for 35 days (a
//! maximum, not an average, so a once-a-week peak survives the quiet days). In its *first*
//! week such an account has no history and looks exactly like a stolen login (one text to
//! hundreds of domains), so it trips once; the administrator releases it and from then on it is
//! learned. Accounts known in advance go in `bulk_senders`: the spread rule is off for them,
//! and the volume rule applies only once they have a baseline. The trade-off of the peak guard:
//! a stolen account whose owner once sent a big mail merge needs twice that merge's rate before
//! the spread rule fires (the hold-streak rule is unaffected).
//!
//! ## Bounds
//!
//! Per sender: a ring of minute buckets for the hour, of hour buckets for the day, at most
//! `max_domains_tracked` recipient domains (distinct counts beyond that are lower bounds, and
//! say so), at most `max_clusters` clusters (least recently seen evicted) of at most
//! `max_spread_tracked` organisations each. A sender idle for `idle_evict_s` (25 h) that is
//! neither tripped nor blocked loses its windows and clusters; its compact baseline (36 day
//! records) stays until it has been idle for `baseline_days`. At most `max_senders` senders are
//! kept; beyond that the least recently active (not tripped, not blocked) go first.

pub mod baseline;
pub mod breaker;
pub mod fingerprint;
#[cfg(feature = "redis")]
pub mod shared;
pub mod store;
pub mod window;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

pub use self::baseline::{Baseline, Learned};
pub use self::breaker::{Alert, Incident, Outcome, Rule, Totals, WindowTotals};
pub use self::fingerprint::Fingerprint;

/// The verdict the send path acts on: the message's own content verdict, raised to hold when the
/// sender's breaker is open, and lowered from hold to tag for a lone spam verdict
/// ([`Outcome::LoneSpam`]). The milter and `sendguard replay` both decide through this one
/// function, so a replay measures what the daemon does.
pub fn combine(content: crate::Verdict, outcome: &Outcome) -> crate::Verdict {
    match outcome {
        Outcome::Hold { .. } => content.max(crate::Verdict::Hold),
        Outcome::LoneSpam if content == crate::Verdict::Hold => crate::Verdict::Tag,
        Outcome::LoneSpam | Outcome::Allow => content,
    }
}
use self::window::{Counts, RecentSet, Ring};
use crate::model::Class;
use crate::policy::Verdict;
use crate::tokenize::is_freemail;

/// Errors in a [`CampaignConfig`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// A setting is out of its range.
    #[error("campaign setting `{field}`: {why}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

/// Campaign detection settings. Every field has a default; unknown fields are an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignConfig {
    /// Short window in seconds, a multiple of 60 up to `hour_window_s`. Default 600 (10 min).
    pub short_window_s: u64,
    /// Hour window in seconds, a multiple of 60, at most 6 h. Default 3600.
    pub hour_window_s: u64,
    /// Day window in seconds, a multiple of 3600, at most 7 days. Default 86400.
    pub day_window_s: u64,
    /// Domains of this mail system: recipients there are internal, like those at the sender's
    /// own domain. Exact, case-insensitive. Default empty.
    pub local_domains: Vec<String>,
    /// Sender keys known to send bulk mail: no spread rule, and no volume floor (the volume
    /// rule applies once they have a baseline). Exact, case-insensitive. Default empty.
    pub bulk_senders: Vec<String>,
    /// Largest Hamming distance at which two fingerprints are one letter. Default 12: 200
    /// variants of one letter (names, greeting, amounts, references, a closing line) measured
    /// 6 bits apart on average, 99 % of pairs within 12, none beyond 14; different letters 23
    /// or more; unrelated texts 32 ± 4. A variant beyond the bound starts a cluster of its own
    /// (the campaign is then counted in two parts).
    pub fingerprint_distance: u32,
    /// Fingerprint clusters kept per sender. Default 16.
    pub max_clusters: usize,
    /// Distinct recipient organisations of one cluster in the short window that trip the spread
    /// rule. Default 20.
    pub spread_threshold: u32,
    /// Messages of that cluster in the short window the spread rule also needs, so one message
    /// to a long list does not trip it. Default 5.
    pub spread_min_messages: u32,
    /// The spread rule fires only while the sender's short-window messages exceed this times
    /// its learned short-window peak (new senders: always). Default 2.0.
    pub spread_peak_factor: f64,
    /// Count each free-mail mailbox as an organisation of its own in the spread. Default true.
    pub freemail_mailbox_spread: bool,
    /// Recipients per hour window always allowed. Default 100.
    pub volume_floor: u32,
    /// Recipients per hour window allowed as a multiple of the learned peak hour. Default 10.0.
    pub volume_multiplier: f64,
    /// Hold-level verdicts in a row that trip the breaker (0: off). Default 2.
    pub hold_streak: u32,
    /// Flagged classes whose hold-level verdicts count toward the streak. Default fraud,
    /// phishing (spam-scored mail is often a user's own newsletter, misjudged).
    pub hold_streak_classes: Vec<Class>,
    /// Deliver a *lone* spam verdict tagged instead of holding it: a message whose content
    /// verdict is hold (not reject) with spam as its class, to at most
    /// [`LONE_SPAM_MAX_RECIPIENTS`] recipients, from a sender with a learned baseline (at
    /// least `baseline_min_days` completed days of mail, so a new or forged envelope sender
    /// never qualifies) whose breaker is closed, that trips no rule and had no other
    /// hold-level verdict in the day window. A second one within the day is held as the
    /// content verdict says, and spam sent in volume trips the spread or volume rule. Fraud
    /// and phishing are never lowered: one of those letters does harm, and the spam/ham border
    /// is where the content model's false positives sit (ham held on dev: a forwarded chain
    /// letter, a coupon mail). Default true.
    pub tag_lone_spam: bool,
    /// Days of peaks the baseline keeps. Default 35 (a weekly and a monthly rhythm).
    pub baseline_days: u32,
    /// Completed days with mail before a baseline is used. Default 1.
    pub baseline_min_days: u32,
    /// Seconds after a release during which the spread and volume rules do not fire for that
    /// sender. Default 7200.
    pub release_grace_s: u64,
    /// Seconds without mail after which a sender's windows and clusters are dropped (not while
    /// tripped or blocked). Default 90000 (25 h).
    pub idle_evict_s: u64,
    /// Senders kept at most. Default 100000.
    pub max_senders: usize,
    /// Distinct recipient domains tracked per sender. Default 1024.
    pub max_domains_tracked: usize,
    /// Distinct recipient organisations tracked per cluster. Default 128.
    pub max_spread_tracked: usize,
    /// Characters of the subject kept for alerts. Default 160.
    pub subject_chars: usize,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            short_window_s: 600,
            hour_window_s: 3600,
            day_window_s: 86_400,
            local_domains: Vec::new(),
            bulk_senders: Vec::new(),
            fingerprint_distance: 12,
            max_clusters: 16,
            spread_threshold: 20,
            spread_min_messages: 5,
            spread_peak_factor: 2.0,
            freemail_mailbox_spread: true,
            volume_floor: 100,
            volume_multiplier: 10.0,
            hold_streak: 2,
            hold_streak_classes: vec![Class::Fraud, Class::Phishing],
            tag_lone_spam: true,
            baseline_days: 35,
            baseline_min_days: 1,
            release_grace_s: 7200,
            idle_evict_s: 90_000,
            max_senders: 100_000,
            max_domains_tracked: 1024,
            max_spread_tracked: 128,
            subject_chars: 160,
        }
    }
}

impl CampaignConfig {
    /// Checks the ranges stated on each field.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |field, why| Err(ConfigError::Invalid { field, why });
        if self.short_window_s < 60 || !self.short_window_s.is_multiple_of(60) {
            return bad("short_window_s", "must be a positive multiple of 60");
        }
        if !self.hour_window_s.is_multiple_of(60)
            || self.hour_window_s < self.short_window_s
            || self.hour_window_s > 6 * 3600
        {
            return bad(
                "hour_window_s",
                "must be a multiple of 60 between short_window_s and 6 h",
            );
        }
        if !self.day_window_s.is_multiple_of(3600)
            || self.day_window_s < self.hour_window_s
            || self.day_window_s > 7 * 86_400
        {
            return bad(
                "day_window_s",
                "must be a multiple of 3600 between hour_window_s and 7 days",
            );
        }
        if self.fingerprint_distance > 24 {
            return bad("fingerprint_distance", "must be at most 24 of 64 bits");
        }
        if self.max_clusters == 0 || self.max_clusters > 256 {
            return bad("max_clusters", "must be 1 to 256");
        }
        if self.spread_threshold == 0 || self.spread_threshold as usize > self.max_spread_tracked {
            return bad("spread_threshold", "must be 1 to max_spread_tracked");
        }
        if self.max_spread_tracked > 4096 || self.max_domains_tracked > 65_536 {
            return bad(
                "max_spread_tracked",
                "tracking caps are at most 4096 and 65536",
            );
        }
        if !(self.spread_peak_factor >= 0.0 && self.spread_peak_factor.is_finite()) {
            return bad("spread_peak_factor", "must be a finite number >= 0");
        }
        if !(self.volume_multiplier >= 0.0 && self.volume_multiplier.is_finite()) {
            return bad("volume_multiplier", "must be a finite number >= 0");
        }
        if self.baseline_days == 0 || self.baseline_days > 366 {
            return bad("baseline_days", "must be 1 to 366");
        }
        if self.baseline_min_days > self.baseline_days {
            return bad("baseline_min_days", "must be at most baseline_days");
        }
        if self.idle_evict_s < self.day_window_s {
            return bad("idle_evict_s", "must be at least day_window_s");
        }
        if self.max_senders == 0 {
            return bad("max_senders", "must be at least 1");
        }
        Ok(())
    }

    fn minutes(&self, s: u64) -> usize {
        (s / 60) as usize
    }

    fn is_bulk(&self, sender: &str) -> bool {
        self.bulk_senders
            .iter()
            .any(|b| b.eq_ignore_ascii_case(sender))
    }
}

/// The key a sender is tracked by: the authenticated (SASL) user when there is one, else the
/// envelope sender; lower-cased and trimmed. The null sender is `<>`.
pub fn sender_key(auth_user: Option<&str>, envelope_sender: &str) -> String {
    if let Some(u) = auth_user.map(str::trim).filter(|u| !u.is_empty()) {
        return u.to_lowercase();
    }
    let s = envelope_sender
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if s.is_empty() {
        "<>".to_string()
    } else {
        s.to_lowercase()
    }
}

/// The domain of an address, lower-cased, without a trailing dot; `None` without an `@`.
pub fn domain_of(address: &str) -> Option<String> {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (_, d) = a.rsplit_once('@')?;
    let d = d.trim_end_matches('.');
    (!d.is_empty()).then(|| d.to_ascii_lowercase())
}

/// One outbound message, as the tracker needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// When (unix seconds).
    pub at: u64,
    /// The sender key ([`sender_key`]).
    pub sender: String,
    /// The envelope sender's domain: recipients there are internal ([`domain_of`]).
    pub sender_domain: Option<String>,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// The message's fingerprint ([`Fingerprint::of`]).
    pub fingerprint: Fingerprint,
    /// The content verdict.
    pub verdict: Verdict,
    /// The flagged (most likely non-ham) class.
    pub class: Class,
    /// Log-odds of non-ham against ham.
    pub suspicion: f32,
    /// The subject.
    pub subject: String,
    /// The MTA's queue ID.
    pub queue_id: Option<String>,
}

/// One near-duplicate cluster of a sender's messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// The first message's fingerprint; later ones join within `fingerprint_distance`.
    pub fingerprint: Fingerprint,
    /// Messages seen.
    pub messages: u64,
    /// First and last time seen.
    pub first_at: u64,
    /// Last time seen.
    pub last_at: u64,
    /// The first message's subject (truncated).
    pub first_subject: String,
    /// The first message's queue ID.
    pub first_queue_id: Option<String>,
    /// The last message's queue ID.
    pub last_queue_id: Option<String>,
    /// Released by an administrator: never trips the spread rule again.
    pub approved: bool,
    recent: Ring<u32>,
    spread: RecentSet,
}

/// Per-sender live state (dropped when idle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Live {
    minutes: Ring<Counts>,
    hours: Ring<Counts>,
    domains: RecentSet,
    clusters: Vec<Cluster>,
}

impl Live {
    fn new(c: &CampaignConfig) -> Self {
        Live {
            minutes: Ring::new(60, c.minutes(c.hour_window_s)),
            hours: Ring::new(3600, (c.day_window_s / 3600) as usize),
            domains: RecentSet::new(c.max_domains_tracked),
            clusters: Vec::new(),
        }
    }

    /// Counts per window; distinct domains only when `domains` (they cost a pass over the set).
    fn totals(&self, at: u64, c: &CampaignConfig, domains: bool) -> WindowTotals {
        let make = |counts: Counts, window_s: u64| Totals {
            window_s,
            messages: counts.messages,
            recipients: counts.recipients,
            external_recipients: counts.external,
            freemail_recipients: counts.freemail,
            freemail_share: if counts.external == 0 {
                0.0
            } else {
                f64::from(counts.freemail) / f64::from(counts.external)
            },
            distinct_domains: if domains {
                self.domains.count_within(at, window_s)
            } else {
                0
            },
            distinct_domains_exact: domains && self.domains.exact_within(at, window_s),
            hold_level: counts.hold_level,
            flagged: counts.flagged,
        };
        WindowTotals {
            short: make(
                self.minutes.sum(at, c.minutes(c.short_window_s)),
                c.short_window_s,
            ),
            hour: make(
                self.minutes.sum(at, c.minutes(c.hour_window_s)),
                c.hour_window_s,
            ),
            day: make(
                self.hours.sum(at, (c.day_window_s / 3600) as usize),
                c.day_window_s,
            ),
        }
    }
}

/// Everything known about one sender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SenderState {
    last_at: u64,
    live: Option<Live>,
    baseline: Baseline,
    streak: u32,
    grace_until: u64,
    incident: Option<Incident>,
    blocked_since: Option<u64>,
}

impl SenderState {
    /// A sender first seen at `at`: no windows yet, an empty baseline of `baseline_days`.
    fn new(at: u64, baseline_days: u32) -> Self {
        SenderState {
            last_at: at,
            live: None,
            baseline: Baseline::new(baseline_days),
            streak: 0,
            grace_until: 0,
            incident: None,
            blocked_since: None,
        }
    }

    fn pinned(&self) -> bool {
        self.incident.is_some() || self.blocked_since.is_some()
    }
}

/// State of a sender's breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Closed: mail flows.
    Closed,
    /// Closed, in the grace period after a release.
    Grace,
    /// Tripped by a rule: everything is held.
    Tripped,
    /// Blocked by an administrator: everything is held.
    Blocked,
}

/// One line of `senders list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SenderSummary {
    /// The sender key.
    pub sender: String,
    /// The breaker.
    pub state: BreakerState,
    /// The tripping rule, when tripped.
    pub rule: Option<Rule>,
    /// Last message (unix seconds).
    pub last_at: u64,
    /// Messages in the short window.
    pub short_messages: u32,
    /// Recipients in the hour window.
    pub hour_recipients: u32,
    /// Messages in the day window.
    pub day_messages: u32,
    /// Messages held since the breaker tripped.
    pub held: u64,
    /// The learned peak recipients per hour.
    pub baseline_peak_hour_recipients: Option<u32>,
}

/// `senders show`: the summary, the windows, the clusters, the open incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SenderDetail {
    /// The summary line.
    pub summary: SenderSummary,
    /// Counts per window.
    pub counts: WindowTotals,
    /// What the baseline learned.
    pub baseline: Option<Learned>,
    /// Fingerprint clusters, most recent first.
    pub clusters: Vec<ClusterSummary>,
    /// The open incident.
    pub incident: Option<Incident>,
    /// Blocked since (unix seconds).
    pub blocked_since: Option<u64>,
    /// End of the grace period after a release (unix seconds; 0: none).
    pub grace_until: u64,
}

/// One cluster in `senders show`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// 16 hex digits.
    pub fingerprint: String,
    /// Messages seen.
    pub messages: u64,
    /// Messages in the short window.
    pub short_messages: u32,
    /// Distinct recipient organisations in the short window.
    pub short_spread: u32,
    /// First subject.
    pub first_subject: String,
    /// First and last time seen.
    pub first_at: u64,
    /// Last time seen.
    pub last_at: u64,
    /// Released by an administrator.
    pub approved: bool,
}

/// The per-sender state of every sender, and the breaker. Serialize it to persist it: the
/// configuration travels with it, since the rings' sizes depend on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    config: CampaignConfig,
    senders: BTreeMap<String, SenderState>,
    last_sweep: u64,
}

/// Most envelope recipients a lone spam verdict may have to be lowered to tag
/// ([`CampaignConfig::tag_lone_spam`]): a stolen account gets at most one such message a day
/// to this many people before its spam is held.
pub const LONE_SPAM_MAX_RECIPIENTS: usize = 10;

/// Sweep for idle senders at most this often (seconds of observed time).
const SWEEP_EVERY: u64 = 300;

impl Tracker {
    /// An empty tracker.
    pub fn new(config: CampaignConfig) -> Result<Self, ConfigError> {
        config.check()?;
        Ok(Tracker {
            config,
            senders: BTreeMap::new(),
            last_sweep: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &CampaignConfig {
        &self.config
    }

    /// Senders tracked (including those kept only for their baseline).
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether no sender is tracked.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Records one message and says whether the breaker holds it.
    pub fn observe(&mut self, obs: &Observation) -> Outcome {
        let at = obs.at;
        if at >= self.last_sweep + SWEEP_EVERY {
            self.sweep(at);
        }
        if !self.senders.contains_key(&obs.sender) && self.senders.len() >= self.config.max_senders
        {
            self.cap_senders();
        }
        let c = &self.config;
        let st = self
            .senders
            .entry(obs.sender.clone())
            .or_insert_with(|| SenderState::new(at, c.baseline_days));
        st.last_at = st.last_at.max(at);
        let live = st.live.get_or_insert_with(|| Live::new(c));

        // Count the message.
        let mut counts = Counts {
            messages: 1,
            hold_level: u32::from(obs.verdict >= Verdict::Hold),
            flagged: u32::from(obs.verdict >= Verdict::Tag),
            ..Counts::default()
        };
        let ci = cluster_for(live, obs, c);
        for r in &obs.recipients {
            counts.recipients += 1;
            let Some(d) = domain_of(r) else { continue };
            let internal = obs.sender_domain.as_deref() == Some(d.as_str())
                || c.local_domains.iter().any(|l| l.eq_ignore_ascii_case(&d));
            if internal {
                continue;
            }
            counts.external += 1;
            let free = is_freemail(&d);
            counts.freemail += u32::from(free);
            live.domains.insert(xxh3_64(d.as_bytes()), at);
            let org = if free && c.freemail_mailbox_spread {
                xxh3_64(r.trim().to_lowercase().as_bytes())
            } else {
                xxh3_64(d.as_bytes())
            };
            live.clusters[ci].spread.insert(org, at);
        }
        live.minutes.add(at, counts);
        live.hours.add(at, counts);
        live.clusters[ci].recent.add(at, 1);

        // Already open: hold.
        if let Some(since) = st.blocked_since {
            let _ = since;
            return Outcome::Hold {
                rule: Rule::Blocked,
                alert: None,
            };
        }
        if let Some(inc) = &mut st.incident {
            inc.held += 1;
            inc.last_queue_id.clone_from(&obs.queue_id);
            inc.last_at = at;
            return Outcome::Hold {
                rule: inc.alert.rule,
                alert: None,
            };
        }

        // The rules.
        let streak_class =
            obs.verdict >= Verdict::Hold && c.hold_streak_classes.contains(&obs.class);
        st.streak = if streak_class { st.streak + 1 } else { 0 };
        let totals = live.totals(at, c, false);
        let learned = st.baseline.learned(at, c.baseline_min_days);
        let in_grace = at < st.grace_until;
        let bulk = c.is_bulk(&obs.sender);
        let cluster = &live.clusters[ci];
        let short_min = c.minutes(c.short_window_s);
        let spread = cluster.spread.count_within(at, c.short_window_s);
        let cluster_short = cluster.recent.sum(at, short_min);

        let mut fired = None;
        if c.hold_streak > 0 && st.streak >= c.hold_streak {
            fired = Some((
                Rule::HoldStreak,
                format!("{} hold-level {} verdicts in a row", st.streak, obs.class),
            ));
        }
        if fired.is_none() && !in_grace && !bulk && !cluster.approved {
            let peak = learned.map_or(0, |l| l.peak_short_messages);
            let above_peak =
                f64::from(totals.short.messages) > c.spread_peak_factor * f64::from(peak);
            if spread >= c.spread_threshold && cluster_short >= c.spread_min_messages && above_peak
            {
                fired = Some((
                    Rule::FingerprintSpread,
                    format!(
                        "one letter to {spread} recipient organisations in {cluster_short} messages \
                         within {} s (threshold {}; learned peak {peak} messages)",
                        c.short_window_s, c.spread_threshold
                    ),
                ));
            }
        }
        if fired.is_none() && !in_grace && !(bulk && learned.is_none()) {
            let peak = learned.map_or(0, |l| l.peak_hour_recipients);
            let floor = if bulk { 0.0 } else { f64::from(c.volume_floor) };
            let limit = floor.max(c.volume_multiplier * f64::from(peak));
            if f64::from(totals.hour.recipients) > limit {
                fired = Some((
                    Rule::Volume,
                    format!(
                        "{} recipients within {} s, above {limit:.0} (floor {}, {}x learned peak {peak})",
                        totals.hour.recipients, c.hour_window_s, c.volume_floor, c.volume_multiplier
                    ),
                ));
            }
        }

        let Some((rule, reason)) = fired else {
            st.baseline
                .learn(at, totals.hour.recipients, totals.short.messages);
            let lone_spam = c.tag_lone_spam
                && obs.verdict == Verdict::Hold
                && obs.class == Class::Spam
                && totals.day.hold_level <= 1
                && obs.recipients.len() <= LONE_SPAM_MAX_RECIPIENTS
                && learned.is_some();
            return if lone_spam {
                Outcome::LoneSpam
            } else {
                Outcome::Allow
            };
        };
        let alert = Alert {
            sender: obs.sender.clone(),
            rule,
            reason,
            at,
            counts: live.totals(at, c, true),
            fingerprint: cluster.fingerprint.hex(),
            fingerprint_messages: cluster.messages,
            fingerprint_spread: spread,
            first_subject: cluster.first_subject.clone(),
            first_queue_id: cluster.first_queue_id.clone(),
            last_queue_id: obs.queue_id.clone(),
            first_at: cluster.first_at,
            last_at: at,
            baseline_peak_hour_recipients: learned.map(|l| l.peak_hour_recipients),
        };
        st.incident = Some(Incident {
            alert: alert.clone(),
            held: 1,
            last_queue_id: obs.queue_id.clone(),
            last_at: at,
        });
        Outcome::Hold {
            rule,
            alert: Some(Box::new(alert)),
        }
    }

    /// Closes a sender's breaker (tripped or blocked): resets its windows and clusters' counts,
    /// approves the cluster that tripped it, and starts the grace period. Returns whether the
    /// sender was known.
    pub fn release(&mut self, sender: &str, at: u64) -> bool {
        let grace = self.config.release_grace_s;
        let Some(st) = self.senders.get_mut(&sender.to_lowercase()) else {
            return false;
        };
        let tripping = st.incident.take().map(|i| i.alert.fingerprint);
        st.blocked_since = None;
        st.streak = 0;
        st.grace_until = at + grace;
        if let Some(live) = &mut st.live {
            live.minutes.clear();
            live.hours.clear();
            live.domains.clear();
            for cl in &mut live.clusters {
                cl.recent.clear();
                cl.spread.clear();
                if tripping.as_deref() == Some(cl.fingerprint.hex().as_str()) {
                    cl.approved = true;
                }
            }
        }
        true
    }

    /// Holds every message from a sender until [`Tracker::release`] (no alert: an
    /// administrator did it).
    pub fn block(&mut self, sender: &str, at: u64) {
        let key = sender.to_lowercase();
        let days = self.config.baseline_days;
        let st = self
            .senders
            .entry(key)
            .or_insert_with(|| SenderState::new(at, days));
        st.blocked_since.get_or_insert(at);
    }

    /// Summaries of every sender with live state, tripped or blocked first, then by
    /// recipients in the hour window.
    pub fn senders(&self, at: u64) -> Vec<SenderSummary> {
        let mut v: Vec<SenderSummary> = self
            .senders
            .iter()
            .filter(|(_, st)| st.live.is_some() || st.pinned())
            .map(|(k, st)| self.summary(k, st, at))
            .collect();
        v.sort_by(|a, b| {
            let open = |s: &SenderSummary| {
                matches!(s.state, BreakerState::Tripped | BreakerState::Blocked)
            };
            open(b)
                .cmp(&open(a))
                .then(b.hour_recipients.cmp(&a.hour_recipients))
                .then(a.sender.cmp(&b.sender))
        });
        v
    }

    /// Everything about one sender.
    pub fn sender(&self, key: &str, at: u64) -> Option<SenderDetail> {
        let st = self.senders.get(&key.to_lowercase())?;
        let c = &self.config;
        let counts = st
            .live
            .as_ref()
            .map(|l| l.totals(at, c, true))
            .unwrap_or_default();
        let mut clusters: Vec<ClusterSummary> = st
            .live
            .iter()
            .flat_map(|l| &l.clusters)
            .map(|cl| ClusterSummary {
                fingerprint: cl.fingerprint.hex(),
                messages: cl.messages,
                short_messages: cl.recent.sum(at, c.minutes(c.short_window_s)),
                short_spread: cl.spread.count_within(at, c.short_window_s),
                first_subject: cl.first_subject.clone(),
                first_at: cl.first_at,
                last_at: cl.last_at,
                approved: cl.approved,
            })
            .collect();
        clusters.sort_by_key(|c| std::cmp::Reverse(c.last_at));
        Some(SenderDetail {
            summary: self.summary(&key.to_lowercase(), st, at),
            counts,
            baseline: st.baseline.learned(at, c.baseline_min_days),
            clusters,
            incident: st.incident.clone(),
            blocked_since: st.blocked_since,
            grace_until: st.grace_until,
        })
    }

    fn summary(&self, key: &str, st: &SenderState, at: u64) -> SenderSummary {
        let c = &self.config;
        let t = st
            .live
            .as_ref()
            .map(|l| l.totals(at, c, true))
            .unwrap_or_default();
        let state = if st.blocked_since.is_some() {
            BreakerState::Blocked
        } else if st.incident.is_some() {
            BreakerState::Tripped
        } else if at < st.grace_until {
            BreakerState::Grace
        } else {
            BreakerState::Closed
        };
        SenderSummary {
            sender: key.to_string(),
            state,
            rule: match state {
                BreakerState::Blocked => Some(Rule::Blocked),
                _ => st.incident.as_ref().map(|i| i.alert.rule),
            },
            last_at: st.last_at,
            short_messages: t.short.messages,
            hour_recipients: t.hour.recipients,
            day_messages: t.day.messages,
            held: st.incident.as_ref().map_or(0, |i| i.held),
            baseline_peak_hour_recipients: st
                .baseline
                .learned(at, c.baseline_min_days)
                .map(|l| l.peak_hour_recipients),
        }
    }

    /// Drops idle senders' windows and clusters, and senders with neither live state nor a
    /// baseline left. Called by [`Tracker::observe`] every few minutes of observed time.
    pub fn sweep(&mut self, at: u64) {
        self.last_sweep = at;
        let c = &self.config;
        let keep_baseline = u64::from(c.baseline_days) * 86_400;
        self.senders.retain(|_, st| {
            if st.pinned() {
                return true;
            }
            if st.last_at + c.idle_evict_s < at {
                st.live = None;
            }
            st.live.is_some() || st.baseline.last_learned + keep_baseline >= at
        });
    }

    /// Keeps at most 90 % of `max_senders`, dropping the least recently active unpinned ones.
    fn cap_senders(&mut self) {
        let target = self.config.max_senders - self.config.max_senders / 10;
        let mut ages: Vec<(u64, String)> = self
            .senders
            .iter()
            .filter(|(_, st)| !st.pinned())
            .map(|(k, st)| (st.last_at, k.clone()))
            .collect();
        ages.sort();
        let excess = self.senders.len().saturating_sub(target);
        for (_, k) in ages.into_iter().take(excess) {
            self.senders.remove(&k);
        }
    }
}

/// The index of the message's cluster, creating it (and evicting the least recently seen
/// cluster beyond `max_clusters`) when none is within `fingerprint_distance`.
fn cluster_for(live: &mut Live, obs: &Observation, c: &CampaignConfig) -> usize {
    let best = live
        .clusters
        .iter()
        .enumerate()
        .map(|(i, cl)| (cl.fingerprint.distance(obs.fingerprint), i))
        .filter(|(d, _)| *d <= c.fingerprint_distance)
        .min();
    let i = match best {
        Some((_, i)) => i,
        None => {
            if live.clusters.len() >= c.max_clusters {
                let oldest = live
                    .clusters
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, cl)| cl.last_at)
                    .map_or(0, |(i, _)| i);
                live.clusters.swap_remove(oldest);
            }
            live.clusters.push(Cluster {
                fingerprint: obs.fingerprint,
                messages: 0,
                first_at: obs.at,
                last_at: obs.at,
                first_subject: obs.subject.chars().take(c.subject_chars).collect(),
                first_queue_id: obs.queue_id.clone(),
                last_queue_id: None,
                approved: false,
                recent: Ring::new(60, c.minutes(c.short_window_s)),
                spread: RecentSet::new(c.max_spread_tracked),
            });
            live.clusters.len() - 1
        }
    };
    let cl = &mut live.clusters[i];
    cl.messages += 1;
    cl.last_at = cl.last_at.max(obs.at);
    cl.last_queue_id.clone_from(&obs.queue_id);
    i
}

#[cfg(test)]
mod tests;
