//! Campaign detection in the milter, in process: an indymilter-test client plays Postfix and
//! floods one template from one login; the breaker trips, holds the rest, alerts once, and the
//! open breaker survives a restart through the state file.
#![cfg(feature = "milter")]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{classifier, deliver_as, flood_one, header, quarantined, start};
use indymilter_test::{EomActions, Status};
use sendguard::campaign::{BreakerState, CampaignConfig, Rule};
use sendguard::milter::{CampaignSettings, Milter, MilterConfig};

const INVOICE: &str = "data/examples/business-invoice.eml"; // ordinary business mail: pass

/// A small breaker: one letter to 5 organisations in 5 messages trips it.
fn config(dir: &Path, state: bool) -> MilterConfig {
    let alerts = dir.join("alerts.jsonl");
    MilterConfig {
        campaign: CampaignSettings {
            state_file: state.then(|| dir.join("campaign.json")),
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
        },
        ..MilterConfig::default()
    }
}

fn read_invoice() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(INVOICE)).unwrap()
}

async fn ordinary(addr: SocketAddr, user: &str, queue_id: &str) -> (EomActions, Status) {
    deliver_as(
        addr,
        Some(user),
        &format!("{user}@northwind.example"),
        &["bob@example.com".to_string()],
        queue_id,
        &read_invoice(),
    )
    .await
}

/// Lines of the alert file once `n` are there (or after 10 s).
fn wait_for_alerts(path: &PathBuf, n: usize) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per alert"))
            .collect();
        if lines.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_flood_from_one_login_is_held_after_the_breaker_trips_with_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let milter = Milter::new(config(dir.path(), false), classifier(), None);
    let (addr, _stop) = start(milter.clone()).await;

    // Before the trip: the letters go out (the content model alone does not stop them).
    for i in 0..4 {
        let (actions, status) = flood_one(addr, i).await;
        let h = header(&actions);
        assert!(!h.contains("campaign="), "message {i}: {h}");
        assert_eq!(status, Status::Accept);
    }
    // The fifth letter to a fifth company trips the breaker; it and all later ones are held.
    for i in 4..30 {
        let (actions, status) = flood_one(addr, i).await;
        let h = header(&actions);
        assert!(h.starts_with("hold "), "message {i}: {h}");
        assert!(
            h.contains(" campaign=fingerprint-spread"),
            "message {i}: {h}"
        );
        assert!(quarantined(&actions), "message {i}");
        assert_eq!(status, Status::Accept);
    }
    // Even an ordinary message from the same login is held now.
    let (actions, _) = ordinary(addr, "dan", "QDAN").await;
    assert!(quarantined(&actions));
    assert!(header(&actions).contains("campaign=fingerprint-spread"));

    // Another user is unaffected.
    for q in ["QC1", "QC2", "QC3"] {
        let (actions, status) = ordinary(addr, "carol", q).await;
        assert!(
            header(&actions).starts_with("pass "),
            "{}",
            header(&actions)
        );
        assert!(!quarantined(&actions));
        assert_eq!(status, Status::Accept);
    }

    // Exactly one alert, with what the administrator needs.
    let alerts = wait_for_alerts(&dir.path().join("alerts.jsonl"), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let alerts_later = wait_for_alerts(&dir.path().join("alerts.jsonl"), 2);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts_later.len(), 1);
    assert_eq!(milter.campaign_alerts(), 1);
    let a = &alerts[0];
    assert_eq!(a["sender"], "dan");
    assert_eq!(a["rule"], "fingerprint-spread");
    assert_eq!(a["first_subject"], "Spring catalogue");
    assert_eq!(a["first_queue_id"], "Q00000");
    assert_eq!(a["last_queue_id"], "Q00004");
    assert_eq!(a["fingerprint_spread"], 5);

    let list = milter.senders().unwrap();
    assert_eq!(list[0].sender, "dan");
    assert_eq!(list[0].state, BreakerState::Tripped);
    assert_eq!(list[0].rule, Some(Rule::FingerprintSpread));
    assert_eq!(list[0].held, 27);
    assert!(list
        .iter()
        .any(|s| s.sender == "carol" && s.state == BreakerState::Closed));

    // Released: the approved letter flows again.
    assert!(milter.release_sender("dan"));
    let (actions, _) = flood_one(addr, 40).await;
    assert!(!header(&actions).contains("campaign="));
    assert!(!quarantined(&actions));
}

