//! `sendguard replay`: the incident behind sendguard, replayed on simulated time through the
//! same decision code as the send path.
//!
//! A synthetic outbound stream is built from real messages and driven, message by message in
//! time order, through the content model ([`Classifier::score_with`], or a plain pass for every
//! message with the content model off), [`Fingerprint::of`] on the same parsed view,
//! [`Tracker::observe`] and [`campaign::combine`], which is where the milter decides too. A
//! message is *delivered* when the combined verdict is pass or tag, *held* otherwise.
//!
//! ## The stream
//!
//! Simulated time starts on Monday 2026-01-05 00:00 UTC. `history_weeks` (2) weeks of ordinary
//! traffic come first, so baselines exist; the incident is on the Monday after.
//!
//! - **Ordinary users** (`users`, 40) at `northwind-trading.example`: each has its own daily
//!   rate (4 to 30 mails per working day, a few mails on some weekend days), sent between 08:00
//!   and 18:00; 1 recipient mostly (70 %), 2 (20 %) or 3 (10 %); recipients are colleagues
//!   (40 %), free-mail mailboxes (25 %) or the user's partner domains (35 %). Bodies and
//!   subjects are the ham input's messages, cycled, with the envelope headers rewritten.
//! - **A newsletter account** (`news@`) that sends one identical letter, one message per
//!   recipient, to 2,000 subscribers (most at free-mail) every Monday from 07:00 at about one
//!   message a second. It is declared in [`CampaignConfig::bulk_senders`], as an administrator
//!   would declare a known mailing account: without that, its first Monday in the replay (no
//!   history yet) looks exactly like a stolen login and trips once, as the campaign module
//!   documents. Declared, the spread rule is off for it and the volume rule applies from its
//!   second Monday on, against the peak it learned on the first (10 × 2,000 recipients an hour).
//! - **Busy people**: three users send 50 mails each on the incident day.
//! - **The compromised account**, an ordinary user with normal history, which on the incident
//!   day sends 2 or 3 probe letters (to free-mail mailboxes, 25 to 4 minutes before the flood),
//!   then 11,000 letters from 06:00 over 5 hours to about 12,300 recipients: about 7,800 at
//!   gmail.com, 1,500 at hotmail.com and 3,000 at about 600 other domains (1,300 letters have
//!   two recipients). Every letter is one template from the scam input (its first letter with
//!   at least 400 characters of text), rebuilt as plain text with per-recipient variations: the
//!   greeting name, an amount and a reference number. The account's owner sends no ordinary
//!   mail on the incident day (after a trip, everything from that login is held by design).
//!
//! `scale` multiplies the campaign (letters, recipients, other domains and its duration, so
//! the rate stays that of the incident) and the newsletter (at least 150 recipients, so it
//! stays above the volume floor); ordinary users are not scaled.
//!
//! ## Measures
//!
//! `scam_delivered` counts every scam letter (probes included) delivered over the whole run.
//! `time_to_containment_s` is the time of the first held scam letter minus that of the first
//! scam letter, the first probe (`flood_to_containment_s`: minus the first flood letter, 0 when
//! the flood is held from its first letter). `legit_held` counts ordinary, busy and newsletter
//! messages held, split into `legit_held_content` (the content verdict alone held them: a
//! content false positive, the breaker added nothing) and `legit_held_breaker` (held only
//! because a sender's breaker was open). `legit_lone_spam` and `scam_lone_spam` count messages
//! whose hold-level spam verdict was delivered tagged as a lone spam verdict
//! (`tag_lone_spam`); they are among the delivered ones.
//!
//! Only the templates are kept in memory (at most [`MAX_HAM_TEMPLATES`] ham messages of at most
//! [`MAX_TEMPLATE_BYTES`] each); each message is built in one reused buffer when its turn
//! comes. A run is a pure function of its inputs and the seed.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::campaign::{self, Alert, CampaignConfig, Fingerprint, Observation, Tracker};
use crate::corpus::{open_input, CorpusError, ReadLimits};
use crate::message::{MessageView, ViewLimits};
use crate::model::Class;
use crate::policy::Verdict;
use crate::Classifier;

