//! The Postfix queue, through Postfix's own tools: `postqueue -j` lists it, `postcat -hb -q ID`
//! reads one message, `postsuper -h -` puts messages on hold.
//!
//! Queue files are Postfix's record format, not RFC 822, and their layout is Postfix's business:
//! going through its tools keeps sendguard correct across Postfix versions. Listing needs a
//! running Postfix (`postqueue` asks the `showq` service); reading and holding need root.
//!
//! The tools are found as `$SENDGUARD_POSTQUEUE`, `$SENDGUARD_POSTCAT` and
//! `$SENDGUARD_POSTSUPER` when set, else on `$PATH`, else in `/usr/sbin` (cron's `$PATH` lacks
//! it). A configuration directory, when given, is passed to each as `-c DIR` (Postfix's own
//! `$MAIL_CONFIG` works too).

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// Which queue(s) `--postfix-queue` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueSelection {
    /// Mail on hold (by an administrator or a milter quarantine).
    Hold,
    /// Mail waiting for a retry.
    Deferred,
    /// Mail the queue manager is delivering now.
    Active,
    /// Mail just received, not yet seen by the queue manager.
    Incoming,
    /// Every queue, maildrop included.
    All,
}

impl QueueSelection {
    /// Whether a message in the queue named `queue_name` (as `postqueue -j` names it) is selected.
    pub fn matches(self, queue_name: &str) -> bool {
        match self {
            QueueSelection::All => true,
            QueueSelection::Hold => queue_name == "hold",
            QueueSelection::Deferred => queue_name == "deferred",
            QueueSelection::Active => queue_name == "active",
            QueueSelection::Incoming => queue_name == "incoming",
        }
    }
}

/// One queued message, as `postqueue -j` describes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct QueueEntry {
    /// The queue it sits in: `hold`, `deferred`, `active`, `incoming` or `maildrop`.
    pub queue_name: String,
    /// Postfix's queue ID.
    pub queue_id: String,
    /// Envelope sender (empty for the null sender of a bounce).
    #[serde(default)]
    pub sender: String,
    /// Size in bytes, as Postfix counts it.
    #[serde(default)]
    pub message_size: u64,
}

/// Whether `id` looks like a Postfix queue ID (short or long form: letters and digits only).
/// Anything else never reaches a command line, where a leading `-` would read as an option.
pub fn is_queue_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One line of `postqueue -j`.
///
/// # Errors
/// When the line is not a JSON object with string `queue_name` and `queue_id`, or the queue ID
/// is not letters and digits.
pub fn parse_queue_line(line: &str) -> anyhow::Result<QueueEntry> {
    let entry: QueueEntry = serde_json::from_str(line).context("not a postqueue -j JSON object")?;
    if !is_queue_id(&entry.queue_id) {
        bail!("not a queue ID: {:?}", entry.queue_id);
    }
    Ok(entry)
}

/// What `postqueue -j` listed.
#[derive(Debug, Default)]
pub struct Listing {
    /// The selected messages, in the order Postfix listed them.
    pub entries: Vec<QueueEntry>,
    /// Lines that could not be read, each with the reason.
    pub bad_lines: Vec<String>,
}

/// Reads `postqueue -j` output, keeping the messages of the selected queues.
pub fn parse_listing(text: &str, selection: &[QueueSelection]) -> Listing {
    let mut listing = Listing::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_queue_line(line) {
            Ok(e) if selection.iter().any(|s| s.matches(&e.queue_name)) => listing.entries.push(e),
            Ok(_) => {}
            Err(e) => listing
                .bad_lines
                .push(format!("{e:#}: {}", shorten(line, 200))),
        }
    }
    listing
}

/// The result of reading one queued message.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The message, as RFC 822 bytes.
    Message(Vec<u8>),
    /// It left the queue between listing and reading (delivered, expired or deleted).
    Vanished,
}

