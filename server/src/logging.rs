//! Where log lines go and how they look: text for a person at a terminal, JSON (one object a
//! line) for a log collector. `RUST_LOG` filters either way.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Sets up logging for the process; a second call changes nothing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        // Event fields at the top level, and the request's id from its span, so a collector
        // can filter on `request_id` without digging.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