/// Monday 2026-01-05 00:00 UTC, the start of simulated time.
pub const SIM_START: u64 = 1_767_571_200;
/// Ham messages kept as templates at most.
pub const MAX_HAM_TEMPLATES: usize = 2000;
/// Largest message kept as a template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;
/// The company's domain.
pub const COMPANY_DOMAIN: &str = "northwind-trading.example";
/// The newsletter account.
pub const NEWSLETTER: &str = "news@northwind-trading.example";

const DAY: u64 = 86_400;
const HOUR: u64 = 3600;
/// Characters of text a scam letter needs to be chosen as the template.
const SCAM_MIN_TEXT: usize = 400;

/// Errors of a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An input could not be read.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// An input held no usable message.
    #[error("{0}: no usable message")]
    Empty(String),
    /// A built message could not be scored.
    #[error("scoring a replayed message: {0}")]
    Score(#[from] crate::Error),
    /// The options are out of range.
    #[error("{0}")]
    Options(&'static str),
}

/// What to replay.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayOptions {
    /// Seed of the stream's random choices.
    pub seed: u64,
    /// Size of the campaign and the newsletter, relative to the incident (1.0).
    pub scale: f64,
    /// Ordinary users.
    pub users: usize,
    /// Weeks of ordinary traffic before the incident week.
    pub history_weeks: u32,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            seed: 1,
            scale: 1.0,
            users: 40,
            history_weeks: 2,
        }
    }
}

/// The real messages the stream is built from.
#[derive(Clone, Debug)]
pub struct Templates {
    /// Ham messages with their envelope headers (From, To, Date, Message-ID, Received, ...)
    /// removed: the rest of the header, a blank line, the body.
    ham: Vec<Vec<u8>>,
    /// The scam letter's subject.
    scam_subject: String,
    /// The scam letter's text.
    scam_text: String,
    /// Where the scam template came from (`input#index`).
    pub scam_source: String,
    /// Ham input messages skipped (unreadable, or too large).
    pub ham_skipped: usize,
}

impl Templates {
    /// Reads the ham templates (the first [`MAX_HAM_TEMPLATES`] messages of at most
    /// [`MAX_TEMPLATE_BYTES`]) and the scam template (the first letter with at least 400
    /// characters of text, else the longest) from mbox files (plain or .gz) or directories.
    pub fn load(ham: &str, scam: &str) -> Result<Templates, ReplayError> {
        let limits = ReadLimits::default();
        let mut templates = Vec::new();
        let mut skipped = 0;
        for item in open_input(ham, &limits)? {
            if templates.len() >= MAX_HAM_TEMPLATES {
                break;
            }
            match item {
                Ok(m) if m.bytes.len() <= MAX_TEMPLATE_BYTES => match strip_envelope(&m.bytes) {
                    Some(t) => templates.push(t),
                    None => skipped += 1,
                },
                _ => skipped += 1,
            }
        }
        if templates.is_empty() {
            return Err(ReplayError::Empty(ham.to_string()));
        }
        let view_limits = ViewLimits::default();
        let mut best: Option<(usize, String, String, String)> = None;
        for item in open_input(scam, &limits)? {
            let Ok(m) = item else { continue };
            let Ok(view) = MessageView::parse(&m.bytes, &view_limits) else {
                continue;
            };
            let len = view.text.chars().count();
            if best.as_ref().is_none_or(|b| len > b.0) {
                best = Some((
                    len,
                    view.subject.clone(),
                    view.text.clone(),
                    format!("{}#{}", m.input, m.index),
                ));
            }
            if len >= SCAM_MIN_TEXT {
                break;
            }
        }
        let (_, scam_subject, scam_text, scam_source) =
            best.ok_or_else(|| ReplayError::Empty(scam.to_string()))?;
        Ok(Templates {
            ham: templates,
            scam_subject,
            scam_text,
            scam_source,
            ham_skipped: skipped,
        })
    }

    /// Ham templates kept.
    pub fn ham_len(&self) -> usize {
        self.ham.len()
    }
}

