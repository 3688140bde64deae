//! Campaign state shared in Redis, against a real redis-server: two trackers on one Redis are
//! two MTAs. They count into one window and trip one breaker with one alert; the state
//! survives a restart; a release or block through one is seen by the other; concurrent
//! writers lose no count; an outage falls back in process without losing mail and keeps open
//! breakers open. Two milters sharing a Redis do the same through the milter protocol.
//!
//! The server comes from `SENDGUARD_TEST_REDIS` (e.g. `redis://127.0.0.1:6379/15`; `.ci/run`
//! starts one). Unset, the tests that need it say they were skipped and pass, unless
//! `SENDGUARD_REQUIRE_REDIS=1`, when they fail. Each test uses its own key prefix.
#![cfg(feature = "redis")]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sendguard::campaign::shared::{SharedTracker, DEFAULT_TIMEOUT, RETRY_AFTER};
use sendguard::campaign::{
    domain_of, BreakerState, CampaignConfig, Fingerprint, Observation, Outcome, Rule,
};
use sendguard::{Class, Verdict};

/// Timeout of the trackers on the test Redis: what is tested is sharing, not speed (a loaded
/// CI machine must not turn a test into a fallback).
const PATIENT: Duration = Duration::from_secs(2);
const T0: u64 = 1_795_392_000; // a Monday, 00:00 UTC
const TEMPLATE: u64 = 0x5a5a_1234_9876_c3c3;

/// The test Redis, or `None` (skipped) when it is not configured.
fn redis_url(test: &str) -> Option<String> {
    let required = std::env::var("SENDGUARD_REQUIRE_REDIS").as_deref() == Ok("1");
    let url = std::env::var("SENDGUARD_TEST_REDIS").unwrap_or_default();
    if url.is_empty() {
        assert!(
            !required,
            "SENDGUARD_REQUIRE_REDIS=1 but SENDGUARD_TEST_REDIS is not set"
        );
        eprintln!(
            "{test}: skipped, SENDGUARD_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379/15)"
        );
        return None;
    }
    let reachable = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut c| redis::cmd("PING").exec(&mut c));
    match reachable {
        Ok(()) => Some(url),
        Err(e) => {
            assert!(
                !required,
                "SENDGUARD_REQUIRE_REDIS=1 but {url} does not answer: {e}"
            );
            eprintln!("{test}: skipped, {url} does not answer: {e}");
            None
        }
    }
}

/// A key prefix of this test alone; its keys are deleted when dropped.
struct Prefix {
    url: String,
    prefix: String,
}

impl Prefix {
    fn new(url: &str, test: &str) -> Prefix {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Prefix {
            url: url.to_string(),
            prefix: format!("sendguard-test:{test}:{}:{nanos}", std::process::id()),
        }
    }

    /// One MTA's tracker on this prefix.
    fn mta(&self, config: &CampaignConfig) -> SharedTracker {
        self.mta_with(config, PATIENT)
    }

    /// One MTA's tracker on this prefix with the time budget `timeout`.
    fn mta_with(&self, config: &CampaignConfig, timeout: Duration) -> SharedTracker {
        SharedTracker::open(&self.url, &self.prefix, config.clone(), timeout).unwrap()
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(mut con) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut con)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _ = redis::cmd("DEL").arg(keys).exec(&mut con);
        }
    }
}

/// A small breaker: one letter to 5 organisations in 5 messages trips it; two fraud holds in a
/// row too.
fn small() -> CampaignConfig {
    CampaignConfig {
        spread_threshold: 5,
        spread_min_messages: 5,
        ..CampaignConfig::default()
    }
}

/// Message `i` of a campaign from `sender`: the template, varied, to one new company.
fn letter(sender: &str, i: u64, at: u64) -> Observation {
    let fp = TEMPLATE ^ (1 << (i % 64)) ^ (1 << ((i * 7 + 3) % 64));
    Observation {
        at,
        sender: sender.to_string(),
        sender_domain: domain_of(&format!("{sender}@northwind.example")),
        recipients: vec![format!("purchasing@firm{i}.example")],
        fingerprint: Fingerprint(fp),
        verdict: Verdict::Pass,
        class: Class::Ham,
        suspicion: -4.0,
        subject: "Spring catalogue".to_string(),
        queue_id: Some(format!("Q{i:05}")),
    }
}

