//! Campaign state shared by several MTAs in Redis (feature `redis`; in the milter
//! `[campaign] state = "redis://HOST:PORT/DB"`).
//!
//! The same decision code runs as in process: each sender's state is one Redis value (JSON)
//! under `PREFIX:v1:sender:KEY`. A message is observed by `WATCH`ing that key, reading it,
//! running [`Tracker::observe`] on a tracker that holds only that sender, and writing the state
//! back in `MULTI`/`EXEC`. When another MTA wrote the key in between, `EXEC` fails and the
//! message is observed again on the newer state (at most [`MAX_ATTEMPTS`] times, within the
//! time budget; within one MTA, updates of one sender take turns, so only MTAs compete). So
//! every MTA counts into the same windows, a breaker trips once, and the one MTA whose
//! transaction trips it raises the one alert of the incident. Release and block are the same
//! transaction: every MTA holds a blocked sender from its next message on.
//!
//! Every value carries a token of the write that stored it. When the reply to `EXEC` is lost
//! (a timeout, a dropped connection), the key is read again on a new connection: if it holds
//! this write (its token, or an incident whose alert is this message's), the message is
//! decided as that write decided it, alert included; otherwise it is decided in process. A
//! message is never written twice. Left: an `EXEC` still on its way when the re-read is
//! answered is not seen, and when Redis does not answer the re-read either, an incident
//! stored by the lost write has no alert (`senders list` shows it).
//!
//! Expiry: an open breaker (tripped or blocked) never expires. A sender with two or more days
//! of mail in its baseline (or in a grace period) expires `idle_evict_s` + `baseline_days` +
//! one day after its last write: by then the in-process sweep would have dropped it too. Any
//! other sender (new, or one day of mail: e.g. a per-message envelope sender) expires
//! `idle_evict_s` after its last write, losing at most one day of baseline. `max_senders` does
//! not apply; the expiry bounds Redis. `senders list` loads at most [`LIST_MAX`] senders.
//! A value written under other window settings (another MTA's config, or a changed one) keeps
//! only its breaker and grace period, as the state file does ([`super::store`]); so does a
//! value that makes the decision code panic.
//!
//! ## When Redis is slow or unavailable
//!
//! Mail never waits long for Redis nor is lost because of it. Each message has one time budget
//! (200 ms by default) for everything: waiting for its turn behind the sender's other messages
//! on this MTA, connecting, reading, writing and retrying. When the reply to `EXEC` is lost,
//! the re-read gets at most half the budget more; the first message answered after a fallback
//! also writes back the breakers the fallback tripped, within one more budget (and its
//! re-read): at most about three budgets in all, which the milter's settings keep below its
//! scan timeout. Connecting gets half of what is left of the budget (the redis crate spends
//! one timeout on the TCP connect and its set-up replies: two round trips of the five of a
//! first message). A host name in the URL is resolved when the store is opened, and again only
//! on a thread of its own after Redis failed: no message waits for DNS (a name that does not
//! resolve at start is an outage until it does). A message whose state cannot be read or
//! written within the budget is decided by an in-process fallback tracker; so is one whose
//! budget was spent before its write was sent, without counting as an outage. When Redis failed
//! or timed out, it is not asked again for [`RETRY_AFTER`], so an outage costs each MTA at
//! most one budget per second. An ERROR is logged at most once a minute for outages, and
//! separately a WARN at most once a minute when a sender's turn or other MTAs' writes outlast
//! the budget; every fallback is counted ([`SharedTracker::fallbacks`]).
//!
//! While falling back, a breaker last seen open in Redis by this MTA stays open on this MTA
//! (the last state read of each open breaker is kept in memory: senders this MTA has not seen
//! since it started are not held), and a breaker the fallback trips holds and alerts here at
//! once. At the next answer from Redis those trips are written to it (unless the sender's
//! breaker there is already open) and the fallback's counts are dropped: the counts of an
//! outage are per MTA, so a campaign spread over several MTAs during one trips later. A
//! tripped sender's own next message answered by Redis writes its trip in its own transaction
//! and is held (no second alert), even when the write-back of all trips does not get the
//! sender's turn. One thread at a time writes trips back; a trip leaves the fallback only once
//! written.
//! Administrator commands need Redis: they fail with the error instead of acting on one MTA.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use super::{
    Baseline, CampaignConfig, ConfigError, Observation, Outcome, SenderDetail, SenderState,
    SenderSummary, Tracker,
};

/// Key prefix when none is configured; the version and kind follow (`PREFIX:v1:sender:KEY`).
pub const DEFAULT_PREFIX: &str = "sendguard:campaign";
/// Time budget of one message (and of one request of an administrator command) when none is
/// configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(200);
/// Most tries of one update when other MTAs keep writing the same sender (the time budget
/// usually ends them first).
pub const MAX_ATTEMPTS: u32 = 64;
/// After a failure, Redis is not asked again for this long (messages are decided in process).
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Most senders `senders list` loads from Redis.
pub const LIST_MAX: usize = 10_000;
/// At most one log line of a kind per this period.
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
/// Pause between two looks at a sender's turn.
const TURN_POLL: Duration = Duration::from_micros(500);
/// Days of mail in its baseline from which a sender's value lives the long expiry.
const SETTLED_DAYS: u32 = 2;

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
    /// Other MTAs kept changing the sender during every attempt within the time budget.
    #[error(
        "campaign state in Redis: sender {sender:?} changed under {attempts} attempts in a row"
    )]
    Contention {
        /// The sender key.
        sender: String,
        /// Attempts made.
        attempts: u32,
    },
    /// This MTA's other messages of the sender held its turn for most of the time budget.
    #[error(
        "campaign state in Redis: sender {sender:?} busy with other messages for most of {budget_ms} ms"
    )]
    Busy {
        /// The sender key.
        sender: String,
        /// The time budget.
        budget_ms: u64,
    },
    /// The time budget was spent before the write was sent (nothing changed in Redis, and
    /// Redis did not fail: not an outage).
    #[error("campaign state in Redis: sender {sender:?}: the {budget_ms} ms budget was spent before the write was sent")]
    NotSent {
        /// The sender key.
        sender: String,
        /// The time budget.
        budget_ms: u64,
    },
    /// Redis failed moments ago; it is asked again after [`RETRY_AFTER`].
    #[error("campaign state in Redis: unavailable, asked again {} ms after its last failure", RETRY_AFTER.as_millis())]
    Unavailable,
}

