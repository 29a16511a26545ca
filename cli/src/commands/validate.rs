//! `backflow validate [CONFIG] [--connect]`: checks a config with the functions'
//! own code (`backflow_aws::load_config`: read, `${VAR}` expansion, parse,
//! validation, models' `file:`s), so it accepts and refuses exactly what a run
//! would. Errors name the file and line (or the sync and key). `--connect` adds
//! the checks that need the warehouse and Intercom ([`super::connect`]).

use aws_config::{BehaviorVersion, Region};
use backflow_core::config::Config;
use comfy_table::Cell;
use serde_json::json;

use crate::commands::connect::{self, Check};
use crate::output::Out;
use crate::target::{sdk_config, Choice};
use crate::{EXIT_FAILED, EXIT_OK};

/// The config file when none is named: `BACKFLOW_CONFIG`, else this.
pub const DEFAULT_CONFIG: &str = "backflow.yaml";

pub async fn run(
    out: &Out,
    choice: &Choice,
    config: Option<&str>,
    with_connect: bool,
) -> anyhow::Result<u8> {
    let location = match config {
        Some(c) => c.to_string(),
        None => std::env::var("BACKFLOW_CONFIG")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_CONFIG.to_string()),
    };
    let s3 = if location.starts_with("s3://") {
        let sdk = sdk_config(choice.region.as_deref(), choice.aws_endpoint.as_deref()).await;
        let path_style = choice.aws_endpoint.is_some();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(path_style)
                .build(),
        )
    } else {
        // Never called for a local file (its models' files are local too).
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        )
    };
    let config = match backflow_aws::load_config(&location, &s3).await {
        Ok(config) => config,
        Err(e) => {
            if out.json {
                out.print_json(
                    &json!({"config": location, "valid": false, "error": e.to_string()}),
                );
            } else {
                println!("{}", out.paint(&e.to_string(), comfy_table::Color::Red));
                println!("{location} is not valid");
            }
            return Ok(EXIT_FAILED);
        }
    };
    let checks = if with_connect {
        let sdk = sdk_config(choice.region.as_deref(), choice.aws_endpoint.as_deref()).await;
        connect::check(&config, &sdk).await
    } else {
        Vec::new()
    };
    let ok = checks.iter().all(|c| c.ok);
    if out.json {
        let syncs: Vec<&String> = config.syncs.keys().collect();
        out.print_json(&json!({
            "config": location,
            "valid": true,
            "syncs": syncs,
            "checks": checks.iter().map(|c| json!({"check": c.what, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
        }));
    } else {
        print_config(out, &location, &config);
        if with_connect {
            println!();
            print_checks(out, &checks);
        }
    }
    Ok(if ok { EXIT_OK } else { EXIT_FAILED })
}

fn print_config(out: &Out, location: &str, config: &Config) {
    let warehouse = serde_json::to_value(&config.warehouse)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default();
    println!(
        "{location} is valid: {} syncs, {} models, {} destinations, warehouse {warehouse}",
        config.syncs.len(),
        config.models.len(),
        config.destinations.len(),
    );
    println!();
    let mut table = out.table(&[
        "SYNC",
        "MODEL",
        "OBJECT",
        "BEHAVIOR",
        "KEY",
        "DESTINATION",
        "SCHEDULE",
    ]);
    for (name, spec) in &config.syncs {
        table.add_row(vec![
            Cell::new(name),
            Cell::new(&spec.model),
            Cell::new(spec.object.as_str()),
            Cell::new(spec.behavior.as_str()),
            Cell::new(format!("{} → {}", spec.key.column, spec.key.field.as_str())),
            Cell::new(&spec.destination),
            Cell::new(spec.schedule.as_deref().unwrap_or("-")),
        ]);
    }
    out.print_table(&table);
}

fn print_checks(out: &Out, checks: &[Check]) {
    let mut table = out.table(&["CHECK", "RESULT", "DETAIL"]);
    for c in checks {
        let result = if c.ok {
            Cell::new("ok").fg(comfy_table::Color::Green)
        } else {
            Cell::new("FAILED").fg(comfy_table::Color::Red)
        };
        table.add_row(vec![Cell::new(&c.what), result, Cell::new(&c.detail)]);
    }
    out.print_table(&table);
}
