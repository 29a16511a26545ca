//! `intercom-emulator`: serve the emulated Intercom API until SIGINT/SIGTERM.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the address cannot be bound,
//! 2 for bad arguments (clap).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use intercom_emulator::{
    parse_custom_object_type, parse_subscription_type, CustomObjectTypeSpec, Emulator, Options,
    SubscriptionTypeSpec, UnknownAttributes,
};

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
    /// Declares a subscription type (repeatable): NAME (consent type opt_out,
    /// Intercom's default) or NAME:opt_in.
    #[arg(long = "subscription-type", value_name = "NAME", value_parser = parse_subscription_type)]
    subscription_types: Vec<SubscriptionTypeSpec>,
    /// Declares a custom object type (repeatable): NAME:attr=type,… with types
    /// string, integer, float, boolean, date.
    #[arg(long = "custom-object-type", value_name = "NAME:attr=type,…", value_parser = parse_custom_object_type)]
    custom_object_types: Vec<CustomObjectTypeSpec>,
    /// Most companies or users one POST /tags may name (0 = no cap).
    #[arg(long, default_value_t = 50)]
    bulk_tag_limit: usize,
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
    /// Declarations that clash with each other (clap checks each one alone).
    fn conflicts(&self) -> Option<String> {
        let subs = &self.subscription_types;
        if let Some(dup) = subs.iter().enumerate().find_map(|(i, s)| {
            subs[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&s.name))
                .then_some(&s.name)
        }) {
            return Some(format!("subscription type '{dup}' is declared twice"));
        }
        let types = &self.custom_object_types;
        types.iter().enumerate().find_map(|(i, t)| {
            types[..i]
                .iter()
                .any(|o| o.name == t.name)
                .then(|| format!("custom object type '{}' is declared twice", t.name))
        })
    }

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
            subscription_types: self.subscription_types,
            custom_object_types: self.custom_object_types,
            bulk_tag_limit: self.bulk_tag_limit,
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
    if let Some(problem) = args.conflicts() {
        eprintln!("error: {problem}");
        return ExitCode::from(2);
    }
    let bind = args.bind;
    let opts = args.options();
    let declared: Vec<&str> = opts
        .custom_object_types
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let summary = format!(
        "rate_limit={} search_lag={}s latency={}ms fault_rate={} seed={:?} tokens={} subscription_types={} custom_object_types={:?}",
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
        opts.subscription_types.len(),
        declared,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("intercom-emulator").chain(extra.iter().copied()))
    }

    #[test]
    fn declared_types_and_their_conflicts() {
        let ok = args(&[
            "--subscription-type",
            "Newsletters",
            "--subscription-type",
            "Product updates:opt_in",
            "--custom-object-type",
            "Order:amount=float,status=string",
            "--custom-object-type",
            "Device",
            "--bulk-tag-limit",
            "0",
        ])
        .unwrap();
        assert!(ok.conflicts().is_none());
        let opts = ok.options();
        assert_eq!(opts.subscription_types.len(), 2);
        assert_eq!(opts.custom_object_types[0].attributes.len(), 2);
        assert_eq!(opts.bulk_tag_limit, 0);
        assert_eq!(args(&[]).unwrap().options().bulk_tag_limit, 50);
        assert!(args(&["--custom-object-type", "Order:amount=money"]).is_err());
        let twice = args(&[
            "--subscription-type",
            "News",
            "--subscription-type",
            "news:opt_in",
        ]);
        assert!(twice.unwrap().conflicts().is_some());
        let twice = args(&[
            "--custom-object-type",
            "Order",
            "--custom-object-type",
            "Order:a=string",
        ]);
        assert!(twice.unwrap().conflicts().is_some());
    }
}
