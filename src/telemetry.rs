//! Logs (`tracing`). Metrics (Prometheus text at `/metrics`) are
//! `switchboard_web`'s.

use switchboard_core::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. `RUST_LOG`, when set, wins over the
/// configured filter. Safe to call more than once (later calls do nothing).
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    // Colours only for a person at a terminal, not in log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _already_set = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}
