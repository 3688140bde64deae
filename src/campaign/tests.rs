//! The breaker on whole traffic patterns, in simulated time.

use super::*;

const MONDAY: u64 = 1_795_392_000; // a Monday, 00:00 UTC
const DAY: u64 = 86_400;
const WEEK: u64 = 7 * DAY;

fn tracker() -> Tracker {
    Tracker::new(CampaignConfig::default()).unwrap()
}

/// A fingerprint unrelated to any other (a fresh personal mail).
fn unique_fp(n: u64) -> Fingerprint {
    Fingerprint(xxh3_64(&n.to_le_bytes()))
}

/// A per-recipient variant of one template: a few bits off the template's fingerprint.
fn variant_fp(base: u64, i: u64) -> Fingerprint {
    Fingerprint(base ^ (1 << (i % 64)) ^ (1 << ((i * 7 + 3) % 64)) ^ (1 << ((i * 13 + 5) % 64)))
}

fn mail(at: u64, sender: &str, rcpts: &[String], fp: Fingerprint, qid: u64) -> Observation {
    Observation {
        at,
        sender: sender.to_string(),
        sender_domain: domain_of(sender),
        recipients: rcpts.to_vec(),
        fingerprint: fp,
        verdict: Verdict::Pass,
        class: Class::Ham,
        suspicion: -4.0,
        subject: format!("subject {qid}"),
        queue_id: Some(format!("Q{qid:06X}")),
    }
}

/// Three weeks of an ordinary user: five mails a day to colleagues and customers.
fn ordinary_history(t: &mut Tracker, sender: &str, start: u64) {
    for day in 0..21 {
        for k in 0..5u64 {
            let at = start + day * DAY + 9 * 3600 + k * 5400;
            let r = vec![
                format!("colleague{k}@corp.example"),
                format!("buyer{}@customer{}.example", day, k),
            ];
            let o = mail(at, sender, &r, unique_fp(day * 100 + k), day * 100 + k);
            assert_eq!(t.observe(&o), Outcome::Allow);
        }
    }
}

/// The incident: probes to one address, then one template, one recipient per message.
/// Returns (index in the flood of the first held message, alerts, held).
fn flood(
    t: &mut Tracker,
    sender: &str,
    start: u64,
    n: u64,
    every_s: u64,
    gmail_share: u64,
) -> (Option<u64>, usize, u64) {
    let base = 0x0123_4567_89ab_cdef;
    for p in 0..3 {
        let o = mail(
            start + p * 600,
            sender,
            &["probe.me@gmail.com".to_string()],
            variant_fp(base, p),
            900 + p,
        );
        assert_eq!(t.observe(&o), Outcome::Allow, "probes pass");
    }
    let (mut first, mut alerts, mut held) = (None, 0, 0);
    for i in 0..n {
        let rcpt = if i % 100 < gmail_share {
            format!("victim{i}@gmail.com")
        } else {
            format!("info@company{i}.example")
        };
        let o = mail(
            start + 1800 + i * every_s,
            sender,
            &[rcpt],
            variant_fp(base, i + 3),
            1000 + i,
        );
        let out = t.observe(&o);
        if out.is_hold() {
            held += 1;
            first.get_or_insert(i);
        } else {
            assert!(
                first.is_none(),
                "after the trip everything is held (message {i})"
            );
        }
        if let Some(a) = out.alert() {
            alerts += 1;
            assert_eq!(a.sender, sender);
            assert_eq!(a.rule, Rule::FingerprintSpread);
            assert_eq!(
                a.first_queue_id.as_deref(),
                Some("Q000384"),
                "the first probe's queue ID"
            );
            assert_eq!(a.last_queue_id, o.queue_id);
            assert_eq!(a.fingerprint, variant_fp(base, 0).hex());
            assert_eq!(a.first_subject, "subject 900");
        }
    }
    (first, alerts, held)
}

