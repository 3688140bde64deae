//! The milter, in process: an indymilter-test client plays Postfix. Each test sends real
//! messages and reads what the milter told the MTA (header, quarantine, reply code).
#![cfg(feature = "milter")]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{classifier, deliver, open, quarantined, send, sendguard_header, start, Envelope};
use indymilter_test::{EomAction, Status, TestConnection};
use sendguard::milter::{
    serve, serve_metrics, Action, MessageContext, Milter, MilterConfig, OnError, SocketSpec,
};
use sendguard::{Classifier, Verdicted};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const SCAM: &str = "tests/fixtures/cli/scam.eml"; // reject-level advance-fee letter
const INVOICE: &str = "data/examples/business-invoice.eml"; // ordinary business mail: pass
const SHARED_DOCUMENT: &str = "tests/fixtures/heldout/phishing/en-shared-document-01.eml"; // tag
const MAILBOX_QUOTA: &str = "tests/fixtures/heldout/phishing/en-mailbox-quota-html-01.eml"; // hold

fn read(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("fixture")
}

const ALICE: Envelope = Envelope {
    user: Some("alice"),
    sender: "alice@northwind.example",
    rcpts: &["bob@example.com"],
    queue_id: "4ABC123DEF",
};

fn milter_with(config: MilterConfig) -> Arc<Milter> {
    Milter::new(config, classifier(), None)
}

#[tokio::test]
async fn ordinary_business_mail_passes_with_the_header() {
    let (addr, _stop) = start(milter_with(MilterConfig::default())).await;
    let (actions, status) = deliver(addr, &ALICE, &read(INVOICE)).await;
    assert_eq!(status, Status::Accept);
    let header = sendguard_header(&actions).expect("header");
    assert!(header.starts_with("pass ham="), "{header}");
    assert!(!quarantined(&actions));
}

#[tokio::test]
async fn tag_level_mail_is_delivered_with_reasons_in_the_header() {
    let (addr, _stop) = start(milter_with(MilterConfig::default())).await;
    let (actions, status) = deliver(addr, &ALICE, &read(SHARED_DOCUMENT)).await;
    assert_eq!(status, Status::Accept);
    let header = sendguard_header(&actions).expect("header");
    assert!(header.starts_with("tag phishing="), "{header}");
    assert!(header.contains(" reasons="), "{header}");
    assert!(!quarantined(&actions));
}

#[tokio::test]
async fn hold_level_mail_is_quarantined_with_the_verdict_in_header_and_reason() {
    let (addr, _stop) = start(milter_with(MilterConfig::default())).await;
    let (actions, status) = deliver(addr, &ALICE, &read(MAILBOX_QUOTA)).await;
    assert_eq!(status, Status::Accept);
    let header = sendguard_header(&actions).expect("header");
    assert!(header.starts_with("hold phishing="), "{header}");
    let reason = actions.actions.iter().find_map(|a| match a {
        EomAction::Quarantine { reason } => Some(reason.to_string_lossy().into_owned()),
        _ => None,
    });
    assert_eq!(reason, Some(format!("sendguard: {header}")));
}

#[tokio::test]
async fn reject_level_mail_is_refused_with_550_5_7_1() {
    let (addr, _stop) = start(milter_with(MilterConfig::default())).await;
    let (actions, status) = deliver(addr, &ALICE, &read(SCAM)).await;
    let message = format!("550 5.7.1 {}", sendguard::milter::DEFAULT_REJECT_TEXT);
    assert_eq!(
        status,
        Status::Reject {
            message: Some(std::ffi::CString::new(message).unwrap())
        }
    );
    assert!(!quarantined(&actions));
}