#[tokio::test]
async fn a_tripped_breaker_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("campaign.json");
    {
        let milter = Milter::new(config(dir.path(), true), classifier(), None);
        let (addr, stop) = start(milter.clone()).await;
        for i in 0..5 {
            flood_one(addr, i).await;
        }
        // Saved at the trip, before the MTA got its answer.
        let text = std::fs::read_to_string(&state).expect("state saved at the trip");
        assert!(text.contains("\"sendguard-campaign-state\""));
        let _ = stop.send(());
    }
    let milter = Milter::new(config(dir.path(), true), classifier(), None);
    assert_eq!(milter.senders().unwrap()[0].state, BreakerState::Tripped);
    let (addr, _stop) = start(milter.clone()).await;
    let (actions, _) = ordinary(addr, "dan", "QAFTER").await;
    assert!(quarantined(&actions));
    assert!(header(&actions).contains("campaign=fingerprint-spread"));
    let (actions, _) = ordinary(addr, "carol", "QCAROL").await;
    assert!(!quarantined(&actions));

    // A block survives too, and a release is saved at once.
    assert!(milter.block_sender("erin"));
    assert!(milter.release_sender("dan"));
    let milter = Milter::new(config(dir.path(), true), classifier(), None);
    let erin = milter.sender("erin").unwrap();
    assert_eq!(erin.summary.state, BreakerState::Blocked);
    assert_eq!(
        milter.sender("dan").unwrap().summary.state,
        BreakerState::Grace
    );
}

#[tokio::test]
async fn a_corrupt_state_file_is_moved_aside_and_the_milter_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("campaign.json");
    std::fs::write(&state, "{\"format\": truncated").unwrap();
    let milter = Milter::new(config(dir.path(), true), classifier(), None);
    assert!(milter.senders().unwrap().is_empty());
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("campaign.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}

#[tokio::test]
async fn exempt_users_are_not_tracked_and_dry_run_only_tags() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), false);
    c.exempt_users = vec!["dan".to_string()];
    let milter = Milter::new(c, classifier(), None);
    let (addr, _stop) = start(milter.clone()).await;
    for i in 0..8 {
        let (actions, _) = flood_one(addr, i).await;
        assert_eq!(header(&actions), "exempt user");
    }
    assert!(milter.senders().unwrap().is_empty());

    let mut c = config(dir.path(), false);
    c.dry_run = true;
    let milter = Milter::new(c, classifier(), None);
    let (addr, _stop) = start(milter.clone()).await;
    for i in 0..8 {
        let (actions, status) = flood_one(addr, i).await;
        assert!(!quarantined(&actions));
        assert_eq!(status, Status::Accept);
        if i >= 4 {
            let h = header(&actions);
            assert!(
                h.contains("campaign=fingerprint-spread") && h.contains("dry-run"),
                "{h}"
            );
        }
    }
    assert_eq!(milter.campaign_alerts(), 1);
}

#[tokio::test]
async fn campaign_detection_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), false);
    c.campaign.enabled = false;
    let milter = Milter::new(c, classifier(), None);
    let (addr, _stop) = start(milter.clone()).await;
    for i in 0..8 {
        let (actions, _) = flood_one(addr, i).await;
        assert!(!header(&actions).contains("campaign="));
    }
    assert!(milter.senders().is_none());
}

#[tokio::test]
async fn the_senders_command_lists_shows_releases_and_blocks_through_the_control_socket() {
    use sendguard::milter::control;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let milter = Milter::new(config(dir.path(), true), classifier(), None);
    let (addr, _stop) = start(milter.clone()).await;
    let (listener, _guard) = control::bind(&sock).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    tokio::spawn(control::serve_control(milter.clone(), listener));
    for i in 0..6 {
        flood_one(addr, i).await;
    }
    ordinary(addr, "carol", "QC1").await;

    let cli = |args: &[&str]| {
        let sock = sock.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_sendguard"))
                    .arg("senders")
                    .arg("--control")
                    .arg(&sock)
                    .args(&args)
                    .output()
                    .unwrap();
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .await
            .unwrap()
        }
    };

    let (code, out, err) = cli(&["list"]).await;
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("SENDER"), "{out}");
    assert!(
        lines[1].starts_with("dan ")
            && lines[1].contains("tripped")
            && lines[1].contains("fingerprint-spread"),
        "{out}"
    );
    assert!(out.contains("carol"), "{out}");

    let (code, out, _) = cli(&["--json", "show", "DAN"]).await;
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sender"]["incident"]["alert"]["first_queue_id"], "Q00000");
    let (code, out, _) = cli(&["show", "dan"]).await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains("incident: campaign breaker tripped: sender=dan"),
        "{out}"
    );
    assert!(out.contains("Spring catalogue"), "{out}");

    let (code, out, _) = cli(&["release", "dan"]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("breaker closed"), "{out}");
    let (actions, _) = ordinary(addr, "dan", "QD2").await;
    assert!(!quarantined(&actions));

    let (code, _, _) = cli(&["block", "carol"]).await;
    assert_eq!(code, Some(0));
    let (actions, _) = ordinary(addr, "carol", "QC2").await;
    assert!(quarantined(&actions));
    assert!(
        header(&actions).contains("campaign=blocked"),
        "{}",
        header(&actions)
    );
    // Saved at once: a new milter from the file still holds carol.
    let again = Milter::new(config(dir.path(), true), classifier(), None);
    assert_eq!(
        again.sender("carol").unwrap().summary.state,
        BreakerState::Blocked
    );

    let (code, _, err) = cli(&["show", "nobody"]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("unknown sender"), "{err}");

    // No daemon: exit 2 and a clear message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sendguard"))
        .args(["senders", "--control"])
        .arg(dir.path().join("missing.sock"))
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot talk to the milter"));
}