/// A hold-level fraud letter (two in a row trip the hold-streak rule).
fn fraud(sender: &str, i: u64, at: u64) -> Observation {
    Observation {
        verdict: Verdict::Hold,
        class: Class::Fraud,
        suspicion: 3.0,
        recipients: vec![format!("victim{i}@mail{i}.example")],
        fingerprint: Fingerprint(0xdead_beef ^ i),
        ..letter(sender, i, at)
    }
}

fn alerted(o: &Outcome) -> bool {
    o.alert().is_some()
}

#[test]
fn two_mtas_count_into_one_breaker_that_trips_once() {
    let Some(url) = redis_url("two_mtas_count_into_one_breaker_that_trips_once") else {
        return;
    };
    let p = Prefix::new(&url, "trip-once");
    let (a, b) = (p.mta(&small()), p.mta(&small()));

    // The flood alternates between the two MTAs: neither sees 5 letters on its own before the
    // fifth, yet the fifth trips the shared breaker.
    let mut outcomes = Vec::new();
    for i in 0..10u64 {
        let mta = if i % 2 == 0 { &a } else { &b };
        outcomes.push(mta.observe(&letter("dan", i, T0 + 60 + i * 10)));
    }
    for (i, o) in outcomes.iter().enumerate().take(4) {
        assert_eq!(*o, Outcome::Allow, "message {i}");
    }
    assert_eq!(outcomes[4].rule(), Some(Rule::FingerprintSpread));
    assert_eq!(outcomes.iter().filter(|o| alerted(o)).count(), 1);
    assert!(outcomes[5..].iter().all(|o| o.is_hold() && !alerted(o)));
    assert_eq!((a.fallbacks(), b.fallbacks()), (0, 0));

    // Both MTAs list the same open breaker and the same counts.
    let at = T0 + 200;
    for mta in [&a, &b] {
        let list = mta.senders(at).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].sender, "dan");
        assert_eq!(list[0].state, BreakerState::Tripped);
        assert_eq!(list[0].short_messages, 10);
        assert_eq!(list[0].held, 6);
        let d = mta.sender("DAN", at).unwrap().unwrap();
        assert_eq!(
            d.incident.unwrap().alert.first_queue_id.as_deref(),
            Some("Q00000")
        );
    }
    assert!(a.sender("nobody", at).unwrap().is_none());
}

#[test]
fn the_state_survives_a_restart_of_either_mta() {
    let Some(url) = redis_url("the_state_survives_a_restart_of_either_mta") else {
        return;
    };
    let p = Prefix::new(&url, "restart");
    let a = p.mta(&small());
    assert_eq!(a.observe(&letter("ann", 1, T0 + 10)), Outcome::Allow);
    assert_eq!(a.observe(&letter("ann", 2, T0 + 20)), Outcome::Allow);
    assert_eq!(a.observe(&fraud("eve", 1, T0 + 30)), Outcome::Allow);
    assert!(alerted(&a.observe(&fraud("eve", 2, T0 + 40))));
    drop(a);

    // A new process: eve's breaker is still open, ann's counts are still there.
    let again = p.mta(&small());
    let held = again.observe(&letter("eve", 3, T0 + 50));
    assert_eq!(held.rule(), Some(Rule::HoldStreak));
    assert!(!alerted(&held));
    let ann = again.sender("ann", T0 + 60).unwrap().unwrap();
    assert_eq!(ann.counts.hour.messages, 2);
    assert_eq!(ann.summary.state, BreakerState::Closed);
}

#[test]
fn release_and_block_through_one_mta_are_seen_by_the_other() {
    let Some(url) = redis_url("release_and_block_through_one_mta_are_seen_by_the_other") else {
        return;
    };
    let p = Prefix::new(&url, "admin");
    let (a, b) = (p.mta(&small()), p.mta(&small()));

    a.block("Mallory", T0).unwrap();
    let held = b.observe(&letter("mallory", 1, T0 + 10));
    assert_eq!(held.rule(), Some(Rule::Blocked));
    assert!(!alerted(&held));
    assert!(a.release("mallory", T0 + 20).unwrap());
    assert_eq!(b.observe(&letter("mallory", 2, T0 + 30)), Outcome::Allow);

    // Tripped on one MTA, released through the other: the first lets the sender go on.
    b.observe(&fraud("eve", 1, T0 + 40));
    assert!(alerted(&b.observe(&fraud("eve", 2, T0 + 50))));
    assert!(a.observe(&letter("eve", 3, T0 + 60)).is_hold());
    assert!(a.release("eve", T0 + 70).unwrap());
    assert_eq!(b.observe(&letter("eve", 4, T0 + 80)), Outcome::Allow);
    assert_eq!(
        b.sender("eve", T0 + 90).unwrap().unwrap().summary.state,
        BreakerState::Grace
    );
    assert!(!a.release("nobody", T0 + 100).unwrap());
}