#[test]
fn a_stolen_account_trips_within_the_first_25_letters_and_alerts_once() {
    let mut t = tracker();
    ordinary_history(&mut t, "alice@corp.example", MONDAY);
    let (first, alerts, held) = flood(
        &mut t,
        "alice@corp.example",
        MONDAY + 3 * WEEK + 3600,
        300,
        2,
        0,
    );
    // The probes have left the 10-minute window; the 20th letter reaches 20 organisations.
    let first = first.expect("tripped");
    assert_eq!(first, 19, "19 letters delivered, held from the 20th");
    assert_eq!(alerts, 1);
    assert_eq!(held, 300 - first);
    let d = t
        .sender("alice@corp.example", MONDAY + 3 * WEEK + 7200)
        .unwrap();
    assert_eq!(d.summary.state, BreakerState::Tripped);
    assert_eq!(d.incident.unwrap().held, held);
}

#[test]
fn the_incident_mix_mostly_gmail_trips_as_fast() {
    // 80 % to distinct gmail mailboxes, the rest to other domains; a brand-new sender.
    let mut t = tracker();
    let (first, alerts, _) = flood(&mut t, "bob@corp.example", MONDAY + 3600, 2000, 2, 80);
    assert!(first.expect("tripped") < 25);
    assert_eq!(alerts, 1);
    let a = t
        .sender("bob@corp.example", MONDAY + 7200)
        .unwrap()
        .incident
        .unwrap()
        .alert;
    assert!(a.counts.short.freemail_share > 0.5, "{a}");
}

#[test]
fn a_flood_of_distinct_letters_trips_on_volume() {
    // Every message different (no template): the volume floor catches it.
    let mut t = tracker();
    ordinary_history(&mut t, "carol@corp.example", MONDAY);
    let start = MONDAY + 3 * WEEK;
    let mut first = None;
    let mut alerts = 0;
    for i in 0..300u64 {
        let o = mail(
            start + i * 5,
            "carol@corp.example",
            &[format!("x{i}@gmail.com")],
            unique_fp(10_000 + i),
            i,
        );
        let out = t.observe(&o);
        if out.is_hold() {
            first.get_or_insert(i);
        }
        if let Some(a) = out.alert() {
            alerts += 1;
            assert_eq!(a.rule, Rule::Volume);
        }
    }
    assert_eq!(first, Some(100), "the 101st recipient within the hour");
    assert_eq!(alerts, 1);
}

#[test]
fn two_hold_level_fraud_verdicts_in_a_row_trip() {
    let mut t = tracker();
    let s = "dave@corp.example";
    let r = vec!["someone@gmail.com".to_string()];
    let scam = |at: u64, verdict, class, t: &mut Tracker| {
        let mut o = mail(at, s, &r, unique_fp(at), at);
        o.verdict = verdict;
        o.class = class;
        t.observe(&o)
    };
    assert_eq!(
        scam(1000, Verdict::Hold, Class::Fraud, &mut t),
        Outcome::Allow
    );
    assert_eq!(
        scam(1010, Verdict::Pass, Class::Ham, &mut t),
        Outcome::Allow,
        "streak broken"
    );
    assert_eq!(
        scam(1020, Verdict::Reject, Class::Phishing, &mut t),
        Outcome::Allow
    );
    assert_eq!(
        scam(1030, Verdict::Hold, Class::Spam, &mut t),
        Outcome::Allow,
        "spam does not count"
    );
    assert_eq!(
        scam(1040, Verdict::Hold, Class::Fraud, &mut t),
        Outcome::Allow
    );
    let out = scam(1050, Verdict::Hold, Class::Fraud, &mut t);
    assert_eq!(out.rule(), Some(Rule::HoldStreak));
    assert!(out.alert().is_some());
    let next = scam(1060, Verdict::Pass, Class::Ham, &mut t);
    assert_eq!(
        next,
        Outcome::Hold {
            rule: Rule::HoldStreak,
            alert: None
        }
    );
}

/// One Monday of a newsletter: 2,000 copies of one issue, one subscriber per message, one
/// every 3 s (100 minutes), 40 % gmail and 400 other domains. Returns the held count and the
/// time of the first alert.
fn newsletter_monday(
    t: &mut Tracker,
    monday: u64,
    release_after_s: Option<u64>,
) -> (u64, Option<u64>) {
    let s = "news@garden.example";
    let fp = Fingerprint(0xfeed_f00d_dead_beef);
    let (mut held, mut alert_at) = (0, None);
    for i in 0..2000u64 {
        let at = monday + 8 * 3600 + i * 3;
        if let (Some(a), Some(after)) = (alert_at, release_after_s) {
            if at >= a + after && t.sender(s, at).unwrap().summary.state == BreakerState::Tripped {
                assert!(t.release(s, at));
            }
        }
        let rcpt = if i % 5 < 2 {
            format!("member{i}@gmail.com")
        } else {
            format!("member{i}@org{}.example", i % 400)
        };
        let out = t.observe(&mail(at, s, &[rcpt], variant_fp(fp.0, i % 7), i));
        if out.is_hold() {
            held += 1;
        }
        if out.alert().is_some() {
            alert_at = Some(at);
        }
    }
    (held, alert_at)
}

