//! Process plumbing every service binary needs: logging set-up and the shutdown signal.
//!
//! Logging is set up here and only here: [`init_logging`] reads `LOG_FORMAT` (`text`,
//! the default, or `json`) and `RUST_LOG` (the filter, default `info`).

use std::str::FromStr;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, Vars};
use crate::constants::env::LOG_FORMAT;

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line (`tracing-subscriber`'s JSON format): the event's fields
    /// under `fields`, the enclosing span's (connection identity, request id) under `span`.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected text or json, got {other:?}")),
        }
    }
}

impl LogFormat {
    /// `LOG_FORMAT` from `vars` (default text); any other spelling is an error.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        vars.parse_or(LOG_FORMAT, Self::Text)
    }
}

/// Reads `LOG_FORMAT` from `vars` and installs the subscriber (see [`init_tracing`]).
pub fn init_logging(vars: &Vars) -> Result<(), ConfigError> {
    init_tracing(LogFormat::from_vars(vars)?);
    Ok(())
}

/// Installs the `tracing` subscriber writing `format` to stderr, level from `RUST_LOG`
/// (default `info`); text is coloured only when stderr is a terminal (a log file or
/// journald gets no escape codes). A second call (tests, embedding) keeps the first
/// subscriber.
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal as _;
    install(format, std::io::stderr, std::io::stderr().is_terminal());
}

/// [`init_tracing`] with another destination, never coloured (tests capture the lines
/// this way).
pub fn init_tracing_with<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    install(format, writer, false);
}

fn install<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM: the shutdown future production passes to a
/// service's `run`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_accepts_text_and_json_only() {
        let parse = |v: &str| LogFormat::from_vars(&Vars::from_pairs([(LOG_FORMAT, v)]));
        assert_eq!(LogFormat::from_vars(&Vars::default()), Ok(LogFormat::Text));
        assert_eq!(parse("json"), Ok(LogFormat::Json));
        assert_eq!(parse("JSON"), Ok(LogFormat::Json));
        assert_eq!(parse("text"), Ok(LogFormat::Text));
        let err = parse("jsonl").unwrap_err();
        assert_eq!(err.key, LOG_FORMAT);
        assert!(err.reason.contains("expected text or json"), "{err}");
    }
}
