//! The milter's settings: a TOML file (`contrib/sendguard.toml` documents every key), overridden
//! by command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::{MilterError, SocketSpec};
use crate::campaign::CampaignConfig;

/// What to do when a message cannot be scored (internal error, timeout, panic, unreadable
/// message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Answer `451 4.7.1`: the MTA keeps the message and retries later (default).
    #[default]
    Tempfail,
    /// Deliver the message with a header saying it was not scanned.
    Accept,
}

/// Settings of `sendguard milter`. Every field has a default (see [`MilterConfig::default`]);
/// a TOML file sets some of them and unknown keys are an error that names the key.
///
/// | key | default | purpose |
/// |---|---|---|
/// | `socket` | `inet:8894@127.0.0.1` | where the MTA connects (libmilter syntax) |
/// | `socket_mode` | `0o660` | permissions of a Unix socket |
/// | `model` | the shipped default model | model file (reloaded on `SIGHUP`) |
/// | `metrics` | none | `127.0.0.1:PORT` for the Prometheus endpoint |
/// | `dry_run` | `false` | only add headers, never hold, reject or tempfail on a verdict |
/// | `reject` | `true` | reject-level mail gets `550 5.7.1`; `false` holds it instead |
/// | `reject_text` | see [`DEFAULT_REJECT_TEXT`] | text of the 550 reply |
/// | `tempfail_text` | see [`DEFAULT_TEMPFAIL_TEXT`] | text of the 451 reply |
/// | `header_name` | `X-Sendguard` | header added to every message |
/// | `reasons` | `3` | top features named in the header and the log |
/// | `max_message_bytes` | `10485760` (10 MiB) | larger messages are accepted unscanned |
/// | `scan_timeout_ms` | `5000` | longer scans count as errors |
/// | `on_error` | `tempfail` | `tempfail` or `accept` when scoring fails |
/// | `exempt_senders` | `[]` | envelope senders (`user@dom` or `@dom`) never scanned |
/// | `exempt_users` | `[]` | SASL users (`{auth_authen}`) never scanned |
/// | `max_connections` | `500` | concurrent MTA connections |
/// | `connection_timeout_secs` | `7210` | idle MTA connection is closed after this |
/// | `[campaign]` | see [`CampaignSettings`] | per-sender campaign detection and the breaker |
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MilterConfig {
    /// Where the MTA connects: `inet:PORT@HOST`, `inet:PORT` (127.0.0.1), `inet6:PORT@HOST`,
    /// `inet6:PORT` (::1), `unix:PATH` or `local:PATH`. Default `inet:8894@127.0.0.1`.
    pub socket: SocketSpec,
    /// Permissions of a Unix socket file. Default `0o660` (the MTA's group must be the
    /// milter's group). In TOML an integer (`0o660`) or a string (`"0660"`).
    #[serde(deserialize_with = "de_mode")]
    pub socket_mode: u32,
    /// Model file. Default none: the shipped default model (see
    /// [`crate::default_model_path`]).
    pub model: Option<PathBuf>,
    /// Address of the Prometheus text endpoint (`GET /metrics`). Default none (off).
    pub metrics: Option<SocketAddr>,
    /// Only add headers: every message is accepted. Default `false`.
    pub dry_run: bool,
    /// Whether reject-level mail is refused with `550 5.7.1`; when `false` it is held like
    /// hold-level mail. Default `true`.
    pub reject: bool,
    /// Text of the `550 5.7.1` reply. Printable ASCII, no `%`, at most 900 bytes. Default
    /// [`DEFAULT_REJECT_TEXT`].
    pub reject_text: String,
    /// Text of the `451 4.7.1` reply on an error. Printable ASCII, no `%`, at most 900 bytes.
    /// Default [`DEFAULT_TEMPFAIL_TEXT`].
    pub tempfail_text: String,
    /// Name of the header added to every message; headers of this name already in the message
    /// are removed (a sender cannot forge a verdict). Default `X-Sendguard`.
    pub header_name: String,
    /// How many top features the header and the log line name for a flagged message. Default 3.
    pub reasons: usize,
    /// Messages larger than this (headers and body as the MTA sends them) are not buffered nor
    /// scored: they are accepted with `unscanned size>LIMIT` in the header. Default 10 MiB, about
    /// Postfix's `message_size_limit`. Memory use is bounded by `max_connections` × this.
    pub max_message_bytes: usize,
    /// A scan taking longer than this is abandoned and handled as `on_error`. Default 5000 ms
    /// (Postfix's `milter_content_timeout` is 300 s).
    pub scan_timeout_ms: u64,
    /// What happens when a message cannot be scored. Default `tempfail`.
    pub on_error: OnError,
    /// Envelope senders never scanned: `user@example.org` (exact, case-insensitive) or
    /// `@example.org` (any sender at that domain, not its subdomains). Default empty.
    pub exempt_senders: Vec<String>,
    /// Authenticated users (SASL login, macro `{auth_authen}`) never scanned, exact and
    /// case-insensitive. Default empty.
    pub exempt_users: Vec<String>,
    /// Concurrent MTA connections; more wait to be accepted (and the MTA times out). Default
    /// 500: each Postfix smtpd or cleanup process talking to the milter holds one, and
    /// `default_process_limit` is 100 per service.
    pub max_connections: usize,
    /// An MTA connection idle for this long is closed. Default 7210 s (libmilter's).
    pub connection_timeout_secs: u64,
    /// Per-sender campaign detection, the `[campaign]` table. Default on, in memory only.
    pub campaign: CampaignSettings,
}