#[test]
fn a_weekly_newsletter_trips_once_in_week_one_and_never_after() {
    let mut t = tracker();
    // Week 1: a brand-new account spraying one text to hundreds of domains looks like a stolen
    // login and is held; the administrator releases it five minutes after the alert.
    let (held, alert) = newsletter_monday(&mut t, MONDAY, Some(300));
    assert!(alert.is_some());
    // Tripped at the 20th copy; the 100 copies sent in the five minutes until the release.
    assert_eq!(held, 100, "held until the release");
    for week in 1..4 {
        let (held, alert) = newsletter_monday(&mut t, MONDAY + week * WEEK, None);
        assert_eq!((held, alert), (0, None), "week {}", week + 1);
    }
    let d = t.sender("news@garden.example", MONDAY + 4 * WEEK).unwrap();
    assert!(d.baseline.unwrap().peak_hour_recipients >= 1000);
}

#[test]
fn a_declared_bulk_sender_is_not_held_even_in_week_one() {
    let config = CampaignConfig {
        bulk_senders: vec!["News@Garden.example".to_string()],
        ..CampaignConfig::default()
    };
    let mut t = Tracker::new(config).unwrap();
    for week in 0..4 {
        let (held, alert) = newsletter_monday(&mut t, MONDAY + week * WEEK, None);
        assert_eq!((held, alert), (0, None), "week {}", week + 1);
    }
}

#[test]
fn ordinary_users_on_a_busy_day_never_trip() {
    let mut t = tracker();
    let mut q = 0;
    for u in 0..20u64 {
        let s = format!("user{u}@corp.example");
        ordinary_history(&mut t, &s, MONDAY);
        let day = MONDAY + 3 * WEEK;
        // 50 mails in 9 hours: replies, a round of six identical "thank you" notes within ten
        // minutes, and one announcement to 40 people at once.
        for k in 0..50u64 {
            q += 1;
            let at = day + 8 * 3600 + k * 648;
            let (rcpts, fp) = match k {
                10..=15 => (
                    vec![format!("friend{k}@gmail.com")],
                    Fingerprint(0x1111_2222_3333_4444),
                ),
                20 => (
                    (0..40)
                        .map(|i| format!("p{i}@partner{i}.example"))
                        .collect(),
                    unique_fp(q),
                ),
                _ => (
                    vec![
                        format!("c{k}@client{}.example", k % 7),
                        format!("boss@corp.example"),
                    ],
                    unique_fp(1_000_000 + q),
                ),
            };
            let at = if (10..=15).contains(&k) {
                day + 8 * 3600 + 10 * 648 + (k - 10) * 60
            } else {
                at
            };
            let out = t.observe(&mail(at, &s, &rcpts, fp, q));
            assert_eq!(out, Outcome::Allow, "user {u} mail {k}");
        }
    }
}

