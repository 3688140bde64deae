//! The in-process milter harness the campaign tests share: the shipped classifier, a milter on
//! a loopback port, and an indymilter-test client that plays Postfix.
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

/// Runs `milter` on a free loopback port until the sender is dropped or used.
pub async fn start(milter: Arc<Milter>) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(indymilter::run(
        listener,
        milter.callbacks(),
        milter.indymilter_config(),
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

/// One message on its own connection: SASL user, envelope, headers, body, queue ID.
pub async fn deliver(
    addr: SocketAddr,
    user: Option<&str>,
    sender: &str,
    rcpts: &[String],
    queue_id: &str,
    raw: &str,
) -> (EomActions, Status) {
    let mut conn = TestConnection::open(addr).await.unwrap();
    conn.connect("client.example.org", [192, 0, 2, 10])
        .await
        .unwrap();
    conn.helo("client.example.org").await.unwrap();
    if let Some(user) = user {
        conn.macros(MacroStage::Mail, [("{auth_authen}", user)])
            .await
            .unwrap();
    }
    conn.mail([format!("<{sender}>")]).await.unwrap();
    for r in rcpts {
        conn.rcpt([format!("<{r}>")]).await.unwrap();
    }
    let text = raw.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    for line in head.lines().filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        conn.header(name, value.trim_start()).await.unwrap();
    }
    conn.eoh().await.unwrap();
    conn.body(body.replace('\n', "\r\n").into_bytes())
        .await
        .unwrap();
    conn.macros(MacroStage::Eom, [("i", queue_id)])
        .await
        .unwrap();
    let out = conn.eom().await.unwrap();
    conn.close().await.unwrap();
    out
}

/// The `X-Sendguard` header the milter added (unfolded).
pub fn header(actions: &EomActions) -> String {
    actions
        .actions
        .iter()
        .find_map(|a| match a {
            EomAction::AddHeader { name, value } if name.to_bytes() == b"X-Sendguard" => {
                Some(value.to_string_lossy().replace(['\r', '\n'], ""))
            }
            _ => None,
        })
        .expect("an X-Sendguard header")
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
    deliver(
        addr,
        Some("dan"),
        "dan@northwind.example",
        std::slice::from_ref(&rcpt),
        &format!("Q{i:05}"),
        &letter(i, &rcpt),
    )
    .await
}