/// The `[campaign]` table: the milter's own keys below, and every key of
/// [`CampaignConfig`] (windows, thresholds, caps) in the same table. Unknown keys are an error.
///
/// | key | default | purpose |
/// |---|---|---|
/// | `enabled` | `true` | track senders and hold what an open breaker holds |
/// | `state` | none | `redis://HOST:PORT/DB`: state shared by several MTAs in Redis; a path: as `state_file` |
/// | `state_file` | none | JSON file keeping the state across restarts |
/// | `redis_prefix` | `sendguard:campaign` | prefix of the Redis keys (several mail systems on one Redis) |
/// | `redis_timeout_ms` | `200` | each message's budget for Redis (its turn, connecting, reading, writing, retrying); beyond it the message is decided in process |
/// | `save_interval_secs` | `60` | at most this long between saves (trips, releases and blocks save at once) |
/// | `alert_command` | none | argv run once per incident with the alert JSON on stdin |
/// | `alert_timeout_secs` | `30` | the alert command is killed after this |
/// | `control_socket` | `/run/sendguard/control.sock` | Unix socket for `sendguard senders` (`""`: off) |
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct CampaignSettings {
    /// Whether senders are tracked at all. Default `true`.
    pub enabled: bool,
    /// Where the tracker is saved (JSON, written atomically). Default none: in memory only, a
    /// restart closes every breaker. Exclusive with `redis_url`.
    pub state_file: Option<PathBuf>,
    /// The state shared by several MTAs in Redis (`redis://[:PASSWORD@]HOST[:PORT][/DB]` or
    /// `redis+unix:///PATH`), set by the `state` key. Default none. When Redis is unavailable
    /// each message is decided in process ([`crate::campaign::shared`]).
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys. Default `sendguard:campaign`.
    pub redis_prefix: String,
    /// Each message's time budget for Redis, in milliseconds: waiting for its turn behind
    /// the sender's other messages, connecting, reading, writing and retrying all count
    /// (a lost reply's re-read may add half of it). Also the budget of each request of an
    /// administrator command. Default 200.
    pub redis_timeout_ms: u64,
    /// Longest time between two saves of the state file while mail flows. Default 60 s.
    pub save_interval_secs: u64,
    /// A command run once per incident, with the alert as one JSON object on stdin: an argv
    /// list, run directly (no shell; for one, write `["/bin/sh", "-c", "..."]`). It runs
    /// detached, never delays or fails a message; its stderr goes to the daemon's log.
    /// Default none.
    pub alert_command: Option<Vec<String>>,
    /// The alert command is killed when it runs longer than this. Default 30 s.
    pub alert_timeout_secs: u64,
    /// The admin socket (`sendguard senders`), mode 0600. Default
    /// `/run/sendguard/control.sock`; none turns it off.
    pub control_socket: Option<PathBuf>,
    /// The detection settings (the other keys of the table).
    pub detection: CampaignConfig,
}

