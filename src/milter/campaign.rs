//! The milter's side of campaign detection: the [`Tracker`] behind a mutex and the state
//! file, or the state shared with other MTAs in Redis ([`SharedTracker`]); and the alert (one
//! WARN line, and the optional command).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::config::CampaignSettings;
use crate::campaign::shared::{SharedError, SharedTracker};
use crate::campaign::store::{self, now_unix};
use crate::campaign::{Alert, Observation, Outcome, SenderDetail, SenderSummary, Tracker};

/// Where the per-sender state lives.
#[allow(clippy::large_enum_variant)] // one per daemon
enum State {
    /// In process (saved to `state_file` when one is set).
    Local(Mutex<Tracker>),
    /// In Redis, shared by several MTAs, with an in-process fallback.
    Shared(SharedTracker),
}

/// The tracker and what goes with it; one per milter.
pub(crate) struct Campaign {
    state: State,
    settings: CampaignSettings,
    /// Serialises writers of the state file; holds the generation last written.
    written: Mutex<u64>,
    /// Bumped at every change taken into a snapshot.
    generation: AtomicU64,
    last_save: Mutex<Instant>,
    alerts: AtomicU64,
    held: AtomicU64,
    lone_spam: AtomicU64,
}

impl Campaign {
    /// The tracker from the state file (if any), or empty. `None` when disabled or the
    /// detection settings are invalid (logged).
    pub(crate) fn start(settings: &CampaignSettings) -> Option<Campaign> {
        if !settings.enabled {
            return None;
        }
        if let Some(url) = &settings.redis_url {
            return Campaign::start_shared(settings, url);
        }
        let tracker = match &settings.state_file {
            Some(path) => match store::load(path, settings.detection.clone()) {
                Ok((t, loaded)) => {
                    match &loaded {
                        store::Loaded::Corrupt { .. } => {
                            error!(state_file = %path.display(), "campaign state: {loaded}")
                        }
                        _ => info!(state_file = %path.display(), "campaign state: {loaded}"),
                    }
                    Some(t)
                }
                Err(e) => {
                    error!(error = %e, "campaign state not loaded; starting empty (not saved over)");
                    Tracker::new(settings.detection.clone()).ok()
                }
            },
            None => Tracker::new(settings.detection.clone()).ok(),
        };
        let Some(tracker) = tracker else {
            error!("invalid [campaign] settings: campaign detection is OFF");
            return None;
        };
        Some(Campaign::with_state(
            State::Local(Mutex::new(tracker)),
            settings,
        ))
    }