/// The message in `postcat -hb` output: the bytes as they are, less any `*** ... ***` marker
/// line that names this queue ID (`*** MESSAGE CONTENTS deferred/C/ID ***` and what follows
/// `*** HEADER EXTRACTED ... ***` or `*** MESSAGE FILE END ... ***`). Postfix 3.7 prints no
/// markers with `-hb`; other versions and `-e` do. A body line is never taken for a marker:
/// a marker must name the queue ID that was asked for.
pub fn message_from_postcat(mut out: Vec<u8>, queue_id: &str) -> Vec<u8> {
    let mut start = 0;
    let mut end = out.len();
    let mut pos = 0;
    while pos < out.len() {
        let line_end = out[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(out.len(), |i| pos + i + 1);
        if let Some(kind) = marker_kind(&out[pos..line_end], queue_id) {
            match kind {
                Marker::ContentsFollow => start = line_end,
                Marker::ContentsEnded => {
                    end = pos;
                    break;
                }
            }
        }
        pos = line_end;
    }
    out.truncate(end);
    out.drain(..start.min(end));
    out
}

enum Marker {
    /// Everything before this line and the line itself are not the message.
    ContentsFollow,
    /// This line and everything after it are not the message.
    ContentsEnded,
}

/// Whether `line` is a postcat marker line for `queue_id`, and which kind.
fn marker_kind(line: &[u8], queue_id: &str) -> Option<Marker> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_prefix(b"*** ")?.strip_suffix(b" ***")?;
    let inner = std::str::from_utf8(inner).ok()?;
    let (words, path) = inner.rsplit_once(' ')?;
    let named = path == queue_id
        || path
            .rsplit_once('/')
            .is_some_and(|(_, last)| last == queue_id);
    if !named || !words.bytes().all(|b| b.is_ascii_uppercase() || b == b' ') {
        return None;
    }
    Some(
        if words == "MESSAGE CONTENTS" || words == "ENVELOPE RECORDS" {
            Marker::ContentsFollow
        } else {
            Marker::ContentsEnded
        },
    )
}

/// Whether postcat's complaint says the queue file is gone.
pub fn says_vanished(stderr: &str) -> bool {
    stderr.contains("No such file or directory")
}

/// Whether a failure to read queued mail is about privileges rather than the message (it would
/// fail the same way for every message).
pub fn says_denied(error: &str) -> bool {
    error.contains("Permission denied") || error.contains("Operation not permitted")
}

/// The queue IDs `postsuper -h` reports as placed on hold (`postsuper: ID: placed on hold`).
pub fn parse_held(stderr: &str) -> HashSet<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("postsuper: ")?;
            let (id, what) = rest.split_once(": ")?;
            (what.trim_end() == "placed on hold" && is_queue_id(id)).then(|| id.to_string())
        })
        .collect()
}

/// The Postfix tools and how to call them.
#[derive(Clone, Debug)]
pub struct PostfixTools {
    postqueue: OsString,
    postcat: OsString,
    postsuper: OsString,
    config_dir: Option<PathBuf>,
}

impl PostfixTools {
    /// The tools from `$SENDGUARD_POSTQUEUE`/`POSTCAT`/`POSTSUPER`, `$PATH` or `/usr/sbin`;
    /// `config_dir` is passed to each as `-c DIR`.
    pub fn from_env(config_dir: Option<PathBuf>) -> Self {
        PostfixTools {
            postqueue: tool("SENDGUARD_POSTQUEUE", "postqueue"),
            postcat: tool("SENDGUARD_POSTCAT", "postcat"),
            postsuper: tool("SENDGUARD_POSTSUPER", "postsuper"),
            config_dir,
        }
    }

