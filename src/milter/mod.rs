//! The MTA hook: a milter (Postfix, Sendmail) that scores each outbound message at
//! end-of-message and tags, holds or rejects it (feature `milter`).
//!
//! One [`Milter`] holds what all connections share: the settings, the current classifier
//! (swapped by [`Milter::reload`] on `SIGHUP`), the counters and the [`Policy`] that turns a
//! verdict into an [`Action`]. Each MTA connection has a [`Session`] that collects the
//! envelope and the message; at end-of-message the message is scored on a blocking thread under
//! a timeout, a header records the verdict, and the MTA is told to accept, quarantine (hold),
//! reject or retry.
//!
//! ```no_run
//! use sendguard::milter::{serve, termination_signal, Milter, MilterConfig};
//! use sendguard::Classifier;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = MilterConfig::from_file("/etc/sendguard/sendguard.toml".as_ref())?;
//! let path = sendguard::default_model_path()?;
//! let milter = Milter::new(config.clone(), Classifier::load(&path)?, Some(path));
//! serve(milter, &config.socket, config.metrics, termination_signal()?).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Campaign detection (`[campaign]`, on by default; [`crate::campaign`]): the scan also
//! fingerprints the message (from the same parse) and records it in the shared tracker under the
//! sender key (SASL user, else envelope sender). The action follows
//! [`crate::campaign::combine`] of the content verdict and the breaker — the same function
//! `sendguard replay` measures — so a sender whose breaker is open has everything held, with
//! `campaign=RULE` in the header. The tripping message logs one WARN line and starts the
//! `alert_command`; the state is saved to `state_file` before the MTA is answered. Oversized
//! (unscanned) messages are counted and held too; exempt senders and users are not tracked; a
//! scan that times out may still have been counted. Administrators act through
//! [`control`] (`sendguard senders`).
//!
//! Never lose mail: an internal error, a timeout, a panic while scoring or an unreadable
//! message is answered as configured (`on_error`: `451 4.7.1`, the default, or accept with
//! `X-Sendguard: error KIND`), and the daemon keeps running.

mod campaign;
mod config;
pub mod control;
mod header;
mod listener;
mod metrics;
mod socket;

use std::ffi::{CStr, CString};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use indymilter::{
    Actions, Callbacks, ContextActions, EomContext, MacroStage, Macros, SetErrorReply, SocketInfo,
    Status,
};
use tracing::{error, info, warn};

pub use self::config::{
    CampaignSettings, MilterConfig, OnError, DEFAULT_CONTROL_SOCKET, DEFAULT_REJECT_TEXT,
    DEFAULT_TEMPFAIL_TEXT,
};
pub use self::metrics::serve_metrics;
pub use self::socket::SocketSpec;

use self::campaign::Campaign;
use self::metrics::{ErrorKind, Metrics};
use crate::campaign::{Fingerprint, Observation, Outcome};
use crate::{Classifier, Verdict, Verdicted};

/// Errors of the milter: configuration, binding, models, serving.
#[derive(Debug, thiserror::Error)]
pub enum MilterError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings (the message names the key).
    #[error("config{}: {message}", in_file(path))]
    ConfigParse {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// What is wrong, with the key and line.
        message: String,
    },
    /// A setting has a value it cannot have.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A socket is not in libmilter syntax.
    #[error("bad socket {spec:?}: {reason}")]
    SocketSpec {
        /// What was given.
        spec: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A socket could not be bound.
    #[error("cannot listen on {socket}: {source}")]
    Bind {
        /// The socket (milter or metrics).
        socket: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A model file could not be loaded or failed the check after loading.
    #[error("cannot load model {}: {source}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: crate::Error,
    },
    /// [`Milter::reload`] was called on a milter created without a model path.
    #[error("no model file to reload: the milter was started without a model path")]
    NoModelPath,
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
    /// The milter listener failed while running (no new connections can be accepted).
    #[error("the milter stopped accepting connections: {0}")]
    Serve(std::io::Error),
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" file {}", p.display()))
        .unwrap_or_default()
}

/// What the MTA is told to do with a scored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Deliver (with the header).
    Accept,
    /// Quarantine: Postfix's hold queue, with the verdict in the header and the reason text.
    Hold,
    /// Refuse with `550 5.7.1` and the configured text (a hold when `reject = false`).
    Reject,
    /// Answer `451 4.7.1`: the MTA keeps the message and retries later.
    Tempfail,
}

impl Action {
    /// The usual action for a verdict: pass and tag accept, hold holds, reject rejects.
    pub fn for_verdict(verdict: Verdict) -> Action {
        match verdict {
            Verdict::Pass | Verdict::Tag => Action::Accept,
            Verdict::Hold => Action::Hold,
            Verdict::Reject => Action::Reject,
        }
    }