/// Header fields a template loses: the replay writes its own envelope.
const DROPPED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "date",
    "message-id",
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "sender",
    "reply-to",
    "dkim-signature",
    "authentication-results",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
];

/// The message without its envelope header fields (and without an mbox `From ` line), with
/// `\n` line ends in the header; `None` when nothing is left.
fn strip_envelope(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    let mut keep = true;
    let mut first = true;
    loop {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            out.push(b'\n');
            out.extend_from_slice(next);
            break;
        }
        if first && line.starts_with(b"From ") {
            first = false;
            rest = next;
            continue;
        }
        first = false;
        if line[0] == b' ' || line[0] == b'\t' {
            if keep {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        } else {
            let name = line
                .iter()
                .position(|&b| b == b':')
                .map(|i| &line[..i])
                .unwrap_or(line);
            keep = !DROPPED_HEADERS
                .iter()
                .any(|h| h.as_bytes().eq_ignore_ascii_case(name.trim_ascii()));
            if keep {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        if next.is_empty() {
            // A header without a body.
            out.push(b'\n');
            break;
        }
        rest = next;
    }
    (!out.iter().all(u8::is_ascii_whitespace)).then_some(out)
}

/// A small seeded PRNG (splitmix64): reproducible and good enough for a traffic model.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_5EED_5EED_5EED)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "anna", "ben", "carla", "david", "elena", "felix", "greta", "hugo", "ines", "jonas", "karin",
    "lukas", "maria", "nils", "olga", "paul", "quinn", "rosa", "stefan", "tina", "uwe", "vera",
    "walter", "xenia", "yusuf", "zoe", "amir", "bianca", "chen", "dmitri", "emma", "farah",
    "george", "hana", "ivan", "julia", "kofi", "lena", "mateo", "nora",
];
const LAST_NAMES: &[&str] = &[
    "schmidt", "meyer", "okafor", "rossi", "dubois", "novak", "tanaka", "silva", "kowalski",
    "jensen", "garcia", "muller", "brown", "ivanova", "haddad", "larsen", "moreau", "weber",
    "santos", "klein", "fischer", "nakamura", "smith", "wagner", "becker", "hoffmann", "kim",
    "lopez", "mensah", "peters",
];
const FREEMAIL: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "hotmail.com",
    "hotmail.com",
    "yahoo.com",
    "outlook.com",
    "gmx.de",
    "web.de",
];
const OTHER_BIG: &[&str] = &[
    "yahoo.com",
    "aol.com",
    "outlook.com",
    "yahoo.co.uk",
    "gmx.de",
    "web.de",
    "mail.ru",
    "comcast.net",
    "live.com",
    "icloud.com",
    "orange.fr",
    "libero.it",
];
const SYLLABLES: &[&str] = &[
    "ar", "bel", "cor", "dan", "el", "fen", "gar", "hol", "ist", "jor", "kes", "lum", "mar", "nor",
    "ost", "pra", "quin", "ros", "sil", "tor", "ul", "ven", "wes", "xan", "yor", "zel",
];
const SUFFIXES: &[&str] = &[
    "",
    "-trading",
    "-holdings",
    "-group",
    "-logistics",
    "-consult",
    "-partners",
    "tech",
    "-law",
];
const TLDS: &[&str] = &[
    "com", "com", "com", "net", "org", "de", "co.uk", "fr", "it", "nl", "ng", "in", "com.au",
];

/// A made-up company domain.
fn company_domain(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..2 + rng.below(2) {
        s.push_str(rng.pick::<&str>(SYLLABLES));
    }
    s.push_str(rng.pick::<&str>(SUFFIXES));
    s.push('.');
    s.push_str(rng.pick::<&str>(TLDS));
    s
}

/// A person's mailbox local part.
fn local_part(rng: &mut Rng) -> String {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    match rng.below(4) {
        0 => format!("{first}.{last}"),
        1 => format!("{first}{}", 10 + rng.below(90)),
        2 => format!("{}{last}{}", &first[..1], rng.below(1000)),
        _ => format!("{first}_{last}{}", 1960 + rng.below(45)),
    }
}