#[tokio::test]
async fn with_reject_off_reject_level_mail_is_held() {
    let config = MilterConfig {
        reject: false,
        ..MilterConfig::default()
    };
    let (addr, _stop) = start(milter_with(config)).await;
    let (actions, status) = deliver(addr, &ALICE, &read(SCAM)).await;
    assert_eq!(status, Status::Accept);
    assert!(quarantined(&actions));
    let header = sendguard_header(&actions).expect("header");
    assert!(header.starts_with("reject fraud="), "{header}");
    assert!(header.contains(" action=hold"), "{header}");
}

#[tokio::test]
async fn dry_run_only_adds_headers() {
    let config = MilterConfig {
        dry_run: true,
        ..MilterConfig::default()
    };
    let (addr, _stop) = start(milter_with(config)).await;
    for (path, verdict) in [(SCAM, "reject"), (MAILBOX_QUOTA, "hold")] {
        let (actions, status) = deliver(addr, &ALICE, &read(path)).await;
        assert_eq!(status, Status::Accept, "{path}");
        assert!(!quarantined(&actions), "{path}");
        let header = sendguard_header(&actions).expect("header");
        assert!(header.starts_with(verdict), "{header}");
        assert!(header.contains(" dry-run"), "{header}");
    }
}

#[tokio::test]
async fn oversized_mail_is_accepted_unscanned() {
    let config = MilterConfig {
        max_message_bytes: 1000,
        ..MilterConfig::default()
    };
    let milter = milter_with(config);
    let (addr, _stop) = start(milter.clone()).await;
    let (actions, status) = deliver(addr, &ALICE, &read(SCAM)).await;
    assert_eq!(status, Status::Accept);
    assert_eq!(
        sendguard_header(&actions).as_deref(),
        Some("unscanned size>1000")
    );
    assert!(milter
        .metrics_text()
        .contains("\nsendguard_unscanned_total 1\n"));
}

#[tokio::test]
async fn exempt_users_and_senders_are_accepted_unscanned() {
    let config = MilterConfig {
        exempt_users: vec!["Backup".to_string()],
        exempt_senders: vec![
            "@lists.northwind.example".to_string(),
            "postmaster@northwind.example".to_string(),
        ],
        ..MilterConfig::default()
    };
    let (addr, _stop) = start(milter_with(config)).await;
    let scam = read(SCAM);
    let cases = [
        (
            Some("backup"),
            "carol@northwind.example",
            Some("exempt user"),
        ),
        (None, "news@lists.northwind.example", Some("exempt sender")),
        (
            Some("alice"),
            "POSTMASTER@northwind.example",
            Some("exempt sender"),
        ),
        // A subdomain of an exempt domain is not exempt.
        (None, "x@sub.lists.northwind.example", None),
    ];
    for (user, sender, want) in cases {
        let env = Envelope {
            user,
            sender,
            ..ALICE
        };
        let (actions, status) = deliver(addr, &env, &scam).await;
        match want {
            Some(want) => {
                assert_eq!(status, Status::Accept, "{sender}");
                assert_eq!(sendguard_header(&actions).as_deref(), Some(want));
            }
            None => assert!(matches!(status, Status::Reject { .. }), "{sender}"),
        }
    }
}

#[tokio::test]
async fn a_forged_header_is_removed() {
    let config = MilterConfig {
        reject: false,
        ..MilterConfig::default()
    };
    let (addr, _stop) = start(milter_with(config)).await;
    let forged = [b"X-Sendguard: pass ham=1.000\r\n".as_slice(), &read(SCAM)].concat();
    let (actions, _) = deliver(addr, &ALICE, &forged).await;
    assert!(actions.has_delete_header("X-Sendguard", 1), "{actions:?}");
    assert!(sendguard_header(&actions).unwrap().starts_with("reject"));
    let (actions, _) = deliver(addr, &ALICE, &read(INVOICE)).await;
    assert!(!actions
        .actions
        .iter()
        .any(|a| matches!(a, EomAction::DeleteHeader { .. })));
}

