//! Logging set-up: JSON lines on Lambda (CloudWatch adds the timestamps), readable
//! text locally. `RUST_LOG` filters, `info` by default. Every line passes through the
//! redacting writer, so a secret in use never reaches the log, whatever logged it.

use tracing_subscriber::EnvFilter;

use crate::redact::RedactingWriter;

/// Installs the process's log subscriber (JSON lines to stdout on Lambda, text to
/// stderr elsewhere); a second call keeps the first.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = if on_lambda {
        builder
            .json()
            .without_time()
            .with_current_span(false)
            .with_writer(|| RedactingWriter(std::io::stdout()))
            .try_init()
    } else {
        builder
            .with_ansi(false)
            .with_writer(|| RedactingWriter(std::io::stderr()))
            .try_init()
    };
}
