//! The admin socket: `sendguard senders` acting on the running daemon's campaign state.
//!
//! A Unix socket (`[campaign] control_socket`, mode 0600: only the daemon's user, and root,
//! can connect). One request per connection: one JSON line in, one JSON line out.
//!
//! ```text
//! {"cmd":"list"}                      → {"ok":true,"senders":[{"sender":"dan","state":"tripped",...}]}
//! {"cmd":"show","sender":"dan"}       → {"ok":true,"sender":{"summary":{...},"counts":{...},...}}
//! {"cmd":"release","sender":"dan"}    → {"ok":true,"released":true}
//! {"cmd":"block","sender":"mallory"}  → {"ok":true}
//! anything else                       → {"ok":false,"error":"..."}
//! ```
//!
//! Release and block are saved to the state file before the reply. With the state in Redis
//! they are written there before the reply, and when Redis is unavailable every request is
//! refused with the error (`ok` false) rather than acting on this MTA alone.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use super::Milter;
use crate::campaign::{SenderDetail, SenderSummary};

/// Longest request line read, in bytes.
const MAX_REQUEST: u64 = 4096;
/// A client that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Every sender with live state, open breakers first.
    List,
    /// Everything about one sender.
    Show {
        /// The sender key (SASL user or envelope sender).
        sender: String,
    },
    /// Close a sender's breaker (tripped or blocked).
    Release {
        /// The sender key.
        sender: String,
    },
    /// Hold everything from a sender until released.
    Block {
        /// The sender key.
        sender: String,
    },
}

/// One reply. `ok` false: `error` says why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub senders: Option<Vec<SenderSummary>>,
    /// `show`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Box<SenderDetail>>,
    /// `release`: whether the sender was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<bool>,
}

impl Reply {
    fn error(why: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(why.into()),
            ..Reply::default()
        }
    }
}

/// Carries out one request on `milter` (blocking: release and block write the state file or
/// Redis).
pub fn handle(milter: &Milter, request: &Request) -> Reply {
    let Some(campaign) = milter.campaign.as_ref() else {
        return Reply::error("campaign detection is off ([campaign] enabled = false)");
    };
    let done = match request {
        Request::List => campaign.senders().map(|s| Reply {
            ok: true,
            senders: Some(s),
            ..Reply::default()
        }),
        Request::Show { sender } => campaign.sender(sender).map(|d| match d {
            Some(d) => Reply {
                ok: true,
                sender: Some(Box::new(d)),
                ..Reply::default()
            },
            None => Reply::error(format!("unknown sender {sender:?}")),
        }),
        Request::Release { sender } => campaign.release(sender).map(|known| Reply {
            ok: true,
            released: Some(known),
            ..Reply::default()
        }),
        Request::Block { sender } => campaign.block(sender).map(|()| Reply {
            ok: true,
            ..Reply::default()
        }),
    };
    done.unwrap_or_else(|e| Reply::error(e.to_string()))
}

/// Binds the admin socket at `path` with mode 0600 (a stale file from a dead daemon is
/// removed). The guard removes the file when dropped.
pub fn bind(path: &Path) -> std::io::Result<(UnixListener, impl Drop)> {
    let (listener, guard) = super::socket::bind_unix(path, 0o600)?;
    Ok((listener, guard))
}

/// Serves the admin socket until the task is dropped.
pub async fn serve_control(milter: Arc<Milter>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(one(milter.clone(), stream));
            }
            Err(e) => {
                warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn one(milter: Arc<Milter>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    let reply = match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Reply::error("no request line within 5 s"),
        Ok(Err(e)) => Reply::error(format!("cannot read the request: {e}")),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Err(e) => Reply::error(format!(
                "bad request ({e}); expected one JSON line such as {{\"cmd\":\"list\"}}"
            )),
            Ok(request) => {
                if matches!(request, Request::Release { .. } | Request::Block { .. }) {
                    info!(request = %line.trim(), "control socket request");
                }
                let m = milter.clone();
                tokio::task::spawn_blocking(move || handle(&m, &request))
                    .await
                    .unwrap_or_else(|e| Reply::error(format!("internal error: {e}")))
            }
        },
    };
    let mut out = serde_json::to_vec(&reply).expect("a reply serialises");
    out.push(b'\n');
    let _ = write.write_all(&out).await;
    let _ = write.shutdown().await;
}

/// The client side: sends `request` to the daemon's socket at `path`, returns its reply.
/// Blocking (std), for the command line.
pub fn request(path: &Path, request: &Request) -> std::io::Result<Reply> {
    use std::io::{BufRead as _, Write as _};
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reply = String::new();
    std::io::BufReader::new(stream).read_line(&mut reply)?;
    serde_json::from_str(&reply).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad reply from the daemon: {e}"),
        )
    })
}
