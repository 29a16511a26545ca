//! `intercom-emulator`: serve the emulated Intercom API until SIGINT/SIGTERM.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the address cannot be bound,
//! 2 for bad arguments (clap).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use intercom_emulator::{Emulator, Options, UnknownAttributes};

/// An in-memory Intercom REST API emulator (not part of Intercom: `/_emulator/*`
/// exposes stats, reset, dump and the test clock).
#[derive(Debug, Parser)]
#[command(name = "intercom-emulator", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4010")]
    bind: SocketAddr,
    /// Accepted access token (repeatable); without it any bearer token is accepted.
    #[arg(long = "token", value_name = "T")]
    tokens: Vec<String>,
    /// Calls allowed per 10-second window (0 = unlimited).
    #[arg(long, default_value_t = 1667)]
    rate_limit: u32,
    /// A new contact appears in POST /contacts/search only after this many seconds.
    #[arg(long = "search-lag", value_name = "SECS", default_value_t = 0)]
    search_lag: u64,
    /// Milliseconds added to every response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction of requests that fail with 500, 503 or a dropped connection.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    fault_rate: f64,
    /// Seed that makes faults repeatable.
    #[arg(long)]
    seed: Option<u64>,
    /// Faults strike after the request was applied (a write may have happened).
    #[arg(long)]
    fault_after_apply: bool,
    /// Silently drop unknown custom attributes instead of refusing them.
    #[arg(long)]
    drop_unknown_attributes: bool,
    /// A lead may not share an email with a user (409).
    #[arg(long)]
    lead_email_conflicts_with_user: bool,
    /// PUT role:"user" converts a lead into a user.
    #[arg(long)]
    lead_to_user_on_update: bool,
    /// custom_attributes in an update replace the whole map.
    #[arg(long)]
    replace_custom_attributes: bool,
    /// Company scroll includes companies without contacts.
    #[arg(long)]
    scroll_includes_empty_companies: bool,
    /// API version for requests without an Intercom-Version header.
    #[arg(long, default_value = "2.14")]
    default_version: String,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err("must be between 0 and 1".into())
    }
}

impl Args {
    fn options(self) -> Options {
        Options {
            tokens: self.tokens,
            rate_limit: self.rate_limit,
            search_lag_secs: self.search_lag,
            latency_ms: self.latency_ms,
            fault_rate: self.fault_rate,
            seed: self.seed,
            fault_after_apply: self.fault_after_apply,
            unknown_attributes: if self.drop_unknown_attributes {
                UnknownAttributes::Drop
            } else {
                UnknownAttributes::Error
            },
            lead_email_conflicts_with_user: self.lead_email_conflicts_with_user,
            lead_to_user_on_update: self.lead_to_user_on_update,
            replace_custom_attributes: self.replace_custom_attributes,
            scroll_hides_empty_companies: !self.scroll_includes_empty_companies,
            default_version: self.default_version,
        }
    }
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let bind = args.bind;
    let opts = args.options();
    let summary = format!(
        "rate_limit={} search_lag={}s latency={}ms fault_rate={} seed={:?} tokens={}",
        opts.rate_limit,
        opts.search_lag_secs,
        opts.latency_ms,
        opts.fault_rate,
        opts.seed,
        if opts.tokens.is_empty() {
            "any".to_string()
        } else {
            opts.tokens.len().to_string()
        },
    );
    let emulator = match Emulator::start(opts, bind).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot listen on {bind}: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        "intercom-emulator listening on {} ({summary})",
        emulator.base_url()
    );
    terminated().await;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
