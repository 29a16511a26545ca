//! Log setup shared by the three functions: one JSON object per line, fields at the
//! top level, so CloudWatch metric filters can match `{ $.event = "run_finished" }`.

/// Installs the JSON log subscriber (level from `RUST_LOG`, default `info`). Safe to
/// call twice (tests): the second call is a no-op.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .with_env_filter(filter)
        .try_init();
}