#[test]
fn release_reopens_with_grace_and_block_holds_until_released() {
    let mut t = tracker();
    let s = "erin@corp.example";
    let (first, _, _) = flood(&mut t, s, MONDAY, 100, 2, 50);
    assert!(first.is_some());
    let now = MONDAY + 3600;
    assert!(t.release(s, now));
    assert!(!t.release("nobody@corp.example", now));
    let d = t.sender(s, now).unwrap();
    assert_eq!(d.summary.state, BreakerState::Grace);
    assert_eq!(d.counts.hour.messages, 0, "release resets the counts");
    assert!(d.clusters.iter().any(|c| c.approved));
    // The same backlog goes on without tripping again at once.
    let base = 0x0123_4567_89ab_cdef;
    for i in 0..50u64 {
        let o = mail(
            now + i * 2,
            s,
            &[format!("late{i}@gmail.com")],
            variant_fp(base, i),
            5000 + i,
        );
        assert_eq!(t.observe(&o), Outcome::Allow);
    }
    // After the grace period a new campaign trips again, with a new alert.
    let later = now + 3 * 3600;
    let mut alerts = 0;
    for i in 0..60u64 {
        let o = mail(
            later + i * 2,
            s,
            &[format!("new{i}@gmail.com")],
            variant_fp(0x7777_0000_ffff_1234, i),
            6000 + i,
        );
        alerts += usize::from(t.observe(&o).alert().is_some());
    }
    assert_eq!(alerts, 1);

    // Block: everything held, no alert, until released.
    let s2 = "frank@corp.example";
    t.block(s2, later);
    let out = t.observe(&mail(
        later + 5,
        s2,
        &["a@b.example".to_string()],
        unique_fp(1),
        1,
    ));
    assert_eq!(
        out,
        Outcome::Hold {
            rule: Rule::Blocked,
            alert: None
        }
    );
    let list = t.senders(later + 5);
    assert!(list
        .iter()
        .all(|s| s.state == BreakerState::Tripped || s.state == BreakerState::Blocked));
    assert_eq!(
        list.iter().find(|x| x.sender == s2).unwrap().rule,
        Some(Rule::Blocked)
    );
    t.release(s2, later + 10);
    let out = t.observe(&mail(
        later + 20,
        s2,
        &["a@b.example".to_string()],
        unique_fp(1),
        2,
    ));
    assert_eq!(out, Outcome::Allow);
}

#[test]
fn a_serde_round_trip_gives_the_same_decisions() {
    let mut t = tracker();
    ordinary_history(&mut t, "alice@corp.example", MONDAY);
    let (first, _, _) = flood(&mut t, "bob@corp.example", MONDAY + 3 * WEEK, 40, 2, 80);
    assert!(first.is_some());
    newsletter_monday(&mut t, MONDAY, Some(300));
    let json = serde_json::to_string(&t).unwrap();
    let mut back: Tracker = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    // The rest of the day on both: same outcomes, alerts included.
    let start = MONDAY + 3 * WEEK + 7200;
    for i in 0..400u64 {
        let s = [
            "alice@corp.example",
            "bob@corp.example",
            "news@garden.example",
            "gina@corp.example",
        ][(i % 4) as usize];
        let fp = if i % 3 == 0 {
            unique_fp(i)
        } else {
            variant_fp(0xabcdef, i)
        };
        let o = mail(
            start + i * 3,
            s,
            &[format!("r{i}@gmail.com")],
            fp,
            20_000 + i,
        );
        assert_eq!(t.observe(&o), back.observe(&o), "message {i}");
    }
    assert_eq!(back, t);
}

#[test]
fn state_stays_bounded() {
    // One sender, 100,000 distinct recipients at distinct domains, every message different.
    let mut t = tracker();
    let s = "spray@corp.example";
    for i in 0..100_000u64 {
        let o = mail(
            MONDAY + i,
            s,
            &[format!("u{i}@d{i}.example")],
            unique_fp(i),
            i,
        );
        t.observe(&o);
    }
    let json = serde_json::to_string(&t).unwrap();
    assert!(json.len() < 400_000, "state is {} bytes", json.len());
    let d = t.sender(s, MONDAY + 99_999).unwrap();
    assert!(d.clusters.len() <= 16);
    assert!(!d.counts.day.distinct_domains_exact);
    assert!(d.counts.day.distinct_domains <= 1024);
    assert!(
        d.counts.short.distinct_domains_exact,
        "{:?}",
        d.counts.short
    );
    assert_eq!(d.counts.short.distinct_domains, 600);

    // Many senders: capped, and idle ones lose their windows.
    let config = CampaignConfig {
        max_senders: 100,
        ..CampaignConfig::default()
    };
    let mut t = Tracker::new(config).unwrap();
    for i in 0..150u64 {
        t.observe(&mail(
            MONDAY + i,
            &format!("s{i}@corp.example"),
            &["a@b.example".into()],
            unique_fp(i),
            i,
        ));
    }
    assert!(t.len() <= 100);
    let late = MONDAY + 2 * DAY;
    t.observe(&mail(
        late,
        "s149@corp.example",
        &["a@b.example".into()],
        unique_fp(1),
        1,
    ));
    assert_eq!(
        t.senders(late).len(),
        1,
        "only the active sender has live state"
    );
    assert!(t.len() > 1, "the idle ones keep their baseline");
    t.sweep(late + 40 * DAY);
    assert_eq!(t.len(), 0);
}