/// Default path of the admin socket.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/sendguard/control.sock";

impl Default for CampaignSettings {
    fn default() -> Self {
        CampaignSettings {
            enabled: true,
            state_file: None,
            redis_url: None,
            redis_prefix: crate::campaign::shared::DEFAULT_PREFIX.to_string(),
            redis_timeout_ms: 200,
            save_interval_secs: 60,
            alert_command: None,
            alert_timeout_secs: 30,
            control_socket: Some(PathBuf::from(DEFAULT_CONTROL_SOCKET)),
            detection: CampaignConfig::default(),
        }
    }
}

impl CampaignSettings {
    /// Sets where the state lives from `state`: a URL (`scheme://...`) is the Redis to share it
    /// in, anything else the state file. Replaces both earlier settings (`--state` overrides
    /// the config file). Errors: a URL whose scheme is not Redis's.
    pub fn set_state(&mut self, state: &str) -> Result<(), String> {
        if let Some((scheme, _)) = state.split_once("://") {
            if !matches!(
                scheme.to_ascii_lowercase().as_str(),
                "redis" | "rediss" | "redis+unix" | "unix"
            ) {
                return Err(format!(
                    "campaign state {}: not a redis:// URL nor a file path",
                    crate::campaign::shared::redact(state)
                ));
            }
            self.redis_url = Some(state.to_string());
            self.state_file = None;
        } else if state.is_empty() {
            return Err("campaign state: empty".to_string());
        } else {
            self.state_file = Some(PathBuf::from(state));
            self.redis_url = None;
        }
        Ok(())
    }
}

impl TryFrom<toml::Table> for CampaignSettings {
    type Error = String;

    fn try_from(mut t: toml::Table) -> Result<Self, String> {
        fn take<T: serde::de::DeserializeOwned>(
            t: &mut toml::Table,
            key: &str,
        ) -> Result<Option<T>, String> {
            t.remove(key)
                .map(|v| v.try_into().map_err(|e| format!("campaign.{key}: {e}")))
                .transpose()
        }
        let d = CampaignSettings::default();
        let state = take::<String>(&mut t, "state")?;
        let state_file = take::<PathBuf>(&mut t, "state_file")?;
        let mut located = CampaignSettings {
            state_file: state_file.clone(),
            ..CampaignSettings::default()
        };
        if let Some(state) = &state {
            if state_file.is_some() {
                return Err(
                    "campaign.state and campaign.state_file are exclusive: set one (state takes \
                     a redis:// URL or a path)"
                        .to_string(),
                );
            }
            located.set_state(state)?;
        }
        let control_socket = match take::<String>(&mut t, "control_socket")? {
            None => d.control_socket,
            Some(s) if s.is_empty() => None,
            Some(s) => Some(PathBuf::from(s)),
        };
        Ok(CampaignSettings {
            enabled: take(&mut t, "enabled")?.unwrap_or(d.enabled),
            state_file: located.state_file,
            redis_url: located.redis_url,
            redis_prefix: take(&mut t, "redis_prefix")?.unwrap_or(d.redis_prefix),
            redis_timeout_ms: take(&mut t, "redis_timeout_ms")?.unwrap_or(d.redis_timeout_ms),
            save_interval_secs: take(&mut t, "save_interval_secs")?.unwrap_or(d.save_interval_secs),
            alert_command: take(&mut t, "alert_command")?,
            alert_timeout_secs: take(&mut t, "alert_timeout_secs")?.unwrap_or(d.alert_timeout_secs),
            control_socket,
            detection: toml::Value::Table(t)
                .try_into()
                .map_err(|e| format!("campaign: {e}"))?,
        })
    }
}

/// Default text of the 550 reply.
pub const DEFAULT_REJECT_TEXT: &str =
    "Message refused: it looks like fraud, phishing or spam. Contact your postmaster if this is wrong";
/// Default text of the 451 reply.
pub const DEFAULT_TEMPFAIL_TEXT: &str =
    "Outbound content filter temporarily unavailable, try again later";

