//! Structured JSON logs on stdout: one object per line, with the fields of
//! the current request's span (its `request_id`) in every line.

use tracing_subscriber::EnvFilter;

/// `filter` is a level (`info`) or a full `RUST_LOG`-style directive.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .init();
}