impl SharedError {
    /// Whether Redis itself failed or timed out (rather than being busy with this sender).
    fn is_outage(&self) -> bool {
        matches!(self, SharedError::Redis(_))
    }
}

/// Query keys of a Redis URL whose values are credentials.
const SECRET_QUERY_KEYS: [&str; 4] = ["pass", "password", "user", "username"];

/// `url` without credentials, for logs: the password of `user:password@` and the values of
/// `pass`, `password`, `user` and `username` query keys (`redis+unix:///PATH?pass=...`) are
/// replaced by `***`. Text that does not parse as a Redis URL keeps only its scheme and host.
pub fn redact(url: &str) -> String {
    if let Some(mut u) = redis::parse_redis_url(url) {
        if u.password().is_some() && u.set_password(Some("***")).is_err() {
            return redact_text(url);
        }
        if u.query().is_some() {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let secret = SECRET_QUERY_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
                    let v = if secret { "***".into() } else { v.into_owned() };
                    (k.into_owned(), v)
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        return u.to_string();
    }
    redact_text(url)
}

/// `redact` of text that is not a Redis URL: no user information, no query.
fn redact_text(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
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
    /// The token of the write that stored the value (never 0).
    write: u64,
    state: &'a SenderState,
}

#[derive(Deserialize)]
struct ValueIn {
    shape: Shape,
    /// 0: written before tokens.
    #[serde(default)]
    write: u64,
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

/// A timeout error: the time budget is spent.
fn spent() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "time budget spent").into()
}

/// Sets `con`'s read and write timeouts to what is left until `deadline`.
fn arm(con: &redis::Connection, deadline: Instant) -> redis::RedisResult<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(spent());
    }
    con.set_read_timeout(Some(left))?;
    con.set_write_timeout(Some(left))
}

/// How [`transact`] failed.
enum TxError {
    /// The budget was spent before anything was sent: nothing can have been carried out.
    NotSent,
    /// Sending or a reply failed (the transaction may have been carried out unless Redis
    /// answered with an error: [`ambiguous`]).
    Failed(redis::RedisError),
}

/// Sends the `MULTI`/`EXEC` pipeline `p` and reads its replies, each by `deadline`: whether
/// `EXEC` was carried out (false: a watched key changed). Unlike `Pipeline::query`, which
/// reads every reply after a timeout (one more timeout each), the first failure ends it.
fn transact(
    con: &mut redis::Connection,
    p: &redis::Pipeline,
    deadline: Instant,
) -> Result<bool, TxError> {
    if arm(con, deadline).is_err() {
        return Err(TxError::NotSent);
    }
    con.send_packed_command(&p.get_packed_pipeline())
        .map_err(TxError::Failed)?;
    let mut last = redis::Value::Nil;
    // MULTI, the queued command, EXEC.
    for _ in 0..3 {
        arm(con, deadline).map_err(TxError::Failed)?;
        last = con.recv_response().map_err(TxError::Failed)?;
    }
    match last {
        redis::Value::Nil => Ok(false),
        redis::Value::Array(_) => Ok(true),
        redis::Value::ServerError(e) => Err(TxError::Failed(e.into())),
        other => Err(TxError::Failed(redis::RedisError::from((
            redis::ErrorKind::Parse,
            "unexpected reply to EXEC",
            format!("{other:?}"),
        )))),
    }
}

/// Whether a failed request may still have been carried out (no reply from Redis).
fn ambiguous(e: &redis::RedisError) -> bool {
    !matches!(e.kind(), redis::ErrorKind::Server(_))
}

/// Whether `stored` holds the incident `outcome` opened: another MTA may have written over
/// the write that opened it, but the incident still carries its alert.
fn carries_alert(outcome: &Outcome, stored: &SenderState) -> bool {
    outcome
        .alert()
        .is_some_and(|a| stored.incident.as_ref().is_some_and(|i| i.alert == *a))
}

/// The breaker, block and grace period of `st` without its windows and baseline (`None`:
/// nothing to keep).
fn breaker_only(mut st: SenderState, baseline_days: u32) -> Option<SenderState> {
    if !st.pinned() && st.grace_until == 0 {
        return None;
    }
    st.live = None;
    st.baseline = Baseline::new(baseline_days);
    st.streak = 0;
    Some(st)
}