/// Who sends a message, and as what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ordinary,
    Busy,
    Newsletter,
    Probe,
    Scam,
}

impl Kind {
    fn is_scam(self) -> bool {
        matches!(self, Kind::Probe | Kind::Scam)
    }
}

/// One message to send.
#[derive(Clone, Debug)]
struct Event {
    at: u64,
    seq: u32,
    kind: Kind,
    sender: u16,
    template: u32,
    recipients: Vec<String>,
}

/// One alert of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertLine {
    /// The sender.
    pub sender: String,
    /// Whether the sender is the compromised account.
    pub compromised: bool,
    /// The rule that tripped.
    pub rule: String,
    /// Seconds since the start of simulated time.
    pub at_s: u64,
    /// When, as `Mon 2026-01-19 06:00:31 UTC`.
    pub when: String,
    /// The rule in words.
    pub reason: String,
    /// The campaign's fingerprint.
    pub fingerprint: String,
    /// The cluster's first subject.
    pub first_subject: String,
    /// The cluster's first and the tripping message's queue IDs.
    pub queue_ids: String,
}

/// What a replay measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplaySummary {
    /// The seed.
    pub seed: u64,
    /// Whether the content model scored the messages.
    pub content_model: bool,
    /// The scale of the campaign and the newsletter.
    pub scale: f64,
    /// Messages replayed.
    pub messages: u64,
    /// Senders in the stream.
    pub senders: u64,
    /// Ham templates used.
    pub ham_templates: u64,
    /// Where the scam template came from.
    pub scam_template: String,
    /// Scam letters sent (probes included).
    pub scam_sent: u64,
    /// Probe letters among them.
    pub scam_probes: u64,
    /// Recipients of the scam letters.
    pub scam_recipients: u64,
    /// Distinct recipient domains of the scam letters.
    pub scam_domains: u64,
    /// Scam letters delivered (pass or tag).
    pub scam_delivered: u64,
    /// Scam letters held by the content verdict alone (before or without the breaker).
    pub scam_held_content: u64,
    /// Seconds from the first scam letter (a probe) to the first held one.
    pub time_to_containment_s: Option<u64>,
    /// Seconds from the first flood letter to the first held scam letter (0 if held before).
    pub flood_to_containment_s: Option<u64>,
    /// The rule that opened the compromised account's breaker.
    pub containment_rule: Option<String>,
    /// Legitimate messages (ordinary, busy, newsletter) sent.
    pub legit_sent: u64,
    /// Legitimate messages held, for any reason.
    pub legit_held: u64,
    /// Of these, held by the content verdict alone.
    pub legit_held_content: u64,
    /// Of these, held only because the sender's breaker was open.
    pub legit_held_breaker: u64,
    /// Legitimate messages with a hold-level content verdict delivered tagged as a lone spam
    /// verdict ([`campaign::Outcome::LoneSpam`]).
    pub legit_lone_spam: u64,
    /// Scam letters delivered tagged as a lone spam verdict.
    pub scam_lone_spam: u64,
    /// Newsletter messages sent.
    pub newsletter_sent: u64,
    /// Newsletter messages held.
    pub newsletter_held: u64,
    /// Alerts fired (one per incident).
    pub alerts: u64,
    /// Alerts on accounts that were not compromised.
    pub false_alerts: u64,
    /// Every alert.
    pub alert_list: Vec<AlertLine>,
}

/// The stream, in time order.
struct Stream {
    events: Vec<Event>,
    senders: Vec<String>,
    compromised: u16,
    first_flood_at: u64,
}