/// A policy that panics: an internal error inside scoring.
fn panicking_policy() -> Arc<dyn sendguard::milter::Policy> {
    Arc::new(|_: &MessageContext, _: &Verdicted| -> Action { panic!("policy bug") })
}

#[tokio::test]
async fn an_internal_error_tempfails_and_the_milter_keeps_serving() {
    let milter = Milter::with_policy(
        MilterConfig::default(),
        classifier(),
        None,
        panicking_policy(),
    );
    let (addr, _stop) = start(milter.clone()).await;
    for _ in 0..2 {
        let (actions, status) = deliver(addr, &ALICE, &read(INVOICE)).await;
        let message = format!("451 4.7.1 {}", sendguard::milter::DEFAULT_TEMPFAIL_TEXT);
        assert_eq!(
            status,
            Status::Tempfail {
                message: Some(std::ffi::CString::new(message).unwrap())
            }
        );
        assert_eq!(sendguard_header(&actions), None);
    }
    assert!(milter
        .metrics_text()
        .contains("sendguard_errors_total{kind=\"internal\"} 2"));
}

#[tokio::test]
async fn with_on_error_accept_an_internal_error_delivers_with_a_header() {
    let config = MilterConfig {
        on_error: OnError::Accept,
        ..MilterConfig::default()
    };
    let milter = Milter::with_policy(config, classifier(), None, panicking_policy());
    let (addr, _stop) = start(milter).await;
    let (actions, status) = deliver(addr, &ALICE, &read(SCAM)).await;
    assert_eq!(status, Status::Accept);
    assert_eq!(
        sendguard_header(&actions).as_deref(),
        Some("error internal")
    );
}

#[tokio::test]
async fn a_scan_over_the_timeout_tempfails() {
    let config = MilterConfig {
        scan_timeout_ms: 50,
        ..MilterConfig::default()
    };
    let slow = Arc::new(|_: &MessageContext, v: &Verdicted| {
        std::thread::sleep(Duration::from_millis(400));
        Action::for_verdict(v.decision.verdict)
    });
    let milter = Milter::with_policy(config, classifier(), None, slow);
    let (addr, _stop) = start(milter.clone()).await;
    let (_, status) = deliver(addr, &ALICE, &read(INVOICE)).await;
    assert!(matches!(status, Status::Tempfail { .. }), "{status:?}");
    assert!(milter
        .metrics_text()
        .contains("sendguard_errors_total{kind=\"timeout\"} 1"));
}

#[tokio::test]
async fn an_empty_message_is_unscorable_and_tempfails() {
    let milter = milter_with(MilterConfig::default());
    let (addr, _stop) = start(milter.clone()).await;
    let (_, status) = deliver(addr, &ALICE, b"").await;
    assert!(matches!(status, Status::Tempfail { .. }), "{status:?}");
    assert!(milter
        .metrics_text()
        .contains("sendguard_errors_total{kind=\"unscorable\"} 1"));
}

/// Records what the policy was told, and decides as the default policy does.
#[derive(Default)]
struct Recorder(Mutex<Vec<(MessageContext, sendguard::Verdict)>>);

impl sendguard::milter::Policy for Recorder {
    fn decide(&self, ctx: &MessageContext, v: &Verdicted) -> Action {
        self.0
            .lock()
            .unwrap()
            .push((ctx.clone(), v.decision.verdict));
        Action::for_verdict(v.decision.verdict)
    }
}