#[test]
fn sender_keys_and_domains() {
    assert_eq!(sender_key(Some(" Alice "), "x@y.example"), "alice");
    assert_eq!(
        sender_key(Some(""), "<Bob@Corp.Example>"),
        "bob@corp.example"
    );
    assert_eq!(sender_key(None, ""), "<>");
    assert_eq!(
        domain_of("a@Mail.Example."),
        Some("mail.example".to_string())
    );
    assert_eq!(domain_of("postmaster"), None);
}

#[test]
fn the_config_rejects_unknown_fields_and_bad_ranges() {
    let c: CampaignConfig = serde_json::from_str(r#"{"spread_threshold": 30}"#).unwrap();
    assert_eq!(c.spread_threshold, 30);
    assert_eq!(c.volume_floor, 100);
    assert!(serde_json::from_str::<CampaignConfig>(r#"{"spread_treshold": 30}"#).is_err());
    let bad = CampaignConfig {
        short_window_s: 90,
        ..CampaignConfig::default()
    };
    assert!(Tracker::new(bad).is_err());
    let bad = CampaignConfig {
        spread_threshold: 500,
        ..CampaignConfig::default()
    };
    assert!(bad.check().is_err());
}

#[test]
fn real_variants_of_one_letter_form_one_cluster_and_trip() {
    let mut t = tracker();
    let s = "hank@corp.example";
    let mut first = None;
    for i in 0..40usize {
        let (subject, body) = super::fingerprint::tests::variant(i);
        let mut o = mail(
            MONDAY + i as u64 * 10,
            s,
            &[format!("v{i}@org{i}.example")],
            Fingerprint::of(&subject, &body),
            i as u64,
        );
        o.subject = subject;
        if t.observe(&o).is_hold() {
            first.get_or_insert(i);
        }
    }
    assert_eq!(first, Some(19));
    let d = t.sender(s, MONDAY + 400).unwrap();
    assert_eq!(d.clusters.len(), 1, "{:?}", d.clusters);
    assert_eq!(d.incident.unwrap().alert.first_subject, "Next of kin");
}

#[test]
fn combine_raises_to_hold_only_when_the_breaker_is_open() {
    use crate::Verdict;
    let hold = Outcome::Hold {
        rule: Rule::Blocked,
        alert: None,
    };
    assert_eq!(combine(Verdict::Pass, &Outcome::Allow), Verdict::Pass);
    assert_eq!(combine(Verdict::Tag, &Outcome::Allow), Verdict::Tag);
    assert_eq!(combine(Verdict::Pass, &hold), Verdict::Hold);
    assert_eq!(combine(Verdict::Tag, &hold), Verdict::Hold);
    // An open breaker never softens a reject.
    assert_eq!(combine(Verdict::Reject, &hold), Verdict::Reject);
}

#[test]
fn a_lone_spam_hold_is_tagged_and_a_second_within_the_day_is_held() {
    use crate::Verdict as V;
    let mut t = tracker();
    let s = "erin@corp.example";
    let r = vec!["friend@gmail.com".to_string()];
    let send = |at: u64, verdict, class, t: &mut Tracker| {
        let mut o = mail(at, s, &r, unique_fp(at), at);
        o.verdict = verdict;
        o.class = class;
        t.observe(&o)
    };
    // No baseline yet (a new or forged sender): the content verdict stands.
    assert_eq!(send(1000, V::Hold, Class::Spam, &mut t), Outcome::Allow);
    // Three weeks of ordinary mail, then one spam-looking forward: delivered tagged.
    ordinary_history(&mut t, s, MONDAY);
    let after = MONDAY + 21 * DAY;
    let send = |at: u64, verdict, class, t: &mut Tracker| send(after + at, verdict, class, t);
    let lone = send(2000, V::Hold, Class::Spam, &mut t);
    assert_eq!(lone, Outcome::LoneSpam);
    assert_eq!(lone.label(), Some("lone-spam"));
    assert_eq!(combine(V::Hold, &lone), V::Tag);
    // A second hold-level verdict the same day: the content verdict stands.
    assert_eq!(
        send(2000 + 6 * 3600, V::Hold, Class::Spam, &mut t),
        Outcome::Allow
    );
    // Over a day later, with nothing in between: lone again.
    assert_eq!(
        send(2000 + 6 * 3600 + DAY + 3600, V::Hold, Class::Spam, &mut t),
        Outcome::LoneSpam
    );
    // Never to more than LONE_SPAM_MAX_RECIPIENTS recipients.
    let many: Vec<String> = (0..=LONE_SPAM_MAX_RECIPIENTS)
        .map(|i| format!("r{i}@site{i}.example"))
        .collect();
    let mut o = mail(after + 5 * DAY, s, &many, unique_fp(77), 77);
    o.verdict = V::Hold;
    o.class = Class::Spam;
    assert_eq!(t.observe(&o), Outcome::Allow);
    o.recipients.truncate(LONE_SPAM_MAX_RECIPIENTS);
    o.at += 2 * DAY;
    assert_eq!(t.observe(&o), Outcome::LoneSpam);
    // Never for fraud, phishing or reject-level spam, even alone (each two days apart, after
    // a lone spam that was lowered, so only the class or level can be the reason).
    for (i, (verdict, class)) in [
        (V::Hold, Class::Fraud),
        (V::Hold, Class::Phishing),
        (V::Reject, Class::Spam),
        (V::Hold, Class::Spam),
    ]
    .into_iter()
    .enumerate()
    {
        let at = after + (10 + 2 * i as u64) * DAY;
        // An ordinary mail first, so no hold streak builds up.
        let ok = mail(at - 60, s, &r, unique_fp(800 + i as u64), 800 + i as u64);
        assert_eq!(t.observe(&ok), Outcome::Allow);
        let mut o = mail(at, s, &r, unique_fp(900 + i as u64), 900 + i as u64);
        o.verdict = verdict;
        o.class = class;
        let want = if class == Class::Spam && verdict == V::Hold {
            Outcome::LoneSpam
        } else {
            Outcome::Allow
        };
        assert_eq!(t.observe(&o), want, "{verdict:?} {class:?}");
    }
    // Switched off: the content verdict stands, with the same history.
    let mut strict = Tracker::new(CampaignConfig {
        tag_lone_spam: false,
        ..CampaignConfig::default()
    })
    .unwrap();
    ordinary_history(&mut strict, s, MONDAY);
    let mut o = mail(after + 2000, s, &r, unique_fp(9), 9);
    o.verdict = V::Hold;
    o.class = Class::Spam;
    assert_eq!(strict.observe(&o), Outcome::Allow);
}

#[test]
fn combine_lowers_only_a_hold_for_lone_spam() {
    use crate::Verdict as V;
    assert_eq!(combine(V::Hold, &Outcome::LoneSpam), V::Tag);
    assert_eq!(combine(V::Reject, &Outcome::LoneSpam), V::Reject);
    assert_eq!(combine(V::Pass, &Outcome::LoneSpam), V::Pass);
    assert_eq!(combine(V::Tag, &Outcome::LoneSpam), V::Tag);
}

#[test]
fn windows_count_flagged_and_hold_level_verdicts() {
    use crate::Verdict as V;
    let mut t = tracker();
    let s = "fay@corp.example";
    let r = vec!["a@b.example".to_string()];
    for (i, v) in [V::Pass, V::Tag, V::Hold, V::Pass].into_iter().enumerate() {
        let mut o = mail(1000 + i as u64 * 60, s, &r, unique_fp(i as u64), i as u64);
        o.verdict = v;
        o.class = Class::Fraud;
        t.observe(&o);
    }
    let d = t.sender(s, 1300).expect("known");
    for w in [d.counts.short, d.counts.hour, d.counts.day] {
        assert_eq!((w.messages, w.flagged, w.hold_level), (4, 2, 1), "{w:?}");
    }
    // Two hours later the short and hour windows are empty, the day still counts them.
    let d = t.sender(s, 1300 + 2 * 3600).expect("known");
    assert_eq!(d.counts.hour.flagged, 0);
    assert_eq!(d.counts.day.flagged, 2);
}