fn build_stream(opts: &ReplayOptions, ham_len: usize) -> Stream {
    let mut rng = Rng::new(opts.seed);
    let mut events = Vec::new();
    let mut senders: Vec<String> = Vec::new();
    let mut used = BTreeSet::new();
    for _ in 0..opts.users {
        let name = loop {
            let n = format!("{}.{}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
            if used.insert(n.clone()) {
                break n;
            }
        };
        senders.push(format!("{name}@{COMPANY_DOMAIN}"));
    }
    let newsletter = senders.len() as u16;
    senders.push(NEWSLETTER.to_string());
    let compromised = (opts.users / 2) as u16;
    let partners: Vec<String> = (0..40).map(|_| company_domain(&mut rng)).collect();
    let user_partners: Vec<Vec<usize>> = (0..opts.users)
        .map(|_| (0..8).map(|_| rng.below(40) as usize).collect())
        .collect();
    let rates: Vec<u64> = (0..opts.users).map(|_| 4 + rng.below(27)).collect();
    let mut template = 0u32;
    let next_template = |t: &mut u32| {
        let v = *t;
        *t = (*t + 1) % ham_len as u32;
        v
    };
    let days = u64::from(opts.history_weeks) * 7 + 1;
    let incident_day = days - 1;
    let busy: Vec<usize> = (0..opts.users)
        .map(|k| (k * 7 + 3) % opts.users)
        .filter(|&u| u != compromised as usize)
        .take(3)
        .collect();

    let ordinary_recipient = |rng: &mut Rng, u: usize| -> String {
        let r = rng.unit();
        if r < 0.4 {
            let mut c = rng.below(opts.users as u64) as usize;
            if c == u {
                c = (c + 1) % opts.users;
            }
            senders[c].clone()
        } else if r < 0.65 {
            format!("{}@{}", local_part(rng), rng.pick(FREEMAIL))
        } else {
            let d = &partners[*rng.pick(&user_partners[u])];
            format!("{}@{d}", local_part(rng))
        }
    };

    for day in 0..days {
        let base = SIM_START + day * DAY;
        let weekday = day % 7 < 5;
        for (u, &rate) in rates.iter().enumerate() {
            if day == incident_day && u == compromised as usize {
                continue;
            }
            let is_busy = day == incident_day && busy.contains(&u);
            let n = if is_busy {
                50
            } else if weekday {
                rate / 2 + rng.below(rate + 1)
            } else if rng.below(10) == 0 {
                1 + rng.below(2)
            } else {
                0
            };
            for _ in 0..n {
                let at = base + 8 * HOUR + rng.below(10 * HOUR);
                let count = match rng.below(10) {
                    0..=6 => 1,
                    7 | 8 => 2,
                    _ => 3,
                };
                let recipients = (0..count)
                    .map(|_| ordinary_recipient(&mut rng, u))
                    .collect();
                events.push(Event {
                    at,
                    seq: 0,
                    kind: if is_busy { Kind::Busy } else { Kind::Ordinary },
                    sender: u as u16,
                    template: next_template(&mut template),
                    recipients,
                });
            }
        }
        if day % 7 == 0 {
            let subscribers = newsletter_size(opts.scale);
            // The same list every week.
            let mut list_rng = Rng::new(opts.seed ^ 0x0E55);
            for i in 0..subscribers {
                let domain = if list_rng.below(10) < 6 {
                    (*list_rng.pick(FREEMAIL)).to_string()
                } else {
                    partners[list_rng.below(40) as usize].clone()
                };
                events.push(Event {
                    at: base + 7 * HOUR + i * 9 / 10 + rng.below(2),
                    seq: 0,
                    kind: Kind::Newsletter,
                    sender: newsletter,
                    template: 0,
                    recipients: vec![format!("{}{i}@{domain}", local_part(&mut list_rng))],
                });
            }
        }
    }

    // The incident.
    let day0 = SIM_START + incident_day * DAY;
    let flood_start = day0 + 6 * HOUR;
    let probes = 2 + rng.below(2);
    for (i, before) in [25 * 60, 12 * 60, 4 * 60].iter().enumerate() {
        if i as u64 >= probes {
            break;
        }
        events.push(Event {
            at: flood_start - before,
            seq: 0,
            kind: Kind::Probe,
            sender: compromised,
            template: 0,
            recipients: vec![format!("{}@gmail.com", local_part(&mut rng))],
        });
    }
    let scale = opts.scale;
    let letters = ((11_000.0 * scale).round() as u64).max(1);
    let gmail = (7800.0 * scale).round() as u64;
    let hotmail = (1500.0 * scale).round() as u64;
    let others = (3000.0 * scale).round() as u64;
    let other_domains = ((598.0 * scale).round() as u64).clamp(1, 598);
    let mut domains: Vec<String> = OTHER_BIG.iter().map(|s| s.to_string()).collect();
    let mut seen: BTreeSet<String> = domains.iter().cloned().collect();
    seen.insert("gmail.com".into());
    seen.insert("hotmail.com".into());
    while (domains.len() as u64) < other_domains {
        let d = company_domain(&mut rng);
        if seen.insert(d.clone()) {
            domains.push(d);
        }
    }
    domains.truncate(other_domains as usize);
    let mut recipients: Vec<String> = Vec::with_capacity((gmail + hotmail + others) as usize);
    for _ in 0..gmail {
        recipients.push(format!("{}@gmail.com", local_part(&mut rng)));
    }
    for _ in 0..hotmail {
        recipients.push(format!("{}@hotmail.com", local_part(&mut rng)));
    }
    for i in 0..others {
        // Every domain at least once, then the big ones most (a harvested list).
        let d = if (i as usize) < domains.len() {
            &domains[i as usize]
        } else if rng.below(2) == 0 {
            &domains[rng.below(OTHER_BIG.len().min(domains.len()) as u64) as usize]
        } else {
            rng.pick(&domains)
        };
        recipients.push(format!("{}@{d}", local_part(&mut rng)));
    }
    rng.shuffle(&mut recipients);
    let duration = ((5.0 * HOUR as f64 * scale) as u64).max(60);
    let doubles = (recipients.len() as u64).saturating_sub(letters);
    let mut rest = recipients.into_iter();
    for i in 0..letters {
        let take = if i < doubles { 2 } else { 1 };
        let r: Vec<String> = rest.by_ref().take(take).collect();
        if r.is_empty() {
            break;
        }
        events.push(Event {
            at: flood_start + i * duration / letters,
            seq: 0,
            kind: Kind::Scam,
            sender: compromised,
            template: 0,
            recipients: r,
        });
    }

    events.sort_by_key(|e| e.at);
    for (i, e) in events.iter_mut().enumerate() {
        e.seq = i as u32;
    }
    Stream {
        events,
        senders,
        compromised,
        first_flood_at: flood_start,
    }
}

/// Newsletter subscribers at a scale.
fn newsletter_size(scale: f64) -> u64 {
    ((2000.0 * scale).round() as u64).max(150)
}

/// `Mon, 19 Jan 2026 06:00:31 +0000` and `Mon 2026-01-19 06:00:31 UTC`.
fn dates(at: u64) -> (String, String) {
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = at / DAY;
    let secs = at % DAY;
    let wd = WD[(days % 7) as usize];
    let (y, m, d) = crate::civil::civil_from_days(days as i64);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    (
        format!(
            "{wd}, {d} {} {y} {h:02}:{mi:02}:{s:02} +0000",
            MON[(m - 1) as usize]
        ),
        format!("{wd} {y}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"),
    )
}

/// Capitalised.
fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Builds one message into `out`.
fn build_message(
    e: &Event,
    stream: &Stream,
    templates: &Templates,
    newsletter_template: usize,
    rng: &mut Rng,
    out: &mut Vec<u8>,
) {
    use std::io::Write;
    out.clear();
    let from = &stream.senders[e.sender as usize];
    let (date, _) = dates(e.at);
    let _ = writeln!(out, "From: {from}");
    let _ = writeln!(out, "To: {}", e.recipients.join(", "));
    let _ = writeln!(out, "Date: {date}");
    let _ = writeln!(
        out,
        "Message-ID: <{:08x}.{}@{COMPANY_DOMAIN}>",
        e.seq,
        e.at - SIM_START
    );
    match e.kind {
        Kind::Probe | Kind::Scam => {
            let first = e.recipients[0]
                .split(['@', '.', '_'])
                .next()
                .unwrap_or("Friend");
            let first: String = first.chars().filter(|c| c.is_alphabetic()).collect();
            let name = if first.len() > 1 {
                title(&first)
            } else {
                "Friend".into()
            };
            let amount = 1_500_000 + rng.below(8_500) * 1000;
            let _ = write!(
                out,
                "Subject: {}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
                 Content-Transfer-Encoding: 8bit\n\nDear {name},\n\n{}\n\n\
                 Amount approved for release: USD {},{:03},000.00\n\
                 Your reference number: NW/{:04}/{:06}\n",
                templates.scam_subject,
                templates.scam_text.trim(),
                amount / 1_000_000,
                amount / 1000 % 1000,
                rng.below(10_000),
                rng.below(1_000_000),
            );
        }
        Kind::Newsletter => out.extend_from_slice(&templates.ham[newsletter_template]),
        Kind::Ordinary | Kind::Busy => {
            out.extend_from_slice(&templates.ham[e.template as usize % templates.ham.len()]);
        }
    }
}

/// Runs a replay. `classifier`: the content model, or `None` for a pass for every message (a
/// campaign the model never saw).
pub fn replay(
    opts: &ReplayOptions,
    templates: &Templates,
    classifier: Option<&Classifier>,
) -> Result<ReplaySummary, ReplayError> {
    if !(opts.scale > 0.0 && opts.scale <= 10.0) {
        return Err(ReplayError::Options("scale must be above 0 and at most 10"));
    }
    if opts.users < 4 || opts.users > 10_000 {
        return Err(ReplayError::Options("users must be 4 to 10000"));
    }
    let stream = build_stream(opts, templates.ham.len());
    let config = CampaignConfig {
        bulk_senders: vec![NEWSLETTER.to_string()],
        ..CampaignConfig::default()
    };
    let mut tracker = Tracker::new(config).map_err(|_| ReplayError::Options("campaign config"))?;
    let mut view = MessageView::default();
    let view_limits = ViewLimits::default();

    // The newsletter: the first long ham text the content model passes (a company's
    // newsletter is mail its filter lets out).
    let mut newsletter_template = 0;
    for (i, t) in templates.ham.iter().enumerate() {
        let mut raw = b"From: news@northwind-trading.example\n".to_vec();
        raw.extend_from_slice(t);
        let Ok(v) = MessageView::parse(&raw, &view_limits) else {
            continue;
        };
        let passes = match classifier {
            Some(c) => c.score(&raw)?.decision.verdict == Verdict::Pass,
            None => true,
        };
        if passes && v.text.chars().count() >= 800 {
            newsletter_template = i;
            break;
        }
    }

    let mut s = ReplaySummary {
        seed: opts.seed,
        content_model: classifier.is_some(),
        scale: opts.scale,
        messages: 0,
        senders: stream.senders.len() as u64,
        ham_templates: templates.ham.len() as u64,
        scam_template: templates.scam_source.clone(),
        scam_sent: 0,
        scam_probes: 0,
        scam_recipients: 0,
        scam_domains: 0,
        scam_delivered: 0,
        scam_held_content: 0,
        time_to_containment_s: None,
        flood_to_containment_s: None,
        containment_rule: None,
        legit_sent: 0,
        legit_held: 0,
        legit_held_content: 0,
        legit_held_breaker: 0,
        legit_lone_spam: 0,
        scam_lone_spam: 0,
        newsletter_sent: 0,
        newsletter_held: 0,
        alerts: 0,
        false_alerts: 0,
        alert_list: Vec::new(),
    };
    let mut scam_domains = BTreeSet::new();
    let mut first_scam_at = None;
    let mut rng = Rng::new(opts.seed ^ 0xB0D1);
    let mut raw = Vec::new();
    for e in &stream.events {
        build_message(
            e,
            &stream,
            templates,
            newsletter_template,
            &mut rng,
            &mut raw,
        );
        let (verdict, class, suspicion, fingerprint, subject) = match classifier {
            Some(c) => c.score_with(&raw, |v, _scores, d| {
                (
                    d.verdict,
                    d.flagged_class,
                    d.suspicion,
                    Fingerprint::of(&v.subject, &v.text),
                    v.subject.clone(),
                )
            })?,
            None => {
                view.parse_into(&raw, &view_limits)
                    .map_err(crate::Error::from)?;
                (
                    Verdict::Pass,
                    Class::Ham,
                    0.0,
                    Fingerprint::of(&view.subject, &view.text),
                    view.subject.clone(),
                )
            }
        };
        let sender = &stream.senders[e.sender as usize];
        let obs = Observation {
            at: e.at,
            sender: campaign::sender_key(Some(sender), sender),
            sender_domain: campaign::domain_of(sender),
            recipients: e.recipients.clone(),
            fingerprint,
            verdict,
            class,
            suspicion,
            subject,
            queue_id: Some(format!("{:010X}", e.seq)),
        };
        let outcome = tracker.observe(&obs);
        let fin = campaign::combine(verdict, &outcome);
        let delivered = fin <= Verdict::Tag;
        let lowered = u64::from(outcome == campaign::Outcome::LoneSpam && fin < verdict);
        if e.kind.is_scam() {
            s.scam_lone_spam += lowered;
        } else {
            s.legit_lone_spam += lowered;
        }
        s.messages += 1;
        if let Some(a) = outcome.alert() {
            s.alerts += 1;
            let compromised = e.sender == stream.compromised;
            s.false_alerts += u64::from(!compromised);
            s.alert_list.push(alert_line(a, compromised));
        }
        if e.kind.is_scam() {
            s.scam_sent += 1;
            s.scam_probes += u64::from(e.kind == Kind::Probe);
            s.scam_recipients += e.recipients.len() as u64;
            for r in &e.recipients {
                if let Some(d) = campaign::domain_of(r) {
                    scam_domains.insert(d);
                }
            }
            let first = *first_scam_at.get_or_insert(e.at);
            if delivered {
                s.scam_delivered += 1;
            } else {
                if verdict >= Verdict::Hold && !outcome.is_hold() {
                    s.scam_held_content += 1;
                }
                if s.time_to_containment_s.is_none() {
                    s.time_to_containment_s = Some(e.at - first);
                    s.flood_to_containment_s = Some(e.at.saturating_sub(stream.first_flood_at));
                }
            }
            if let (None, Some(rule)) = (&s.containment_rule, outcome.rule()) {
                s.containment_rule = Some(rule.to_string());
            }
        } else {
            s.legit_sent += 1;
            let newsletter = e.kind == Kind::Newsletter;
            s.newsletter_sent += u64::from(newsletter);
            if !delivered {
                s.legit_held += 1;
                s.newsletter_held += u64::from(newsletter);
                if verdict >= Verdict::Hold {
                    s.legit_held_content += 1;
                } else {
                    s.legit_held_breaker += 1;
                }
            }
        }
    }
    s.scam_domains = scam_domains.len() as u64;
    Ok(s)
}

fn alert_line(a: &Alert, compromised: bool) -> AlertLine {
    AlertLine {
        sender: a.sender.clone(),
        compromised,
        rule: a.rule.to_string(),
        at_s: a.at - SIM_START,
        when: dates(a.at).1,
        reason: a.reason.clone(),
        fingerprint: a.fingerprint.clone(),
        first_subject: a.first_subject.clone(),
        queue_ids: format!(
            "{}..{}",
            a.first_queue_id.as_deref().unwrap_or("-"),
            a.last_queue_id.as_deref().unwrap_or("-")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(dates(SIM_START).0, "Mon, 5 Jan 2026 00:00:00 +0000");
        assert_eq!(
            dates(SIM_START + 14 * DAY + 6 * HOUR + 31).1,
            "Mon 2026-01-19 06:00:31 UTC"
        );
    }

    #[test]
    fn strip_envelope_keeps_mime_and_body() {
        let raw = b"From x@y Mon Jan 1\nFrom: a@b\nTo: c@d,\n e@f\nSubject: hi\nContent-Type: text/plain\n\nbody\n";
        let t = strip_envelope(raw).unwrap();
        assert_eq!(t, b"Subject: hi\nContent-Type: text/plain\n\nbody\n");
    }

    #[test]
    fn rng_is_seeded() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = Rng::new(7);
        assert_eq!(a, (0..4).map(|_| r.next_u64()).collect::<Vec<_>>());
        assert!((0..1000).all(|_| r.below(10) < 10));
    }
}