/// Opens `sender`'s breaker in `t` with the incident of `local` (a state of the fallback),
/// unless it is open already (tripped by another MTA, or blocked).
fn write_trip(t: &mut Tracker, sender: &str, local: &SenderState) {
    let days = t.config.baseline_days;
    let st = t
        .senders
        .entry(sender.to_string())
        .or_insert_with(|| SenderState {
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
}

/// Per-sender campaign state in Redis: the transactions, no fallback (see [`SharedTracker`]).
/// Blocking: call it off an async reactor's threads.
pub struct RedisStore {
    client: redis::Client,
    /// The host name and port of a TCP URL whose host is a name (not an address), and its
    /// addresses: resolved when opening, and again only in the background after a failure
    /// (never while a message waits).
    named: Option<(String, u16)>,
    resolved: Arc<Mutex<Resolved>>,
    resolving: Arc<AtomicBool>,
    target: String,
    keys: String,
    config: CampaignConfig,
    shape: Shape,
    timeout: Duration,
    pool: Mutex<Vec<redis::Connection>>,
    retry_at: Mutex<Option<Instant>>,
    stripes: [Mutex<()>; STRIPES],
    odd_values: Every,
    /// Seed and counter of the write tokens.
    seed: u64,
    writes: AtomicU64,
}

impl RedisStore {
    /// A store at `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `redis+unix:///PATH`) under
    /// `prefix`; `timeout` is the time budget of one update. Does not connect: that happens at
    /// the first request.
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
        let named = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) if host.parse::<IpAddr>().is_err() => {
                Some((host.clone(), *port))
            }
            _ => None,
        };
        let resolved = Arc::new(Mutex::new(Resolved::default()));
        if let Some((host, port)) = &named {
            // Once, here; a name that does not resolve now is resolved again in the
            // background after the first failure.
            lock(&resolved).addrs = resolve(host, *port);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = xxhash_rust::xxh3::xxh3_64(
            format!("{nanos}:{}:{prefix}", std::process::id()).as_bytes(),
        );
        Ok(RedisStore {
            client,
            named,
            resolved,
            resolving: Arc::new(AtomicBool::new(false)),
            target: redact(url),
            keys: format!("{prefix}:{FORMAT}:sender:"),
            shape: Shape::of(&config),
            config,
            timeout: timeout.max(Duration::from_millis(1)),
            pool: Mutex::new(Vec::new()),
            retry_at: Mutex::new(None),
            stripes: std::array::from_fn(|_| Mutex::new(())),
            odd_values: Every::new(LOG_EVERY),
            seed,
            writes: AtomicU64::new(0),
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
        let deadline = Instant::now() + self.timeout;
        self.with_connection(deadline, |con| {
            arm(con, deadline).map_err(Stale::Unchanged)?;
            redis::cmd("PING").exec(con).map_err(Stale::Unchanged)
        })
    }

    fn key(&self, sender: &str) -> String {
        format!("{}{sender}", self.keys)
    }

    /// Seconds an unpinned sender's value lives after its last write: the long expiry when
    /// its baseline holds [`SETTLED_DAYS`] days of mail or it is in a grace period, else
    /// `idle_evict_s`.
    fn ttl(&self, st: &SenderState) -> u64 {
        let c = &self.config;
        // Values read from Redis: no arithmetic on them may overflow.
        let at = st.last_at.max(st.baseline.last_learned);
        // The window ending with today (`learned` leaves out the day it is asked on).
        let settled = st.grace_until > at
            || st
                .baseline
                .learned(at.saturating_add(86_400), SETTLED_DAYS)
                .is_some();
        if settled {
            c.idle_evict_s
                .saturating_add((u64::from(c.baseline_days) + 1).saturating_mul(86_400))
        } else {
            c.idle_evict_s
        }
    }

    /// A token for one write, unique to it (never 0).
    fn token(&self) -> u64 {
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.seed.to_le_bytes());
        bytes[8..].copy_from_slice(&n.to_le_bytes());
        xxhash_rust::xxh3::xxh3_64(&bytes).max(1)
    }

    /// Whether Redis failed less than [`RETRY_AFTER`] ago.
    fn resting(&self) -> bool {
        lock(&self.retry_at).is_some_and(|t| Instant::now() < t)
    }

    /// Runs `f` on a pooled or new connection (connecting by `deadline`), unless Redis failed
    /// less than [`RETRY_AFTER`] ago. `f` arms the connection's timeouts before each request
    /// ([`arm`]). A pooled connection that fails before `f` changed anything (`f` returns
    /// [`Stale::Unchanged`]: e.g. Redis restarted since) is replaced by a new one, once, if
    /// time is left.
    fn with_connection<T>(
        &self,
        deadline: Instant,
        mut f: impl FnMut(&mut redis::Connection) -> Result<T, Stale>,
    ) -> Result<T, SharedError> {
        if self.resting() {
            return Err(SharedError::Unavailable);
        }
        let mut pooled = lock(&self.pool).pop();
        let result = loop {
            let from_pool = pooled.is_some();
            let mut con = match pooled.take() {
                Some(c) => c,
                None => match self.connect(deadline) {
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
        if matches!(&result, Err(e) if e.is_outage()) {
            *lock(&self.retry_at) = Some(Instant::now() + RETRY_AFTER);
            self.resolve_in_background();
        }
        result
    }

    /// Connects by `deadline`, with half of what is left until it: the redis crate spends
    /// one timeout on the TCP connect and the replies of its connection set-up (AUTH, SELECT,
    /// CLIENT SETINFO; sent together, answered in one round trip), so a connect costs two
    /// round trips and leaves the other half for `WATCH`, `GET` and the transaction (three
    /// more). A Redis that accepts and then stalls costs at most that half (it is read with
    /// what is left of it). A host name is not resolved here (see `RedisStore::named`).
    fn connect(&self, deadline: Instant) -> redis::RedisResult<redis::Connection> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(spent());
        }
        let timeout = (left / 2).max(Duration::from_millis(1));
        let Some((_, port)) = &self.named else {
            return self.client.get_connection_with_timeout(timeout);
        };
        // Each address in turn (from the one that answered last) with half of what is left:
        // a refused one costs nothing, a silent one half, and all of them the budget at most.
        let (addrs, first) = {
            let r = lock(&self.resolved);
            (r.addrs.clone(), r.next)
        };
        let mut last = None;
        for i in 0..addrs.len() {
            let n = (first + i) % addrs.len();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let info = self
                .client
                .get_connection_info()
                .clone()
                .set_addr(redis::ConnectionAddr::Tcp(addrs[n].ip().to_string(), *port));
            match redis::Client::open(info).and_then(|c| {
                c.get_connection_with_timeout((left / 2).max(Duration::from_millis(1)))
            }) {
                Ok(con) => {
                    lock(&self.resolved).next = n;
                    return Ok(con);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the host name did not resolve (resolved again in the background)",
            )
            .into()
        }))
    }

    /// Resolves the host name again on a thread of its own (one at a time), for the next
    /// connects: the system resolver may take seconds, which no message waits for.
    fn resolve_in_background(&self) {
        let Some((host, port)) = self.named.clone() else {
            return;
        };
        if self.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let (resolved, resolving) = (self.resolved.clone(), self.resolving.clone());
        let spawned = std::thread::Builder::new()
            .name("sendguard-redis-dns".into())
            .spawn(move || {
                let addrs = resolve(&host, port);
                if !addrs.is_empty() {
                    let mut r = lock(&resolved);
                    if r.addrs != addrs {
                        *r = Resolved { addrs, next: 0 };
                    }
                }
                resolving.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.resolving.store(false, Ordering::Release);
        }
    }

    fn give_back(&self, con: redis::Connection) {
        let mut pool = lock(&self.pool);
        if pool.len() < POOL_MAX {
            pool.push(con);
        }
    }

    /// A tracker holding only `sender`, with `state`.
    fn tracker_of(&self, sender: &str, state: Option<SenderState>) -> Tracker {
        let mut t = Tracker {
            config: self.config.clone(),
            senders: BTreeMap::new(),
            last_sweep: 0,
        };
        if let Some(st) = state {
            t.senders.insert(sender.to_string(), st);
        }
        t
    }

    /// A tracker holding only `sender`, from its stored value (absent, unreadable: none).
    fn tracker_with(&self, sender: &str, value: Option<&[u8]>) -> Tracker {
        self.tracker_of(sender, value.and_then(|v| self.decode(sender, v)))
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
        breaker_only(v.state, self.config.baseline_days)
    }

    fn encode(&self, st: &SenderState, write: u64) -> Vec<u8> {
        serde_json::to_vec(&ValueOut {
            shape: self.shape,
            write,
            state: st,
        })
        .expect("a sender's state serialises")
    }

    /// Runs `f` on a tracker holding only `sender`'s stored `value`; returns what it returned
    /// and the sender's state after it. A value that makes `f` panic keeps only its breaker,
    /// block and grace period (as a value of other settings does); one whose breaker still
    /// makes it panic is dropped.
    fn decide<T>(
        &self,
        sender: &str,
        value: Option<&[u8]>,
        f: &mut impl FnMut(&mut Tracker) -> T,
    ) -> (T, Option<SenderState>) {
        let mut t = self.tracker_with(sender, value);
        let out = match catch_unwind(AssertUnwindSafe(|| f(&mut t))) {
            Ok(out) => out,
            Err(_) => {
                error!(sender, "campaign state in Redis: a stored value broke the tracker, keeping only its breaker");
                let kept = value
                    .and_then(|v| self.decode(sender, v))
                    .and_then(|st| breaker_only(st, self.config.baseline_days));
                t = self.tracker_of(sender, kept);
                match catch_unwind(AssertUnwindSafe(|| f(&mut t))) {
                    Ok(out) => out,
                    Err(_) => {
                        t = self.tracker_of(sender, None);
                        f(&mut t)
                    }
                }
            }
        };
        (out, t.senders.remove(sender))
    }

    /// Waits for `sender`'s turn on this MTA until most of the budget ending at `deadline` is
    /// spent ([`SharedError::Busy`]).
    fn turn(&self, sender: &str, deadline: Instant) -> Result<MutexGuard<'_, ()>, SharedError> {
        let stripe = xxhash_rust::xxh3::xxh3_64(sender.as_bytes()) as usize % STRIPES;
        let stripe = &self.stripes[stripe];
        // Less than a quarter of the budget left is too little for a transaction.
        let last = deadline.checked_sub(self.timeout / 4).unwrap_or(deadline);
        loop {
            let guard = match stripe.try_lock() {
                Ok(g) => Some(g),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            let now = Instant::now();
            match guard {
                Some(g) if now < last => return Ok(g),
                _ if now >= last => {
                    return Err(SharedError::Busy {
                        sender: sender.to_string(),
                        budget_ms: self.timeout.as_millis() as u64,
                    })
                }
                _ => std::thread::sleep(TURN_POLL.min(last - now)),
            }
        }
    }

    /// Runs `f` on a tracker holding only `sender`'s stored state and stores the result, as
    /// one transaction (retried when another MTA wrote the sender meanwhile), all by
    /// `deadline`. Returns what `f` returned and the state now stored. When the reply to
    /// `EXEC` is lost, the key is read again: the write counts as done when the value holds
    /// its token, or when `ours` says the stored state is this write's (e.g. its incident
    /// carries this write's alert).
    fn update<T>(
        &self,
        sender: &str,
        deadline: Instant,
        mut f: impl FnMut(&mut Tracker) -> T,
        ours: impl Fn(&T, &SenderState) -> bool,
    ) -> Result<(T, Option<SenderState>), SharedError> {
        if self.resting() {
            return Err(SharedError::Unavailable);
        }
        let _turn = self.turn(sender, deadline)?;
        let key = self.key(sender);
        self.with_connection(deadline, |con| {
            for attempt in 0..MAX_ATTEMPTS {
                if attempt > 0 {
                    // Another MTA wrote this sender: a random pause, so that none of them
                    // keeps losing to the others (a growing one would starve the slowest).
                    let pause = jitter();
                    if Instant::now() + pause >= deadline {
                        return Err(Stale::Other(SharedError::Contention {
                            sender: sender.to_string(),
                            attempts: attempt,
                        }));
                    }
                    std::thread::sleep(pause);
                }
                let watched =
                    arm(con, deadline).and_then(|()| redis::cmd("WATCH").arg(&key).exec(con));
                watched.map_err(|e| match attempt {
                    0 => Stale::Unchanged(e),
                    _ => e.into(),
                })?;
                arm(con, deadline)?;
                let value: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(con)?;
                let (out, state) = self.decide(sender, value.as_deref(), &mut f);
                let write = self.token();
                let mut p = redis::pipe();
                p.atomic();
                match &state {
                    Some(st) if st.pinned() => p.cmd("SET").arg(&key).arg(self.encode(st, write)),
                    Some(st) => p
                        .cmd("SET")
                        .arg(&key)
                        .arg(self.encode(st, write))
                        .arg("EX")
                        .arg(self.ttl(st)),
                    None => p.cmd("DEL").arg(&key),
                };
                match transact(con, &p, deadline) {
                    Ok(true) => return Ok((out, state)),
                    Ok(false) => {}
                    // Nothing sent: decided in process, but Redis did not fail (the
                    // connection, still watching the key, is not reused).
                    Err(TxError::NotSent) => {
                        return Err(Stale::Other(SharedError::NotSent {
                            sender: sender.to_string(),
                            budget_ms: self.timeout.as_millis() as u64,
                        }))
                    }
                    // Maybe carried out: read it again (never write it again).
                    Err(TxError::Failed(e)) if ambiguous(&e) && state.is_some() => {
                        let Some((fresh, stored)) = self.reread(&key, deadline) else {
                            return Err(e.into());
                        };
                        // The connection that lost a reply is never used again.
                        *con = fresh;
                        return match stored {
                            Some(v) if v.write == write => Ok((out, state)),
                            Some(v) if v.shape == self.shape && ours(&out, &v.state) => {
                                Ok((out, Some(v.state)))
                            }
                            _ => Err(e.into()),
                        };
                    }
                    Err(TxError::Failed(e)) => return Err(e.into()),
                }
            }
            Err(Stale::Other(SharedError::Contention {
                sender: sender.to_string(),
                attempts: MAX_ATTEMPTS,
            }))
        })
    }

    /// The value at `key` (`None`: absent or unreadable) and the connection it was read on,
    /// a new one, by `deadline` or within half the budget from now, whichever is later;
    /// `None` when Redis does not answer.
    fn reread(&self, key: &str, deadline: Instant) -> Option<(redis::Connection, Option<ValueIn>)> {
        let deadline = deadline.max(Instant::now() + self.timeout / 2);
        let mut con = self.connect(deadline).ok()?;
        arm(&con, deadline).ok()?;
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(&mut con).ok()?;
        Some((con, value.and_then(|v| serde_json::from_slice(&v).ok())))
    }

    /// [`Tracker::observe`] on the shared state by `deadline`, and the sender's state now
    /// stored. `trip`: an incident the fallback opened for the sender, not yet in Redis; it is
    /// written first (unless the stored breaker is already open), in the same transaction, so
    /// the message is held without a second alert.
    fn observe(
        &self,
        obs: &Observation,
        trip: Option<&SenderState>,
        deadline: Instant,
    ) -> Result<(Outcome, Option<SenderState>), SharedError> {
        self.update(
            &obs.sender,
            deadline,
            |t| {
                if let Some(local) = trip {
                    write_trip(t, &obs.sender, local);
                }
                t.observe(obs)
            },
            carries_alert,
        )
    }

    /// A tracker holding the stored senders, at most `max` of them, and whether more keys
    /// were left unread (for `senders list`).
    fn load_all(&self, max: usize) -> Result<(Tracker, bool), SharedError> {
        let pattern = format!("{}*", escape_glob(&self.keys));
        self.with_connection(Instant::now() + self.timeout, |con| {
            let mut t = self.tracker_with("", None);
            let mut cursor = 0u64;
            let mut loaded = 0usize;
            loop {
                // Reads only: a stale connection may try again from the start.
                arm(con, Instant::now() + self.timeout).map_err(Stale::Unchanged)?;
                let (next, mut keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_BATCH)
                    .query(con)
                    .map_err(Stale::Unchanged)?;
                let cut = keys.len() > max - loaded;
                keys.truncate(max - loaded);
                loaded += keys.len();
                if !keys.is_empty() {
                    arm(con, Instant::now() + self.timeout).map_err(Stale::Unchanged)?;
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
                    return Ok((t, cut));
                }
                if cut || loaded >= max {
                    return Ok((t, true));
                }
                cursor = next;
            }
        })
    }
}

/// The addresses of a Redis host name, and which one the next connect tries.
#[derive(Default)]
struct Resolved {
    addrs: Vec<SocketAddr>,
    next: usize,
}

/// The addresses of `host` (none when it does not resolve).
fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default()
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

/// Lowers a flag when dropped (also when unwinding).
struct Lowered<'a>(&'a AtomicBool);

impl Drop for Lowered<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
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
/// message, and an in-process fallback when Redis is unavailable or busy (see the module
/// docs). `Send + Sync`; blocking: call it off an async reactor's threads.
pub struct SharedTracker {
    store: RedisStore,
    fallback: Mutex<Fallback>,
    up: AtomicBool,
    /// The fallback decided messages since its state was last written back and dropped.
    pending: AtomicBool,
    /// A thread is writing the fallback's trips back ([`SharedTracker::recover`]): one at a
    /// time.
    recovering: AtomicBool,
    fallbacks: AtomicU64,
    /// Redis failed or timed out.
    log_outage: Every,
    /// A sender's turn, or other MTAs' writes, outlasted the time budget.
    log_busy: Every,
}

impl SharedTracker {
    /// A tracker on the Redis at `url` (see [`RedisStore::open`]), keys under `prefix`
    /// ([`DEFAULT_PREFIX`]), `timeout` the time budget of each message and of each request of
    /// an administrator command ([`DEFAULT_TIMEOUT`]). Does not connect; see
    /// [`SharedTracker::ping`].
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
            pending: AtomicBool::new(false),
            recovering: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            log_outage: Every::new(LOG_EVERY),
            log_busy: Every::new(LOG_EVERY),
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

    /// Messages decided in process because Redis was unavailable or busy, since start.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Whether Redis answered the last request (busy senders do not count as down).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records one message and says whether the breaker holds it ([`Tracker::observe`]), on the
    /// shared state within the time budget, else in process. Never fails.
    pub fn observe(&self, obs: &Observation) -> Outcome {
        let deadline = Instant::now() + self.store.timeout;
        // A breaker the fallback tripped for this sender and not yet written to Redis: this
        // message writes it, on the sender's own turn, and is held.
        let trip = self.pending_trip(&obs.sender);
        let shared = self.shared(|s| {
            let decided = s.observe(obs, trip.as_ref(), deadline)?;
            if trip.is_some() {
                let mut fb = lock(&self.fallback);
                fb.tripped.remove(&obs.sender);
                fb.tracker.senders.remove(&obs.sender);
            }
            Ok(decided)
        });
        match shared {
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
                self.pending.store(true, Ordering::Relaxed);
                outcome
            }
        }
    }

    /// The fallback's state of `sender` when its breaker was tripped by the fallback and not
    /// yet written to Redis.
    fn pending_trip(&self, sender: &str) -> Option<SenderState> {
        if !self.pending.load(Ordering::Relaxed) {
            return None;
        }
        let fb = lock(&self.fallback);
        if !fb.tripped.contains(sender) {
            return None;
        }
        fb.tracker
            .senders
            .get(sender)
            .filter(|st| st.incident.is_some())
            .cloned()
    }

    /// Closes a sender's breaker in Redis ([`Tracker::release`]); whether it was known.
    pub fn release(&self, sender: &str, at: u64) -> Result<bool, SharedError> {
        let key = sender.to_lowercase();
        let deadline = Instant::now() + self.store.timeout;
        let (known, state) =
            self.shared(|s| s.update(&key, deadline, |t| t.release(&key, at), |_, _| false))?;
        self.remember(&key, state.as_ref());
        let mut fb = lock(&self.fallback);
        fb.tracker.release(&key, at);
        fb.tripped.remove(&key);
        Ok(known)
    }

    /// Opens a sender's breaker in Redis ([`Tracker::block`]).
    pub fn block(&self, sender: &str, at: u64) -> Result<(), SharedError> {
        let key = sender.to_lowercase();
        let deadline = Instant::now() + self.store.timeout;
        let ((), state) =
            self.shared(|s| s.update(&key, deadline, |t| t.block(&key, at), |_, _| false))?;
        self.remember(&key, state.as_ref());
        Ok(())
    }

    /// Every sender with live state in Redis ([`Tracker::senders`]), at most [`LIST_MAX`]
    /// of them (a WARN says when there were more).
    pub fn senders(&self, at: u64) -> Result<Vec<SenderSummary>, SharedError> {
        let (list, cut) = self.senders_at_most(at, LIST_MAX)?;
        if cut {
            warn!(
                redis = %self.store.target(),
                loaded = LIST_MAX,
                "senders list: more senders in Redis than are loaded; the list is cut (senders show USER reads any one)"
            );
        }
        Ok(list)
    }

    /// [`SharedTracker::senders`] from at most `max` stored senders, and whether the list was
    /// cut there (more keys were left unread).
    pub fn senders_at_most(
        &self,
        at: u64,
        max: usize,
    ) -> Result<(Vec<SenderSummary>, bool), SharedError> {
        let (mut t, cut) = self.shared(|s| s.load_all(max))?;
        t.sweep(at);
        Ok((t.senders(at), cut))
    }

    /// One sender in Redis ([`Tracker::sender`]).
    pub fn sender(&self, sender: &str, at: u64) -> Result<Option<SenderDetail>, SharedError> {
        let key = sender.to_lowercase();
        let deadline = Instant::now() + self.store.timeout;
        let value: Option<Vec<u8>> = self.shared(|s| {
            s.with_connection(deadline, |con| {
                arm(con, deadline).map_err(Stale::Unchanged)?;
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

    /// Runs `f` on the store unless Redis failed moments ago; notes failures and recoveries,
    /// and writes back what the fallback decided when Redis answers.
    fn shared<T>(
        &self,
        f: impl FnOnce(&RedisStore) -> Result<T, SharedError>,
    ) -> Result<T, SharedError> {
        match f(&self.store) {
            Ok(v) => {
                let was_down = !self.up.swap(true, Ordering::Relaxed);
                if was_down || self.pending.load(Ordering::Relaxed) {
                    if self.recovering.swap(true, Ordering::AcqRel) {
                        // Another thread writes back; what it leaves, the next answer does.
                        if was_down {
                            info!(redis = %self.store.target(), "campaign state in Redis reachable again");
                        }
                    } else {
                        let _done = Lowered(&self.recovering);
                        self.recover(was_down);
                    }
                }
                Ok(v)
            }
            Err(
                e @ (SharedError::Contention { .. }
                | SharedError::Busy { .. }
                | SharedError::NotSent { .. }),
            ) => {
                if self.log_busy.ready() {
                    warn!(error = %e, "deciding in process (at most one such line a minute)");
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
        if self.log_outage.ready() {
            error!(
                redis = %self.store.target(),
                error = %e,
                fallbacks = self.fallbacks(),
                "campaign state in Redis unavailable: deciding in process, retrying every {} ms",
                RETRY_AFTER.as_millis()
            );
        }
    }

    /// Redis answers (again): writes the breakers the fallback tripped, drops its counts.
    /// The writes share one time budget; those left are written at the next answer. One
    /// thread at a time ([`SharedTracker::recovering`]). A trip stays in the fallback (name
    /// and state) until it is written, so a failed write loses nothing.
    fn recover(&self, was_down: bool) {
        let (tripped, decided) = {
            let mut fb = lock(&self.fallback);
            self.pending.store(false, Ordering::Relaxed);
            let tripped: Vec<(String, SenderState)> = fb
                .tripped
                .iter()
                .filter_map(|k| fb.tracker.senders.get(k).cloned().map(|st| (k.clone(), st)))
                .collect();
            (tripped, std::mem::take(&mut fb.decided))
        };
        let deadline = Instant::now() + self.store.timeout;
        let mut written = 0;
        for (key, local) in &tripped {
            let result =
                self.store
                    .update(key, deadline, |t| write_trip(t, key, local), |_, _| false);
            match result {
                Ok(((), state)) => {
                    written += 1;
                    self.remember(key, state.as_ref());
                    // Its state stays until the end (the fallback holds the sender meanwhile).
                    lock(&self.fallback).tripped.remove(key);
                }
                Err(e) => {
                    // Keep the fallback as it is and write the rest at the next answer.
                    let mut fb = lock(&self.fallback);
                    fb.decided += decided;
                    self.pending.store(true, Ordering::Relaxed);
                    drop(fb);
                    if e.is_outage() {
                        self.failed(&e);
                    }
                    return;
                }
            }
        }
        let mut fb = lock(&self.fallback);
        // Trips made meanwhile by other messages stay, to be written at the next answer.
        let kept: BTreeMap<String, SenderState> = std::mem::take(&mut fb.tripped)
            .into_iter()
            .filter_map(|k| fb.tracker.senders.remove(&k).map(|st| (k, st)))
            .collect();
        fb.tripped = kept.keys().cloned().collect();
        if !fb.tripped.is_empty() {
            self.pending.store(true, Ordering::Relaxed);
        }
        fb.tracker.senders = kept;
        fb.tracker.last_sweep = 0;
        drop(fb);
        if was_down {
            info!(
                redis = %self.store.target(),
                decided_in_process = decided,
                breakers_written = written,
                "campaign state in Redis reachable again"
            );
        } else if written > 0 {
            info!(
                redis = %self.store.target(),
                breakers_written = written,
                "campaign breakers tripped in process written to Redis"
            );
        }
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
            "redis://:***@10.0.0.5:6379/2"
        );
        assert_eq!(
            redact("redis://mx1:s3cret@[::1]:6379/2"),
            "redis://mx1:***@[::1]:6379/2"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        // The unix socket form takes its credentials from the query (and the redis crate
        // accepts it).
        for url in [
            "redis+unix:///run/redis.sock?pass=s3cret",
            "unix:///run/redis.sock?db=2&user=mx1&pass=s3cret",
            "redis://h/0?password=s3cret&PASS=s3cret&username=mx1",
        ] {
            assert!(redis::Client::open(url).is_ok(), "{url}");
            let r = redact(url);
            assert!(!r.contains("s3cret") && !r.contains("mx1"), "{url} -> {r}");
            assert!(r.contains("***"), "{r}");
        }
        assert_eq!(
            redact("unix:///run/redis.sock?db=2&user=mx1&pass=s3cret"),
            "unix:///run/redis.sock?db=2&user=***&pass=***"
        );
        // Not a Redis URL: neither user information nor query.
        assert_eq!(redact("ftp://u:s3cret@h/x?pass=s3cret"), "ftp://***@h/x");
        assert_eq!(redact("/var/lib/x?pass=s3cret"), "/var/lib/x");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    /// The test Redis of `tests/campaign_redis.rs` (`SENDGUARD_TEST_REDIS`), or `None`
    /// (skipped, unless `SENDGUARD_REQUIRE_REDIS=1`).
    fn test_redis(test: &str) -> Option<String> {
        let required = std::env::var("SENDGUARD_REQUIRE_REDIS").as_deref() == Ok("1");
        let url = std::env::var("SENDGUARD_TEST_REDIS").unwrap_or_default();
        let answers = !url.is_empty()
            && redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
                .and_then(|mut c| redis::cmd("PING").exec(&mut c))
                .is_ok();
        assert!(
            answers || !required,
            "SENDGUARD_REQUIRE_REDIS=1 but no test Redis answers"
        );
        if !answers {
            eprintln!("{test}: skipped, no test Redis in SENDGUARD_TEST_REDIS");
        }
        answers.then_some(url)
    }

    fn fraud(sender: &str, i: u64, at: u64) -> Observation {
        Observation {
            at,
            sender: sender.to_string(),
            sender_domain: Some("northwind.example".to_string()),
            recipients: vec![format!("victim{i}@mail{i}.example")],
            fingerprint: super::super::Fingerprint(0xdead_beef ^ i),
            verdict: crate::Verdict::Hold,
            class: crate::Class::Fraud,
            suspicion: 3.0,
            subject: "Urgent".to_string(),
            queue_id: Some(format!("Q{i:05}")),
        }
    }

    fn ham(sender: &str, i: u64, at: u64) -> Observation {
        Observation {
            verdict: crate::Verdict::Pass,
            class: crate::Class::Ham,
            suspicion: -4.0,
            ..fraud(sender, i, at)
        }
    }

    #[test]
    fn a_sender_busy_beyond_the_budget_is_decided_in_process_and_its_trip_written_back() {
        let Some(url) = test_redis("a_sender_busy_beyond_the_budget") else {
            return;
        };
        let prefix = format!("sendguard-test:unit-busy:{}", std::process::id());
        let budget = Duration::from_millis(300);
        let t = SharedTracker::open(&url, &prefix, CampaignConfig::default(), budget).unwrap();
        let t0 = 1_795_392_000;
        assert_eq!(t.observe(&ham("ann", 0, t0)), Outcome::Allow);

        // Another message of eve holds her turn on this MTA for the whole budget.
        let stripe = xxhash_rust::xxh3::xxh3_64(b"eve") as usize % STRIPES;
        let turn = lock(&t.store.stripes[stripe]);
        let started = Instant::now();
        assert_eq!(t.observe(&fraud("eve", 1, t0 + 10)), Outcome::Allow);
        let tripped = t.observe(&fraud("eve", 2, t0 + 20));
        assert!(started.elapsed() < budget * 20, "{:?}", started.elapsed());
        assert!(tripped.alert().is_some(), "{tripped:?}");
        assert_eq!(t.fallbacks(), 2);
        assert!(t.is_up(), "a busy sender is not an outage");
        drop(turn);

        // The next answer from Redis writes the breaker tripped in process.
        assert_eq!(t.observe(&ham("ann", 1, t0 + 30)), Outcome::Allow);
        let eve = t.sender("eve", t0 + 40).unwrap().unwrap();
        assert_eq!(eve.summary.state, super::super::BreakerState::Tripped);
        let held = t.observe(&fraud("eve", 3, t0 + 50));
        assert!(held.is_hold() && held.alert().is_none(), "{held:?}");
        assert_eq!(t.fallbacks(), 2);
        assert!(!t.pending.load(Ordering::Relaxed));

        let mut con = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("DEL").arg(keys).query(&mut con).unwrap();
    }

    /// Deletes the keys under `prefix`.
    fn clean(url: &str, prefix: &str) {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut con)
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query(&mut con).unwrap();
        }
    }

    #[test]
    fn a_budget_spent_before_the_write_is_sent_is_not_an_outage() {
        let Some(url) = test_redis("a_budget_spent_before_the_write_is_sent") else {
            return;
        };
        let prefix = format!("sendguard-test:unit-not-sent:{}", std::process::id());
        let budget = Duration::from_millis(100);
        let t = SharedTracker::open(&url, &prefix, CampaignConfig::default(), budget).unwrap();
        let t0 = 1_795_392_000;
        // The decision outlasts the budget (a stand-in for a slow machine): nothing is sent.
        let deadline = Instant::now() + budget;
        let result = t.shared(|s| {
            s.update(
                "ann",
                deadline,
                |tr| {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    tr.observe(&ham("ann", 0, t0))
                },
                |_, _| false,
            )
        });
        assert!(
            matches!(result, Err(SharedError::NotSent { .. })),
            "{:?}",
            result.err()
        );
        assert!(t.is_up(), "not an outage");
        assert!(!t.store.resting(), "Redis is asked again at once");
        assert!(t.sender("ann", t0).unwrap().is_none(), "nothing written");
        assert_eq!(t.observe(&ham("ann", 1, t0 + 10)), Outcome::Allow);
        clean(&url, &prefix);
    }

    #[test]
    fn one_recovery_at_a_time_and_a_failed_write_back_keeps_the_trip() {
        let Some(url) = test_redis("one_recovery_at_a_time") else {
            return;
        };
        let prefix = format!("sendguard-test:unit-recover:{}", std::process::id());
        let budget = Duration::from_millis(200);
        let t = SharedTracker::open(&url, &prefix, CampaignConfig::default(), budget).unwrap();
        let t0 = 1_795_392_000;
        assert_eq!(t.observe(&ham("ann", 0, t0)), Outcome::Allow);
        // Eve's turn is held: her flood trips the fallback's breaker.
        let stripe = xxhash_rust::xxh3::xxh3_64(b"eve") as usize % STRIPES;
        let turn = lock(&t.store.stripes[stripe]);
        t.observe(&fraud("eve", 1, t0 + 10));
        assert!(t.observe(&fraud("eve", 2, t0 + 20)).alert().is_some());
        let local = lock(&t.fallback).tracker.senders["eve"].clone();

        // Another thread is recovering: this answer leaves the write-back to it.
        t.recovering.store(true, Ordering::SeqCst);
        assert_eq!(t.observe(&ham("ann", 1, t0 + 30)), Outcome::Allow);
        assert!(t.pending.load(Ordering::Relaxed));
        t.recovering.store(false, Ordering::SeqCst);

        // The write-back fails (eve's turn is still held): her name and state stay.
        assert_eq!(t.observe(&ham("ann", 2, t0 + 40)), Outcome::Allow);
        {
            let fb = lock(&t.fallback);
            assert!(fb.tripped.contains("eve"));
            assert_eq!(fb.tracker.senders.get("eve"), Some(&local));
        }
        assert!(t.pending.load(Ordering::Relaxed));
        assert!(!t.recovering.load(Ordering::SeqCst));
        drop(turn);

        // The next answer writes it.
        assert_eq!(t.observe(&ham("ann", 3, t0 + 50)), Outcome::Allow);
        let eve = t.sender("eve", t0 + 60).unwrap().unwrap();
        assert_eq!(eve.summary.state, super::super::BreakerState::Tripped);
        assert!(!t.pending.load(Ordering::Relaxed));
        assert!(lock(&t.fallback).tracker.senders.is_empty());
        clean(&url, &prefix);
    }

    #[test]
    fn a_host_name_is_resolved_when_opening_not_per_message() {
        let Some(url) = test_redis("a_host_name_is_resolved_when_opening") else {
            return;
        };
        let Some(rest) = url.strip_prefix("redis://127.0.0.1:") else {
            eprintln!("a_host_name_is_resolved_when_opening: skipped, {url} is not on 127.0.0.1");
            return;
        };
        let named = format!("redis://localhost:{rest}");
        let store = RedisStore::open(
            &named,
            DEFAULT_PREFIX,
            CampaignConfig::default(),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        let port = store.named.as_ref().map(|(_, p)| *p).unwrap();
        let addrs = lock(&store.resolved).addrs.clone();
        assert!(!addrs.is_empty(), "resolved when opening");
        assert!(addrs.iter().all(|a| a.port() == port));
        // localhost may resolve to ::1 first, where the test Redis does not listen: the next
        // address is tried within the same budget.
        store.ping().unwrap();
        store.ping().unwrap();
        // An address is not resolved again.
        let ip = RedisStore::open(
            &url,
            DEFAULT_PREFIX,
            CampaignConfig::default(),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert!(ip.named.is_none());
    }

    #[test]
    fn only_a_settled_sender_gets_the_long_expiry() {
        let store = RedisStore::open(
            "redis://127.0.0.1:1/0",
            DEFAULT_PREFIX,
            CampaignConfig::default(),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        let c = CampaignConfig::default();
        let long = c.idle_evict_s + (u64::from(c.baseline_days) + 1) * 86_400;
        let t0 = 1_795_392_000;
        let mut st = SenderState {
            last_at: t0,
            live: None,
            baseline: Baseline::new(c.baseline_days),
            streak: 0,
            grace_until: 0,
            incident: None,
            blocked_since: None,
        };
        assert_eq!(store.ttl(&st), c.idle_evict_s, "new");
        st.baseline.learn(t0, 1, 1);
        assert_eq!(store.ttl(&st), c.idle_evict_s, "one day of mail");
        st.last_at = t0 + 86_400 + 5;
        st.baseline.learn(t0 + 86_400 + 5, 1, 1);
        assert_eq!(store.ttl(&st), long, "two days of mail");
        let mut grace = SenderState {
            baseline: Baseline::new(c.baseline_days),
            grace_until: t0 + 86_400 + 3600,
            ..st.clone()
        };
        assert_eq!(store.ttl(&grace), long, "in a grace period");
        grace.grace_until = t0;
        assert_eq!(store.ttl(&grace), c.idle_evict_s, "grace over");
        // Values read from Redis may be anything: no overflow.
        grace.last_at = u64::MAX;
        assert_eq!(store.ttl(&grace), c.idle_evict_s, "last_at at its maximum");
    }

    #[test]
    fn a_lost_exec_reply_is_ours_when_the_stored_incident_carries_its_alert() {
        let mut t = Tracker::new(CampaignConfig::default()).unwrap();
        let t0 = 1_795_392_000;
        t.observe(&fraud("eve", 1, t0));
        let tripped = t.observe(&fraud("eve", 2, t0 + 10));
        let mut stored = t.senders["eve"].clone();
        // Another MTA held a message on top of this write.
        t.observe(&fraud("eve", 3, t0 + 20));
        stored.incident.clone_from(&t.senders["eve"].incident);
        let ours = carries_alert;
        assert!(ours(&tripped, &stored));
        // An incident raised by another message is not this one's.
        let mut other = Tracker::new(CampaignConfig::default()).unwrap();
        other.observe(&fraud("eve", 4, t0 + 30));
        other.observe(&fraud("eve", 5, t0 + 40));
        assert!(!ours(&tripped, &other.senders["eve"]));
        assert!(!ours(&Outcome::Allow, &stored));
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
