//! The embedded state: a [`Tracker`] as JSON in one local file, so a restart keeps an open
//! breaker open and the windows and baselines survive.
//!
//! The file is written atomically: a temporary file beside it (mode 0600), `fsync`, `rename`
//! over the old one, `fsync` of the directory. A reader never sees half a file, and a crash
//! leaves the old or the new state. The milter writes it after every trip, release and block,
//! at most every `save_interval_secs` otherwise, and at shutdown.
//!
//! At start ([`load`]): no file is a fresh start; a file that cannot be parsed is renamed aside
//! (`STATE.corrupt-UNIXTIME`, kept for a post-mortem) and the tracker starts empty; a file
//! written under other window settings keeps only its open breakers (tripped, blocked, in
//! grace), since the windows' shapes depend on the settings.
//!
//! ```text
//! {"format":"sendguard-campaign-state","version":1,"saved_at":1764316800,"tracker":{...}}
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CampaignConfig, ConfigError, SenderState, Tracker};

/// The `format` field of a state file.
pub const FORMAT: &str = "sendguard-campaign-state";
/// The `version` field this code writes and reads.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'a str,
    version: u32,
    saved_at: u64,
    tracker: &'a Tracker,
}

#[derive(Deserialize)]
struct FileIn {
    format: String,
    version: u32,
    tracker: Tracker,
}

/// What [`load`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    /// No state file: an empty tracker.
    Fresh,
    /// The state was restored as saved.
    Restored {
        /// Senders restored.
        senders: usize,
        /// Of them, tripped or blocked.
        open: usize,
    },
    /// The file was written under other window settings: only the open breakers (and grace
    /// periods) were kept.
    Adapted {
        /// Breakers kept (tripped, blocked or in grace).
        kept: usize,
    },
    /// The file could not be read as a state file; it was renamed aside (when possible) and
    /// the tracker starts empty.
    Corrupt {
        /// Where the bad file is now (`None`: it could not be moved).
        moved_to: Option<PathBuf>,
        /// Why it was rejected.
        error: String,
    },
}

impl std::fmt::Display for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loaded::Fresh => f.write_str("no state file, starting empty"),
            Loaded::Restored { senders, open } => {
                write!(f, "restored {senders} senders ({open} breakers open)")
            }
            Loaded::Adapted { kept } => write!(
                f,
                "window settings changed: kept {kept} open breakers, counts start empty"
            ),
            Loaded::Corrupt { moved_to, error } => write!(
                f,
                "unreadable state file ({error}); {}; starting empty",
                match moved_to {
                    Some(p) => format!("moved aside to {}", p.display()),
                    None => "it could not be moved aside".to_string(),
                }
            ),
        }
    }
}

/// The tracker saved in `path` under `config` (see the module docs), and what was found.
/// Errors: `config` is invalid, or the file exists but cannot be read (permissions: starting
/// empty would silently close open breakers, so that is for the administrator to fix).
pub fn load(path: &Path, config: CampaignConfig) -> Result<(Tracker, Loaded), LoadError> {
    let fresh = Tracker::new(config.clone())?;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((fresh, Loaded::Fresh)),
        Err(source) => {
            return Err(LoadError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let parsed = serde_json::from_slice::<FileIn>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|f| {
            if f.format != FORMAT || f.version != VERSION {
                Err(format!(
                    "format {:?} version {}, expected {FORMAT:?} version {VERSION}",
                    f.format, f.version
                ))
            } else if f.tracker.config.check().is_err() {
                Err("the saved settings are invalid".to_string())
            } else {
                Ok(f.tracker)
            }
        });
    let saved = match parsed {
        Ok(t) => t,
        Err(error) => {
            let now = now_unix();
            let aside = PathBuf::from(format!("{}.corrupt-{now}", path.display()));
            let moved_to = std::fs::rename(path, &aside).ok().map(|()| aside);
            return Ok((fresh, Loaded::Corrupt { moved_to, error }));
        }
    };
    Ok(adopt(saved, fresh))
}

/// Moves `saved` under `fresh`'s settings.
fn adopt(mut saved: Tracker, mut fresh: Tracker) -> (Tracker, Loaded) {
    let open = |t: &Tracker| t.senders.values().filter(|s| s.pinned()).count();
    if same_shape(&saved.config, &fresh.config) {
        saved.config = fresh.config;
        let loaded = Loaded::Restored {
            senders: saved.senders.len(),
            open: open(&saved),
        };
        return (saved, loaded);
    }
    let days = fresh.config.baseline_days;
    for (key, st) in saved.senders {
        if st.pinned() || st.grace_until > 0 {
            fresh.senders.insert(
                key,
                SenderState {
                    grace_until: st.grace_until,
                    incident: st.incident,
                    blocked_since: st.blocked_since,
                    ..SenderState::new(st.last_at, days)
                },
            );
        }
    }
    let kept = fresh.senders.len();
    (fresh, Loaded::Adapted { kept })
}

/// Whether the saved rings, sets and baselines fit the new settings.
pub(super) fn same_shape(a: &CampaignConfig, b: &CampaignConfig) -> bool {
    a.short_window_s == b.short_window_s
        && a.hour_window_s == b.hour_window_s
        && a.day_window_s == b.day_window_s
        && a.baseline_days == b.baseline_days
        && a.max_domains_tracked == b.max_domains_tracked
        && a.max_spread_tracked == b.max_spread_tracked
}

/// Errors of [`load`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file exists but cannot be read.
    #[error("cannot read campaign state {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The state file's bytes for `tracker` (cheap enough to take under the tracker's lock, then
/// write outside it with [`write_atomic`]).
pub fn snapshot(tracker: &Tracker, saved_at: u64) -> Vec<u8> {
    serde_json::to_vec(&FileOut {
        format: FORMAT,
        version: VERSION,
        saved_at,
        tracker,
    })
    .expect("the tracker serialises")
}

/// Writes `bytes` to `path` atomically: temporary file (mode 0600) beside it, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the state file path has no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The wall clock in unix seconds (0 before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Saves `tracker` to `path` ([`snapshot`] and [`write_atomic`]).
pub fn save(path: &Path, tracker: &Tracker, saved_at: u64) -> std::io::Result<()> {
    write_atomic(path, &snapshot(tracker, saved_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_corrupt_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (mut t, l) = load(&path, CampaignConfig::default()).unwrap();
        assert_eq!(l, Loaded::Fresh);
        t.block("mallory", 1000);
        save(&path, &t, 1000).unwrap();
        let (back, l) = load(&path, CampaignConfig::default()).unwrap();
        assert_eq!(
            l,
            Loaded::Restored {
                senders: 1,
                open: 1
            }
        );
        assert_eq!(back, t);

        // Other window settings: the block survives, nothing else.
        let other = CampaignConfig {
            short_window_s: 300,
            ..CampaignConfig::default()
        };
        let (adapted, l) = load(&path, other).unwrap();
        assert_eq!(l, Loaded::Adapted { kept: 1 });
        assert!(adapted.sender("mallory", 1001).unwrap().blocked_since == Some(1000));

        std::fs::write(&path, b"{not json").unwrap();
        let (t, l) = load(&path, CampaignConfig::default()).unwrap();
        assert!(t.is_empty());
        let Loaded::Corrupt {
            moved_to: Some(aside),
            ..
        } = l
        else {
            panic!("{l:?}")
        };
        assert!(aside.exists() && !path.exists());
    }
}