#[tokio::test]
async fn macros_and_envelope_reach_the_policy() {
    let recorder = Arc::new(Recorder::default());
    let milter = Milter::with_policy(
        MilterConfig::default(),
        classifier(),
        None,
        recorder.clone(),
    );
    let (addr, _stop) = start(milter).await;
    let env = Envelope {
        user: Some("alice@northwind.example"),
        sender: "alice@northwind.example",
        rcpts: &["bob@example.com", "carol@example.net"],
        queue_id: "4XYZ987",
    };
    deliver(addr, &env, &read(INVOICE)).await;
    let seen = recorder.0.lock().unwrap();
    let (ctx, _) = &seen[0];
    assert_eq!(ctx.queue_id.as_deref(), Some("4XYZ987"));
    assert_eq!(ctx.auth_user.as_deref(), Some("alice@northwind.example"));
    assert_eq!(ctx.client_addr, Some([192, 0, 2, 10].into()));
    assert_eq!(ctx.client_name.as_deref(), Some("client.example.org"));
    assert_eq!(ctx.helo.as_deref(), Some("client.example.org"));
    assert_eq!(ctx.sender, "alice@northwind.example");
    assert_eq!(ctx.recipients, ["bob@example.com", "carol@example.net"]);
    assert!(ctx.size > 6000, "{}", ctx.size);
}

#[tokio::test]
async fn two_messages_on_one_connection_keep_separate_state() {
    let recorder = Arc::new(Recorder::default());
    let milter = Milter::with_policy(
        MilterConfig::default(),
        classifier(),
        None,
        recorder.clone(),
    );
    let (addr, _stop) = start(milter).await;
    let mut conn = open(addr).await;
    let first = Envelope {
        user: Some("mallory"),
        sender: "mallory@northwind.example",
        rcpts: &["victim1@example.com", "victim2@example.com"],
        queue_id: "Q1",
    };
    let (_, status) = send(&mut conn, &first, &read(SCAM)).await;
    assert!(matches!(status, Status::Reject { .. }));
    // An aborted transaction in between leaves nothing behind either.
    conn.mail(["<half@northwind.example>"]).await.unwrap();
    conn.rcpt(["<nobody@example.com>"]).await.unwrap();
    conn.abort().await.unwrap();
    let second = Envelope {
        user: Some("bob"),
        sender: "bob@northwind.example",
        rcpts: &["carol@example.net"],
        queue_id: "Q2",
    };
    let (actions, status) = send(&mut conn, &second, &read(INVOICE)).await;
    assert_eq!(status, Status::Accept);
    assert!(sendguard_header(&actions).unwrap().starts_with("pass"));
    conn.close().await.unwrap();

    let seen = recorder.0.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0.queue_id.as_deref(), Some("Q1"));
    assert_eq!(seen[0].1, sendguard::Verdict::Reject);
    assert_eq!(seen[1].0.queue_id.as_deref(), Some("Q2"));
    assert_eq!(seen[1].0.sender, "bob@northwind.example");
    assert_eq!(seen[1].0.recipients, ["carol@example.net"]);
    assert_eq!(seen[1].0.auth_user.as_deref(), Some("bob"));
    assert_eq!(seen[1].1, sendguard::Verdict::Pass);
}

#[test]
fn reload_keeps_the_old_model_on_a_bad_file_and_swaps_in_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.sgm");
    let shipped = sendguard::default_model_path().unwrap();
    std::fs::copy(&shipped, &path).unwrap();
    let milter = Milter::new(
        MilterConfig::default(),
        Classifier::load(&path).unwrap(),
        Some(path.clone()),
    );
    let before = milter.model_info();

    // Corrupt: one byte flipped in the middle (checksum mismatch), then truncated.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let e = milter.reload().unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    std::fs::write(&path, &bytes[..100]).unwrap();
    let e = milter.reload().unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    assert_eq!(milter.model_info(), before);

    // A good model (another creation time, so another checksum) is swapped in.
    let mut file = sendguard::model::file::ModelFile::read(&shipped).unwrap();
    file.info.created = "2099-01-01T00:00:00Z".to_string();
    file.write(&path).unwrap();
    milter.reload().unwrap();
    let after = milter.model_info();
    assert_eq!(after.0, "2099-01-01T00:00:00Z");
    assert_ne!(after.1, before.1);

    let text = milter.metrics_text();
    assert!(text.contains("sendguard_reloads_total{result=\"failed\"} 2"));
    assert!(text.contains("sendguard_reloads_total{result=\"ok\"} 1"));
    assert!(text.contains(&format!(
        "sendguard_model_info{{version=\"2099-01-01T00:00:00Z\",checksum=\"{}\"}} 1",
        after.1
    )));

    let no_path = milter_with(MilterConfig::default());
    assert!(no_path.reload().is_err());
}

