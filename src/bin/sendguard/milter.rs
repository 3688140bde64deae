//! `sendguard milter`: the MTA hook as a daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use sendguard::milter::{serve, termination_signal, Milter, MilterConfig, MilterError, SocketSpec};
use tracing_subscriber::EnvFilter;

/// Help text after the options: exit status and signals.
pub const MILTER_HELP: &str = "\
The milter scores each message at end-of-message, adds an X-Sendguard header and accepts
(pass, tag), quarantines (hold: Postfix's hold queue) or rejects (550 5.7.1) it. Errors never
lose mail: on_error = tempfail (451 4.7.1, the default) or accept. Every setting is documented
in contrib/sendguard.toml; flags override the config file.

Campaign detection ([campaign] in the config, on by default): each sender (the SASL user, else
the envelope sender) is watched over 10 min, 1 h and 24 h; when one turns into a campaign (one
letter to many domains, far more recipients than its learned peak, or two fraud holds in a
row) every further message from it is held, one WARN line (and the optional alert_command)
reports the incident, and `sendguard senders list|show|release|block` acts on the running
daemon through its control socket. state_file keeps open breakers across restarts;
state = \"redis://HOST:PORT/DB\" (or --state) shares the state between several MTAs, and when
Redis is unavailable each message is decided in process (logged, counted in metrics).

Logging: one line per message on standard error; RUST_LOG sets the level (default info).

Signals:
  SIGHUP           reload the model file; a file that does not load keeps the old model
  SIGTERM, SIGINT  refuse new connections, finish the sessions in flight (at most 30 s), exit 0

Exit status:
  0  stopped by SIGTERM or SIGINT
  1  the listener failed while running
  2  could not start: bad socket, config file, model, or the socket could not be bound";

/// Arguments of `milter`.
#[derive(clap::Args)]
pub struct Args {
    /// Socket in libmilter syntax: inet:PORT@HOST, inet:PORT (127.0.0.1), inet6:PORT@HOST,
    /// unix:PATH or local:PATH [default: the config's `socket`, else inet:8894@127.0.0.1].
    #[arg(long, value_name = "SPEC")]
    socket: Option<SocketSpec>,
    /// Model file [default: the config's `model`, else the shipped default model].
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// TOML config file (see contrib/sendguard.toml) [default: none, every setting at its default].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (GET /metrics), e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Only add headers; accept every message.
    #[arg(long)]
    dry_run: bool,
    /// Where the campaign state lives: redis://HOST:PORT/DB shares it between MTAs in Redis,
    /// a path keeps it in that file [default: the config's `[campaign] state` or `state_file`,
    /// else in memory].
    #[arg(long, value_name = "URL|PATH")]
    state: Option<String>,
}

/// Runs `sendguard milter` until SIGTERM or SIGINT.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();

    let mut config = match &args.config {
        Some(path) => MilterConfig::from_file(path)?,
        None => MilterConfig::default(),
    };
    if let Some(socket) = args.socket {
        config.socket = socket;
    }
    if let Some(model) = args.model {
        config.model = Some(model);
    }
    if args.metrics.is_some() {
        config.metrics = args.metrics;
    }
    config.dry_run |= args.dry_run;
    if let Some(state) = &args.state {
        config
            .campaign
            .set_state(state)
            .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
        config.validate().context("--state")?;
    }

    let model_path = match &config.model {
        Some(p) => p.clone(),
        None => sendguard::default_model_path()?,
    };
    let classifier = sendguard::Classifier::load(&model_path)
        .with_context(|| format!("loading model {}", model_path.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let milter = Milter::new(config.clone(), classifier, Some(model_path));
    let result = runtime.block_on(async {
        let shutdown = termination_signal()?;
        serve(milter, &config.socket, config.metrics, shutdown).await
    });
    // A scan still running on a blocking thread gets a moment to finish; its session is gone.
    runtime.shutdown_timeout(Duration::from_secs(10));
    match result {
        Ok(()) => {
            tracing::info!("sendguard milter stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(MilterError::Serve(e)) => {
            tracing::error!(error = %e, "sendguard milter failed");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
