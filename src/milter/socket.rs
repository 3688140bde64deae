//! Where the milter listens: libmilter socket syntax, binding, and the Unix socket file's life.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use indymilter::EitherListener;
use tokio::net::{TcpListener, UnixListener};

use super::MilterError;

/// A milter socket in libmilter syntax.
///
/// | written | means |
/// |---|---|
/// | `inet:PORT@HOST` | TCP on HOST (a name or an IPv4 address) |
/// | `inet:PORT` | TCP on 127.0.0.1 (libmilter would listen on every interface; a content filter should not be reachable from the network unless asked) |
/// | `inet6:PORT@HOST` | TCP on an IPv6 address (`::1` or `[::1]`) |
/// | `inet6:PORT` | TCP on `::1` |
/// | `unix:PATH`, `local:PATH` | a Unix socket file |
///
/// Postfix's own spelling, `inet:HOST:PORT` (`inet:127.0.0.1:8894`, `inet:[::1]:8894`), is
/// accepted too, so a line can be copied from `main.cf`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum SocketSpec {
    /// A TCP socket.
    Inet {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket file.
    Unix(PathBuf),
}

impl FromStr for SocketSpec {
    type Err = MilterError;

    fn from_str(spec: &str) -> Result<Self, MilterError> {
        let bad = |reason: &str| MilterError::SocketSpec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (kind, rest) = spec
            .split_once(':')
            .ok_or_else(|| bad("expected inet:PORT@HOST, inet6:PORT@HOST or unix:PATH"))?;
        match kind.to_ascii_lowercase().as_str() {
            "unix" | "local" => {
                if rest.is_empty() {
                    Err(bad("the socket path is empty"))
                } else {
                    Ok(SocketSpec::Unix(PathBuf::from(rest)))
                }
            }
            family @ ("inet" | "inet6") => {
                let default_host = if family == "inet" { "127.0.0.1" } else { "::1" };
                let (port, host) = match rest.split_once('@') {
                    Some((port, host)) => (port, host),
                    None => match rest.rsplit_once(':') {
                        // Postfix's inet:HOST:PORT.
                        Some((host, port)) if !host.is_empty() => (port, host),
                        _ => (rest, default_host),
                    },
                };
                let port: u16 = port
                    .parse()
                    .map_err(|_| bad(&format!("{port:?} is not a port number")))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() {
                    return Err(bad("the host is empty"));
                }
                if family == "inet6" && host.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(bad(&format!("{host:?} is not an IPv6 address")));
                }
                Ok(SocketSpec::Inet {
                    host: host.to_string(),
                    port,
                })
            }
            _ => Err(bad(&format!(
                "unknown socket type {kind:?} (inet, inet6, unix or local)"
            ))),
        }
    }
}

impl TryFrom<String> for SocketSpec {
    type Error = MilterError;

    fn try_from(s: String) -> Result<Self, MilterError> {
        s.parse()
    }
}

impl fmt::Display for SocketSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketSpec::Inet { host, port } if host.contains(':') => {
                write!(f, "inet6:{port}@{host}")
            }
            SocketSpec::Inet { host, port } => write!(f, "inet:{port}@{host}"),
            SocketSpec::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The bound milter listener.
pub(crate) type MilterListener = EitherListener<TcpListener, UnixListener>;

/// Removes the Unix socket file when dropped (the daemon exits).
pub(crate) struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds the socket. A Unix socket file left by a daemon that died is removed first; one that
/// still answers belongs to a running milter and is an error, and so is a path that is not a
/// socket.
pub(crate) async fn bind(
    spec: &SocketSpec,
    mode: u32,
) -> Result<(MilterListener, Option<SocketFile>), MilterError> {
    let err = |source| MilterError::Bind {
        socket: spec.to_string(),
        source,
    };
    match spec {
        SocketSpec::Inet { host, port } => {
            let listener = TcpListener::bind((host.as_str(), *port))
                .await
                .map_err(err)?;
            Ok((EitherListener::Tcp(listener), None))
        }
        SocketSpec::Unix(path) => {
            remove_stale(path).map_err(err)?;
            let listener = UnixListener::bind(path).map_err(err)?;
            let guard = SocketFile(path.clone());
            set_mode(path, mode).map_err(err)?;
            Ok((EitherListener::Unix(listener), Some(guard)))
        }
    }
}

/// Binds a Unix socket at `path` (a stale file removed first, as for the milter socket) with
/// permissions `mode`; the guard removes the file when dropped.
pub(crate) fn bind_unix(path: &Path, mode: u32) -> std::io::Result<(UnixListener, SocketFile)> {
    remove_stale(path)?;
    let listener = UnixListener::bind(path)?;
    let guard = SocketFile(path.to_path_buf());
    set_mode(path, mode)?;
    Ok((listener, guard))
}

fn remove_stale(path: &Path) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            "the path exists and is not a socket; not removing it",
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(Error::new(
            ErrorKind::AddrInUse,
            "another process is listening on this socket",
        ));
    }
    std::fs::remove_file(path)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(host: &str, port: u16) -> SocketSpec {
        SocketSpec::Inet {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn libmilter_syntax() {
        let cases = [
            ("inet:8894@127.0.0.1", inet("127.0.0.1", 8894)),
            ("inet:8894@localhost", inet("localhost", 8894)),
            ("inet:8894", inet("127.0.0.1", 8894)),
            ("inet6:8894@::1", inet("::1", 8894)),
            ("inet6:8894@[::1]", inet("::1", 8894)),
            ("inet6:8894", inet("::1", 8894)),
            ("inet:127.0.0.1:8894", inet("127.0.0.1", 8894)),
            ("inet:[::1]:8894", inet("::1", 8894)),
            (
                "unix:/run/sendguard/milter.sock",
                SocketSpec::Unix("/run/sendguard/milter.sock".into()),
            ),
            ("local:rel.sock", SocketSpec::Unix("rel.sock".into())),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<SocketSpec>().unwrap(), want, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "inet:8894@127.0.0.1",
            "inet6:8894@::1",
            "unix:/run/sendguard/milter.sock",
        ] {
            let spec: SocketSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
            assert_eq!(spec.to_string().parse::<SocketSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn bad_specs_say_why() {
        for (text, why) in [
            ("8894", "expected inet"),
            ("tcp:8894", "unknown socket type"),
            ("inet:port@host", "not a port number"),
            ("inet:70000@127.0.0.1", "not a port number"),
            ("inet:8894@", "host is empty"),
            ("inet6:8894@127.0.0.1", "not an IPv6 address"),
            ("unix:", "path is empty"),
        ] {
            let e = text.parse::<SocketSpec>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(text), "{text}: {e}");
        }
    }
}