#[tokio::test]
async fn metrics_count_messages_by_verdict_and_class() {
    let milter = milter_with(MilterConfig::default());
    let (addr, _stop) = start(milter.clone()).await;
    deliver(addr, &ALICE, &read(SCAM)).await;
    deliver(addr, &ALICE, &read(SCAM)).await;
    // Two fraud verdicts in a row trip alice's campaign breaker (hold streak): the invoice
    // comes from someone else.
    let carol = Envelope {
        user: Some("carol"),
        sender: "carol@northwind.example",
        ..ALICE
    };
    deliver(addr, &carol, &read(INVOICE)).await;
    let text = milter.metrics_text();
    for line in [
        "sendguard_messages_total{verdict=\"reject\",class=\"fraud\"} 2",
        "sendguard_messages_total{verdict=\"pass\",class=\"ham\"} 1",
        "sendguard_actions_total{action=\"reject\"} 2",
        "sendguard_actions_total{action=\"accept\"} 1",
        "sendguard_scan_seconds_bucket{le=\"+Inf\"} 3",
        "sendguard_scan_seconds_count 3",
        "sendguard_errors_total{kind=\"timeout\"} 0",
        "# TYPE sendguard_scan_seconds histogram",
        "sendguard_campaign_held_total 1",
        "sendguard_campaign_alerts_total 1",
        "sendguard_campaign_lone_spam_total 0",
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "{line} missing in\n{text}"
        );
    }
    assert!(text.contains("sendguard_model_info{version=\""));
}

/// A plain HTTP/1.1 request; returns the whole response.
async fn http(addr: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn the_metrics_endpoint_answers_get_metrics_and_404_otherwise() {
    let milter = milter_with(MilterConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_metrics(milter, listener));
    let ok = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(ok.contains("sendguard_messages_total{verdict=\"pass\",class=\"ham\"} 0"));
    let missing = http(addr, "GET /other HTTP/1.1\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let post = http(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 404"), "{post}");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let too_long = http(addr, &huge).await;
    assert!(too_long.starts_with("HTTP/1.1 431"), "{too_long}");
    server.abort();
}

#[tokio::test]
async fn serve_on_a_unix_socket_replaces_a_stale_file_and_removes_it_at_exit() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("milter.sock");
    // A socket file left by a daemon that died.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let config = MilterConfig {
        socket_mode: 0o600,
        ..MilterConfig::default()
    };
    let milter = milter_with(config);
    let spec: SocketSpec = format!("unix:{}", path.display()).parse().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve(milter, &spec, None, async {
            let _ = stopped.await;
        })
        .await
    });
    let mut conn = None;
    for _ in 0..100 {
        if let Ok(c) = TestConnection::configure().open_unix(&path).await {
            conn = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut conn = conn.expect("the milter answers on the Unix socket");
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    conn.connect("localhost", "unix:local").await.unwrap();
    let (actions, status) = send(&mut conn, &ALICE, &read(INVOICE)).await;
    assert_eq!(status, Status::Accept);
    assert!(sendguard_header(&actions).unwrap().starts_with("pass"));
    conn.close().await.unwrap();

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(!path.exists(), "the socket file is removed at exit");
}

#[tokio::test]
async fn serve_refuses_a_path_that_is_not_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, "keep me").unwrap();
    let spec = SocketSpec::Unix(path.clone());
    let e = serve(
        milter_with(MilterConfig::default()),
        &spec,
        None,
        std::future::ready(()),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}