    /// The state in Redis at `url`. Redis being down at start is logged, not fatal: messages
    /// are decided in process until it answers.
    fn start_shared(settings: &CampaignSettings, url: &str) -> Option<Campaign> {
        let shared = match SharedTracker::open(
            url,
            &settings.redis_prefix,
            settings.detection.clone(),
            Duration::from_millis(settings.redis_timeout_ms),
        ) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "invalid [campaign] settings: campaign detection is OFF");
                return None;
            }
        };
        match shared.ping() {
            Ok(()) => info!(redis = %shared.target(), "campaign state shared in Redis"),
            Err(e) => error!(
                redis = %shared.target(),
                error = %e,
                "campaign state in Redis unreachable at start: deciding in process until it answers"
            ),
        }
        Some(Campaign::with_state(State::Shared(shared), settings))
    }

    fn with_state(state: State, settings: &CampaignSettings) -> Campaign {
        Campaign {
            state,
            settings: settings.clone(),
            written: Mutex::new(0),
            generation: AtomicU64::new(0),
            last_save: Mutex::new(Instant::now()),
            alerts: AtomicU64::new(0),
            held: AtomicU64::new(0),
            lone_spam: AtomicU64::new(0),
        }
    }

    /// The in-process tracker (`None`: the state is in Redis).
    fn local(&self) -> Option<std::sync::MutexGuard<'_, Tracker>> {
        match &self.state {
            State::Local(t) => Some(t.lock().unwrap_or_else(PoisonError::into_inner)),
            State::Shared(_) => None,
        }
    }

    /// The shared state's health: messages decided in process because Redis was unavailable,
    /// and whether it answered last (`None`: the state is in process).
    pub(crate) fn shared_health(&self) -> Option<(u64, bool)> {
        match &self.state {
            State::Shared(s) => Some((s.fallbacks(), s.is_up())),
            State::Local(_) => None,
        }
    }

    /// Records one message; on the message that trips a breaker, logs the alert and starts the
    /// alert command.
    pub(crate) fn observe(&self, obs: &Observation) -> Outcome {
        let outcome = match &self.state {
            State::Local(t) => t
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .observe(obs),
            State::Shared(s) => s.observe(obs),
        };
        self.generation.fetch_add(1, Ordering::Relaxed);
        if outcome.is_hold() {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
        if outcome == Outcome::LoneSpam {
            self.lone_spam.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(alert) = outcome.alert() {
            self.alerts.fetch_add(1, Ordering::Relaxed);
            warn!(
                sender = %alert.sender,
                rule = %alert.rule,
                fingerprint = %alert.fingerprint,
                "{alert}"
            );
            if let Some(argv) = &self.settings.alert_command {
                run_alert_command(
                    argv.clone(),
                    alert,
                    Duration::from_secs(self.settings.alert_timeout_secs),
                );
            }
        }
        outcome
    }

    /// Alerts raised since start.
    pub(crate) fn alerts(&self) -> u64 {
        self.alerts.load(Ordering::Relaxed)
    }

    /// Messages the breaker held since start.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Hold-level spam verdicts delivered tagged as lone spam since start.
    pub(crate) fn lone_spam(&self) -> u64 {
        self.lone_spam.load(Ordering::Relaxed)
    }

    /// Whether a periodic save is due (a state file is configured and the interval passed).
    pub(crate) fn save_due(&self) -> bool {
        self.settings.state_file.is_some()
            && self
                .last_save
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .elapsed()
                >= Duration::from_secs(self.settings.save_interval_secs)
    }

    /// Writes the state file now (nothing without one). Blocking. Errors are logged.
    pub(crate) fn save(&self) {
        let Some(path) = &self.settings.state_file else {
            return;
        };
        *self
            .last_save
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let (bytes, generation) = {
            let Some(t) = self.local() else { return };
            let g = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            (store::snapshot(&t, now_unix()), g)
        };
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if *written > generation {
            return; // a newer snapshot is already on disk
        }
        match store::write_atomic(path, &bytes) {
            Ok(()) => *written = generation,
            Err(e) => {
                error!(state_file = %path.display(), error = %e, "cannot save the campaign state")
            }
        }
    }

    /// The state file, if any.
    pub(crate) fn state_file(&self) -> Option<&PathBuf> {
        self.settings.state_file.as_ref()
    }

    /// Every sender with live state (see [`Tracker::senders`]). Errors: Redis is unavailable.
    pub(crate) fn senders(&self) -> Result<Vec<SenderSummary>, SharedError> {
        match &self.state {
            State::Local(t) => Ok(t
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .senders(now_unix())),
            State::Shared(s) => s.senders(now_unix()),
        }
    }

    /// One sender. Errors: Redis is unavailable.
    pub(crate) fn sender(&self, key: &str) -> Result<Option<SenderDetail>, SharedError> {
        match &self.state {
            State::Local(t) => Ok(t
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sender(key, now_unix())),
            State::Shared(s) => s.sender(key, now_unix()),
        }
    }

    /// Closes a sender's breaker and saves. Whether the sender was known. Errors: Redis is
    /// unavailable (nothing changed).
    pub(crate) fn release(&self, key: &str) -> Result<bool, SharedError> {
        let known = match &self.state {
            State::Local(t) => t
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .release(key, now_unix()),
            State::Shared(s) => s.release(key, now_unix())?,
        };
        if known {
            info!(sender = %key.to_lowercase(), "campaign breaker released by an administrator");
            self.save();
        }
        Ok(known)
    }

    /// Opens a sender's breaker and saves. Errors: Redis is unavailable (nothing changed).
    pub(crate) fn block(&self, key: &str) -> Result<(), SharedError> {
        match &self.state {
            State::Local(t) => t
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .block(key, now_unix()),
            State::Shared(s) => s.block(key, now_unix())?,
        }
        warn!(sender = %key.to_lowercase(), "sender blocked by an administrator");
        self.save();
        Ok(())
    }
}

/// Starts `argv` detached with the alert JSON on stdin; a watcher thread kills it after
/// `timeout` and logs a failure. Never blocks the caller.
fn run_alert_command(argv: Vec<String>, alert: &Alert, timeout: Duration) {
    let json = serde_json::to_vec(alert).expect("an alert serialises");
    let spawned = std::thread::Builder::new()
        .name("sendguard-alert".to_string())
        .spawn(move || {
            let Some((program, args)) = argv.split_first() else {
                return;
            };
            let mut child = match Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
            {
                Ok(c) => c,
                Err(e) => {
                    error!(command = %program, error = %e, "cannot start the alert command");
                    return;
                }
            };
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write as _;
                let mut line = json;
                line.push(b'\n');
                if let Err(e) = stdin.write_all(&line) {
                    warn!(command = %program, error = %e, "the alert command did not read its input");
                }
            }
            let started = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => return,
                    Ok(Some(status)) => {
                        error!(command = %program, status = %status, "the alert command failed");
                        return;
                    }
                    Ok(None) if started.elapsed() >= timeout => {
                        let _ = child.kill();
                        let _ = child.wait();
                        error!(command = %program, timeout_s = timeout.as_secs(), "the alert command timed out and was killed");
                        return;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                    Err(e) => {
                        error!(command = %program, error = %e, "cannot wait for the alert command");
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        error!(error = %e, "cannot start a thread for the alert command");
    }
}