    fn command(&self, program: &OsString) -> Command {
        let mut c = Command::new(program);
        if let Some(dir) = &self.config_dir {
            c.arg("-c").arg(dir);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Lists the selected queues with `postqueue -j`.
    ///
    /// # Errors
    /// When postqueue cannot be run or fails (for one, when Postfix is not running).
    pub fn list(&self, selection: &[QueueSelection]) -> anyhow::Result<Listing> {
        let out = self
            .command(&self.postqueue)
            .arg("-j")
            .output()
            .with_context(|| format!("running {}", self.postqueue.to_string_lossy()))?;
        if !out.status.success() {
            bail!(
                "{} -j failed ({}): {}",
                self.postqueue.to_string_lossy(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(parse_listing(
            &String::from_utf8_lossy(&out.stdout),
            selection,
        ))
    }

    /// Reads one queued message with `postcat -hb -q ID`.
    ///
    /// # Errors
    /// When postcat cannot be run, fails for another reason than a missing queue file, or the
    /// message is over `limit` bytes.
    pub fn read(&self, queue_id: &str, limit: usize) -> anyhow::Result<Fetched> {
        if !is_queue_id(queue_id) {
            bail!("not a queue ID: {queue_id:?}");
        }
        let out = self
            .command(&self.postcat)
            .args(["-hb", "-q", queue_id])
            .output()
            .with_context(|| format!("running {}", self.postcat.to_string_lossy()))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if says_vanished(&stderr) {
                return Ok(Fetched::Vanished);
            }
            bail!(
                "{} -hb -q {queue_id} failed ({}): {}",
                self.postcat.to_string_lossy(),
                out.status,
                stderr.trim()
            );
        }
        let message = message_from_postcat(out.stdout, queue_id);
        if message.len() > limit {
            bail!(
                "queued message {queue_id} is {} bytes, over the limit of {limit}",
                message.len()
            );
        }
        Ok(Fetched::Message(message))
    }

    /// Puts messages on hold with `postsuper -h -` (IDs on standard input); returns the IDs
    /// postsuper reports as placed on hold. An ID that is no longer in the incoming, active or
    /// deferred queue is not reported and not an error.
    ///
    /// # Errors
    /// When postsuper cannot be run or fails.
    pub fn hold(&self, ids: &[&str]) -> anyhow::Result<HashSet<String>> {
        if let Some(bad) = ids.iter().find(|id| !is_queue_id(id)) {
            bail!("not a queue ID: {bad:?}");
        }
        let name = self.postsuper.to_string_lossy();
        let mut child = self
            .command(&self.postsuper)
            .args(["-h", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {name}"))?;
        let mut input = String::with_capacity(ids.len() * 16);
        for id in ids {
            input.push_str(id);
            input.push('\n');
        }
        if let Some(mut stdin) = child.stdin.take() {
            // A postsuper that exits early closes the pipe; its status says why.
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child
            .wait_with_output()
            .with_context(|| format!("waiting for {name}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("{name} -h - failed ({}): {}", out.status, stderr.trim());
        }
        Ok(parse_held(&stderr))
    }
}

/// A tool's command: the environment variable, else `name` on `$PATH`, else `/usr/sbin/name`.
fn tool(var: &str, name: &str) -> OsString {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return v;
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    let sbin = Path::new("/usr/sbin").join(name);
    if !on_path && sbin.is_file() {
        sbin.into_os_string()
    } else {
        OsString::from(name)
    }
}

/// At most `max` characters of `s`, with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two lines as Postfix 3.7 prints them.
    const LISTING: &str = concat!(
        r#"{"queue_name": "deferred", "queue_id": "C814BC6414", "arrival_time": 1795848924, "message_size": 3502, "forced_expire": false, "sender": "alice@localhost", "recipients": [{"address": "bob@example.com", "delay_reason": "deferred transport"}]}"#,
        "\n",
        r#"{"queue_name": "hold", "queue_id": "4XbQ2k1Xyvz1rS", "arrival_time": 1795848925, "message_size": 812, "forced_expire": false, "sender": "", "recipients": [{"address": "carol@example.com"}, {"address": "dave@example.com"}]}"#,
        "\n"
    );

    #[test]
    fn postqueue_lines_are_read() {
        let listing = parse_listing(LISTING, &[QueueSelection::All]);
        assert!(listing.bad_lines.is_empty(), "{:?}", listing.bad_lines);
        assert_eq!(
            listing.entries,
            vec![
                QueueEntry {
                    queue_name: "deferred".into(),
                    queue_id: "C814BC6414".into(),
                    sender: "alice@localhost".into(),
                    message_size: 3502,
                },
                QueueEntry {
                    queue_name: "hold".into(),
                    queue_id: "4XbQ2k1Xyvz1rS".into(),
                    sender: "".into(),
                    message_size: 812,
                },
            ]
        );
    }

    #[test]
    fn queues_are_selected_by_name() {
        let ids = |sel: &[QueueSelection]| -> Vec<String> {
            parse_listing(LISTING, sel)
                .entries
                .into_iter()
                .map(|e| e.queue_id)
                .collect()
        };
        assert_eq!(ids(&[QueueSelection::Hold]), vec!["4XbQ2k1Xyvz1rS"]);
        assert_eq!(ids(&[QueueSelection::Deferred]), vec!["C814BC6414"]);
        assert!(ids(&[QueueSelection::Active, QueueSelection::Incoming]).is_empty());
        assert_eq!(
            ids(&[QueueSelection::Hold, QueueSelection::Deferred]).len(),
            2
        );
        assert!(QueueSelection::All.matches("maildrop"));
        assert!(!QueueSelection::Hold.matches("deferred"));
    }

    #[test]
    fn bad_postqueue_lines_are_reported_not_fatal() {
        let text = format!(
            "{LISTING}not json\n{}\n{}\n\n",
            r#"{"queue_name": "hold"}"#, r#"{"queue_name": "hold", "queue_id": "-d ALL"}"#
        );
        let listing = parse_listing(&text, &[QueueSelection::All]);
        assert_eq!(listing.entries.len(), 2);
        assert_eq!(listing.bad_lines.len(), 3, "{:?}", listing.bad_lines);
        assert!(listing.bad_lines[2].contains("not a queue ID"));
    }

    #[test]
    fn queue_ids_are_letters_and_digits() {
        assert!(is_queue_id("C814BC6414"));
        assert!(is_queue_id("4XbQ2k1Xyvz1rS"));
        assert!(!is_queue_id(""));
        assert!(!is_queue_id("-h"));
        assert!(!is_queue_id("ALL deferred"));
        assert!(!is_queue_id("C814BC6414\n"));
    }

    #[test]
    fn postcat_without_markers_is_the_message() {
        let out = b"Subject: hi\n\nbody\n".to_vec();
        assert_eq!(message_from_postcat(out.clone(), "C814BC6414"), out);
    }

    #[test]
    fn postcat_markers_of_this_id_are_stripped() {
        let out = b"*** ENVELOPE RECORDS deferred/C/C814BC6414 ***\nsender: a@b\n\
*** MESSAGE CONTENTS deferred/C/C814BC6414 ***\r\nSubject: hi\n\nbody\n\
*** HEADER EXTRACTED deferred/C/C814BC6414 ***\n\
*** MESSAGE FILE END deferred/C/C814BC6414 ***\n"
            .to_vec();
        assert_eq!(
            message_from_postcat(out, "C814BC6414"),
            b"Subject: hi\n\nbody\n"
        );
        let end_only = b"Subject: hi\n\nbody\n*** MESSAGE FILE END C814BC6414 ***\n".to_vec();
        assert_eq!(
            message_from_postcat(end_only, "C814BC6414"),
            b"Subject: hi\n\nbody\n"
        );
    }

    #[test]
    fn body_lines_that_look_like_markers_stay() {
        let out = b"Subject: hi\n\n*** MESSAGE FILE END deferred/C/OTHERID ***\n\
*** NOTICE *** read this\n*** message contents deferred/C/C814BC6414 ***\n"
            .to_vec();
        assert_eq!(message_from_postcat(out.clone(), "C814BC6414"), out);
    }

    #[test]
    fn vanished_messages_are_told_apart() {
        assert!(says_vanished(
            "postcat: fatal: open queue file C814BC6414: No such file or directory\n"
        ));
        assert!(!says_vanished(
            "postcat: fatal: open queue file C814BC6414: Permission denied\n"
        ));
    }

    #[test]
    fn privilege_problems_are_told_apart() {
        assert!(says_denied(
            "postcat: fatal: open queue file C814BC6414: Permission denied"
        ));
        assert!(!says_denied("postcat: fatal: corrupted queue file"));
    }

    #[test]
    fn postsuper_reports_what_it_held() {
        let stderr = "postsuper: C814BC6414: placed on hold\n\
postsuper: 4XbQ2k1Xyvz1rS: placed on hold\n\
postsuper: warning: something else\n\
postsuper: Placed on hold: 2 messages\n";
        let held = parse_held(stderr);
        assert_eq!(held.len(), 2);
        assert!(held.contains("C814BC6414") && held.contains("4XbQ2k1Xyvz1rS"));
        assert!(parse_held("postsuper: Placed on hold: 0 messages\n").is_empty());
    }

    #[test]
    fn long_lines_are_shortened_in_reports() {
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("äöü", 2), "äö…");
    }
}