    /// Lower-case name, as in headers, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Hold => "hold",
            Action::Reject => "reject",
            Action::Tempfail => "tempfail",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The envelope and connection of one message, as the MTA told it: handed to the [`Policy`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageContext {
    /// The MTA's queue ID (macro `i`, sent at end-of-message).
    pub queue_id: Option<String>,
    /// The authenticated (SASL) user, macro `{auth_authen}`.
    pub auth_user: Option<String>,
    /// The client's IP address (from the connect stage, else macro `{client_addr}`).
    pub client_addr: Option<IpAddr>,
    /// The client's host name as the MTA resolved it (`unknown` when it did not).
    pub client_name: Option<String>,
    /// The HELO/EHLO name.
    pub helo: Option<String>,
    /// Envelope sender (MAIL FROM) without angle brackets; empty for the null sender.
    pub sender: String,
    /// Envelope recipients (RCPT TO) without angle brackets, in order.
    pub recipients: Vec<String>,
    /// Size of the message as the MTA sent it (headers and body), in bytes.
    pub size: usize,
}

/// Turns a verdict into an action. Called once per scored message, on a blocking thread under
/// the scan timeout; a panic here is handled like any internal error (`on_error`).
///
/// The milter applies two settings after the policy: `reject = false` turns
/// [`Action::Reject`] into [`Action::Hold`], and `dry_run` enforces nothing (the header still
/// says what the policy decided).
pub trait Policy: Send + Sync {
    /// The action for this message.
    fn decide(&self, ctx: &MessageContext, verdict: &Verdicted) -> Action;
}

/// The default policy: [`Action::for_verdict`].
#[derive(Clone, Copy, Debug, Default)]
pub struct VerdictPolicy;

impl Policy for VerdictPolicy {
    fn decide(&self, _ctx: &MessageContext, verdict: &Verdicted) -> Action {
        Action::for_verdict(verdict.decision.verdict)
    }
}

impl<F> Policy for F
where
    F: Fn(&MessageContext, &Verdicted) -> Action + Send + Sync,
{
    fn decide(&self, ctx: &MessageContext, verdict: &Verdicted) -> Action {
        self(ctx, verdict)
    }
}

/// Per-connection state: the client, and the message being received. Reset at each MAIL FROM
/// (a connection can carry several messages) and at abort.
#[derive(Debug, Default)]
pub struct Session {
    client_name: Option<String>,
    client_addr: Option<IpAddr>,
    helo: Option<String>,
    message: MessageState,
}

#[derive(Debug, Default)]
struct MessageState {
    sender: String,
    recipients: Vec<String>,
    /// The message reassembled as RFC 5322 (`Name: value\r\n`…`\r\n` body).
    raw: Vec<u8>,
    /// Bytes seen, also past the limit.
    size: usize,
    oversize: bool,
    header_done: bool,
    /// Why the message is exempt, when known at MAIL FROM (nothing is buffered then).
    exempt: Option<&'static str>,
    /// Headers already carrying our header name (removed at end-of-message).
    own_headers: usize,
}

impl MessageState {
    fn append(&mut self, bytes: &[u8], limit: usize) {
        self.size += bytes.len();
        if self.oversize || self.exempt.is_some() {
            return;
        }
        if self.size > limit {
            self.oversize = true;
            self.raw = Vec::new();
        } else {
            self.raw.extend_from_slice(bytes);
        }
    }
}

/// The loaded model and how it is named in metrics and logs.
struct Model {
    classifier: Classifier,
    /// Creation time recorded in the model file.
    version: String,
    /// The model file's xxh3-64 payload checksum, hex.
    checksum: String,
}

impl Model {
    fn new(classifier: Classifier) -> Model {
        let version = classifier.model_file().info.created.clone();
        let checksum = classifier
            .model_file()
            .to_bytes()
            .ok()
            .and_then(|b| {
                let tail: [u8; 8] = b.get(b.len().checked_sub(8)?..)?.try_into().ok()?;
                Some(format!("{:016x}", u64::from_le_bytes(tail)))
            })
            .unwrap_or_else(|| "unknown".to_string());
        Model {
            classifier,
            version,
            checksum,
        }
    }
}

/// What a failed scan was.
struct ScanError {
    kind: ErrorKind,
    detail: String,
}

/// The milter's shared state: settings, the current classifier (swappable), counters and the
/// policy. `Send + Sync`; one per daemon, shared by every connection.
pub struct Milter {
    config: MilterConfig,
    model: RwLock<Arc<Model>>,
    model_path: Option<PathBuf>,
    metrics: Metrics,
    policy: Arc<dyn Policy>,
    exempt_senders: Vec<String>,
    exempt_users: Vec<String>,
    /// Campaign detection (`None`: `[campaign] enabled = false`).
    campaign: Option<Arc<Campaign>>,
}

/// What a scan produced: the verdict (already combined with the breaker), the policy's action,
/// the content verdict alone, and the breaker's outcome (when campaign detection is on).
struct Scanned {
    verdicted: Verdicted,
    action: Action,
    content: Verdict,
    outcome: Option<Outcome>,
}

// The shared state crosses threads: every connection task and the scoring threads hold it.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Milter>();
};

/// A message every valid model scores; a reloaded model must score it without error.
const PROBE: &[u8] = b"From: Ann <ann@example.org>\r\nTo: bob@example.com\r\nSubject: lunch\r\n\r\nSee you at noon at the usual place. Ann\r\n";

impl Milter {
    /// A milter with the default policy ([`VerdictPolicy`]). `model_path` is the file
    /// [`Milter::reload`] reads (`None`: reloading is an error).
    pub fn new(
        config: MilterConfig,
        classifier: Classifier,
        model_path: Option<PathBuf>,
    ) -> Arc<Milter> {
        Milter::with_policy(config, classifier, model_path, Arc::new(VerdictPolicy))
    }

