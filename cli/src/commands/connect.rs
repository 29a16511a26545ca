//! `backflow validate --connect`: what a config cannot say about itself.
//!
//! - The warehouse: its URL read from Secrets Manager when the config says so,
//!   then a connection.
//! - Each sync's model, run wrapped as `select * from (<model>) … where 1 = 0`,
//!   so no row comes back but the result's columns and their types do; then the
//!   sync's mapping is resolved against them with the functions' own
//!   [`Mapper`] (an unknown column fails here as it would in a run).
//! - Each destination a sync uses: its token from Secrets Manager, then Intercom's
//!   `GET /me` at the configured region or `base_url` (a refused token names the
//!   region that accepts it, as a run does).
//!
//! Secrets come from Secrets Manager through the usual AWS credentials, or from
//! the endpoint in `--aws-endpoint` / `AWS_ENDPOINT_URL` (the local stack's moto).
//! No secret value is ever printed.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use backflow_aws::Secrets;
use backflow_core::config::Config;
use backflow_core::mapping::Mapper;
use backflow_core::retry::RetryPolicy;
use backflow_core::value::{Column, ColumnKind};
use backflow_intercom::{Client, ClientConfig};
use backflow_warehouse::{Source, Warehouse};

/// How long the warehouse connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `warehouse`, `sync users_to_intercom`, `destination intercom`.
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(what: impl Into<String>, result: Result<String, String>) -> Check {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        Check {
            what: what.into(),
            ok,
            detail,
        }
    }
}

/// Every check, in order: each warehouse a sync reads, each sync, each
/// destination used.
pub async fn check(config: &Config, sdk: &SdkConfig) -> Vec<Check> {
    let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(sdk));
    let mut checks = Vec::new();
    // The warehouses the syncs' models read, each opened once.
    let mut warehouses: BTreeMap<String, Result<Warehouse, String>> = BTreeMap::new();
    for spec in config.syncs.values() {
        let Some((name, _)) = config.warehouse_for(&spec.model) else {
            continue;
        };
        if !warehouses.contains_key(name) {
            let opened = open_warehouse(config, name, &secrets).await;
            let what = format!("warehouse {name}");
            checks.push(Check::new(
                what,
                opened
                    .as_ref()
                    .map(|(_, how)| format!("connected to {how}"))
                    .map_err(Clone::clone),
            ));
            warehouses.insert(name.to_string(), opened.map(|(w, _)| w));
        }
    }
    for (name, spec) in &config.syncs {
        let what = format!("sync {name}");
        let warehouse = config
            .warehouse_for(&spec.model)
            .and_then(|(w, _)| warehouses.get(w));
        let result = match warehouse {
            None => Err(format!("model `{}` has no warehouse", spec.model)),
            Some(Err(_)) => Err("not checked: the warehouse is not reachable".to_string()),
            Some(Ok(w)) => match config.model_sql(&spec.model) {
                None => Err(format!("model `{}` has no SQL", spec.model)),
                Some(sql) => probe(w, name, spec, sql).await,
            },
        };
        checks.push(Check::new(what, result));
    }
    for w in warehouses.into_values().flatten() {
        w.close().await;
    }
    let used: BTreeMap<&str, ()> = config
        .syncs
        .values()
        .map(|s| (s.destination.as_str(), ()))
        .collect();
    for name in used.keys() {
        let result = match config.destinations.get(*name) {
            None => Err(format!("destination `{name}` is not in the config")),
            Some(d) => check_token(d, &secrets).await,
        };
        checks.push(Check::new(format!("destination {name}"), result));
    }
    checks
}

/// Warehouse `name` as the functions would open it, and how to name it in
/// messages.
async fn open_warehouse(
    config: &Config,
    name: &str,
    secrets: &Secrets,
) -> Result<(Warehouse, String), String> {
    let all = config.all_warehouses();
    let warehouse = *all
        .get(name)
        .ok_or_else(|| format!("warehouse `{name}` is not in the config"))?;
    let source = Source::from_config(
        warehouse,
        |path| backflow_aws::sqlite_path(config, path),
        |reference| async move { secrets.get(&reference).await.map_err(|e| e.to_string()) },
    )
    .await?;
    let what = match &source {
        Source::Sqlite { path } => format!("SQLite {}", path.display()),
        _ => warehouse.type_name().to_string(),
    };
    let warehouse = Warehouse::connect_named_with_timeout(name, &source, CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    Ok((warehouse, what))
}

/// The model's SQL wrapped so that it returns no row, only its columns.
pub fn no_rows(sql: &str) -> String {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    // The newline before `)` ends a trailing `-- comment` in the model.
    format!("select * from (\n{sql}\n) backflow_probe where 1 = 0")
}

/// Runs the model for no rows and resolves the sync's mapping against its columns.
async fn probe(
    w: &Warehouse,
    sync: &str,
    spec: &backflow_core::config::SyncSpec,
    sql: &str,
) -> Result<String, String> {
    let mut rows = w
        .stream(&spec.model, &no_rows(sql))
        .await
        .map_err(|e| e.to_string())?;
    let columns = rows.columns.clone();
    // Nothing comes back; drain so the connection is released.
    while rows.next().await.is_some() {}
    // The mapping resolves against the columns as it would in a run. Custom
    // attributes' types are inferred from values, which a probe does not read.
    Mapper::new(sync, spec, &columns).map_err(|e| e.to_string())?;
    Ok(format!("columns: {}", describe(&columns)))
}

/// `id (int), email (text)`.
pub fn describe(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("{} ({})", c.name, kind_name(c.kind)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Bool => "bool",
        ColumnKind::Int => "int",
        ColumnKind::Float => "float",
        ColumnKind::Text => "text",
        ColumnKind::Timestamp => "timestamp",
        ColumnKind::Date => "date",
        ColumnKind::List => "list",
        ColumnKind::Unknown => "any",
    }
}

/// `GET /me` with the destination's token: accepted, or refused with a hint.
async fn check_token(
    d: &backflow_core::config::Destination,
    secrets: &Secrets,
) -> Result<String, String> {
    let spec = d.spec();
    let token = secrets
        .get(&spec.access_token)
        .await
        .map_err(|e| e.to_string())?;
    let client = Client::new(ClientConfig {
        api_version: spec.api_version.clone(),
        region: spec.region.clone(),
        // One quick retry: this is a check, not a run.
        retry: RetryPolicy {
            max_attempts: 2,
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::default()
        },
        timeout: Duration::from_secs(15),
        ..ClientConfig::new(spec.base_url.clone(), token)
    })
    .map_err(|e| e.to_string())?;
    client.check_token().await.map_err(|e| e.to_string())?;
    let region = spec
        .region
        .map(|r| format!(" (region {r})"))
        .unwrap_or_default();
    Ok(format!("{} accepts the token{region}", spec.base_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_wrapped_to_return_no_rows() {
        assert_eq!(
            no_rows("select id from t;\n"),
            "select * from (\nselect id from t\n) backflow_probe where 1 = 0"
        );
        assert_eq!(
            no_rows("select id from t -- the users"),
            "select * from (\nselect id from t -- the users\n) backflow_probe where 1 = 0"
        );
    }
}