impl Default for MilterConfig {
    fn default() -> Self {
        MilterConfig {
            socket: SocketSpec::Inet {
                host: "127.0.0.1".to_string(),
                port: 8894,
            },
            socket_mode: 0o660,
            model: None,
            metrics: None,
            dry_run: false,
            reject: true,
            reject_text: DEFAULT_REJECT_TEXT.to_string(),
            tempfail_text: DEFAULT_TEMPFAIL_TEXT.to_string(),
            header_name: "X-Sendguard".to_string(),
            reasons: 3,
            max_message_bytes: 10 * 1024 * 1024,
            scan_timeout_ms: 5000,
            on_error: OnError::Tempfail,
            exempt_senders: Vec::new(),
            exempt_users: Vec::new(),
            max_connections: 500,
            connection_timeout_secs: 7210,
            campaign: CampaignSettings::default(),
        }
    }
}

impl MilterConfig {
    /// Reads and checks a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, MilterError> {
        let text = std::fs::read_to_string(path).map_err(|source| MilterError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::from_toml(&text).map_err(|e| match e {
            MilterError::ConfigParse { message, .. } => MilterError::ConfigParse {
                path: Some(path.to_path_buf()),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Parses and checks TOML text (what [`MilterConfig::from_file`] does after reading).
    pub fn from_toml(text: &str) -> Result<Self, MilterError> {
        let config: MilterConfig = toml::from_str(text).map_err(|e| MilterError::ConfigParse {
            path: None,
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values a TOML type cannot: reply texts, the header name, limits.
    pub fn validate(&self) -> Result<(), MilterError> {
        let bad = |key: &str, why: String| Err(MilterError::InvalidConfig(format!("{key}: {why}")));
        for (key, text) in [
            ("reject_text", &self.reject_text),
            ("tempfail_text", &self.tempfail_text),
        ] {
            if text.is_empty() || text.len() > 900 {
                return bad(key, "must be 1 to 900 bytes".into());
            }
            if !text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'%') {
                return bad(key, "must be printable ASCII without `%`".into());
            }
        }
        if self.header_name.is_empty()
            || !self
                .header_name
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b':')
        {
            return bad(
                "header_name",
                format!("{:?} is not a header field name", self.header_name),
            );
        }
        if self.socket_mode > 0o777 {
            return bad(
                "socket_mode",
                format!("{:o} is not a file mode", self.socket_mode),
            );
        }
        if self.max_message_bytes == 0 {
            return bad("max_message_bytes", "must be positive".into());
        }
        if self.scan_timeout_ms == 0 {
            return bad("scan_timeout_ms", "must be positive".into());
        }
        if self.max_connections == 0 {
            return bad("max_connections", "must be positive".into());
        }
        if self.connection_timeout_secs == 0 {
            return bad("connection_timeout_secs", "must be positive".into());
        }
        if let Some(argv) = &self.campaign.alert_command {
            if argv.first().is_none_or(|a| a.is_empty()) {
                return bad(
                    "campaign.alert_command",
                    "must name a program (an argv list)".into(),
                );
            }
        }
        if self.campaign.save_interval_secs == 0 || self.campaign.alert_timeout_secs == 0 {
            return bad(
                "campaign.save_interval_secs",
                "intervals and timeouts must be positive".into(),
            );
        }
        if self.campaign.redis_timeout_ms == 0 {
            return bad("campaign.redis_timeout_ms", "must be positive".into());
        }
        if self.campaign.redis_prefix.is_empty() {
            return bad("campaign.redis_prefix", "must not be empty".into());
        }
        if let Some(url) = &self.campaign.redis_url {
            if self.campaign.state_file.is_some() {
                return bad(
                    "campaign.state",
                    "a Redis URL and a state file are exclusive".into(),
                );
            }
            if let Err(e) = redis::Client::open(url.as_str()) {
                return bad(
                    "campaign.state",
                    format!("{}: {e}", crate::campaign::shared::redact(url)),
                );
            }
            // A message may wait on Redis up to three budgets (its update, a re-read after a
            // lost reply, writing back breakers tripped in process and its re-read): all of
            // it must fit well within the scan timeout.
            if self.campaign.redis_timeout_ms.saturating_mul(3) >= self.scan_timeout_ms {
                return bad(
                    "campaign.redis_timeout_ms",
                    format!(
                        "3 x {} ms must stay below scan_timeout_ms ({} ms): a message may wait \
                         on Redis up to three times its budget",
                        self.campaign.redis_timeout_ms, self.scan_timeout_ms
                    ),
                );
            }
        }
        if let Err(e) = self.campaign.detection.check() {
            return bad("campaign", e.to_string());
        }
        for s in &self.exempt_senders {
            let local_ok = match s.split_once('@') {
                Some((_, domain)) => !domain.is_empty() && !domain.contains('@'),
                None => false,
            };
            if !local_ok {
                return bad(
                    "exempt_senders",
                    format!("{s:?} is neither user@domain nor @domain"),
                );
            }
        }
        Ok(())
    }
}

/// A file mode as an integer (`0o660` in TOML) or an octal string (`"0660"`).
fn de_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mode {
        Int(u32),
        Text(String),
    }
    match Mode::deserialize(d)? {
        Mode::Int(m) => Ok(m),
        Mode::Text(s) => {
            let digits = s.trim_start_matches("0o");
            u32::from_str_radix(digits, 8)
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an octal file mode")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(
            MilterConfig::from_toml("").unwrap(),
            MilterConfig::default()
        );
    }

    #[test]
    fn keys_are_read() {
        let c = MilterConfig::from_toml(
            r#"
socket = "unix:/run/sendguard/milter.sock"
socket_mode = 0o600
dry_run = true
reject = false
on_error = "accept"
scan_timeout_ms = 250
metrics = "127.0.0.1:9464"
exempt_senders = ["postmaster@example.org", "@lists.example.org"]
exempt_users = ["backup"]
"#,
        )
        .unwrap();
        assert_eq!(
            c.socket,
            SocketSpec::Unix(PathBuf::from("/run/sendguard/milter.sock"))
        );
        assert_eq!(c.socket_mode, 0o600);
        assert!(c.dry_run && !c.reject);
        assert_eq!(c.on_error, OnError::Accept);
        assert_eq!(c.scan_timeout_ms, 250);
        assert_eq!(c.metrics, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.exempt_senders.len(), 2);
        assert_eq!(
            MilterConfig::from_toml("socket_mode = \"0640\"")
                .unwrap()
                .socket_mode,
            0o640
        );
    }

    #[test]
    fn the_campaign_table_mixes_milter_and_detection_keys() {
        let c = MilterConfig::from_toml(
            r#"
[campaign]
state_file = "/var/lib/sendguard/campaign.json"
alert_command = ["/bin/sh", "-c", "cat >> /tmp/alerts"]
control_socket = ""
spread_threshold = 5
"#,
        )
        .unwrap();
        assert!(c.campaign.enabled);
        assert_eq!(
            c.campaign.state_file,
            Some(PathBuf::from("/var/lib/sendguard/campaign.json"))
        );
        assert_eq!(c.campaign.alert_command.as_ref().unwrap().len(), 3);
        assert_eq!(c.campaign.control_socket, None);
        assert_eq!(c.campaign.detection.spread_threshold, 5);
        for (text, key) in [
            ("[campaign]\nspread_treshold = 5", "spread_treshold"),
            ("[campaign]\nenabled = 1", "campaign.enabled"),
            ("[campaign]\nalert_command = []", "alert_command"),
            ("[campaign]\nshort_window_s = 61", "short_window_s"),
        ] {
            let e = MilterConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_campaign_state_is_a_file_or_a_redis_url() {
        let c = MilterConfig::from_toml(
            "[campaign]\nstate = \"redis://127.0.0.1:6379/2\"\nredis_prefix = \"mx\"",
        )
        .unwrap();
        assert_eq!(
            c.campaign.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379/2")
        );
        assert_eq!(
            (c.campaign.state_file, c.campaign.redis_prefix.as_str()),
            (None, "mx")
        );
        let c =
            MilterConfig::from_toml("[campaign]\nstate = \"/var/lib/sendguard/c.json\"").unwrap();
        assert_eq!(
            c.campaign.state_file,
            Some(PathBuf::from("/var/lib/sendguard/c.json"))
        );
        assert_eq!(c.campaign.redis_url, None);
        for (text, key) in [
            (
                "[campaign]\nstate = \"redis://h\"\nstate_file = \"/x\"",
                "exclusive",
            ),
            ("[campaign]\nstate = \"http://h\"", "not a redis:// URL"),
            (
                "[campaign]\nstate = \"redis://h:notaport\"",
                "campaign.state",
            ),
            ("[campaign]\nredis_timeout_ms = 0", "redis_timeout_ms"),
        ] {
            let e = MilterConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        // Three budgets for Redis must fit within the scan timeout (only with Redis).
        for (text, ok) in [
            (
                "scan_timeout_ms = 600\n[campaign]\nredis_timeout_ms = 200",
                false,
            ),
            (
                "scan_timeout_ms = 601\n[campaign]\nredis_timeout_ms = 200",
                true,
            ),
            (
                "scan_timeout_ms = 100\n[campaign]\nredis_timeout_ms = 200",
                false,
            ),
        ] {
            let text = format!("{text}\nstate = \"redis://127.0.0.1:6379/2\"");
            match MilterConfig::from_toml(&text) {
                Ok(_) => assert!(ok, "{text}"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!ok, "{text}: {e}");
                    assert!(
                        e.contains("redis_timeout_ms") && e.contains("scan_timeout_ms"),
                        "{e}"
                    );
                }
            }
        }
        // Without Redis the budget is not used.
        assert!(MilterConfig::from_toml(
            "scan_timeout_ms = 100\n[campaign]\nredis_timeout_ms = 200"
        )
        .is_ok());
        // --state replaces whichever the file set.
        let mut s = CampaignSettings {
            state_file: Some(PathBuf::from("/x")),
            ..CampaignSettings::default()
        };
        s.set_state("redis://10.0.0.5").unwrap();
        assert_eq!(
            (s.state_file, s.redis_url.as_deref()),
            (None, Some("redis://10.0.0.5"))
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let e = MilterConfig::from_toml("dry_rnu = true").unwrap_err();
        assert!(e.to_string().contains("dry_rnu"), "{e}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        for (text, key) in [
            ("on_error = \"retry\"", "retry"),
            ("socket = \"tcp:8894\"", "tcp:8894"),
            ("reject_text = \"100% sure\"", "reject_text"),
            ("header_name = \"X Sendguard\"", "header_name"),
            ("exempt_senders = [\"nobody\"]", "exempt_senders"),
            ("socket_mode = \"rw\"", "rw"),
            ("max_message_bytes = 0", "max_message_bytes"),
        ] {
            let e = MilterConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_documented_file_is_the_default() {
        let text = include_str!("../../contrib/sendguard.toml");
        // Every setting is present in the documented file, commented out as `#key = default`
        // (prose comments start with `# `): uncommented, they parse to the defaults.
        let uncommented: String = text
            .lines()
            .filter_map(|l| l.strip_prefix('#').or(l.starts_with('[').then_some(l)))
            .filter(|l| {
                (l.starts_with(|c: char| c.is_ascii_lowercase()) && l.contains(" = "))
                    || l.starts_with('[')
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let c = MilterConfig::from_toml(&uncommented).unwrap();
        assert_eq!(c, MilterConfig::default());
        for key in [
            "socket",
            "socket_mode",
            "dry_run",
            "reject",
            "reject_text",
            "tempfail_text",
            "header_name",
            "reasons",
            "max_message_bytes",
            "scan_timeout_ms",
            "on_error",
            "exempt_senders",
            "exempt_users",
            "max_connections",
            "connection_timeout_secs",
            "[campaign]",
            "enabled",
            "save_interval_secs",
            "redis_prefix",
            "redis_timeout_ms",
            "alert_timeout_secs",
            "control_socket",
            "short_window_s",
            "spread_threshold",
            "volume_floor",
            "hold_streak_classes",
            "subject_chars",
        ] {
            assert!(
                uncommented.contains(&format!("\n{key} ="))
                    || uncommented.contains(&format!("\n{key}\n"))
                    || uncommented.starts_with(key),
                "{key} missing"
            );
        }
    }
}