    /// A milter whose verdicts are turned into actions by `policy`.
    pub fn with_policy(
        config: MilterConfig,
        classifier: Classifier,
        model_path: Option<PathBuf>,
        policy: Arc<dyn Policy>,
    ) -> Arc<Milter> {
        let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect();
        Arc::new(Milter {
            exempt_senders: lower(&config.exempt_senders),
            exempt_users: lower(&config.exempt_users),
            model: RwLock::new(Arc::new(Model::new(classifier))),
            model_path,
            metrics: Metrics::default(),
            policy,
            campaign: Campaign::start(&config.campaign).map(Arc::new),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &MilterConfig {
        &self.config
    }

    /// The classifier in use now.
    pub fn classifier(&self) -> Classifier {
        self.model().classifier.clone()
    }

    /// The model in use: (creation time, checksum), as in `sendguard_model_info`.
    pub fn model_info(&self) -> (String, String) {
        let m = self.model();
        (m.version.clone(), m.checksum.clone())
    }

    fn model(&self) -> Arc<Model> {
        self.model
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The actions the milter asks the MTA for: add and change headers (to add ours and remove
    /// forged copies), quarantine.
    pub fn actions() -> Actions {
        Actions::ADD_HEADER | Actions::CHANGE_HEADER | Actions::QUARANTINE
    }

    /// indymilter settings from the config: actions, `max_connections`, the connection timeout.
    pub fn indymilter_config(&self) -> indymilter::Config {
        indymilter::Config {
            max_connections: self.config.max_connections,
            actions: Milter::actions(),
            connection_timeout: Duration::from_secs(self.config.connection_timeout_secs),
        }
    }

    /// Reads the model file again, checks it (it loads and scores a probe message) and swaps
    /// it in. On error the current model stays and the error says why. Blocking: call it from
    /// a blocking thread inside a runtime.
    pub fn reload(&self) -> Result<(), MilterError> {
        let result = self.load_checked();
        self.metrics.reload(result.is_ok());
        let model = result?;
        *self.model.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(model);
        Ok(())
    }

    fn load_checked(&self) -> Result<Model, MilterError> {
        let path = self.model_path.as_ref().ok_or(MilterError::NoModelPath)?;
        let err = |source| MilterError::Model {
            path: path.clone(),
            source,
        };
        let classifier = Classifier::load(path).map_err(err)?;
        let probe =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| classifier.score(PROBE)));
        match probe {
            Ok(Ok(v)) if v.scores.logits.iter().all(|l| l.is_finite()) => {}
            Ok(Ok(_)) => {
                return Err(MilterError::InvalidConfig(format!(
                    "model {} gives non-finite scores",
                    path.display()
                )))
            }
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => {
                return Err(MilterError::InvalidConfig(format!(
                    "model {} panics when scoring",
                    path.display()
                )))
            }
        }
        Ok(Model::new(classifier))
    }

    /// The counters, the latency histogram and the model in Prometheus text format (0.0.4).
    pub fn metrics_text(&self) -> String {
        let m = self.model();
        let mut text = self.metrics.render(&m.version, &m.checksum);
        if let Some(c) = &self.campaign {
            use std::fmt::Write as _;
            let _ = write!(
                text,
                "# HELP sendguard_campaign_held_total Messages held by an open campaign breaker.\n\
                 # TYPE sendguard_campaign_held_total counter\n\
                 sendguard_campaign_held_total {}\n\
                 # HELP sendguard_campaign_alerts_total Campaign breakers tripped (one alert each).\n\
                 # TYPE sendguard_campaign_alerts_total counter\n\
                 sendguard_campaign_alerts_total {}\n\
                 # HELP sendguard_campaign_lone_spam_total Hold-level spam verdicts delivered tagged as lone spam (tag_lone_spam).\n\
                 # TYPE sendguard_campaign_lone_spam_total counter\n\
                 sendguard_campaign_lone_spam_total {}\n",
                c.held(),
                c.alerts(),
                c.lone_spam()
            );
            if let Some((fallbacks, up)) = c.shared_health() {
                let _ = write!(
                    text,
                    "# HELP sendguard_campaign_state_fallback_total Messages decided in process because the shared campaign state (Redis) was unavailable.\n\
                     # TYPE sendguard_campaign_state_fallback_total counter\n\
                     sendguard_campaign_state_fallback_total {fallbacks}\n\
                     # HELP sendguard_campaign_state_up Whether the shared campaign state (Redis) answered its last request.\n\
                     # TYPE sendguard_campaign_state_up gauge\n\
                     sendguard_campaign_state_up {}\n",
                    u8::from(up)
                );
            }
        }
        text
    }

    /// The indymilter callbacks of this milter.
    pub fn callbacks(self: &Arc<Self>) -> Callbacks<Session> {
        let m1 = self.clone();
        let m2 = self.clone();
        let m3 = self.clone();
        let m4 = self.clone();
        let m5 = self.clone();
        Callbacks::new()
            .on_negotiate(|cx, mta_actions, _| {
                Box::pin(async move {
                    let wanted = Milter::actions();
                    if !mta_actions.contains(wanted) {
                        warn!(offered = ?mta_actions, wanted = ?wanted, "the MTA does not offer every milter action sendguard uses");
                    }
                    cx.requested_actions = wanted & mta_actions;
                    for (stage, names) in [
                        (MacroStage::Connect, c"j {client_addr} {client_name} {daemon_name}"),
                        (MacroStage::Mail, c"i {auth_type} {auth_authen} {mail_addr}"),
                        (MacroStage::Eom, c"i {auth_authen}"),
                    ] {
                        cx.requested_macros.insert(stage, names.to_owned());
                    }
                    Status::Continue
                })
            })
            .on_connect(|cx, hostname, socket| {
                Box::pin(async move {
                    let client_addr = match socket {
                        SocketInfo::Inet(addr) => Some(addr.ip()),
                        _ => macro_value(&cx.macros, c"{client_addr}").and_then(|a| a.parse().ok()),
                    };
                    cx.data = Some(Session {
                        client_name: Some(lossy(&hostname)).filter(|s| !s.is_empty()),
                        client_addr,
                        helo: None,
                        message: MessageState::default(),
                    });
                    Status::Continue
                })
            })
            .on_helo(|cx, name| {
                Box::pin(async move {
                    cx.data.get_or_insert_with(Session::default).helo = Some(lossy(&name));
                    Status::Continue
                })
            })
            .on_mail(move |cx, args| {
                let m = m1.clone();
                Box::pin(async move {
                    let sender = envelope_address(&args);
                    let user = macro_value(&cx.macros, c"{auth_authen}");
                    let session = cx.data.get_or_insert_with(Session::default);
                    session.message = MessageState {
                        exempt: m.exemption(&sender, user.as_deref()),
                        sender,
                        ..MessageState::default()
                    };
                    Status::Continue
                })
            })
            .on_rcpt(|cx, args| {
                Box::pin(async move {
                    let rcpt = envelope_address(&args);
                    cx.data
                        .get_or_insert_with(Session::default)
                        .message
                        .recipients
                        .push(rcpt);
                    Status::Continue
                })
            })
            .on_header(move |cx, name, value| {
                let m = m2.clone();
                Box::pin(async move {
                    let limit = m.config.max_message_bytes;
                    let msg = &mut cx.data.get_or_insert_with(Session::default).message;
                    if name
                        .to_bytes()
                        .eq_ignore_ascii_case(m.config.header_name.as_bytes())
                    {
                        msg.own_headers += 1;
                    }
                    msg.append(name.to_bytes(), limit);
                    msg.append(b": ", limit);
                    msg.append(value.to_bytes(), limit);
                    msg.append(b"\r\n", limit);
                    Status::Continue
                })
            })
            .on_eoh(move |cx| {
                let m = m3.clone();
                Box::pin(async move {
                    let msg = &mut cx.data.get_or_insert_with(Session::default).message;
                    msg.header_done = true;
                    msg.append(b"\r\n", m.config.max_message_bytes);
                    Status::Continue
                })
            })
            .on_body(move |cx, chunk| {
                let m = m4.clone();
                Box::pin(async move {
                    let msg = &mut cx.data.get_or_insert_with(Session::default).message;
                    if !msg.header_done {
                        msg.header_done = true;
                        msg.append(b"\r\n", m.config.max_message_bytes);
                    }
                    msg.append(&chunk, m.config.max_message_bytes);
                    Status::Continue
                })
            })
            .on_eom(move |cx| {
                let m = m5.clone();
                Box::pin(async move { m.end_of_message(cx).await })
            })
            .on_abort(|cx| {
                Box::pin(async move {
                    if let Some(s) = cx.data.as_mut() {
                        s.message = MessageState::default();
                    }
                    Status::Continue
                })
            })
    }

    /// Why a message is exempt (`sender` or `user`), if it is.
    fn exemption(&self, sender: &str, user: Option<&str>) -> Option<&'static str> {
        if let Some(user) = user {
            let user = user.to_lowercase();
            if self.exempt_users.contains(&user) {
                return Some("user");
            }
        }
        let sender = sender.to_lowercase();
        let domain = sender.rsplit_once('@').map(|(_, d)| d);
        let hit = self
            .exempt_senders
            .iter()
            .any(|e| match e.strip_prefix('@') {
                Some(d) => domain == Some(d),
                None => *e == sender,
            });
        hit.then_some("sender")
    }

    async fn end_of_message(&self, cx: &mut EomContext<Session>) -> Status {
        let started = Instant::now();
        let session = cx.data.get_or_insert_with(Session::default);
        let msg = std::mem::take(&mut session.message);
        let ctx = MessageContext {
            queue_id: macro_value(&cx.macros, c"i"),
            auth_user: macro_value(&cx.macros, c"{auth_authen}"),
            client_addr: session
                .client_addr
                .or_else(|| macro_value(&cx.macros, c"{client_addr}").and_then(|a| a.parse().ok())),
            client_name: session.client_name.clone(),
            helo: session.helo.clone(),
            sender: msg.sender,
            recipients: msg.recipients,
            size: msg.size,
        };
        let name = self.config.header_name.as_str();
        // A header of our name already in the message is a forgery (or a loop): remove it,
        // last first so the indices stay right.
        for index in (1..=msg.own_headers).rev() {
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            if let Err(e) = cx.actions.change_header(name, index, None::<&str>).await {
                warn!(queue_id = %dash(&ctx.queue_id), error = %e, "cannot remove an existing {name} header");
            }
        }
        let exempt = msg
            .exempt
            .or_else(|| self.exemption(&ctx.sender, ctx.auth_user.as_deref()));
        if let Some(what) = exempt {
            self.metrics.exempt();
            self.metrics.action(Action::Accept);
            log_unscored(&ctx, "exempt", what, started);
            return self
                .act(cx, &ctx, Action::Accept, &format!("exempt {what}"))
                .await;
        }
        if msg.oversize {
            // Not scored, but still counted: an open breaker holds big messages too.
            let mut value = format!("unscanned size>{}", self.config.max_message_bytes);
            let mut action = Action::Accept;
            // Off the reactor: with the state in Redis, observing blocks for up to its budget.
            let outcome = match self.campaign.clone() {
                Some(c) => {
                    let obs = observation(&ctx, Fingerprint(0), None, String::new());
                    match tokio::task::spawn_blocking(move || c.observe(&obs)).await {
                        Ok(outcome) => Some(outcome),
                        Err(e) => {
                            error!(queue_id = %dash(&ctx.queue_id), error = %e, "campaign tracking of an unscanned message failed");
                            None
                        }
                    }
                }
                None => None,
            };
            if let Some(rule) = outcome.as_ref().and_then(Outcome::rule) {
                value.push_str(&format!(" campaign={rule}"));
                action = Action::Hold;
            }
            let enforced = if self.config.dry_run {
                value.push_str(" dry-run");
                Action::Accept
            } else {
                action
            };
            self.after_observe(outcome.as_ref()).await;
            self.metrics.unscanned();
            self.metrics.action(enforced);
            log_unscored(&ctx, "unscanned", &value, started);
            return self.act(cx, &ctx, enforced, &value).await;
        }
        let ctx = Arc::new(ctx);
        let scanned = self.scan(ctx.clone(), msg.raw).await;
        let elapsed = started.elapsed();
        self.metrics.scan_time(elapsed);
        match scanned {
            Ok(Scanned {
                verdicted,
                action: decided,
                content,
                outcome,
            }) => {
                self.after_observe(outcome.as_ref()).await;
                let campaign_rule = outcome.as_ref().and_then(Outcome::label);
                let action = if decided == Action::Reject && !self.config.reject {
                    Action::Hold
                } else {
                    decided
                };
                let enforced = if self.config.dry_run {
                    Action::Accept
                } else {
                    action
                };
                let class = header::header_class(&verdicted);
                self.metrics.scored(verdicted.decision.verdict, class);
                self.metrics.action(enforced);
                let value =
                    header::verdict_value(&verdicted, action, self.config.dry_run, campaign_rule);
                let reasons: Vec<&str> = verdicted
                    .reasons
                    .iter()
                    .map(|r| r.feature.as_str())
                    .collect();
                let reasons = reasons.join(",");
                info!(
                    queue_id = %dash(&ctx.queue_id),
                    user = %dash(&ctx.auth_user),
                    client = %ctx.client_addr.map_or_else(|| "-".to_string(), |a| a.to_string()),
                    sender = %ctx.sender,
                    rcpts = ctx.recipients.len(),
                    verdict = %verdicted.decision.verdict,
                    content_verdict = %content,
                    campaign = %campaign_rule.unwrap_or("-"),
                    class = %class.name(),
                    score = format_args!("{:.3}", verdicted.scores.probability(class)),
                    suspicion = format_args!("{:.2}", verdicted.decision.suspicion),
                    action = %action,
                    dry_run = self.config.dry_run,
                    reasons = %reasons,
                    micros = elapsed.as_micros() as u64,
                    "message scanned"
                );
                self.act(cx, &ctx, enforced, &value).await
            }
            Err(e) => {
                self.metrics.error(e.kind);
                let accept = self.config.dry_run || self.config.on_error == OnError::Accept;
                let action = if accept {
                    Action::Accept
                } else {
                    Action::Tempfail
                };
                self.metrics.action(action);
                warn!(
                    queue_id = %dash(&ctx.queue_id),
                    user = %dash(&ctx.auth_user),
                    sender = %ctx.sender,
                    rcpts = ctx.recipients.len(),
                    kind = e.kind.as_str(),
                    error = %e.detail,
                    action = %action,
                    micros = elapsed.as_micros() as u64,
                    "message not scanned"
                );
                let value = format!("error {}", e.kind.as_str());
                self.act(cx, &ctx, action, &value).await
            }
        }
    }

    /// Scores on a blocking thread under the timeout; explains flagged messages; asks the
    /// policy.
    async fn scan(&self, ctx: Arc<MessageContext>, raw: Vec<u8>) -> Result<Scanned, ScanError> {
        let model = self.model();
        let policy = self.policy.clone();
        let reasons = self.config.reasons;
        let campaign = self.campaign.clone();
        let job = tokio::task::spawn_blocking(move || {
            let classifier = &model.classifier;
            let tracked = campaign.is_some();
            let (mut verdicted, seen) = classifier.score_with(&raw, |view, scores, decision| {
                let verdicted = Verdicted {
                    scores,
                    decision,
                    message_id: view.message_id.clone(),
                    reasons: Vec::new(),
                };
                let seen = tracked.then(|| {
                    (
                        Fingerprint::of(&view.subject, &view.text),
                        view.subject.clone(),
                    )
                });
                (verdicted, seen)
            })?;
            if verdicted.decision.verdict > Verdict::Pass && reasons > 0 {
                verdicted = classifier.explain(&raw, reasons)?;
            }
            let content = verdicted.decision.verdict;
            let outcome = match (campaign, seen) {
                (Some(c), Some((fingerprint, subject))) => {
                    let obs = observation(&ctx, fingerprint, Some(&verdicted.decision), subject);
                    let outcome = c.observe(&obs);
                    verdicted.decision.verdict = crate::campaign::combine(content, &outcome);
                    Some(outcome)
                }
                _ => None,
            };
            let action = policy.decide(&ctx, &verdicted);
            Ok::<_, crate::Error>(Scanned {
                verdicted,
                action,
                content,
                outcome,
            })
        });
        let timeout = Duration::from_millis(self.config.scan_timeout_ms);
        match tokio::time::timeout(timeout, job).await {
            Err(_) => Err(ScanError {
                kind: ErrorKind::Timeout,
                detail: format!("no result after {} ms", self.config.scan_timeout_ms),
            }),
            Ok(Err(join)) => Err(ScanError {
                kind: ErrorKind::Internal,
                detail: if join.is_panic() {
                    format!("scoring panicked: {}", panic_text(join.into_panic()))
                } else {
                    "scoring was cancelled".to_string()
                },
            }),
            Ok(Ok(Err(e))) => Err(ScanError {
                kind: match e {
                    crate::Error::Message(_) => ErrorKind::Unscorable,
                    _ => ErrorKind::Internal,
                },
                detail: e.to_string(),
            }),
            Ok(Ok(Ok(done))) => Ok(done),
        }
    }

    /// Saves the campaign state after a trip (before the MTA is answered), or in the
    /// background when the save interval has passed.
    async fn after_observe(&self, outcome: Option<&Outcome>) {
        let Some(c) = &self.campaign else { return };
        if c.state_file().is_none() {
            return;
        }
        let c = c.clone();
        if outcome.is_some_and(|o| o.alert().is_some()) {
            let _ = tokio::task::spawn_blocking(move || c.save()).await;
        } else if c.save_due() {
            tokio::task::spawn_blocking(move || c.save());
        }
    }

    /// Writes the campaign state file now (no-op without one). Blocking; `serve` calls it at
    /// shutdown.
    pub fn save_campaign_state(&self) {
        if let Some(c) = &self.campaign {
            c.save();
        }
    }

    /// Campaign alerts raised since start (one per incident).
    pub fn campaign_alerts(&self) -> u64 {
        self.campaign.as_ref().map_or(0, |c| c.alerts())
    }

    /// Every tracked sender with live state, open breakers first (`None`: campaign detection
    /// is off). Blocking. With the state in Redis, an unavailable Redis is logged and lists
    /// nothing (the control socket reports the error instead).
    pub fn senders(&self) -> Option<Vec<crate::campaign::SenderSummary>> {
        self.campaign
            .as_ref()
            .map(|c| logged(c.senders()).unwrap_or_default())
    }

    /// Everything about one sender (`None`: unknown, campaign detection is off, or Redis is
    /// unavailable, which is logged). Blocking.
    pub fn sender(&self, key: &str) -> Option<crate::campaign::SenderDetail> {
        self.campaign
            .as_ref()
            .and_then(|c| logged(c.sender(key)).flatten())
    }

    /// Closes a sender's breaker (tripped or blocked) and saves the state. Blocking. Whether
    /// the sender was known (false, logged, when Redis is unavailable).
    pub fn release_sender(&self, key: &str) -> bool {
        self.campaign
            .as_ref()
            .is_some_and(|c| logged(c.release(key)).unwrap_or(false))
    }

    /// Holds every further message of a sender until released, and saves the state.
    /// Blocking. False when campaign detection is off or Redis is unavailable (logged).
    pub fn block_sender(&self, key: &str) -> bool {
        self.campaign
            .as_ref()
            .is_some_and(|c| logged(c.block(key)).is_some())
    }

    /// Tells the MTA: header (accept, hold), quarantine (hold), reply code (reject, tempfail).
    /// A failed header is logged and the message still accepted; a failed quarantine must not
    /// let the message through, so it becomes a tempfail.
    async fn act(
        &self,
        cx: &mut EomContext<Session>,
        ctx: &MessageContext,
        action: Action,
        value: &str,
    ) -> Status {
        let name = self.config.header_name.as_str();
        match action {
            Action::Accept | Action::Hold => {
                let folded = header::fold(name, value);
                if let Err(e) = cx.actions.add_header(name, folded).await {
                    warn!(queue_id = %dash(&ctx.queue_id), error = %e, "cannot add the {name} header");
                }
                if action == Action::Hold {
                    let reason = format!("sendguard: {value}");
                    if let Err(e) = cx.actions.quarantine(reason).await {
                        self.metrics.error(ErrorKind::Internal);
                        warn!(queue_id = %dash(&ctx.queue_id), error = %e, "cannot quarantine; answering tempfail");
                        return self.tempfail(cx);
                    }
                }
                Status::Accept
            }
            Action::Reject => {
                match cx.reply.set_error_reply(
                    "550",
                    Some("5.7.1"),
                    [self.config.reject_text.as_str()],
                ) {
                    Ok(()) => Status::Reject,
                    Err(e) => {
                        warn!(error = %e, "cannot set the reject reply; answering a plain reject");
                        Status::Reject
                    }
                }
            }
            Action::Tempfail => self.tempfail(cx),
        }
    }

    fn tempfail(&self, cx: &mut EomContext<Session>) -> Status {
        if let Err(e) =
            cx.reply
                .set_error_reply("451", Some("4.7.1"), [self.config.tempfail_text.as_str()])
        {
            warn!(error = %e, "cannot set the tempfail reply; answering a plain tempfail");
        }
        Status::Tempfail
    }
}

/// The value, or `None` with the error logged.
fn logged<T>(r: Result<T, crate::campaign::shared::SharedError>) -> Option<T> {
    r.map_err(|e| warn!(error = %e, "campaign state not available"))
        .ok()
}

/// The tracker's view of one message.
fn observation(
    ctx: &MessageContext,
    fingerprint: Fingerprint,
    decision: Option<&crate::Decision>,
    subject: String,
) -> Observation {
    Observation {
        at: crate::campaign::store::now_unix(),
        sender: crate::campaign::sender_key(ctx.auth_user.as_deref(), &ctx.sender),
        sender_domain: crate::campaign::domain_of(&ctx.sender),
        recipients: ctx.recipients.clone(),
        fingerprint,
        verdict: decision.map_or(Verdict::Pass, |d| d.verdict),
        class: decision.map_or(crate::Class::Ham, |d| d.flagged_class),
        suspicion: decision.map_or(0.0, |d| d.suspicion),
        subject,
        queue_id: ctx.queue_id.clone(),
    }
}

fn log_unscored(ctx: &MessageContext, verdict: &str, why: &str, started: Instant) {
    info!(
        queue_id = %dash(&ctx.queue_id),
        user = %dash(&ctx.auth_user),
        client = %ctx.client_addr.map_or_else(|| "-".to_string(), |a| a.to_string()),
        sender = %ctx.sender,
        rcpts = ctx.recipients.len(),
        verdict = %verdict,
        why = %why,
        size = ctx.size,
        micros = started.elapsed().as_micros() as u64,
        "message not scanned"
    );
}

fn dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn lossy(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}

fn macro_value(macros: &Macros, name: &CStr) -> Option<String> {
    macros.get(name).map(lossy).filter(|v| !v.is_empty())
}

/// The address of a MAIL FROM or RCPT TO: the first argument without angle brackets.
fn envelope_address(args: &[CString]) -> String {
    let first = args.first().map(|a| lossy(a)).unwrap_or_default();
    let a = first.trim();
    let a = a.strip_prefix('<').unwrap_or(a);
    let a = a.strip_suffix('>').unwrap_or(a);
    a.to_string()
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_string()
    }
}

/// Resolves when the process gets `SIGTERM` or `SIGINT`: the shutdown signal for [`serve`].
/// Must be called inside a tokio runtime; the handlers are installed at once.
pub fn termination_signal() -> Result<impl Future<Output = ()>, MilterError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(MilterError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(MilterError::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: finishing sessions in flight, then exiting"),
            _ = int.recv() => info!("SIGINT: finishing sessions in flight, then exiting"),
        }
    })
}

