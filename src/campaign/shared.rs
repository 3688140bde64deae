//! Campaign state shared by several MTAs in Redis (feature `redis`; in the milter
//! `[campaign] state = "redis://HOST:PORT/DB"`).
//!
//! The same decision code runs as in process: each sender's state is one Redis value (JSON)
//! under `PREFIX:v1:sender:KEY`. A message is observed by `WATCH`ing that key, reading it,
//! running [`Tracker::observe`] on a tracker that holds only that sender, and writing the state
//! back in `MULTI`/`EXEC`. When another MTA wrote the key in between, `EXEC` fails and the
//! message is observed again on the newer state (at most [`MAX_ATTEMPTS`] times; within one
//! MTA, updates of one sender take turns, so only MTAs compete). So every MTA
//! counts into the same windows, a breaker trips once, and the one MTA whose transaction trips
//! it raises the one alert of the incident. Release and block are the same transaction: every
//! MTA holds a blocked sender from its next message on.
//!
//! Expiry: an open breaker (tripped or blocked) never expires. Any other sender expires
//! `idle_evict_s` + `baseline_days` + one day after its last write: by then the in-process
//! sweep would have dropped it too. `max_senders` does not apply; the expiry bounds Redis.
//! A value written under other window settings (another MTA's config, or a changed one) keeps
//! only its breaker and grace period, as the state file does ([`super::store`]).
//!
//! ## When Redis is unavailable
//!
//! Mail never waits long for Redis nor is lost because of it. Connecting, reading and writing
//! time out (200 ms by default). A message whose state cannot be read or written is decided by
//! an in-process fallback tracker, and Redis is not asked again for [`RETRY_AFTER`], so an
//! outage costs each MTA at most one timeout per second. An ERROR is logged at most once a
//! minute and every fallback is counted ([`SharedTracker::fallbacks`]).
//!
//! While falling back, a breaker last seen open in Redis stays open on this MTA (the last
//! state read of each open breaker is kept), and a breaker the fallback trips holds and alerts
//! here at once. When Redis answers again those trips are written to it (unless the sender's
//! breaker there is already open) and the fallback's counts are dropped: the counts of an
//! outage are per MTA, so a campaign spread over several MTAs during one trips later.
//! Administrator commands need Redis: they fail with the error instead of acting on one MTA.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use super::{
    Baseline, CampaignConfig, ConfigError, Observation, Outcome, SenderDetail, SenderState,
    SenderSummary, Tracker,
};

/// Key prefix when none is configured; the version and kind follow (`PREFIX:v1:sender:KEY`).
pub const DEFAULT_PREFIX: &str = "sendguard:campaign";
/// Connect, read and write timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(200);
/// Tries of one update when other MTAs keep writing the same sender.
pub const MAX_ATTEMPTS: u32 = 64;
/// After a failure, Redis is not asked again for this long (messages are decided in process).
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// At most one ERROR line per this period while Redis is unavailable.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Idle connections kept for reuse.
const POOL_MAX: usize = 32;
/// Open breakers remembered for an outage.
const OPEN_MAX: usize = 10_000;
/// Keys fetched per `SCAN`/`MGET` round of `senders list`.
const SCAN_BATCH: usize = 500;
/// Version of the value format, part of every key.
const FORMAT: &str = "v1";
/// Locks that make one MTA's updates of a sender take turns (by hash of the sender).
const STRIPES: usize = 64;

/// Errors of the shared state.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The URL is not a Redis URL this build can use.
    #[error("campaign state {url}: {source}")]
    Url {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// The detection settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Redis failed, timed out or is unreachable.
    #[error("campaign state in Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Other MTAs kept changing the sender during every attempt.
    #[error(
        "campaign state in Redis: sender {sender:?} changed under {attempts} attempts in a row"
    )]
    Contention {
        /// The sender key.
        sender: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Redis failed moments ago; it is asked again after [`RETRY_AFTER`].
    #[error("campaign state in Redis: unavailable, asked again {} ms after its last failure", RETRY_AFTER.as_millis())]
    Unavailable,
}