#[test]
fn concurrent_mtas_lose_no_count_and_trip_once() {
    let Some(url) = redis_url("concurrent_mtas_lose_no_count_and_trip_once") else {
        return;
    };
    let p = Prefix::new(&url, "concurrent");
    let config = CampaignConfig {
        spread_threshold: 20,
        spread_min_messages: 5,
        volume_floor: 100_000,
        ..CampaignConfig::default()
    };
    // A budget far above PATIENT. In one CI simulation (2026-12-08, 2-core machine) one of the
    // 200 updates fell back with the 2 s budget and the count below failed; 12 runs on an idle
    // machine passed. The likely cause (not proven): the four threads of one MTA take turns on
    // one sender by polling a lock, and a thread that keeps missing its turn can wait while
    // the others write most of their letters. What is tested is that no count is lost and the
    // breaker trips once, not how fast.
    let slow = Duration::from_secs(20);
    let mtas = [
        Arc::new(p.mta_with(&config, slow)),
        Arc::new(p.mta_with(&config, slow)),
    ];
    // Two MTAs, four scanning threads each, 25 letters per thread to 200 companies.
    let results: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let mta = mtas[(t % 2) as usize].clone();
                s.spawn(move || {
                    (0..25u64)
                        .map(|k| mta.observe(&letter("dan", t * 25 + k, T0 + 60)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(mtas[0].fallbacks() + mtas[1].fallbacks(), 0);
    // Serialised by the transactions: 19 letters out, the 20th company trips, 181 held.
    assert_eq!(results.iter().filter(|o| alerted(o)).count(), 1);
    assert_eq!(results.iter().filter(|o| o.is_hold()).count(), 181);
    let d = mtas[1].sender("dan", T0 + 61).unwrap().unwrap();
    assert_eq!(d.counts.hour.messages, 200);
    assert_eq!(d.incident.unwrap().held, 181);
}

#[test]
fn an_unreachable_redis_falls_back_in_process_without_losing_mail() {
    // Needs no server: nothing listens on the port of a listener just closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mta = SharedTracker::open(
        &format!("redis://127.0.0.1:{port}/0"),
        "sendguard-test:down",
        small(),
        DEFAULT_TIMEOUT,
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(mta.observe(&fraud("eve", 1, T0 + 10)), Outcome::Allow);
    let tripped = mta.observe(&fraud("eve", 2, T0 + 20));
    assert_eq!(tripped.rule(), Some(Rule::HoldStreak));
    assert!(
        alerted(&tripped),
        "the fallback trips and alerts on its own"
    );
    assert!(mta.observe(&letter("eve", 3, T0 + 30)).is_hold());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(mta.fallbacks(), 3);
    assert!(!mta.is_up());
    // Administrator commands report the outage instead of acting on one MTA.
    assert!(mta.senders(T0 + 40).is_err());
    assert!(mta.block("mallory", T0 + 40).is_err());
}

#[test]
fn a_redis_that_does_not_answer_costs_one_timeout_per_retry_period() {
    // A server that accepts connections and never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mta = SharedTracker::open(
        &format!("redis://127.0.0.1:{port}/0"),
        "sendguard-test:silent",
        small(),
        Duration::from_millis(100),
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(mta.observe(&letter("ann", 1, T0)), Outcome::Allow);
    let first = started.elapsed();
    // It waited for a reply (at least the connection set-up's half of the 100 ms budget),
    // and not much beyond the budget.
    assert!(
        first >= Duration::from_millis(50) && first < Duration::from_secs(1),
        "{first:?}"
    );
    let started = Instant::now();
    for i in 2..50 {
        mta.observe(&letter("ann", i, T0)); // the fallback's breaker trips at the fifth
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "no waiting while Redis is down"
    );
    assert_eq!(mta.fallbacks(), 49);
    drop(silent);
}

/// A TCP relay to Redis that can be cut and restored, to make an outage for one MTA; it can
/// also delay every reply, and lose the reply to the next `EXEC` or the `EXEC` itself.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    delay_ms: Arc<AtomicU64>,
    /// More delay for the first reply on each connection (a TCP handshake's round trip).
    first_ms: Arc<AtomicU64>,
    exec: Arc<AtomicU8>,
}

/// [`Relay::exec`]: nothing special.
const EXEC_PASS: u8 = 0;
/// [`Relay::exec`]: the next `EXEC` reaches Redis, but no reply comes back on its connection.
const EXEC_LOSE_REPLY: u8 = 1;
/// [`Relay::exec`]: the next `EXEC` (and its transaction) never reaches Redis, nor any reply.
const EXEC_DROP: u8 = 2;

impl Relay {
    fn to(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let first_ms = Arc::new(AtomicU64::new(0));
        let exec = Arc::new(AtomicU8::new(EXEC_PASS));
        let (up2, open2, delay2, first2, exec2) = (
            up.clone(),
            open.clone(),
            delay_ms.clone(),
            first_ms.clone(),
            exec.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut open = open2.lock().unwrap();
                for s in [&client, &server] {
                    open.push(s.try_clone().unwrap());
                }
                // Set once this connection's replies are to be lost.
                let mute = Arc::new(AtomicBool::new(false));
                let (mut from, mut to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (exec, muted) = (exec2.clone(), mute.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    let mut tail = Vec::new();
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        tail.extend_from_slice(&buf[..n]);
                        const EXEC: &[u8] = b"\r\nEXEC\r\n";
                        let has_exec = tail.windows(EXEC.len()).any(|w| w == EXEC);
                        // Keep less than the pattern: a match needs a new byte.
                        tail.drain(..tail.len().saturating_sub(EXEC.len() - 1));
                        let mut forward = true;
                        if has_exec {
                            match exec.swap(EXEC_PASS, Ordering::SeqCst) {
                                EXEC_LOSE_REPLY => muted.store(true, Ordering::SeqCst),
                                EXEC_DROP => {
                                    muted.store(true, Ordering::SeqCst);
                                    forward = false;
                                }
                                _ => {}
                            }
                        }
                        if forward && to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
                let (mut from, mut to) = (server, client);
                let (delay, mut first) = (delay2.clone(), first2.load(Ordering::SeqCst));
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let ms = delay.load(Ordering::SeqCst) + std::mem::take(&mut first);
                        if ms > 0 {
                            std::thread::sleep(Duration::from_millis(ms));
                        }
                        if mute.load(Ordering::SeqCst) {
                            continue;
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Relay {
            port,
            up,
            open,
            delay_ms,
            first_ms,
            exec,
        }
    }

    /// The relay for the test Redis at `url`, when it is `redis://HOST:PORT/DB` (a relay needs
    /// TCP), and the URL through it.
    fn for_url(url: &str, test: &str) -> Option<(Relay, String)> {
        let Some((hostport, db)) = url
            .strip_prefix("redis://")
            .filter(|r| !r.contains('@'))
            .map(|r| r.split_once('/').unwrap_or((r, "0")))
        else {
            eprintln!("{test}: skipped, {url} is not redis://HOST:PORT/DB");
            return None;
        };
        let relay = Relay::to(hostport.to_string());
        let through = format!("redis://127.0.0.1:{}/{db}", relay.port);
        Some((relay, through))
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Every reply from Redis is held this long.
    fn delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// The first reply on each new connection is held this long more (as if connecting took
    /// one more round trip).
    fn connect_delay(&self, d: Duration) {
        self.first_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// What happens to the next `EXEC` ([`EXEC_LOSE_REPLY`], [`EXEC_DROP`]).
    fn next_exec(&self, what: u8) {
        self.exec.store(what, Ordering::SeqCst);
    }
}

#[test]
fn an_outage_keeps_open_breakers_and_writes_its_trips_back() {
    let Some(url) = redis_url("an_outage_keeps_open_breakers_and_writes_its_trips_back") else {
        return;
    };
    let Some((relay, through)) = Relay::for_url(
        &url,
        "an_outage_keeps_open_breakers_and_writes_its_trips_back",
    ) else {
        return;
    };
    let p = Prefix::new(&url, "outage");
    let a = SharedTracker::open(&through, &p.prefix, small(), PATIENT).unwrap();
    let b = p.mta(&small());

    // Erin's breaker trips on B; A sees it open.
    b.observe(&fraud("erin", 1, T0 + 10));
    assert!(alerted(&b.observe(&fraud("erin", 2, T0 + 20))));
    assert!(a.observe(&letter("erin", 3, T0 + 30)).is_hold());

    // Redis out of reach for A: erin stays held there; frank trips on A alone, with its alert.
    relay.cut();
    assert!(a.observe(&letter("erin", 4, T0 + 40)).is_hold());
    assert_eq!(a.observe(&fraud("frank", 1, T0 + 50)), Outcome::Allow);
    assert!(alerted(&a.observe(&fraud("frank", 2, T0 + 60))));
    assert!(a.fallbacks() >= 3 && !a.is_up());
    assert_eq!(b.observe(&letter("frank", 3, T0 + 70)), Outcome::Allow);

    // Back: A writes frank's breaker to Redis, and B holds frank without a second alert.
    relay.restore();
    std::thread::sleep(RETRY_AFTER + Duration::from_millis(100));
    assert_eq!(a.observe(&letter("gina", 1, T0 + 80)), Outcome::Allow);
    assert!(a.is_up());
    let held = b.observe(&letter("frank", 4, T0 + 90));
    assert_eq!(held.rule(), Some(Rule::HoldStreak));
    assert!(!alerted(&held));
    let tripped: Vec<String> = b
        .senders(T0 + 100)
        .unwrap()
        .into_iter()
        .filter(|s| s.state == BreakerState::Tripped)
        .map(|s| s.sender)
        .collect();
    assert_eq!(tripped, ["erin", "frank"]);

    // Redis restarted (connections dropped, back at once): the stale pooled connection is
    // replaced, no message falls back.
    let before = a.fallbacks();
    relay.cut();
    relay.restore();
    assert_eq!(a.observe(&letter("gina", 2, T0 + 110)), Outcome::Allow);
    assert_eq!(a.fallbacks(), before);
    assert_eq!(
        b.sender("gina", T0 + 120)
            .unwrap()
            .unwrap()
            .counts
            .hour
            .messages,
        2
    );
}

#[test]
fn a_trip_of_the_outage_holds_the_sender_at_once_when_redis_is_back_with_one_alert() {
    let test = "a_trip_of_the_outage_holds_the_sender_at_once_when_redis_is_back";
    let Some(url) = redis_url(test) else {
        return;
    };
    let Some((relay, through)) = Relay::for_url(&url, test) else {
        return;
    };
    let p = Prefix::new(&url, "outage-trip");
    let a = SharedTracker::open(&through, &p.prefix, small(), PATIENT).unwrap();
    let b = p.mta(&small());
    assert_eq!(a.observe(&letter("ann", 1, T0)), Outcome::Allow);

    // During an outage of A, frank trips A's fallback (its alert); gail trips both: A's
    // fallback and, through B, Redis.
    relay.cut();
    assert_eq!(a.observe(&fraud("frank", 1, T0 + 10)), Outcome::Allow);
    let frank_alert = a.observe(&fraud("frank", 2, T0 + 20));
    assert!(alerted(&frank_alert));
    assert_eq!(a.observe(&fraud("gail", 1, T0 + 30)), Outcome::Allow);
    assert!(alerted(&a.observe(&fraud("gail", 2, T0 + 40))));
    assert_eq!(b.observe(&fraud("gail", 3, T0 + 50)), Outcome::Allow);
    let gail_alert = b.observe(&fraud("gail", 4, T0 + 60));
    assert!(alerted(&gail_alert));
    let fallbacks = a.fallbacks();

    // Back: the first answered messages are the senders' own. Each is held without an alert:
    // frank's trip rides on his message (Redis never saw him, and would count him afresh);
    // gail's breaker in Redis is B's, and stays so.
    relay.restore();
    std::thread::sleep(RETRY_AFTER + Duration::from_millis(100));
    for (sender, i) in [("frank", 3), ("gail", 5), ("frank", 4)] {
        let held = a.observe(&fraud(sender, i, T0 + 60 + i * 10));
        assert_eq!(held.rule(), Some(Rule::HoldStreak), "{sender} {i}");
        assert!(!alerted(&held), "{sender} {i}: {held:?}");
    }
    assert_eq!(a.fallbacks(), fallbacks, "decided in Redis");
    assert!(a.is_up());
    let frank = b.sender("frank", T0 + 200).unwrap().unwrap();
    assert_eq!(frank.summary.state, BreakerState::Tripped);
    let incident = frank.incident.unwrap();
    assert_eq!(
        Some(&incident.alert),
        frank_alert.alert(),
        "the fallback's incident"
    );
    assert_eq!(incident.held, 3, "the tripping message and the two since");
    let gail = b
        .sender("gail", T0 + 200)
        .unwrap()
        .unwrap()
        .incident
        .unwrap();
    assert_eq!(Some(&gail.alert), gail_alert.alert(), "B's incident");
    assert_eq!(gail.held, 2);
}

#[test]
fn a_redis_two_round_trips_away_is_reached_within_the_budget() {
    let test = "a_redis_two_round_trips_away_is_reached_within_the_budget";
    let Some(url) = redis_url(test) else {
        return;
    };
    let Some((relay, through)) = Relay::for_url(&url, test) else {
        return;
    };
    let p = Prefix::new(&url, "distant");
    // A round trip of 100 ms, connecting (TCP handshake and set-up) 350 ms: more than a
    // quarter of the budget, less than half. A message costs about 650 ms in all.
    let budget = Duration::from_millis(1200);
    relay.delay(Duration::from_millis(100));
    relay.connect_delay(Duration::from_millis(250));
    let a = SharedTracker::open(&through, &p.prefix, small(), budget).unwrap();
    assert_eq!(a.observe(&letter("ann", 1, T0)), Outcome::Allow);
    assert_eq!(a.fallbacks(), 0, "connected and written within the budget");
    assert!(a.is_up());
    relay.delay(Duration::ZERO);
    let ann = p.mta(&small()).sender("ann", T0 + 10).unwrap().unwrap();
    assert_eq!(ann.counts.hour.messages, 1);
}

/// The key of `sender` under `p`, and a plain connection to the test Redis.
fn raw(p: &Prefix, sender: &str) -> (String, redis::Connection) {
    let con = redis::Client::open(p.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    (format!("{}:v1:sender:{sender}", p.prefix), con)
}

#[test]
fn a_lost_exec_reply_still_alerts_and_counts_the_message_once() {
    let test = "a_lost_exec_reply_still_alerts_and_counts_the_message_once";
    let Some(url) = redis_url(test) else {
        return;
    };
    let Some((relay, through)) = Relay::for_url(&url, test) else {
        return;
    };
    let p = Prefix::new(&url, "exec-lost");
    let budget = Duration::from_millis(1000);
    let a = SharedTracker::open(&through, &p.prefix, small(), budget).unwrap();
    let b = p.mta(&small());

    // The transaction that trips eve's breaker is carried out, but its reply never comes: A
    // reads the key again, finds its write, and raises the alert itself.
    assert_eq!(a.observe(&fraud("eve", 1, T0 + 10)), Outcome::Allow);
    relay.next_exec(EXEC_LOSE_REPLY);
    let started = Instant::now();
    let tripped = a.observe(&fraud("eve", 2, T0 + 20));
    assert!(started.elapsed() < budget * 10, "{:?}", started.elapsed());
    assert_eq!(tripped.rule(), Some(Rule::HoldStreak));
    assert!(
        alerted(&tripped),
        "the tripping message raises the alert: {tripped:?}"
    );
    assert_eq!(a.fallbacks(), 0);
    assert!(a.is_up());
    let eve = b.sender("eve", T0 + 30).unwrap().unwrap();
    assert_eq!(eve.counts.hour.messages, 2, "counted once");
    let incident = eve.incident.unwrap();
    assert_eq!(incident.alert.last_queue_id.as_deref(), Some("Q00002"));
    assert_eq!(incident.held, 1);
    let held = b.observe(&fraud("eve", 3, T0 + 40));
    assert!(held.is_hold() && !alerted(&held), "{held:?}");

    // The transaction never reaches Redis: decided in process, and not written twice.
    assert_eq!(a.observe(&letter("ann", 1, T0 + 50)), Outcome::Allow);
    relay.next_exec(EXEC_DROP);
    assert_eq!(a.observe(&letter("ann", 2, T0 + 60)), Outcome::Allow);
    assert_eq!(a.fallbacks(), 1);
    let ann = b.sender("ann", T0 + 70).unwrap().unwrap();
    assert_eq!(ann.counts.hour.messages, 1);
}

#[test]
fn a_slow_redis_never_holds_a_message_beyond_its_budget() {
    let test = "a_slow_redis_never_holds_a_message_beyond_its_budget";
    let Some(url) = redis_url(test) else {
        return;
    };
    let Some((relay, through)) = Relay::for_url(&url, test) else {
        return;
    };
    let p = Prefix::new(&url, "slow");
    let budget = Duration::from_millis(200);
    let mta = Arc::new(SharedTracker::open(&through, &p.prefix, small(), budget).unwrap());
    // No assertion tighter than this: a loaded 2-core machine must not fail the test.
    let bound = budget * 10;

    // 16 concurrent messages of one sender; each returns within the bound.
    let flood = |first: u64| -> Vec<Duration> {
        let start = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16u64)
            .map(|i| {
                let (mta, start) = (mta.clone(), start.clone());
                std::thread::spawn(move || {
                    let obs = letter("dan", first + i, T0 + 60);
                    start.wait();
                    let t = Instant::now();
                    mta.observe(&obs);
                    t.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    };

    // Every reply 150 ms late: no transaction fits in the budget; all 16 are decided in
    // process (Redis is then left alone for a second).
    relay.delay(Duration::from_millis(150));
    let took = flood(0);
    assert!(took.iter().all(|t| *t < bound), "{took:?}");
    assert_eq!(mta.fallbacks(), 16);
    assert!(!mta.is_up());

    // Every reply 20 ms late: a transaction fits, but 16 in turn do not; those whose turn
    // does not come within the budget are decided in process. None is counted twice.
    relay.delay(Duration::from_millis(20));
    std::thread::sleep(RETRY_AFTER + Duration::from_millis(100));
    let took = flood(100);
    assert!(took.iter().all(|t| *t < bound), "{took:?}");
    let in_process = mta.fallbacks() - 16;
    assert!(
        in_process >= 1,
        "16 turns of 3 round trips exceed the budget"
    );
    relay.delay(Duration::ZERO);
    let counted = p
        .mta(&small())
        .sender("dan", T0 + 61)
        .unwrap()
        .map_or(0, |d| d.counts.hour.messages);
    assert!(
        counted <= 16 && u64::from(counted) >= 16 - in_process,
        "counted {counted}, {in_process} decided in process"
    );
}

#[test]
fn only_settled_senders_keep_the_long_expiry() {
    let Some(url) = redis_url("only_settled_senders_keep_the_long_expiry") else {
        return;
    };
    let p = Prefix::new(&url, "expiry");
    let a = p.mta(&small());
    let idle = small().idle_evict_s as i64;
    // A per-message envelope sender, and one with mail on two days.
    a.observe(&letter("bounce-123", 1, T0 + 10));
    a.observe(&letter("ann", 1, T0 + 10));
    a.observe(&letter("ann", 2, T0 + 86_400 + 10));
    a.observe(&fraud("eve", 1, T0 + 10));
    a.observe(&fraud("eve", 2, T0 + 20));
    let ttl = |sender: &str| -> i64 {
        let (key, mut con) = raw(&p, sender);
        redis::cmd("TTL").arg(key).query(&mut con).unwrap()
    };
    assert!(
        (1..=idle).contains(&ttl("bounce-123")),
        "{}",
        ttl("bounce-123")
    );
    assert!(ttl("ann") > idle, "{}", ttl("ann"));
    assert_eq!(ttl("eve"), -1, "an open breaker never expires");
}

#[test]
fn senders_list_loads_at_most_its_cap() {
    let Some(url) = redis_url("senders_list_loads_at_most_its_cap") else {
        return;
    };
    let p = Prefix::new(&url, "list-cap");
    let a = p.mta(&small());
    for i in 0..30 {
        a.observe(&letter(&format!("user{i}"), i, T0 + 10));
    }
    let (list, cut) = a.senders_at_most(T0 + 20, 10).unwrap();
    assert_eq!((list.len(), cut), (10, true));
    let (list, cut) = a.senders_at_most(T0 + 20, 100).unwrap();
    assert_eq!((list.len(), cut), (30, false));
    assert_eq!(a.senders(T0 + 20).unwrap().len(), 30);
}

#[test]
fn a_value_that_breaks_the_tracker_keeps_its_breaker() {
    let Some(url) = redis_url("a_value_that_breaks_the_tracker_keeps_its_breaker") else {
        return;
    };
    let p = Prefix::new(&url, "broken");
    let a = p.mta(&small());
    a.observe(&fraud("eve", 1, T0 + 10));
    assert!(alerted(&a.observe(&fraud("eve", 2, T0 + 20))));

    // A cluster count at its maximum: the next message overflows it (a panic in test
    // builds, as any bug of the decision code on odd stored state would be).
    let (key, mut con) = raw(&p, "eve");
    let value: String = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&value).unwrap();
    for c in v["state"]["live"]["clusters"].as_array_mut().unwrap() {
        c["messages"] = serde_json::json!(u64::MAX);
    }
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(v.to_string())
        .query(&mut con)
        .unwrap();

    let held = a.observe(&fraud("eve", 3, T0 + 30));
    assert_eq!(
        held.rule(),
        Some(Rule::HoldStreak),
        "the breaker stays open"
    );
    assert!(!alerted(&held));
    let eve = a.sender("eve", T0 + 40).unwrap().unwrap();
    assert_eq!(eve.summary.state, BreakerState::Tripped);
    assert_eq!(eve.incident.unwrap().held, 2);
    assert_eq!(a.fallbacks(), 0);
}

#[cfg(feature = "milter")]
mod common;

/// Two milters (two MTAs) on one Redis, through the milter protocol.
#[cfg(feature = "milter")]
mod milters {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};

    use indymilter_test::Status;
    use sendguard::campaign::{BreakerState, CampaignConfig};
    use sendguard::milter::{CampaignSettings, Milter, MilterConfig};

    use super::common::{classifier, flood_one, header, quarantined, start};
    use super::{redis_url, Prefix};

    fn config(url: &str, prefix: &str, alerts: &Path) -> MilterConfig {
        let mut campaign = CampaignSettings {
            redis_prefix: prefix.to_string(),
            alert_command: Some(vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                format!("cat >> '{}'", alerts.display()),
            ]),
            control_socket: None,
            detection: CampaignConfig {
                spread_threshold: 5,
                spread_min_messages: 5,
                ..CampaignConfig::default()
            },
            ..CampaignSettings::default()
        };
        campaign.set_state(url).unwrap();
        let config = MilterConfig {
            campaign,
            ..MilterConfig::default()
        };
        config.validate().unwrap();
        config
    }

    /// Letter `i` of the campaign from the login `dan`, to one new company: whether it was
    /// quarantined, and its X-Sendguard header.
    async fn letter(addr: SocketAddr, i: usize) -> (bool, String) {
        let (actions, status) = flood_one(addr, i).await;
        assert_eq!(status, Status::Accept, "message {i}");
        (quarantined(&actions), header(&actions))
    }

    fn alert_lines(path: &PathBuf, want: usize) -> usize {
        let started = std::time::Instant::now();
        loop {
            let n = std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .count();
            if n >= want || started.elapsed() > std::time::Duration::from_secs(10) {
                return n;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn a_milter_whose_redis_is_down_delivers_and_counts_the_fallback() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("redis://127.0.0.1:{port}/0");
        let mx = Milter::new(
            config(&url, "sendguard-test:milter-down", &dir.path().join("a")),
            classifier(),
            None,
        );
        let (addr, _stop) = start(mx.clone()).await;
        let (held, h) = letter(addr, 0).await;
        assert!(!held && !h.contains("campaign="), "{h}");
        let metrics = mx.metrics_text();
        assert!(
            metrics.contains("sendguard_campaign_state_fallback_total 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("sendguard_campaign_state_up 0"),
            "{metrics}"
        );
    }

    #[test]
    fn the_state_flag_takes_a_redis_url_or_a_path_and_nothing_else() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sendguard"))
            .args(["milter", "--state", "ftp://example.org/x"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--state") && err.contains("not a redis:// URL"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn two_milters_on_one_redis_hold_a_flood_split_between_them_with_one_alert() {
        let Some(url) = redis_url("two_milters_on_one_redis_hold_a_flood_split_between_them")
        else {
            return;
        };
        let p = Prefix::new(&url, "milters");
        let dir = tempfile::tempdir().unwrap();
        let alerts = dir.path().join("alerts.jsonl");
        let mx1 = Milter::new(config(&url, &p.prefix, &alerts), classifier(), None);
        let mx2 = Milter::new(config(&url, &p.prefix, &alerts), classifier(), None);
        let (addr1, _stop1) = start(mx1.clone()).await;
        let (addr2, _stop2) = start(mx2.clone()).await;

        for i in 0..10 {
            let addr = if i % 2 == 0 { addr1 } else { addr2 };
            let (held, h) = letter(addr, i).await;
            assert_eq!(held, i >= 4, "message {i}: {h}");
            assert_eq!(h.contains("campaign=fingerprint-spread"), i >= 4, "{h}");
        }
        // One alert, from the MTA whose message tripped the shared breaker.
        assert_eq!(alert_lines(&alerts, 1), 1);
        assert_eq!(mx1.campaign_alerts() + mx2.campaign_alerts(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(alert_lines(&alerts, 2), 1);

        let (m1, m2) = (mx1.clone(), mx2.clone());
        let released = tokio::task::spawn_blocking(move || {
            assert_eq!(m1.senders().unwrap()[0].state, BreakerState::Tripped);
            assert!(m1.metrics_text().contains("sendguard_campaign_state_up 1"));
            m2.release_sender("dan")
        })
        .await
        .unwrap();
        assert!(released);
        let (held, h) = letter(addr1, 10).await;
        assert!(!held, "released through the other MTA: {h}");
    }
}
