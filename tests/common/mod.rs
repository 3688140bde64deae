//! The in-process milter harness the milter tests share: the shipped classifier, a milter on a
//! loopback port, and an indymilter-test client that plays Postfix.
#![allow(dead_code)] // each test crate uses part of it

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use indymilter_test::{EomAction, EomActions, MacroStage, Status, TestConnection};
use sendguard::milter::Milter;
use sendguard::Classifier;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The shipped default model, loaded once.
pub fn classifier() -> Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::load_default().expect("the shipped model loads"))
        .clone()
}

/// The envelope Postfix would announce for a message.
pub struct Envelope<'a> {
    pub user: Option<&'a str>,
    pub sender: &'a str,
    pub rcpts: &'a [&'a str],
    pub queue_id: &'a str,
}

/// Starts `milter` on a free loopback port; the sender stops it.
pub async fn start(milter: Arc<Milter>) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let callbacks = milter.callbacks();
    let config = milter.indymilter_config();
    tokio::spawn(indymilter::run(listener, callbacks, config, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// A connection past HELO.
pub async fn open(addr: SocketAddr) -> TestConnection {
    let mut conn = TestConnection::open(addr).await.unwrap();
    let status = conn
        .connect("client.example.org", [192, 0, 2, 10])
        .await
        .unwrap();
    assert_eq!(status, Status::Continue);
    assert_eq!(
        conn.helo("client.example.org").await.unwrap(),
        Status::Continue
    );
    conn
}

/// Sends one message on an open connection as Postfix does: MAIL, RCPT, headers, body (CRLF),
/// the queue ID at end-of-message.
pub async fn send(
    conn: &mut TestConnection,
    env: &Envelope<'_>,
    raw: &[u8],
) -> (EomActions, Status) {
    if let Some(user) = env.user {
        conn.macros(MacroStage::Mail, [("{auth_authen}", user)])
            .await
            .unwrap();
    }
    let status = conn.mail([format!("<{}>", env.sender)]).await.unwrap();
    assert_eq!(status, Status::Continue);
    for rcpt in env.rcpts {
        assert_eq!(
            conn.rcpt([format!("<{rcpt}>")]).await.unwrap(),
            Status::Continue
        );
    }
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines().filter(|l| !l.is_empty()) {
        match (line.starts_with([' ', '\t']), fields.last_mut()) {
            (true, Some((_, value))) => {
                value.push_str("\r\n");
                value.push_str(line);
            }
            _ => {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                fields.push((name.to_string(), value.trim_start().to_string()));
            }
        }
    }
    for (name, value) in fields {
        assert_eq!(conn.header(name, value).await.unwrap(), Status::Continue);
    }
    assert_eq!(conn.eoh().await.unwrap(), Status::Continue);
    if !body.is_empty() {
        let crlf = body.replace('\n', "\r\n").into_bytes();
        assert_eq!(conn.body(crlf).await.unwrap(), Status::Continue);
    }
    conn.macros(MacroStage::Eom, [("i", env.queue_id)])
        .await
        .unwrap();
    conn.eom().await.unwrap()
}

/// One message on its own connection.
pub async fn deliver(addr: SocketAddr, env: &Envelope<'_>, raw: &[u8]) -> (EomActions, Status) {
    let mut conn = open(addr).await;
    let out = send(&mut conn, env, raw).await;
    conn.close().await.unwrap();
    out
}

/// One message on its own connection, from `user` (SASL) as `sender` to `rcpts`.
pub async fn deliver_as(
    addr: SocketAddr,
    user: Option<&str>,
    sender: &str,
    rcpts: &[String],
    queue_id: &str,
    raw: &str,
) -> (EomActions, Status) {
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let env = Envelope {
        user,
        sender,
        rcpts: &rcpts,
        queue_id,
    };
    deliver(addr, &env, raw.as_bytes()).await
}

/// The X-Sendguard header the milter added, unfolded.
pub fn sendguard_header(actions: &EomActions) -> Option<String> {
    actions.actions.iter().find_map(|a| match a {
        EomAction::AddHeader { name, value } if name.to_bytes() == b"X-Sendguard" => {
            Some(value.to_string_lossy().replace(['\r', '\n'], ""))
        }
        _ => None,
    })
}

/// The X-Sendguard header the milter added (unfolded); panics without one.
pub fn header(actions: &EomActions) -> String {
    sendguard_header(actions).expect("an X-Sendguard header")
}

/// Whether the milter asked for the hold queue.
pub fn quarantined(actions: &EomActions) -> bool {
    actions
        .actions
        .iter()
        .any(|a| matches!(a, EomAction::Quarantine { .. }))
}

/// One letter of the campaign, varied per recipient (name, reference).
pub fn letter(i: usize, rcpt: &str) -> String {
    let names = [
        "Maria", "John", "Aisha", "Pedro", "Yuki", "Olga", "Samuel", "Chen",
    ];
    format!(
        "From: Dan Walker <dan@northwind.example>\nTo: {rcpt}\nSubject: Spring catalogue\n\n\
         Dear {},\n\nour new spring catalogue is out: garden furniture, tools and seeds at the \
         usual prices. Order before the end of the month and delivery to your door is free. \
         Your customer reference is NW-{:05}.\n\nBest regards,\nDan Walker\nNorthwind Garden \
         Supplies\n",
        names[i % names.len()],
        1000 + i * 37
    )
}

/// The campaign's message `i`: to one mailbox at a new company.
pub async fn flood_one(addr: SocketAddr, i: usize) -> (EomActions, Status) {
    let rcpt = format!("purchasing@firm{i}.example");
    deliver_as(
        addr,
        Some("dan"),
        "dan@northwind.example",
        std::slice::from_ref(&rcpt),
        &format!("Q{i:05}"),
        &letter(i, &rcpt),
    )
    .await
}