/// `url` with any password replaced by `***`, for logs.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The settings a value's rings and sets are shaped by (those of `store::same_shape`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Shape {
    short_window_s: u64,
    hour_window_s: u64,
    day_window_s: u64,
    baseline_days: u32,
    max_domains_tracked: usize,
    max_spread_tracked: usize,
}

impl Shape {
    fn of(c: &CampaignConfig) -> Shape {
        Shape {
            short_window_s: c.short_window_s,
            hour_window_s: c.hour_window_s,
            day_window_s: c.day_window_s,
            baseline_days: c.baseline_days,
            max_domains_tracked: c.max_domains_tracked,
            max_spread_tracked: c.max_spread_tracked,
        }
    }
}

#[derive(Serialize)]
struct ValueOut<'a> {
    shape: Shape,
    state: &'a SenderState,
}

#[derive(Deserialize)]
struct ValueIn {
    shape: Shape,
    state: SenderState,
}

/// A limiter: true at most once per period.
struct Every {
    period: Duration,
    last: Mutex<Option<Instant>>,
}

impl Every {
    fn new(period: Duration) -> Self {
        Every {
            period,
            last: Mutex::new(None),
        }
    }

    fn ready(&self) -> bool {
        let mut last = lock(&self.last);
        if last.is_some_and(|t| t.elapsed() < self.period) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Per-sender campaign state in Redis: the transactions, no fallback (see [`SharedTracker`]).
/// Blocking: call it off an async reactor's threads.
pub struct RedisStore {
    client: redis::Client,
    target: String,
    keys: String,
    config: CampaignConfig,
    shape: Shape,
    timeout: Duration,
    pool: Mutex<Vec<redis::Connection>>,
    retry_at: Mutex<Option<Instant>>,
    stripes: [Mutex<()>; STRIPES],
    odd_values: Every,
}

impl RedisStore {
    /// A store at `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `redis+unix:///PATH`) under
    /// `prefix`. Does not connect: that happens at the first request.
    pub fn open(
        url: &str,
        prefix: &str,
        config: CampaignConfig,
        timeout: Duration,
    ) -> Result<Self, SharedError> {
        config.check()?;
        let client = redis::Client::open(url).map_err(|source| SharedError::Url {
            url: redact(url),
            source,
        })?;
        Ok(RedisStore {
            client,
            target: redact(url),
            keys: format!("{prefix}:{FORMAT}:sender:"),
            shape: Shape::of(&config),
            config,
            timeout: timeout.max(Duration::from_millis(1)),
            pool: Mutex::new(Vec::new()),
            retry_at: Mutex::new(None),
            stripes: std::array::from_fn(|_| Mutex::new(())),
            odd_values: Every::new(LOG_EVERY),
        })
    }

    /// The URL, without its password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The detection settings.
    pub fn config(&self) -> &CampaignConfig {
        &self.config
    }

    /// Checks that Redis answers.
    pub fn ping(&self) -> Result<(), SharedError> {
        self.with_connection(|con| redis::cmd("PING").exec(con).map_err(Stale::Unchanged))
    }

    fn key(&self, sender: &str) -> String {
        format!("{}{sender}", self.keys)
    }

    /// Seconds an unpinned sender's value lives after its last write.
    fn ttl(&self) -> u64 {
        let c = &self.config;
        c.idle_evict_s + (u64::from(c.baseline_days) + 1) * 86_400
    }

    /// Runs `f` on a pooled or new connection, unless Redis failed less than [`RETRY_AFTER`]
    /// ago. A pooled connection that fails before `f` changed anything (`f` returns
    /// [`Stale`]: e.g. Redis restarted since) is replaced by a new one, once.
    fn with_connection<T>(
        &self,
        mut f: impl FnMut(&mut redis::Connection) -> Result<T, Stale>,
    ) -> Result<T, SharedError> {
        if lock(&self.retry_at).is_some_and(|t| Instant::now() < t) {
            return Err(SharedError::Unavailable);
        }
        let mut pooled = lock(&self.pool).pop();
        let result = loop {
            let from_pool = pooled.is_some();
            let mut con = match pooled.take() {
                Some(c) => c,
                None => match self.connect() {
                    Ok(c) => c,
                    Err(e) => break Err(e.into()),
                },
            };
            match f(&mut con) {
                Err(Stale::Unchanged(e)) if from_pool && e.is_unrecoverable_error() => {
                    lock(&self.pool).clear();
                }
                Ok(v) => {
                    self.give_back(con);
                    break Ok(v);
                }
                Err(Stale::Unchanged(e)) => break Err(e.into()),
                Err(Stale::Other(e @ SharedError::Contention { .. })) => {
                    self.give_back(con);
                    break Err(e);
                }
                // A connection that failed may be half-way through a reply: never reuse it.
                Err(Stale::Other(e)) => break Err(e),
            }
        };
        if matches!(&result, Err(e) if !matches!(e, SharedError::Contention { .. })) {
            *lock(&self.retry_at) = Some(Instant::now() + RETRY_AFTER);
        }
        result
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let c = self.client.get_connection_with_timeout(self.timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        Ok(c)
    }

    fn give_back(&self, con: redis::Connection) {
        let mut pool = lock(&self.pool);
        if pool.len() < POOL_MAX {
            pool.push(con);
        }
    }

    /// A tracker holding only `sender`, from its stored value (absent, unreadable: none).
    fn tracker_with(&self, sender: &str, value: Option<&[u8]>) -> Tracker {
        let mut t = Tracker {
            config: self.config.clone(),
            senders: BTreeMap::new(),
            last_sweep: 0,
        };
        if let Some(st) = value.and_then(|v| self.decode(sender, v)) {
            t.senders.insert(sender.to_string(), st);
        }
        t
    }

    fn decode(&self, sender: &str, value: &[u8]) -> Option<SenderState> {
        let v = match serde_json::from_slice::<ValueIn>(value) {
            Ok(v) => v,
            Err(e) => {
                if self.odd_values.ready() {
                    error!(sender, error = %e, "campaign state in Redis: unreadable value, starting the sender afresh");
                }
                return None;
            }
        };
        if v.shape == self.shape {
            return Some(v.state);
        }
        if self.odd_values.ready() {
            warn!(
                sender,
                "campaign state in Redis written under other window settings: only its breaker is kept"
            );
        }
        let mut st = v.state;
        if !st.pinned() && st.grace_until == 0 {
            return None;
        }
        st.live = None;
        st.baseline = Baseline::new(self.config.baseline_days);
        st.streak = 0;
        Some(st)
    }

    fn encode(&self, st: &SenderState) -> Vec<u8> {
        serde_json::to_vec(&ValueOut {
            shape: self.shape,
            state: st,
        })
        .expect("a sender's state serialises")
    }

    /// Runs `f` on a tracker holding only `sender`'s stored state and stores the result, as
    /// one transaction (retried when another MTA wrote the sender meanwhile). Returns what `f`
    /// returned and the state now stored.
    fn update<T>(
        &self,
        sender: &str,
        mut f: impl FnMut(&mut Tracker) -> T,
    ) -> Result<(T, Option<SenderState>), SharedError> {
        let key = self.key(sender);
        let stripe = xxhash_rust::xxh3::xxh3_64(sender.as_bytes()) as usize % STRIPES;
        let _turn = lock(&self.stripes[stripe]);
        self.with_connection(|con| {
            for attempt in 0..MAX_ATTEMPTS {
                if attempt > 0 {
                    // Another MTA wrote this sender: a random pause, so that none of them
                    // keeps losing to the others (a growing one would starve the slowest).
                    std::thread::sleep(jitter());
                }
                redis::cmd("WATCH")
                    .arg(&key)
                    .exec(con)
                    .map_err(|e| match attempt {
                        0 => Stale::Unchanged(e),
                        _ => e.into(),
                    })?;
                let value: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(con)?;
                let mut t = self.tracker_with(sender, value.as_deref());
                // A value that makes the decision code panic is as good as unreadable.
                let out = match catch_unwind(AssertUnwindSafe(|| f(&mut t))) {
                    Ok(out) => out,
                    Err(_) => {
                        error!(sender, "campaign state in Redis: a stored value broke the tracker, starting the sender afresh");
                        t = self.tracker_with(sender, None);
                        f(&mut t)
                    }
                };
                let state = t.senders.remove(sender);
                let mut p = redis::pipe();
                p.atomic();
                match &state {
                    Some(st) if st.pinned() => p.cmd("SET").arg(&key).arg(self.encode(st)),
                    Some(st) => p
                        .cmd("SET")
                        .arg(&key)
                        .arg(self.encode(st))
                        .arg("EX")
                        .arg(self.ttl()),
                    None => p.cmd("DEL").arg(&key),
                };
                let done: Option<(redis::Value,)> = p.query(con)?;
                if done.is_some() {
                    return Ok((out, state));
                }
            }
            Err(Stale::Other(SharedError::Contention {
                sender: sender.to_string(),
                attempts: MAX_ATTEMPTS,
            }))
        })
    }

    /// [`Tracker::observe`] on the shared state, and the sender's state now stored.
    fn observe(&self, obs: &Observation) -> Result<(Outcome, Option<SenderState>), SharedError> {
        self.update(&obs.sender, |t| t.observe(obs))
    }

    /// A tracker holding every stored sender (for `senders list`).
    fn load_all(&self) -> Result<Tracker, SharedError> {
        let pattern = format!("{}*", escape_glob(&self.keys));
        self.with_connection(|con| {
            let mut t = self.tracker_with("", None);
            let mut cursor = 0u64;
            loop {
                // Reads only: a stale connection may try again from the start.
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_BATCH)
                    .query(con)
                    .map_err(Stale::Unchanged)?;
                if !keys.is_empty() {
                    let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                        .arg(&keys)
                        .query(con)
                        .map_err(Stale::Unchanged)?;
                    for (k, v) in keys.iter().zip(values) {
                        let Some(sender) = k
                            .strip_prefix(self.keys.as_bytes())
                            .and_then(|s| std::str::from_utf8(s).ok())
                        else {
                            continue;
                        };
                        if let Some(st) = v.and_then(|v| self.decode(sender, &v)) {
                            t.senders.insert(sender.to_string(), st);
                        }
                    }
                }
                if next == 0 {
                    return Ok(t);
                }
                cursor = next;
            }
        })
    }
}

/// A pause of 0 to 300 µs, different per call.
fn jitter() -> Duration {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = xxhash_rust::xxh3::xxh3_64(&seed.to_le_bytes());
    Duration::from_micros(mixed % 300)
}

/// How a request on one connection failed.
enum Stale {
    /// Before anything was changed: a new connection may try again.
    Unchanged(redis::RedisError),
    /// Otherwise.
    Other(SharedError),
}

impl From<redis::RedisError> for Stale {
    fn from(e: redis::RedisError) -> Self {
        Stale::Other(e.into())
    }
}

/// `s` with Redis glob characters escaped.
fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What an MTA decides on while Redis is unavailable.
struct Fallback {
    tracker: Tracker,
    /// The last state read from Redis of each sender whose breaker is open there (no windows).
    open: HashMap<String, SenderState>,
    /// Senders whose breaker the fallback tripped, to be written to Redis when it answers.
    tripped: BTreeSet<String>,
    /// Messages decided here since Redis last answered.
    decided: u64,
}

/// The campaign tracker of one MTA when the state is shared in Redis: [`RedisStore`] for every
/// message, and an in-process fallback when Redis is unavailable (see the module docs).
/// `Send + Sync`; blocking: call it off an async reactor's threads.
pub struct SharedTracker {
    store: RedisStore,
    fallback: Mutex<Fallback>,
    up: AtomicBool,
    fallbacks: AtomicU64,
    log: Every,
}

impl SharedTracker {
    /// A tracker on the Redis at `url` (see [`RedisStore::open`]), keys under `prefix`
    /// ([`DEFAULT_PREFIX`]), `timeout` for connecting, reading and writing
    /// ([`DEFAULT_TIMEOUT`]). Does not connect; see [`SharedTracker::ping`].
    pub fn open(
        url: &str,
        prefix: &str,
        config: CampaignConfig,
        timeout: Duration,
    ) -> Result<Self, SharedError> {
        let store = RedisStore::open(url, prefix, config.clone(), timeout)?;
        Ok(SharedTracker {
            store,
            fallback: Mutex::new(Fallback {
                tracker: Tracker::new(config)?,
                open: HashMap::new(),
                tripped: BTreeSet::new(),
                decided: 0,
            }),
            up: AtomicBool::new(true),
            fallbacks: AtomicU64::new(0),
            log: Every::new(LOG_EVERY),
        })
    }

    /// The Redis URL, without its password.
    pub fn target(&self) -> &str {
        self.store.target()
    }

    /// Checks that Redis answers (and keeps the connection for the first message).
    pub fn ping(&self) -> Result<(), SharedError> {
        self.shared(RedisStore::ping)
    }

    /// Messages decided in process because Redis was unavailable, since start.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Whether Redis answered the last request.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records one message and says whether the breaker holds it ([`Tracker::observe`]), on the
    /// shared state, else in process. Never fails.
    pub fn observe(&self, obs: &Observation) -> Outcome {
        match self.shared(|s| s.observe(obs)) {
            Ok((outcome, state)) => {
                self.remember(&obs.sender, state.as_ref());
                outcome
            }
            Err(_) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                let mut fb = lock(&self.fallback);
                fb.decided += 1;
                if !fb.tracker.senders.contains_key(&obs.sender) {
                    if let Some(st) = fb.open.get(&obs.sender).cloned() {
                        fb.tracker.senders.insert(obs.sender.clone(), st);
                    }
                }
                let outcome = fb.tracker.observe(obs);
                if outcome.alert().is_some() {
                    fb.tripped.insert(obs.sender.clone());
                }
                outcome
            }
        }
    }

    /// Closes a sender's breaker in Redis ([`Tracker::release`]); whether it was known.
    pub fn release(&self, sender: &str, at: u64) -> Result<bool, SharedError> {
        let key = sender.to_lowercase();
        let (known, state) = self.shared(|s| s.update(&key, |t| t.release(&key, at)))?;
        self.remember(&key, state.as_ref());
        let mut fb = lock(&self.fallback);
        fb.tracker.release(&key, at);
        fb.tripped.remove(&key);
        Ok(known)
    }

    /// Opens a sender's breaker in Redis ([`Tracker::block`]).
    pub fn block(&self, sender: &str, at: u64) -> Result<(), SharedError> {
        let key = sender.to_lowercase();
        let ((), state) = self.shared(|s| s.update(&key, |t| t.block(&key, at)))?;
        self.remember(&key, state.as_ref());
        Ok(())
    }

    /// Every sender with live state in Redis ([`Tracker::senders`]).
    pub fn senders(&self, at: u64) -> Result<Vec<SenderSummary>, SharedError> {
        let mut t = self.shared(RedisStore::load_all)?;
        t.sweep(at);
        Ok(t.senders(at))
    }

    /// One sender in Redis ([`Tracker::sender`]).
    pub fn sender(&self, sender: &str, at: u64) -> Result<Option<SenderDetail>, SharedError> {
        let key = sender.to_lowercase();
        let value: Option<Vec<u8>> = self.shared(|s| {
            s.with_connection(|con| {
                redis::cmd("GET")
                    .arg(s.key(&key))
                    .query(con)
                    .map_err(Stale::Unchanged)
            })
        })?;
        let mut t = self.store.tracker_with(&key, value.as_deref());
        t.sweep(at);
        Ok(t.sender(&key, at))
    }

    /// Runs `f` on the store unless Redis failed moments ago; notes failures and recoveries.
    fn shared<T>(
        &self,
        f: impl FnOnce(&RedisStore) -> Result<T, SharedError>,
    ) -> Result<T, SharedError> {
        match f(&self.store) {
            Ok(v) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    self.recover();
                }
                Ok(v)
            }
            Err(e @ SharedError::Contention { .. }) => {
                if self.log.ready() {
                    warn!(error = %e, "deciding this message in process");
                }
                Err(e)
            }
            Err(e @ SharedError::Unavailable) => Err(e),
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    fn failed(&self, e: &SharedError) {
        self.up.store(false, Ordering::Relaxed);
        if self.log.ready() {
            error!(
                redis = %self.store.target(),
                error = %e,
                fallbacks = self.fallbacks(),
                "campaign state in Redis unavailable: deciding in process, retrying every {} ms",
                RETRY_AFTER.as_millis()
            );
        }
    }

    /// Redis answers again: writes the breakers tripped meanwhile, drops the fallback's counts.
    fn recover(&self) {
        let (tripped, decided) = {
            let mut fb = lock(&self.fallback);
            let tripped: Vec<(String, SenderState)> = std::mem::take(&mut fb.tripped)
                .into_iter()
                .filter_map(|k| fb.tracker.senders.get(&k).cloned().map(|st| (k, st)))
                .collect();
            (tripped, std::mem::take(&mut fb.decided))
        };
        let mut written = 0;
        for (key, local) in &tripped {
            let result = self.store.update(key, |t| {
                let days = t.config.baseline_days;
                let st = t.senders.entry(key.clone()).or_insert_with(|| SenderState {
                    last_at: local.last_at,
                    live: None,
                    baseline: Baseline::new(days),
                    streak: 0,
                    grace_until: 0,
                    incident: None,
                    blocked_since: None,
                });
                if !st.pinned() {
                    st.incident.clone_from(&local.incident);
                }
            });
            match result {
                Ok(((), state)) => {
                    written += 1;
                    self.remember(key, state.as_ref());
                }
                Err(e) => {
                    // Keep the fallback as it is and try again at the next recovery.
                    let mut fb = lock(&self.fallback);
                    fb.tripped.extend(tripped.iter().map(|(k, _)| k.clone()));
                    fb.decided += decided;
                    drop(fb);
                    self.failed(&e);
                    return;
                }
            }
        }
        let mut fb = lock(&self.fallback);
        let config = fb.tracker.config.clone();
        fb.tracker = Tracker {
            config,
            senders: BTreeMap::new(),
            last_sweep: 0,
        };
        info!(
            redis = %self.store.target(),
            decided_in_process = decided,
            breakers_written = written,
            "campaign state in Redis reachable again"
        );
    }

    /// Keeps the last open state of each sender for an outage (without its windows).
    fn remember(&self, sender: &str, state: Option<&SenderState>) {
        let mut fb = lock(&self.fallback);
        match state {
            Some(st) if st.pinned() => {
                if fb.open.len() < OPEN_MAX || fb.open.contains_key(sender) {
                    let mut kept = st.clone();
                    kept.live = None;
                    fb.open.insert(sender.to_string(), kept);
                }
            }
            _ => {
                fb.open.remove(sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_is_what_the_state_file_compares() {
        let base = CampaignConfig::default();
        let variants = [
            CampaignConfig {
                short_window_s: 300,
                ..base.clone()
            },
            CampaignConfig {
                hour_window_s: 7200,
                ..base.clone()
            },
            CampaignConfig {
                day_window_s: 2 * 86_400,
                ..base.clone()
            },
            CampaignConfig {
                baseline_days: 7,
                ..base.clone()
            },
            CampaignConfig {
                max_domains_tracked: 10,
                ..base.clone()
            },
            CampaignConfig {
                max_spread_tracked: 30,
                ..base.clone()
            },
            CampaignConfig {
                spread_threshold: 3,
                ..base.clone()
            },
        ];
        for v in &variants {
            assert_eq!(
                Shape::of(v) == Shape::of(&base),
                super::super::store::same_shape(v, &base),
                "{v:?}"
            );
        }
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redact("redis://:s3cret@10.0.0.5:6379/2"),
            "redis://***@10.0.0.5:6379/2"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn a_bad_url_is_an_error_without_the_password() {
        let e = RedisStore::open(
            "http://:pw@example.org",
            DEFAULT_PREFIX,
            CampaignConfig::default(),
            DEFAULT_TIMEOUT,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("***") && !e.contains("pw"), "{e}");
    }
}
