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
use backflow_core::config::{Config, UrlSource, Warehouse as WarehouseConfig};
use backflow_core::mapping::Mapper;
use backflow_core::retry::RetryPolicy;
use backflow_core::secret::Secret;
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

/// Every check, in order: the warehouse, each sync, each destination used.
pub async fn check(config: &Config, sdk: &SdkConfig) -> Vec<Check> {
    let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(sdk));
    let mut checks = Vec::new();
    let warehouse = match open_warehouse(config, &secrets).await {
        Ok((w, what)) => {
            checks.push(Check::new("warehouse", Ok(format!("connected to {what}"))));
            Some(w)
        }
        Err(e) => {
            checks.push(Check::new("warehouse", Err(e)));
            None
        }
    };
    for (name, spec) in &config.syncs {
        let what = format!("sync {name}");
        let result = match &warehouse {
            None => Err("not checked: the warehouse is not reachable".to_string()),
            Some(w) => match config.model_sql(&spec.model) {
                None => Err(format!("model `{}` has no SQL", spec.model)),
                Some(sql) => probe(w, name, spec, sql).await,
            },
        };
        checks.push(Check::new(what, result));
    }
    if let Some(w) = warehouse {
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

/// The warehouse the functions would open, and how to name it in messages.
async fn open_warehouse(config: &Config, secrets: &Secrets) -> Result<(Warehouse, String), String> {
    let url = |u: &UrlSource| {
        let u = u.clone();
        async move {
            match u {
                UrlSource::Literal(s) => Ok(Secret::new(s)),
                UrlSource::Secret(r) => secrets.get(&r).await.map_err(|e| e.to_string()),
            }
        }
    };
    let (source, what) = match &config.warehouse {
        WarehouseConfig::Sqlite { path } => {
            let path = backflow_aws::sqlite_path(config, path);
            let what = format!("SQLite {}", path.display());
            (Source::Sqlite { path }, what)
        }
        WarehouseConfig::Postgres { url: u } => (
            Source::Postgres { url: url(u).await? },
            "PostgreSQL".to_string(),
        ),
        WarehouseConfig::Mysql { url: u } => {
            (Source::Mysql { url: url(u).await? }, "MySQL".to_string())
        }
    };
    let warehouse = Warehouse::connect_with_timeout(&source, CONNECT_TIMEOUT)
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