/// Runs the milter on `socket` until `shutdown` resolves, then lets sessions finish the
/// commands in flight and returns.
///
/// - A Unix socket file left over from a dead daemon is removed before binding; the new one
///   gets `socket_mode` and is removed on return.
/// - `metrics`: an HTTP endpoint serving `GET /metrics` (see [`serve_metrics`]).
/// - `SIGHUP` reloads the model ([`Milter::reload`]); success or the reason for failure is
///   logged, and a bad file keeps the old model.
///
/// Errors before serving (bind, signal handlers) and a listener failure while serving
/// ([`MilterError::Serve`]) are returned.
pub async fn serve(
    milter: Arc<Milter>,
    socket: &SocketSpec,
    metrics: Option<SocketAddr>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MilterError> {
    use tokio::signal::unix::{signal, SignalKind};
    let (listener, socket_file) = socket::bind(socket, milter.config.socket_mode).await?;
    let metrics_listener = match metrics {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| MilterError::Bind {
                    socket: format!("metrics {addr}"),
                    source,
                })?,
        ),
        None => None,
    };
    let hangup = signal(SignalKind::hangup()).map_err(MilterError::Signal)?;
    let mut tasks = Vec::new();
    if let Some(l) = metrics_listener {
        let m = milter.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = serve_metrics(m, l).await {
                warn!(error = %e, "the metrics endpoint stopped");
            }
        }));
    }
    tasks.push(tokio::spawn(reload_on_hangup(milter.clone(), hangup)));
    // The admin socket: a failure is logged, the milter runs without it (mail matters more).
    let mut control_file = None;
    if let (Some(_), Some(path)) = (&milter.campaign, &milter.config.campaign.control_socket) {
        match control::bind(path) {
            Ok((l, guard)) => {
                control_file = Some(guard);
                tasks.push(tokio::spawn(control::serve_control(milter.clone(), l)));
            }
            Err(e) => warn!(
                control_socket = %path.display(),
                error = %e,
                "cannot listen on the control socket; `sendguard senders` will not work"
            ),
        }
    }
    let (version, checksum) = milter.model_info();
    info!(
        socket = %socket,
        metrics = %metrics.map_or_else(|| "off".to_string(), |a| a.to_string()),
        model = %milter.model_path.as_ref().map_or_else(|| "-".to_string(), |p| p.display().to_string()),
        model_version = %version,
        model_checksum = %checksum,
        dry_run = milter.config.dry_run,
        "sendguard milter listening"
    );
    let (listener, open, stop_accepting) = listener::GracefulListener::new(listener);
    // Graceful stop: refuse new connections, let the sessions in flight finish (a message being
    // scored, a client in the middle of DATA), then stop what is left after the grace period.
    let shutdown = async move {
        shutdown.await;
        let _ = stop_accepting.send(());
        let started = Instant::now();
        info!(
            sessions = open.load(std::sync::atomic::Ordering::Acquire),
            "stopping: new connections refused, finishing the sessions in flight"
        );
        while open.load(std::sync::atomic::Ordering::Acquire) > 0
            && started.elapsed() < SHUTDOWN_GRACE
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = open.load(std::sync::atomic::Ordering::Acquire);
        if left > 0 {
            warn!(
                sessions = left,
                "stopping after the grace period; the MTA retries their messages"
            );
        }
    };
    let result = indymilter::run(
        listener,
        milter.callbacks(),
        milter.indymilter_config(),
        shutdown,
    )
    .await;
    for t in tasks {
        t.abort();
    }
    let m = milter.clone();
    let _ = tokio::task::spawn_blocking(move || m.save_campaign_state()).await;
    drop(socket_file);
    drop(control_file);
    result.map_err(MilterError::Serve)
}

/// How long a stop waits for the sessions in flight (an MTA session that stays open longer, idle
/// between messages, is closed; its next message gets the MTA's milter_default_action).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

async fn reload_on_hangup(milter: Arc<Milter>, mut hangup: tokio::signal::unix::Signal) {
    while hangup.recv().await.is_some() {
        let m = milter.clone();
        match tokio::task::spawn_blocking(move || m.reload()).await {
            Ok(Ok(())) => {
                let (version, checksum) = milter.model_info();
                info!(model_version = %version, model_checksum = %checksum, "SIGHUP: model reloaded");
            }
            Ok(Err(e)) => warn!(error = %e, "SIGHUP: model not reloaded, keeping the old one"),
            Err(e) => warn!(error = %e, "SIGHUP: model reload failed, keeping the old one"),
        }
    }
}
